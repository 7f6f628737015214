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
//!   awaiting a response per session (the action fails with
//!   [`Error::TooManyPending`](crate::Error::TooManyPending));
//! * with `WORKFLOW_SECRET` set, an upgrade must present it (`?secret=…` in the registered
//!   URL, or an `X-Relay-Workflow-Secret` header); otherwise 401 before the upgrade;
//! * with `TLS_CERT_FILE` and `TLS_KEY_FILE` set (feature `tls`), it serves https/wss itself (for hosts
//!   without a TLS-terminating router);
//! * on SIGTERM or SIGINT it stops accepting, drops connections still sending their request,
//!   lets running sessions finish and closes the rest with 1001 when the shutdown deadline
//!   (25 s by default, under Heroku's 30 s) is up; it returns at most 2 s after the deadline
//!   whatever is still in flight.
//!
//! Its rooms: this file is the builder and the public API; `config.rs` the settings, their
//! table ([`SETTINGS`]) and reading them from the environment (only when asked:
//! [`WorkflowServer::settings_from_env`]); `admit.rs` the one decision (secret, shutdown,
//! session cap) both upgrade paths take; `listener.rs` the accept loop and each
//! connection's life; `routes.rs` the router's endpoints and pages; `shutdown.rs` the
//! drain and the signals; `tls.rs` (feature `tls`) and `keep_awake.rs` (feature
//! `keep-awake`).

mod admit;
pub mod config;
#[cfg(feature = "keep-awake")]
mod keep_awake;
mod listener;
mod routes;
mod shutdown;
#[cfg(feature = "tls")]
mod tls;

pub use admit::{SECRET_HEADER, SECRET_PARAM};
pub use config::{
    Setting, DEFAULT_FIRST_EVENT_TIMEOUT, DEFAULT_KEEP_AWAKE_INTERVAL, DEFAULT_MAX_BUFFERED_BYTES,
    DEFAULT_MAX_CONNECTING, DEFAULT_MAX_MESSAGE_SIZE, DEFAULT_MAX_PENDING_REQUESTS,
    DEFAULT_MAX_QUEUED_EVENTS, DEFAULT_MAX_READ_BYTES_PER_SEC, DEFAULT_MAX_SESSIONS,
    DEFAULT_PING_INTERVAL, DEFAULT_PORT, DEFAULT_SHUTDOWN_DEADLINE, SETTINGS,
};
pub use shutdown::ServerHandle;

use crate::budget::{Budget, Connecting};
use crate::logging::Refusals;
use crate::session::SessionContext;
use crate::workflow::Workflow;
use axum::routing::{any, get};
use axum::Router;
use config::Settings;
use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
#[cfg(feature = "tls")]
use std::path::PathBuf;
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn, Instrument};

/// What terminates TLS for the accept loop: rustls with feature `tls`, nothing without.
#[cfg(feature = "tls")]
type Acceptor = tls::TlsAcceptor;
/// What terminates TLS for the accept loop: rustls with feature `tls`, nothing without.
#[cfg(not(feature = "tls"))]
#[derive(Clone)]
enum Acceptor {}

/// Said at start on Heroku (`DYNO` is set) when no secret is required.
const NO_SECRET_ON_HEROKU: &str = "WORKFLOW_SECRET is not set: anyone who learns this app's URL \
    can open sessions on its workflows and hold the places Relay needs (MAX_SESSIONS). \
    Fix: heroku config:set WORKFLOW_SECRET=$(openssl rand -hex 32), then register the workflow \
    URL again with ?secret=<value of heroku config:get WORKFLOW_SECRET> at its end";
/// Said at start elsewhere when no secret is required.
const NO_SECRET: &str = "WORKFLOW_SECRET is not set: any client that reaches this server \
    can open sessions (set it before deploying; on Heroku the server warns at start)";
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

/// A workflow and the path it answers on (without slashes; empty for the default workflow).
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
///         .settings_from_env()?
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
    pub(crate) settings: Settings,
    /// Whether [`settings_from_env`](Self::settings_from_env) has run.
    from_env: bool,
}

impl std::fmt::Debug for WorkflowServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkflowServer")
            .field(
                "paths",
                &self.routes.iter().map(|r| &*r.path).collect::<Vec<_>>(),
            )
            .field("default", &self.default.is_some())
            .field("secret", &self.settings.secret.as_ref().map(|_| "<set>"))
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
        self.settings.ping_interval = Some(interval);
        self
    }

    /// How long running sessions may finish after SIGTERM/SIGINT before they are closed
    /// with 1001 (default 25 s; env `SHUTDOWN_DEADLINE_SECS`).
    pub fn shutdown_deadline(mut self, deadline: Duration) -> Self {
        self.settings.shutdown_deadline = Some(deadline);
        self
    }

    /// Largest incoming message in bytes (default 8 MiB; env `MAX_MESSAGE_BYTES`). A larger
    /// one closes the session with 1009.
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.settings.max_message_size = Some(bytes);
        self
    }

    /// Require this shared secret on every WebSocket upgrade (env `WORKFLOW_SECRET`): the
    /// registered URL must end in `?secret=<secret>` (or the client sends the
    /// `X-Relay-Workflow-Secret` header). Others get 401 before the upgrade. The value is
    /// compared in constant time and never logged.
    pub fn secret(mut self, secret: impl Into<String>) -> Self {
        self.settings.secret = Some(secret.into());
        self
    }

    /// Most concurrent sessions (default 10 000; env `MAX_SESSIONS`). Beyond it, new
    /// upgrades get 503 before upgrading.
    pub fn max_sessions(mut self, sessions: usize) -> Self {
        self.settings.max_sessions = Some(sessions);
        self
    }

    /// How long a client may take to send its HTTP request headers, and then, once the
    /// WebSocket is open, its first event (default 30 s; env `FIRST_EVENT_TIMEOUT_SECS`).
    /// A connection that is too slow is dropped (headers) or closed with 1008 (event).
    pub fn first_event_timeout(mut self, timeout: Duration) -> Self {
        self.settings.first_event_timeout = Some(timeout);
        self
    }

    /// Most requests one session may have awaiting a response (default 1000; env
    /// `MAX_PENDING_REQUESTS`). One more fails at once with [`Error::TooManyPending`].
    ///
    /// [`Error::TooManyPending`]: crate::Error::TooManyPending
    pub fn max_pending_requests(mut self, requests: usize) -> Self {
        self.settings.max_pending_requests = Some(requests);
        self
    }

    /// Most events one session may have waiting while its handler for an earlier event is
    /// still running (default 256; env `MAX_QUEUED_EVENTS`). One more closes the session with
    /// 1008 and a log line naming the running handler: a handler that never returns holds up
    /// every event behind it.
    pub fn max_queued_events(mut self, events: usize) -> Self {
        self.settings.max_queued_events = Some(events);
        self
    }

    /// Bytes buffered for all peers together (default 64 MiB; env `MAX_BUFFERED_BYTES`):
    /// messages arriving over several reads, events waiting for a busy handler and frames
    /// waiting for a peer that does not read. When it is spent, sessions in the middle of a
    /// message wait for room (up to 10 s, then 1013) and a session whose handler already
    /// has events waiting is closed with 1013. At least the largest message
    /// ([`max_message_size`](Self::max_message_size)).
    pub fn max_buffered_bytes(mut self, bytes: usize) -> Self {
        self.settings.max_buffered_bytes = Some(bytes);
        self
    }

    /// Most connections that have not started a session (default 1024; env
    /// `MAX_CONNECTING`): reading their request head, or upgraded and waiting for their
    /// first event. When all places are taken, a new connection takes the oldest one's, which
    /// is closed (1013 if it was upgraded). Relay sends its first event right behind the
    /// upgrade, so its connections hold a place for a round trip; connections that send
    /// nothing can hold these places, never the sessions' ([`max_sessions`](Self::max_sessions)).
    pub fn max_connecting(mut self, connections: usize) -> Self {
        self.settings.max_connecting = Some(connections);
        self
    }

    /// Bytes per second one session reads on average (default 1 MiB/s; env
    /// `MAX_READ_BYTES_PER_SEC`; 0 for no limit). A session may first read one largest
    /// message ([`max_message_size`](Self::max_message_size)) at full speed; beyond that,
    /// reading waits for the average to come down (a warning says so, once per session).
    /// A peer streaming large messages then costs the server a small share of a core, and
    /// new sessions keep starting at their usual pace.
    pub fn max_read_rate(mut self, bytes_per_sec: usize) -> Self {
        self.settings.max_read_rate = Some(bytes_per_sec);
        self
    }

    #[cfg(feature = "tls")]
    /// Serve https/wss directly with this PEM certificate chain and private key (env
    /// `TLS_CERT_FILE`, `TLS_KEY_FILE`), for hosts where nothing terminates TLS in front of
    /// the app. Not for Heroku, whose router already does. The files are read when the
    /// server starts, which fails with a message naming the file at fault.
    pub fn tls(mut self, cert_file: impl Into<PathBuf>, key_file: impl Into<PathBuf>) -> Self {
        self.settings.tls = Some((cert_file.into(), key_file.into()));
        self
    }

    #[cfg(feature = "keep-awake")]
    /// Request `<url>/healthz` about every `interval` (jittered) so that an eco dyno does not
    /// sleep (env `KEEP_AWAKE_URL`, `KEEP_AWAKE_INTERVAL_SECS`). Off by default.
    pub fn keep_awake(mut self, url: impl Into<String>, interval: Duration) -> Self {
        self.settings.keep_awake = Some((url.into(), interval));
        self
    }

    /// The port [`serve`](Self::serve) binds on `0.0.0.0` (default 8080; env `PORT`).
    pub fn port(mut self, port: u16) -> Self {
        self.settings.port = Some(port);
        self
    }

    /// Fill every setting not set on this builder from the environment variables of
    /// [`SETTINGS`] (`PORT`, `WORKFLOW_SECRET`, `MAX_SESSIONS`, …), and note whether this is
    /// a Heroku dyno (`DYNO`), where a missing secret is a warning. This is the only place
    /// the server reads the environment: the builder, [`serve_with`](Self::serve_with),
    /// [`router`](Self::router) and [`into_parts`](Self::into_parts) read nothing.
    ///
    /// ```no_run
    /// # use relay_workflow::prelude::*;
    /// # async fn f(app: WorkflowServer) -> Result<(), relay_workflow::ServeError> {
    /// app.settings_from_env()?.serve().await
    /// # }
    /// ```
    ///
    /// # Errors
    /// A variable with a value the server cannot use ([`ServeError::Port`],
    /// [`ServeError::Env`], [`ServeError::Tls`] for half a TLS pair, or TLS files when the
    /// `tls` feature is off). A variable of another feature this build lacks
    /// (`KEEP_AWAKE_URL`) is a warning naming the feature to enable.
    pub fn settings_from_env(mut self) -> Result<Self, ServeError> {
        let env = Settings::from_lookup(|name| std::env::var(name).ok())?;
        self.settings = self.settings.or(env);
        self.from_env = true;
        Ok(self)
    }

    /// A server with no workflows yet whose settings come from the environment:
    /// `WorkflowServer::new().settings_from_env()`.
    ///
    /// # Errors
    /// As [`settings_from_env`](Self::settings_from_env).
    pub fn from_env() -> Result<Self, ServeError> {
        Self::new().settings_from_env()
    }

    /// The workflow paths, with a leading slash (`/` for the default workflow).
    pub fn paths(&self) -> Vec<String> {
        let mut paths: Vec<String> = self.routes.iter().map(|r| format!("/{}", r.path)).collect();
        if self.default.is_some() {
            paths.insert(0, "/".to_owned());
        }
        paths
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
        let s = self.settings;
        let max_message_size = s.max_message_size.unwrap_or(DEFAULT_MAX_MESSAGE_SIZE);
        let mut budget = s.max_buffered_bytes.unwrap_or(DEFAULT_MAX_BUFFERED_BYTES);
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
            ping_interval: s.ping_interval.unwrap_or(DEFAULT_PING_INTERVAL),
            max_message_size,
            secret: s.secret.map(|s| Arc::from(s.into_bytes())),
            max_sessions: s.max_sessions.unwrap_or(DEFAULT_MAX_SESSIONS),
            first_event_timeout: s.first_event_timeout.unwrap_or(DEFAULT_FIRST_EVENT_TIMEOUT),
            max_pending: s
                .max_pending_requests
                .unwrap_or(DEFAULT_MAX_PENDING_REQUESTS),
            max_queued_events: s.max_queued_events.unwrap_or(DEFAULT_MAX_QUEUED_EVENTS),
            budget: Arc::new(Budget::new(budget)),
            connecting: Connecting::new(s.max_connecting.unwrap_or(DEFAULT_MAX_CONNECTING)),
            read_rate: s.max_read_rate.unwrap_or(DEFAULT_MAX_READ_BYTES_PER_SEC),
            refusals: Refusals::default(),
        });
        let mut router = Router::new().route("/healthz", get(routes::health));
        let mut fast = HashMap::new();
        for route in self.routes {
            let route = Arc::new(route);
            fast.insert(format!("/{}", route.path), route.clone());
            fast.insert(format!("/{}/", route.path), route.clone());
            let endpoint = {
                let route = route.clone();
                move |state, request| routes::endpoint(state, route, request)
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
                    any(move |state, request| routes::endpoint(state, route, request)),
                );
            }
            None => router = router.route("/", get(routes::index)),
        }
        let router = router.fallback(routes::not_found).with_state(app.clone());
        let fast = Arc::new(FastPath { app, routes: fast });
        (router, handle, fast)
    }

    /// The axum router alone (see [`into_parts`](Self::into_parts) for shutdown control).
    pub fn router(self) -> Router {
        self.into_parts().0
    }

    /// Serve as Heroku expects: bind `0.0.0.0` on the port setting (`PORT`, default 8080),
    /// serve until SIGTERM or SIGINT, then drain. A second SIGTERM or SIGINT exits the
    /// process at once (status 143 or 130), without draining. As it returns, the lines
    /// [`init_logging`](crate::init_logging) has queued get up to 1 s to be written.
    ///
    /// Call [`settings_from_env`](Self::settings_from_env) first to take the settings from
    /// the environment, as an app on Heroku does. A server that has not done so reads them
    /// here, once, so that `app().serve()` keeps Heroku's contract.
    pub async fn serve(self) -> Result<(), ServeError> {
        let server = if self.from_env {
            self
        } else {
            self.settings_from_env()?
        };
        let addr = SocketAddr::from(([0, 0, 0, 0], server.settings.port.unwrap_or(DEFAULT_PORT)));
        let listener = listener::bind(addr).map_err(|source| ServeError::Bind { addr, source })?;
        let result = server
            .serve_with(listener, shutdown::shutdown_signal())
            .await;
        // The log lines still queued get a bounded time to be written.
        crate::logging::flush(crate::logging::EXIT_FLUSH).await;
        result
    }

    /// Serve on an already bound listener until `shutdown` completes, then drain sessions.
    /// Reads nothing from the environment: the settings are the builder's (and, if it was
    /// called, [`settings_from_env`](Self::settings_from_env)'s).
    pub async fn serve_with<F>(self, listener: TcpListener, shutdown: F) -> Result<(), ServeError>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let server = self;
        let settings = &server.settings;
        settings.check()?;
        #[cfg(feature = "tls")]
        let tls = match &settings.tls {
            Some((cert, key)) => Some(tls::load_tls(cert, key)?),
            None => None,
        };
        #[cfg(not(feature = "tls"))]
        let tls: Option<Acceptor> = None;
        let local = listener.local_addr()?;
        let scheme = if tls.is_some() { "wss" } else { "ws" };
        info!(
            "listening on {local}{}",
            if tls.is_some() { " (TLS)" } else { "" }
        );
        let query = if settings.secret.is_some() {
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
        if settings.secret.is_some() {
            info!("WORKFLOW_SECRET is set: upgrades without it get 401");
        } else if settings.on_heroku {
            warn!("{NO_SECRET_ON_HEROKU}");
        } else {
            info!("{NO_SECRET}");
        }
        tracing::debug!("serving {scheme}:// on {local}");
        let deadline = settings
            .shutdown_deadline
            .unwrap_or(DEFAULT_SHUTDOWN_DEADLINE);
        let header_timeout = settings
            .first_event_timeout
            .unwrap_or(DEFAULT_FIRST_EVENT_TIMEOUT);
        #[cfg(feature = "keep-awake")]
        let keep_awake = settings.keep_awake.clone();
        let (router, handle, fast) = server.assemble();
        #[cfg(feature = "keep-awake")]
        if let Some((url, interval)) = keep_awake {
            tokio::spawn(
                keep_awake::keep_awake_loop(url, interval, handle.shutdown.clone())
                    .in_current_span(),
            );
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
        let accepting = tokio::spawn(
            listener::accept_loop(
                listener,
                router,
                fast,
                tls,
                header_timeout,
                handle.shutdown.clone(),
                connections.clone(),
            )
            .in_current_span(),
        );
        if let Err(e) = accepting.await {
            warn!("the accept loop ended abnormally: {e}");
        }
        handle.drain(deadline).await;
        connections.close();
        if tokio::time::timeout(listener::HTTP_CLOSE_WAIT, connections.wait())
            .await
            .is_err()
        {
            tracing::debug!("some HTTP connections were still open at exit");
        }
        info!("shutdown complete");
        Ok(())
    }
}

/// What the accept loop needs to take WebSocket upgrades itself.
struct FastPath {
    app: Arc<App>,
    /// Every path a workflow answers on (`/p`, `/p/`, and `/` for a default workflow).
    routes: HashMap<String, Arc<Route>>,
}

/// The state both upgrade paths and the pages share: the resolved settings, the session
/// count and shutdown handle, and the budgets.
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
}
