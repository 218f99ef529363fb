//! A minimal Lambda Runtime API for one bootstrap process, for measuring it: when the
//! process first asks for an event (the end of its init), and how long each invocation
//! takes from the event being handed over to the response (or error) arriving.
//!
//! Serves `GET /2018-06-01/runtime/invocation/next` (long poll), `POST
//! .../invocation/{id}/response`, `POST .../invocation/{id}/error` and `POST
//! .../init/error`, with the headers `lambda_runtime` reads.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response};
use tokio::sync::{Notify, mpsc, oneshot};

use super::http_server::{self, FullResponse, HttpServer};

const PREFIX: &str = "/2018-06-01/runtime";

/// How an invocation ended, and when the Runtime API heard of it.
#[derive(Debug, Clone)]
pub struct InvocationResult {
    pub outcome: Outcome,
    pub latency: Duration,
}

/// The function's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Response(Bytes),
    Error(Bytes),
}

struct Event {
    payload: Bytes,
    reply: oneshot::Sender<(Outcome, Instant)>,
}

struct Shared {
    first_next: Mutex<Option<Instant>>,
    first_next_seen: Notify,
    init_error: Mutex<Option<String>>,
    events: tokio::sync::Mutex<mpsc::Receiver<Event>>,
    in_flight: Mutex<HashMap<String, oneshot::Sender<(Outcome, Instant)>>>,
    next_id: AtomicU64,
    function_arn: String,
}

/// The running Runtime API; stops when dropped.
pub struct RuntimeApi {
    server: HttpServer,
    shared: Arc<Shared>,
    events: mpsc::Sender<Event>,
}

impl std::fmt::Debug for RuntimeApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RuntimeApi({})", self.server.address())
    }
}

/// Why an invocation could not be measured.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeApiError {
    #[error("the function did not ask for an event within {0:?}")]
    NoFirstRequest(Duration),
    #[error("the function reported an init error: {0}")]
    InitError(String),
    #[error("the function did not answer within {0:?}")]
    NoAnswer(Duration),
    #[error("the Runtime API stopped")]
    Stopped,
}

impl RuntimeApi {
    /// Starts it for a function called `function_name`.
    pub async fn start(function_name: &str) -> std::io::Result<RuntimeApi> {
        let (events, receiver) = mpsc::channel(1);
        let shared = Arc::new(Shared {
            first_next: Mutex::new(None),
            first_next_seen: Notify::new(),
            init_error: Mutex::new(None),
            events: tokio::sync::Mutex::new(receiver),
            in_flight: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
            function_arn: format!("arn:aws:lambda:us-east-1:123456789012:function:{function_name}"),
        });
        let handler_state = Arc::clone(&shared);
        let server = HttpServer::start(move |request| serve(Arc::clone(&handler_state), request)).await?;
        Ok(RuntimeApi { server, shared, events })
    }

    /// The value for `AWS_LAMBDA_RUNTIME_API` (`host:port`).
    pub fn address(&self) -> String {
        self.server.address().to_string()
    }

    /// When the function first asked for an event, waiting up to `limit`.
    pub async fn first_request(&self, limit: Duration) -> Result<Instant, RuntimeApiError> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let notified = self.shared.first_next_seen.notified();
            if let Some(at) = *self.shared.first_next.lock().expect("lock") {
                return Ok(at);
            }
            if let Some(error) = self.shared.init_error.lock().expect("lock").clone() {
                return Err(RuntimeApiError::InitError(error));
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return Err(RuntimeApiError::NoFirstRequest(limit));
            }
        }
    }

    /// Hands `payload` to the function and waits (up to `limit`) for its answer. The
    /// latency runs from the hand-over to the answer's arrival at this API.
    pub async fn invoke(&self, payload: Bytes, limit: Duration) -> Result<InvocationResult, RuntimeApiError> {
        let (reply, answer) = oneshot::channel();
        let handed_over = Instant::now();
        self.events
            .send(Event { payload, reply })
            .await
            .map_err(|_| RuntimeApiError::Stopped)?;
        let (outcome, arrived) = tokio::time::timeout(limit, answer)
            .await
            .map_err(|_| RuntimeApiError::NoAnswer(limit))?
            .map_err(|_| RuntimeApiError::Stopped)?;
        Ok(InvocationResult {
            outcome,
            latency: arrived.saturating_duration_since(handed_over),
        })
    }
}

async fn serve(shared: Arc<Shared>, request: Request<Incoming>) -> FullResponse {
    let arrived = Instant::now();
    let path = request.uri().path().to_owned();
    let Some(route) = path.strip_prefix(PREFIX) else {
        return http_server::json(404, &serde_json::json!({"errorMessage": "unknown path"}));
    };
    match (request.method(), route) {
        (&Method::GET, "/invocation/next") => {
            {
                let mut first = shared.first_next.lock().expect("lock");
                if first.is_none() {
                    *first = Some(arrived);
                    shared.first_next_seen.notify_waiters();
                }
            }
            let Some(event) = shared.events.lock().await.recv().await else {
                return http_server::json(500, &serde_json::json!({"errorMessage": "shutting down"}));
            };
            let id = format!("bench-{:08}", shared.next_id.fetch_add(1, Ordering::Relaxed));
            shared.in_flight.lock().expect("lock").insert(id.clone(), event.reply);
            let deadline_ms = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis())
                + 30_000;
            Response::builder()
                .status(200)
                .header("content-type", "application/json")
                .header("lambda-runtime-aws-request-id", &id)
                .header("lambda-runtime-deadline-ms", deadline_ms.to_string())
                .header("lambda-runtime-invoked-function-arn", &shared.function_arn)
                .header("lambda-runtime-trace-id", format!("Root=1-00000000-{id};Sampled=0"))
                .body(Full::new(event.payload))
                .expect("valid response")
        }
        (&Method::POST, "/init/error") => {
            let body = request
                .into_body()
                .collect()
                .await
                .map(http_body_util::Collected::to_bytes)
                .unwrap_or_default();
            *shared.init_error.lock().expect("lock") = Some(String::from_utf8_lossy(&body).into_owned());
            shared.first_next_seen.notify_waiters();
            http_server::json(202, &serde_json::json!({"status": "OK"}))
        }
        (&Method::POST, route) => {
            let Some((id, kind)) = route.strip_prefix("/invocation/").and_then(|rest| rest.split_once('/')) else {
                return http_server::json(404, &serde_json::json!({"errorMessage": "unknown path"}));
            };
            let body = request
                .into_body()
                .collect()
                .await
                .map(http_body_util::Collected::to_bytes)
                .unwrap_or_default();
            let outcome = match kind {
                "response" => Outcome::Response(body),
                "error" => Outcome::Error(body),
                _ => return http_server::json(404, &serde_json::json!({"errorMessage": "unknown path"})),
            };
            let Some(reply) = shared.in_flight.lock().expect("lock").remove(id) else {
                return http_server::json(400, &serde_json::json!({"errorMessage": "unknown request id"}));
            };
            // The bench may have given up on it; nothing to tell then.
            drop(reply.send((outcome, arrived)));
            http_server::json(202, &serde_json::json!({"status": "OK"}))
        }
        _ => http_server::json(404, &serde_json::json!({"errorMessage": "unknown path"})),
    }
}
