//! One invocation: validate the request, write through the store, report what was written.

use catalog_core::{UpdateRequest, UpdateResult};
use lambda_support::FunctionError;
use serde_json::Value;

use crate::store::CatalogStore;

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
