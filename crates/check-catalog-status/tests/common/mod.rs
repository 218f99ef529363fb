//! Helpers shared by the integration tests: an adapter pointed at a wiremock server,
//! a scripted token provider, and a log writer that keeps what it is given.
#![allow(dead_code)] // each test crate uses part of this module

use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use catalog_core::{PollDefaults, PollState, Secret};
use check_catalog_status::http::{DEFAULT_MAX_BODY_BYTES, HttpSettings};
use check_catalog_status::{HttpCatalogApi, TokenProvider, check_catalog_status};
use lambda_support::FunctionError;
use lambda_support::logging::{LogFormat, subscriber};
use lambda_support::secrets::SecretError;
use reqwest::Url;
use serde_json::Value;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::fmt::MakeWriter;
use wiremock::MockServer;

/// Short enough to keep the slow-response test quick, long enough for loopback.
pub const TEST_TIMEOUT: Duration = Duration::from_millis(500);

pub fn settings(base_url: &str) -> HttpSettings {
    HttpSettings {
        base_url: Url::parse(base_url).expect("valid base URL"),
        connect_timeout: Duration::from_millis(300),
        timeout: TEST_TIMEOUT,
        max_body_bytes: DEFAULT_MAX_BODY_BYTES,
    }
}

pub fn api<T: TokenProvider>(base_url: &str, token: T) -> HttpCatalogApi<T> {
    HttpCatalogApi::new(settings(base_url), token).expect("client builds")
}

/// Runs the handler with the deployment defaults (20 s, 150 attempts).
pub async fn check<T: TokenProvider>(api: &HttpCatalogApi<T>, event: Value) -> Result<PollState, FunctionError> {
    check_catalog_status(api, PollDefaults::default(), event).await
}

pub async fn request_count(server: &MockServer) -> usize {
    server.received_requests().await.expect("recording is on").len()
}

/// A token provider with a script: `token()` gives `tokens[0]`; each
/// `refreshed_token()` moves to the next one (or fails when `refresh_fails`).
pub struct ScriptedToken {
    tokens: Vec<&'static str>,
    position: AtomicUsize,
    pub refreshes: AtomicUsize,
    refresh_fails: bool,
}

impl ScriptedToken {
    pub fn new(tokens: &[&'static str]) -> ScriptedToken {
        ScriptedToken {
            tokens: tokens.to_vec(),
            position: AtomicUsize::new(0),
            refreshes: AtomicUsize::new(0),
            refresh_fails: false,
        }
    }

    pub fn failing_refresh(tokens: &[&'static str]) -> ScriptedToken {
        ScriptedToken {
            refresh_fails: true,
            ..ScriptedToken::new(tokens)
        }
    }

    pub fn refreshes(&self) -> usize {
        self.refreshes.load(Ordering::SeqCst)
    }
}

/// Like the real providers, a fake never prints its tokens.
impl std::fmt::Debug for ScriptedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScriptedToken")
            .field("tokens", &self.tokens.len())
            .field("refreshes", &self.refreshes())
            .finish_non_exhaustive()
    }
}

impl TokenProvider for ScriptedToken {
    async fn token(&self) -> Result<Option<Secret>, SecretError> {
        Ok(Some(Secret::new(self.tokens[self.position.load(Ordering::SeqCst)])))
    }

    async fn refreshed_token(&self) -> Result<Option<Secret>, SecretError> {
        self.refreshes.fetch_add(1, Ordering::SeqCst);
        if self.refresh_fails {
            return Err(SecretError::Fetch {
                arn: "arn:aws:secretsmanager:us-east-1:123456789012:secret:token".into(),
                reason: "service unavailable".into(),
            });
        }
        let next = (self.position.load(Ordering::SeqCst) + 1).min(self.tokens.len() - 1);
        self.position.store(next, Ordering::SeqCst);
        Ok(Some(Secret::new(self.tokens[next])))
    }
}

/// Captures this thread's logs (our subscriber, TRACE) until the guard drops.
///
/// Every test of a binary that asserts on logs holds one, even when it does not look at
/// them: tracing caches a callsite's interest when it is first hit, and a first hit in a
/// thread with no subscriber, racing with another test installing one, can cache
/// "never" and silently drop that line from the other test's capture.
pub fn capture_logs(format: LogFormat) -> (CapturedLogs, tracing::subscriber::DefaultGuard) {
    let logs = CapturedLogs::default();
    let guard = tracing::subscriber::set_default(subscriber(logs.clone(), format, LevelFilter::TRACE));
    (logs, guard)
}

/// Keeps every byte logged, for assertions.
#[derive(Clone, Default)]
pub struct CapturedLogs(Arc<Mutex<Vec<u8>>>);

impl CapturedLogs {
    pub fn text(&self) -> String {
        String::from_utf8(self.0.lock().expect("not poisoned").clone()).expect("logs are UTF-8")
    }
}

impl io::Write for CapturedLogs {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().expect("not poisoned").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for CapturedLogs {
    type Writer = CapturedLogs;
    fn make_writer(&'a self) -> CapturedLogs {
        self.clone()
    }
}
