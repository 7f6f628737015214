//! Shared helpers for the SDK's end-to-end tests.
#![allow(dead_code)]

use std::time::Duration;

mod frames;
mod hello;
mod raw;
#[cfg(feature = "testing")]
mod sim;
#[allow(unused_imports)]
pub use frames::*;
pub use hello::*;
#[allow(unused_imports)]
pub use raw::*;
#[cfg(feature = "testing")]
#[allow(unused_imports)]
pub use sim::*;

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
