//! What the library reports: the outcome of a start, and the status of a catalog's execution.

use std::fmt;

use aws_sdk_sfn::primitives::{DateTime, DateTimeFormat};
use aws_sdk_sfn::types::ExecutionStatus;
use catalog_core::PollState;
use serde::{Serialize, Serializer};

/// An execution's status as Step Functions names it (`RUNNING`, `SUCCEEDED`, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunStatus {
    Running,
    Succeeded,
    Failed,
    TimedOut,
    Aborted,
    /// A redrive of a failed execution was requested and has not started yet.
    PendingRedrive,
    /// A status this version does not know.
    Other(String),
}

impl RunStatus {
    pub fn as_str(&self) -> &str {
        match self {
            RunStatus::Running => "RUNNING",
            RunStatus::Succeeded => "SUCCEEDED",
            RunStatus::Failed => "FAILED",
            RunStatus::TimedOut => "TIMED_OUT",
            RunStatus::Aborted => "ABORTED",
            RunStatus::PendingRedrive => "PENDING_REDRIVE",
            RunStatus::Other(other) => other,
        }
    }

    /// Whether the execution has ended (it will not poll again unless redriven).
    pub fn is_closed(&self) -> bool {
        !matches!(self, RunStatus::Running | RunStatus::PendingRedrive)
    }
}

impl From<&ExecutionStatus> for RunStatus {
    fn from(status: &ExecutionStatus) -> RunStatus {
        match status {
            ExecutionStatus::Running => RunStatus::Running,
            ExecutionStatus::Succeeded => RunStatus::Succeeded,
            ExecutionStatus::Failed => RunStatus::Failed,
            ExecutionStatus::TimedOut => RunStatus::TimedOut,
            ExecutionStatus::Aborted => RunStatus::Aborted,
            ExecutionStatus::PendingRedrive => RunStatus::PendingRedrive,
            other => RunStatus::Other(other.as_str().to_owned()),
        }
    }
}

impl fmt::Display for RunStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for RunStatus {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// One execution of a catalog's poll.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExecutionSummary {
    pub execution_name: String,
    pub execution_arn: String,
    pub status: RunStatus,
    #[serde(serialize_with = "serialize_date")]
    pub start_date: DateTime,
    #[serde(serialize_with = "serialize_optional_date")]
    pub stop_date: Option<DateTime>,
}

/// What [`crate::CatalogPoller::start`] did.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum StartOutcome {
    /// A new execution was started.
    Started {
        execution_name: String,
        execution_arn: String,
        #[serde(serialize_with = "serialize_date")]
        start_date: DateTime,
    },
    /// The catalog already has an execution with this name (running or closed); nothing
    /// was started. A closed one keeps its name for 90 days: poll again with a rerun.
    AlreadyExists(ExecutionSummary),
}

impl StartOutcome {
    pub fn execution_arn(&self) -> &str {
        match self {
            StartOutcome::Started { execution_arn, .. } => execution_arn,
            StartOutcome::AlreadyExists(existing) => &existing.execution_arn,
        }
    }

    pub fn execution_name(&self) -> &str {
        match self {
            StartOutcome::Started { execution_name, .. } => execution_name,
            StartOutcome::AlreadyExists(existing) => &existing.execution_name,
        }
    }
}

/// The state of a catalog's poll, as on-call needs it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExecutionStatusReport {
    pub catalog_id: String,
    #[serde(flatten)]
    pub execution: ExecutionSummary,
    /// Polls that returned so far (the attempt counter of the latest poll state).
    pub attempts_made: u32,
    /// The execution's limit, once known (from the latest poll, else the input's override).
    pub max_attempts: Option<u32>,
    /// The latest poll state (`last_seen` is the last value or API problem seen).
    pub last_poll: Option<PollState>,
    /// For a failed, timed out or aborted execution: its Error and Cause.
    pub error: Option<String>,
    pub cause: Option<String>,
}

impl fmt::Display for ExecutionStatusReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let e = &self.execution;
        writeln!(f, "catalog:    {:?}", self.catalog_id)?;
        writeln!(f, "execution:  {}", e.execution_name)?;
        writeln!(f, "arn:        {}", e.execution_arn)?;
        writeln!(f, "status:     {}", e.status)?;
        writeln!(f, "started:    {}", format_date(&e.start_date))?;
        if let Some(stop) = &e.stop_date {
            writeln!(f, "stopped:    {}", format_date(stop))?;
        }
        match self.max_attempts {
            Some(max) => writeln!(f, "attempts:   {} of {max}", self.attempts_made)?,
            None => writeln!(f, "attempts:   {}", self.attempts_made)?,
        }
        if let Some(poll) = &self.last_poll {
            writeln!(f, "last seen:  {}", poll.last_seen)?;
            if poll.ready {
                writeln!(
                    f,
                    "names:      kb_name={:?} data_source_name={:?}",
                    poll.kb_name.as_deref().unwrap_or_default(),
                    poll.data_source_name.as_deref().unwrap_or_default()
                )?;
            } else if !e.status.is_closed() {
                writeln!(f, "next poll:  in {} s after the last one", poll.wait_seconds)?;
            }
            writeln!(f, "summary:    {}", poll.summary)?;
        }
        if let Some(error) = &self.error {
            writeln!(f, "error:      {error}")?;
        }
        if let Some(cause) = &self.cause {
            writeln!(f, "cause:      {cause}")?;
        }
        Ok(())
    }
}

/// RFC 3339 in UTC, e.g. `2026-12-04T20:43:33.120Z`.
pub fn format_date(date: &DateTime) -> String {
    date.fmt(DateTimeFormat::DateTime)
        .unwrap_or_else(|_| format!("{} s since the epoch", date.secs()))
}

pub(crate) fn serialize_date<S: Serializer>(date: &DateTime, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&format_date(date))
}

#[allow(clippy::ref_option)] // serde's serialize_with passes &Option<T>
pub(crate) fn serialize_optional_date<S: Serializer>(
    date: &Option<DateTime>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match date {
        Some(date) => serialize_date(date, serializer),
        None => serializer.serialize_none(),
    }
}
