//! A secret (API token, database password), configured directly or fetched from
//! Secrets Manager once per container and again on demand after rotation.
//!
//! [`SecretSource::current`] returns the cached value (fetching it on first use);
//! [`SecretSource::refresh`] fetches again, for a caller that was refused with the
//! cached value (HTTP 401, a database authentication failure). A JSON secret such as
//! the RDS shape (`{"username": "...", "password": "..."}`) is read with
//! [`SecretSource::current_field`] / [`SecretSource::refresh_field`]. No error message
//! or `Debug` output ever contains a secret value; errors name the ARN.

use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::timeout::TimeoutConfig;
use catalog_core::Secret;
use serde_json::Value;
use tokio::sync::Mutex;

/// Secrets Manager calls give up after this long, so a slow endpoint cannot eat the
/// function's timeout.
pub const SECRETS_MANAGER_OPERATION_TIMEOUT: Duration = Duration::from_secs(5);
const SECRETS_MANAGER_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(2);
const SECRETS_MANAGER_CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// Why a secret could not be read. Messages name the ARN (or field), never the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error("could not read secret {arn} from Secrets Manager: {reason}")]
    Fetch { arn: String, reason: String },
    #[error("secret {arn} has no SecretString (binary secrets are not supported)")]
    NotAString { arn: String },
    #[error("secret {arn} is empty")]
    Empty { arn: String },
    #[error("secret {source_name} is not a JSON object with a non-empty string field {field:?}")]
    MissingField { source_name: String, field: String },
}

/// Where a secret comes from.
#[derive(Debug)]
pub enum SecretSource {
    /// Given directly (e.g. `CATALOG_API_TOKEN`); it cannot be refreshed.
    Static(Secret),
    /// Fetched from Secrets Manager on first use and cached for the container's life.
    SecretsManager {
        client: aws_sdk_secretsmanager::Client,
        arn: String,
        /// Held while fetching, so concurrent callers wait for one fetch.
        cached: Mutex<Option<Secret>>,
    },
}

/// A Secrets Manager client from the default AWS configuration (region, credentials,
/// `AWS_ENDPOINT_URL`), with timeouts well inside a function's timeout. Build it once,
/// in `main`.
pub async fn secrets_manager_client() -> aws_sdk_secretsmanager::Client {
    let config = aws_config::load_defaults(BehaviorVersion::latest()).await;
    secrets_manager_client_from(&config)
}

/// A Secrets Manager client from `config` with the timeouts of [`secrets_manager_client`].
pub fn secrets_manager_client_from(config: &aws_config::SdkConfig) -> aws_sdk_secretsmanager::Client {
    let timeouts = TimeoutConfig::builder()
        .connect_timeout(SECRETS_MANAGER_CONNECT_TIMEOUT)
        .operation_attempt_timeout(SECRETS_MANAGER_ATTEMPT_TIMEOUT)
        .operation_timeout(SECRETS_MANAGER_OPERATION_TIMEOUT)
        .build();
    let config = aws_sdk_secretsmanager::config::Builder::from(config)
        .timeout_config(timeouts)
        .build();
    aws_sdk_secretsmanager::Client::from_conf(config)
}

impl SecretSource {
    pub fn secrets_manager(client: aws_sdk_secretsmanager::Client, arn: impl Into<String>) -> SecretSource {
        SecretSource::SecretsManager {
            client,
            arn: arn.into(),
            cached: Mutex::new(None),
        }
    }

    /// Whether [`SecretSource::refresh`] can return a different value.
    pub fn can_refresh(&self) -> bool {
        matches!(self, SecretSource::SecretsManager { .. })
    }

    /// What the secret is, for messages: its ARN, or "the configured value".
    pub fn describe(&self) -> &str {
        match self {
            SecretSource::Static(_) => "the configured value",
            SecretSource::SecretsManager { arn, .. } => arn,
        }
    }

    /// The secret: the cached value, fetched on first use.
    pub async fn current(&self) -> Result<Secret, SecretError> {
        match self {
            SecretSource::Static(secret) => Ok(secret.clone()),
            SecretSource::SecretsManager { client, arn, cached } => {
                let mut cached = cached.lock().await;
                if let Some(secret) = cached.as_ref() {
                    return Ok(secret.clone());
                }
                let secret = fetch(client, arn).await?;
                *cached = Some(secret.clone());
                Ok(secret)
            }
        }
    }

    /// Fetches the secret again (after the cached one was refused) and caches it. A
    /// static secret is returned as is. On failure the old value stays cached.
    pub async fn refresh(&self) -> Result<Secret, SecretError> {
        match self {
            SecretSource::Static(secret) => Ok(secret.clone()),
            SecretSource::SecretsManager { client, arn, cached } => {
                let mut cached = cached.lock().await;
                let secret = fetch(client, arn).await?;
                *cached = Some(secret.clone());
                Ok(secret)
            }
        }
    }

    /// A string field of the current secret read as a JSON object (e.g. `password`).
    pub async fn current_field(&self, field: &str) -> Result<Secret, SecretError> {
        self.json_field(&self.current().await?, field)
    }

    /// A string field of the refreshed secret read as a JSON object.
    pub async fn refresh_field(&self, field: &str) -> Result<Secret, SecretError> {
        self.json_field(&self.refresh().await?, field)
    }

    /// Reads `field` of `secret` as a JSON object; the field must be a non-empty string.
    pub fn json_field(&self, secret: &Secret, field: &str) -> Result<Secret, SecretError> {
        let missing = || SecretError::MissingField {
            source_name: self.describe().to_owned(),
            field: field.to_owned(),
        };
        // The parse error is dropped on purpose: serde_json quotes input in some messages.
        let value: Value = serde_json::from_str(secret.expose()).map_err(|_| missing())?;
        match value.get(field) {
            Some(Value::String(text)) if !text.is_empty() => Ok(Secret::new(text.clone())),
            _ => Err(missing()),
        }
    }
}

async fn fetch(client: &aws_sdk_secretsmanager::Client, arn: &str) -> Result<Secret, SecretError> {
    let output = client
        .get_secret_value()
        .secret_id(arn)
        .send()
        .await
        .map_err(|error| SecretError::Fetch {
            arn: arn.to_owned(),
            reason: aws_sdk_secretsmanager::error::DisplayErrorContext(&error).to_string(),
        })?;
    match output.secret_string() {
        Some(text) if text.trim().is_empty() => Err(SecretError::Empty { arn: arn.to_owned() }),
        Some(text) => {
            tracing::debug!(%arn, "fetched the secret from Secrets Manager");
            Ok(Secret::new(text))
        }
        None => Err(SecretError::NotAString { arn: arn.to_owned() }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_static_secret_is_returned_and_never_printed() {
        let source = SecretSource::Static(Secret::new("hunter2"));
        assert_eq!(source.current().await.expect("static").expose(), "hunter2");
        assert_eq!(source.refresh().await.expect("static").expose(), "hunter2");
        assert!(!source.can_refresh());
        assert!(!format!("{source:?}").contains("hunter2"));
    }

    #[tokio::test]
    async fn json_fields_are_read_and_errors_never_quote_the_value() {
        let source = SecretSource::Static(Secret::new(
            r#"{"username": "app", "password": "hunter2", "port": 5432}"#,
        ));
        assert_eq!(
            source.current_field("password").await.expect("present").expose(),
            "hunter2"
        );
        assert_eq!(source.refresh_field("username").await.expect("present").expose(), "app");
        for field in ["port", "absent"] {
            let error = source.current_field(field).await.expect_err("not a string");
            assert_eq!(
                error.to_string(),
                format!("secret the configured value is not a JSON object with a non-empty string field {field:?}")
            );
        }
        let not_json = SecretSource::Static(Secret::new("{\"password\": \"hunter2"));
        let error = not_json.current_field("password").await.expect_err("not JSON");
        assert!(!error.to_string().contains("hunter2"));
        assert!(!format!("{error:?}").contains("hunter2"));
    }
}
