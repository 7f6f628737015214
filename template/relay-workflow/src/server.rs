//! The axum side: maps workflow paths to workflows and keeps Heroku's contract.
//!
//! * binds `0.0.0.0:$PORT` and logs the bound address and every workflow path;
//! * answers the WebSocket upgrade at once (the router allows 30 s for the 101). The accept
//!   loop reads each request head itself: an upgrade it accepts becomes the session in the
//!   same task, with no HTTP connection state kept; every other request (browsers,
//!   `/healthz`, refusals) is served by the axum router, which also serves upgrades when
//!   it is embedded in another app ([`WorkflowServer::into_parts`]);
//! * under overload, sessions already running come first: new connections wait in the
//!   listen backlog and are let in as fast as they start, never behind a fixed sleep (see
//!   `admission.rs`);
//! * bounded against hostile or unlucky peers: connections that have not started a session
//!   share a small number of places, the newest taking the oldest one's
//!   ([`WorkflowServer::max_connecting`]); the bytes buffered for all peers together have a
//!   budget ([`WorkflowServer::max_buffered_bytes`]); events behind a busy handler are
//!   bounded per session ([`WorkflowServer::max_queued_events`]); a peer that does not read
//!   is not read from either, and is answered one pong however many pings it sends;
//! * pings every session (25 s by default, well under the router's 55 s idle window) and
//!   closes a peer that stops answering;
//! * a browser GET on a workflow path gets a readable 426 page naming the wss:// URL to
//!   register (it also wakes a sleeping dyno); unknown paths get 404 before any upgrade;
//! * `GET /healthz` reports version, workflow paths, live sessions and whether a secret is
//!   required (`"secret": "required"` or `"not set"`, never its value);
//! * limits: concurrent sessions (503 before the upgrade beyond it), message size (1009),
//!   time to send the request headers and, once upgraded, the first event (1008), requests
//!   awaiting a response per session (the action fails with [`Error::TooManyPending`](crate::Error::TooManyPending));
//! * with `WORKFLOW_SECRET` set, an upgrade must present it (`?secret=…` in the registered
//!   URL, or an `X-Relay-Workflow-Secret` header); otherwise 401 before the upgrade;
//! * with `TLS_CERT_FILE` and `TLS_KEY_FILE` set, it serves https/wss itself (for hosts
//!   without a TLS-terminating router);
//! * on SIGTERM or SIGINT it stops accepting, drops connections still sending their request,
//!   lets running sessions finish and closes the rest with 1001 when the shutdown deadline
//!   (25 s by default, under Heroku's 30 s) is up; it returns at most 2 s after the deadline
//!   whatever is still in flight.

use crate::admission::{Admission, Starting};
use crate::budget::{Budget, Connecting, ConnectingPlace};
use crate::logging::{Refusal, Refusals};
use crate::session::{self, SessionContext, Slot};
use crate::upgrade::{parse_upgrade, read_head, switching_protocols, Head, Prefixed};
use crate::workflow::Workflow;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use axum::{Json, Router};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_rustls::rustls;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn, Instrument};

/// Default interval between WebSocket pings.
pub const DEFAULT_PING_INTERVAL: Duration = Duration::from_secs(25);
/// Default time running sessions get to finish after SIGTERM/SIGINT.
pub const DEFAULT_SHUTDOWN_DEADLINE: Duration = Duration::from_secs(25);
/// Default largest incoming message (speech events can carry base64 audio).
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 8 * 1024 * 1024;
/// Default most concurrent sessions; beyond it new upgrades get 503.
pub const DEFAULT_MAX_SESSIONS: usize = 10_000;
/// Default time a client gets to send its request headers and, once upgraded, its first event.
pub const DEFAULT_FIRST_EVENT_TIMEOUT: Duration = Duration::from_secs(30);
/// Default most requests one session may have awaiting a response.
pub const DEFAULT_MAX_PENDING_REQUESTS: usize = 1000;
/// The query parameter that carries the shared secret: `wss://host/path?secret=…`.
pub const SECRET_PARAM: &str = "secret";
/// The header that may carry the shared secret instead of the query parameter.
pub const SECRET_HEADER: &str = "x-relay-workflow-secret";
/// Default most events one session may have waiting for a busy handler.
pub const DEFAULT_MAX_QUEUED_EVENTS: usize = 256;
/// Default bytes buffered for all peers together: messages arriving over several reads,
/// events waiting for a busy handler, frames waiting for a peer that does not read. Sized
/// for a 512 MB dyno with room to spare.
pub const DEFAULT_MAX_BUFFERED_BYTES: usize = 64 * 1024 * 1024;
/// Default most connections that have not started a session: reading their request, or
/// upgraded and waiting for their first event. A newer one takes the oldest one's place.
pub const DEFAULT_MAX_CONNECTING: usize = 1024;
/// Default bytes per second a session reads on average once a burst of one largest message
/// is spent: far above what Relay sends (a 1.4 MB speech event now and then), far below what
/// a peer streaming large messages would make the server parse.
pub const DEFAULT_MAX_READ_BYTES_PER_SEC: usize = 1024 * 1024;
/// Default interval of the keep-awake request.
pub const DEFAULT_KEEP_AWAKE_INTERVAL: Duration = Duration::from_secs(25 * 60);
/// After the deadline's 1001 close frames, how long the server waits for sessions to finish
/// closing (each has `session::FORCED_GRACE`, a little less).
const FORCED_CLOSE_WAIT: Duration = Duration::from_millis(1250);
/// After the sessions, how long plain HTTP connections get to finish.
const HTTP_CLOSE_WAIT: Duration = Duration::from_millis(500);
/// Said at start on Heroku (`DYNO` is set) when no secret is required.
const NO_SECRET_ON_HEROKU: &str = "WORKFLOW_SECRET is not set: anyone who learns this app's URL \
    can open sessions on its workflows and hold the places Relay needs (MAX_SESSIONS). \
    Fix: heroku config:set WORKFLOW_SECRET=$(openssl rand -hex 32), then register the workflow \
    URL again with ?secret=<value of heroku config:get WORKFLOW_SECRET> at its end";
/// Said at start elsewhere when no secret is required.
const NO_SECRET: &str = "WORKFLOW_SECRET is not set: any client that reaches this server \
    can open sessions (set it before deploying; on Heroku the server warns at start)";
const DEFAULT_PORT: u16 = 8080;
const SDK: &str = concat!("relay-workflow ", env!("CARGO_PKG_VERSION"));

/// Why the server could not start or run.
///
/// Its `Debug` form is the readable message, so `fn main() -> Result<(), ServeError>` prints
/// `Error: PORT must be a port number …` rather than a struct dump.
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// `PORT` is set but is not a port number.
    #[error("PORT must be a port number between 0 and 65535, but it is {value:?}")]
    Port {
        /// The value found.
        value: String,
    },
    /// Another environment variable has a value the server cannot use.
    #[error("{name} {problem}, but it is {value:?}")]
    Env {
        /// The variable.
        name: &'static str,
        /// What it must be.
        problem: &'static str,
        /// The value found.
        value: String,
    },
    /// The address could not be bound.
    #[error("cannot listen on {addr}: {source} (is another process using this port?)")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The operating system's reason.
        #[source]
        source: std::io::Error,
    },
    /// The TLS certificate or key cannot be used.
    #[error("{0}")]
    Tls(String),
    /// An I/O error while serving.
    #[error("server error: {0}")]
    Io(#[from] std::io::Error),
}

impl std::fmt::Debug for ServeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

struct Route {
    path: Arc<str>,
    workflow: Arc<Workflow>,
}

/// Builds and runs the server that hosts workflows.
///
/// ```no_run
/// use relay_workflow::prelude::*;
///
/// # fn hello() -> Workflow { Workflow::new() }
/// #[tokio::main]
/// async fn main() -> Result<(), relay_workflow::ServeError> {
///     relay_workflow::init_logging();
///     WorkflowServer::new()
///         .workflow("hellopath", hello())
///         .serve()
///         .await
/// }
/// ```
#[derive(Default)]
#[must_use = "a server does nothing until you call serve() or router()"]
pub struct WorkflowServer {
    routes: Vec<Route>,
    default: Option<Workflow>,
    version: Option<String>,
    ping_interval: Option<Duration>,
    pub(crate) shutdown_deadline: Option<Duration>,
    max_message_size: Option<usize>,
    keep_awake: Option<(String, Duration)>,
    secret: Option<String>,
    max_sessions: Option<usize>,
    first_event_timeout: Option<Duration>,
    max_pending_requests: Option<usize>,
    max_queued_events: Option<usize>,
    max_buffered_bytes: Option<usize>,
    max_connecting: Option<usize>,
    max_read_rate: Option<usize>,
    tls: Option<(PathBuf, PathBuf)>,
}

impl std::fmt::Debug for WorkflowServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkflowServer")
            .field(
                "paths",
                &self.routes.iter().map(|r| &*r.path).collect::<Vec<_>>(),
            )
            .field("default", &self.default.is_some())
            .field("secret", &self.secret.as_ref().map(|_| "<set>"))
            .finish_non_exhaustive()
    }
}

/// Strip slashes and check that `path` can be a workflow path.
fn normalize_path(path: &str) -> Result<String, String> {
    let trimmed = path.trim_matches('/');
    if trimmed.is_empty() {
        return Err("is empty (use default_workflow() for the root path)".into());
    }
    if trimmed == "healthz" {
        return Err("is reserved for the health route".into());
    }
    let ok = trimmed.split('/').all(|segment| {
        !segment.is_empty()
            && segment
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '~'))
    });
    if !ok {
        return Err("may only contain letters, digits, '-', '_', '.', '~' and inner '/'".into());
    }
    Ok(trimmed.to_owned())
}

impl WorkflowServer {
    /// A server with no workflows yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Serve `workflow` at `wss://<host>/<path>`. Leading and trailing slashes are ignored.
    ///
    /// # Panics
    /// If the path is empty, reserved (`healthz`), has characters other than letters, digits,
    /// `-`, `_`, `.`, `~` and inner `/`, or is already registered: a programming error,
    /// reported at start-up.
    pub fn workflow(mut self, path: &str, workflow: Workflow) -> Self {
        let normalized = match normalize_path(path) {
            Ok(p) => p,
            Err(problem) => panic!("workflow path {path:?} {problem}"),
        };
        if self.routes.iter().any(|r| *r.path == *normalized) {
            panic!("workflow path {path:?} is registered twice");
        }
        self.routes.push(Route {
            path: normalized.into(),
            workflow: Arc::new(workflow),
        });
        self
    }

    /// Serve `workflow` at the root path (`wss://<host>/`). Other unknown paths still get 404.
    pub fn default_workflow(mut self, workflow: Workflow) -> Self {
        self.default = Some(workflow);
        self
    }

    /// The version reported by `/healthz` (use `env!("CARGO_PKG_VERSION")`).
    pub fn version(mut self, version: impl Into<String>) -> Self {
        self.version = Some(version.into());
        self
    }

    /// Interval between WebSocket pings (default 25 s; env `PING_INTERVAL_SECS`).
    pub fn ping_interval(mut self, interval: Duration) -> Self {
        self.ping_interval = Some(interval);
        self
    }

    /// How long running sessions may finish after SIGTERM/SIGINT before they are closed
    /// with 1001 (default 25 s; env `SHUTDOWN_DEADLINE_SECS`).
    pub fn shutdown_deadline(mut self, deadline: Duration) -> Self {
        self.shutdown_deadline = Some(deadline);
        self
    }

    /// Largest incoming message in bytes (default 8 MiB; env `MAX_MESSAGE_BYTES`). A larger
    /// one closes the session with 1009.
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.max_message_size = Some(bytes);
        self
    }

    /// Require this shared secret on every WebSocket upgrade (env `WORKFLOW_SECRET`): the
    /// registered URL must end in `?secret=<secret>` (or the client sends the
    /// `X-Relay-Workflow-Secret` header). Others get 401 before the upgrade. The value is
    /// compared in constant time and never logged.
    pub fn secret(mut self, secret: impl Into<String>) -> Self {
        self.secret = Some(secret.into());
        self
    }

    /// Most concurrent sessions (default 10 000; env `MAX_SESSIONS`). Beyond it, new
    /// upgrades get 503 before upgrading.
    pub fn max_sessions(mut self, sessions: usize) -> Self {
        self.max_sessions = Some(sessions);
        self
    }

    /// How long a client may take to send its HTTP request headers, and then, once the
    /// WebSocket is open, its first event (default 30 s; env `FIRST_EVENT_TIMEOUT_SECS`).
    /// A connection that is too slow is dropped (headers) or closed with 1008 (event).
    pub fn first_event_timeout(mut self, timeout: Duration) -> Self {
        self.first_event_timeout = Some(timeout);
        self
    }

    /// Most requests one session may have awaiting a response (default 1000; env
    /// `MAX_PENDING_REQUESTS`). One more fails at once with [`Error::TooManyPending`].
    ///
    /// [`Error::TooManyPending`]: crate::Error::TooManyPending
    pub fn max_pending_requests(mut self, requests: usize) -> Self {
        self.max_pending_requests = Some(requests);
        self
    }

    /// Most events one session may have waiting while its handler for an earlier event is
    /// still running (default 256; env `MAX_QUEUED_EVENTS`). One more closes the session with
    /// 1008 and a log line naming the running handler: a handler that never returns holds up
    /// every event behind it.
    pub fn max_queued_events(mut self, events: usize) -> Self {
        self.max_queued_events = Some(events);
        self
    }

    /// Bytes buffered for all peers together (default 64 MiB; env `MAX_BUFFERED_BYTES`):
    /// messages arriving over several reads, events waiting for a busy handler and frames
    /// waiting for a peer that does not read. When it is spent, sessions in the middle of a
    /// message wait for room (up to 10 s, then 1013) and a session whose handler already
    /// has events waiting is closed with 1013. At least the largest message
    /// ([`max_message_size`](Self::max_message_size)).
    pub fn max_buffered_bytes(mut self, bytes: usize) -> Self {
        self.max_buffered_bytes = Some(bytes);
        self
    }

    /// Most connections that have not started a session (default 1024; env
    /// `MAX_CONNECTING`): reading their request head, or upgraded and waiting for their
    /// first event. When all places are taken, a new connection takes the oldest one's, which
    /// is closed (1013 if it was upgraded). Relay sends its first event right behind the
    /// upgrade, so its connections hold a place for a round trip; connections that send
    /// nothing can hold these places, never the sessions' ([`max_sessions`](Self::max_sessions)).
    pub fn max_connecting(mut self, connections: usize) -> Self {
        self.max_connecting = Some(connections);
        self
    }

    /// Bytes per second one session reads on average (default 1 MiB/s; env
    /// `MAX_READ_BYTES_PER_SEC`; 0 for no limit). A session may first read one largest
    /// message ([`max_message_size`](Self::max_message_size)) at full speed; beyond that,
    /// reading waits for the average to come down (a warning says so, once per session).
    /// A peer streaming large messages then costs the server a small share of a core, and
    /// new sessions keep starting at their usual pace.
    pub fn max_read_rate(mut self, bytes_per_sec: usize) -> Self {
        self.max_read_rate = Some(bytes_per_sec);
        self
    }

    /// Serve https/wss directly with this PEM certificate chain and private key (env
    /// `TLS_CERT_FILE`, `TLS_KEY_FILE`), for hosts where nothing terminates TLS in front of
    /// the app. Not for Heroku, whose router already does. The files are read when the
    /// server starts, which fails with a message naming the file at fault.
    pub fn tls(mut self, cert_file: impl Into<PathBuf>, key_file: impl Into<PathBuf>) -> Self {
        self.tls = Some((cert_file.into(), key_file.into()));
        self
    }

    /// Request `<url>/healthz` about every `interval` (jittered) so that an eco dyno does not
    /// sleep (env `KEEP_AWAKE_URL`, `KEEP_AWAKE_INTERVAL_SECS`). Off by default.
    pub fn keep_awake(mut self, url: impl Into<String>, interval: Duration) -> Self {
        self.keep_awake = Some((url.into(), interval));
        self
    }

    /// The workflow paths, with a leading slash (`/` for the default workflow).
    pub fn paths(&self) -> Vec<String> {
        let mut paths: Vec<String> = self.routes.iter().map(|r| format!("/{}", r.path)).collect();
        if self.default.is_some() {
            paths.insert(0, "/".to_owned());
        }
        paths
    }

    /// Fill unset settings from the environment.
    fn apply_env(mut self) -> Result<Self, ServeError> {
        if self.ping_interval.is_none() {
            self.ping_interval = env_secs("PING_INTERVAL_SECS", 1)?;
        }
        if let Some(ping) = self.ping_interval {
            if ping >= Duration::from_secs(55) {
                warn!("PING_INTERVAL_SECS is {ping:?}: Heroku's router drops connections idle for 55 s");
            }
        }
        if self.shutdown_deadline.is_none() {
            self.shutdown_deadline = env_secs("SHUTDOWN_DEADLINE_SECS", 0)?;
        }
        if let Some(deadline) = self.shutdown_deadline {
            if deadline > Duration::from_secs(27) {
                warn!("SHUTDOWN_DEADLINE_SECS is {deadline:?}: the server exits up to 2 s after it, and Heroku kills the process 30 s after SIGTERM");
            }
        }
        if self.keep_awake.is_none() {
            if let Some(url) = std::env::var("KEEP_AWAKE_URL")
                .ok()
                .filter(|u| !u.trim().is_empty())
            {
                let interval =
                    env_secs("KEEP_AWAKE_INTERVAL_SECS", 1)?.unwrap_or(DEFAULT_KEEP_AWAKE_INTERVAL);
                self.keep_awake = Some((url.trim().to_owned(), interval));
            }
        }
        if self.secret.is_none() {
            self.secret = std::env::var("WORKFLOW_SECRET")
                .ok()
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty());
        }
        if let Some(secret) = &self.secret {
            if secret.len() < 16 {
                warn!("WORKFLOW_SECRET is shorter than 16 characters: use a long random value (app.json generates 64 hex characters)");
            }
        }
        if self.max_sessions.is_none() {
            self.max_sessions = env_count("MAX_SESSIONS", 1)?;
        }
        if self.max_message_size.is_none() {
            self.max_message_size = env_count("MAX_MESSAGE_BYTES", 1024)?;
        }
        if self.first_event_timeout.is_none() {
            self.first_event_timeout = env_secs("FIRST_EVENT_TIMEOUT_SECS", 1)?;
        }
        if self.max_pending_requests.is_none() {
            self.max_pending_requests = env_count("MAX_PENDING_REQUESTS", 1)?;
        }
        if self.max_queued_events.is_none() {
            self.max_queued_events = env_count("MAX_QUEUED_EVENTS", 1)?;
        }
        if self.max_buffered_bytes.is_none() {
            self.max_buffered_bytes = env_count("MAX_BUFFERED_BYTES", 1024)?;
        }
        if self.max_connecting.is_none() {
            self.max_connecting = env_count("MAX_CONNECTING", 1)?;
        }
        if self.max_read_rate.is_none() {
            self.max_read_rate = env_count("MAX_READ_BYTES_PER_SEC", 0)?;
        }
        if self.tls.is_none() {
            let cert = std::env::var("TLS_CERT_FILE")
                .ok()
                .filter(|v| !v.trim().is_empty());
            let key = std::env::var("TLS_KEY_FILE")
                .ok()
                .filter(|v| !v.trim().is_empty());
            match (cert, key) {
                (Some(cert), Some(key)) => {
                    self.tls = Some((cert.trim().into(), key.trim().into()));
                }
                (None, None) => {}
                (Some(_), None) => {
                    return Err(ServeError::Tls(
                        "TLS_CERT_FILE is set but TLS_KEY_FILE is not: set both (PEM files) to serve wss:// directly, or neither".into(),
                    ))
                }
                (None, Some(_)) => {
                    return Err(ServeError::Tls(
                        "TLS_KEY_FILE is set but TLS_CERT_FILE is not: set both (PEM files) to serve wss:// directly, or neither".into(),
                    ))
                }
            }
        }
        if let Some((url, _)) = &self.keep_awake {
            if !(url.starts_with("https://") || url.starts_with("http://")) {
                return Err(ServeError::Env {
                    name: "KEEP_AWAKE_URL",
                    problem: "must be the app's public URL, like https://my-app-1234.herokuapp.com",
                    value: url.clone(),
                });
            }
        }
        Ok(self)
    }

    /// Build the axum router and a handle to shut the sessions down, for embedding in an
    /// existing axum app. (`serve()` does all of this for you.)
    ///
    /// The router enforces the secret, the session cap, the message size, the first-event
    /// deadline and the pending-request cap. It does not read the environment, bound the time
    /// to send request headers, or serve TLS: those belong to the listener, which is then
    /// yours to configure.
    pub fn into_parts(self) -> (Router, ServerHandle) {
        let (router, handle, _) = self.assemble();
        (router, handle)
    }

    /// The router, its handle, and what the accept loop needs to take upgrades itself.
    fn assemble(self) -> (Router, ServerHandle, Arc<FastPath>) {
        let handle = ServerHandle {
            shutdown: CancellationToken::new(),
            force_close: CancellationToken::new(),
            live: Arc::new(AtomicUsize::new(0)),
            tracker: TaskTracker::new(),
        };
        let paths = self.paths();
        let max_message_size = self.max_message_size.unwrap_or(DEFAULT_MAX_MESSAGE_SIZE);
        let mut budget = self
            .max_buffered_bytes
            .unwrap_or(DEFAULT_MAX_BUFFERED_BYTES);
        if budget < max_message_size {
            warn!(
                "MAX_BUFFERED_BYTES ({budget}) is below MAX_MESSAGE_BYTES ({max_message_size}): using {max_message_size}, so that the largest message can arrive"
            );
            budget = max_message_size;
        }
        let app = Arc::new(App {
            handle: handle.clone(),
            version: self
                .version
                .unwrap_or_else(|| env!("CARGO_PKG_VERSION").to_owned()),
            paths: paths.clone(),
            ping_interval: self.ping_interval.unwrap_or(DEFAULT_PING_INTERVAL),
            max_message_size,
            secret: self.secret.map(|s| Arc::from(s.into_bytes())),
            max_sessions: self.max_sessions.unwrap_or(DEFAULT_MAX_SESSIONS),
            first_event_timeout: self
                .first_event_timeout
                .unwrap_or(DEFAULT_FIRST_EVENT_TIMEOUT),
            max_pending: self
                .max_pending_requests
                .unwrap_or(DEFAULT_MAX_PENDING_REQUESTS),
            max_queued_events: self.max_queued_events.unwrap_or(DEFAULT_MAX_QUEUED_EVENTS),
            budget: Arc::new(Budget::new(budget)),
            connecting: Connecting::new(self.max_connecting.unwrap_or(DEFAULT_MAX_CONNECTING)),
            read_rate: self.max_read_rate.unwrap_or(DEFAULT_MAX_READ_BYTES_PER_SEC),
            refusals: Refusals::default(),
        });
        let mut router = Router::new().route("/healthz", get(health));
        let mut fast = HashMap::new();
        for route in self.routes {
            let route = Arc::new(route);
            fast.insert(format!("/{}", route.path), route.clone());
            fast.insert(format!("/{}/", route.path), route.clone());
            let endpoint = {
                let route = route.clone();
                move |state, request| endpoint(state, route, request)
            };
            router = router
                .route(&format!("/{}", route.path), any(endpoint.clone()))
                .route(&format!("/{}/", route.path), any(endpoint));
        }
        match self.default {
            Some(workflow) => {
                let route = Arc::new(Route {
                    path: "".into(),
                    workflow: Arc::new(workflow),
                });
                fast.insert("/".to_owned(), route.clone());
                router = router.route(
                    "/",
                    any(move |state, request| endpoint(state, route, request)),
                );
            }
            None => router = router.route("/", get(index)),
        }
        let router = router.fallback(not_found).with_state(app.clone());
        let fast = Arc::new(FastPath { app, routes: fast });
        (router, handle, fast)
    }

    /// The axum router alone (see [`into_parts`](Self::into_parts) for shutdown control).
    pub fn router(self) -> Router {
        self.into_parts().0
    }

    /// Read `PORT` (default 8080), bind `0.0.0.0`, and serve until SIGTERM or SIGINT. A
    /// second SIGTERM or SIGINT exits the process at once (status 143 or 130), without
    /// draining. As it returns, the lines [`init_logging`](crate::init_logging) has queued
    /// get up to 1 s to be written.
    pub async fn serve(self) -> Result<(), ServeError> {
        let port = match std::env::var("PORT") {
            Ok(value) if !value.trim().is_empty() => {
                value.trim().parse::<u16>().map_err(|_| ServeError::Port {
                    value: value.clone(),
                })?
            }
            _ => DEFAULT_PORT,
        };
        let server = self.apply_env()?;
        let addr = SocketAddr::from(([0, 0, 0, 0], port));
        let listener = bind(addr).map_err(|source| ServeError::Bind { addr, source })?;
        let result = server.serve_with(listener, shutdown_signal()).await;
        // The log lines still queued get a bounded time to be written.
        crate::logging::flush(crate::logging::EXIT_FLUSH).await;
        result
    }

    /// Serve on an already bound listener until `shutdown` completes, then drain sessions.
    /// Settings not set on the builder are read from the environment, as in `serve()`.
    pub async fn serve_with<F>(self, listener: TcpListener, shutdown: F) -> Result<(), ServeError>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let server = self.apply_env()?;
        let tls = match &server.tls {
            Some((cert, key)) => Some(load_tls(cert, key)?),
            None => None,
        };
        let local = listener.local_addr()?;
        let scheme = if tls.is_some() { "wss" } else { "ws" };
        info!(
            "listening on {local}{}",
            if tls.is_some() { " (TLS)" } else { "" }
        );
        let query = if server.secret.is_some() {
            "?secret=<WORKFLOW_SECRET>"
        } else {
            ""
        };
        for path in server.paths() {
            let public = if tls.is_some() {
                "<this-host>"
            } else {
                "<your-app-host>"
            };
            info!("workflow at {path}: register wss://{public}{path}{query} with Relay");
        }
        if server.secret.is_some() {
            info!("WORKFLOW_SECRET is set: upgrades without it get 401");
        } else if std::env::var_os("DYNO").is_some() {
            warn!("{NO_SECRET_ON_HEROKU}");
        } else {
            info!("{NO_SECRET}");
        }
        tracing::debug!("serving {scheme}:// on {local}");
        let deadline = server
            .shutdown_deadline
            .unwrap_or(DEFAULT_SHUTDOWN_DEADLINE);
        let header_timeout = server
            .first_event_timeout
            .unwrap_or(DEFAULT_FIRST_EVENT_TIMEOUT);
        let keep_awake = server.keep_awake.clone();
        let (router, handle, fast) = server.assemble();
        if let Some((url, interval)) = keep_awake {
            tokio::spawn(keep_awake_loop(url, interval, handle.shutdown.clone()).in_current_span());
        }
        let stop = handle.shutdown.clone();
        tokio::spawn(async move {
            shutdown.await;
            stop.cancel();
        });
        let connections = TaskTracker::new();
        // The accept loop runs as a task of its own: on a runtime worker, like the
        // connections it spawns, rather than on the thread that called `serve` (with one
        // worker, every accept would otherwise wake a second thread).
        let accepting = tokio::spawn(Instrument::in_current_span(accept_loop(
            listener,
            router,
            fast,
            tls,
            header_timeout,
            handle.shutdown.clone(),
            connections.clone(),
        )));
        if let Err(e) = accepting.await {
            warn!("the accept loop ended abnormally: {e}");
        }
        handle.drain(deadline).await;
        connections.close();
        if tokio::time::timeout(HTTP_CLOSE_WAIT, connections.wait())
            .await
            .is_err()
        {
            tracing::debug!("some HTTP connections were still open at exit");
        }
        info!("shutdown complete");
        Ok(())
    }
}

/// Most connections the kernel holds for the accept loop (Linux caps it at
/// `net.core.somaxconn`, 4096 by default).
const LISTEN_BACKLOG: u32 = 4096;

fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// Accept connections until `stop`, serving each with HTTP/1.1 (and upgrades) in its own
/// task. A client must finish its request headers (and TLS handshake) within
/// `header_timeout`, so that slow or silent connections cannot pile up.
async fn accept_loop(
    listener: TcpListener,
    router: Router,
    fast: Arc<FastPath>,
    tls: Option<TlsAcceptor>,
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
            Some(acceptor) => {
                connections.spawn(Instrument::in_current_span(async move {
                    let handshake = tokio::time::timeout(header_timeout, acceptor.accept(tcp));
                    let handshake = tokio::select! {
                        done = handshake => done,
                        _ = conn.evict.cancelled() => return,
                        _ = conn.stop.cancelled() => return,
                    };
                    match handshake {
                        Ok(Ok(stream)) => {
                            Box::pin(serve_stream(stream, conn, fast, service, header_timeout))
                                .await
                        }
                        Ok(Err(e)) => tracing::debug!("TLS handshake failed: {e}"),
                        Err(_) => tracing::debug!(
                            "TLS handshake not completed within {header_timeout:?}; dropped"
                        ),
                    }
                }));
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
fn serve_stream<S>(
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
struct Conn {
    starting: Starting,
    place: ConnectingPlace,
    evict: CancellationToken,
    stop: CancellationToken,
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

/// What the accept loop needs to take WebSocket upgrades itself.
struct FastPath {
    app: Arc<App>,
    /// Every path a workflow answers on (`/p`, `/p/`, and `/` for a default workflow).
    routes: HashMap<String, Arc<Route>>,
}

impl FastPath {
    /// The route, a session slot and the `101` answer, if `head` is an upgrade this server
    /// takes as it is. Everything else (including every refusal, which deserves its
    /// status code and log line) is left to the router.
    fn accept(&self, head: &[u8]) -> Option<(Arc<Route>, Slot, Vec<u8>)> {
        let upgrade = parse_upgrade(head, SECRET_HEADER)?;
        let route = self.routes.get(upgrade.path)?;
        let app = &self.app;
        if let Some(secret) = &app.secret {
            let given = secret_from(upgrade.secret_header, upgrade.query)?;
            if !constant_time_eq(secret, &given) {
                return None;
            }
        }
        if app.handle.is_shutting_down() {
            return None;
        }
        let slot = Slot::reserve(&app.handle.live, app.max_sessions)?;
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

/// Read and check the PEM certificate chain and key; every error names the file at fault.
fn load_tls(cert_file: &Path, key_file: &Path) -> Result<TlsAcceptor, ServeError> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let cert_pem = std::fs::read(cert_file).map_err(|e| {
        ServeError::Tls(format!(
            "TLS_CERT_FILE {}: cannot read it: {e}",
            cert_file.display()
        ))
    })?;
    let key_pem = std::fs::read(key_file).map_err(|e| {
        ServeError::Tls(format!(
            "TLS_KEY_FILE {}: cannot read it: {e}",
            key_file.display()
        ))
    })?;
    let certs = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| {
            ServeError::Tls(format!(
                "TLS_CERT_FILE {}: not a valid PEM certificate file: {e}",
                cert_file.display()
            ))
        })?;
    if certs.is_empty() {
        return Err(ServeError::Tls(format!(
            "TLS_CERT_FILE {}: no certificate found; it must be PEM (-----BEGIN CERTIFICATE-----), leaf certificate first",
            cert_file.display()
        )));
    }
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| {
        ServeError::Tls(format!(
            "TLS_KEY_FILE {}: no usable PEM private key (PKCS#8, PKCS#1 or SEC1): {e}",
            key_file.display()
        ))
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let signing_key = provider
        .key_provider
        .load_private_key(key.clone_key())
        .map_err(|e| {
            ServeError::Tls(format!(
                "TLS_KEY_FILE {}: unsupported private key: {e}",
                key_file.display()
            ))
        })?;
    let certified = rustls::sign::CertifiedKey::new(certs.clone(), signing_key);
    if let Err(e) = certified.keys_match() {
        return Err(ServeError::Tls(format!(
            "TLS_KEY_FILE {} does not match the certificate in TLS_CERT_FILE {}: {e}",
            key_file.display(),
            cert_file.display()
        )));
    }
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ServeError::Tls(format!("TLS setup failed: {e}")))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| {
            ServeError::Tls(format!(
                "TLS_CERT_FILE {} and TLS_KEY_FILE {} cannot be used together: {e}",
                cert_file.display(),
                key_file.display()
            ))
        })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Controls a running server's sessions: start the shutdown, count and drain sessions.
#[derive(Clone, Debug)]
pub struct ServerHandle {
    shutdown: CancellationToken,
    force_close: CancellationToken,
    live: Arc<AtomicUsize>,
    tracker: TaskTracker,
}

impl ServerHandle {
    /// Refuse new sessions from now on (503); running sessions go on.
    pub fn begin_shutdown(&self) {
        self.shutdown.cancel();
    }

    /// Whether the shutdown has begun.
    pub fn is_shutting_down(&self) -> bool {
        self.shutdown.is_cancelled()
    }

    /// Sessions currently connected.
    pub fn live_sessions(&self) -> usize {
        self.live.load(Ordering::Relaxed)
    }

    /// Begin the shutdown, wait up to `deadline` for sessions to finish, then close the
    /// remaining ones with 1001. Returns at most about 1.25 s after the deadline: each
    /// session gets one second for its close handshake and last writes, and a handler still
    /// running then is dropped.
    pub async fn drain(&self, deadline: Duration) {
        self.begin_shutdown();
        self.tracker.close();
        let running = self.live_sessions();
        if running > 0 {
            info!("shutting down: waiting up to {deadline:?} for {running} running session(s)");
        }
        if tokio::time::timeout(deadline, self.tracker.wait())
            .await
            .is_err()
        {
            let left = self.live_sessions();
            warn!("shutdown deadline reached: closing {left} session(s) with 1001");
            self.force_close.cancel();
            if tokio::time::timeout(FORCED_CLOSE_WAIT, self.tracker.wait())
                .await
                .is_err()
            {
                warn!("{} session(s) did not close in time", self.live_sessions());
            }
        }
    }
}

struct App {
    handle: ServerHandle,
    version: String,
    paths: Vec<String>,
    ping_interval: Duration,
    max_message_size: usize,
    secret: Option<Arc<[u8]>>,
    max_sessions: usize,
    first_event_timeout: Duration,
    max_pending: usize,
    max_queued_events: usize,
    budget: Arc<Budget>,
    connecting: Arc<Connecting>,
    read_rate: usize,
    /// Refusal lines, each kind at most once per interval.
    refusals: Refusals,
}

impl App {
    /// The settings of a session on `route`; `evict` is the connection's token (a child of
    /// the shutdown deadline's).
    fn session_context(&self, route: &Route, evict: CancellationToken) -> SessionContext {
        SessionContext {
            path: route.path.clone(),
            ping_interval: self.ping_interval,
            force_close: self.handle.force_close.clone(),
            first_event_timeout: self.first_event_timeout,
            max_pending: self.max_pending,
            max_message_size: self.max_message_size,
            max_queued_events: self.max_queued_events,
            budget: self.budget.clone(),
            evict,
            read_rate: self.read_rate,
        }
    }
}

/// The secret a request presents: the `X-Relay-Workflow-Secret` header, else the
/// percent-decoded `secret` query parameter.
fn presented_secret(uri: &Uri, headers: &HeaderMap) -> Option<Vec<u8>> {
    secret_from(
        headers.get(SECRET_HEADER).map(HeaderValue::as_bytes),
        uri.query(),
    )
}

/// The secret given in the header (first) or the query.
fn secret_from(header: Option<&[u8]>, query: Option<&str>) -> Option<Vec<u8>> {
    if let Some(value) = header {
        return Some(value.to_vec());
    }
    query?.split('&').find_map(|pair| {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        (name == SECRET_PARAM).then(|| percent_encoding::percent_decode_str(value).collect())
    })
}

/// Compare without stopping at the first difference: the time taken depends only on the
/// length of `expected`, not on how much of it `given` gets right.
fn constant_time_eq(expected: &[u8], given: &[u8]) -> bool {
    let mut diff = usize::from(expected.len() != given.len());
    for (i, e) in expected.iter().enumerate() {
        let g = given.get(i).copied().unwrap_or(!*e);
        diff |= usize::from(e ^ g);
    }
    std::hint::black_box(diff) == 0
}

/// The `Sec-WebSocket-Key` of a well-formed WebSocket upgrade request (RFC 6455 §4.2.1).
fn websocket_key(request: &Request) -> Option<&HeaderValue> {
    let headers = request.headers();
    let has_token = |name: header::HeaderName, token: &str| {
        headers.get_all(name).iter().any(|value| {
            value
                .to_str()
                .is_ok_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
        })
    };
    let ok = request.method() == Method::GET
        && request.version() == axum::http::Version::HTTP_11
        && has_token(header::CONNECTION, "upgrade")
        && has_token(header::UPGRADE, "websocket")
        && headers
            .get(header::SEC_WEBSOCKET_VERSION)
            .is_some_and(|v| v == "13");
    if !ok {
        return None;
    }
    headers
        .get(header::SEC_WEBSOCKET_KEY)
        .filter(|key| !key.is_empty())
}

async fn endpoint(
    State(app): State<Arc<App>>,
    route: Arc<Route>,
    mut request: Request,
) -> Response {
    let Some(key) = websocket_key(&request) else {
        if request.method() == Method::GET || request.method() == Method::HEAD {
            return upgrade_required(&route.path, request.headers(), app.secret.is_some());
        }
        return (
            StatusCode::METHOD_NOT_ALLOWED,
            [(header::ALLOW, "GET")],
            "A Relay workflow endpoint accepts only a WebSocket upgrade (GET).\n",
        )
            .into_response();
    };
    let accept = crate::ws::accept_key(key.as_bytes());
    if let Some(secret) = &app.secret {
        let problem = match presented_secret(request.uri(), request.headers()) {
            None => Some((Refusal::NoSecret, "no secret")),
            Some(given) if !constant_time_eq(secret, &given) => {
                Some((Refusal::WrongSecret, "a wrong secret"))
            }
            Some(_) => None,
        };
        if let Some((why, problem)) = problem {
            let path = route.path.clone();
            app.refusals.note(why, move |n| warn!(
                "refused a WebSocket upgrade on /{path} with 401: {problem} (the registered URL must end in ?{SECRET_PARAM}=<WORKFLOW_SECRET>){n}"
            ));
            return (
                StatusCode::UNAUTHORIZED,
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                "This workflow needs its secret: register the URL with ?secret=<WORKFLOW_SECRET> at the end.\n",
            )
                .into_response();
        }
    }
    if app.handle.is_shutting_down() {
        let path = route.path.clone();
        app.refusals.note(Refusal::ShuttingDown, move |n| {
            info!("refused a WebSocket upgrade on /{path} with 503: shutting down{n}")
        });
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::RETRY_AFTER, "5")],
            "This server is shutting down; Relay will retry on another dyno.\n",
        )
            .into_response();
    }
    let Some(slot) = Slot::reserve(&app.handle.live, app.max_sessions) else {
        let (path, max) = (route.path.clone(), app.max_sessions);
        app.refusals.note(Refusal::AtCapacity, move |n| {
            warn!("refused a WebSocket upgrade on /{path} with 503: already {max} sessions (MAX_SESSIONS){n}")
        });
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::RETRY_AFTER, "5")],
            "This server has as many sessions as it may (MAX_SESSIONS); try again later.\n",
        )
            .into_response();
    };
    let ctx = app.session_context(&route, app.handle.force_close.child_token());
    let workflow = route.workflow.clone();
    let upgrade = hyper::upgrade::on(&mut request);
    drop(request);
    let tracker = &app.handle.tracker;
    tracker.spawn(Instrument::in_current_span(async move {
        let upgraded = match upgrade.await {
            Ok(upgraded) => upgraded,
            Err(e) => {
                warn!("WebSocket upgrade failed: {e}");
                return;
            }
        };
        // The plain TCP connection (Heroku's router terminates TLS) is used directly;
        // anything else (TLS served here, another server) through hyper's wrapper.
        match upgraded.downcast::<TokioIo<tokio::net::TcpStream>>() {
            Ok(parts) => {
                // Bytes the client sent behind its request (usually none); copied, so that
                // hyper's read buffer is freed now rather than held for the session.
                let early = parts.read_buf.to_vec();
                let tcp = parts.io.into_inner();
                drop(parts.read_buf);
                session::run(tcp, early, workflow, ctx, slot).await;
            }
            Err(upgraded) => {
                // Boxed: the common case above keeps a smaller task.
                Box::pin(session::run(
                    TokioIo::new(upgraded),
                    Vec::new(),
                    workflow,
                    ctx,
                    slot,
                ))
                .await;
            }
        }
    }));
    Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header(header::CONNECTION, "upgrade")
        .header(header::UPGRADE, "websocket")
        .header(header::SEC_WEBSOCKET_ACCEPT, accept)
        .body(Body::empty())
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

fn upgrade_required(path: &str, headers: &HeaderMap, secret: bool) -> Response {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("<your-app-host>");
    let local =
        host.starts_with("localhost") || host.starts_with("127.") || host.starts_with("[::1]");
    let query = if secret {
        "?secret=<WORKFLOW_SECRET>"
    } else {
        ""
    };
    let mut body = format!(
        "This is a Relay workflow endpoint: it speaks WebSocket, not plain HTTP.\n\
         Relay connects here when the workflow is triggered.\n\n\
         Register this URL with Relay:\n\n    wss://{host}/{path}{query}\n\n\
         for example:\n\n    relay workflow:create:phrase --name my-workflow --trigger \"hello\" \\\n        --uri 'wss://{host}/{path}{query}' --install-all\n\n\
         (Opening this page also wakes a sleeping dyno.)\n"
    );
    if secret {
        body.push_str(
            "\nThis server requires a shared secret: replace <WORKFLOW_SECRET> with its value\n\
             (on Heroku: heroku config:get WORKFLOW_SECRET). Connections without it get 401.\n",
        );
    }
    if local {
        body.push_str(&format!(
            "\nThis looks like a local run: try it with the simulator:\n\n    relay-sim 'ws://{host}/{path}{query}' --say Alice\n"
        ));
    }
    (
        StatusCode::UPGRADE_REQUIRED,
        [
            (header::UPGRADE, "websocket"),
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
        ],
        body,
    )
        .into_response()
}

async fn health(State(app): State<Arc<App>>) -> Json<serde_json::Value> {
    Json(serde_json::json!({
        "status": if app.handle.is_shutting_down() { "shutting down" } else { "ok" },
        "version": app.version,
        "sdk": SDK,
        "workflows": app.paths,
        "sessions": app.handle.live_sessions(),
        "connecting": app.connecting.len(),
        "buffered_bytes": app.budget.used(),
        "buffer_budget": app.budget.limit(),
        "secret": if app.secret.is_some() { "required" } else { "not set" },
    }))
}

async fn index(State(app): State<Arc<App>>) -> impl IntoResponse {
    let mut body = String::from("Relay workflow server. Workflows (WebSocket endpoints):\n\n");
    for path in &app.paths {
        body.push_str(&format!("    {path}\n"));
    }
    body.push_str("\nHealth: /healthz\n");
    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], body)
}

async fn not_found(State(app): State<Arc<App>>, uri: Uri) -> impl IntoResponse {
    (
        StatusCode::NOT_FOUND,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!(
            "No workflow at {}. This server's workflows: {}\n",
            uri.path(),
            app.paths.join(", ")
        ),
    )
}

fn env_count(name: &'static str, min: usize) -> Result<Option<usize>, ServeError> {
    match std::env::var(name) {
        Ok(value) if !value.trim().is_empty() => match value.trim().parse::<usize>() {
            Ok(n) if n >= min => Ok(Some(n)),
            _ => Err(ServeError::Env {
                name,
                problem: if min == 0 {
                    "must be a whole number (0 for no limit)"
                } else if min == 1 {
                    "must be a whole number, at least 1"
                } else {
                    "must be a whole number, at least 1024"
                },
                value,
            }),
        },
        _ => Ok(None),
    }
}

fn env_secs(name: &'static str, min: u64) -> Result<Option<Duration>, ServeError> {
    match std::env::var(name) {
        Ok(value) if !value.trim().is_empty() => match value.trim().parse::<u64>() {
            Ok(secs) if secs >= min => Ok(Some(Duration::from_secs(secs))),
            _ => Err(ServeError::Env {
                name,
                problem: if min == 0 {
                    "must be a whole number of seconds"
                } else {
                    "must be a whole number of seconds, at least 1"
                },
                value,
            }),
        },
        _ => Ok(None),
    }
}

/// Completes on the first SIGTERM (Heroku) or SIGINT (Ctrl-C, `heroku local`).
///
/// The handlers are installed when this is called (before the server logs that it
/// listens), not when the future is first polled. On Unix, a second SIGTERM or SIGINT ends
/// the process at once, with status 128 + the signal's number (143, 130) and without
/// draining: the way out when a drain takes too long (Ctrl-C twice). That path writes
/// nothing, so the state of the log output (a closed or full pipe) cannot stop it. The
/// one log line of the first signal is written with any panic caught: no subscriber can
/// take the signal task down.
fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    let (mut term, mut int) = {
        use tokio::signal::unix::{signal, SignalKind};
        (
            signal(SignalKind::terminate()).ok(),
            signal(SignalKind::interrupt()).ok(),
        )
    };
    #[cfg(unix)]
    async fn next(signal: &mut Option<tokio::signal::unix::Signal>) {
        match signal {
            Some(s) => {
                s.recv().await;
            }
            None => std::future::pending().await,
        }
    }
    async move {
        #[cfg(unix)]
        let name = tokio::select! {
            _ = next(&mut term) => "SIGTERM",
            _ = next(&mut int) => "SIGINT",
        };
        #[cfg(unix)]
        tokio::spawn(async move {
            let code = tokio::select! {
                _ = next(&mut term) => 128 + 15,
                _ = next(&mut int) => 128 + 2,
            };
            std::process::exit(code);
        });
        #[cfg(not(unix))]
        let name = {
            if tokio::signal::ctrl_c().await.is_err() {
                std::future::pending::<()>().await;
            }
            "SIGINT"
        };
        let _ = std::panic::catch_unwind(|| {
            info!("{name} received: shutting down (send it again to exit at once)");
        });
    }
}

fn jittered(interval: Duration) -> Duration {
    let mut b = [0u8; 2];
    let r = if getrandom::fill(&mut b).is_ok() {
        u16::from_le_bytes(b)
    } else {
        0
    };
    // Between 90 % and 100 % of the interval.
    interval.mul_f64(0.9 + 0.1 * f64::from(r) / f64::from(u16::MAX))
}

async fn keep_awake_loop(url: String, interval: Duration, shutdown: CancellationToken) {
    let target = format!("{}/healthz", url.trim_end_matches('/'));
    let client = match reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .user_agent(SDK)
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            warn!("keep-awake disabled: cannot build an HTTP client: {e}");
            return;
        }
    };
    info!(
        "keep-awake: requesting {target} about every {}s",
        interval.as_secs()
    );
    let retry = Duration::from_secs(60).min(interval);
    let mut delay = jittered(interval);
    let mut ok = 0u32;
    let mut failed = 0u32;
    let mut since = tokio::time::Instant::now();
    loop {
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = shutdown.cancelled() => return,
        }
        match client
            .get(&target)
            .send()
            .await
            .and_then(|r| r.error_for_status())
        {
            Ok(_) => {
                if ok == 0 && failed == 0 {
                    info!("keep-awake: first request to {target} succeeded");
                }
                ok += 1;
                delay = jittered(interval);
            }
            Err(e) => {
                failed += 1;
                warn!(
                    "keep-awake: {target} failed: {e}; retrying in {}s",
                    retry.as_secs()
                );
                delay = retry;
            }
        }
        if since.elapsed() >= Duration::from_secs(3600) {
            info!("keep-awake: {ok} request(s) succeeded, {failed} failed in the last hour");
            ok = 0;
            failed = 0;
            since = tokio::time::Instant::now();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_normalized_and_checked() {
        assert_eq!(normalize_path("/hellopath/").unwrap(), "hellopath");
        assert_eq!(normalize_path("a/b-c_d.e~f").unwrap(), "a/b-c_d.e~f");
        assert!(normalize_path("/").is_err());
        assert!(normalize_path("healthz").is_err());
        assert!(normalize_path("a b").is_err());
        assert!(normalize_path("a//b").is_err());
        assert!(normalize_path("a?x=1").is_err());
    }

    #[test]
    #[should_panic(expected = "registered twice")]
    fn duplicate_paths_panic() {
        let _ = WorkflowServer::new()
            .workflow("a", Workflow::new())
            .workflow("/a/", Workflow::new());
    }

    #[test]
    fn secrets_compare_in_full() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
        assert!(!constant_time_eq(b"abc", b""));
        assert!(constant_time_eq(b"", b""));
    }

    #[test]
    fn the_secret_comes_from_the_header_or_the_query() {
        let headers = HeaderMap::new();
        let uri: Uri = "/p?x=1&secret=a%2Fb&y".parse().unwrap();
        assert_eq!(presented_secret(&uri, &headers).unwrap(), b"a/b");
        let uri: Uri = "/p?secrets=1".parse().unwrap();
        assert_eq!(presented_secret(&uri, &headers), None);
        let mut headers = HeaderMap::new();
        headers.insert(SECRET_HEADER, "h".parse().unwrap());
        assert_eq!(presented_secret(&uri, &headers).unwrap(), b"h");
    }

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

    #[test]
    fn jitter_stays_within_ten_percent() {
        for _ in 0..100 {
            let d = jittered(Duration::from_secs(100));
            assert!(
                d >= Duration::from_secs(90) && d <= Duration::from_secs(100),
                "{d:?}"
            );
        }
    }
}
