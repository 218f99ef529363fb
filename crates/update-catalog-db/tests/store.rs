//! UpdateCatalogDB against a real PostgreSQL: what each request writes, and the errors
//! Step Functions sees. Each test has its own database (test-support's harness).

mod common;

use std::time::{Duration, Instant};

use catalog_core::{ErrorName, Secret};
use common::{catalog_table, function_backends, invoke, plain_server, rows, store_for};
use serde_json::json;
use test_support::postgres::TestDatabase;
use update_catalog_db::{Login, PostgresCatalogStore};

const CATALOGS: &str = "CREATE TABLE catalogs (
    id text PRIMARY KEY,
    knowledge_base_id text,
    data_source_id text,
    status text NOT NULL DEFAULT 'PENDING'
);
INSERT INTO catalogs (id) VALUES ('cat-1'), ('cat-2');";

fn ready(id: &str, kb: &str, ds: &str) -> serde_json::Value {
    json!({"action": "record_ready", "catalog_id": id, "kb_name": kb, "data_source_name": ds})
}

fn failure(id: &str) -> serde_json::Value {
    json!({"action": "record_failure", "catalog_id": id, "error": "CatalogProvisioningFailed", "cause": "status FAILED"})
}

#[tokio::test]
async fn record_ready_on_a_text_key_writes_trimmed_names_and_reruns_idempotently() {
    let db = TestDatabase::create().await;
    db.client.batch_execute(CATALOGS).await.expect("schema");
    let store = store_for(&db, catalog_table("catalogs", "id", Some("status")));

    let expected = json!({
        "catalog_id": "cat-1", "action": "record_ready", "knowledge_base_id": "kb-1",
        "data_source_id": "ds-1", "status": "READY", "rows_updated": 1
    });
    let first = invoke(&store, ready("cat-1", "  kb-1 ", "ds-1"))
        .await
        .expect("written");
    assert_eq!(first, expected);
    let after_first = rows(
        &db,
        "SELECT id, knowledge_base_id, data_source_id, status FROM catalogs ORDER BY id",
    )
    .await;
    assert_eq!(
        after_first,
        vec![
            vec![
                Some("cat-1".into()),
                Some("kb-1".into()),
                Some("ds-1".into()),
                Some("READY".into())
            ],
            vec![Some("cat-2".into()), None, None, Some("PENDING".into())],
        ]
    );

    let again = invoke(&store, ready("cat-1", "kb-1", "ds-1"))
        .await
        .expect("re-run succeeds");
    assert_eq!(again, expected);
    assert_eq!(
        rows(
            &db,
            "SELECT id, knowledge_base_id, data_source_id, status FROM catalogs ORDER BY id"
        )
        .await,
        after_first
    );
    assert_eq!(function_backends(&db).await.len(), 1, "one connection, reused");
}

#[tokio::test]
async fn record_ready_on_a_uuid_key() {
    let db = TestDatabase::create().await;
    db.client
        .batch_execute(
            "CREATE TABLE catalogs (id uuid PRIMARY KEY, knowledge_base_id text, data_source_id text);
             INSERT INTO catalogs (id) VALUES ('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'), ('b0eebc99-9c0b-4ef8-bb6d-6bb9bd380a12');",
        )
        .await
        .expect("schema");
    let store = store_for(&db, catalog_table("catalogs", "id", None));

    let written = invoke(&store, ready("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "kb", "ds"))
        .await
        .expect("written");
    assert_eq!(written["rows_updated"], 1);
    assert_eq!(written["status"], json!(null));
    assert_eq!(
        rows(
            &db,
            "SELECT id::text, knowledge_base_id, data_source_id FROM catalogs ORDER BY id"
        )
        .await,
        vec![
            vec![
                Some("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11".into()),
                Some("kb".into()),
                Some("ds".into())
            ],
            vec![Some("b0eebc99-9c0b-4ef8-bb6d-6bb9bd380a12".into()), None, None],
        ]
    );
    // Not a uuid, or a uuid with no row: no such catalog row.
    for id in ["cat-1", "c0eebc99-9c0b-4ef8-bb6d-6bb9bd380a13"] {
        let error = invoke(&store, ready(id, "kb", "ds")).await.expect_err("no row");
        assert_eq!(error.name, ErrorName::CatalogRowNotFound, "{id}: {}", error.message);
    }
}

#[tokio::test]
async fn record_ready_on_a_bigint_key() {
    let db = TestDatabase::create().await;
    db.client
        .batch_execute(
            "CREATE TABLE catalogs (id bigint PRIMARY KEY, knowledge_base_id text, data_source_id text);
             INSERT INTO catalogs (id) VALUES (42), (9007199254740993);",
        )
        .await
        .expect("schema");
    let store = store_for(&db, catalog_table("catalogs", "id", None));

    for id in ["42", "9007199254740993"] {
        let written = invoke(&store, ready(id, "kb", "ds")).await.expect("written");
        assert_eq!(written["catalog_id"], id);
        assert_eq!(written["rows_updated"], 1);
    }
    assert_eq!(
        rows(&db, "SELECT id::text, knowledge_base_id FROM catalogs ORDER BY id").await,
        vec![
            vec![Some("42".into()), Some("kb".into())],
            vec![Some("9007199254740993".into()), Some("kb".into())]
        ]
    );
    for id in ["042", "cat-42", "43", "99999999999999999999"] {
        let error = invoke(&store, ready(id, "kb", "ds")).await.expect_err("no row");
        assert_eq!(error.name, ErrorName::CatalogRowNotFound, "{id}: {}", error.message);
    }
}

#[tokio::test]
async fn a_schema_qualified_table_with_a_varchar_key() {
    let db = TestDatabase::create().await;
    db.client
        .batch_execute(
            "CREATE SCHEMA app;
             CREATE TABLE app.catalog_rows (catalog_id varchar(128) PRIMARY KEY, knowledge_base_id text, data_source_id text, state text);
             CREATE TABLE public.catalog_rows (catalog_id varchar(128) PRIMARY KEY, knowledge_base_id text, data_source_id text, state text);
             INSERT INTO app.catalog_rows (catalog_id) VALUES ('cat-1');
             INSERT INTO public.catalog_rows (catalog_id) VALUES ('cat-1');",
        )
        .await
        .expect("schema");
    let store = store_for(&db, catalog_table("app.catalog_rows", "catalog_id", Some("state")));

    invoke(&store, ready("cat-1", "kb", "ds")).await.expect("written");
    assert_eq!(
        rows(
            &db,
            "SELECT knowledge_base_id, data_source_id, state FROM app.catalog_rows"
        )
        .await,
        vec![vec![Some("kb".into()), Some("ds".into()), Some("READY".into())]]
    );
    assert_eq!(
        rows(
            &db,
            "SELECT knowledge_base_id, data_source_id, state FROM public.catalog_rows"
        )
        .await,
        vec![vec![None, None, None]],
        "the table of the same name in another schema is untouched"
    );
}

#[tokio::test]
async fn an_id_with_sql_in_it_is_only_data() {
    let db = TestDatabase::create().await;
    db.client.batch_execute(CATALOGS).await.expect("schema");
    let store = store_for(&db, catalog_table("catalogs", "id", Some("status")));
    let hostile = "x'; DROP TABLE catalogs; --";
    let before = rows(
        &db,
        "SELECT id, knowledge_base_id, data_source_id, status FROM catalogs ORDER BY id",
    )
    .await;

    let error = invoke(&store, ready(hostile, "kb", "ds"))
        .await
        .expect_err("no such row");
    assert_eq!(error.name, ErrorName::CatalogRowNotFound);
    assert!(error.message.contains(hostile), "{}", error.message);
    assert_eq!(
        rows(
            &db,
            "SELECT id, knowledge_base_id, data_source_id, status FROM catalogs ORDER BY id"
        )
        .await,
        before,
        "the table is still there and no row changed"
    );

    // A row whose id really is that text is found and written like any other.
    db.client
        .execute("INSERT INTO catalogs (id) VALUES ($1)", &[&hostile])
        .await
        .expect("insert");
    let written = invoke(&store, ready(hostile, "kb\"'; --", "ds"))
        .await
        .expect("written");
    assert_eq!(written["catalog_id"], hostile);
    assert_eq!(
        rows(
            &db,
            "SELECT knowledge_base_id FROM catalogs WHERE id = 'x''; DROP TABLE catalogs; --'"
        )
        .await,
        vec![vec![Some("kb\"'; --".into())]]
    );
}

#[tokio::test]
async fn a_missing_row_is_catalog_row_not_found_and_changes_nothing() {
    let db = TestDatabase::create().await;
    db.client.batch_execute(CATALOGS).await.expect("schema");
    let store = store_for(&db, catalog_table("catalogs", "id", Some("status")));
    let before = rows(&db, "SELECT * FROM catalogs ORDER BY id").await;

    for event in [ready("cat-404", "kb", "ds"), failure("cat-404")] {
        let error = invoke(&store, event).await.expect_err("no row");
        assert_eq!(error.name, ErrorName::CatalogRowNotFound);
        assert_eq!(
            error.message,
            "no catalog row with \"id\" = \"cat-404\" in table \"catalogs\""
        );
    }
    assert_eq!(rows(&db, "SELECT * FROM catalogs ORDER BY id").await, before);
}

#[tokio::test]
async fn record_failure_sets_the_status_and_leaves_the_ids() {
    let db = TestDatabase::create().await;
    db.client.batch_execute(CATALOGS).await.expect("schema");
    db.client
        .batch_execute("UPDATE catalogs SET knowledge_base_id = 'old-kb', data_source_id = 'old-ds' WHERE id = 'cat-1'")
        .await
        .expect("seed");
    let store = store_for(&db, catalog_table("catalogs", "id", Some("status")));

    for _ in 0..2 {
        let written = invoke(&store, failure("cat-1")).await.expect("recorded");
        assert_eq!(
            written,
            json!({"catalog_id": "cat-1", "action": "record_failure", "knowledge_base_id": null,
                   "data_source_id": null, "status": "FAILED", "rows_updated": 1})
        );
    }
    assert_eq!(
        rows(
            &db,
            "SELECT id, knowledge_base_id, data_source_id, status FROM catalogs ORDER BY id"
        )
        .await,
        vec![
            vec![
                Some("cat-1".into()),
                Some("old-kb".into()),
                Some("old-ds".into()),
                Some("FAILED".into())
            ],
            vec![Some("cat-2".into()), None, None, Some("PENDING".into())],
        ]
    );
}

#[tokio::test]
async fn record_failure_without_a_status_column_only_checks_the_row() {
    let db = TestDatabase::create().await;
    db.client.batch_execute(CATALOGS).await.expect("schema");
    let store = store_for(&db, catalog_table("catalogs", "id", None));
    let before = rows(&db, "SELECT * FROM catalogs ORDER BY id").await;

    let written = invoke(&store, failure("cat-1")).await.expect("row exists");
    assert_eq!(
        written,
        json!({"catalog_id": "cat-1", "action": "record_failure", "knowledge_base_id": null,
               "data_source_id": null, "status": null, "rows_updated": 0})
    );
    let error = invoke(&store, failure("cat-404")).await.expect_err("no row");
    assert_eq!(error.name, ErrorName::CatalogRowNotFound);
    assert_eq!(rows(&db, "SELECT * FROM catalogs ORDER BY id").await, before);
}

#[tokio::test]
async fn invalid_input_writes_nothing_and_does_not_connect() {
    let db = TestDatabase::create().await;
    db.client.batch_execute(CATALOGS).await.expect("schema");
    let store = store_for(&db, catalog_table("catalogs", "id", Some("status")));
    let before = rows(&db, "SELECT * FROM catalogs ORDER BY id").await;

    for event in [
        json!({"action": "record_ready", "catalog_id": "cat-1", "kb_name": "PENDING", "data_source_name": "ds"}),
        json!({"action": "record_ready", "catalog_id": "cat-1", "kb_name": "kb", "data_source_name": null}),
        json!({"action": "record_ready", "catalog_id": "cat-1", "kb_name": "kb", "data_source_name": "ds", "extra": 1}),
        json!({"action": "record_failure", "catalog_id": "cat-1"}),
        json!({"action": "delete", "catalog_id": "cat-1"}),
        json!({"action": "record_ready", "catalog_id": "", "kb_name": "kb", "data_source_name": "ds"}),
        json!(["record_ready"]),
    ] {
        let error = invoke(&store, event.clone()).await.expect_err("invalid");
        assert_eq!(error.name, ErrorName::InvalidInput, "{event}: {}", error.message);
    }
    assert_eq!(rows(&db, "SELECT * FROM catalogs ORDER BY id").await, before);
    assert!(function_backends(&db).await.is_empty(), "no connection was opened");
}

#[tokio::test]
async fn a_connection_killed_between_invocations_is_reopened() {
    let db = TestDatabase::create().await;
    db.client.batch_execute(CATALOGS).await.expect("schema");
    let store = store_for(&db, catalog_table("catalogs", "id", Some("status")));

    invoke(&store, ready("cat-1", "kb-1", "ds-1")).await.expect("first");
    let killed = function_backends(&db).await;
    assert_eq!(killed.len(), 1);
    db.client
        .execute("SELECT pg_terminate_backend($1)", &[&killed[0]])
        .await
        .expect("terminate");
    // Wait (bounded) until the backend is really gone, as after a database restart.
    let deadline = Instant::now() + Duration::from_secs(10);
    while function_backends(&db).await.contains(&killed[0]) {
        assert!(Instant::now() < deadline, "backend {} did not exit", killed[0]);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let second = invoke(&store, ready("cat-2", "kb-2", "ds-2"))
        .await
        .expect("the next invocation succeeds");
    assert_eq!(second["rows_updated"], 1);
    let now = function_backends(&db).await;
    assert_eq!(now.len(), 1);
    assert_ne!(now[0], killed[0], "a new connection");
    assert_eq!(
        rows(&db, "SELECT knowledge_base_id FROM catalogs WHERE id = 'cat-2'").await,
        vec![vec![Some("kb-2".into())]]
    );
}

#[tokio::test]
async fn a_connection_killed_while_the_function_is_frozen_is_reopened() {
    // The backend is terminated and the next statement is sent at once, before the
    // connection task can notice: the dead connection is found on use and replaced.
    let db = TestDatabase::create().await;
    db.client.batch_execute(CATALOGS).await.expect("schema");
    let store = store_for(&db, catalog_table("catalogs", "id", None));
    invoke(&store, ready("cat-1", "kb", "ds")).await.expect("first");
    for round in 0..3 {
        let pids = function_backends(&db).await;
        db.client
            .execute("SELECT pg_terminate_backend($1)", &[&pids[0]])
            .await
            .expect("terminate");
        let written = invoke(&store, ready("cat-1", &format!("kb-{round}"), "ds"))
            .await
            .unwrap_or_else(|e| panic!("round {round}: {e:?}"));
        assert_eq!(written["rows_updated"], 1);
    }
    assert_eq!(
        rows(&db, "SELECT knowledge_base_id FROM catalogs WHERE id = 'cat-1'").await,
        vec![vec![Some("kb-2".into())]]
    );
}

#[tokio::test]
async fn a_refused_connection_is_database_unavailable_with_a_safe_message() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr").port()
        // Dropped here: nothing listens on the port any more.
    };
    let store = PostgresCatalogStore::new(
        plain_server("127.0.0.1", port, "catalogdb"),
        catalog_table("catalogs", "id", None),
        Login::Password {
            user: "writer".into(),
            password: Some(Secret::new("s3cret-pa55word")),
        },
    )
    .expect("store");
    let started = Instant::now();
    let error = invoke(&store, ready("cat-1", "kb", "ds")).await.expect_err("refused");
    assert_eq!(error.name, ErrorName::DatabaseUnavailable);
    assert!(
        error.message.starts_with(&format!(
            "cannot connect to PostgreSQL at 127.0.0.1:{port} database catalogdb as writer (sslmode disable): "
        )),
        "{}",
        error.message
    );
    assert!(!error.message.contains("s3cret-pa55word"));
    assert!(
        !format!("{store:?}").contains("s3cret-pa55word"),
        "Debug never shows the password"
    );
    assert!(started.elapsed() < Duration::from_secs(3), "refused fast");
}

#[tokio::test]
async fn a_statement_timeout_is_database_unavailable_and_the_row_stays() {
    let db = TestDatabase::create().await;
    db.client.batch_execute(CATALOGS).await.expect("schema");
    let mut server = plain_server(&db.host, db.port, &db.dbname);
    server.statement_timeout = Duration::from_millis(300);
    let store = PostgresCatalogStore::new(
        server,
        catalog_table("catalogs", "id", Some("status")),
        Login::Password {
            user: db.user.clone(),
            password: db.password.clone().map(Secret::new),
        },
    )
    .expect("store");
    invoke(&store, failure("cat-2")).await.expect("connects");

    // Another session holds the row lock, so the UPDATE waits until statement_timeout.
    db.client
        .batch_execute("BEGIN; SELECT * FROM catalogs WHERE id = 'cat-1' FOR UPDATE")
        .await
        .expect("lock");
    let error = invoke(&store, ready("cat-1", "kb", "ds")).await.expect_err("timed out");
    assert_eq!(error.name, ErrorName::DatabaseUnavailable);
    assert!(error.message.contains("SQLSTATE 57014"), "{}", error.message);
    db.client.batch_execute("ROLLBACK").await.expect("unlock");
    assert_eq!(
        rows(&db, "SELECT knowledge_base_id, status FROM catalogs WHERE id = 'cat-1'").await,
        vec![vec![None, Some("PENDING".into())]]
    );
    // The connection survived the cancelled statement.
    invoke(&store, ready("cat-1", "kb", "ds"))
        .await
        .expect("written after the lock is gone");
}

#[tokio::test]
async fn a_missing_table_or_column_is_database_unavailable_naming_the_setting() {
    let db = TestDatabase::create().await;
    db.client.batch_execute(CATALOGS).await.expect("schema");

    let no_table = store_for(&db, catalog_table("catalog", "id", None));
    let error = invoke(&no_table, ready("cat-1", "kb", "ds"))
        .await
        .expect_err("no table");
    assert_eq!(error.name, ErrorName::DatabaseUnavailable);
    assert!(error.message.contains("CATALOG_TABLE"), "{}", error.message);

    let no_status = store_for(&db, catalog_table("catalogs", "id", Some("state")));
    let error = invoke(&no_status, ready("cat-1", "kb", "ds"))
        .await
        .expect_err("no column");
    assert_eq!(error.name, ErrorName::DatabaseUnavailable);
    assert!(error.message.contains("SQLSTATE 42703"), "{}", error.message);
}

#[tokio::test]
async fn values_the_column_cannot_hold_are_invalid_input() {
    let db = TestDatabase::create().await;
    db.client
        .batch_execute(
            "CREATE TABLE catalogs (id text PRIMARY KEY, knowledge_base_id varchar(8), data_source_id varchar(8));
             INSERT INTO catalogs (id) VALUES ('cat-1');",
        )
        .await
        .expect("schema");
    let store = store_for(&db, catalog_table("catalogs", "id", None));
    let error = invoke(&store, ready("cat-1", "a-much-too-long-name", "ds"))
        .await
        .expect_err("too long");
    assert_eq!(error.name, ErrorName::InvalidInput);
    assert!(error.message.contains("SQLSTATE 22001"), "{}", error.message);
    assert_eq!(
        rows(&db, "SELECT knowledge_base_id FROM catalogs").await,
        vec![vec![None]]
    );
}

#[tokio::test]
async fn a_server_that_never_answers_is_database_unavailable_after_the_connect_timeout() {
    // Accepts TCP connections and then says nothing, like a black-holed proxy.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let silent = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let mut server = plain_server("127.0.0.1", port, "catalogdb");
    server.connect_timeout = Duration::from_millis(300);
    let store = PostgresCatalogStore::new(
        server,
        catalog_table("catalogs", "id", None),
        Login::Password {
            user: "writer".into(),
            password: None,
        },
    )
    .expect("store");
    let started = Instant::now();
    let error = invoke(&store, ready("cat-1", "kb", "ds")).await.expect_err("no answer");
    assert_eq!(error.name, ErrorName::DatabaseUnavailable);
    assert!(error.message.contains("no answer within 300 ms"), "{}", error.message);
    assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
    silent.abort();
}

#[tokio::test]
async fn too_many_connections_is_database_unavailable() {
    let db = TestDatabase::create().await;
    db.client.batch_execute(CATALOGS).await.expect("schema");
    let role = format!("limited_{}", db.dbname);
    db.client
        .batch_execute(&format!(
            "CREATE ROLE \"{role}\" LOGIN PASSWORD 'limited-pw' CONNECTION LIMIT 0"
        ))
        .await
        .expect("role");
    let store = PostgresCatalogStore::new(
        plain_server(&db.host, db.port, &db.dbname),
        catalog_table("catalogs", "id", None),
        Login::Password {
            user: role.clone(),
            password: Some(Secret::new("limited-pw")),
        },
    )
    .expect("store");
    let error = invoke(&store, ready("cat-1", "kb", "ds"))
        .await
        .expect_err("over the limit");
    db.client
        .batch_execute(&format!("DROP ROLE \"{role}\""))
        .await
        .expect("drop role");
    assert_eq!(error.name, ErrorName::DatabaseUnavailable);
    assert!(error.message.contains("SQLSTATE 53300"), "{}", error.message);
}
