//! Hostile peers against the server's bounds, over real sockets on 127.0.0.1: a ping flood
//! from a peer that never reads, events piling up behind a handler that never returns, many
//! peers holding parts of large messages, connections that never start a session, and a
//! shutdown with all of these in flight. Each test drives one bound to where it trips and
//! checks what the server did there.
#![cfg(feature = "testing")]

mod common;

use common::*;
use relay_workflow::prelude::*;
use relay_workflow::testing::TestServer;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const START: &str = r#"{"_type":"wf_api_start_event","trigger":{"type":"phrase","args":{"phrase":"hello","spillover":"","source_uri":"urn:relay-resource:name:device:Bob"}}}"#;
const STARTED: &str = r#"{"_type":"wf_api_interaction_lifecycle_event","type":"started","source_uri":"urn:relay-resource:name:interaction:hello?device=urn%3Arelay-resource%3Aname%3Adevice%3ABob"}"#;

#[tokio::test]
async fn a_ping_flood_from_a_peer_that_never_reads_holds_one_pong() {
    let server = TestServer::start(WorkflowServer::new().workflow("hello", hello())).await;
    let mut tcp = raw_upgrade_with(server.addr(), "hello", Some(4096)).await;
    tcp.write_all(&masked(0x81, START.as_bytes()))
        .await
        .unwrap();
    // 40,000 pings of 125 bytes (5 MB), sent for at most 4 s, none of the answers read.
    let ping = masked(0x89, &[b'p'; 125]);
    let burst: Vec<u8> = ping
        .iter()
        .copied()
        .cycle()
        .take(ping.len() * 100)
        .collect();
    let began = Instant::now();
    let mut sent = 0usize;
    let mut most_buffered = 0u64;
    while sent < 40_000 && began.elapsed() < Duration::from_secs(4) {
        match tokio::time::timeout(Duration::from_millis(200), tcp.write_all(&burst)).await {
            Ok(Ok(())) => sent += 100,
            Ok(Err(e)) => panic!("the server dropped the connection: {e}"),
            Err(_) => {
                // The server stopped reading: sample what it holds for this peer.
                let h = health(&server).await;
                most_buffered = most_buffered.max(h["buffered_bytes"].as_u64().unwrap());
            }
        }
        if sent.is_multiple_of(2000) {
            let h = health(&server).await;
            most_buffered = most_buffered.max(h["buffered_bytes"].as_u64().unwrap());
        }
    }
    assert!(
        most_buffered < 256 * 1024,
        "the server buffered {most_buffered} bytes for a peer that does not read"
    );
    // Now read what the server sends (the kernel's buffers on both sides hold thousands of
    // pongs, so their number says little; what the server holds is checked above): the
    // latest ping is answered.
    let mut pongs = 0usize;
    let mut buf = vec![0u8; 64 * 1024];
    let mut got = Vec::new();
    loop {
        match tokio::time::timeout(Duration::from_millis(500), tcp.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => got.extend_from_slice(&buf[..n]),
            _ => break,
        }
        if got.len() > 16 * 1024 * 1024 {
            break;
        }
    }
    let mut at = 0;
    while at + 2 <= got.len() {
        let len = (got[at + 1] & 0x7f) as usize;
        let (len, header) = if len == 126 {
            (u16::from_be_bytes([got[at + 2], got[at + 3]]) as usize, 4)
        } else {
            (len, 2)
        };
        if got[at] == 0x8a {
            pongs += 1;
        }
        at += header + len;
    }
    assert!(pongs >= 1, "no ping of {sent} was answered");
    drop(tcp);
    server.shutdown().await;
}

/// A workflow whose start handler waits forever (for a response nobody sends) and which has a
/// handler for the events a peer then streams.
fn stuck() -> Workflow {
    Workflow::new()
        .on_start(|relay, start: StartEvent| async move {
            let device = start.trigger.source_uri().ok_or(Error::MissingSourceUri)?;
            relay.start_interaction(device, "hello").await?;
            Ok(())
        })
        .on_interaction_started(|_relay, _event: InteractionLifecycleEvent| async move { Ok(()) })
}

#[tokio::test]
async fn events_behind_a_handler_that_never_returns_close_the_session_at_the_bound() {
    let server = TestServer::start(
        WorkflowServer::new()
            .workflow("stuck", stuck())
            .max_queued_events(32),
    )
    .await;
    let mut tcp = raw_upgrade(server.addr(), "stuck").await;
    let mut burst = masked(0x81, START.as_bytes());
    for _ in 0..200 {
        burst.extend(masked(0x81, STARTED.as_bytes()));
    }
    tcp.write_all(&burst).await.unwrap();
    assert_eq!(
        close_code_within(&mut tcp, Duration::from_secs(5)).await,
        Some(1008)
    );
    let line = server.wait_for_log("MAX_QUEUED_EVENTS").await;
    assert!(
        line.contains("start"),
        "the line names the running handler: {line}"
    );
    // Nothing stays charged once the session is gone.
    drop(tcp);
    let mut buffered = u64::MAX;
    for _ in 0..100 {
        let h = health(&server).await;
        buffered = h["buffered_bytes"].as_u64().unwrap();
        if buffered == 0 && h["sessions"] == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(buffered, 0);
    server.shutdown().await;
}

#[tokio::test]
async fn many_peers_holding_parts_of_large_messages_stay_within_the_budget() {
    const BUDGET: usize = 2 * 1024 * 1024;
    const PEERS: usize = 10;
    let server = TestServer::start(
        WorkflowServer::new()
            .workflow("hello", hello())
            .max_message_size(1024 * 1024)
            .max_buffered_bytes(BUDGET),
    )
    .await;
    // Each peer starts its session, then sends 900 kB of a 1 MiB text frame: 9 MB in all,
    // if the server read it.
    let part = vec![b' '; 900 * 1024];
    let mut peers = Vec::new();
    for _ in 0..PEERS {
        let mut tcp = raw_upgrade(server.addr(), "hello").await;
        tcp.write_all(&masked(0x81, START.as_bytes()))
            .await
            .unwrap();
        let frame = frame_announcing(0x81, 1024 * 1024, &part);
        let writer = tokio::spawn(async move {
            let _ = tokio::time::timeout(Duration::from_secs(6), tcp.write_all(&frame)).await;
            tcp
        });
        peers.push(writer);
    }
    let mut most = 0u64;
    let began = Instant::now();
    while began.elapsed() < Duration::from_secs(3) {
        let h = health(&server).await;
        most = most.max(h["buffered_bytes"].as_u64().unwrap());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        most <= 2 * BUDGET as u64,
        "{most} bytes buffered against a budget of {BUDGET}"
    );
    assert!(most > 0, "the peers' bytes were never charged");
    // A session with small messages needs no budget: it runs while the budget is spent.
    complete_hello(&server.url("hello"), "Ann").await;
    let mut held = Vec::new();
    for p in peers {
        held.push(p.await.unwrap());
    }
    // The budget stays spent: a session held back by it for 10 s is closed with 1013, and
    // what it held is given back.
    let mut closed = 0;
    for tcp in held.iter_mut() {
        if close_code_within(tcp, Duration::from_secs(12)).await == Some(1013) {
            closed += 1;
        }
    }
    assert!(
        closed >= 1,
        "no session waiting for the budget was closed with 1013"
    );
    let mut buffered = u64::MAX;
    for _ in 0..100 {
        buffered = health(&server).await["buffered_bytes"].as_u64().unwrap();
        if buffered <= BUDGET as u64 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(buffered <= BUDGET as u64, "{buffered} bytes still buffered");
    drop(held);
    server.shutdown().await;
}

#[tokio::test]
async fn connections_that_never_start_cannot_hold_the_places_relay_needs() {
    const CONNECTING: usize = 8;
    let server = TestServer::start(
        WorkflowServer::new()
            .workflow("hello", hello())
            .max_sessions(40)
            .max_connecting(CONNECTING),
    )
    .await;
    // 30 upgraded WebSockets that never send an event, and 30 connections that send half a
    // request head: each newer one takes the oldest one's place.
    let mut idle = Vec::new();
    for _ in 0..30 {
        idle.push(raw_upgrade(server.addr(), "hello").await);
    }
    let mut slow = Vec::new();
    for _ in 0..30 {
        let mut tcp = TcpStream::connect(server.addr()).await.unwrap();
        tcp.write_all(b"GET /hello HTTP/1.1\r\nHost: x\r\n")
            .await
            .unwrap();
        slow.push(tcp);
    }
    // The first idle upgrades were closed with 1013.
    for tcp in idle.iter_mut().take(5) {
        assert_eq!(
            close_code_within(tcp, Duration::from_secs(5)).await,
            Some(1013)
        );
    }
    let h = health(&server).await;
    assert!(
        h["connecting"].as_u64().unwrap() <= CONNECTING as u64,
        "{h}"
    );
    // Relay's sessions still start and finish, though more connections than places came.
    for _ in 0..3 {
        complete_hello(&server.url("hello"), "Ann").await;
    }
    // The evicted sessions are gone at once (no wait for their close handshake).
    let mut h = health(&server).await;
    for _ in 0..40 {
        if h["sessions"].as_u64().unwrap() <= CONNECTING as u64 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        h = health(&server).await;
    }
    assert!(h["sessions"].as_u64().unwrap() <= CONNECTING as u64, "{h}");
    drop((idle, slow));
    server.shutdown().await;
}

#[tokio::test]
async fn shutdown_ends_within_the_deadline_plus_two_seconds_whatever_is_in_flight() {
    const DEADLINE: Duration = Duration::from_secs(2);
    let never = Workflow::new().on_start(|_relay, _start: StartEvent| async move {
        std::future::pending::<()>().await;
        Ok(())
    });
    let mut server = TestServer::start(
        WorkflowServer::new()
            .workflow("never", never)
            .workflow("stuck", stuck())
            .shutdown_deadline(DEADLINE),
    )
    .await;
    let addr = server.addr();
    // Sessions whose handlers never return, and that never answer a close frame.
    let mut peers = Vec::new();
    for i in 0..20 {
        let path = if i % 2 == 0 { "never" } else { "stuck" };
        let mut tcp = raw_upgrade(addr, path).await;
        tcp.write_all(&masked(0x81, START.as_bytes()))
            .await
            .unwrap();
        peers.push(tcp);
    }
    // Half-read request heads, and a connection halfway through a frame.
    for _ in 0..20 {
        let mut tcp = TcpStream::connect(addr).await.unwrap();
        tcp.write_all(b"GET /never HTTP/1.1\r\nHost: x\r\n")
            .await
            .unwrap();
        peers.push(tcp);
    }
    let mut tcp = raw_upgrade(addr, "never").await;
    tcp.write_all(&masked(0x81, START.as_bytes()))
        .await
        .unwrap();
    tcp.write_all(&frame_announcing(0x81, 100_000, b"{\"_type\""))
        .await
        .unwrap();
    peers.push(tcp);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let began = Instant::now();
    server.begin_shutdown();
    server.finished().await.unwrap();
    let took = began.elapsed();
    assert!(
        took <= DEADLINE + Duration::from_secs(2),
        "the server took {took:?} to stop, over its deadline of {DEADLINE:?} + 2 s"
    );
    drop(peers);
}

#[tokio::test]
async fn a_peer_streaming_large_messages_is_read_no_faster_than_the_read_rate() {
    const MESSAGE: usize = 32 * 1024;
    const RATE: usize = 64 * 1024;
    let seen = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = seen.clone();
    let workflow = Workflow::new().on_event(move |_relay, _event| {
        let counted = counted.clone();
        async move {
            counted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            Ok(())
        }
    });
    let server = TestServer::start(
        WorkflowServer::new()
            .workflow("any", workflow)
            .max_message_size(2 * MESSAGE)
            .max_read_rate(RATE),
    )
    .await;
    let mut tcp = raw_upgrade(server.addr(), "any").await;
    // Unknown events of 32 KiB each, as fast as the socket takes them, for 2 s.
    let body = format!(
        r#"{{"_type":"wf_api_big_event","data":"{}"}}"#,
        "x".repeat(MESSAGE - 40)
    );
    let frame = masked(0x81, body.as_bytes());
    let began = Instant::now();
    while began.elapsed() < Duration::from_secs(2) {
        if tokio::time::timeout(Duration::from_millis(100), tcp.write_all(&frame))
            .await
            .is_err()
        {
            // The server stopped reading: wait for the rest of the 2 s.
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let elapsed = began.elapsed();
    let handled = seen.load(std::sync::atomic::Ordering::Relaxed);
    // One burst of the largest message at full speed, then the rate (with a second of slack).
    let most = (2 * MESSAGE + RATE * (elapsed.as_secs() as usize + 1)) / body.len() + 1;
    assert!(
        handled <= most,
        "{handled} messages of {} bytes read in {elapsed:?} at {RATE} bytes/s",
        body.len()
    );
    assert!(handled >= 1, "nothing was read");
    server.wait_for_log("MAX_READ_BYTES_PER_SEC").await;
    drop(tcp);
    server.shutdown().await;
}
