//! The TLS listener's identity: `sip.tls_certificate` and `sip.tls_private_key`, read and checked
//! once, at configuration load and again when the listener starts, so a bad file stops start-up
//! rather than the first caller's handshake.

use std::path::Path;
use std::sync::Arc;

use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

/// Why the certificate or key cannot serve TLS, naming the key to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {problem}")]
pub struct TlsIdentityError {
    /// `sip.tls_certificate` or `sip.tls_private_key`.
    pub key: &'static str,
    pub problem: String,
}

const CERTIFICATE_KEY: &str = "sip.tls_certificate";
const PRIVATE_KEY_KEY: &str = "sip.tls_private_key";

fn problem(key: &'static str, path: &Path, what: impl std::fmt::Display) -> TlsIdentityError {
    TlsIdentityError {
        key,
        problem: format!("{}: {what}", path.display()),
    }
}

/// rustls with `ring`, the one crypto provider linked in (Cargo.toml): named here rather than
/// taken from the process default, which would panic were a second provider ever linked.
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Reads the PEM certificate chain (leaf first) and private key (PKCS#8, PKCS#1 or SEC1) and
/// checks that the key is the certificate's.
pub fn load_identity(
    certificate: &Path,
    private_key: &Path,
) -> Result<Arc<CertifiedKey>, TlsIdentityError> {
    let chain = CertificateDer::pem_file_iter(certificate)
        .map_err(|e| problem(CERTIFICATE_KEY, certificate, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| problem(CERTIFICATE_KEY, certificate, e))?;
    if chain.is_empty() {
        return Err(problem(
            CERTIFICATE_KEY,
            certificate,
            "no PEM CERTIFICATE block",
        ));
    }
    let key = PrivateKeyDer::from_pem_file(private_key)
        .map_err(|e| problem(PRIVATE_KEY_KEY, private_key, e))?;
    let provider = provider();
    let signing_key = provider
        .key_provider
        .load_private_key(key)
        .map_err(|e| problem(PRIVATE_KEY_KEY, private_key, e))?;
    let identity = CertifiedKey::new(chain, signing_key);
    identity.keys_match().map_err(|e| {
        problem(
            PRIVATE_KEY_KEY,
            private_key,
            format!("does not match the certificate in {CERTIFICATE_KEY} ({e})"),
        )
    })?;
    Ok(Arc::new(identity))
}

/// The server side of TLS: TLS 1.2 and 1.3, no client certificates (peers are admitted by
/// address, `sip.allowed_peers`).
pub fn server_config(
    certificate: &Path,
    private_key: &Path,
) -> Result<Arc<ServerConfig>, TlsIdentityError> {
    let identity = load_identity(certificate, private_key)?;
    let config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| problem(CERTIFICATE_KEY, certificate, e))?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(OneIdentity(identity)));
    Ok(Arc::new(config))
}

/// Serves the one certificate whatever name the client asks for (SNI): a trunk dials an address.
#[derive(Debug)]
struct OneIdentity(Arc<CertifiedKey>);

impl ResolvesServerCert for OneIdentity {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.clone())
    }
}
