//! Direct TLS (`TLS_CERT_FILE`, `TLS_KEY_FILE`): wss:// from certificates made at test time,
//! and clear start-up errors for unusable files.
#![cfg(all(feature = "testing", feature = "tls"))]

mod common;

use common::*;
use futures_util::{SinkExt, StreamExt};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use relay_workflow::testing::Trigger;
use relay_workflow::{ServeError, WorkflowServer};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_tungstenite::tungstenite::Message;

/// A throwaway directory under the target directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let dir =
            std::env::temp_dir().join(format!("relay-workflow-tls-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn write(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, contents).unwrap();
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A test CA and a server certificate it signed for `localhost` and 127.0.0.1.
struct Pki {
    ca: CertificateDer<'static>,
    cert_pem: String,
    key_pem: String,
}

fn pki() -> Pki {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
        .unwrap()
        .signed_by(&key, &ca)
        .unwrap();
    Pki {
        ca: ca.der().clone(),
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    }
}

fn client_config(ca: &CertificateDer<'static>) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.clone()).unwrap();
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    Arc::new(config)
}

async fn start_error(cert: &Path, key: &Path) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let result = tokio::time::timeout(
        Duration::from_secs(5),
        WorkflowServer::new()
            .tls(cert, key)
            .workflow("hellopath", hello())
            .serve_with(listener, std::future::pending()),
    )
    .await
    .expect("the server started instead of refusing");
    match result {
        Err(e @ ServeError::Tls(_)) => e.to_string(),
        other => panic!("expected a TLS error, got {other:?}"),
    }
}

#[tokio::test]
async fn serves_wss_with_the_given_certificate_and_key() {
    let pki = pki();
    let dir = TempDir::new("ok");
    let cert = dir.write("cert.pem", &pki.cert_pem);
    let key = dir.write("key.pem", &pki.key_pem);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(
        WorkflowServer::new()
            .tls(&cert, &key)
            .shutdown_deadline(Duration::from_secs(1))
            .workflow("hellopath", hello())
            .serve_with(listener, async {
                let _ = stopped.await;
            }),
    );

    // A WebSocket over TLS, trusting only the test CA: the workflow answers the start event.
    let connector = tokio_rustls::TlsConnector::from(client_config(&pki.ca));
    let tcp = TcpStream::connect(addr).await.unwrap();
    let tls = connector
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .unwrap();
    let url = format!("wss://localhost:{}/hellopath", addr.port());
    let (mut ws, response) = tokio_tungstenite::client_async(url, tls).await.unwrap();
    assert_eq!(response.status(), 101);
    ws.send(Message::text(
        Trigger::phrase("hello").to_json().to_string(),
    ))
    .await
    .unwrap();
    let frame = tokio::time::timeout(Duration::from_secs(5), ws.next())
        .await
        .expect("no request within 5 s")
        .unwrap()
        .unwrap();
    let text = frame.into_text().unwrap();
    assert!(text.contains("wf_api_start_interaction_request"), "{text}");
    drop(ws);

    // The health route over https, with reqwest trusting the same CA.
    let client = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_der(&pki.ca).unwrap())
        .build()
        .unwrap();
    let health = client
        .get(format!("https://localhost:{}/healthz", addr.port()))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);

    // A client that does not trust the CA gets no session.
    let untrusted = reqwest::get(format!("https://localhost:{}/healthz", addr.port())).await;
    assert!(untrusted.is_err());

    let _ = stop.send(());
    server.await.unwrap().unwrap();
}

#[tokio::test]
async fn unusable_certificate_files_stop_the_start_with_a_message_naming_the_file() {
    let pki = pki();
    let other = pki_key_only();
    let dir = TempDir::new("bad");
    let cert = dir.write("cert.pem", &pki.cert_pem);
    let key = dir.write("key.pem", &pki.key_pem);
    let garbage = dir.write("garbage.pem", "this is not PEM\n");
    let wrong_key = dir.write("other-key.pem", &other);
    let missing = dir.0.join("missing.pem");

    let e = start_error(&missing, &key).await;
    assert!(
        e.contains("TLS_CERT_FILE") && e.contains("cannot read"),
        "{e}"
    );
    let e = start_error(&cert, &missing).await;
    assert!(
        e.contains("TLS_KEY_FILE") && e.contains("cannot read"),
        "{e}"
    );
    let e = start_error(&garbage, &key).await;
    assert!(
        e.contains("TLS_CERT_FILE") && e.contains("no certificate"),
        "{e}"
    );
    let e = start_error(&cert, &garbage).await;
    assert!(
        e.contains("TLS_KEY_FILE") && e.contains("private key"),
        "{e}"
    );
    // The key file holding a certificate instead of a key.
    let e = start_error(&cert, &cert).await;
    assert!(e.contains("TLS_KEY_FILE"), "{e}");
    let e = start_error(&cert, &wrong_key).await;
    assert!(e.contains("does not match"), "{e}");
}

fn pki_key_only() -> String {
    KeyPair::generate().unwrap().serialize_pem()
}
