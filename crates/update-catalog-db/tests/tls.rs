//! TLS against a cluster started with `ssl=on` and a certificate from a test CA:
//! `verify-full` accepts the right CA and host name only; `require` encrypts without
//! checking the certificate.

mod common;

use std::io::Write;
use std::sync::OnceLock;
use std::time::Duration;

use catalog_core::{ErrorName, Secret};
use common::{catalog_table, invoke};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
};
use serde_json::json;
use tempfile::NamedTempFile;
use test_support::postgres::{Cluster, ClusterOptions, HbaAuth, ServerTls, TestDatabase};
use update_catalog_db::config::ServerSettings;
use update_catalog_db::tls::SslMode;
use update_catalog_db::{Login, PostgresCatalogStore};

/// A test CA: its certificate (PEM) and an issuer that signs with its key.
struct TestCa {
    cert_pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl TestCa {
    fn new(name: &str) -> TestCa {
        let key = KeyPair::generate().expect("CA key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let cert_pem = params.self_signed(&key).expect("CA certificate").pem();
        TestCa {
            cert_pem,
            issuer: Issuer::new(params, key),
        }
    }

    /// A server certificate for `dns_names` and its key.
    fn server_cert(&self, dns_names: &[&str]) -> ServerTls {
        let key = KeyPair::generate().expect("server key");
        let names: Vec<String> = dns_names.iter().map(|n| (*n).to_owned()).collect();
        let mut params = CertificateParams::new(names).expect("server params");
        params.distinguished_name.push(DnType::CommonName, dns_names[0]);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let cert = params.signed_by(&key, &self.issuer).expect("server certificate");
        ServerTls {
            cert_chain_pem: cert.pem(),
            private_key_pem: key.serialize_pem(),
        }
    }
}

/// One TLS cluster for this test binary (certificate for `localhost` only, no IP
/// address), with its CA written to a file; stopped by its watchdog at exit.
struct TlsServer {
    cluster: Cluster,
    ca_file: NamedTempFile,
}

fn tls_server() -> &'static TlsServer {
    static SERVER: OnceLock<TlsServer> = OnceLock::new();
    SERVER.get_or_init(|| {
        let ca = TestCa::new("catalog poller test CA");
        let cluster = Cluster::start(&ClusterOptions {
            auth: HbaAuth::Trust,
            tls: Some(ca.server_cert(&["localhost"])),
        });
        TlsServer {
            cluster,
            ca_file: pem_file(&ca.cert_pem),
        }
    })
}

fn pem_file(pem: &str) -> NamedTempFile {
    let mut file = NamedTempFile::new().expect("temp file");
    file.write_all(pem.as_bytes()).expect("write PEM");
    file
}

async fn database() -> TestDatabase {
    let server = tokio::task::spawn_blocking(tls_server).await.expect("TLS cluster");
    let db = server.cluster.create_database().await;
    db.client
        .batch_execute(
            "CREATE TABLE catalogs (id text PRIMARY KEY, knowledge_base_id text, data_source_id text);
             INSERT INTO catalogs (id) VALUES ('cat-1');",
        )
        .await
        .expect("schema");
    db
}

fn store(
    db: &TestDatabase,
    host: &str,
    ssl_mode: SslMode,
    root_cert_file: Option<&NamedTempFile>,
) -> PostgresCatalogStore {
    PostgresCatalogStore::new(
        ServerSettings {
            host: host.to_owned(),
            port: db.port,
            dbname: db.dbname.clone(),
            ssl_mode,
            root_cert_file: root_cert_file.map(|f| f.path().to_owned()),
            connect_timeout: Duration::from_secs(3),
            statement_timeout: Duration::from_secs(5),
        },
        catalog_table("catalogs", "id", None),
        Login::Password {
            user: db.user.clone(),
            password: db.password.clone().map(Secret::new),
        },
    )
    .expect("store")
}

fn ready() -> serde_json::Value {
    json!({"action": "record_ready", "catalog_id": "cat-1", "kb_name": "kb", "data_source_name": "ds"})
}

/// Whether this function's connection to `db` is encrypted, as the server sees it.
async fn function_connection_uses_tls(db: &TestDatabase) -> bool {
    db.client
        .query_one(
            "SELECT bool_and(s.ssl) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid)
             WHERE a.application_name = 'update-catalog-db' AND a.datname = $1",
            &[&db.dbname],
        )
        .await
        .expect("pg_stat_ssl")
        .get::<_, Option<bool>>(0)
        .expect("a connection of the function")
}

#[tokio::test]
async fn verify_full_accepts_the_right_ca_and_host_name() {
    let db = database().await;
    let store = store(&db, "localhost", SslMode::VerifyFull, Some(&tls_server().ca_file));
    let written = invoke(&store, ready()).await.expect("verified and written");
    assert_eq!(written["rows_updated"], 1);
    assert!(function_connection_uses_tls(&db).await);

    // A bundle of many roots (like the RDS global bundle) in which one is right.
    let bundle = pem_file(&format!(
        "{}{}{}",
        TestCa::new("first unrelated CA").cert_pem,
        std::fs::read_to_string(tls_server().ca_file.path()).expect("CA file"),
        TestCa::new("second unrelated CA").cert_pem
    ));
    let store = self::store(&db, "localhost", SslMode::VerifyFull, Some(&bundle));
    invoke(&store, ready()).await.expect("verified against the bundle");
}

#[tokio::test]
async fn verify_full_rejects_a_certificate_from_another_ca() {
    let db = database().await;
    let other_ca = pem_file(&TestCa::new("some other CA").cert_pem);
    let store = store(&db, "localhost", SslMode::VerifyFull, Some(&other_ca));
    let error = invoke(&store, ready()).await.expect_err("unknown issuer");
    assert_eq!(error.name, ErrorName::DatabaseUnavailable);
    assert!(error.message.contains("UnknownIssuer"), "{}", error.message);
    // The compiled-in public roots do not trust the test CA either.
    let public_roots = self::store(&db, "localhost", SslMode::VerifyFull, None);
    let error = invoke(&public_roots, ready()).await.expect_err("unknown issuer");
    assert!(error.message.contains("UnknownIssuer"), "{}", error.message);
}

#[tokio::test]
async fn verify_full_rejects_a_certificate_for_another_host_name() {
    let db = database().await;
    // Same server, same CA, but reached as 127.0.0.1: the certificate names only localhost.
    let store = store(&db, "127.0.0.1", SslMode::VerifyFull, Some(&tls_server().ca_file));
    let error = invoke(&store, ready()).await.expect_err("wrong name");
    assert_eq!(error.name, ErrorName::DatabaseUnavailable);
    assert!(
        error.message.contains("certificate not valid for name \"127.0.0.1\""),
        "{}",
        error.message
    );
    assert!(error.message.contains("sslmode verify-full"), "{}", error.message);
}

#[tokio::test]
async fn require_and_prefer_encrypt_without_checking_the_certificate() {
    let db = database().await;
    for mode in [SslMode::Require, SslMode::Prefer] {
        let store = store(&db, "127.0.0.1", mode, None);
        invoke(&store, ready())
            .await
            .unwrap_or_else(|e| panic!("{mode}: {e:?}"));
        assert!(function_connection_uses_tls(&db).await, "{mode}");
    }
}

#[tokio::test]
async fn require_fails_and_prefer_falls_back_on_a_server_without_tls() {
    let plain = tokio::task::spawn_blocking(|| Cluster::start(&ClusterOptions::default()))
        .await
        .expect("cluster without TLS");
    let db = plain.create_database().await;
    db.client
        .batch_execute(
            "CREATE TABLE catalogs (id text PRIMARY KEY, knowledge_base_id text, data_source_id text);
             INSERT INTO catalogs (id) VALUES ('cat-1');",
        )
        .await
        .expect("schema");
    let require = store(&db, "127.0.0.1", SslMode::Require, None);
    let error = invoke(&require, ready()).await.expect_err("require needs TLS");
    assert_eq!(error.name, ErrorName::DatabaseUnavailable);
    assert!(error.message.contains("sslmode require"), "{}", error.message);
    let prefer = store(&db, "127.0.0.1", SslMode::Prefer, None);
    invoke(&prefer, ready()).await.expect("prefer falls back to plain TCP");
    assert!(!function_connection_uses_tls(&db).await);
}
