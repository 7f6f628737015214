//! Hostile WebSocket frames over raw sockets on 127.0.0.1: frames that announce far more
//! than they send, close frames with codes that may not be sent, and text that stops being
//! UTF-8 in the middle of a message. The tests in this file run one at a time, so that the
//! memory one of them measures is its own.
#![cfg(feature = "testing")]

mod common;

use common::*;
use relay_workflow::prelude::*;
use relay_workflow::testing::TestServer;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// One test at a time in this binary.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const START: &[u8] = br#"{"_type":"wf_api_start_event","trigger":{"type":"phrase","args":{"phrase":"hello","source_uri":"urn:relay-resource:name:device:Bob"}}}"#;

const MASK: [u8; 4] = [0x5a, 0x01, 0xc3, 0x7e];

/// A client frame header: first byte, payload length as announced, the mask.
fn header(first: u8, len: u64) -> Vec<u8> {
    let mut out = vec![first];
    if len < 126 {
        out.push(0x80 | len as u8);
    } else if let Ok(short) = u16::try_from(len) {
        out.push(0x80 | 126);
        out.extend_from_slice(&short.to_be_bytes());
    } else {
        out.push(0x80 | 127);
        out.extend_from_slice(&len.to_be_bytes());
    }
    out.extend_from_slice(&MASK);
    out
}

/// `payload` masked as the bytes of a frame's payload from `offset` on.
fn mask_from(offset: usize, payload: &[u8]) -> Vec<u8> {
    payload
        .iter()
        .enumerate()
        .map(|(i, b)| b ^ MASK[(offset + i) % 4])
        .collect()
}

/// An upgraded connection that has sent the start event, so its session is running.
async fn started(server: &TestServer) -> TcpStream {
    let mut tcp = raw_upgrade(server.addr(), "hellopath").await;
    tcp.write_all(&masked(0x81, START)).await.unwrap();
    tcp
}

/// Read until the server's close frame, within 5 s: `Some(code)` (`Some(None)` for a close
/// frame without a code), `None` if the stream ended or nothing came.
async fn close_frame(tcp: &mut TcpStream) -> Option<Option<u16>> {
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        // Server frames are unmasked and short here; look for a close frame among them.
        let mut at = 0;
        while at + 2 <= seen.len() {
            let (len, head) = match seen[at + 1] & 0x7f {
                126 if at + 4 <= seen.len() => (
                    usize::from(u16::from_be_bytes([seen[at + 2], seen[at + 3]])),
                    4,
                ),
                126 => break,
                n => (usize::from(n), 2),
            };
            if at + head + len > seen.len() {
                break;
            }
            if seen[at] == 0x88 {
                let body = &seen[at + head..at + head + len];
                return Some((len >= 2).then(|| u16::from_be_bytes([body[0], body[1]])));
            }
            at += head + len;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, tcp.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => return None,
            Ok(Ok(n)) => seen.extend_from_slice(&buf[..n]),
        }
    }
}

/// Read (bounded, 5 s) until the server ends the connection; true if it did.
async fn ends(tcp: &mut TcpStream) -> bool {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let mut buf = [0u8; 4096];
    for _ in 0..1000 {
        match tokio::time::timeout_at(deadline, tcp.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => {}
        }
    }
    false
}

/// Writable private memory of this process (`VmData`), in bytes, where Linux tells it.
fn private_memory() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmData:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

#[tokio::test]
async fn twenty_peers_announcing_8_mib_frames_and_stalling_reserve_nothing() {
    let _serial = SERIAL.lock().await;
    // The default limit: an 8 MiB message is allowed.
    let server = TestServer::start(WorkflowServer::new().workflow("hellopath", hello())).await;
    const PEERS: usize = 20;
    const ANNOUNCED: u64 = 8 << 20;
    const SENT: usize = 1000;

    let mut peers = Vec::new();
    for _ in 0..PEERS {
        peers.push(started(&server).await);
    }
    // The sessions are running; their first requests came back.
    for tcp in &mut peers {
        let mut buf = [0u8; 1024];
        let n = tokio::time::timeout(Duration::from_secs(5), tcp.read(&mut buf))
            .await
            .expect("the workflow's first request within 5 s")
            .unwrap();
        assert!(n > 0);
    }
    complete_hello(&server.url("hellopath"), "Ann").await;
    let before = private_memory();

    // Each announces an 8 MiB text frame, sends 1000 bytes of it, and stalls.
    let body = vec![b'x'; SENT];
    for tcp in &mut peers {
        let mut frame = header(0x81, ANNOUNCED);
        frame.extend(mask_from(0, &body));
        tcp.write_all(&frame).await.unwrap();
    }
    // Give the sessions time to read what was sent, while a healthy session completes.
    complete_hello(&server.url("hellopath"), "Bea").await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    complete_hello(&server.url("hellopath"), "Cy").await;
    let after = private_memory();

    if let (Some(before), Some(after)) = (before, after) {
        // Reserving the announced length would take 20 × 8 MiB = 160 MiB. What arrived is
        // 20 × 1000 bytes; allow for everything else the process does meanwhile.
        let grown = after.saturating_sub(before);
        assert!(
            grown < 32 << 20,
            "private memory grew by {grown} bytes for {PEERS} stalled 8 MiB frames"
        );
    }
    // The stalled peers are still connected (their frames are legal so far).
    for tcp in &mut peers {
        let mut buf = [0u8; 64];
        let waited = tokio::time::timeout(Duration::from_millis(50), tcp.read(&mut buf)).await;
        assert!(waited.is_err(), "a stalled peer was answered or dropped");
    }
    drop(peers);
    server.shutdown().await;
}

#[tokio::test]
async fn close_codes_that_may_not_be_sent_are_answered_with_1002() {
    let _serial = SERIAL.lock().await;
    let server = TestServer::start(WorkflowServer::new().workflow("hellopath", hello())).await;
    for code in [
        0u16, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535,
    ] {
        let mut tcp = started(&server).await;
        tcp.write_all(&masked(0x88, &code.to_be_bytes()))
            .await
            .unwrap();
        assert_eq!(close_frame(&mut tcp).await, Some(Some(1002)), "code {code}");
        // The peer's close has come, refused as it was: the server ends the connection.
        assert!(
            ends(&mut tcp).await,
            "code {code}: the connection stayed open"
        );
    }
    server
        .wait_for_log("closing with 1002: Relay broke the WebSocket protocol: a close code")
        .await;
    // Codes that may be sent are echoed, and a close without a code is answered with 1000
    // (never 1005, which stands for "no code" and must not be sent).
    for (sent, answer) in [
        (Some(1000u16), 1000u16),
        (Some(1001), 1001),
        (Some(1011), 1011),
        (Some(1014), 1014),
        (Some(3000), 3000),
        (Some(4999), 4999),
        (None, 1000),
    ] {
        let mut tcp = started(&server).await;
        let body = sent.map(u16::to_be_bytes);
        tcp.write_all(&masked(0x88, body.as_ref().map_or(&[][..], |b| &b[..])))
            .await
            .unwrap();
        assert_eq!(close_frame(&mut tcp).await, Some(Some(answer)), "{sent:?}");
        assert!(ends(&mut tcp).await);
    }
    complete_hello(&server.url("hellopath"), "Dee").await;
    server.shutdown().await;
}

#[tokio::test]
async fn text_that_is_not_utf8_is_refused_with_1007_before_the_message_ends() {
    let _serial = SERIAL.lock().await;
    let server = TestServer::start(WorkflowServer::new().workflow("hellopath", hello())).await;
    let valid = "κόσμε".as_bytes();

    // The first fragment of a message: valid text, then a code point past U+10FFFF. The
    // rest of the message never comes.
    let mut tcp = started(&server).await;
    let first = [valid, &[0xf4, 0x90, 0x80, 0x80][..]].concat();
    tcp.write_all(&masked(0x01, &first)).await.unwrap();
    assert_eq!(close_frame(&mut tcp).await, Some(Some(1007)));

    // One frame announcing 100,000 bytes, of which the first few arrive and prove it wrong
    // (a surrogate).
    let mut tcp = started(&server).await;
    let mut frame = header(0x81, 100_000);
    frame.extend(mask_from(0, &[valid, &[0xed, 0xa0, 0x80][..]].concat()));
    tcp.write_all(&frame).await.unwrap();
    assert_eq!(close_frame(&mut tcp).await, Some(Some(1007)));

    // A character split across two fragments is fine: the session goes on and answers a
    // ping after it.
    let mut tcp = started(&server).await;
    let euro = "\"€\"".as_bytes();
    let wire = [
        masked(0x01, &euro[..2]),
        masked(0x80, &euro[2..]),
        masked(0x89, b"still here"),
    ]
    .concat();
    tcp.write_all(&wire).await.unwrap();
    read_until(
        &mut tcp,
        b"still here",
        Duration::from_secs(5),
        "the pong after a valid split character",
    )
    .await;
    server.wait_for_log("closing with 1007").await;
    server.shutdown().await;
}
