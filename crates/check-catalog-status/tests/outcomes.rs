//! The handler and the HTTP adapter against a real HTTP server (wiremock): every row
//! of the outcome list, the request's path and headers, input validation before any
//! request, and the attempt counter across calls.

mod common;

use std::time::{Duration, SystemTime};

use catalog_core::{ErrorName, PollDefaults};
use check_catalog_status::{ApiToken, check_catalog_status};
use common::{api, check, request_count};
use lambda_support::secrets::SecretSource;
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const CATALOG: &str = "/catalogs/cat-123";

async fn server_answering(template: ResponseTemplate) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(CATALOG))
        .respond_with(template)
        .mount(&server)
        .await;
    server
}

/// The poll state for one call to a server answering `template`.
async fn poll(template: ResponseTemplate) -> Value {
    let server = server_answering(template).await;
    let state = check(&api(&server.uri(), ApiToken::None), json!({"catalog_id": "cat-123"}))
        .await
        .expect("not an error");
    assert_eq!(request_count(&server).await, 1, "exactly one request per attempt");
    serde_json::to_value(state).expect("serializes")
}

/// The error for one call to a server answering `template`.
async fn poll_error(template: ResponseTemplate) -> (ErrorName, String) {
    let server = server_answering(template).await;
    let error = check(&api(&server.uri(), ApiToken::None), json!({"catalog_id": "cat-123"}))
        .await
        .expect_err("an error");
    assert_eq!(request_count(&server).await, 1);
    (error.name, error.message)
}

fn json_body(body: &Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(body)
}

#[tokio::test]
async fn both_names_provisioned_is_ready_with_trimmed_names() {
    let state = poll(json_body(
        &json!({"status": "ACTIVE", "kb_name": " kb-1 ", "data_source_name": "ds-1\n", "extra": [1]}),
    ))
    .await;
    assert_eq!(
        state,
        json!({
            "attempt": 1, "max_attempts": 150, "poll_interval_seconds": 20, "ready": true,
            "wait_seconds": 0, "kb_name": "kb-1", "data_source_name": "ds-1", "last_seen": "ready",
            "summary": "catalog \"cat-123\" ready after 1 of 150 attempts"
        })
    );
}

#[tokio::test]
async fn placeholders_are_pending_and_the_poll_goes_on() {
    let state = poll(json_body(&json!({"kb_name": "PENDING", "data_source_name": null}))).await;
    assert_eq!(state["ready"], false);
    assert_eq!(state["wait_seconds"], 20);
    assert_eq!(
        state["last_seen"],
        "pending (kb_name=\"PENDING\", data_source_name=null)"
    );
    assert!(state.get("kb_name").is_none());
    assert_eq!(
        state["summary"],
        "catalog \"cat-123\" not ready after 1 of 150 attempts; last seen: pending (kb_name=\"PENDING\", data_source_name=null)"
    );
    let state = poll(json_body(&json!({"kb_name": "kb", "data_source_name": " null "}))).await;
    assert_eq!(state["ready"], false);
}

#[tokio::test]
async fn failed_or_error_status_is_catalog_provisioning_failed() {
    for status in ["FAILED", "error"] {
        let (name, message) = poll_error(json_body(
            &json!({"status": status, "kb_name": "kb", "data_source_name": "ds"}),
        ))
        .await;
        assert_eq!(name, ErrorName::CatalogProvisioningFailed);
        assert_eq!(
            message,
            format!(
                "catalog \"cat-123\" provisioning failed: the catalog API reports status {status:?} (attempt 1 of 150)"
            )
        );
    }
}

#[tokio::test]
async fn not_found_ends_the_poll_at_once() {
    let (name, message) = poll_error(ResponseTemplate::new(404).set_body_string("no such catalog")).await;
    assert_eq!(name, ErrorName::CatalogNotFound);
    assert_eq!(
        message,
        "catalog \"cat-123\" not found: the catalog API answered HTTP 404 (attempt 1 of 150)"
    );
}

#[tokio::test]
async fn client_errors_other_than_408_and_429_are_rejections() {
    for status in [400, 401, 403, 405, 409, 410, 422, 451] {
        let (name, message) = poll_error(ResponseTemplate::new(status)).await;
        assert_eq!(name, ErrorName::CatalogApiRejected, "HTTP {status}");
        assert!(
            message.starts_with(&format!(
                "the catalog API rejected the request for catalog \"cat-123\" with HTTP {status} (attempt 1 of 150)"
            )),
            "{message}"
        );
    }
}

#[tokio::test]
async fn timeouts_retries_and_server_errors_are_transient() {
    for status in [408, 429, 500, 502, 503, 504] {
        let state = poll(ResponseTemplate::new(status)).await;
        assert_eq!(state["ready"], false, "HTTP {status}");
        assert_eq!(state["last_seen"], format!("HTTP {status}"));
        assert_eq!(state["wait_seconds"], 20);
        assert_eq!(
            state["summary"],
            format!("catalog \"cat-123\" not ready after 1 of 150 attempts; last seen: HTTP {status}")
        );
    }
}

#[tokio::test]
async fn an_html_502_is_transient() {
    let state = poll(
        ResponseTemplate::new(502).set_body_raw("<html><body><h1>502 Bad Gateway</h1></body></html>", "text/html"),
    )
    .await;
    assert_eq!(state["last_seen"], "HTTP 502");
    assert_eq!(state["ready"], false);
}

#[tokio::test]
async fn a_response_slower_than_the_timeout_is_a_timeout() {
    let started = std::time::Instant::now();
    let state =
        poll(json_body(&json!({"kb_name": "kb", "data_source_name": "ds"})).set_delay(Duration::from_secs(5))).await;
    assert_eq!(state["last_seen"], "timeout");
    assert_eq!(state["ready"], false);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "gave up after {:?}, not at the configured timeout",
        started.elapsed()
    );
}

#[tokio::test]
async fn bodies_that_are_not_the_described_object_are_transient() {
    let cases = [
        (
            ResponseTemplate::new(200).set_body_raw("{\"kb_name\": ", "application/json"),
            "invalid body (body is not JSON)",
        ),
        (
            ResponseTemplate::new(200).set_body_raw("<html>ok</html>", "text/html"),
            "invalid body (body is not JSON)",
        ),
        (
            json_body(&json!([{"kb_name": "kb"}])),
            "invalid body (body is JSON an array, not an object)",
        ),
        (
            json_body(&json!({"kb_name": 1, "data_source_name": "ds"})),
            "invalid body (body field kb_name is a number, not a string)",
        ),
        (ResponseTemplate::new(204), "invalid body (body is not JSON)"),
    ];
    for (template, last_seen) in cases {
        let state = poll(template).await;
        assert_eq!(state["last_seen"], last_seen);
        assert_eq!(state["ready"], false);
    }
}

#[tokio::test]
async fn an_oversized_body_is_transient() {
    // A valid object padded past 64 KiB: the cap applies before parsing.
    let padding = "x".repeat(64 * 1024);
    let state = poll(json_body(
        &json!({"kb_name": "kb", "data_source_name": "ds", "padding": padding}),
    ))
    .await;
    assert_eq!(state["last_seen"], "invalid body (larger than 64 KiB)");
    // Exactly at the cap is fine.
    let mut at_cap = json!({"kb_name": "kb", "data_source_name": "ds", "padding": ""}).to_string();
    let pad = 64 * 1024 - at_cap.len();
    at_cap = at_cap.replace("\"padding\":\"\"", &format!("\"padding\":\"{}\"", "x".repeat(pad)));
    assert_eq!(at_cap.len(), 64 * 1024);
    let state = poll(ResponseTemplate::new(200).set_body_raw(at_cap, "application/json")).await;
    assert_eq!(state["last_seen"], "ready");
}

#[tokio::test]
async fn an_endless_body_without_length_is_cut_at_the_cap() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    // wiremock always sends Content-Length; this server streams chunks forever, so
    // only the adapter's own counting can stop it.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address");
    let server = tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.expect("accept");
        let mut request = [0_u8; 4096];
        let _ = stream.read(&mut request).await;
        let head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
        stream.write_all(head.as_bytes()).await.expect("head");
        let chunk = format!("{:x}\r\n{}\r\n", 4096, " ".repeat(4096));
        let mut sent = 0_usize;
        while stream.write_all(chunk.as_bytes()).await.is_ok() {
            sent += 4096;
            if sent > 16 * 1024 * 1024 {
                break;
            }
        }
        sent
    });
    let state = check(
        &api(&format!("http://{address}"), ApiToken::None),
        json!({"catalog_id": "cat-123"}),
    )
    .await
    .expect("transient");
    assert_eq!(state.last_seen, "invalid body (larger than 64 KiB)");
    let sent = server.await.expect("server task");
    assert!(
        sent < 16 * 1024 * 1024,
        "the adapter read the whole stream ({sent} bytes)"
    );
}

#[tokio::test]
async fn retry_after_is_honoured_on_429_and_503_when_sensible() {
    let in_90_seconds = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(90));
    let cases = [
        (429, "120", Some(120)),
        (503, "45", Some(45)),
        (503, in_90_seconds.as_str(), None), // checked as a range below
        (429, "5", Some(20)),                // shorter than the interval: the interval
        (503, "86400", Some(20)),            // absurd: ignored
        (429, "999999999999999999999", Some(20)),
        (503, "tomorrow-ish", Some(20)),
        (500, "120", Some(20)), // only 429 and 503 carry a meaningful Retry-After here
    ];
    for (status, header, expected) in cases {
        let state = poll(ResponseTemplate::new(status).insert_header("Retry-After", header)).await;
        let wait = state["wait_seconds"].as_u64().expect("a number");
        match expected {
            Some(expected) => assert_eq!(wait, expected, "HTTP {status} Retry-After {header}"),
            None => assert!((88..=91).contains(&wait), "HTTP-date 90 s ahead gave {wait}"),
        }
        assert_eq!(state["last_seen"], format!("HTTP {status}"));
    }
}

#[tokio::test]
async fn the_id_is_sent_as_one_encoded_segment() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/catalogs/a%2Fb%20c%27%C3%A9"))
        .respond_with(json_body(&json!({"kb_name": "kb", "data_source_name": "ds"})))
        .mount(&server)
        .await;
    let state = check(&api(&server.uri(), ApiToken::None), json!({"catalog_id": "a/b c'é"}))
        .await
        .expect("ready");
    assert!(state.ready);
    assert_eq!(state.summary, "catalog \"a/b c'é\" ready after 1 of 150 attempts");
    let requests = server.received_requests().await.expect("recorded");
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].url.path(), "/catalogs/a%2Fb%20c%27%C3%A9");
    assert_eq!(requests[0].url.query(), None);
}

#[tokio::test]
async fn awkward_ids_reach_the_server_whole() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(json_body(&json!({"kb_name": "PENDING"})))
        .mount(&server)
        .await;
    let api = api(&server.uri(), ApiToken::None);
    let ids = [
        "100%?#x",
        "\"quoted\"",
        "日本語",
        " lead",
        "...",
        "a.",
        "é".repeat(128).leak(),
    ];
    for id in ids {
        check(&api, json!({"catalog_id": id})).await.expect("pending");
    }
    let requests = server.received_requests().await.expect("recorded");
    let received: Vec<String> = requests
        .iter()
        .map(|r| {
            let segment = r.url.path().strip_prefix("/catalogs/").expect("one prefix");
            assert!(!segment.contains('/'), "{segment} is one segment");
            percent_encoding::percent_decode_str(segment)
                .decode_utf8()
                .expect("UTF-8")
                .into_owned()
        })
        .collect();
    assert_eq!(received, ids);
}

#[tokio::test]
async fn a_base_url_path_prefix_is_kept_with_or_without_a_trailing_slash() {
    for prefix in ["/v1", "/v1/", "/api/v2"] {
        let server = MockServer::start().await;
        let expected = format!("{}/catalogs/cat-123", prefix.trim_end_matches('/'));
        Mock::given(method("GET"))
            .and(path(expected.as_str()))
            .respond_with(json_body(&json!({"kb_name": "kb", "data_source_name": "ds"})))
            .mount(&server)
            .await;
        let state = check(
            &api(&format!("{}{prefix}", server.uri()), ApiToken::None),
            json!({"catalog_id": "cat-123"}),
        )
        .await
        .expect("ready");
        assert!(state.ready, "prefix {prefix}");
    }
}

#[tokio::test]
async fn authorization_is_sent_exactly_when_a_token_is_configured() {
    let server = server_answering(json_body(&json!({"kb_name": "kb", "data_source_name": "ds"}))).await;
    let event = json!({"catalog_id": "cat-123"});
    check(&api(&server.uri(), ApiToken::None), event.clone())
        .await
        .expect("ready");
    let with_token = api(
        &server.uri(),
        ApiToken::Source(SecretSource::Static(catalog_core::Secret::new("tok-123\n"))),
    );
    check(&with_token, event).await.expect("ready");
    let requests = server.received_requests().await.expect("recorded");
    assert_eq!(requests.len(), 2);
    for request in &requests {
        assert_eq!(
            request.headers.get("accept").expect("accept header"),
            "application/json"
        );
    }
    assert!(requests[0].headers.get("authorization").is_none());
    assert_eq!(
        requests[1].headers.get_all("authorization").iter().collect::<Vec<_>>(),
        ["Bearer tok-123"]
    );
}

#[tokio::test]
async fn a_static_token_refused_with_401_is_rejected_after_one_request() {
    let server = server_answering(ResponseTemplate::new(401)).await;
    let api = api(
        &server.uri(),
        ApiToken::Source(SecretSource::Static(catalog_core::Secret::new("tok"))),
    );
    let error = check(&api, json!({"catalog_id": "cat-123"}))
        .await
        .expect_err("rejected");
    assert_eq!(error.name, ErrorName::CatalogApiRejected);
    assert_eq!(request_count(&server).await, 1);
}

#[tokio::test]
async fn redirects_are_not_followed() {
    let elsewhere = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(json_body(&json!({"kb_name": "kb", "data_source_name": "ds"})))
        .mount(&elsewhere)
        .await;
    let server = server_answering(
        ResponseTemplate::new(302).insert_header("Location", format!("{}/catalogs/cat-123", elsewhere.uri())),
    )
    .await;
    let api = api(
        &server.uri(),
        ApiToken::Source(SecretSource::Static(catalog_core::Secret::new("tok"))),
    );
    let state = check(&api, json!({"catalog_id": "cat-123"})).await.expect("transient");
    assert_eq!(state.last_seen, "HTTP 302");
    assert_eq!(
        request_count(&elsewhere).await,
        0,
        "the token never left for another host"
    );
}

#[tokio::test]
async fn a_refused_connection_is_transient() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let address = listener.local_addr().expect("address");
    drop(listener);
    let state = check(
        &api(&format!("http://{address}/v1"), ApiToken::None),
        json!({"catalog_id": "cat-123"}),
    )
    .await
    .expect("transient");
    assert_eq!(state.last_seen, "connection");
    assert_eq!(state.wait_seconds, 20);
    assert!(!state.ready);
}

#[tokio::test]
async fn invalid_input_is_rejected_before_any_request() {
    let server = server_answering(json_body(&json!({"kb_name": "kb", "data_source_name": "ds"}))).await;
    let api = api(&server.uri(), ApiToken::None);
    let at_the_limit = json!({"attempt": 3, "max_attempts": 3, "poll_interval_seconds": 20, "ready": false,
        "wait_seconds": 20, "last_seen": "HTTP 503", "summary": "s"});
    let cases = [
        json!(null),
        json!([]),
        json!("cat-123"),
        json!({}),
        json!({"catalog_id": ""}),
        json!({"catalog_id": 123}),
        json!({"catalog_id": "a\nb"}),
        json!({"catalog_id": "x".repeat(129)}),
        json!({"catalog_id": "c", "poll_interval_seconds": 1.5}),
        json!({"catalog_id": "c", "poll_interval_seconds": "5"}),
        json!({"catalog_id": "c", "poll_interval_seconds": 0}),
        json!({"catalog_id": "c", "max_attempts": 10_001}),
        json!({"catalog_id": "c", "colour": "blue"}),
        json!({"catalog_id": "c", "poll": {"attempt": "1"}}),
        json!({"catalog_id": "c", "max_attempts": 3, "poll": at_the_limit}),
        json!({"catalog_id": "."}),
        json!({"catalog_id": ".."}),
    ];
    for event in cases {
        let error = check(&api, event.clone()).await.expect_err("invalid");
        assert_eq!(error.name, ErrorName::InvalidInput, "{event}");
        assert!(error.message.starts_with("invalid input: "), "{}", error.message);
    }
    assert_eq!(
        server.received_requests().await.expect("recorded").len(),
        0,
        "no request for invalid input"
    );
}

#[tokio::test]
async fn the_attempt_counter_and_settings_travel_in_the_state() {
    let server = server_answering(ResponseTemplate::new(503)).await;
    let api = api(&server.uri(), ApiToken::None);
    let input = json!({"catalog_id": "cat-123", "poll_interval_seconds": 7, "max_attempts": 3});

    let first = check_catalog_status(&api, PollDefaults::default(), input.clone())
        .await
        .expect("transient");
    assert_eq!(
        (first.attempt, first.max_attempts, first.poll_interval_seconds),
        (1, 3, 7)
    );

    // The state machine stores the result in $.poll and calls again; a redeploy with
    // other defaults in between does not change the running execution.
    let mut state = input.clone();
    state["poll"] = serde_json::to_value(&first).expect("serializes");
    let second = check_catalog_status(&api, PollDefaults::new(60, 99).expect("valid"), state.clone())
        .await
        .expect("transient");
    assert_eq!(
        (second.attempt, second.max_attempts, second.poll_interval_seconds),
        (2, 3, 7)
    );
    assert_eq!(second.wait_seconds, 7);

    state["poll"] = serde_json::to_value(&second).expect("serializes");
    let third = check(&api, state.clone()).await.expect("transient");
    assert_eq!(third.attempt, 3);
    assert_eq!(
        third.summary,
        "catalog \"cat-123\" not ready after 3 of 3 attempts; last seen: HTTP 503"
    );

    state["poll"] = serde_json::to_value(&third).expect("serializes");
    let fourth = check(&api, state).await.expect_err("no attempt left");
    assert_eq!(fourth.name, ErrorName::InvalidInput);
    assert_eq!(request_count(&server).await, 3, "at most max_attempts requests");
}

#[tokio::test]
async fn the_sample_events_are_what_their_names_say() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(503))
        .mount(&server)
        .await;
    let api = api(&server.uri(), ApiToken::None);
    let sample = |name: &str| -> Value {
        let file = format!("{}/events/{name}", env!("CARGO_MANIFEST_DIR"));
        serde_json::from_str(&std::fs::read_to_string(&file).expect("sample exists")).expect("sample is JSON")
    };
    assert_eq!(
        check(&api, sample("first-attempt.json")).await.expect("polls").attempt,
        1
    );
    assert_eq!(
        check(&api, sample("later-attempt.json")).await.expect("polls").attempt,
        4
    );
    assert_eq!(check(&api, sample("awkward-id.json")).await.expect("polls").attempt, 1);
    let error = check(&api, sample("invalid.json")).await.expect_err("invalid");
    assert_eq!(error.name, ErrorName::InvalidInput);
}
