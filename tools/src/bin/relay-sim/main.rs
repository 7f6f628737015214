//! `relay-sim`: play the Relay cloud against a running workflow server, from the terminal.
//!
//! It connects to a workflow URL as Relay would when a trigger fires, sends the start event,
//! answers every request automatically (the `AutoResponder` of
//! `relay_workflow::testing`) and prints one line per frame as it happens:
//!
//! ```text
//! $ relay-sim ws://127.0.0.1:8080/hello --say Alice --var greeting=Hi
//! ← start phrase phrase=hello source_uri=urn:relay-resource:name:device:Bob spillover=""
//! → start_interaction  name=hello  target=urn:relay-resource:name:device:Bob
//! …
//! ✓ stopped (normal) after 7 actions in 0.12 s
//! ```
//!
//! With `--interactive` it stops at every `listen` and asks what the device user says
//! (commands for buttons, variables, errors and stopping are listed by `:help`); with
//! `--script FILE` it replays such a conversation from a file.
//!
//! Build it with `cargo run -p relay-tools --bin relay-sim -- --help`.

mod talk;

use clap::error::ErrorKind;
use clap::{CommandFactory, Parser};
use relay_tools::wait::announcing;
use relay_workflow::testing::{
    device_urn, AutoResponder, SimError, SimFrame, Simulator, Transcript, Trigger, DEFAULT_DEVICE,
};
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::io::Write;
use std::process::ExitCode;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite;

/// Play the Relay cloud against a workflow server.
///
/// Connects to the workflow's URL as Relay does when a trigger fires, sends the start event,
/// answers every request automatically and prints one line per frame: `→` a request the
/// workflow sent, `←` what the simulator (Relay) sent back.
#[derive(Debug, Parser)]
#[command(
    name = "relay-sim",
    // As before clap: an option given twice takes the last value.
    args_override_self = true,
    version,
    after_help = AFTER_HELP,
    after_long_help = full_help(),
)]
struct Cli {
    /// The workflow's WebSocket URL, e.g. ws://127.0.0.1:8080/hello (with
    /// ?secret=<WORKFLOW_SECRET> appended when the server sets WORKFLOW_SECRET; plain ws://
    /// only: run it against your local server)
    #[arg(value_name = "WS_URL")]
    url: String,
    /// The device that triggers and talks [default: Bob]
    #[arg(long, value_name = "NAME", value_parser = clap::builder::NonEmptyStringValueParser::new())]
    device: Option<String>,
    /// What the device user says at the next listen; repeat for several listens, in order
    /// (afterwards: silence)
    #[arg(long = "say", value_name = "TEXT")]
    says: Vec<String>,
    /// A workflow variable (as a registration arg); repeatable
    #[arg(long = "var", value_name = "NAME=VALUE", value_parser = pair)]
    vars: Vec<(String, String)>,
    /// The kind of trigger
    #[arg(long, value_name = "KIND", value_parser = TRIGGERS, default_value = "phrase")]
    trigger: String,
    /// The phrase of a phrase trigger [default: hello]
    #[arg(long, value_name = "TEXT")]
    phrase: Option<String>,
    /// A trigger arg (for http: one of the posted action args); repeatable
    #[arg(long = "arg", value_name = "KEY=VALUE", value_parser = pair)]
    args: Vec<(String, String)>,
    /// Give up after this many seconds (0 < SECS ≤ 86400) [default: 30]
    #[arg(long, value_name = "SECS", value_parser = timeout_secs)]
    timeout: Option<Duration>,
    /// Print the transcript as JSON at the end instead of live lines
    #[arg(long)]
    json: bool,
    /// Ask on the terminal what the device user says at each listen; `:help` at the prompt
    /// lists the commands (buttons, variables, errors, stop)
    #[arg(long)]
    interactive: bool,
    /// With --interactive: also prompt for every ACTION request (repeatable; `all` for
    /// every request)
    #[arg(long, value_name = "ACTION", value_parser = clap::builder::NonEmptyStringValueParser::new())]
    ask: Vec<String>,
    /// Replay a conversation from FILE (the format is in --help)
    #[arg(long, value_name = "FILE")]
    script: Option<String>,
}

const AFTER_HELP: &str = "\
Exit status: 0 when the workflow terminated (stop event sent), 1 when it did not (timeout,
connection refused, closed without stop, protocol violation, a script step not met, :quit),
2 for bad arguments.";

fn full_help() -> String {
    format!(
        "{AFTER_HELP}\n\nINTERACTIVE MODE\n\n{}\n\nSCRIPT FILES\n\n{}",
        talk::INTERACTIVE_HELP,
        talk::SCRIPT_HELP
    )
}

/// Lines typed on the terminal, read by a thread (the channel closes at end of input).
fn stdin_lines() -> tokio::sync::mpsc::UnboundedReceiver<String> {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    std::thread::spawn(move || {
        let stdin = std::io::stdin();
        let mut line = String::new();
        loop {
            line.clear();
            match std::io::BufRead::read_line(&mut stdin.lock(), &mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    let text = line.trim_end_matches(['\n', '\r']).to_owned();
                    if tx.send(text).is_err() {
                        break;
                    }
                }
            }
        }
    });
    rx
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("relay-sim: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut out = std::io::stdout();
    let mut err = std::io::stderr();
    ExitCode::from(runtime.block_on(cli(args, stdin_lines, &mut out, &mut err)))
}

/// Write a line, ignoring a closed pipe (`relay-sim … | head`).
macro_rules! line {
    ($w:expr, $($fmt:tt)*) => {{
        let _ = writeln!($w, $($fmt)*);
    }};
}

/// The parsed command line.
#[derive(Debug)]
struct Options {
    url: String,
    device: Option<String>,
    says: Vec<String>,
    vars: Vec<(String, String)>,
    trigger: String,
    phrase: Option<String>,
    args: Vec<(String, String)>,
    timeout: Option<Duration>,
    json: bool,
    interactive: bool,
    ask: Vec<String>,
    script: Option<String>,
}

const TRIGGERS: [&str; 6] = ["phrase", "button", "http", "nfc", "timer", "other"];

fn timeout_secs(value: &str) -> Result<Duration, String> {
    value
        .parse()
        .ok()
        .filter(|s: &f64| s.is_finite() && *s > 0.0 && *s <= 86_400.0)
        .map(Duration::from_secs_f64)
        .ok_or_else(|| format!("needs a number of seconds (0 < SECS ≤ 86400), not {value:?}"))
}

fn parse(args: Vec<String>) -> Result<Box<Options>, clap::Error> {
    let cli = Cli::try_parse_from(std::iter::once("relay-sim".to_owned()).chain(args))?;
    options(cli).map_err(|message| Cli::command().error(ErrorKind::ArgumentConflict, message))
}

/// The options of a parsed command line, once they are checked against each other.
fn options(cli: Cli) -> Result<Box<Options>, String> {
    let url = cli.url;
    let shown = url.split('?').next().unwrap_or_default();
    if url.starts_with("wss://") {
        return Err(format!(
            "{shown}: wss:// is not supported; run relay-sim against the local ws:// server"
        ));
    }
    if !url.starts_with("ws://") {
        return Err(format!(
            "{shown:?} is not a WebSocket URL; expected ws://host:port/path"
        ));
    }
    if cli.phrase.is_some() && cli.trigger != "phrase" {
        return Err("--phrase only applies to --trigger phrase".into());
    }
    let talking = cli.interactive || cli.script.is_some();
    if cli.interactive && cli.script.is_some() {
        return Err("choose --interactive or --script, not both".into());
    }
    if talking && cli.json {
        return Err("--json goes with the automatic mode, not --interactive or --script".into());
    }
    if talking && !cli.says.is_empty() {
        return Err(if cli.interactive {
            "--say goes with the automatic mode; with --interactive, type it at the prompt"
        } else {
            "--say goes with the automatic mode; in a script, write `say TEXT` lines"
        }
        .into());
    }
    if !cli.ask.is_empty() && !cli.interactive {
        return Err("--ask only applies to --interactive".into());
    }
    Ok(Box::new(Options {
        url,
        device: cli.device,
        says: cli.says,
        vars: cli.vars,
        trigger: cli.trigger,
        phrase: cli.phrase,
        args: cli.args,
        timeout: cli.timeout,
        json: cli.json,
        interactive: cli.interactive,
        ask: cli
            .ask
            .iter()
            .map(|a| {
                a.trim_start_matches("wf_api_")
                    .trim_end_matches("_request")
                    .to_owned()
            })
            .collect(),
        script: cli.script,
    }))
}

fn pair(value: &str) -> Result<(String, String), String> {
    match value.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
        _ => Err(format!("needs KEY=VALUE, not {value:?}")),
    }
}

fn trigger(opts: &Options) -> Trigger {
    let mut trigger = match opts.trigger.as_str() {
        "button" => Trigger::button("action_button_single_tap"),
        "http" => Trigger::http(opts.args.iter().cloned()),
        "nfc" => Trigger::nfc("sim-tag"),
        "timer" => Trigger::timer(),
        "other" => Trigger::other("other"),
        _ => Trigger::phrase(opts.phrase.as_deref().unwrap_or("hello")),
    };
    if let Some(device) = &opts.device {
        if opts.trigger != "timer" {
            trigger = trigger.device(device);
        }
    }
    if opts.trigger != "http" {
        for (k, v) in &opts.args {
            trigger = trigger.arg(k, v.as_str());
        }
    }
    trigger
}

/// The whole tool: parse `args`, run, report on `out` (frames, result) and `err` (usage
/// errors; failures in `--json` mode). `input` gives the typed lines for `--interactive`
/// (it is called only in that mode). Returns the exit status.
pub async fn cli<O: Write, E: Write>(
    args: Vec<String>,
    input: impl FnOnce() -> tokio::sync::mpsc::UnboundedReceiver<String>,
    out: &mut O,
    err: &mut E,
) -> u8 {
    let opts = match parse(args) {
        Ok(opts) => opts,
        Err(e) => {
            // Help and version on stdout, usage errors on stderr.
            let text = e.render().to_string();
            let _ = if e.use_stderr() {
                err.write_all(text.as_bytes())
            } else {
                out.write_all(text.as_bytes())
            };
            return u8::try_from(e.exit_code()).unwrap_or(2);
        }
    };
    if opts.interactive || opts.script.is_some() {
        return talk_cli(&opts, input, out, err).await;
    }
    let began = Instant::now();
    let mut responder = AutoResponder::default()
        .trigger(trigger(&opts))
        .say_on_listen(opts.says.iter().cloned());
    if let Some(device) = &opts.device {
        responder = responder.device(device);
    }
    for (name, value) in &opts.vars {
        responder = responder.var(name, value);
    }
    if let Some(t) = opts.timeout {
        responder = responder.overall_timeout(t);
    }
    let (tx, mut frames) = tokio::sync::mpsc::unbounded_channel::<SimFrame>();
    if !opts.json {
        responder = responder.observer(move |frame| {
            let _ = tx.send(frame.clone());
        });
    } else {
        drop(tx);
    }

    let say_wait = |err: &mut E, line: &str| line!(err, "relay-sim: {line}");
    let connect = announcing(connecting(&opts.url), Simulator::connect(&opts.url), |l| {
        say_wait(err, l)
    });
    let result = match connect.await {
        Err(e) => Err(e),
        Ok(sim) => {
            let run = tokio::spawn(sim.run(responder));
            let mut printer = Printer::default();
            loop {
                let next = announcing("the workflow's next request", frames.recv(), |l| {
                    say_wait(err, l)
                });
                let Some(frame) = next.await else { break };
                line!(out, "{}", printer.line(&frame));
            }
            match run.await {
                Ok(result) => result,
                Err(join) => Err(SimError::Protocol(format!(
                    "the simulator task failed: {join}"
                ))),
            }
        }
    };
    let secs = began.elapsed().as_secs_f64();
    // Where failures go: beside the live lines, or on stderr when stdout is JSON.
    let report = |out: &mut O, err: &mut E, text: String| {
        if opts.json {
            line!(err, "{text}");
        } else {
            line!(out, "{text}");
        }
    };
    match result {
        Ok(transcript) => {
            if opts.json {
                match serde_json::to_string_pretty(&transcript.to_json()) {
                    Ok(json) => line!(out, "{json}"),
                    Err(e) => line!(err, "relay-sim: cannot print the transcript: {e}"),
                }
            }
            let (text, code) = summary(&transcript, secs);
            if code == 0 && !opts.json {
                line!(out, "{text}");
            } else if code != 0 {
                report(out, err, text);
            }
            code
        }
        Err(e) => {
            report(out, err, format!("✗ {e}"));
            if let Some(hint) = hint(&e, &opts.url) {
                report(out, err, format!("  hint: {hint}"));
            }
            1
        }
    }
}

/// `--interactive` and `--script`.
async fn talk_cli<O: Write, E: Write>(
    opts: &Options,
    input: impl FnOnce() -> tokio::sync::mpsc::UnboundedReceiver<String>,
    out: &mut O,
    err: &mut E,
) -> u8 {
    let steps = match &opts.script {
        None => None,
        Some(path) => {
            let text = match std::fs::read_to_string(path) {
                Ok(t) => t,
                Err(e) => {
                    line!(err, "relay-sim: cannot read the script {path}: {e}");
                    return 2;
                }
            };
            match talk::parse_script(&text) {
                Ok(steps) => Some(steps),
                Err(e) => {
                    line!(err, "relay-sim: {path}: {e}\n\n{}", talk::SCRIPT_HELP);
                    return 2;
                }
            }
        }
    };
    let began = Instant::now();
    let connect = announcing(connecting(&opts.url), Simulator::connect(&opts.url), |l| {
        line!(err, "relay-sim: {l}")
    });
    let sim = match connect.await {
        Ok(sim) => sim,
        Err(e) => {
            line!(out, "✗ {e}");
            if let Some(hint) = hint(&e, &opts.url) {
                line!(out, "  hint: {hint}");
            }
            return 1;
        }
    };
    let device = opts.device.as_deref().unwrap_or(DEFAULT_DEVICE);
    let mut responder = AutoResponder::default().device(device);
    for (name, value) in &opts.vars {
        responder = responder.var(name, value);
    }
    let timeout = opts.timeout.unwrap_or(Duration::from_secs(30));
    if opts.interactive {
        line!(out, "Talking to {} (:help lists the commands)", opts.url);
    }
    let mut talk = talk::Talk::new(
        sim,
        responder,
        device_urn(device),
        timeout,
        opts.ask.clone(),
        out,
    );
    let ending = match talk.start(trigger(opts)).await {
        Err(e) => Err(e.to_string()),
        Ok(()) => match steps {
            Some(steps) => talk.script(&steps).await,
            None => {
                let mut lines = input();
                talk.interactive(&mut lines)
                    .await
                    .map_err(|e| e.to_string())
            }
        },
    };
    let (sim, out) = talk.finish();
    let secs = began.elapsed().as_secs_f64();
    let transcript = sim.transcript().clone();
    let code = match ending {
        Err(e) => {
            line!(out, "✗ {e}");
            1
        }
        Ok(talk::Ending::Quit) => {
            let n = transcript.requests.len();
            line!(out, "✗ quit after {n} actions in {secs:.2} s");
            sim.disconnect();
            return 1;
        }
        Ok(_) => {
            let (text, code) = summary(&transcript, secs);
            line!(out, "{text}");
            code
        }
    };
    let _ = sim.close().await;
    code
}

/// Whether the URL's query carries a `secret` parameter.
fn has_secret(url: &str) -> bool {
    url.split_once('?').is_some_and(|(_, query)| {
        query
            .split('&')
            .any(|pair| pair.split('=').next() == Some("secret"))
    })
}

/// What connecting waits for, without the secret.
fn connecting(url: &str) -> String {
    let shown = url.split('?').next().unwrap_or_default();
    format!("{shown} to accept the WebSocket connection")
}

fn summary(t: &Transcript, secs: f64) -> (String, u8) {
    let n = t.requests.len();
    let actions = if n == 1 { "action" } else { "actions" };
    match (&t.stop_reason, &t.close) {
        (Some(reason), _) => (
            format!("✓ stopped ({reason}) after {n} {actions} in {secs:.2} s"),
            0,
        ),
        (None, Some((code, reason))) => (
            format!(
                "✗ the workflow server closed the connection (close code {code}{}) without \
                 terminating, after {n} {actions} in {secs:.2} s",
                if reason.is_empty() {
                    String::new()
                } else {
                    format!(", reason {reason:?}")
                }
            ),
            1,
        ),
        (None, None) => (
            format!(
                "✗ the workflow server dropped the connection without terminating, after {n} \
                 {actions} in {secs:.2} s"
            ),
            1,
        ),
    }
}

fn hint(e: &SimError, url: &str) -> Option<String> {
    let SimError::Connect { source, .. } = e else {
        return None;
    };
    let authority = url
        .strip_prefix("ws://")
        .and_then(|rest| rest.split('/').next())
        .unwrap_or(url);
    match source {
        tungstenite::Error::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => Some(
            format!("nothing is listening on {authority}: is the server running? is PORT right?"),
        ),
        tungstenite::Error::Io(io) if io.kind() == std::io::ErrorKind::TimedOut => Some(format!(
            "{authority} did not answer: is the host right, and is it a WebSocket server?"
        )),
        tungstenite::Error::Http(resp) if resp.status() == 401 && has_secret(url) => Some(
            "the server refused the secret in the URL: it is not the server's WORKFLOW_SECRET (check its value; quote the URL in the shell)".into(),
        ),
        tungstenite::Error::Http(resp) if resp.status() == 401 => Some(
            "the server requires its secret: end the URL with ?secret=<WORKFLOW_SECRET> (quote the URL in the shell)".into(),
        ),
        tungstenite::Error::Http(resp) => Some(format!(
            "the server answered HTTP {} instead of upgrading: is the workflow path right?",
            resp.status()
        )),
        tungstenite::Error::Url(_) => Some("expected a URL like ws://127.0.0.1:8080/hello".into()),
        _ => None,
    }
}

/// Turns frames into the one-line form, remembering request ids to name responses.
#[derive(Default)]
struct Printer {
    actions: HashMap<String, String>,
}

impl Printer {
    fn line(&mut self, frame: &SimFrame) -> String {
        match frame {
            SimFrame::Received(v) => self.received(v),
            SimFrame::Sent(v) => self.sent(v),
        }
    }

    fn received(&mut self, v: &Value) -> String {
        let Some(obj) = v.as_object() else {
            return format!("→ ?? {}", short(v));
        };
        let kind = obj.get("_type").and_then(Value::as_str).unwrap_or("");
        let Some(action) = kind
            .strip_prefix("wf_api_")
            .and_then(|k| k.strip_suffix("_request"))
        else {
            return format!("→ ?? {}", short(v));
        };
        if let Some(id) = obj.get("_id").and_then(Value::as_str) {
            self.actions.insert(id.to_owned(), action.to_owned());
        }
        let mut text = format!("→ {action}");
        let fields = fields(obj, &["_id", "_type", "_target"]);
        if !fields.is_empty() {
            text.push_str("  ");
            text.push_str(&fields);
        }
        let targets: Vec<&str> = obj
            .get("_target")
            .and_then(|t| t.get("uris"))
            .and_then(Value::as_array)
            .map(|uris| uris.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        if !targets.is_empty() {
            text.push_str("  target=");
            text.push_str(&targets.join(","));
        }
        text
    }

    fn sent(&mut self, v: &Value) -> String {
        let Some(obj) = v.as_object() else {
            return format!("← raw {}", short(v));
        };
        let kind = obj.get("_type").and_then(Value::as_str).unwrap_or("");
        let id = obj.get("_id").and_then(Value::as_str).unwrap_or("");
        let action = self.actions.get(id).map(String::as_str).unwrap_or("?");
        if kind == "wf_api_error_response" {
            let error = obj.get("error").map(short).unwrap_or_default();
            return format!("← {action} error {error}");
        }
        if kind == "wf_api_progress_event" {
            return format!("← progress {action} id={id}");
        }
        if kind.ends_with("_response") {
            let fields = fields(obj, &["_id", "_type"]);
            return if fields.is_empty() {
                format!("← {action} response (ack)")
            } else {
                format!("← {action} response {fields}")
            };
        }
        let Some(name) = kind
            .strip_prefix("wf_api_")
            .and_then(|k| k.strip_suffix("_event"))
        else {
            return format!("← raw {}", short(v));
        };
        if name == "start" {
            let trigger = obj.get("trigger");
            let kind = trigger
                .and_then(|t| t.get("type"))
                .and_then(Value::as_str)
                .unwrap_or("?");
            let args = trigger
                .and_then(|t| t.get("args"))
                .and_then(Value::as_object)
                .map(|a| fields(a, &[]))
                .unwrap_or_default();
            return format!("← start {kind} {args}").trim_end().to_owned();
        }
        let mut text = format!("← {name}");
        if let Some(t) = obj.get("type").and_then(Value::as_str) {
            text.push(' ');
            text.push_str(t);
        }
        let fields = fields(obj, &["_type", "type"]);
        if !fields.is_empty() {
            text.push(' ');
            text.push_str(&fields);
        }
        text
    }
}

/// `k=v` pairs, the most telling keys first.
fn fields(obj: &Map<String, Value>, skip: &[&str]) -> String {
    const FIRST: [&str; 8] = [
        "name",
        "text",
        "query",
        "filename",
        "phrase",
        "id",
        "request_id",
        "value",
    ];
    let mut keys: Vec<&String> = obj.keys().filter(|k| !skip.contains(&k.as_str())).collect();
    keys.sort_by_key(|k| {
        (
            FIRST.iter().position(|f| f == k).unwrap_or(FIRST.len()),
            k.as_str() == "source_uri",
        )
    });
    keys.iter()
        .map(|k| format!("{k}={}", show_value(&obj[k.as_str()])))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A value for a `k=v` pair: plain words bare, other strings quoted, the rest as JSON.
fn show_value(v: &Value) -> String {
    match v {
        Value::String(s)
            if !s.is_empty()
                && !s
                    .chars()
                    .any(|c| c.is_whitespace() || c == '"' || c.is_control()) =>
        {
            s.clone()
        }
        other => short(other),
    }
}

fn short(v: &Value) -> String {
    const MAX: usize = 200;
    let s = v.to_string();
    if s.chars().count() <= MAX {
        s
    } else {
        format!("{}…", s.chars().take(MAX).collect::<String>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn args(s: &[&str]) -> Vec<String> {
        s.iter().map(|a| (*a).to_owned()).collect()
    }

    #[test]
    fn parses_everything() {
        let Ok(o) = parse(args(&[
            "ws://h:1/p",
            "--device",
            "Ann",
            "--say",
            "a b",
            "--say=c",
            "--var",
            "g=Hi=x",
            "--trigger",
            "http",
            "--arg",
            "k=v",
            "--timeout",
            "1.5",
            "--json",
        ])) else {
            panic!("did not parse")
        };
        assert_eq!(o.url, "ws://h:1/p");
        assert_eq!(o.device.as_deref(), Some("Ann"));
        assert_eq!(o.says, ["a b", "c"]);
        assert_eq!(o.vars, [("g".to_owned(), "Hi=x".to_owned())]);
        assert_eq!(o.timeout, Some(Duration::from_millis(1500)));
        assert!(o.json);
        let t = trigger(&o).to_json();
        assert_eq!(t["trigger"]["args"]["args"], json!({"k": "v"}));
        assert_eq!(
            t["trigger"]["args"]["source_uri"],
            "urn:relay-resource:name:device:Ann"
        );
        let help = parse(args(&["--help"])).unwrap_err();
        assert_eq!(help.kind(), ErrorKind::DisplayHelp);
        assert!(help.to_string().contains("SCRIPT FILES"), "{help}");
        let version = parse(args(&["-V"])).unwrap_err();
        assert_eq!(version.kind(), ErrorKind::DisplayVersion);
        Cli::command().debug_assert();
    }

    /// Asks a name, greets with the `greeting` variable, terminates.
    fn hello() -> relay_workflow::Workflow {
        use relay_workflow::prelude::*;
        Workflow::new()
            .on_start(|relay, start: StartEvent| async move {
                let device = start.trigger.source_uri().ok_or(Error::MissingSourceUri)?;
                relay.start_interaction(device, "hello").await?;
                Ok(())
            })
            .on_interaction_started(|relay, event: InteractionLifecycleEvent| async move {
                let i = event.source_uri;
                relay.say_and_wait(&i, "What is your name?").await?;
                let name = relay.listen(&i).await?.text;
                let greeting = relay
                    .get_var("greeting")
                    .await?
                    .unwrap_or_else(|| "Hello".into());
                relay
                    .say_and_wait(&i, format!("{greeting} {name}!"))
                    .await?;
                relay.end_interaction(&i).await?;
                Ok(())
            })
            .on_interaction_ended(|relay, _| async move {
                relay.terminate().await?;
                Ok(())
            })
    }

    async fn server() -> relay_workflow::testing::TestServer {
        relay_workflow::testing::TestServer::start(
            relay_workflow::WorkflowServer::new().workflow("hello", hello()),
        )
        .await
    }

    /// Run the tool with `typed` as the terminal input; (exit status, stdout + stderr).
    async fn sim(extra: &[&str], url: &str, typed: &[&str]) -> (u8, String) {
        let mut a = vec![url.to_owned(), "--timeout".into(), "5".into()];
        a.extend(extra.iter().map(|s| (*s).to_owned()));
        let typed: Vec<String> = typed.iter().map(|s| (*s).to_owned()).collect();
        let input = move || {
            let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
            for line in typed {
                let _ = tx.send(line);
            }
            rx
        };
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let code = cli(a, input, &mut out, &mut err).await;
        let text = String::from_utf8_lossy(&out).into_owned() + &String::from_utf8_lossy(&err);
        (code, text)
    }

    fn assert_in_order(text: &str, parts: &[&str]) {
        let mut at = 0;
        for part in parts {
            match text[at..].find(part) {
                Some(i) => at += i + part.len(),
                None => panic!("missing {part:?} (in order) in\n{text}"),
            }
        }
    }

    #[tokio::test]
    async fn interactive_asks_what_the_user_says_and_takes_commands() {
        let server = server().await;
        let url = server.url("hello");
        let typed = [":help", ":var greeting=Hey", ":button", ":dance", "Alice"];
        let (code, text) = sim(&["--interactive"], &url, &typed).await;
        assert_eq!(code, 0, "{text}");
        assert_in_order(
            &text,
            &[
                "← start phrase",
                "→ say  text=\"What is your name?\"",
                "→ listen",
                "device user says> ",
                "At the `device user says>` prompt",
                "device user says> ",
                "variable greeting = \"Hey\"",
                "device user says> ",
                "← button button=action taps=single",
                "device user says> ",
                "unknown command :dance",
                "device user says> ",
                "← speech text=Alice",
                "→ get_var  name=greeting",
                "→ say  text=\"Hey Alice!\"",
                "→ terminate",
                "✓ stopped (normal)",
            ],
        );

        // An error for the pending listen: the workflow never terminates.
        let (code, text) = sim(
            &["--interactive", "--timeout", "1"],
            &url,
            &[":fail no mic"],
        )
        .await;
        assert_eq!(code, 1, "{text}");
        assert_in_order(
            &text,
            &["device user says> ", "← listen error \"no mic\"", "✗ "],
        );

        // :stop ends the session as Relay would; end of input quits.
        let (code, text) = sim(&["--interactive"], &url, &[":stop"]).await;
        assert_eq!(code, 0, "{text}");
        assert_in_order(
            &text,
            &[
                "device user says> ",
                "← stop reason=normal",
                "✓ stopped (normal)",
            ],
        );
        let (code, text) = sim(&["--interactive"], &url, &[]).await;
        assert_eq!(code, 1, "{text}");
        assert_in_order(
            &text,
            &["device user says> ", "(end of input)", "✗ quit after"],
        );
        server.shutdown().await;
    }

    #[tokio::test]
    async fn interactive_can_answer_chosen_requests_by_hand() {
        let server = server().await;
        let url = server.url("hello");
        let typed = ["Ann", "{oops", "{\"value\": \"Yo\"}"];
        let (code, text) = sim(&["--interactive", "--ask", "get_var"], &url, &typed).await;
        assert_eq!(code, 0, "{text}");
        assert_in_order(
            &text,
            &[
                "device user says> ",
                "get_var answer (Enter: automatic)> ",
                "not a JSON object; try again",
                "get_var answer (Enter: automatic)> ",
                "← get_var response value=Yo",
                "→ say  text=\"Yo Ann!\"",
            ],
        );
        server.shutdown().await;
    }

    #[tokio::test]
    async fn a_script_replays_a_conversation() {
        let server = server().await;
        let url = server.url("hello");
        let dir = std::env::temp_dir();
        let file = |name: &str, text: &str| {
            let path = dir.join(format!("relay-sim-{}-{name}.txt", std::process::id()));
            std::fs::write(&path, text).expect("write script");
            path.display().to_string()
        };
        let good = file(
            "good",
            "# a greeting\nvar greeting=Howdy\nexpect say\nwait 5\nsay Zed\nexpect terminate\n",
        );
        let (code, text) = sim(&["--script", &good], &url, &[]).await;
        assert_eq!(code, 0, "{text}");
        assert_in_order(
            &text,
            &[
                "← speech text=Zed",
                "→ say  text=\"Howdy Zed!\"",
                "✓ stopped (normal)",
            ],
        );

        let missing = file("missing", "say Zed\nexpect call\n");
        let (code, text) = sim(&["--script", &missing], &url, &[]).await;
        assert_eq!(code, 1, "{text}");
        assert!(
            text.contains("✗ line 2: the conversation ended before a call request"),
            "{text}"
        );

        let failing = file("fail", "fail listen no mic\nstop\n");
        let (code, text) = sim(&["--script", &failing], &url, &[]).await;
        assert_eq!(code, 0, "{text}");
        assert_in_order(
            &text,
            &["← listen error \"no mic\"", "← stop reason=normal"],
        );

        let bad = file("bad", "say hi\nshout\n");
        let (code, text) = sim(&["--script", &bad], &url, &[]).await;
        assert_eq!(code, 2, "{text}");
        assert!(text.contains("line 2: unknown step \"shout\""), "{text}");
        for path in [good, missing, failing, bad] {
            let _ = std::fs::remove_file(path);
        }
        server.shutdown().await;
    }

    #[tokio::test]
    async fn a_missing_and_a_wrong_secret_get_different_hints() {
        let server = relay_workflow::testing::TestServer::start(
            relay_workflow::WorkflowServer::new()
                .workflow("hello", hello())
                .secret("right-secret-of-sixteen-bytes"),
        )
        .await;
        let url = server.url("hello");
        let bare = url.split('?').next().unwrap().to_owned();
        let (code, text) = sim(&[], &bare, &[]).await;
        assert_eq!(code, 1, "{text}");
        assert!(
            text.contains("hint: the server requires its secret: end the URL with ?secret="),
            "{text}"
        );
        let (code, text) = sim(&[], &format!("{bare}?secret=wrong"), &[]).await;
        assert_eq!(code, 1, "{text}");
        assert!(
            text.contains("hint: the server refused the secret in the URL"),
            "{text}"
        );
        assert!(!text.contains("end the URL with"), "{text}");
        server.shutdown().await;
    }

    #[test]
    fn rejects_bad_arguments() {
        for bad in [
            &[][..],
            &["ws://h/p", "extra"],
            &["ws://h/p", "--var", "novalue"],
            &["ws://h/p", "--var", "=x"],
            &["ws://h/p", "--trigger", "smoke"],
            &["ws://h/p", "--timeout", "0"],
            &["ws://h/p", "--timeout", "soon"],
            &["ws://h/p", "--device"],
            &["ws://h/p", "--bogus"],
            &["ws://h/p", "--json=1"],
            &["ws://h/p", "--trigger", "button", "--phrase", "x"],
            &["http://h/p"],
            &["wss://h/p"],
            &["ws://h/p", "--interactive", "--script", "f"],
            &["ws://h/p", "--interactive", "--json"],
            &["ws://h/p", "--interactive", "--say", "x"],
            &["ws://h/p", "--script", "f", "--say", "x"],
            &["ws://h/p", "--ask", "say"],
            &["ws://h/p", "--interactive=1"],
        ] {
            assert!(parse(args(bad)).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn prints_one_line_per_frame() {
        let mut p = Printer::default();
        let say = json!({"_id": "s1", "_type": "wf_api_say_request",
            "_target": {"uris": ["urn:i"]}, "text": "What is your name?", "lang": "en-US"});
        assert_eq!(
            p.line(&SimFrame::Received(say)),
            "→ say  text=\"What is your name?\" lang=en-US  target=urn:i"
        );
        assert_eq!(
            p.line(&SimFrame::Sent(
                json!({"_id": "s1", "_type": "wf_api_say_response", "id": "s1"})
            )),
            "← say response id=s1"
        );
        assert_eq!(
            p.line(&SimFrame::Sent(
                json!({"_id": "s1", "_type": "wf_api_error_response", "error": "no"})
            )),
            "← say error \"no\""
        );
        assert_eq!(
            p.line(&SimFrame::Sent(json!({"_type": "wf_api_prompt_event", "id": "s1", "type": "stopped", "source_uri": "urn:i"}))),
            "← prompt stopped id=s1 source_uri=urn:i"
        );
        assert_eq!(
            p.line(&SimFrame::Sent(Trigger::phrase("hello").to_json())),
            "← start phrase phrase=hello spillover=\"\" source_uri=urn:relay-resource:name:device:Bob"
        );
        assert_eq!(
            p.line(&SimFrame::Received(
                json!({"_id": "t", "_type": "wf_api_terminate_request"})
            )),
            "→ terminate"
        );
        assert_eq!(
            p.line(&SimFrame::Sent(
                json!({"_id": "t", "_type": "wf_api_terminate_response"})
            )),
            "← terminate response (ack)"
        );
        assert_eq!(p.line(&SimFrame::Received(json!("junk"))), "→ ?? \"junk\"");
    }
}
