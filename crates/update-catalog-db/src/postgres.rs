//! The PostgreSQL adapter of [`CatalogStore`]: one connection per container, reused
//! across warm invocations, re-opened when it was lost, errors classified by SQLSTATE.
//!
//! Connection life: the first invocation connects (TLS per [`crate::tls`]), sets
//! `statement_timeout`, looks up the id column's type and prepares the two
//! statements. Later invocations reuse it. A connection found closed is re-opened
//! before the statement; one that turns out to be dead when used (the server
//! restarted, RDS Proxy dropped it, the container thawed after a long freeze) is
//! re-opened and the statement sent once more. That retry is safe because both
//! statements are idempotent (they set fixed values), whether or not the first try
//! reached the server.
//!
//! Login: `DB_USER`/`DB_PASSWORD`, or the Secrets Manager secret (fetched once per
//! container). When the server refuses the login (SQLSTATE 28P01/28000) and the
//! password came from a secret, the secret is fetched again once and the login
//! retried: RDS rotates managed passwords.

use std::error::Error as _;
use std::time::{Duration, Instant};

use catalog_core::{CatalogId, Secret};
use lambda_support::secrets::SecretSource;
use tokio::sync::Mutex;
use tokio::time::timeout;
use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, Statement};
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::config::ServerSettings;
use crate::sql::{CatalogTable, KeyType, STATUS_FAILED, STATUS_READY};
use crate::store::{CatalogStore, StoreError, StoreWrite};
use crate::tls::{self, TlsError};

/// How long the client waits past the server's `statement_timeout` before it gives up
/// on the connection itself (a server that does not answer at all).
const CLIENT_TIMEOUT_MARGIN: Duration = Duration::from_secs(1);

/// The id column's (base) type, for the key of [`CatalogTable`].
const KEY_TYPE_QUERY: &str = "SELECT format_type(COALESCE(NULLIF(t.typbasetype, 0), t.oid), NULL) \
     FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid \
     WHERE a.attrelid = to_regclass($1::text) AND a.attname = $2::text AND a.attnum > 0 AND NOT a.attisdropped";

/// How the store logs in.
#[derive(Debug)]
pub enum Login {
    /// A fixed role and password (none: the server trusts the connection).
    Password { user: String, password: Option<Secret> },
    /// A Secrets Manager secret `{"username"?, "password"}`; `default_user` when it has
    /// no `username`.
    Secret {
        source: SecretSource,
        default_user: Option<String>,
    },
}

/// The PostgreSQL catalog store.
pub struct PostgresCatalogStore {
    server: ServerSettings,
    table: CatalogTable,
    login: Login,
    tls: MakeRustlsConnect,
    session: Mutex<Option<Session>>,
}

impl std::fmt::Debug for PostgresCatalogStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresCatalogStore")
            .field("server", &self.server)
            .field("table", &self.table)
            .field("login", &self.login)
            .finish_non_exhaustive()
    }
}

/// An open connection with what was prepared on it.
#[derive(Debug)]
struct Session {
    client: Client,
    key: KeyType,
    record_ready: Statement,
    record_failure: Statement,
}

/// Which write an invocation asks for.
#[derive(Debug, Clone, Copy)]
enum Write<'a> {
    Ready {
        knowledge_base_id: &'a str,
        data_source_id: &'a str,
    },
    Failure,
}

/// What a statement ran into, before it becomes a [`StoreError`].
#[derive(Debug)]
enum Failure {
    RowNotFound,
    Postgres(tokio_postgres::Error),
    TimedOut,
}

impl PostgresCatalogStore {
    /// Builds the store; nothing is connected until the first write. Reads the root
    /// certificate bundle now, so a bad `DB_SSLROOTCERT` fails at start-up.
    pub fn new(server: ServerSettings, table: CatalogTable, login: Login) -> Result<PostgresCatalogStore, TlsError> {
        let tls = tls::connector(server.ssl_mode, server.root_cert_file.as_deref())?;
        Ok(PostgresCatalogStore {
            server,
            table,
            login,
            tls,
            session: Mutex::new(None),
        })
    }

    async fn write(&self, catalog_id: &CatalogId, write: Write<'_>) -> Result<StoreWrite, StoreError> {
        let mut slot = self.session.lock().await;
        let reused = match slot.as_ref() {
            Some(session) if !session.client.is_closed() => true,
            Some(_) => {
                tracing::info!("the database connection closed since the last invocation; opening a new one");
                *slot = None;
                false
            }
            None => false,
        };
        if slot.is_none() {
            *slot = Some(self.open().await?);
        }
        let first = self
            .execute(slot.as_ref().expect("opened above"), catalog_id, write)
            .await;
        let outcome = match first {
            Err(Failure::Postgres(error)) if reused && connection_lost(&error) => {
                tracing::warn!(
                    error = %describe(&error),
                    "the reused database connection was dead; opening a new one and sending the statement again"
                );
                *slot = None;
                *slot = Some(self.open().await?);
                self.execute(slot.as_ref().expect("opened above"), catalog_id, write)
                    .await
            }
            other => other,
        };
        outcome.map_err(|failure| {
            let drop_connection = match &failure {
                Failure::TimedOut => true,
                Failure::Postgres(error) => connection_lost(error),
                Failure::RowNotFound => false,
            };
            if drop_connection {
                *slot = None;
            }
            self.store_error(catalog_id, failure)
        })
    }

    async fn execute(
        &self,
        session: &Session,
        catalog_id: &CatalogId,
        write: Write<'_>,
    ) -> Result<StoreWrite, Failure> {
        let id = catalog_id.as_str();
        if !session.key.admits(id) {
            return Err(Failure::RowNotFound);
        }
        let has_status = self.table.status_column.is_some();
        let statement = async {
            match write {
                Write::Ready {
                    knowledge_base_id,
                    data_source_id,
                } => {
                    let rows = session
                        .client
                        .execute(&session.record_ready, &[&id, &knowledge_base_id, &data_source_id])
                        .await?;
                    Ok((rows, rows, has_status.then_some(STATUS_READY)))
                }
                Write::Failure if has_status => {
                    let rows = session.client.execute(&session.record_failure, &[&id]).await?;
                    Ok((rows, rows, Some(STATUS_FAILED)))
                }
                Write::Failure => {
                    let found = session.client.query(&session.record_failure, &[&id]).await?;
                    Ok((found.len() as u64, 0, None))
                }
            }
        };
        let (matched, rows_updated, status) = timeout(self.client_timeout(), statement)
            .await
            .map_err(|_| Failure::TimedOut)?
            .map_err(Failure::Postgres)?;
        if matched == 0 {
            return Err(Failure::RowNotFound);
        }
        Ok(StoreWrite { rows_updated, status })
    }

    /// Connects (retrying once with a fresh secret when the login is refused) and
    /// prepares the session.
    async fn open(&self) -> Result<Session, StoreError> {
        let started = Instant::now();
        let (user, password) = self.credentials(false).await?;
        let client = match self.connect(&user, password.as_ref()).await {
            Err(StoreError::AuthenticationFailed { detail }) if matches!(self.login, Login::Secret { .. }) => {
                tracing::warn!(
                    error = %detail,
                    "the database refused the login with the cached secret; fetching the secret again (it may have been rotated)"
                );
                let (user, password) = self.credentials(true).await?;
                self.connect(&user, password.as_ref()).await?
            }
            other => other?,
        };
        let session = timeout(self.client_timeout(), self.prepare(client, &user))
            .await
            .map_err(|_| StoreError::Unavailable {
                detail: format!(
                    "{}: no answer while preparing the session within {} ms",
                    self.target(&user),
                    self.client_timeout().as_millis()
                ),
            })??;
        tracing::info!(
            host = %self.server.host,
            port = self.server.port,
            dbname = %self.server.dbname,
            user = %user,
            sslmode = %self.server.ssl_mode,
            key_type = ?session.key,
            elapsed_ms = started.elapsed().as_millis(),
            "connected to PostgreSQL"
        );
        Ok(session)
    }

    async fn credentials(&self, refresh: bool) -> Result<(String, Option<Secret>), StoreError> {
        match &self.login {
            Login::Password { user, password } => Ok((user.clone(), password.clone())),
            Login::Secret { source, default_user } => {
                let secret = if refresh {
                    source.refresh().await
                } else {
                    source.current().await
                }
                .map_err(|e| StoreError::Unavailable {
                    detail: format!("cannot read the database secret: {e}"),
                })?;
                let password = source
                    .json_field(&secret, "password")
                    .map_err(|e| StoreError::Misconfigured { detail: e.to_string() })?;
                let user = match source.json_field(&secret, "username") {
                    Ok(user) => user.expose().to_owned(),
                    Err(_) => default_user.clone().ok_or_else(|| StoreError::Misconfigured {
                        detail: format!(
                            "secret {} has no \"username\" and DB_USER is not set",
                            source.describe()
                        ),
                    })?,
                };
                Ok((user, Some(password)))
            }
        }
    }

    async fn connect(&self, user: &str, password: Option<&Secret>) -> Result<Client, StoreError> {
        let mut config = tokio_postgres::Config::new();
        config
            .host(&self.server.host)
            .port(self.server.port)
            .dbname(&self.server.dbname)
            .user(user)
            .application_name("update-catalog-db")
            .ssl_mode(self.server.ssl_mode.negotiation())
            .connect_timeout(self.server.connect_timeout);
        if let Some(password) = password {
            config.password(password.expose());
        }
        let connected = timeout(self.server.connect_timeout, config.connect(self.tls.clone())).await;
        let (client, connection) = match connected {
            Err(_) => {
                return Err(StoreError::Unavailable {
                    detail: format!(
                        "cannot connect to {}: no answer within {} ms (DB_CONNECT_TIMEOUT_MS)",
                        self.target(user),
                        self.server.connect_timeout.as_millis()
                    ),
                });
            }
            Ok(Err(error)) => {
                let detail = format!("cannot connect to {}: {}", self.target(user), describe(&error));
                return Err(match classify(&error) {
                    Trouble::Authentication => StoreError::AuthenticationFailed { detail },
                    Trouble::Misconfigured | Trouble::ValuesRejected => StoreError::Misconfigured { detail },
                    Trouble::Unavailable | Trouble::ConnectionLost => StoreError::Unavailable { detail },
                });
            }
            Ok(Ok(pair)) => pair,
        };
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::warn!(error = %describe(&error), "the database connection ended");
            }
        });
        Ok(client)
    }

    async fn prepare(&self, client: Client, user: &str) -> Result<Session, StoreError> {
        let failed = |error: tokio_postgres::Error| {
            let detail = format!("{}: {}", self.target(user), describe(&error));
            match classify(&error) {
                Trouble::Misconfigured | Trouble::ValuesRejected | Trouble::Authentication => {
                    StoreError::Misconfigured { detail }
                }
                Trouble::Unavailable | Trouble::ConnectionLost => StoreError::Unavailable { detail },
            }
        };
        client
            .batch_execute(&format!(
                "SET statement_timeout = {}",
                self.server.statement_timeout.as_millis()
            ))
            .await
            .map_err(failed)?;
        let table = self.table.table.to_string();
        let column = self.table.id_column.as_str();
        let key_type: Option<String> = client
            .query_opt(KEY_TYPE_QUERY, &[&table, &column])
            .await
            .map_err(failed)?
            .map(|row| row.get(0));
        let key = match key_type {
            None => {
                return Err(StoreError::Misconfigured {
                    detail: format!(
                        "{}: table {table} (CATALOG_TABLE) with column {} (CATALOG_ID_COLUMN) does not exist or is not visible to the role",
                        self.target(user),
                        self.table.id_column
                    ),
                });
            }
            Some(type_name) => KeyType::from_sql_type(&type_name).ok_or_else(|| StoreError::Misconfigured {
                detail: format!(
                    "column {} of {table} has type {type_name}; supported key types are text, varchar, char, citext, uuid, smallint, integer and bigint",
                    self.table.id_column
                ),
            })?,
        };
        let statements = self.table.statements(key);
        let record_ready = client.prepare(&statements.record_ready).await.map_err(failed)?;
        let record_failure = client.prepare(&statements.record_failure).await.map_err(failed)?;
        Ok(Session {
            client,
            key,
            record_ready,
            record_failure,
        })
    }

    fn client_timeout(&self) -> Duration {
        self.server.statement_timeout + CLIENT_TIMEOUT_MARGIN
    }

    /// `PostgreSQL at host:port database db as user (sslmode m)`, for messages.
    fn target(&self, user: &str) -> String {
        format!(
            "PostgreSQL at {}:{} database {} as {user} (sslmode {})",
            self.server.host, self.server.port, self.server.dbname, self.server.ssl_mode
        )
    }

    fn store_error(&self, catalog_id: &CatalogId, failure: Failure) -> StoreError {
        match failure {
            Failure::RowNotFound => StoreError::RowNotFound {
                table: self.table.table.to_string(),
                column: self.table.id_column.to_string(),
                catalog_id: catalog_id.to_string(),
            },
            Failure::TimedOut => StoreError::Unavailable {
                detail: format!(
                    "PostgreSQL at {}:{} did not answer the statement within {} ms",
                    self.server.host,
                    self.server.port,
                    self.client_timeout().as_millis()
                ),
            },
            Failure::Postgres(error) => {
                let detail = format!(
                    "statement on PostgreSQL at {}:{} database {} failed: {}",
                    self.server.host,
                    self.server.port,
                    self.server.dbname,
                    describe(&error)
                );
                match classify(&error) {
                    Trouble::ValuesRejected => StoreError::ValuesRejected {
                        catalog_id: catalog_id.to_string(),
                        detail,
                    },
                    Trouble::Misconfigured | Trouble::Authentication => StoreError::Misconfigured { detail },
                    Trouble::Unavailable | Trouble::ConnectionLost => StoreError::Unavailable { detail },
                }
            }
        }
    }
}

impl CatalogStore for PostgresCatalogStore {
    async fn record_ready(
        &self,
        catalog_id: &CatalogId,
        knowledge_base_id: &str,
        data_source_id: &str,
    ) -> Result<StoreWrite, StoreError> {
        self.write(
            catalog_id,
            Write::Ready {
                knowledge_base_id,
                data_source_id,
            },
        )
        .await
    }

    async fn record_failure(&self, catalog_id: &CatalogId) -> Result<StoreWrite, StoreError> {
        self.write(catalog_id, Write::Failure).await
    }
}

/// What kind of trouble an error is, which decides its error name and whether the
/// connection is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trouble {
    /// The connection is gone (class 08, admin/crash shutdown, I/O error, closed):
    /// transient, and the connection must be re-opened.
    ConnectionLost,
    /// Transient: too many connections, timeouts, serialization failures, deadlocks,
    /// a read-only server (a failover in progress), resource shortages, internal errors.
    Unavailable,
    /// The login was refused (28000, 28P01).
    Authentication,
    /// The database does not match the configuration (class 42, 3D000, 0A000).
    Misconfigured,
    /// The values were refused (class 22 data exception, class 23 constraint violation).
    ValuesRejected,
}

/// Classifies a SQLSTATE. Unknown codes count as transient: the state machine retries
/// them a bounded number of times and then records the failure.
pub fn classify_sqlstate(state: &SqlState) -> Trouble {
    let code = state.code();
    match code {
        "57P01" | "57P02" | "57P03" | "25P03" => Trouble::ConnectionLost,
        "28000" | "28P01" => Trouble::Authentication,
        "3D000" | "3F000" | "0A000" => Trouble::Misconfigured,
        _ => match &code[..2.min(code.len())] {
            "08" => Trouble::ConnectionLost,
            "42" => Trouble::Misconfigured,
            "22" | "23" => Trouble::ValuesRejected,
            // 53 insufficient resources (53300 too many connections), 57 operator
            // intervention (57014 statement timeout), 40 rollbacks (40001, 40P01),
            // 55 lock not available, 25 read-only transaction, 58 system errors, XX internal.
            _ => Trouble::Unavailable,
        },
    }
}

/// Classifies any tokio-postgres error: by SQLSTATE when the server sent one, else by
/// what failed on the client side (never by message text).
pub fn classify(error: &tokio_postgres::Error) -> Trouble {
    if let Some(state) = error.code() {
        return classify_sqlstate(state);
    }
    if error.is_closed() || source_chain(error).any(<dyn std::error::Error>::is::<std::io::Error>) {
        return Trouble::ConnectionLost;
    }
    if source_chain(error).any(<dyn std::error::Error>::is::<tokio_postgres::types::WrongType>) {
        // A parameter does not fit the column's type (e.g. knowledge_base_id is not text).
        return Trouble::Misconfigured;
    }
    Trouble::Unavailable
}

fn connection_lost(error: &tokio_postgres::Error) -> bool {
    classify(error) == Trouble::ConnectionLost
}

fn source_chain(error: &tokio_postgres::Error) -> impl Iterator<Item = &(dyn std::error::Error + 'static)> {
    std::iter::successors(error.source(), |e| (*e).source())
}

/// A message safe for on-call: the server's message and SQLSTATE, or the client-side
/// cause chain (I/O, TLS). Neither ever holds the password: it is only sent, in the
/// authentication exchange, and no error quotes it.
pub fn describe(error: &tokio_postgres::Error) -> String {
    if let Some(db) = error.as_db_error() {
        let mut text = format!("{} {} (SQLSTATE {})", db.severity(), db.message(), db.code().code());
        if let Some(column) = db.column() {
            text.push_str(", column ");
            text.push_str(column);
        }
        if let Some(constraint) = db.constraint() {
            text.push_str(", constraint ");
            text.push_str(constraint);
        }
        return text;
    }
    let mut text = error.to_string();
    for cause in source_chain(error) {
        text.push_str(": ");
        text.push_str(&cause.to_string());
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlstates_are_classified_by_code() {
        let cases = [
            (SqlState::TOO_MANY_CONNECTIONS, Trouble::Unavailable),
            (SqlState::ADMIN_SHUTDOWN, Trouble::ConnectionLost),
            (SqlState::CRASH_SHUTDOWN, Trouble::ConnectionLost),
            (SqlState::CANNOT_CONNECT_NOW, Trouble::ConnectionLost),
            (SqlState::IDLE_IN_TRANSACTION_SESSION_TIMEOUT, Trouble::ConnectionLost),
            (SqlState::T_R_SERIALIZATION_FAILURE, Trouble::Unavailable),
            (SqlState::T_R_DEADLOCK_DETECTED, Trouble::Unavailable),
            (SqlState::CONNECTION_EXCEPTION, Trouble::ConnectionLost),
            (SqlState::CONNECTION_FAILURE, Trouble::ConnectionLost),
            (
                SqlState::SQLCLIENT_UNABLE_TO_ESTABLISH_SQLCONNECTION,
                Trouble::ConnectionLost,
            ),
            (SqlState::QUERY_CANCELED, Trouble::Unavailable),
            (SqlState::LOCK_NOT_AVAILABLE, Trouble::Unavailable),
            (SqlState::READ_ONLY_SQL_TRANSACTION, Trouble::Unavailable),
            (SqlState::DISK_FULL, Trouble::Unavailable),
            (SqlState::OUT_OF_MEMORY, Trouble::Unavailable),
            (SqlState::INTERNAL_ERROR, Trouble::Unavailable),
            (SqlState::INVALID_PASSWORD, Trouble::Authentication),
            (SqlState::INVALID_AUTHORIZATION_SPECIFICATION, Trouble::Authentication),
            (SqlState::UNDEFINED_TABLE, Trouble::Misconfigured),
            (SqlState::UNDEFINED_COLUMN, Trouble::Misconfigured),
            (SqlState::INSUFFICIENT_PRIVILEGE, Trouble::Misconfigured),
            (SqlState::INVALID_CATALOG_NAME, Trouble::Misconfigured),
            (SqlState::STRING_DATA_RIGHT_TRUNCATION, Trouble::ValuesRejected),
            (SqlState::INVALID_TEXT_REPRESENTATION, Trouble::ValuesRejected),
            (SqlState::CHECK_VIOLATION, Trouble::ValuesRejected),
            (SqlState::from_code("99999"), Trouble::Unavailable),
        ];
        for (state, expected) in cases {
            assert_eq!(classify_sqlstate(&state), expected, "{}", state.code());
        }
    }
}
