//! `relay-load`: many concurrent simulated Relay sessions against a workflow server.
//!
//! ```text
//! $ relay-load ws://127.0.0.1:8080/hellopath --concurrency 100 --sessions 10000 --pid 4242
//! relay-load hello mode against ws://127.0.0.1:8080/hellopath (concurrency 100)
//! sessions     10000 started, 10000 completed, 0 failed in 2.31 s
//! throughput   4329.0 sessions/s
//! request      p50 0.101  p90 0.230  p99 0.512  p99.9 1.210  max 3.020 ms  (70000 samples)
//! …
//! ```
//!
//! The measuring is done by `relay_tools::load`, whose documentation defines
//! every figure. Build it with
//! `cargo run --release -p relay-tools --bin relay-load -- --help`.

use relay_tools::load::{run, Limit, LoadConfig, LoadReport};
use std::process::ExitCode;

#[path = "shared/args.rs"]
mod args;
use args::{check_pid, number, seconds, split_flag, value_of};

const USAGE: &str = "\
relay-load — many concurrent simulated Relay sessions against a workflow server

USAGE:
    relay-load <ws-url> --concurrency N (--sessions M | --duration SECS) [OPTIONS]
    relay-load <ws-url> --concurrency N --park [--hold SECS] [OPTIONS]

    <ws-url> is the workflow's WebSocket URL, e.g. ws://127.0.0.1:8080/hellopath.
    Each session plays Relay for a hello-style conversation (start, interaction,
    say, listen, variables, end, terminate) and answers every request.

OPTIONS:
    -c, --concurrency N   sessions at the same time (required)
    -n, --sessions M      stop after M sessions in total
    -d, --duration SECS   stop starting sessions after SECS seconds
        --say TEXT        what the user says at each listen (default: Alice)
        --var VALUE       the value answered to every get_var (default: unset)
        --fair            send the events that follow a response only after a
                          ping/pong round trip (for SDKs that start waiting for
                          the event only once they have read the response)
        --park            open N sessions that stop at listen (no speech ever
                          comes), hold them, read the server's memory, close them
        --hold SECS       park mode: wait this long once all are parked (default 1)
        --timeout SECS    the bound on one session (default 30)
        --pid PID         the server's process id: report its memory (RSS) and CPU
                          time from /proc, and CPU-seconds per 1,000 sessions
        --json            print the report as JSON instead of text
    -h, --help            print this help

Request latency: time from the last frame relay-load wrote on a connection to the
arrival of the workflow's next request. Session latency: connect to terminate
(park mode: connect to listen).
Exit status: 0 when every session completed, 1 when some failed, 2 for bad arguments.
";

fn main() -> ExitCode {
    let config = match parse(std::env::args().skip(1).collect()) {
        Ok(Some(config)) => config,
        Ok(None) => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("relay-load: {message}\nTry `relay-load --help`.");
            return ExitCode::from(2);
        }
    };
    let json = config.1;
    // One thread: the generator is meant to be pinned to one core (bench/run), where a
    // multi-thread runtime, even with a single worker, costs more CPU per session.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("relay-load: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let report: LoadReport = match runtime.block_on(run(config.0)) {
        Ok(report) => report,
        Err(message) => {
            eprintln!("relay-load: {message}");
            return ExitCode::from(2);
        }
    };
    if json {
        match serde_json::to_string_pretty(&report) {
            Ok(s) => println!("{s}"),
            Err(e) => {
                eprintln!("relay-load: cannot write the report: {e}");
                return ExitCode::FAILURE;
            }
        }
    } else {
        print!("{}", report.to_text());
    }
    if report.sessions_failed == 0 && report.sessions_completed > 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// The configuration and whether to print JSON; `None` for `--help`.
fn parse(args: Vec<String>) -> Result<Option<(LoadConfig, bool)>, String> {
    let mut url = None;
    let mut concurrency = None;
    let mut sessions = None;
    let mut duration = None;
    let mut config = LoadConfig::new("", 1, Limit::Sessions(0));
    let mut json = false;
    let mut it = args.into_iter();
    while let Some(arg) = it.next() {
        let (flag, inline) = split_flag(&arg);
        let switch = |inline: &Option<String>| match inline {
            Some(_) => Err(format!("{flag} takes no value")),
            None => Ok(true),
        };
        match flag.as_str() {
            "-h" | "--help" => return Ok(None),
            "--json" => json = switch(&inline)?,
            "--fair" => config.fair = switch(&inline)?,
            "--park" => config.park = switch(&inline)?,
            f if f.starts_with('-') && f != "-" => {
                let value = value_of(f, inline, &mut it)?;
                match f {
                    "-c" | "--concurrency" => concurrency = Some(number::<usize>(f, &value)?),
                    "-n" | "--sessions" => sessions = Some(number::<u64>(f, &value)?),
                    "-d" | "--duration" => duration = Some(seconds(f, &value)?),
                    "--say" => config.say = value,
                    "--var" => config.var_value = Some(value),
                    "--hold" => config.hold = seconds(f, &value)?,
                    "--timeout" => config.session_timeout = seconds(f, &value)?,
                    "--pid" => config.pid = Some(number(f, &value)?),
                    _ => return Err(format!("unknown option {f}")),
                }
            }
            _ => {
                if url.is_some() {
                    return Err(format!("unexpected argument {arg:?} (only one URL)"));
                }
                url = Some(arg);
            }
        }
    }
    config.url = url.ok_or("give the workflow's URL, e.g. ws://127.0.0.1:8080/hellopath")?;
    config.concurrency = match concurrency {
        Some(0) => return Err("--concurrency must be at least 1".into()),
        Some(n) => n,
        None => return Err("give --concurrency N (sessions at the same time)".into()),
    };
    config.limit = match (sessions, duration, config.park) {
        (Some(_), Some(_), _) => {
            return Err("give either --sessions or --duration, not both".into())
        }
        (Some(m), None, _) => Limit::Sessions(m),
        (None, Some(d), _) => Limit::Duration(d),
        (None, None, true) => Limit::Sessions(config.concurrency as u64),
        (None, None, false) => {
            return Err("give --sessions M or --duration SECS (or --park)".into())
        }
    };
    check_pid(config.pid)?;
    Ok(Some((config, json)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn parses_a_full_command_line() {
        let (c, json) = parse(args(
            "ws://h/p -c 5 --sessions=20 --say Bo --fair --json --timeout 2.5",
        ))
        .unwrap()
        .unwrap();
        assert_eq!(c.url, "ws://h/p");
        assert_eq!(c.concurrency, 5);
        assert_eq!(c.limit, Limit::Sessions(20));
        assert_eq!(c.say, "Bo");
        assert!(c.fair && json && !c.park);
        assert_eq!(c.session_timeout, Duration::from_millis(2500));
    }

    #[test]
    fn bad_command_lines_say_what_to_do() {
        let err = |s: &str| parse(args(s)).unwrap_err();
        assert!(err("ws://h/p -n 3").contains("--concurrency"));
        assert!(err("ws://h/p -c 2").contains("--sessions M or --duration"));
        assert!(err("ws://h/p -c 2 -n 1 -d 1").contains("not both"));
        assert!(err("ws://h/p -c 0 -n 1").contains("at least 1"));
        assert!(err("ws://h/p -c x -n 1").contains("needs a number"));
        assert!(err("-c 1 -n 1").contains("URL"));
        assert!(err("ws://h/p -c 1 -n 1 --bogus 1").contains("unknown option"));
        assert!(parse(args("--help")).unwrap().is_none());
    }

    #[test]
    fn park_mode_needs_no_limit() {
        let (c, _) = parse(args("ws://h/p -c 7 --park --hold 0"))
            .unwrap()
            .unwrap();
        assert!(c.park);
        assert_eq!(c.limit, Limit::Sessions(7));
        assert_eq!(c.hold, Duration::ZERO);
    }
}
