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
        Some((
            error.filter(|e| !e.is_empty()).unwrap_or("(no error name)").to_owned(),
            cause.filter(|c| !c.trim().is_empty()).map(str::to_owned),
        ))
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
            error: error.filter(|e| !e.is_empty()).map(str::to_owned),
            cause: cause.filter(|c| !c.trim().is_empty()).map(str::to_owned),
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

#[cfg(test)]
mod tests {
    use aws_sdk_sfn::types::{
        ExecutionFailedEventDetails, ExecutionStartedEventDetails, LambdaFunctionFailedEventDetails,
        LambdaFunctionSucceededEventDetails, StateEnteredEventDetails, TaskFailedEventDetails,
        TaskSucceededEventDetails,
    };
    use catalog_core::{LastSeen, PollOutcome, PollSettings};
    use serde_json::json;

    use super::*;

    /// Builds histories shaped like the ones Step Functions records.
    #[derive(Default)]
    struct History(Vec<HistoryEvent>);

    impl History {
        fn push(
            &mut self,
            kind: HistoryEventType,
            details: impl FnOnce(
                aws_sdk_sfn::types::builders::HistoryEventBuilder,
            ) -> aws_sdk_sfn::types::builders::HistoryEventBuilder,
        ) -> &mut Self {
            let id = i64::try_from(self.0.len()).expect("small") + 1;
            let builder = HistoryEvent::builder()
                .id(id)
                .previous_event_id(id - 1)
                .timestamp(DateTime::from_secs(1_800_000_000 + id))
                .r#type(kind);
            self.0.push(details(builder).build().expect("complete event"));
            self
        }
        fn started(&mut self) -> &mut Self {
            self.push(HistoryEventType::ExecutionStarted, |b| {
                b.execution_started_event_details(
                    ExecutionStartedEventDetails::builder()
                        .input(r#"{"catalog_id":"c"}"#)
                        .build(),
                )
            })
        }
        fn entered(&mut self, kind: HistoryEventType, state: &str) -> &mut Self {
            let details = StateEnteredEventDetails::builder().name(state).build().expect("named");
            self.push(kind, |b| b.state_entered_event_details(details))
        }
        fn scheduled(&mut self) -> &mut Self {
            self.push(HistoryEventType::LambdaFunctionScheduled, |b| b)
        }
        fn lambda_failed(&mut self, error: &str, cause: &str) -> &mut Self {
            let details = LambdaFunctionFailedEventDetails::builder()
                .error(error)
                .cause(cause)
                .build();
            self.push(HistoryEventType::LambdaFunctionFailed, |b| {
                b.lambda_function_failed_event_details(details)
            })
        }
        fn lambda_succeeded(&mut self, output: &str) -> &mut Self {
            let details = LambdaFunctionSucceededEventDetails::builder().output(output).build();
            self.push(HistoryEventType::LambdaFunctionSucceeded, |b| {
                b.lambda_function_succeeded_event_details(details)
            })
        }
        fn execution_failed(&mut self, error: &str, cause: &str) -> &mut Self {
            let details = ExecutionFailedEventDetails::builder().error(error).cause(cause).build();
            self.push(HistoryEventType::ExecutionFailed, |b| {
                b.execution_failed_event_details(details)
            })
        }
        fn timeline(&self) -> Vec<TimelineEntry> {
            timeline_of(&self.0)
        }
    }

    fn poll_json(attempt: u32) -> String {
        let settings = PollSettings {
            poll_interval_seconds: 20,
            max_attempts: 150,
        };
        let outcome = PollOutcome::Transient {
            seen: LastSeen::Timeout,
            retry_after: None,
        };
        serde_json::to_string(&PollState::after("c", settings, attempt, outcome)).expect("serializes")
    }

    fn texts(entries: &[TimelineEntry]) -> Vec<String> {
        entries.iter().map(|e| e.what.to_string()).collect()
    }

    #[test]
    fn a_retried_lambda_failure_is_called_out_before_the_poll_it_led_to() {
        let timeline = History::default()
            .started()
            .entered(HistoryEventType::TaskStateEntered, "CheckCatalogStatus")
            .scheduled()
            .lambda_failed("Lambda.ServiceException", "Rate exceeded")
            .scheduled()
            .lambda_succeeded(&poll_json(1))
            .timeline();
        assert_eq!(
            texts(&timeline)[1..],
            [
                "CheckCatalogStatus FAILED: Lambda.ServiceException: Rate exceeded -> retried",
                "poll 1/150: not ready, timeout; next poll in 20 s",
            ]
        );
        assert_eq!(timeline[1].event_id, 4, "the entry points at the failure event");
    }

    #[test]
    fn a_caught_error_names_the_state_that_handles_it() {
        let record = json!({"catalog_id": "c", "action": "record_failure", "knowledge_base_id": null,
            "data_source_id": null, "status": "FAILED", "rows_updated": 1});
        let timeline = History::default()
            .started()
            .entered(HistoryEventType::TaskStateEntered, "CheckCatalogStatus")
            .scheduled()
            .lambda_failed("CatalogNotFound", "catalog \"c\" does not exist (HTTP 404)")
            .entered(HistoryEventType::TaskStateEntered, "RecordPollFailure")
            .scheduled()
            .lambda_succeeded(&record.to_string())
            .entered(HistoryEventType::FailStateEntered, "CatalogPollFailed")
            .execution_failed("CatalogNotFound", "catalog \"c\" does not exist (HTTP 404)")
            .timeline();
        assert_eq!(
            texts(&timeline),
            [
                r#"started with input {"catalog_id":"c"}"#,
                "CheckCatalogStatus FAILED: CatalogNotFound: catalog \"c\" does not exist (HTTP 404) -> caught, continues at RecordPollFailure",
                "RecordPollFailure: record_failure updated 1 row (status FAILED)",
                "execution FAILED: CatalogNotFound: catalog \"c\" does not exist (HTTP 404)",
            ]
        );
    }

    #[test]
    fn an_unhandled_failure_ends_the_execution_and_a_pending_one_is_undecided() {
        let mut history = History::default();
        history
            .started()
            .entered(HistoryEventType::TaskStateEntered, "UpdateCatalogInDB")
            .push(HistoryEventType::TaskFailed, |b| {
                b.task_failed_event_details(
                    TaskFailedEventDetails::builder()
                        .resource_type("lambda")
                        .resource("invoke")
                        .error("DatabaseUnavailable")
                        .cause("connection refused\n  at line 1")
                        .build()
                        .expect("complete"),
                )
            });
        let undecided = history.timeline();
        assert_eq!(
            undecided[1].what.to_string(),
            "UpdateCatalogInDB FAILED: DatabaseUnavailable: connection refused at line 1 -> waiting (retry or catch not decided yet)"
        );
        let ended = history
            .execution_failed("DatabaseUnavailable", "connection refused")
            .timeline();
        assert!(matches!(
            &ended[1].what,
            Happening::StepFailed {
                handling: Handling::EndedExecution,
                ..
            }
        ));
        assert!(matches!(
            &ended[2].what,
            Happening::Finished {
                status: RunStatus::Failed,
                ..
            }
        ));
    }

    #[test]
    fn lambda_invoke_integration_payloads_are_read_too() {
        let output = json!({"ExecutedVersion": "$LATEST", "StatusCode": 200,
            "Payload": serde_json::from_str::<Value>(&poll_json(3)).expect("json")});
        let timeline = History::default()
            .entered(HistoryEventType::TaskStateEntered, "CheckCatalogStatus")
            .push(HistoryEventType::TaskSucceeded, |b| {
                b.task_succeeded_event_details(
                    TaskSucceededEventDetails::builder()
                        .resource_type("lambda")
                        .resource("invoke")
                        .output(output.to_string())
                        .build()
                        .expect("complete"),
                )
            })
            .timeline();
        assert!(matches!(&timeline[0].what, Happening::Poll { poll, .. } if poll.attempt == 3));
    }

    #[test]
    fn events_can_arrive_in_batches_and_a_redrive_reopens_the_execution() {
        let mut history = History::default();
        history
            .started()
            .entered(HistoryEventType::TaskStateEntered, "CheckCatalogStatus")
            .lambda_failed("States.Timeout", "")
            .execution_failed("States.Timeout", "")
            .push(HistoryEventType::ExecutionRedriven, |b| b);
        let mut builder = TimelineBuilder::new();
        let (first, second) = history.0.split_at(3);
        let mut entries: Vec<TimelineEntry> = first.iter().flat_map(|e| builder.push(e)).collect();
        assert_eq!(entries.len(), 1, "the failure waits for what follows it");
        entries.extend(second.iter().take(1).flat_map(|e| builder.push(e)));
        assert_eq!(builder.finished(), Some(&RunStatus::Failed));
        entries.extend(second.iter().skip(1).flat_map(|e| builder.push(e)));
        assert_eq!(builder.finished(), None);
        assert_eq!(entries, history.timeline());
        assert_eq!(texts(&entries).last().map(String::as_str), Some("redriven"));
    }

    #[test]
    fn json_entries_are_tagged_by_kind() {
        let timeline = History::default()
            .entered(HistoryEventType::TaskStateEntered, "CheckCatalogStatus")
            .lambda_failed("Lambda.Unknown", "boom")
            .scheduled()
            .lambda_succeeded(&poll_json(1))
            .timeline();
        let value = serde_json::to_value(&timeline).expect("serializes");
        assert_eq!(value[0]["kind"], "step_failed");
        assert_eq!(value[0]["handling"], json!({"then": "retried"}));
        assert_eq!(value[0]["timestamp"], "2027-01-15T08:00:02Z");
        assert_eq!(value[1]["kind"], "poll");
        assert_eq!(value[1]["poll"]["last_seen"], "timeout");
        assert_eq!(value[1]["state"], "CheckCatalogStatus");
    }
}
