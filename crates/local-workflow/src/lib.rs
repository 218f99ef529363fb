//! Runs the repository's `state_machine.json` locally and checks it against `template.yaml`.
//!
//! * [`paths`]: the repository's files and the third-party tools in `.tools/`;
//! * [`definition`]: the definition's `${...}` placeholders and their substitution;
//! * [`template`]: `template.yaml` as data (CloudFormation tags tolerated);
//! * [`engine`]: one execution in aws-local-stepfunctions (a third-party engine), with each
//!   Task served by scripted results or by a real function behind a Lambda emulator, and
//!   the execution's events, calls and outcome as a report;
//! * [`lambdas`]: the release binaries built as `sam build` builds them, run behind
//!   cargo-lambda's Lambda emulator;
//! * [`demo_support`]: what `make demo` and `make bench` run (a catalog API simulator, a
//!   minimal Lambda Runtime API, the demo's database, the bench and its cost model).
//!
//! Binaries: `demo`, `bench` and `state-machine-diagram` (the README's flow diagram).

pub mod definition;
pub mod demo_support;
pub mod engine;
pub mod lambdas;
pub mod paths;
pub mod template;
