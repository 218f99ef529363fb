//! The function's configuration, read once from the environment in `main`.

use std::time::Duration;

use catalog_core::input::{MAX_ATTEMPTS_RANGE, POLL_INTERVAL_RANGE};
use catalog_core::{PollDefaults, Secret};
use lambda_support::config::{ConfigError, Environment};
use reqwest::Url;

use crate::http::{DEFAULT_MAX_BODY_BYTES, HttpSettings};

pub const BASE_URL: &str = "CATALOG_API_BASE_URL";
pub const TOKEN: &str = "CATALOG_API_TOKEN";
pub const TOKEN_SECRET_ARN: &str = "CATALOG_API_TOKEN_SECRET_ARN";
pub const CONNECT_TIMEOUT_MS: &str = "CATALOG_API_CONNECT_TIMEOUT_MS";
pub const TIMEOUT_MS: &str = "CATALOG_API_TIMEOUT_MS";
pub const DEFAULT_POLL_INTERVAL_SECONDS: &str = "DEFAULT_POLL_INTERVAL_SECONDS";
pub const DEFAULT_MAX_ATTEMPTS: &str = "DEFAULT_MAX_ATTEMPTS";

pub const DEFAULT_CONNECT_TIMEOUT_MS: u64 = 2_000;
pub const DEFAULT_TIMEOUT_MS: u64 = 10_000;
/// The longest total timeout accepted for the one request of an attempt. The
/// function's timeout must hold it plus a cold-start Secrets Manager fetch and a token
/// refetch after a 401 (at most 5 s each); the template's 30 s allows at most 18 s.
pub const MAX_TIMEOUT_MS: u64 = 25_000;

/// Where the bearer token comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenConfig {
    None,
    Static(Secret),
    SecretArn(String),
}

/// Everything `main` needs, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckConfig {
    pub http: HttpSettings,
    pub token: TokenConfig,
    pub defaults: PollDefaults,
}

impl CheckConfig {
    pub fn from_env(env: &Environment) -> Result<CheckConfig, ConfigError> {
        let base_url = base_url(&env.required(BASE_URL)?)?;
        let token = match (env.optional(TOKEN)?, env.optional(TOKEN_SECRET_ARN)?) {
            (Some(_), Some(_)) => {
                return Err(ConfigError::Conflict {
                    first: TOKEN.to_owned(),
                    second: TOKEN_SECRET_ARN.to_owned(),
                });
            }
            (Some(token), None) => TokenConfig::Static(Secret::new(token)),
            (None, Some(arn)) => TokenConfig::SecretArn(arn.trim().to_owned()),
            (None, None) => TokenConfig::None,
        };
        let connect_timeout_ms = env.u64_in(CONNECT_TIMEOUT_MS, DEFAULT_CONNECT_TIMEOUT_MS, 1..=MAX_TIMEOUT_MS)?;
        let timeout_ms = env.u64_in(TIMEOUT_MS, DEFAULT_TIMEOUT_MS, 1..=MAX_TIMEOUT_MS)?;
        if connect_timeout_ms > timeout_ms {
            return Err(ConfigError::Invalid {
                name: CONNECT_TIMEOUT_MS.to_owned(),
                reason: format!("{connect_timeout_ms} ms is longer than {TIMEOUT_MS} ({timeout_ms} ms)"),
            });
        }
        let defaults = PollDefaults::new(
            env.u32_in(
                DEFAULT_POLL_INTERVAL_SECONDS,
                catalog_core::input::DEFAULT_POLL_INTERVAL_SECONDS,
                POLL_INTERVAL_RANGE,
            )?,
            env.u32_in(
                DEFAULT_MAX_ATTEMPTS,
                catalog_core::input::DEFAULT_MAX_ATTEMPTS,
                MAX_ATTEMPTS_RANGE,
            )?,
        )
        .expect("both values were checked against the same ranges");
        Ok(CheckConfig {
            http: HttpSettings {
                base_url,
                connect_timeout: Duration::from_millis(connect_timeout_ms),
                timeout: Duration::from_millis(timeout_ms),
                max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            },
            token,
            defaults,
        })
    }
}

/// An absolute `http`/`https` URL with a host, maybe a path prefix, and nothing else
/// (no credentials, query or fragment: they would be lost or leak).
fn base_url(raw: &str) -> Result<Url, ConfigError> {
    let invalid = |reason: &str| ConfigError::Invalid {
        name: BASE_URL.to_owned(),
        reason: reason.to_owned(),
    };
    let url = Url::parse(raw.trim()).map_err(|e| invalid(&format!("not an absolute URL ({e})")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid("the scheme must be http or https"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(invalid("the URL has no host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid(
            "the URL must not carry credentials; use CATALOG_API_TOKEN(_SECRET_ARN)",
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid("the URL must not have a query or a fragment"));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(pairs: &[(&str, &str)]) -> Result<CheckConfig, ConfigError> {
        CheckConfig::from_env(&Environment::from_pairs(pairs.iter().copied()))
    }

    #[test]
    fn defaults_with_only_the_base_url() {
        let config = config(&[(BASE_URL, "https://catalog.example.com/v1")]).expect("valid");
        assert_eq!(config.http.base_url.as_str(), "https://catalog.example.com/v1");
        assert_eq!(config.http.connect_timeout, Duration::from_secs(2));
        assert_eq!(config.http.timeout, Duration::from_secs(10));
        assert_eq!(config.http.max_body_bytes, 64 * 1024);
        assert_eq!(config.token, TokenConfig::None);
        assert_eq!(config.defaults, PollDefaults::default());
    }

    #[test]
    fn every_setting_is_read() {
        let config = config(&[
            (BASE_URL, "http://127.0.0.1:8080/"),
            (TOKEN, "tok"),
            (CONNECT_TIMEOUT_MS, "150"),
            (TIMEOUT_MS, "25000"),
            (DEFAULT_POLL_INTERVAL_SECONDS, "5"),
            (DEFAULT_MAX_ATTEMPTS, "3"),
        ])
        .expect("valid");
        assert_eq!(config.token, TokenConfig::Static(Secret::new("tok")));
        assert_eq!(config.http.connect_timeout, Duration::from_millis(150));
        assert_eq!(config.http.timeout, Duration::from_secs(25));
        assert_eq!(config.defaults, PollDefaults::new(5, 3).expect("valid"));
        let arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:catalog-api-token-AbCdEf";
        let with_arn = super::CheckConfig::from_env(&Environment::from_pairs([
            (BASE_URL, "https://x"),
            (TOKEN_SECRET_ARN, arn),
        ]))
        .expect("valid");
        assert_eq!(with_arn.token, TokenConfig::SecretArn(arn.to_owned()));
    }

    #[test]
    fn mistakes_name_the_variable_and_never_the_token() {
        let cases: [(&[(&str, &str)], &str); 10] = [
            (&[], "environment variable CATALOG_API_BASE_URL is required but not set"),
            (
                &[(BASE_URL, "catalog.example.com")],
                "CATALOG_API_BASE_URL is invalid: not an absolute URL",
            ),
            (
                &[(BASE_URL, "ftp://x/")],
                "CATALOG_API_BASE_URL is invalid: the scheme must be http or https",
            ),
            (&[(BASE_URL, "https://u:hunter2@x/")], "must not carry credentials"),
            (&[(BASE_URL, "https://x/?a=1")], "must not have a query or a fragment"),
            (
                &[(BASE_URL, "https://x"), (TOKEN, "hunter2"), (TOKEN_SECRET_ARN, "arn")],
                "set only one of the environment variables CATALOG_API_TOKEN and CATALOG_API_TOKEN_SECRET_ARN",
            ),
            (
                &[(BASE_URL, "https://x"), (TIMEOUT_MS, "25001")],
                "CATALOG_API_TIMEOUT_MS must be an integer from 1 to 25000",
            ),
            (
                &[
                    (BASE_URL, "https://x"),
                    (TIMEOUT_MS, "500"),
                    (CONNECT_TIMEOUT_MS, "600"),
                ],
                "CATALOG_API_CONNECT_TIMEOUT_MS is invalid: 600 ms is longer",
            ),
            (
                &[(BASE_URL, "https://x"), (DEFAULT_MAX_ATTEMPTS, "0")],
                "DEFAULT_MAX_ATTEMPTS must be an integer from 1 to 10000",
            ),
            (
                &[(BASE_URL, "https://x"), (DEFAULT_POLL_INTERVAL_SECONDS, "3601")],
                "DEFAULT_POLL_INTERVAL_SECONDS must be an integer from 1 to 3600",
            ),
        ];
        for (pairs, expected) in cases {
            let message = config(pairs).expect_err("invalid").to_string();
            assert!(message.contains(expected), "{message:?} should contain {expected:?}");
            assert!(!message.contains("hunter2"), "{message}");
        }
    }
}
