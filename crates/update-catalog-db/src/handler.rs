//! One invocation: validate the request, write through the store, report what was written.

use std::time::{Duration, SystemTime};

use catalog_core::{ErrorName, UpdateRequest, UpdateResult};
use lambda_support::FunctionError;
use serde_json::Value;

use crate::store::CatalogStore;

/// Time kept back from the invocation's deadline to report an error before Lambda
/// kills the invocation (which Step Functions would see as `States.Timeout`, not as a
/// contract error).
pub const DEADLINE_MARGIN: Duration = Duration::from_millis(500);

/// How long an invocation may take: until `deadline` less [`DEADLINE_MARGIN`] (at least 100 ms).
pub fn budget_until(deadline: SystemTime, now: SystemTime) -> Duration {
    deadline
        .duration_since(now)
        .unwrap_or_default()
        .saturating_sub(DEADLINE_MARGIN)
        .max(Duration::from_millis(100))
}

/// [`handle`] bounded by `budget`: when the database takes longer than the function
/// has left (its timeouts add up past the function's timeout, e.g. a slow secret
/// fetch, a refused login retried with a fresh secret and a reconnect), the answer is
/// `DatabaseUnavailable`, which the state machine retries. Both writes are idempotent,
/// so a retry is safe even if the statement committed just before the budget ran out.
pub async fn handle_within<S: CatalogStore>(
    store: &S,
    event: &Value,
    budget: Duration,
) -> Result<UpdateResult, FunctionError> {
    if let Ok(outcome) = tokio::time::timeout(budget, handle(store, event)).await {
        return outcome;
    }
    let message = format!(
        "the database did not finish within the invocation's remaining time ({} ms)",
        budget.as_millis()
    );
    tracing::warn!(error = %message, "gave up before the function's timeout");
    Err(FunctionError::new(ErrorName::DatabaseUnavailable, message))
}

/// Handles one event. Invalid input is rejected before the store is touched, so it
/// writes nothing (and opens no connection).
pub async fn handle<S: CatalogStore>(store: &S, event: &Value) -> Result<UpdateResult, FunctionError> {
    let request = UpdateRequest::from_json(event).map_err(|error| {
        tracing::warn!(error = %error, "rejected an invalid update request");
        FunctionError::invalid_input(error.to_string())
    })?;
    let catalog_id = request.catalog_id().clone();
    let action = request.action();
    let (written, knowledge_base_id, data_source_id) = match request {
        UpdateRequest::RecordReady {
            catalog_id,
            kb_name,
            data_source_name,
        } => {
            let written = store.record_ready(&catalog_id, &kb_name, &data_source_name).await;
            (written, Some(kb_name), Some(data_source_name))
        }
        UpdateRequest::RecordFailure {
            catalog_id,
            error,
            cause,
        } => {
            tracing::info!(catalog_id = %catalog_id, error = %error, cause = ?cause, "recording a failed provisioning");
            (store.record_failure(&catalog_id).await, None, None)
        }
    };
    match written {
        Ok(write) => {
            tracing::info!(
                catalog_id = %catalog_id,
                action,
                rows_updated = write.rows_updated,
                status = ?write.status,
                "catalog row written"
            );
            Ok(UpdateResult {
                catalog_id: catalog_id.into_string(),
                action,
                knowledge_base_id,
                data_source_id,
                status: write.status.map(str::to_owned),
                rows_updated: write.rows_updated,
            })
        }
        Err(error) => {
            let name = error.error_name();
            tracing::warn!(catalog_id = %catalog_id, action, error_name = %name, error = %error, "catalog row not written");
            Err(FunctionError::new(name, error.to_string()))
        }
    }
}

#[cfg(test)]
mod tests {
    use std::future::Future;

    use catalog_core::CatalogId;
    use serde_json::json;

    use super::*;
    use crate::store::{StoreError, StoreWrite};

    /// A database that never answers.
    struct Hanging;

    impl CatalogStore for Hanging {
        fn record_ready(
            &self,
            _: &CatalogId,
            _: &str,
            _: &str,
        ) -> impl Future<Output = Result<StoreWrite, StoreError>> + Send {
            std::future::pending()
        }

        fn record_failure(&self, _: &CatalogId) -> impl Future<Output = Result<StoreWrite, StoreError>> + Send {
            std::future::pending()
        }
    }

    #[tokio::test]
    async fn a_database_that_outlasts_the_budget_is_database_unavailable() {
        let event = json!({"action": "record_ready", "catalog_id": "c", "kb_name": "kb", "data_source_name": "ds"});
        let error = handle_within(&Hanging, &event, Duration::from_millis(50))
            .await
            .expect_err("out of time");
        assert_eq!(error.name, ErrorName::DatabaseUnavailable);
        assert_eq!(
            error.message,
            "the database did not finish within the invocation's remaining time (50 ms)"
        );
    }

    #[test]
    fn the_budget_keeps_a_margin_before_the_deadline() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        assert_eq!(
            budget_until(now + Duration::from_secs(15), now),
            Duration::from_millis(14_500)
        );
        assert_eq!(
            budget_until(now + Duration::from_millis(300), now),
            Duration::from_millis(100)
        );
        assert_eq!(
            budget_until(now - Duration::from_secs(1), now),
            Duration::from_millis(100)
        );
    }
}
