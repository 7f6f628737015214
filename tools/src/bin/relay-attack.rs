//! `relay-attack`: hostile peers against a workflow server on this machine, for the
//! benchmark's "under attack" rows.
//!
//! ```text
//! $ relay-attack ping-flood ws://127.0.0.1:8080/hellopath -d 4 --pid 4242
//! relay-attack ping-flood against ws://127.0.0.1:8080/hellopath for 4.0 s (ended after 4.00 s)
//! ping-flood       1 peers: 1 connected, 1 upgraded, 0 refused; 812345 frames (106.4 MB) sent, …
//! server pid 4242: RSS 5.9 MiB before, peak 1121.0 MiB (VmHWM 1121.0 MiB), …
//! ```
//!
//! The attacks are played by `relay_tools::attack`, whose documentation says
//! what each does and what is counted. Build it with
//! `cargo run --release -p relay-tools --bin relay-attack -- --help`.

use clap::error::ErrorKind;
use clap::{CommandFactory, Parser};
use relay_tools::attack::{
    run, Attack, AttackConfig, AttackReport, DEFAULT_EVENT_BYTES, DEFAULT_FRAME_BYTES,
};
use std::process::ExitCode;
use std::time::Duration;

#[path = "shared/args.rs"]
mod args;

/// Hostile peers against a workflow server on this machine (loopback only), each attack
/// bounded in peers and time, for measurements.
#[derive(Debug, Parser)]
#[command(
    name = "relay-attack",
    version,
    after_help = AFTER_HELP,
    // As before clap: an option given twice takes the last value.
    args_override_self = true
)]
struct Cli {
    /// The attack: one of the modes below, or `all` for every mode at once
    #[arg(value_name = "MODE", value_parser = mode_names())]
    mode: String,
    /// The workflow's WebSocket URL, e.g. ws://127.0.0.1:8080/hellopath (with ?secret=…
    /// when the server has one)
    #[arg(value_name = "WS_URL")]
    url: String,
    /// Peers of the mode (alone), or MODE=N: peers of one mode (with `all`; repeat for
    /// others)
    #[arg(short = 'n', long = "peers", value_name = "N|MODE=N", value_parser = peers)]
    peers: Vec<Peers>,
    /// How long the attack lasts
    #[arg(short, long, value_name = "SECS", value_parser = args::seconds, allow_negative_numbers = true, default_value = "4")]
    duration: Duration,
    /// big-events: bytes of each event
    #[arg(long, value_name = "N", default_value_t = DEFAULT_EVENT_BYTES)]
    event_bytes: usize,
    /// stall-frames: the payload length announced
    #[arg(long, value_name = "N", default_value_t = DEFAULT_FRAME_BYTES)]
    frame_bytes: u64,
    /// The server's process id: sample its memory every 20 ms and report the peak, the
    /// memory after, its CPU time
    #[arg(long, value_name = "PID", value_parser = args::pid)]
    pid: Option<u32>,
    /// With --pid: stop the attack when the server's RSS passes MIB
    #[arg(long, value_name = "MIB", requires = "pid")]
    max_rss: Option<u64>,
    /// With --pid: read its memory this long after the attack ended and every connection
    /// closed
    #[arg(long, value_name = "SECS", value_parser = args::seconds, allow_negative_numbers = true, default_value = "1")]
    after: Duration,
    /// Print the report as JSON instead of text
    #[arg(long)]
    json: bool,
}

const AFTER_HELP: &str = "\
Modes (default peers alone / in `all`):
  ping-flood        upgrade, send 125-byte pings as fast as possible, never read (1 / 2)
  lifecycle-flood   send a start event, leave start_interaction unanswered and stream
                    interaction_lifecycle events behind it (1 / 2)
  big-events        send a start event, then legal speech events of --event-bytes, back
                    to back (2 / 2)
  idle-upgrades     upgrade, never send an event (100 / 1000)
  stall-frames      upgrade, announce a text frame of --frame-bytes, send nothing more
                    (20 / 20)
  slowloris         send half an upgrade request head, then nothing (20 / 100)
  all               every mode at once

Exit status: 0 when some peer connected, 1 when none could, 2 for bad arguments.";

/// `-n`: a number of peers, for one mode or for the mode of the run.
#[derive(Debug, Clone, Copy)]
struct Peers(Option<Attack>, usize);

fn mode(name: &str) -> Result<Attack, String> {
    Attack::from_name(name).ok_or_else(|| {
        let names: Vec<&str> = Attack::ALL.iter().map(|a| a.name()).collect();
        format!("unknown mode {name:?} (one of {}, all)", names.join(", "))
    })
}

fn mode_names() -> clap::builder::PossibleValuesParser {
    let mut names: Vec<&'static str> = Attack::ALL.iter().map(|a| a.name()).collect();
    names.push("all");
    clap::builder::PossibleValuesParser::new(names)
}

fn peers(value: &str) -> Result<Peers, String> {
    let count = |n: &str| match n.parse::<usize>() {
        Ok(0) => Err("the number of peers must be at least 1".to_owned()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("needs a number, got {n:?}")),
    };
    match value.split_once('=') {
        Some((m, n)) => Ok(Peers(Some(mode(m)?), count(n)?)),
        None => Ok(Peers(None, count(value)?)),
    }
}

impl Cli {
    /// The attack this command line asks for, or what is wrong with it.
    fn config(&self) -> Result<AttackConfig, clap::Error> {
        let invalid = |message: String| Cli::command().error(ErrorKind::ArgumentConflict, message);
        let mut config = AttackConfig::new(&self.url, Vec::new(), self.duration);
        if self.mode == "all" {
            config.attacks = Attack::ALL
                .iter()
                .map(|&a| (a, a.default_peers_in_all()))
                .collect();
            for &Peers(attack, n) in &self.peers {
                let Some(attack) = attack else {
                    return Err(invalid(
                        "with all, give the peers of each mode as -n MODE=N".into(),
                    ));
                };
                if let Some(entry) = config.attacks.iter_mut().find(|(a, _)| *a == attack) {
                    entry.1 = n;
                }
            }
        } else {
            let attack = mode(&self.mode).map_err(invalid)?;
            let mut peers = attack.default_peers();
            for &Peers(of, n) in &self.peers {
                match of {
                    Some(other) if other != attack => {
                        return Err(invalid(format!(
                            "-n {}=…: this run plays only {}",
                            other.name(),
                            attack.name()
                        )))
                    }
                    _ => peers = n,
                }
            }
            config.attacks = vec![(attack, peers)];
        }
        if config.duration.is_zero() {
            return Err(
                Cli::command().error(ErrorKind::ValueValidation, "--duration must be more than 0")
            );
        }
        config.event_bytes = self.event_bytes;
        config.frame_bytes = self.frame_bytes;
        config.pid = self.pid;
        config.max_rss_kib = self.max_rss.map(|mib| mib.saturating_mul(1024));
        config.after = self.after;
        Ok(config)
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = cli.config().unwrap_or_else(|e| e.exit());
    // One thread, like relay-load: the attacker is meant to be pinned to one core.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("relay-attack: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let report: AttackReport = match runtime.block_on(run(config)) {
        Ok(report) => report,
        Err(message) => Cli::command()
            .error(ErrorKind::ValueValidation, message)
            .exit(),
    };
    if cli.json {
        match serde_json::to_string_pretty(&report) {
            Ok(s) => println!("{s}"),
            Err(e) => {
                eprintln!("relay-attack: cannot write the report: {e}");
                return ExitCode::FAILURE;
            }
        }
    } else {
        print!("{}", report.to_text());
    }
    if report.connected() > 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<AttackConfig, clap::Error> {
        Cli::try_parse_from(std::iter::once("relay-attack").chain(s.split_whitespace()))?.config()
    }

    fn parsed(s: &str) -> (AttackConfig, bool) {
        let cli = Cli::try_parse_from(std::iter::once("relay-attack").chain(s.split_whitespace()))
            .unwrap();
        (cli.config().unwrap(), cli.json)
    }

    #[test]
    fn the_command_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn one_mode_with_its_defaults() {
        let (c, json) = parsed("ping-flood ws://127.0.0.1:1/p");
        assert_eq!(c.url, "ws://127.0.0.1:1/p");
        assert_eq!(c.attacks, [(Attack::PingFlood, 1)]);
        assert_eq!(c.duration, Duration::from_secs(4));
        assert_eq!(c.event_bytes, DEFAULT_EVENT_BYTES);
        assert_eq!(c.frame_bytes, DEFAULT_FRAME_BYTES);
        assert_eq!((c.pid, c.max_rss_kib, json), (None, None, false));
        assert_eq!(c.after, Duration::from_secs(1));
        let (c, _) = parsed("big-events ws://h/p");
        assert_eq!(c.attacks, [(Attack::BigEvents, 2)]);
    }

    #[test]
    fn a_full_command_line() {
        let pid = std::process::id();
        let (c, json) = parsed(&format!(
            "stall-frames ws://127.0.0.1:1/p?secret=s -n 7 --duration=2.5 --frame-bytes 1024 \
             --event-bytes=99 --pid {pid} --max-rss 2048 --after 0 --json"
        ));
        assert_eq!(c.url, "ws://127.0.0.1:1/p?secret=s");
        assert_eq!(c.attacks, [(Attack::StallFrames, 7)]);
        assert_eq!(c.duration, Duration::from_millis(2500));
        assert_eq!((c.frame_bytes, c.event_bytes), (1024, 99));
        assert_eq!(c.pid, Some(pid));
        assert_eq!(c.max_rss_kib, Some(2048 * 1024));
        assert_eq!(c.after, Duration::ZERO);
        assert!(json);
        // The mode's own name is accepted with -n too, and options may come first (as
        // bench/run writes them).
        let (c, _) = parsed("slowloris -n slowloris=3 -d 120 ws://h/p");
        assert_eq!(c.attacks, [(Attack::Slowloris, 3)]);
        assert_eq!(c.duration, Duration::from_secs(120));
    }

    #[test]
    fn all_runs_every_mode_with_counts_per_mode() {
        let (c, _) = parsed("all ws://h/p -n idle-upgrades=5000 -n ping-flood=1 -d 3");
        assert_eq!(c.attacks.len(), Attack::ALL.len());
        for (a, n) in &c.attacks {
            let want = match a {
                Attack::IdleUpgrades => 5000,
                Attack::PingFlood => 1,
                a => a.default_peers_in_all(),
            };
            assert_eq!(*n, want, "{}", a.name());
        }
        assert_eq!(c.duration, Duration::from_secs(3));
    }

    #[test]
    fn bad_command_lines_say_what_to_do() {
        let err = |s: &str| parse(s).unwrap_err().to_string();
        assert!(err("ping-flood").contains("<WS_URL>"));
        assert!(err("").contains("<MODE>"));
        assert!(err("flood ws://h/p").contains("invalid value 'flood'"));
        assert!(err("ping-flood ws://h/p extra").contains("unexpected argument 'extra'"));
        assert!(err("ping-flood ws://h/p -n 0").contains("at least 1"));
        assert!(err("ping-flood ws://h/p -n x").contains("needs a number"));
        assert!(err("ping-flood ws://h/p -n slowloris=2").contains("only ping-flood"));
        assert!(err("all ws://h/p -n 3").contains("-n MODE=N"));
        assert!(err("all ws://h/p -n bogus=3").contains("unknown mode"));
        assert!(err("ping-flood ws://h/p -d 0").contains("more than 0"));
        assert!(err("ping-flood ws://h/p -d -1").contains("seconds"));
        assert!(err("ping-flood ws://h/p -d").contains("a value is required"));
        assert!(err("ping-flood ws://h/p --max-rss 10").contains("--pid <PID>"));
        assert!(err("ping-flood ws://h/p --pid 4294967295").contains("no such process"));
        assert!(err("ping-flood ws://h/p --json=1").contains("unexpected value"));
        assert!(err("ping-flood ws://h/p --bogus 1").contains("unexpected argument '--bogus'"));
        assert_eq!(parse("--help").unwrap_err().kind(), ErrorKind::DisplayHelp);
        assert_eq!(
            parse("ping-flood -h").unwrap_err().kind(),
            ErrorKind::DisplayHelp
        );
        assert_eq!(parse("-V").unwrap_err().kind(), ErrorKind::DisplayVersion);
        assert_eq!(parse("flood ws://h/p").unwrap_err().exit_code(), 2);
    }
}
