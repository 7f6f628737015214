//! Secure by default: what a server without a secret says about it (at start and in
//! `/healthz`), and request heads with bare LF line endings, over real sockets on 127.0.0.1.
#![cfg(feature = "testing")]

mod common;

use common::*;
use relay_workflow::testing::TestServer;
use relay_workflow::WorkflowServer;
use serde_json::Value;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The secret the tests set; it must never appear in `/healthz`.
const SECRET: &str = "secure-test-secret-5e1f0a9c3b7d";
/// Set in the environment of the child process that runs [`child_start_without_secret`].
const CHILD: &str = "RELAY_SECURE_TEST_CHILD";
/// Marks the child's log output in its standard output.
const LOGS_BEGIN: &str = "----- logs begin -----";

async fn health_text(server: &TestServer) -> String {
    reqwest::get(server.http_url("healthz"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

#[tokio::test]
async fn healthz_says_whether_a_secret_is_required_and_never_its_value() {
    let open = TestServer::start(WorkflowServer::new().workflow("hellopath", hello())).await;
    let text = health_text(&open).await;
    let h: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(h["secret"], "not set", "{text}");
    open.shutdown().await;

    let closed = TestServer::start(
        WorkflowServer::new()
            .secret(SECRET)
            .workflow("hellopath", hello()),
    )
    .await;
    let text = health_text(&closed).await;
    let h: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(h["secret"], "required", "{text}");
    assert!(!text.contains(SECRET), "{text}");
    closed.shutdown().await;
}

/// Start a server without a secret in a child process of this test binary (so that its
/// environment, `DYNO` included, is the child's alone) and return what it logged.
async fn start_logs_in_child(dyno: Option<&str>) -> String {
    child_output(dyno, None)
        .await
        .split_once(LOGS_BEGIN)
        .map(|(_, logs)| logs.to_owned())
        .unwrap_or_else(|| panic!("no logs from the child"))
}

/// The whole standard output of [`child_start_without_secret`], run with `DYNO` and
/// `WORKFLOW_SECRET` set as given.
async fn child_output(dyno: Option<&str>, secret: Option<&str>) -> String {
    let mut command = tokio::process::Command::new(std::env::current_exe().unwrap());
    command
        .args([
            "--exact",
            "child_start_without_secret",
            "--include-ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, "1")
        .env_remove("WORKFLOW_SECRET")
        .env_remove("DYNO")
        .kill_on_drop(true);
    if let Some(dyno) = dyno {
        command.env("DYNO", dyno);
    }
    if let Some(secret) = secret {
        command.env("WORKFLOW_SECRET", secret);
    }
    let output = tokio::time::timeout(Duration::from_secs(60), command.output())
        .await
        .expect("the child test did not finish within 60 s")
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "child failed: {stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

#[tokio::test]
async fn only_settings_from_env_reads_the_environment() {
    let out = child_output(None, Some(SECRET)).await;
    let health = |which: &str| -> Value {
        let line = out
            .lines()
            .find_map(|l| l.split_once(which).map(|(_, json)| json))
            .unwrap_or_else(|| panic!("no {which:?} in\n{out}"));
        serde_json::from_str(line).unwrap()
    };
    assert_eq!(health("plain healthz: ")["secret"], "not set", "{out}");
    assert_eq!(health("env healthz: ")["secret"], "required", "{out}");
    assert!(!out.contains(SECRET), "the secret was printed:\n{out}");
}

/// Run by [`a_server_without_a_secret_says_so_loudly_on_heroku`] in a child process.
#[tokio::test]
#[ignore = "run in a child process by a_server_without_a_secret_says_so_loudly_on_heroku"]
async fn child_start_without_secret() {
    if std::env::var_os(CHILD).is_none() {
        return;
    }
    // The plain builder reads nothing from the environment: the child's WORKFLOW_SECRET (set
    // by the parent when it checks this) is ignored, and `DYNO` is not looked at.
    let plain = TestServer::start(WorkflowServer::new().workflow("hellopath", hello())).await;
    let plain_health = health_text(&plain).await;
    plain.shutdown().await;
    // Explicitly from the environment, as an app's main does.
    let server = TestServer::start(
        WorkflowServer::new()
            .workflow("hellopath", hello())
            .settings_from_env()
            .expect("settings from the environment"),
    )
    .await;
    // `/healthz` answers only once the start-up lines are written.
    let env_health = health_text(&server).await;
    let logs = server.logs().clone();
    server.shutdown().await;
    println!("plain healthz: {plain_health}");
    println!("env healthz: {env_health}");
    println!("{LOGS_BEGIN}\n{}", logs.text());
}

#[tokio::test]
async fn a_server_without_a_secret_says_so_loudly_on_heroku() {
    let fix = "heroku config:set WORKFLOW_SECRET=$(openssl rand -hex 32)";
    let heroku = start_logs_in_child(Some("web.1")).await;
    // The child's plain server does not look at DYNO (an INFO line); its server configured
    // from the environment does.
    let warning = heroku
        .lines()
        .find(|l| l.contains("WORKFLOW_SECRET is not set") && !l.contains("INFO"))
        .unwrap_or_else(|| panic!("no warning about the secret in\n{heroku}"));
    assert!(warning.contains("WARN"), "{warning}");
    assert!(
        warning.contains("anyone who learns this app's URL can open sessions"),
        "{warning}"
    );
    assert!(warning.contains("hold the places Relay needs"), "{warning}");
    assert!(warning.contains(fix), "{warning}");
    assert!(warning.contains("?secret="), "{warning}");

    let local = start_logs_in_child(None).await;
    let note = local
        .lines()
        .find(|l| l.contains("WORKFLOW_SECRET is not set"))
        .unwrap_or_else(|| panic!("no note about the secret in\n{local}"));
    assert!(note.contains("INFO"), "{note}");
    assert!(!local.contains("WARN"), "{local}");
}

/// Read (bounded in bytes and time) until the server closes the connection.
async fn read_to_close(tcp: &mut TcpStream, limit: Duration) -> Option<String> {
    let mut answer = Vec::new();
    let mut buf = [0u8; 1024];
    let deadline = tokio::time::Instant::now() + limit;
    for _ in 0..64 {
        match tokio::time::timeout_at(deadline, tcp.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => answer.extend_from_slice(&buf[..n]),
        }
    }
    Some(String::from_utf8_lossy(&answer).into_owned())
}

#[tokio::test]
async fn a_head_with_bare_lf_line_endings_gets_400_at_once() {
    // The header timeout stays at its 30 s default: the answer must not wait for it.
    let server = TestServer::start(WorkflowServer::new().workflow("hellopath", hello())).await;
    let heads = [
        "GET /healthz HTTP/1.1\nHost: x\n\n".to_owned(),
        format!(
            "GET /hellopath HTTP/1.1\nHost: {}\nUpgrade: websocket\nConnection: Upgrade\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\nSec-WebSocket-Version: 13\n\n",
            server.addr()
        ),
        // One bare LF among CRLF lines, and the client sends nothing more.
        "GET /hellopath HTTP/1.1\r\nHost: x\n".to_owned(),
    ];
    for head in heads {
        let mut tcp = TcpStream::connect(server.addr()).await.unwrap();
        tcp.write_all(head.as_bytes()).await.unwrap();
        // The client keeps its side open: only the server can end this.
        let answer = read_to_close(&mut tcp, Duration::from_secs(5))
            .await
            .unwrap_or_else(|| panic!("no answer and no close within 5 s to {head:?}"));
        assert!(
            answer.starts_with("HTTP/1.1 400 Bad Request\r\n"),
            "{head:?}: {answer}"
        );
        assert!(answer.contains("connection: close\r\n"), "{answer}");
        assert!(answer.contains("text/plain"), "{answer}");
        assert!(answer.contains("must end in CRLF"), "{answer}");
    }
    // The server goes on serving well-formed requests.
    let text = health_text(&server).await;
    assert!(text.contains("\"status\":\"ok\""), "{text}");
    server.shutdown().await;
}
