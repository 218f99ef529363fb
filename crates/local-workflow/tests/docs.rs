//! README.md and DEPLOYMENT.md cannot rot: their commands are run or checked here.
//!
//! Fenced blocks: `sh` blocks run locally (here, or by the test named below); `sh local`
//! blocks (the emulator in one terminal, invocations in another) run here too, against
//! this test's own catalog API mock, database and port;
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

/// Stops `cargo lambda watch` as a developer does, with ctrl-c (SIGINT to its process
/// group); it then stops the functions it started, which run in process groups of their own.
struct ProcessGroup(std::process::Child);

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        let group = format!("-{}", self.0.id());
        let _ = Command::new("kill").args(["-INT", "--", &group]).status();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::time::Instant::now() < deadline {
            if matches!(self.0.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.0.wait();
    }
}

/// The README's two `sh local` blocks, run as written: the first starts `cargo lambda
/// watch`, the second invokes both functions with the sample events. Only the
/// environment the first block exports is pointed at this test's own catalog API mock,
/// database and port.
#[tokio::test(flavor = "multi_thread")]
async fn local_development_commands_run() {
    use std::os::unix::process::CommandExt;
    use test_support::postgres::TestDatabase;
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    let local: Vec<Block> = blocks()
        .into_iter()
        .filter(|b| b.file == "README.md" && b.info == "sh local")
        .collect();
    assert_eq!(local.len(), 2, "README has the emulator block and the invoke block");

    let db = TestDatabase::create().await;
    db.client
        .batch_execute(
            "CREATE TABLE catalogs (id text PRIMARY KEY, knowledge_base_id text, data_source_id text);
             INSERT INTO catalogs (id) VALUES ('cat-123');",
        )
        .await
        .expect("catalogs table");
    let api = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/catalogs/cat-123"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(serde_json::json!({"kb_name": "kb-1", "data_source_name": "ds-1"})),
        )
        .mount(&api)
        .await;
    let port = local_workflow::lambdas::free_port().expect("free port");

    let script = emulator_script(&local[0].body, &api.uri(), &db, port);
    let log = tempfile::NamedTempFile::new().expect("log file");
    let _watch = ProcessGroup(
        Command::new("bash")
            .args(["-euo", "pipefail", "-c", &script])
            .current_dir(paths::repo_root())
            .process_group(0)
            .stdout(log.reopen().expect("log"))
            .stderr(log.reopen().expect("log"))
            .spawn()
            .expect("cargo lambda watch starts"),
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "cargo lambda watch did not listen on {port}: {}",
            std::fs::read_to_string(log.path()).unwrap_or_default()
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }

    let answers = invoke_each(&local[1].body, port);
    let expect = |needle: &str, success: bool, answer: &(String, bool, String)| {
        assert_eq!(answer.1, success, "`{}`: {}", answer.0, answer.2);
        // `cargo lambda invoke` pretty-prints the JSON answer.
        let compact: String = answer.2.split_whitespace().collect();
        assert!(
            compact.contains(needle),
            "`{}` should answer {needle}: {}",
            answer.0,
            answer.2
        );
    };
    assert_eq!(answers.len(), 5);
    expect("\"ready\":true", true, &answers[0]);
    expect("\"attempt\":4", true, &answers[1]);
    expect("InvalidInput", false, &answers[2]);
    expect("\"rows_updated\":1", true, &answers[3]);
    expect("record_failure", true, &answers[4]);
    let row = db
        .client
        .query_one(
            "SELECT knowledge_base_id, data_source_id FROM catalogs WHERE id = 'cat-123'",
            &[],
        )
        .await
        .expect("row");
    assert_eq!(row.get::<_, Option<String>>(0).as_deref(), Some("kb-cat-123"));
    assert_eq!(row.get::<_, Option<String>>(1).as_deref(), Some("ds-cat-123"));
}

/// The README's emulator block as a script, its `cargo lambda watch` pointed at this
/// test's API mock, database and port.
fn emulator_script(block: &str, api_uri: &str, db: &test_support::postgres::TestDatabase, port: u16) -> String {
    use std::fmt::Write as _;
    let mut script = String::new();
    for command in commands(block) {
        if command == "cargo lambda watch" {
            let _ = writeln!(
                script,
                "export CATALOG_API_BASE_URL={api_uri} DB_HOST={} DB_PORT={} DB_NAME={} DB_USER={} DB_PASSWORD={}",
                db.host,
                db.port,
                db.dbname,
                db.user,
                db.password.clone().unwrap_or_default()
            );
            let _ = writeln!(script, "exec {command} --invoke-port {port}");
        } else {
            let _ = writeln!(script, "{command}");
        }
    }
    script
}

/// Runs each `cargo lambda invoke` of the README's block against the emulator on `port`:
/// (command, exit status success, everything it printed).
fn invoke_each(block: &str, port: u16) -> Vec<(String, bool, String)> {
    commands(block)
        .into_iter()
        .map(|command| {
            let output = Command::new("bash")
                .args(["-c", &format!("{command} --invoke-port {port} --output-format json")])
                .current_dir(paths::repo_root())
                .env("PATH", paths::tool_path_env())
                .output()
                .expect("cargo lambda invoke runs");
            let printed = format!(
                "{}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
            (command, output.status.success(), printed)
        })
        .collect()
}
