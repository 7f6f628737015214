//! The WebSocket opening handshake, read straight off the connection.
//!
//! Relay opens every session with the same small HTTP/1.1 upgrade request. The server reads
//! the request head itself into a small buffer; a well-formed upgrade that it accepts is
//! answered with `101` on the spot and the connection becomes the session, in the same task.
//! Anything else (a browser, the health route, a refused upgrade, an unusual request) goes
//! to the HTTP stack (hyper and axum) with the bytes already read put back in front, so
//! every other response is written in one place.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};

/// The longest request head read here; longer ones go to the HTTP stack.
const MAX_HEAD: usize = 16 * 1024;
/// Room first reserved for a head (Relay's fit in a few hundred bytes).
const FIRST_READ: usize = 1024;
/// Most header lines looked at; more go to the HTTP stack.
const MAX_HEADERS: usize = 32;

/// How reading a request head ended.
pub(crate) enum Head {
    /// The head is `buf[..end]`; anything after it is already the client's next bytes.
    Complete(usize),
    /// Too long, or not parsable here: let the HTTP stack decide.
    Other,
    /// The client closed the connection first.
    Closed,
    /// A line of the head ends in a bare LF (`\n` without `\r`): HTTP/1.1 wants CRLF, and
    /// waiting for a `\r\n\r\n` that such a client never sends would hold the connection
    /// until the header timeout. Answered with 400 at once.
    BadLineEndings,
}

/// Read until the end of the request head (or the limit) into `buf`.
pub(crate) async fn read_head<S>(io: &mut S, buf: &mut Vec<u8>) -> io::Result<Head>
where
    S: AsyncRead + Unpin,
{
    buf.reserve(FIRST_READ);
    let mut searched: usize = 0;
    loop {
        let end =
            find_end(&buf[searched.saturating_sub(3)..]).map(|at| searched.saturating_sub(3) + at);
        // Only the head's own bytes: what follows it may be anything.
        if has_bare_lf(buf, searched, end.unwrap_or(buf.len())) {
            return Ok(Head::BadLineEndings);
        }
        if let Some(end) = end {
            return Ok(Head::Complete(end));
        }
        searched = buf.len();
        if buf.len() >= MAX_HEAD {
            return Ok(Head::Other);
        }
        if buf.capacity() == buf.len() {
            buf.reserve(FIRST_READ);
        }
        if io.read_buf(buf).await? == 0 {
            return Ok(if buf.is_empty() {
                Head::Closed
            } else {
                Head::Other
            });
        }
    }
}

/// The index just past the first blank line (`\r\n\r\n`), if any.
fn find_end(bytes: &[u8]) -> Option<usize> {
    bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| i + 4)
}

/// Whether a `\n` in `bytes[from..to]` lacks the `\r` before it.
fn has_bare_lf(bytes: &[u8], from: usize, to: usize) -> bool {
    (from..to).any(|i| bytes[i] == b'\n' && (i == 0 || bytes[i - 1] != b'\r'))
}

/// The parts of a WebSocket upgrade request the server decides on.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Upgrade<'a> {
    /// The path, without the query.
    pub path: &'a str,
    pub query: Option<&'a str>,
    pub key: &'a [u8],
    /// The `X-Relay-Workflow-Secret` header, if present.
    pub secret_header: Option<&'a [u8]>,
}

/// `head` as a well-formed WebSocket upgrade (RFC 6455 §4.2.1), or `None` for anything
/// else, including requests that are valid HTTP but unusual (a body, more than
/// 32 header lines): those are left to the HTTP stack.
pub(crate) fn parse_upgrade<'a>(head: &'a [u8], secret_header: &str) -> Option<Upgrade<'a>> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut headers);
    if !matches!(request.parse(head), Ok(httparse::Status::Complete(n)) if n == head.len()) {
        return None;
    }
    if request.method != Some("GET") || request.version != Some(1) {
        return None;
    }
    let target = request.path?;
    let (path, query) = match target.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (target, None),
    };
    let mut upgrade = false;
    let mut connection = false;
    let mut version = false;
    let mut key = None;
    let mut secret = None;
    let has_token = |value: &[u8], token: &str| {
        std::str::from_utf8(value)
            .is_ok_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
    };
    for h in request.headers.iter() {
        let name = h.name;
        if name.eq_ignore_ascii_case("upgrade") {
            upgrade |= has_token(h.value, "websocket");
        } else if name.eq_ignore_ascii_case("connection") {
            connection |= has_token(h.value, "upgrade");
        } else if name.eq_ignore_ascii_case("sec-websocket-version") {
            version = h.value == b"13";
        } else if name.eq_ignore_ascii_case("sec-websocket-key") {
            if key.is_some() {
                return None;
            }
            key = Some(h.value);
        } else if name.eq_ignore_ascii_case(secret_header) {
            if secret.is_some() {
                return None;
            }
            secret = Some(h.value);
        } else if name.eq_ignore_ascii_case("content-length")
            || name.eq_ignore_ascii_case("transfer-encoding")
        {
            return None;
        }
    }
    let key = key.filter(|k| !k.is_empty())?;
    (upgrade && connection && version).then_some(Upgrade {
        path,
        query,
        key,
        secret_header: secret,
    })
}

/// The `101 Switching Protocols` answer to a client's key.
pub(crate) fn switching_protocols(key: &[u8]) -> Vec<u8> {
    format!(
        "HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\nupgrade: websocket\r\nsec-websocket-accept: {}\r\n\r\n",
        crate::ws::accept_key(key)
    )
    .into_bytes()
}

/// A connection with bytes already read from it put back in front.
pub(crate) struct Prefixed<S> {
    prefix: Vec<u8>,
    at: usize,
    io: S,
}

impl<S> Prefixed<S> {
    pub(crate) fn new(prefix: Vec<u8>, io: S) -> Self {
        Prefixed { prefix, at: 0, io }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Prefixed<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.at < this.prefix.len() {
            let n = (this.prefix.len() - this.at).min(buf.remaining());
            buf.put_slice(&this.prefix[this.at..this.at + n]);
            this.at += n;
            if this.at == this.prefix.len() {
                this.prefix = Vec::new();
                this.at = 0;
            }
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.io).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Prefixed<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    const RELAY: &str = "GET /hello?secret=s%20t HTTP/1.1\r\nHost: example.herokuapp.com\r\n\
        Upgrade: websocket\r\nConnection: keep-alive, Upgrade\r\n\
        Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
        X-Relay-Workflow-Secret: abc\r\n\r\n";

    #[test]
    fn a_relay_upgrade_is_recognised() {
        let u = parse_upgrade(RELAY.as_bytes(), "x-relay-workflow-secret").unwrap();
        assert_eq!(u.path, "/hello");
        assert_eq!(u.query, Some("secret=s%20t"));
        assert_eq!(u.key, b"dGhlIHNhbXBsZSBub25jZQ==");
        assert_eq!(u.secret_header, Some(&b"abc"[..]));
        let answer = String::from_utf8(switching_protocols(u.key)).unwrap();
        assert!(answer.starts_with("HTTP/1.1 101 Switching Protocols\r\n"));
        assert!(answer.contains("sec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"));
        assert!(answer.ends_with("\r\n\r\n"));
    }

    #[test]
    fn anything_else_is_left_to_the_http_stack() {
        let variants = [
            RELAY.replace("GET", "POST"),
            RELAY.replace("HTTP/1.1", "HTTP/1.0"),
            RELAY.replace("Upgrade: websocket\r\n", ""),
            RELAY.replace("Upgrade: websocket", "Upgrade: h2c"),
            RELAY.replace("keep-alive, Upgrade", "keep-alive"),
            RELAY.replace("Version: 13", "Version: 8"),
            RELAY.replace("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n", ""),
            RELAY.replace("dGhlIHNhbXBsZSBub25jZQ==", ""),
            RELAY.replace("Host:", "Content-Length: 0\r\nHost:"),
            RELAY.replace("Host:", "Sec-WebSocket-Key: AAAA\r\nHost:"),
            RELAY.replace("\r\n\r\n", "\r\n"),
            "not http at all\r\n\r\n".to_owned(),
        ];
        for v in variants {
            assert_eq!(
                parse_upgrade(v.as_bytes(), "x-relay-workflow-secret"),
                None,
                "{v}"
            );
        }
        let many = RELAY.replace("Host:", &"X-A: b\r\n".repeat(MAX_HEADERS)) + "Host: h\r\n\r\n";
        assert_eq!(
            parse_upgrade(many.as_bytes(), "x-relay-workflow-secret"),
            None
        );
    }

    #[tokio::test]
    async fn heads_arrive_in_pieces_and_early_bytes_are_kept() {
        let (mut client, mut server) = tokio::io::duplex(64);
        let sent = format!("{RELAY}\u{81}");
        let writer = tokio::spawn(async move {
            for piece in sent.as_bytes().chunks(7) {
                client.write_all(piece).await.unwrap();
                tokio::task::yield_now().await;
            }
            client
        });
        let mut buf = Vec::new();
        let end = match read_head(&mut server, &mut buf).await.unwrap() {
            Head::Complete(end) => end,
            _ => panic!("incomplete"),
        };
        assert_eq!(&buf[..end], RELAY.as_bytes());
        let mut client = writer.await.unwrap();
        // What followed the head is kept for the session.
        let mut rest = buf[end..].to_vec();
        if rest.len() < 2 {
            let mut more = [0u8; 8];
            let n = server.read(&mut more).await.unwrap();
            rest.extend_from_slice(&more[..n]);
        }
        assert_eq!(rest, "\u{81}".as_bytes());
        client.shutdown().await.unwrap();
    }

    #[tokio::test]
    async fn closed_and_oversized_heads() {
        let (client, mut server) = tokio::io::duplex(64);
        drop(client);
        let mut buf = Vec::new();
        assert!(matches!(
            read_head(&mut server, &mut buf).await.unwrap(),
            Head::Closed
        ));
        let (mut client, mut server) = tokio::io::duplex(MAX_HEAD * 2);
        client.write_all(&vec![b'a'; MAX_HEAD + 10]).await.unwrap();
        let mut buf = Vec::new();
        assert!(matches!(
            read_head(&mut server, &mut buf).await.unwrap(),
            Head::Other
        ));
        assert!(buf.len() >= MAX_HEAD);
    }

    #[tokio::test]
    async fn a_bare_lf_in_the_head_is_refused_at_once() {
        // The client keeps the connection open: the answer must not wait for more bytes.
        for head in [
            RELAY.replace("\r\n", "\n"),
            RELAY.replacen("\r\n", "\n", 1),
            RELAY.replace("\r\n\r\n", "\r\n\n"),
            "\n".to_owned(),
        ] {
            let (mut client, mut server) = tokio::io::duplex(MAX_HEAD);
            client.write_all(head.as_bytes()).await.unwrap();
            let mut buf = Vec::new();
            let read = tokio::time::timeout(
                std::time::Duration::from_secs(5),
                read_head(&mut server, &mut buf),
            )
            .await
            .expect("read_head waited for more");
            assert!(matches!(read.unwrap(), Head::BadLineEndings), "{head:?}");
            drop(client);
        }
    }

    #[tokio::test]
    async fn crlf_split_across_reads_and_lf_after_the_head_are_fine() {
        let (mut client, mut server) = tokio::io::duplex(64);
        // A frame-like byte and a newline right behind the head belong to the session.
        let sent = format!("{RELAY}\u{81}\n\n");
        let writer = tokio::spawn(async move {
            for byte in sent.as_bytes() {
                client.write_all(&[*byte]).await.unwrap();
                tokio::task::yield_now().await;
            }
            client
        });
        let mut buf = Vec::new();
        let end = match read_head(&mut server, &mut buf).await.unwrap() {
            Head::Complete(end) => end,
            _ => panic!("not complete"),
        };
        assert_eq!(&buf[..end], RELAY.as_bytes());
        drop(writer.await.unwrap());
        // All at once, with the newline behind the head in the same read.
        let (mut client, mut server) = tokio::io::duplex(MAX_HEAD);
        client
            .write_all(format!("{RELAY}\n").as_bytes())
            .await
            .unwrap();
        let mut buf = Vec::new();
        assert!(matches!(
            read_head(&mut server, &mut buf).await.unwrap(),
            Head::Complete(end) if end == RELAY.len()
        ));
    }

    #[tokio::test]
    async fn prefixed_replays_then_reads_on() {
        let (mut client, server) = tokio::io::duplex(64);
        client.write_all(b" world").await.unwrap();
        drop(client);
        let mut io = Prefixed::new(b"hello".to_vec(), server);
        let mut all = String::new();
        io.read_to_string(&mut all).await.unwrap();
        assert_eq!(all, "hello world");
    }
}
