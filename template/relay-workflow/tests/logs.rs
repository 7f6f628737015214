//! Log capture scoped to the server under test: each `TestServer` sees its own lines (those
//! of the tasks it spawns included) and no other test's, a `LogCapture` keeps what is logged
//! inside its span only, and a failing test shows its server's lines.
#![cfg(feature = "testing")]

mod common;

use common::*;
use relay_workflow::testing::{LogCapture, Simulator, TestServer};
use relay_workflow::WorkflowServer;
use std::time::Duration;

/// Set in the environment of the child process that runs [`child_fails_with_a_server`].
const CHILD: &str = "RELAY_LOGS_TEST_CHILD";
/// The line the child's failing test logs through its server's handler.
const CHILD_LINE: &str = "the child's handler ran: 7f3a";

#[tokio::test]
async fn each_server_sees_its_own_lines_and_not_the_other_servers() {
    let a = TestServer::start(
        WorkflowServer::new()
            .secret("logs-test-secret-a1b2c3d4e5f6")
            .workflow("hellopath", hello()),
    )
    .await;
    let b = TestServer::start(WorkflowServer::new().workflow("hellopath", hello())).await;

    // A line from a session of `a`, and one from the connection task that refused an upgrade.
    let mut sim = Simulator::connect(&format!(
        "{}?secret=logs-test-secret-a1b2c3d4e5f6",
        a.url("hellopath")
    ))
    .await
    .unwrap();
    sim.send_text("this is not JSON").await.unwrap();
    a.wait_for_log("dropped a malformed frame: frame is not JSON")
        .await;
    assert!(Simulator::connect(&a.url("hellopath")).await.is_err());
    a.wait_for_log("401: no secret").await;
    sim.disconnect();

    // `b` runs a whole session meanwhile: it logs, but none of `a`'s lines.
    complete_hello(&b.url("hellopath"), "Bea").await;
    b.wait_for_log("session").await;
    let theirs = b.logs().text();
    assert!(!theirs.contains("frame is not JSON"), "{theirs}");
    assert!(!theirs.contains("401: no secret"), "{theirs}");
    assert!(
        !a.logs().text().contains(&b.addr().to_string()),
        "a logged b's address"
    );
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test]
async fn a_capture_keeps_only_what_is_logged_inside_its_span() {
    let capture = LogCapture::new();
    let other = LogCapture::new();
    tracing::info!("logged outside every capture");
    capture
        .instrument(async {
            tracing::info!("logged inside the capture");
            tracing::trace!(detail = 42, "at trace too");
            // A task spawned without the span is outside it.
            tokio::spawn(async { tracing::info!("logged by a task without the span") })
                .await
                .unwrap();
            tokio::spawn(tracing::Instrument::in_current_span(async {
                tracing::info!("logged by a task that carries the span")
            }))
            .await
            .unwrap();
        })
        .await;
    other
        .instrument(async { tracing::info!("logged inside the other capture") })
        .await;

    let text = capture.text();
    assert!(text.contains("logged inside the capture"), "{text}");
    assert!(text.contains("at trace too detail=42"), "{text}");
    assert!(
        text.contains("logged by a task that carries the span"),
        "{text}"
    );
    assert!(!text.contains("outside every capture"), "{text}");
    assert!(!text.contains("a task without the span"), "{text}");
    assert!(!text.contains("the other capture"), "{text}");
    assert_eq!(capture.lines().len(), 3, "{text}");
    assert_eq!(capture.dropped(), 0);
    assert!(other.contains("logged inside the other capture"));
    assert_eq!(
        capture
            .wait_for_within("never logged", Duration::from_millis(50))
            .await,
        None
    );
}

/// Run by [`a_failing_test_shows_its_servers_log_lines`] in a child process: it fails.
#[tokio::test]
#[ignore = "run in a child process by a_failing_test_shows_its_servers_log_lines"]
async fn child_fails_with_a_server() {
    if std::env::var_os(CHILD).is_none() {
        return;
    }
    use relay_workflow::prelude::*;
    let server = TestServer::start(WorkflowServer::new().workflow(
        "fails",
        Workflow::new().on_start(|_relay, _: StartEvent| async move {
            tracing::info!("{CHILD_LINE}");
            Ok(())
        }),
    ))
    .await;
    let mut sim = Simulator::connect(&server.url("fails")).await.unwrap();
    sim.start(Default::default()).await.unwrap();
    server.wait_for_log(CHILD_LINE).await;
    panic!("the child test fails on purpose");
}

#[tokio::test]
async fn a_failing_test_shows_its_servers_log_lines() {
    let output = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "child_fails_with_a_server",
                "--include-ignored",
                "--test-threads=1",
            ])
            .env(CHILD, "1")
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("the child test did not finish within 60 s")
    .unwrap();
    let out = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(!output.status.success(), "the child test passed: {out}");
    assert!(out.contains("the child test fails on purpose"), "{out}");
    assert!(
        out.contains("---- log of the test server at 127.0.0.1:"),
        "{out}"
    );
    let shown = out
        .lines()
        .find(|l| l.contains(CHILD_LINE))
        .unwrap_or_else(|| panic!("the handler's line is not shown: {out}"));
    assert!(shown.contains("INFO"), "{shown}");
    assert!(
        out.contains("---- end of the log of the test server"),
        "{out}"
    );
}
