//! One task per WebSocket connection.
//!
//! The driver owns the socket and does everything for its session in one task: it reads
//! frames and routes responses to the calls waiting for them by `_id`, hands events to
//! one-shot waiters (say-and-wait, listen, terminate) and queues them for the workflow's
//! handlers, runs those handlers one at a time, writes what they send, and pings. Handlers
//! are polled by the driver with wakers of their own, so a response that completes a call
//! costs no extra wake-up of the task; a handler that panics is caught, logged and
//! dropped, and the session carries on.
//!
//! What a peer can make a session hold is bounded: the part of a message read so far (and
//! the process-wide budget for all of them, `budget.rs`), the events waiting for a busy
//! handler, the bytes waiting for a peer that does not read (above [`WRITE_BACKLOG`] the
//! driver stops reading), and the pongs (only the latest ping is answered).

use crate::admission::Starting;
use crate::budget::{Budget, ConnectingPlace};
use crate::error::{Error, Result};
use crate::protocol::enums::PromptType;
use crate::protocol::{decode_frame, Event, Incoming};
use crate::relay::{session_id, Link, Matcher, Relay, Reply};
use crate::workflow::{HandlerFuture, HandlerResult, Registered, Workflow};
use crate::ws::{self, OpCode};
use futures_util::task::AtomicWaker;
use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::oneshot;
use tokio::time::Sleep;
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};
use tracing::{debug, error, info, warn, Instrument};

/// How long a write may take before the peer is considered stuck.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// After we send a close frame, how long we wait for the peer's.
const CLOSE_GRACE: Duration = Duration::from_secs(2);
/// After the connection ends, how long queued handlers may keep running.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);
/// How many recent prompt-finished and stop events are kept for waiters registered late.
const RECENT_EVENTS: usize = 16;
/// Bytes read from the socket at a time, into a buffer on the driver's stack.
const READ_CHUNK: usize = 8 * 1024;
/// Reads per wake-up before the driver lets other sessions run. A session in the middle of
/// a message longer than a read takes one read per turn: a peer streaming large messages
/// gets its share of the runtime, not the share of every session behind it.
const READS_PER_POLL: usize = 16;
/// Frames longer than this are shortened in log lines.
const LOG_FRAME_CHARS: usize = 200;
/// Bytes waiting to be written above which the driver stops reading: a peer that does not
/// read what it is sent cannot make the session buffer more (its pings included).
const WRITE_BACKLOG: usize = 64 * 1024;
/// How long a session in the middle of a message may wait for room in the process-wide
/// buffer budget (`MAX_BUFFERED_BYTES`) before it is closed with 1013.
const BUDGET_WAIT: Duration = Duration::from_secs(10);
/// How often a session waiting for the budget looks again.
const BUDGET_RETRY: Duration = Duration::from_millis(20);
/// A message must arrive whole within this time of its first bytes, or the session is
/// closed with 1008: a peer cannot hold part of the buffer budget by trickling a message.
const MESSAGE_DEADLINE: Duration = Duration::from_secs(30);
/// Bytes read between two looks at the clock for the read-rate limiter.
const RATE_QUANTUM: usize = 64 * 1024;
/// After the shutdown deadline, the time a session gets to finish closing: the close
/// handshake and the last writes together, no more.
pub(crate) const FORCED_GRACE: Duration = Duration::from_secs(1);

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
    /// Most events waiting for a busy handler (`MAX_QUEUED_EVENTS`).
    pub max_queued_events: usize,
    /// The bytes buffered for all peers together (`MAX_BUFFERED_BYTES`).
    pub budget: Arc<Budget>,
    /// Cancelled at the shutdown deadline (a child of `force_close`), or earlier when a newer
    /// connection takes this one's place among those connecting (`MAX_CONNECTING`).
    pub evict: CancellationToken,
    /// Bytes per second a session reads on average once its burst (the largest message) is
    /// spent (`MAX_READ_BYTES_PER_SEC`); 0 for no limit.
    pub read_rate: usize,
}

/// One place in the server's session count, taken before the upgrade and given back when
/// the session ends (or when the upgrade fails).
#[derive(Debug)]
pub(crate) struct Slot {
    live: Arc<AtomicUsize>,
    /// The connection's place among those the accept loop admitted and that have not
    /// received their first event yet (none for upgrades served by the router).
    pub(crate) starting: Option<Starting>,
    /// The connection's place among those that have not started a session, given back at
    /// the first event (none for upgrades served by the router).
    pub(crate) connecting: Option<ConnectingPlace>,
}

impl Slot {
    /// Take a place if fewer than `max` are taken.
    pub(crate) fn reserve(live: &Arc<AtomicUsize>, max: usize) -> Option<Slot> {
        let before = live.fetch_add(1, Ordering::AcqRel);
        if before >= max {
            live.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        Some(Slot {
            live: live.clone(),
            starting: None,
            connecting: None,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.live.fetch_sub(1, Ordering::AcqRel);
    }
}

struct Pending {
    action: &'static str,
    reply: oneshot::Sender<Reply>,
    /// When the request times out; a progress event moves it.
    deadline: Instant,
    timeout: Duration,
}

struct Waiter {
    matches: Matcher,
    tx: oneshot::Sender<Box<Event>>,
}

#[derive(Default)]
struct EventState {
    closed: bool,
    waiters: Vec<Waiter>,
    recent: VecDeque<Box<Event>>,
}

/// Why the driver should run again: set by wakers and senders, cleared by the driver.
const WAKE_HANDLER: u8 = 1;
const WAKE_SHUTDOWN: u8 = 2;
const WAKE_OUTBOX: u8 = 4;

/// How the rest of the session reaches the driver.
struct DriverWake {
    task: AtomicWaker,
    /// True while the driver is running: then it will see `flags` before it sleeps, and
    /// nobody needs to wake its task.
    polling: AtomicBool,
    flags: AtomicU8,
}

impl DriverWake {
    fn signal(&self, flag: u8) {
        self.flags.fetch_or(flag, Ordering::SeqCst);
        if !self.polling.load(Ordering::SeqCst) {
            self.task.wake();
        }
    }
}

/// The waker of one thing the driver polls (the running handler, the shutdown signal).
struct FlagWaker {
    driver: Arc<DriverWake>,
    flag: u8,
}

impl Wake for FlagWaker {
    fn wake(self: Arc<Self>) {
        self.driver.signal(self.flag);
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.driver.signal(self.flag);
    }
}

/// Frames waiting for the driver to write them; `None` once the connection has ended.
type Outbox = Mutex<Option<Vec<u8>>>;

/// State shared by the driver and every [`Relay`] handle of one session.
pub(crate) struct Shared {
    id: String,
    path: Arc<str>,
    outbox: Outbox,
    wake: Arc<DriverWake>,
    /// `None` once the connection has ended: new requests fail at once.
    pending: Mutex<Option<HashMap<String, Pending>>>,
    max_pending: usize,
    events: Mutex<EventState>,
    closed: AtomicBool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Link for Shared {
    fn id(&self) -> &str {
        &self.id
    }

    fn path(&self) -> &str {
        &self.path
    }

    fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    fn expect(
        &self,
        id: &str,
        action: &'static str,
        timeout: Duration,
    ) -> Result<oneshot::Receiver<Reply>> {
        let (tx, rx) = oneshot::channel();
        let mut pending = lock(&self.pending);
        let Some(map) = pending.as_mut() else {
            return Err(Error::Closed { action });
        };
        if map.len() >= self.max_pending {
            warn!(
                action,
                limit = self.max_pending,
                "too many requests awaiting a response; refused a new one"
            );
            return Err(Error::TooManyPending {
                action,
                limit: self.max_pending,
            });
        }
        map.insert(
            id.to_owned(),
            Pending {
                action,
                reply: tx,
                deadline: Instant::now() + timeout,
                timeout,
            },
        );
        Ok(rx)
    }

    fn forget(&self, id: &str) {
        if let Some(map) = lock(&self.pending).as_mut() {
            map.remove(id);
            if map.is_empty() {
                // A session waiting on its user holds no table.
                *map = HashMap::new();
            }
        }
    }

    fn send(&self, frame: &str, action: &'static str) -> Result<()> {
        {
            let mut outbox = lock(&self.outbox);
            let Some(bytes) = outbox.as_mut() else {
                return Err(Error::Closed { action });
            };
            ws::encode(OpCode::Text, frame.as_bytes(), bytes);
        }
        self.wake.signal(WAKE_OUTBOX);
        Ok(())
    }

    /// Recent prompt and stop events are checked first, so an event that arrived before the
    /// waiter is not lost.
    fn wait_for(&self, matches: Matcher) -> oneshot::Receiver<Box<Event>> {
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
        state.waiters.push(Waiter { matches, tx });
        rx
    }
}

impl Shared {
    fn deliver(&self, event: &Event) {
        let mut state = lock(&self.events);
        let mut i = 0;
        let mut claimed = false;
        while i < state.waiters.len() {
            let waiter = &state.waiters[i];
            if waiter.tx.is_closed() {
                state.waiters.swap_remove(i);
            } else if (waiter.matches)(event) {
                let waiter = state.waiters.swap_remove(i);
                claimed |= waiter.tx.send(Box::new(event.clone())).is_ok();
            } else {
                i += 1;
            }
        }
        if state.waiters.is_empty() && state.waiters.capacity() > 0 {
            state.waiters = Vec::new();
        }
        // Only what no waiter took and a late waiter may still look for: a prompt that
        // finished (its playback id comes with the response, which may be read after the
        // event) and the stop.
        let keep = !claimed
            && match event {
                Event::Prompt(p) => matches!(p.kind, PromptType::Stopped | PromptType::Failed),
                Event::Stop(_) => true,
                _ => false,
            };
        if keep {
            if state.recent.len() == RECENT_EVENTS {
                state.recent.pop_front();
            }
            state.recent.push_back(Box::new(event.clone()));
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
        let mut pending = lock(&self.pending);
        match pending.as_mut().and_then(|map| map.get_mut(id)) {
            Some(p) => {
                debug!(action = p.action, id, "progress: still working");
                p.deadline = Instant::now() + p.timeout;
            }
            None => debug!(id, "dropped a progress event for an unknown request"),
        }
    }

    /// The connection is over: fail every pending call and waiter, refuse new ones.
    fn close(&self) {
        self.closed.store(true, Ordering::Release);
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
        drop(state);
        *lock(&self.outbox) = None;
    }

    /// Answer `TimedOut` to every request past its deadline; the earliest deadline left.
    fn expire(&self, now: Instant) -> Option<Instant> {
        let mut pending = lock(&self.pending);
        let map = pending.as_mut()?;
        if map.is_empty() {
            return None;
        }
        let expired: Vec<_> = map.extract_if(|_, p| p.deadline <= now).collect();
        let next = map.values().map(|p| p.deadline).min();
        drop(pending);
        for (_, p) in expired {
            let _ = p.reply.send(Reply::TimedOut);
        }
        next
    }

    /// The frames waiting to be written, if any.
    fn take_outbox(&self) -> Option<Vec<u8>> {
        lock(&self.outbox)
            .as_mut()
            .filter(|bytes| !bytes.is_empty())
            .map(std::mem::take)
    }
}

/// Why a session ended, for the closing log line.
enum End {
    PeerClosed(Option<u16>),
    PeerVanished(String),
    PingTimeout,
    Shutdown,
    Stopped,
    WriteFailed(String),
    TooBig,
    Violation(u16, String),
    NoFirstEvent(Duration),
    /// Too many events waited for a busy handler.
    QueueFull(usize),
    /// The buffer budget had no room for this session's message.
    OverBudget,
    /// A message did not arrive whole in time.
    SlowMessage,
    /// A newer connection took this one's place before its first event.
    Evicted,
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
            End::WriteFailed(why) => write!(f, "could not write to Relay ({why})"),
            End::TooBig => write!(f, "message too big (closed with 1009)"),
            End::Violation(code, what) => {
                write!(
                    f,
                    "Relay broke the WebSocket protocol: {what} (closed with {code})"
                )
            }
            End::NoFirstEvent(after) => {
                write!(
                    f,
                    "no event within {after:?} of the upgrade (closed with 1008)"
                )
            }
            End::QueueFull(limit) => write!(
                f,
                "more than {limit} events waited for a busy handler (MAX_QUEUED_EVENTS; closed with 1008)"
            ),
            End::OverBudget => write!(
                f,
                "no room in the buffer budget for {BUDGET_WAIT:?} (MAX_BUFFERED_BYTES; closed with 1013)"
            ),
            End::SlowMessage => write!(
                f,
                "a message did not arrive whole within {MESSAGE_DEADLINE:?} (closed with 1008)"
            ),
            End::Evicted => write!(
                f,
                "newer connections needed its place before its first event (MAX_CONNECTING; closed with 1013)"
            ),
        }
    }
}

/// The time `bytes` take at `rate` bytes per second.
fn rate_time(bytes: usize, rate: usize) -> Duration {
    Duration::from_nanos(
        (bytes as u128 * 1_000_000_000 / rate.max(1) as u128).min(u64::MAX as u128) as u64,
    )
}

fn clip(text: &str) -> String {
    // Escaped here as well as by the log formatter: a frame is the peer's text.
    if text.len() <= LOG_FRAME_CHARS {
        return crate::logging::escape(text).into_owned();
    }
    let mut end = LOG_FRAME_CHARS;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!(
        "{}… ({} bytes)",
        crate::logging::escape(&text[..end]),
        text.len()
    )
}

/// One workflow session on an upgraded connection, run until it ends. `early` holds bytes
/// the client sent right behind its upgrade request.
///
/// Everything the session holds is built here, outside the future, so that the task keeps
/// one copy of it.
pub(crate) fn run<S>(
    socket: S,
    mut early: Vec<u8>,
    workflow: Arc<Workflow>,
    ctx: SessionContext,
    slot: Slot,
) -> impl Future<Output = ()>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let id = session_id();
    let span = tracing::info_span!("session", path = %ctx.path, id = %id);
    let mut driver = span.in_scope(|| Driver::new(socket, workflow, ctx, slot, id));
    if !early.is_empty() {
        span.in_scope(|| driver.consume(&mut early));
    }
    drop(early);
    driver.drive().instrument(span)
}

/// The running handler and what it handles.
struct Running {
    future: HandlerFuture,
    /// The method the handler was registered with (`on_button`), for log lines.
    name: &'static str,
    is_stop: bool,
}

/// Everything one session's driver holds.
struct Driver<S> {
    socket: S,
    reader: ws::Reader,
    /// Bytes being written, and how many of them are already out.
    writing: Vec<u8>,
    written: usize,
    /// Since when a write has been waiting for the socket.
    write_stalled: Option<Instant>,
    /// Set when reading is over (end of stream, error, or the close handshake).
    read_done: bool,
    /// Set after a protocol violation: what follows is dropped unread.
    discard: bool,
    shared: Arc<Shared>,
    relay: Relay,
    workflow: Arc<Workflow>,
    ctx: SessionContext,
    /// The session's place in the server's count, given back when the driver is dropped.
    slot: Slot,
    started: Instant,
    wake: Arc<DriverWake>,
    handler_waker: Waker,
    shutdown_waker: Waker,
    running: Option<Running>,
    /// Events waiting for the running handler to finish (only those with a handler), with
    /// the size of the frame each came in.
    queue: VecDeque<(Box<Event>, usize)>,
    /// The frame bytes of the queued events.
    queued_bytes: usize,
    /// The latest ping's payload, answered once earlier writes are out (RFC 6455 §5.5.3
    /// lets an endpoint answer only the most recent ping).
    pong: Option<Box<[u8]>>,
    /// Bytes charged to the process-wide budget for this session.
    charged: usize,
    /// Since when reading has waited for room in the budget.
    budget_wait: Option<Instant>,
    /// Set when reading stopped because too much waits to be written.
    held_for_writes: bool,
    /// Since when part of a message has been held.
    partial_since: Option<Instant>,
    /// When the shutdown deadline was seen: every later phase ends by `FORCED_GRACE` after.
    forced_at: Option<Instant>,
    /// The read-rate limiter's clock (a generic cell rate algorithm): every byte read moves
    /// it on by `1 / read_rate` seconds; reading waits while it runs ahead of now by more
    /// than the burst (the largest message). Bytes are billed in quanta of
    /// [`RATE_QUANTUM`], so that a session with small messages never reads the clock for it.
    read_clock: Instant,
    /// Bytes read and not billed to `read_clock` yet.
    unbilled: u32,
    /// Set while the limiter holds reading back (until `read_clock - burst`).
    rate_held: bool,
    /// Set once the read-rate limiter has held this session back (logged once).
    rate_limited: bool,
    /// Set once the session's first event has let go of its place among connections.
    started_up: bool,
    got_event: bool,
    first_deadline: Instant,
    next_ping: Instant,
    awaiting_pong: bool,
    /// Set once a close frame is sent (or due): then only the peer's close is awaited.
    closing: Option<(End, Instant)>,
    /// Set when the session is over, with why.
    end: Option<End>,
    /// Set once the stop event's handler has finished.
    stopped: bool,
}

impl<S> Drop for Driver<S> {
    fn drop(&mut self) {
        // Whatever the session still held is no longer the budget's concern.
        self.ctx.budget.recharge(self.charged, 0);
    }
}

impl<S> Driver<S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    fn new(
        socket: S,
        workflow: Arc<Workflow>,
        ctx: SessionContext,
        slot: Slot,
        id: String,
    ) -> Self {
        let started = Instant::now();
        info!("session opened");
        let wake = Arc::new(DriverWake {
            task: AtomicWaker::new(),
            polling: AtomicBool::new(false),
            flags: AtomicU8::new(WAKE_SHUTDOWN),
        });
        let shared = Arc::new(Shared {
            id,
            path: ctx.path.clone(),
            outbox: Mutex::new(Some(Vec::new())),
            wake: wake.clone(),
            pending: Mutex::new(Some(HashMap::new())),
            max_pending: ctx.max_pending,
            events: Mutex::new(EventState::default()),
            closed: AtomicBool::new(false),
        });
        let flag_waker = |flag| {
            Waker::from(Arc::new(FlagWaker {
                driver: wake.clone(),
                flag,
            }))
        };
        Driver {
            socket,
            reader: ws::Reader::new(ctx.max_message_size),
            writing: Vec::new(),
            written: 0,
            write_stalled: None,
            read_done: false,
            discard: false,
            relay: Relay::new(shared.clone()),
            shared,
            workflow,
            handler_waker: flag_waker(WAKE_HANDLER),
            shutdown_waker: flag_waker(WAKE_SHUTDOWN),
            wake,
            running: None,
            queue: VecDeque::new(),
            queued_bytes: 0,
            pong: None,
            charged: 0,
            budget_wait: None,
            held_for_writes: false,
            partial_since: None,
            forced_at: None,
            read_clock: started,
            unbilled: 0,
            rate_held: false,
            rate_limited: false,
            started_up: false,
            got_event: false,
            first_deadline: started + ctx.first_event_timeout,
            next_ping: started + ctx.ping_interval,
            awaiting_pong: false,
            closing: None,
            end: None,
            stopped: false,
            ctx,
            slot,
            started,
        }
    }

    /// Run the session to its end, then let queued handlers finish (bounded) and log why
    /// it ended.
    ///
    /// A plain function returning an `async move` block rather than an `async fn`: an
    /// `async fn` would store its `self` argument twice in the future.
    #[allow(clippy::manual_async_fn)] // see above: an async fn would be larger
    fn drive(mut self) -> impl Future<Output = ()> {
        async move {
            let driver = &mut self;
            let started = driver.started;
            let timer = tokio::time::sleep_until(driver.next_deadline().into());
            let shutdown = driver.ctx.evict.clone().cancelled_owned();
            tokio::pin!(timer, shutdown);
            std::future::poll_fn(|cx| driver.poll(cx, timer.as_mut(), shutdown.as_mut())).await;
            let end = driver.end.take().unwrap_or(End::Shutdown);

            // Whatever is still queued for Relay (the close frame, say) gets a bounded last
            // chance; after the shutdown deadline, only what is left of the forced grace.
            timer.as_mut().reset(driver.phase_end(CLOSE_GRACE).into());
            std::future::poll_fn(|cx| {
                if driver.finish(cx).is_ready()
                    || timer.as_mut().poll(cx).is_ready()
                    || driver.forced(shutdown.as_mut(), cx)
                {
                    Poll::Ready(())
                } else {
                    Poll::Pending
                }
            })
            .await;
            driver.shared.close();
            driver.writing = Vec::new();
            driver.account();

            // Handlers still queued run against a closed session: their actions fail at once.
            timer.as_mut().reset(driver.phase_end(DRAIN_TIMEOUT).into());
            let mut first = true;
            let drained = std::future::poll_fn(|cx| {
                driver.wake.task.register(cx.waker());
                let flags = driver.wake.flags.swap(0, Ordering::SeqCst);
                driver.run_handlers(std::mem::take(&mut first) || flags & WAKE_HANDLER != 0);
                if driver.running.is_none() && driver.queue.is_empty() {
                    return Poll::Ready(true);
                }
                if driver.forced(shutdown.as_mut(), cx) {
                    return Poll::Ready(false);
                }
                timer.as_mut().poll(cx).map(|()| false)
            })
            .await;
            if !drained {
                let after = if driver.forced_at.is_some() {
                    "the shutdown deadline"
                } else {
                    "the connection ended"
                };
                warn!(
                    handler = driver.running.as_ref().map(|r| r.name).unwrap_or("-"),
                    "a handler was still running after {after}; aborted it"
                );
            }
            driver.running = None;
            driver.queue = VecDeque::new();
            driver.queued_bytes = 0;
            driver.account();
            info!(
                duration_ms = started.elapsed().as_millis() as u64,
                "session ended after {:.3}s: {end}",
                started.elapsed().as_secs_f64()
            );
        }
    }
}

/// The handler for `event`, started (not yet polled), if the workflow has one.
fn start(workflow: &Workflow, relay: &Relay, event: Event) -> Option<Running> {
    let Some(handler) = workflow.handler(&event) else {
        debug!(event = %event.name(), "no handler");
        return None;
    };
    let is_stop = matches!(event, Event::Stop(_));
    Some(Running {
        future: handler.start(relay.clone(), event)?,
        name: handler.name(),
        is_stop,
    })
}

/// Log how a handler ended.
fn report(name: &str, outcome: std::thread::Result<HandlerResult>) {
    match outcome {
        Ok(Ok(())) => {}
        Ok(Err(e)) => warn!(handler = %name, "handler failed: {e}"),
        Err(payload) => error!(
            handler = %name,
            "handler panicked: {}; the session goes on",
            panic_message(payload.as_ref())
        ),
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

impl<S> Driver<S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    /// Run until the session is over (`Ready`) or nothing can happen until a wake-up.
    fn poll(
        &mut self,
        cx: &mut Context<'_>,
        mut timer: Pin<&mut Sleep>,
        mut shutdown: Pin<&mut WaitForCancellationFutureOwned>,
    ) -> Poll<()> {
        self.wake.task.register(cx.waker());
        self.wake.polling.store(true, Ordering::SeqCst);
        loop {
            let flags = self.wake.flags.swap(0, Ordering::SeqCst);
            if flags & WAKE_SHUTDOWN != 0 {
                let mut scx = Context::from_waker(&self.shutdown_waker);
                if shutdown.as_mut().poll(&mut scx).is_ready() {
                    self.cancelled();
                }
            }
            if !self.read_done {
                self.read(cx);
            }
            if self.got_event && !self.started_up {
                // Started: no newer connection can take this one's place any more, so only
                // the shutdown deadline's token is needed (its child is freed).
                self.started_up = true;
                self.ctx.evict = self.ctx.force_close.clone();
                shutdown.set(self.ctx.force_close.clone().cancelled_owned());
                self.wake.flags.fetch_or(WAKE_SHUTDOWN, Ordering::SeqCst);
            }
            self.run_handlers(flags & WAKE_HANDLER != 0);
            if self.stopped && self.closing.is_none() && self.end.is_none() {
                debug!("stop event handled; closing with 1000");
                self.close(1000, "workflow stopped", End::Stopped);
            }
            self.check_time();
            self.write(cx);
            self.account();
            if self.end.is_some() {
                self.wake.polling.store(false, Ordering::SeqCst);
                return Poll::Ready(());
            }
            if self.held_for_writes && !self.writes_backed_up() && !self.read_done {
                // The peer took what was waiting: read on.
                self.held_for_writes = false;
                continue;
            }
            let deadline = self.next_deadline().into();
            if timer.deadline() != deadline {
                timer.as_mut().reset(deadline);
            }
            if timer.as_mut().poll(cx).is_ready() {
                continue;
            }
            self.wake.polling.store(false, Ordering::SeqCst);
            if self.wake.flags.load(Ordering::SeqCst) == 0 {
                return Poll::Pending;
            }
            self.wake.polling.store(true, Ordering::SeqCst);
        }
    }

    /// Read what the socket has, up to a bound, and handle every message in it.
    fn read(&mut self, cx: &mut Context<'_>) {
        let mut chunk = [std::mem::MaybeUninit::<u8>::uninit(); READ_CHUNK];
        for _ in 0..READS_PER_POLL {
            if self.writes_backed_up() {
                // Read no more from a peer that does not read: what it sends next (pings,
                // events whose handlers write) would only add to what waits for it.
                self.held_for_writes = true;
                return;
            }
            if self.reader.held() > 0 && self.ctx.budget.is_spent() {
                // In the middle of a message and no room for more of it: wait (bounded).
                let since = *self.budget_wait.get_or_insert_with(Instant::now);
                if since.elapsed() >= BUDGET_WAIT && self.closing.is_none() {
                    warn!(
                        budget = self.ctx.budget.limit(),
                        "closing with 1013: no room in the buffer budget for {BUDGET_WAIT:?} (MAX_BUFFERED_BYTES; the server holds too much for other peers)"
                    );
                    self.close(1013, "server busy, try again later", End::OverBudget);
                    self.discard = true;
                }
                return;
            }
            self.budget_wait = None;
            if self.read_resumes().is_some() {
                if !self.rate_limited {
                    self.rate_limited = true;
                    warn!(
                        rate = self.ctx.read_rate,
                        "reading slowed: Relay sent more than {} bytes/s on average beyond one largest message (MAX_READ_BYTES_PER_SEC)",
                        self.ctx.read_rate
                    );
                }
                return;
            }
            let mut buf = ReadBuf::uninit(&mut chunk);
            match Pin::new(&mut self.socket).poll_read(cx, &mut buf) {
                Poll::Pending => return,
                Poll::Ready(Err(e)) => {
                    self.read_done = true;
                    self.finish_with(End::PeerVanished(e.to_string()));
                    return;
                }
                Poll::Ready(Ok(())) => {
                    let data = buf.filled_mut();
                    self.charge_read(data.len());
                    if data.is_empty() {
                        self.read_done = true;
                        self.finish_with(End::PeerVanished("end of stream".into()));
                        return;
                    }
                    self.consume(data);
                    if self.read_done {
                        return;
                    }
                    if self.reader.held() > 0 {
                        // Part of a message: the rest in later turns.
                        break;
                    }
                }
            }
        }
        // More may be waiting: come back after other sessions had a turn.
        cx.waker().wake_by_ref();
    }

    /// Hand the bytes just read to the WebSocket reader and act on each message.
    fn consume(&mut self, data: &mut [u8]) {
        self.awaiting_pong = false;
        if self.discard {
            return;
        }
        let mut reader = std::mem::replace(&mut self.reader, ws::Reader::new(0));
        let result = reader.feed(data, |message| self.message(message));
        self.reader = reader;
        if self.reader.held() == 0 {
            self.partial_since = None;
        } else if self.partial_since.is_none() {
            self.partial_since = Some(Instant::now());
        }
        if let Err(violation) = result {
            let code = violation.close_code();
            if code == 1009 {
                warn!(
                    limit = self.ctx.max_message_size,
                    "closing with 1009: Relay sent a message larger than the limit of {} bytes (MAX_MESSAGE_BYTES): {violation}",
                    self.ctx.max_message_size
                );
                self.close(1009, "message too big", End::TooBig);
            } else {
                warn!("closing with {code}: Relay broke the WebSocket protocol: {violation}");
                self.close(
                    code,
                    "protocol error",
                    End::Violation(code, violation.to_string()),
                );
            }
            // What follows is not parsed (it may be the rest of the offending frame) but
            // still read, so that the close frame reaches Relay before the connection ends.
            self.discard = true;
            if self.reader.peer_closed() {
                // The violation was in Relay's own close frame: with the answer queued, the
                // close handshake is over and no other close will come.
                self.read_done = true;
                self.end = self.closing.take().map(|(why, _)| why);
            }
        }
    }

    /// One message from Relay; `false` stops reading.
    fn message(&mut self, message: ws::Message<'_>) -> bool {
        match message {
            ws::Message::Text(text) => self.text(text),
            ws::Message::Binary(payload) => warn!(
                bytes = payload.len(),
                "ignored a binary frame: Relay sends JSON in text frames only"
            ),
            ws::Message::Ping(payload) => {
                if self.closing.is_none() {
                    if self.writes_backed_up() {
                        // The peer does not read: only its latest ping will be answered,
                        // so a flood of pings holds one pong.
                        self.pong = Some(payload.into());
                    } else {
                        // In order with everything else sent.
                        self.pong = None;
                        ws::encode(OpCode::Pong, payload, &mut self.writing);
                    }
                }
            }
            ws::Message::Pong => {}
            ws::Message::Close(code, _reason) => {
                self.read_done = true;
                match self.closing.take() {
                    Some((why, _)) => self.end = Some(why),
                    None => {
                        // Answer the close handshake, then end: with the peer's code (the
                        // reader lets through only codes that may be sent), or 1000 for a
                        // close without one (1005 must never be sent).
                        ws::encode_close(code.unwrap_or(1000), "", &mut self.writing);
                        self.end = Some(End::PeerClosed(code));
                    }
                }
                return false;
            }
        }
        true
    }

    /// Decode and route one text message.
    fn text(&mut self, text: &str) {
        tracing::trace!(frame = %clip(text), "frame received");
        match decode_frame(text) {
            Err(e) => warn!(frame = %clip(text), "dropped a malformed frame: {e}"),
            Ok(Incoming::Response {
                id,
                action,
                payload,
            }) => {
                self.shared.complete(&id, Reply::Payload(payload), &action);
            }
            Ok(Incoming::Error { id, message }) => {
                warn!(id, "Relay refused a request: {message}");
                self.shared.complete(&id, Reply::Refused(message), "error");
            }
            Ok(Incoming::Progress { id }) => self.shared.progress(&id),
            Ok(Incoming::Event(event)) => {
                if !self.got_event {
                    self.got_event = true;
                    // Started: the accept loop need not wait for this connection any more,
                    // and it leaves the places of those connecting.
                    self.slot.starting = None;
                    self.slot.connecting = None;
                }
                log_event(&event);
                self.shared.deliver(&event);
                // An event with no handler does nothing, except a stop, which closes the
                // session once the handlers before it are done.
                if self.workflow.handles(&event) || matches!(event, Event::Stop(_)) {
                    self.enqueue(event, text.len());
                }
            }
        }
    }

    /// Poll the running handler (if `woken`), start queued ones as handlers finish.
    fn run_handlers(&mut self, mut woken: bool) {
        loop {
            if self.running.is_none() {
                let Some((event, bytes)) = self.queue.pop_front() else {
                    if self.queue.capacity() > 0 {
                        self.queue = VecDeque::new();
                    }
                    return;
                };
                self.queued_bytes -= bytes;
                let is_stop = matches!(*event, Event::Stop(_));
                self.running = start(&self.workflow, &self.relay, *event);
                if self.running.is_none() && is_stop {
                    self.stopped = true;
                }
                woken = true;
                continue;
            }
            if !woken {
                return;
            }
            let Some(running) = self.running.as_mut() else {
                continue;
            };
            let mut hcx = Context::from_waker(&self.handler_waker);
            let polled = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                running.future.as_mut().poll(&mut hcx)
            }));
            let outcome = match polled {
                Ok(Poll::Pending) => return,
                Ok(Poll::Ready(result)) => Ok(result),
                Err(payload) => Err(payload),
            };
            let finished = self.running.take();
            if let Some(r) = finished {
                report(r.name, outcome);
                if r.is_stop {
                    self.stopped = true;
                }
            }
            woken = false;
        }
    }

    /// Queue a close frame and wait (bounded) for the peer's.
    fn close(&mut self, code: u16, reason: &str, why: End) {
        ws::encode_close(code, reason, &mut self.writing);
        self.closing = Some((why, self.phase_end(CLOSE_GRACE)));
    }

    /// When a phase that would take `grace` must end: after the shutdown deadline, no later
    /// than `FORCED_GRACE` after it.
    fn phase_end(&self, grace: Duration) -> Instant {
        let end = Instant::now() + grace;
        match self.forced_at {
            Some(at) => end.min(at + FORCED_GRACE),
            None => end,
        }
    }

    /// The connection's token was cancelled: the shutdown deadline, or a newer connection
    /// took this one's place before its first event.
    fn cancelled(&mut self) {
        if self.ctx.force_close.is_cancelled() {
            if self.forced_at.is_none() {
                self.forced_at = Some(Instant::now());
            }
            match &mut self.closing {
                None => {
                    info!("shutdown deadline reached; closing with 1001");
                    self.close(1001, "server shutting down", End::Shutdown);
                }
                // Already closing: only the forced grace is left.
                Some((_, at)) => *at = (*at).min(Instant::now() + FORCED_GRACE),
            }
        } else if !self.got_event && self.closing.is_none() && self.end.is_none() {
            debug!(
                "closing with 1013: a newer connection needed this one's place (MAX_CONNECTING)"
            );
            // No wait for the peer's close: the place it held is needed now.
            self.close(1013, "too many connections starting", End::Evicted);
            self.finish_with(End::Evicted);
        }
    }

    /// In the phases after the connection: whether the shutdown deadline has come.
    fn forced(
        &mut self,
        shutdown: Pin<&mut WaitForCancellationFutureOwned>,
        cx: &mut Context<'_>,
    ) -> bool {
        if self.forced_at.is_some() {
            return false;
        }
        if shutdown.poll(cx).is_ready() && self.ctx.force_close.is_cancelled() {
            self.forced_at = Some(Instant::now());
            return true;
        }
        false
    }

    /// Queue `event` for its handler, within the queue's bounds.
    fn enqueue(&mut self, event: Event, bytes: usize) {
        if self.closing.is_some() || self.end.is_some() {
            return;
        }
        let limit = self.ctx.max_queued_events;
        if self.queue.len() >= limit {
            // The handler holding the queue up: the running one, or the first one waiting
            // (all of a burst is read before any handler runs).
            let busy = match (&self.running, self.queue.front()) {
                (Some(r), _) => r.name,
                (None, Some((event, _))) => {
                    self.workflow.handler(event).map_or("-", Registered::name)
                }
                (None, None) => "-",
            };
            warn!(
                limit,
                handler = busy,
                "closing with 1008: more than {limit} events wait for a busy handler (MAX_QUEUED_EVENTS); a handler that never returns holds up every event behind it"
            );
            self.close(1008, "too many events queued", End::QueueFull(limit));
            self.discard = true;
            return;
        }
        if !self.queue.is_empty() && self.ctx.budget.is_spent() {
            warn!(
                budget = self.ctx.budget.limit(),
                "closing with 1013: events wait for a busy handler and the buffer budget is spent (MAX_BUFFERED_BYTES)"
            );
            self.close(1013, "server busy, try again later", End::OverBudget);
            self.discard = true;
            return;
        }
        self.queued_bytes += bytes;
        self.queue.push_back((Box::new(event), bytes));
    }

    /// When reading may resume, if the read-rate limiter holds it back now.
    fn read_resumes(&mut self) -> Option<Instant> {
        if !self.rate_held {
            return None;
        }
        let burst = rate_time(self.ctx.max_message_size, self.ctx.read_rate);
        match self.read_clock.checked_sub(burst) {
            Some(resume) if resume > Instant::now() => Some(resume),
            _ => {
                self.rate_held = false;
                None
            }
        }
    }

    /// Count `bytes` just read; every [`RATE_QUANTUM`] moves the read-rate limiter's clock
    /// on, and holds reading back if it runs ahead by more than the burst.
    fn charge_read(&mut self, bytes: usize) {
        if self.ctx.read_rate == 0 {
            return;
        }
        self.unbilled = self.unbilled.saturating_add(bytes as u32);
        if (self.unbilled as usize) < RATE_QUANTUM {
            return;
        }
        let now = Instant::now();
        let rate = self.ctx.read_rate;
        self.read_clock = self.read_clock.max(now) + rate_time(self.unbilled as usize, rate);
        self.unbilled = 0;
        self.rate_held = self.read_clock > now + rate_time(self.ctx.max_message_size, rate);
    }

    /// Whether more waits to be written than a peer may leave unread.
    fn writes_backed_up(&self) -> bool {
        self.writing.len() - self.written > WRITE_BACKLOG
    }

    /// Charge what this session holds for its peer to the process-wide budget.
    fn account(&mut self) {
        let now = self.reader.held() + self.queued_bytes + (self.writing.len() - self.written);
        if now != self.charged {
            self.ctx.budget.recharge(self.charged, now);
            self.charged = now;
        }
    }

    /// The session is over for `why`, unless it was already closing for a reason.
    fn finish_with(&mut self, why: End) {
        if self.end.is_none() {
            self.end = Some(self.closing.take().map_or(why, |(reason, _)| reason));
        }
    }

    /// Move queued frames to the socket, as far as it takes them.
    fn write(&mut self, cx: &mut Context<'_>) {
        if let Some(bytes) = self.shared.take_outbox() {
            if self.closing.is_none() && self.end.is_none() {
                if self.writing.is_empty() {
                    self.writing = bytes;
                } else {
                    self.writing.extend_from_slice(&bytes);
                }
            }
        }
        if let Some(payload) = &self.pong {
            if !self.writes_backed_up() && self.closing.is_none() && self.end.is_none() {
                ws::encode(OpCode::Pong, payload, &mut self.writing);
                self.pong = None;
            }
        }
        if self.written >= self.writing.len() {
            return;
        }
        match self.flush(cx) {
            Poll::Ready(Ok(())) => {}
            Poll::Ready(Err(e)) => {
                debug!("write failed: {e}");
                self.read_done = true;
                self.writing = Vec::new();
                self.written = 0;
                if self.end.is_none() {
                    self.closing = None;
                    self.end = Some(End::WriteFailed(e.to_string()));
                }
            }
            Poll::Pending => {}
        }
    }

    /// Write `writing` out; `Pending` while the socket is full.
    fn flush(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        while self.written < self.writing.len() {
            match Pin::new(&mut self.socket).poll_write(cx, &self.writing[self.written..]) {
                Poll::Ready(Ok(0)) => {
                    return Poll::Ready(Err(std::io::ErrorKind::WriteZero.into()));
                }
                Poll::Ready(Ok(n)) => {
                    self.written += n;
                    self.write_stalled = None;
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => {
                    self.write_stalled.get_or_insert_with(Instant::now);
                    return Poll::Pending;
                }
            }
        }
        // All out: give the buffer back, a waiting session holds none.
        self.writing = Vec::new();
        self.written = 0;
        Pin::new(&mut self.socket).poll_flush(cx)
    }

    /// After the session ended: write what is left (a close frame). Dropping the socket
    /// then closes the connection.
    fn finish(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if self.written < self.writing.len() {
            return self.flush(cx).map(|_| ());
        }
        Poll::Ready(())
    }

    /// Pings, the first-event deadline, the close grace and stalled writes.
    fn check_time(&mut self) {
        if self.end.is_some() {
            return;
        }
        let now = Instant::now();
        if let Some((_, at)) = &self.closing {
            if now >= *at {
                self.finish_with(End::Shutdown);
            }
            return;
        }
        if let Some(since) = self.write_stalled {
            if now >= since + WRITE_TIMEOUT {
                warn!("a write took longer than {WRITE_TIMEOUT:?}; giving up on this connection");
                self.end = Some(End::WriteFailed("the peer stopped reading".into()));
                return;
            }
        }
        if let Some(since) = self.partial_since {
            if now >= since + MESSAGE_DEADLINE {
                warn!(
                    "closing with 1008: a message did not arrive whole within {MESSAGE_DEADLINE:?}"
                );
                self.close(1008, "message too slow", End::SlowMessage);
                self.discard = true;
                return;
            }
        }
        if !self.got_event && now >= self.first_deadline {
            let after = self.ctx.first_event_timeout;
            warn!("closing with 1008: no event within {after:?} of the upgrade (FIRST_EVENT_TIMEOUT_SECS)");
            self.close(1008, "no event in time", End::NoFirstEvent(after));
            return;
        }
        if now >= self.next_ping {
            if self.awaiting_pong {
                warn!(
                    "no pong within {:?}; closing the connection",
                    self.ctx.ping_interval
                );
                self.end = Some(End::PingTimeout);
                return;
            }
            self.awaiting_pong = true;
            ws::encode(OpCode::Ping, b"", &mut self.writing);
            self.next_ping = now + self.ctx.ping_interval;
        }
    }

    /// When the driver must look at the clock next.
    fn next_deadline(&self) -> Instant {
        if let Some((_, at)) = &self.closing {
            return *at;
        }
        let mut next = self.next_ping;
        if let Some(at) = self.shared.expire(Instant::now()) {
            next = next.min(at);
        }
        if !self.got_event {
            next = next.min(self.first_deadline);
        }
        if let Some(since) = self.write_stalled {
            next = next.min(since + WRITE_TIMEOUT);
        }
        if let Some(since) = self.partial_since {
            next = next.min(since + MESSAGE_DEADLINE);
        }
        if self.budget_wait.is_some() {
            next = next.min(Instant::now() + BUDGET_RETRY);
        }
        if self.rate_held {
            let burst = rate_time(self.ctx.max_message_size, self.ctx.read_rate);
            if let Some(resume) = self.read_clock.checked_sub(burst) {
                next = next.min(resume);
            }
        }
        next
    }
}

fn log_event(event: &Event) {
    let name = event.name();
    match event {
        Event::InteractionLifecycle(e) => {
            info!(event = name, "interaction {} {}", e.kind, e.source_uri)
        }
        Event::Prompt(e) => info!(event = name, "prompt {} (id {})", e.kind, e.id),
        Event::Speech(e) => info!(event = name, "speech for {}", e.request_id),
        Event::Stop(e) => info!(event = name, "stop ({})", e.reason),
        Event::Start(e) => info!(event = name, "start ({} trigger)", e.trigger.kind),
        Event::Unknown(e) => info!(event = %e.event_type, "unknown event type; no typed handler"),
        _ => info!(event = name, "event {name}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clip_keeps_char_boundaries() {
        let long = "é".repeat(300);
        let c = clip(&long);
        assert!(c.contains("(600 bytes)"));
        assert_eq!(clip("short"), "short");
        assert_eq!(clip("{bad\n2026\x1b[31m"), r"{bad\n2026\u{1b}[31m");
        assert!(!clip(&format!("{}\n\x1b", "x".repeat(199))).contains(['\n', '\x1b']));
    }
}
