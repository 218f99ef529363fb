//! The execution input (what StartExecution receives) and its validation.

use std::ops::RangeInclusive;

use serde_json::{Map, Value};

use crate::catalog_id::{CatalogId, CatalogIdError};

/// Allowed values of `poll_interval_seconds`.
pub const POLL_INTERVAL_RANGE: RangeInclusive<u32> = 1..=3600;
/// Allowed values of `max_attempts`.
pub const MAX_ATTEMPTS_RANGE: RangeInclusive<u32> = 1..=10_000;
/// The deployment's defaults when the template's parameters are not changed.
pub const DEFAULT_POLL_INTERVAL_SECONDS: u32 = 20;
pub const DEFAULT_MAX_ATTEMPTS: u32 = 150;

/// The fields an execution input may have; anything else is a mistake worth reporting.
const INPUT_FIELDS: [&str; 3] = ["catalog_id", "poll_interval_seconds", "max_attempts"];

/// Why an event is not a valid input. Every variant is reported as `InvalidInput`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InputError {
    #[error("the input must be a JSON object, got {0}")]
    NotAnObject(&'static str),
    #[error("the input has no catalog_id")]
    MissingCatalogId,
    #[error("catalog_id must be a string, got {0}")]
    CatalogIdNotAString(&'static str),
    #[error("{0}")]
    CatalogId(#[from] CatalogIdError),
    #[error("{field} must be a JSON integer from {min} to {max}, got {got}")]
    OutOfRange {
        field: &'static str,
        min: u32,
        max: u32,
        got: String,
    },
    #[error("unknown field {0:?} in the input (allowed: catalog_id, poll_interval_seconds, max_attempts)")]
    UnknownField(String),
    #[error("{field} is invalid: {reason}")]
    Invalid { field: &'static str, reason: String },
    #[error("the event is not JSON this function can read: {0}")]
    Undecodable(String),
}

/// The deployment's poll settings, used when an execution does not override them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PollDefaults {
    pub poll_interval_seconds: u32,
    pub max_attempts: u32,
}

impl Default for PollDefaults {
    fn default() -> Self {
        PollDefaults {
            poll_interval_seconds: DEFAULT_POLL_INTERVAL_SECONDS,
            max_attempts: DEFAULT_MAX_ATTEMPTS,
        }
    }
}

impl PollDefaults {
    /// Validates deployment defaults with the same bounds as an execution's overrides.
    pub fn new(poll_interval_seconds: u32, max_attempts: u32) -> Result<PollDefaults, InputError> {
        check_range(
            "poll_interval_seconds",
            u64::from(poll_interval_seconds),
            &POLL_INTERVAL_RANGE,
        )?;
        check_range("max_attempts", u64::from(max_attempts), &MAX_ATTEMPTS_RANGE)?;
        Ok(PollDefaults {
            poll_interval_seconds,
            max_attempts,
        })
    }
}

/// The effective settings of one execution: its overrides, else the defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PollSettings {
    pub poll_interval_seconds: u32,
    pub max_attempts: u32,
}

/// A validated execution input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecutionInput {
    pub catalog_id: CatalogId,
    pub poll_interval_seconds: Option<u32>,
    pub max_attempts: Option<u32>,
}

impl ExecutionInput {
    /// An input with the deployment's defaults.
    pub fn new(catalog_id: CatalogId) -> ExecutionInput {
        ExecutionInput {
            catalog_id,
            poll_interval_seconds: None,
            max_attempts: None,
        }
    }

    /// Validates an execution input strictly: unknown fields are rejected.
    pub fn from_json(value: &Value) -> Result<ExecutionInput, InputError> {
        let object = as_object(value)?;
        reject_unknown_fields(object, &[])?;
        ExecutionInput::from_fields(object)
    }

    /// Validates the input fields of an object that may also carry `extra_fields`
    /// (the state the workflow adds beside the input, such as `poll`).
    pub fn from_object_with(object: &Map<String, Value>, extra_fields: &[&str]) -> Result<ExecutionInput, InputError> {
        reject_unknown_fields(object, extra_fields)?;
        ExecutionInput::from_fields(object)
    }

    fn from_fields(object: &Map<String, Value>) -> Result<ExecutionInput, InputError> {
        let catalog_id = match object.get("catalog_id") {
            None | Some(Value::Null) => return Err(InputError::MissingCatalogId),
            Some(Value::String(raw)) => CatalogId::parse(raw)?,
            Some(other) => return Err(InputError::CatalogIdNotAString(json_kind(other))),
        };
        Ok(ExecutionInput {
            catalog_id,
            poll_interval_seconds: optional_integer(object, "poll_interval_seconds", &POLL_INTERVAL_RANGE)?,
            max_attempts: optional_integer(object, "max_attempts", &MAX_ATTEMPTS_RANGE)?,
        })
    }

    /// The effective settings: each override, else the deployment's default.
    pub fn settings(&self, defaults: PollDefaults) -> PollSettings {
        PollSettings {
            poll_interval_seconds: self.poll_interval_seconds.unwrap_or(defaults.poll_interval_seconds),
            max_attempts: self.max_attempts.unwrap_or(defaults.max_attempts),
        }
    }

    /// The JSON a backend sends to StartExecution (overrides only when set).
    pub fn to_json(&self) -> Value {
        let mut object = Map::new();
        object.insert("catalog_id".into(), Value::String(self.catalog_id.as_str().to_owned()));
        if let Some(seconds) = self.poll_interval_seconds {
            object.insert("poll_interval_seconds".into(), Value::from(seconds));
        }
        if let Some(attempts) = self.max_attempts {
            object.insert("max_attempts".into(), Value::from(attempts));
        }
        Value::Object(object)
    }
}

pub(crate) fn as_object(value: &Value) -> Result<&Map<String, Value>, InputError> {
    value.as_object().ok_or(InputError::NotAnObject(json_kind(value)))
}

fn reject_unknown_fields(object: &Map<String, Value>, extra_fields: &[&str]) -> Result<(), InputError> {
    match object
        .keys()
        .find(|key| !INPUT_FIELDS.contains(&key.as_str()) && !extra_fields.contains(&key.as_str()))
    {
        Some(unknown) => Err(InputError::UnknownField(truncate_for_message(unknown))),
        None => Ok(()),
    }
}

/// Reads an optional JSON integer field within `range`; `null` counts as absent.
pub(crate) fn optional_integer(
    object: &Map<String, Value>,
    field: &'static str,
    range: &RangeInclusive<u32>,
) -> Result<Option<u32>, InputError> {
    match object.get(field) {
        None | Some(Value::Null) => Ok(None),
        // `as_u64` is None for negatives and for floats (1.5 and 20.0 alike): neither is allowed.
        Some(Value::Number(number)) => match number.as_u64() {
            Some(value) => check_range(field, value, range).map(Some),
            None => Err(out_of_range(field, range, number.to_string())),
        },
        Some(Value::String(text)) => Err(out_of_range(
            field,
            range,
            format!("the string {:?}", truncate_for_message(text)),
        )),
        Some(other) => Err(out_of_range(field, range, json_kind(other).to_owned())),
    }
}

fn check_range(field: &'static str, value: u64, range: &RangeInclusive<u32>) -> Result<u32, InputError> {
    match u32::try_from(value) {
        Ok(v) if range.contains(&v) => Ok(v),
        _ => Err(out_of_range(field, range, value.to_string())),
    }
}

fn out_of_range(field: &'static str, range: &RangeInclusive<u32>, got: String) -> InputError {
    InputError::OutOfRange {
        field,
        min: *range.start(),
        max: *range.end(),
        got,
    }
}

/// The JSON type of a value, for error messages.
pub fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Keeps error messages bounded when they quote user-provided text.
pub(crate) fn truncate_for_message(text: &str) -> String {
    const LIMIT: usize = 200;
    if text.chars().count() <= LIMIT {
        text.to_owned()
    } else {
        let mut cut: String = text.chars().take(LIMIT).collect();
        cut.push('…');
        cut
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[allow(clippy::needless_pass_by_value)] // lets the tests pass json!(...) inline
    fn parse(value: Value) -> Result<ExecutionInput, InputError> {
        ExecutionInput::from_json(&value)
    }

    #[test]
    fn minimal_input_takes_the_defaults() {
        let input = parse(json!({"catalog_id": "cat-123"})).expect("valid");
        assert_eq!(input.catalog_id.as_str(), "cat-123");
        assert_eq!(
            input.settings(PollDefaults::default()),
            PollSettings {
                poll_interval_seconds: 20,
                max_attempts: 150
            }
        );
    }

    #[test]
    fn overrides_win_and_null_counts_as_absent() {
        let input = parse(json!({"catalog_id": "c", "poll_interval_seconds": 5, "max_attempts": null})).expect("valid");
        assert_eq!(input.poll_interval_seconds, Some(5));
        assert_eq!(input.max_attempts, None);
        let settings = input.settings(PollDefaults::new(30, 7).expect("valid defaults"));
        assert_eq!(settings.poll_interval_seconds, 5);
        assert_eq!(settings.max_attempts, 7);
    }

    #[test]
    fn bounds_are_inclusive() {
        for (field, ok, bad) in [
            ("poll_interval_seconds", [1, 3600], [0, 3601]),
            ("max_attempts", [1, 10_000], [0, 10_001]),
        ] {
            for v in ok {
                assert!(parse(json!({"catalog_id": "c", field: v})).is_ok(), "{field}={v}");
            }
            for v in bad {
                assert!(
                    matches!(
                        parse(json!({"catalog_id": "c", field: v})),
                        Err(InputError::OutOfRange { .. })
                    ),
                    "{field}={v}"
                );
            }
        }
    }

    #[test]
    fn overrides_must_be_json_integers() {
        for bad in [
            json!(1.5),
            json!(20.0),
            json!("5"),
            json!(-1),
            json!(true),
            json!([5]),
            json!({"v": 5}),
            json!(u64::MAX),
            json!(i64::MIN),
        ] {
            let err = parse(json!({"catalog_id": "c", "max_attempts": bad.clone()})).expect_err("invalid");
            assert!(
                matches!(
                    err,
                    InputError::OutOfRange {
                        field: "max_attempts",
                        ..
                    }
                ),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn catalog_id_must_be_a_valid_string() {
        assert_eq!(parse(json!({})), Err(InputError::MissingCatalogId));
        assert_eq!(parse(json!({"catalog_id": null})), Err(InputError::MissingCatalogId));
        assert_eq!(
            parse(json!({"catalog_id": 12})),
            Err(InputError::CatalogIdNotAString("a number"))
        );
        assert_eq!(
            parse(json!({"catalog_id": ""})),
            Err(InputError::CatalogId(CatalogIdError::Empty))
        );
        assert!(matches!(
            parse(json!({"catalog_id": "a\u{1}"})),
            Err(InputError::CatalogId(_))
        ));
        assert!(parse(json!({"catalog_id": "x".repeat(128)})).is_ok());
        assert!(parse(json!({"catalog_id": "x".repeat(129)})).is_err());
    }

    #[test]
    fn non_objects_and_unknown_fields_are_rejected() {
        assert_eq!(parse(json!("cat-123")), Err(InputError::NotAnObject("a string")));
        assert_eq!(parse(json!(null)), Err(InputError::NotAnObject("null")));
        assert_eq!(
            parse(json!({"catalog_id": "c", "max_attempt": 3})),
            Err(InputError::UnknownField("max_attempt".into()))
        );
        let with_poll = json!({"catalog_id": "c", "poll": {}});
        assert!(parse(with_poll.clone()).is_err());
        assert!(ExecutionInput::from_object_with(with_poll.as_object().expect("object"), &["poll"]).is_ok());
    }

    #[test]
    fn to_json_round_trips() {
        let input = parse(json!({"catalog_id": "a/b c'é", "max_attempts": 3})).expect("valid");
        assert_eq!(input.to_json(), json!({"catalog_id": "a/b c'é", "max_attempts": 3}));
        assert_eq!(parse(input.to_json()), Ok(input));
    }

    #[test]
    fn defaults_are_validated() {
        assert!(PollDefaults::new(0, 150).is_err());
        assert!(PollDefaults::new(20, 10_001).is_err());
        assert_eq!(PollDefaults::new(20, 150), Ok(PollDefaults::default()));
    }
}
