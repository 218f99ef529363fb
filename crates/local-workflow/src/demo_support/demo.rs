//! `make demo`: one real poll end to end on this machine. The release binaries run behind
//! cargo-lambda's Lambda emulator, `state_machine.json` runs in aws-local-stepfunctions,
//! the catalog API is a local simulator (or the real one), and the row is written to a
//! fresh database on a local PostgreSQL. Progress is reported one line per invocation as
//! it returns; everything started is stopped when [`run`] returns or is dropped.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use catalog_core::Secret;
use serde_json::json;

use super::api_simulator::{CatalogApiSimulator, CatalogScript};
use super::database::{CatalogDatabase, CatalogRow, DatabaseError};
use super::history::{history_lines, poll_line, task_result_line};
use super::invoke_log::{Invocation, InvokeLog};
use crate::definition::{DefinitionError, local_definition};
use crate::engine::{self, CHECK_STATE, EngineError, ExecutionReport, ExecutionStatus, Job, Step};
use crate::lambdas::{self, Emulator, LambdaError};
use crate::paths::{self, Missing};

/// The demo's catalog id: a slash, a space and a non-ASCII letter, carried through untouched.
pub const DEFAULT_CATALOG_ID: &str = "demo-catalog/1 é";
/// The function names, as the emulator knows them.
pub const CHECK_FUNCTION: &str = "check-catalog-status";
pub const UPDATE_FUNCTION: &str = "update-catalog-db";
/// The Task states served by each function.
pub const TASK_FUNCTIONS: [(&str, &str); 4] = [
    (CHECK_STATE, CHECK_FUNCTION),
    ("UpdateCatalogInDB", UPDATE_FUNCTION),
    ("RecordMaxAttemptsReached", UPDATE_FUNCTION),
    ("RecordPollFailure", UPDATE_FUNCTION),
];
const SIMULATOR_TOKEN: &str = "demo-token";

/// Which catalog API the check function calls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiChoice {
    /// The local simulator: PENDING for `pending_polls` polls, then ready.
    Simulator { pending_polls: u32 },
    /// A real API (`CATALOG_API_BASE_URL`, `CATALOG_API_TOKEN` optional).
    External { base_url: String, token: Option<Secret> },
}

/// What the demo runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoOptions {
    pub catalog_id: String,
    pub api: ApiChoice,
    pub poll_interval_seconds: u32,
    pub max_attempts: u32,
}

impl Default for DemoOptions {
    fn default() -> DemoOptions {
        DemoOptions {
            catalog_id: DEFAULT_CATALOG_ID.to_owned(),
            api: ApiChoice::Simulator { pending_polls: 3 },
            poll_interval_seconds: 1,
            max_attempts: 10,
        }
    }
}

impl DemoOptions {
    /// The defaults, with `CATALOG_API_BASE_URL` / `CATALOG_API_TOKEN` (a real API) and
    /// `DEMO_CATALOG_ID` taken from the environment when set.
    pub fn from_env() -> DemoOptions {
        let mut options = DemoOptions::default();
        let non_empty = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        if let Some(base_url) = non_empty("CATALOG_API_BASE_URL") {
            options.api = ApiChoice::External {
                base_url,
                token: non_empty("CATALOG_API_TOKEN").map(Secret::new),
            };
        }
        if let Some(catalog_id) = std::env::var("DEMO_CATALOG_ID").ok().filter(|v| !v.is_empty()) {
            options.catalog_id = catalog_id;
        }
        options
    }
}

/// Why the demo could not run (not: why the execution failed).
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("{0}")]
    Missing(#[from] Missing),
    #[error(transparent)]
    Lambda(#[from] LambdaError),
    #[error(transparent)]
    Database(#[from] DatabaseError),
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    Definition(#[from] DefinitionError),
    #[error("could not start a local server: {0}")]
    Server(#[from] std::io::Error),
}

impl DemoError {
    /// What to do about it, when there is something to do.
    pub fn hint(&self) -> Option<&'static str> {
        match self {
            DemoError::Missing(_)
            | DemoError::Lambda(LambdaError::Missing(_))
            | DemoError::Engine(EngineError::Missing(_)) => Some(
                "run `make tools` (bash scripts/install-tools.sh) from the repository root, then `make demo` again",
            ),
            _ => None,
        }
    }
}

/// Where progress lines go (called from several tasks).
pub type Say = Arc<dyn Fn(&str) + Send + Sync>;

/// What happened.
#[derive(Debug)]
pub struct DemoOutcome {
    pub report: ExecutionReport,
    pub row_before: Option<CatalogRow>,
    pub row_after: Option<CatalogRow>,
    /// The readable history, one line per poll, write and failure.
    pub history: Vec<String>,
    /// The function processes' logs when the execution did not succeed.
    pub function_logs: Vec<(String, String)>,
}

impl DemoOutcome {
    /// The execution succeeded and the row now has both names.
    pub fn succeeded(&self) -> bool {
        self.report.status == ExecutionStatus::Succeeded
            && self
                .row_after
                .as_ref()
                .is_some_and(|row| row.knowledge_base_id.is_some() && row.data_source_id.is_some())
    }
}

/// Billed state transitions of an execution: every state entered and every retry.
pub fn total_transitions(report: &ExecutionReport) -> usize {
    report
        .events
        .iter()
        .filter(|e| matches!(e["type"].as_str(), Some("StateEntered" | "StateRetried")))
        .count()
}

/// Runs the demo. Everything it starts is stopped when it returns (or is dropped, e.g. on
/// ctrl-c): the emulator and the functions, the local servers, the database.
pub async fn run(options: &DemoOptions, say: Say) -> Result<DemoOutcome, DemoError> {
    // Fail before the long build when a tool or PostgreSQL is missing.
    paths::venv_tool("cargo-lambda")?;
    paths::node()?;
    paths::engine_module()?;

    let database = CatalogDatabase::create().await?;
    say(&format!(
        "PostgreSQL: {}, fresh database {:?} with a catalogs table",
        database.source, database.db.dbname
    ));
    database.insert_catalog(&options.catalog_id).await?;
    let row_before = database.row(&options.catalog_id).await?;

    say("building the release binaries (cargo lambda build --release, as sam build does) ...");
    let bootstraps = tokio::task::spawn_blocking(build_release_once)
        .await
        .expect("the build task does not panic")?;
    say(&format!("built in {:.1} s", bootstraps.build_time.as_secs_f64()));

    let (simulator, base_url, token) = start_api(options, &say).await?;

    let mut emulator = tokio::task::spawn_blocking(Emulator::start)
        .await
        .expect("the emulator start does not panic")?;
    let mut check_env = vec![
        ("CATALOG_API_BASE_URL", base_url),
        ("CATALOG_API_CONNECT_TIMEOUT_MS", "2000".to_owned()),
        ("CATALOG_API_TIMEOUT_MS", "10000".to_owned()),
        (
            "DEFAULT_POLL_INTERVAL_SECONDS",
            options.poll_interval_seconds.to_string(),
        ),
        ("DEFAULT_MAX_ATTEMPTS", options.max_attempts.to_string()),
    ];
    if let Some(token) = &token {
        check_env.push(("CATALOG_API_TOKEN", token.expose().to_owned()));
    }
    start_function(
        &mut emulator,
        CHECK_FUNCTION,
        &bootstraps.paths[CHECK_FUNCTION],
        &check_env,
    )
    .await?;
    start_function(
        &mut emulator,
        UPDATE_FUNCTION,
        &bootstraps.paths[UPDATE_FUNCTION],
        &database.update_function_env(),
    )
    .await?;
    say(&format!(
        "Lambda emulator (cargo lambda watch) at {} running both release binaries",
        emulator.url()
    ));

    let progress = Arc::clone(&say);
    let invoke_log = InvokeLog::start(
        emulator.url(),
        Arc::new(move |invocation: &Invocation| progress(&progress_line(invocation))),
    )
    .await?;

    let definition = local_definition(600)?;
    let input = json!({
        "catalog_id": options.catalog_id,
        "poll_interval_seconds": options.poll_interval_seconds,
        "max_attempts": options.max_attempts,
    });
    let functions: BTreeMap<String, String> = TASK_FUNCTIONS
        .iter()
        .map(|(state, function)| ((*state).to_owned(), (*function).to_owned()))
        .collect();
    let mut job = Job::new(definition.clone(), input.clone())
        .real_waits()
        .forward_to(&invoke_log.url(), functions);
    for (state, _) in TASK_FUNCTIONS {
        job = job.fallback(state, Step::Forward);
    }
    say(&format!(
        "running state_machine.json in aws-local-stepfunctions with input {input}"
    ));
    let report = engine::run(&job).await?;

    let row_after = database.row(&options.catalog_id).await?;
    let history = history_lines(&definition, &report.events);
    let function_logs = if report.status == ExecutionStatus::Succeeded {
        Vec::new()
    } else {
        [CHECK_FUNCTION, UPDATE_FUNCTION, "emulator"]
            .iter()
            .map(|name| ((*name).to_owned(), tail(&emulator.log(name), 3000)))
            .collect()
    };
    drop(simulator);
    Ok(DemoOutcome {
        report,
        row_before,
        row_after,
        history,
        function_logs,
    })
}

/// The catalog API the check function calls: the simulator (kept alive by the caller),
/// or the external one; its base URL and token.
async fn start_api(
    options: &DemoOptions,
    say: &Say,
) -> Result<(Option<CatalogApiSimulator>, String, Option<Secret>), DemoError> {
    Ok(match &options.api {
        ApiChoice::Simulator { pending_polls } => {
            let simulator = CatalogApiSimulator::start(Some(SIMULATOR_TOKEN.to_owned())).await?;
            simulator.add_catalog(
                &options.catalog_id,
                CatalogScript {
                    pending_polls: *pending_polls,
                    kb_name: "kb-demo-0001".to_owned(),
                    data_source_name: "ds-demo-0001".to_owned(),
                },
            );
            say(&format!(
                "catalog API: local simulator at {} (PENDING for {pending_polls} polls, then ready)",
                simulator.base_url()
            ));
            let base_url = simulator.base_url();
            (Some(simulator), base_url, Some(Secret::new(SIMULATOR_TOKEN)))
        }
        ApiChoice::External { base_url, token } => {
            say(&format!(
                "catalog API: {base_url} (from CATALOG_API_BASE_URL; {})",
                if token.is_some() {
                    "with CATALOG_API_TOKEN"
                } else {
                    "no token"
                }
            ));
            (None, base_url.clone(), token.clone())
        }
    })
}

/// [`lambdas::build_release`], once per process and one process at a time (a lock file
/// in `target/`): cargo-lambda moves each binary into place, so two builds of the same
/// function at once (two tests, or a test and the demo binary it runs) race for it.
pub fn build_release_once() -> Result<lambdas::Bootstraps, LambdaError> {
    static BUILT: Mutex<Option<lambdas::Bootstraps>> = Mutex::new(None);
    let mut built = BUILT.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(bootstraps) = built.as_ref() {
        return Ok(bootstraps.clone());
    }
    let bootstraps = with_build_lock(lambdas::build_release)?;
    *built = Some(bootstraps.clone());
    Ok(bootstraps)
}

/// Runs `build` holding `target/.release-build.lock`, so cargo-lambda builds of this
/// crate's callers (the demo, the bench, their tests) never run at the same time.
pub fn with_build_lock<T, E: From<LambdaError>>(build: impl FnOnce() -> Result<T, E>) -> Result<T, E> {
    let lock_error = |source| LambdaError::Spawn {
        what: "the release build lock (target/.release-build.lock)".to_owned(),
        source,
    };
    let target = paths::repo_root().join("target");
    std::fs::create_dir_all(&target).map_err(lock_error)?;
    let lock = std::fs::File::create(target.join(".release-build.lock")).map_err(lock_error)?;
    lock.lock().map_err(lock_error)?;
    // Unlocked when `lock` is dropped, after the build.
    build()
}

/// Starts a function behind the emulator, waiting out "text file busy": another build in
/// a shared target directory may be writing the bootstrap at that moment.
async fn start_function(
    emulator: &mut Emulator,
    name: &str,
    bootstrap: &std::path::Path,
    env: &[(&str, String)],
) -> Result<u32, LambdaError> {
    let mut tries = 0;
    loop {
        match emulator.start_function(name, bootstrap, env) {
            Err(LambdaError::Spawn { source, .. }) if is_text_file_busy(&source) && tries < 50 => {
                tries += 1;
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
            started => return started,
        }
    }
}

/// ETXTBSY: the executable is open for writing by another process.
pub fn is_text_file_busy(error: &std::io::Error) -> bool {
    error.raw_os_error() == Some(26)
}

/// The progress line of one invocation.
pub fn progress_line(invocation: &Invocation) -> String {
    let took = format!("{:.1} ms", invocation.took.as_secs_f64() * 1000.0);
    if invocation.function == CHECK_FUNCTION {
        let attempt = invocation.payload["poll"]["attempt"].as_u64().unwrap_or(0) + 1;
        match invocation.error_type() {
            Some(error) => format!(
                "  poll {attempt}: {error}: {} [{took}]",
                invocation.body["errorMessage"].as_str().unwrap_or_default()
            ),
            None => format!("  {} [{took}]", poll_line(&invocation.body)),
        }
    } else {
        let action = invocation.payload["action"].as_str().unwrap_or("?");
        match invocation.error_type() {
            Some(error) => format!(
                "  database {action}: {error}: {} [{took}]",
                invocation.body["errorMessage"].as_str().unwrap_or_default()
            ),
            None => format!("  {} [{took}]", task_result_line("database", &invocation.body)),
        }
    }
}

fn tail(text: &str, max_chars: usize) -> String {
    let count = text.chars().count();
    text.chars().skip(count.saturating_sub(max_chars)).collect()
}

/// The demo's whole report after the run: outcome, history, rows.
pub fn summary_lines(outcome: &DemoOutcome) -> Vec<String> {
    let report = &outcome.report;
    let mut lines = vec![String::new()];
    match report.status {
        ExecutionStatus::Succeeded => lines.push(format!(
            "outcome: SUCCEEDED after {} poll(s); output: {}",
            report.calls_to(CHECK_STATE).len(),
            report.output
        )),
        status => lines.push(format!(
            "outcome: {status:?}: {}: {}",
            report.error.as_deref().unwrap_or("?"),
            report.cause.as_deref().unwrap_or("")
        )),
    }
    let per_poll = report.transitions_per_poll();
    lines.push(format!(
        "state transitions: {} in all; per not-ready poll: {per_poll:?}",
        total_transitions(report)
    ));
    lines.push(String::new());
    lines.push("history:".to_owned());
    lines.extend(outcome.history.iter().map(|l| format!("  {l}")));
    lines.push(String::new());
    let row = |r: &Option<CatalogRow>| r.as_ref().map_or_else(|| "(no row)".to_owned(), ToString::to_string);
    lines.push(format!("catalog row before: {}", row(&outcome.row_before)));
    lines.push(format!("catalog row after:  {}", row(&outcome.row_after)));
    for (name, log) in &outcome.function_logs {
        lines.push(format!("--- {name} log (tail) ---"));
        lines.push(log.clone());
    }
    lines
}
