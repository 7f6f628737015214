//! The listener and each connection's life: binding, the accept loop (paced by
//! `admission.rs`, bounded by `MAX_CONNECTING`), reading the request head, taking an
//! upgrade this server accepts as a session in the same task, handing every other request
//! to hyper and the router, and closing connections when the server stops.

use super::{Acceptor, FastPath, Route};
use crate::admission::{Admission, Starting};
use crate::budget::ConnectingPlace;
use crate::logging::Refusal;
use crate::session::{self, Slot};
use crate::upgrade::{parse_upgrade, read_head, switching_protocols, Head, Prefixed};
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{warn, Instrument};

/// After the sessions, how long plain HTTP connections get to finish.
pub(super) const HTTP_CLOSE_WAIT: Duration = Duration::from_millis(500);

/// Most connections the kernel holds for the accept loop (Linux caps it at
/// `net.core.somaxconn`, 4096 by default).
const LISTEN_BACKLOG: u32 = 4096;

pub(super) fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// Accept connections until `stop`, serving each with HTTP/1.1 (and upgrades) in its own
/// task. A client must finish its request headers (and TLS handshake) within
/// `header_timeout`, so that slow or silent connections cannot pile up.
pub(super) async fn accept_loop(
    listener: TcpListener,
    router: Router,
    fast: Arc<FastPath>,
    tls: Option<Acceptor>,
    header_timeout: Duration,
    stop: CancellationToken,
    connections: TaskTracker,
) {
    let mut admission = Admission::new(tokio::runtime::Handle::current().metrics().num_workers());
    loop {
        let accepted = tokio::select! {
            accepted = async {
                let starting = admission.admit().await;
                listener.accept().await.map(|accepted| (accepted, starting))
            } => accepted,
            _ = stop.cancelled() => return,
        };
        let (tcp, starting) = match accepted {
            Ok(((tcp, _peer), starting)) => (tcp, starting),
            Err(e) => {
                // Out of file descriptors and the like: wait a little rather than spin.
                if !matches!(
                    e.kind(),
                    std::io::ErrorKind::ConnectionAborted | std::io::ErrorKind::ConnectionReset
                ) {
                    fast.app.refusals.note(Refusal::AcceptError, move |n| {
                        warn!("cannot accept a connection: {e}{n}")
                    });
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                continue;
            }
        };
        // Small frames each way: without TCP_NODELAY, Nagle's algorithm and delayed ACKs
        // add about 40 ms to every request/response round trip.
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!("cannot set TCP_NODELAY: {e}");
        }
        // Until its session starts, the connection holds a place among those connecting; a
        // newer one may take it over (its token is cancelled), as may the shutdown deadline.
        let evict = fast.app.handle.force_close.child_token();
        let (place, evicted) = fast.app.connecting.enter(evict.clone());
        if evicted {
            let max = fast.app.connecting.max();
            fast.app.refusals.note(Refusal::Evicted, move |n| {
                warn!("{max} connections had not started a session (MAX_CONNECTING): closed the oldest to take a new one{n}")
            });
        }
        let conn = Conn {
            starting,
            place,
            evict,
            stop: stop.clone(),
        };
        let service = TowerToHyperService::new(router.clone());
        let fast = fast.clone();
        match tls.clone() {
            None => {
                connections.spawn(
                    serve_stream(tcp, conn, fast, service, header_timeout).in_current_span(),
                );
            }
            #[cfg(feature = "tls")]
            Some(acceptor) => {
                connections.spawn(
                    super::tls::serve_tls(acceptor, tcp, conn, fast, service, header_timeout)
                        .in_current_span(),
                );
            }
        }
    }
}

/// Serve one connection: a WebSocket upgrade the server accepts becomes a session here
/// and now; any other request goes to hyper and the router.
///
/// A plain function returning an `async move` block: an `async fn` would store its
/// arguments twice in the task.
#[allow(clippy::manual_async_fn)] // see above: an async fn would be larger
pub(super) fn serve_stream<S>(
    mut io: S,
    conn: Conn,
    fast: Arc<FastPath>,
    service: TowerToHyperService<Router>,
    header_timeout: Duration,
) -> impl Future<Output = ()> + Send
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    async move {
        let Conn {
            starting,
            place,
            evict,
            stop,
        } = conn;
        let mut head = Vec::new();
        let reading = tokio::time::timeout(header_timeout, read_head(&mut io, &mut head));
        // A head still being read when the server stops, or when a newer connection needs
        // this one's place, is not waited for.
        let read = tokio::select! {
            read = reading => read,
            _ = evict.cancelled() => {
                tracing::debug!("dropped a connection still sending its request head: a newer one needed its place (MAX_CONNECTING)");
                return;
            }
            _ = stop.cancelled() => return,
        };
        let end = match read {
            Err(_) => {
                tracing::debug!(
                    "no request head within {header_timeout:?}; dropped the connection"
                );
                return;
            }
            Ok(Err(e)) => {
                tracing::debug!("reading a request head failed: {e}");
                return;
            }
            Ok(Ok(Head::Closed)) => return,
            Ok(Ok(Head::BadLineEndings)) => return bad_line_endings(io).await,
            Ok(Ok(Head::Other)) => None,
            Ok(Ok(Head::Complete(end))) => Some(end),
        };
        if let Some((route, mut slot, answer)) = end.and_then(|end| fast.accept(&head[..end])) {
            // The connection counts as starting, and holds its place among those
            // connecting, until its session receives the first event.
            slot.starting = Some(starting);
            slot.connecting = Some(place);
            let early = head[end.unwrap_or(0)..].to_vec();
            drop(head);
            if let Err(e) = io.write_all(&answer).await {
                tracing::debug!("could not send the 101 answer: {e}");
                return;
            }
            drop(answer);
            let ctx = fast.app.session_context(&route, evict);
            // One expression: a session future held in a local would be stored twice in this
            // task (once for the local, once for the await).
            fast.app
                .handle
                .tracker
                .track_future(session::run(io, early, route.workflow.clone(), ctx, slot))
                .await;
            return;
        }
        // Anything else is served by the router (an upgrade it accepts is a session that
        // the accept loop no longer waits for).
        drop(starting);
        // Boxed: the state of an HTTP connection is larger than a session's, and a task is as
        // large as the largest state it can be in.
        Box::pin(serve_connection(
            TokioIo::new(Prefixed::new(head, io)),
            service,
            header_timeout,
            stop,
            evict,
        ))
        .await;
        // The HTTP connection held its place among those connecting until now.
        drop(place);
    }
}

/// What a new connection carries from the accept loop: its places among those starting and
/// those connecting, the token that evicts it, and the server's stop signal.
pub(super) struct Conn {
    starting: Starting,
    place: ConnectingPlace,
    pub(super) evict: CancellationToken,
    pub(super) stop: CancellationToken,
}

/// The answer to a request head with bare LF line endings.
const BAD_LINE_ENDINGS: &[u8] = b"HTTP/1.1 400 Bad Request\r\n\
    content-type: text/plain; charset=utf-8\r\ncontent-length: 67\r\nconnection: close\r\n\r\n\
    Bad request: request lines must end in CRLF (\\r\\n), not a bare LF.\n";
/// How long a refused client gets to take the answer, and then to close its side.
const REFUSAL_LINGER: Duration = Duration::from_secs(1);

/// Answer 400 to a head with bare LF line endings and close. What the client sent meanwhile
/// is read and dropped (a bounded amount, for a bounded time) so that closing does not reset
/// the connection before the client reads the answer.
async fn bad_line_endings<S>(mut io: S)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    tracing::debug!("a request head with bare LF line endings: answered 400");
    let _ = tokio::time::timeout(REFUSAL_LINGER, async {
        io.write_all(BAD_LINE_ENDINGS).await?;
        io.shutdown().await?;
        let mut sink = [0u8; 1024];
        for _ in 0..64 {
            if tokio::io::AsyncReadExt::read(&mut io, &mut sink).await? == 0 {
                break;
            }
        }
        std::io::Result::Ok(())
    })
    .await;
}

impl FastPath {
    /// The route, a session slot and the `101` answer, if `head` is an upgrade this server
    /// takes as it is. Everything else (including every refusal, which deserves its
    /// status code and log line) is left to the router, which decides again with the same
    /// [`admit`](super::App::admit).
    fn accept(&self, head: &[u8]) -> Option<(Arc<Route>, Slot, Vec<u8>)> {
        let upgrade = parse_upgrade(head, super::SECRET_HEADER)?;
        let route = self.routes.get(upgrade.path)?;
        let slot = self.app.admit(upgrade.secret_header, upgrade.query).ok()?;
        Some((route.clone(), slot, switching_protocols(upgrade.key)))
    }
}

async fn serve_connection<I>(
    io: I,
    service: TowerToHyperService<Router>,
    header_timeout: Duration,
    stop: CancellationToken,
    evict: CancellationToken,
) where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout);
    let connection = builder.serve_connection(io, service).with_upgrades();
    tokio::pin!(connection);
    tokio::select! {
        result = connection.as_mut() => {
            if let Err(e) = result {
                tracing::debug!("HTTP connection ended: {e}");
            }
        }
        _ = stop.cancelled() => {
            connection.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(HTTP_CLOSE_WAIT, connection).await;
        }
        // A newer connection needed this one's place (an idle keep-alive, say): drop it.
        _ = evict.cancelled() => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bad_line_endings_answer_is_well_formed() {
        let text = std::str::from_utf8(BAD_LINE_ENDINGS).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{head}");
        assert!(head.contains("\r\nconnection: close"), "{head}");
        assert!(
            head.contains(&format!("\r\ncontent-length: {}", body.len())),
            "{head}"
        );
        assert!(body.contains("must end in CRLF"), "{body}");
    }
}
