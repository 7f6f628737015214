//! The hostile-peer generator (`relay-attack`, `relay_tools::attack`) against a real server on
//! 127.0.0.1: every attack runs briefly with a few peers, and its report must account for
//! each of them. The counts checked hold for a server that bounds its peers and for one
//! that does not (the tool measures both).

#[path = "../../template/relay-workflow/tests/common/hello.rs"]
mod hello;

use hello::hello;
use relay_tools::attack::{run, Attack, AttackConfig, AttackReport, ModeReport};
use relay_workflow::testing::TestServer;
use relay_workflow::WorkflowServer;
use std::time::Duration;

/// How long each attack of these tests lasts.
const BRIEF: Duration = Duration::from_millis(500);
/// The bound on a whole run past its duration (the tool abandons peers after 5 s).
const RUN_BOUND: Duration = Duration::from_secs(20);

/// One attack at a time in this binary: an attack on one test's server takes CPU from the
/// others, and a server that cannot keep up leaves upgrades unanswered.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn hello_server() -> TestServer {
    TestServer::start(WorkflowServer::new().workflow("hellopath", hello())).await
}

fn config(server: &TestServer, attacks: Vec<(Attack, usize)>) -> AttackConfig {
    let mut c = AttackConfig::new(server.url("hellopath"), attacks, BRIEF);
    // Small events: the test is about the counts, not the load.
    c.event_bytes = 100_000;
    c.after = Duration::ZERO;
    c
}

async fn attack(c: AttackConfig) -> AttackReport {
    let _alone = ONE_AT_A_TIME.lock().await;
    let duration = c.duration;
    let r = tokio::time::timeout(duration + RUN_BOUND, run(c))
        .await
        .expect("the attack ends within its bound")
        .expect("the attack runs");
    assert!(r.elapsed_s <= (duration + Duration::from_secs(6)).as_secs_f64());
    r
}

/// Every peer connected, and every connection is accounted for once: refused at the
/// upgrade, unanswered, held to the end, or dropped by the server.
fn accounted(m: &ModeReport, peers: usize) {
    assert_eq!(m.peers, peers, "{m:?}");
    assert_eq!(m.connected, peers as u64, "{m:?}");
    assert!(m.errors.is_empty(), "{m:?}");
    let refused: u64 = m.refused.values().sum();
    assert_eq!(
        m.unanswered + m.held_to_end + m.dropped + refused,
        m.connected,
        "{m:?}"
    );
    assert_eq!(m.endings.values().sum::<u64>(), m.dropped, "{m:?}");
    if m.mode == "slowloris" {
        assert_eq!((m.upgraded, refused, m.unanswered), (0, 0, 0), "{m:?}");
    } else {
        // Upgraded peers are held or dropped; a peer dropped during its upgrade is neither
        // upgraded, refused nor unanswered.
        assert!(m.upgraded <= m.held_to_end + m.dropped, "{m:?}");
        assert!(m.upgraded + refused + m.unanswered <= m.connected, "{m:?}");
    }
}

fn only(r: &AttackReport, attack: Attack) -> &ModeReport {
    assert_eq!(r.attacks.len(), 1);
    assert_eq!(r.mode, attack.name());
    r.attack(attack).expect("the attack's report")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ping_flood_sends_pings_and_reads_nothing() {
    let server = hello_server().await;
    let mut c = config(&server, vec![(Attack::PingFlood, 1)]);
    // This process is the server: never let it grow by more than 256 MiB.
    c.pid = Some(std::process::id());
    let rss = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            let line = s.lines().find(|l| l.starts_with("VmRSS:"))?.to_owned();
            line.split_whitespace().nth(1)?.parse::<u64>().ok()
        })
        .unwrap_or(0);
    c.max_rss_kib = Some(rss + 256 * 1024);
    let r = attack(c).await;
    let m = only(&r, Attack::PingFlood);
    accounted(m, 1);
    assert_eq!(m.upgraded, 1);
    assert!(m.frames_sent > 0, "{m:?}");
    // 125-byte payloads, masked: 131 bytes each, plus the request head.
    assert!(m.bytes_sent >= m.frames_sent * 131);
    assert_eq!(m.frames_received, 0);
    let s = r.server.as_ref().expect("the server's memory");
    assert_eq!(s.pid, std::process::id());
    assert!(s.rss_before_kib > 0 && s.rss_peak_kib >= s.rss_before_kib);
    assert!(s.rss_after_kib.is_some() && !s.exited);
    assert!(r
        .to_text()
        .contains("ping-flood       1 peer: 1 connected, 1 upgraded, 0 refused, 0 unanswered"));
    server.shutdown().await;
}

#[tokio::test]
async fn lifecycle_flood_streams_events_behind_the_start() {
    let server = hello_server().await;
    let r = attack(config(&server, vec![(Attack::LifecycleFlood, 1)])).await;
    let m = only(&r, Attack::LifecycleFlood);
    accounted(m, 1);
    assert_eq!(m.upgraded, 1);
    // The start event and at least one lifecycle event.
    assert!(m.frames_sent >= 2, "{m:?}");
    // The start_interaction request (or a close) came back.
    assert!(m.frames_received >= 1, "{m:?}");
    assert!(r.server.is_none());
    server.shutdown().await;
}

#[tokio::test]
async fn big_events_peers_each_send_whole_events() {
    let server = hello_server().await;
    let r = attack(config(&server, vec![(Attack::BigEvents, 2)])).await;
    let m = only(&r, Attack::BigEvents);
    accounted(m, 2);
    assert_eq!(m.upgraded, 2);
    // Each peer: its start event and at least one 100 kB event.
    assert!(m.frames_sent >= 4, "{m:?}");
    assert!(m.bytes_sent >= 2 * 100_000, "{m:?}");
    server.shutdown().await;
}

#[tokio::test]
async fn idle_upgrades_send_nothing() {
    let server = hello_server().await;
    let r = attack(config(&server, vec![(Attack::IdleUpgrades, 5)])).await;
    let m = only(&r, Attack::IdleUpgrades);
    accounted(m, 5);
    assert_eq!((m.frames_sent, m.frames_received), (0, 0), "{m:?}");
    server.shutdown().await;
}

#[tokio::test]
async fn stall_frames_send_one_header_each() {
    let server = hello_server().await;
    let r = attack(config(&server, vec![(Attack::StallFrames, 3)])).await;
    let m = only(&r, Attack::StallFrames);
    accounted(m, 3);
    assert_eq!(m.upgraded, 3);
    assert_eq!(m.frames_sent, 3, "{m:?}");
    server.shutdown().await;
}

#[tokio::test]
async fn slowloris_peers_send_half_a_head() {
    let server = hello_server().await;
    let r = attack(config(&server, vec![(Attack::Slowloris, 4)])).await;
    let m = only(&r, Attack::Slowloris);
    accounted(m, 4);
    assert_eq!(m.frames_sent, 0);
    assert!(m.bytes_sent >= 4 * 20, "{m:?}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_attacks_at_once_are_each_reported() {
    let server = hello_server().await;
    let attacks: Vec<(Attack, usize)> = Attack::ALL.iter().map(|&a| (a, 2)).collect();
    let r = attack(config(&server, attacks)).await;
    assert_eq!(r.mode, "all");
    let names: Vec<&str> = r.attacks.iter().map(|m| m.mode.as_str()).collect();
    let want: Vec<&str> = Attack::ALL.iter().map(|a| a.name()).collect();
    assert_eq!(names, want);
    for m in &r.attacks {
        accounted(m, 2);
    }
    assert!(r.to_text().contains("relay-attack all against"));
    server.shutdown().await;
}

#[tokio::test]
async fn a_memory_bound_stops_the_attack_early() {
    let server = hello_server().await;
    let mut c = config(&server, vec![(Attack::IdleUpgrades, 2)]);
    c.duration = Duration::from_secs(60);
    c.pid = Some(std::process::id());
    // Any process is past 1 KiB: the attack stops at the first sample.
    c.max_rss_kib = Some(1);
    let r = tokio::time::timeout(Duration::from_secs(20), run(c))
        .await
        .expect("stopped well before its 60 s")
        .unwrap();
    assert_eq!(r.stopped_early.as_deref(), Some("server RSS passed 1 KiB"));
    assert!(r.elapsed_s < 20.0);
    server.shutdown().await;
}
