//! The parts of `make demo` (`src/bin/demo.rs`) and `make bench` (`src/bin/bench.rs`):
//!
//! * [`demo`]: one real poll end to end (release binaries behind the Lambda emulator,
//!   the engine, a local catalog API, a local PostgreSQL), reported as it goes;
//! * [`bench`]: init time, latency and memory of the release binaries against an echo
//!   floor, and the cost model from a real execution's transitions;
//! * [`api_simulator`]: a local catalog API (PENDING, then ready);
//! * [`database`]: a fresh database with a `catalogs` table on the PostgreSQL the tests use;
//! * [`invoke_log`]: a pass-through in front of the emulator that reports each invocation;
//! * [`runtime_api`]: a minimal Lambda Runtime API that times a bootstrap's phases;
//! * [`history`]: an execution's events as readable lines;
//! * [`http_server`]: the small hyper server the others are built on.

pub mod api_simulator;
pub mod bench;
pub mod database;
pub mod demo;
pub mod history;
pub mod http_server;
pub mod invoke_log;
pub mod runtime_api;
