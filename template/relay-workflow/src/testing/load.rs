//! Load mode: many concurrent simulated Relay sessions against one workflow URL.
//!
//! [`run`] opens [`LoadConfig::concurrency`] sessions at a time, each one playing Relay for a
//! hello-style conversation: it sends the start event and answers every request the way the
//! [`AutoResponder`](super::AutoResponder) would (interaction lifecycle, prompt and speech
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

use super::urn::interaction_urn;
use futures_util::{SinkExt, StreamExt};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Notify};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self, Message};

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
    /// 99th percentile.
    pub p99_ms: f64,
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
            p99_ms: rank(0.99),
            max_ms: rank(1.0),
        }
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
            let _ = writeln!(
                s,
                "{name:<12} p50 {:.3} ms  p99 {:.3} ms  max {:.3} ms  ({} samples)",
                p.p50_ms, p.p99_ms, p.max_ms, p.count
            );
        };
        line(&mut s, "request", &self.request_latency);
        line(&mut s, "session", &self.session_latency);
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
}

/// A snapshot of a process's resources.
#[derive(Debug, Clone, Copy)]
struct ProcSample {
    rss_kib: u64,
    hwm_kib: u64,
    cpu_s: f64,
}

/// Read `/proc/<pid>/status` and `/proc/<pid>/stat`.
fn sample(pid: u32) -> Option<ProcSample> {
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
    request: tungstenite::handshake::client::Request,
    next: AtomicU64,
    deadline: Option<Instant>,
    parked: AtomicUsize,
    settled: Notify,
    release: watch::Receiver<bool>,
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

fn micros(d: Duration) -> u32 {
    u32::try_from(d.as_micros()).unwrap_or(u32::MAX)
}

/// Run the load described by `config` and report what happened.
///
/// Fails only when the URL cannot be used at all (not `ws://`/`wss://`, or no concurrency);
/// sessions that fail are counted in [`LoadReport::errors`] by kind.
pub async fn run(config: LoadConfig) -> Result<LoadReport, String> {
    if config.concurrency == 0 {
        return Err("the concurrency must be at least 1".into());
    }
    if !(config.url.starts_with("ws://") || config.url.starts_with("wss://")) {
        return Err(format!(
            "{:?} is not a WebSocket URL: give ws://host:port/<workflow path>",
            config.url
        ));
    }
    let request = config
        .url
        .as_str()
        .into_client_request()
        .map_err(|e| format!("bad URL {:?}: {e}", config.url))?;
    let before = config.pid.and_then(sample);
    let started = Instant::now();
    let deadline = match config.limit {
        Limit::Duration(d) if !config.park => Some(started + d),
        _ => None,
    };
    let (release_tx, release) = watch::channel(false);
    let shared = Arc::new(Shared {
        request,
        next: AtomicU64::new(0),
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
    if config.park {
        // Wait (bounded) until every session has parked or failed, then let memory settle.
        let bound = started + config.session_timeout + Duration::from_secs(5);
        loop {
            let notified = shared.settled.notified();
            if shared.parked.load(Ordering::Acquire) >= n || Instant::now() >= bound {
                break;
            }
            let _ = tokio::time::timeout_at(bound, notified).await;
        }
        elapsed = Some(started.elapsed());
        tokio::time::sleep(config.hold).await;
        after = config.pid.and_then(sample);
        let _ = release_tx.send(true);
    }
    let mut stats = Stats::default();
    for w in workers {
        match w.await {
            Ok(s) => stats.merge(s),
            Err(e) => stats.error(format!("load task failed: {e}")),
        }
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
        session_latency: Percentiles::from_micros(&mut stats.session_us),
        errors: stats.errors,
        server,
    })
}

/// One of the `concurrency` workers: sessions one after another until the limit.
async fn worker(shared: Arc<Shared>) -> Stats {
    let mut stats = Stats::default();
    if shared.config.park {
        stats.started = 1;
        let outcome = session(&shared, &mut stats).await;
        if let Err(kind) = outcome {
            stats.error(kind);
            // A failed session counts as settled so the run does not wait for it.
            shared.parked.fetch_add(1, Ordering::AcqRel);
            shared.settled.notify_one();
        }
        return stats;
    }
    loop {
        match (shared.config.limit, shared.deadline) {
            (_, Some(deadline)) if Instant::now() >= deadline => break,
            (Limit::Sessions(m), _) if shared.next.fetch_add(1, Ordering::Relaxed) >= m => break,
            _ => {}
        }
        stats.started += 1;
        if let Err(kind) = session(&shared, &mut stats).await {
            stats.error(kind);
        }
    }
    stats
}

/// The fields of an incoming frame the load generator reads.
#[derive(Deserialize)]
struct Incoming<'a> {
    #[serde(rename = "_type", borrow)]
    kind: Cow<'a, str>,
    #[serde(rename = "_id", borrow, default)]
    id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    name: Option<Cow<'a, str>>,
    #[serde(rename = "_target", borrow, default)]
    target: Option<TargetIn<'a>>,
}

#[derive(Deserialize)]
struct TargetIn<'a> {
    #[serde(borrow, default)]
    uris: Vec<Cow<'a, str>>,
}

/// A JSON string literal.
fn q(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_owned())
}

fn event(kind: &str, fields: &str) -> Message {
    Message::text(format!("{{\"_type\":\"wf_api_{kind}_event\",{fields}}}"))
}

fn response(action: &str, id: &str, fields: &str) -> Message {
    let sep = if fields.is_empty() { "" } else { "," };
    Message::text(format!(
        "{{\"_type\":\"wf_api_{action}_response\",\"_id\":{}{sep}{fields}}}",
        q(id)
    ))
}

/// One simulated Relay session; `Err` names the kind of failure.
async fn session(shared: &Shared, stats: &mut Stats) -> Result<(), String> {
    let config = &shared.config;
    let t0 = Instant::now();
    let deadline = t0 + config.session_timeout;
    // Small buffers: the generator may hold ten thousand connections.
    let ws_config = WebSocketConfig::default()
        .read_buffer_size(4 * 1024)
        .write_buffer_size(4 * 1024);
    let connect =
        tokio_tungstenite::connect_async_with_config(shared.request.clone(), Some(ws_config), true);
    let mut ws = match tokio::time::timeout_at(deadline, connect).await {
        Err(_) => return Err("timeout connecting".into()),
        Ok(Err(tungstenite::Error::Http(resp))) => {
            return Err(format!("upgrade refused: HTTP {}", resp.status().as_u16()))
        }
        Ok(Err(tungstenite::Error::Io(e))) => return Err(format!("connect: {}", e.kind())),
        Ok(Err(e)) => return Err(format!("connect: {e}")),
        Ok(Ok((ws, _))) => ws,
    };
    let device = "urn:relay-resource:name:device:Bob";
    let start = format!(
        "{{\"_type\":\"wf_api_start_event\",\"trigger\":{{\"type\":\"phrase\",\"args\":{{\"phrase\":\"hello\",\"spillover\":\"\",\"source_uri\":{}}}}}}}",
        q(device)
    );
    let send_err = |e: tungstenite::Error| format!("send: {e}");
    ws.send(Message::text(start)).await.map_err(send_err)?;
    let mut last_sent = Instant::now();
    // Follow-up events waiting for the pong (fair mode).
    let mut held: Vec<Message> = Vec::new();
    let mut parked = false;
    let mut release = shared.release.clone();
    let timeout = tokio::time::sleep_until(deadline);
    tokio::pin!(timeout);
    let say = q(&config.say);
    let var_answer = match &config.var_value {
        Some(v) => format!("\"value\":{}", q(v)),
        None => String::new(),
    };
    loop {
        let next = tokio::select! {
            next = ws.next() => next,
            _ = &mut timeout, if !parked => {
                return Err(if stats.requests == 0 { "timeout before the first request".into() } else { "timeout (no terminate)".into() });
            }
            _ = async { let _released = release.wait_for(|r| *r).await.is_ok(); }, if parked => {
                let _ = tokio::time::timeout(Duration::from_secs(2), ws.close(None)).await;
                return Ok(());
            }
        };
        let msg = match next {
            None => return Err("closed before terminate".into()),
            Some(Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed)) => {
                return Err("closed before terminate".into())
            }
            Some(Err(tungstenite::Error::Protocol(e))) => {
                return Err(format!("closed before terminate ({e})"))
            }
            Some(Err(tungstenite::Error::Io(e))) => {
                return Err(format!("closed before terminate ({})", e.kind()))
            }
            Some(Err(e)) => return Err(format!("read: {e}")),
            Some(Ok(msg)) => msg,
        };
        let text = match msg {
            Message::Text(text) => text,
            Message::Pong(_) => {
                if !held.is_empty() {
                    for m in held.drain(..) {
                        ws.feed(m).await.map_err(send_err)?;
                    }
                    ws.flush().await.map_err(send_err)?;
                    last_sent = Instant::now();
                }
                continue;
            }
            Message::Close(_) => return Err("closed before terminate".into()),
            _ => continue,
        };
        let now = Instant::now();
        let frame: Incoming = serde_json::from_str(text.as_str())
            .map_err(|e| format!("protocol: frame is not a JSON message ({e})"))?;
        let Some(action) = frame
            .kind
            .strip_prefix("wf_api_")
            .and_then(|k| k.strip_suffix("_request"))
        else {
            return Err(format!("protocol: unexpected frame {}", frame.kind));
        };
        stats.requests += 1;
        stats.request_us.push(micros(now - last_sent));
        let id = frame.id.as_deref().unwrap_or_default();
        let target = frame
            .target
            .as_ref()
            .and_then(|t| t.uris.first())
            .map(|t| q(t))
            .unwrap_or_else(|| "\"\"".to_owned());
        let (answer, events): (Message, Vec<Message>) = match action {
            "start_interaction" => {
                let name = frame.name.as_deref().unwrap_or("hello");
                let device = frame
                    .target
                    .as_ref()
                    .and_then(|t| t.uris.first())
                    .map(|t| t.as_ref())
                    .unwrap_or(device);
                let uri = q(&interaction_urn(name, device));
                let started = event(
                    "interaction_lifecycle",
                    &format!("\"type\":\"started\",\"source_uri\":{uri}"),
                );
                let resumed = event(
                    "interaction_lifecycle",
                    &format!("\"type\":\"resumed\",\"source_uri\":{uri}"),
                );
                (response(action, id, ""), vec![started, resumed])
            }
            "say" | "play" => {
                let id_json = q(id);
                let prompt = |kind: &str| {
                    event(
                        "prompt",
                        &format!("\"id\":{id_json},\"type\":\"{kind}\",\"source_uri\":{target}"),
                    )
                };
                (
                    response(action, id, &format!("\"id\":{id_json}")),
                    vec![prompt("started"), prompt("stopped")],
                )
            }
            "listen" if config.park => {
                ws.send(response(action, id, "")).await.map_err(send_err)?;
                parked = true;
                stats.completed += 1;
                stats.session_us.push(micros(t0.elapsed()));
                shared.parked.fetch_add(1, Ordering::AcqRel);
                shared.settled.notify_one();
                continue;
            }
            "listen" => {
                let speech = event(
                    "speech",
                    &format!(
                        "\"request_id\":{},\"text\":{say},\"lang\":\"en-US\",\"source_uri\":{target}",
                        q(id)
                    ),
                );
                (response(action, id, ""), vec![speech])
            }
            "get_var" => (response(action, id, &var_answer), Vec::new()),
            "end_interaction" => {
                let ended = event(
                    "interaction_lifecycle",
                    &format!("\"type\":\"ended\",\"source_uri\":{target}"),
                );
                (response(action, id, ""), vec![ended])
            }
            "terminate" => {
                stats.session_us.push(micros(t0.elapsed()));
                stats.completed += 1;
                let stop = event("stop", "\"reason\":\"normal\"");
                // The session is complete; how the close goes does not change that.
                let _ = ws.send(stop).await;
                let _ = ws.close(None).await;
                let _ = tokio::time::timeout_at(deadline, async {
                    while let Some(Ok(_)) = ws.next().await {}
                })
                .await;
                return Ok(());
            }
            _ => (response(action, id, ""), Vec::new()),
        };
        ws.feed(answer).await.map_err(send_err)?;
        if config.fair && !events.is_empty() {
            held.extend(events);
            ws.feed(Message::Ping(Default::default()))
                .await
                .map_err(send_err)?;
        } else {
            for m in events {
                ws.feed(m).await.map_err(send_err)?;
            }
        }
        ws.flush().await.map_err(send_err)?;
        last_sent = Instant::now();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_nearest_rank() {
        let mut v: Vec<u32> = (1..=100).map(|i| i * 1000).collect();
        let p = Percentiles::from_micros(&mut v);
        assert_eq!(p.count, 100);
        assert_eq!(p.p50_ms, 50.0);
        assert_eq!(p.p99_ms, 99.0);
        assert_eq!(p.max_ms, 100.0);
        assert_eq!(Percentiles::from_micros(&mut []), Percentiles::default());
    }

    #[test]
    fn reads_this_process_from_proc() {
        let s = sample(std::process::id()).expect("/proc of this process");
        assert!(s.rss_kib > 0);
        assert!(s.hwm_kib >= s.rss_kib);
    }
}
