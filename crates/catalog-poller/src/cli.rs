//! The `catalog-poller` command line: arguments, output (text or `--json`) and exit codes.
//!
//! Everything a command needs is validated before the first AWS call, so a typo costs
//! nothing and exits with [`exit::USAGE`].

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use aws_config::{BehaviorVersion, Region};
use catalog_core::{CatalogId, ExecutionInput};
use clap::{Args, Parser, Subcommand};
use serde::Serialize;
use serde_json::{Value, json};

use crate::arn::StateMachineArn;
use crate::error::PollerError;
use crate::execution_name::ExecutionName;
use crate::poller::{CatalogPoller, WatchEnd, WatchOptions};
use crate::report::{ExecutionStatusReport, RunStatus, StartOutcome};
use crate::timeline::TimelineEntry;

/// Exit codes a script can branch on.
pub mod exit {
    /// Started (or the catalog already had an execution); the execution succeeded; history printed.
    pub const OK: u8 = 0;
    /// The execution FAILED (`status`, `watch`, `start --wait`).
    pub const FAILED: u8 = 1;
    /// Bad arguments or configuration (catalog id, overrides, missing or malformed ARN).
    pub const USAGE: u8 = 2;
    /// The catalog has no execution, or the state machine does not exist.
    pub const NOT_FOUND: u8 = 3;
    /// AWS trouble: no credentials, access denied, throttling, network, other API errors.
    pub const AWS: u8 = 4;
    /// The execution is still running (`status`, or `watch --timeout-seconds` elapsed).
    pub const RUNNING: u8 = 5;
    /// The execution TIMED_OUT.
    pub const TIMED_OUT: u8 = 6;
    /// The execution was ABORTED (stopped by someone).
    pub const ABORTED: u8 = 7;
}

const EXIT_CODES_HELP: &str = "\
Exit codes:
  0  started (or already had an execution) / execution SUCCEEDED / history printed
  1  execution FAILED
  2  usage or configuration error (nothing was called)
  3  no execution for this catalog, or no such state machine
  4  AWS error (credentials, permissions, throttling, network)
  5  execution still RUNNING (status; watch --timeout-seconds)
  6  execution TIMED_OUT
  7  execution ABORTED

Region and credentials come from the standard AWS chain; the region defaults to the
state machine ARN's. AWS_ENDPOINT_URL (or --endpoint-url) points at a local engine.";

/// Start and follow catalog polls on the Step Functions state machine.
#[derive(Debug, Parser)]
#[command(name = "catalog-poller", version, after_help = EXIT_CODES_HELP)]
pub struct Cli {
    /// Print JSON for scripts (`watch` prints one JSON object per line).
    #[arg(long, global = true)]
    pub json: bool,

    /// The poller's state machine (the stack's StateMachineArn output).
    #[arg(long, global = true, env = "CATALOG_POLLER_STEP_FUNCTION_ARN", value_name = "ARN")]
    pub state_machine_arn: Option<String>,

    /// Step Functions endpoint, e.g. a local engine (default: AWS_ENDPOINT_URL, else AWS).
    #[arg(long, global = true, value_name = "URL")]
    pub endpoint_url: Option<String>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Start the catalog's poll; an existing execution is reported, not duplicated.
    Start(StartArgs),
    /// Follow the catalog's execution live, one line per poll, until it ends.
    Watch(WatchArgs),
    /// The execution's status, attempts, last value or API problem seen, Error and Cause.
    Status(ExecutionArgs),
    /// The execution's history as a readable timeline.
    History(ExecutionArgs),
    /// Print the catalog's execution name (no AWS call).
    Name(ExecutionArgs),
}

#[derive(Debug, Args)]
pub struct StartArgs {
    /// The catalog id, exactly as the backend stores it.
    pub catalog_id: String,
    /// Seconds between polls (1..=3600; default: the deployment's).
    #[arg(long, value_name = "N")]
    pub poll_interval_seconds: Option<u32>,
    /// Polls before giving up with MaxAttemptsReached (1..=10000; default: the deployment's).
    #[arg(long, value_name = "N")]
    pub max_attempts: Option<u32>,
    /// Follow the execution until it ends (like `watch`); the exit code says how it ended.
    #[arg(long)]
    pub wait: bool,
    /// Poll again on purpose although an earlier execution is closed (starts run 2, 3, ...).
    #[arg(long)]
    pub rerun: bool,
    /// With --wait: seconds between two reads of the history.
    #[arg(long, value_name = "N", default_value_t = 2, value_parser = clap::value_parser!(u64).range(1..=300))]
    pub interval_seconds: u64,
}

#[derive(Debug, Args)]
pub struct ExecutionArgs {
    /// The catalog id, exactly as the backend stores it.
    pub catalog_id: String,
    /// Which run of the catalog's poll (default: the latest; 1 is the first).
    #[arg(long, value_name = "N")]
    pub run: Option<u32>,
}

#[derive(Debug, Args)]
pub struct WatchArgs {
    #[command(flatten)]
    pub execution: ExecutionArgs,
    /// Seconds between two reads of the history.
    #[arg(long, value_name = "N", default_value_t = 2, value_parser = clap::value_parser!(u64).range(1..=300))]
    pub interval_seconds: u64,
    /// Stop following after this many seconds (exit 5 when still running).
    #[arg(long, value_name = "N")]
    pub timeout_seconds: Option<u64>,
}

/// Runs the parsed command and returns the process's exit code.
pub async fn run(cli: Cli) -> ExitCode {
    let json = cli.json;
    match execute(cli).await {
        Ok(code) => ExitCode::from(code),
        Err(error) => {
            let code = exit_code_of(&error);
            if json {
                print_json(
                    &json!({"error": {"kind": error_kind(&error), "exit_code": code, "message": error.to_string()}}),
                );
            }
            eprintln!("catalog-poller: {error}");
            ExitCode::from(code)
        }
    }
}

async fn execute(cli: Cli) -> Result<u8, PollerError> {
    let Cli {
        json,
        state_machine_arn,
        endpoint_url,
        command,
    } = cli;
    // Everything the user typed is checked before any AWS call.
    let catalog_id = match &command {
        Command::Start(args) => parse_catalog_id(&args.catalog_id)?,
        Command::Watch(args) => parse_catalog_id(&args.execution.catalog_id)?,
        Command::Status(args) | Command::History(args) | Command::Name(args) => parse_catalog_id(&args.catalog_id)?,
    };
    if let Command::Name(args) = &command {
        let run = args.run.unwrap_or(1);
        let name = ExecutionName::for_run(&catalog_id, run)?;
        if json {
            print_json(&json!({"catalog_id": catalog_id.as_str(), "run": run, "execution_name": name.as_str()}));
        } else {
            println!("{name}");
        }
        return Ok(exit::OK);
    }
    let input = match &command {
        Command::Start(args) => Some(start_input(&catalog_id, args)?),
        _ => None,
    };
    let run = match &command {
        Command::Watch(args) => args.execution.run,
        Command::Status(args) | Command::History(args) => args.run,
        _ => None,
    };
    if let Some(run) = run {
        ExecutionName::for_run(&catalog_id, run)?;
    }
    let state_machine = StateMachineArn::parse(state_machine_arn.as_deref().unwrap_or_default())?;

    let config = load_aws_config(&state_machine, endpoint_url.as_deref()).await;
    let poller = CatalogPoller::new(aws_sdk_sfn::Client::new(&config), state_machine.as_str())?;

    match command {
        Command::Start(args) => start(&poller, json, &catalog_id, &args, &input.expect("validated above")).await,
        Command::Watch(args) => watch(&poller, json, &catalog_id, &args).await,
        Command::Status(args) => {
            let report = match args.run {
                Some(run) => poller.status_of_run(&catalog_id, run).await?,
                None => poller.status(&catalog_id).await?,
            };
            if json {
                print_json(&report);
            } else {
                print!("{report}");
            }
            Ok(exit_code_of_status(&report.execution.status))
        }
        Command::History(args) => {
            let entries = match args.run {
                Some(run) => poller.history_of_run(&catalog_id, run).await?,
                None => poller.history(&catalog_id).await?,
            };
            if json {
                print_json(&entries);
            } else {
                for entry in &entries {
                    println!("{entry}");
                }
            }
            Ok(exit::OK)
        }
        Command::Name(_) => unreachable!("handled before any AWS call"),
    }
}

async fn start(
    poller: &CatalogPoller,
    json: bool,
    catalog_id: &CatalogId,
    args: &StartArgs,
    input: &ExecutionInput,
) -> Result<u8, PollerError> {
    let outcome = if args.rerun {
        poller.start_rerun(input).await?
    } else {
        poller.start(input).await?
    };
    print_start(json, catalog_id, &outcome);
    if !args.wait {
        return Ok(exit::OK);
    }
    let options = WatchOptions {
        interval: Duration::from_secs(args.interval_seconds),
        timeout: None,
    };
    let end = poller
        .watch_execution(catalog_id, outcome.execution_arn(), options, |entry| {
            print_entry(json, entry);
        })
        .await?;
    Ok(print_watch_end(json, &end))
}

async fn watch(
    poller: &CatalogPoller,
    json: bool,
    catalog_id: &CatalogId,
    args: &WatchArgs,
) -> Result<u8, PollerError> {
    let options = WatchOptions {
        interval: Duration::from_secs(args.interval_seconds),
        timeout: args.timeout_seconds.map(Duration::from_secs),
    };
    let on_entry = |entry: &TimelineEntry| print_entry(json, entry);
    let end = match args.execution.run {
        Some(run) => poller.watch_run(catalog_id, run, options, on_entry).await?,
        None => poller.watch(catalog_id, options, on_entry).await?,
    };
    Ok(print_watch_end(json, &end))
}

/// The standard AWS chain for credentials; the region is the state machine's own (its
/// API only answers there), and the endpoint is `--endpoint-url` when given.
async fn load_aws_config(state_machine: &StateMachineArn, endpoint_url: Option<&str>) -> aws_config::SdkConfig {
    let mut loader =
        aws_config::defaults(BehaviorVersion::latest()).region(Region::new(state_machine.region().to_owned()));
    if let Some(url) = endpoint_url {
        loader = loader.endpoint_url(url);
    }
    loader.load().await
}

fn parse_catalog_id(raw: &str) -> Result<CatalogId, PollerError> {
    CatalogId::parse(raw).map_err(|e| PollerError::InvalidInput(e.into()))
}

/// The execution input, validated by the same rule the Lambda applies.
fn start_input(catalog_id: &CatalogId, args: &StartArgs) -> Result<ExecutionInput, PollerError> {
    let value = json!({
        "catalog_id": catalog_id.as_str(),
        "poll_interval_seconds": args.poll_interval_seconds,
        "max_attempts": args.max_attempts,
    });
    Ok(ExecutionInput::from_json(&value)?)
}

/// The exit code for an execution's status.
pub fn exit_code_of_status(status: &RunStatus) -> u8 {
    match status {
        RunStatus::Succeeded => exit::OK,
        RunStatus::Failed | RunStatus::Other(_) => exit::FAILED,
        RunStatus::Running | RunStatus::PendingRedrive => exit::RUNNING,
        RunStatus::TimedOut => exit::TIMED_OUT,
        RunStatus::Aborted => exit::ABORTED,
    }
}

/// The exit code for an error.
pub fn exit_code_of(error: &PollerError) -> u8 {
    match error {
        PollerError::MissingStateMachineArn
        | PollerError::InvalidStateMachineArn(_)
        | PollerError::InvalidInput(_)
        | PollerError::InvalidRun(_) => exit::USAGE,
        PollerError::UnknownCatalog { .. } | PollerError::StateMachineNotFound { .. } => exit::NOT_FOUND,
        PollerError::NoCredentials { .. } | PollerError::Aws { .. } => exit::AWS,
    }
}

fn error_kind(error: &PollerError) -> &'static str {
    match error {
        PollerError::MissingStateMachineArn => "missing_state_machine_arn",
        PollerError::InvalidStateMachineArn(_) => "invalid_state_machine_arn",
        PollerError::InvalidInput(_) => "invalid_input",
        PollerError::InvalidRun(_) => "invalid_run",
        PollerError::NoCredentials { .. } => "no_credentials",
        PollerError::UnknownCatalog { .. } => "unknown_catalog",
        PollerError::StateMachineNotFound { .. } => "state_machine_not_found",
        PollerError::Aws { .. } => "aws",
    }
}

fn print_start(json: bool, catalog_id: &CatalogId, outcome: &StartOutcome) {
    if json {
        let mut value = serde_json::to_value(outcome).expect("outcomes serialize");
        value["catalog_id"] = Value::String(catalog_id.to_string());
        print_json(&value);
        return;
    }
    match outcome {
        StartOutcome::Started {
            execution_name,
            execution_arn,
            ..
        } => println!(
            "started the poll of catalog {:?}: {execution_name}\n  {execution_arn}",
            catalog_id.as_str()
        ),
        StartOutcome::AlreadyExists(existing) => {
            println!(
                "catalog {:?} already has a poll execution ({}, started {}); nothing started: {}\n  {}",
                catalog_id.as_str(),
                existing.status,
                crate::report::format_date(&existing.start_date),
                existing.execution_name,
                existing.execution_arn
            );
            if existing.status.is_closed() {
                println!(
                    "  to poll it again, run: catalog-poller start --rerun {}",
                    shell_quoted(catalog_id.as_str())
                );
            }
        }
    }
}

/// `text` as one POSIX shell word, for commands printed for copy and paste.
fn shell_quoted(text: &str) -> String {
    if !text.is_empty() && text.chars().all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c)) {
        return text.to_owned();
    }
    format!("'{}'", text.replace('\'', r"'\''"))
}

fn print_entry(json: bool, entry: &TimelineEntry) {
    if json {
        print_json(entry);
    } else {
        println!("{entry}");
    }
}

fn print_watch_end(json: bool, end: &WatchEnd) -> u8 {
    let report: &ExecutionStatusReport = end.report();
    let code = match end {
        WatchEnd::Finished(report) => exit_code_of_status(&report.execution.status),
        WatchEnd::StillRunning(_) => exit::RUNNING,
    };
    if json {
        let mut value = serde_json::to_value(report).expect("reports serialize");
        value["kind"] = Value::String("status".into());
        print_json(&value);
    } else {
        if matches!(end, WatchEnd::StillRunning(_)) {
            println!("stopped following: the execution is still running");
        }
        print!("{report}");
    }
    code
}

fn print_json<T: Serialize + ?Sized>(value: &T) {
    let text = serde_json::to_string(value).expect("JSON output serializes");
    let mut stdout = std::io::stdout().lock();
    // A closed pipe (e.g. `| head`) is not worth a panic.
    let _ = writeln!(stdout, "{text}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_quoting_keeps_ids_literal() {
        assert_eq!(shell_quoted("cat-123"), "cat-123");
        assert_eq!(shell_quoted("a/b c'é"), r"'a/b c'\''é'");
        assert_eq!(shell_quoted("$(rm -rf x)`"), "'$(rm -rf x)`'");
        assert_eq!(shell_quoted(""), "''");
    }

    #[test]
    fn every_status_has_its_exit_code() {
        assert_eq!(exit_code_of_status(&RunStatus::Succeeded), exit::OK);
        assert_eq!(exit_code_of_status(&RunStatus::Failed), exit::FAILED);
        assert_eq!(exit_code_of_status(&RunStatus::Running), exit::RUNNING);
        assert_eq!(exit_code_of_status(&RunStatus::PendingRedrive), exit::RUNNING);
        assert_eq!(exit_code_of_status(&RunStatus::TimedOut), exit::TIMED_OUT);
        assert_eq!(exit_code_of_status(&RunStatus::Aborted), exit::ABORTED);
    }

    #[test]
    fn the_cli_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
