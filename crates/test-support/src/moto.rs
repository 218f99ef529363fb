//! A moto server on a free loopback port, for tests of code that calls AWS APIs.
//!
//! Each [`MotoServer`] is its own `moto_server` process (so tests running in parallel
//! never see each other's state machines or secrets); it is killed when dropped.
//!
//! ```no_run
//! # async fn example() {
//! let moto = test_support::moto::MotoServer::start();
//! // Static dummy credentials, region us-east-1, the server's endpoint URL:
//! let config: aws_config::SdkConfig = moto.sdk_config().await;
//! // let client = aws_sdk_sfn::Client::new(&config);
//! // let client = aws_sdk_secretsmanager::Client::new(&config);
//! # }
//! ```
//!
//! [`MotoServer::start_with_step_functions_engine`] also turns on moto's parser-based
//! Step Functions engine, so executions really run their definition (Pass, Wait,
//! Choice, Fail, Succeed states) and produce a realistic history.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, Region, SdkConfig};

/// The region every test config uses.
pub const REGION: &str = "us-east-1";
/// The account moto puts into every ARN it creates.
pub const ACCOUNT_ID: &str = "123456789012";
/// How long a server gets to import moto and start listening (a cold start takes ~2 s).
const STARTUP_DEADLINE: Duration = Duration::from_secs(60);
const PROBE_INTERVAL: Duration = Duration::from_millis(50);
const START_ATTEMPTS: usize = 5;

/// A running `moto_server` on `127.0.0.1`; killed on drop.
#[derive(Debug)]
pub struct MotoServer {
    child: Child,
    port: u16,
}

impl MotoServer {
    /// Starts a server and waits until it answers. Panics with a helpful message when
    /// moto is not installed (run `make tools`) or does not come up in time.
    pub fn start() -> MotoServer {
        let binary = moto_server_binary();
        let mut problems = Vec::new();
        // The port is chosen here, not by moto (`-p 0`), because moto's Step Functions
        // engine calls Lambda on `localhost:$MOTO_PORT` and only knows a port it was given.
        // Another process may take the port between our probe and moto's bind: retry.
        for _ in 0..START_ATTEMPTS {
            match MotoServer::try_start(&binary, free_port()) {
                Ok(server) => {
                    server.wait_until_answering();
                    return server;
                }
                Err(problem) => problems.push(problem),
            }
        }
        panic!("moto_server did not start:\n{}", problems.join("\n"));
    }

    fn try_start(binary: &Path, port: u16) -> Result<MotoServer, String> {
        let mut child = Command::new(binary)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .env("MOTO_PORT", port.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("could not start {}: {e}; run `make tools`", binary.display()));
        let stderr = child.stderr.take().expect("stderr is piped");
        match wait_for_port(stderr) {
            Ok(listening) if listening == port => Ok(MotoServer { child, port }),
            outcome => {
                let _ = child.kill();
                let _ = child.wait();
                Err(match outcome {
                    Ok(other) => format!("asked for port {port}, it listens on {other}"),
                    Err(problem) => problem,
                })
            }
        }
    }

    /// Starts a server whose Step Functions executions run their definition
    /// (moto's `stepfunctions.execute_state_machine` setting). Lambda Task states
    /// call moto's docker-free Lambda, which answers each invocation with the next of
    /// the results queued by [`MotoServer::queue_lambda_results`] (else it echoes the
    /// payload). The functions must exist in moto (CreateFunction with a role that
    /// exists in moto's IAM).
    pub fn start_with_step_functions_engine() -> MotoServer {
        let server = MotoServer::start();
        let (status, body) = server.http(
            "POST",
            "/moto-api/config",
            r#"{"stepfunctions": {"execute_state_machine": true}, "lambda": {"use_docker": false}}"#,
        );
        assert!(
            (200..300).contains(&status),
            "moto refused the Step Functions engine setting: HTTP {status}: {body}"
        );
        server
    }

    /// Queues what moto's docker-free Lambda returns, in invocation order, across all
    /// functions of region us-east-1. Each result is the function's JSON response text.
    pub fn queue_lambda_results<S: AsRef<str>>(&self, results: &[S]) {
        let results: Vec<&str> = results.iter().map(AsRef::as_ref).collect();
        let body = serde_json::json!({"results": results, "region": REGION}).to_string();
        let (status, answer) = self.http("POST", "/moto-api/static/lambda-simple/response", &body);
        assert!(
            (200..300).contains(&status),
            "moto refused the Lambda results: HTTP {status}: {answer}"
        );
    }

    /// `http://127.0.0.1:<port>`, for an SDK's `endpoint_url` or `AWS_ENDPOINT_URL`.
    pub fn endpoint_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// An SDK config for this server: static dummy credentials, region us-east-1 and
    /// this server's endpoint URL, ignoring the host's AWS environment variables.
    pub async fn sdk_config(&self) -> SdkConfig {
        aws_config::defaults(BehaviorVersion::latest())
            .empty_test_environment()
            .test_credentials()
            .region(Region::new(REGION))
            .endpoint_url(self.endpoint_url())
            .load()
            .await
    }

    /// Environment variables that point an AWS SDK or CLI in a child process at this
    /// server (dummy credentials, region us-east-1, `AWS_ENDPOINT_URL`).
    pub fn env_vars(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ACCESS_KEY_ID", "testing".to_owned()),
            ("AWS_SECRET_ACCESS_KEY", "testing".to_owned()),
            ("AWS_REGION", REGION.to_owned()),
            ("AWS_DEFAULT_REGION", REGION.to_owned()),
            ("AWS_ENDPOINT_URL", self.endpoint_url()),
        ]
    }

    fn wait_until_answering(&self) {
        let deadline = Instant::now() + STARTUP_DEADLINE;
        loop {
            match self.try_http("GET", "/moto-api/config", "") {
                Ok((status, _)) if (200..300).contains(&status) => return,
                Ok((status, body)) if Instant::now() >= deadline => {
                    panic!("moto_server on port {} answers HTTP {status}: {body}", self.port)
                }
                Err(e) if Instant::now() >= deadline => {
                    panic!("moto_server on port {} does not answer: {e}", self.port)
                }
                _ => std::thread::sleep(PROBE_INTERVAL),
            }
        }
    }

    /// A minimal HTTP/1.1 request to moto's own API (no HTTP client dependency).
    fn http(&self, method: &str, path: &str, body: &str) -> (u16, String) {
        self.try_http(method, path, body)
            .unwrap_or_else(|e| panic!("{method} {path} on moto_server failed: {e}"))
    }

    fn try_http(&self, method: &str, path: &str, body: &str) -> std::io::Result<(u16, String)> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port))?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        write!(
            stream,
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.port,
            body.len()
        )?;
        let mut response = String::new();
        stream.read_to_string(&mut response)?;
        let status = response
            .split(' ')
            .nth(1)
            .and_then(|code| code.parse().ok())
            .ok_or_else(|| std::io::Error::other(format!("not an HTTP response: {response:?}")))?;
        let body = response.split_once("\r\n\r\n").map_or("", |(_, b)| b).to_owned();
        Ok((status, body))
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The tools directory: `CATALOG_POLLER_TOOLS` (exported by the Makefile), else
/// `<workspace>/.tools`.
pub fn tools_dir() -> PathBuf {
    std::env::var_os("CATALOG_POLLER_TOOLS").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.tools"),
        PathBuf::from,
    )
}

/// The Python of the tools venv (it has boto3), for tests that run Python snippets.
pub fn tools_python() -> PathBuf {
    let python = tools_dir().join("venv/bin/python");
    assert!(
        python.is_file(),
        "{} is missing: run `make tools` (scripts/install-tools.sh)",
        python.display()
    );
    python
}

fn moto_server_binary() -> PathBuf {
    let binary = tools_dir().join("venv/bin/moto_server");
    assert!(
        binary.is_file(),
        "{} is missing: run `make tools` (scripts/install-tools.sh installs moto[server])",
        binary.display()
    );
    binary
}

/// A port that is free right now on 127.0.0.1.
fn free_port() -> u16 {
    TcpListener::bind(("127.0.0.1", 0))
        .and_then(|listener| listener.local_addr())
        .expect("the OS hands out a free loopback port")
        .port()
}

/// Reads the server's log until it says where it listens; keeps draining the log
/// afterwards (in a thread) so the server never blocks on a full pipe.
fn wait_for_port(stderr: std::process::ChildStderr) -> Result<u16, String> {
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        let mut sender = Some(sender);
        let mut seen = String::new();
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if let Some(tx) = &sender {
                if let Some(port) = listening_port(&line) {
                    let _ = tx.send(Ok(port));
                    sender = None;
                } else if seen.len() < 4000 {
                    seen.push_str(&line);
                    seen.push('\n');
                }
            }
        }
        if let Some(tx) = sender {
            let _ = tx.send(Err(format!("it exited before listening; its log:\n{seen}")));
        }
    });
    receiver
        .recv_timeout(STARTUP_DEADLINE)
        .map_err(|_| format!("it did not listen within {STARTUP_DEADLINE:?}"))?
}

/// Werkzeug logs ` * Running on http://127.0.0.1:45323`.
fn listening_port(line: &str) -> Option<u16> {
    let (_, rest) = line.split_once("Running on http://127.0.0.1:")?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_port_from_werkzeug_log() {
        assert_eq!(listening_port(" * Running on http://127.0.0.1:45323"), Some(45323));
        assert_eq!(
            listening_port("\u{1b}[33m * Running on http://127.0.0.1:8\u{1b}[0m"),
            Some(8)
        );
        assert_eq!(listening_port("Press CTRL+C to quit"), None);
    }

    #[test]
    fn servers_are_separate_and_killed_on_drop() {
        let first = MotoServer::start();
        let second = MotoServer::start();
        assert_ne!(first.port(), second.port());
        let port = first.port();
        drop(first);
        assert!(
            TcpStream::connect(("127.0.0.1", port)).is_err(),
            "the dropped server still listens"
        );
        assert_eq!(
            second.http("GET", "/moto-api/config", "").0,
            201,
            "moto answers its config with 201"
        );
    }

    #[tokio::test]
    async fn sdk_config_reaches_the_server() {
        let server = MotoServer::start();
        let client = aws_sdk_sfn::Client::new(&server.sdk_config().await);
        let created = client
            .create_state_machine()
            .name("probe")
            .role_arn(format!("arn:aws:iam::{ACCOUNT_ID}:role/probe"))
            .definition(r#"{"StartAt":"Done","States":{"Done":{"Type":"Succeed"}}}"#)
            .send()
            .await
            .expect("moto accepts the call");
        assert_eq!(
            created.state_machine_arn(),
            format!("arn:aws:states:{REGION}:{ACCOUNT_ID}:stateMachine:probe")
        );
    }

    #[tokio::test]
    async fn engine_runs_the_definition() {
        let server = MotoServer::start_with_step_functions_engine();
        let client = aws_sdk_sfn::Client::new(&server.sdk_config().await);
        let machine = client
            .create_state_machine()
            .name("engine")
            .role_arn(format!("arn:aws:iam::{ACCOUNT_ID}:role/engine"))
            .definition(r#"{"StartAt":"Say","States":{"Say":{"Type":"Pass","Result":{"said":"hi"},"End":true}}}"#)
            .send()
            .await
            .expect("created");
        let execution = client
            .start_execution()
            .state_machine_arn(machine.state_machine_arn())
            .input("{}")
            .send()
            .await
            .expect("started");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let described = client
                .describe_execution()
                .execution_arn(execution.execution_arn())
                .send()
                .await
                .expect("described");
            if described.status() == &aws_sdk_sfn::types::ExecutionStatus::Succeeded {
                assert!(described.output().is_some_and(|o| o.contains("hi")), "{described:?}");
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the engine did not run the definition: {described:?}"
            );
            tokio::time::sleep(PROBE_INTERVAL).await;
        }
    }
}
