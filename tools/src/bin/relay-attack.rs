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

use relay_tools::attack::{run, Attack, AttackConfig, AttackReport};
use std::process::ExitCode;

#[path = "shared/args.rs"]
mod args;
use args::{check_pid, number, seconds, split_flag, value_of};
use std::time::Duration;

const USAGE: &str = "\
relay-attack — hostile peers against a workflow server on this machine (loopback only),
each attack bounded in peers and time, for measurements

USAGE:
    relay-attack <mode> <ws-url> [-n N] [-d SECS] [OPTIONS]
    relay-attack all <ws-url> [-n MODE=N]... [-d SECS] [OPTIONS]

    <ws-url> is the workflow's WebSocket URL, e.g. ws://127.0.0.1:8080/hellopath
    (with ?secret=… when the server has one).

MODES (default peers alone / in `all`):
    ping-flood        upgrade, send 125-byte pings as fast as possible, never read (1 / 2)
    lifecycle-flood   send a start event, leave start_interaction unanswered and stream
                      interaction_lifecycle events behind it (1 / 2)
    big-events        send a start event, then legal speech events of --event-bytes,
                      back to back (2 / 2)
    idle-upgrades     upgrade, never send an event (100 / 1000)
    stall-frames      upgrade, announce a text frame of --frame-bytes, send nothing
                      more (20 / 20)
    slowloris         send half an upgrade request head, then nothing (20 / 100)
    all               every mode at once

OPTIONS:
    -n, --peers N         peers of the mode (alone)
    -n, --peers MODE=N    peers of one mode (with `all`; repeat for others)
    -d, --duration SECS   how long the attack lasts (default 4, at most 600)
        --event-bytes N   big-events: bytes of each event (default 1400000)
        --frame-bytes N   stall-frames: the payload length announced (default 8388608)
        --pid PID         the server's process id: sample its memory every 20 ms and
                          report the peak, the memory after, its CPU time
        --max-rss MIB     with --pid: stop the attack when the server's RSS passes MIB
        --after SECS      with --pid: read its memory this long after the attack
                          ended and every connection closed (default 1)
        --json            print the report as JSON instead of text
    -h, --help            print this help

Exit status: 0 when some peer connected, 1 when none could, 2 for bad arguments.
";

/// The default duration of an attack.
const DEFAULT_DURATION: Duration = Duration::from_secs(4);

fn main() -> ExitCode {
    let (config, json) = match parse(std::env::args().skip(1).collect()) {
        Ok(Some(parsed)) => parsed,
        Ok(None) => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("relay-attack: {message}\nTry `relay-attack --help`.");
            return ExitCode::from(2);
        }
    };
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
        Err(message) => {
            eprintln!("relay-attack: {message}");
            return ExitCode::from(2);
        }
    };
    if json {
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

fn mode(name: &str) -> Result<Attack, String> {
    Attack::from_name(name).ok_or_else(|| {
        let names: Vec<&str> = Attack::ALL.iter().map(|a| a.name()).collect();
        format!("unknown mode {name:?} (one of {}, all)", names.join(", "))
    })
}

/// The configuration and whether to print JSON; `None` for `--help`.
fn parse(args: Vec<String>) -> Result<Option<(AttackConfig, bool)>, String> {
    let mut positional = Vec::new();
    let mut counts: Vec<(Option<Attack>, usize)> = Vec::new();
    let mut config = AttackConfig::new("", Vec::new(), DEFAULT_DURATION);
    let mut max_rss_mib = None;
    let mut json = false;
    let mut it = args.into_iter();
    while let Some(arg) = it.next() {
        let (flag, inline) = split_flag(&arg);
        match flag.as_str() {
            "-h" | "--help" => return Ok(None),
            "--json" => match inline {
                Some(_) => return Err("--json takes no value".into()),
                None => json = true,
            },
            f if f.starts_with('-') && f != "-" => {
                let value = value_of(f, inline, &mut it)?;
                match f {
                    "-n" | "--peers" => counts.push(match value.split_once('=') {
                        Some((m, n)) => (Some(mode(m)?), number(f, n)?),
                        None => (None, number(f, &value)?),
                    }),
                    "-d" | "--duration" => config.duration = seconds(f, &value)?,
                    "--event-bytes" => config.event_bytes = number(f, &value)?,
                    "--frame-bytes" => config.frame_bytes = number(f, &value)?,
                    "--pid" => config.pid = Some(number(f, &value)?),
                    "--max-rss" => max_rss_mib = Some(number::<u64>(f, &value)?),
                    "--after" => config.after = seconds(f, &value)?,
                    _ => return Err(format!("unknown option {f}")),
                }
            }
            _ => positional.push(arg),
        }
    }
    let mut positional = positional.into_iter();
    let (Some(name), Some(url)) = (positional.next(), positional.next()) else {
        return Err(
            "give a mode and the workflow's URL, e.g. ping-flood ws://127.0.0.1:8080/hellopath"
                .into(),
        );
    };
    if let Some(extra) = positional.next() {
        return Err(format!("unexpected argument {extra:?}"));
    }
    config.url = url;
    if name == "all" {
        config.attacks = Attack::ALL
            .iter()
            .map(|&a| (a, a.default_peers_in_all()))
            .collect();
        for (attack, n) in counts {
            let Some(attack) = attack else {
                return Err("with all, give the peers of each mode as -n MODE=N".into());
            };
            if let Some(entry) = config.attacks.iter_mut().find(|(a, _)| *a == attack) {
                entry.1 = n;
            }
        }
    } else {
        let attack = mode(&name)?;
        let mut peers = attack.default_peers();
        for (of, n) in counts {
            match of {
                Some(other) if other != attack => {
                    return Err(format!(
                        "-n {}=…: this run plays only {}",
                        other.name(),
                        attack.name()
                    ))
                }
                _ => peers = n,
            }
        }
        config.attacks = vec![(attack, peers)];
    }
    if config.attacks.iter().any(|&(_, n)| n == 0) {
        return Err("the number of peers must be at least 1".into());
    }
    if config.duration.is_zero() {
        return Err("--duration must be more than 0".into());
    }
    if let Some(mib) = max_rss_mib {
        if config.pid.is_none() {
            return Err("--max-rss needs --pid (the server to watch)".into());
        }
        config.max_rss_kib = Some(mib.saturating_mul(1024));
    }
    check_pid(config.pid)?;
    Ok(Some((config, json)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use relay_tools::attack::{DEFAULT_EVENT_BYTES, DEFAULT_FRAME_BYTES};

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_owned).collect()
    }

    fn parsed(s: &str) -> (AttackConfig, bool) {
        parse(args(s)).unwrap().unwrap()
    }

    #[test]
    fn one_mode_with_its_defaults() {
        let (c, json) = parsed("ping-flood ws://127.0.0.1:1/p");
        assert_eq!(c.url, "ws://127.0.0.1:1/p");
        assert_eq!(c.attacks, [(Attack::PingFlood, 1)]);
        assert_eq!(c.duration, DEFAULT_DURATION);
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
        // The mode's own name is accepted with -n too.
        let (c, _) = parsed("slowloris ws://h/p -n slowloris=3");
        assert_eq!(c.attacks, [(Attack::Slowloris, 3)]);
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
        let err = |s: &str| parse(args(s)).unwrap_err();
        assert!(err("ping-flood").contains("give a mode and the workflow's URL"));
        assert!(err("").contains("give a mode"));
        assert!(err("flood ws://h/p").contains("unknown mode \"flood\""));
        assert!(err("ping-flood ws://h/p extra").contains("unexpected argument"));
        assert!(err("ping-flood ws://h/p -n 0").contains("at least 1"));
        assert!(err("ping-flood ws://h/p -n x").contains("needs a number"));
        assert!(err("ping-flood ws://h/p -n slowloris=2").contains("only ping-flood"));
        assert!(err("all ws://h/p -n 3").contains("-n MODE=N"));
        assert!(err("all ws://h/p -n bogus=3").contains("unknown mode"));
        assert!(err("ping-flood ws://h/p -d 0").contains("more than 0"));
        assert!(err("ping-flood ws://h/p -d -1").contains("seconds"));
        assert!(err("ping-flood ws://h/p -d").contains("needs a value"));
        assert!(err("ping-flood ws://h/p --max-rss 10").contains("needs --pid"));
        assert!(err("ping-flood ws://h/p --pid 4294967295").contains("no such process"));
        assert!(err("ping-flood ws://h/p --json=1").contains("takes no value"));
        assert!(err("ping-flood ws://h/p --bogus 1").contains("unknown option"));
        assert!(parse(args("--help")).unwrap().is_none());
        assert!(parse(args("ping-flood -h")).unwrap().is_none());
    }
}
