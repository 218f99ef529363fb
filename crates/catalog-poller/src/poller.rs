//! [`CatalogPoller`]: starts a catalog's poll execution and reports on it, on aws-sdk-sfn.

use std::time::Duration;

use aws_sdk_sfn::Client;
use aws_sdk_sfn::operation::describe_execution::{DescribeExecutionError, DescribeExecutionOutput};
use aws_sdk_sfn::operation::start_execution::StartExecutionError;
use aws_sdk_sfn::types::HistoryEvent;
use catalog_core::{CatalogId, ExecutionInput, PollState};

use crate::arn::StateMachineArn;
use crate::error::PollerError;
use crate::execution_name::{ExecutionName, MAX_RUN};
use crate::report::{ExecutionStatusReport, ExecutionSummary, RunStatus, StartOutcome};
use crate::timeline::{TimelineBuilder, TimelineEntry, poll_state_in_event, timeline_of};

/// Events per GetExecutionHistory page (the API's maximum).
const HISTORY_PAGE_SIZE: i32 = 1000;
/// Events per page when reading backwards for the latest poll (it is near the end).
const RECENT_PAGE_SIZE: i32 = 100;

/// How [`CatalogPoller::watch`] follows an execution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WatchOptions {
    /// Pause between two reads of the history. AWS recommends polling no faster than
    /// every few seconds; GetExecutionHistory refills 5 requests per second per account.
    pub interval: Duration,
    /// Give up (with [`WatchEnd::StillRunning`]) after this long; `None` waits for the end.
    pub timeout: Option<Duration>,
}

impl Default for WatchOptions {
    fn default() -> Self {
        WatchOptions {
            interval: Duration::from_secs(2),
            timeout: None,
        }
    }
}

/// How [`CatalogPoller::watch`] stopped.
#[derive(Debug, Clone, PartialEq)]
pub enum WatchEnd {
    /// The execution ended; this is its final status.
    Finished(ExecutionStatusReport),
    /// The timeout elapsed first; this is the status at that moment.
    StillRunning(ExecutionStatusReport),
}

impl WatchEnd {
    pub fn report(&self) -> &ExecutionStatusReport {
        match self {
            WatchEnd::Finished(report) | WatchEnd::StillRunning(report) => report,
        }
    }
}

/// Starts and inspects catalog polls on one state machine.
///
/// Each catalog's execution has a name derived from its id ([`ExecutionName`]), so the
/// poller finds it again without storing anything, and starting twice never runs two polls.
#[derive(Debug, Clone)]
pub struct CatalogPoller {
    client: Client,
    state_machine: StateMachineArn,
}

impl CatalogPoller {
    /// A poller for the state machine `state_machine_arn` (the stack's `StateMachineArn`).
    pub fn new(client: Client, state_machine_arn: &str) -> Result<CatalogPoller, PollerError> {
        Ok(CatalogPoller {
            client,
            state_machine: StateMachineArn::parse(state_machine_arn)?,
        })
    }

    pub fn state_machine_arn(&self) -> &StateMachineArn {
        &self.state_machine
    }

    /// Starts the catalog's poll unless it already has one. An existing execution with
    /// the catalog's name (running, or closed within the last 90 days) is reported as
    /// [`StartOutcome::AlreadyExists`] and nothing is started.
    pub async fn start(&self, input: &ExecutionInput) -> Result<StartOutcome, PollerError> {
        self.start_run(input, 1).await
    }

    /// Polls the catalog again on purpose: when its latest execution is closed, starts
    /// the next run (`…-r2`, `…-r3`, …); when it is still running, reports that one.
    pub async fn start_rerun(&self, input: &ExecutionInput) -> Result<StartOutcome, PollerError> {
        match self.latest_run(&input.catalog_id).await? {
            None => self.start_run(input, 1).await,
            Some((_, existing)) if !RunStatus::from(existing.status()).is_closed() => {
                Ok(StartOutcome::AlreadyExists(summary_of(&existing)))
            }
            Some((run, _)) if run >= MAX_RUN => Err(crate::execution_name::RunOutOfRange(run + 1).into()),
            Some((run, _)) => self.start_run(input, run + 1).await,
        }
    }

    async fn start_run(&self, input: &ExecutionInput, run: u32) -> Result<StartOutcome, PollerError> {
        let name = ExecutionName::for_run(&input.catalog_id, run)?;
        let execution_arn = self.state_machine.execution_arn(&name);
        // Describe first: StartExecution answers a same-input start of a running execution
        // with success (idempotency), which would read as "started" when nothing was.
        if let Some(existing) = self.describe(&execution_arn).await? {
            return Ok(StartOutcome::AlreadyExists(summary_of(&existing)));
        }
        let started = self
            .client
            .start_execution()
            .state_machine_arn(self.state_machine.as_str())
            .name(name.as_str())
            .input(input.to_json().to_string())
            .send()
            .await;
        match started {
            Ok(output) => Ok(StartOutcome::Started {
                execution_name: name.to_string(),
                execution_arn: output.execution_arn().to_owned(),
                start_date: *output.start_date(),
            }),
            Err(error) => match error.as_service_error() {
                // Started by someone else since our describe.
                Some(StartExecutionError::ExecutionAlreadyExists(_)) => {
                    let existing = self.describe(&execution_arn).await?.ok_or_else(|| PollerError::Aws {
                        operation: "DescribeExecution",
                        kind: crate::error::AwsErrorKind::Service,
                        code: None,
                        message: format!(
                            "StartExecution said {execution_arn} exists, DescribeExecution did not find it"
                        ),
                    })?;
                    Ok(StartOutcome::AlreadyExists(summary_of(&existing)))
                }
                Some(
                    StartExecutionError::StateMachineDoesNotExist(_) | StartExecutionError::StateMachineDeleting(_),
                ) => Err(self.state_machine_not_found()),
                _ => Err(PollerError::from_sdk("StartExecution", &error)),
            },
        }
    }

    /// The status of the catalog's latest execution: status, times, attempts made, the
    /// latest poll state (last value or API problem seen) and, for a failure, Error and Cause.
    pub async fn status(&self, catalog_id: &CatalogId) -> Result<ExecutionStatusReport, PollerError> {
        let described = self.require_latest(catalog_id).await?;
        self.report_from(catalog_id, described).await
    }

    /// The status of run `run` of the catalog's poll (1 = the usual one).
    pub async fn status_of_run(&self, catalog_id: &CatalogId, run: u32) -> Result<ExecutionStatusReport, PollerError> {
        let described = self.require_run(catalog_id, run).await?;
        self.report_from(catalog_id, described).await
    }

    /// The readable timeline of the catalog's latest execution.
    pub async fn history(&self, catalog_id: &CatalogId) -> Result<Vec<TimelineEntry>, PollerError> {
        let described = self.require_latest(catalog_id).await?;
        self.history_of(described.execution_arn()).await
    }

    /// The readable timeline of run `run` of the catalog's poll.
    pub async fn history_of_run(&self, catalog_id: &CatalogId, run: u32) -> Result<Vec<TimelineEntry>, PollerError> {
        let described = self.require_run(catalog_id, run).await?;
        self.history_of(described.execution_arn()).await
    }

    /// Follows the catalog's latest execution live: calls `on_entry` for every timeline
    /// entry so far, then for each new one as it happens, until the execution ends (or
    /// `options.timeout` elapses). Reads only new events on each round (next_token).
    pub async fn watch(
        &self,
        catalog_id: &CatalogId,
        options: WatchOptions,
        on_entry: impl FnMut(&TimelineEntry),
    ) -> Result<WatchEnd, PollerError> {
        let described = self.require_latest(catalog_id).await?;
        self.watch_execution(catalog_id, described.execution_arn(), options, on_entry)
            .await
    }

    /// [`CatalogPoller::watch`] for run `run` of the catalog's poll.
    pub async fn watch_run(
        &self,
        catalog_id: &CatalogId,
        run: u32,
        options: WatchOptions,
        on_entry: impl FnMut(&TimelineEntry),
    ) -> Result<WatchEnd, PollerError> {
        let described = self.require_run(catalog_id, run).await?;
        self.watch_execution(catalog_id, described.execution_arn(), options, on_entry)
            .await
    }

    /// Follows the execution `execution_arn` (e.g. one [`CatalogPoller::start`] returned).
    pub async fn watch_execution(
        &self,
        catalog_id: &CatalogId,
        execution_arn: &str,
        options: WatchOptions,
        mut on_entry: impl FnMut(&TimelineEntry),
    ) -> Result<WatchEnd, PollerError> {
        let deadline = options.timeout.map(|t| tokio::time::Instant::now() + t);
        let mut reader = HistoryReader::new(execution_arn);
        let mut builder = TimelineBuilder::new();
        loop {
            for event in reader.read_new(&self.client).await? {
                for entry in builder.push(&event) {
                    on_entry(&entry);
                }
            }
            if builder.finished().is_some() {
                let report = self.status_of(catalog_id, execution_arn).await?;
                return Ok(WatchEnd::Finished(report));
            }
            if deadline.is_some_and(|d| tokio::time::Instant::now() + options.interval > d) {
                let report = self.status_of(catalog_id, execution_arn).await?;
                return Ok(if report.execution.status.is_closed() {
                    WatchEnd::Finished(report)
                } else {
                    WatchEnd::StillRunning(report)
                });
            }
            tokio::time::sleep(options.interval).await;
        }
    }

    /// The ARN of the catalog's run `run` (no AWS call).
    pub fn execution_arn_of(&self, catalog_id: &CatalogId, run: u32) -> Result<String, PollerError> {
        Ok(self
            .state_machine
            .execution_arn(&ExecutionName::for_run(catalog_id, run)?))
    }

    async fn status_of(
        &self,
        catalog_id: &CatalogId,
        execution_arn: &str,
    ) -> Result<ExecutionStatusReport, PollerError> {
        let described = self
            .describe(execution_arn)
            .await?
            .ok_or_else(|| self.unknown(catalog_id, execution_arn))?;
        self.report_from(catalog_id, described).await
    }

    /// The report for an execution just described: adds the latest poll from its history.
    async fn report_from(
        &self,
        catalog_id: &CatalogId,
        described: DescribeExecutionOutput,
    ) -> Result<ExecutionStatusReport, PollerError> {
        let last_poll = self.latest_poll(described.execution_arn()).await?;
        let input_max_attempts = described
            .input()
            .and_then(|text| serde_json::from_str(text).ok())
            .and_then(|value| ExecutionInput::from_json(&value).ok())
            .and_then(|input| input.max_attempts);
        Ok(ExecutionStatusReport {
            catalog_id: catalog_id.to_string(),
            execution: summary_of(&described),
            attempts_made: last_poll.as_ref().map_or(0, |p| p.attempt),
            max_attempts: last_poll.as_ref().map(|p| p.max_attempts).or(input_max_attempts),
            last_poll,
            error: described.error().map(str::to_owned),
            cause: described.cause().map(str::to_owned),
        })
    }

    async fn history_of(&self, execution_arn: &str) -> Result<Vec<TimelineEntry>, PollerError> {
        let events = HistoryReader::new(execution_arn).read_new(&self.client).await?;
        Ok(timeline_of(&events))
    }

    /// The latest poll state, read backwards from the end of the history.
    async fn latest_poll(&self, execution_arn: &str) -> Result<Option<PollState>, PollerError> {
        let mut token: Option<String> = None;
        loop {
            let page = self
                .client
                .get_execution_history()
                .execution_arn(execution_arn)
                .reverse_order(true)
                .max_results(RECENT_PAGE_SIZE)
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| PollerError::from_sdk("GetExecutionHistory", &e))?;
            let mut events: Vec<&HistoryEvent> = page.events().iter().collect();
            // Newest first, whatever order the endpoint returned.
            events.sort_by_key(|e| std::cmp::Reverse(e.id()));
            if let Some(poll) = events.into_iter().find_map(poll_state_in_event) {
                return Ok(Some(poll));
            }
            match page.next_token() {
                Some(next) => token = Some(next.to_owned()),
                None => return Ok(None),
            }
        }
    }

    /// Describes an execution; `None` when it does not exist.
    async fn describe(&self, execution_arn: &str) -> Result<Option<DescribeExecutionOutput>, PollerError> {
        match self
            .client
            .describe_execution()
            .execution_arn(execution_arn)
            .send()
            .await
        {
            Ok(output) => Ok(Some(output)),
            Err(error) => match error.as_service_error() {
                Some(DescribeExecutionError::ExecutionDoesNotExist(_)) => Ok(None),
                Some(DescribeExecutionError::InvalidArn(_)) => {
                    Err(PollerError::InvalidStateMachineArn(self.state_machine.to_string()))
                }
                _ => Err(PollerError::from_sdk("DescribeExecution", &error)),
            },
        }
    }

    /// The catalog's highest existing run and its execution. Runs are started in order,
    /// so the probe stops at the first missing one.
    async fn latest_run(&self, catalog_id: &CatalogId) -> Result<Option<(u32, DescribeExecutionOutput)>, PollerError> {
        let mut latest = None;
        for run in 1..=MAX_RUN {
            let arn = self
                .state_machine
                .execution_arn(&ExecutionName::for_run(catalog_id, run)?);
            match self.describe(&arn).await? {
                Some(found) => latest = Some((run, found)),
                None => break,
            }
        }
        Ok(latest)
    }

    async fn require_latest(&self, catalog_id: &CatalogId) -> Result<DescribeExecutionOutput, PollerError> {
        match self.latest_run(catalog_id).await? {
            Some((_, found)) => Ok(found),
            None => Err(self.unknown(catalog_id, &self.execution_arn_of(catalog_id, 1)?)),
        }
    }

    async fn require_run(&self, catalog_id: &CatalogId, run: u32) -> Result<DescribeExecutionOutput, PollerError> {
        let arn = self.execution_arn_of(catalog_id, run)?;
        self.describe(&arn).await?.ok_or_else(|| self.unknown(catalog_id, &arn))
    }

    fn unknown(&self, catalog_id: &CatalogId, execution_arn: &str) -> PollerError {
        PollerError::UnknownCatalog {
            catalog_id: catalog_id.to_string(),
            execution_name: execution_arn.rsplit(':').next().unwrap_or_default().to_owned(),
            state_machine_arn: self.state_machine.to_string(),
        }
    }

    fn state_machine_not_found(&self) -> PollerError {
        PollerError::StateMachineNotFound {
            state_machine_arn: self.state_machine.to_string(),
        }
    }
}

fn summary_of(described: &DescribeExecutionOutput) -> ExecutionSummary {
    ExecutionSummary {
        execution_name: described
            .name()
            .unwrap_or_else(|| described.execution_arn().rsplit(':').next().unwrap_or_default())
            .to_owned(),
        execution_arn: described.execution_arn().to_owned(),
        status: RunStatus::from(described.status()),
        start_date: *described.start_date(),
        stop_date: described.stop_date().copied(),
    }
}

/// Reads an execution's history forward, remembering where it stopped so the next read
/// returns only new events. The token of the last (partly filled) page is kept and that
/// page re-read, because the API returns no token after the last page.
#[derive(Debug)]
struct HistoryReader {
    execution_arn: String,
    page_token: Option<String>,
    last_event_id: i64,
}

impl HistoryReader {
    fn new(execution_arn: &str) -> HistoryReader {
        HistoryReader {
            execution_arn: execution_arn.to_owned(),
            page_token: None,
            last_event_id: 0,
        }
    }

    async fn read_new(&mut self, client: &Client) -> Result<Vec<HistoryEvent>, PollerError> {
        let mut new_events = Vec::new();
        loop {
            let page = client
                .get_execution_history()
                .execution_arn(&self.execution_arn)
                .max_results(HISTORY_PAGE_SIZE)
                .set_next_token(self.page_token.clone())
                .send()
                .await
                .map_err(|e| PollerError::from_sdk("GetExecutionHistory", &e))?;
            let mut events: Vec<HistoryEvent> = page
                .events()
                .iter()
                .filter(|e| e.id() > self.last_event_id)
                .cloned()
                .collect();
            events.sort_by_key(HistoryEvent::id);
            if let Some(last) = events.last() {
                self.last_event_id = last.id();
            }
            new_events.extend(events);
            match page.next_token() {
                Some(next) => self.page_token = Some(next.to_owned()),
                None => return Ok(new_events),
            }
        }
    }
}
