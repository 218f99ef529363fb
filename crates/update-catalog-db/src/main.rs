//! The `update-catalog-db` Lambda: wiring only (logging, configuration, store, runtime).
// The runtime's, the SDK's and the store's futures nest deeper than the default limit.
#![recursion_limit = "256"]

use lambda_support::config::Environment;
use lambda_support::secrets::{SecretSource, secrets_manager_client};
use std::time::SystemTime;
use update_catalog_db::config::LoginSettings;

use update_catalog_db::handler::{budget_until, handle_within};
use update_catalog_db::{Login, PostgresCatalogStore, UpdateConfig};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_support::logging::init();
    let config = UpdateConfig::from_env(&Environment::process()).inspect_err(|error| {
        tracing::error!(%error, "the function's configuration is invalid");
    })?;
    let login = match config.login {
        LoginSettings::Password { user, password } => Login::Password { user, password },
        LoginSettings::SecretArn { arn, user } => Login::Secret {
            source: SecretSource::secrets_manager(secrets_manager_client().await, arn),
            default_user: user,
        },
    };
    // Connects lazily, on the first invocation; the connection then lives in the store.
    let store = PostgresCatalogStore::new(config.server, config.table, login).inspect_err(|error| {
        tracing::error!(%error, "the function's TLS settings are unusable");
    })?;
    let store = &store;
    lambda_support::run(move |event, context| async move {
        let budget = budget_until(context.deadline(), SystemTime::now());
        handle_within(store, &event, budget).await
    })
    .await
}
