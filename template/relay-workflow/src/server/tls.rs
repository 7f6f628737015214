//! TLS serving (feature `tls`): https/wss straight from the app, for hosts where nothing
//! terminates TLS in front of it (not Heroku, whose router does). Loads and checks the PEM
//! files, and runs each connection's handshake within the request-head deadline.

use super::listener::{serve_stream, Conn};
use super::{FastPath, ServeError};
use axum::Router;
use hyper_util::service::TowerToHyperService;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_rustls::rustls;
pub(super) use tokio_rustls::TlsAcceptor;

/// Shake hands within `header_timeout` (dropped sooner when the connection is evicted or
/// the server stops), then serve the connection as a plain one is.
pub(super) async fn serve_tls(
    acceptor: TlsAcceptor,
    tcp: TcpStream,
    conn: Conn,
    fast: Arc<FastPath>,
    service: TowerToHyperService<Router>,
    header_timeout: Duration,
) {
    let handshake = tokio::time::timeout(header_timeout, acceptor.accept(tcp));
    let handshake = tokio::select! {
        done = handshake => done,
        _ = conn.evict.cancelled() => return,
        _ = conn.stop.cancelled() => return,
    };
    match handshake {
        Ok(Ok(stream)) => Box::pin(serve_stream(stream, conn, fast, service, header_timeout)).await,
        Ok(Err(e)) => tracing::debug!("TLS handshake failed: {e}"),
        Err(_) => tracing::debug!("TLS handshake not completed within {header_timeout:?}; dropped"),
    }
}

/// Read and check the PEM certificate chain and key; every error names the file at fault.
pub(super) fn load_tls(cert_file: &Path, key_file: &Path) -> Result<TlsAcceptor, ServeError> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let cert_pem = std::fs::read(cert_file).map_err(|e| {
        ServeError::Tls(format!(
            "TLS_CERT_FILE {}: cannot read it: {e}",
            cert_file.display()
        ))
    })?;
    let key_pem = std::fs::read(key_file).map_err(|e| {
        ServeError::Tls(format!(
            "TLS_KEY_FILE {}: cannot read it: {e}",
            key_file.display()
        ))
    })?;
    let certs = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| {
            ServeError::Tls(format!(
                "TLS_CERT_FILE {}: not a valid PEM certificate file: {e}",
                cert_file.display()
            ))
        })?;
    if certs.is_empty() {
        return Err(ServeError::Tls(format!(
            "TLS_CERT_FILE {}: no certificate found; it must be PEM (-----BEGIN CERTIFICATE-----), leaf certificate first",
            cert_file.display()
        )));
    }
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| {
        ServeError::Tls(format!(
            "TLS_KEY_FILE {}: no usable PEM private key (PKCS#8, PKCS#1 or SEC1): {e}",
            key_file.display()
        ))
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let signing_key = provider
        .key_provider
        .load_private_key(key.clone_key())
        .map_err(|e| {
            ServeError::Tls(format!(
                "TLS_KEY_FILE {}: unsupported private key: {e}",
                key_file.display()
            ))
        })?;
    let certified = rustls::sign::CertifiedKey::new(certs.clone(), signing_key);
    if let Err(e) = certified.keys_match() {
        return Err(ServeError::Tls(format!(
            "TLS_KEY_FILE {} does not match the certificate in TLS_CERT_FILE {}: {e}",
            key_file.display(),
            cert_file.display()
        )));
    }
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ServeError::Tls(format!("TLS setup failed: {e}")))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| {
            ServeError::Tls(format!(
                "TLS_CERT_FILE {} and TLS_KEY_FILE {} cannot be used together: {e}",
                cert_file.display(),
                key_file.display()
            ))
        })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}
