//! The `catalog-poller` binary: exit codes, text and JSON output, configuration errors,
//! against moto (plain backend and the real definition in moto's engine).

mod common;

use std::process::{Command, Output};

use catalog_core::{CatalogId, PollSettings};
use catalog_poller::ExecutionName;
use catalog_poller::cli::exit;
use common::{client, deploy_real_workflow, http_503, pending, poll, ready, update_result, waiting_machine};
use serde_json::Value;
use test_support::moto::MotoServer;

/// The binary with no AWS configuration from the host (each test adds what it needs).
fn catalog_poller() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_catalog-poller"));
    command.env_clear();
    if let Some(path) = std::env::var_os("PATH") {
        command.env("PATH", path);
    }
    command
        // Keep the default credential chain away from the host's files and metadata service.
        .env("AWS_CONFIG_FILE", "/nonexistent/aws/config")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/aws/credentials")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("HOME", "/nonexistent");
    command
}

/// The binary pointed at `moto` (dummy credentials, AWS_ENDPOINT_URL) and `machine`.
fn against(moto: &MotoServer, machine: &str) -> Command {
    let mut command = catalog_poller();
    command
        .envs(moto.env_vars())
        .env("CATALOG_POLLER_STEP_FUNCTION_ARN", machine);
    command
}

fn run(command: &mut Command, args: &[&str]) -> Output {
    command.args(args).output().expect("the binary runs")
}

fn code(output: &Output) -> i32 {
    output.status.code().expect("exited, not killed")
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).expect("utf-8")
}

fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).expect("utf-8")
}

fn json(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("{e}: {}", stdout(output)))
}

fn json_lines(output: &Output) -> Vec<Value> {
    stdout(output)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect()
}

const UNREACHABLE: &str = "http://127.0.0.1:9";
const SOME_MACHINE: &str = "arn:aws:states:us-east-1:123456789012:stateMachine:catalog-poller";

#[test]
fn bad_arguments_are_usage_errors_before_any_aws_call() {
    // An endpoint that would turn any call into an AWS error (exit 4), so exit 2 proves
    // that nothing was called.
    let cases: [(&[&str], &str); 7] = [
        (&["start", ""], "catalog_id must not be empty"),
        (&["start", "a\u{1}b"], "control character"),
        (&["start", &"x".repeat(129)], "at most 128"),
        (
            &["start", "cat-1", "--max-attempts", "0"],
            "max_attempts must be a JSON integer from 1 to 10000",
        ),
        (
            &["start", "cat-1", "--poll-interval-seconds", "3601"],
            "poll_interval_seconds",
        ),
        (
            &["start", "cat-1", "--poll-interval-seconds", "-1"],
            "unexpected argument",
        ),
        (&["status", "cat-1", "--run", "0"], "run 0 is out of range"),
    ];
    for (args, expected) in cases {
        let output = run(
            catalog_poller()
                .env("CATALOG_POLLER_STEP_FUNCTION_ARN", SOME_MACHINE)
                .env("AWS_ACCESS_KEY_ID", "x")
                .env("AWS_SECRET_ACCESS_KEY", "x")
                .args(["--endpoint-url", UNREACHABLE]),
            args,
        );
        assert_eq!(code(&output), i32::from(exit::USAGE), "{args:?}: {}", stderr(&output));
        assert!(stderr(&output).contains(expected), "{args:?}: {}", stderr(&output));
    }
}

#[test]
fn a_missing_or_malformed_arn_says_how_to_provide_one() {
    let missing = run(&mut catalog_poller(), &["status", "cat-1"]);
    assert_eq!(code(&missing), i32::from(exit::USAGE));
    assert!(
        stderr(&missing).contains("CATALOG_POLLER_STEP_FUNCTION_ARN"),
        "{}",
        stderr(&missing)
    );

    let malformed = run(
        &mut catalog_poller(),
        &["--json", "status", "cat-1", "--state-machine-arn", "catalog-poller"],
    );
    assert_eq!(code(&malformed), i32::from(exit::USAGE));
    let printed = json(&malformed);
    assert_eq!(printed["error"]["kind"], "invalid_state_machine_arn");
    assert_eq!(printed["error"]["exit_code"], 2);
}

#[test]
fn name_prints_the_execution_name_without_aws() {
    let output = run(&mut catalog_poller(), &["name", "a/b c'é"]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    let expected = ExecutionName::for_catalog(&CatalogId::parse("a/b c'é").expect("valid"));
    assert_eq!(stdout(&output).trim_end(), expected.as_str());
    let rerun = json(&run(
        &mut catalog_poller(),
        &["--json", "name", "a/b c'é", "--run", "3"],
    ));
    assert_eq!(rerun["execution_name"], format!("{expected}-r3"));
}

#[test]
fn missing_credentials_are_an_aws_error_with_a_hint() {
    let output = run(
        catalog_poller().args(["--endpoint-url", UNREACHABLE, "--state-machine-arn", SOME_MACHINE]),
        &["status", "cat-1"],
    );
    assert_eq!(code(&output), i32::from(exit::AWS), "{}", stderr(&output));
    assert!(stderr(&output).contains("no AWS credentials"), "{}", stderr(&output));
}

#[test]
fn an_unreachable_endpoint_is_an_aws_error() {
    let output = run(
        catalog_poller()
            .env("AWS_ACCESS_KEY_ID", "x")
            .env("AWS_SECRET_ACCESS_KEY", "x")
            .args(["--endpoint-url", UNREACHABLE, "--state-machine-arn", SOME_MACHINE]),
        &["--json", "history", "cat-1"],
    );
    assert_eq!(code(&output), i32::from(exit::AWS), "{}", stderr(&output));
    assert_eq!(json(&output)["error"]["kind"], "aws");
    assert!(
        stderr(&output).contains("DescribeExecution: could not reach Step Functions"),
        "{}",
        stderr(&output)
    );
}

#[tokio::test]
async fn start_status_and_history_against_moto() {
    let moto = MotoServer::start();
    let machine = waiting_machine(&client(&moto).await, "cli").await;

    let started = run(&mut against(&moto, &machine), &["--json", "start", "cat 1/x"]);
    assert_eq!(code(&started), 0, "{}", stderr(&started));
    let started = json(&started);
    assert_eq!(started["outcome"], "started");
    assert_eq!(started["catalog_id"], "cat 1/x");

    let again = run(
        &mut against(&moto, &machine),
        &["start", "cat 1/x", "--max-attempts", "3"],
    );
    assert_eq!(code(&again), 0, "{}", stderr(&again));
    assert!(
        stdout(&again).starts_with("catalog \"cat 1/x\" already has a poll execution (RUNNING"),
        "{}",
        stdout(&again)
    );

    let status = run(&mut against(&moto, &machine), &["--json", "status", "cat 1/x"]);
    assert_eq!(code(&status), i32::from(exit::RUNNING), "{}", stderr(&status));
    let status = json(&status);
    assert_eq!(status["status"], "RUNNING");
    assert_eq!(status["execution_arn"], started["execution_arn"]);
    assert_eq!(status["attempts_made"], 0);

    let history = run(&mut against(&moto, &machine), &["--json", "history", "cat 1/x"]);
    assert_eq!(code(&history), 0, "{}", stderr(&history));
    assert_eq!(json(&history)[0]["kind"], "started");

    // --endpoint-url works without AWS_ENDPOINT_URL.
    let mut explicit = against(&moto, &machine);
    explicit.env_remove("AWS_ENDPOINT_URL");
    let unknown = run(
        explicit.args(["--endpoint-url", &moto.endpoint_url()]),
        &["status", "never-started"],
    );
    assert_eq!(code(&unknown), i32::from(exit::NOT_FOUND), "{}", stderr(&unknown));
    assert!(
        stderr(&unknown).contains("no poll execution for catalog \"never-started\""),
        "{}",
        stderr(&unknown)
    );

    let no_machine = run(
        &mut against(&moto, &machine.replace(":cli", ":gone")),
        &["start", "cat-2"],
    );
    assert_eq!(code(&no_machine), i32::from(exit::NOT_FOUND), "{}", stderr(&no_machine));
}

#[tokio::test]
async fn start_wait_follows_a_real_execution_and_exits_with_how_it_ended() {
    let moto = MotoServer::start_with_step_functions_engine();
    let machine = deploy_real_workflow(&moto, "cli-real");
    let settings = PollSettings {
        poll_interval_seconds: 1,
        max_attempts: 2,
    };
    moto.queue_lambda_results(&[
        poll("cat-f", settings, 1, http_503()),
        poll("cat-f", settings, 2, pending()),
        update_result("cat-f", "record_failure", "FAILED"),
    ]);
    let output = run(
        &mut against(&moto, &machine),
        &[
            "--json",
            "start",
            "cat-f",
            "--max-attempts",
            "2",
            "--poll-interval-seconds",
            "1",
            "--wait",
            "--interval-seconds",
            "1",
        ],
    );
    assert_eq!(code(&output), i32::from(exit::FAILED), "{}", stderr(&output));
    let lines = json_lines(&output);
    let kinds: Vec<&str> = lines
        .iter()
        .map(|l| {
            l.get("kind")
                .or_else(|| l.get("outcome"))
                .and_then(Value::as_str)
                .unwrap_or("?")
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "started",
            "started",
            "poll",
            "poll",
            "database_write",
            "finished",
            "status"
        ]
    );
    let last = lines.last().expect("a final status");
    assert_eq!(last["error"], "MaxAttemptsReached");
    assert_eq!(last["attempts_made"], 2);

    let status = run(&mut against(&moto, &machine), &["status", "cat-f"]);
    assert_eq!(code(&status), i32::from(exit::FAILED));
    let text = stdout(&status);
    for expected in [
        "status:     FAILED",
        "attempts:   2 of 2",
        "last seen:  pending (kb_name=\"PENDING\", data_source_name=null)",
        "error:      MaxAttemptsReached",
    ] {
        assert!(text.contains(expected), "{expected:?} not in:\n{text}");
    }

    // A succeeding poll: `watch` exits 0 with one line per poll.
    let ok = PollSettings {
        poll_interval_seconds: 1,
        max_attempts: 5,
    };
    moto.queue_lambda_results(&[
        poll("cat-s", ok, 1, pending()),
        poll("cat-s", ok, 2, ready()),
        update_result("cat-s", "record_ready", "READY"),
    ]);
    let start = run(
        &mut against(&moto, &machine),
        &["start", "cat-s", "--poll-interval-seconds", "1", "--max-attempts", "5"],
    );
    assert_eq!(code(&start), 0, "{}", stderr(&start));
    let watched = run(
        &mut against(&moto, &machine),
        &["watch", "cat-s", "--interval-seconds", "1"],
    );
    assert_eq!(code(&watched), 0, "{}", stderr(&watched));
    let text = stdout(&watched);
    let polls: Vec<&str> = text.lines().filter(|l| l.contains("  poll ")).collect();
    assert_eq!(polls.len(), 2, "{text}");
    assert!(
        polls[1].ends_with("poll 2/5: READY kb_name=\"kb-cat\" data_source_name=\"ds-cat\""),
        "{text}"
    );
    assert!(text.contains("status:     SUCCEEDED"), "{text}");
}
