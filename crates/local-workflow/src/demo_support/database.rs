//! The demo's and the bench's PostgreSQL, found as the tests find it (test-support's
//! `postgres` module): `DATABASE_URL`, else 127.0.0.1:5432, else a throwaway `initdb`
//! cluster; a fresh database with a `catalogs` table, dropped (and the cluster stopped)
//! when the [`CatalogDatabase`] is dropped.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use test_support::postgres::{Cluster, ClusterOptions, TestDatabase};
use tokio_postgres::NoTls;

/// How to get a server; part of every "no PostgreSQL" message.
pub const HOW_TO_GET_POSTGRES: &str = "set DATABASE_URL to a superuser URL (e.g. postgres://postgres@127.0.0.1:5432/postgres), \
     or start PostgreSQL on 127.0.0.1:5432 with trust authentication for user postgres, \
     or install the server binaries (Debian: apt-get install postgresql) so that a throwaway cluster can be started";

/// The `catalogs` table as the demo creates it: the columns the update function writes.
pub const CREATE_CATALOGS: &str = "CREATE TABLE catalogs (\
     id text PRIMARY KEY, \
     knowledge_base_id text, \
     data_source_id text, \
     status text NOT NULL DEFAULT 'PROVISIONING')";

/// Why no database could be had.
#[derive(Debug, thiserror::Error)]
pub enum DatabaseError {
    #[error("no PostgreSQL available: {reason}. To get one: {HOW_TO_GET_POSTGRES}")]
    Unavailable { reason: String },
    #[error("database statement failed: {0}")]
    Statement(#[from] tokio_postgres::Error),
}

/// Where the server came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerSource {
    DatabaseUrl,
    LocalServer,
    ThrowawayCluster,
}

impl fmt::Display for ServerSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ServerSource::DatabaseUrl => "the server in DATABASE_URL",
            ServerSource::LocalServer => "the local server on 127.0.0.1:5432",
            ServerSource::ThrowawayCluster => "a throwaway cluster (initdb) in a temp dir",
        })
    }
}

/// A catalog row as the update function leaves it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogRow {
    pub id: String,
    pub knowledge_base_id: Option<String>,
    pub data_source_id: Option<String>,
    pub status: String,
}

impl fmt::Display for CatalogRow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = |v: &Option<String>| v.as_ref().map_or_else(|| "NULL".to_owned(), |s| format!("{s:?}"));
        write!(
            f,
            "id={:?} knowledge_base_id={} data_source_id={} status={:?}",
            self.id,
            text(&self.knowledge_base_id),
            text(&self.data_source_id),
            self.status
        )
    }
}

/// A fresh database with an empty `catalogs` table.
pub struct CatalogDatabase {
    pub source: ServerSource,
    // Dropped before the cluster it may live on.
    pub db: TestDatabase,
    _cluster: Option<Cluster>,
}

impl fmt::Debug for CatalogDatabase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CatalogDatabase({:?} on {})", self.db, self.source)
    }
}

impl CatalogDatabase {
    /// Finds a server, creates a database and the `catalogs` table.
    pub async fn create() -> Result<CatalogDatabase, DatabaseError> {
        let (source, db, cluster) = if let Ok(url) = std::env::var("DATABASE_URL") {
            // Checked here, so that a wrong URL reads as one line rather than a panic.
            database_url_answers(&url)
                .await
                .map_err(|reason| DatabaseError::Unavailable { reason })?;
            (ServerSource::DatabaseUrl, shared_database().await?, None)
        } else if local_server_answers().await {
            (ServerSource::LocalServer, shared_database().await?, None)
        } else {
            let bin_dir = server_binaries().ok_or_else(|| DatabaseError::Unavailable {
                reason:
                    "DATABASE_URL is not set, nothing answers on 127.0.0.1:5432 and initdb/pg_ctl are not installed"
                        .to_owned(),
            })?;
            let cluster = tokio::task::spawn_blocking(|| Cluster::start(&ClusterOptions::default()))
                .await
                .map_err(|e| DatabaseError::Unavailable {
                    reason: format!(
                        "starting a throwaway cluster with the binaries in {} failed: {}",
                        bin_dir.display(),
                        panic_text(e)
                    ),
                })?;
            let db = cluster.create_database().await;
            (ServerSource::ThrowawayCluster, db, Some(cluster))
        };
        db.client.batch_execute(CREATE_CATALOGS).await?;
        Ok(CatalogDatabase {
            source,
            db,
            _cluster: cluster,
        })
    }

    /// Inserts a row in status PROVISIONING without names.
    pub async fn insert_catalog(&self, catalog_id: &str) -> Result<(), DatabaseError> {
        self.db
            .client
            .execute("INSERT INTO catalogs (id) VALUES ($1)", &[&catalog_id])
            .await?;
        Ok(())
    }

    /// The row of a catalog, if there is one.
    pub async fn row(&self, catalog_id: &str) -> Result<Option<CatalogRow>, DatabaseError> {
        let row = self
            .db
            .client
            .query_opt(
                "SELECT id, knowledge_base_id, data_source_id, status FROM catalogs WHERE id = $1",
                &[&catalog_id],
            )
            .await?;
        Ok(row.map(|row| CatalogRow {
            id: row.get(0),
            knowledge_base_id: row.get(1),
            data_source_id: row.get(2),
            status: row.get(3),
        }))
    }

    /// The update function's environment for this database (trust or password login, no TLS).
    pub fn update_function_env(&self) -> Vec<(&'static str, String)> {
        let mut env = vec![
            ("DB_HOST", self.db.host.clone()),
            ("DB_PORT", self.db.port.to_string()),
            ("DB_NAME", self.db.dbname.clone()),
            ("DB_USER", self.db.user.clone()),
            ("DB_SSLMODE", "disable".to_owned()),
            ("CATALOG_TABLE", "catalogs".to_owned()),
            ("CATALOG_ID_COLUMN", "id".to_owned()),
            ("STATUS_COLUMN", "status".to_owned()),
        ];
        if let Some(password) = &self.db.password {
            env.push(("DB_PASSWORD", password.clone()));
        }
        env
    }
}

/// A database on the server test-support finds (its own panics become an error).
async fn shared_database() -> Result<TestDatabase, DatabaseError> {
    tokio::spawn(TestDatabase::create())
        .await
        .map_err(|e| DatabaseError::Unavailable { reason: panic_text(e) })
}

/// Whether `DATABASE_URL` parses and takes a login; the reason (without the password) if not.
async fn database_url_answers(url: &str) -> Result<(), String> {
    let mut config: tokio_postgres::Config = url
        .parse()
        .map_err(|_| "DATABASE_URL is not a PostgreSQL URL (postgres://user@host:port/dbname)".to_owned())?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(Duration::from_secs(5));
    }
    let host = match config.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(host)) => host.clone(),
        Some(tokio_postgres::config::Host::Unix(path)) => path.display().to_string(),
        None => "localhost".to_owned(),
    };
    let target = format!(
        "{}@{host}:{}",
        config.get_user().unwrap_or("?"),
        config.get_ports().first().copied().unwrap_or(5432)
    );
    let (client, connection) = config.connect(NoTls).await.map_err(|e| {
        let cause = std::error::Error::source(&e).map_or_else(String::new, |c| format!(" ({c})"));
        format!("DATABASE_URL ({target}) does not answer: {e}{cause}")
    })?;
    let connection = tokio::spawn(connection);
    drop(client);
    drop(connection.await);
    Ok(())
}

/// Whether 127.0.0.1:5432 takes a password-less login as `postgres` or `root`, as
/// test-support then uses it.
async fn local_server_answers() -> bool {
    for user in ["postgres", "root"] {
        let mut config = tokio_postgres::Config::new();
        config
            .host("127.0.0.1")
            .port(5432)
            .user(user)
            .dbname("postgres")
            .connect_timeout(Duration::from_secs(2));
        if let Ok((client, connection)) = config.connect(NoTls).await {
            let connection = tokio::spawn(connection);
            let superuser = client
                .query_one("SELECT rolsuper FROM pg_roles WHERE rolname = current_user", &[])
                .await
                .is_ok_and(|row| row.get::<_, bool>(0));
            drop(client);
            drop(connection.await);
            if superuser {
                return true;
            }
        }
    }
    false
}

/// Where `initdb` and `pg_ctl` are (PATH, then the Debian layout), as test-support looks.
fn server_binaries() -> Option<PathBuf> {
    let has_both = |dir: &Path| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file();
    let on_path = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .unwrap_or_default();
    on_path.into_iter().find(|d| has_both(d)).or_else(|| {
        std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .flatten()
            .map(|entry| entry.path().join("bin"))
            .find(|bin| has_both(bin))
    })
}

fn panic_text(error: tokio::task::JoinError) -> String {
    match error.try_into_panic() {
        Ok(panic) => panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_else(|| "a panic without a message".to_owned()),
        Err(e) => e.to_string(),
    }
}
