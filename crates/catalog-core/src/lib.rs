//! The catalog poller's domain, free of AWS, HTTP and database code.
//!
//! Everything that crosses a boundary between the Step Functions states, the two
//! Lambdas and the backend is defined here:
//!
//! * [`input`]: the execution input (what StartExecution receives) and its validation;
//! * [`catalog_id`]: the catalog id rule (1..=128 code points, no control character);
//! * [`readiness`]: when a catalog counts as provisioned;
//! * [`poll`]: the poll state that CheckCatalogStatus returns into `$.poll`;
//! * [`update`]: what UpdateCatalogDB is asked to write;
//! * [`error_name`]: the closed list of error names Step Functions sees;
//! * [`secret`]: a wrapper that keeps secrets out of `Debug`/`Display`.

pub mod catalog_id;
pub mod error_name;
pub mod input;
pub mod poll;
pub mod readiness;
pub mod secret;
pub mod update;

pub use catalog_id::{CatalogId, CatalogIdError};
pub use error_name::ErrorName;
pub use input::{ExecutionInput, InputError, PollDefaults, PollSettings};
pub use poll::{CheckRequest, LastSeen, PollOutcome, PollState};
pub use readiness::{BodyError, CatalogStatusBody, Readiness};
pub use secret::Secret;
pub use update::{UpdateRequest, UpdateResult};
