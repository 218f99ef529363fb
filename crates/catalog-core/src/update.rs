//! What UpdateCatalogDB is asked to write, and what it reports back.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::catalog_id::CatalogId;
use crate::input::{InputError, as_object, json_kind, truncate_for_message};
use crate::readiness::provisioned;

/// The longest error name a failure record accepts (Step Functions error names are short).
const MAX_ERROR_NAME_CHARS: usize = 256;

/// One request to UpdateCatalogDB, chosen by its `action` field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpdateRequest {
    /// `{"action": "record_ready", "catalog_id", "kb_name", "data_source_name"}`:
    /// write the (trimmed) names, and `READY` to the status column when configured.
    RecordReady {
        catalog_id: CatalogId,
        kb_name: String,
        data_source_name: String,
    },
    /// `{"action": "record_failure", "catalog_id", "error", "cause"?}`: write `FAILED`
    /// to the status column when configured; the ids stay untouched.
    RecordFailure {
        catalog_id: CatalogId,
        error: String,
        cause: Option<String>,
    },
}

impl UpdateRequest {
    pub fn from_json(value: &Value) -> Result<UpdateRequest, InputError> {
        let object = as_object(value)?;
        let action = required_string(object, "action")?;
        let allowed: &[&str] = match action {
            "record_ready" => &["action", "catalog_id", "kb_name", "data_source_name"],
            "record_failure" => &["action", "catalog_id", "error", "cause"],
            other => {
                return Err(InputError::Invalid {
                    field: "action",
                    reason: format!(
                        "{:?} is not record_ready or record_failure",
                        truncate_for_message(other)
                    ),
                });
            }
        };
        if let Some(unknown) = object.keys().find(|k| !allowed.contains(&k.as_str())) {
            return Err(InputError::UnknownField(truncate_for_message(unknown)));
        }
        let catalog_id = match object.get("catalog_id") {
            None | Some(Value::Null) => return Err(InputError::MissingCatalogId),
            Some(Value::String(raw)) => CatalogId::parse(raw)?,
            Some(other) => return Err(InputError::CatalogIdNotAString(json_kind(other))),
        };
        if action == "record_ready" {
            return Ok(UpdateRequest::RecordReady {
                catalog_id,
                kb_name: provisioned_name(object, "kb_name")?,
                data_source_name: provisioned_name(object, "data_source_name")?,
            });
        }
        let error = required_string(object, "error")?;
        if error.trim().is_empty()
            || error.chars().count() > MAX_ERROR_NAME_CHARS
            || error.chars().any(char::is_control)
        {
            return Err(InputError::Invalid {
                field: "error",
                reason: format!("must be an error name of 1 to {MAX_ERROR_NAME_CHARS} printable characters"),
            });
        }
        let cause = match object.get("cause") {
            None | Some(Value::Null) => None,
            Some(Value::String(text)) => Some(truncate_for_message(text)),
            Some(other) => {
                return Err(InputError::Invalid {
                    field: "cause",
                    reason: format!("must be a string, got {}", json_kind(other)),
                });
            }
        };
        Ok(UpdateRequest::RecordFailure {
            catalog_id,
            error: error.to_owned(),
            cause,
        })
    }

    pub fn catalog_id(&self) -> &CatalogId {
        match self {
            UpdateRequest::RecordReady { catalog_id, .. } | UpdateRequest::RecordFailure { catalog_id, .. } => {
                catalog_id
            }
        }
    }

    pub fn action(&self) -> &'static str {
        match self {
            UpdateRequest::RecordReady { .. } => "record_ready",
            UpdateRequest::RecordFailure { .. } => "record_failure",
        }
    }
}

fn required_string<'a>(object: &'a Map<String, Value>, field: &'static str) -> Result<&'a str, InputError> {
    match object.get(field) {
        Some(Value::String(text)) => Ok(text),
        None | Some(Value::Null) => Err(InputError::Invalid {
            field,
            reason: "is required".into(),
        }),
        Some(other) => Err(InputError::Invalid {
            field,
            reason: format!("must be a string, got {}", json_kind(other)),
        }),
    }
}

/// A name to write must itself pass the readiness rule; it is written trimmed.
fn provisioned_name(object: &Map<String, Value>, field: &'static str) -> Result<String, InputError> {
    let raw = required_string(object, field)?;
    provisioned(Some(raw))
        .map(str::to_owned)
        .ok_or_else(|| InputError::Invalid {
            field,
            reason: format!(
                "{:?} is not a provisioned name (empty, PENDING or NULL)",
                truncate_for_message(raw)
            ),
        })
}

/// What UpdateCatalogDB wrote; this is the function's output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UpdateResult {
    pub catalog_id: String,
    pub action: &'static str,
    /// The values written to `knowledge_base_id` / `data_source_id` (None: untouched).
    pub knowledge_base_id: Option<String>,
    pub data_source_id: Option<String>,
    /// The value written to the status column (None: no status column configured).
    pub status: Option<String>,
    pub rows_updated: u64,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn record_ready_trims_and_validates_names() {
        let request = UpdateRequest::from_json(
            &json!({"action": "record_ready", "catalog_id": "c", "kb_name": " kb ", "data_source_name": "ds"}),
        )
        .expect("valid");
        assert_eq!(
            request,
            UpdateRequest::RecordReady {
                catalog_id: CatalogId::parse("c").expect("valid"),
                kb_name: "kb".into(),
                data_source_name: "ds".into()
            }
        );
        for bad in [json!("PENDING"), json!(" "), json!(null), json!(3)] {
            let err = UpdateRequest::from_json(
                &json!({"action": "record_ready", "catalog_id": "c", "kb_name": bad, "data_source_name": "ds"}),
            );
            assert!(
                matches!(err, Err(InputError::Invalid { field: "kb_name", .. })),
                "{err:?}"
            );
        }
    }

    #[test]
    fn record_failure_needs_an_error_name() {
        let request = UpdateRequest::from_json(
            &json!({"action": "record_failure", "catalog_id": "c", "error": "CatalogNotFound", "cause": "404"}),
        )
        .expect("valid");
        assert_eq!(request.action(), "record_failure");
        assert_eq!(request.catalog_id().as_str(), "c");
        assert!(UpdateRequest::from_json(&json!({"action": "record_failure", "catalog_id": "c"})).is_err());
        assert!(
            UpdateRequest::from_json(&json!({"action": "record_failure", "catalog_id": "c", "error": "a\nb"})).is_err()
        );
    }

    #[test]
    fn unknown_actions_and_fields_are_invalid() {
        assert!(UpdateRequest::from_json(&json!({"action": "drop", "catalog_id": "c"})).is_err());
        assert!(UpdateRequest::from_json(&json!({"catalog_id": "c"})).is_err());
        assert!(matches!(
            UpdateRequest::from_json(
                &json!({"action": "record_failure", "catalog_id": "c", "error": "E", "kb_name": "x"})
            ),
            Err(InputError::UnknownField(_))
        ));
        assert!(matches!(
            UpdateRequest::from_json(&json!({"action": "record_failure", "catalog_id": "", "error": "E"})),
            Err(InputError::CatalogId(_))
        ));
    }
}
