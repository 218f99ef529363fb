//! Runs a function built on `lambda_support::run` as a separate process against a fake
//! Lambda Runtime API, and checks what reaches the API for panics and for events the
//! runtime cannot decode: `InvalidInput`, never a Rust type name.
//!
//! A custom harness (`harness = false`): the same executable is the test when started
//! by cargo, and the function when started by the test (the Lambda runtime reads its
//! settings from the process environment, which a test must not change in-process).

mod fake_runtime_api;

use catalog_core::ErrorName;
use fake_runtime_api::{FakeRuntimeApi, FunctionProcess, Outcome};
use lambda_support::FunctionError;
use lambda_support::runtime::PANIC_MESSAGE;
use serde_json::{Value, json};

const FUNCTION_MODE: &str = "LAMBDA_SUPPORT_TEST_FUNCTION";

fn main() {
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    if std::env::var_os(FUNCTION_MODE).is_some() {
        lambda_support::logging::init();
        runtime
            .block_on(lambda_support::run(|event: Value, _context| async move {
                match event.get("do").and_then(Value::as_str) {
                    Some("panic") => panic!("boom with detail that must stay in the log"),
                    Some("fail") => Err(FunctionError::new(ErrorName::CatalogNotFound, "not found")),
                    _ => Ok(json!({"echo": event})),
                }
            }))
            .expect("the runtime loop ends only when killed");
        return;
    }
    runtime.block_on(undecodable_events_and_panics_are_invalid_input());
    println!("test undecodable_events_and_panics_are_invalid_input ... ok");
}

async fn undecodable_events_and_panics_are_invalid_input() {
    let deep = format!("{}{}", "[".repeat(1000), "]".repeat(1000));
    let events: Vec<Vec<u8>> = vec![
        br#"{"do": "echo", "n": 1}"#.to_vec(),
        deep.into_bytes(),
        br#"{"catalog_id": "\ud800"}"#.to_vec(),
        br#"{"do": "panic"}"#.to_vec(),
        br#"{"do": "fail"}"#.to_vec(),
        b"not json at all".to_vec(),
        br#"{"do": "echo", "n": 2}"#.to_vec(),
    ];
    let api = FakeRuntimeApi::serving(&events).await;
    let mut env = api.lambda_env();
    env.push((FUNCTION_MODE, "1".to_owned()));
    env.push(("AWS_LAMBDA_LOG_FORMAT", "JSON".to_owned()));
    let program = std::env::current_exe().expect("own path");
    let function = FunctionProcess::start(program.to_str().expect("UTF-8 path"), &[], &env);
    let outcomes = api.outcomes().await;
    let log = function.stop();

    let invalid = |message: &str| Outcome::Error {
        error_type: "InvalidInput".to_owned(),
        error_message: message.to_owned(),
    };
    assert_eq!(outcomes[0], Outcome::Response(json!({"echo": {"do": "echo", "n": 1}})));
    match &outcomes[1] {
        Outcome::Error {
            error_type,
            error_message,
        } => {
            assert_eq!(error_type, "InvalidInput");
            assert!(
                error_message.starts_with("the event is not JSON this function can read: recursion limit exceeded"),
                "{error_message}"
            );
        }
        other @ Outcome::Response(_) => panic!("deep nesting gave {other:?}"),
    }
    match &outcomes[2] {
        Outcome::Error {
            error_type,
            error_message,
        } => {
            assert_eq!(error_type, "InvalidInput");
            // serde_json: "unexpected end of hex escape" (a high surrogate wants a low one).
            assert!(
                error_message.starts_with("the event is not JSON this function can read: "),
                "{error_message}"
            );
        }
        other @ Outcome::Response(_) => panic!("a lone surrogate gave {other:?}"),
    }
    assert_eq!(outcomes[3], invalid(PANIC_MESSAGE));
    assert_eq!(
        outcomes[4],
        Outcome::Error {
            error_type: "CatalogNotFound".to_owned(),
            error_message: "not found".to_owned()
        }
    );
    assert!(matches!(&outcomes[5], Outcome::Error { error_type, .. } if error_type == "InvalidInput"));
    assert_eq!(
        outcomes[6],
        Outcome::Response(json!({"echo": {"do": "echo", "n": 2}})),
        "the function keeps serving after a panic"
    );
    for outcome in &outcomes {
        if let Outcome::Error { error_type, .. } = outcome {
            assert!(
                ErrorName::parse(error_type).is_some(),
                "{error_type} is not a contract name"
            );
        }
    }

    // The panic's own text is in the log (at ERROR, as JSON), not in the output.
    let panic_lines: Vec<Value> = log
        .lines()
        .filter(|line| line.contains("boom with detail"))
        .map(|line| serde_json::from_str(line).unwrap_or_else(|_| panic!("not a JSON log line: {line}")))
        .collect();
    assert!(!panic_lines.is_empty(), "the panic was not logged:\n{log}");
    assert!(
        panic_lines.iter().all(|line| line["level"] == "ERROR"),
        "{panic_lines:?}"
    );
}
