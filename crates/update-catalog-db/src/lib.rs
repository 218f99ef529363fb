//! UpdateCatalogDB: writes a catalog's provisioned names, or its failed provisioning,
//! into the catalog's PostgreSQL row.
//!
//! * [`config`]: the environment variables, read once in `main`;
//! * [`handler`]: one invocation (request in, [`catalog_core::UpdateResult`] out);
//! * [`store`]: the port, [`store::CatalogStore`], and its typed errors;
//! * [`postgres`]: the tokio-postgres adapter (connection reuse, SQLSTATE classification, secret rotation);
//! * [`sql`]: validated identifiers and the statements built from them;
//! * [`tls`]: `DB_SSLMODE` with rustls.

pub mod config;
pub mod handler;
pub mod postgres;
pub mod sql;
pub mod store;
pub mod tls;

pub use config::UpdateConfig;
pub use handler::handle;
pub use postgres::{Login, PostgresCatalogStore};
pub use store::{CatalogStore, StoreError, StoreWrite};
