//! Shared helpers for the SDK's end-to-end tests.
#![allow(dead_code)]

use std::time::Duration;

mod frames;
mod hello;
#[allow(unused_imports)]
pub use frames::*;
pub use hello::*;

/// Open a WebSocket by hand on `addr` (the upgrade request, then the 101 head read byte by
/// byte) and hand back the raw stream, for tests that speak frames themselves.
pub async fn raw_upgrade(addr: std::net::SocketAddr, path: &str) -> tokio::net::TcpStream {
    raw_upgrade_with(addr, path, None).await
}

/// As [`raw_upgrade`], with the socket's receive buffer set to `recv_buffer` bytes (a small
/// one keeps what the server sends and the test does not read on the server's side).
pub async fn raw_upgrade_with(
    addr: std::net::SocketAddr,
    path: &str,
    recv_buffer: Option<u32>,
) -> tokio::net::TcpStream {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    if let Some(size) = recv_buffer {
        socket.set_recv_buffer_size(size).unwrap();
    }
    let mut tcp = socket.connect(addr).await.unwrap();
    let request = format!(
        "GET /{path} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        assert_eq!(
            tcp.read(&mut byte).await.unwrap(),
            1,
            "closed during handshake"
        );
        head.push(byte[0]);
        assert!(head.len() < 4096, "no end to the 101 head");
    }
    assert!(String::from_utf8_lossy(&head).starts_with("HTTP/1.1 101"));
    tcp
}

/// Read until the server's close frame (its code) or the end of the stream, within `limit`.
pub async fn close_code_within(tcp: &mut tokio::net::TcpStream, limit: Duration) -> Option<u16> {
    use tokio::io::AsyncReadExt;
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = std::time::Instant::now() + limit;
    loop {
        // Server frames are unmasked; look for a close frame among them.
        let mut at = 0;
        while at + 2 <= seen.len() {
            let (len, header) = match seen[at + 1] & 0x7f {
                126 if at + 4 <= seen.len() => {
                    (u16::from_be_bytes([seen[at + 2], seen[at + 3]]) as usize, 4)
                }
                126 => break,
                n => (n as usize, 2),
            };
            if seen[at] == 0x88 && len >= 2 && at + 4 <= seen.len() {
                return Some(u16::from_be_bytes([seen[at + 2], seen[at + 3]]));
            }
            at += header + len;
        }
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match tokio::time::timeout(left, tcp.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => return None,
            Ok(Ok(n)) => seen.extend_from_slice(&buf[..n]),
        }
    }
}

/// The server's `/healthz` answer.
#[cfg(feature = "testing")]
pub async fn health(server: &relay_workflow::testing::TestServer) -> serde_json::Value {
    let text = reqwest::get(server.http_url("healthz"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    serde_json::from_str(&text).unwrap()
}

/// Read (within `limit`) until what the server sent contains `needle`; everything read.
/// Panics, naming `what`, if the time runs out or the connection ends first.
pub async fn read_until(
    tcp: &mut tokio::net::TcpStream,
    needle: &[u8],
    limit: Duration,
    what: &str,
) -> Vec<u8> {
    use tokio::io::AsyncReadExt;
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = std::time::Instant::now() + limit;
    while !seen.windows(needle.len()).any(|w| w == needle) {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let n = tokio::time::timeout(left, tcp.read(&mut buf))
            .await
            .unwrap_or_else(|_| panic!("{what}: not within {limit:?}"))
            .unwrap();
        assert!(n > 0, "{what}: the connection ended first");
        seen.extend_from_slice(&buf[..n]);
    }
    seen
}

/// Run the hello workflow to its end through `url` (within 20 s) and check the greeting.
#[cfg(feature = "testing")]
pub async fn complete_hello(url: &str, name: &str) {
    use relay_workflow::testing::{AutoResponder, Simulator};
    let t = tokio::time::timeout(
        Duration::from_secs(20),
        Simulator::connect(url)
            .await
            .unwrap()
            .run(AutoResponder::default().say_on_listen([name])),
    )
    .await
    .expect("a hello session did not finish within 20 s")
    .unwrap();
    assert_eq!(t.said()[1], format!("Hello {name}! You are using Bob."));
}
