//! The axum side: maps workflow paths to workflows and keeps Heroku's contract.
//!
//! * binds `0.0.0.0:$PORT` and logs the bound address and every workflow path;
//! * answers the WebSocket upgrade at once (the router allows 30 s for the 101);
//! * pings every session (25 s by default, well under the router's 55 s idle window) and
//!   closes a peer that stops answering;
//! * a browser GET on a workflow path gets a readable 426 page naming the wss:// URL to
//!   register (it also wakes a sleeping dyno); unknown paths get 404 before any upgrade;
//! * `GET /healthz` reports version, workflow paths and live sessions;
//! * on SIGTERM or SIGINT it stops accepting, lets running sessions finish and closes the
//!   rest with 1001 when the shutdown deadline (25 s by default, under Heroku's 30 s) is up.

use crate::session::{self, SessionContext};
use crate::workflow::Workflow;
use axum::extract::ws::{rejection::WebSocketUpgradeRejection, WebSocketUpgrade};
use axum::extract::State;
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use axum::serve::ListenerExt;
use axum::{Json, Router};
use std::future::{Future, IntoFuture};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};

/// Default interval between WebSocket pings.
pub const DEFAULT_PING_INTERVAL: Duration = Duration::from_secs(25);
/// Default time running sessions get to finish after SIGTERM/SIGINT.
pub const DEFAULT_SHUTDOWN_DEADLINE: Duration = Duration::from_secs(25);
/// Default largest incoming message (speech events can carry base64 audio).
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 8 * 1024 * 1024;
/// Default interval of the keep-awake request.
pub const DEFAULT_KEEP_AWAKE_INTERVAL: Duration = Duration::from_secs(25 * 60);
/// After the deadline's 1001 close frames, how long sessions get to finish closing.
const CLOSE_GRACE: Duration = Duration::from_secs(3);
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
    workflow: Workflow,
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
}

impl std::fmt::Debug for WorkflowServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkflowServer")
            .field(
                "paths",
                &self.routes.iter().map(|r| &*r.path).collect::<Vec<_>>(),
            )
            .field("default", &self.default.is_some())
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
            workflow,
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

    /// Largest incoming message in bytes (default 8 MiB).
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.max_message_size = Some(bytes);
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
                warn!("SHUTDOWN_DEADLINE_SECS is {deadline:?}: Heroku kills the process 30 s after SIGTERM");
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
    pub fn into_parts(self) -> (Router, ServerHandle) {
        let handle = ServerHandle {
            shutdown: CancellationToken::new(),
            force_close: CancellationToken::new(),
            live: Arc::new(AtomicUsize::new(0)),
            tracker: TaskTracker::new(),
        };
        let paths = self.paths();
        let app = Arc::new(App {
            handle: handle.clone(),
            version: self
                .version
                .unwrap_or_else(|| env!("CARGO_PKG_VERSION").to_owned()),
            paths: paths.clone(),
            ping_interval: self.ping_interval.unwrap_or(DEFAULT_PING_INTERVAL),
            max_message_size: self.max_message_size.unwrap_or(DEFAULT_MAX_MESSAGE_SIZE),
        });
        let mut router = Router::new().route("/healthz", get(health));
        for route in self.routes {
            let route = Arc::new(route);
            let endpoint = {
                let route = route.clone();
                move |state, method, headers, ws| endpoint(state, route, method, headers, ws)
            };
            router = router
                .route(&format!("/{}", route.path), any(endpoint.clone()))
                .route(&format!("/{}/", route.path), any(endpoint));
        }
        match self.default {
            Some(workflow) => {
                let route = Arc::new(Route {
                    path: "".into(),
                    workflow,
                });
                router = router.route(
                    "/",
                    any(move |state, method, headers, ws| {
                        endpoint(state, route, method, headers, ws)
                    }),
                );
            }
            None => router = router.route("/", get(index)),
        }
        let router = router.fallback(not_found).with_state(app);
        (router, handle)
    }

    /// The axum router alone (see [`into_parts`](Self::into_parts) for shutdown control).
    pub fn router(self) -> Router {
        self.into_parts().0
    }

    /// Read `PORT` (default 8080), bind `0.0.0.0`, and serve until SIGTERM or SIGINT.
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
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| ServeError::Bind { addr, source })?;
        server.serve_with(listener, shutdown_signal()).await
    }

    /// Serve on an already bound listener until `shutdown` completes, then drain sessions.
    /// Settings not set on the builder are read from the environment, as in `serve()`.
    pub async fn serve_with<F>(self, listener: TcpListener, shutdown: F) -> Result<(), ServeError>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let server = self.apply_env()?;
        let local = listener.local_addr()?;
        info!("listening on {local}");
        for path in server.paths() {
            info!("workflow at {path}: register wss://<your-app-host>{path} with Relay");
        }
        let deadline = server
            .shutdown_deadline
            .unwrap_or(DEFAULT_SHUTDOWN_DEADLINE);
        let keep_awake = server.keep_awake.clone();
        let (router, handle) = server.into_parts();
        if let Some((url, interval)) = keep_awake {
            tokio::spawn(keep_awake_loop(url, interval, handle.shutdown.clone()));
        }
        let stop = handle.shutdown.clone();
        tokio::spawn(async move {
            shutdown.await;
            stop.cancel();
        });
        let graceful = handle.shutdown.clone();
        let mut http = tokio::spawn(
            // Small frames each way: without TCP_NODELAY, Nagle's algorithm and delayed ACKs
            // add about 40 ms to every request/response round trip.
            axum::serve(
                listener.tap_io(|tcp| {
                    if let Err(e) = tcp.set_nodelay(true) {
                        tracing::debug!("cannot set TCP_NODELAY: {e}");
                    }
                }),
                router,
            )
            .with_graceful_shutdown(async move { graceful.cancelled().await })
            .into_future(),
        );
        tokio::select! {
            result = &mut http => {
                // The HTTP server ended before any shutdown signal: report why.
                handle.shutdown.cancel();
                handle.drain(deadline).await;
                return match result {
                    Ok(r) => r.map_err(ServeError::Io),
                    Err(e) => Err(ServeError::Io(std::io::Error::other(e))),
                };
            }
            _ = handle.shutdown.cancelled() => {}
        }
        handle.drain(deadline).await;
        http.abort();
        info!("shutdown complete");
        Ok(())
    }
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
    /// remaining ones with 1001 and give them a few seconds to close.
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
            if tokio::time::timeout(CLOSE_GRACE, self.tracker.wait())
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
}

async fn endpoint(
    State(app): State<Arc<App>>,
    route: Arc<Route>,
    method: Method,
    headers: HeaderMap,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let ws = match ws {
        Ok(ws) => ws,
        Err(_) if method == Method::GET || method == Method::HEAD => {
            return upgrade_required(&route.path, &headers);
        }
        Err(_) => {
            return (
                StatusCode::METHOD_NOT_ALLOWED,
                [(header::ALLOW, "GET")],
                "A Relay workflow endpoint accepts only a WebSocket upgrade (GET).\n",
            )
                .into_response();
        }
    };
    if app.handle.is_shutting_down() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::RETRY_AFTER, "5")],
            "This server is shutting down; Relay will retry on another dyno.\n",
        )
            .into_response();
    }
    let ctx = SessionContext {
        path: route.path.clone(),
        ping_interval: app.ping_interval,
        force_close: app.handle.force_close.clone(),
        live: app.handle.live.clone(),
    };
    let workflow = route.workflow.clone();
    let tracker = app.handle.tracker.clone();
    // A small read buffer (tungstenite allocates and fills 128 KiB per connection by default)
    // keeps a parked session cheap; longer messages still arrive whole, in more reads.
    ws.max_message_size(app.max_message_size)
        .max_frame_size(app.max_message_size)
        .read_buffer_size(READ_BUFFER_SIZE)
        .on_failed_upgrade(|e| warn!("WebSocket upgrade failed: {e}"))
        .on_upgrade(move |socket| tracker.track_future(session::run(socket, workflow, ctx)))
}

/// Bytes read from a WebSocket at a time (per connection).
const READ_BUFFER_SIZE: usize = 4 * 1024;

fn upgrade_required(path: &str, headers: &HeaderMap) -> Response {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("<your-app-host>");
    let local =
        host.starts_with("localhost") || host.starts_with("127.") || host.starts_with("[::1]");
    let mut body = format!(
        "This is a Relay workflow endpoint: it speaks WebSocket, not plain HTTP.\n\
         Relay connects here when the workflow is triggered.\n\n\
         Register this URL with Relay:\n\n    wss://{host}/{path}\n\n\
         for example:\n\n    relay workflow:create:phrase --name my-workflow --trigger \"hello\" \\\n        --uri wss://{host}/{path} --install-all\n\n\
         (Opening this page also wakes a sleeping dyno.)\n"
    );
    if local {
        body.push_str(&format!(
            "\nThis looks like a local run: try it with the simulator:\n\n    cargo sim ws://{host}/{path} --say Alice\n"
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

/// Completes on SIGTERM (Heroku) or SIGINT (Ctrl-C, `heroku local`).
async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => info!("SIGINT received: shutting down"),
        _ = term => info!("SIGTERM received: shutting down"),
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
