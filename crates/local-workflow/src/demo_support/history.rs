//! An execution's engine events as a history people can read: one line per poll with
//! what the catalog API said and what came next, one per database write, failures with
//! what the state machine did about them, and the end.

use catalog_core::PollState;
use serde_json::Value;

use crate::engine::CHECK_STATE;

/// The history lines of `events` (aws-local-stepfunctions' events, in order), with times
/// relative to the start. `definition` tells where each Task state puts its result.
pub fn history_lines(definition: &Value, events: &[Value]) -> Vec<String> {
    let started_at = events.first().and_then(|e| e["timestamp"].as_f64()).unwrap_or(0.0);
    let mut lines = Vec::new();
    for event in events {
        let at = (event["timestamp"].as_f64().unwrap_or(started_at) - started_at) / 1000.0;
        let state = event["state"]["name"].as_str().unwrap_or_default();
        let text = match event["type"].as_str().unwrap_or_default() {
            "ExecutionStarted" => Some(format!("execution started with input {}", event["input"])),
            "StateExited" if state == CHECK_STATE => Some(poll_line(&event["state"]["output"]["poll"])),
            "StateExited" if event["state"]["type"] == "Task" => {
                let result = result_path_field(definition, state)
                    .map_or(&event["state"]["output"], |field| &event["state"]["output"][field]);
                Some(task_result_line(state, result))
            }
            "StateFailed" => Some(format!(
                "{state} failed: {}: {}",
                event["Error"].as_str().unwrap_or("?"),
                shorten(&cause_text(&event["Cause"]), 200)
            )),
            "StateRetried" => Some(format!(
                "{state} retried (retry {})",
                event["retry"]["attempt"]
                    .as_u64()
                    .map_or_else(|| "?".to_owned(), |a| a.to_string())
            )),
            "StateCaught" => Some(format!("{state}: the error was caught")),
            "ExecutionSucceeded" => Some("execution SUCCEEDED".to_owned()),
            "ExecutionFailed" => Some(format!(
                "execution FAILED: {}: {}",
                event["Error"].as_str().unwrap_or("?"),
                shorten(&cause_text(&event["Cause"]), 300)
            )),
            "ExecutionTimeout" => Some("execution TIMED OUT".to_owned()),
            "ExecutionAborted" => Some("execution ABORTED".to_owned()),
            _ => None,
        };
        if let Some(text) = text {
            lines.push(format!("{at:>7.2}s  {text}"));
        }
    }
    lines
}

/// One poll's line from the PollState the check function returned.
pub fn poll_line(poll: &Value) -> String {
    match serde_json::from_value::<PollState>(poll.clone()) {
        Ok(state) if state.ready => format!(
            "poll {} of {}: ready: kb_name={:?}, data_source_name={:?}",
            state.attempt,
            state.max_attempts,
            state.kb_name.unwrap_or_default(),
            state.data_source_name.unwrap_or_default()
        ),
        Ok(state) if state.attempt >= state.max_attempts => format!(
            "poll {} of {}: {}; no attempts left",
            state.attempt, state.max_attempts, state.last_seen
        ),
        Ok(state) => format!(
            "poll {} of {}: {}; next poll in {} s",
            state.attempt, state.max_attempts, state.last_seen, state.wait_seconds
        ),
        Err(_) => format!("poll: unexpected result {poll}"),
    }
}

/// A database write's line from the update function's result.
pub fn task_result_line(state: &str, result: &Value) -> String {
    match (result["action"].as_str(), result["rows_updated"].as_u64()) {
        (Some(action), Some(rows)) => {
            let status = result["status"]
                .as_str()
                .map_or_else(String::new, |s| format!(", status {s}"));
            format!("{state}: {action} updated {rows} row(s){status}")
        }
        _ => format!("{state}: {}", shorten(&result.to_string(), 200)),
    }
}

/// The field a Task state's `ResultPath` names (`$.update` -> `update`).
fn result_path_field<'a>(definition: &'a Value, state: &str) -> Option<&'a str> {
    definition["States"][state]["ResultPath"]
        .as_str()?
        .strip_prefix("$.")
        .filter(|field| !field.contains('.'))
}

fn cause_text(cause: &Value) -> String {
    cause.as_str().map_or_else(|| cause.to_string(), str::to_owned)
}

fn shorten(text: &str, max_chars: usize) -> String {
    if text.chars().count() <= max_chars {
        text.to_owned()
    } else {
        let mut short: String = text.chars().take(max_chars).collect();
        short.push('…');
        short
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn polls_writes_and_the_end_read_as_lines() {
        let definition = json!({"States": {"UpdateCatalogInDB": {"Type": "Task", "ResultPath": "$.update"}}});
        let poll = |attempt: u32, ready: bool| {
            let mut state = json!({
                "attempt": attempt, "max_attempts": 5, "poll_interval_seconds": 1, "ready": ready,
                "wait_seconds": 1, "last_seen": if ready { "ready" } else { "pending (kb_name=\"PENDING\", data_source_name=null)" },
                "summary": "s"
            });
            if ready {
                state["kb_name"] = json!("kb");
                state["data_source_name"] = json!("ds");
            }
            state
        };
        let events = vec![
            json!({"type": "ExecutionStarted", "timestamp": 1000, "input": {"catalog_id": "c"}}),
            json!({"type": "StateExited", "timestamp": 1100, "state": {"name": "CheckCatalogStatus", "type": "Task", "output": {"poll": poll(1, false)}}}),
            json!({"type": "StateExited", "timestamp": 2200, "state": {"name": "CheckCatalogStatus", "type": "Task", "output": {"poll": poll(2, true)}}}),
            json!({"type": "StateExited", "timestamp": 2300, "state": {"name": "UpdateCatalogInDB", "type": "Task",
                "output": {"update": {"action": "record_ready", "rows_updated": 1, "status": "READY"}}}}),
            json!({"type": "ExecutionSucceeded", "timestamp": 2400}),
        ];
        let lines = history_lines(&definition, &events);
        assert_eq!(
            lines,
            [
                "   0.00s  execution started with input {\"catalog_id\":\"c\"}",
                "   0.10s  poll 1 of 5: pending (kb_name=\"PENDING\", data_source_name=null); next poll in 1 s",
                "   1.20s  poll 2 of 5: ready: kb_name=\"kb\", data_source_name=\"ds\"",
                "   1.30s  UpdateCatalogInDB: record_ready updated 1 row(s), status READY",
                "   1.40s  execution SUCCEEDED",
            ]
        );
    }
}
