//! Hostile peers over real sockets on 127.0.0.1: wrong secrets, oversized frames, floods of
//! idle upgrades and half-open connections, the session cap, the pending-request cap, and a
//! shutdown with many sessions in flight. Each test counts what survived and what was lost.
#![cfg(feature = "testing")]

mod common;

use common::*;
use futures_util::future::join_all;
use futures_util::{SinkExt, StreamExt};
use relay_workflow::prelude::*;
use relay_workflow::testing::{Simulator, TestServer, Trigger};
use serde_json::{json, Value};
use std::future::IntoFuture;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{self, Message};

/// The secret the tests register; it must never reach a log line.
const SECRET: &str = "hostile-test-secret-0b7c1d9e8f";
/// A guess an attacker sends; it must never reach a log line either.
const WRONG: &str = "wrong-guess-value-4a5b6c7d";

/// Poll the health route (bounded) until the live session count is `n`.
async fn wait_for_sessions(server: &TestServer, n: u64) {
    let mut last = Value::Null;
    for _ in 0..200 {
        last = health(server).await;
        if last["sessions"] == json!(n) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("session count never reached {n}: {last}");
}

/// Read (bounded) until the server ends the connection; true if it did within `limit`.
async fn dropped_within(stream: &mut TcpStream, limit: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + limit;
    let mut buf = [0u8; 1024];
    for _ in 0..64 {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => {} // a response (e.g. 408) before the close: read on
        }
    }
    false
}

fn status_of(err: &tungstenite::Error) -> Option<u16> {
    match err {
        tungstenite::Error::Http(resp) => Some(resp.status().as_u16()),
        _ => None,
    }
}

#[tokio::test]
async fn the_secret_lets_relay_in_and_keeps_strangers_out_without_logging_it() {
    let server = TestServer::start(
        WorkflowServer::new()
            .secret(SECRET)
            .workflow("hellopath", hello()),
    )
    .await;
    let base = server.url("hellopath");

    // The registered URL with the secret works end to end.
    complete_hello(&format!("{base}?secret={SECRET}"), "Ann").await;
    // So does the header, for tools that cannot put it in the URL.
    let mut request = base.as_str().into_client_request().unwrap();
    request
        .headers_mut()
        .insert("x-relay-workflow-secret", SECRET.parse().unwrap());
    let (ws, response) = tokio_tungstenite::connect_async(request).await.unwrap();
    assert_eq!(response.status(), 101);
    drop(ws);

    // Missing, wrong, empty, one character short, one too long: 401 and no upgrade.
    let short = &SECRET[..SECRET.len() - 1];
    let refused = [
        base.clone(),
        format!("{base}?secret={WRONG}"),
        format!("{base}?secret="),
        format!("{base}?secret={short}"),
        format!("{base}?secret={SECRET}x"),
        format!("{base}?x={SECRET}"),
    ];
    for url in &refused {
        match tokio_tungstenite::connect_async(url.as_str()).await {
            Ok(_) => panic!("{url} was upgraded without the right secret"),
            Err(e) => {
                assert_eq!(status_of(&e), Some(401), "{url}: {e}");
                if let tungstenite::Error::Http(resp) = &e {
                    let body =
                        String::from_utf8_lossy(resp.body().as_deref().unwrap_or(&[])).into_owned();
                    assert!(body.contains("?secret=<WORKFLOW_SECRET>"), "{body}");
                    assert!(!body.contains(WRONG) && !body.contains(short), "{body}");
                }
            }
        }
    }
    let mut request = base.as_str().into_client_request().unwrap();
    request
        .headers_mut()
        .insert("x-relay-workflow-secret", WRONG.parse().unwrap());
    let err = tokio_tungstenite::connect_async(request).await.unwrap_err();
    assert_eq!(status_of(&err), Some(401));
    // The simulator reports the 401 without echoing the URL's secret.
    let err = Simulator::connect(&format!("{base}?secret={WRONG}"))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("401") && !err.contains(WRONG), "{err}");

    // No refused attempt became a session; the health route and the 426 page still answer.
    wait_for_sessions(&server, 0).await;
    assert_eq!(health(&server).await["status"], "ok");
    let page = reqwest::get(server.http_url("hellopath")).await.unwrap();
    assert_eq!(page.status(), 426);
    let page = page.text().await.unwrap();
    assert!(page.contains("?secret=<WORKFLOW_SECRET>"), "{page}");
    assert!(page.contains("heroku config:get WORKFLOW_SECRET"), "{page}");
    assert!(!page.contains(SECRET), "{page}");

    server.wait_for_log("401: no secret").await;
    server.wait_for_log("401: a wrong secret").await;
    let logs = server.logs().clone();
    server.shutdown().await;
    let logs = logs.text();
    assert!(
        logs.contains("frame received"),
        "TRACE records were not captured, so the check below would prove nothing"
    );
    assert!(!logs.contains(SECRET), "the secret reached a log line");
    assert!(!logs.contains(WRONG), "a guessed secret reached a log line");
    assert!(
        !logs.contains("secret=h"),
        "a query string reached a log line"
    );
}

#[tokio::test]
async fn an_oversized_message_closes_only_its_session_with_1009() {
    let server = TestServer::start(
        WorkflowServer::new()
            .max_message_size(64 * 1024)
            .workflow("hellopath", hello()),
    )
    .await;
    let mut big = Simulator::connect(&server.url("hellopath")).await.unwrap();
    let other = Simulator::connect(&server.url("hellopath")).await.unwrap();
    big.start(Trigger::phrase("hello")).await.unwrap();
    big.expect("start_interaction").await.unwrap();
    let huge = format!(
        r#"{{"_type":"wf_api_speech_event","text":"{}"}}"#,
        "x".repeat(200 * 1024)
    );
    big.send_text(&huge).await.unwrap();
    let close = big.expect_close().await.unwrap();
    assert_eq!(close.map(|(code, _)| code), Some(1009));
    server.wait_for_log("closing with 1009").await;
    // The other session, open all along, is unaffected.
    finish_hello(other, "Cy").await;
    wait_for_sessions(&server, 0).await;
    server.shutdown().await;
}

#[tokio::test]
async fn beyond_the_session_cap_upgrades_get_503_and_the_others_go_on() {
    let server = TestServer::start(
        WorkflowServer::new()
            .max_sessions(3)
            .workflow("hellopath", hello()),
    )
    .await;
    let url = server.url("hellopath");
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(Simulator::connect(&url).await.unwrap());
    }
    let mut refused = 0;
    for _ in 0..50 {
        let err = tokio_tungstenite::connect_async(url.as_str())
            .await
            .unwrap_err();
        assert_eq!(status_of(&err), Some(503), "{err}");
        refused += 1;
    }
    assert_eq!(refused, 50);
    server.wait_for_log("503: already 3 sessions").await;
    assert_eq!(health(&server).await["sessions"], 3);
    // The held sessions still work, and a place freed is a place taken.
    for (i, sim) in held.into_iter().enumerate() {
        finish_hello(sim, &format!("Held{i}")).await;
    }
    wait_for_sessions(&server, 0).await;
    complete_hello(&url, "After").await;
    server.shutdown().await;
}

#[tokio::test]
async fn a_websocket_that_sends_no_event_is_closed_with_1008_and_a_started_one_is_not() {
    let server = TestServer::start(
        WorkflowServer::new()
            .first_event_timeout(Duration::from_secs(1))
            .workflow("hellopath", hello()),
    )
    .await;
    let url = server.url("hellopath");
    let mut silent = Simulator::connect(&url).await.unwrap();
    let mut slow = Simulator::connect(&url).await.unwrap();
    slow.start(Trigger::phrase("hello")).await.unwrap();
    let start = slow.expect("start_interaction").await.unwrap();

    let close = silent.expect_close().await.unwrap();
    assert_eq!(close.map(|(code, _)| code), Some(1008));
    server.wait_for_log("closing with 1008").await;

    // The started session idles past the deadline and goes on.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    slow.ack(&start).await.unwrap();
    slow.interaction("started", BOB_HELLO).await.unwrap();
    let say = slow.expect("say").await.unwrap();
    assert_eq!(say.str("text"), Some("What is your name?"));
    slow.close().await.unwrap();
    server.shutdown().await;
}

#[tokio::test]
async fn slow_and_silent_http_clients_are_dropped_after_the_deadline() {
    let server = TestServer::start(
        WorkflowServer::new()
            .first_event_timeout(Duration::from_secs(1))
            .workflow("hellopath", hello()),
    )
    .await;
    let mut partial = TcpStream::connect(server.addr()).await.unwrap();
    partial
        .write_all(b"GET /hellopath HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n")
        .await
        .unwrap();
    let mut silent = TcpStream::connect(server.addr()).await.unwrap();
    complete_hello(&server.url("hellopath"), "Dee").await;
    assert!(
        dropped_within(&mut partial, Duration::from_secs(5)).await,
        "a client that never finished its headers was kept"
    );
    assert!(
        dropped_within(&mut silent, Duration::from_secs(5)).await,
        "a client that never sent a byte was kept"
    );
    server.shutdown().await;
}

/// Open `n` TCP connections that send half a request and stop.
async fn half_open(addr: SocketAddr, n: usize) -> Vec<TcpStream> {
    let mut streams = Vec::with_capacity(n);
    for _ in 0..n {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(b"GET /hellopath HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            .await
            .unwrap();
        streams.push(s);
    }
    streams
}

#[tokio::test]
async fn a_flood_of_idle_upgrades_and_half_open_connections_leaves_the_server_up() {
    const IDLE: usize = 1000;
    const HALF_OPEN: usize = 1000;
    const BATCH: usize = 100;
    let server = TestServer::start(
        WorkflowServer::new()
            .first_event_timeout(Duration::from_secs(3))
            .max_sessions(IDLE + 10)
            .workflow("hellopath", hello()),
    )
    .await;
    let url = server.url("hellopath");
    let mut idle = Vec::with_capacity(IDLE);
    for _ in 0..IDLE / BATCH {
        let batch =
            join_all((0..BATCH).map(|_| tokio_tungstenite::connect_async(url.as_str()))).await;
        for result in batch {
            idle.push(
                result
                    .expect("an idle upgrade within the cap was refused")
                    .0,
            );
        }
    }
    let mut half = half_open(server.addr(), HALF_OPEN).await;

    // A legitimate session completes in the middle of it.
    complete_hello(&url, "Eve").await;

    // Every idle upgrade is closed: with 1008 when its first event is late, or with 1013
    // when a newer connection needed its place among those connecting (MAX_CONNECTING);
    // every half-open connection is dropped.
    let closed = join_all(idle.iter_mut().map(|ws| async move {
        for _ in 0..8 {
            match tokio::time::timeout(Duration::from_secs(10), ws.next()).await {
                Ok(Some(Ok(Message::Close(Some(frame))))) => return u16::from(frame.code),
                Ok(Some(Ok(_))) => continue,
                _ => return 0,
            }
        }
        0
    }))
    .await;
    let with_code = closed
        .iter()
        .filter(|&&code| code == 1008 || code == 1013)
        .count();
    assert_eq!(with_code, IDLE, "close codes: {closed:?}");
    let dropped = join_all(
        half.iter_mut()
            .map(|s| dropped_within(s, Duration::from_secs(10))),
    )
    .await;
    assert_eq!(dropped.iter().filter(|&&d| d).count(), HALF_OPEN);

    wait_for_sessions(&server, 0).await;
    assert_eq!(health(&server).await["status"], "ok");
    complete_hello(&url, "Fay").await;
    server.shutdown().await;
}

#[tokio::test]
async fn the_pending_request_cap_fails_the_extra_action_at_once() {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Result<(), Error>>();
    let workflow = Workflow::new().on_start(move |relay, _start: StartEvent| {
        let tx = tx.clone();
        async move {
            // join! polls in order: a and b are pending when c is tried.
            let third = async {
                let c = relay.get_var("c").await;
                let _ = tx.send(c.map(|_| ()));
            };
            let (a, b, ()) = tokio::join!(
                relay.get_var("a").into_future(),
                relay.get_var("b").into_future(),
                third
            );
            a?;
            b?;
            relay.terminate().await?;
            Ok(())
        }
    });
    let server = TestServer::start(
        WorkflowServer::new()
            .max_pending_requests(2)
            .workflow("capped", workflow),
    )
    .await;
    for round in 0..2 {
        let mut sim = Simulator::connect(&server.url("capped")).await.unwrap();
        sim.start(Trigger::phrase("hello")).await.unwrap();
        let a = sim.expect("get_var").await.unwrap();
        let b = sim.expect("get_var").await.unwrap();
        // The third was refused at once: its error arrives before any response is sent.
        let third = tokio::time::timeout(Duration::from_secs(5), rx.recv())
            .await
            .expect("the third action did not fail at once")
            .expect("the handler ended early");
        match third {
            Err(Error::TooManyPending { action, limit }) => {
                assert_eq!((action, limit), ("get_var", 2), "round {round}");
            }
            other => panic!("round {round}: expected TooManyPending, got {other:?}"),
        }
        sim.respond(&a, json!({})).await.unwrap();
        sim.respond(&b, json!({})).await.unwrap();
        sim.expect("terminate").await.unwrap();
        sim.stop("normal").await.unwrap();
        sim.close().await.unwrap();
    }
    server
        .wait_for_log("too many requests awaiting a response")
        .await;
    server.shutdown().await;
}

#[derive(Debug, PartialEq)]
enum Outcome {
    Completed,
    Closed1001,
    Lost(String),
}

#[tokio::test]
async fn shutdown_with_fifty_sessions_in_flight_loses_none() {
    const SESSIONS: usize = 50;
    let deadline = Duration::from_secs(2);
    let workflow = Workflow::new().on_start(|relay, _start: StartEvent| async move {
        relay.get_var("x").await?;
        relay.terminate().await?;
        Ok(())
    });
    let mut server = TestServer::start(
        WorkflowServer::new()
            .shutdown_deadline(deadline)
            .workflow("inflight", workflow),
    )
    .await;
    let url = server.url("inflight");
    let mut sims = Vec::with_capacity(SESSIONS);
    for _ in 0..SESSIONS {
        let mut sim = Simulator::connect(&url).await.unwrap();
        sim.start(Trigger::phrase("hello")).await.unwrap();
        let req = sim.expect("get_var").await.unwrap();
        sims.push((sim, req));
    }
    wait_for_sessions(&server, SESSIONS as u64).await;
    let began = Instant::now();
    server.begin_shutdown();
    // Half the sessions finish during the drain; the other half never answer.
    let outcomes = join_all(
        sims.into_iter()
            .enumerate()
            .map(|(i, (mut sim, req))| async move {
                if i % 2 == 0 {
                    if let Err(e) = sim.respond(&req, json!({})).await {
                        return Outcome::Lost(e.to_string());
                    }
                    if let Err(e) = sim.expect("terminate").await {
                        return Outcome::Lost(e.to_string());
                    }
                    if let Err(e) = sim.stop("normal").await {
                        return Outcome::Lost(e.to_string());
                    }
                    match sim.expect_close().await {
                        Ok(Some((1000, _))) => Outcome::Completed,
                        other => Outcome::Lost(format!("{other:?}")),
                    }
                } else {
                    match sim.expect_close().await {
                        Ok(Some((1001, _))) => Outcome::Closed1001,
                        other => Outcome::Lost(format!("{other:?}")),
                    }
                }
            }),
    )
    .await;
    let completed = outcomes
        .iter()
        .filter(|o| **o == Outcome::Completed)
        .count();
    let closed = outcomes
        .iter()
        .filter(|o| **o == Outcome::Closed1001)
        .count();
    assert_eq!(
        (completed, closed),
        (SESSIONS / 2, SESSIONS / 2),
        "{outcomes:?}"
    );
    let logs = server.logs().clone();
    server.finished().await.unwrap();
    // The drain ends at the deadline plus the close grace, not at some later timeout.
    assert!(
        began.elapsed() < deadline + Duration::from_secs(5),
        "{:?}",
        began.elapsed()
    );
    logs.wait_for("closing 25 session(s) with 1001").await;
}

#[tokio::test]
async fn a_peer_that_stops_reading_is_given_up_without_stalling_others() {
    // On start, queue far more than a socket buffer holds (500 × 60 kB) without waiting.
    let flood = Workflow::new().on_start(|relay, start: StartEvent| async move {
        let device = start
            .trigger
            .source_uri()
            .ok_or(Error::MissingSourceUri)?
            .clone();
        let text = "x".repeat(60_000);
        let says = (0..500).map(|_| relay.say(&device, text.clone()).into_future());
        let _ = join_all(says).await;
        Ok(())
    });
    let server = TestServer::start(
        WorkflowServer::new()
            .workflow("flood", flood)
            .workflow("hellopath", hello()),
    )
    .await;
    let (mut stuck, _) = tokio_tungstenite::connect_async(server.url("flood"))
        .await
        .unwrap();
    stuck
        .send(Message::text(
            Trigger::phrase("hello").to_json().to_string(),
        ))
        .await
        .unwrap();
    // `stuck` is never read from again. Meanwhile other sessions run normally.
    for name in ["Ike", "Jo", "Kim"] {
        complete_hello(&server.url("hellopath"), name).await;
    }
    // The server gives up on the stuck peer after its write timeout (10 s), bounded here.
    let mut gave_up = false;
    for _ in 0..300 {
        if server.logs().contains("giving up on this connection") {
            gave_up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        gave_up,
        "the server kept writing to a peer that never reads"
    );
    complete_hello(&server.url("hellopath"), "Lu").await;
    drop(stuck);
    wait_for_sessions(&server, 0).await;
    server.shutdown().await;
}

#[tokio::test]
async fn websocket_protocol_violations_close_with_the_right_code() {
    let server = TestServer::start(
        WorkflowServer::new()
            .max_message_size(1024)
            .workflow("hellopath", hello()),
    )
    .await;
    let start = br#"{"_type":"wf_api_start_event","trigger":{"type":"phrase","args":{"phrase":"hello","source_uri":"urn:relay-resource:name:device:Bob"}}}"#;
    let unmasked = {
        let mut f = vec![0x81, 2];
        f.extend_from_slice(b"{}");
        f
    };
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        ("an unmasked frame", unmasked, 1002),
        ("a reserved bit", masked(0xc1, b"{}"), 1002),
        ("an unknown opcode", masked(0x83, b"{}"), 1002),
        (
            "text that is not UTF-8",
            masked(0x81, &[0x7b, 0xff, 0x7d]),
            1007,
        ),
        (
            "a fragmented message over the limit",
            [masked(0x01, &[b' '; 600]), masked(0x80, &[b' '; 600])].concat(),
            1009,
        ),
        ("a continuation with no message", masked(0x80, b"x"), 1002),
    ];
    let other = Simulator::connect(&server.url("hellopath")).await.unwrap();
    for (what, frame, code) in cases {
        let mut tcp = raw_upgrade(server.addr(), "hellopath").await;
        tcp.write_all(&masked(0x81, start)).await.unwrap();
        tcp.write_all(&frame).await.unwrap();
        assert_eq!(
            close_code_within(&mut tcp, Duration::from_secs(5)).await,
            Some(code),
            "{what}"
        );
    }
    server
        .wait_for_log("closing with 1002: Relay broke the WebSocket protocol")
        .await;
    server.wait_for_log("closing with 1007").await;
    // The session open all along is unaffected.
    finish_hello(other, "Cy").await;
    server.shutdown().await;
}

#[tokio::test]
async fn frames_that_trickle_in_a_byte_at_a_time_still_make_a_session() {
    let server = TestServer::start(WorkflowServer::new().workflow("hellopath", hello())).await;
    let mut tcp = raw_upgrade(server.addr(), "hellopath").await;
    let start = br#"{"_type":"wf_api_start_event","trigger":{"type":"phrase","args":{"phrase":"hello","source_uri":"urn:relay-resource:name:device:Bob"}}}"#;
    // A ping, then the start event split across a fragment boundary, one byte per write.
    let wire = [
        masked(0x89, b"hi"),
        masked(0x01, &start[..40]),
        masked(0x80, &start[40..]),
    ]
    .concat();
    for b in wire {
        tcp.write_all(&[b]).await.unwrap();
    }
    // The pong comes back, then the workflow's first request.
    let seen = read_until(
        &mut tcp,
        b"wf_api_start_interaction_request",
        Duration::from_secs(5),
        "the workflow's first request",
    )
    .await;
    assert_eq!(
        &seen[..4],
        &[0x8a, 2, b'h', b'i'],
        "the pong answers the ping"
    );
    server.shutdown().await;
}
