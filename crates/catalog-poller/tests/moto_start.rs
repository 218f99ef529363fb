//! Starting polls against moto's Step Functions: one execution per catalog, valid and
//! distinct names for hostile ids, reruns, and the boto3 snippet's identical rule.

mod common;

use std::process::Command;

use catalog_core::{CatalogId, ExecutionInput};
use catalog_poller::execution_name::{is_log_friendly, is_valid_execution_name};
use catalog_poller::{CatalogPoller, ExecutionName, PollerError, RunStatus, StartOutcome};
use common::{client, crate_dir, waiting_machine};
use test_support::moto::{MotoServer, tools_python};

fn id(raw: &str) -> CatalogId {
    CatalogId::parse(raw).expect("valid catalog id")
}

fn hostile_unicode_id() -> String {
    let id: String = "日本語カタログ🚀é/ ?".chars().cycle().take(128).collect();
    assert_eq!(id.chars().count(), 128);
    id
}

async fn execution_names(client: &aws_sdk_sfn::Client, machine: &str) -> Vec<String> {
    let listed = client
        .list_executions()
        .state_machine_arn(machine)
        .send()
        .await
        .expect("list executions");
    let mut names: Vec<String> = listed.executions().iter().map(|e| e.name().to_owned()).collect();
    names.sort();
    names
}

#[tokio::test]
async fn starting_twice_gives_one_execution_and_reports_the_existing_one() {
    let moto = MotoServer::start();
    let client = client(&moto).await;
    let machine = waiting_machine(&client, "start-twice").await;
    let poller = CatalogPoller::new(client.clone(), &machine).expect("valid ARN");
    let input = ExecutionInput::new(id("cat-123"));

    let first = poller.start(&input).await.expect("started");
    let StartOutcome::Started { execution_arn, .. } = &first else {
        panic!("expected Started, got {first:?}");
    };
    let second = poller.start(&input).await.expect("second start is not an error");
    let StartOutcome::AlreadyExists(existing) = &second else {
        panic!("expected AlreadyExists, got {second:?}");
    };
    assert_eq!(&existing.execution_arn, execution_arn);
    assert_eq!(existing.status, RunStatus::Running);

    // Other overrides do not start a second poll either.
    let mut other = input.clone();
    other.max_attempts = Some(3);
    assert!(matches!(
        poller.start(&other).await.expect("not an error"),
        StartOutcome::AlreadyExists(_)
    ));
    assert_eq!(
        execution_names(&client, &machine).await,
        vec![ExecutionName::for_catalog(&input.catalog_id).to_string()]
    );
}

#[tokio::test]
async fn hostile_ids_get_valid_stable_names_that_moto_accepts() {
    let moto = MotoServer::start();
    let client = client(&moto).await;
    let machine = waiting_machine(&client, "hostile").await;
    let poller = CatalogPoller::new(client.clone(), &machine).expect("valid ARN");
    let unicode = hostile_unicode_id();
    let mut expected = Vec::new();
    for raw in ["a/b c'é", unicode.as_str()] {
        let input = ExecutionInput::new(id(raw));
        let name = ExecutionName::for_catalog(&input.catalog_id).to_string();
        assert!(is_valid_execution_name(&name) && is_log_friendly(&name), "{name}");
        let outcome = poller.start(&input).await.expect("moto accepts the name");
        assert!(matches!(outcome, StartOutcome::Started { .. }), "{outcome:?}");
        assert_eq!(outcome.execution_name(), name);
        assert!(outcome.execution_arn().ends_with(&format!(":{name}")));
        // Stable: the same id finds the same execution.
        assert_eq!(poller.start(&input).await.expect("again").execution_name(), name);
        let report = poller.status(&input.catalog_id).await.expect("status by id");
        assert_eq!(report.execution.execution_name, name);
        assert_eq!(report.catalog_id, raw);
        expected.push(name);
    }
    expected.sort();
    assert_eq!(execution_names(&client, &machine).await, expected);
}

#[tokio::test]
async fn ids_differing_only_in_forbidden_characters_get_different_executions() {
    let moto = MotoServer::start();
    let client = client(&moto).await;
    let machine = waiting_machine(&client, "distinct").await;
    let poller = CatalogPoller::new(client.clone(), &machine).expect("valid ARN");
    let ids = ["a/b", "a:b", "a b", "a_b"];
    for raw in ids {
        let outcome = poller.start(&ExecutionInput::new(id(raw))).await.expect("start");
        assert!(matches!(outcome, StartOutcome::Started { .. }), "{raw}: {outcome:?}");
    }
    let names = execution_names(&client, &machine).await;
    assert_eq!(names.len(), ids.len(), "{names:?}");
    assert!(names.iter().all(|n| n.starts_with("catalog-a_b-")), "{names:?}");
}

#[tokio::test]
async fn a_closed_execution_is_reported_and_a_rerun_polls_again() {
    let moto = MotoServer::start();
    let client = client(&moto).await;
    let machine = waiting_machine(&client, "rerun").await;
    let poller = CatalogPoller::new(client.clone(), &machine).expect("valid ARN");
    let input = ExecutionInput::new(id("cat-9"));
    let first = poller.start(&input).await.expect("start");
    client
        .stop_execution()
        .execution_arn(first.execution_arn())
        .send()
        .await
        .expect("stop");

    let again = poller.start(&input).await.expect("not an error");
    let StartOutcome::AlreadyExists(closed) = &again else {
        panic!("expected AlreadyExists, got {again:?}");
    };
    assert_eq!(closed.status, RunStatus::Aborted);
    assert!(closed.stop_date.is_some());

    let rerun = poller.start_rerun(&input).await.expect("rerun");
    assert!(matches!(rerun, StartOutcome::Started { .. }), "{rerun:?}");
    assert_eq!(
        rerun.execution_name(),
        ExecutionName::for_run(&input.catalog_id, 2).expect("run 2").as_str()
    );
    // The latest run is what status reports; run 1 is still reachable.
    let latest = poller.status(&input.catalog_id).await.expect("status");
    assert_eq!(latest.execution.execution_arn, rerun.execution_arn());
    assert_eq!(latest.execution.status, RunStatus::Running);
    let run_1 = poller.status_of_run(&input.catalog_id, 1).await.expect("run 1");
    assert_eq!(run_1.execution.status, RunStatus::Aborted);
    // A rerun while the latest run is still running starts nothing.
    let while_running = poller.start_rerun(&input).await.expect("rerun again");
    assert!(matches!(while_running, StartOutcome::AlreadyExists(_)));
    assert_eq!(while_running.execution_arn(), rerun.execution_arn());
}

#[tokio::test]
async fn unknown_catalogs_and_state_machines_are_named_errors() {
    let moto = MotoServer::start();
    let client = client(&moto).await;
    let machine = waiting_machine(&client, "known").await;
    let poller = CatalogPoller::new(client.clone(), &machine).expect("valid ARN");
    let error = poller.status(&id("never-started")).await.expect_err("unknown");
    assert!(matches!(error, PollerError::UnknownCatalog { .. }), "{error:?}");
    assert!(error.to_string().contains("\"never-started\""), "{error}");

    let missing = CatalogPoller::new(client, &machine.replace(":known", ":missing")).expect("valid ARN");
    let error = missing
        .start(&ExecutionInput::new(id("c")))
        .await
        .expect_err("no such machine");
    assert!(matches!(error, PollerError::StateMachineNotFound { .. }), "{error:?}");
}

fn python_snippet(moto: &MotoServer, machine: &str, catalog_id: &str) -> serde_json::Value {
    let output = Command::new(tools_python())
        .arg(crate_dir().join("examples/start_poll.py"))
        .arg(catalog_id)
        .envs(moto.env_vars())
        .env("CATALOG_POLLER_STEP_FUNCTION_ARN", machine)
        .output()
        .expect("python runs");
    assert!(
        output.status.success(),
        "start_poll.py failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("the snippet prints JSON")
}

#[tokio::test]
async fn the_boto3_snippet_uses_the_same_name_and_finds_the_same_execution() {
    let moto = MotoServer::start();
    let client = client(&moto).await;
    let machine = waiting_machine(&client, "python").await;
    let poller = CatalogPoller::new(client.clone(), &machine).expect("valid ARN");
    let unicode = hostile_unicode_id();

    for raw in ["cat-123", "a/b c'é", unicode.as_str()] {
        let rust_name = ExecutionName::for_catalog(&id(raw)).to_string();
        let started = python_snippet(&moto, &machine, raw);
        assert_eq!(started["outcome"], "started", "{started}");
        assert_eq!(started["execution_name"], rust_name.as_str(), "{raw:?}");
        // The Rust side finds what Python started, and vice versa.
        let report = poller.status(&id(raw)).await.expect("Rust finds it");
        assert_eq!(
            report.execution.execution_arn,
            started["execution_arn"].as_str().expect("arn")
        );
        let again = python_snippet(&moto, &machine, raw);
        assert_eq!(again["outcome"], "already_exists", "{again}");
        assert_eq!(again["status"], "RUNNING");
        assert!(matches!(
            poller.start(&ExecutionInput::new(id(raw))).await.expect("start"),
            StartOutcome::AlreadyExists(_)
        ));
    }
    assert_eq!(execution_names(&client, &machine).await.len(), 3);

    // The rule itself, for reruns and ids at the truncation edge, without AWS.
    let edge = format!("{}/tail", "x".repeat(39));
    for (raw, run) in [("cat-123", 1), ("cat-123", 2), (edge.as_str(), 1), ("é", 7)] {
        let output = Command::new(tools_python())
            .args(["-c", "import sys; sys.path.insert(0, sys.argv[1]); import start_poll; print(start_poll.execution_name(sys.argv[2], int(sys.argv[3])))"])
            .arg(crate_dir().join("examples"))
            .arg(raw)
            .arg(run.to_string())
            .output()
            .expect("python runs");
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        let python_name = String::from_utf8(output.stdout).expect("utf-8");
        let rust_name = ExecutionName::for_run(&id(raw), run).expect("valid run");
        assert_eq!(python_name.trim_end(), rust_name.as_str(), "{raw:?} run {run}");
    }

    // Ids the contract rejects are rejected before any call (sfn=None would fail otherwise).
    for bad in ["", "a\u{1}b", &"x".repeat(129)] {
        let output = Command::new(tools_python())
            .args(["-c", "import sys; sys.path.insert(0, sys.argv[1]); import start_poll; start_poll.start_poll(None, 'arn', sys.argv[2])"])
            .arg(crate_dir().join("examples"))
            .arg(bad)
            .output()
            .expect("python runs");
        assert!(!output.status.success());
        assert!(
            String::from_utf8_lossy(&output.stderr).contains("ValueError: catalog_id must have 1 to 128 characters"),
            "{bad:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}
