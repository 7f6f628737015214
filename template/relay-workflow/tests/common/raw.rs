//! Raw connections for tests that speak HTTP and frames themselves: the WebSocket upgrade
//! request written out once, opened by hand (async, or blocking for a status alone).
#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

/// How long a hand-made upgrade waits for the server's response head.
pub const RAW_UPGRADE_WAIT: Duration = Duration::from_secs(5);

/// A WebSocket upgrade request for `target` (path and query, with its leading `/`) to `host`.
pub fn upgrade_request(host: &str, target: &str) -> String {
    format!(
        "GET {target} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
}

/// Open a WebSocket by hand on `addr` (the upgrade request, then the 101 head read byte by
/// byte, within [`RAW_UPGRADE_WAIT`]) and hand back the raw stream, for tests that speak
/// frames themselves.
pub async fn raw_upgrade(addr: SocketAddr, path: &str) -> tokio::net::TcpStream {
    raw_upgrade_with(addr, path, None).await
}

/// As [`raw_upgrade`], with the socket's receive buffer set to `recv_buffer` bytes (a small
/// one keeps what the server sends and the test does not read on the server's side).
pub async fn raw_upgrade_with(
    addr: SocketAddr,
    path: &str,
    recv_buffer: Option<u32>,
) -> tokio::net::TcpStream {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    if let Some(size) = recv_buffer {
        socket.set_recv_buffer_size(size).unwrap();
    }
    let mut tcp = socket.connect(addr).await.unwrap();
    let request = upgrade_request(&addr.to_string(), &format!("/{path}"));
    tcp.write_all(request.as_bytes()).await.unwrap();
    let deadline = tokio::time::Instant::now() + RAW_UPGRADE_WAIT;
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        let read = tokio::time::timeout_at(deadline, tcp.read(&mut byte))
            .await
            .unwrap_or_else(|_| panic!("no 101 head within {RAW_UPGRADE_WAIT:?}"));
        assert_eq!(read.unwrap(), 1, "closed during handshake");
        head.push(byte[0]);
        assert!(head.len() < 4096, "no end to the 101 head");
    }
    assert!(String::from_utf8_lossy(&head).starts_with("HTTP/1.1 101"));
    tcp
}

/// The status of a WebSocket upgrade to `target` (path and query) on `addr`, read within
/// [`RAW_UPGRADE_WAIT`] over a blocking socket; `None` if there is none.
pub fn upgrade_status(addr: SocketAddr, target: &str) -> Option<u16> {
    use std::io::{Read, Write};
    let mut tcp = std::net::TcpStream::connect_timeout(&addr, RAW_UPGRADE_WAIT).ok()?;
    tcp.set_read_timeout(Some(RAW_UPGRADE_WAIT)).ok()?;
    tcp.write_all(upgrade_request(&addr.to_string(), target).as_bytes())
        .ok()?;
    let mut head = [0u8; 12];
    tcp.read_exact(&mut head).ok()?;
    std::str::from_utf8(&head[9..12]).ok()?.parse().ok()
}
