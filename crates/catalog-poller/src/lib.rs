//! Starts a catalog's poll on Step Functions and tells on-call what it is doing.
//!
//! The library is what a Rust backend calls; the `catalog-poller` binary is the same API
//! behind a CLI ([`cli`]).
//!
//! ```no_run
//! use catalog_core::{CatalogId, ExecutionInput};
//! use catalog_poller::{CatalogPoller, StartOutcome};
//!
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! let config = aws_config::load_from_env().await;
//! let poller = CatalogPoller::new(
//!     aws_sdk_sfn::Client::new(&config),
//!     "arn:aws:states:eu-west-1:111122223333:stateMachine:catalog-poller",
//! )?;
//!
//! let catalog_id = CatalogId::parse("cat-123")?;
//! match poller.start(&ExecutionInput::new(catalog_id.clone())).await? {
//!     StartOutcome::Started { execution_arn, .. } => println!("polling: {execution_arn}"),
//!     StartOutcome::AlreadyExists(existing) => {
//!         println!("already polled: {} is {}", existing.execution_arn, existing.status);
//!     }
//! }
//!
//! let report = poller.status(&catalog_id).await?;
//! println!("{} after {} attempts", report.execution.status, report.attempts_made);
//! for entry in poller.history(&catalog_id).await? {
//!     println!("{entry}");
//! }
//! # Ok(())
//! # }
//! ```
//!
//! Modules:
//! * [`execution_name`] – the execution name rule (valid, stable, distinct per catalog id);
//! * [`poller`] – [`CatalogPoller`] (`start`, `status`, `history`, `watch`);
//! * [`timeline`] – raw history events to a readable timeline;
//! * [`report`] – start outcomes and status reports;
//! * [`arn`] – the state machine ARN and its executions' ARNs;
//! * [`error`] – [`PollerError`];
//! * [`cli`] – the `catalog-poller` command line.

pub mod arn;
pub mod cli;
pub mod error;
pub mod execution_name;
pub mod poller;
pub mod report;
pub mod timeline;

pub use arn::StateMachineArn;
pub use error::{AwsErrorKind, PollerError};
pub use execution_name::ExecutionName;
pub use poller::{CatalogPoller, WatchEnd, WatchOptions};
pub use report::{ExecutionStatusReport, ExecutionSummary, RunStatus, StartOutcome};
pub use timeline::{Handling, Happening, TimelineEntry};
