//! The `check-catalog-status` Lambda bootstrap: wiring only.

use check_catalog_status::config::{CheckConfig, TokenConfig};
use check_catalog_status::{ApiToken, HttpCatalogApi, check_catalog_status};
use lambda_support::config::Environment;
use lambda_support::secrets::{SecretSource, secrets_manager_client};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_support::logging::init();
    let config = CheckConfig::from_env(&Environment::process()).inspect_err(|error| {
        tracing::error!(%error, "the function's configuration is invalid");
    })?;
    let token = match config.token {
        TokenConfig::None => ApiToken::None,
        TokenConfig::Static(token) => ApiToken::Source(SecretSource::Static(token)),
        TokenConfig::SecretArn(arn) => {
            ApiToken::Source(SecretSource::secrets_manager(secrets_manager_client().await, arn))
        }
    };
    let api = HttpCatalogApi::new(config.http, token)?;
    let defaults = config.defaults;
    lambda_support::run(|event, _context| check_catalog_status(&api, defaults, event)).await
}
