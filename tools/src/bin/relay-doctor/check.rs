//! `relay-doctor check`: the checks of a deployed workflow URL, one after the other.

use crate::logs::redact_secrets;
use crate::net::{self, Answer, DialError, Dialer, Recording};
use relay_workflow::testing::{AutoResponder, Simulator};
use rustls::pki_types::ServerName;
use rustls::CertificateError;
use serde::Serialize;
use serde_json::Value;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tokio::time::timeout;

/// A first answer slower than this is reported as a dyno waking up.
const SLOW_WAKE: Duration = Duration::from_secs(3);
/// The query parameter of the registered URL that carries `WORKFLOW_SECRET`.
pub const SECRET_PARAM: &str = "secret";
/// The command that gives an app a secret.
const SET_SECRET: &str = "heroku config:set WORKFLOW_SECRET=$(openssl rand -hex 32)";

/// What to check.
#[derive(Debug, Clone)]
pub struct Options {
    /// The URL as given (`https://host`, `wss://host[:port]`, or `http://`/`ws://` for a
    /// local server).
    pub url: String,
    /// The workflow path, with a leading slash.
    pub path: String,
    /// Run a whole simulated session too.
    pub session: bool,
    /// Limit of each network step.
    pub timeout: Duration,
    /// Extra trusted certificate authorities (PEM files).
    pub ca_files: Vec<PathBuf>,
    /// `host:port:addr` overrides of name resolution.
    pub resolve: Vec<(String, u16, IpAddr)>,
    /// The `secret` query parameter of the URL as given (still percent-encoded), sent on
    /// the upgrade and the session as Relay sends it. Never printed.
    pub secret: Option<String>,
}

/// The outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Fine.
    Pass,
    /// Works, but worth knowing.
    Warn,
    /// Broken: Relay will not reach the workflow.
    Fail,
    /// Not checked; the summary says why.
    Skip,
}

/// One line of the report.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// Short name: `dns`, `tls`, `upgrade` …
    pub name: &'static str,
    /// Outcome.
    pub status: Status,
    /// What was found.
    pub summary: String,
    /// Why it matters, in plain words (empty when it passed).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub why: String,
    /// What to do (empty when nothing needs doing).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub fix: String,
}

impl Check {
    fn pass(name: &'static str, summary: impl Into<String>) -> Check {
        Check {
            name,
            status: Status::Pass,
            summary: summary.into(),
            why: String::new(),
            fix: String::new(),
        }
    }

    fn fail(name: &'static str, summary: impl Into<String>, why: &str, fix: &str) -> Check {
        Check {
            name,
            status: Status::Fail,
            summary: summary.into(),
            why: why.to_owned(),
            fix: fix.to_owned(),
        }
    }

    fn warn(name: &'static str, summary: impl Into<String>, why: &str, fix: &str) -> Check {
        Check {
            status: Status::Warn,
            ..Check::fail(name, summary, why, fix)
        }
    }

    fn skip(name: &'static str, summary: impl Into<String>) -> Check {
        Check {
            status: Status::Skip,
            ..Check::pass(name, summary)
        }
    }
}

/// The whole report.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The URL checked.
    pub url: String,
    /// The URL to register with Relay (`wss://host/path`), when it could be worked out.
    pub register: Option<String>,
    /// The checks in the order they ran.
    pub checks: Vec<Check>,
    /// True when no check failed.
    pub ok: bool,
}

/// The parts of the URL.
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed {
    /// True for https/wss.
    pub tls: bool,
    /// Host name or address (without brackets).
    pub host: String,
    /// Port (default 443 or 80).
    pub port: u16,
    /// Whether the port was given.
    pub explicit_port: bool,
    /// A path in the URL itself (`/` when none).
    pub path: String,
}

/// Split `scheme://host[:port][/path]`.
pub fn parse_url(url: &str) -> Result<Parsed, String> {
    // What error messages show: the URL without the value of its secret.
    let shown = redact_secrets(url);
    let (scheme, rest) = url.split_once("://").ok_or_else(|| {
        format!("{shown:?} is not a URL; give the app's address, e.g. https://my-app-1a2b3c4d5e6f.herokuapp.com")
    })?;
    let tls = match scheme.to_ascii_lowercase().as_str() {
        "https" | "wss" => true,
        "http" | "ws" => false,
        other => {
            return Err(format!(
                "{other}:// is not a web address; use https://<app host> or wss://<app host>"
            ))
        }
    };
    let (authority, path) = match rest.find(['/', '?', '#']) {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let path = path.split(['?', '#']).next().unwrap_or("/");
    let path = if path.is_empty() { "/" } else { path };
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (h, after) = v6
            .split_once(']')
            .ok_or_else(|| format!("{shown:?}: unclosed [ in the host"))?;
        (h, after.strip_prefix(':'))
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    if host.is_empty() || authority.contains('@') {
        return Err(format!("{shown:?} has no usable host name"));
    }
    let explicit_port = port.is_some();
    let port = match port {
        Some(p) => p
            .parse::<u16>()
            .map_err(|_| format!("{shown:?}: {p:?} is not a port number"))?,
        None if tls => 443,
        None => 80,
    };
    Ok(Parsed {
        tls,
        host: host.to_ascii_lowercase(),
        port,
        explicit_port,
        path: path.to_owned(),
    })
}

fn authority(p: &Parsed) -> String {
    let host = if p.host.contains(':') {
        format!("[{}]", p.host)
    } else {
        p.host.clone()
    };
    if p.explicit_port {
        format!("{host}:{}", p.port)
    } else {
        host
    }
}

fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

/// Run every check; stops early when a later check cannot run.
pub async fn run(opts: &Options) -> Report {
    let mut checks = Vec::new();
    let mut report = Report {
        url: redact_secrets(&opts.url).into_owned(),
        register: None,
        checks: Vec::new(),
        ok: false,
    };
    let parsed = match parse_url(&opts.url) {
        Ok(p) => p,
        Err(e) => {
            checks.push(Check::fail(
                "url",
                e,
                "the doctor needs the app's public address",
                "copy the Web URL from `heroku apps:info`",
            ));
            return finish(report, checks);
        }
    };
    let register = format!("wss://{}{}", authority(&parsed), opts.path);
    report.register = Some(register.clone());
    checks.push(scheme_check(&opts.url, &parsed, &register));
    // What Relay connects to: the registered URL, with its secret.
    let connect = match &opts.secret {
        Some(secret) => format!("{register}?{SECRET_PARAM}={secret}"),
        None => register.clone(),
    };

    // DNS
    let addrs = match wait(
        format!("DNS to resolve {}", parsed.host),
        resolve(opts, &parsed),
    )
    .await
    {
        Ok(addrs) => {
            let shown: Vec<String> = addrs.iter().map(|a| a.ip().to_string()).collect();
            checks.push(Check::pass(
                "dns",
                format!("{} resolves to {}", parsed.host, shown.join(", ")),
            ));
            addrs
        }
        Err(e) => {
            checks.push(Check::fail(
                "dns",
                format!("{} does not resolve: {e}", parsed.host),
                "Relay finds the app by this name; if it does not resolve, nothing can connect",
                "check the spelling: apps created since mid-2023 are named \
                 <app>-<12 characters>.herokuapp.com; copy the Web URL from `heroku apps:info`",
            ));
            return finish(report, checks);
        }
    };

    // TCP and TLS
    let verifier = match net::roots(&opts.ca_files).and_then(Recording::new) {
        Ok(v) => v,
        Err(e) => {
            checks.push(Check::fail("tls", e, "", "fix the --ca-file option"));
            return finish(report, checks);
        }
    };
    let tls = if parsed.tls {
        match net::client_config(verifier.clone()) {
            Ok(c) => Some(c),
            Err(e) => {
                checks.push(Check::fail("tls", e, "", ""));
                return finish(report, checks);
            }
        }
    } else {
        None
    };
    let mut dialer = None;
    let mut last_tcp_error = String::new();
    for addr in &addrs {
        let d = Dialer {
            host: parsed.host.clone(),
            addr: *addr,
            tls: tls.clone(),
            timeout: opts.timeout,
        };
        let began = Instant::now();
        let connect = timeout(opts.timeout, tokio::net::TcpStream::connect(addr));
        match wait(format!("a TCP connection to {addr}"), connect).await {
            Ok(Ok(_)) => {
                checks.push(Check::pass(
                    "tcp",
                    format!("connected to {addr} in {}", secs(began.elapsed())),
                ));
                dialer = Some(d);
                break;
            }
            Ok(Err(e)) => last_tcp_error = format!("{addr}: {e}"),
            Err(_) => last_tcp_error = format!("{addr}: no answer within {}", secs(opts.timeout)),
        }
    }
    let Some(dialer) = dialer else {
        checks.push(Check::fail(
            "tcp",
            format!("cannot connect to port {}: {last_tcp_error}", parsed.port),
            "the name resolves but nothing accepts connections there",
            "Heroku apps answer on port 443 (https/wss); leave the port out of the URL",
        ));
        return finish(report, checks);
    };
    let opening = if parsed.tls {
        format!("the TLS handshake with {}", parsed.host)
    } else {
        format!("the connection to {}", parsed.host)
    };
    let mut first = match wait(opening, dialer.open()).await {
        Ok(stream) => {
            if parsed.tls {
                checks.push(Check::pass(
                    "tls",
                    format!(
                        "the certificate for {} is valid and issued by a trusted authority",
                        parsed.host
                    ),
                ));
            }
            stream
        }
        Err(DialError::Tcp(e)) => {
            checks.push(Check::fail("tcp", e, "the connection failed", ""));
            return finish(report, checks);
        }
        Err(DialError::Tls(e)) => {
            let refusal = verifier.refused.lock().ok().and_then(|r| r.clone());
            checks.push(tls_failure(&parsed.host, &e, refusal));
            return finish(report, checks);
        }
    };

    // The app answers (and how long it took to wake up).
    let health = wait(
        "the app to answer GET /healthz (a sleeping dyno takes a few seconds to wake)",
        net::get(
            &mut first,
            &authority(&parsed),
            "/healthz",
            &[],
            opts.timeout,
        ),
    )
    .await;
    drop(first);
    let health = match health {
        Ok(answer) => {
            checks.push(answers_check(&answer));
            Some(answer)
        }
        Err(e) => {
            checks.push(Check::fail(
                "answers",
                format!("GET /healthz: {e}"),
                "the app did not answer a plain request, so it will not answer Relay either",
                "look at `heroku logs --tail | relay-doctor logs` while you run this again; \
                 `heroku ps` shows whether a web dyno runs",
            ));
            None
        }
    };
    let workflows = health.as_ref().and_then(health_workflows);
    if let Some(answer) = &health {
        checks.push(health_check(answer, workflows.as_deref(), &opts.path));
        let secret = secret_check(answer, opts.secret.is_some());
        if secret.status == Status::Pass {
            report.register = Some(format!("{register}?{SECRET_PARAM}=<WORKFLOW_SECRET>"));
        }
        checks.push(secret);
    }

    // The WebSocket upgrade on the path.
    let upgrade = upgrade_check(&dialer, &parsed, opts, workflows.as_deref());
    checks.push(wait(format!("the WebSocket upgrade on {}", opts.path), upgrade).await);

    if opts.session {
        let session = session_check(&dialer, &connect, opts);
        let mut session = wait("the simulated session to end", session).await;
        // Its errors may quote the URL, secret and all.
        if let Some(secret) = opts.secret.as_deref().filter(|s| !s.is_empty()) {
            session.summary = session.summary.replace(secret, crate::logs::REDACTED);
        }
        checks.push(session);
    }
    finish(report, checks)
}

/// Run a network step, saying on stderr what it waits for when it takes more than a second.
async fn wait<F: std::future::Future>(what: impl std::fmt::Display, step: F) -> F::Output {
    relay_tools::wait::on_stderr("relay-doctor", what, step).await
}

fn finish(mut report: Report, checks: Vec<Check>) -> Report {
    report.ok = checks.iter().all(|c| c.status != Status::Fail);
    report.checks = checks;
    report
}

async fn resolve(opts: &Options, p: &Parsed) -> Result<Vec<SocketAddr>, String> {
    if let Some((_, _, ip)) = opts
        .resolve
        .iter()
        .find(|(h, port, _)| h.eq_ignore_ascii_case(&p.host) && *port == p.port)
    {
        return Ok(vec![SocketAddr::new(*ip, p.port)]);
    }
    let lookup = tokio::net::lookup_host((p.host.as_str(), p.port));
    match timeout(opts.timeout, lookup).await {
        Ok(Ok(addrs)) => {
            let addrs: Vec<SocketAddr> = addrs.collect();
            if addrs.is_empty() {
                Err("no addresses".into())
            } else {
                Ok(addrs)
            }
        }
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer within {}", secs(opts.timeout))),
    }
}

fn scheme_check(url: &str, p: &Parsed, register: &str) -> Check {
    let scheme = url.split("://").next().unwrap_or("").to_ascii_lowercase();
    match scheme.as_str() {
        "wss" => Check::pass("scheme", format!("register {register} with Relay")),
        "https" => Check::pass(
            "scheme",
            format!("register {register} with Relay (wss://, not https://)"),
        ),
        _ => Check::fail(
            "scheme",
            format!("{scheme}:// has no TLS; Relay only accepts wss:// workflow URLs"),
            "Relay refuses to register a workflow that is not served over TLS",
            if p.host == "localhost" || p.host.starts_with("127.") {
                "this is a local server: deploy it (Heroku serves wss:// for you), or use \
                 `relay-sim` to try it locally"
            } else {
                "use the https:// address of the app; Heroku's router terminates TLS for you"
            },
        ),
    }
}

fn tls_failure(host: &str, error: &str, refusal: Option<net::Refusal>) -> Check {
    let heroku =
        "Heroku supplies a valid certificate on *.herokuapp.com, and `heroku certs:auto:enable` \
                  gets one for a custom domain";
    let Some(refusal) = refusal else {
        return Check::fail(
            "tls",
            format!("TLS handshake with {host} failed: {error}"),
            "Relay connects only over TLS; the server did not complete a handshake",
            "check that the URL points at a TLS endpoint (Heroku apps listen on 443)",
        );
    };
    let rustls::Error::InvalidCertificate(cert_error) = &refusal.error else {
        return Check::fail(
            "tls",
            format!("the certificate of {host} was refused: {}", refusal.error),
            "Relay verifies the certificate like a browser and will refuse this one",
            heroku,
        );
    };
    let fix = format!("use the app's herokuapp.com address, or fix the certificate: {heroku}");
    match cert_error {
        CertificateError::UnknownIssuer => {
            let name = ServerName::try_from(host.to_owned()).ok();
            let self_signed = name.is_some_and(|n| net::is_self_signed(&refusal.leaf, &n));
            if self_signed {
                Check::fail(
                    "tls",
                    format!("{host} presents a self-signed certificate"),
                    "Relay refuses self-signed certificates: a certificate must come from a \
                     real certificate authority",
                    &fix,
                )
            } else {
                Check::fail(
                    "tls",
                    format!("{host} presents a certificate from an unknown authority"),
                    "the certificate was not issued by an authority Relay trusts (a private CA, \
                     or the server does not send its intermediate certificates)",
                    &fix,
                )
            }
        }
        CertificateError::Expired | CertificateError::ExpiredContext { .. } => Check::fail(
            "tls",
            format!("the certificate of {host} has expired"),
            "Relay refuses an expired certificate",
            &format!("renew it; {heroku} and renews it automatically"),
        ),
        CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => Check::fail(
            "tls",
            format!("the certificate of {host} is not valid yet"),
            "its start date is in the future (or this machine's clock is wrong)",
            &fix,
        ),
        CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
            Check::fail(
                "tls",
                format!("the certificate does not cover the name {host}"),
                "the certificate belongs to another name, so Relay cannot trust that it is \
                 talking to your app",
                &format!(
                    "use the exact host from `heroku apps:info`; for a custom domain run \
                     `heroku domains:add {host}` and `heroku certs:auto:enable`"
                ),
            )
        }
        other => Check::fail(
            "tls",
            format!("the certificate of {host} was refused: {other:?}"),
            "Relay verifies the certificate like a browser and will refuse this one",
            &fix,
        ),
    }
}

fn answers_check(answer: &Answer) -> Check {
    let took = answer.first_byte;
    let summary = format!("GET /healthz answered {} in {}", answer.status, secs(took));
    if answer.status == 503 {
        return Check::fail(
            "answers",
            summary,
            "503 comes from Heroku's router: the app crashed (H10), no web dyno runs (H14), or \
             it did not answer in 30 s (H12)",
            "`heroku ps` and `heroku logs --tail | relay-doctor logs` tell which",
        );
    }
    if took >= SLOW_WAKE {
        return Check::warn(
            "answers",
            format!(
                "{summary}: took {:.0} s, probably a sleeping eco dyno waking up",
                took.as_secs_f64()
            ),
            "an eco dyno sleeps after 30 minutes without traffic; the first trigger after that \
             waits this long",
            "set KEEP_AWAKE_URL to the app's https:// URL (the server then requests /healthz \
             itself), or use a Basic dyno, which never sleeps",
        );
    }
    Check::pass("answers", summary)
}

fn health_workflows(answer: &Answer) -> Option<Vec<String>> {
    if answer.status != 200 {
        return None;
    }
    let json: Value = serde_json::from_str(&answer.body).ok()?;
    let list = json.get("workflows")?.as_array()?;
    Some(
        list.iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
    )
}

fn health_check(answer: &Answer, workflows: Option<&[String]>, path: &str) -> Check {
    let Some(workflows) = workflows else {
        return Check::warn(
            "health",
            format!(
                "/healthz answered {} without the SDK's JSON (no \"workflows\" list)",
                answer.status
            ),
            "the health route of relay-workflow lists the served workflow paths; this app \
             does not seem to use it, so the doctor cannot tell which paths it serves",
            "nothing to do if the app is not built on relay-workflow",
        );
    };
    let status = serde_json::from_str::<Value>(&answer.body)
        .ok()
        .and_then(|v| v.get("status").and_then(Value::as_str).map(str::to_owned))
        .unwrap_or_else(|| "?".into());
    let listed = if workflows.is_empty() {
        "no workflows".to_owned()
    } else {
        format!("workflows {}", workflows.join(", "))
    };
    if !workflows.iter().any(|w| w == path) {
        return Check::fail(
            "health",
            format!("/healthz: status {status}, {listed}; {path} is not among them"),
            "Relay will connect to a path this app does not serve",
            "register one of the listed paths, or add the workflow in src/lib.rs and deploy",
        );
    }
    if status != "ok" {
        return Check::warn(
            "health",
            format!("/healthz: status {status}, {listed}"),
            "the server is shutting down (a restart or deploy is under way)",
            "run the doctor again in a minute",
        );
    }
    Check::pass(
        "health",
        format!("/healthz: status ok, {listed}; {path} is served"),
    )
}

/// Whether the server requires a secret, as its `/healthz` says (`"secret": "required"` or
/// `"not set"`); skipped when it does not say (another server, an older SDK).
fn secret_check(answer: &Answer, given: bool) -> Check {
    let said = serde_json::from_str::<Value>(&answer.body)
        .ok()
        .filter(|_| answer.status == 200)
        .and_then(|v| v.get("secret").and_then(Value::as_str).map(str::to_owned));
    match said.as_deref() {
        Some("required") => Check::pass(
            "secret",
            "the server requires WORKFLOW_SECRET: only connections that present it get in",
        ),
        Some("not set") => Check::fail(
            "secret",
            if given {
                "the server has no WORKFLOW_SECRET: it ignores the secret in the URL and \
                 lets anyone in"
            } else {
                "the server has no WORKFLOW_SECRET: anyone who learns the URL can open sessions"
            },
            "a *.herokuapp.com URL is easy to find; without a secret any client can run the \
             workflow, read what it says, and hold the places (MAX_SESSIONS) Relay needs",
            &format!(
                "{SET_SECRET}, then register the URL again with \
                 ?{SECRET_PARAM}=$(heroku config:get WORKFLOW_SECRET) at its end"
            ),
        ),
        Some(other) => Check::skip(
            "secret",
            format!(
                "not checked: /healthz says \"secret\": {other:?}, which the doctor does not know"
            ),
        ),
        None => Check::skip(
            "secret",
            "not checked: /healthz does not say whether a secret is required (a server not \
             built on relay-workflow, or an older version of it)",
        ),
    }
}

async fn upgrade_check(
    dialer: &Dialer,
    parsed: &Parsed,
    opts: &Options,
    workflows: Option<&[String]>,
) -> Check {
    let key = "dGhlIHNhbXBsZSBub25jZQ==";
    let headers = [
        ("Connection", "Upgrade"),
        ("Upgrade", "websocket"),
        ("Sec-WebSocket-Version", "13"),
        ("Sec-WebSocket-Key", key),
    ];
    let mut stream = match dialer.open().await {
        Ok(s) => s,
        Err(DialError::Tcp(e) | DialError::Tls(e)) => {
            return Check::fail("upgrade", format!("cannot connect again: {e}"), "", "")
        }
    };
    let target = match &opts.secret {
        Some(secret) => format!("{}?{SECRET_PARAM}={secret}", opts.path),
        None => opts.path.clone(),
    };
    let answer = net::get(
        &mut stream,
        &authority(parsed),
        &target,
        &headers,
        opts.timeout,
    )
    .await;
    let path = &opts.path;
    let answer = match answer {
        Ok(a) => a,
        Err(e) => {
            return Check::fail(
                "upgrade",
                format!("WebSocket upgrade on {path}: {e}"),
                "Relay opens the session with exactly this request; Heroku's router gives the \
                 app 30 s to answer it (H12 otherwise)",
                "answer the upgrade at once; `heroku logs --tail | relay-doctor logs` shows \
                 the router's view",
            )
        }
    };
    let took = secs(answer.first_byte);
    match answer.status {
        101 => {
            let expected =
                tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes());
            if answer.header("sec-websocket-accept") != Some(expected.as_str()) {
                return Check::fail(
                    "upgrade",
                    format!("{path} answered 101 with a wrong Sec-WebSocket-Accept"),
                    "a WebSocket client (Relay too) drops such a connection",
                    "serve the path with a real WebSocket server (WorkflowServer does)",
                );
            }
            Check::pass(
                "upgrade",
                format!("WebSocket upgrade on {path}: 101 Switching Protocols in {took}"),
            )
        }
        404 => {
            let served = match workflows {
                Some([]) => "it serves no workflow path".to_owned(),
                Some(list) => format!("it serves {}", list.join(", ")),
                None => "its /healthz did not list its paths".to_owned(),
            };
            Check::fail(
                "upgrade",
                format!("{path} answered 404: no workflow there; {served}"),
                "Relay connects to the registered path; this one is not served",
                "register a path the app serves, or add the workflow and deploy",
            )
        }
        401 if opts.secret.is_some() => Check::fail(
            "upgrade",
            format!("{path} answered 401: the secret in the URL is not the server's"),
            "the server requires WORKFLOW_SECRET and the value given differs; Relay's \
             connections through a URL with this value are refused the same way",
            "give the current value: `heroku config:get WORKFLOW_SECRET`, and register the \
             URL again with it if it changed",
        ),
        401 => Check::fail(
            "upgrade",
            format!("{path} answered 401: the server requires its secret"),
            "the server has WORKFLOW_SECRET set and the doctor, like Relay, must present it \
             (`?secret=…` in the URL)",
            "check the URL as registered: relay-doctor check \
             \"https://<app host>/<path>?secret=$(heroku config:get WORKFLOW_SECRET)\"",
        ),
        426 => Check::fail(
            "upgrade",
            format!("{path} answered 426 Upgrade Required to an upgrade request"),
            "the server did not see the Upgrade header: something between the doctor and the \
             app removes it",
            "connect to the herokuapp.com address directly, not through a proxy or CDN",
        ),
        503 => Check::fail(
            "upgrade",
            format!("{path} answered 503"),
            "the router had no dyno to give the connection to (H14 no web dynos, H10 crashed), \
             or the app is shutting down",
            "`heroku ps:scale web=1`; `heroku logs --tail | relay-doctor logs` names the code",
        ),
        other => Check::fail(
            "upgrade",
            format!("{path} answered {other} instead of 101 Switching Protocols"),
            "Relay expects the WebSocket upgrade to succeed",
            "serve the workflow with WorkflowServer; check the path",
        ),
    }
}

/// A whole simulated session through `connect` (the registered URL, secret included).
async fn session_check(dialer: &Dialer, connect: &str, opts: &Options) -> Check {
    let stream = match dialer.open().await {
        Ok(s) => s,
        Err(DialError::Tcp(e) | DialError::Tls(e)) => {
            return Check::fail("session", format!("cannot connect again: {e}"), "", "")
        }
    };
    let url = if dialer.tls.is_some() {
        connect.to_owned()
    } else {
        connect.replacen("wss://", "ws://", 1)
    };
    let handshake = timeout(
        opts.timeout,
        tokio_tungstenite::client_async_with_config(url.as_str(), stream, None),
    )
    .await;
    let ws = match handshake {
        Ok(Ok((ws, _))) => ws,
        Ok(Err(e)) => {
            return Check::fail(
                "session",
                format!("the WebSocket handshake failed: {e}"),
                "",
                "",
            )
        }
        Err(_) => {
            return Check::fail(
                "session",
                format!("no WebSocket handshake within {}", secs(opts.timeout)),
                "",
                "",
            )
        }
    };
    let began = Instant::now();
    let responder = AutoResponder::default().overall_timeout(opts.timeout);
    match Simulator::from_websocket(ws, &url).run(responder).await {
        Ok(t) => match &t.stop_reason {
            Some(reason) => Check::pass(
                "session",
                format!(
                    "a simulated session ran to the stop event ({reason}) after {} actions in {}",
                    t.requests.len(),
                    secs(began.elapsed())
                ),
            ),
            None => Check::fail(
                "session",
                format!(
                    "the session ended after {} actions without terminating",
                    t.requests.len()
                ),
                "a workflow should end with terminate(); Relay keeps it open otherwise",
                "run it locally with `relay-sim` to see the conversation",
            ),
        },
        Err(e) => Check::fail(
            "session",
            format!("the simulated session failed: {e}"),
            "the workflow did not run to its end with automatic answers",
            "run it locally with `relay-sim <ws:// URL> --interactive` to see where it stops",
        ),
    }
}

/// Print the report as lines.
pub fn print(report: &Report, out: &mut impl std::io::Write) {
    for c in &report.checks {
        let mark = match c.status {
            Status::Pass => "✓",
            Status::Warn => "!",
            Status::Fail => "✗",
            Status::Skip => "-",
        };
        let _ = writeln!(out, "{mark} {:<8} {}", c.name, c.summary);
        if !c.why.is_empty() {
            let _ = writeln!(out, "           why: {}", c.why);
        }
        if !c.fix.is_empty() {
            let _ = writeln!(out, "           fix: {}", c.fix);
        }
    }
    let failed = report
        .checks
        .iter()
        .filter(|c| c.status == Status::Fail)
        .count();
    match (&report.register, failed) {
        (Some(url), 0) => {
            let _ = writeln!(out, "All checks passed. Register {url} with Relay.");
        }
        (_, n) => {
            let _ = writeln!(out, "{n} check{} failed.", if n == 1 { "" } else { "s" });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, body: &str, secs: u64) -> Answer {
        Answer {
            status,
            headers: Vec::new(),
            body: body.to_owned(),
            first_byte: Duration::from_secs(secs),
        }
    }

    #[test]
    fn a_slow_first_answer_is_a_waking_dyno() {
        let quick = answers_check(&answer(200, "{}", 0));
        assert_eq!(quick.status, Status::Pass);
        let slow = answers_check(&answer(200, "{}", 12));
        assert_eq!(slow.status, Status::Warn);
        assert!(
            slow.summary
                .ends_with("took 12 s, probably a sleeping eco dyno waking up"),
            "{}",
            slow.summary
        );
        assert!(slow.fix.contains("KEEP_AWAKE_URL"));
        let router = answers_check(&answer(503, "<html>Application error</html>", 0));
        assert_eq!(router.status, Status::Fail);
        assert!(router.why.contains("H14"));
    }

    #[test]
    fn healthz_is_read_for_the_path() {
        let ok = answer(200, r#"{"status":"ok","workflows":["/a","/b"]}"#, 0);
        let w = health_workflows(&ok);
        assert_eq!(w.as_deref(), Some(&["/a".to_owned(), "/b".to_owned()][..]));
        assert_eq!(health_check(&ok, w.as_deref(), "/b").status, Status::Pass);
        let missing = health_check(&ok, w.as_deref(), "/c");
        assert_eq!(missing.status, Status::Fail);
        assert_eq!(
            missing.summary,
            "/healthz: status ok, workflows /a, /b; /c is not among them"
        );
        // A generated app registers its workflows in src/lib.rs.
        assert!(missing.fix.contains("in src/lib.rs"), "{}", missing.fix);
        assert!(!missing.fix.contains("main.rs"), "{}", missing.fix);
        let draining = answer(200, r#"{"status":"shutting down","workflows":["/a"]}"#, 0);
        let w = health_workflows(&draining);
        assert_eq!(
            health_check(&draining, w.as_deref(), "/a").status,
            Status::Warn
        );
        let other = answer(200, "OK", 0);
        assert_eq!(health_workflows(&other), None);
        assert_eq!(health_check(&other, None, "/a").status, Status::Warn);
        assert_eq!(health_workflows(&answer(404, "{}", 0)), None);
    }

    #[test]
    fn schemes() {
        let p = parse_url("https://h.example").expect("url");
        let c = scheme_check("https://h.example", &p, "wss://h.example/x");
        assert_eq!(c.status, Status::Pass);
        assert_eq!(
            c.summary,
            "register wss://h.example/x with Relay (wss://, not https://)"
        );
        let p = parse_url("ws://localhost:8080").expect("url");
        let c = scheme_check("ws://localhost:8080", &p, "wss://localhost:8080/x");
        assert_eq!(c.status, Status::Fail);
        assert!(c.fix.contains("relay-sim"));
    }

    #[test]
    fn handshake_failures_without_a_certificate_verdict() {
        let c = tls_failure("h.example", "received fatal alert: HandshakeFailure", None);
        assert_eq!(c.status, Status::Fail);
        assert!(c.summary.contains("HandshakeFailure"));
        let c = tls_failure(
            "h.example",
            "x",
            Some(net::Refusal {
                leaf: rustls::pki_types::CertificateDer::from(vec![0u8]),
                error: rustls::Error::InvalidCertificate(CertificateError::NotValidYet),
            }),
        );
        assert_eq!(c.summary, "the certificate of h.example is not valid yet");
    }
}
