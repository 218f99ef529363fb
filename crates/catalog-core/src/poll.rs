//! The poll state CheckCatalogStatus returns into `$.poll`, and the request it reads.
//!
//! The attempt counter and the effective settings travel in this state, so the state
//! machine's Choice can stop at `max_attempts` without a counting state of its own.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::input::{ExecutionInput, InputError, PollDefaults, PollSettings, as_object, truncate_for_message};

/// The field of the workflow state that holds the previous [`PollState`].
pub const POLL_FIELD: &str = "poll";
/// A `Retry-After` longer than this is not sensible for a poll and is ignored.
pub const MAX_RETRY_AFTER_SECONDS: u64 = 3600;

/// What CheckCatalogStatus receives: the execution input plus, after the first
/// attempt, the previous poll state in `$.poll`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckRequest {
    pub input: ExecutionInput,
    pub previous: Option<PollState>,
}

impl CheckRequest {
    /// Validates the workflow state. Settings fixed by an earlier attempt are kept, so
    /// a redeploy with other defaults does not change a running execution.
    pub fn from_json(value: &Value) -> Result<CheckRequest, InputError> {
        let object = as_object(value)?;
        let input = ExecutionInput::from_object_with(object, &[POLL_FIELD])?;
        let previous = match object.get(POLL_FIELD) {
            None | Some(Value::Null) => None,
            Some(poll) => Some(PollState::deserialize(poll).map_err(|e| InputError::Invalid {
                field: POLL_FIELD,
                reason: truncate_for_message(&e.to_string()),
            })?),
        };
        Ok(CheckRequest { input, previous })
    }

    /// The effective settings: the previous attempt's, else the input's overrides, else the defaults.
    pub fn settings(&self, defaults: PollDefaults) -> PollSettings {
        match &self.previous {
            Some(previous) => PollSettings {
                poll_interval_seconds: previous.poll_interval_seconds,
                max_attempts: previous.max_attempts,
            },
            None => self.input.settings(defaults),
        }
    }

    /// Attempts made before this one.
    pub fn attempts_made(&self) -> u32 {
        self.previous.as_ref().map_or(0, |p| p.attempt)
    }

    /// The number of this attempt, or an error when no attempt is left (the state
    /// machine should have stopped; never call the API past `max_attempts`).
    pub fn this_attempt(&self, settings: PollSettings) -> Result<u32, InputError> {
        let made = self.attempts_made();
        if made >= settings.max_attempts {
            return Err(InputError::Invalid {
                field: POLL_FIELD,
                reason: format!(
                    "{made} of {} attempts already made; no attempt is left",
                    settings.max_attempts
                ),
            });
        }
        Ok(made + 1)
    }
}

/// The last thing a poll saw, as on-call reads it in `last_seen`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LastSeen {
    Ready,
    Pending {
        kb_name: Option<String>,
        data_source_name: Option<String>,
    },
    /// An HTTP status that means "try again" (408, 429, 5xx).
    HttpStatus(u16),
    Timeout,
    Connection,
    /// The API token could not be read from Secrets Manager (the function's log names
    /// the secret and the reason: permissions, a deleted secret, no network path).
    TokenUnavailable,
    /// A body that is not the JSON object described; the reason says how.
    InvalidBody(String),
}

impl fmt::Display for LastSeen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let show = |value: &Option<String>| match value {
            Some(text) => format!("{:?}", truncate_for_message(text)),
            None => "null".to_owned(),
        };
        match self {
            LastSeen::Ready => f.write_str("ready"),
            LastSeen::Pending {
                kb_name,
                data_source_name,
            } => write!(
                f,
                "pending (kb_name={}, data_source_name={})",
                show(kb_name),
                show(data_source_name)
            ),
            LastSeen::HttpStatus(code) => write!(f, "HTTP {code}"),
            LastSeen::Timeout => f.write_str("timeout"),
            LastSeen::Connection => f.write_str("connection"),
            LastSeen::TokenUnavailable => f.write_str("token unavailable"),
            LastSeen::InvalidBody(reason) => write!(f, "invalid body ({reason})"),
        }
    }
}

/// The result of one poll that does not end the execution with an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PollOutcome {
    Ready {
        kb_name: String,
        data_source_name: String,
    },
    Pending {
        kb_name: Option<String>,
        data_source_name: Option<String>,
    },
    /// Timeouts, connection errors, 408/429/5xx, bodies that are not the object described.
    Transient {
        seen: LastSeen,
        retry_after: Option<Duration>,
    },
}

/// The state CheckCatalogStatus returns; the state machine keeps it in `$.poll`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PollState {
    /// Attempts made so far, this one included.
    pub attempt: u32,
    pub max_attempts: u32,
    pub poll_interval_seconds: u32,
    pub ready: bool,
    /// How long the Wait state waits before the next attempt.
    pub wait_seconds: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kb_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_source_name: Option<String>,
    /// `ready`, `pending (…)`, `HTTP 503`, `timeout`, `connection`, `token unavailable`
    /// or `invalid body (…)`.
    pub last_seen: String,
    /// One line for on-call; when the last attempt is not ready, it is the
    /// `MaxAttemptsReached` cause.
    pub summary: String,
}

impl PollState {
    pub fn after(catalog_id: &str, settings: PollSettings, attempt: u32, outcome: PollOutcome) -> PollState {
        let interval = settings.poll_interval_seconds;
        let (ready, kb_name, data_source_name, seen, wait_seconds) = match outcome {
            PollOutcome::Ready {
                kb_name,
                data_source_name,
            } => (true, Some(kb_name), Some(data_source_name), LastSeen::Ready, 0),
            PollOutcome::Pending {
                kb_name,
                data_source_name,
            } => (
                false,
                None,
                None,
                LastSeen::Pending {
                    kb_name,
                    data_source_name,
                },
                interval,
            ),
            PollOutcome::Transient { seen, retry_after } => {
                (false, None, None, seen, wait_after(interval, retry_after))
            }
        };
        let summary = if ready {
            format!(
                "catalog {catalog_id:?} ready after {attempt} of {} attempts",
                settings.max_attempts
            )
        } else {
            format!(
                "catalog {catalog_id:?} not ready after {attempt} of {} attempts; last seen: {seen}",
                settings.max_attempts
            )
        };
        PollState {
            attempt,
            max_attempts: settings.max_attempts,
            poll_interval_seconds: interval,
            ready,
            wait_seconds,
            kb_name,
            data_source_name,
            last_seen: seen.to_string(),
            summary,
        }
    }
}

/// The next wait: the poll interval, or a sensible `Retry-After` when it asks for longer.
pub fn wait_after(poll_interval_seconds: u32, retry_after: Option<Duration>) -> u32 {
    let asked = retry_after
        .map(|d| d.as_secs() + u64::from(d.subsec_nanos() > 0))
        .filter(|secs| *secs <= MAX_RETRY_AFTER_SECONDS)
        .and_then(|secs| u32::try_from(secs).ok());
    asked.map_or(poll_interval_seconds, |secs| secs.max(poll_interval_seconds))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const SETTINGS: PollSettings = PollSettings {
        poll_interval_seconds: 20,
        max_attempts: 150,
    };

    #[test]
    fn first_attempt_uses_input_then_previous_settings() {
        let first = CheckRequest::from_json(&json!({"catalog_id": "c", "max_attempts": 3})).expect("valid");
        assert_eq!(first.attempts_made(), 0);
        let settings = first.settings(PollDefaults::default());
        assert_eq!(settings.max_attempts, 3);
        assert_eq!(first.this_attempt(settings), Ok(1));

        let state = PollState::after(
            "c",
            settings,
            1,
            PollOutcome::Pending {
                kb_name: None,
                data_source_name: None,
            },
        );
        let next =
            CheckRequest::from_json(&json!({"catalog_id": "c", "max_attempts": 3, "poll": state})).expect("valid");
        assert_eq!(next.attempts_made(), 1);
        // Defaults changed by a redeploy do not change a running execution.
        assert_eq!(next.settings(PollDefaults::new(5, 9).expect("valid")), settings);
    }

    #[test]
    fn no_attempt_past_the_limit() {
        let state = PollState::after(
            "c",
            SETTINGS,
            150,
            PollOutcome::Pending {
                kb_name: None,
                data_source_name: None,
            },
        );
        let request = CheckRequest::from_json(&json!({"catalog_id": "c", "poll": state})).expect("valid");
        assert!(request.this_attempt(request.settings(PollDefaults::default())).is_err());
    }

    #[test]
    fn malformed_poll_state_is_invalid_input() {
        let err = CheckRequest::from_json(&json!({"catalog_id": "c", "poll": {"attempt": "x"}})).expect_err("invalid");
        assert!(matches!(err, InputError::Invalid { field: "poll", .. }));
    }

    #[test]
    fn ready_state_carries_names_and_no_wait() {
        let state = PollState::after(
            "cat-1",
            SETTINGS,
            4,
            PollOutcome::Ready {
                kb_name: "kb".into(),
                data_source_name: "ds".into(),
            },
        );
        assert!(state.ready);
        assert_eq!(state.kb_name.as_deref(), Some("kb"));
        assert_eq!(state.summary, "catalog \"cat-1\" ready after 4 of 150 attempts");
        let json = serde_json::to_value(&state).expect("serializes");
        assert_eq!(json["last_seen"], "ready");
        assert_eq!(json["attempt"], 4);
    }

    #[test]
    fn not_ready_summary_names_catalog_attempts_and_last_seen() {
        let pending = PollState::after(
            "a/b c'é",
            SETTINGS,
            150,
            PollOutcome::Pending {
                kb_name: Some("PENDING".into()),
                data_source_name: None,
            },
        );
        assert_eq!(
            pending.summary,
            "catalog \"a/b c'é\" not ready after 150 of 150 attempts; last seen: pending (kb_name=\"PENDING\", data_source_name=null)"
        );
        assert!(
            serde_json::to_value(&pending)
                .expect("serializes")
                .get("kb_name")
                .is_none()
        );
        let transient = PollState::after(
            "c",
            SETTINGS,
            2,
            PollOutcome::Transient {
                seen: LastSeen::HttpStatus(503),
                retry_after: None,
            },
        );
        assert_eq!(transient.last_seen, "HTTP 503");
        assert_eq!(transient.wait_seconds, 20);
        for (seen, text) in [
            (LastSeen::Timeout, "timeout"),
            (LastSeen::Connection, "connection"),
            (LastSeen::TokenUnavailable, "token unavailable"),
            (
                LastSeen::InvalidBody("body is not JSON".into()),
                "invalid body (body is not JSON)",
            ),
        ] {
            assert_eq!(seen.to_string(), text);
        }
    }

    #[test]
    fn retry_after_is_honoured_when_sensible() {
        assert_eq!(wait_after(20, None), 20);
        assert_eq!(
            wait_after(20, Some(Duration::from_secs(5))),
            20,
            "shorter than the interval: keep the interval"
        );
        assert_eq!(wait_after(20, Some(Duration::from_secs(120))), 120);
        assert_eq!(wait_after(20, Some(Duration::from_millis(30_500))), 31, "rounded up");
        assert_eq!(wait_after(20, Some(Duration::from_secs(3600))), 3600);
        assert_eq!(wait_after(20, Some(Duration::from_secs(3601))), 20, "absurd: ignored");
    }
}
