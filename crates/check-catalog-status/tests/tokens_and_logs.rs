//! The bearer token: refreshed once after a 401 (a scripted provider and the real
//! Secrets Manager path against moto), and never written to a log line, an output or
//! an error message, at any level.

mod common;

use std::time::Duration;

use catalog_core::{ErrorName, PollDefaults, Secret};
use check_catalog_status::http::HttpSettings;
use check_catalog_status::{ApiToken, HttpCatalogApi, check_catalog_status};
use common::{CapturedLogs, ScriptedToken, api, capture_logs, check, request_count};
use lambda_support::logging::{LogFormat, subscriber};
use lambda_support::secrets::{SecretSource, secrets_manager_client_from};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::{Value, json};
use test_support::moto::MotoServer;
use tracing_subscriber::filter::LevelFilter;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const READY: &str = r#"{"kb_name": "kb", "data_source_name": "ds"}"#;

/// A server that refuses every token but `accepted` with 401.
async fn server_accepting(accepted: &str) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/catalogs/cat-123"))
        .and(header("authorization", format!("Bearer {accepted}").as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_raw(READY, "application/json"))
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(401))
        .with_priority(2)
        .mount(&server)
        .await;
    server
}

fn event() -> Value {
    json!({"catalog_id": "cat-123"})
}

#[tokio::test]
async fn a_401_fetches_the_token_again_and_retries_once() {
    let (_logs, _guard) = capture_logs(LogFormat::Text);
    let server = server_accepting("new").await;
    let api = api(&server.uri(), ScriptedToken::new(&["old", "new"]));
    let state = check(&api, event()).await.expect("ready");
    assert!(state.ready);
    assert_eq!(state.attempt, 1, "the retry belongs to the same attempt");
    assert_eq!(request_count(&server).await, 2);
    // The next attempt starts with the fresh token.
    check(&api, event()).await.expect("ready");
    assert_eq!(request_count(&server).await, 3);
    let requests = server.received_requests().await.expect("recorded");
    let sent: Vec<_> = requests.iter().map(|r| r.headers["authorization"].clone()).collect();
    assert_eq!(sent, ["Bearer old", "Bearer new", "Bearer new"]);
}

#[tokio::test]
async fn a_second_401_is_a_rejection_after_exactly_two_requests() {
    let (_logs, _guard) = capture_logs(LogFormat::Text);
    let server = server_accepting("never").await;
    let token = ScriptedToken::new(&["old", "new", "newer"]);
    let api = api(&server.uri(), token);
    let error = check(&api, event()).await.expect_err("rejected");
    assert_eq!(error.name, ErrorName::CatalogApiRejected);
    assert_eq!(request_count(&server).await, 2, "refetched once, retried once");
}

#[tokio::test]
async fn an_unchanged_token_is_not_retried() {
    let (_logs, _guard) = capture_logs(LogFormat::Text);
    let server = server_accepting("never").await;
    let api = api(&server.uri(), ScriptedToken::new(&["same"]));
    let error = check(&api, event()).await.expect_err("rejected");
    assert_eq!(error.name, ErrorName::CatalogApiRejected);
    assert_eq!(request_count(&server).await, 1);
}

#[tokio::test]
async fn a_failed_refetch_is_transient() {
    let (_logs, _guard) = capture_logs(LogFormat::Text);
    let server = server_accepting("never").await;
    let api = api(&server.uri(), ScriptedToken::failing_refresh(&["old"]));
    let state = check(&api, event()).await.expect("transient");
    assert_eq!(state.last_seen, "connection");
    assert_eq!(request_count(&server).await, 1);
}

#[tokio::test]
async fn a_rotated_secrets_manager_token_is_fetched_again_after_a_401() {
    let (_logs, _guard) = capture_logs(LogFormat::Text);
    let moto = MotoServer::start();
    let config = moto.sdk_config().await;
    let admin = aws_sdk_secretsmanager::Client::new(&config);
    let arn = admin
        .create_secret()
        .name("catalog-api-token")
        .secret_string("token-v1\n")
        .send()
        .await
        .expect("moto creates the secret")
        .arn
        .expect("an ARN");
    let server = server_accepting("token-v1").await;
    let source = SecretSource::secrets_manager(secrets_manager_client_from(&config), arn.clone());
    let api = api(&server.uri(), ApiToken::Source(source));
    assert!(check(&api, event()).await.expect("ready").ready);

    // Rotation: the API now only takes v2, and the container still holds v1.
    admin
        .put_secret_value()
        .secret_id(&arn)
        .secret_string("token-v2")
        .send()
        .await
        .expect("moto rotates");
    server.reset().await;
    let server_v2 = &server;
    Mock::given(method("GET"))
        .and(header("authorization", "Bearer token-v2"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(READY, "application/json"))
        .with_priority(1)
        .mount(server_v2)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(401))
        .with_priority(2)
        .mount(server_v2)
        .await;
    assert!(check(&api, event()).await.expect("ready after refetch").ready);
    let sent: Vec<_> = server
        .received_requests()
        .await
        .expect("recorded")
        .iter()
        .map(|r| r.headers["authorization"].clone())
        .collect();
    assert_eq!(sent, ["Bearer token-v1", "Bearer token-v2"]);
}

#[tokio::test]
async fn an_unreadable_secret_is_transient_and_named_by_its_arn() {
    let moto = MotoServer::start();
    let config = moto.sdk_config().await;
    let server = server_accepting("x").await;
    let arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:missing-AbCdEf";
    let source = SecretSource::secrets_manager(secrets_manager_client_from(&config), arn);
    let api = api(&server.uri(), ApiToken::Source(source));
    let logs = CapturedLogs::default();
    let _guard = tracing::subscriber::set_default(subscriber(logs.clone(), LogFormat::Text, LevelFilter::INFO));
    let state = check(&api, event()).await.expect("transient");
    assert_eq!(state.last_seen, "connection");
    assert_eq!(
        request_count(&server).await,
        0,
        "no request without the configured token"
    );
    let text = logs.text();
    assert!(text.contains("could not read the catalog API token"), "{text}");
    assert!(text.contains(arn), "{text}");
}

/// Everything a token could leak into while a poll meets a 401, a rotation, a
/// rejection and a timeout, with every crate logging at TRACE.
#[tokio::test]
async fn the_token_never_appears_in_logs_outputs_or_errors() {
    const OLD: &str = "s3cr3t/old+tok=en%";
    const NEW: &str = "s3cr3t/new+tok=en%";
    for format in [LogFormat::Text, LogFormat::Json] {
        let logs = CapturedLogs::default();
        let guard = tracing::subscriber::set_default(subscriber(logs.clone(), format, LevelFilter::TRACE));
        let mut outputs = Vec::new();

        let server = server_accepting(NEW).await;
        let refreshing = api(&server.uri(), ScriptedToken::new(&[OLD, NEW]));
        outputs.push(format!("{:?}", check(&refreshing, event()).await));
        let rejecting = server_accepting("never").await;
        let rejected = api(&rejecting.uri(), ScriptedToken::new(&[OLD, NEW]));
        outputs.push(format!("{:?}", check(&rejected, event()).await));
        let slow = MockServer::start().await;
        Mock::given(method("GET"))
            .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(5)))
            .mount(&slow)
            .await;
        let timing_out = HttpCatalogApi::new(
            HttpSettings {
                timeout: Duration::from_millis(200),
                ..common::settings(&slow.uri())
            },
            ApiToken::Source(SecretSource::Static(Secret::new(OLD))),
        )
        .expect("client");
        let state = check_catalog_status(&timing_out, PollDefaults::default(), event()).await;
        outputs.push(serde_json::to_string(&state.as_ref().ok()).expect("serializes"));
        outputs.push(format!("{state:?} {timing_out:?} {refreshing:?}"));
        drop(guard);

        let text = logs.text();
        assert!(text.contains("retrying once"), "the flow was logged: {text}");
        for token in [OLD, NEW] {
            let encoded = utf8_percent_encode(token, NON_ALPHANUMERIC).to_string();
            for secret in [token, encoded.as_str(), "s3cr3t"] {
                assert!(!text.contains(secret), "{format:?} logs contain {secret:?}:\n{text}");
                for output in &outputs {
                    assert!(!output.contains(secret), "an output contains {secret:?}: {output}");
                }
            }
        }
    }
}

#[tokio::test]
async fn every_json_line_of_an_invocation_carries_the_catalog_id_and_attempt() {
    let server = server_accepting("new").await;
    let api = api(&server.uri(), ScriptedToken::new(&["old", "new"]));
    let logs = CapturedLogs::default();
    {
        let _guard = tracing::subscriber::set_default(subscriber(logs.clone(), LogFormat::Json, LevelFilter::TRACE));
        let mut state = json!({"catalog_id": "cat-123", "max_attempts": 5});
        let first = check(&api, state.clone()).await.expect("ready");
        // As if the first poll had not been ready: the state machine calls again.
        state["poll"] = serde_json::to_value(first).expect("serializes");
        state["poll"]["ready"] = json!(false);
        check(&api, state).await.expect("ready");
    }
    let lines: Vec<Value> = logs
        .text()
        .lines()
        .map(|line| serde_json::from_str(line).expect("every line is JSON"))
        .collect();
    assert!(lines.len() >= 3, "{lines:?}");
    let attempts: Vec<_> = lines.iter().map(|line| line["span"]["attempt"].clone()).collect();
    for line in &lines {
        assert_eq!(line["span"]["catalog_id"], "cat-123", "{line}");
    }
    assert!(
        attempts.contains(&json!(1)) && attempts.contains(&json!(2)),
        "{attempts:?}"
    );
    assert!(
        attempts.iter().all(|a| a == &json!(1) || a == &json!(2)),
        "{attempts:?}"
    );
}

#[tokio::test]
async fn the_retry_after_a_401_shares_the_attempts_time_budget() {
    let (_logs, _guard) = capture_logs(LogFormat::Text);
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(header("authorization", "Bearer new"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw(READY, "application/json")
                .set_delay(Duration::from_secs(5)),
        )
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(401).set_delay(Duration::from_millis(700)))
        .with_priority(2)
        .mount(&server)
        .await;
    let api = HttpCatalogApi::new(
        HttpSettings {
            timeout: Duration::from_millis(1000),
            ..common::settings(&server.uri())
        },
        ScriptedToken::new(&["old", "new"]),
    )
    .expect("client");
    let started = std::time::Instant::now();
    let state = check(&api, event()).await.expect("transient");
    let elapsed = started.elapsed();
    assert_eq!(state.last_seen, "timeout");
    assert_eq!(request_count(&server).await, 2);
    // One 1000 ms budget for both requests (about 1 s), not 700 ms + a fresh 1000 ms.
    assert!(elapsed < Duration::from_millis(1400), "the attempt took {elapsed:?}");
}

#[tokio::test]
async fn lines_carry_the_catalog_id_and_attempt_at_any_log_level() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(404))
        .mount(&server)
        .await;
    let logs = CapturedLogs::default();
    let _guard = tracing::subscriber::set_default(subscriber(logs.clone(), LogFormat::Json, LevelFilter::WARN));
    let api = api(&server.uri(), ApiToken::None);
    let error = check(&api, json!({"catalog_id": "gone", "max_attempts": 2}))
        .await
        .expect_err("not found");
    assert_eq!(error.name, ErrorName::CatalogNotFound);
    let text = logs.text();
    let line: Value = serde_json::from_str(text.trim()).expect("one JSON line");
    assert_eq!(line["level"], "WARN");
    assert_eq!(
        (&line["span"]["catalog_id"], &line["span"]["attempt"]),
        (&json!("gone"), &json!(1)),
        "{text}"
    );
}
