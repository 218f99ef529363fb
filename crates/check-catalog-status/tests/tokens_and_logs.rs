//! The bearer token: fetched again after a 401 for the next attempt, never with a
//! second request in the same attempt (a scripted provider and the real Secrets
//! Manager path against moto), and never written to a log line, an output or an error
//! message, at any level.

mod common;

use std::time::Duration;

use catalog_core::{ErrorName, PollDefaults, PollState, Secret};
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

/// The state the state machine passes to the next attempt after `previous`.
fn next_event(previous: &PollState) -> Value {
    json!({"catalog_id": "cat-123", "poll": previous})
}

#[tokio::test]
async fn a_401_fetches_the_token_again_for_the_next_attempt() {
    let (logs, _guard) = capture_logs(LogFormat::Text);
    let server = server_accepting("new").await;
    let token = ScriptedToken::new(&["old", "new"]);
    let api = api(&server.uri(), token);
    let first = check(&api, event()).await.expect("transient");
    assert!(!first.ready);
    assert_eq!((first.attempt, first.last_seen.as_str()), (1, "HTTP 401"));
    assert_eq!(request_count(&server).await, 1, "the request is not repeated");
    let text = logs.text();
    assert!(
        text.contains("WARN") && text.contains("the token was fetched again and the next attempt uses it"),
        "{text}"
    );

    let second = check(&api, next_event(&first)).await.expect("ready");
    assert!(second.ready);
    assert_eq!(second.attempt, 2);
    assert_eq!(request_count(&server).await, 2, "one request per attempt");
    let requests = server.received_requests().await.expect("recorded");
    let sent: Vec<_> = requests.iter().map(|r| r.headers["authorization"].clone()).collect();
    assert_eq!(sent, ["Bearer old", "Bearer new"]);
}

#[tokio::test]
async fn a_second_401_is_a_rejection_with_one_request_per_attempt() {
    let (_logs, _guard) = capture_logs(LogFormat::Text);
    let server = server_accepting("never").await;
    // The refetch on attempt 2 gives "new" again: the token did not change.
    let token = ScriptedToken::new(&["old", "new"]);
    let api = api(&server.uri(), token);
    let first = check(&api, event()).await.expect("transient");
    assert_eq!(first.last_seen, "HTTP 401");
    let error = check(&api, next_event(&first)).await.expect_err("rejected");
    assert_eq!(error.name, ErrorName::CatalogApiRejected);
    assert_eq!(request_count(&server).await, 2, "as many requests as attempts");
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
    assert_eq!(state.last_seen, "token unavailable");
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
    let before = check(&api, event()).await.expect("ready");
    assert!(before.ready);

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
    // As if this were a later execution's first attempt, then its second.
    let refused = check(&api, event()).await.expect("transient");
    assert_eq!((refused.ready, refused.last_seen.as_str()), (false, "HTTP 401"));
    let after = check(&api, next_event(&refused)).await.expect("ready after refetch");
    assert_eq!((after.ready, after.attempt), (true, 2));
    let sent: Vec<_> = server
        .received_requests()
        .await
        .expect("recorded")
        .iter()
        .map(|r| r.headers["authorization"].clone())
        .collect();
    assert_eq!(sent, ["Bearer token-v1", "Bearer token-v2"], "one request per attempt");
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
    assert_eq!(state.last_seen, "token unavailable");
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
        let refused = check(&refreshing, event()).await;
        outputs.push(format!("{refused:?}"));
        let refused = refused.expect("transient");
        outputs.push(serde_json::to_string(&refused).expect("serializes"));
        outputs.push(format!("{:?}", check(&refreshing, next_event(&refused)).await));
        let rejecting = server_accepting("never").await;
        let rejected = api(&rejecting.uri(), ScriptedToken::new(&[OLD, NEW]));
        let refused = check(&rejected, event()).await.expect("transient");
        outputs.push(format!("{:?}", check(&rejected, next_event(&refused)).await));
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
        assert!(text.contains("the next attempt uses it"), "the flow was logged: {text}");
        assert!(text.contains("HTTP 401"), "the rejection was logged: {text}");
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
        // A 401 (the token is fetched again), then the next attempt is ready.
        let first = check(&api, state.clone()).await.expect("transient");
        assert!(!first.ready);
        state["poll"] = serde_json::to_value(first).expect("serializes");
        assert!(check(&api, state).await.expect("ready").ready);
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
