//! Attack mode: hostile peers against one workflow server on this machine, for measurements.
//!
//! [`run`] plays the attacks of the benchmark's "under attack" rows from another process,
//! each bounded in peers and in time, and reports what every peer did and how the server
//! answered. It is what the `relay-attack` command runs. Only loopback addresses are
//! attacked (`127.0.0.0/8`, `::1`): it is a measuring tool, not a weapon.
//!
//! The attacks ([`Attack`]):
//!
//! * **`ping-flood`** — upgrade, then send 125-byte pings as fast as the socket takes them,
//!   and never read (so every pong the server owes stays with the server).
//! * **`lifecycle-flood`** — send a start event, leave the `start_interaction` request it
//!   causes unanswered (the handler waits), and stream `interaction_lifecycle` events
//!   (`started`, which the hello workflow handles) behind it.
//! * **`big-events`** — send a start event, then legal speech events of
//!   [`AttackConfig::event_bytes`] each (a speech event with recorded audio, base64),
//!   back to back.
//! * **`idle-upgrades`** — upgrade and never send an event.
//! * **`stall-frames`** — upgrade, announce a text frame of [`AttackConfig::frame_bytes`]
//!   (the header only) and send nothing more.
//! * **`slowloris`** — send the first half of an upgrade request head and stall.
//!
//! Every frame a peer sends is masked with a fresh key, as RFC 6455 §5.3 requires of a
//! client. Peers that do not flood read what the server sends (without answering it), so
//! that they notice when the server closes their session; `ping-flood` never reads.
//!
//! What is counted, per attack ([`ModeReport`]): connections made, upgrades accepted or
//! refused (by HTTP status), frames and bytes sent, frames received, and how each
//! connection ended: held to the end of the attack, or ended by the server during it (a
//! close frame with its code, the connection closed, a write refused). With
//! [`AttackConfig::pid`], the server's resident memory is sampled every 20 ms during the
//! attack ([`ServerPeak`]), and [`AttackConfig::max_rss_kib`] stops the attack early when
//! the server passes it, so that a measurement never endangers the machine.

use crate::load::{check_upgrade, sample, Reader, Target, DEVICE, START_EVENT};
use relay_workflow::testing::interaction_urn;
use relay_workflow::ws::{encode_masked, Message, OpCode};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{watch, Semaphore};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::handshake::client::generate_key;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;

/// One kind of hostile peer; see the [module docs](self).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Attack {
    /// Pings as fast as possible, never a read.
    PingFlood,
    /// A start event, then `interaction_lifecycle` events behind the unanswered request.
    LifecycleFlood,
    /// A start event, then large legal speech events back to back.
    BigEvents,
    /// Upgraded WebSockets that never send an event.
    IdleUpgrades,
    /// A large text frame announced, never sent.
    StallFrames,
    /// Half an upgrade request head, then nothing.
    Slowloris,
}

impl Attack {
    /// Every attack, in the order of the reports.
    pub const ALL: [Attack; 6] = [
        Attack::PingFlood,
        Attack::LifecycleFlood,
        Attack::BigEvents,
        Attack::IdleUpgrades,
        Attack::StallFrames,
        Attack::Slowloris,
    ];

    /// The attack's name on the command line and in reports (`ping-flood`, …).
    pub fn name(self) -> &'static str {
        match self {
            Attack::PingFlood => "ping-flood",
            Attack::LifecycleFlood => "lifecycle-flood",
            Attack::BigEvents => "big-events",
            Attack::IdleUpgrades => "idle-upgrades",
            Attack::StallFrames => "stall-frames",
            Attack::Slowloris => "slowloris",
        }
    }

    /// The attack of this name, if there is one.
    pub fn from_name(name: &str) -> Option<Attack> {
        Attack::ALL.into_iter().find(|a| a.name() == name)
    }

    /// How many peers play this attack when it runs alone and no count is given.
    pub fn default_peers(self) -> usize {
        match self {
            Attack::PingFlood | Attack::LifecycleFlood => 1,
            Attack::BigEvents => 2,
            Attack::IdleUpgrades => 100,
            Attack::StallFrames | Attack::Slowloris => 20,
        }
    }

    /// How many peers play this attack when all run at once and no count is given.
    pub fn default_peers_in_all(self) -> usize {
        match self {
            Attack::PingFlood | Attack::LifecycleFlood | Attack::BigEvents => 2,
            Attack::IdleUpgrades => 1000,
            Attack::StallFrames => 20,
            Attack::Slowloris => 100,
        }
    }
}

/// The longest attack [`run`] accepts.
pub const MAX_DURATION: Duration = Duration::from_secs(600);
/// The most peers [`run`] accepts in one run (all attacks together).
pub const MAX_PEERS: usize = 50_000;
/// The default size of a `big-events` event: a speech event with recorded audio.
pub const DEFAULT_EVENT_BYTES: usize = 1_400_000;
/// The default length a `stall-frames` peer announces (the SDK's default message limit).
pub const DEFAULT_FRAME_BYTES: u64 = 8 * 1024 * 1024;
/// How many peers make their TCP connection at the same time (not their upgrade).
const CONNECTING_AT_ONCE: usize = 256;
/// How often the server's memory is sampled.
const SAMPLE_EVERY: Duration = Duration::from_millis(20);
/// How long peers may take to end after the attack's end before they are abandoned.
const END_GRACE: Duration = Duration::from_secs(5);
/// The largest HTTP response head read in an upgrade.
const MAX_RESPONSE_HEAD: usize = 16 * 1024;
/// How many bytes of frames a flooding peer builds before writing them.
const BATCH_BYTES: usize = 64 * 1024;

/// What an attack run does; see the [module docs](self).
#[derive(Debug, Clone)]
pub struct AttackConfig {
    /// The workflow's WebSocket URL on a loopback address (`ws://127.0.0.1:PORT/path`).
    pub url: String,
    /// The attacks that run at the same time, each with its number of peers.
    pub attacks: Vec<(Attack, usize)>,
    /// How long the attack lasts (at most [`MAX_DURATION`]).
    pub duration: Duration,
    /// The size of each `big-events` event, bytes of JSON.
    pub event_bytes: usize,
    /// The payload length each `stall-frames` peer announces.
    pub frame_bytes: u64,
    /// The server's process id: sample its memory and CPU time from `/proc` (Linux).
    pub pid: Option<u32>,
    /// With `pid`: stop the attack as soon as the server's resident memory passes this.
    pub max_rss_kib: Option<u64>,
    /// With `pid`: how long after the attack (every connection closed) to read the
    /// server's memory again.
    pub after: Duration,
}

impl AttackConfig {
    /// `attacks` against `url` for `duration`, with the default sizes, no pid, 1 s after.
    pub fn new(url: impl Into<String>, attacks: Vec<(Attack, usize)>, duration: Duration) -> Self {
        AttackConfig {
            url: url.into(),
            attacks,
            duration,
            event_bytes: DEFAULT_EVENT_BYTES,
            frame_bytes: DEFAULT_FRAME_BYTES,
            pid: None,
            max_rss_kib: None,
            after: Duration::from_secs(1),
        }
    }
}

/// What the peers of one attack did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ModeReport {
    /// The attack (`ping-flood`, …).
    pub mode: String,
    /// Peers that played it.
    pub peers: usize,
    /// TCP connections made.
    pub connected: u64,
    /// Upgrades the server accepted (101); always 0 for `slowloris`.
    pub upgraded: u64,
    /// Upgrades answered with another status than 101, by status (`"HTTP 503"`).
    pub refused: BTreeMap<String, u64>,
    /// Complete frames sent (pings, events including the start event, frame headers).
    pub frames_sent: u64,
    /// Bytes sent, request heads included.
    pub bytes_sent: u64,
    /// Frames received from the server by the peers that read.
    pub frames_received: u64,
    /// Connections whose upgrade the server had not answered when the attack ended (a
    /// server that stalls its accepts or its upgrades).
    pub unanswered: u64,
    /// Connections still open when the attack ended.
    pub held_to_end: u64,
    /// Connections the server ended during the attack (see `endings`).
    pub dropped: u64,
    /// How the server ended them: `"close 1008"`, `"connection closed"`,
    /// `"write failed (ConnectionReset)"`, `"HTTP 408, then connection closed"` (an answer
    /// to a slowloris head), …
    pub endings: BTreeMap<String, u64>,
    /// Peers that could not play, by reason (`"connect: ConnectionRefused"`, …).
    ///
    /// Every connection made is counted once in `unanswered`, `held_to_end`, `dropped`,
    /// `refused` or, past the connect, `errors`.
    pub errors: BTreeMap<String, u64>,
}

/// The server's resources around an attack (from `/proc`).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ServerPeak {
    /// The process id.
    pub pid: u32,
    /// Resident memory before the attack, KiB.
    pub rss_before_kib: u64,
    /// The largest resident memory sampled during the attack (every 20 ms), KiB.
    pub rss_peak_kib: u64,
    /// The process's own peak (`VmHWM`, over its whole life) at the last sample, KiB.
    pub hwm_kib: u64,
    /// Resident memory [`AttackConfig::after`] the attack ended, KiB (absent when the
    /// server was gone by then).
    pub rss_after_kib: Option<u64>,
    /// User + system CPU time of the server from before the attack to the last sample, s.
    pub cpu_s: f64,
    /// The server process ended during the measurement.
    pub exited: bool,
}

/// The outcome of an attack run.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct AttackReport {
    /// The URL attacked.
    pub url: String,
    /// `all` when every attack ran, else the attack's name (names joined with `+` for
    /// another mix).
    pub mode: String,
    /// The duration asked for, seconds.
    pub duration_s: f64,
    /// Wall time from the start to the end of the last peer, seconds.
    pub elapsed_s: f64,
    /// Why the attack stopped before its end, if it did (`"server RSS passed 2048 MiB"`).
    pub stopped_early: Option<String>,
    /// One report per attack, in the order of [`Attack::ALL`].
    pub attacks: Vec<ModeReport>,
    /// The server's memory and CPU, when a pid was given and `/proc` could be read.
    pub server: Option<ServerPeak>,
}

impl AttackReport {
    /// All connections made, over every attack.
    pub fn connected(&self) -> u64 {
        self.attacks.iter().map(|m| m.connected).sum()
    }

    /// The report of one attack, if it ran.
    pub fn attack(&self, attack: Attack) -> Option<&ModeReport> {
        self.attacks.iter().find(|m| m.mode == attack.name())
    }

    /// The report as aligned human-readable lines.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "relay-attack {} against {} for {:.1} s (ended after {:.2} s)",
            self.mode, self.url, self.duration_s, self.elapsed_s
        );
        if let Some(why) = &self.stopped_early {
            let _ = writeln!(s, "stopped early: {why}");
        }
        let counts = |m: &BTreeMap<String, u64>| {
            m.iter()
                .map(|(k, n)| format!("{n} × {k}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        for m in &self.attacks {
            let _ = writeln!(
                s,
                "{:<16} {} peer{}: {} connected, {} upgraded, {} refused, {} unanswered; {} frames \
                 ({:.1} MB) sent, {} received; {} held to the end, {} dropped by the server",
                m.mode,
                m.peers,
                if m.peers == 1 { "" } else { "s" },
                m.connected,
                m.upgraded,
                m.refused.values().sum::<u64>(),
                m.unanswered,
                m.frames_sent,
                m.bytes_sent as f64 / 1e6,
                m.frames_received,
                m.held_to_end,
                m.dropped,
            );
            for (label, map) in [
                ("refused", &m.refused),
                ("endings", &m.endings),
                ("errors", &m.errors),
            ] {
                if !map.is_empty() {
                    let _ = writeln!(s, "{:<16} {label}: {}", "", counts(map));
                }
            }
        }
        if let Some(p) = &self.server {
            let mib = |kib: u64| kib as f64 / 1024.0;
            let after = match p.rss_after_kib {
                Some(kib) => format!("{:.1} MiB after", mib(kib)),
                None => "gone after".to_owned(),
            };
            let _ = writeln!(
                s,
                "server pid {}: RSS {:.1} MiB before, peak {:.1} MiB (VmHWM {:.1} MiB), {after}; \
                 CPU {:.2} s{}",
                p.pid,
                mib(p.rss_before_kib),
                mib(p.rss_peak_kib),
                mib(p.hwm_kib),
                p.cpu_s,
                if p.exited { "; the server exited" } else { "" }
            );
        }
        s
    }
}

/// What one peer did (counts of 0 or 1, merged per attack).
#[derive(Default)]
struct Tally {
    connected: u64,
    upgraded: u64,
    refused: BTreeMap<String, u64>,
    frames_sent: u64,
    bytes_sent: u64,
    frames_received: u64,
    unanswered: u64,
    held_to_end: u64,
    dropped: u64,
    endings: BTreeMap<String, u64>,
    errors: BTreeMap<String, u64>,
}

fn bump(map: &mut BTreeMap<String, u64>, key: String) {
    *map.entry(key).or_default() += 1;
}

impl Tally {
    fn merge_into(self, m: &mut ModeReport) {
        m.connected += self.connected;
        m.upgraded += self.upgraded;
        m.frames_sent += self.frames_sent;
        m.bytes_sent += self.bytes_sent;
        m.frames_received += self.frames_received;
        m.unanswered += self.unanswered;
        m.held_to_end += self.held_to_end;
        m.dropped += self.dropped;
        for (into, from) in [
            (&mut m.refused, self.refused),
            (&mut m.endings, self.endings),
            (&mut m.errors, self.errors),
        ] {
            for (k, n) in from {
                *into.entry(k).or_default() += n;
            }
        }
    }

    /// Count how the connection ended.
    fn end(&mut self, end: End) {
        match end {
            End::Held => self.held_to_end += 1,
            End::Dropped(how) => {
                self.dropped += 1;
                bump(&mut self.endings, how);
            }
        }
    }
}

/// How a peer's connection ended.
enum End {
    /// Still open at the end of the attack.
    Held,
    /// Ended by the server during the attack, and how.
    Dropped(String),
}

/// What the peers of a run share.
struct Shared {
    addrs: Vec<SocketAddr>,
    /// The upgrade request up to the value of `Sec-WebSocket-Key`.
    head: String,
    deadline: Instant,
    stop: watch::Receiver<bool>,
    connecting: Semaphore,
    /// The lifecycle event (`started` on the hello interaction of the start event's device).
    lifecycle: Vec<u8>,
    /// The big speech event.
    speech: Vec<u8>,
    frame_bytes: u64,
}

impl Shared {
    /// Resolves when the attack ends: at its deadline or when it is stopped.
    fn ended(&self) -> impl Future<Output = ()> + 'static {
        let mut stop = self.stop.clone();
        let deadline = self.deadline;
        async move {
            tokio::select! {
                _ = tokio::time::sleep_until(deadline) => {}
                stopped = async { stop.wait_for(|s| *s).await.is_ok() } => {
                    if !stopped {
                        // The sender is gone: only the deadline ends it.
                        tokio::time::sleep_until(deadline).await;
                    }
                }
            }
        }
    }
}

/// Masking keys for client frames (xorshift64*, seeded from the OS).
struct Masks(u64);

impl Masks {
    fn new(salt: u64) -> Masks {
        let seed = getrandom::u64().unwrap_or(0x9E37_79B9_7F4A_7C15)
            ^ salt.wrapping_mul(0xA24B_AED4_963E_E407);
        Masks(seed | 1)
    }

    fn next(&mut self) -> [u8; 4] {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        ((x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 32) as u32).to_ne_bytes()
    }
}

/// The length of a masked client frame with a payload of `n` bytes.
fn frame_len(n: usize) -> usize {
    let header = match n {
        0..=125 => 2,
        126..=0xFFFF => 4,
        _ => 10,
    };
    header + 4 + n
}

/// Run the attacks described by `config` and report what happened.
///
/// Fails only when the run cannot start: not a `ws://` URL, not a loopback address, no
/// attack or no peer, too many peers, a duration of 0 or past [`MAX_DURATION`]. Peers that
/// cannot play are counted in [`ModeReport::errors`].
pub async fn run(config: AttackConfig) -> Result<AttackReport, String> {
    if !config.url.starts_with("ws://") {
        return Err(format!(
            "{:?} is not a ws:// URL: give ws://127.0.0.1:PORT/<workflow path>",
            config.url
        ));
    }
    if config.attacks.is_empty() {
        return Err("no attack to run".into());
    }
    let mut modes: Vec<(Attack, usize)> = Vec::new();
    for &(attack, n) in &config.attacks {
        if n == 0 {
            return Err(format!(
                "{}: the number of peers must be at least 1",
                attack.name()
            ));
        }
        if modes.iter().any(|(a, _)| *a == attack) {
            return Err(format!("{} is given twice", attack.name()));
        }
        modes.push((attack, n));
    }
    modes.sort();
    let total: usize = modes.iter().map(|(_, n)| n).sum();
    if total > MAX_PEERS {
        return Err(format!("{total} peers: at most {MAX_PEERS} in one run"));
    }
    if config.duration.is_zero() || config.duration > MAX_DURATION {
        return Err(format!(
            "the duration must be more than 0 and at most {} s",
            MAX_DURATION.as_secs()
        ));
    }
    if config.event_bytes > 64 << 20 || config.frame_bytes > 1 << 40 {
        return Err("--event-bytes is at most 64 MiB, --frame-bytes at most 1 TiB".into());
    }
    let target = Target::new(&config.url).await?;
    let addrs = target.addrs?;
    if let Some(a) = addrs.iter().find(|a| !a.ip().is_loopback()) {
        return Err(format!(
            "{} is not a loopback address: relay-attack attacks only servers on this machine \
             (127.0.0.0/8 or ::1)",
            a.ip()
        ));
    }
    let interaction = interaction_urn("hello", DEVICE);
    let lifecycle = serde_json::to_vec(&serde_json::json!({
        "_type": "wf_api_interaction_lifecycle_event",
        "type": "started",
        "source_uri": interaction,
    }))
    .map_err(|e| e.to_string())?;
    let speech = speech_event(config.event_bytes, &interaction);

    let (stop_tx, stop) = watch::channel(false);
    let stop_tx = Arc::new(stop_tx);
    let started = Instant::now();
    let shared = Arc::new(Shared {
        addrs,
        head: target.head,
        deadline: started + config.duration,
        stop,
        connecting: Semaphore::new(CONNECTING_AT_ONCE),
        lifecycle,
        speech,
        frame_bytes: config.frame_bytes,
    });
    let watcher = config
        .pid
        .map(|pid| ServerWatch::start(pid, config.max_rss_kib, stop_tx.clone()));

    // Round robin over the attacks, so that each has its peers connecting from the start.
    let mut peers = Vec::with_capacity(total);
    let most = modes.iter().map(|&(_, n)| n).max().unwrap_or(0);
    for i in 0..most {
        for &(attack, n) in &modes {
            if i < n {
                let salt = (attack as u64) << 32 | i as u64;
                peers.push((attack, tokio::spawn(peer(shared.clone(), attack, salt))));
            }
        }
    }
    let mut reports: Vec<ModeReport> = modes
        .iter()
        .map(|&(attack, n)| ModeReport {
            mode: attack.name().to_owned(),
            peers: n,
            ..ModeReport::default()
        })
        .collect();
    let give_up = shared.deadline + END_GRACE;
    for (attack, mut task) in peers {
        let Some(report) = reports.iter_mut().find(|m| m.mode == attack.name()) else {
            continue;
        };
        match tokio::time::timeout_at(give_up, &mut task).await {
            Ok(Ok(tally)) => tally.merge_into(report),
            Ok(Err(e)) => bump(&mut report.errors, format!("peer task failed: {e}")),
            Err(_) => {
                task.abort();
                bump(&mut report.errors, "peer did not end in time".to_owned());
            }
        }
    }
    let elapsed = started.elapsed();
    drop(shared);
    let (server, stopped_early) = match watcher {
        Some(w) => {
            tokio::time::sleep(config.after).await;
            let (peak, why) = w.finish().await;
            (Some(peak), why)
        }
        None => (None, None),
    };
    let mode = if modes.len() == Attack::ALL.len() {
        "all".to_owned()
    } else {
        modes
            .iter()
            .map(|(a, _)| a.name())
            .collect::<Vec<_>>()
            .join("+")
    };
    Ok(AttackReport {
        url: config.url,
        mode,
        duration_s: config.duration.as_secs_f64(),
        elapsed_s: elapsed.as_secs_f64(),
        stopped_early,
        attacks: reports,
        server,
    })
}

/// A speech event of about `bytes` bytes (at least its fields), its audio base64.
fn speech_event(bytes: usize, source_uri: &str) -> Vec<u8> {
    let mut event = serde_json::to_vec(&serde_json::json!({
        "_type": "wf_api_speech_event",
        "request_id": "relay-attack",
        "audio": "",
        "lang": "en-US",
        "source_uri": source_uri,
    }))
    .unwrap_or_default();
    let Some(at) = event.windows(10).position(|w| w == b"\"audio\":\"\"") else {
        return event;
    };
    // Whole groups of four base64 characters ("QUFB" is "AAA").
    let fill = bytes.saturating_sub(event.len()) / 4 * 4;
    let audio: Vec<u8> = b"QUFB".iter().copied().cycle().take(fill).collect();
    event.splice(at + 9..at + 9, audio);
    event
}

/// Samples the server's memory on a thread of its own (so that a busy attack does not
/// delay it), and stops the attack when the server passes its memory bound or exits.
struct ServerWatch {
    pid: u32,
    before: Option<crate::load::ProcSample>,
    done: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<Watched>,
}

/// What the sampling thread saw.
struct Watched {
    peak_kib: u64,
    last: Option<crate::load::ProcSample>,
    exited: bool,
    passed: Option<u64>,
}

impl ServerWatch {
    fn start(pid: u32, max_rss_kib: Option<u64>, stop: Arc<watch::Sender<bool>>) -> ServerWatch {
        let before = sample(pid);
        let done = Arc::new(AtomicBool::new(false));
        let flag = done.clone();
        let thread = std::thread::spawn(move || {
            let mut w = Watched {
                peak_kib: before.map_or(0, |s| s.rss_kib),
                last: before,
                exited: before.is_none(),
                passed: None,
            };
            while !flag.load(Ordering::Acquire) && !w.exited {
                match sample(pid) {
                    Some(s) => {
                        w.peak_kib = w.peak_kib.max(s.rss_kib);
                        w.last = Some(s);
                        if let Some(max) = max_rss_kib {
                            if s.rss_kib > max && w.passed.is_none() {
                                w.passed = Some(max);
                                let _ = stop.send(true);
                            }
                        }
                    }
                    None => {
                        w.exited = true;
                        let _ = stop.send(true);
                    }
                }
                std::thread::sleep(SAMPLE_EVERY);
            }
            w
        });
        ServerWatch {
            pid,
            before,
            done,
            thread,
        }
    }

    /// Stop sampling; read the memory once more; the figures and why the attack stopped
    /// early, if it did.
    async fn finish(self) -> (ServerPeak, Option<String>) {
        self.done.store(true, Ordering::Release);
        let thread = self.thread;
        let watched = tokio::task::spawn_blocking(move || thread.join())
            .await
            .ok()
            .and_then(Result::ok);
        let now = sample(self.pid);
        let (peak_kib, mut last, exited, passed) = match watched {
            Some(w) => (w.peak_kib, w.last, w.exited, w.passed),
            None => (0, None, true, None),
        };
        let exited = exited || now.is_none();
        if now.is_some() {
            last = now;
        }
        let why = match (passed, exited) {
            (Some(max), _) if max % 1024 == 0 => {
                Some(format!("server RSS passed {} MiB", max / 1024))
            }
            (Some(max), _) => Some(format!("server RSS passed {max} KiB")),
            (None, true) => Some("the server exited".to_owned()),
            (None, false) => None,
        };
        let rss_before_kib = self.before.map_or(0, |s| s.rss_kib);
        let peak = ServerPeak {
            pid: self.pid,
            rss_before_kib,
            rss_peak_kib: peak_kib.max(now.map_or(0, |s| s.rss_kib)),
            hwm_kib: last.map_or(0, |s| s.hwm_kib),
            rss_after_kib: now.map(|s| s.rss_kib),
            cpu_s: match (self.before, last) {
                (Some(b), Some(l)) => (l.cpu_s - b.cpu_s).max(0.0),
                _ => 0.0,
            },
            exited,
        };
        (peak, why)
    }
}

/// One hostile peer: connect (and upgrade), play the attack until the end, report.
async fn peer(shared: Arc<Shared>, attack: Attack, salt: u64) -> Tally {
    let mut t = Tally::default();
    let ended = shared.ended();
    tokio::pin!(ended);
    let permit = tokio::select! {
        p = shared.connecting.acquire() => p.ok(),
        _ = &mut ended => {
            bump(&mut t.errors, "not connected by the end".to_owned());
            return t;
        }
    };
    let opened = tokio::select! {
        o = open(&shared, attack, &mut t, permit) => o,
        _ = &mut ended => {
            if t.connected > 0 {
                t.unanswered += 1;
            } else {
                bump(&mut t.errors, "not connected by the end".to_owned());
            }
            return t;
        }
    };
    let Some((mut tcp, mut rd)) = opened else {
        return t;
    };
    let mut masks = Masks::new(salt);
    let end = match attack {
        Attack::IdleUpgrades | Attack::Slowloris => {
            let mut seen = Seen::default();
            let end = tokio::select! {
                how = watch_server(&mut tcp, &mut rd, &mut seen, attack == Attack::Slowloris) => End::Dropped(how),
                _ = &mut ended => End::Held,
            };
            seen.count(&mut t);
            end
        }
        Attack::StallFrames => {
            // The header of a masked text frame of `frame_bytes`, and not one byte more.
            // FIN and text (0x81); masked, with a 64-bit length (0x80 | 127).
            let mut header = vec![0x81, 0x80 | 127];
            header.extend_from_slice(&shared.frame_bytes.to_be_bytes());
            header.extend_from_slice(&masks.next());
            let mut seen = Seen::default();
            let end = tokio::select! {
                sent = tcp.write_all(&header) => match sent {
                    Ok(()) => {
                        t.frames_sent += 1;
                        t.bytes_sent += header.len() as u64;
                        tokio::select! {
                            how = watch_server(&mut tcp, &mut rd, &mut seen, false) => End::Dropped(how),
                            _ = &mut ended => End::Held,
                        }
                    }
                    Err(e) => End::Dropped(format!("write failed ({:?})", e.kind())),
                },
                _ = &mut ended => End::Held,
            };
            seen.count(&mut t);
            end
        }
        Attack::PingFlood => {
            let ping = [0x5A; 125];
            let mut sent = Sent::default();
            let end = tokio::select! {
                how = flood(&mut tcp, &mut sent, &mut masks, OpCode::Ping, &ping) => End::Dropped(how),
                _ = &mut ended => End::Held,
            };
            sent.count(&mut t, frame_len(ping.len()));
            end
        }
        Attack::LifecycleFlood | Attack::BigEvents => {
            let event = if attack == Attack::BigEvents {
                &shared.speech
            } else {
                &shared.lifecycle
            };
            let mut start = Vec::with_capacity(frame_len(START_EVENT.len()));
            encode_masked(OpCode::Text, START_EVENT, masks.next(), &mut start);
            let (mut reader, mut writer) = tcp.split();
            let mut sent = Sent::default();
            let mut seen = Seen::default();
            let end = tokio::select! {
                how = async {
                    if let Err(e) = writer.write_all(&start).await {
                        return format!("write failed ({:?})", e.kind());
                    }
                    t.frames_sent += 1;
                    t.bytes_sent += start.len() as u64;
                    flood(&mut writer, &mut sent, &mut masks, OpCode::Text, event).await
                } => End::Dropped(how),
                how = watch_server(&mut reader, &mut rd, &mut seen, false) => End::Dropped(how),
                _ = &mut ended => End::Held,
            };
            sent.count(&mut t, frame_len(event.len()));
            seen.count(&mut t);
            end
        }
    };
    t.end(end);
    t
}

/// Connect, then send the upgrade request and read its answer (`slowloris`: send half of
/// the request and stop there). `None` when the peer cannot go on (counted in `t`). The
/// `permit` (one of the connections being made at once) is given back once connected.
async fn open(
    shared: &Shared,
    attack: Attack,
    t: &mut Tally,
    permit: Option<tokio::sync::SemaphorePermit<'_>>,
) -> Option<(TcpStream, Reader)> {
    let mut tcp = None;
    let mut last = None;
    for addr in &shared.addrs {
        match TcpStream::connect(addr).await {
            Ok(s) => {
                tcp = Some(s);
                break;
            }
            Err(e) => last = Some(e),
        }
    }
    let Some(mut tcp) = tcp else {
        let why = last.map_or("no address".to_owned(), |e| format!("{:?}", e.kind()));
        bump(&mut t.errors, format!("connect: {why}"));
        return None;
    };
    drop(permit);
    t.connected += 1;
    let _ = tcp.set_nodelay(true);
    let mut rd = Reader::new();
    if attack == Attack::Slowloris {
        let half = &shared.head.as_bytes()[..shared.head.len() / 2];
        return match tcp.write_all(half).await {
            Ok(()) => {
                t.bytes_sent += half.len() as u64;
                Some((tcp, rd))
            }
            Err(e) => {
                t.end(End::Dropped(format!("write failed ({:?})", e.kind())));
                None
            }
        };
    }
    let key = generate_key();
    let request = format!("{}{key}\r\n\r\n", shared.head);
    if let Err(e) = tcp.write_all(request.as_bytes()).await {
        t.end(End::Dropped(format!("write failed ({:?})", e.kind())));
        return None;
    }
    t.bytes_sent += request.len() as u64;
    loop {
        if let Some(end) = rd.buf.windows(4).position(|w| w == b"\r\n\r\n") {
            return match check_upgrade(&rd.buf[..end], &derive_accept_key(key.as_bytes())) {
                Ok(()) => {
                    t.upgraded += 1;
                    rd.pos = end + 4;
                    Some((tcp, rd))
                }
                Err(e) => {
                    match e.strip_prefix("upgrade refused: ") {
                        Some(status) => bump(&mut t.refused, status.to_owned()),
                        None => bump(&mut t.errors, e),
                    }
                    None
                }
            };
        }
        if rd.buf.len() > MAX_RESPONSE_HEAD {
            bump(
                &mut t.errors,
                "upgrade: the response head is too long".to_owned(),
            );
            return None;
        }
        rd.buf.reserve(4096);
        match tcp.read_buf(&mut rd.buf).await {
            Ok(0) => {
                t.end(End::Dropped(
                    "connection closed during the upgrade".to_owned(),
                ));
                return None;
            }
            Ok(_) => {}
            Err(e) => {
                t.end(End::Dropped(format!("upgrade: {:?}", e.kind())));
                return None;
            }
        }
    }
}

/// What a flooding peer wrote.
#[derive(Default)]
struct Sent {
    bytes: u64,
}

impl Sent {
    /// Count the complete frames among the bytes written (every frame is `len` bytes).
    fn count(&self, t: &mut Tally, len: usize) {
        t.bytes_sent += self.bytes;
        t.frames_sent += self.bytes / len as u64;
    }
}

/// Write `payload` as frames of `opcode` as fast as the socket takes them, each with a
/// fresh mask; returns how the server ended it (it never returns otherwise).
async fn flood<W: AsyncWrite + Unpin>(
    w: &mut W,
    sent: &mut Sent,
    masks: &mut Masks,
    opcode: OpCode,
    payload: &[u8],
) -> String {
    let per_batch = (BATCH_BYTES / frame_len(payload.len())).max(1);
    let mut batch = Vec::with_capacity(per_batch * frame_len(payload.len()));
    loop {
        batch.clear();
        for _ in 0..per_batch {
            encode_masked(opcode, payload, masks.next(), &mut batch);
        }
        let mut at = 0;
        while at < batch.len() {
            match w.write(&batch[at..]).await {
                Ok(0) => return "connection closed".to_owned(),
                Ok(n) => {
                    at += n;
                    sent.bytes += n as u64;
                }
                Err(e) => return format!("write failed ({:?})", e.kind()),
            }
        }
    }
}

/// What a reading peer saw.
#[derive(Default)]
struct Seen {
    frames: u64,
}

impl Seen {
    fn count(self, t: &mut Tally) {
        t.frames_received += self.frames;
    }
}

/// Read what the server sends, without answering, until it closes the session: returns
/// how (`"close 1008"`, `"connection closed"`, …). With `http`, the bytes are an HTTP
/// answer to a request head (slowloris), whose status is named (`"HTTP 408, then
/// connection closed"`).
async fn watch_server<R: AsyncRead + Unpin>(
    r: &mut R,
    rd: &mut Reader,
    seen: &mut Seen,
    http: bool,
) -> String {
    let mut status = None;
    loop {
        if http {
            if status.is_none() && rd.buf.len() >= 12 && rd.buf.starts_with(b"HTTP/1.") {
                let code = String::from_utf8_lossy(&rd.buf[9..12]).into_owned();
                status = Some(format!("HTTP {code}, then "));
            }
            if rd.buf.len() > MAX_RESPONSE_HEAD {
                rd.buf.clear();
            }
        } else {
            let mut closed = None;
            let fed = rd.codec.feed(&mut rd.buf[rd.pos..], |m| {
                seen.frames += 1;
                if let Message::Close(code, _) = m {
                    closed = Some(match code {
                        Some(code) => format!("close {code}"),
                        None => "close without a code".to_owned(),
                    });
                    return false;
                }
                true
            });
            rd.buf.clear();
            rd.pos = 0;
            if let Err(e) = fed {
                return format!("a bad frame from the server: {e}");
            }
            if let Some(how) = closed {
                return how;
            }
        }
        rd.buf.reserve(4096);
        let how = match r.read_buf(&mut rd.buf).await {
            Ok(0) => "connection closed".to_owned(),
            Ok(_) => continue,
            Err(e) => format!("read failed ({:?})", e.kind()),
        };
        return format!("{}{how}", status.unwrap_or_default());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_attack_has_a_name_that_reads_back() {
        for a in Attack::ALL {
            assert_eq!(Attack::from_name(a.name()), Some(a));
            assert!(a.default_peers() >= 1 && a.default_peers_in_all() >= 1);
        }
        assert_eq!(Attack::from_name("all"), None);
    }

    #[test]
    fn frame_lengths_match_the_encoder() {
        for n in [0, 1, 125, 126, 0xFFFF, 0x1_0000, 1_400_000] {
            let mut out = Vec::new();
            encode_masked(OpCode::Text, &vec![0; n], [1, 2, 3, 4], &mut out);
            assert_eq!(out.len(), frame_len(n), "payload of {n}");
        }
    }

    #[test]
    fn big_speech_events_are_legal_and_of_the_size_asked() {
        let urn = interaction_urn("hello", DEVICE);
        let e = speech_event(1_400_000, &urn);
        assert!(e.len() <= 1_400_000 && e.len() > 1_400_000 - 4);
        let v: serde_json::Value = serde_json::from_slice(&e).unwrap();
        assert_eq!(v["_type"], "wf_api_speech_event");
        assert_eq!(v["source_uri"], urn.as_str());
        assert!(v["audio"].as_str().unwrap().starts_with("QUFBQUFB"));
        // Smaller than its fields: the fields alone.
        let small: serde_json::Value = serde_json::from_slice(&speech_event(10, &urn)).unwrap();
        assert_eq!(small["audio"], "");
    }

    #[test]
    fn masks_change_from_frame_to_frame() {
        let mut m = Masks::new(7);
        let a = m.next();
        let b = m.next();
        assert_ne!(a, b);
    }

    #[tokio::test]
    async fn only_loopback_servers_and_sane_limits_are_accepted() {
        let one = |url: &str, attacks: Vec<(Attack, usize)>, secs: u64| {
            AttackConfig::new(url, attacks, Duration::from_secs(secs))
        };
        let err = |c: AttackConfig| async move { run(c).await.unwrap_err() };
        let ping = vec![(Attack::PingFlood, 1)];
        assert!(err(one("ws://192.0.2.1:9/p", ping.clone(), 1))
            .await
            .contains("not a loopback address"));
        assert!(err(one("wss://127.0.0.1:9/p", ping.clone(), 1))
            .await
            .contains("ws://"));
        assert!(err(one("ws://127.0.0.1:9/p", ping.clone(), 0))
            .await
            .contains("duration"));
        assert!(err(one("ws://127.0.0.1:9/p", ping.clone(), 601))
            .await
            .contains("duration"));
        assert!(
            err(one("ws://127.0.0.1:9/p", vec![(Attack::Slowloris, 0)], 1))
                .await
                .contains("at least 1")
        );
        assert!(err(one(
            "ws://127.0.0.1:9/p",
            vec![(Attack::Slowloris, MAX_PEERS + 1)],
            1
        ))
        .await
        .contains("at most"));
        assert!(err(one(
            "ws://127.0.0.1:9/p",
            vec![(Attack::Slowloris, 1), (Attack::Slowloris, 2)],
            1
        ))
        .await
        .contains("twice"));
        assert!(err(one("ws://127.0.0.1:9/p", vec![], 1))
            .await
            .contains("no attack"));
    }
}
