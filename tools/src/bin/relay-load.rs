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

use clap::error::ErrorKind;
use clap::{CommandFactory, Parser};
use relay_tools::load::{run_with_progress, Limit, LoadConfig, LoadReport, Progress};
use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::time::Duration;

#[path = "shared/args.rs"]
mod args;

/// Many concurrent simulated Relay sessions against a workflow server.
///
/// Each session plays Relay for a hello-style conversation (start, interaction, say,
/// listen, variables, end, terminate) and answers every request.
#[derive(Debug, Parser)]
#[command(
    name = "relay-load",
    // As before clap: an option given twice takes the last value.
    args_override_self = true,
    version,
    after_help = AFTER_HELP,
    group = clap::ArgGroup::new("limit").args(["sessions", "duration", "park"]).multiple(true).required(true),
)]
struct Cli {
    /// The workflow's WebSocket URL, e.g. ws://127.0.0.1:8080/hellopath
    #[arg(value_name = "WS_URL")]
    url: String,
    /// Sessions at the same time (at least 1)
    #[arg(short, long, value_name = "N", value_parser = at_least_one)]
    concurrency: usize,
    /// Stop after M sessions in total
    #[arg(short = 'n', long, value_name = "M", conflicts_with = "duration")]
    sessions: Option<u64>,
    /// Stop starting sessions after SECS seconds
    #[arg(short, long, value_name = "SECS", value_parser = args::seconds, allow_negative_numbers = true)]
    duration: Option<Duration>,
    /// What the user says at each listen
    #[arg(long, value_name = "TEXT", default_value = "Alice")]
    say: String,
    /// The value answered to every get_var (default: unset)
    #[arg(long, value_name = "VALUE")]
    var: Option<String>,
    /// Send the events that follow a response only after a ping/pong round trip (for SDKs
    /// that start waiting for the event only once they have read the response)
    #[arg(long)]
    fair: bool,
    /// Open N sessions that stop at listen (no speech ever comes), hold them, read the
    /// server's memory, close them
    #[arg(long)]
    park: bool,
    /// Park mode: wait this long once all are parked
    #[arg(long, value_name = "SECS", value_parser = args::seconds, allow_negative_numbers = true, default_value = "1")]
    hold: Duration,
    /// The bound on one session
    #[arg(long, value_name = "SECS", value_parser = args::seconds, allow_negative_numbers = true, default_value = "30")]
    timeout: Duration,
    /// The server's process id: report its memory (RSS) and CPU time from /proc, and
    /// CPU-seconds per 1,000 sessions
    #[arg(long, value_name = "PID", value_parser = args::pid)]
    pid: Option<u32>,
    /// Print the report as JSON instead of text
    #[arg(long)]
    json: bool,
    /// Print no progress on stderr while the run goes on
    #[arg(short, long)]
    quiet: bool,
}

const AFTER_HELP: &str = "\
Progress (sessions done, rate, failures) goes to stderr once a second; the report, with a
histogram of the request latency, to stdout.
Request latency: time from the last frame relay-load wrote on a connection to the arrival of
the workflow's next request. Session latency: connect to terminate (park mode: connect to
listen).
Exit status: 0 when every session completed, 1 when some failed, 2 for bad arguments.";

fn at_least_one(value: &str) -> Result<usize, String> {
    match value.parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("needs a number, got {value:?}")),
    }
}

impl Cli {
    /// The run this command line asks for.
    fn config(&self) -> LoadConfig {
        let limit = match (self.sessions, self.duration) {
            (Some(m), _) => Limit::Sessions(m),
            (None, Some(d)) => Limit::Duration(d),
            (None, None) => Limit::Sessions(self.concurrency as u64),
        };
        let mut config = LoadConfig::new(&self.url, self.concurrency, limit);
        config.say.clone_from(&self.say);
        config.var_value.clone_from(&self.var);
        config.fair = self.fair;
        config.park = self.park;
        config.hold = self.hold;
        config.session_timeout = self.timeout;
        config.pid = self.pid;
        config
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = cli.config();
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
    let mut progress = ProgressLine::new(!cli.quiet);
    let outcome = runtime.block_on(run_with_progress(config, |p| progress.show(p)));
    progress.finish();
    let report: LoadReport = match outcome {
        Ok(report) => report,
        Err(message) => Cli::command()
            .error(ErrorKind::ValueValidation, message)
            .exit(),
    };
    if cli.json {
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
    if let Some(hint) = report.hint() {
        eprintln!("relay-load: {hint}");
    }
    if report.sessions_failed == 0 && report.sessions_completed > 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// The progress on stderr: one line rewritten in place on a terminal, else one line a
/// second.
struct ProgressLine {
    on: bool,
    terminal: bool,
    shown: bool,
}

impl ProgressLine {
    fn new(on: bool) -> Self {
        ProgressLine {
            on,
            terminal: std::io::stderr().is_terminal(),
            shown: false,
        }
    }

    fn show(&mut self, p: &Progress) {
        if !self.on {
            return;
        }
        let line = p.to_text();
        let mut err = std::io::stderr().lock();
        let _ = if self.terminal {
            write!(err, "\r\x1b[2K{line}")
        } else {
            writeln!(err, "{line}")
        };
        let _ = err.flush();
        self.shown = true;
    }

    /// End the rewritten line before the report.
    fn finish(&mut self) {
        if self.on && self.terminal && self.shown {
            eprintln!();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("relay-load").chain(s.split_whitespace()))
    }

    fn err(s: &str) -> String {
        parse(s).unwrap_err().to_string()
    }

    #[test]
    fn the_command_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn parses_a_full_command_line() {
        let cli = parse("ws://h/p -c 5 --sessions=20 --say Bo --fair --json --timeout 2.5 --var=x")
            .unwrap();
        let c = cli.config();
        assert_eq!(c.url, "ws://h/p");
        assert_eq!(c.concurrency, 5);
        assert_eq!(c.limit, Limit::Sessions(20));
        assert_eq!(c.say, "Bo");
        assert_eq!(c.var_value.as_deref(), Some("x"));
        assert!(c.fair && cli.json && !c.park && !cli.quiet);
        assert_eq!(c.session_timeout, Duration::from_millis(2500));
        let c = parse("ws://h/p -c 1 -d 3 -q").unwrap();
        assert_eq!(c.config().limit, Limit::Duration(Duration::from_secs(3)));
        assert!(c.quiet);
        // The defaults are the library's.
        let c = parse("ws://h/p --concurrency 2 -n 1").unwrap().config();
        let lib = LoadConfig::new("ws://h/p", 2, Limit::Sessions(1));
        assert_eq!(
            (c.say, c.hold, c.session_timeout, c.pid),
            (lib.say, lib.hold, lib.session_timeout, lib.pid)
        );
    }

    #[test]
    fn bad_command_lines_say_what_to_do() {
        assert!(err("ws://h/p -n 3").contains("--concurrency <N>"));
        assert!(err("ws://h/p -c 2").contains("--sessions <M>|--duration <SECS>|--park"));
        assert!(err("ws://h/p -c 2 -n 1 -d 1").contains("cannot be used with"));
        assert!(err("ws://h/p -c 0 -n 1").contains("at least 1"));
        assert!(err("ws://h/p -c x -n 1").contains("needs a number"));
        assert!(err("ws://h/p -c 1 -d -1").contains("seconds"));
        assert!(err("-c 1 -n 1").contains("<WS_URL>"));
        assert!(err("ws://h/p -c 1 -n 1 --bogus 1").contains("unexpected argument '--bogus'"));
        assert!(err("ws://h/p -c 1 -n 1 --pid 4294967295").contains("no such process"));
        assert_eq!(parse("--help").unwrap_err().kind(), ErrorKind::DisplayHelp);
        assert_eq!(
            parse("--version").unwrap_err().kind(),
            ErrorKind::DisplayVersion
        );
        assert_eq!(parse("ws://h/p -c 0 -n 1").unwrap_err().exit_code(), 2);
    }

    #[test]
    fn park_mode_needs_no_limit() {
        let c = parse("ws://h/p -c 7 --park --hold 0").unwrap().config();
        assert!(c.park);
        assert_eq!(c.limit, Limit::Sessions(7));
        assert_eq!(c.hold, Duration::ZERO);
    }
}
