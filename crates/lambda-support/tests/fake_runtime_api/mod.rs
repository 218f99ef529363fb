//! A fake Lambda Runtime API (wiremock) that hands a function process a list of events
//! and records what the function posts back, so tests can run a real bootstrap binary
//! through the real `lambda_runtime` loop. Shared by the functions' tests with
//! `#[path = "../../lambda-support/tests/fake_runtime_api/mod.rs"] mod fake_runtime_api;`.
#![allow(dead_code)] // each test crate uses part of this module

use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

const NEXT: &str = "/2018-06-01/runtime/invocation/next";
const DEADLINE: Duration = Duration::from_secs(60);

/// What the function posted for one event.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Response(Value),
    Error { error_type: String, error_message: String },
}

#[derive(Debug)]
pub struct FakeRuntimeApi {
    server: MockServer,
    events: usize,
}

impl FakeRuntimeApi {
    /// Serves `events` in order (request ids `req-0`, `req-1`, …), then makes every
    /// further `next` call wait, as the real API does between invocations.
    pub async fn serving(events: &[Vec<u8>]) -> FakeRuntimeApi {
        let server = MockServer::start().await;
        let deadline_ms = (SystemTime::now() + DEADLINE)
            .duration_since(UNIX_EPOCH)
            .expect("after 1970")
            .as_millis()
            .to_string();
        for (index, event) in events.iter().enumerate() {
            Mock::given(method("GET"))
                .and(path(NEXT))
                .respond_with(
                    ResponseTemplate::new(200)
                        .set_body_raw(event.clone(), "application/json")
                        .insert_header("lambda-runtime-aws-request-id", format!("req-{index}").as_str())
                        .insert_header("lambda-runtime-deadline-ms", deadline_ms.as_str())
                        .insert_header(
                            "lambda-runtime-invoked-function-arn",
                            "arn:aws:lambda:us-east-1:123456789012:function:test",
                        ),
                )
                .up_to_n_times(1)
                .with_priority(1)
                .mount(&server)
                .await;
        }
        Mock::given(method("GET"))
            .and(path(NEXT))
            .respond_with(ResponseTemplate::new(200).set_delay(DEADLINE))
            .with_priority(2)
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(path_regex(r"^/2018-06-01/runtime/invocation/req-\d+/(response|error)$"))
            .respond_with(ResponseTemplate::new(202))
            .mount(&server)
            .await;
        FakeRuntimeApi {
            server,
            events: events.len(),
        }
    }

    /// `host:port`, the value of `AWS_LAMBDA_RUNTIME_API`.
    pub fn address(&self) -> String {
        self.server.address().to_string()
    }

    /// The environment Lambda gives a function, pointed at this API.
    pub fn lambda_env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_LAMBDA_RUNTIME_API", self.address()),
            ("AWS_LAMBDA_FUNCTION_NAME", "test".to_owned()),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128".to_owned()),
            ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".to_owned()),
        ]
    }

    /// The outcome of every event, in event order, once all are posted (bounded wait).
    pub async fn outcomes(&self) -> Vec<Outcome> {
        let started = Instant::now();
        loop {
            let posted: Vec<_> = self
                .server
                .received_requests()
                .await
                .expect("recording is on")
                .into_iter()
                .filter(|r| r.method.as_str() == "POST")
                .collect();
            if posted.len() >= self.events {
                let mut outcomes = vec![None; self.events];
                for request in posted {
                    let segments: Vec<&str> = request.url.path().rsplit('/').take(2).collect();
                    let (kind, id) = (segments[0], segments[1]);
                    let index: usize = id.trim_start_matches("req-").parse().expect("our request id");
                    let body: Value = serde_json::from_slice(&request.body).expect("the function posts JSON");
                    outcomes[index] = Some(match kind {
                        "response" => Outcome::Response(body),
                        _ => Outcome::Error {
                            error_type: body["errorType"].as_str().expect("errorType").to_owned(),
                            error_message: body["errorMessage"].as_str().expect("errorMessage").to_owned(),
                        },
                    });
                }
                return outcomes
                    .into_iter()
                    .map(|o| o.expect("one outcome per event"))
                    .collect();
            }
            assert!(
                started.elapsed() < DEADLINE,
                "the function posted {} of {} outcomes within {DEADLINE:?}",
                posted.len(),
                self.events
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// A function process whose stdout (its log) is collected; killed on [`FunctionProcess::stop`] or drop.
#[derive(Debug)]
pub struct FunctionProcess {
    child: Child,
    stdout: Option<JoinHandle<String>>,
}

impl FunctionProcess {
    /// Starts `program` with only `env` (plus `PATH`) in its environment.
    pub fn start(program: &str, args: &[&str], env: &[(&str, String)]) -> FunctionProcess {
        let mut command = Command::new(program);
        command
            .args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for (name, value) in env {
            command.env(name, value);
        }
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("could not start {program}: {e}"));
        let mut stdout = child.stdout.take().expect("piped");
        let reader = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stdout.read_to_string(&mut text);
            text
        });
        FunctionProcess {
            child,
            stdout: Some(reader),
        }
    }

    /// Kills the process and returns everything it wrote to stdout.
    pub fn stop(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.stdout
            .take()
            .expect("not yet stopped")
            .join()
            .expect("reader thread")
    }
}

impl Drop for FunctionProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
