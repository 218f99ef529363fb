//! `sam build` for x86_64 produces both bootstraps (the rust-cargolambda build method is
//! a SAM beta feature). It runs the same `cargo lambda build --release --bin <name>` as
//! the engine scenarios, so the two share one release build.

use std::process::Command;
use std::time::Instant;

use local_workflow::paths;

/// The `e_machine` field of an ELF header (x86-64 is 62).
fn elf_machine(bytes: &[u8]) -> Option<u16> {
    if bytes.len() < 20 || &bytes[..4] != b"\x7fELF" {
        return None;
    }
    Some(u16::from_le_bytes([bytes[18], bytes[19]]))
}

#[test]
fn sam_build_produces_both_x86_64_bootstraps() {
    let sam = paths::venv_tool("sam").expect("sam installed");
    let build_dir = tempfile::tempdir().expect("temp dir");
    let started = Instant::now();
    let output = Command::new(sam)
        .args(["build", "--beta-features", "--template", "template.yaml", "--build-dir"])
        .arg(build_dir.path())
        .args(["--parameter-overrides", "Architecture=x86_64"])
        .current_dir(paths::repo_root())
        .env("PATH", paths::tool_path_env())
        .env("SAM_CLI_TELEMETRY", "0")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .output()
        .expect("sam runs");
    eprintln!("sam build took {:?}", started.elapsed());
    assert!(
        output.status.success(),
        "sam build failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    for function in ["CheckCatalogStatusFunction", "UpdateCatalogDbFunction"] {
        let bootstrap = build_dir.path().join(function).join("bootstrap");
        let bytes = std::fs::read(&bootstrap).unwrap_or_else(|e| panic!("{}: {e}", bootstrap.display()));
        assert_eq!(elf_machine(&bytes), Some(62), "{function}: an x86-64 ELF executable");
        eprintln!("{function}: bootstrap of {} bytes", bytes.len());
    }
    let built_template =
        std::fs::read_to_string(build_dir.path().join("template.yaml")).expect("sam build writes a template");
    assert!(built_template.contains("CodeUri: CheckCatalogStatusFunction"));
    assert!(built_template.contains("CodeUri: UpdateCatalogDbFunction"));
    assert!(built_template.contains("state_machine.json"), "DefinitionUri kept");
}
