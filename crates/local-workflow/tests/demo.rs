//! `make demo` cannot rot: the demo binary runs end to end (release binaries, emulator,
//! engine, simulator, the local PostgreSQL) and exits 0 with the row written; its core
//! reports a failed execution as such (non-zero exit in the binary) and records it in the
//! row; a missing tool makes it say "run `make tools`".

use std::process::Command;
use std::sync::{Arc, Mutex};

use local_workflow::demo_support::database::CatalogRow;
use local_workflow::demo_support::demo::{self, ApiChoice, DEFAULT_CATALOG_ID, DemoOptions};
use local_workflow::engine::ExecutionStatus;

#[test]
fn the_demo_binary_polls_until_ready_and_writes_the_row() {
    let output = Command::new(env!("CARGO_BIN_EXE_demo"))
        .env_remove("CATALOG_API_BASE_URL")
        .env_remove("DEMO_CATALOG_ID")
        .output()
        .expect("the demo binary runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "exit {:?}\n{stdout}\n{stderr}", output.status);
    let lines: Vec<&str> = stdout.lines().collect();
    // One progress line per poll as it returned, then the write.
    let progress: Vec<&str> = lines
        .iter()
        .filter(|l| l.starts_with("  poll ") || l.starts_with("  database"))
        .copied()
        .collect();
    assert_eq!(progress.len(), 5, "{stdout}");
    for (i, line) in progress[..3].iter().enumerate() {
        assert!(
            line.starts_with(&format!("  poll {} of 10: pending (kb_name=\"PENDING\"", i + 1)),
            "{line}"
        );
    }
    assert!(
        progress[3].starts_with("  poll 4 of 10: ready: kb_name=\"kb-demo-0001\""),
        "{stdout}"
    );
    assert!(
        progress[4].starts_with("  database: record_ready updated 1 row(s), status READY"),
        "{stdout}"
    );
    assert!(stdout.contains("outcome: SUCCEEDED after 4 poll(s)"), "{stdout}");
    assert!(
        stdout.contains(&format!(
            "catalog row before: id={DEFAULT_CATALOG_ID:?} knowledge_base_id=NULL data_source_id=NULL status=\"PROVISIONING\""
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!(
            "catalog row after:  id={DEFAULT_CATALOG_ID:?} knowledge_base_id=\"kb-demo-0001\" data_source_id=\"ds-demo-0001\" status=\"READY\""
        )),
        "{stdout}"
    );
    // The history has a line per poll too.
    let history_polls = lines
        .iter()
        .filter(|l| l.contains("s  poll ") && l.contains(" of 10: "))
        .count();
    assert_eq!(history_polls, 4, "{stdout}");
    assert!(stdout.contains("per not-ready poll: [3, 3, 3]"), "{stdout}");
}

#[test]
fn an_unreachable_api_fails_the_execution_and_records_it() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    // A port nothing listens on: every poll is a transient "connection" outcome.
    let closed_port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a port")
        .port();
    let options = DemoOptions {
        catalog_id: "demo-unreachable".to_owned(),
        api: ApiChoice::External {
            base_url: format!("http://127.0.0.1:{closed_port}/api"),
            token: None,
        },
        poll_interval_seconds: 1,
        max_attempts: 2,
    };
    let lines = Arc::new(Mutex::new(Vec::<String>::new()));
    let collected = Arc::clone(&lines);
    let say: demo::Say = Arc::new(move |line: &str| collected.lock().expect("lock").push(line.to_owned()));
    let outcome = runtime.block_on(demo::run(&options, say)).expect("the demo ran");
    assert!(!outcome.succeeded());
    assert_eq!(outcome.report.status, ExecutionStatus::Failed);
    assert_eq!(outcome.report.error.as_deref(), Some("MaxAttemptsReached"));
    assert_eq!(
        outcome.row_after,
        Some(CatalogRow {
            id: "demo-unreachable".to_owned(),
            knowledge_base_id: None,
            data_source_id: None,
            status: "FAILED".to_owned(),
        })
    );
    let lines = lines.lock().expect("lock");
    let polls: Vec<&String> = lines.iter().filter(|l| l.starts_with("  poll ")).collect();
    assert_eq!(polls.len(), 2, "{lines:?}");
    assert!(
        polls[0].starts_with("  poll 1 of 2: connection; next poll in 1 s"),
        "{lines:?}"
    );
    assert!(
        polls[1].starts_with("  poll 2 of 2: connection; no attempts left"),
        "{lines:?}"
    );
    assert!(
        outcome
            .history
            .last()
            .is_some_and(|l| l.contains("execution FAILED: MaxAttemptsReached")),
        "{:?}",
        outcome.history
    );
    // The function logs come with a failed run, to show what happened.
    assert!(!outcome.function_logs.is_empty());
}

#[test]
fn without_the_tools_the_demo_says_to_run_make_tools() {
    let empty = tempfile::tempdir().expect("temp dir");
    let output = Command::new(env!("CARGO_BIN_EXE_demo"))
        .env("CATALOG_POLLER_TOOLS", empty.path())
        .output()
        .expect("the demo binary runs");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("cargo-lambda not found"), "{stderr}");
    assert!(stderr.contains("run `make tools`"), "{stderr}");
}

#[test]
fn without_postgres_the_demo_says_how_to_get_one() {
    let closed_port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a port")
        .port();
    let output = Command::new(env!("CARGO_BIN_EXE_demo"))
        .env(
            "DATABASE_URL",
            format!("postgres://postgres:hunter2@127.0.0.1:{closed_port}/postgres"),
        )
        .output()
        .expect("the demo binary runs");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!(
            "DATABASE_URL (postgres@127.0.0.1:{closed_port}) does not answer"
        )),
        "{stderr}"
    );
    assert!(stderr.contains("To get one: set DATABASE_URL"), "{stderr}");
    assert!(
        !stderr.contains("hunter2"),
        "the password stays out of messages: {stderr}"
    );
    // It fails before building anything.
    assert!(!String::from_utf8_lossy(&output.stdout).contains("building"));
}
