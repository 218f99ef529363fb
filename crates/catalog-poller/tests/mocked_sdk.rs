//! The library against stubbed Step Functions answers (aws-smithy-mocks: the SDK's real
//! serialisation and error deserialisation, canned responses): how answers map to
//! outcomes and typed errors, and how `watch` pages through a growing history.

use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{ProvideCredentials, future};
use aws_sdk_sfn::Client;
use aws_sdk_sfn::config::retry::RetryConfig;
use aws_sdk_sfn::operation::describe_execution::{DescribeExecutionError, DescribeExecutionOutput};
use aws_sdk_sfn::operation::start_execution::{StartExecutionError, StartExecutionOutput};
use aws_sdk_sfn::primitives::DateTime;
use aws_sdk_sfn::types::ExecutionStatus;
use aws_sdk_sfn::types::error::{ExecutionAlreadyExists, ExecutionDoesNotExist, StateMachineDoesNotExist};
use aws_smithy_mocks::{RuleMode, mock, mock_client};
use catalog_core::{CatalogId, ExecutionInput};
use catalog_poller::cli::{exit, exit_code_of};
use catalog_poller::{AwsErrorKind, CatalogPoller, ExecutionName, PollerError, RunStatus, StartOutcome};

const MACHINE: &str = "arn:aws:states:us-east-1:123456789012:stateMachine:catalog-poller";

fn input() -> ExecutionInput {
    ExecutionInput::new(CatalogId::parse("cat-1").expect("valid"))
}

fn execution_arn() -> String {
    let name = ExecutionName::for_catalog(&input().catalog_id);
    format!("arn:aws:states:us-east-1:123456789012:execution:catalog-poller:{name}")
}

fn does_not_exist() -> DescribeExecutionError {
    DescribeExecutionError::ExecutionDoesNotExist(
        ExecutionDoesNotExist::builder()
            .message("Execution Does Not Exist")
            .build(),
    )
}

fn running_execution() -> DescribeExecutionOutput {
    DescribeExecutionOutput::builder()
        .execution_arn(execution_arn())
        .state_machine_arn(MACHINE)
        .name(ExecutionName::for_catalog(&input().catalog_id).to_string())
        .status(ExecutionStatus::Running)
        .start_date(DateTime::from_secs(1_800_000_000))
        .build()
        .expect("complete output")
}

#[tokio::test]
async fn a_start_racing_another_reports_the_existing_execution() {
    let not_there_yet = mock!(Client::describe_execution).then_error(does_not_exist);
    let already = mock!(Client::start_execution).then_error(|| {
        StartExecutionError::ExecutionAlreadyExists(
            ExecutionAlreadyExists::builder()
                .message("Execution Already Exists")
                .build(),
        )
    });
    let existing = mock!(Client::describe_execution)
        .match_requests(|req| req.execution_arn() == Some(execution_arn().as_str()))
        .then_output(running_execution);
    let client = mock_client!(aws_sdk_sfn, RuleMode::Sequential, [&not_there_yet, &already, &existing]);
    let poller = CatalogPoller::new(client, MACHINE).expect("valid ARN");

    let outcome = poller.start(&input()).await.expect("not an error");
    let StartOutcome::AlreadyExists(summary) = outcome else {
        panic!("expected AlreadyExists, got {outcome:?}");
    };
    assert_eq!(summary.execution_arn, execution_arn());
    assert_eq!(summary.status, RunStatus::Running);
    assert_eq!(already.num_calls(), 1);
    assert_eq!(existing.num_calls(), 1);
}

#[tokio::test]
async fn a_new_catalog_is_started_with_its_name_and_input() {
    let not_there = mock!(Client::describe_execution).then_error(does_not_exist);
    let start = mock!(Client::start_execution)
        .match_requests(|req| {
            req.name() == Some(ExecutionName::for_catalog(&input().catalog_id).as_str())
                && req.state_machine_arn() == Some(MACHINE)
                && req.input() == Some(r#"{"catalog_id":"cat-1"}"#)
        })
        .then_output(|| {
            StartExecutionOutput::builder()
                .execution_arn(execution_arn())
                .start_date(DateTime::from_secs(1_800_000_000))
                .build()
                .expect("complete")
        });
    let client = mock_client!(aws_sdk_sfn, RuleMode::Sequential, [&not_there, &start]);
    let poller = CatalogPoller::new(client, MACHINE).expect("valid ARN");
    let outcome = poller.start(&input()).await.expect("started");
    assert!(matches!(outcome, StartOutcome::Started { .. }), "{outcome:?}");
    assert_eq!(start.num_calls(), 1);
}

#[tokio::test]
async fn no_execution_is_an_unknown_catalog() {
    let missing = mock!(Client::describe_execution).then_error(does_not_exist);
    let client = mock_client!(aws_sdk_sfn, RuleMode::MatchAny, [&missing]);
    let poller = CatalogPoller::new(client, MACHINE).expect("valid ARN");
    let error = poller.status(&input().catalog_id).await.expect_err("unknown");
    assert!(matches!(error, PollerError::UnknownCatalog { .. }), "{error:?}");
    assert_eq!(exit_code_of(&error), exit::NOT_FOUND);
    let message = error.to_string();
    assert!(message.contains("\"cat-1\"") && message.contains(MACHINE), "{message}");
}

#[tokio::test]
async fn a_missing_state_machine_is_named() {
    let not_there = mock!(Client::describe_execution).then_error(does_not_exist);
    let no_machine = mock!(Client::start_execution).then_error(|| {
        StartExecutionError::StateMachineDoesNotExist(StateMachineDoesNotExist::builder().message("nope").build())
    });
    let client = mock_client!(aws_sdk_sfn, RuleMode::Sequential, [&not_there, &no_machine]);
    let poller = CatalogPoller::new(client, MACHINE).expect("valid ARN");
    let error = poller.start(&input()).await.expect_err("no machine");
    assert!(matches!(error, PollerError::StateMachineNotFound { .. }), "{error:?}");
    assert_eq!(exit_code_of(&error), exit::NOT_FOUND);
}

#[tokio::test]
async fn access_denied_says_which_permissions_are_needed() {
    let denied = mock!(Client::describe_execution).sequence().http_status(
        400,
        Some(r#"{"__type":"com.amazon.coral.service#AccessDeniedException","message":"User: arn:aws:iam::1:user/x is not authorized to perform: states:DescribeExecution"}"#.into()),
    ).build();
    let client = mock_client!(aws_sdk_sfn, RuleMode::Sequential, [&denied]);
    let poller = CatalogPoller::new(client, MACHINE).expect("valid ARN");
    let error = poller.start(&input()).await.expect_err("denied");
    let PollerError::Aws {
        operation, kind, code, ..
    } = &error
    else {
        panic!("expected Aws, got {error:?}");
    };
    assert_eq!((*operation, *kind), ("DescribeExecution", AwsErrorKind::AccessDenied));
    assert_eq!(code.as_deref(), Some("AccessDeniedException"));
    let message = error.to_string();
    assert!(message.contains("states:DescribeExecution"), "{message}");
    assert_eq!(exit_code_of(&error), exit::AWS);
}

#[tokio::test]
async fn throttling_left_after_retries_is_reported_as_such() {
    let throttled = mock!(Client::get_execution_history)
        .sequence()
        .http_status(
            400,
            Some(r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#.into()),
        )
        .repeatedly()
        .build();
    let run_1 = mock!(Client::describe_execution).then_output(running_execution);
    let missing_run_2 = mock!(Client::describe_execution).then_error(does_not_exist);
    // Answered in order: run 1 exists, run 2 does not, then the history read.
    let client = mock_client!(
        aws_sdk_sfn,
        RuleMode::Sequential,
        [&run_1, &missing_run_2, &throttled],
        |config| config.retry_config(RetryConfig::disabled())
    );
    let poller = CatalogPoller::new(client, MACHINE).expect("valid ARN");
    let error = poller.status(&input().catalog_id).await.expect_err("throttled");
    assert!(
        matches!(
            &error,
            PollerError::Aws {
                operation: "GetExecutionHistory",
                kind: AwsErrorKind::Throttled,
                ..
            }
        ),
        "{error:?}"
    );
    assert!(error.to_string().contains("Rate exceeded"), "{error}");
}

#[derive(Debug)]
struct NoCredentialsAnywhere;

impl ProvideCredentials for NoCredentialsAnywhere {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        future::ProvideCredentials::ready(Err(CredentialsError::not_loaded(
            "no providers in chain provided credentials",
        )))
    }
}

#[tokio::test]
async fn missing_credentials_are_reported_before_any_request() {
    // A real client (mocks answer before signing): the endpoint is never contacted
    // because resolving credentials fails first.
    let config = aws_sdk_sfn::Config::builder()
        .behavior_version(aws_sdk_sfn::config::BehaviorVersion::latest())
        .region(aws_sdk_sfn::config::Region::new("us-east-1"))
        .endpoint_url("http://127.0.0.1:9")
        .credentials_provider(NoCredentialsAnywhere)
        .retry_config(RetryConfig::disabled())
        .build();
    let poller = CatalogPoller::new(Client::from_conf(config), MACHINE).expect("valid ARN");
    let error = poller.status(&input().catalog_id).await.expect_err("no credentials");
    assert!(matches!(error, PollerError::NoCredentials { .. }), "{error:?}");
    let message = error.to_string();
    assert!(
        message.contains("no providers in chain provided credentials") && message.contains("AWS_PROFILE"),
        "{message}"
    );
    assert_eq!(exit_code_of(&error), exit::AWS);
}

/// `watch` reads only new events: it keeps the token of the last (partly filled) page and
/// re-reads that page, since GetExecutionHistory returns no token after the last page.
/// (moto ignores paging, so this is checked with aws-smithy-mocks.)
mod history_paging {
    use std::time::Duration;

    use aws_sdk_sfn::Client;
    use aws_sdk_sfn::operation::describe_execution::DescribeExecutionOutput;
    use aws_sdk_sfn::operation::get_execution_history::GetExecutionHistoryOutput;
    use aws_sdk_sfn::primitives::DateTime;
    use aws_sdk_sfn::types::{
        ExecutionStatus, HistoryEvent, HistoryEventType, LambdaFunctionSucceededEventDetails, StateEnteredEventDetails,
    };
    use aws_smithy_mocks::{RuleMode, mock, mock_client};
    use catalog_core::{CatalogId, LastSeen, PollOutcome, PollSettings, PollState};
    use catalog_poller::{CatalogPoller, Happening, RunStatus, WatchEnd, WatchOptions};

    const MACHINE: &str = "arn:aws:states:us-east-1:123456789012:stateMachine:catalog-poller";
    const EXECUTION: &str = "arn:aws:states:us-east-1:123456789012:execution:catalog-poller:catalog-c-1";

    fn event(id: i64, kind: HistoryEventType) -> aws_sdk_sfn::types::builders::HistoryEventBuilder {
        HistoryEvent::builder()
            .id(id)
            .previous_event_id(id - 1)
            .timestamp(DateTime::from_secs(1_800_000_000 + id))
            .r#type(kind)
    }

    fn poll_json() -> String {
        let settings = PollSettings {
            poll_interval_seconds: 20,
            max_attempts: 150,
        };
        let outcome = PollOutcome::Transient {
            seen: LastSeen::Connection,
            retry_after: None,
        };
        serde_json::to_string(&PollState::after("c", settings, 1, outcome)).expect("serializes")
    }

    fn events(ids: &[i64]) -> Vec<HistoryEvent> {
        ids.iter()
            .map(|&id| {
                match id {
                    1 => event(1, HistoryEventType::ExecutionStarted),
                    2 => event(2, HistoryEventType::TaskStateEntered).state_entered_event_details(
                        StateEnteredEventDetails::builder()
                            .name("CheckCatalogStatus")
                            .build()
                            .expect("named"),
                    ),
                    3 => event(3, HistoryEventType::LambdaFunctionScheduled),
                    4 => event(4, HistoryEventType::LambdaFunctionSucceeded).lambda_function_succeeded_event_details(
                        LambdaFunctionSucceededEventDetails::builder()
                            .output(poll_json())
                            .build(),
                    ),
                    _ => event(id, HistoryEventType::ExecutionSucceeded),
                }
                .build()
                .expect("complete event")
            })
            .collect()
    }

    fn page(ids: &[i64], next_token: Option<&str>) -> GetExecutionHistoryOutput {
        GetExecutionHistoryOutput::builder()
            .set_events(Some(events(ids)))
            .set_next_token(next_token.map(str::to_owned))
            .build()
            .expect("complete page")
    }

    #[tokio::test]
    async fn watch_reads_each_event_once_across_pages_and_rounds() {
        let first_page = mock!(Client::get_execution_history)
            .match_requests(|req| req.next_token().is_none() && req.reverse_order() != Some(true))
            .then_output(|| page(&[1, 2], Some("t1")));
        // The last page, re-read each round as the execution adds events to it.
        let last_page = mock!(Client::get_execution_history)
            .match_requests(|req| req.next_token() == Some("t1"))
            .sequence()
            .output(|| page(&[3], None))
            .output(|| page(&[3, 4], None))
            .output(|| page(&[3, 4, 5], None))
            .build();
        let newest_first = mock!(Client::get_execution_history)
            .match_requests(|req| req.reverse_order() == Some(true))
            .then_output(|| page(&[5, 4, 3], Some("older")));
        let described = mock!(Client::describe_execution).then_output(|| {
            DescribeExecutionOutput::builder()
                .execution_arn(EXECUTION)
                .state_machine_arn(MACHINE)
                .status(ExecutionStatus::Succeeded)
                .start_date(DateTime::from_secs(1_800_000_001))
                .stop_date(DateTime::from_secs(1_800_000_005))
                .build()
                .expect("complete")
        });
        let client = mock_client!(
            aws_sdk_sfn,
            RuleMode::MatchAny,
            [&first_page, &last_page, &newest_first, &described]
        );
        let poller = CatalogPoller::new(client, MACHINE).expect("valid ARN");
        let catalog_id = CatalogId::parse("c").expect("valid");
        let mut seen = Vec::new();
        let options = WatchOptions {
            interval: Duration::from_millis(1),
            timeout: Some(Duration::from_secs(10)),
        };
        let end = poller
            .watch_execution(&catalog_id, EXECUTION, options, |entry| seen.push(entry.clone()))
            .await
            .expect("watch");

        let ids: Vec<i64> = seen.iter().map(|e| e.event_id).collect();
        assert_eq!(ids, [1, 4, 5], "each entry once: {seen:#?}");
        assert!(matches!(seen[1].what, Happening::Poll { .. }));
        assert_eq!(first_page.num_calls(), 1, "the first page is read once");
        assert_eq!(
            last_page.num_calls(),
            3,
            "later rounds resume from the last page's token"
        );
        let WatchEnd::Finished(report) = end else {
            panic!("finished expected: {end:?}");
        };
        assert_eq!(report.execution.status, RunStatus::Succeeded);
        assert_eq!(report.attempts_made, 1, "the newest page had the latest poll");
        assert_eq!(newest_first.num_calls(), 1, "no older page was needed");
    }
}
