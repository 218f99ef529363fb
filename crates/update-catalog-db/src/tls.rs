//! TLS to PostgreSQL with rustls, in the modes of libpq's `sslmode` that this function offers.
//!
//! * `disable`: plain TCP.
//! * `prefer`: TLS when the server offers it, else plain; the certificate is not checked.
//! * `require`: TLS or no connection; the certificate is not checked (libpq's
//!   semantics: encryption against passive eavesdropping only). SCRAM channel
//!   binding still ties the password exchange to this TLS session.
//! * `verify-full` (the default): TLS, the chain must lead to a trusted root and the
//!   certificate must name `DB_HOST`. Roots: the PEM bundle `DB_SSLROOTCERT` alone
//!   when set (for RDS: the RDS global bundle shipped with the function), else the
//!   Mozilla roots compiled in (webpki-roots).

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, aws_lc_rs};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio_postgres_rustls::MakeRustlsConnect;

/// `DB_SSLMODE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SslMode {
    Disable,
    Prefer,
    Require,
    #[default]
    VerifyFull,
}

impl SslMode {
    pub fn as_str(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyFull => "verify-full",
        }
    }

    /// What tokio-postgres asks of the server: no TLS, TLS if offered, TLS or fail.
    pub fn negotiation(self) -> tokio_postgres::config::SslMode {
        match self {
            SslMode::Disable => tokio_postgres::config::SslMode::Disable,
            SslMode::Prefer => tokio_postgres::config::SslMode::Prefer,
            SslMode::Require | SslMode::VerifyFull => tokio_postgres::config::SslMode::Require,
        }
    }
}

impl FromStr for SslMode {
    type Err = ();

    fn from_str(text: &str) -> Result<SslMode, ()> {
        match text {
            "disable" => Ok(SslMode::Disable),
            "prefer" => Ok(SslMode::Prefer),
            "require" => Ok(SslMode::Require),
            "verify-full" => Ok(SslMode::VerifyFull),
            _ => Err(()),
        }
    }
}

impl fmt::Display for SslMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why the TLS settings cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read DB_SSLROOTCERT {path}: {reason}")]
    RootCertFile { path: PathBuf, reason: String },
    #[error("DB_SSLROOTCERT {path} holds no usable certificate")]
    NoRootCertificate { path: PathBuf },
    #[error("TLS setup failed: {0}")]
    Rustls(#[from] rustls::Error),
}

/// The connector for `mode`. `root_cert_file` is read here, once (in `main`).
pub fn connector(mode: SslMode, root_cert_file: Option<&Path>) -> Result<MakeRustlsConnect, TlsError> {
    let provider = Arc::new(aws_lc_rs::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone()).with_safe_default_protocol_versions()?;
    let config = match mode {
        SslMode::VerifyFull => {
            let roots = match root_cert_file {
                Some(path) => roots_from_file(path)?,
                None => RootCertStore {
                    roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
                },
            };
            builder.with_root_certificates(roots).with_no_client_auth()
        }
        SslMode::Disable | SslMode::Prefer | SslMode::Require => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(EncryptOnly { provider }))
            .with_no_client_auth(),
    };
    Ok(MakeRustlsConnect::new(config))
}

fn roots_from_file(path: &Path) -> Result<RootCertStore, TlsError> {
    let file_error = |reason: String| TlsError::RootCertFile {
        path: path.to_owned(),
        reason,
    };
    let certificates = CertificateDer::pem_file_iter(path)
        .map_err(|e| file_error(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_error(e.to_string()))?;
    let mut roots = RootCertStore::empty();
    let (added, _ignored) = roots.add_parsable_certificates(certificates);
    if added == 0 {
        return Err(TlsError::NoRootCertificate { path: path.to_owned() });
    }
    Ok(roots)
}

/// `prefer` / `require`: any certificate is accepted (libpq does not check it in these
/// modes either); the handshake signatures are still verified, so the session key is
/// bound to the certificate the server presented (which channel binding relies on).
#[derive(Debug)]
struct EncryptOnly {
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for EncryptOnly {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    #[test]
    fn modes_parse_from_their_libpq_names() {
        for mode in [SslMode::Disable, SslMode::Prefer, SslMode::Require, SslMode::VerifyFull] {
            assert_eq!(mode.as_str().parse(), Ok(mode));
        }
        assert_eq!("verify-ca".parse::<SslMode>(), Err(()));
        assert_eq!("VERIFY-FULL".parse::<SslMode>(), Err(()));
        assert_eq!(SslMode::default(), SslMode::VerifyFull);
    }

    #[test]
    fn a_root_file_without_certificates_is_refused() {
        let mut file = tempfile::NamedTempFile::new().expect("temp file");
        file.write_all(b"not a certificate\n").expect("write");
        let Err(error) = connector(SslMode::VerifyFull, Some(file.path())) else {
            panic!("a file without certificates was accepted");
        };
        assert!(matches!(error, TlsError::NoRootCertificate { .. }), "{error}");
        let Err(missing) = connector(SslMode::VerifyFull, Some(Path::new("/nonexistent/rds-bundle.pem"))) else {
            panic!("a missing file was accepted");
        };
        assert!(missing.to_string().contains("/nonexistent/rds-bundle.pem"), "{missing}");
        assert!(connector(SslMode::VerifyFull, None).is_ok(), "webpki roots");
        assert!(connector(SslMode::Require, None).is_ok());
    }
}
