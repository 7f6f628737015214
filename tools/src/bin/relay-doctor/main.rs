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
//! (`cargo doctor …` in a generated app).

mod check;
mod logs;
mod net;
#[cfg(test)]
mod tests;

use std::io::{BufRead, Write};
use std::net::IpAddr;
use std::process::ExitCode;
use std::time::Duration;

const USAGE: &str = "\
relay-doctor — check a deployed Relay workflow, explain Heroku log lines

USAGE:
    relay-doctor check <https://host | wss://host> <path> [OPTIONS]
    heroku logs --tail | relay-doctor logs [--only-problems]

check: DNS, TCP, TLS (a certificate Relay accepts), the app answering (and how
long a sleeping dyno took to wake), /healthz, whether the server requires a
secret (it fails without one), the WebSocket upgrade on <path> (101 expected),
and the wss:// URL to register. The path may also be part of the URL
(wss://host/hello). Give the URL as registered, with ?secret=<WORKFLOW_SECRET>,
for a server that requires one: the doctor sends it as Relay does and never
prints it.

    --session            also run a whole simulated Relay session (automatic
                         answers) up to the stop event
    --timeout SECS       limit of each network step (default 30)
    --json               print the report as JSON
    --ca-file PEM        also trust this certificate authority (repeatable;
                         for testing against a private CA)
    --resolve HOST:PORT:ADDR
                         connect to ADDR for HOST:PORT instead of asking DNS

logs: reads log lines on standard input; explains router lines (status=101
sessions; H10 H12 H13 H14 H15 H18 H27) and dyno errors (R10 R14 R15), with the fix.
Every secret=… value in its output is redacted.

    --only-problems      print only the lines that report a problem

Exit status: check: 0 when every check passed, 1 when one failed, 2 for bad
arguments; logs: 0 (1 with --only-problems when a problem was seen).
";

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
    Help,
    Check(Box<check::Options>, bool),
    Logs { only_problems: bool },
}

fn parse(args: Vec<String>) -> Result<Command, String> {
    let mut it = args.into_iter();
    let sub = match it.next() {
        None => return Err("say what to do: `check <url> <path>` or `logs`".into()),
        Some(s) if s == "-h" || s == "--help" || s == "help" => return Ok(Command::Help),
        Some(s) => s,
    };
    if sub == "logs" {
        let mut only_problems = false;
        for arg in it {
            match arg.as_str() {
                "--only-problems" => only_problems = true,
                "-h" | "--help" => return Ok(Command::Help),
                other => return Err(format!("logs: unknown argument {other:?}")),
            }
        }
        return Ok(Command::Logs { only_problems });
    }
    if sub != "check" {
        return Err(format!(
            "unknown command {sub:?}; use `check <url> <path>` or `logs`"
        ));
    }
    let mut positional = Vec::new();
    let mut opts = check::Options {
        url: String::new(),
        path: String::new(),
        session: false,
        timeout: Duration::from_secs(30),
        ca_files: Vec::new(),
        resolve: Vec::new(),
        secret: None,
    };
    let mut json = false;
    while let Some(arg) = it.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_owned(), Some(v.to_owned())),
            _ => (arg.clone(), None),
        };
        match flag.as_str() {
            "-h" | "--help" => return Ok(Command::Help),
            "--session" => opts.session = true,
            "--json" => json = true,
            "--timeout" | "--ca-file" | "--resolve" => {
                let value = inline
                    .or_else(|| it.next())
                    .ok_or_else(|| format!("{flag} needs a value"))?;
                match flag.as_str() {
                    "--timeout" => {
                        let secs: f64 = value
                            .parse()
                            .ok()
                            .filter(|s: &f64| s.is_finite() && *s > 0.0 && *s <= 600.0)
                            .ok_or_else(|| {
                                format!("--timeout needs seconds (0 < SECS ≤ 600), not {value:?}")
                            })?;
                        opts.timeout = Duration::from_secs_f64(secs);
                    }
                    "--ca-file" => opts.ca_files.push(value.into()),
                    _ => opts.resolve.push(parse_resolve(&value)?),
                }
            }
            f if f.starts_with('-') && f.len() > 1 => {
                return Err(format!("unknown option {f}"));
            }
            _ => positional.push(arg),
        }
    }
    let mut positional = positional.into_iter();
    let Some(url) = positional.next() else {
        return Err(
            "check needs the app's URL, e.g. https://my-app-1a2b3c4d5e6f.herokuapp.com".into(),
        );
    };
    let parsed = check::parse_url(&url)?;
    // The path argument may carry the query too (`hello?secret=…`).
    let (given_path, path_query) = match positional.next() {
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
    opts.secret = match url_query
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
    if let Some(extra) = positional.next() {
        return Err(format!("unexpected argument {extra:?}"));
    }
    opts.path = format!("/{}", path.trim_start_matches('/'));
    opts.url = url;
    Ok(Command::Check(Box::new(opts), json))
}

/// The value of the `secret` parameter of a query string, as written (percent-encoded).
fn secret_in(query: &str) -> Option<&str> {
    query.split('&').find_map(|pair| {
        pair.strip_prefix(check::SECRET_PARAM)
            .and_then(|rest| rest.strip_prefix('='))
    })
}

fn parse_resolve(value: &str) -> Result<(String, u16, IpAddr), String> {
    let bad =
        || format!("--resolve needs HOST:PORT:ADDR (e.g. localhost:8443:127.0.0.1), not {value:?}");
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
        Ok(Command::Help) => {
            let _ = out.write_all(USAGE.as_bytes());
            0
        }
        Err(message) => {
            let message = logs::redact_secrets(&message);
            let _ = writeln!(
                err,
                "relay-doctor: {message}\n\nRun `relay-doctor --help` for usage."
            );
            2
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
