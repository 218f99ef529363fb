//! One execution of a definition in aws-local-stepfunctions (Node 22, driven by
//! `js/run-execution.mjs`), with every Task state served by scripted steps or forwarded to
//! a real function behind a Lambda emulator, reported as events, task calls and outcome.
//!
//! A function error reaches the engine as an error named by the Lambda's `errorType` with
//! the error payload (JSON text) as its message: what Step Functions shows as Error and
//! Cause, so `Retry`/`Catch` rules match as they do on AWS.

use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

use crate::paths::{self, Missing};

/// The Wait state between polls; its duration is overridden to 0 ms locally.
pub const WAIT_STATE: &str = "WaitBeforeNextPoll";
/// The Task state that polls the catalog API.
pub const CHECK_STATE: &str = "CheckCatalogStatus";

/// How long the runner may stay silent before the execution counts as hung.
const DEFAULT_SILENCE_LIMIT: Duration = Duration::from_secs(120);

/// What one invocation of a Task state does.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// The task returns this value.
    Result(Value),
    /// The function failed, as a Lambda reports it (`errorType`, `errorMessage`).
    LambdaError { error_type: String, error_message: String },
    /// A service-level failure such as `Lambda.ServiceException`.
    ServiceError { error: String, cause: String },
    /// Invoke the real function behind the emulator.
    Forward,
}

impl Step {
    pub fn lambda_error(error_type: impl Into<String>, error_message: impl Into<String>) -> Step {
        Step::LambdaError {
            error_type: error_type.into(),
            error_message: error_message.into(),
        }
    }

    pub fn service_error(error: impl Into<String>, cause: impl Into<String>) -> Step {
        Step::ServiceError {
            error: error.into(),
            cause: cause.into(),
        }
    }

    fn into_json(self, gate: Option<&str>) -> Value {
        let mut step = match self {
            Step::Result(value) => json!({ "result": value }),
            Step::LambdaError {
                error_type,
                error_message,
            } => json!({ "lambda_error": { "errorType": error_type, "errorMessage": error_message } }),
            Step::ServiceError { error, cause } => json!({ "error": error, "cause": cause }),
            Step::Forward => json!({ "forward": true }),
        };
        if let Some(label) = gate {
            step["gate"] = Value::String(label.to_owned());
        }
        step
    }
}

/// One execution to run: the definition, the input and what each Task does.
#[derive(Debug, Clone)]
pub struct Job {
    definition: Value,
    input: Value,
    steps: BTreeMap<String, Vec<Value>>,
    fallback: BTreeMap<String, Value>,
    functions: BTreeMap<String, String>,
    emulator: Option<String>,
    wait_overrides_ms: BTreeMap<String, u64>,
    retry_interval_ms: Option<u64>,
    silence_limit: Duration,
}

impl Job {
    /// A job with the poll wait and every retry interval overridden to 0 ms.
    pub fn new(definition: Value, input: Value) -> Job {
        Job {
            definition,
            input,
            steps: BTreeMap::new(),
            fallback: BTreeMap::new(),
            functions: BTreeMap::new(),
            emulator: None,
            wait_overrides_ms: BTreeMap::from([(WAIT_STATE.to_owned(), 0)]),
            retry_interval_ms: Some(0),
            silence_limit: DEFAULT_SILENCE_LIMIT,
        }
    }

    /// The next invocation of `state` does `step` (steps are used in the order added).
    #[must_use]
    pub fn step(mut self, state: &str, step: Step) -> Job {
        self.steps
            .entry(state.to_owned())
            .or_default()
            .push(step.into_json(None));
        self
    }

    /// Like [`Job::step`], but the runner first stops at a gate named `label` and goes on
    /// only when the test calls [`RunningExecution::open_gate`].
    #[must_use]
    pub fn gated_step(mut self, state: &str, label: &str, step: Step) -> Job {
        self.steps
            .entry(state.to_owned())
            .or_default()
            .push(step.into_json(Some(label)));
        self
    }

    /// What `state` does once its steps are used up (without one, that is a harness error).
    #[must_use]
    pub fn fallback(mut self, state: &str, step: Step) -> Job {
        self.fallback.insert(state.to_owned(), step.into_json(None));
        self
    }

    /// Where [`Step::Forward`] sends each state's invocations: the emulator's base URL and
    /// the function name per Task state.
    #[must_use]
    pub fn forward_to(mut self, emulator_url: &str, functions: BTreeMap<String, String>) -> Job {
        self.emulator = Some(emulator_url.to_owned());
        self.functions = functions;
        self
    }

    /// Lets Wait states last as long as the definition says (no 0 ms override).
    #[must_use]
    pub fn real_waits(mut self) -> Job {
        self.wait_overrides_ms.clear();
        self
    }

    /// Overrides the pause before every retry (None: the definition's own backoff).
    #[must_use]
    pub fn retry_interval_ms(mut self, interval: Option<u64>) -> Job {
        self.retry_interval_ms = interval;
        self
    }

    /// How long the runner may print nothing before the run is abandoned as hung.
    #[must_use]
    pub fn silence_limit(mut self, limit: Duration) -> Job {
        self.silence_limit = limit;
        self
    }

    fn to_json(&self, engine_module: &str) -> Value {
        json!({
            "engine": engine_module,
            "definition": self.definition,
            "input": self.input,
            "steps": self.steps,
            "fallback": self.fallback,
            "functions": self.functions,
            "emulator": self.emulator,
            "wait_overrides_ms": self.wait_overrides_ms,
            "retry_interval_ms": self.retry_interval_ms,
        })
    }
}

/// Why an execution could not be run or reported (not: why it failed).
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Missing(#[from] Missing),
    #[error("could not run the engine runner: {0}")]
    Io(#[from] std::io::Error),
    #[error("the engine runner printed something that is not a report line: {line}")]
    BadLine { line: String },
    #[error("the engine runner ended without a result (exit {status}); stderr: {stderr}")]
    NoResult { status: String, stderr: String },
    #[error("the engine runner printed nothing for {0:?}; the execution looks hung")]
    Silent(Duration),
    #[error("the execution finished before reaching a gate")]
    FinishedBeforeGate,
}

/// How an execution ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ExecutionStatus {
    Succeeded,
    Failed,
    TimedOut,
    Aborted,
}

/// One invocation of a Task state as the runner served it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct TaskCall {
    pub state: String,
    /// 0 for the state's first invocation in this execution, and so on.
    pub index: u32,
    /// The task's input (after `Parameters`): what the function received.
    pub input: Value,
    /// `{"result": ...}`, `{"error": ..., "cause": ...}` or `{"harness_error": ...}`.
    #[serde(default)]
    pub outcome: Value,
}

impl TaskCall {
    /// The error name when the invocation failed.
    pub fn error(&self) -> Option<&str> {
        self.outcome.get("error").and_then(Value::as_str)
    }
}

#[derive(Debug, Deserialize)]
struct ResultLine {
    status: ExecutionStatus,
    output: Value,
    error: Option<String>,
    cause: Option<String>,
    calls: Vec<TaskCall>,
    harness_errors: Vec<String>,
}

/// Everything observed about one execution.
#[derive(Debug, Clone)]
pub struct ExecutionReport {
    pub status: ExecutionStatus,
    /// The execution's output when it succeeded (else null).
    pub output: Value,
    /// The execution's Error and Cause when it failed.
    pub error: Option<String>,
    pub cause: Option<String>,
    /// The engine's events in order (`type`, `state`, `Error`, `Cause`, ...).
    pub events: Vec<Value>,
    pub calls: Vec<TaskCall>,
    /// Problems of the test harness itself (a missing scripted step); must be empty.
    pub harness_errors: Vec<String>,
}

impl ExecutionReport {
    /// The names of the states entered, in order.
    pub fn entered_states(&self) -> Vec<&str> {
        self.events_of_type("StateEntered")
            .filter_map(|e| e["state"]["name"].as_str())
            .collect()
    }

    /// The invocations of one Task state.
    pub fn calls_to(&self, state: &str) -> Vec<&TaskCall> {
        self.calls.iter().filter(|c| c.state == state).collect()
    }

    /// How many times the engine retried `state`.
    pub fn retries_of(&self, state: &str) -> usize {
        self.events_of_type("StateRetried")
            .filter(|e| e["state"]["name"] == state)
            .count()
    }

    /// The billed state transitions of each poll that was followed by another one: the
    /// states entered and the retries from one `CheckCatalogStatus` entry up to the next.
    pub fn transitions_per_poll(&self) -> Vec<usize> {
        let mut polls = Vec::new();
        let mut current: Option<usize> = None;
        for event in &self.events {
            let counts = matches!(event["type"].as_str(), Some("StateEntered" | "StateRetried"));
            if !counts {
                continue;
            }
            let is_poll_start = event["type"] == "StateEntered" && event["state"]["name"] == CHECK_STATE;
            if is_poll_start {
                if let Some(count) = current {
                    polls.push(count);
                }
                current = Some(1);
            } else if let Some(count) = current.as_mut() {
                *count += 1;
            }
        }
        polls
    }

    fn events_of_type<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
        self.events.iter().filter(move |e| e["type"] == kind)
    }
}

/// An execution in progress.
#[derive(Debug)]
pub struct RunningExecution {
    child: Child,
    stdin: ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
    events: Vec<Value>,
    result: Option<ResultLine>,
    silence_limit: Duration,
}

/// Starts `job` in the engine.
pub async fn start(job: &Job) -> Result<RunningExecution, EngineError> {
    let node = paths::node()?;
    let engine_module = paths::engine_module()?;
    let mut child = Command::new(node)
        .arg(paths::engine_runner_path())
        .env("PATH", paths::tool_path_env())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let mut stdin = child.stdin.take().expect("stdin is piped");
    let stdout = child.stdout.take().expect("stdout is piped");
    let mut line = job.to_json(&engine_module.display().to_string()).to_string();
    line.push('\n');
    stdin.write_all(line.as_bytes()).await?;
    stdin.flush().await?;
    Ok(RunningExecution {
        child,
        stdin,
        lines: BufReader::new(stdout).lines(),
        events: Vec::new(),
        result: None,
        silence_limit: job.silence_limit,
    })
}

/// Runs `job` to the end (it must have no gates).
pub async fn run(job: &Job) -> Result<ExecutionReport, EngineError> {
    start(job).await?.finish().await
}

enum Message {
    Gate(String),
    Finished,
}

impl RunningExecution {
    /// Reads events until the runner stops at a gate (its label) or the execution ends.
    pub async fn next_gate(&mut self) -> Result<String, EngineError> {
        match self.read_until_gate_or_end().await? {
            Message::Gate(label) => Ok(label),
            Message::Finished => Err(EngineError::FinishedBeforeGate),
        }
    }

    /// Lets the runner go on from the gate it stopped at.
    pub async fn open_gate(&mut self) -> Result<(), EngineError> {
        self.stdin.write_all(b"go\n").await?;
        self.stdin.flush().await?;
        Ok(())
    }

    /// Waits for the end of the execution and reports it.
    pub async fn finish(mut self) -> Result<ExecutionReport, EngineError> {
        while self.result.is_none() {
            if let Message::Gate(label) = self.read_until_gate_or_end().await? {
                // A gate nobody waits for would hang the run: open it and say so.
                self.open_gate().await?;
                self.events
                    .push(json!({ "type": "HarnessUnexpectedGate", "label": label }));
            }
        }
        let result = self.result.take().expect("loop ends with a result");
        drop(self.child.wait().await);
        Ok(ExecutionReport {
            status: result.status,
            output: result.output,
            error: result.error,
            cause: result.cause,
            events: self.events,
            calls: result.calls,
            harness_errors: result.harness_errors,
        })
    }

    async fn read_until_gate_or_end(&mut self) -> Result<Message, EngineError> {
        if self.result.is_some() {
            return Ok(Message::Finished);
        }
        loop {
            let next = tokio::time::timeout(self.silence_limit, self.lines.next_line())
                .await
                .map_err(|_| EngineError::Silent(self.silence_limit))??;
            let Some(line) = next else {
                return Err(self.no_result().await);
            };
            let message: Value =
                serde_json::from_str(&line).map_err(|_| EngineError::BadLine { line: line.clone() })?;
            match message["kind"].as_str() {
                Some("event") => self.events.push(message["event"].clone()),
                Some("gate") => return Ok(Message::Gate(message["label"].as_str().unwrap_or_default().to_owned())),
                Some("result") => {
                    let result: ResultLine =
                        serde_json::from_value(message).map_err(|_| EngineError::BadLine { line })?;
                    self.result = Some(result);
                    return Ok(Message::Finished);
                }
                _ => return Err(EngineError::BadLine { line }),
            }
        }
    }

    async fn no_result(&mut self) -> EngineError {
        let status = match self.child.wait().await {
            Ok(status) => status.to_string(),
            Err(e) => e.to_string(),
        };
        let mut stderr = String::new();
        if let Some(mut pipe) = self.child.stderr.take() {
            use tokio::io::AsyncReadExt;
            drop(pipe.read_to_string(&mut stderr).await);
        }
        EngineError::NoResult { status, stderr }
    }
}
