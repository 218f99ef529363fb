//! When a catalog counts as provisioned, decided from the catalog API's JSON body.

use serde_json::Value;

use crate::input::{json_kind, truncate_for_message};

/// The fields of the catalog API's answer that the poller reads; others are ignored.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CatalogStatusBody {
    pub status: Option<String>,
    pub kb_name: Option<String>,
    pub data_source_name: Option<String>,
}

/// Why a body is not the JSON object the poller expects (a transient outcome).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    #[error("body is not JSON")]
    NotJson,
    #[error("body is JSON {0}, not an object")]
    NotAnObject(&'static str),
    #[error("body field {field} is {kind}, not a string")]
    FieldNotAString { field: &'static str, kind: &'static str },
}

/// What the body says about the catalog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Readiness {
    /// Both names are provisioned; the values are trimmed.
    Ready { kb_name: String, data_source_name: String },
    /// Not yet; the values are as received (absent when missing or null).
    Pending {
        kb_name: Option<String>,
        data_source_name: Option<String>,
    },
    /// The catalog API reports the provisioning as failed (`status` FAILED or ERROR).
    Failed { status: String },
}

impl CatalogStatusBody {
    /// Parses the catalog API's body. Each read field must be a string, null or absent.
    pub fn from_json_slice(bytes: &[u8]) -> Result<CatalogStatusBody, BodyError> {
        let value: Value = serde_json::from_slice(bytes).map_err(|_| BodyError::NotJson)?;
        let object = value.as_object().ok_or(BodyError::NotAnObject(json_kind(&value)))?;
        let field = |name: &'static str| match object.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(text)) => Ok(Some(text.clone())),
            Some(other) => Err(BodyError::FieldNotAString {
                field: name,
                kind: json_kind(other),
            }),
        };
        Ok(CatalogStatusBody {
            status: field("status")?,
            kb_name: field("kb_name")?,
            data_source_name: field("data_source_name")?,
        })
    }

    /// The readiness rule. A failed status wins over names, so a catalog the service
    /// gave up on is never written as ready.
    pub fn readiness(&self) -> Readiness {
        if let Some(status) = &self.status {
            let trimmed = status.trim();
            if trimmed.eq_ignore_ascii_case("FAILED") || trimmed.eq_ignore_ascii_case("ERROR") {
                return Readiness::Failed {
                    status: truncate_for_message(trimmed),
                };
            }
        }
        match (
            provisioned(self.kb_name.as_deref()),
            provisioned(self.data_source_name.as_deref()),
        ) {
            (Some(kb_name), Some(data_source_name)) => Readiness::Ready {
                kb_name: kb_name.to_owned(),
                data_source_name: data_source_name.to_owned(),
            },
            _ => Readiness::Pending {
                kb_name: self.kb_name.clone(),
                data_source_name: self.data_source_name.clone(),
            },
        }
    }
}

/// The trimmed value when it names a provisioned resource: present, non-empty after
/// trimming, and not a placeholder (`PENDING`, `NULL`, any case).
pub fn provisioned(value: Option<&str>) -> Option<&str> {
    let trimmed = value?.trim();
    let placeholder = trimmed.eq_ignore_ascii_case("PENDING") || trimmed.eq_ignore_ascii_case("NULL");
    (!trimmed.is_empty() && !placeholder).then_some(trimmed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn readiness(body: &str) -> Readiness {
        CatalogStatusBody::from_json_slice(body.as_bytes())
            .expect("valid body")
            .readiness()
    }

    fn pending(kb: Option<&str>, ds: Option<&str>) -> Readiness {
        Readiness::Pending {
            kb_name: kb.map(str::to_owned),
            data_source_name: ds.map(str::to_owned),
        }
    }

    #[test]
    fn both_names_present_is_ready_with_trimmed_values() {
        assert_eq!(
            readiness(r#"{"kb_name": "  kb-1 ", "data_source_name": "\tds-1\n", "status": "ACTIVE"}"#),
            Readiness::Ready {
                kb_name: "kb-1".into(),
                data_source_name: "ds-1".into()
            }
        );
    }

    #[test]
    fn placeholders_and_blanks_are_pending() {
        for placeholder in [
            "PENDING",
            "pending",
            " Pending ",
            "NULL",
            "null",
            "nUlL",
            "",
            "   ",
            "\t",
        ] {
            let body = serde_json::json!({"kb_name": placeholder, "data_source_name": "ds"}).to_string();
            assert_eq!(
                readiness(&body),
                pending(Some(placeholder), Some("ds")),
                "kb_name={placeholder:?}"
            );
            let body = serde_json::json!({"kb_name": "kb", "data_source_name": placeholder}).to_string();
            assert_eq!(
                readiness(&body),
                pending(Some("kb"), Some(placeholder)),
                "data_source_name={placeholder:?}"
            );
        }
    }

    #[test]
    fn missing_or_null_names_are_pending() {
        assert_eq!(readiness("{}"), pending(None, None));
        assert_eq!(readiness(r#"{"kb_name": "kb"}"#), pending(Some("kb"), None));
        assert_eq!(
            readiness(r#"{"kb_name": null, "data_source_name": "ds"}"#),
            pending(None, Some("ds"))
        );
    }

    #[test]
    fn names_that_merely_contain_a_placeholder_are_ready() {
        assert!(matches!(
            readiness(r#"{"kb_name": "PENDING-kb", "data_source_name": "nullable"}"#),
            Readiness::Ready { .. }
        ));
    }

    #[test]
    fn failed_or_error_status_wins_in_any_case() {
        for status in ["FAILED", "failed", " Error ", "ERROR"] {
            let body = serde_json::json!({"status": status, "kb_name": "kb", "data_source_name": "ds"}).to_string();
            assert_eq!(
                readiness(&body),
                Readiness::Failed {
                    status: status.trim().into()
                }
            );
        }
        assert!(matches!(
            readiness(r#"{"status": "FAILED_OVER", "kb_name": "kb", "data_source_name": "ds"}"#),
            Readiness::Ready { .. }
        ));
    }

    #[test]
    fn bodies_that_are_not_the_described_object_are_errors() {
        let parse = |b: &str| CatalogStatusBody::from_json_slice(b.as_bytes());
        assert_eq!(parse("<html>502</html>"), Err(BodyError::NotJson));
        assert_eq!(parse("{\"kb_name\": "), Err(BodyError::NotJson));
        assert_eq!(parse("[1, 2]"), Err(BodyError::NotAnObject("an array")));
        assert_eq!(parse("\"ready\""), Err(BodyError::NotAnObject("a string")));
        assert_eq!(
            parse(r#"{"kb_name": 42, "data_source_name": "ds"}"#),
            Err(BodyError::FieldNotAString {
                field: "kb_name",
                kind: "a number"
            })
        );
        assert_eq!(
            parse(r#"{"status": {"code": "FAILED"}}"#),
            Err(BodyError::FieldNotAString {
                field: "status",
                kind: "an object"
            })
        );
    }

    #[test]
    fn provisioned_rule() {
        assert_eq!(provisioned(Some(" kb ")), Some("kb"));
        assert_eq!(provisioned(Some("Pending")), None);
        assert_eq!(provisioned(None), None);
    }
}
