//! Logging in with a real password on a cluster that checks it (SCRAM-SHA-256), and
//! with the RDS-shaped secret from moto's Secrets Manager, including a rotation.

mod common;

use catalog_core::{ErrorName, Secret};
use common::{catalog_table, function_backends, invoke, plain_server, rows};
use lambda_support::secrets::{SecretSource, secrets_manager_client_from};
use serde_json::json;
use test_support::moto::MotoServer;
use test_support::postgres::{Cluster, ClusterOptions, HbaAuth, TestDatabase};
use update_catalog_db::{Login, PostgresCatalogStore};

async fn scram_cluster() -> Cluster {
    tokio::task::spawn_blocking(|| {
        Cluster::start(&ClusterOptions {
            auth: HbaAuth::ScramSha256,
            tls: None,
        })
    })
    .await
    .expect("cluster started")
}

/// A catalogs table and a role `writer` that may update it, with `password`.
async fn catalogs_with_writer(db: &TestDatabase, password: &str) {
    db.client
        .batch_execute(
            "CREATE TABLE catalogs (id text PRIMARY KEY, knowledge_base_id text, data_source_id text, status text);
             INSERT INTO catalogs (id) VALUES ('cat-1');
             CREATE ROLE writer LOGIN;
             GRANT SELECT, UPDATE ON catalogs TO writer;",
        )
        .await
        .expect("schema and role");
    set_password(db, password).await;
}

async fn set_password(db: &TestDatabase, password: &str) {
    // ALTER ROLE takes no parameters; the test's passwords are plain ASCII without quotes.
    assert!(password.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
    db.client
        .batch_execute(&format!("ALTER ROLE writer PASSWORD '{password}'"))
        .await
        .expect("set the password");
}

fn ready(kb: &str) -> serde_json::Value {
    json!({"action": "record_ready", "catalog_id": "cat-1", "kb_name": kb, "data_source_name": "ds"})
}

#[tokio::test]
async fn a_real_password_is_checked() {
    let cluster = scram_cluster().await;
    let db = cluster.create_database().await;
    catalogs_with_writer(&db, "right-horse-battery").await;
    let store_with = |password: &str| {
        PostgresCatalogStore::new(
            plain_server(&db.host, db.port, &db.dbname),
            catalog_table("catalogs", "id", Some("status")),
            Login::Password {
                user: "writer".into(),
                password: Some(Secret::new(password)),
            },
        )
        .expect("store")
    };

    let written = invoke(&store_with("right-horse-battery"), ready("kb"))
        .await
        .expect("the right password logs in");
    assert_eq!(written["rows_updated"], 1);

    let error = invoke(&store_with("wrong-staple"), ready("kb-2"))
        .await
        .expect_err("a wrong password is refused");
    assert_eq!(error.name, ErrorName::DatabaseUnavailable);
    assert!(error.message.contains("as writer"), "{}", error.message);
    assert!(error.message.contains("SQLSTATE 28P01"), "{}", error.message);
    assert!(!error.message.contains("wrong-staple") && !error.message.contains("right-horse"));
    assert_eq!(
        rows(&db, "SELECT knowledge_base_id FROM catalogs").await,
        vec![vec![Some("kb".into())]]
    );
}

#[tokio::test]
async fn the_secret_is_read_from_secrets_manager_and_refetched_after_rotation() {
    let cluster = scram_cluster().await;
    let db = cluster.create_database().await;
    catalogs_with_writer(&db, "first-password").await;
    let moto = tokio::task::spawn_blocking(MotoServer::start)
        .await
        .expect("moto started");
    let secrets = secrets_manager_client_from(&moto.sdk_config().await);
    let arn = secrets
        .create_secret()
        .name("rds-db-credentials/catalogs")
        .secret_string(json!({"username": "writer", "password": "first-password", "engine": "postgres"}).to_string())
        .send()
        .await
        .expect("create the secret")
        .arn
        .expect("an ARN");

    let store = PostgresCatalogStore::new(
        plain_server(&db.host, db.port, &db.dbname),
        catalog_table("catalogs", "id", Some("status")),
        Login::Secret {
            source: SecretSource::secrets_manager(secrets.clone(), arn.clone()),
            // The secret's username wins over DB_USER.
            default_user: Some("not_a_role".into()),
        },
    )
    .expect("store");
    invoke(&store, ready("kb-1")).await.expect("logs in with the secret");

    // Rotation: the role's password and the secret change; the store's connection is
    // dropped (as when the container is frozen for long), and its cached secret is stale.
    set_password(&db, "second-password").await;
    secrets
        .put_secret_value()
        .secret_id(&arn)
        .secret_string(json!({"username": "writer", "password": "second-password"}).to_string())
        .send()
        .await
        .expect("rotate the secret");
    for pid in function_backends(&db).await {
        db.client
            .execute("SELECT pg_terminate_backend($1)", &[&pid])
            .await
            .expect("terminate");
    }
    let written = invoke(&store, ready("kb-2"))
        .await
        .expect("the stale password is refused, the secret fetched again, and the login succeeds");
    assert_eq!(written["rows_updated"], 1);
    assert_eq!(
        rows(&db, "SELECT knowledge_base_id FROM catalogs").await,
        vec![vec![Some("kb-2".into())]]
    );

    // A secret that is simply wrong: one refetch, then DatabaseUnavailable, and the
    // message names the role but no password.
    set_password(&db, "third-password").await;
    for pid in function_backends(&db).await {
        db.client
            .execute("SELECT pg_terminate_backend($1)", &[&pid])
            .await
            .expect("terminate");
    }
    let error = invoke(&store, ready("kb-3")).await.expect_err("refused");
    assert_eq!(error.name, ErrorName::DatabaseUnavailable);
    assert!(error.message.contains("as writer"), "{}", error.message);
    assert!(error.message.contains("SQLSTATE 28P01"), "{}", error.message);
    for password in ["first-password", "second-password", "third-password"] {
        assert!(!error.message.contains(password), "{}", error.message);
    }
    assert_eq!(
        rows(&db, "SELECT knowledge_base_id FROM catalogs").await,
        vec![vec![Some("kb-2".into())]]
    );
}

#[tokio::test]
async fn a_secret_without_a_password_is_database_unavailable_without_quoting_it() {
    let moto = tokio::task::spawn_blocking(MotoServer::start)
        .await
        .expect("moto started");
    let secrets = secrets_manager_client_from(&moto.sdk_config().await);
    let arn = secrets
        .create_secret()
        .name("not-rds-shaped")
        .secret_string("plain-text-secret-value")
        .send()
        .await
        .expect("create the secret")
        .arn
        .expect("an ARN");
    let store = PostgresCatalogStore::new(
        plain_server("127.0.0.1", 5432, "postgres"),
        catalog_table("catalogs", "id", None),
        Login::Secret {
            source: SecretSource::secrets_manager(secrets, arn.clone()),
            default_user: None,
        },
    )
    .expect("store");
    let error = invoke(&store, ready("kb")).await.expect_err("unusable secret");
    assert_eq!(error.name, ErrorName::DatabaseUnavailable);
    assert!(error.message.contains(&arn), "{}", error.message);
    assert!(error.message.contains("\"password\""), "{}", error.message);
    assert!(!error.message.contains("plain-text-secret-value"), "{}", error.message);
}
