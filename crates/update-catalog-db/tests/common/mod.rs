//! Helpers shared by the integration tests: a store pointed at a test database, and row reads.
#![allow(dead_code)] // each test binary uses a different subset

use std::time::Duration;

use catalog_core::Secret;
use lambda_support::FunctionError;
use serde_json::Value;
use test_support::postgres::TestDatabase;
use update_catalog_db::config::ServerSettings;
use update_catalog_db::sql::{CatalogTable, Identifier, TableName};
use update_catalog_db::tls::SslMode;
use update_catalog_db::{Login, PostgresCatalogStore, handle};

/// Plain TCP, short timeouts: what a local test server needs.
pub fn plain_server(host: &str, port: u16, dbname: &str) -> ServerSettings {
    ServerSettings {
        host: host.to_owned(),
        port,
        dbname: dbname.to_owned(),
        ssl_mode: SslMode::Disable,
        root_cert_file: None,
        connect_timeout: Duration::from_secs(3),
        statement_timeout: Duration::from_secs(5),
    }
}

pub fn catalog_table(table: &str, id_column: &str, status_column: Option<&str>) -> CatalogTable {
    CatalogTable {
        table: TableName::parse(table).expect("valid table name"),
        id_column: Identifier::parse(id_column).expect("valid column name"),
        status_column: status_column.map(|c| Identifier::parse(c).expect("valid column name")),
    }
}

/// A store logged in as the test database's superuser.
pub fn store_for(db: &TestDatabase, table: CatalogTable) -> PostgresCatalogStore {
    let login = Login::Password {
        user: db.user.clone(),
        password: db.password.clone().map(Secret::new),
    };
    PostgresCatalogStore::new(plain_server(&db.host, db.port, &db.dbname), table, login).expect("store")
}

/// Runs one invocation and returns its output as JSON (what Step Functions gets).
pub async fn invoke(store: &PostgresCatalogStore, event: Value) -> Result<Value, FunctionError> {
    handle(store, &event)
        .await
        .map(|result| serde_json::to_value(result).expect("the output serializes"))
}

/// Every row of `sql`, each as text columns (NULL as None), for before/after comparisons.
pub async fn rows(db: &TestDatabase, sql: &str) -> Vec<Vec<Option<String>>> {
    db.client
        .query(sql, &[])
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .iter()
        .map(|row| (0..row.len()).map(|i| row.get::<_, Option<String>>(i)).collect())
        .collect()
}

/// The backend pids of this function's connections to `dbname`.
pub async fn function_backends(db: &TestDatabase) -> Vec<i32> {
    db.client
        .query(
            "SELECT pid FROM pg_stat_activity WHERE application_name = 'update-catalog-db' AND datname = $1",
            &[&db.dbname],
        )
        .await
        .expect("pg_stat_activity")
        .iter()
        .map(|row| row.get(0))
        .collect()
}
