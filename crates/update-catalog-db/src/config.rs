//! The function's configuration, read once from the environment in `main`.
//!
//! | variable | default | meaning |
//! | --- | --- | --- |
//! | `DB_HOST` | required | server host name (the name `verify-full` checks) |
//! | `DB_PORT` | 5432 | |
//! | `DB_NAME` | required | database |
//! | `DB_USER` | required unless the secret has `username` | role |
//! | `DB_PASSWORD` | none | password (local use); conflicts with `DB_SECRET_ARN` |
//! | `DB_SECRET_ARN` | none | Secrets Manager secret `{"username"?, "password"}` (the RDS shape); its `username` overrides `DB_USER` |
//! | `DB_SSLMODE` | `verify-full` | `disable`, `prefer`, `require` or `verify-full` (see [`crate::tls`]) |
//! | `DB_SSLROOTCERT` | none | PEM bundle of trusted roots for `verify-full` (e.g. the RDS global bundle) |
//! | `CATALOG_TABLE` | `catalogs` | `table` or `schema.table` |
//! | `CATALOG_ID_COLUMN` | `id` | key column: text, varchar, char, citext, uuid, smallint, integer or bigint |
//! | `STATUS_COLUMN` | none | set to `READY` / `FAILED` when configured |
//! | `DB_CONNECT_TIMEOUT_MS` | 3000 | TCP connect + TLS + authentication |
//! | `DB_STATEMENT_TIMEOUT_MS` | 5000 | server-side `statement_timeout`; the client gives up 1 s later |
//!
//! Identifiers must match `^[A-Za-z_][A-Za-z0-9_]{0,62}$` and are used double-quoted,
//! so they are case-sensitive as written.

use std::path::PathBuf;
use std::time::Duration;

use catalog_core::Secret;
use lambda_support::config::{ConfigError, Environment};

use crate::sql::{CatalogTable, Identifier, TableName};
use crate::tls::SslMode;

pub const DEFAULT_PORT: u16 = 5432;
pub const DEFAULT_TABLE: &str = "catalogs";
pub const DEFAULT_ID_COLUMN: &str = "id";
pub const DEFAULT_CONNECT_TIMEOUT_MS: u64 = 3000;
pub const DEFAULT_STATEMENT_TIMEOUT_MS: u64 = 5000;

/// Where the server is and how long to wait for it. Holds no secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerSettings {
    pub host: String,
    pub port: u16,
    pub dbname: String,
    pub ssl_mode: SslMode,
    pub root_cert_file: Option<PathBuf>,
    pub connect_timeout: Duration,
    pub statement_timeout: Duration,
}

/// Who to log in as, before any secret is fetched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginSettings {
    /// `DB_USER` with `DB_PASSWORD`, or with no password (a server with trust auth).
    Password { user: String, password: Option<Secret> },
    /// `DB_SECRET_ARN`; `DB_USER` (if set) is used when the secret has no `username`.
    SecretArn { arn: String, user: Option<String> },
}

/// Everything `main` needs to build the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateConfig {
    pub server: ServerSettings,
    pub login: LoginSettings,
    pub table: CatalogTable,
}

impl UpdateConfig {
    pub fn from_env(env: &Environment) -> Result<UpdateConfig, ConfigError> {
        let invalid = |name: &str, reason: String| ConfigError::Invalid {
            name: name.to_owned(),
            reason,
        };
        let ssl_mode = match env.optional("DB_SSLMODE")? {
            None => SslMode::default(),
            Some(text) => text.trim().parse().map_err(|()| {
                invalid(
                    "DB_SSLMODE",
                    format!(
                        "{:?} is not one of disable, prefer, require, verify-full",
                        text.chars().take(40).collect::<String>()
                    ),
                )
            })?,
        };
        let root_cert_file = env.optional("DB_SSLROOTCERT")?.map(PathBuf::from);
        if root_cert_file.is_some() && ssl_mode != SslMode::VerifyFull {
            return Err(invalid(
                "DB_SSLROOTCERT",
                format!("is used only with DB_SSLMODE=verify-full (DB_SSLMODE is {ssl_mode})"),
            ));
        }
        let server = ServerSettings {
            host: env.required("DB_HOST")?.trim().to_owned(),
            port: u16::try_from(env.u64_in("DB_PORT", u64::from(DEFAULT_PORT), 1..=65_535)?)
                .expect("the range fits u16"),
            dbname: env.required("DB_NAME")?,
            ssl_mode,
            root_cert_file,
            connect_timeout: Duration::from_millis(env.u64_in(
                "DB_CONNECT_TIMEOUT_MS",
                DEFAULT_CONNECT_TIMEOUT_MS,
                100..=60_000,
            )?),
            statement_timeout: Duration::from_millis(env.u64_in(
                "DB_STATEMENT_TIMEOUT_MS",
                DEFAULT_STATEMENT_TIMEOUT_MS,
                100..=600_000,
            )?),
        };

        let user = env.optional("DB_USER")?;
        let login = match (env.optional("DB_PASSWORD")?, env.optional("DB_SECRET_ARN")?) {
            (Some(_), Some(_)) => {
                return Err(ConfigError::Conflict {
                    first: "DB_PASSWORD".into(),
                    second: "DB_SECRET_ARN".into(),
                });
            }
            (_, Some(arn)) => LoginSettings::SecretArn {
                arn: arn.trim().to_owned(),
                user,
            },
            (password, None) => LoginSettings::Password {
                user: user.ok_or_else(|| ConfigError::Missing { name: "DB_USER".into() })?,
                password: password.map(Secret::new),
            },
        };

        let identifier = |name: &str, default: &str| -> Result<Identifier, ConfigError> {
            let text = env.optional(name)?.unwrap_or_else(|| default.to_owned());
            Identifier::parse(text.trim()).map_err(|e| invalid(name, e.to_string()))
        };
        let table_text = env
            .optional("CATALOG_TABLE")?
            .unwrap_or_else(|| DEFAULT_TABLE.to_owned());
        let table = CatalogTable {
            table: TableName::parse(table_text.trim()).map_err(|e| invalid("CATALOG_TABLE", e.to_string()))?,
            id_column: identifier("CATALOG_ID_COLUMN", DEFAULT_ID_COLUMN)?,
            status_column: match env.optional("STATUS_COLUMN")? {
                None => None,
                Some(text) => {
                    Some(Identifier::parse(text.trim()).map_err(|e| invalid("STATUS_COLUMN", e.to_string()))?)
                }
            },
        };
        Ok(UpdateConfig { server, login, table })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Environment {
        Environment::from_pairs(pairs.iter().map(|(k, v)| (*k, *v)))
    }

    #[test]
    fn defaults() {
        let config = UpdateConfig::from_env(&env(&[
            ("DB_HOST", "db.internal"),
            ("DB_NAME", "app"),
            ("DB_USER", "writer"),
            ("DB_PASSWORD", "hunter2"),
        ]))
        .expect("valid");
        assert_eq!(
            config.server,
            ServerSettings {
                host: "db.internal".into(),
                port: 5432,
                dbname: "app".into(),
                ssl_mode: SslMode::VerifyFull,
                root_cert_file: None,
                connect_timeout: Duration::from_secs(3),
                statement_timeout: Duration::from_secs(5),
            }
        );
        assert_eq!(
            config.login,
            LoginSettings::Password {
                user: "writer".into(),
                password: Some(Secret::new("hunter2"))
            }
        );
        assert_eq!(config.table.table.to_string(), "\"catalogs\"");
        assert_eq!(config.table.id_column.as_str(), "id");
        assert_eq!(config.table.status_column, None);
        assert!(
            !format!("{config:?}").contains("hunter2"),
            "Debug never shows the password"
        );
    }

    #[test]
    fn everything_set() {
        let config = UpdateConfig::from_env(&env(&[
            ("DB_HOST", "db"),
            ("DB_PORT", "6432"),
            ("DB_NAME", "app"),
            (
                "DB_SECRET_ARN",
                "arn:aws:secretsmanager:eu-west-1:123456789012:secret:db-AbCdEf",
            ),
            ("DB_SSLMODE", "verify-full"),
            ("DB_SSLROOTCERT", "/var/task/rds-global-bundle.pem"),
            ("CATALOG_TABLE", "app.catalogs"),
            ("CATALOG_ID_COLUMN", "catalog_id"),
            ("STATUS_COLUMN", "status"),
            ("DB_CONNECT_TIMEOUT_MS", "1500"),
            ("DB_STATEMENT_TIMEOUT_MS", "2500"),
        ]))
        .expect("valid");
        assert_eq!(config.server.port, 6432);
        assert_eq!(
            config.server.root_cert_file,
            Some(PathBuf::from("/var/task/rds-global-bundle.pem"))
        );
        assert_eq!(config.server.connect_timeout, Duration::from_millis(1500));
        assert_eq!(config.server.statement_timeout, Duration::from_millis(2500));
        assert_eq!(
            config.login,
            LoginSettings::SecretArn {
                arn: "arn:aws:secretsmanager:eu-west-1:123456789012:secret:db-AbCdEf".into(),
                user: None
            }
        );
        assert_eq!(config.table.table.to_string(), "\"app\".\"catalogs\"");
        assert_eq!(
            config.table.status_column.map(|c| c.to_string()),
            Some("\"status\"".into())
        );
    }

    #[test]
    fn mistakes_name_the_variable() {
        let base = [("DB_HOST", "db"), ("DB_NAME", "app"), ("DB_USER", "u")];
        let with = |extra: (&str, &str)| {
            let mut pairs = base.to_vec();
            pairs.push(extra);
            UpdateConfig::from_env(&env(&pairs)).expect_err("invalid")
        };
        for (extra, variable) in [
            (("DB_SSLMODE", "verify-ca"), "DB_SSLMODE"),
            (("DB_PORT", "0"), "DB_PORT"),
            (("CATALOG_TABLE", "catalogs; DROP TABLE x"), "CATALOG_TABLE"),
            (("CATALOG_ID_COLUMN", "id\"--"), "CATALOG_ID_COLUMN"),
            (("STATUS_COLUMN", "a.b"), "STATUS_COLUMN"),
            (("DB_STATEMENT_TIMEOUT_MS", "5s"), "DB_STATEMENT_TIMEOUT_MS"),
        ] {
            let error = with(extra).to_string();
            assert!(error.contains(variable), "{error}");
        }
        let mut sslrootcert_without_verify = base.to_vec();
        sslrootcert_without_verify.extend([("DB_SSLMODE", "require"), ("DB_SSLROOTCERT", "/x.pem")]);
        assert!(
            UpdateConfig::from_env(&env(&sslrootcert_without_verify))
                .expect_err("invalid")
                .to_string()
                .contains("DB_SSLROOTCERT")
        );
        let both = UpdateConfig::from_env(&env(&[
            ("DB_HOST", "db"),
            ("DB_NAME", "app"),
            ("DB_USER", "u"),
            ("DB_PASSWORD", "hunter2"),
            ("DB_SECRET_ARN", "arn:x"),
        ]))
        .expect_err("conflict");
        assert!(matches!(both, ConfigError::Conflict { .. }));
        assert!(!both.to_string().contains("hunter2"));
        let no_user = UpdateConfig::from_env(&env(&[("DB_HOST", "db"), ("DB_NAME", "app")])).expect_err("no user");
        assert_eq!(no_user, ConfigError::Missing { name: "DB_USER".into() });
        let no_host = UpdateConfig::from_env(&env(&[("DB_NAME", "app"), ("DB_USER", "u")])).expect_err("no host");
        assert_eq!(no_host, ConfigError::Missing { name: "DB_HOST".into() });
    }
}
