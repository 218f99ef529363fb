//! Status, history and watch of real executions: the workspace's state_machine.json runs
//! in moto's Step Functions engine, its Lambda Tasks answered by moto's docker-free Lambda
//! with the results each test queues (built by catalog-core, as the Lambdas build them).

mod common;

use std::time::{Duration, Instant};

use catalog_core::{CatalogId, ExecutionInput, PollSettings};
use catalog_poller::{CatalogPoller, Happening, RunStatus, StartOutcome, TimelineEntry, WatchEnd, WatchOptions};
use common::{
    client, deploy_real_workflow, http_503, pending, poll, ready, update_result, wait_for_events, wait_until_closed,
};
use test_support::moto::MotoServer;

fn input(raw: &str, poll_interval_seconds: u32, max_attempts: u32) -> ExecutionInput {
    ExecutionInput {
        catalog_id: CatalogId::parse(raw).expect("valid id"),
        poll_interval_seconds: Some(poll_interval_seconds),
        max_attempts: Some(max_attempts),
    }
}

fn kinds(entries: &[TimelineEntry]) -> Vec<&'static str> {
    entries
        .iter()
        .map(|e| match &e.what {
            Happening::Started { .. } => "started",
            Happening::Poll { .. } => "poll",
            Happening::StepFailed { .. } => "step_failed",
            Happening::DatabaseWrite { .. } => "database_write",
            Happening::Redriven => "redriven",
            Happening::Finished { .. } => "finished",
        })
        .collect()
}

fn lines(entries: &[TimelineEntry]) -> Vec<String> {
    entries.iter().map(|e| e.what.to_string()).collect()
}

#[tokio::test]
async fn succeeded_execution_reports_ready_names_and_a_readable_timeline() {
    let moto = MotoServer::start_with_step_functions_engine();
    let client = client(&moto).await;
    let machine = deploy_real_workflow(&moto, "poller-succeeds");
    let settings = PollSettings {
        poll_interval_seconds: 1,
        max_attempts: 5,
    };
    let id = "a/b c'é";
    moto.queue_lambda_results(&[
        poll(id, settings, 1, http_503()),
        poll(id, settings, 2, ready()),
        update_result(id, "record_ready", "READY"),
    ]);
    let poller = CatalogPoller::new(client.clone(), &machine).expect("valid ARN");
    let input = input(id, 1, 5);
    let started = poller.start(&input).await.expect("start");
    assert_eq!(
        wait_until_closed(&client, started.execution_arn()).await.as_str(),
        "SUCCEEDED"
    );

    let report = poller.status(&input.catalog_id).await.expect("status");
    assert_eq!(report.execution.status, RunStatus::Succeeded);
    assert!(report.execution.stop_date.is_some());
    assert_eq!((report.attempts_made, report.max_attempts), (2, Some(5)));
    let last = report.last_poll.as_ref().expect("a poll");
    assert!(last.ready);
    assert_eq!(last.last_seen, "ready");
    assert_eq!(last.kb_name.as_deref(), Some("kb-cat"));
    assert_eq!((report.error.as_deref(), report.cause.as_deref()), (None, None));
    let text = report.to_string();
    assert!(text.contains("status:     SUCCEEDED"), "{text}");
    assert!(text.contains("attempts:   2 of 5"), "{text}");

    let timeline = poller.history(&input.catalog_id).await.expect("history");
    assert_eq!(
        kinds(&timeline),
        ["started", "poll", "poll", "database_write", "finished"],
        "{timeline:#?}"
    );
    let lines = lines(&timeline);
    assert_eq!(lines[1], "poll 1/5: not ready, HTTP 503; next poll in 1 s");
    assert_eq!(
        lines[2],
        "poll 2/5: READY kb_name=\"kb-cat\" data_source_name=\"ds-cat\""
    );
    assert_eq!(lines[3], "UpdateCatalogInDB: record_ready updated 1 row (status READY)");
    assert_eq!(lines[4], "execution SUCCEEDED");
    assert!(lines[0].contains(r#""catalog_id":"a/b c'é""#), "{}", lines[0]);
}

#[tokio::test]
async fn failed_execution_reports_error_cause_and_last_value_seen() {
    let moto = MotoServer::start_with_step_functions_engine();
    let client = client(&moto).await;
    let machine = deploy_real_workflow(&moto, "poller-runs-out");
    let settings = PollSettings {
        poll_interval_seconds: 1,
        max_attempts: 2,
    };
    let id = "cat-7";
    moto.queue_lambda_results(&[
        poll(id, settings, 1, http_503()),
        poll(id, settings, 2, pending()),
        update_result(id, "record_failure", "FAILED"),
    ]);
    let poller = CatalogPoller::new(client.clone(), &machine).expect("valid ARN");
    let input = input(id, 1, 2);
    let started = poller.start(&input).await.expect("start");
    assert_eq!(
        wait_until_closed(&client, started.execution_arn()).await.as_str(),
        "FAILED"
    );

    let report = poller.status(&input.catalog_id).await.expect("status");
    assert_eq!(report.execution.status, RunStatus::Failed);
    assert_eq!((report.attempts_made, report.max_attempts), (2, Some(2)));
    let expected_cause = "catalog \"cat-7\" not ready after 2 of 2 attempts; last seen: pending (kb_name=\"PENDING\", data_source_name=null)";
    assert_eq!(report.error.as_deref(), Some("MaxAttemptsReached"));
    assert_eq!(report.cause.as_deref(), Some(expected_cause));
    assert_eq!(
        report.last_poll.as_ref().map(|p| p.last_seen.as_str()),
        Some("pending (kb_name=\"PENDING\", data_source_name=null)")
    );

    let timeline = poller.history(&input.catalog_id).await.expect("history");
    assert_eq!(
        kinds(&timeline),
        ["started", "poll", "poll", "database_write", "finished"]
    );
    let lines = lines(&timeline);
    // The last allowed poll announces no next poll.
    assert_eq!(
        lines[2],
        "poll 2/2: not ready, pending (kb_name=\"PENDING\", data_source_name=null)"
    );
    assert_eq!(
        lines[3],
        "RecordMaxAttemptsReached: record_failure updated 1 row (status FAILED)"
    );
    assert_eq!(
        lines[4],
        format!("execution FAILED: MaxAttemptsReached: {expected_cause}")
    );
}

#[tokio::test]
async fn a_lambda_result_that_breaks_the_contract_fails_the_execution_with_a_readable_cause() {
    let moto = MotoServer::start_with_step_functions_engine();
    let client = client(&moto).await;
    let machine = deploy_real_workflow(&moto, "poller-bad-result");
    // Not a poll state: the Choice cannot read $.poll.ready and Step Functions fails the
    // execution with States.Runtime. (moto's Lambda cannot fail a Task, so Retry/Catch
    // handling of Task errors is covered by the timeline's unit tests.)
    moto.queue_lambda_results(&[r#"{"unexpected": true}"#]);
    let poller = CatalogPoller::new(client.clone(), &machine).expect("valid ARN");
    let input = ExecutionInput::new(CatalogId::parse("cat-x").expect("valid"));
    let started = poller.start(&input).await.expect("start");
    assert_eq!(
        wait_until_closed(&client, started.execution_arn()).await.as_str(),
        "FAILED"
    );

    let report = poller.status(&input.catalog_id).await.expect("status");
    assert_eq!(report.error.as_deref(), Some("States.Runtime"));
    let cause = report.cause.as_deref().expect("a cause");
    assert!(cause.contains("IsCatalogReady"), "{cause}");
    assert_eq!((report.attempts_made, report.max_attempts), (0, None));
    assert!(report.last_poll.is_none());

    let timeline = poller.history(&input.catalog_id).await.expect("history");
    assert_eq!(kinds(&timeline), ["started", "finished"], "{timeline:#?}");
    assert!(lines(&timeline)[1].starts_with("execution FAILED: States.Runtime: An error occurred"));
}

#[tokio::test]
async fn running_execution_shows_attempts_so_far_and_watch_can_time_out() {
    let moto = MotoServer::start_with_step_functions_engine();
    let client = client(&moto).await;
    let machine = deploy_real_workflow(&moto, "poller-waits");
    let settings = PollSettings {
        poll_interval_seconds: 3600,
        max_attempts: 150,
    };
    moto.queue_lambda_results(&[poll("cat-slow", settings, 1, http_503())]);
    let poller = CatalogPoller::new(client.clone(), &machine).expect("valid ARN");
    let input = input("cat-slow", 3600, 150);
    let started = poller.start(&input).await.expect("start");
    wait_for_events(&client, started.execution_arn(), "WaitStateEntered", 1).await;

    let report = poller.status(&input.catalog_id).await.expect("status");
    assert_eq!(report.execution.status, RunStatus::Running);
    assert!(report.execution.stop_date.is_none());
    assert_eq!((report.attempts_made, report.max_attempts), (1, Some(150)));
    assert_eq!(
        report.last_poll.as_ref().map(|p| p.last_seen.as_str()),
        Some("HTTP 503")
    );
    assert!(report.to_string().contains("next poll:  in 3600 s"), "{report}");

    let timeline = poller.history(&input.catalog_id).await.expect("history");
    assert_eq!(kinds(&timeline), ["started", "poll"]);

    let mut seen = Vec::new();
    let options = WatchOptions {
        interval: Duration::from_millis(200),
        timeout: Some(Duration::from_millis(600)),
    };
    let end = poller
        .watch(&input.catalog_id, options, |entry| seen.push(entry.clone()))
        .await
        .expect("watch");
    assert!(matches!(end, WatchEnd::StillRunning(_)), "{end:?}");
    assert_eq!(seen, timeline, "watch first catches up with the history so far");
}

#[tokio::test]
async fn watch_reports_each_poll_as_it_happens_until_the_end() {
    let moto = MotoServer::start_with_step_functions_engine();
    let client = client(&moto).await;
    let machine = deploy_real_workflow(&moto, "poller-watched");
    let settings = PollSettings {
        poll_interval_seconds: 2,
        max_attempts: 10,
    };
    let id = "cat-live";
    moto.queue_lambda_results(&[
        poll(id, settings, 1, pending()),
        poll(id, settings, 2, http_503()),
        poll(id, settings, 3, ready()),
        update_result(id, "record_ready", "READY"),
    ]);
    let poller = CatalogPoller::new(client.clone(), &machine).expect("valid ARN");
    let input = input(id, 2, 10);
    let outcome = poller.start(&input).await.expect("start");
    assert!(matches!(outcome, StartOutcome::Started { .. }));

    let mut arrivals: Vec<(Instant, TimelineEntry)> = Vec::new();
    let options = WatchOptions {
        interval: Duration::from_millis(200),
        timeout: Some(Duration::from_secs(60)),
    };
    let end = poller
        .watch_execution(&input.catalog_id, outcome.execution_arn(), options, |entry| {
            arrivals.push((Instant::now(), entry.clone()));
        })
        .await
        .expect("watch");
    let WatchEnd::Finished(report) = end else {
        panic!("the execution should have ended: {end:?}");
    };
    assert_eq!(report.execution.status, RunStatus::Succeeded);
    let entries: Vec<TimelineEntry> = arrivals.iter().map(|(_, e)| e.clone()).collect();
    assert_eq!(
        kinds(&entries),
        ["started", "poll", "poll", "poll", "database_write", "finished"]
    );
    assert_eq!(entries, poller.history(&input.catalog_id).await.expect("history"));
    // Live, not replayed at the end: two 2 s waits separate the first poll from the end.
    let first_poll = arrivals[1].0;
    let finished = arrivals[5].0;
    assert!(
        finished.duration_since(first_poll) >= Duration::from_millis(1500),
        "entries arrived together: {:?}",
        finished.duration_since(first_poll)
    );
}
