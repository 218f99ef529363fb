//! `state_machine.json` executed by aws-local-stepfunctions with scripted task results
//! (built from catalog-core's contract types): the poll loop, the retry rules and where
//! each error ends up.

use catalog_core::{LastSeen, PollOutcome, PollSettings, PollState, UpdateResult};
use local_workflow::definition::local_definition;
use local_workflow::engine::{self, ExecutionReport, ExecutionStatus, Job, Step};
use serde_json::{Value, json};

const CHECK: &str = "CheckCatalogStatus";
const UPDATE: &str = "UpdateCatalogInDB";
const RECORD_MAX: &str = "RecordMaxAttemptsReached";
const RECORD_FAILURE: &str = "RecordPollFailure";

fn job(input: Value) -> Job {
    Job::new(local_definition(600).expect("definition"), input)
}

fn settings(max_attempts: u32) -> PollSettings {
    PollSettings {
        poll_interval_seconds: 20,
        max_attempts,
    }
}

fn pending(catalog_id: &str, max_attempts: u32, attempt: u32) -> Step {
    let state = PollState::after(
        catalog_id,
        settings(max_attempts),
        attempt,
        PollOutcome::Pending {
            kb_name: Some("PENDING".into()),
            data_source_name: None,
        },
    );
    Step::Result(serde_json::to_value(state).expect("serializes"))
}

fn transient(catalog_id: &str, max_attempts: u32, attempt: u32) -> Step {
    let state = PollState::after(
        catalog_id,
        settings(max_attempts),
        attempt,
        PollOutcome::Transient {
            seen: LastSeen::HttpStatus(503),
            retry_after: None,
        },
    );
    Step::Result(serde_json::to_value(state).expect("serializes"))
}

fn ready(catalog_id: &str, max_attempts: u32, attempt: u32) -> Step {
    let state = PollState::after(
        catalog_id,
        settings(max_attempts),
        attempt,
        PollOutcome::Ready {
            kb_name: "kb-1".into(),
            data_source_name: "ds-1".into(),
        },
    );
    Step::Result(serde_json::to_value(state).expect("serializes"))
}

fn recorded_ready(catalog_id: &str) -> Step {
    Step::Result(
        serde_json::to_value(UpdateResult {
            catalog_id: catalog_id.into(),
            action: "record_ready",
            knowledge_base_id: Some("kb-1".into()),
            data_source_id: Some("ds-1".into()),
            status: Some("READY".into()),
            rows_updated: 1,
        })
        .expect("serializes"),
    )
}

fn recorded_failure(catalog_id: &str) -> Step {
    Step::Result(
        serde_json::to_value(UpdateResult {
            catalog_id: catalog_id.into(),
            action: "record_failure",
            knowledge_base_id: None,
            data_source_id: None,
            status: Some("FAILED".into()),
            rows_updated: 1,
        })
        .expect("serializes"),
    )
}

async fn run(job: Job) -> ExecutionReport {
    let report = engine::run(&job).await.expect("the engine ran the execution");
    assert!(report.harness_errors.is_empty(), "harness: {:?}", report.harness_errors);
    report
}

fn step_value(step: &Step) -> Value {
    match step {
        Step::Result(value) => value.clone(),
        other => panic!("not a result step: {other:?}"),
    }
}

#[tokio::test]
async fn ready_at_once_writes_the_names_in_three_states() {
    let input = json!({"catalog_id": "cat-1"});
    let report = run(job(input.clone())
        .step(CHECK, ready("cat-1", 150, 1))
        .step(UPDATE, recorded_ready("cat-1")))
    .await;
    assert_eq!(report.status, ExecutionStatus::Succeeded);
    assert_eq!(report.entered_states(), [CHECK, "IsCatalogReady", UPDATE]);
    // The check function gets the whole state: here, the execution input as given.
    assert_eq!(report.calls_to(CHECK)[0].input, input);
    assert_eq!(
        report.calls_to(UPDATE)[0].input,
        json!({"action": "record_ready", "catalog_id": "cat-1", "kb_name": "kb-1", "data_source_name": "ds-1"})
    );
    assert_eq!(report.output["catalog_id"], "cat-1");
    assert_eq!(report.output["poll"], step_value(&ready("cat-1", 150, 1)));
    assert_eq!(report.output["update"], step_value(&recorded_ready("cat-1")));
}

#[tokio::test]
async fn pending_polls_cost_three_transitions_each_and_carry_the_poll_state() {
    let mut job = job(json!({"catalog_id": "cat-2", "max_attempts": 10}));
    for attempt in 1..=4 {
        job = job.step(CHECK, pending("cat-2", 10, attempt));
    }
    let report = run(job
        .step(CHECK, ready("cat-2", 10, 5))
        .step(UPDATE, recorded_ready("cat-2")))
    .await;
    assert_eq!(report.status, ExecutionStatus::Succeeded);
    let checks = report.calls_to(CHECK);
    assert_eq!(checks.len(), 5);
    assert_eq!(report.transitions_per_poll(), [3, 3, 3, 3]);
    // Each check sees the input plus the previous poll state, and nothing else.
    for (index, call) in checks.iter().enumerate().skip(1) {
        assert_eq!(
            call.input,
            json!({"catalog_id": "cat-2", "max_attempts": 10, "poll": step_value(&pending("cat-2", 10, u32::try_from(index).expect("small")))})
        );
    }
}

#[tokio::test]
async fn the_wait_lasts_poll_wait_seconds() {
    let mut fast = pending("cat-w", 3, 1);
    if let Step::Result(state) = &mut fast {
        state["wait_seconds"] = json!(1);
    }
    let mut job = job(json!({"catalog_id": "cat-w"}))
        .step(CHECK, fast)
        .step(CHECK, ready("cat-w", 3, 2))
        .step(UPDATE, recorded_ready("cat-w"));
    job = job.real_waits();
    let report = run(job).await;
    assert_eq!(report.status, ExecutionStatus::Succeeded);
    let at = |kind: &str| {
        report
            .events
            .iter()
            .find(|e| e["type"] == kind && e["state"]["name"] == "WaitBeforeNextPoll")
            .and_then(|e| e["timestamp"].as_u64())
            .expect("wait event")
    };
    let waited_ms = at("StateExited") - at("StateEntered");
    assert!(
        (1000..5000).contains(&waited_ms),
        "waited {waited_ms} ms for wait_seconds=1"
    );
}

#[tokio::test]
async fn never_ready_stops_after_max_attempts_and_records_the_failure() {
    let mut job = job(json!({"catalog_id": "cat-3", "max_attempts": 5}));
    for attempt in 1..=4 {
        job = job.step(CHECK, pending("cat-3", 5, attempt));
    }
    let last = transient("cat-3", 5, 5);
    let summary = step_value(&last)["summary"].as_str().expect("summary").to_owned();
    let report = run(job.step(CHECK, last).step(RECORD_MAX, recorded_failure("cat-3"))).await;
    assert_eq!(report.status, ExecutionStatus::Failed);
    assert_eq!(report.error.as_deref(), Some("MaxAttemptsReached"));
    assert_eq!(report.cause.as_deref(), Some(summary.as_str()));
    assert_eq!(
        summary,
        "catalog \"cat-3\" not ready after 5 of 5 attempts; last seen: HTTP 503"
    );
    assert_eq!(report.calls_to(CHECK).len(), 5);
    assert_eq!(report.transitions_per_poll(), [3, 3, 3, 3]);
    assert_eq!(
        report.calls_to(RECORD_MAX)[0].input,
        json!({"action": "record_failure", "catalog_id": "cat-3", "error": "MaxAttemptsReached", "cause": summary})
    );
    assert!(report.calls_to(UPDATE).is_empty());
}

#[tokio::test]
async fn permanent_api_errors_are_recorded_then_fail_with_their_name() {
    for error in ["CatalogNotFound", "CatalogApiRejected", "CatalogProvisioningFailed"] {
        let message = format!("catalog \"cat-4\": {error} on attempt 3");
        let report = run(job(json!({"catalog_id": "cat-4"}))
            .step(CHECK, pending("cat-4", 150, 1))
            .step(CHECK, pending("cat-4", 150, 2))
            .step(CHECK, Step::lambda_error(error, &message))
            .step(RECORD_FAILURE, recorded_failure("cat-4")))
        .await;
        assert_eq!(report.status, ExecutionStatus::Failed, "{error}");
        assert_eq!(report.error.as_deref(), Some(error));
        // The cause is the function's error as Step Functions shows it (JSON text).
        let cause: Value = serde_json::from_str(report.cause.as_deref().expect("cause")).expect("JSON cause");
        assert_eq!(cause["errorMessage"], message.as_str());
        assert_eq!(report.retries_of(CHECK), 0, "{error} is not retried");
        let record = &report.calls_to(RECORD_FAILURE)[0].input;
        assert_eq!(record["action"], "record_failure");
        assert_eq!(record["catalog_id"], "cat-4");
        assert_eq!(record["error"], error);
        assert_eq!(record["cause"].as_str(), report.cause.as_deref());
        assert_eq!(
            report.entered_states().last().copied(),
            Some("CatalogPollFailed"),
            "{error}"
        );
    }
}

#[tokio::test]
async fn invalid_input_fails_at_once_without_touching_the_database() {
    let report = run(job(json!({"catalog_id": "cat-5", "color": "red"})).step(
        CHECK,
        Step::lambda_error("InvalidInput", "unknown field \"color\" in the input"),
    ))
    .await;
    assert_eq!(report.status, ExecutionStatus::Failed);
    assert_eq!(report.error.as_deref(), Some("InvalidInput"));
    assert!(report.cause.as_deref().is_some_and(|c| c.contains("color")));
    assert_eq!(report.entered_states(), [CHECK, "InvalidInput"]);
    assert_eq!(report.calls.len(), 1, "no database call");
}

#[tokio::test]
async fn lambda_service_errors_are_retried_on_both_tasks() {
    let report = run(job(json!({"catalog_id": "cat-6"}))
        .step(
            CHECK,
            Step::service_error("Lambda.ServiceException", "service unavailable"),
        )
        .step(CHECK, pending("cat-6", 150, 1))
        .step(CHECK, ready("cat-6", 150, 2))
        .step(
            UPDATE,
            Step::service_error("Lambda.TooManyRequestsException", "rate exceeded"),
        )
        .step(UPDATE, recorded_ready("cat-6")))
    .await;
    assert_eq!(report.status, ExecutionStatus::Succeeded);
    assert_eq!(report.retries_of(CHECK), 1);
    assert_eq!(report.retries_of(UPDATE), 1);
    // Step Functions bills the retry as a transition of that poll.
    assert_eq!(report.transitions_per_poll(), [4]);
    assert_eq!(report.calls_to(CHECK).len(), 3);
}

#[tokio::test]
async fn lambda_service_errors_that_persist_are_recorded_as_a_poll_failure() {
    let report = run(job(json!({"catalog_id": "cat-7"}))
        .fallback(
            CHECK,
            Step::service_error("Lambda.ServiceException", "service unavailable"),
        )
        .step(RECORD_FAILURE, recorded_failure("cat-7")))
    .await;
    assert_eq!(report.status, ExecutionStatus::Failed);
    assert_eq!(report.error.as_deref(), Some("Lambda.ServiceException"));
    assert_eq!(report.calls_to(CHECK).len(), 7, "first try and 6 retries");
    assert_eq!(report.calls_to(RECORD_FAILURE).len(), 1);
}

#[tokio::test]
async fn database_unavailable_is_retried_then_succeeds() {
    let report = run(job(json!({"catalog_id": "cat-8"}))
        .step(CHECK, ready("cat-8", 150, 1))
        .step(UPDATE, Step::lambda_error("DatabaseUnavailable", "connection refused"))
        .step(UPDATE, Step::lambda_error("DatabaseUnavailable", "statement timeout"))
        .step(UPDATE, recorded_ready("cat-8")))
    .await;
    assert_eq!(report.status, ExecutionStatus::Succeeded);
    assert_eq!(report.retries_of(UPDATE), 2);
    assert_eq!(report.output["update"]["rows_updated"], 1);
}

#[tokio::test]
async fn database_unavailable_that_persists_fails_after_five_retries() {
    let report = run(job(json!({"catalog_id": "cat-9"}))
        .step(CHECK, ready("cat-9", 150, 1))
        .fallback(UPDATE, Step::lambda_error("DatabaseUnavailable", "connection refused")))
    .await;
    assert_eq!(report.status, ExecutionStatus::Failed);
    assert_eq!(report.error.as_deref(), Some("DatabaseUnavailable"));
    assert_eq!(report.calls_to(UPDATE).len(), 6);
    assert_eq!(report.entered_states().last().copied(), Some("CatalogUpdateFailed"));
}

#[tokio::test]
async fn catalog_row_not_found_is_never_retried() {
    let report = run(job(json!({"catalog_id": "cat-10"}))
        .step(CHECK, ready("cat-10", 150, 1))
        .step(
            UPDATE,
            Step::lambda_error("CatalogRowNotFound", "no row with id \"cat-10\""),
        ))
    .await;
    assert_eq!(report.status, ExecutionStatus::Failed);
    assert_eq!(report.error.as_deref(), Some("CatalogRowNotFound"));
    assert_eq!(report.retries_of(UPDATE), 0);
    assert_eq!(report.calls_to(UPDATE).len(), 1);
}

#[tokio::test]
async fn a_failure_while_recording_does_not_hide_the_original_error() {
    // Out of attempts, and the row is gone.
    let report = run(job(json!({"catalog_id": "cat-11", "max_attempts": 1}))
        .step(CHECK, pending("cat-11", 1, 1))
        .step(RECORD_MAX, Step::lambda_error("CatalogRowNotFound", "no row")))
    .await;
    assert_eq!(report.error.as_deref(), Some("MaxAttemptsReached"));
    let fail_input = report
        .events
        .iter()
        .find(|e| e["type"] == "StateEntered" && e["state"]["name"] == "MaxAttemptsReached")
        .map(|e| e["state"]["input"].clone())
        .expect("entered MaxAttemptsReached");
    assert_eq!(fail_input["failure_record_error"]["Error"], "CatalogRowNotFound");

    // A permanent API error, and the database stays down through every retry.
    let report = run(job(json!({"catalog_id": "cat-12"}))
        .step(CHECK, Step::lambda_error("CatalogNotFound", "HTTP 404"))
        .fallback(RECORD_FAILURE, Step::lambda_error("DatabaseUnavailable", "down")))
    .await;
    assert_eq!(report.error.as_deref(), Some("CatalogNotFound"));
    assert_eq!(report.calls_to(RECORD_FAILURE).len(), 6);
}

#[tokio::test]
async fn a_timed_out_check_is_not_retried_but_recorded() {
    let report = run(job(json!({"catalog_id": "cat-13"}))
        .step(
            CHECK,
            Step::service_error("Sandbox.Timedout", "Task timed out after 30.00 seconds"),
        )
        .step(RECORD_FAILURE, recorded_failure("cat-13")))
    .await;
    assert_eq!(report.error.as_deref(), Some("Sandbox.Timedout"));
    assert_eq!(report.calls_to(CHECK).len(), 1);
    assert_eq!(report.calls_to(RECORD_FAILURE)[0].input["error"], "Sandbox.Timedout");
}

#[tokio::test]
async fn a_timed_out_update_is_retried_twice() {
    let report = run(job(json!({"catalog_id": "cat-14"}))
        .step(CHECK, ready("cat-14", 150, 1))
        .step(UPDATE, Step::service_error("Sandbox.Timedout", "Task timed out"))
        .step(UPDATE, Step::service_error("Lambda.Unknown", "no error type"))
        .step(UPDATE, recorded_ready("cat-14")))
    .await;
    assert_eq!(report.status, ExecutionStatus::Succeeded);
    assert_eq!(report.retries_of(UPDATE), 2);

    let report = run(job(json!({"catalog_id": "cat-15"}))
        .step(CHECK, ready("cat-15", 150, 1))
        .fallback(UPDATE, Step::service_error("Sandbox.Timedout", "Task timed out")))
    .await;
    assert_eq!(report.error.as_deref(), Some("Sandbox.Timedout"));
    assert_eq!(report.calls_to(UPDATE).len(), 3);
}

#[tokio::test]
async fn the_execution_timeout_ends_a_stuck_execution() {
    let job = Job::new(
        local_definition(1).expect("definition"),
        json!({"catalog_id": "cat-16"}),
    )
    .gated_step(CHECK, "never opened", pending("cat-16", 150, 1));
    let mut running = engine::start(&job).await.expect("started");
    assert_eq!(running.next_gate().await.expect("gate"), "never opened");
    let report = running.finish().await.expect("report");
    assert_eq!(report.status, ExecutionStatus::TimedOut);
}
