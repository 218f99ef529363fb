//! One CheckCatalogStatus invocation: validate the state, poll once, return the `PollState`.

use catalog_core::{CatalogId, CheckRequest, ErrorName, PollDefaults, PollOutcome, PollSettings, PollState, Readiness};
use lambda_support::FunctionError;
use serde_json::Value;
use tracing::{Instrument, field};

use crate::api::{CatalogApi, CatalogApiError};

/// Handles one event (the whole workflow state). The input is validated before any
/// call to the API; the API is called once; permanent outcomes are errors named from
/// the contract, anything else is a [`PollState`] (ready, pending or transient).
pub async fn check_catalog_status<A: CatalogApi>(
    api: &A,
    defaults: PollDefaults,
    event: Value,
) -> Result<PollState, FunctionError> {
    // Every line of the invocation carries these two fields once they are known. The
    // span is at ERROR level so it exists (and tags lines) whatever the log level.
    let span = tracing::error_span!(
        "check_catalog_status",
        catalog_id = field::Empty,
        attempt = field::Empty
    );
    poll_once(api, defaults, &event).instrument(span).await
}

async fn poll_once<A: CatalogApi>(api: &A, defaults: PollDefaults, event: &Value) -> Result<PollState, FunctionError> {
    let request = CheckRequest::from_json(event).map_err(|error| rejected_input(&error))?;
    let settings = request.settings(defaults);
    let catalog_id = &request.input.catalog_id;
    let span = tracing::Span::current();
    span.record("catalog_id", catalog_id.as_str());
    let attempt = request.this_attempt(settings).map_err(|error| rejected_input(&error))?;
    span.record("attempt", attempt);

    let outcome = match api.fetch_status(catalog_id).await {
        Ok(body) => match body.readiness() {
            Readiness::Ready {
                kb_name,
                data_source_name,
            } => PollOutcome::Ready {
                kb_name,
                data_source_name,
            },
            Readiness::Pending {
                kb_name,
                data_source_name,
            } => PollOutcome::Pending {
                kb_name,
                data_source_name,
            },
            Readiness::Failed { status } => {
                return Err(ended(
                    ErrorName::CatalogProvisioningFailed,
                    format!(
                        "catalog {:?} provisioning failed: the catalog API reports status {status:?} ({})",
                        catalog_id.as_str(),
                        attempt_of(attempt, settings)
                    ),
                ));
            }
        },
        Err(error) => api_error(error, catalog_id, attempt, settings)?,
    };
    let state = PollState::after(catalog_id.as_str(), settings, attempt, outcome);
    tracing::info!(
        ready = state.ready,
        last_seen = %state.last_seen,
        wait_seconds = state.wait_seconds,
        "{}",
        state.summary
    );
    Ok(state)
}

/// Transient trouble is an outcome of the poll; anything else ends the execution.
fn api_error(
    error: CatalogApiError,
    catalog_id: &CatalogId,
    attempt: u32,
    settings: PollSettings,
) -> Result<PollOutcome, FunctionError> {
    let id = catalog_id.as_str();
    let of = attempt_of(attempt, settings);
    Err(match error {
        CatalogApiError::Transient { seen, retry_after } => return Ok(PollOutcome::Transient { seen, retry_after }),
        CatalogApiError::NotFound => ended(
            ErrorName::CatalogNotFound,
            format!("catalog {id:?} not found: the catalog API answered HTTP 404 ({of})"),
        ),
        CatalogApiError::Rejected { status } => ended(
            ErrorName::CatalogApiRejected,
            format!(
                "the catalog API rejected the request for catalog {id:?} with HTTP {status} ({of}); \
                 check the API token and the function's configuration"
            ),
        ),
        CatalogApiError::Unaddressable(_) => {
            rejected_input(&format!("catalog_id {id:?} cannot be sent as a URL path segment"))
        }
    })
}

fn attempt_of(attempt: u32, settings: PollSettings) -> String {
    format!("attempt {attempt} of {}", settings.max_attempts)
}

/// An outcome that ends the execution.
fn ended(name: ErrorName, message: String) -> FunctionError {
    tracing::warn!(error_name = name.as_str(), "{message}");
    FunctionError::new(name, message)
}

fn rejected_input(error: &dyn std::fmt::Display) -> FunctionError {
    ended(ErrorName::InvalidInput, format!("invalid input: {error}"))
}
