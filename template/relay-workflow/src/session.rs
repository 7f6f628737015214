//! One driver per WebSocket connection.
//!
//! The driver owns the socket. A writer task sends frames; the reader (the driver itself)
//! routes responses to the calls waiting for them by `_id`, hands events to one-shot
//! waiters (say-and-wait, listen, terminate) and queues them for the workflow's handlers.
//! Handlers run one at a time, each in its own task, so a handler awaiting a response never
//! blocks the reader, and a handler that panics takes nothing else down.

use crate::error::{Error, Result};
use crate::protocol::{decode_frame, encode_request, Event, Incoming, Request};
use crate::urn::Target;
use crate::workflow::{Relay, Workflow};
use axum::extract::ws::{CloseFrame, Message, WebSocket};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Map, Value};
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot, Notify};
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, warn, Instrument};

/// How long a write may take before the peer is considered stuck.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// After we send a close frame, how long we wait for the peer's.
const CLOSE_GRACE: Duration = Duration::from_secs(2);
/// After the connection ends, how long queued handlers may keep running.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);
/// How many recent prompt and stop events are kept for waiters registered late.
const RECENT_EVENTS: usize = 16;
/// Frames longer than this are shortened in log lines.
const LOG_FRAME_CHARS: usize = 200;

/// Per-connection settings handed over by the server.
#[derive(Clone)]
pub(crate) struct SessionContext {
    pub path: Arc<str>,
    pub ping_interval: Duration,
    /// Cancelled when the server's shutdown deadline is reached.
    pub force_close: CancellationToken,
    /// How long a new session may take to send its first event.
    pub first_event_timeout: Duration,
    /// Most requests one session may have awaiting a response.
    pub max_pending: usize,
    /// Largest incoming message, for the log line when one is larger.
    pub max_message_size: usize,
}

/// One place in the server's session count, taken before the upgrade and given back when
/// the session ends (or when the upgrade fails).
#[derive(Debug)]
pub(crate) struct Slot(Arc<AtomicUsize>);

impl Slot {
    /// Take a place if fewer than `max` are taken.
    pub(crate) fn reserve(live: &Arc<AtomicUsize>, max: usize) -> Option<Slot> {
        let before = live.fetch_add(1, Ordering::AcqRel);
        if before >= max {
            live.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        Some(Slot(live.clone()))
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

enum Outgoing {
    Text(String),
    Ping,
    Close(u16, &'static str),
    Finish,
}

enum Reply {
    Payload(Map<String, Value>),
    Refused(String),
}

struct Pending {
    action: &'static str,
    reply: oneshot::Sender<Reply>,
    progress: Arc<Notify>,
}

type Matcher = Box<dyn Fn(&Event) -> bool + Send>;

struct Waiter {
    matches: Matcher,
    tx: oneshot::Sender<Event>,
}

#[derive(Default)]
struct EventState {
    closed: bool,
    waiters: Vec<Waiter>,
    recent: VecDeque<Event>,
}

/// State shared by the driver and every [`Relay`] handle of one session.
pub(crate) struct Shared {
    id: String,
    path: Arc<str>,
    out: mpsc::Sender<Outgoing>,
    /// `None` once the connection has ended: new requests fail at once.
    pending: Mutex<Option<HashMap<String, Pending>>>,
    max_pending: usize,
    events: Mutex<EventState>,
    closed: CancellationToken,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// 32 lowercase hex characters from the operating system's CSPRNG.
pub(crate) fn new_id() -> String {
    random_hex::<16>()
}

fn random_hex<const N: usize>() -> String {
    let mut bytes = [0u8; N];
    if getrandom::fill(&mut bytes).is_err() {
        // The OS generator is unavailable (never seen on Linux). Ids only need to be unique
        // per connection, so fall back to a process-wide counter mixed with the clock.
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed) as u128;
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let mixed = (n << 64) ^ t;
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = (mixed >> ((i % 16) * 8)) as u8;
        }
    }
    let mut s = String::with_capacity(N * 2);
    for b in bytes {
        s.push(char::from_digit(u32::from(b >> 4), 16).unwrap_or('0'));
        s.push(char::from_digit(u32::from(b & 0xf), 16).unwrap_or('0'));
    }
    s
}

/// Removes a pending entry when the waiting call ends or is dropped.
struct PendingGuard<'a> {
    shared: &'a Shared,
    id: &'a str,
}

impl Drop for PendingGuard<'_> {
    fn drop(&mut self) {
        if let Some(map) = lock(&self.shared.pending).as_mut() {
            map.remove(self.id);
        }
    }
}

impl Shared {
    pub(crate) fn id(&self) -> &str {
        &self.id
    }

    pub(crate) fn path(&self) -> &str {
        &self.path
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.is_cancelled()
    }

    /// Send a request and wait for its response, restarting the clock on progress events.
    pub(crate) async fn request<R: Request>(
        &self,
        id: &str,
        target: Option<&Target>,
        request: &R,
        timeout: Duration,
    ) -> Result<R::Output> {
        let frame = encode_request(id, target, request).map_err(|source| Error::Encode {
            action: R::ACTION,
            source,
        })?;
        let (tx, mut rx) = oneshot::channel();
        let progress = Arc::new(Notify::new());
        {
            let mut pending = lock(&self.pending);
            let Some(map) = pending.as_mut() else {
                return Err(Error::Closed { action: R::ACTION });
            };
            if map.len() >= self.max_pending {
                warn!(
                    action = R::ACTION,
                    limit = self.max_pending,
                    "too many requests awaiting a response; refused a new one"
                );
                return Err(Error::TooManyPending {
                    action: R::ACTION,
                    limit: self.max_pending,
                });
            }
            map.insert(
                id.to_owned(),
                Pending {
                    action: R::ACTION,
                    reply: tx,
                    progress: progress.clone(),
                },
            );
        }
        let _guard = PendingGuard { shared: self, id };
        debug!(action = R::ACTION, id, "request sent");
        self.send_frame(frame, R::ACTION).await?;
        let mut deadline = tokio::time::Instant::now() + timeout;
        loop {
            tokio::select! {
                reply = &mut rx => {
                    return match reply {
                        Ok(Reply::Payload(payload)) => {
                            let response = serde_json::from_value::<R::Response>(Value::Object(payload))
                                .map_err(|source| Error::Decode { action: R::ACTION, source })?;
                            Ok(R::output(response, id))
                        }
                        Ok(Reply::Refused(message)) => Err(Error::Relay { action: R::ACTION, message }),
                        Err(_) => Err(Error::Closed { action: R::ACTION }),
                    };
                }
                _ = progress.notified() => {
                    debug!(action = R::ACTION, id, "progress: still working");
                    deadline = tokio::time::Instant::now() + timeout;
                }
                _ = tokio::time::sleep_until(deadline) => {
                    warn!(action = R::ACTION, id, "no response within {timeout:?}");
                    return Err(Error::Timeout { action: R::ACTION, after: timeout });
                }
            }
        }
    }

    /// Send a request that Relay never answers (terminate).
    pub(crate) async fn send_unanswered<R: Request>(&self, id: &str, request: &R) -> Result<()> {
        let frame = encode_request(id, None, request).map_err(|source| Error::Encode {
            action: R::ACTION,
            source,
        })?;
        if self.is_closed() {
            return Err(Error::Closed { action: R::ACTION });
        }
        debug!(action = R::ACTION, id, "request sent");
        self.send_frame(frame, R::ACTION).await
    }

    async fn send_frame(&self, frame: String, action: &'static str) -> Result<()> {
        self.out
            .send(Outgoing::Text(frame))
            .await
            .map_err(|_| Error::Closed { action })
    }

    /// Register a one-shot waiter for the first event that `matches`. Recent prompt and stop
    /// events are checked first, so an event that arrived before the waiter is not lost.
    /// The receiver fails when the connection ends.
    pub(crate) fn wait_for(
        &self,
        matches: impl Fn(&Event) -> bool + Send + 'static,
    ) -> oneshot::Receiver<Event> {
        let (tx, rx) = oneshot::channel();
        let mut state = lock(&self.events);
        if state.closed {
            return rx; // tx dropped: the receiver reports the closed connection
        }
        if let Some(event) = state.recent.iter().find(|e| matches(e)) {
            let _ = tx.send(event.clone());
            return rx;
        }
        state.waiters.retain(|w| !w.tx.is_closed());
        state.waiters.push(Waiter {
            matches: Box::new(matches),
            tx,
        });
        rx
    }

    fn deliver(&self, event: &Event) {
        let mut state = lock(&self.events);
        let mut i = 0;
        while i < state.waiters.len() {
            let waiter = &state.waiters[i];
            if waiter.tx.is_closed() {
                state.waiters.swap_remove(i);
            } else if (waiter.matches)(event) {
                let waiter = state.waiters.swap_remove(i);
                let _ = waiter.tx.send(event.clone());
            } else {
                i += 1;
            }
        }
        if matches!(event, Event::Prompt(_) | Event::Stop(_)) {
            if state.recent.len() == RECENT_EVENTS {
                state.recent.pop_front();
            }
            state.recent.push_back(event.clone());
        }
    }

    fn complete(&self, id: &str, reply: Reply, what: &str) {
        let entry = lock(&self.pending).as_mut().and_then(|map| map.remove(id));
        match entry {
            Some(pending) => {
                if let Reply::Payload(_) = &reply {
                    if pending.action != what {
                        warn!(
                            id,
                            expected = pending.action,
                            got = what,
                            "response type does not match the request; using it as the answer"
                        );
                    }
                }
                let _ = pending.reply.send(reply);
            }
            None => warn!(
                id,
                what, "dropped a response to an unknown, answered or expired request"
            ),
        }
    }

    fn progress(&self, id: &str) {
        let progress = lock(&self.pending)
            .as_ref()
            .and_then(|map| map.get(id).map(|p| p.progress.clone()));
        match progress {
            Some(progress) => progress.notify_one(),
            None => debug!(id, "dropped a progress event for an unknown request"),
        }
    }

    /// The connection is over: fail every pending call and waiter, refuse new ones.
    fn close(&self) {
        self.closed.cancel();
        let pending = lock(&self.pending).take();
        if let Some(map) = pending {
            for (id, p) in map {
                debug!(
                    id,
                    action = p.action,
                    "failing pending request: connection closed"
                );
                // Dropping the sender makes the call return Error::Closed.
            }
        }
        let mut state = lock(&self.events);
        state.closed = true;
        state.waiters.clear();
        state.recent.clear();
    }
}

/// Why a session ended, for the closing log line.
enum End {
    PeerClosed(Option<u16>),
    PeerVanished(String),
    PingTimeout,
    Shutdown,
    Stopped,
    WriteFailed,
    TooBig,
    NoFirstEvent(Duration),
}

impl std::fmt::Display for End {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            End::PeerClosed(Some(code)) => write!(f, "Relay closed the connection ({code})"),
            End::PeerClosed(None) => write!(f, "Relay closed the connection"),
            End::PeerVanished(why) => write!(f, "the connection dropped ({why})"),
            End::PingTimeout => write!(f, "Relay stopped answering pings"),
            End::Shutdown => write!(f, "server shutdown (closed with 1001)"),
            End::Stopped => write!(f, "workflow stopped"),
            End::WriteFailed => write!(f, "could not write to Relay"),
            End::TooBig => write!(f, "message too big (closed with 1009)"),
            End::NoFirstEvent(after) => {
                write!(
                    f,
                    "no event within {after:?} of the upgrade (closed with 1008)"
                )
            }
        }
    }
}

fn clip(text: &str) -> String {
    if text.len() <= LOG_FRAME_CHARS {
        return text.to_owned();
    }
    let mut end = LOG_FRAME_CHARS;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes)", &text[..end], text.len())
}

/// Run one workflow session on an upgraded socket until it ends.
pub(crate) async fn run(socket: WebSocket, workflow: Workflow, ctx: SessionContext, slot: Slot) {
    let id = random_hex::<4>();
    let span = tracing::info_span!("session", path = %ctx.path, id = %id);
    drive(socket, workflow, &ctx, id).instrument(span).await;
    drop(slot);
}

async fn drive(socket: WebSocket, workflow: Workflow, ctx: &SessionContext, id: String) {
    let started = Instant::now();
    info!("session opened");
    let (sink, stream) = socket.split();
    let (out_tx, out_rx) = mpsc::channel(256);
    let shared = Arc::new(Shared {
        id,
        path: ctx.path.clone(),
        out: out_tx.clone(),
        pending: Mutex::new(Some(HashMap::new())),
        max_pending: ctx.max_pending,
        events: Mutex::new(EventState::default()),
        closed: CancellationToken::new(),
    });
    let writer_done = CancellationToken::new();
    let writer = tokio::spawn(write_loop(sink, out_rx, writer_done.clone()).in_current_span());
    // Events are boxed: the channel allocates room for 32 of them up front, and an
    // `Event` is large, so unboxed that block alone cost several KiB per parked session.
    let (events_tx, events_rx) = mpsc::unbounded_channel();
    let stopped = CancellationToken::new();
    let relay = Relay::new(shared.clone());
    let dispatcher =
        tokio::spawn(dispatch(workflow, relay, events_rx, stopped.clone()).in_current_span());
    let dispatcher_abort = dispatcher.abort_handle();

    let end = read_loop(
        stream,
        &shared,
        &out_tx,
        events_tx,
        ctx,
        &stopped,
        &writer_done,
    )
    .await;
    shared.close();

    // Handlers still queued run against a closed session: their actions fail at once.
    if tokio::time::timeout(DRAIN_TIMEOUT, dispatcher)
        .await
        .is_err()
    {
        dispatcher_abort.abort();
        warn!(
            "a handler was still running {DRAIN_TIMEOUT:?} after the connection ended; aborted it"
        );
    }
    let _ = tokio::time::timeout(CLOSE_GRACE, out_tx.send(Outgoing::Finish)).await;
    drop(out_tx);
    let _ = tokio::time::timeout(CLOSE_GRACE, writer).await;
    info!(
        duration_ms = started.elapsed().as_millis() as u64,
        "session ended after {:.3}s: {end}",
        started.elapsed().as_secs_f64()
    );
}

async fn read_loop(
    mut stream: futures_util::stream::SplitStream<WebSocket>,
    shared: &Shared,
    out: &mpsc::Sender<Outgoing>,
    events: mpsc::UnboundedSender<Box<Event>>,
    ctx: &SessionContext,
    stopped: &CancellationToken,
    writer_done: &CancellationToken,
) -> End {
    let period = ctx.ping_interval;
    let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut awaiting_pong = false;
    // Set once we have sent a close frame: then we only wait (bounded) for the peer's.
    let mut closing: Option<(End, tokio::time::Instant)> = None;
    let first_deadline = tokio::time::Instant::now() + ctx.first_event_timeout;
    let mut got_event = false;
    loop {
        let close_deadline = closing
            .as_ref()
            .map(|(_, at)| *at)
            .unwrap_or_else(|| tokio::time::Instant::now() + Duration::from_secs(3600));
        tokio::select! {
            frame = stream.next() => {
                awaiting_pong = false;
                match frame {
                    None => {
                        return closing.map(|(why, _)| why).unwrap_or(End::PeerVanished("end of stream".into()));
                    }
                    Some(Err(e)) if closing.is_none() && is_too_big(&e) => {
                        warn!(
                            limit = ctx.max_message_size,
                            "closing with 1009: Relay sent a message larger than the limit of {} bytes (MAX_MESSAGE_BYTES): {e}",
                            ctx.max_message_size
                        );
                        let _ = out.try_send(Outgoing::Close(1009, "message too big"));
                        closing = Some((End::TooBig, tokio::time::Instant::now() + CLOSE_GRACE));
                    }
                    Some(Err(e)) => {
                        return closing.map(|(why, _)| why).unwrap_or_else(|| End::PeerVanished(e.to_string()));
                    }
                    Some(Ok(Message::Text(text))) => {
                        got_event |= handle_text(text.as_str(), shared, &events);
                    }
                    Some(Ok(Message::Binary(bytes))) => warn!(
                        bytes = bytes.len(),
                        "ignored a binary frame: Relay sends JSON in text frames only"
                    ),
                    Some(Ok(Message::Ping(_))) | Some(Ok(Message::Pong(_))) => {}
                    Some(Ok(Message::Close(frame))) => {
                        if let Some((why, _)) = closing {
                            return why;
                        }
                        return End::PeerClosed(frame.map(|f| f.code));
                    }
                }
            }
            _ = ping.tick(), if closing.is_none() => {
                if awaiting_pong {
                    warn!("no pong within {period:?}; closing the connection");
                    return End::PingTimeout;
                }
                awaiting_pong = true;
                if out.try_send(Outgoing::Ping).is_err() {
                    debug!("write queue full; skipped a ping");
                }
            }
            _ = ctx.force_close.cancelled(), if closing.is_none() => {
                info!("shutdown deadline reached; closing with 1001");
                let _ = out.try_send(Outgoing::Close(1001, "server shutting down"));
                closing = Some((End::Shutdown, tokio::time::Instant::now() + CLOSE_GRACE));
            }
            _ = stopped.cancelled(), if closing.is_none() => {
                debug!("stop event handled; closing with 1000");
                let _ = out.try_send(Outgoing::Close(1000, "workflow stopped"));
                closing = Some((End::Stopped, tokio::time::Instant::now() + CLOSE_GRACE));
            }
            _ = tokio::time::sleep_until(first_deadline), if !got_event && closing.is_none() => {
                let after = ctx.first_event_timeout;
                warn!("closing with 1008: no event within {after:?} of the upgrade (FIRST_EVENT_TIMEOUT_SECS)");
                let _ = out.try_send(Outgoing::Close(1008, "no event in time"));
                closing = Some((End::NoFirstEvent(after), tokio::time::Instant::now() + CLOSE_GRACE));
            }
            _ = writer_done.cancelled(), if closing.is_none() => {
                return End::WriteFailed;
            }
            _ = tokio::time::sleep_until(close_deadline), if closing.is_some() => {
                return closing.map(|(why, _)| why).unwrap_or(End::Shutdown);
            }
        }
    }
}

/// Whether the read error is tungstenite's "message or frame too big".
fn is_too_big(e: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        if let Some(ws) = err.downcast_ref::<tungstenite::Error>() {
            return matches!(ws, tungstenite::Error::Capacity(_));
        }
        source = err.source();
    }
    false
}

/// Decode and route one text frame; true if it was an event.
fn handle_text(text: &str, shared: &Shared, events: &mpsc::UnboundedSender<Box<Event>>) -> bool {
    tracing::trace!(frame = %clip(text), "frame received");
    let mut was_event = false;
    match decode_frame(text) {
        Err(e) => warn!(frame = %clip(text), "dropped a malformed frame: {e}"),
        Ok(Incoming::Response {
            id,
            action,
            payload,
        }) => {
            shared.complete(&id, Reply::Payload(payload), &action);
        }
        Ok(Incoming::Error { id, message }) => {
            warn!(id, "Relay refused a request: {message}");
            shared.complete(&id, Reply::Refused(message), "error");
        }
        Ok(Incoming::Progress { id }) => shared.progress(&id),
        Ok(Incoming::Event(event)) => {
            was_event = true;
            log_event(&event);
            shared.deliver(&event);
            let _ = events.send(Box::new(event));
        }
    }
    was_event
}

fn log_event(event: &Event) {
    match event {
        Event::InteractionLifecycle(e) => {
            info!(
                event = "interaction_lifecycle",
                "interaction {} {}", e.kind, e.source_uri
            )
        }
        Event::Prompt(e) => info!(event = "prompt", "prompt {} (id {})", e.kind, e.id),
        Event::Speech(e) => info!(event = "speech", "speech for {}", e.request_id),
        Event::Stop(e) => info!(event = "stop", "stop ({})", e.reason),
        Event::Start(e) => info!(event = "start", "start ({} trigger)", e.trigger.kind),
        Event::Unknown(e) => info!(event = %e.event_type, "unknown event type; no typed handler"),
        other => info!(event = other.name(), "event {}", other.name()),
    }
}

async fn write_loop(
    mut sink: futures_util::stream::SplitSink<WebSocket, Message>,
    mut rx: mpsc::Receiver<Outgoing>,
    done: CancellationToken,
) {
    while let Some(message) = rx.recv().await {
        let (message, last) = match message {
            Outgoing::Text(text) => (Message::Text(text.into()), false),
            Outgoing::Ping => (Message::Ping(Default::default()), false),
            Outgoing::Close(code, reason) => (
                Message::Close(Some(CloseFrame {
                    code,
                    reason: reason.into(),
                })),
                true,
            ),
            Outgoing::Finish => break,
        };
        match tokio::time::timeout(WRITE_TIMEOUT, sink.send(message)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                debug!("write failed: {e}");
                break;
            }
            Err(_) => {
                warn!("a write took longer than {WRITE_TIMEOUT:?}; giving up on this connection");
                break;
            }
        }
        if last {
            // Keep the sink until the reader sees the peer's close (or gives up).
            let _ = rx.recv().await;
            break;
        }
    }
    done.cancel();
}

/// Drops (aborts) a spawned handler task if the dispatcher itself is aborted.
struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> &str {
    if let Some(s) = payload.downcast_ref::<&str>() {
        s
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s
    } else {
        "non-string panic payload"
    }
}

async fn dispatch(
    workflow: Workflow,
    relay: Relay,
    mut events: mpsc::UnboundedReceiver<Box<Event>>,
    stopped: CancellationToken,
) {
    while let Some(event) = events.recv().await {
        let event = *event;
        let is_stop = matches!(event, Event::Stop(_));
        let name = event.name().to_owned();
        match workflow.handler_for(relay.clone(), event) {
            Some(future) => {
                let task = tokio::spawn(future.in_current_span());
                let _abort = AbortOnDrop(task.abort_handle());
                match task.await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => warn!(handler = %name, "handler failed: {e}"),
                    Err(join) if join.is_panic() => {
                        let payload = join.into_panic();
                        error!(
                            handler = %name,
                            "handler panicked: {}; the session goes on",
                            panic_message(payload.as_ref())
                        );
                    }
                    Err(_) => debug!(handler = %name, "handler cancelled"),
                }
            }
            None => debug!(event = %name, "no handler"),
        }
        if is_stop {
            stopped.cancel();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_32_lowercase_hex_and_distinct() {
        let a = new_id();
        let b = new_id();
        assert_eq!(a.len(), 32);
        assert!(a
            .chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        assert_ne!(a, b);
    }

    #[test]
    fn clip_keeps_char_boundaries() {
        let long = "é".repeat(300);
        let c = clip(&long);
        assert!(c.contains("(600 bytes)"));
        assert_eq!(clip("short"), "short");
    }
}
