//! Generates the README's mermaid diagram of the flow from `state_machine.json`.
//!
//! `state-machine-diagram` prints the diagram; `--write README.md` replaces the block between
//! the README's markers; `--check README.md` fails when the README's block has drifted.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use serde_json::{Map, Value};

const BEGIN: &str = "<!-- BEGIN state-machine-diagram: generated from state_machine.json by `cargo run -p local-workflow --bin state-machine-diagram -- --write README.md` -->";
const END: &str = "<!-- END state-machine-diagram -->";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let definition_path = root.join("state_machine.json");
    let diagram = match std::fs::read_to_string(&definition_path)
        .map_err(|e| format!("cannot read {}: {e}", definition_path.display()))
        .and_then(|text| mermaid(&text))
    {
        Ok(diagram) => diagram,
        Err(message) => {
            eprintln!("state-machine-diagram: {message}");
            return ExitCode::from(2);
        }
    };
    match args.as_slice() {
        [] => {
            print!("{diagram}");
            ExitCode::SUCCESS
        }
        [mode, readme] if mode == "--write" || mode == "--check" => {
            match sync_readme(Path::new(readme), &diagram, mode == "--write") {
                Ok(()) => ExitCode::SUCCESS,
                Err(message) => {
                    eprintln!("state-machine-diagram: {message}");
                    ExitCode::FAILURE
                }
            }
        }
        _ => {
            eprintln!("usage: state-machine-diagram [--write README.md | --check README.md]");
            ExitCode::from(2)
        }
    }
}

/// Replaces (or, with `write` false, compares) the block between the markers.
fn sync_readme(path: &Path, diagram: &str, write: bool) -> Result<(), String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let start = text
        .find(BEGIN)
        .ok_or_else(|| format!("{} has no line `{BEGIN}`", path.display()))?;
    let end = text
        .find(END)
        .filter(|end| *end > start)
        .ok_or_else(|| format!("{} has no line `{END}` after the BEGIN marker", path.display()))?;
    let block = format!("{BEGIN}\n```mermaid\n{diagram}```\n");
    if text[start..end] == block {
        return Ok(());
    }
    if !write {
        return Err(format!(
            "the diagram in {} does not match state_machine.json; run `cargo run -p local-workflow --bin state-machine-diagram -- --write {}`",
            path.display(),
            path.display()
        ));
    }
    let updated = format!("{}{block}{}", &text[..start], &text[end..]);
    std::fs::write(path, updated).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// A mermaid flowchart of every state and every transition (Next, Choice rules, Default,
/// Catch) of a definition; `${...}` placeholders need not be substituted.
fn mermaid(definition_text: &str) -> Result<String, String> {
    let parsable = replace_placeholders(definition_text);
    let definition: Value =
        serde_json::from_str(&parsable).map_err(|e| format!("state_machine.json is not JSON: {e}"))?;
    let start_at = definition["StartAt"]
        .as_str()
        .ok_or("state_machine.json has no StartAt")?;
    let states = definition["States"]
        .as_object()
        .ok_or("state_machine.json has no States")?;

    let mut out = String::from("flowchart TD\n");
    let _ = writeln!(out, "    start((Start)) --> {start_at}");
    for (name, state) in states {
        let _ = writeln!(out, "    {}", node(name, state));
    }
    for (name, state) in states {
        edges(&mut out, name, state);
    }
    Ok(out)
}

fn node(name: &str, state: &Value) -> String {
    let kind = state["Type"].as_str().unwrap_or("?");
    match kind {
        "Choice" => format!("{name}{{{name}}}"),
        "Wait" => {
            let how = state["SecondsPath"]
                .as_str()
                .map(|p| format!("wait {p}"))
                .or_else(|| state["Seconds"].as_u64().map(|s| format!("wait {s} s")))
                .unwrap_or_else(|| "wait".to_owned());
            format!("{name}([\"{name}<br/>{}\"])", escape(&how))
        }
        "Fail" => {
            let error = state["Error"]
                .as_str()
                .map(str::to_owned)
                .or_else(|| state["ErrorPath"].as_str().map(|p| format!("Error from {p}")))
                .unwrap_or_default();
            format!("{name}[[\"{name}<br/>Fail: {}\"]]", escape(&error))
        }
        "Succeed" => format!("{name}(((\"{name}\")))"),
        other => format!("{name}[\"{name}<br/>{other}\"]"),
    }
}

fn edges(out: &mut String, name: &str, state: &Value) {
    if let Some(next) = state["Next"].as_str() {
        let _ = writeln!(out, "    {name} --> {next}");
    }
    if let Some(choices) = state["Choices"].as_array() {
        for rule in choices {
            if let Some(next) = rule["Next"].as_str() {
                let _ = writeln!(out, "    {name} -- \"{}\" --> {next}", escape(&condition(rule)));
            }
        }
    }
    if let Some(default) = state["Default"].as_str() {
        let _ = writeln!(out, "    {name} -- otherwise --> {default}");
    }
    if let Some(catches) = state["Catch"].as_array() {
        for catch in catches {
            let errors: Vec<&str> = catch["ErrorEquals"]
                .as_array()
                .map(|list| list.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            if let Some(next) = catch["Next"].as_str() {
                let _ = writeln!(out, "    {name} -. \"{}\" .-> {next}", escape(&errors.join(", ")));
            }
        }
    }
    if state["Type"].as_str() == Some("Fail") {
        let _ = writeln!(out, "    {name} --> failed((Failed))");
    } else if state["End"].as_bool() == Some(true) || state["Type"].as_str() == Some("Succeed") {
        let _ = writeln!(out, "    {name} --> succeeded((Succeeded))");
    }
}

/// A Choice rule as text, e.g. `$.poll.ready == true`.
fn condition(rule: &Value) -> String {
    let Some(object) = rule.as_object() else {
        return String::new();
    };
    let variable = object.get("Variable").and_then(Value::as_str).unwrap_or("");
    for (key, value) in object {
        if let Some(op) = operator(key) {
            let right = match value {
                Value::String(text) => text.clone(),
                other => other.to_string(),
            };
            return format!("{variable} {op} {right}");
        }
    }
    compound(object)
}

fn compound(object: &Map<String, Value>) -> String {
    for (key, joiner) in [("And", " and "), ("Or", " or ")] {
        if let Some(list) = object.get(key).and_then(Value::as_array) {
            return list.iter().map(condition).collect::<Vec<_>>().join(joiner);
        }
    }
    object
        .get("Not")
        .map(|inner| format!("not ({})", condition(inner)))
        .unwrap_or_default()
}

fn operator(key: &str) -> Option<&'static str> {
    let base = key.strip_suffix("Path").unwrap_or(key);
    Some(match base {
        "BooleanEquals" | "NumericEquals" | "StringEquals" | "TimestampEquals" => "==",
        "NumericGreaterThan" | "StringGreaterThan" | "TimestampGreaterThan" => ">",
        "NumericGreaterThanEquals" | "StringGreaterThanEquals" | "TimestampGreaterThanEquals" => ">=",
        "NumericLessThan" | "StringLessThan" | "TimestampLessThan" => "<",
        "NumericLessThanEquals" | "StringLessThanEquals" | "TimestampLessThanEquals" => "<=",
        "StringMatches" => "matches",
        "IsPresent" => "is present:",
        "IsNull" => "is null:",
        _ => return None,
    })
}

/// Mermaid labels are quoted; a double quote inside becomes `#quot;`.
fn escape(text: &str) -> String {
    text.replace('"', "#quot;")
}

/// `${Name}` placeholders (filled by DefinitionSubstitutions at deploy time) become `0`,
/// which keeps both quoted and unquoted uses parseable.
fn replace_placeholders(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        if let Some(len) = rest[start..].find('}') {
            out.push('0');
            rest = &rest[start + len + 1..];
        } else {
            out.push_str(&rest[start..]);
            rest = "";
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: &str = r#"{"StartAt": "A", "TimeoutSeconds": ${T}, "States": {
        "A": {"Type": "Task", "Resource": "${Arn}", "Next": "B",
              "Catch": [{"ErrorEquals": ["X", "Y"], "Next": "F"}]},
        "B": {"Type": "Choice", "Choices": [{"Variable": "$.ok", "BooleanEquals": true, "Next": "S"},
              {"Variable": "$.n", "NumericGreaterThanEqualsPath": "$.max", "Next": "F"}], "Default": "W"},
        "W": {"Type": "Wait", "SecondsPath": "$.wait", "Next": "A"},
        "F": {"Type": "Fail", "Error": "Boom"},
        "S": {"Type": "Succeed"}}}"#;

    #[test]
    fn every_state_and_transition_appears() {
        let diagram = mermaid(SMALL).expect("valid definition");
        for line in [
            "start((Start)) --> A",
            "A[\"A<br/>Task\"]",
            "B{B}",
            "W([\"W<br/>wait $.wait\"])",
            "F[[\"F<br/>Fail: Boom\"]]",
            "A --> B",
            "A -. \"X, Y\" .-> F",
            "B -- \"$.ok == true\" --> S",
            "B -- \"$.n >= $.max\" --> F",
            "B -- otherwise --> W",
            "W --> A",
            "F --> failed((Failed))",
            "S --> succeeded((Succeeded))",
        ] {
            assert!(diagram.contains(line), "missing {line:?} in\n{diagram}");
        }
    }

    #[test]
    fn check_fails_on_drift_and_write_repairs_it() {
        let dir = tempfile::tempdir().expect("temp dir");
        let readme = dir.path().join("README.md");
        std::fs::write(&readme, format!("intro\n{BEGIN}\n```mermaid\nold\n```\n{END}\nrest\n")).expect("write");
        let diagram = mermaid(SMALL).expect("valid definition");
        assert!(sync_readme(&readme, &diagram, false).is_err(), "drift must be reported");
        sync_readme(&readme, &diagram, true).expect("writes");
        sync_readme(&readme, &diagram, false).expect("now in sync");
        let text = std::fs::read_to_string(&readme).expect("read");
        assert!(text.starts_with("intro\n") && text.ends_with(&format!("{END}\nrest\n")));
        let changed = mermaid(&SMALL.replace("\"Default\": \"W\"", "\"Default\": \"F\"")).expect("valid");
        assert!(
            sync_readme(&readme, &changed, false).is_err(),
            "a changed definition must be reported"
        );
    }

    #[test]
    fn missing_markers_are_reported() {
        let dir = tempfile::tempdir().expect("temp dir");
        let readme = dir.path().join("README.md");
        std::fs::write(&readme, "no markers\n").expect("write");
        assert!(sync_readme(&readme, "x", false).is_err());
    }
}
