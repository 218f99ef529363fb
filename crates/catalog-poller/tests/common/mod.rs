//! Shared setup of the moto-backed tests: state machines, queued Lambda results, waits.

#![allow(dead_code)] // each test binary uses a different part

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use aws_sdk_sfn::Client;
use aws_sdk_sfn::types::ExecutionStatus;
use catalog_core::{LastSeen, PollOutcome, PollSettings, PollState};
use serde_json::json;
use test_support::moto::{ACCOUNT_ID, MotoServer, tools_python};

pub fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The workspace's real definition (written by the workflow crate's owner).
pub fn state_machine_json() -> PathBuf {
    let path = crate_dir().join("../../state_machine.json");
    assert!(
        path.is_file(),
        "{} is missing: the tests run the real definition",
        path.display()
    );
    path
}

pub async fn client(moto: &MotoServer) -> Client {
    Client::new(&moto.sdk_config().await)
}

/// A state machine whose executions stay RUNNING on moto's plain backend (no engine).
pub async fn waiting_machine(client: &Client, name: &str) -> String {
    client
        .create_state_machine()
        .name(name)
        .role_arn(format!("arn:aws:iam::{ACCOUNT_ID}:role/catalog-poller-test"))
        .definition(r#"{"StartAt":"Wait","States":{"Wait":{"Type":"Wait","Seconds":3600,"End":true}}}"#)
        .send()
        .await
        .expect("moto creates the state machine")
        .state_machine_arn()
        .to_owned()
}

/// Deploys the real state_machine.json (see tests/fixtures/deploy_workflow.py).
pub fn deploy_real_workflow(moto: &MotoServer, name: &str) -> String {
    let mut command = Command::new(tools_python());
    command
        .arg(crate_dir().join("tests/fixtures/deploy_workflow.py"))
        .arg(state_machine_json())
        .arg(name)
        .envs(moto.env_vars());
    let output = command.output().expect("python runs");
    assert!(
        output.status.success(),
        "deploy_workflow.py failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let printed: serde_json::Value = serde_json::from_slice(&output.stdout).expect("the fixture prints JSON");
    printed["state_machine_arn"]
        .as_str()
        .expect("state_machine_arn")
        .to_owned()
}

/// What CheckCatalogStatus returns, built by the same code the Lambda uses.
pub fn poll(catalog_id: &str, settings: PollSettings, attempt: u32, outcome: PollOutcome) -> String {
    serde_json::to_string(&PollState::after(catalog_id, settings, attempt, outcome)).expect("serializes")
}

pub fn pending() -> PollOutcome {
    PollOutcome::Pending {
        kb_name: Some("PENDING".into()),
        data_source_name: None,
    }
}

pub fn http_503() -> PollOutcome {
    PollOutcome::Transient {
        seen: LastSeen::HttpStatus(503),
        retry_after: None,
    }
}

pub fn ready() -> PollOutcome {
    PollOutcome::Ready {
        kb_name: "kb-cat".into(),
        data_source_name: "ds-cat".into(),
    }
}

/// What UpdateCatalogDB returns.
pub fn update_result(catalog_id: &str, action: &str, status: &str) -> String {
    json!({
        "catalog_id": catalog_id,
        "action": action,
        "knowledge_base_id": if action == "record_ready" { json!("kb-cat") } else { json!(null) },
        "data_source_id": if action == "record_ready" { json!("ds-cat") } else { json!(null) },
        "status": status,
        "rows_updated": 1
    })
    .to_string()
}

/// Waits (bounded) until the execution has left RUNNING; returns its status.
pub async fn wait_until_closed(client: &Client, execution_arn: &str) -> ExecutionStatus {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let described = client
            .describe_execution()
            .execution_arn(execution_arn)
            .send()
            .await
            .expect("describe");
        if described.status() != &ExecutionStatus::Running {
            return described.status().clone();
        }
        assert!(Instant::now() < deadline, "{execution_arn} still runs after 60 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits (bounded) until the execution's history has at least `count` events of `kind`.
pub async fn wait_for_events(client: &Client, execution_arn: &str, kind: &str, count: usize) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let history = client
            .get_execution_history()
            .execution_arn(execution_arn)
            .send()
            .await
            .expect("history");
        let seen = history.events().iter().filter(|e| e.r#type().as_str() == kind).count();
        if seen >= count {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{execution_arn}: {seen} of {count} {kind} events after 60 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
