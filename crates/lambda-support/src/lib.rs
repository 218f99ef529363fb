//! Shared Lambda plumbing for the catalog poller's functions.
//!
//! * [`event`]: [`event::RawEvent`], a payload type whose deserialization never fails, so
//!   an event the runtime cannot decode still reaches us and becomes `InvalidInput`;
//! * [`error`]: [`FunctionError`], the only error a handler returns, named from the
//!   closed list [`catalog_core::ErrorName`];
//! * [`runtime`]: [`run`] and [`runtime::handle_event`], which turn undecodable events
//!   and panics into `InvalidInput` so every `errorType` is a contract name;
//! * [`logging`]: the tracing subscriber (JSON on demand, third-party crates capped at WARN);
//! * [`secrets`]: a token or password, static or fetched once from Secrets Manager;
//! * [`config`]: reading environment variables once, failing fast with clear messages.

pub mod config;
pub mod error;
pub mod event;
pub mod logging;
pub mod runtime;
pub mod secrets;

pub use error::FunctionError;
pub use event::RawEvent;
pub use runtime::{handle_event, run};
