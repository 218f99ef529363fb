//! README.md and DEPLOYMENT.md cannot rot: their commands are run or checked here.
//!
//! Fenced blocks: `sh` blocks run locally (here, or by the test named below); `sh local`
//! blocks need a second terminal and are checked for the files and functions they name;
//! `sh aws` blocks need an AWS account and are checked for syntax (every `sam deploy`
//! parameter exists in template.yaml, every `catalog-poller` subcommand exists);
//! `python` blocks must be the code the moto tests run (examples/start_poll.py).

use std::process::Command;

use local_workflow::{paths, template::Template};

struct Block {
    file: &'static str,
    info: String,
    body: String,
}

fn blocks() -> Vec<Block> {
    let mut found = Vec::new();
    for file in ["README.md", "DEPLOYMENT.md"] {
        let text = std::fs::read_to_string(paths::repo_root().join(file)).expect("doc readable");
        let mut lines = text.lines();
        while let Some(line) = lines.next() {
            if let Some(info) = line.strip_prefix("```") {
                let mut body = String::new();
                for inner in lines.by_ref() {
                    if inner.trim_start().starts_with("```") {
                        break;
                    }
                    body.push_str(inner);
                    body.push('\n');
                }
                found.push(Block {
                    file,
                    info: info.trim().to_owned(),
                    body,
                });
            }
        }
    }
    found
}

/// Shell commands of a block, continuation lines joined, comments dropped.
fn commands(body: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in body.lines() {
        let line = line.split(" # ").next().unwrap_or("").trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(start) = line.strip_suffix('\\') {
            current.push_str(start);
            current.push(' ');
        } else {
            current.push_str(line);
            out.push(std::mem::take(&mut current));
        }
    }
    out
}

#[test]
fn local_sh_blocks_run() {
    let sam_build_test = std::fs::read_to_string(paths::repo_root().join("crates/local-workflow/tests/sam_build.rs"))
        .expect("sam_build.rs readable");
    let mut ran = 0;
    for block in blocks().into_iter().filter(|b| b.info == "sh") {
        for command in commands(&block.body) {
            if command.starts_with("make demo") || command.starts_with("make test") {
                // `make test` is CI itself; `make demo` has its own end-to-end test.
                continue;
            }
            if command.starts_with("sam build") {
                // Run by tests/sam_build.rs with exactly these arguments.
                for arg in command.split_whitespace().skip(2) {
                    assert!(
                        sam_build_test.contains(&format!("\"{arg}\"")) || sam_build_test.contains(arg),
                        "{}: `{command}`: sam_build.rs does not pass {arg}",
                        block.file
                    );
                }
                continue;
            }
            let output = Command::new("bash")
                .args(["-euo", "pipefail", "-c", &command])
                .current_dir(paths::repo_root())
                .env("PATH", paths::tool_path_env())
                .output()
                .expect("bash runs");
            assert!(
                output.status.success(),
                "{}: `{command}` failed:\n{}\n{}",
                block.file,
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
            ran += 1;
        }
    }
    assert!(ran >= 3, "expected the docs' local commands to run, ran {ran}");
}

#[test]
fn local_blocks_name_existing_files_and_functions() {
    let mut checked = 0;
    for block in blocks().into_iter().filter(|b| b.info == "sh local") {
        for command in commands(&block.body) {
            let words: Vec<&str> = command.split_whitespace().collect();
            if let Some(at) = words.iter().position(|w| *w == "--data-file") {
                let file = paths::repo_root().join(words[at + 1]);
                let text = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
                serde_json::from_str::<serde_json::Value>(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
                let function = words[words.iter().position(|w| *w == "invoke").expect("invoke") + 1];
                assert!(
                    paths::repo_root()
                        .join("crates")
                        .join(function)
                        .join("Cargo.toml")
                        .is_file(),
                    "{}: no function crate {function}",
                    block.file
                );
                checked += 1;
            }
        }
    }
    assert!(checked >= 4, "expected the local invoke examples, checked {checked}");
}

#[test]
fn aws_blocks_use_real_parameters_and_subcommands() {
    let template = Template::load().expect("template.yaml");
    let parameters = template.parameter_names();
    let mut deploys = 0;
    for block in blocks().into_iter().filter(|b| b.info == "sh aws") {
        for command in commands(&block.body) {
            if command.starts_with("sam deploy") {
                deploys += 1;
                for word in command
                    .split_whitespace()
                    .skip_while(|w| *w != "--parameter-overrides")
                    .skip(1)
                {
                    let key = word.split('=').next().unwrap_or("");
                    assert!(
                        parameters.contains(key),
                        "{}: `sam deploy` sets {key}, not a template parameter",
                        block.file
                    );
                }
            }
            if let Some(rest) = command.strip_prefix("catalog-poller ") {
                let sub = rest.split_whitespace().next().unwrap_or("");
                assert!(
                    ["start", "watch", "status", "history", "name"].contains(&sub),
                    "unknown subcommand {sub}"
                );
            }
            if command.contains("cargo run --release -p catalog-poller -- ") {
                let sub = command
                    .split("-- ")
                    .nth(1)
                    .and_then(|r| r.split_whitespace().next())
                    .unwrap_or("");
                assert!(
                    ["start", "watch", "status", "history", "name"].contains(&sub),
                    "unknown subcommand {sub}"
                );
            }
        }
    }
    assert!(deploys >= 1, "DEPLOYMENT.md shows a sam deploy command");
}

#[test]
fn every_template_parameter_is_documented() {
    let deployment = std::fs::read_to_string(paths::repo_root().join("DEPLOYMENT.md")).expect("readable");
    for parameter in Template::load().expect("template.yaml").parameter_names() {
        assert!(
            deployment.contains(&format!("| `{parameter}` |")),
            "DEPLOYMENT.md's table lacks {parameter}"
        );
    }
}

#[test]
fn python_blocks_are_the_tested_snippet() {
    let snippet = std::fs::read_to_string(paths::repo_root().join("crates/catalog-poller/examples/start_poll.py"))
        .expect("start_poll.py");
    let first = blocks()
        .into_iter()
        .find(|b| b.info == "python")
        .expect("the README shows the boto3 snippet");
    for line in first.body.lines().filter(|l| !l.trim().is_empty()) {
        assert!(
            snippet.contains(line),
            "README python line not in start_poll.py: {line}"
        );
    }
}
