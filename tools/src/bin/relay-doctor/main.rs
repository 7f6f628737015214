//! `relay-doctor`: check a deployed workflow the way Relay will reach it, and explain
//! Heroku's router log lines.
//!
//! ```text
//! $ relay-doctor check https://my-app-1a2b3c4d5e6f.herokuapp.com /hello
//! ✓ scheme   register wss://my-app-1a2b3c4d5e6f.herokuapp.com/hello with Relay (wss://, not https://)
//! ✓ dns      my-app-1a2b3c4d5e6f.herokuapp.com resolves to …
//! …
//! $ heroku logs --tail | relay-doctor logs --only-problems
//! ```
//!
//! Build it with `cargo run -p relay-tools --bin relay-doctor -- --help`
//! (`cargo install --locked --path tools` installs it).

mod check;
mod logs;
mod net;
#[cfg(test)]
mod tests;

use clap::error::ErrorKind;
use clap::{Args, CommandFactory, Parser, Subcommand};
use std::io::{BufRead, Write};
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// Check a deployed Relay workflow, explain Heroku log lines.
#[derive(Debug, Parser)]
#[command(
    name = "relay-doctor",
    // As before clap: an option given twice takes the last value.
    args_override_self = true,
    version,
    after_help = "\
Examples:
  relay-doctor check https://my-app-1a2b3c4d5e6f.herokuapp.com hello
  relay-doctor check \"https://my-app-1a2b3c4d5e6f.herokuapp.com/hello?secret=$SECRET\" --session
  heroku logs --tail | relay-doctor logs --only-problems",
    subcommand_required = true,
    arg_required_else_help = true
)]
struct Cli {
    #[command(subcommand)]
    command: Sub,
}

#[derive(Debug, Subcommand)]
enum Sub {
    /// Check a deployed workflow the way Relay will reach it
    ///
    /// DNS, TCP, TLS (a certificate Relay accepts), the app answering (and how long a
    /// sleeping dyno took to wake), /healthz, whether the server requires a secret (it fails
    /// without one), the WebSocket upgrade on the path (101 expected), and the wss:// URL to
    /// register. Give the URL as registered, with ?secret=<WORKFLOW_SECRET>, for a server
    /// that requires one: the doctor sends it as Relay does and never prints it.
    #[command(after_help = "\
Exit status: 0 when every check passed, 1 when one failed, 2 for bad arguments.")]
    Check(CheckArgs),
    /// Explain Heroku log lines read on standard input
    ///
    /// Explains router lines (status=101 sessions; status=401 and 404; H10 H12 H13 H14 H15
    /// H18 H27) and dyno errors (R10 R14 R15), with the fix. Every secret=… value in its
    /// output is redacted.
    #[command(after_help = "\
Exit status: 0 (1 with --only-problems when a problem was seen).")]
    Logs {
        /// Print only the lines that report a problem
        #[arg(long)]
        only_problems: bool,
    },
}

#[derive(Debug, Args)]
struct CheckArgs {
    /// The app's URL: https://host or wss://host (the path may be part of it:
    /// wss://host/hello)
    #[arg(value_name = "URL")]
    url: String,
    /// The workflow path, when the URL has none
    #[arg(value_name = "PATH")]
    path: Option<String>,
    /// Also run a whole simulated Relay session (automatic answers) up to the stop event
    #[arg(long)]
    session: bool,
    /// Limit of each network step (0 < SECS ≤ 600)
    #[arg(long, value_name = "SECS", value_parser = timeout_secs, default_value = "30")]
    timeout: Duration,
    /// Print the report as JSON
    #[arg(long)]
    json: bool,
    /// Also trust this certificate authority (repeatable; for testing against a private CA)
    #[arg(long = "ca-file", value_name = "PEM")]
    ca_files: Vec<PathBuf>,
    /// Connect to ADDR for HOST:PORT instead of asking DNS
    #[arg(long, value_name = "HOST:PORT:ADDR", value_parser = parse_resolve)]
    resolve: Vec<(String, u16, IpAddr)>,
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("relay-doctor: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let stdin = std::io::stdin().lock();
    let mut out = std::io::stdout();
    let mut err = std::io::stderr();
    ExitCode::from(runtime.block_on(cli(args, stdin, &mut out, &mut err)))
}

/// What the command line asks for.
#[derive(Debug)]
enum Command {
    Check(Box<check::Options>, bool),
    Logs { only_problems: bool },
}

fn timeout_secs(value: &str) -> Result<Duration, String> {
    value
        .parse()
        .ok()
        .filter(|s: &f64| s.is_finite() && *s > 0.0 && *s <= 600.0)
        .map(Duration::from_secs_f64)
        .ok_or_else(|| format!("needs seconds (0 < SECS ≤ 600), not {value:?}"))
}

fn parse(args: Vec<String>) -> Result<Command, clap::Error> {
    let cli = Cli::try_parse_from(std::iter::once("relay-doctor".to_owned()).chain(args))?;
    match cli.command {
        Sub::Logs { only_problems } => Ok(Command::Logs { only_problems }),
        Sub::Check(a) => {
            let json = a.json;
            check_options(a)
                .map(|o| Command::Check(Box::new(o), json))
                .map_err(|message| {
                    let mut cmd = Cli::command();
                    cmd.build();
                    match cmd.find_subcommand_mut("check") {
                        Some(check) => check.error(ErrorKind::ValueValidation, message),
                        None => cmd.error(ErrorKind::ValueValidation, message),
                    }
                })
        }
    }
}

/// The checks asked for: the URL, path and secret worked out from the arguments.
fn check_options(a: CheckArgs) -> Result<check::Options, String> {
    let url = a.url;
    let parsed = check::parse_url(&url)?;
    // The path argument may carry the query too (`hello?secret=…`).
    let (given_path, path_query) = match a.path {
        Some(p) => match p.split_once('?') {
            Some((p, query)) => (Some(p.to_owned()), Some(query.to_owned())),
            None => (Some(p), None),
        },
        None => (None, None),
    };
    let url_query = url
        .split('#')
        .next()
        .and_then(|u| u.split_once('?'))
        .map(|(_, query)| query);
    let secret = match url_query
        .and_then(secret_in)
        .or_else(|| path_query.as_deref().and_then(secret_in))
    {
        Some(secret) if secret.bytes().any(|b| b <= b' ' || b == 0x7f) => {
            return Err("the secret in the URL has spaces or control characters; \
                 percent-encode it as in the registered URL"
                .into())
        }
        other => other.map(str::to_owned),
    };
    let path = match (given_path, parsed.path.as_str()) {
        (Some(p), "/") => p,
        (Some(p), in_url)
            if in_url.trim_end_matches('/') == format!("/{}", p.trim_start_matches('/')) =>
        {
            p
        }
        (Some(p), in_url) => {
            return Err(format!(
                "two different paths: {in_url} in the URL and {p:?}; give one"
            ))
        }
        (None, "/") => {
            return Err(
                "check needs the workflow path too, e.g. `check https://<app host> hello`".into(),
            )
        }
        (None, in_url) => in_url.to_owned(),
    };
    Ok(check::Options {
        path: format!("/{}", path.trim_start_matches('/')),
        url,
        session: a.session,
        timeout: a.timeout,
        ca_files: a.ca_files,
        resolve: a.resolve,
        secret,
    })
}

/// The value of the `secret` parameter of a query string, as written (percent-encoded).
fn secret_in(query: &str) -> Option<&str> {
    query.split('&').find_map(|pair| {
        pair.strip_prefix(check::SECRET_PARAM)
            .and_then(|rest| rest.strip_prefix('='))
    })
}

fn parse_resolve(value: &str) -> Result<(String, u16, IpAddr), String> {
    let bad = || format!("needs HOST:PORT:ADDR (e.g. localhost:8443:127.0.0.1), not {value:?}");
    let mut parts = value.splitn(3, ':');
    let host = parts.next().filter(|h| !h.is_empty()).ok_or_else(bad)?;
    let port = parts
        .next()
        .and_then(|p| p.parse::<u16>().ok())
        .ok_or_else(bad)?;
    let addr = parts
        .next()
        .map(|a| a.trim_start_matches('[').trim_end_matches(']'))
        .and_then(|a| a.parse::<IpAddr>().ok())
        .ok_or_else(bad)?;
    Ok((host.to_ascii_lowercase(), port, addr))
}

/// The whole tool: parse `args`, run, report on `out` (and usage errors on `err`).
/// Returns the exit status.
async fn cli<R: BufRead, O: Write, E: Write>(
    args: Vec<String>,
    input: R,
    out: &mut O,
    err: &mut E,
) -> u8 {
    match parse(args) {
        Err(e) => {
            // Help and version on stdout, usage errors on stderr; a URL quoted back in an
            // error keeps its secret to itself.
            let text = e.render().to_string();
            let text = logs::redact_secrets(&text);
            let code = u8::try_from(e.exit_code()).unwrap_or(2);
            let _ = if e.use_stderr() {
                err.write_all(text.as_bytes())
            } else {
                out.write_all(text.as_bytes())
            };
            code
        }
        Ok(Command::Logs { only_problems }) => {
            let problems = logs::run(input, out, only_problems);
            u8::from(only_problems && problems > 0)
        }
        Ok(Command::Check(opts, json)) => {
            let report = check::run(&opts).await;
            if json {
                match serde_json::to_string_pretty(&report) {
                    Ok(text) => {
                        let _ = writeln!(out, "{text}");
                    }
                    Err(e) => {
                        let _ = writeln!(err, "relay-doctor: cannot print the report: {e}");
                    }
                }
            } else {
                check::print(&report, out);
            }
            u8::from(!report.ok)
        }
    }
}
