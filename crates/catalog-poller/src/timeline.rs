//! Turns an execution's raw history events into a timeline on-call can read: one entry
//! per poll with its outcome, database writes, and each failed step with what
//! happened next (retried, caught, or the end of the execution).
//!
//! The builder is fed events in order, in as many batches as they arrive, so `history`
//! and `watch` share it. A poll is recognised by its output (a [`PollState`]), a database
//! write by the update function's result (`action` and `rows_updated`), not by state names.

use std::fmt;

use aws_sdk_sfn::primitives::DateTime;
use aws_sdk_sfn::types::{HistoryEvent, HistoryEventType};
use catalog_core::PollState;
use serde::Serialize;
use serde_json::Value;

use crate::report::{RunStatus, format_date, serialize_date};

/// One line of the timeline.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TimelineEntry {
    /// The id of the history event this entry is read from.
    pub event_id: i64,
    #[serde(serialize_with = "serialize_date")]
    pub timestamp: DateTime,
    #[serde(flatten)]
    pub what: Happening,
}

/// What happened at one point of the execution.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Happening {
    /// The execution started with this input.
    Started { input: Value },
    /// One poll of the catalog API returned (ready or not).
    Poll { state: String, poll: PollState },
    /// A Task failed. `handling` says what the state machine did about it.
    StepFailed {
        state: String,
        error: String,
        cause: Option<String>,
        handling: Handling,
    },
    /// The update function wrote to the database (`record_ready` or `record_failure`).
    DatabaseWrite {
        state: String,
        action: String,
        status: Option<String>,
        rows_updated: Option<u64>,
    },
    /// A redrive restarted the failed execution.
    Redriven,
    /// The execution ended.
    Finished {
        status: RunStatus,
        error: Option<String>,
        cause: Option<String>,
    },
}

/// What followed a failed Task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "then", rename_all = "snake_case")]
pub enum Handling {
    /// The state's Retry ran the Task again.
    Retried,
    /// A Catch sent the execution on to `next_state`.
    Caught { next_state: String },
    /// Nothing handled it: the execution ended with it.
    EndedExecution,
    /// Not known yet: the execution is waiting (e.g. for a retry's backoff).
    Undecided,
}

/// Feeds history events in order and collects timeline entries.
#[derive(Debug, Default)]
pub struct TimelineBuilder {
    current_state: Option<String>,
    pending_failure: Option<PendingFailure>,
    finished: Option<RunStatus>,
}

#[derive(Debug)]
struct PendingFailure {
    event_id: i64,
    timestamp: DateTime,
    state: String,
    error: String,
    cause: Option<String>,
}

impl PendingFailure {
    fn resolve(self, handling: Handling) -> TimelineEntry {
        TimelineEntry {
            event_id: self.event_id,
            timestamp: self.timestamp,
            what: Happening::StepFailed {
                state: self.state,
                error: self.error,
                cause: self.cause,
                handling,
            },
        }
    }
}

impl TimelineBuilder {
    pub fn new() -> TimelineBuilder {
        TimelineBuilder::default()
    }

    /// The execution's final status once its closing event was seen.
    pub fn finished(&self) -> Option<&RunStatus> {
        self.finished.as_ref()
    }

    /// Reads one event (events must come in id order); returns the entries it completes.
    pub fn push(&mut self, event: &HistoryEvent) -> Vec<TimelineEntry> {
        let mut entries = Vec::new();
        let entry = |what| TimelineEntry {
            event_id: event.id(),
            timestamp: *event.timestamp(),
            what,
        };
        let event_type = event.r#type();
        if let Some(details) = event.state_entered_event_details() {
            if let Some(failure) = self.pending_failure.take() {
                entries.push(failure.resolve(Handling::Caught {
                    next_state: details.name().to_owned(),
                }));
            }
            self.current_state = Some(details.name().to_owned());
        } else if let Some((error, cause)) = failure_of(event) {
            if let Some(earlier) = self.pending_failure.take() {
                entries.push(earlier.resolve(Handling::Undecided));
            }
            self.pending_failure = Some(PendingFailure {
                event_id: event.id(),
                timestamp: *event.timestamp(),
                state: self.state_name(),
                error,
                cause,
            });
        } else if matches!(
            event_type,
            HistoryEventType::LambdaFunctionScheduled | HistoryEventType::TaskScheduled
        ) {
            if let Some(failure) = self.pending_failure.take() {
                entries.push(failure.resolve(Handling::Retried));
            }
        } else if let Some(output) = task_output(event) {
            if let Some(what) = self.read_task_output(output) {
                entries.push(entry(what));
            }
        } else if let Some(finished) = finish_of(event) {
            if let Some(failure) = self.pending_failure.take() {
                entries.push(failure.resolve(Handling::EndedExecution));
            }
            if let Happening::Finished { status, .. } = &finished {
                self.finished = Some(status.clone());
            }
            entries.push(entry(finished));
        } else if *event_type == HistoryEventType::ExecutionStarted {
            let input = event
                .execution_started_event_details()
                .and_then(|d| d.input())
                .map_or(Value::Null, parse_json_or_text);
            entries.push(entry(Happening::Started { input }));
        } else if *event_type == HistoryEventType::ExecutionRedriven {
            self.finished = None;
            entries.push(entry(Happening::Redriven));
        }
        entries
    }

    /// Ends the timeline of what is known so far: a failure not yet followed by a
    /// retry, catch or end is reported as undecided.
    pub fn finish(self) -> Vec<TimelineEntry> {
        self.pending_failure
            .map(|failure| failure.resolve(Handling::Undecided))
            .into_iter()
            .collect()
    }

    fn state_name(&self) -> String {
        self.current_state
            .clone()
            .unwrap_or_else(|| "(unknown state)".to_owned())
    }

    fn read_task_output(&self, output: &str) -> Option<Happening> {
        let value = task_result(output)?;
        if let Some(poll) = poll_state_of(&value) {
            return Some(Happening::Poll {
                state: self.state_name(),
                poll,
            });
        }
        let object = value.as_object()?;
        let action = object.get("action")?.as_str()?;
        object.get("rows_updated")?;
        Some(Happening::DatabaseWrite {
            state: self.state_name(),
            action: action.to_owned(),
            status: object.get("status").and_then(Value::as_str).map(str::to_owned),
            rows_updated: object.get("rows_updated").and_then(Value::as_u64),
        })
    }
}

/// Reads a whole history at once.
pub fn timeline_of(events: &[HistoryEvent]) -> Vec<TimelineEntry> {
    let mut builder = TimelineBuilder::new();
    let mut entries: Vec<TimelineEntry> = events.iter().flat_map(|e| builder.push(e)).collect();
    entries.extend(builder.finish());
    entries
}

/// A Task's result: the Lambda's output, or the `Payload` of a `lambda:invoke` integration.
fn task_result(output: &str) -> Option<Value> {
    let value: Value = serde_json::from_str(output).ok()?;
    match value.get("Payload") {
        Some(payload) if value.get("StatusCode").is_some() => Some(payload.clone()),
        _ => Some(value),
    }
}

/// The poll state in a Task's result, if it is one.
pub(crate) fn poll_state_of(value: &Value) -> Option<PollState> {
    serde_json::from_value(value.clone()).ok()
}

/// The poll state in a history event's Task output, if it has one.
pub(crate) fn poll_state_in_event(event: &HistoryEvent) -> Option<PollState> {
    task_output(event)
        .and_then(task_result)
        .as_ref()
        .and_then(poll_state_of)
}

fn task_output(event: &HistoryEvent) -> Option<&str> {
    event
        .lambda_function_succeeded_event_details()
        .and_then(|d| d.output())
        .or_else(|| event.task_succeeded_event_details().and_then(|d| d.output()))
}

fn failure_of(event: &HistoryEvent) -> Option<(String, Option<String>)> {
    let pair = |error: Option<&str>, cause: Option<&str>| {
        Some((error.unwrap_or("(no error name)").to_owned(), cause.map(str::to_owned)))
    };
    if let Some(d) = event.lambda_function_failed_event_details() {
        pair(d.error(), d.cause())
    } else if let Some(d) = event.lambda_function_timed_out_event_details() {
        pair(d.error().or(Some("States.Timeout")), d.cause())
    } else if let Some(d) = event.lambda_function_start_failed_event_details() {
        pair(d.error(), d.cause())
    } else if let Some(d) = event.lambda_function_schedule_failed_event_details() {
        pair(d.error(), d.cause())
    } else if let Some(d) = event.task_failed_event_details() {
        pair(d.error(), d.cause())
    } else if let Some(d) = event.task_timed_out_event_details() {
        pair(d.error().or(Some("States.Timeout")), d.cause())
    } else if let Some(d) = event.task_start_failed_event_details() {
        pair(d.error(), d.cause())
    } else if let Some(d) = event.task_submit_failed_event_details() {
        pair(d.error(), d.cause())
    } else if let Some(d) = event.evaluation_failed_event_details() {
        pair(d.error(), d.cause())
    } else {
        None
    }
}

fn finish_of(event: &HistoryEvent) -> Option<Happening> {
    let finished = |status, error: Option<&str>, cause: Option<&str>| {
        Some(Happening::Finished {
            status,
            error: error.map(str::to_owned),
            cause: cause.map(str::to_owned),
        })
    };
    match event.r#type() {
        HistoryEventType::ExecutionSucceeded => finished(RunStatus::Succeeded, None, None),
        HistoryEventType::ExecutionFailed => {
            let d = event.execution_failed_event_details();
            finished(RunStatus::Failed, d.and_then(|d| d.error()), d.and_then(|d| d.cause()))
        }
        HistoryEventType::ExecutionTimedOut => {
            let d = event.execution_timed_out_event_details();
            finished(
                RunStatus::TimedOut,
                d.and_then(|d| d.error()).or(Some("States.Timeout")),
                d.and_then(|d| d.cause()),
            )
        }
        HistoryEventType::ExecutionAborted => {
            let d = event.execution_aborted_event_details();
            finished(RunStatus::Aborted, d.and_then(|d| d.error()), d.and_then(|d| d.cause()))
        }
        _ => None,
    }
}

fn parse_json_or_text(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned()))
}

impl fmt::Display for TimelineEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}  {}", format_date(&self.timestamp), self.what)
    }
}

impl fmt::Display for Happening {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Happening::Started { input } => write!(f, "started with input {input}"),
            Happening::Poll { poll, .. } if poll.ready => write!(
                f,
                "poll {}/{}: READY kb_name={:?} data_source_name={:?}",
                poll.attempt,
                poll.max_attempts,
                poll.kb_name.as_deref().unwrap_or_default(),
                poll.data_source_name.as_deref().unwrap_or_default()
            ),
            Happening::Poll { poll, .. } => {
                write!(
                    f,
                    "poll {}/{}: not ready, {}",
                    poll.attempt, poll.max_attempts, poll.last_seen
                )?;
                if poll.attempt < poll.max_attempts {
                    write!(f, "; next poll in {} s", poll.wait_seconds)?;
                }
                Ok(())
            }
            Happening::StepFailed {
                state,
                error,
                cause,
                handling,
            } => {
                write!(f, "{state} FAILED: {error}")?;
                if let Some(cause) = cause {
                    write!(f, ": {}", one_line(cause))?;
                }
                match handling {
                    Handling::Retried => f.write_str(" -> retried"),
                    Handling::Caught { next_state } => write!(f, " -> caught, continues at {next_state}"),
                    Handling::EndedExecution => f.write_str(" -> not handled, the execution failed"),
                    Handling::Undecided => f.write_str(" -> waiting (retry or catch not decided yet)"),
                }
            }
            Happening::DatabaseWrite {
                state,
                action,
                status,
                rows_updated,
            } => {
                write!(f, "{state}: {action}")?;
                if let Some(rows) = rows_updated {
                    write!(f, " updated {rows} row{}", if *rows == 1 { "" } else { "s" })?;
                }
                if let Some(status) = status {
                    write!(f, " (status {status})")?;
                }
                Ok(())
            }
            Happening::Redriven => f.write_str("redriven"),
            Happening::Finished { status, error, cause } => {
                write!(f, "execution {status}")?;
                if let Some(error) = error {
                    write!(f, ": {error}")?;
                }
                if let Some(cause) = cause {
                    write!(f, ": {}", one_line(cause))?;
                }
                Ok(())
            }
        }
    }
}

/// Causes can be multi-line (stack traces, JSON); a timeline line stays one line.
fn one_line(text: &str) -> String {
    const LIMIT: usize = 300;
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= LIMIT {
        flat
    } else {
        let mut cut: String = flat.chars().take(LIMIT).collect();
        cut.push('…');
        cut
    }
}
