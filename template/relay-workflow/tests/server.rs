//! The HTTP side of the server and its Heroku contract, over real sockets on 127.0.0.1.
#![cfg(feature = "testing")]

mod common;

use common::*;
use relay_workflow::testing::{AutoResponder, Simulator, TestServer, Trigger};
use relay_workflow::WorkflowServer;
use serde_json::json;
use std::time::{Duration, Instant};
use tokio::io::AsyncReadExt;

async fn hello_server() -> TestServer {
    TestServer::start(
        WorkflowServer::new()
            .version("9.9.9")
            .workflow("hellopath", hello()),
    )
    .await
}

/// Poll the health route (bounded) until the live session count is `n`.
async fn wait_for_sessions(server: &TestServer, n: u64) {
    for _ in 0..100 {
        if health(server).await["sessions"] == json!(n) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("session count never reached {n}");
}

#[tokio::test]
async fn a_browser_get_gets_426_naming_the_wss_url() {
    let server = hello_server().await;
    let resp = reqwest::get(server.http_url("hellopath")).await.unwrap();
    assert_eq!(resp.status(), 426);
    assert_eq!(resp.headers()["upgrade"], "websocket");
    let body = resp.text().await.unwrap();
    assert!(body.contains("Relay workflow endpoint"), "{body}");
    assert!(
        body.contains(&format!("wss://{}/hellopath", server.addr())),
        "{body}"
    );
    // Trailing slash and query string reach the same workflow.
    let resp = reqwest::get(server.http_url("hellopath/?x=1"))
        .await
        .unwrap();
    assert_eq!(resp.status(), 426);
    let resp = reqwest::Client::new()
        .post(server.http_url("hellopath"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 405);
    server.shutdown().await;
}

#[tokio::test]
async fn unknown_paths_are_404_before_any_upgrade() {
    let server = hello_server().await;
    let resp = reqwest::get(server.http_url("nope")).await.unwrap();
    assert_eq!(resp.status(), 404);
    assert!(resp.text().await.unwrap().contains("/hellopath"));
    let err = Simulator::connect(&server.url("nope")).await.unwrap_err();
    assert!(err.to_string().contains("404"), "{err}");
    // Without a default workflow the root is an index page for a browser, and a WebSocket
    // upgrade there gets the same 404 as on any unknown path.
    let resp = reqwest::get(server.http_url("")).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.text().await.unwrap().contains("/hellopath"));
    let err = Simulator::connect(&server.url("")).await.unwrap_err();
    assert!(err.to_string().contains("404"), "{err}");
    server.shutdown().await;
}

#[tokio::test]
async fn health_reports_version_paths_and_live_sessions() {
    let server = hello_server().await;
    let h = health(&server).await;
    assert_eq!(h["status"], "ok");
    assert_eq!(h["version"], "9.9.9");
    assert_eq!(h["workflows"], json!(["/hellopath"]));
    assert_eq!(h["sessions"], 0);
    let mut sim = Simulator::connect(&server.url("hellopath")).await.unwrap();
    wait_for_sessions(&server, 1).await;
    sim.start(Trigger::phrase("hello")).await.unwrap();
    sim.expect("start_interaction").await.unwrap();
    sim.close().await.unwrap();
    wait_for_sessions(&server, 0).await;
    server.shutdown().await;
}

#[tokio::test]
async fn the_default_workflow_serves_the_root_path() {
    let server = TestServer::start(WorkflowServer::new().default_workflow(hello())).await;
    complete_hello(&server.url(""), "Root").await;
    assert_eq!(
        reqwest::get(server.http_url("")).await.unwrap().status(),
        426
    );
    assert_eq!(
        reqwest::get(server.http_url("other"))
            .await
            .unwrap()
            .status(),
        404
    );
    server.shutdown().await;
}

#[tokio::test]
async fn pings_keep_a_live_peer_and_drop_a_dead_one() {
    let server = TestServer::start(
        WorkflowServer::new()
            .ping_interval(Duration::from_millis(200))
            .workflow("p", hello()),
    )
    .await;
    // A live peer (the simulator answers pings) stays connected over many intervals.
    let mut live = Simulator::connect(&server.url("p")).await.unwrap();
    live.start(Trigger::phrase("hello")).await.unwrap();
    let r = live.expect("start_interaction").await.unwrap();
    tokio::time::sleep(Duration::from_millis(1200)).await;
    live.ack(&r).await.unwrap();
    // A dead peer is closed after a missed pong.
    // A peer that never reads or answers anything.
    let mut dead = raw_upgrade(server.addr(), "p").await;
    let started = Instant::now();
    let mut seen = Vec::new();
    let mut buf = [0u8; 256];
    loop {
        match tokio::time::timeout(Duration::from_secs(5), dead.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => seen.extend_from_slice(&buf[..n]),
            Err(_) => panic!("the dead peer was not dropped within 5 s"),
        }
    }
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(
        seen.first(),
        Some(&0x89),
        "the first frame the server sent is a ping"
    );
    server
        .wait_for_log("no pong within 200ms; closing the connection")
        .await;
    // The live session is still there.
    live.interaction("started", BOB_HELLO).await.unwrap();
    live.expect("say").await.unwrap();
    server.shutdown().await;
}

#[cfg(feature = "keep-awake")]
#[tokio::test]
async fn keep_awake_requests_the_health_route_periodically() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    let app = axum::Router::new().route(
        "/healthz",
        axum::routing::get(move || {
            counter.fetch_add(1, Ordering::SeqCst);
            async { "ok" }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let target = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let server = TestServer::start(
        WorkflowServer::new()
            .workflow("k", hello())
            .keep_awake(target, Duration::from_millis(300)),
    )
    .await;
    for _ in 0..100 {
        if hits.load(Ordering::SeqCst) >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        hits.load(Ordering::SeqCst) >= 2,
        "keep-awake did not request /healthz twice in 5 s"
    );
    server.wait_for_log("keep-awake: first request to").await;
    server.shutdown().await;
}

#[tokio::test]
async fn shutdown_lets_a_running_session_finish_and_refuses_new_ones() {
    let mut server = TestServer::start(
        WorkflowServer::new()
            .shutdown_deadline(Duration::from_secs(20))
            .workflow("s", hello()),
    )
    .await;
    let addr = server.addr();
    let url = server.url("s");
    let mut sim = Simulator::connect(&url).await.unwrap();
    sim.start(Trigger::phrase("hello")).await.unwrap();
    let r = sim.expect("start_interaction").await.unwrap();
    sim.ack(&r).await.unwrap();
    sim.interaction("started", BOB_HELLO).await.unwrap();
    let say = sim.expect("say").await.unwrap();
    sim.respond(&say, json!({"id": say.id})).await.unwrap();
    sim.prompt(&say.id, "stopped", BOB_HELLO).await.unwrap();
    let listen = sim.expect("listen").await.unwrap();

    let began = Instant::now();
    server.begin_shutdown();
    // New connections are refused once the listener is gone.
    let mut refused = false;
    for _ in 0..40 {
        if tokio::net::TcpStream::connect(addr).await.is_err() {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        refused,
        "a new connection was still accepted after the shutdown began"
    );

    // The running session carries on to its natural end.
    sim.ack(&listen).await.unwrap();
    sim.speech(&listen.id, "Late", BOB_HELLO).await.unwrap();
    let get = sim.expect("get_var").await.unwrap();
    sim.respond(&get, json!({})).await.unwrap();
    let t = sim.run(AutoResponder::default()).await.unwrap();
    assert_eq!(t.actions(), ["say", "end_interaction", "terminate"]);
    assert_eq!(t.said(), [greeting("Late")]);
    server.finished().await.unwrap();
    assert!(
        began.elapsed() < Duration::from_secs(15),
        "drain took {:?}",
        began.elapsed()
    );
}

#[tokio::test]
async fn at_the_deadline_remaining_sessions_are_closed_with_1001() {
    let mut server = TestServer::start(
        WorkflowServer::new()
            .shutdown_deadline(Duration::from_secs(1))
            .workflow("d", hello()),
    )
    .await;
    let mut sim = Simulator::connect(&server.url("d")).await.unwrap();
    sim.start(Trigger::phrase("hello")).await.unwrap();
    sim.expect("start_interaction").await.unwrap(); // left unanswered: the session is parked
    let began = Instant::now();
    server.begin_shutdown();
    let close = sim
        .with_timeout(Duration::from_secs(10))
        .expect_close()
        .await
        .unwrap();
    assert_eq!(close.map(|(code, _)| code), Some(1001));
    let logs = server.logs().clone();
    server.finished().await.unwrap();
    assert!(
        began.elapsed() < Duration::from_secs(6),
        "took {:?}",
        began.elapsed()
    );
    logs.wait_for("shutdown deadline reached: closing 1 session(s) with 1001")
        .await;
}

/// New connections wait while the runtime is busy, but never for long: a runtime whose
/// queue never drains (sixteen tasks that each burn 200 µs per poll, forever) still takes
/// every new session.
#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn a_busy_runtime_still_takes_new_sessions() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let server = TestServer::start(WorkflowServer::new().workflow("p", hello())).await;
    let stop = Arc::new(AtomicBool::new(false));
    let hogs: Vec<_> = (0..16)
        .map(|_| {
            let stop = stop.clone();
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let spin = Instant::now();
                    while spin.elapsed() < Duration::from_micros(200) {
                        std::hint::spin_loop();
                    }
                    tokio::task::yield_now().await;
                }
            })
        })
        .collect();
    for _ in 0..3 {
        let session = async {
            let mut sim = Simulator::connect(&server.url("p")).await.unwrap();
            sim.start(Trigger::phrase("hello")).await.unwrap();
            sim.expect("start_interaction").await.unwrap();
        };
        tokio::time::timeout(Duration::from_secs(20), session)
            .await
            .expect("a new session was kept waiting by a busy runtime");
    }
    stop.store(true, Ordering::Relaxed);
    for hog in hogs {
        hog.await.unwrap();
    }
    server.shutdown().await;
}
