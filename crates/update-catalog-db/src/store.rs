//! The port the handler writes through: a catalog store, and the typed errors it reports.

use std::future::Future;

use catalog_core::{CatalogId, ErrorName};

/// What one write did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreWrite {
    /// Rows changed by the statement (0 when there was nothing to write).
    pub rows_updated: u64,
    /// The value written to the status column, when one is configured.
    pub status: Option<&'static str>,
}

/// Where catalog rows live. Both operations are idempotent: running one again with the
/// same arguments leaves the row as the first run did, so a retry is always safe.
pub trait CatalogStore: Send + Sync {
    /// Writes the provisioned names (and `READY`, with a status column) in one statement.
    fn record_ready(
        &self,
        catalog_id: &CatalogId,
        knowledge_base_id: &str,
        data_source_id: &str,
    ) -> impl Future<Output = Result<StoreWrite, StoreError>> + Send;

    /// Writes `FAILED` to the status column, ids untouched; without a status column it
    /// only checks that the row exists.
    fn record_failure(&self, catalog_id: &CatalogId) -> impl Future<Output = Result<StoreWrite, StoreError>> + Send;
}

/// Why a write did not happen. Messages are for on-call: they name the server, the
/// database, the role and the SQLSTATE, never a password or secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// No row has this id (or the id cannot be a value of the key column).
    #[error("no catalog row with {column} = {catalog_id:?} in table {table}")]
    RowNotFound {
        table: String,
        column: String,
        catalog_id: String,
    },
    /// The database refused the values themselves (too long for the column, a check
    /// constraint): retrying cannot help.
    #[error("the database rejected the values for catalog {catalog_id:?}: {detail}")]
    ValuesRejected { catalog_id: String, detail: String },
    /// The database cannot be reached or cannot finish the statement now.
    #[error("{detail}")]
    Unavailable { detail: String },
    /// The database does not match the configuration (no such table or column, no
    /// privilege, unsupported key type). Reported as `DatabaseUnavailable`: the row is
    /// left unchanged and the retries give an operator time to fix it.
    #[error("{detail}")]
    Misconfigured { detail: String },
    /// The server refused the login (a fresh secret was tried too, when there is one).
    #[error("{detail}")]
    AuthenticationFailed { detail: String },
}

impl StoreError {
    /// The contract name Step Functions sees.
    pub fn error_name(&self) -> ErrorName {
        match self {
            StoreError::RowNotFound { .. } => ErrorName::CatalogRowNotFound,
            StoreError::ValuesRejected { .. } => ErrorName::InvalidInput,
            StoreError::Unavailable { .. }
            | StoreError::Misconfigured { .. }
            | StoreError::AuthenticationFailed { .. } => ErrorName::DatabaseUnavailable,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_names() {
        let not_found = StoreError::RowNotFound {
            table: "\"catalogs\"".into(),
            column: "\"id\"".into(),
            catalog_id: "cat-1".into(),
        };
        assert_eq!(not_found.error_name(), ErrorName::CatalogRowNotFound);
        assert_eq!(
            not_found.to_string(),
            "no catalog row with \"id\" = \"cat-1\" in table \"catalogs\""
        );
        assert_eq!(
            StoreError::ValuesRejected {
                catalog_id: "c".into(),
                detail: "d".into()
            }
            .error_name(),
            ErrorName::InvalidInput
        );
        for transient in [
            StoreError::Unavailable { detail: "x".into() },
            StoreError::Misconfigured { detail: "x".into() },
            StoreError::AuthenticationFailed { detail: "x".into() },
        ] {
            assert_eq!(transient.error_name(), ErrorName::DatabaseUnavailable);
        }
    }
}
