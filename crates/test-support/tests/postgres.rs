//! The PostgreSQL harness against a real server: fresh databases, and throwaway clusters.

use test_support::postgres::{Cluster, ClusterOptions, HbaAuth, TestDatabase};

#[tokio::test]
async fn each_test_database_is_fresh_and_dropped_afterwards() {
    let first = TestDatabase::create().await;
    let second = TestDatabase::create().await;
    assert_ne!(first.dbname, second.dbname);
    first
        .client
        .batch_execute("CREATE TABLE t (x int); INSERT INTO t VALUES (1)")
        .await
        .expect("create a table");
    let tables: i64 = second
        .client
        .query_one("SELECT count(*) FROM pg_tables WHERE tablename = 't'", &[])
        .await
        .expect("count tables")
        .get(0);
    assert_eq!(tables, 0, "databases are independent");

    let name = first.dbname.clone();
    drop(first);
    let exists: i64 = second
        .client
        .query_one("SELECT count(*) FROM pg_database WHERE datname = $1", &[&name])
        .await
        .expect("look the database up")
        .get(0);
    assert_eq!(exists, 0, "dropping a TestDatabase drops its database");
}

#[tokio::test]
async fn a_scram_cluster_checks_passwords() {
    let cluster = tokio::task::spawn_blocking(|| {
        Cluster::start(&ClusterOptions {
            auth: HbaAuth::ScramSha256,
            tls: None,
        })
    })
    .await
    .expect("cluster started");
    let db = cluster.create_database().await;
    let one: i32 = db.client.query_one("SELECT 1", &[]).await.expect("query").get(0);
    assert_eq!(one, 1);

    let mut wrong = cluster.config(&db.dbname);
    wrong.password("not-the-password");
    let refused = wrong
        .connect(tokio_postgres::NoTls)
        .await
        .err()
        .expect("a wrong password is refused");
    assert_eq!(
        refused.code(),
        Some(&tokio_postgres::error::SqlState::INVALID_PASSWORD),
        "{refused}"
    );
}
