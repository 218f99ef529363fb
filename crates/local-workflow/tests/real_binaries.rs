//! `state_machine.json` executed by aws-local-stepfunctions against the real release
//! binaries behind cargo-lambda's emulator, a real PostgreSQL and a local catalog API
//! (wiremock). One emulator, one database and one API serve every scenario; scenarios
//! run concurrently, each with its own catalog id (its own row and API path).

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use local_workflow::definition::local_definition;
use local_workflow::engine::{self, CHECK_STATE, ExecutionReport, ExecutionStatus, Job, Step};
use local_workflow::lambdas::{self, Emulator};
use serde_json::{Value, json};
use test_support::postgres::TestDatabase;
use tokio_postgres::NoTls;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const CHECK_FUNCTION: &str = "check-catalog-status";
const UPDATE_FUNCTION: &str = "update-catalog-db";
const UPDATE: &str = "UpdateCatalogInDB";
const RECORD_MAX: &str = "RecordMaxAttemptsReached";
const RECORD_FAILURE: &str = "RecordPollFailure";
const API_PREFIX: &str = "/api/v1";
const API_TOKEN: &str = "local-test-token";

struct Fixture {
    db: TestDatabase,
    api: MockServer,
    emulator: std::sync::Mutex<Emulator>,
    emulator_url: String,
    pids: BTreeMap<&'static str, u32>,
}

/// A catalog row as the update function leaves it.
#[derive(Debug, PartialEq, Eq)]
struct Row {
    knowledge_base_id: Option<String>,
    data_source_id: Option<String>,
    status: Option<String>,
}

impl Fixture {
    async fn insert_row(&self, id: &str) {
        self.db
            .client
            .execute("INSERT INTO catalogs (id, status) VALUES ($1, 'PROVISIONING')", &[&id])
            .await
            .expect("insert row");
    }

    async fn row(&self, id: &str) -> Option<Row> {
        self.db
            .client
            .query_opt(
                "SELECT knowledge_base_id, data_source_id, status FROM catalogs WHERE id = $1",
                &[&id],
            )
            .await
            .expect("select row")
            .map(|row| Row {
                knowledge_base_id: row.get(0),
                data_source_id: row.get(1),
                status: row.get(2),
            })
    }

    fn api_path(id: &str) -> String {
        format!("{API_PREFIX}/catalogs/{id}")
    }

    /// The API answers `id` with `body` (status 200) `times` times (None: always), before
    /// any mock mounted with a larger `priority`.
    async fn api_answers(&self, id: &str, response: ResponseTemplate, times: Option<u64>, priority: u8) {
        let mut mock = Mock::given(method("GET"))
            .and(path(Fixture::api_path(id)))
            .respond_with(response)
            .with_priority(priority);
        if let Some(times) = times {
            mock = mock.up_to_n_times(times);
        }
        mock.mount(&self.api).await;
    }

    async fn api_calls(&self, id: &str) -> usize {
        let wanted = Fixture::api_path(id);
        self.api
            .received_requests()
            .await
            .unwrap_or_default()
            .iter()
            .filter(|request| request.url.path() == wanted)
            .count()
    }

    fn job(&self, input: Value) -> Job {
        let functions = BTreeMap::from([
            (CHECK_STATE.to_owned(), CHECK_FUNCTION.to_owned()),
            (UPDATE.to_owned(), UPDATE_FUNCTION.to_owned()),
            (RECORD_MAX.to_owned(), UPDATE_FUNCTION.to_owned()),
            (RECORD_FAILURE.to_owned(), UPDATE_FUNCTION.to_owned()),
        ]);
        let mut job =
            Job::new(local_definition(600).expect("definition"), input).forward_to(&self.emulator_url, functions);
        for state in [CHECK_STATE, UPDATE, RECORD_MAX, RECORD_FAILURE] {
            job = job.fallback(state, Step::Forward);
        }
        job
    }
}

fn pending_body() -> ResponseTemplate {
    ResponseTemplate::new(200)
        .set_body_json(json!({"kb_name": "PENDING", "data_source_name": null, "status": "PROVISIONING"}))
}

fn ready_body(id: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(
        json!({"kb_name": format!("kb-{id}"), "data_source_name": format!("ds-{id}"), "status": "ACTIVE"}),
    )
}

fn ready_row(id: &str) -> Row {
    Row {
        knowledge_base_id: Some(format!("kb-{id}")),
        data_source_id: Some(format!("ds-{id}")),
        status: Some("READY".to_owned()),
    }
}

fn failed_row() -> Row {
    Row {
        knowledge_base_id: None,
        data_source_id: None,
        status: Some("FAILED".to_owned()),
    }
}

fn check(report: &ExecutionReport) {
    assert!(report.harness_errors.is_empty(), "harness: {:?}", report.harness_errors);
    // Every not-ready poll without a retry costs exactly 3 transitions.
    let polls = report.transitions_per_poll();
    assert!(polls.iter().all(|t| *t == 3), "transitions per poll: {polls:?}");
}

async fn run(job: Job) -> ExecutionReport {
    let report = engine::run(&job).await.expect("engine ran");
    check(&report);
    report
}

async fn ready_at_once(fx: Arc<Fixture>) {
    let id = "real-ready-1";
    fx.insert_row(id).await;
    fx.api_answers(id, ready_body(id), None, 5).await;
    let report = run(fx.job(json!({"catalog_id": id}))).await;
    assert_eq!(report.status, ExecutionStatus::Succeeded, "{report:?}");
    assert_eq!(fx.row(id).await, Some(ready_row(id)));
    assert_eq!(fx.api_calls(id).await, 1);
    assert_eq!(report.output["update"]["rows_updated"], 1);
    let request = &fx.api.received_requests().await.unwrap_or_default()[..];
    let authorization = request
        .iter()
        .find(|r| r.url.path() == Fixture::api_path(id))
        .and_then(|r| r.headers.get("authorization"))
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    assert_eq!(authorization, Some(format!("Bearer {API_TOKEN}")));
}

async fn ready_after_pending_polls(fx: Arc<Fixture>) {
    let id = "real-pending-then-ready";
    fx.insert_row(id).await;
    fx.api_answers(id, pending_body(), Some(4), 1).await;
    fx.api_answers(id, ready_body(id), None, 2).await;
    let report = run(fx.job(json!({"catalog_id": id, "max_attempts": 10}))).await;
    assert_eq!(report.status, ExecutionStatus::Succeeded, "{report:?}");
    assert_eq!(fx.row(id).await, Some(ready_row(id)));
    assert_eq!(fx.api_calls(id).await, 5);
    assert_eq!(report.transitions_per_poll(), [3, 3, 3, 3]);
    assert_eq!(report.output["poll"]["attempt"], 5);
}

async fn never_ready(fx: Arc<Fixture>) {
    let id = "real-never-ready";
    fx.insert_row(id).await;
    fx.api_answers(id, pending_body(), None, 5).await;
    let report = run(fx.job(json!({"catalog_id": id, "max_attempts": 4}))).await;
    assert_eq!(report.status, ExecutionStatus::Failed);
    assert_eq!(report.error.as_deref(), Some("MaxAttemptsReached"));
    assert_eq!(
        report.cause.as_deref(),
        Some(
            "catalog \"real-never-ready\" not ready after 4 of 4 attempts; last seen: pending (kb_name=\"PENDING\", data_source_name=null)"
        )
    );
    assert_eq!(fx.api_calls(id).await, 4, "exactly max_attempts API calls");
    assert_eq!(report.transitions_per_poll(), [3, 3, 3]);
    assert_eq!(fx.row(id).await, Some(failed_row()));
}

async fn permanent_errors(fx: Arc<Fixture>) {
    let cases = [
        ("real-404", ResponseTemplate::new(404), "CatalogNotFound"),
        ("real-403", ResponseTemplate::new(403), "CatalogApiRejected"),
        (
            "real-provisioning-failed",
            ResponseTemplate::new(200).set_body_json(json!({"status": "FAILED", "kb_name": null})),
            "CatalogProvisioningFailed",
        ),
    ];
    for (id, response, error) in cases {
        fx.insert_row(id).await;
        fx.api_answers(id, pending_body(), Some(1), 1).await;
        fx.api_answers(id, response, None, 2).await;
        let report = run(fx.job(json!({"catalog_id": id}))).await;
        assert_eq!(report.status, ExecutionStatus::Failed, "{id}");
        assert_eq!(report.error.as_deref(), Some(error), "{id}: {:?}", report.cause);
        let cause = report.cause.clone().unwrap_or_default();
        assert!(cause.contains(id), "{id}: the cause names the catalog: {cause}");
        assert_eq!(fx.api_calls(id).await, 2, "{id}: no retry of a permanent error");
        assert_eq!(report.retries_of(CHECK_STATE), 0, "{id}");
        assert_eq!(fx.row(id).await, Some(failed_row()), "{id}");
        assert_eq!(report.transitions_per_poll(), [3], "{id}");
    }
}

async fn transient_trouble_then_ready(fx: Arc<Fixture>) {
    let id = "real-transient";
    fx.insert_row(id).await;
    fx.api_answers(id, ResponseTemplate::new(503), Some(1), 1).await;
    fx.api_answers(
        id,
        ResponseTemplate::new(200).set_body_string("<html>bad gateway</html>"),
        Some(1),
        2,
    )
    .await;
    fx.api_answers(
        id,
        ResponseTemplate::new(429).insert_header("Retry-After", "45"),
        Some(1),
        3,
    )
    .await;
    fx.api_answers(id, ready_body(id), None, 4).await;
    let report = run(fx.job(json!({"catalog_id": id}))).await;
    assert_eq!(report.status, ExecutionStatus::Succeeded, "{report:?}");
    assert_eq!(fx.api_calls(id).await, 4);
    assert_eq!(fx.row(id).await, Some(ready_row(id)));
    let seen: Vec<(String, u64)> = report
        .calls_to(CHECK_STATE)
        .iter()
        .filter_map(|c| {
            let poll = &c.outcome["result"];
            Some((poll["last_seen"].as_str()?.to_owned(), poll["wait_seconds"].as_u64()?))
        })
        .collect();
    assert_eq!(seen[0], ("HTTP 503".to_owned(), 20));
    assert!(seen[1].0.starts_with("invalid body"), "{seen:?}");
    assert_eq!(seen[2], ("HTTP 429".to_owned(), 45), "Retry-After is honoured");
    assert_eq!(seen[3].0, "ready");
}

async fn lambda_service_exception_retried(fx: Arc<Fixture>) {
    let id = "real-service-exception";
    fx.insert_row(id).await;
    fx.api_answers(id, ready_body(id), None, 5).await;
    let report = run(fx
        .job(json!({"catalog_id": id}))
        .step(CHECK_STATE, Step::service_error("Lambda.ServiceException", "injected"))
        .step(
            UPDATE,
            Step::service_error("Lambda.TooManyRequestsException", "injected"),
        ))
    .await;
    assert_eq!(report.status, ExecutionStatus::Succeeded, "{report:?}");
    assert_eq!(report.retries_of(CHECK_STATE), 1);
    assert_eq!(report.retries_of(UPDATE), 1);
    assert_eq!(
        fx.api_calls(id).await,
        1,
        "the failed invoke never reached the function"
    );
    assert_eq!(fx.row(id).await, Some(ready_row(id)));
}

async fn database_unavailable_retried_then_success(fx: Arc<Fixture>) {
    let id = "real-db-locked";
    fx.insert_row(id).await;
    fx.api_answers(id, ready_body(id), None, 5).await;
    // Another session holds the row: the first UPDATE runs into the statement timeout.
    let config = fx.db.config();
    let (locker, connection) = config.connect(NoTls).await.expect("second connection");
    tokio::spawn(connection);
    locker
        .batch_execute(&format!("BEGIN; SELECT 1 FROM catalogs WHERE id = '{id}' FOR UPDATE"))
        .await
        .expect("lock the row");
    let job = fx
        .job(json!({"catalog_id": id}))
        .step(UPDATE, Step::Forward)
        .gated_step(UPDATE, "before the retry", Step::Forward);
    let mut running = engine::start(&job).await.expect("started");
    assert_eq!(running.next_gate().await.expect("the retry"), "before the retry");
    locker.batch_execute("ROLLBACK").await.expect("release the lock");
    running.open_gate().await.expect("go on");
    let report = running.finish().await.expect("report");
    check(&report);
    assert_eq!(report.status, ExecutionStatus::Succeeded, "{report:?}");
    let updates = report.calls_to(UPDATE);
    assert_eq!(
        updates[0].error(),
        Some("DatabaseUnavailable"),
        "{:?}",
        updates[0].outcome
    );
    assert_eq!(report.retries_of(UPDATE), 1);
    assert_eq!(fx.row(id).await, Some(ready_row(id)));
    assert_eq!(fx.api_calls(id).await, 1);
}

async fn row_missing_is_not_retried(fx: Arc<Fixture>) {
    let id = "real-no-row";
    fx.api_answers(id, ready_body(id), None, 5).await;
    let report = run(fx.job(json!({"catalog_id": id}))).await;
    assert_eq!(report.status, ExecutionStatus::Failed);
    assert_eq!(report.error.as_deref(), Some("CatalogRowNotFound"));
    assert_eq!(report.calls_to(UPDATE).len(), 1, "never retried");
    assert_eq!(fx.row(id).await, None);
}

async fn invalid_input(fx: Arc<Fixture>) {
    let id = "real-invalid";
    fx.insert_row(id).await;
    let report = run(fx.job(json!({"catalog_id": id, "colour": "red"}))).await;
    assert_eq!(report.status, ExecutionStatus::Failed);
    assert_eq!(report.error.as_deref(), Some("InvalidInput"));
    assert!(
        report.cause.as_deref().is_some_and(|c| c.contains("colour")),
        "{:?}",
        report.cause
    );
    assert_eq!(fx.api_calls(id).await, 0);
    assert_eq!(report.calls.len(), 1, "no database call");
    assert_eq!(
        fx.row(id).await,
        Some(Row {
            knowledge_base_id: None,
            data_source_id: None,
            status: Some("PROVISIONING".to_owned())
        })
    );
}

type Scenario = fn(Arc<Fixture>) -> Pin<Box<dyn Future<Output = ()> + Send>>;

macro_rules! scenarios {
    ($($name:ident),* $(,)?) => {
        vec![$((stringify!($name), (|fx| Box::pin($name(fx))) as Scenario)),*]
    };
}

async fn fixture() -> Fixture {
    let bootstraps = tokio::task::spawn_blocking(lambdas::build_release)
        .await
        .expect("build task")
        .expect("release binaries built (cargo lambda build)");
    eprintln!("release build step took {:?}", bootstraps.build_time);
    let db = TestDatabase::create().await;
    db.client
        .batch_execute(
            "CREATE TABLE catalogs (id text PRIMARY KEY, knowledge_base_id text, data_source_id text, status text)",
        )
        .await
        .expect("create table");
    let api = MockServer::start().await;
    let mut emulator = Emulator::start().expect("emulator started");
    let mut pids = BTreeMap::new();
    let check_env = [
        ("CATALOG_API_BASE_URL", format!("{}{API_PREFIX}", api.uri())),
        ("CATALOG_API_TOKEN", API_TOKEN.to_owned()),
        ("CATALOG_API_CONNECT_TIMEOUT_MS", "1000".to_owned()),
        ("CATALOG_API_TIMEOUT_MS", "3000".to_owned()),
        ("DEFAULT_POLL_INTERVAL_SECONDS", "20".to_owned()),
        ("DEFAULT_MAX_ATTEMPTS", "150".to_owned()),
    ];
    pids.insert(
        CHECK_FUNCTION,
        emulator
            .start_function(CHECK_FUNCTION, &bootstraps.paths[CHECK_FUNCTION], &check_env)
            .expect("check function started"),
    );
    let update_env = [
        ("DB_HOST", db.host.clone()),
        ("DB_PORT", db.port.to_string()),
        ("DB_NAME", db.dbname.clone()),
        ("DB_USER", db.user.clone()),
        ("DB_SSLMODE", "disable".to_owned()),
        ("CATALOG_TABLE", "catalogs".to_owned()),
        ("CATALOG_ID_COLUMN", "id".to_owned()),
        ("STATUS_COLUMN", "status".to_owned()),
        ("DB_CONNECT_TIMEOUT_MS", "2000".to_owned()),
        // Short, so the locked-row scenario fails its first attempt quickly.
        ("DB_STATEMENT_TIMEOUT_MS", "1000".to_owned()),
    ];
    let mut update_env = update_env.to_vec();
    if let Some(password) = &db.password {
        update_env.push(("DB_PASSWORD", password.clone()));
    }
    pids.insert(
        UPDATE_FUNCTION,
        emulator
            .start_function(UPDATE_FUNCTION, &bootstraps.paths[UPDATE_FUNCTION], &update_env)
            .expect("update function started"),
    );
    let emulator_url = emulator.url();
    Fixture {
        db,
        api,
        emulator: std::sync::Mutex::new(emulator),
        emulator_url,
        pids,
    }
}

#[test]
fn the_workflow_runs_end_to_end_against_the_release_binaries() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let fx = Arc::new(fixture().await);
        let all: Vec<(&str, Scenario)> = scenarios![
            ready_at_once,
            ready_after_pending_polls,
            never_ready,
            permanent_errors,
            transient_trouble_then_ready,
            lambda_service_exception_retried,
            database_unavailable_retried_then_success,
            row_missing_is_not_retried,
            invalid_input,
        ];
        let started = Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        for (name, scenario) in all {
            let fx = Arc::clone(&fx);
            tasks.spawn(async move {
                let began = Instant::now();
                let outcome = tokio::spawn(scenario(fx)).await;
                (name, began.elapsed(), outcome)
            });
        }
        let mut failures = Vec::new();
        while let Some(joined) = tasks.join_next().await {
            let (name, took, outcome) = joined.expect("scenario task");
            match outcome {
                Ok(()) => eprintln!("scenario {name}: ok in {took:?}"),
                Err(error) => {
                    let message = error
                        .try_into_panic()
                        .ok()
                        .and_then(|p| {
                            p.downcast_ref::<String>()
                                .cloned()
                                .or_else(|| p.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                        })
                        .unwrap_or_else(|| "cancelled".to_owned());
                    failures.push(format!("{name}: {message}"));
                }
            }
        }
        eprintln!("all scenarios took {:?}", started.elapsed());
        let mut emulator = fx.emulator.lock().expect("emulator lock");
        for (name, alive) in emulator.functions_alive() {
            if !alive {
                failures.push(format!("{name} exited during the scenarios"));
            }
        }
        for (name, pid) in &fx.pids {
            match lambdas::peak_rss_kib(*pid) {
                // The product's target: well inside the 128 MB the template gives each function.
                Some(kib) if kib < 32 * 1024 => eprintln!("peak RSS of {name} under the emulator: {kib} KiB"),
                other => failures.push(format!("{name}: peak RSS {other:?} KiB, target < 32 MiB")),
            }
        }
        if !failures.is_empty() {
            for name in ["emulator", CHECK_FUNCTION, UPDATE_FUNCTION] {
                let log = emulator.log(name);
                let tail: String = log
                    .chars()
                    .rev()
                    .take(3000)
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev()
                    .collect();
                eprintln!("--- {name} log (tail) ---\n{tail}");
            }
        }
        assert!(failures.is_empty(), "failed scenarios:\n{}", failures.join("\n"));
    });
}
