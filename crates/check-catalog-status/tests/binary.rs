//! The real `check-catalog-status` binary, run as a process against a fake Lambda
//! Runtime API and a wiremock catalog API: configuration from the environment, a
//! ready poll end to end, and a contract `errorType` for every failure, including
//! events the runtime cannot decode. Its log (JSON, TRACE) never shows the token.

#[path = "../../lambda-support/tests/fake_runtime_api/mod.rs"]
mod fake_runtime_api;

use fake_runtime_api::{FakeRuntimeApi, FunctionProcess, Outcome};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::{Value, json};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const TOKEN: &str = "bin/t0ken+secret=";
const BINARY: &str = env!("CARGO_BIN_EXE_check-catalog-status");

#[tokio::test]
async fn the_binary_answers_with_poll_states_and_contract_error_names() {
    let catalog = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v1/catalogs/a%2Fb%20c%27%C3%A9"))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"kb_name": "kb", "data_source_name": "ds"})))
        .mount(&catalog)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/catalogs/busy"))
        .respond_with(ResponseTemplate::new(503).insert_header("Retry-After", "40"))
        .mount(&catalog)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(404))
        .mount(&catalog)
        .await;

    let events: Vec<Vec<u8>> = vec![
        json!({"catalog_id": "a/b c'é"}).to_string().into_bytes(),
        json!({"catalog_id": "busy", "max_attempts": 4})
            .to_string()
            .into_bytes(),
        json!({"catalog_id": "gone"}).to_string().into_bytes(),
        json!({"catalog_id": ""}).to_string().into_bytes(),
        format!("{}{}", "{\"a\":".repeat(500), "}".repeat(500)).into_bytes(),
        br#"{"catalog_id": "\udc00"}"#.to_vec(),
    ];
    let api = FakeRuntimeApi::serving(&events).await;
    let mut env = api.lambda_env();
    env.extend([
        ("CATALOG_API_BASE_URL", format!("{}/v1/", catalog.uri())),
        ("CATALOG_API_TOKEN", TOKEN.to_owned()),
        ("CATALOG_API_TIMEOUT_MS", "3000".to_owned()),
        ("DEFAULT_POLL_INTERVAL_SECONDS", "15".to_owned()),
        ("DEFAULT_MAX_ATTEMPTS", "9".to_owned()),
        ("AWS_LAMBDA_LOG_FORMAT", "JSON".to_owned()),
        ("AWS_LAMBDA_LOG_LEVEL", "TRACE".to_owned()),
    ]);
    let function = FunctionProcess::start(BINARY, &[], &env);
    let outcomes = api.outcomes().await;
    let log = function.stop();

    assert_eq!(
        outcomes[0],
        Outcome::Response(json!({
            "attempt": 1, "max_attempts": 9, "poll_interval_seconds": 15, "ready": true, "wait_seconds": 0,
            "kb_name": "kb", "data_source_name": "ds", "last_seen": "ready",
            "summary": "catalog \"a/b c'é\" ready after 1 of 9 attempts"
        }))
    );
    let Outcome::Response(busy) = &outcomes[1] else {
        panic!("a 503 is not an error: {:?}", outcomes[1]);
    };
    assert_eq!(
        (&busy["last_seen"], &busy["wait_seconds"], &busy["max_attempts"]),
        (&json!("HTTP 503"), &json!(40), &json!(4))
    );
    let error_types: Vec<&str> = outcomes[2..]
        .iter()
        .map(|outcome| match outcome {
            Outcome::Error { error_type, .. } => error_type.as_str(),
            Outcome::Response(value) => panic!("expected an error, got {value}"),
        })
        .collect();
    assert_eq!(
        error_types,
        ["CatalogNotFound", "InvalidInput", "InvalidInput", "InvalidInput"]
    );

    let lines: Vec<Value> = log
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|_| panic!("not a JSON log line: {line}")))
        .collect();
    assert!(
        lines
            .iter()
            .any(|line| line["span"]["catalog_id"] == "busy" && line["span"]["attempt"] == 1),
        "{log}"
    );
    let encoded = utf8_percent_encode(TOKEN, NON_ALPHANUMERIC).to_string();
    for secret in [TOKEN, encoded.as_str(), "t0ken"] {
        assert!(!log.contains(secret), "the log shows {secret:?}:\n{log}");
        assert!(!format!("{outcomes:?}").contains(secret));
    }
}

#[tokio::test]
async fn a_bad_configuration_stops_the_binary_with_a_clear_message() {
    let api = FakeRuntimeApi::serving(&[]).await;
    let mut env = api.lambda_env();
    env.push(("CATALOG_API_BASE_URL", "ftp://catalog.example.com".to_owned()));
    env.push(("CATALOG_API_TOKEN", TOKEN.to_owned()));
    let output = std::process::Command::new(BINARY)
        .env_clear()
        .envs(env)
        .output()
        .expect("runs");
    assert!(!output.status.success());
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        text.contains("environment variable CATALOG_API_BASE_URL is invalid: the scheme must be http or https"),
        "{text}"
    );
    assert!(!text.contains("t0ken"), "{text}");
}
