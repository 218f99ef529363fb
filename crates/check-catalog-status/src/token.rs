//! Where the catalog API's bearer token comes from.
//!
//! The token is fetched once per container ([`TokenProvider::token`]); when the API
//! answers 401 the adapter asks once for a fresh one ([`TokenProvider::refreshed_token`]),
//! which only a Secrets Manager token can give (rotation), and the next attempt sends it.

use std::future::Future;

use catalog_core::Secret;
use lambda_support::secrets::{SecretError, SecretSource};

/// The token the adapter sends as `Authorization: Bearer <token>`.
pub trait TokenProvider: Send + Sync {
    /// The token to send; `None` when the API is called without one.
    fn token(&self) -> impl Future<Output = Result<Option<Secret>, SecretError>> + Send;

    /// A token fetched again after a 401, and what [`TokenProvider::token`] gives from
    /// then on; `None` when the token cannot change (no token, or one given directly in
    /// the configuration).
    fn refreshed_token(&self) -> impl Future<Output = Result<Option<Secret>, SecretError>> + Send;
}

/// The token as configured: none, `CATALOG_API_TOKEN`, or `CATALOG_API_TOKEN_SECRET_ARN`.
#[derive(Debug)]
pub enum ApiToken {
    None,
    Source(SecretSource),
}

impl TokenProvider for ApiToken {
    async fn token(&self) -> Result<Option<Secret>, SecretError> {
        match self {
            ApiToken::None => Ok(None),
            ApiToken::Source(source) => source.current().await.map(|secret| Some(trimmed(&secret))),
        }
    }

    async fn refreshed_token(&self) -> Result<Option<Secret>, SecretError> {
        match self {
            ApiToken::Source(source) if source.can_refresh() => {
                source.refresh().await.map(|secret| Some(trimmed(&secret)))
            }
            _ => Ok(None),
        }
    }
}

/// Surrounding whitespace (a trailing newline pasted into a secret) is never part of
/// a token, and would make the header invalid.
fn trimmed(secret: &Secret) -> Secret {
    Secret::new(secret.expose().trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn static_tokens_are_trimmed_and_never_refreshed() {
        let token = ApiToken::Source(SecretSource::Static(Secret::new(" tok-1\n")));
        assert_eq!(
            token.token().await.expect("static").map(|t| t.expose().to_owned()),
            Some("tok-1".into())
        );
        assert_eq!(token.refreshed_token().await.expect("static"), None);
        assert_eq!(ApiToken::None.token().await.expect("none"), None);
        assert_eq!(ApiToken::None.refreshed_token().await.expect("none"), None);
    }
}
