//! Load mode: many concurrent simulated Relay sessions against one workflow URL.
//!
//! [`run`] opens [`LoadConfig::concurrency`] sessions at a time, each one playing Relay for a
//! hello-style conversation: it sends the start event and answers every request the way the
//! [`AutoResponder`](relay_workflow::testing::AutoResponder) would (interaction lifecycle, prompt and speech
//! events), with one lean task per session, until the workflow terminates. It is what the
//! `relay-load` command runs.
//!
//! What it measures (all on the load generator's clock):
//!
//! * **request latency** — for every request frame the workflow sends, the time from the
//!   last frame the generator wrote on that connection (the one that let the workflow go
//!   on: the start event, a response, an event) to the arrival of the request. This is the
//!   server's turnaround as Relay sees it.
//! * **session latency** — from the start of the TCP connect to the arrival of the
//!   `terminate` request.
//! * **sessions/s** — completed sessions divided by the wall time of the run.
//! * with [`LoadConfig::pid`], the server process's resident memory (`VmRSS` of
//!   `/proc/<pid>/status`) and CPU time (`utime + stime` of `/proc/<pid>/stat`) before and
//!   after the run, giving CPU-seconds per 1,000 completed sessions.
//!
//! In [`park`](LoadConfig::park) mode each session stops at its first `listen`: the request
//! is acknowledged but no speech ever comes, so the workflow sits waiting. Once all sessions
//! are parked (or failed) and [`hold`](LoadConfig::hold) has passed, the server's memory is
//! read, which gives the memory per parked session; then every connection is closed.
//!
//! In [`fair`](LoadConfig::fair) mode the events that follow a response (prompt events after
//! `say`, speech after `listen`, lifecycle events after `start_interaction`/`end_interaction`)
//! are sent only after a WebSocket ping/pong round trip that follows the response. Some SDKs
//! (relay-js) register their wait for such an event only after they have processed the
//! response, and would miss an event sent in the same burst.
//!
//! How the sessions are driven, so that the generator itself costs little: each session is
//! one TCP connection (Nagle's algorithm off) on which the generator speaks WebSocket
//! itself, with buffers that each of the `concurrency` workers reuses for all its
//! sessions. The host is resolved once per run. The follow-up events of a response go out
//! in one write with it (in fair mode: the response and the ping in one write, the events
//! in the next).
//!
//! A frame's arrival is when the kernel received the bytes that completed it (the socket's
//! receive timestamp, `SO_TIMESTAMPNS`, on Linux over `ws://`); elsewhere, and over
//! `wss://`, it is when the read that completed it returned. With hundreds of sessions on
//! one core, the generator often reads a frame some milliseconds after it came in, and
//! that wait is the generator's, not the server's. Every server loaded is measured the
//! same way.

use relay_workflow::testing::interaction_urn;
use relay_workflow::ws::{self, Message, OpCode};
use rustls::pki_types::ServerName;
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::future::Future;
use std::marker::PhantomData;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::{watch, Notify};
use tokio::time::Instant;
use tokio_rustls::TlsConnector;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::handshake::client::generate_key;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;

/// When a load run stops starting new sessions.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Limit {
    /// After this many sessions have been started in total.
    Sessions(u64),
    /// After this much time (sessions running at the end are finished).
    Duration(Duration),
}

/// What a load run does; see the [module docs](self).
#[derive(Debug, Clone)]
pub struct LoadConfig {
    /// The workflow's WebSocket URL (`ws://…`).
    pub url: String,
    /// How many sessions run at the same time (at least 1).
    pub concurrency: usize,
    /// When to stop starting sessions (ignored in park mode, which opens `concurrency`).
    pub limit: Limit,
    /// What the device user says at each `listen`.
    pub say: String,
    /// The value answered to every `get_var` (`None`: an empty answer, i.e. unset).
    pub var_value: Option<String>,
    /// Send follow-up events only after a ping/pong round trip following the response.
    pub fair: bool,
    /// Open `concurrency` sessions that stop at `listen`, hold them, then close them.
    pub park: bool,
    /// In park mode, how long to wait after the last session parked before reading memory.
    pub hold: Duration,
    /// The bound on one session, from connect to the end of the conversation.
    pub session_timeout: Duration,
    /// The server's process id, for its memory and CPU time (Linux `/proc`).
    pub pid: Option<u32>,
}

impl LoadConfig {
    /// A run of `concurrency` concurrent sessions against `url` until `limit`, with the
    /// defaults: the user says "Alice", not fair, not parked, 30 s per session, no pid.
    pub fn new(url: impl Into<String>, concurrency: usize, limit: Limit) -> Self {
        LoadConfig {
            url: url.into(),
            concurrency,
            limit,
            say: "Alice".to_owned(),
            var_value: None,
            fair: false,
            park: false,
            hold: Duration::from_secs(1),
            session_timeout: Duration::from_secs(30),
            pid: None,
        }
    }
}

/// Latency percentiles in milliseconds (nearest rank), with the number of samples.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Percentiles {
    /// Number of samples.
    pub count: u64,
    /// Median.
    pub p50_ms: f64,
    /// 90th percentile.
    pub p90_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// 99.9th percentile.
    pub p999_ms: f64,
    /// Largest sample.
    pub max_ms: f64,
}

impl Percentiles {
    /// Percentiles of samples given in microseconds (sorts them).
    pub fn from_micros(samples: &mut [u32]) -> Self {
        if samples.is_empty() {
            return Percentiles::default();
        }
        samples.sort_unstable();
        let rank = |p: f64| {
            let n = samples.len();
            let i = ((p * n as f64).ceil() as usize).clamp(1, n) - 1;
            f64::from(samples[i]) / 1000.0
        };
        Percentiles {
            count: samples.len() as u64,
            p50_ms: rank(0.50),
            p90_ms: rank(0.90),
            p99_ms: rank(0.99),
            p999_ms: rank(0.999),
            max_ms: rank(1.0),
        }
    }
}

/// Bucket bounds of a [`Histogram`], in microseconds: 1-2-5 steps from 50 µs to 10 s.
const HISTOGRAM_BOUNDS_US: [u32; 17] = [
    50, 100, 200, 500, 1_000, 2_000, 5_000, 10_000, 20_000, 50_000, 100_000, 200_000, 500_000,
    1_000_000, 2_000_000, 5_000_000, 10_000_000,
];

/// How latency samples spread over buckets (1-2-5 steps from 50 µs to 10 s, and one bucket
/// above), for the text report.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Histogram {
    /// Samples per bucket: bucket `i` holds those below [`Histogram::bound_us`]`(i)` and at or
    /// above the bound before it; the last bucket has no upper bound.
    pub counts: Vec<u64>,
}

impl Histogram {
    /// The histogram of samples given in microseconds, sorted ascending.
    pub fn from_sorted_micros(sorted: &[u32]) -> Self {
        let mut counts = vec![0; HISTOGRAM_BOUNDS_US.len() + 1];
        let mut from = 0;
        for (i, &bound) in HISTOGRAM_BOUNDS_US.iter().enumerate() {
            let to = from + sorted[from..].partition_point(|&s| s < bound);
            counts[i] = (to - from) as u64;
            from = to;
        }
        counts[HISTOGRAM_BOUNDS_US.len()] = (sorted.len() - from) as u64;
        Histogram { counts }
    }

    /// The upper bound of bucket `i` in microseconds (`None` for the last, unbounded, one).
    pub fn bound_us(i: usize) -> Option<u32> {
        HISTOGRAM_BOUNDS_US.get(i).copied()
    }

    /// One line per bucket from the first to the last that has samples: its range in
    /// milliseconds, its count and a bar (the fullest bucket gets `width` characters).
    pub fn to_lines(&self, width: usize) -> Vec<String> {
        let first = self.counts.iter().position(|&n| n > 0);
        let last = self.counts.iter().rposition(|&n| n > 0);
        let (Some(first), Some(last)) = (first, last) else {
            return Vec::new();
        };
        let most = self.counts.iter().copied().max().unwrap_or(1).max(1);
        let ms = |us: u32| {
            let ms = f64::from(us) / 1000.0;
            if ms < 1.0 {
                format!("{ms:.2}")
            } else {
                format!("{ms:.0}")
            }
        };
        (first..=last)
            .map(|i| {
                let n = self.counts[i];
                let range = match (
                    i.checked_sub(1).and_then(Histogram::bound_us),
                    Histogram::bound_us(i),
                ) {
                    (None, Some(hi)) => format!("< {}", ms(hi)),
                    (Some(lo), Some(hi)) => format!("{}-{}", ms(lo), ms(hi)),
                    (Some(lo), None) => format!("≥ {}", ms(lo)),
                    (None, None) => String::new(),
                };
                // At least one character for a bucket that has any sample.
                let len = (n as u128 * width as u128).div_ceil(u128::from(most)) as usize;
                format!("{range:>12} ms {n:>9} {}", "█".repeat(len))
            })
            .collect()
    }
}

/// How a run is going, handed to the callback of [`run_with_progress`] once a second.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Progress {
    /// Time since the run started.
    pub elapsed: Duration,
    /// Sessions that ended well so far (park mode: that parked).
    pub completed: u64,
    /// Sessions that failed so far.
    pub failed: u64,
    /// Completed sessions per second over the last second.
    pub rate: f64,
    /// Park mode.
    pub park: bool,
}

impl Progress {
    /// One line: `relay-load: 3 s  12345 sessions done (4101.0/s), 0 failed`.
    pub fn to_text(&self) -> String {
        let done = if self.park { "parked" } else { "done" };
        format!(
            "relay-load: {:.0} s  {} sessions {done} ({:.1}/s), {} failed",
            self.elapsed.as_secs_f64(),
            self.completed,
            self.rate,
            self.failed
        )
    }
}

/// The server process's resources around a run (from `/proc`).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ServerUsage {
    /// The process id.
    pub pid: u32,
    /// Resident memory before the run, KiB.
    pub rss_before_kib: u64,
    /// Resident memory at the end of the run (park mode: while all sessions are parked), KiB.
    pub rss_after_kib: u64,
    /// Peak resident memory of the process so far (`VmHWM`), KiB.
    pub rss_peak_kib: u64,
    /// User + system CPU time the server spent during the run, seconds.
    pub cpu_s: f64,
    /// `cpu_s` per 1,000 completed sessions (0 when none completed).
    pub cpu_s_per_1000_sessions: f64,
    /// CPU time per request the server sent, microseconds (0 when none).
    pub cpu_us_per_request: f64,
    /// Park mode: growth of resident memory per parked session, KiB.
    pub rss_per_parked_session_kib: Option<f64>,
}

/// The outcome of a load run.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct LoadReport {
    /// The URL loaded.
    pub url: String,
    /// `"hello"` or `"park"`.
    pub mode: String,
    /// Sessions at a time.
    pub concurrency: usize,
    /// Whether follow-up events waited for a ping/pong round trip.
    pub fair: bool,
    /// Sessions started (connect attempted).
    pub sessions_started: u64,
    /// Sessions that reached `terminate` (park mode: that parked at `listen`).
    pub sessions_completed: u64,
    /// Sessions that failed (see `errors`).
    pub sessions_failed: u64,
    /// Wall time of the run, seconds (park mode: until every session parked or failed).
    pub elapsed_s: f64,
    /// Completed sessions per second of wall time.
    pub sessions_per_s: f64,
    /// Request frames received from the workflow.
    pub requests: u64,
    /// Request round trip as Relay sees it (see the module docs).
    pub request_latency: Percentiles,
    /// Connect → `terminate` (hello mode) or connect → `listen` (park mode).
    pub session_latency: Percentiles,
    /// Failed sessions by kind of failure.
    pub errors: BTreeMap<String, u64>,
    /// The server's resources, when a pid was given and `/proc` could be read.
    pub server: Option<ServerUsage>,
    /// How the request latency spread (text report only: not in the JSON).
    #[serde(skip)]
    pub request_histogram: Histogram,
}

impl LoadReport {
    /// The report as aligned human-readable lines.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "relay-load {} mode against {} (concurrency {}{})",
            self.mode,
            self.url,
            self.concurrency,
            if self.fair { ", fair" } else { "" }
        );
        let _ = writeln!(
            s,
            "sessions     {} started, {} completed, {} failed in {:.2} s",
            self.sessions_started, self.sessions_completed, self.sessions_failed, self.elapsed_s
        );
        let _ = writeln!(s, "throughput   {:.1} sessions/s", self.sessions_per_s);
        let line = |s: &mut String, name: &str, p: &Percentiles| {
            if p.count == 0 {
                let _ = writeln!(s, "{name:<12} no samples");
                return;
            }
            let _ = writeln!(
                s,
                "{name:<12} p50 {:.3}  p90 {:.3}  p99 {:.3}  p99.9 {:.3}  max {:.3} ms  ({} samples)",
                p.p50_ms, p.p90_ms, p.p99_ms, p.p999_ms, p.max_ms, p.count
            );
        };
        line(&mut s, "request", &self.request_latency);
        line(&mut s, "session", &self.session_latency);
        let bars = self.request_histogram.to_lines(40);
        if !bars.is_empty() {
            let _ = writeln!(s, "request latency histogram");
            for bar in bars {
                let _ = writeln!(s, "  {bar}");
            }
        }
        if self.errors.is_empty() {
            let _ = writeln!(s, "errors       none");
        } else {
            for (kind, n) in &self.errors {
                let _ = writeln!(s, "errors       {n} × {kind}");
            }
        }
        if let Some(u) = &self.server {
            let _ = writeln!(
                s,
                "server pid {}  RSS {} KiB before, {} KiB after, peak {} KiB",
                u.pid, u.rss_before_kib, u.rss_after_kib, u.rss_peak_kib
            );
            let _ = writeln!(
                s,
                "server CPU   {:.3} s = {:.3} s per 1,000 sessions, {:.1} µs per request",
                u.cpu_s, u.cpu_s_per_1000_sessions, u.cpu_us_per_request
            );
            if let Some(per) = u.rss_per_parked_session_kib {
                let _ = writeln!(s, "parked       {per:.2} KiB per parked session");
            }
        }
        s
    }

    /// What to do when no session completed and every failure says the same thing the
    /// user can fix (a wrong path, a missing secret, no server), else `None`.
    pub fn hint(&self) -> Option<String> {
        if self.sessions_completed > 0 || self.errors.len() != 1 {
            return None;
        }
        let (kind, _) = self.errors.iter().next()?;
        let path = self.url.split(['?', '#']).next().unwrap_or_default();
        match kind.as_str() {
            "upgrade refused: HTTP 404" => Some(format!(
                "no session started: the server has no workflow at {path} (HTTP 404); check \
                 the path against the workflows it lists at /healthz"
            )),
            "upgrade refused: HTTP 401" => Some(
                "no session started: the server requires its secret (HTTP 401); end the URL \
                 with ?secret=<WORKFLOW_SECRET> (quote the URL in the shell)"
                    .to_owned(),
            ),
            k if k.starts_with("upgrade refused: HTTP ") => Some(format!(
                "no session started: the server answered {} instead of upgrading",
                &k["upgrade refused: ".len()..]
            )),
            "connect: ConnectionRefused" => Some(format!(
                "no session started: nothing is listening at {path}; is the server running, \
                 on this port?"
            )),
            _ => None,
        }
    }
}

/// A snapshot of a process's resources.
#[derive(Debug, Clone, Copy)]
pub(super) struct ProcSample {
    pub(super) rss_kib: u64,
    pub(super) hwm_kib: u64,
    pub(super) cpu_s: f64,
}

/// Read `/proc/<pid>/status` and `/proc/<pid>/stat`.
pub(super) fn sample(pid: u32) -> Option<ProcSample> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| -> Option<u64> {
        let line = status.lines().find(|l| l.starts_with(name))?;
        line[name.len()..]
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()
    };
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may contain spaces) start at field 3 (state);
    // utime and stime are fields 14 and 15, in clock ticks (100 per second on Linux).
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(ProcSample {
        rss_kib: field("VmRSS:")?,
        hwm_kib: field("VmHWM:").unwrap_or(0),
        cpu_s: (utime + stime) as f64 / 100.0,
    })
}

/// What the sessions of one run share.
struct Shared {
    config: LoadConfig,
    target: Target,
    /// The JSON of what the user says at `listen`.
    say: Vec<u8>,
    /// What every `get_var` response carries after its `_id` (`,"value":…` or nothing).
    var_answer: Vec<u8>,
    next: AtomicU64,
    /// Sessions that ended well and that failed so far (for the progress).
    done: AtomicU64,
    failed: AtomicU64,
    deadline: Option<Instant>,
    parked: AtomicUsize,
    settled: Notify,
    release: watch::Receiver<bool>,
}

/// Where the sessions connect, worked out once per run.
pub(super) struct Target {
    /// The server's addresses, tried in turn, or the failure every session reports.
    pub(super) addrs: Result<Vec<SocketAddr>, String>,
    /// For `wss://`: the TLS connector and the server's name.
    tls: Option<(TlsConnector, ServerName<'static>)>,
    /// The upgrade request up to the value of `Sec-WebSocket-Key`.
    pub(super) head: String,
}

impl Target {
    pub(super) async fn new(url: &str) -> Result<Target, String> {
        let bad = |e: &dyn std::fmt::Display| format!("bad URL {url:?}: {e}");
        let request = url.into_client_request().map_err(|e| bad(&e))?;
        let uri = request.uri();
        let secure = uri.scheme_str() == Some("wss");
        let authority = uri.authority().map_or("", |a| a.as_str());
        let host_header = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        let host = uri
            .host()
            .unwrap_or_default()
            .trim_start_matches('[')
            .trim_end_matches(']');
        let port = uri.port_u16().unwrap_or(if secure { 443 } else { 80 });
        let path = match uri.path_and_query().map_or("", |p| p.as_str()) {
            "" => "/",
            p => p,
        };
        let head = format!(
            "GET {path} HTTP/1.1\r\nHost: {host_header}\r\nConnection: Upgrade\r\n\
             Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: "
        );
        let tls = if secure {
            let mut roots = rustls::RootCertStore::empty();
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let config = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map_err(|e| format!("cannot set up TLS: {e}"))?
                .with_root_certificates(roots)
                .with_no_client_auth();
            let name = ServerName::try_from(host.to_owned()).map_err(|e| bad(&e))?;
            Some((TlsConnector::from(Arc::new(config)), name))
        } else {
            None
        };
        // Resolved once: every session connects to the same addresses.
        let addrs = match tokio::net::lookup_host((host, port)).await {
            Ok(addrs) => {
                let addrs: Vec<SocketAddr> = addrs.collect();
                if addrs.is_empty() {
                    Err(format!("connect: no address for {host}"))
                } else {
                    Ok(addrs)
                }
            }
            Err(e) => Err(format!("connect: cannot resolve {host}: {e}")),
        };
        Ok(Target { addrs, tls, head })
    }

    /// A connection to the server (TCP with Nagle's algorithm off, then TLS for `wss://`).
    async fn open(&self) -> Result<Stream, String> {
        let addrs = self.addrs.as_ref().map_err(Clone::clone)?;
        let mut last = None;
        let mut tcp = None;
        for addr in addrs {
            match TcpStream::connect(addr).await {
                Ok(s) => {
                    tcp = Some(s);
                    break;
                }
                Err(e) => last = Some(e),
            }
        }
        let Some(tcp) = tcp else {
            return Err(match last {
                Some(e) => format!("connect: {}", e.kind()),
                None => "connect: no address".to_owned(),
            });
        };
        tcp.set_nodelay(true)
            .map_err(|e| format!("connect: {}", e.kind()))?;
        #[cfg(target_os = "linux")]
        if self.tls.is_none() {
            // Without it, arrival times are taken when reads return.
            let _ = stamped::enable(&tcp);
        }
        match &self.tls {
            None => Ok(Stream::Plain(tcp)),
            Some((connector, name)) => match connector.connect(name.clone(), tcp).await {
                Ok(tls) => Ok(Stream::Tls(Box::new(tls))),
                Err(e) => Err(format!("connect: TLS: {e}")),
            },
        }
    }
}

/// What one worker measured.
#[derive(Default)]
struct Stats {
    started: u64,
    completed: u64,
    requests: u64,
    request_us: Vec<u32>,
    session_us: Vec<u32>,
    errors: BTreeMap<String, u64>,
}

impl Stats {
    /// Room for the samples of about `sessions` sessions (at most 1,024: past that, growing
    /// costs little, and many workers must not reserve much).
    fn with_room(sessions: u64) -> Stats {
        let sessions = usize::try_from(sessions.min(1024)).unwrap_or(1024);
        Stats {
            request_us: Vec::with_capacity(sessions * REQUESTS_PER_SESSION),
            session_us: Vec::with_capacity(sessions),
            ..Stats::default()
        }
    }

    fn merge(&mut self, other: Stats) {
        self.started += other.started;
        self.completed += other.completed;
        self.requests += other.requests;
        self.request_us.extend(other.request_us);
        self.session_us.extend(other.session_us);
        for (k, n) in other.errors {
            *self.errors.entry(k).or_default() += n;
        }
    }

    fn error(&mut self, kind: String) {
        *self.errors.entry(kind).or_default() += 1;
    }
}

/// Requests in one hello conversation, plus one to spare (for pre-sizing only).
const REQUESTS_PER_SESSION: usize = 8;

fn micros(d: Duration) -> u32 {
    u32::try_from(d.as_micros()).unwrap_or(u32::MAX)
}

/// Run the load described by `config` and report what happened.
///
/// Fails only when the URL cannot be used at all (not `ws://`/`wss://`, or no concurrency);
/// sessions that fail are counted in [`LoadReport::errors`] by kind.
pub async fn run(config: LoadConfig) -> Result<LoadReport, String> {
    run_with_progress(config, |_| {}).await
}

/// [`run`], calling `progress` once a second while the run goes on.
pub async fn run_with_progress(
    config: LoadConfig,
    mut progress: impl FnMut(&Progress),
) -> Result<LoadReport, String> {
    if config.concurrency == 0 {
        return Err("the concurrency must be at least 1".into());
    }
    if !(config.url.starts_with("ws://") || config.url.starts_with("wss://")) {
        return Err(format!(
            "{:?} is not a WebSocket URL: give ws://host:port/<workflow path>",
            config.url
        ));
    }
    let target = Target::new(&config.url).await?;
    let mut say = Vec::new();
    json_str(&mut say, &config.say);
    let mut var_answer = Vec::new();
    if let Some(v) = &config.var_value {
        var_answer.extend_from_slice(b",\"value\":");
        json_str(&mut var_answer, v);
    }
    let before = config.pid.and_then(sample);
    let started = Instant::now();
    let deadline = match config.limit {
        Limit::Duration(d) if !config.park => Some(started + d),
        _ => None,
    };
    let (release_tx, release) = watch::channel(false);
    let shared = Arc::new(Shared {
        target,
        say,
        var_answer,
        next: AtomicU64::new(0),
        done: AtomicU64::new(0),
        failed: AtomicU64::new(0),
        deadline,
        parked: AtomicUsize::new(0),
        settled: Notify::new(),
        release,
        config,
    });
    let n = shared.config.concurrency;
    let mut workers = Vec::with_capacity(n);
    for _ in 0..n {
        workers.push(tokio::spawn(worker(shared.clone())));
    }

    let config = &shared.config;
    let mut after = None;
    let mut elapsed = None;
    let mut ticker = Ticker::new(started);
    if config.park {
        // Wait (bounded) until every session has parked or failed, then let memory settle.
        let bound = started + config.session_timeout + Duration::from_secs(5);
        loop {
            let notified = shared.settled.notified();
            if shared.parked.load(Ordering::Acquire) >= n || Instant::now() >= bound {
                break;
            }
            if tokio::time::timeout_at(bound.min(ticker.next), notified)
                .await
                .is_err()
                && Instant::now() >= ticker.next
            {
                progress(&ticker.tick(&shared));
            }
        }
        elapsed = Some(started.elapsed());
        tokio::time::sleep(config.hold).await;
        after = config.pid.and_then(sample);
        let _ = release_tx.send(true);
    }
    let all = futures_util::future::join_all(workers);
    tokio::pin!(all);
    let joined = loop {
        tokio::select! {
            joined = &mut all => break joined,
            () = tokio::time::sleep_until(ticker.next) => progress(&ticker.tick(&shared)),
        }
    };
    let mut each = Vec::with_capacity(n);
    let mut failed_tasks = Vec::new();
    for w in joined {
        match w {
            Ok(s) => each.push(s),
            Err(e) => failed_tasks.push(format!("load task failed: {e}")),
        }
    }
    let mut stats = Stats {
        request_us: Vec::with_capacity(each.iter().map(|s| s.request_us.len()).sum()),
        session_us: Vec::with_capacity(each.iter().map(|s| s.session_us.len()).sum()),
        ..Stats::default()
    };
    for s in each {
        stats.merge(s);
    }
    for kind in failed_tasks {
        stats.error(kind);
    }
    let elapsed = elapsed.unwrap_or_else(|| started.elapsed());
    if !config.park {
        after = config.pid.and_then(sample);
    }
    let failed = stats.errors.values().sum();
    let server = match (config.pid, before, after) {
        (Some(pid), Some(b), Some(a)) => {
            let cpu_s = (a.cpu_s - b.cpu_s).max(0.0);
            Some(ServerUsage {
                pid,
                rss_before_kib: b.rss_kib,
                rss_after_kib: a.rss_kib,
                rss_peak_kib: a.hwm_kib,
                cpu_s,
                cpu_s_per_1000_sessions: if stats.completed > 0 {
                    cpu_s * 1000.0 / stats.completed as f64
                } else {
                    0.0
                },
                cpu_us_per_request: if stats.requests > 0 {
                    cpu_s * 1e6 / stats.requests as f64
                } else {
                    0.0
                },
                rss_per_parked_session_kib: (config.park && stats.completed > 0)
                    .then(|| (a.rss_kib as f64 - b.rss_kib as f64) / stats.completed as f64),
            })
        }
        _ => None,
    };
    let secs = elapsed.as_secs_f64();
    Ok(LoadReport {
        url: config.url.clone(),
        mode: if config.park { "park" } else { "hello" }.to_owned(),
        concurrency: n,
        fair: config.fair,
        sessions_started: stats.started,
        sessions_completed: stats.completed,
        sessions_failed: failed,
        elapsed_s: secs,
        sessions_per_s: if secs > 0.0 {
            stats.completed as f64 / secs
        } else {
            0.0
        },
        requests: stats.requests,
        request_latency: Percentiles::from_micros(&mut stats.request_us),
        // The samples are sorted now.
        request_histogram: Histogram::from_sorted_micros(&stats.request_us),
        session_latency: Percentiles::from_micros(&mut stats.session_us),
        errors: stats.errors,
        server,
    })
}

/// When the next progress is due, and the counts at the last one (for the rate).
struct Ticker {
    started: Instant,
    next: Instant,
    last: (Instant, u64),
}

impl Ticker {
    fn new(started: Instant) -> Self {
        Ticker {
            started,
            next: started + Duration::from_secs(1),
            last: (started, 0),
        }
    }

    /// The progress now; the next is due a second later.
    fn tick(&mut self, shared: &Shared) -> Progress {
        let now = Instant::now();
        let park = shared.config.park;
        let completed = if park {
            // Failed park sessions count as settled too.
            (shared.parked.load(Ordering::Acquire) as u64)
                .saturating_sub(shared.failed.load(Ordering::Relaxed))
        } else {
            shared.done.load(Ordering::Relaxed)
        };
        let secs = (now - self.last.0).as_secs_f64();
        let rate = if secs > 0.0 {
            completed.saturating_sub(self.last.1) as f64 / secs
        } else {
            0.0
        };
        self.last = (now, completed);
        self.next = now + Duration::from_secs(1);
        Progress {
            elapsed: now - self.started,
            completed,
            failed: shared.failed.load(Ordering::Relaxed),
            rate,
            park,
        }
    }
}

/// One of the `concurrency` workers: sessions one after another until the limit, all on
/// the same buffers.
async fn worker(shared: Arc<Shared>) -> Stats {
    let mut buffers = Buffers::new();
    if shared.config.park {
        let mut stats = Stats::with_room(1);
        stats.started = 1;
        let outcome = session(&shared, &mut buffers, &mut stats).await;
        if let Err(kind) = outcome {
            stats.error(kind);
            shared.failed.fetch_add(1, Ordering::Relaxed);
            // A failed session counts as settled so the run does not wait for it.
            shared.parked.fetch_add(1, Ordering::AcqRel);
            shared.settled.notify_one();
        }
        return stats;
    }
    let mut stats = match shared.config.limit {
        Limit::Sessions(m) => Stats::with_room(m.div_ceil(shared.config.concurrency as u64) + 1),
        Limit::Duration(_) => Stats::default(),
    };
    loop {
        match (shared.config.limit, shared.deadline) {
            (_, Some(deadline)) if Instant::now() >= deadline => break,
            (Limit::Sessions(m), _) if shared.next.fetch_add(1, Ordering::Relaxed) >= m => break,
            _ => {}
        }
        stats.started += 1;
        match session(&shared, &mut buffers, &mut stats).await {
            Ok(()) => shared.done.fetch_add(1, Ordering::Relaxed),
            Err(kind) => {
                stats.error(kind);
                shared.failed.fetch_add(1, Ordering::Relaxed)
            }
        };
    }
    stats
}

/// A string of an incoming frame, borrowed from the frame when it has no escapes.
struct Str<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Str<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(PhantomData<&'a str>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Str<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, s: &'de str) -> Result<Str<'a>, E> {
                Ok(Str(Cow::Borrowed(s)))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Str<'a>, E> {
                Ok(Str(Cow::Owned(s.to_owned())))
            }
            fn visit_string<E: de::Error>(self, s: String) -> Result<Str<'a>, E> {
                Ok(Str(Cow::Owned(s)))
            }
        }
        d.deserialize_str(V(PhantomData))
    }
}

/// The first element of a list of strings (the rest is skipped, nothing is collected).
#[derive(Default)]
struct First<'a>(Option<Str<'a>>);

impl<'de: 'a, 'a> Deserialize<'de> for First<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(PhantomData<&'a str>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = First<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a list of strings")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<First<'a>, A::Error> {
                let first = seq.next_element::<Str<'a>>()?;
                while seq.next_element::<de::IgnoredAny>()?.is_some() {}
                Ok(First(first))
            }
        }
        d.deserialize_seq(V(PhantomData))
    }
}

/// The fields of an incoming frame the load generator reads.
#[derive(Deserialize)]
struct Incoming<'a> {
    #[serde(rename = "_type", borrow)]
    kind: Str<'a>,
    #[serde(rename = "_id", borrow, default)]
    id: Option<Str<'a>>,
    #[serde(borrow, default)]
    name: Option<Str<'a>>,
    #[serde(rename = "_target", borrow, default)]
    target: Option<TargetIn<'a>>,
}

#[derive(Deserialize)]
struct TargetIn<'a> {
    #[serde(borrow, default)]
    uris: First<'a>,
}

/// Append `s` as a JSON string.
fn json_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    json_inner(out, s);
    out.push(b'"');
}

/// Append `s` as the inside of a JSON string (escaped, without the quotes).
fn json_inner(out: &mut Vec<u8>, s: &str) {
    if s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        out.extend_from_slice(s.as_bytes());
    } else {
        let quoted = serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_owned());
        out.extend_from_slice(&quoted.as_bytes()[1..quoted.len() - 1]);
    }
}

/// The device of every session.
pub(super) const DEVICE: &str = "urn:relay-resource:name:device:Bob";

/// The start event of every session.
pub(super) const START_EVENT: &[u8] = b"{\"_type\":\"wf_api_start_event\",\"trigger\":{\"type\":\"phrase\",\
\"args\":{\"phrase\":\"hello\",\"spillover\":\"\",\"source_uri\":\"urn:relay-resource:name:device:Bob\"}}}";

const LIFECYCLE_EVENT: &[u8] = b"{\"_type\":\"wf_api_interaction_lifecycle_event\",\"type\":\"";
const PROMPT_EVENT: &[u8] = b"{\"_type\":\"wf_api_prompt_event\",\"id\":";
const SPEECH_EVENT: &[u8] = b"{\"_type\":\"wf_api_speech_event\",\"request_id\":";
const STOP_EVENT: &[u8] = b"{\"_type\":\"wf_api_stop_event\",\"reason\":\"normal\"}";

/// The interaction URN of the last `start_interaction`, as JSON (the same name and device
/// come back in every session).
#[derive(Default)]
struct UrnCache {
    name: String,
    device: String,
    json: Vec<u8>,
}

impl UrnCache {
    fn get(&mut self, name: &str, device: &str) -> &[u8] {
        if self.json.is_empty() || self.name != name || self.device != device {
            name.clone_into(&mut self.name);
            device.clone_into(&mut self.device);
            self.json.clear();
            json_str(&mut self.json, &interaction_urn(name, device));
        }
        &self.json
    }
}

/// How much a read asks for at least.
const READ_CHUNK: usize = 4 * 1024;
/// The largest message accepted from the server.
const MAX_MESSAGE: usize = 16 << 20;
/// The largest HTTP response head accepted in the upgrade.
const MAX_RESPONSE_HEAD: usize = 16 * 1024;
/// Buffers larger than this are given back between sessions.
const KEEP_CAPACITY: usize = 64 * 1024;

/// What the server sent, as far as a session cares.
#[derive(Debug, PartialEq)]
enum Got<'a> {
    Text(&'a str),
    Pong,
    Close,
}

/// The receiving side of a connection: the bytes of the last read, and the SDK's codec
/// (client side), which keeps what has arrived of an incomplete frame between reads.
pub(super) struct Reader {
    /// Bytes read: the response head during the upgrade, then the frames of one read;
    /// those not taken yet start at `pos`.
    pub(super) buf: Vec<u8>,
    pub(super) pos: usize,
    /// The frames of the server.
    pub(super) codec: ws::Reader,
    /// When the last read returned: the arrival time of the frames it completed.
    arrived: Instant,
}

impl Reader {
    pub(super) fn new() -> Reader {
        Reader {
            buf: Vec::with_capacity(READ_CHUNK),
            pos: 0,
            codec: ws::Reader::client(MAX_MESSAGE),
            arrived: Instant::now(),
        }
    }

    fn reset(&mut self) {
        self.buf.clear();
        self.buf.shrink_to(KEEP_CAPACITY);
        self.pos = 0;
        self.codec = ws::Reader::client(MAX_MESSAGE);
    }

    /// Read more bytes (at least [`READ_CHUNK`] of room), noting when they arrived: when
    /// the kernel received them if the source says, else now.
    async fn fill<S: Source>(&mut self, io: &mut S) -> std::io::Result<usize> {
        if self.pos > 0 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        self.buf.reserve(READ_CHUNK);
        let (n, stamp) = io.read_stamped(&mut self.buf).await?;
        let now = Instant::now();
        self.arrived = match stamp {
            // The kernel's clock is the wall clock: how long ago, subtracted from now.
            Some(at) => {
                let ago = std::time::SystemTime::now()
                    .duration_since(at)
                    .unwrap_or_default();
                now.checked_sub(ago).unwrap_or(now)
            }
            None => now,
        };
        Ok(n)
    }
}

/// A frame the server broke the protocol with, as a session's error.
pub(super) fn violation(v: &ws::Violation) -> String {
    match v {
        ws::Violation::TooBig { .. } => "read: message too long".to_owned(),
        v => format!("closed before terminate ({v})"),
    }
}

/// The sending side of a connection: frames built in place, masked as a client must.
struct Writer {
    /// Frames to write next.
    buf: Vec<u8>,
    /// Fair mode: the events waiting for the pong.
    held: Vec<u8>,
    /// The payload being built.
    payload: Vec<u8>,
    /// The state of the masking-key generator (xorshift64*).
    rng: u64,
}

impl Writer {
    fn new() -> Writer {
        let seed = getrandom::u64().unwrap_or_else(|_| {
            let t = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default();
            t.as_nanos() as u64
        });
        Writer {
            buf: Vec::with_capacity(1024),
            held: Vec::with_capacity(512),
            payload: Vec::with_capacity(512),
            rng: seed | 1,
        }
    }

    fn reset(&mut self) {
        for b in [&mut self.buf, &mut self.held, &mut self.payload] {
            b.clear();
            b.shrink_to(KEEP_CAPACITY);
        }
    }

    /// The payload buffer, emptied, for the next frame.
    fn begin(&mut self) -> &mut Vec<u8> {
        self.payload.clear();
        &mut self.payload
    }

    /// Frame the payload built since [`begin`](Self::begin), to be written next or (`held`)
    /// after the pong.
    fn frame(&mut self, opcode: OpCode, held: bool) {
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        let mask = ((x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 32) as u32).to_ne_bytes();
        let out = if held { &mut self.held } else { &mut self.buf };
        ws::encode_masked(opcode, &self.payload, mask, out);
    }
}

/// The buffers of one worker, reused by each of its sessions.
struct Buffers {
    reader: Reader,
    writer: Writer,
    urn: UrnCache,
}

impl Buffers {
    fn new() -> Buffers {
        Buffers {
            reader: Reader::new(),
            writer: Writer::new(),
            urn: UrnCache::default(),
        }
    }
}

/// One WebSocket connection (client side), on its worker's buffers.
struct Conn<'b, S> {
    io: S,
    rd: &'b mut Reader,
    wr: &'b mut Writer,
}

impl<S: Source + AsyncWrite> Conn<'_, S> {
    /// Write the frames built so far.
    async fn send(&mut self) -> std::io::Result<()> {
        let written = self.io.write_all(&self.wr.buf).await;
        self.wr.buf.clear();
        written?;
        self.io.flush().await
    }

    /// The opening handshake (RFC 6455 §4.1).
    async fn handshake(&mut self, head: &str) -> Result<(), String> {
        let key = generate_key();
        let buf = &mut self.wr.buf;
        buf.extend_from_slice(head.as_bytes());
        buf.extend_from_slice(key.as_bytes());
        buf.extend_from_slice(b"\r\n\r\n");
        self.send()
            .await
            .map_err(|e| format!("connect: {}", e.kind()))?;
        loop {
            if let Some(end) = self.rd.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                check_upgrade(&self.rd.buf[..end], &derive_accept_key(key.as_bytes()))?;
                // Whatever follows the head is the first frames.
                self.rd.pos = end + 4;
                return Ok(());
            }
            if self.rd.buf.len() > MAX_RESPONSE_HEAD {
                return Err("connect: the HTTP response head is too long".to_owned());
            }
            match self.rd.fill(&mut self.io).await {
                Ok(0) => return Err("connect: closed during the handshake".to_owned()),
                Ok(_) => {}
                Err(e) => return Err(format!("connect: {}", e.kind())),
            }
        }
    }

    /// Read until the server has sent at least one text message, pong or close, and hand
    /// each to `on` (with the time it arrived and the writer), in order, until `on` says
    /// to stop (`Ok(false)`: what follows in that read is dropped) or fails. Pings are
    /// answered here, binary messages skipped.
    async fn read(
        &mut self,
        mut on: impl FnMut(Got<'_>, &mut Writer, Instant) -> Result<bool, String>,
    ) -> Result<(), String> {
        loop {
            let Reader {
                buf,
                pos,
                codec,
                arrived,
            } = &mut *self.rd;
            let wr = &mut *self.wr;
            let (at, mut delivered, mut failed) = (*arrived, false, None);
            let fed = codec.feed(&mut buf[*pos..], |m| {
                let got = match m {
                    Message::Text(text) => Got::Text(text),
                    Message::Pong => Got::Pong,
                    Message::Close(..) => Got::Close,
                    Message::Binary(_) => return true,
                    Message::Ping(payload) => {
                        wr.begin().extend_from_slice(payload);
                        wr.frame(OpCode::Pong, false);
                        return true;
                    }
                };
                delivered = true;
                on(got, wr, at).unwrap_or_else(|e| {
                    failed = Some(e);
                    false
                })
            });
            buf.clear();
            *pos = 0;
            fed.map_err(|v| violation(&v))?;
            if let Some(e) = failed {
                return Err(e);
            }
            if delivered {
                return Ok(());
            }
            if !self.wr.buf.is_empty() {
                // Pongs.
                self.send().await.map_err(|e| format!("send: {e}"))?;
            }
            match self.rd.fill(&mut self.io).await {
                Ok(0) => {
                    return Err(
                        "closed before terminate (Connection reset without closing handshake)"
                            .to_owned(),
                    )
                }
                Ok(_) => {}
                Err(e) => return Err(format!("closed before terminate ({})", e.kind())),
            }
        }
    }

    /// Read until the server's close frame or the end of the connection.
    async fn drain(&mut self) {
        let mut closed = false;
        while !closed {
            let read = self.read(|got, _, _| {
                closed = got == Got::Close;
                Ok(!closed)
            });
            if read.await.is_err() {
                return;
            }
        }
    }

    /// Send a close frame, without waiting for the answer.
    async fn close(&mut self) -> std::io::Result<()> {
        self.wr.begin();
        self.wr.frame(OpCode::Close, false);
        self.send().await
    }
}

/// Check the server's answer to the upgrade request (status line and headers, without the
/// blank line).
pub(super) fn check_upgrade(head: &[u8], accept: &str) -> Result<(), String> {
    let head = std::str::from_utf8(head).map_err(|_| "connect: a response that is not HTTP")?;
    let mut lines = head.split("\r\n");
    let mut status = lines.next().unwrap_or_default().splitn(3, ' ');
    let code = match (status.next(), status.next()) {
        (Some(v), Some(code)) if v.starts_with("HTTP/") => code.parse::<u16>().ok(),
        _ => None,
    };
    match code {
        Some(101) => {}
        Some(code) => return Err(format!("upgrade refused: HTTP {code}")),
        None => return Err("connect: a response that is not HTTP".to_owned()),
    }
    let (mut upgrade, mut connection, mut accepted) = (false, false, false);
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let (name, value) = (name.trim(), value.trim());
        if name.eq_ignore_ascii_case("upgrade") {
            upgrade = value.eq_ignore_ascii_case("websocket");
        } else if name.eq_ignore_ascii_case("connection") {
            connection = value
                .split(',')
                .any(|t| t.trim().eq_ignore_ascii_case("upgrade"));
        } else if name.eq_ignore_ascii_case("sec-websocket-accept") {
            accepted = value == accept;
        }
    }
    if !upgrade {
        Err("connect: no \"Upgrade: websocket\" header in the response".to_owned())
    } else if !connection {
        Err("connect: no \"Connection: upgrade\" header in the response".to_owned())
    } else if !accepted {
        Err("connect: a wrong Sec-WebSocket-Accept in the response".to_owned())
    } else {
        Ok(())
    }
}

/// Where a session is in its conversation.
struct Talk {
    /// When the TCP connect started.
    t0: Instant,
    /// When the last frame that let the workflow go on was written.
    last_sent: Instant,
    /// Requests received in this session.
    requests: u64,
    /// How far the session got.
    phase: Phase,
}

/// How far a session got (which names a timeout).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Phase {
    /// Connecting, TLS, the upgrade.
    Connecting,
    /// The conversation.
    Talking,
    /// After `terminate`: the close.
    Closing,
}

/// What a frame led to.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Step {
    /// The answer (if any) is ready to be written; read on.
    Go,
    /// Park mode: the `listen` is answered and no speech will come.
    Parked,
    /// `terminate` arrived; the stop event and the close frame are ready to be written.
    Terminated,
}

/// Answer what the server sent (which `arrived` then) into the writer's buffers.
#[allow(clippy::too_many_arguments)]
fn answer(
    shared: &Shared,
    arrived: Instant,
    wr: &mut Writer,
    urn: &mut UrnCache,
    stats: &mut Stats,
    talk: &mut Talk,
    got: Got<'_>,
) -> Result<Step, String> {
    let text = match got {
        Got::Text(text) => text,
        Got::Pong => {
            if wr.buf.is_empty() {
                std::mem::swap(&mut wr.buf, &mut wr.held);
            } else {
                wr.buf.extend_from_slice(&wr.held);
                wr.held.clear();
            }
            return Ok(Step::Go);
        }
        Got::Close => return Err("closed before terminate".into()),
    };
    let frame: Incoming = serde_json::from_str(text)
        .map_err(|e| format!("protocol: frame is not a JSON message ({e})"))?;
    let Some(action) = frame
        .kind
        .0
        .strip_prefix("wf_api_")
        .and_then(|k| k.strip_suffix("_request"))
    else {
        return Err(format!("protocol: unexpected frame {}", frame.kind.0));
    };
    stats.requests += 1;
    talk.requests += 1;
    stats.request_us.push(micros(arrived - talk.last_sent));
    if action == "terminate" {
        stats.session_us.push(micros(arrived - talk.t0));
        stats.completed += 1;
        wr.begin().extend_from_slice(STOP_EVENT);
        wr.frame(OpCode::Text, false);
        wr.begin();
        wr.frame(OpCode::Close, false);
        return Ok(Step::Terminated);
    }
    let id = frame.id.as_ref().map_or("", |s| &s.0);
    let target = frame
        .target
        .as_ref()
        .and_then(|t| t.uris.0.as_ref())
        .map(|s| &*s.0);

    // The response.
    let p = wr.begin();
    p.extend_from_slice(b"{\"_type\":\"wf_api_");
    json_inner(p, action);
    p.extend_from_slice(b"_response\",\"_id\":");
    json_str(p, id);
    match action {
        "say" | "play" => {
            p.extend_from_slice(b",\"id\":");
            json_str(p, id);
        }
        "get_var" => p.extend_from_slice(&shared.var_answer),
        _ => {}
    }
    p.push(b'}');
    wr.frame(OpCode::Text, false);

    // The events that follow it: after a ping/pong round trip in fair mode.
    let held = shared.config.fair;
    let events = match action {
        "start_interaction" => {
            let name = frame.name.as_ref().map_or("hello", |s| &s.0);
            let uri = urn.get(name, target.unwrap_or(DEVICE));
            for kind in ["started", "resumed"] {
                let p = wr.begin();
                p.extend_from_slice(LIFECYCLE_EVENT);
                p.extend_from_slice(kind.as_bytes());
                p.extend_from_slice(b"\",\"source_uri\":");
                p.extend_from_slice(uri);
                p.push(b'}');
                wr.frame(OpCode::Text, held);
            }
            true
        }
        "say" | "play" => {
            for kind in ["started", "stopped"] {
                let p = wr.begin();
                p.extend_from_slice(PROMPT_EVENT);
                json_str(p, id);
                p.extend_from_slice(b",\"type\":\"");
                p.extend_from_slice(kind.as_bytes());
                p.extend_from_slice(b"\",\"source_uri\":");
                json_str(p, target.unwrap_or_default());
                p.push(b'}');
                wr.frame(OpCode::Text, held);
            }
            true
        }
        "listen" if shared.config.park => return Ok(Step::Parked),
        "listen" => {
            let p = wr.begin();
            p.extend_from_slice(SPEECH_EVENT);
            json_str(p, id);
            p.extend_from_slice(b",\"text\":");
            p.extend_from_slice(&shared.say);
            p.extend_from_slice(b",\"lang\":\"en-US\",\"source_uri\":");
            json_str(p, target.unwrap_or_default());
            p.push(b'}');
            wr.frame(OpCode::Text, held);
            true
        }
        "end_interaction" => {
            let p = wr.begin();
            p.extend_from_slice(LIFECYCLE_EVENT);
            p.extend_from_slice(b"ended\",\"source_uri\":");
            json_str(p, target.unwrap_or_default());
            p.push(b'}');
            wr.frame(OpCode::Text, held);
            true
        }
        _ => false,
    };
    if held && events {
        wr.begin();
        wr.frame(OpCode::Ping, false);
    }
    Ok(Step::Go)
}

/// Answer frames until the session terminates or parks.
async fn converse<S: Source + AsyncWrite>(
    shared: &Shared,
    conn: &mut Conn<'_, S>,
    urn: &mut UrnCache,
    stats: &mut Stats,
    talk: &mut Talk,
) -> Result<Step, String> {
    loop {
        let mut step = Step::Go;
        conn.read(|got, wr, arrived| {
            step = answer(shared, arrived, wr, urn, stats, talk, got)?;
            Ok(step == Step::Go)
        })
        .await?;
        if step == Step::Terminated {
            return Ok(step);
        }
        if !conn.wr.buf.is_empty() {
            conn.send().await.map_err(|e| format!("send: {e}"))?;
            talk.last_sent = Instant::now();
        }
        if step == Step::Parked {
            return Ok(step);
        }
    }
}

/// What a connection reads from: bytes, with the kernel's receive time where it has one.
trait Source: AsyncRead + Unpin {
    /// Read into the spare room of `buf`; also the wall-clock time the kernel received the
    /// last of these bytes, when known.
    fn read_stamped<'a>(
        &'a mut self,
        buf: &'a mut Vec<u8>,
    ) -> impl Future<Output = std::io::Result<(usize, Option<std::time::SystemTime>)>> + 'a {
        async move { self.read_buf(buf).await.map(|n| (n, None)) }
    }
}

#[cfg(test)]
impl Source for tokio::io::DuplexStream {}

impl Source for Stream {
    async fn read_stamped(
        &mut self,
        buf: &mut Vec<u8>,
    ) -> std::io::Result<(usize, Option<std::time::SystemTime>)> {
        match self {
            #[cfg(target_os = "linux")]
            Stream::Plain(tcp) => loop {
                tcp.readable().await?;
                match tcp.try_io(tokio::io::Interest::READABLE, || stamped::recv(tcp, buf)) {
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                    done => return done,
                }
            },
            #[cfg(not(target_os = "linux"))]
            Stream::Plain(tcp) => tcp.read_buf(buf).await.map(|n| (n, None)),
            Stream::Tls(tls) => tls.read_buf(buf).await.map(|n| (n, None)),
        }
    }
}

/// Kernel receive timestamps (`SO_TIMESTAMPNS`) on Linux, so that a frame's arrival is
/// when the kernel received it, not when the generator got round to reading it: with
/// hundreds of sessions on one core, the generator's own queue would otherwise count as
/// the server's latency.
#[cfg(target_os = "linux")]
mod stamped {
    use std::os::fd::AsRawFd;
    use std::time::{Duration, SystemTime};
    use tokio::net::TcpStream;

    /// Ask the kernel to timestamp what this socket receives.
    pub(super) fn enable(tcp: &TcpStream) -> std::io::Result<()> {
        let on: libc::c_int = 1;
        // SAFETY: a valid socket descriptor, and an option value of the size given.
        let r = unsafe {
            libc::setsockopt(
                tcp.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_TIMESTAMPNS,
                (&raw const on).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if r == 0 {
            Ok(())
        } else {
            Err(std::io::Error::last_os_error())
        }
    }

    /// One `recvmsg` into the spare room of `buf` (which must have some), with the
    /// timestamp the kernel attached, if any.
    pub(super) fn recv(
        tcp: &TcpStream,
        buf: &mut Vec<u8>,
    ) -> std::io::Result<(usize, Option<SystemTime>)> {
        let spare = buf.spare_capacity_mut();
        let mut iov = libc::iovec {
            iov_base: spare.as_mut_ptr().cast(),
            iov_len: spare.len(),
        };
        // Room for one control message holding a timespec, suitably aligned.
        let mut control = [0u64; 8];
        // SAFETY: an all-zero msghdr is a valid empty one.
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_iov = &raw mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = std::mem::size_of_val(&control) as _;
        // SAFETY: `msg` points at `iov` (the vector's spare capacity, which recvmsg writes at
        // most `iov_len` bytes into) and at `control`, both alive for the call.
        let n = unsafe { libc::recvmsg(tcp.as_raw_fd(), &raw mut msg, libc::MSG_DONTWAIT) };
        let Ok(n) = usize::try_from(n) else {
            return Err(std::io::Error::last_os_error());
        };
        // SAFETY: recvmsg initialized the first `n` bytes of the spare capacity.
        unsafe { buf.set_len(buf.len() + n) };
        let mut stamp = None;
        // SAFETY: walking the control messages the kernel wrote into `control`, with the
        // length it set; the data of an SCM_TIMESTAMPNS message is a timespec.
        unsafe {
            let mut c = libc::CMSG_FIRSTHDR(&raw const msg);
            while !c.is_null() {
                if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_TIMESTAMPNS {
                    let ts: libc::timespec =
                        std::ptr::read_unaligned(libc::CMSG_DATA(c).cast::<libc::timespec>());
                    if let (Ok(s), Ok(ns)) = (u64::try_from(ts.tv_sec), u32::try_from(ts.tv_nsec)) {
                        stamp = Some(SystemTime::UNIX_EPOCH + Duration::new(s, ns));
                    }
                }
                c = libc::CMSG_NXTHDR(&raw const msg, c);
            }
        }
        Ok((n, stamp))
    }
}

/// A connection to the server: plain TCP or TLS over it.
enum Stream {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// One simulated Relay session; `Err` names the kind of failure.
///
/// A single timer bounds the session from the connect to the end of the close (park mode:
/// to the parked `listen`).
async fn session(shared: &Shared, buffers: &mut Buffers, stats: &mut Stats) -> Result<(), String> {
    let t0 = Instant::now();
    let deadline = t0 + shared.config.session_timeout;
    let Buffers {
        reader,
        writer,
        urn,
    } = buffers;
    reader.reset();
    writer.reset();
    let mut talk = Talk {
        t0,
        last_sent: t0,
        requests: 0,
        phase: Phase::Connecting,
    };
    let bounded = async {
        let mut conn = Conn {
            io: shared.target.open().await?,
            rd: &mut *reader,
            wr: &mut *writer,
        };
        conn.handshake(&shared.target.head).await?;
        talk.phase = Phase::Talking;
        conn.wr.begin().extend_from_slice(START_EVENT);
        conn.wr.frame(OpCode::Text, false);
        conn.send().await.map_err(|e| format!("send: {e}"))?;
        talk.last_sent = Instant::now();
        let step = converse(shared, &mut conn, urn, stats, &mut talk).await?;
        if step == Step::Terminated {
            talk.phase = Phase::Closing;
            // The session is complete; how the close goes does not change that.
            if conn.send().await.is_ok() {
                conn.drain().await;
            }
            return Ok::<_, String>(None);
        }
        Ok(Some(conn))
    };
    let parked = tokio::time::timeout_at(deadline, bounded).await;
    let mut conn = match (parked, talk.phase) {
        (Ok(outcome), _) => match outcome? {
            Some(conn) => conn,
            None => return Ok(()),
        },
        (Err(_), Phase::Connecting) => return Err("timeout connecting".into()),
        (Err(_), Phase::Talking) if talk.requests == 0 => {
            return Err("timeout before the first request".into())
        }
        (Err(_), Phase::Talking) => return Err("timeout (no terminate)".into()),
        (Err(_), Phase::Closing) => return Ok(()),
    };
    // Park mode: no bound any more; wait for the release, still answering what comes.
    let mut release = shared.release.clone();
    let mut step = Step::Parked;
    while step == Step::Parked {
        stats.completed += 1;
        stats.session_us.push(micros(conn.rd.arrived - t0));
        shared.parked.fetch_add(1, Ordering::AcqRel);
        shared.settled.notify_one();
        step = Step::Go;
        while step == Step::Go {
            let read = conn.read(|got, wr, arrived| {
                step = answer(shared, arrived, wr, urn, stats, &mut talk, got)?;
                Ok(step == Step::Go)
            });
            tokio::select! {
                read = read => read?,
                _ = async { let _released = release.wait_for(|r| *r).await.is_ok(); } => {
                    let _ = tokio::time::timeout(Duration::from_secs(2), conn.close()).await;
                    return Ok(());
                }
            };
            if step != Step::Terminated && !conn.wr.buf.is_empty() {
                conn.send().await.map_err(|e| format!("send: {e}"))?;
                talk.last_sent = Instant::now();
            }
        }
    }
    let closing = async {
        if conn.send().await.is_ok() {
            conn.drain().await;
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(2), closing).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_nearest_rank() {
        let mut v: Vec<u32> = (1..=1000).rev().map(|i| i * 100).collect();
        let p = Percentiles::from_micros(&mut v);
        assert_eq!(p.count, 1000);
        assert_eq!(p.p50_ms, 50.0);
        assert_eq!(p.p90_ms, 90.0);
        assert_eq!(p.p99_ms, 99.0);
        assert_eq!(p.p999_ms, 99.9);
        assert_eq!(p.max_ms, 100.0);
        assert_eq!(Percentiles::from_micros(&mut []), Percentiles::default());
    }

    #[test]
    fn the_histogram_puts_each_sample_in_its_bucket_and_draws_bars() {
        let mut samples = vec![10, 49, 50, 99, 1_000, 1_999, 60_000_000];
        samples.sort_unstable();
        let h = Histogram::from_sorted_micros(&samples);
        assert_eq!(h.counts.len(), HISTOGRAM_BOUNDS_US.len() + 1);
        assert_eq!(&h.counts[..6], &[2, 2, 0, 0, 0, 2]);
        assert_eq!(h.counts.last(), Some(&1));
        assert_eq!(h.counts.iter().sum::<u64>(), 7);
        let lines = h.to_lines(10);
        // From the first bucket with samples to the last one.
        assert_eq!(lines.len(), h.counts.len());
        assert_eq!(lines[0].trim_start(), "< 0.05 ms         2 ██████████");
        assert_eq!(lines[5].trim_start(), "1-2 ms         2 ██████████");
        assert!(lines[2].ends_with(" 0 "), "{:?}", lines[2]);
        assert_eq!(
            lines.last().unwrap().trim_start(),
            "≥ 10000 ms         1 █████"
        );
        assert!(Histogram::from_sorted_micros(&[]).to_lines(10).is_empty());
    }

    #[test]
    fn reads_this_process_from_proc() {
        let s = sample(std::process::id()).expect("/proc of this process");
        assert!(s.rss_kib > 0);
        assert!(s.hwm_kib >= s.rss_kib);
    }
    /// Opcodes as written on the wire.
    const CONTINUATION: u8 = 0x0;
    const TEXT: u8 = 0x1;
    const BINARY: u8 = 0x2;
    const CLOSE: u8 = 0x8;
    const PING: u8 = 0x9;
    const PONG: u8 = 0xA;

    /// A frame as a server sends it (not masked).
    fn server_frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
        let mut out = vec![if fin { 0x80 } else { 0 } | opcode];
        match payload.len() {
            n if n < 126 => out.push(n as u8),
            n if n <= 0xFFFF => {
                out.push(126);
                out.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                out.push(127);
                out.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        out.extend_from_slice(payload);
        out
    }

    /// The frames a client wrote: (opcode, unmasked payload), checking each header.
    fn client_frames(mut b: &[u8]) -> Vec<(u8, Vec<u8>)> {
        let mut frames = Vec::new();
        while !b.is_empty() {
            assert_eq!(b[0] & 0xF0, 0x80, "final frame, no reserved bits");
            assert_eq!(b[1] & 0x80, 0x80, "a client frame is masked");
            let (header, len) = match b[1] & 0x7F {
                126 => (4, usize::from(u16::from_be_bytes([b[2], b[3]]))),
                127 => (
                    10,
                    u64::from_be_bytes(b[2..10].try_into().unwrap()) as usize,
                ),
                n => (2, usize::from(n)),
            };
            // The shortest length encoding (RFC 6455 §5.2).
            assert_eq!(header == 2, len < 126);
            assert_eq!(header == 4, (126..=0xFFFF).contains(&len));
            let mask = &b[header..header + 4];
            let payload = b[header + 4..header + 4 + len]
                .iter()
                .enumerate()
                .map(|(i, x)| x ^ mask[i % 4])
                .collect();
            frames.push((b[0] & 0x0F, payload));
            b = &b[header + 4 + len..];
        }
        frames
    }

    fn texts(b: &[u8]) -> Vec<String> {
        client_frames(b)
            .into_iter()
            .map(|(op, p)| {
                assert_eq!(op, TEXT);
                String::from_utf8(p).unwrap()
            })
            .collect()
    }

    #[test]
    fn client_frames_are_masked_with_the_shortest_length() {
        let mut w = Writer::new();
        let sizes = [0, 1, 7, 8, 9, 125, 126, 127, 200, 0xFFFF, 0x1_0000, 70_000];
        for n in sizes {
            let payload: Vec<u8> = (0..n).map(|i| (i * 7 % 251) as u8).collect();
            w.begin().extend_from_slice(&payload);
            w.frame(OpCode::Text, false);
        }
        w.begin();
        w.frame(OpCode::Ping, true);
        let frames = client_frames(&w.buf);
        assert_eq!(frames.len(), sizes.len());
        for (n, (op, payload)) in sizes.iter().zip(frames) {
            assert_eq!(op, TEXT);
            let want: Vec<u8> = (0..*n).map(|i| (i * 7 % 251) as u8).collect();
            assert_eq!(payload, want, "payload of {n} bytes");
        }
        assert_eq!(client_frames(&w.held), vec![(PING, Vec::new())]);
    }

    /// Feed `bytes` to the reader's codec as one read: the texts, "pong" and "close" it
    /// hands out, or the session's error.
    fn feed(r: &mut Reader, bytes: &[u8]) -> Result<Vec<String>, String> {
        let mut got = Vec::new();
        let mut bytes = bytes.to_vec();
        r.codec
            .feed(&mut bytes, |m| {
                got.push(match m {
                    Message::Text(t) => t.to_owned(),
                    Message::Pong => "pong".to_owned(),
                    Message::Close(..) => "close".to_owned(),
                    Message::Ping(_) => "ping".to_owned(),
                    Message::Binary(_) => "binary".to_owned(),
                });
                true
            })
            .map_err(|v| violation(&v))?;
        Ok(got)
    }

    #[test]
    fn server_frames_are_read_whole_and_in_pieces() {
        let mut wire = Vec::new();
        wire.extend(server_frame(true, TEXT, b"{}"));
        wire.extend(server_frame(true, TEXT, &[b'x'; 300]));
        wire.extend(server_frame(false, TEXT, b"frag"));
        wire.extend(server_frame(true, PONG, b""));
        wire.extend(server_frame(true, CONTINUATION, b"mented"));
        wire.extend(server_frame(false, BINARY, b"\x00"));
        wire.extend(server_frame(true, CONTINUATION, b"\x01"));
        wire.extend(server_frame(true, TEXT, &vec![b'y'; 70_000]));
        let want = [
            "{}".to_owned(),
            "x".repeat(300),
            "pong".to_owned(),
            "fragmented".to_owned(),
            "binary".to_owned(),
            "y".repeat(70_000),
        ];
        // In one read, and one byte at a time: nothing is handed out before it is complete.
        assert_eq!(feed(&mut Reader::new(), &wire).unwrap(), want);
        let mut r = Reader::new();
        let mut got = Vec::new();
        for byte in &wire {
            got.extend(feed(&mut r, &[*byte]).unwrap());
        }
        assert_eq!(got, want);
    }

    #[test]
    fn bad_server_frames_are_refused() {
        let refused = |wire: Vec<u8>| feed(&mut Reader::new(), &wire).unwrap_err();
        let mut masked = server_frame(true, TEXT, b"hi");
        masked[1] |= 0x80;
        masked.extend_from_slice(&[0; 4]);
        assert_eq!(
            refused(masked),
            "closed before terminate (a masked frame from the server)"
        );
        assert!(refused(server_frame(true, CONTINUATION, b"x")).contains("continuation"));
        assert!(refused(server_frame(false, PING, b"")).contains("control"));
        assert_eq!(
            refused(vec![0x81, 127, 0, 0, 0, 0, 0x10, 0, 0, 0]),
            "read: message too long"
        );
        assert!(refused(server_frame(true, TEXT, b"\xFF")).contains("UTF-8"));
        let mut nested = server_frame(false, TEXT, b"a");
        nested.extend(server_frame(true, TEXT, b"b"));
        assert!(refused(nested).contains("before the fragmented one ended"));
    }

    #[test]
    fn json_strings_are_escaped_like_serde_json() {
        for s in [
            "",
            "Alice",
            "Zoë",
            "a\"b",
            "back\\slash",
            "tab\tnew\nline\u{1}",
            "😀",
        ] {
            let mut out = Vec::new();
            json_str(&mut out, s);
            assert_eq!(
                String::from_utf8(out).unwrap(),
                serde_json::to_string(s).unwrap()
            );
        }
    }

    #[test]
    fn incoming_frames_borrow_and_take_the_first_uri() {
        let text = r#"{"_id":"i\"d","_type":"wf_api_say_request","text":"hi",
            "_target":{"uris":["urn:a",{"x":[1]},"urn:c"]},"name":"n"}"#;
        let f: Incoming = serde_json::from_str(text).unwrap();
        assert!(matches!(f.kind.0, Cow::Borrowed("wf_api_say_request")));
        assert_eq!(f.id.unwrap().0, "i\"d");
        assert_eq!(f.name.unwrap().0, "n");
        let first = f.target.unwrap().uris.0.unwrap();
        assert!(matches!(first.0, Cow::Borrowed("urn:a")));
        let bare: Incoming =
            serde_json::from_str(r#"{"_type":"wf_api_terminate_request"}"#).unwrap();
        assert!(bare.id.is_none() && bare.name.is_none() && bare.target.is_none());
        let empty: Incoming =
            serde_json::from_str(r#"{"_type":"t","_target":{"uris":[]}}"#).unwrap();
        assert!(empty.target.unwrap().uris.0.is_none());
    }

    fn shared(fair: bool, park: bool) -> Shared {
        let mut config = LoadConfig::new("ws://127.0.0.1:1/p", 1, Limit::Sessions(1));
        config.fair = fair;
        config.park = park;
        config.var_value = Some("Hi".into());
        let (_tx, release) = watch::channel(false);
        Shared {
            config,
            target: Target {
                addrs: Ok(Vec::new()),
                tls: None,
                head: String::new(),
            },
            say: b"\"Alice\"".to_vec(),
            var_answer: b",\"value\":\"Hi\"".to_vec(),
            next: AtomicU64::new(0),
            done: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            deadline: None,
            parked: AtomicUsize::new(0),
            settled: Notify::new(),
            release,
        }
    }

    /// Feed `request` to `answer`: the step, the frames to write now and those held.
    fn answered(sh: &Shared, request: &str) -> (Step, Vec<u8>, Vec<u8>) {
        let mut w = Writer::new();
        let mut stats = Stats::default();
        let now = Instant::now();
        let mut talk = Talk {
            t0: now,
            last_sent: now,
            requests: 0,
            phase: Phase::Talking,
        };
        let mut urn = UrnCache::default();
        let step = answer(
            sh,
            now,
            &mut w,
            &mut urn,
            &mut stats,
            &mut talk,
            Got::Text(request),
        )
        .unwrap();
        assert_eq!((stats.requests, stats.request_us.len()), (1, 1));
        (step, w.buf, w.held)
    }

    const BOB: &str = "urn:relay-resource:name:device:Bob";
    const HELLO_ON_BOB: &str =
        "urn:relay-resource:name:interaction:hello?device=urn%3Arelay-resource%3Aname%3Adevice%3ABob";

    #[test]
    fn answers_are_the_frames_relay_sends() {
        assert_eq!(
            std::str::from_utf8(START_EVENT).unwrap(),
            format!(
                r#"{{"_type":"wf_api_start_event","trigger":{{"type":"phrase","args":{{"phrase":"hello","spillover":"","source_uri":"{BOB}"}}}}}}"#
            )
        );
        assert_eq!(DEVICE, BOB);
        let sh = shared(false, false);
        let start = format!(
            r#"{{"_id":"1","_type":"wf_api_start_interaction_request","_target":{{"uris":["{BOB}"]}},"name":"hello"}}"#
        );
        let (step, now, held) = answered(&sh, &start);
        assert_eq!((step, held.len()), (Step::Go, 0));
        assert_eq!(
            texts(&now),
            [
                r#"{"_type":"wf_api_start_interaction_response","_id":"1"}"#.to_owned(),
                format!(
                    r#"{{"_type":"wf_api_interaction_lifecycle_event","type":"started","source_uri":"{HELLO_ON_BOB}"}}"#
                ),
                format!(
                    r#"{{"_type":"wf_api_interaction_lifecycle_event","type":"resumed","source_uri":"{HELLO_ON_BOB}"}}"#
                ),
            ]
        );
        let say = format!(
            r#"{{"_id":"2","_type":"wf_api_say_request","_target":{{"uris":["{HELLO_ON_BOB}"]}},"text":"What is your name?"}}"#
        );
        assert_eq!(
            texts(&answered(&sh, &say).1),
            [
                r#"{"_type":"wf_api_say_response","_id":"2","id":"2"}"#.to_owned(),
                format!(
                    r#"{{"_type":"wf_api_prompt_event","id":"2","type":"started","source_uri":"{HELLO_ON_BOB}"}}"#
                ),
                format!(
                    r#"{{"_type":"wf_api_prompt_event","id":"2","type":"stopped","source_uri":"{HELLO_ON_BOB}"}}"#
                ),
            ]
        );
        let listen = format!(
            r#"{{"_id":"3","_type":"wf_api_listen_request","_target":{{"uris":["{HELLO_ON_BOB}"]}}}}"#
        );
        assert_eq!(
            texts(&answered(&sh, &listen).1),
            [
                r#"{"_type":"wf_api_listen_response","_id":"3"}"#.to_owned(),
                format!(
                    r#"{{"_type":"wf_api_speech_event","request_id":"3","text":"Alice","lang":"en-US","source_uri":"{HELLO_ON_BOB}"}}"#
                ),
            ]
        );
        let get_var = r#"{"_id":"4","_type":"wf_api_get_var_request","name":"greeting"}"#;
        assert_eq!(
            texts(&answered(&sh, get_var).1),
            [r#"{"_type":"wf_api_get_var_response","_id":"4","value":"Hi"}"#]
        );
        let end = format!(
            r#"{{"_id":"5","_type":"wf_api_end_interaction_request","_target":{{"uris":["{HELLO_ON_BOB}"]}}}}"#
        );
        assert_eq!(
            texts(&answered(&sh, &end).1),
            [
                r#"{"_type":"wf_api_end_interaction_response","_id":"5"}"#.to_owned(),
                format!(
                    r#"{{"_type":"wf_api_interaction_lifecycle_event","type":"ended","source_uri":"{HELLO_ON_BOB}"}}"#
                ),
            ]
        );
        let other = r#"{"_id":"6","_type":"wf_api_set_var_request","name":"x","value":"y"}"#;
        assert_eq!(
            texts(&answered(&sh, other).1),
            [r#"{"_type":"wf_api_set_var_response","_id":"6"}"#]
        );
        let (step, now, _) = answered(&sh, r#"{"_id":"7","_type":"wf_api_terminate_request"}"#);
        assert_eq!(step, Step::Terminated);
        assert_eq!(
            client_frames(&now),
            [
                (
                    TEXT,
                    br#"{"_type":"wf_api_stop_event","reason":"normal"}"#.to_vec()
                ),
                (CLOSE, Vec::new()),
            ]
        );
    }

    #[test]
    fn fair_answers_hold_the_events_behind_a_ping() {
        let sh = shared(true, false);
        let listen = r#"{"_id":"3","_type":"wf_api_listen_request","_target":{"uris":["u"]}}"#;
        let (step, now, held) = answered(&sh, listen);
        assert_eq!(step, Step::Go);
        assert_eq!(
            client_frames(&now),
            [
                (
                    TEXT,
                    br#"{"_type":"wf_api_listen_response","_id":"3"}"#.to_vec()
                ),
                (PING, Vec::new()),
            ]
        );
        assert_eq!(
            texts(&held),
            [
                r#"{"_type":"wf_api_speech_event","request_id":"3","text":"Alice","lang":"en-US","source_uri":"u"}"#
            ]
        );
        // No events, no ping.
        let get_var = r#"{"_id":"4","_type":"wf_api_get_var_request","name":"greeting"}"#;
        let (_, now, held) = answered(&sh, get_var);
        assert_eq!(client_frames(&now).len(), 1);
        assert!(held.is_empty());
        // Park mode: the listen is answered, and nothing follows.
        let (step, now, held) = answered(&shared(true, true), listen);
        assert_eq!(step, Step::Parked);
        assert_eq!(
            texts(&now),
            [r#"{"_type":"wf_api_listen_response","_id":"3"}"#]
        );
        assert!(held.is_empty());
    }

    #[test]
    fn unexpected_frames_fail_the_session() {
        let sh = shared(false, false);
        let fails = |text: &str| {
            let now = Instant::now();
            let mut talk = Talk {
                t0: now,
                last_sent: now,
                requests: 0,
                phase: Phase::Talking,
            };
            answer(
                &sh,
                now,
                &mut Writer::new(),
                &mut UrnCache::default(),
                &mut Stats::default(),
                &mut talk,
                Got::Text(text),
            )
            .unwrap_err()
        };
        assert!(fails("nope").starts_with("protocol: frame is not a JSON message"));
        assert_eq!(
            fails(r#"{"_type":"wf_api_say_response"}"#),
            "protocol: unexpected frame wf_api_say_response"
        );
    }

    #[test]
    fn the_upgrade_answer_is_checked() {
        let accept = derive_accept_key(b"dGhlIHNhbXBsZSBub25jZQ==");
        assert_eq!(accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
        let ok = format!(
            "HTTP/1.1 101 Switching Protocols\r\nupgrade: WebSocket\r\n\
             Connection: keep-alive, Upgrade\r\nSec-WebSocket-Accept: {accept}"
        );
        assert_eq!(check_upgrade(ok.as_bytes(), &accept), Ok(()));
        let refused = "HTTP/1.1 404 Not Found\r\ncontent-length: 0";
        assert_eq!(
            check_upgrade(refused.as_bytes(), &accept).unwrap_err(),
            "upgrade refused: HTTP 404"
        );
        let wrong = ok.replace(&accept, "AAAA");
        assert!(check_upgrade(wrong.as_bytes(), &accept)
            .unwrap_err()
            .contains("Sec-WebSocket-Accept"));
        let no_upgrade = ok.replace("upgrade: WebSocket\r\n", "");
        assert!(check_upgrade(no_upgrade.as_bytes(), &accept)
            .unwrap_err()
            .contains("Upgrade"));
        assert!(check_upgrade(b"SSH-2.0", &accept)
            .unwrap_err()
            .contains("not HTTP"));
    }

    #[tokio::test]
    async fn a_connection_upgrades_answers_pings_and_reads_messages() {
        let (client, mut server) = tokio::io::duplex(64 * 1024);
        let mut rd = Reader::new();
        let mut wr = Writer::new();
        let mut conn = Conn {
            io: client,
            rd: &mut rd,
            wr: &mut wr,
        };
        let peer = tokio::spawn(async move {
            let mut request = Vec::new();
            while !request.ends_with(b"\r\n\r\n") {
                let mut byte = [0];
                server.read_exact(&mut byte).await.unwrap();
                request.push(byte[0]);
            }
            let request = String::from_utf8(request).unwrap();
            assert!(request.starts_with("GET /p?secret=s HTTP/1.1\r\nHost: h:1\r\n"));
            let key = request
                .lines()
                .find_map(|l| l.strip_prefix("Sec-WebSocket-Key: "))
                .unwrap();
            let mut answer = format!(
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
                 Connection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n\r\n",
                derive_accept_key(key.as_bytes())
            )
            .into_bytes();
            // Frames right behind the head, a ping among them.
            answer.extend(server_frame(true, TEXT, b"one"));
            answer.extend(server_frame(true, PING, b"p"));
            answer.extend(server_frame(true, TEXT, b"two"));
            server.write_all(&answer).await.unwrap();
            let mut pong = [0; 7];
            server.read_exact(&mut pong).await.unwrap();
            assert_eq!(client_frames(&pong), [(PONG, b"p".to_vec())]);
            server
                .write_all(&server_frame(true, CLOSE, b""))
                .await
                .unwrap();
            server
        });
        let head = "GET /p?secret=s HTTP/1.1\r\nHost: h:1\r\nConnection: Upgrade\r\n\
                    Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ";
        conn.handshake(head).await.unwrap();
        // The pong goes out before the next read waits.
        let mut got = Vec::new();
        while got.last().is_none_or(|g| g != "Close") {
            conn.read(|g, _, _| {
                got.push(format!("{g:?}"));
                Ok(true)
            })
            .await
            .unwrap();
        }
        assert_eq!(got, [r#"Text("one")"#, r#"Text("two")"#, "Close"]);
        drop(peer.await.unwrap());
        assert_eq!(
            conn.read(|_, _, _| Ok(true)).await.unwrap_err(),
            "closed before terminate (Connection reset without closing handshake)"
        );
    }
}
