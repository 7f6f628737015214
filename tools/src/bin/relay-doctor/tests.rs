//! The doctor against a real WorkflowServer behind a local TLS server (127.0.0.1, port 0),
//! with certificates made here: a test authority and its `localhost` certificate, a
//! self-signed one, an expired one.

use super::*;
use relay_workflow::prelude::*;
use relay_workflow::WorkflowServer;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

/// A workflow that says hello and terminates.
fn hello() -> Workflow {
    Workflow::new()
        .on_start(|relay, start: StartEvent| async move {
            let device = start.trigger.source_uri().ok_or(Error::MissingSourceUri)?;
            relay.start_interaction(device, "hello").await?;
            Ok(())
        })
        .on_interaction_started(|relay, event: InteractionLifecycleEvent| async move {
            relay.say_and_wait(&event.source_uri, "Hello!").await?;
            relay.end_interaction(&event.source_uri).await?;
            Ok(())
        })
        .on_interaction_ended(|relay, _| async move {
            relay.terminate().await?;
            Ok(())
        })
}

struct Certs {
    ca_pem: String,
    good: (CertificateDer<'static>, Vec<u8>),
    self_signed: (CertificateDer<'static>, Vec<u8>),
    expired: (CertificateDer<'static>, Vec<u8>),
}

fn certs() -> Certs {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    };
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("ca params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "relay-doctor test authority");
    let ca_key = KeyPair::generate().expect("ca key");
    let ca_cert = ca_params.self_signed(&ca_key).expect("ca cert");
    let issuer = Issuer::new(ca_params, ca_key);

    let leaf = |expired: bool| {
        let mut params = CertificateParams::new(vec!["localhost".to_owned()]).expect("params");
        if expired {
            params.not_before = rcgen::date_time_ymd(2019, 1, 1);
            params.not_after = rcgen::date_time_ymd(2020, 1, 1);
        }
        let key = KeyPair::generate().expect("key");
        let cert = params.signed_by(&key, &issuer).expect("leaf");
        (cert.der().clone(), key.serialize_der())
    };
    let good = leaf(false);
    let expired = leaf(true);
    let ss_key = KeyPair::generate().expect("key");
    let ss = CertificateParams::new(vec!["localhost".to_owned()])
        .expect("params")
        .self_signed(&ss_key)
        .expect("self-signed");
    Certs {
        ca_pem: ca_cert.pem(),
        good,
        self_signed: (ss.der().clone(), ss_key.serialize_der()),
        expired,
    }
}

struct TlsListener {
    tcp: TcpListener,
    acceptor: TlsAcceptor,
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((tcp, addr)) = self.tcp.accept().await else {
                continue;
            };
            // A client that refuses the certificate ends the handshake: wait for the next.
            if let Ok(tls) = self.acceptor.accept(tcp).await {
                return (tls, addr);
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

/// The secret of the servers that require one; it must never be printed.
const SECRET: &str = "doctor-test-secret-7c2e9a41b05d";

/// The real WorkflowServer router (hello at /hello, no secret) over TLS with `cert`.
async fn tls_server(cert: &(CertificateDer<'static>, Vec<u8>)) -> (SocketAddr, JoinHandle<()>) {
    tls_server_with(
        cert,
        WorkflowServer::new().workflow("hello", hello()).router(),
    )
    .await
}

/// `router` over TLS with `cert`.
async fn tls_server_with(
    cert: &(CertificateDer<'static>, Vec<u8>),
    router: axum::Router,
) -> (SocketAddr, JoinHandle<()>) {
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(cert.1.clone()));
    let config = rustls::ServerConfig::builder_with_provider(net::provider())
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(vec![cert.0.clone()], key)
        .expect("server config");
    let tcp = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = tcp.local_addr().expect("addr");
    let listener = TlsListener {
        tcp,
        acceptor: TlsAcceptor::from(Arc::new(config)),
    };
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    (addr, task)
}

async fn doctor(args: &[String]) -> (u8, String) {
    let mut out = Vec::new();
    let mut err = Vec::new();
    let code = cli(args.to_vec(), &b""[..], &mut out, &mut err).await;
    let text = String::from_utf8_lossy(&out).into_owned() + &String::from_utf8_lossy(&err);
    (code, text)
}

fn check_args(host: &str, addr: SocketAddr, ca: Option<&std::path::Path>) -> Vec<String> {
    let mut args = vec![
        "check".to_owned(),
        format!("https://{host}:{}", addr.port()),
        "hello".to_owned(),
        "--timeout".to_owned(),
        "10".to_owned(),
        "--resolve".to_owned(),
        format!("{host}:{}:127.0.0.1", addr.port()),
    ];
    if let Some(ca) = ca {
        args.push("--ca-file".to_owned());
        args.push(ca.display().to_string());
    }
    args
}

fn write_ca(pem: &str, name: &str) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!("relay-doctor-{}-{name}.pem", std::process::id()));
    std::fs::write(&path, pem).expect("write CA file");
    path
}

/// The hello workflow's server, requiring [`SECRET`].
fn with_secret() -> axum::Router {
    WorkflowServer::new()
        .secret(SECRET)
        .workflow("hello", hello())
        .router()
}

#[tokio::test]
async fn a_certificate_from_a_trusted_authority_passes_every_check() {
    let certs = certs();
    let ca = write_ca(&certs.ca_pem, "pass");
    let (addr, server) = tls_server_with(&certs.good, with_secret()).await;
    let mut args = check_args("localhost", addr, Some(&ca));
    // The registered URL's query, given with the path.
    args[2] = format!("hello?secret={SECRET}");
    args.push("--session".to_owned());
    let (code, text) = doctor(&args).await;
    assert_eq!(code, 0, "{text}");
    for line in [
        "✓ tls      the certificate for localhost is valid",
        "✓ answers  GET /healthz answered 200",
        "✓ health   /healthz: status ok, workflows /hello; /hello is served",
        "✓ secret   the server requires WORKFLOW_SECRET",
        "✓ upgrade  WebSocket upgrade on /hello: 101 Switching Protocols",
        "✓ session  a simulated session ran to the stop event (normal)",
        &format!(
            "All checks passed. Register wss://localhost:{}/hello?secret=<WORKFLOW_SECRET> with Relay.",
            addr.port()
        ),
    ] {
        assert!(text.contains(line), "missing {line:?} in\n{text}");
    }
    assert!(!text.contains(SECRET), "the secret was printed:\n{text}");

    // A path the server does not serve: the upgrade gets 404, and healthz names the paths.
    // The secret in the URL this time; the JSON report does not show it either.
    let mut args = check_args("localhost", addr, Some(&ca));
    args[1] = format!("https://localhost:{}/nope?secret={SECRET}", addr.port());
    args.remove(2);
    args.push("--json".to_owned());
    let (code, text) = doctor(&args).await;
    assert_eq!(code, 1, "{text}");
    assert!(!text.contains(SECRET), "the secret was printed:\n{text}");
    let report: serde_json::Value = serde_json::from_str(&text).expect("JSON report");
    assert_eq!(report["ok"], false);
    let upgrade = report["checks"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["name"] == "upgrade"))
        .expect("upgrade check");
    assert_eq!(upgrade["status"], "fail");
    assert_eq!(
        upgrade["summary"],
        "/nope answered 404: no workflow there; it serves /hello"
    );
    let _ = std::fs::remove_file(ca);
    server.abort();
}

/// The check of a name in a JSON report.
fn check_named<'a>(report: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    report["checks"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["name"] == name))
        .unwrap_or_else(|| panic!("no {name} check in {report}"))
}

#[tokio::test]
async fn a_server_without_a_secret_fails_the_secret_check_with_the_fix() {
    let certs = certs();
    let ca = write_ca(&certs.ca_pem, "open");
    let (addr, server) = tls_server(&certs.good).await;
    let (code, text) = doctor(&check_args("localhost", addr, Some(&ca))).await;
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains(
            "✗ secret   the server has no WORKFLOW_SECRET: anyone who learns the URL can open sessions"
        ),
        "{text}"
    );
    assert!(
        text.contains("fix: heroku config:set WORKFLOW_SECRET=$(openssl rand -hex 32), then register the URL again with ?secret="),
        "{text}"
    );
    // Everything else works: the secret is the one failure.
    assert!(
        text.contains("✓ upgrade  WebSocket upgrade on /hello: 101"),
        "{text}"
    );
    assert!(text.contains("1 check failed."), "{text}");
    let _ = std::fs::remove_file(ca);
    server.abort();
}

#[tokio::test]
async fn a_server_that_requires_a_secret_refuses_a_url_without_it_or_with_another() {
    let certs = certs();
    let ca = write_ca(&certs.ca_pem, "closed");
    let (addr, server) = tls_server_with(&certs.good, with_secret()).await;
    let mut args = check_args("localhost", addr, Some(&ca));
    args.push("--json".to_owned());
    let (code, text) = doctor(&args).await;
    assert_eq!(code, 1, "{text}");
    let report: serde_json::Value = serde_json::from_str(&text).expect("JSON report");
    assert_eq!(check_named(&report, "secret")["status"], "pass", "{text}");
    let upgrade = check_named(&report, "upgrade");
    assert_eq!(upgrade["status"], "fail", "{text}");
    assert_eq!(
        upgrade["summary"],
        "/hello answered 401: the server requires its secret"
    );
    assert!(
        upgrade["fix"]
            .as_str()
            .is_some_and(|f| f.contains("?secret=$(heroku config:get WORKFLOW_SECRET)")),
        "{text}"
    );

    let wrong = "another-value-3f9d";
    args[2] = format!("/hello?secret={wrong}");
    let (code, text) = doctor(&args).await;
    assert_eq!(code, 1, "{text}");
    assert!(
        !text.contains(wrong),
        "the given secret was printed:\n{text}"
    );
    let report: serde_json::Value = serde_json::from_str(&text).expect("JSON report");
    assert_eq!(
        check_named(&report, "upgrade")["summary"],
        "/hello answered 401: the secret in the URL is not the server's"
    );
    let _ = std::fs::remove_file(ca);
    server.abort();
}

#[tokio::test]
async fn a_healthz_that_does_not_say_skips_the_secret_check() {
    use axum::routing::get;
    let certs = certs();
    let ca = write_ca(&certs.ca_pem, "skip");
    // Another server's health route (or an older SDK's), in front of the real workflow.
    let router = axum::Router::new()
        .route(
            "/healthz",
            get(|| async {
                axum::Json(serde_json::json!({"status": "ok", "workflows": ["/hello"]}))
            }),
        )
        .fallback_service(WorkflowServer::new().workflow("hello", hello()).router());
    let (addr, server) = tls_server_with(&certs.good, router).await;
    let (code, text) = doctor(&check_args("localhost", addr, Some(&ca))).await;
    assert_eq!(code, 0, "a skipped check does not fail:\n{text}");
    assert!(
        text.contains("- secret   not checked: /healthz does not say whether a secret is required"),
        "{text}"
    );
    assert!(text.contains("All checks passed."), "{text}");
    let _ = std::fs::remove_file(ca);
    server.abort();
}

#[tokio::test]
async fn a_self_signed_certificate_is_flagged() {
    let certs = certs();
    let (addr, server) = tls_server(&certs.self_signed).await;
    let (code, text) = doctor(&check_args("localhost", addr, None)).await;
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("✗ tls      localhost presents a self-signed certificate"),
        "{text}"
    );
    assert!(
        text.contains("Relay refuses self-signed certificates"),
        "{text}"
    );
    assert!(text.contains("*.herokuapp.com"), "{text}");
    assert!(!text.contains("upgrade"), "stops after TLS:\n{text}");
    server.abort();
}

#[tokio::test]
async fn unknown_authority_expired_and_wrong_name_are_told_apart() {
    let certs = certs();
    let ca = write_ca(&certs.ca_pem, "apart");
    let (good, good_server) = tls_server(&certs.good).await;
    let (code, text) = doctor(&check_args("localhost", good, None)).await;
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("✗ tls      localhost presents a certificate from an unknown authority"),
        "{text}"
    );

    // The same server under another name: the certificate does not cover it.
    let (code, text) = doctor(&check_args("relay.test", good, Some(&ca))).await;
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("✗ tls      the certificate does not cover the name relay.test"),
        "{text}"
    );

    let (expired, expired_server) = tls_server(&certs.expired).await;
    let (code, text) = doctor(&check_args("localhost", expired, Some(&ca))).await;
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("✗ tls      the certificate of localhost has expired"),
        "{text}"
    );
    let _ = std::fs::remove_file(ca);
    good_server.abort();
    expired_server.abort();
}

#[tokio::test]
async fn a_plain_local_server_is_checked_but_its_scheme_fails() {
    let server = relay_workflow::testing::TestServer::start(
        WorkflowServer::new().workflow("hello", hello()),
    )
    .await;
    let url = server.url("hello");
    let (code, text) = doctor(&["check".into(), url, "--timeout".into(), "10".into()]).await;
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("✗ scheme   ws:// has no TLS"), "{text}");
    assert!(
        text.contains("✓ upgrade  WebSocket upgrade on /hello: 101"),
        "{text}"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn nothing_listening_and_bad_arguments() {
    // A port that was free a moment ago: connection refused.
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        l.local_addr().expect("addr").port()
    };
    let (code, text) = doctor(&[
        "check".into(),
        format!("wss://127.0.0.1:{port}/hello"),
        "--timeout".into(),
        "5".into(),
    ])
    .await;
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("✓ scheme   register wss://127.0.0.1:"),
        "{text}"
    );
    assert!(text.contains("✗ tcp      cannot connect to port"), "{text}");

    for bad in [
        vec![],
        vec!["cure"],
        vec!["check"],
        vec!["check", "https://h.example"],
        vec!["check", "ftp://h.example", "p"],
        vec!["check", "https://h.example/a", "b"],
        vec!["check", "https://h.example", "p", "--timeout", "0"],
        vec![
            "check",
            "https://h.example",
            "p",
            "--resolve",
            "h.example:443",
        ],
        vec!["check", "https://h.example", "p", "--bogus"],
        vec!["logs", "--bogus"],
    ] {
        let args: Vec<String> = bad.iter().map(|s| (*s).to_owned()).collect();
        let (code, text) = doctor(&args).await;
        assert_eq!(code, 2, "{bad:?}: {text}");
        // Clap's form: what is wrong, then where to read more.
        assert!(
            text.starts_with("error: ") || text.contains("\nUsage: relay-doctor"),
            "{text}"
        );
        assert!(
            text.contains("--help") || text.contains("Commands:"),
            "{text}"
        );
    }
    // A URL quoted back in an error keeps its secret.
    let (code, text) = doctor(&[
        "check".into(),
        "https://h.example/a?secret=hush".into(),
        "b".into(),
    ])
    .await;
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("two different paths"), "{text}");
    let (code, text) = doctor(&[
        "check".into(),
        "https://h.example/a?secret=hush".into(),
        "a".into(),
        "b?secret=hush".into(),
    ])
    .await;
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("unexpected argument 'b?secret="), "{text}");
    assert!(!text.contains("hush"), "{text}");
    let (code, text) = doctor(&["--help".into()]).await;
    assert_eq!(code, 0);
    assert!(text.contains("relay-doctor check"));
    assert!(text.contains("Commands:"), "{text}");
    let (code, text) = doctor(&["check".into(), "--help".into()]).await;
    assert_eq!(code, 0);
    assert!(text.contains("--ca-file <PEM>"), "{text}");
    let (code, text) = doctor(&["--version".into()]).await;
    assert_eq!(code, 0);
    assert_eq!(
        text,
        format!("relay-doctor {}\n", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn the_command_is_well_formed() {
    use clap::CommandFactory;
    Cli::command().debug_assert();
}

#[tokio::test]
async fn logs_reads_standard_input() {
    let input = "heroku[router]: at=error code=H12 desc=\"Request timeout\" path=\"/hello\" service=30000ms status=503\n";
    let mut out = Vec::new();
    let mut err = Vec::new();
    let code = cli(
        vec!["logs".into(), "--only-problems".into()],
        input.as_bytes(),
        &mut out,
        &mut err,
    )
    .await;
    assert_eq!(code, 1);
    let text = String::from_utf8(out).expect("utf-8");
    assert!(
        text.contains("✗ H12 Request timeout (path /hello)"),
        "{text}"
    );
}

#[test]
fn urls_and_paths() {
    let p = check::parse_url("https://App.example:8443/hello?x=1").expect("url");
    assert_eq!(
        (
            p.tls,
            p.host.as_str(),
            p.port,
            p.explicit_port,
            p.path.as_str()
        ),
        (true, "app.example", 8443, true, "/hello")
    );
    let p = check::parse_url("ws://[::1]/").expect("url");
    assert_eq!((p.tls, p.host.as_str(), p.port), (false, "::1", 80));
    assert!(check::parse_url("app.example").is_err());
    assert!(check::parse_url("https://:443/").is_err());
    let Ok(Command::Check(o, json)) = parse(vec![
        "check".into(),
        "wss://h.example/hello/".into(),
        "hello".into(),
        "--json".into(),
        "--resolve=h.example:443:[::1]".into(),
    ]) else {
        panic!("did not parse")
    };
    assert!(json);
    assert_eq!(o.path, "/hello");
    assert_eq!(
        o.resolve[0].2,
        "::1".parse::<std::net::IpAddr>().expect("ip")
    );
}
