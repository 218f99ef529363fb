//! A pass-through in front of the Lambda emulator's Invoke API that reports every
//! invocation (function, payload, result or error, duration) the moment it returns, so
//! the demo can print one line per poll while the execution runs.

use std::sync::Arc;
use std::time::{Duration, Instant};

use http_body_util::BodyExt;
use hyper::Request;
use hyper::body::{Bytes, Incoming};
use serde_json::Value;

use super::http_server::{self, FullResponse, HttpServer};

/// One invocation as it went through.
#[derive(Debug, Clone)]
pub struct Invocation {
    /// The function name from the path `/2015-03-31/functions/{name}/invocations`.
    pub function: String,
    pub payload: Value,
    /// The function's result, or its error payload (`errorType`, `errorMessage`).
    pub body: Value,
    /// `X-Amz-Function-Error` when the function failed.
    pub function_error: Option<String>,
    /// HTTP status of the Invoke API.
    pub status: u16,
    pub took: Duration,
}

impl Invocation {
    /// The function's `errorType` when it failed.
    pub fn error_type(&self) -> Option<&str> {
        self.function_error.as_ref()?;
        Some(self.body["errorType"].as_str().unwrap_or("Lambda.Unknown"))
    }
}

/// Called once per invocation, from the server's task.
pub type InvocationObserver = Arc<dyn Fn(&Invocation) + Send + Sync>;

/// The running pass-through; stops when dropped.
#[derive(Debug)]
pub struct InvokeLog {
    server: HttpServer,
}

impl InvokeLog {
    /// Forwards to `upstream` (the emulator's base URL) and reports to `observer`.
    pub async fn start(upstream: String, observer: InvocationObserver) -> std::io::Result<InvokeLog> {
        let client = reqwest::Client::builder()
            .no_proxy()
            // A function may take its whole timeout (the template's longest is 30 s).
            .timeout(Duration::from_secs(120))
            .build()
            .map_err(std::io::Error::other)?;
        let upstream = Arc::new(upstream);
        let server = HttpServer::start(move |request| {
            forward(client.clone(), Arc::clone(&upstream), Arc::clone(&observer), request)
        })
        .await?;
        Ok(InvokeLog { server })
    }

    /// The base URL to give the engine instead of the emulator's.
    pub fn url(&self) -> String {
        self.server.url()
    }
}

async fn forward(
    client: reqwest::Client,
    upstream: Arc<String>,
    observer: InvocationObserver,
    request: Request<Incoming>,
) -> FullResponse {
    let started = Instant::now();
    let path = request.uri().path().to_owned();
    let function = path
        .strip_prefix("/2015-03-31/functions/")
        .and_then(|rest| rest.strip_suffix("/invocations"))
        .map(|name| {
            percent_encoding::percent_decode_str(name)
                .decode_utf8_lossy()
                .into_owned()
        })
        .unwrap_or_default();
    let payload = match request.into_body().collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) => return http_server::json(400, &serde_json::json!({"message": e.to_string()})),
    };
    let sent = client
        .post(format!("{upstream}{path}"))
        .header("content-type", "application/json")
        .body(payload.clone())
        .send()
        .await;
    let response = match sent {
        Ok(response) => response,
        Err(e) => {
            return http_server::json(502, &serde_json::json!({"message": format!("emulator: {e}")}));
        }
    };
    let status = response.status().as_u16();
    let function_error = response
        .headers()
        .get("x-amz-function-error")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body: Bytes = response.bytes().await.unwrap_or_default();
    let invocation = Invocation {
        function,
        payload: serde_json::from_slice(&payload).unwrap_or(Value::Null),
        body: serde_json::from_slice(&body)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned())),
        function_error: function_error.clone(),
        status,
        took: started.elapsed(),
    };
    observer(&invocation);
    let mut reply = http_server::respond(status, "application/json", body);
    if let Some(error) = function_error
        && let Ok(value) = error.parse()
    {
        reply.headers_mut().insert("x-amz-function-error", value);
    }
    reply
}
