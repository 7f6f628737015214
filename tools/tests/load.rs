//! The load generator (`relay-load`, `relay_tools::load`) against real servers on 127.0.0.1.

#[path = "../../template/relay-workflow/tests/common/hello.rs"]
mod hello;

use hello::hello;
use relay_tools::load::{run, run_with_progress, Limit, LoadConfig};
use relay_workflow::testing::TestServer;
use relay_workflow::WorkflowServer;
use serde_json::Value;
use std::time::Duration;

async fn hello_server() -> TestServer {
    TestServer::start(WorkflowServer::new().workflow("hellopath", hello())).await
}

/// The requests of one hello conversation: start_interaction, say, listen, get_var, say,
/// end_interaction, terminate.
const HELLO_REQUESTS: u64 = 7;

fn config(url: String, concurrency: usize, limit: Limit) -> LoadConfig {
    let mut c = LoadConfig::new(url, concurrency, limit);
    c.session_timeout = Duration::from_secs(10);
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hello_sessions_are_counted_and_timed() {
    let server = hello_server().await;
    let mut c = config(server.url("hellopath"), 4, Limit::Sessions(20));
    c.pid = Some(std::process::id());
    let r = run(c).await.unwrap();
    assert_eq!(r.errors, Default::default());
    assert_eq!(r.mode, "hello");
    assert_eq!(
        (r.sessions_started, r.sessions_completed, r.sessions_failed),
        (20, 20, 0)
    );
    assert_eq!(r.requests, 20 * HELLO_REQUESTS);
    assert_eq!(r.request_latency.count, 20 * HELLO_REQUESTS);
    assert_eq!(r.session_latency.count, 20);
    assert!(r.request_latency.p50_ms <= r.request_latency.p99_ms);
    assert!(r.request_latency.p99_ms <= r.request_latency.max_ms);
    assert!(r.session_latency.max_ms >= r.request_latency.max_ms);
    assert!(r.sessions_per_s > 0.0);
    let usage = r.server.as_ref().expect("usage of this process");
    assert_eq!(usage.pid, std::process::id());
    assert!(usage.rss_after_kib > 0);
    assert!(usage.rss_per_parked_session_kib.is_none());
    assert!(r.to_text().contains("20 started, 20 completed, 0 failed"));
    // The histogram holds every request sample, and the text shows it.
    assert_eq!(
        r.request_histogram.counts.iter().sum::<u64>(),
        20 * HELLO_REQUESTS
    );
    assert!(r.to_text().contains("request latency histogram"));
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn progress_comes_once_a_second_while_the_run_goes_on() {
    let server = hello_server().await;
    let c = config(
        server.url("hellopath"),
        2,
        Limit::Duration(Duration::from_millis(2500)),
    );
    let mut seen = Vec::new();
    let r = run_with_progress(c, |p| seen.push(*p)).await.unwrap();
    assert!((2..=4).contains(&seen.len()), "{seen:?}");
    assert!(seen
        .windows(2)
        .all(|w| w[0].completed <= w[1].completed && w[0].elapsed < w[1].elapsed));
    let last = seen.last().unwrap();
    assert!(last.completed > 0 && last.completed <= r.sessions_completed);
    assert_eq!(last.failed, 0);
    assert!(
        last.to_text().starts_with("relay-load: "),
        "{}",
        last.to_text()
    );
    server.shutdown().await;
}

#[tokio::test]
async fn fair_mode_completes_the_same_conversations() {
    let server = hello_server().await;
    let mut c = config(server.url("hellopath"), 3, Limit::Sessions(9));
    c.fair = true;
    c.say = "Zoë".into();
    let r = run(c).await.unwrap();
    assert!(r.fair);
    assert_eq!(r.errors, Default::default());
    assert_eq!((r.sessions_completed, r.requests), (9, 9 * HELLO_REQUESTS));
    server.shutdown().await;
}

#[tokio::test]
async fn duration_mode_stops_starting_sessions_in_time() {
    let server = hello_server().await;
    let r = run(config(
        server.url("hellopath"),
        2,
        Limit::Duration(Duration::from_millis(300)),
    ))
    .await
    .unwrap();
    assert_eq!(r.errors, Default::default());
    assert!(r.sessions_completed >= 1);
    assert_eq!(r.sessions_started, r.sessions_completed);
    assert_eq!(r.requests, r.sessions_completed * HELLO_REQUESTS);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn park_mode_holds_sessions_at_listen() {
    let server = hello_server().await;
    let mut c = config(server.url("hellopath"), 5, Limit::Sessions(5));
    c.park = true;
    c.hold = Duration::from_millis(1500);
    c.pid = Some(std::process::id());
    let load = tokio::spawn(run(c));
    // While they are held, the server has five live sessions (bounded poll of its health).
    let health = server.http_url("healthz");
    let mut live = Value::Null;
    for _ in 0..50 {
        let text = reqwest::get(&health).await.unwrap().text().await.unwrap();
        live = serde_json::from_str::<Value>(&text).unwrap()["sessions"].clone();
        if live == 5 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(live, 5, "parked sessions are live on the server");
    let r = load.await.unwrap().unwrap();
    assert_eq!(r.mode, "park");
    assert_eq!(r.errors, Default::default());
    assert_eq!((r.sessions_started, r.sessions_completed), (5, 5));
    // start_interaction, say, listen: then the session waits for speech that never comes.
    assert_eq!(r.requests, 5 * 3);
    let usage = r.server.as_ref().unwrap();
    assert!(usage.rss_per_parked_session_kib.is_some());
    assert!(r.to_text().contains("per parked session"));
    server.shutdown().await;
}

#[tokio::test]
async fn an_unknown_path_is_reported_as_refused_upgrades() {
    let server = hello_server().await;
    let r = run(config(server.url("nope"), 2, Limit::Sessions(4)))
        .await
        .unwrap();
    assert_eq!(r.sessions_completed, 0);
    assert_eq!(r.sessions_failed, 4);
    assert_eq!(r.errors.get("upgrade refused: HTTP 404"), Some(&4));
    assert!(r.to_text().contains("4 × upgrade refused: HTTP 404"));
    server.shutdown().await;
}

#[tokio::test]
async fn a_server_that_closes_early_is_reported() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/hellopath", listener.local_addr().unwrap());
    // Accept the upgrade, read the start event, then close without a word.
    let server = tokio::spawn(async move {
        for _ in 0..3 {
            let (tcp, _) = listener.accept().await.unwrap();
            let mut ws = tokio_tungstenite::accept_async(tcp).await.unwrap();
            let _ = futures_util::StreamExt::next(&mut ws).await;
            ws.close(None).await.unwrap();
        }
    });
    let r = run(config(url, 1, Limit::Sessions(3))).await.unwrap();
    assert_eq!(r.sessions_failed, 3);
    assert_eq!(r.errors.get("closed before terminate"), Some(&3));
    assert_eq!(r.requests, 0);
    tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn a_refused_connection_and_a_bad_url_are_errors() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}/hellopath", listener.local_addr().unwrap());
    drop(listener);
    let r = run(config(url, 1, Limit::Sessions(2))).await.unwrap();
    assert_eq!(r.errors.get("connect: connection refused"), Some(&2));

    let err = run(config("http://x/y".into(), 1, Limit::Sessions(1)))
        .await
        .unwrap_err();
    assert!(err.contains("not a WebSocket URL"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_command_prints_json_and_sets_its_exit_status() {
    let server = hello_server().await;
    let bin = env!("CARGO_BIN_EXE_relay-load");
    let url = server.url("hellopath");
    let pid = std::process::id().to_string();
    let out = tokio::process::Command::new(bin)
        .args([&url, "-c", "2", "-n", "6", "--json", "--pid", &pid])
        .output();
    let out = tokio::time::timeout(Duration::from_secs(30), out)
        .await
        .unwrap()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["sessions_completed"], 6);
    assert_eq!(report["requests"], 6 * HELLO_REQUESTS);
    assert!(report["server"]["cpu_s_per_1000_sessions"].is_number());
    // The JSON that bench/run reads keeps its fields (no histogram, no progress).
    let mut keys: Vec<&str> = report
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "concurrency",
            "elapsed_s",
            "errors",
            "fair",
            "mode",
            "request_latency",
            "requests",
            "server",
            "session_latency",
            "sessions_completed",
            "sessions_failed",
            "sessions_per_s",
            "sessions_started",
            "url"
        ]
    );

    let bad = tokio::process::Command::new(bin)
        .args([&server.url("nope"), "-c", "1", "-n", "1"])
        .output();
    let bad = tokio::time::timeout(Duration::from_secs(30), bad)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(bad.status.code(), Some(1));
    let (stdout, stderr) = (
        String::from_utf8_lossy(&bad.stdout),
        String::from_utf8_lossy(&bad.stderr),
    );
    assert!(stdout.contains("upgrade refused: HTTP 404"), "{stdout}");
    // No rows of zeros, and a clear word on what is wrong.
    assert!(stdout.contains("request      no samples"), "{stdout}");
    assert!(!stdout.contains("0.000"), "{stdout}");
    assert!(
        stderr.contains("no session started: the server has no workflow at ws://"),
        "{stderr}"
    );

    let version = std::process::Command::new(bin)
        .arg("--version")
        .output()
        .unwrap();
    assert!(version.status.success());
    assert_eq!(
        String::from_utf8_lossy(&version.stdout),
        format!("relay-load {}\n", env!("CARGO_PKG_VERSION"))
    );

    let usage = std::process::Command::new(bin)
        .arg("ws://x/y")
        .output()
        .unwrap();
    assert_eq!(usage.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&usage.stderr).contains("--concurrency"));
    server.shutdown().await;
}
