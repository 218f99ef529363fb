//! The catalog API over HTTP (reqwest): `GET {base}/catalogs/{id}`, classified.
//!
//! * The id is percent-encoded as ONE path segment (everything but the unreserved
//!   characters `A-Z a-z 0-9 - . _ ~` is encoded), after the base URL's own path prefix.
//! * `Accept: application/json`; `Authorization: Bearer <token>` exactly when a token is
//!   configured (marked sensitive, so reqwest never prints it).
//! * One client per container, with a connect timeout and a total timeout that bounds
//!   the one request of an attempt, from connecting to the last byte read.
//! * Redirects are not followed, so the token never travels to another host; a 3xx is
//!   an unexpected status (transient).
//! * Bodies are read in chunks up to a cap; a larger body is an invalid body.
//!
//! Each attempt makes exactly one request, so an execution makes at most
//! `max_attempts` requests to the catalog API. A 401 with a token from Secrets Manager
//! makes the adapter fetch the token again (rotation) without repeating the request:
//! when the token changed, the attempt is transient (`HTTP 401`) and the next attempt
//! sends the fresh token, which stays cached in the container; when it did not change
//! (or cannot change), the 401 is `CatalogApiRejected`.

use std::time::{Duration, SystemTime};

use catalog_core::{CatalogId, CatalogStatusBody, LastSeen, Secret};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use reqwest::header::{ACCEPT, HeaderMap, RETRY_AFTER};
use reqwest::{Response, StatusCode, Url};

use crate::api::{CatalogApi, CatalogApiError};
use crate::token::TokenProvider;

/// Everything but RFC 3986's unreserved characters is encoded, so `/`, `%`, `?`, `#`,
/// spaces and quotes stay inside the one segment.
const PATH_SEGMENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// The default cap on a response body; a status body is a few hundred bytes.
pub const DEFAULT_MAX_BODY_BYTES: usize = 64 * 1024;

/// How the adapter talks to the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpSettings {
    /// `http` or `https`, possibly with a path prefix (`https://x/v1` or `https://x/v1/`).
    pub base_url: Url,
    pub connect_timeout: Duration,
    /// The most the one request of an attempt may take, from connecting to the last
    /// byte read.
    pub timeout: Duration,
    pub max_body_bytes: usize,
}

/// The reqwest adapter of [`CatalogApi`].
#[derive(Debug)]
pub struct HttpCatalogApi<T> {
    client: reqwest::Client,
    settings: HttpSettings,
    token: T,
}

impl<T: TokenProvider> HttpCatalogApi<T> {
    /// Builds the client; call once per container.
    pub fn new(settings: HttpSettings, token: T) -> Result<HttpCatalogApi<T>, reqwest::Error> {
        let client = reqwest::Client::builder()
            .connect_timeout(settings.connect_timeout)
            .timeout(settings.timeout)
            .redirect(reqwest::redirect::Policy::none())
            // Mozilla's roots compiled in: the same in every container, and no scan of the
            // system's certificate directories at each cold start (they were most of
            // the init time).
            .tls_certs_only(
                webpki_root_certs::TLS_SERVER_ROOT_CERTS
                    .iter()
                    .filter_map(|der| reqwest::Certificate::from_der(der.as_ref()).ok()),
            )
            .user_agent(concat!("catalog-poller-check/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(HttpCatalogApi {
            client,
            settings,
            token,
        })
    }

    /// One GET with `token` (when there is one), bounded by the client's timeouts.
    async fn get(&self, url: &Url, token: Option<&Secret>) -> Result<Response, CatalogApiError> {
        let mut request = self.client.get(url.clone()).header(ACCEPT, "application/json");
        if let Some(token) = token {
            request = request.bearer_auth(token.expose());
        }
        request.send().await.map_err(|error| transport_error(&error))
    }
}

impl<T: TokenProvider> CatalogApi for HttpCatalogApi<T> {
    async fn fetch_status(&self, catalog_id: &CatalogId) -> Result<CatalogStatusBody, CatalogApiError> {
        let url = catalog_url(&self.settings.base_url, catalog_id)?;
        let token = self.token.token().await.map_err(|error| {
            tracing::error!(%error, "could not read the catalog API token");
            CatalogApiError::transient(LastSeen::TokenUnavailable)
        })?;
        let response = self.get(&url, token.as_ref()).await?;
        if response.status() == StatusCode::UNAUTHORIZED
            && let Some(refused) = &token
        {
            match self.token.refreshed_token().await {
                // Not repeated here: that would be a request beyond `max_attempts`.
                Ok(Some(fresh)) if fresh != *refused => {
                    tracing::warn!(
                        "the catalog API answered 401; the token was fetched again and the next attempt uses it"
                    );
                    return Err(CatalogApiError::transient(LastSeen::HttpStatus(401)));
                }
                Ok(_) => {}
                Err(error) => {
                    tracing::error!(%error, "the catalog API answered 401 and the token could not be fetched again");
                    return Err(CatalogApiError::transient(LastSeen::TokenUnavailable));
                }
            }
        }
        classify(response, self.settings.max_body_bytes).await
    }
}

/// `{base}/catalogs/{id}` with the id as one percent-encoded segment.
pub fn catalog_url(base_url: &Url, catalog_id: &CatalogId) -> Result<Url, CatalogApiError> {
    let id = catalog_id.as_str();
    if id == "." || id == ".." {
        return Err(CatalogApiError::Unaddressable(id.to_owned()));
    }
    let prefix = base_url.path().trim_end_matches('/');
    let mut url = base_url.clone();
    url.set_path(&format!("{prefix}/catalogs/{}", utf8_percent_encode(id, PATH_SEGMENT)));
    Ok(url)
}

/// Sorts a response into the outcomes of the contract.
async fn classify(response: Response, max_body_bytes: usize) -> Result<CatalogStatusBody, CatalogApiError> {
    let status = response.status();
    let code = status.as_u16();
    if status.is_success() {
        let body = read_capped(response, max_body_bytes).await?;
        return CatalogStatusBody::from_json_slice(&body)
            .map_err(|error| CatalogApiError::transient(LastSeen::InvalidBody(error.to_string())));
    }
    match code {
        404 => Err(CatalogApiError::NotFound),
        429 | 503 => Err(CatalogApiError::Transient {
            seen: LastSeen::HttpStatus(code),
            retry_after: retry_after(response.headers(), SystemTime::now()),
        }),
        408 | 500..=599 => Err(CatalogApiError::transient(LastSeen::HttpStatus(code))),
        400..=499 => Err(CatalogApiError::Rejected { status: code }),
        // 1xx and 3xx (redirects are not followed): not what the API promises, but not a
        // verdict on the catalog either.
        _ => Err(CatalogApiError::transient(LastSeen::HttpStatus(code))),
    }
}

/// The body, or an invalid-body outcome once it grows past `max_body_bytes`.
async fn read_capped(mut response: Response, max_body_bytes: usize) -> Result<Vec<u8>, CatalogApiError> {
    let too_large =
        || CatalogApiError::transient(LastSeen::InvalidBody(format!("larger than {}", size(max_body_bytes))));
    if response
        .content_length()
        .is_some_and(|length| length > max_body_bytes as u64)
    {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|error| transport_error(&error))? {
        if body.len() + chunk.len() > max_body_bytes {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

fn size(bytes: usize) -> String {
    if bytes.is_multiple_of(1024) {
        format!("{} KiB", bytes / 1024)
    } else {
        format!("{bytes} bytes")
    }
}

/// A request that got no (complete) answer: a timeout, or a connection problem.
fn transport_error(error: &reqwest::Error) -> CatalogApiError {
    let seen = if error.is_timeout() {
        LastSeen::Timeout
    } else {
        LastSeen::Connection
    };
    tracing::warn!(error = %error_chain(error), "the catalog API request failed ({seen})");
    CatalogApiError::transient(seen)
}

/// The error and its sources on one line (reqwest's own text is just "error sending request").
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// `Retry-After` as delta-seconds or an HTTP-date; `None` when absent or unreadable.
/// A date in the past means "now". Whether the wait is sensible is decided by
/// `catalog_core::poll::wait_after`.
pub fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        return value.parse::<u64>().ok().map(Duration::from_secs);
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use reqwest::header::HeaderValue;

    use super::*;

    fn id(raw: &str) -> CatalogId {
        CatalogId::parse(raw).expect("valid id")
    }

    fn url(raw: &str) -> Url {
        Url::parse(raw).expect("valid url")
    }

    #[test]
    fn the_id_is_one_encoded_segment_after_the_prefix() {
        let cases = [
            ("https://x.example", "cat-123", "https://x.example/catalogs/cat-123"),
            ("https://x.example/", "cat-123", "https://x.example/catalogs/cat-123"),
            (
                "https://x.example/v1",
                "a/b c'é",
                "https://x.example/v1/catalogs/a%2Fb%20c%27%C3%A9",
            ),
            (
                "https://x.example/v1/",
                "100%?#x",
                "https://x.example/v1/catalogs/100%25%3F%23x",
            ),
            (
                "http://127.0.0.1:9/api/v2//",
                "a.b_c~d-e",
                "http://127.0.0.1:9/api/v2/catalogs/a.b_c~d-e",
            ),
            ("https://x.example", "...", "https://x.example/catalogs/..."),
            (
                "https://x.example",
                "日本",
                "https://x.example/catalogs/%E6%97%A5%E6%9C%AC",
            ),
            (
                "https://x.example",
                "\"q\"+&;=",
                "https://x.example/catalogs/%22q%22%2B%26%3B%3D",
            ),
        ];
        for (base, raw, expected) in cases {
            assert_eq!(
                catalog_url(&url(base), &id(raw)).expect("addressable").as_str(),
                expected
            );
        }
    }

    #[test]
    fn dot_segments_are_unaddressable() {
        for raw in [".", ".."] {
            assert_eq!(
                catalog_url(&url("https://x.example/v1"), &id(raw)),
                Err(CatalogApiError::Unaddressable(raw.to_owned()))
            );
        }
    }

    #[test]
    fn retry_after_seconds_and_dates() {
        let now = httpdate::parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT").expect("date");
        let header = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(RETRY_AFTER, HeaderValue::from_str(value).expect("header"));
            retry_after(&headers, now)
        };
        assert_eq!(header("120"), Some(Duration::from_secs(120)));
        assert_eq!(header(" 7 "), Some(Duration::from_secs(7)));
        assert_eq!(header("Sun, 06 Nov 1994 08:51:37 GMT"), Some(Duration::from_secs(120)));
        assert_eq!(header("Sun, 06 Nov 1994 08:00:00 GMT"), Some(Duration::ZERO));
        assert_eq!(header("99999999999999999999999"), None);
        assert_eq!(header("-5"), None);
        assert_eq!(header("1.5"), None);
        assert_eq!(header("soon"), None);
        assert_eq!(retry_after(&HeaderMap::new(), now), None);
    }

    #[test]
    fn sizes_read_well() {
        assert_eq!(size(65_536), "64 KiB");
        assert_eq!(size(1000), "1000 bytes");
    }
}
