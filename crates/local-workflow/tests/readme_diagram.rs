//! The README's flow diagram must match state_machine.json (it is generated from it).

use std::process::Command;

#[test]
fn readme_diagram_matches_the_state_machine() {
    let readme = concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md");
    let output = Command::new(env!("CARGO_BIN_EXE_state-machine-diagram"))
        .args(["--check", readme])
        .output()
        .expect("runs the diagram generator");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
}

#[test]
fn generated_diagram_names_the_contract_states() {
    let output = Command::new(env!("CARGO_BIN_EXE_state-machine-diagram"))
        .output()
        .expect("runs the diagram generator");
    assert!(output.status.success());
    let diagram = String::from_utf8(output.stdout).expect("utf-8");
    for state in [
        "CheckCatalogStatus",
        "IsCatalogReady",
        "WaitBeforeNextPoll",
        "UpdateCatalogInDB",
        "MaxAttemptsReached",
    ] {
        assert!(diagram.contains(state), "{state} missing from\n{diagram}");
    }
}
