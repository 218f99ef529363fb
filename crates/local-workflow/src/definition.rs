//! `state_machine.json` as deployed: its `${...}` placeholders (filled by the template's
//! `DefinitionSubstitutions`), the textual substitution CloudFormation applies, and the
//! definition with local values for the engine and the validators.
//!
//! The file is not plain JSON until substituted: `"TimeoutSeconds": ${ExecutionTimeoutSeconds}`
//! must stay unquoted so that the deployed value is a number.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::paths;

/// The placeholder of the CheckCatalogStatus function's ARN.
pub const CHECK_FUNCTION_ARN: &str = "CheckCatalogStatusFunctionArn";
/// The placeholder of the UpdateCatalogDB function's ARN.
pub const UPDATE_FUNCTION_ARN: &str = "UpdateCatalogDbFunctionArn";
/// The placeholder of the execution's safety-net timeout.
pub const EXECUTION_TIMEOUT_SECONDS: &str = "ExecutionTimeoutSeconds";

/// Why a definition could not be read or substituted.
#[derive(Debug, thiserror::Error)]
pub enum DefinitionError {
    #[error("could not read {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("placeholder ${{{0}}} has no substitution")]
    Unsubstituted(String),
    #[error("unterminated placeholder at byte {0}")]
    Unterminated(usize),
    #[error("the substituted definition is not JSON: {0}")]
    NotJson(#[from] serde_json::Error),
}

/// The text of `state_machine.json`.
pub fn raw_definition() -> Result<String, DefinitionError> {
    let path = paths::state_machine_path();
    std::fs::read_to_string(&path).map_err(|source| DefinitionError::Read {
        path: path.display().to_string(),
        source,
    })
}

/// The names of the `${name}` placeholders in `text`.
pub fn placeholders(text: &str) -> Result<BTreeSet<String>, DefinitionError> {
    let mut names = BTreeSet::new();
    let mut rest = text;
    let mut offset = 0;
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        let end = after.find('}').ok_or(DefinitionError::Unterminated(offset + start))?;
        names.insert(after[..end].to_owned());
        offset += start + 2 + end + 1;
        rest = &after[end + 1..];
    }
    Ok(names)
}

/// Replaces every `${name}` with its value, as CloudFormation does with
/// `DefinitionSubstitutions` (plain text replacement; a value is not quoted).
pub fn substitute(text: &str, values: &BTreeMap<String, String>) -> Result<String, DefinitionError> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let mut offset = 0;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find('}').ok_or(DefinitionError::Unterminated(offset + start))?;
        let name = &after[..end];
        let value = values
            .get(name)
            .ok_or_else(|| DefinitionError::Unsubstituted(name.to_owned()))?;
        out.push_str(value);
        offset += start + 2 + end + 1;
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Values for a local run: fake but well-formed function ARNs (the engine checks ARN
/// syntax; every task is served by a local handler) and the given execution timeout.
pub fn local_substitutions(execution_timeout_seconds: u32) -> BTreeMap<String, String> {
    BTreeMap::from([
        (
            CHECK_FUNCTION_ARN.to_owned(),
            "arn:aws:lambda:us-east-1:123456789012:function:check-catalog-status".to_owned(),
        ),
        (
            UPDATE_FUNCTION_ARN.to_owned(),
            "arn:aws:lambda:us-east-1:123456789012:function:update-catalog-db".to_owned(),
        ),
        (
            EXECUTION_TIMEOUT_SECONDS.to_owned(),
            execution_timeout_seconds.to_string(),
        ),
    ])
}

/// `state_machine.json` with local values, parsed.
pub fn local_definition(execution_timeout_seconds: u32) -> Result<Value, DefinitionError> {
    let text = substitute(&raw_definition()?, &local_substitutions(execution_timeout_seconds))?;
    Ok(serde_json::from_str(&text)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_and_substitutes_placeholders_textually() {
        let text = r#"{"a": "${X}", "n": ${N}, "b": "x${X}y"}"#;
        assert_eq!(
            placeholders(text).expect("terminated"),
            BTreeSet::from(["X".to_owned(), "N".to_owned()])
        );
        let values = BTreeMap::from([("X".to_owned(), "arn".to_owned()), ("N".to_owned(), "42".to_owned())]);
        let json: Value = serde_json::from_str(&substitute(text, &values).expect("all known")).expect("json");
        assert_eq!(json, serde_json::json!({"a": "arn", "n": 42, "b": "xarny"}));
    }

    #[test]
    fn missing_values_and_unterminated_placeholders_are_errors() {
        assert!(matches!(
            substitute("${X} ${Y}", &BTreeMap::from([("X".to_owned(), "1".to_owned())])),
            Err(DefinitionError::Unsubstituted(name)) if name == "Y"
        ));
        assert!(matches!(placeholders("ab ${X"), Err(DefinitionError::Unterminated(3))));
    }

    #[test]
    fn the_definition_parses_once_substituted() {
        let definition = local_definition(600).expect("substitutes and parses");
        assert_eq!(definition["TimeoutSeconds"], 600);
        assert_eq!(definition["StartAt"], "CheckCatalogStatus");
        // Without substitution it is not JSON (the timeout is an unquoted placeholder).
        assert!(serde_json::from_str::<Value>(&raw_definition().expect("readable")).is_err());
    }
}
