//! An echo server built on the SDK's own WebSocket framing, for the Autobahn conformance
//! suite (`scripts/autobahn` runs its `fuzzingclient` against it).
//!
//! ```text
//! cargo run -p relay-tools --example autobahn_echo [-- MAX_MESSAGE_BYTES]
//! ```
//!
//! It listens on 127.0.0.1 on a port of the system's choosing and prints `listening on
//! ADDRESS` first thing. Each connection takes the path a workflow session takes: the
//! request head read off the socket, `Sec-WebSocket-Accept` from the SDK's `accept_key`,
//! then the SDK's `Reader` fed from an 8 KiB buffer (the size a session reads into) and
//! its `encode` for every frame sent. Text and binary messages are echoed as they came,
//! pings answered, a close answered with the peer's code (1000 when it had none), and every
//! violation the reader reports closed with the code it names. The largest message defaults
//! to 16 MiB, which the suite's 9.x cases need.

use relay_workflow::ws::{self, Message, OpCode};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The session's read size.
const READ_CHUNK: usize = 8 * 1024;
/// Longest request head accepted.
const MAX_HEAD: usize = 16 * 1024;
/// How long a closing connection waits for the peer's close frame.
const CLOSE_GRACE: Duration = Duration::from_secs(2);

fn main() -> std::io::Result<()> {
    let max_message = match std::env::args().nth(1) {
        Some(arg) => arg.parse().map_err(|_| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("usage: autobahn_echo [MAX_MESSAGE_BYTES], not {arg:?}"),
            )
        })?,
        None => 16 << 20,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        println!("listening on {}", listener.local_addr()?);
        loop {
            let (tcp, _) = listener.accept().await?;
            let _ = tcp.set_nodelay(true);
            tokio::spawn(async move {
                if let Err(e) = connection(tcp, max_message).await {
                    eprintln!("connection ended: {e}");
                }
            });
        }
    })
}

/// The request head's end, if it has arrived.
fn head_end(bytes: &[u8]) -> Option<usize> {
    bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| i + 4)
}

/// The `Sec-WebSocket-Key` of a WebSocket upgrade request head.
fn websocket_key(head: &[u8]) -> Option<Vec<u8>> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut request = httparse::Request::new(&mut headers);
    if !matches!(request.parse(head), Ok(httparse::Status::Complete(_))) {
        return None;
    }
    let upgrade = request.headers.iter().any(|h| {
        h.name.eq_ignore_ascii_case("upgrade") && h.value.eq_ignore_ascii_case(b"websocket")
    });
    let key = request
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("sec-websocket-key"))?;
    upgrade.then(|| key.value.to_vec())
}

async fn connection(mut tcp: TcpStream, max_message: usize) -> std::io::Result<()> {
    // The opening handshake.
    let mut head = Vec::new();
    let end = loop {
        let mut buf = [0u8; 1024];
        let n = tcp.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        head.extend_from_slice(&buf[..n]);
        if let Some(end) = head_end(&head) {
            break end;
        }
        if head.len() > MAX_HEAD {
            return tcp
                .write_all(b"HTTP/1.1 431 Request Header Fields Too Large\r\n\r\n")
                .await;
        }
    };
    let Some(key) = websocket_key(&head[..end]) else {
        return tcp
            .write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
            .await;
    };
    let response = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {}\r\n\r\n",
        ws::accept_key(&key)
    );
    tcp.write_all(response.as_bytes()).await?;

    // Frames: whatever came after the head first, then reads of the session's size.
    let mut reader = ws::Reader::new(max_message);
    let mut out = Vec::new();
    let mut first = head.split_off(end);
    let mut buf = [0u8; READ_CHUNK];
    loop {
        let (data, n) = if first.is_empty() {
            let n = tcp.read(&mut buf).await?;
            if n == 0 {
                return Ok(());
            }
            (&mut buf[..n], n)
        } else {
            let n = first.len();
            (&mut first[..], n)
        };
        let mut closed = false;
        let result = reader.feed(&mut data[..n], |message| {
            match message {
                Message::Text(text) => ws::encode(OpCode::Text, text.as_bytes(), &mut out),
                Message::Binary(bytes) => ws::encode(OpCode::Binary, bytes, &mut out),
                Message::Ping(payload) => ws::encode(OpCode::Pong, payload, &mut out),
                Message::Pong => {}
                Message::Close(code, _reason) => {
                    ws::encode_close(code.unwrap_or(1000), "", &mut out);
                    closed = true;
                }
            }
            !closed
        });
        first = Vec::new();
        if let Err(violation) = &result {
            ws::encode_close(violation.close_code(), "", &mut out);
        }
        tcp.write_all(&out).await?;
        out.clear();
        if out.capacity() > 64 * 1024 {
            out = Vec::new();
        }
        if closed || reader.peer_closed() {
            // The close handshake is done (the peer's close, valid or not, and the answer):
            // the server ends the TCP connection.
            return Ok(());
        }
        if result.is_err() {
            return await_close(tcp).await;
        }
    }
}

/// After closing for a violation: wait (bounded) for the peer's close frame, then end the
/// TCP connection. What follows the violation may be the rest of the offending frame, so a
/// second error ends the wait too.
async fn await_close(mut tcp: TcpStream) -> std::io::Result<()> {
    let mut reader = ws::Reader::new(READ_CHUNK);
    let mut buf = [0u8; READ_CHUNK];
    let deadline = tokio::time::Instant::now() + CLOSE_GRACE;
    loop {
        let n = match tokio::time::timeout_at(deadline, tcp.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => n,
            _ => return Ok(()),
        };
        let mut done = false;
        let result = reader.feed(&mut buf[..n], |message| {
            done = matches!(message, Message::Close(..));
            !done
        });
        if done || result.is_err() {
            return Ok(());
        }
    }
}
