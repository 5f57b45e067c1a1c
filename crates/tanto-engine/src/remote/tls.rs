//! TLS for a remote engine (rustls, the aws-lc-rs provider): the server's
//! certificate and key, an optional CA that client certificates must chain
//! to (mutual TLS); a client's CA (else the system's roots) and optional
//! certificate. Files are PEM.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::EngineError;

/// The server's side (`tanto engine serve --tls-cert/--tls-key/--tls-client-ca`).
#[derive(Debug, Clone, Default)]
pub struct ServerTls {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub client_ca: Option<PathBuf>,
}

/// A client's side (`TANTO_TLS_CA`, `TANTO_TLS_CERT`, `TANTO_TLS_KEY`).
#[derive(Debug, Clone, Default)]
pub struct ClientTls {
    pub ca: Option<PathBuf>,
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

fn certs(path: &Path, what: &str) -> Result<Vec<CertificateDer<'static>>, EngineError> {
    let bad = |e: String| EngineError::input(format!("{what} `{}`: {e}", path.display()));
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| bad(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(e.to_string()))?;
    if certs.is_empty() {
        return Err(bad("holds no PEM certificate".into()));
    }
    Ok(certs)
}

fn key(path: &Path, what: &str) -> Result<PrivateKeyDer<'static>, EngineError> {
    PrivateKeyDer::from_pem_file(path)
        .map_err(|e| EngineError::input(format!("{what} `{}`: {e} (a PEM private key is expected)", path.display())))
}

fn roots(path: &Path) -> Result<rustls::RootCertStore, EngineError> {
    let mut store = rustls::RootCertStore::empty();
    for c in certs(path, "CA file")? {
        store.add(c).map_err(|e| EngineError::input(format!("CA file `{}`: {e}", path.display())))?;
    }
    Ok(store)
}

fn tls_error(what: &str) -> impl Fn(rustls::Error) -> EngineError + '_ {
    move |e| EngineError::input(format!("{what}: {e}"))
}

/// The server's TLS configuration; speaks HTTP/2 and HTTP/1.1 (ALPN).
pub fn server_config(t: &ServerTls) -> Result<Arc<rustls::ServerConfig>, EngineError> {
    let builder = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(tls_error("TLS set-up"))?;
    let builder = match &t.client_ca {
        Some(ca) => {
            let verifier =
                rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots(ca)?), provider())
                    .build()
                    .map_err(|e| EngineError::input(format!("client CA `{}`: {e}", ca.display())))?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let mut config = builder
        .with_single_cert(certs(&t.cert, "TLS certificate")?, key(&t.key, "TLS key")?)
        .map_err(tls_error("the TLS certificate and key"))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// A client's TLS configuration offering `alpn`.
pub fn client_config(t: &ClientTls, alpn: &[u8]) -> Result<Arc<rustls::ClientConfig>, EngineError> {
    let store = match &t.ca {
        Some(ca) => roots(ca)?,
        None => {
            let mut store = rustls::RootCertStore::empty();
            for c in rustls_native_certs::load_native_certs().certs {
                let _ = store.add(c);
            }
            store
        }
    };
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(tls_error("TLS set-up"))?
        .with_root_certificates(store);
    let mut config = match (&t.cert, &t.key) {
        (Some(cert), Some(k)) => builder
            .with_client_auth_cert(certs(cert, "client certificate")?, key(k, "client key")?)
            .map_err(tls_error("the client certificate and key"))?,
        (None, None) => builder.with_no_client_auth(),
        _ => return Err(EngineError::input("TANTO_TLS_CERT and TANTO_TLS_KEY go together: set both or neither")),
    };
    config.alpn_protocols = vec![alpn.to_vec()];
    Ok(Arc::new(config))
}
