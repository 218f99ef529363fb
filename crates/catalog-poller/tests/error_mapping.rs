//! How Step Functions' answers map to outcomes and typed errors, with aws-smithy-mocks
//! (the SDK's real request signing and error deserialisation, stubbed responses).

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
    let described = mock!(Client::describe_execution).then_output(running_execution);
    // Answered in order: run 1 exists, run 2 does not, the status describe, then history.
    let client = mock_client!(
        aws_sdk_sfn,
        RuleMode::Sequential,
        [&run_1, &missing_run_2, &described, &throttled],
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
