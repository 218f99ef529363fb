//! The port to the catalog API and the outcomes of one call, already classified.

use std::future::Future;
use std::time::Duration;

use catalog_core::{CatalogId, CatalogStatusBody, LastSeen};

/// Reads a catalog's provisioning status from the catalog API.
pub trait CatalogApi: Send + Sync {
    /// One poll of `catalog_id`: the body the API answered, or why there is none.
    fn fetch_status(
        &self,
        catalog_id: &CatalogId,
    ) -> impl Future<Output = Result<CatalogStatusBody, CatalogApiError>> + Send;
}

/// Why a call gave no status body. Only [`CatalogApiError::Transient`] lets the poll go on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CatalogApiError {
    /// The API has no such catalog (HTTP 404).
    #[error("the catalog API answered HTTP 404")]
    NotFound,
    /// The API refused the request (401, 403, other 4xx except 408 and 429).
    #[error("the catalog API rejected the request with HTTP {status}")]
    Rejected { status: u16 },
    /// Trouble worth another attempt: a timeout, a connection error, 408, 429, 5xx, an
    /// unexpected status, or a body that is not the JSON object described.
    #[error("transient trouble: {seen}")]
    Transient {
        seen: LastSeen,
        /// The `Retry-After` of a 429 or 503, when the API sent one.
        retry_after: Option<Duration>,
    },
    /// The id cannot be one URL path segment (`.` and `..` are dot-segments that any
    /// URL normalisation removes), so no request is made.
    #[error("catalog_id {0:?} cannot be sent as a URL path segment")]
    Unaddressable(String),
}

impl CatalogApiError {
    pub fn transient(seen: LastSeen) -> CatalogApiError {
        CatalogApiError::Transient {
            seen,
            retry_after: None,
        }
    }
}
