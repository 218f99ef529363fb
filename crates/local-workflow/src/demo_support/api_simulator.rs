//! A local stand-in for the external catalog API: `GET {prefix}/catalogs/{id}` answers
//! PENDING for a scripted number of polls, then the catalog's names; an unknown catalog
//! is a 404 and a wrong bearer token a 401, as the real API does.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use hyper::Request;
use hyper::body::Incoming;
use percent_encoding::percent_decode_str;
use serde_json::json;

use super::http_server::{self, FullResponse, HttpServer};

/// The path prefix the simulator serves under (the base URL carries it, as a real one may).
pub const PATH_PREFIX: &str = "/api/v1";

/// What the simulator answers for one catalog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogScript {
    /// How many GETs answer PENDING before the names are reported (`u32::MAX`: always).
    pub pending_polls: u32,
    pub kb_name: String,
    pub data_source_name: String,
}

#[derive(Debug)]
struct Catalog {
    script: CatalogScript,
    served: u32,
}

#[derive(Debug)]
struct Shared {
    token: Option<String>,
    catalogs: Mutex<HashMap<String, Catalog>>,
}

/// A running simulator; stops when dropped.
#[derive(Debug)]
pub struct CatalogApiSimulator {
    server: HttpServer,
    shared: Arc<Shared>,
}

impl CatalogApiSimulator {
    /// Starts the simulator; with `token`, requests must carry `Authorization: Bearer <token>`.
    pub async fn start(token: Option<String>) -> std::io::Result<CatalogApiSimulator> {
        let shared = Arc::new(Shared {
            token,
            catalogs: Mutex::new(HashMap::new()),
        });
        let handler_state = Arc::clone(&shared);
        let server = HttpServer::start(move |request| {
            let reply = answer(&handler_state, &request);
            async move { reply }
        })
        .await?;
        Ok(CatalogApiSimulator { server, shared })
    }

    /// Adds (or replaces) a catalog.
    pub fn add_catalog(&self, catalog_id: &str, script: CatalogScript) {
        self.shared
            .catalogs
            .lock()
            .expect("simulator lock")
            .insert(catalog_id.to_owned(), Catalog { script, served: 0 });
    }

    /// How many GETs the catalog has been answered so far.
    pub fn served(&self, catalog_id: &str) -> u32 {
        self.shared
            .catalogs
            .lock()
            .expect("simulator lock")
            .get(catalog_id)
            .map_or(0, |c| c.served)
    }

    /// The value for `CATALOG_API_BASE_URL`: `http://127.0.0.1:<port>/api/v1`.
    pub fn base_url(&self) -> String {
        format!("{}{PATH_PREFIX}", self.server.url())
    }

    /// The URL of one catalog (the id as one percent-encoded segment).
    pub fn catalog_url(&self, catalog_id: &str) -> String {
        let segment: String =
            percent_encoding::utf8_percent_encode(catalog_id, percent_encoding::NON_ALPHANUMERIC).collect();
        format!("{}/catalogs/{segment}", self.base_url())
    }
}

fn answer(shared: &Shared, request: &Request<Incoming>) -> FullResponse {
    if request.method() != hyper::Method::GET {
        return http_server::json(405, &json!({"message": "method not allowed"}));
    }
    if let Some(token) = &shared.token {
        let expected = format!("Bearer {token}");
        let given = request.headers().get("authorization").and_then(|v| v.to_str().ok());
        if given != Some(expected.as_str()) {
            return http_server::json(401, &json!({"message": "missing or wrong bearer token"}));
        }
    }
    let Some(segment) = request
        .uri()
        .path()
        .strip_prefix(PATH_PREFIX)
        .and_then(|rest| rest.strip_prefix("/catalogs/"))
        .filter(|segment| !segment.contains('/'))
    else {
        return http_server::json(404, &json!({"message": "no such resource"}));
    };
    let Ok(catalog_id) = percent_decode_str(segment).decode_utf8() else {
        return http_server::json(400, &json!({"message": "the catalog id is not UTF-8"}));
    };
    let mut catalogs = shared.catalogs.lock().expect("simulator lock");
    let Some(catalog) = catalogs.get_mut(catalog_id.as_ref()) else {
        return http_server::json(404, &json!({"message": "catalog not found"}));
    };
    catalog.served = catalog.served.saturating_add(1);
    let script = &catalog.script;
    if catalog.served <= script.pending_polls {
        http_server::json(
            200,
            &json!({"catalog_id": catalog_id, "status": "PROVISIONING", "kb_name": "PENDING", "data_source_name": null}),
        )
    } else {
        http_server::json(
            200,
            &json!({
                "catalog_id": catalog_id,
                "status": "ACTIVE",
                "kb_name": script.kb_name,
                "data_source_name": script.data_source_name,
            }),
        )
    }
}
