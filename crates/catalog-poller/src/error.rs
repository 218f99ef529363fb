//! What can go wrong when starting or inspecting a catalog's poll, in words on-call can act on.

use aws_credential_types::provider::error::CredentialsError;
use aws_sdk_sfn::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use catalog_core::InputError;

use crate::execution_name::RunOutOfRange;

/// Every failure of the library API. The CLI maps each to an exit code.
#[derive(Debug, thiserror::Error)]
pub enum PollerError {
    #[error(
        "no state machine ARN: pass --state-machine-arn or set CATALOG_POLLER_STEP_FUNCTION_ARN \
         (the stack's StateMachineArn output)"
    )]
    MissingStateMachineArn,

    #[error("{0:?} is not a state machine ARN; expected arn:<partition>:states:<region>:<account>:stateMachine:<name>")]
    InvalidStateMachineArn(String),

    #[error("invalid execution input: {0}")]
    InvalidInput(#[from] InputError),

    #[error("{0}")]
    InvalidRun(#[from] RunOutOfRange),

    #[error(
        "no AWS credentials: {detail}. Configure the standard AWS chain: AWS_PROFILE (with `aws sso login`), \
         AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or a role of the machine this runs on"
    )]
    NoCredentials { detail: String },

    #[error(
        "no poll execution for catalog {catalog_id:?}: execution {execution_name} does not exist on \
         {state_machine_arn} (never started, started with another state machine, or closed more than \
         90 days ago)"
    )]
    UnknownCatalog {
        catalog_id: String,
        execution_name: String,
        state_machine_arn: String,
    },

    #[error("the state machine {state_machine_arn} does not exist or is being deleted (check the ARN and the account)")]
    StateMachineNotFound { state_machine_arn: String },

    #[error("{operation}: {}", aws_message(*kind, code.as_deref(), message))]
    Aws {
        /// The Step Functions operation, e.g. `StartExecution`.
        operation: &'static str,
        kind: AwsErrorKind,
        /// The service's error code, when it answered with one.
        code: Option<String>,
        message: String,
    },
}

/// The kind of AWS trouble, so callers can tell retryable from configuration problems.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AwsErrorKind {
    /// Credentials were rejected or lack the permission (`AccessDeniedException`, bad or expired keys).
    AccessDenied,
    /// The request rate was too high even after the SDK's retries.
    Throttled,
    /// Step Functions could not be reached (DNS, connection, timeout).
    Unreachable,
    /// Any other error the service answered with.
    Service,
}

fn aws_message(kind: AwsErrorKind, code: Option<&str>, message: &str) -> String {
    let code = code.map(|c| format!("{c}: ")).unwrap_or_default();
    match kind {
        AwsErrorKind::AccessDenied => format!(
            "access denied ({code}{message}); the caller needs the permissions listed in the README \
             (states:StartExecution, states:DescribeExecution, states:GetExecutionHistory)"
        ),
        AwsErrorKind::Throttled => format!("throttled by Step Functions after retries ({code}{message}); try again"),
        AwsErrorKind::Unreachable => format!("could not reach Step Functions: {message}"),
        AwsErrorKind::Service => format!("{code}{message}"),
    }
}

const ACCESS_DENIED_CODES: [&str; 6] = [
    "AccessDeniedException",
    "AccessDenied",
    "UnrecognizedClientException",
    "InvalidSignatureException",
    "ExpiredTokenException",
    "InvalidClientTokenId",
];
const THROTTLED_CODES: [&str; 4] = [
    "ThrottlingException",
    "Throttling",
    "TooManyRequestsException",
    "RequestLimitExceeded",
];

impl PollerError {
    /// Maps an SDK error that the caller did not handle as an operation-specific case.
    pub(crate) fn from_sdk<E, R>(operation: &'static str, error: &SdkError<E, R>) -> PollerError
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
        R: std::fmt::Debug + Send + Sync + 'static,
    {
        if let Some(credentials) = find_credentials_error(error) {
            return PollerError::NoCredentials {
                detail: DisplayErrorContext(credentials).to_string(),
            };
        }
        match error {
            SdkError::ServiceError(service) => {
                let err = service.err();
                let code = err.code().map(str::to_owned);
                let kind = match code.as_deref() {
                    Some(c) if ACCESS_DENIED_CODES.contains(&c) => AwsErrorKind::AccessDenied,
                    Some(c) if THROTTLED_CODES.contains(&c) => AwsErrorKind::Throttled,
                    _ => AwsErrorKind::Service,
                };
                let message = err
                    .message()
                    .map_or_else(|| DisplayErrorContext(err).to_string(), str::to_owned);
                PollerError::Aws {
                    operation,
                    kind,
                    code,
                    message,
                }
            }
            SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) | SdkError::ResponseError(_) => PollerError::Aws {
                operation,
                kind: AwsErrorKind::Unreachable,
                code: None,
                message: DisplayErrorContext(error).to_string(),
            },
            _ => PollerError::Aws {
                operation,
                kind: AwsErrorKind::Service,
                code: None,
                message: DisplayErrorContext(error).to_string(),
            },
        }
    }
}

/// The SDK reports missing credentials as a failure deep in its error chain.
fn find_credentials_error<'a>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a CredentialsError> {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(err) = current {
        if let Some(credentials) = err.downcast_ref::<CredentialsError>() {
            return Some(credentials);
        }
        current = err.source();
    }
    None
}
