//! The Lambda payload type: any JSON value, or the reason the event could not be read.

use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// What the runtime hands the handler. Its `Deserialize` never fails: when the event
/// is not JSON that `serde_json` can build a [`Value`] from (nested deeper than its
/// recursion limit, a lone surrogate escape such as `"\ud800"`, not JSON at all), the
/// error text is kept instead. Otherwise `lambda_runtime` would report the failure
/// itself, under an `errorType` that is a Rust type name rather than a contract name.
///
/// This relies on `lambda_runtime` 1.5 deserializing with
/// `serde_path_to_error::deserialize(&mut serde_json::Deserializer::from_slice(body))`
/// and never calling `Deserializer::end`, so returning `Ok` after the inner value
/// failed half-way is accepted (the tests feed bodies through that exact path).
#[derive(Debug, Clone, PartialEq)]
pub enum RawEvent {
    Json(Value),
    Undecodable(String),
}

impl<'de> Deserialize<'de> for RawEvent {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(match Value::deserialize(deserializer) {
            Ok(value) => RawEvent::Json(value),
            Err(error) => RawEvent::Undecodable(error.to_string()),
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// Decodes `body` exactly the way `lambda_runtime` 1.5 does (its `deserializer.rs`).
    fn decode_like_the_runtime(body: &[u8]) -> RawEvent {
        let deserializer = &mut serde_json::Deserializer::from_slice(body);
        serde_path_to_error::deserialize(deserializer).expect("RawEvent deserialization never fails")
    }

    #[test]
    fn ordinary_json_is_kept() {
        assert_eq!(
            decode_like_the_runtime(br#"{"catalog_id": "cat-1", "poll": null}"#),
            RawEvent::Json(json!({"catalog_id": "cat-1", "poll": null}))
        );
        assert_eq!(decode_like_the_runtime(b"[1, 2]"), RawEvent::Json(json!([1, 2])));
    }

    #[test]
    fn nesting_past_the_recursion_limit_is_undecodable() {
        let body = format!("{}{}", "[".repeat(200), "]".repeat(200));
        match decode_like_the_runtime(body.as_bytes()) {
            RawEvent::Undecodable(reason) => assert!(reason.contains("recursion limit"), "{reason}"),
            other @ RawEvent::Json(_) => panic!("expected Undecodable, got {other:?}"),
        }
        let body = format!("{}1{}", r#"{"a":"#.repeat(300), "}".repeat(300));
        assert!(matches!(
            decode_like_the_runtime(body.as_bytes()),
            RawEvent::Undecodable(_)
        ));
    }

    #[test]
    fn lone_surrogates_and_non_json_are_undecodable() {
        for body in [
            &br#"{"catalog_id": "\ud800"}"#[..],
            br#""\udc00x""#,
            b"",
            b"not json",
            b"{\"catalog_id\": \"\xff\"}",
        ] {
            assert!(
                matches!(decode_like_the_runtime(body), RawEvent::Undecodable(_)),
                "{:?}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn trailing_bytes_after_a_value_are_not_read() {
        // The runtime never calls `end()`; the first value is what counts.
        assert_eq!(decode_like_the_runtime(b"{} trailing"), RawEvent::Json(json!({})));
    }
}
