//! The CheckCatalogStatus Lambda: one GET to the catalog API per poll.
//!
//! * [`api`]: the port, [`api::CatalogApi`], and its typed outcome;
//! * [`http`]: the reqwest adapter, [`http::HttpCatalogApi`] (URL building, timeouts,
//!   size-capped bodies, status classification, `Retry-After`);
//! * [`token`]: where the bearer token comes from, refreshed once after a 401;
//! * [`handler`]: validates the workflow state, makes one call, returns the `PollState`;
//! * [`config`]: the function's environment, read once in `main`.

pub mod api;
pub mod config;
pub mod handler;
pub mod http;
pub mod token;

pub use api::{CatalogApi, CatalogApiError};
pub use handler::check_catalog_status;
pub use http::{HttpCatalogApi, HttpSettings};
pub use token::{ApiToken, TokenProvider};
