//! `relay-doctor logs`: explain Heroku router and dyno log lines read from standard input.
//!
//! Router lines look like
//! `heroku[router]: at=error code=H12 desc="Request timeout" method=GET path="/hello" … status=503`
//! (`heroku/router:` in the newer log format); dyno errors look like
//! `heroku[web.1]: Error R14 (Memory quota exceeded)`.

use std::borrow::Cow;
use std::io::{BufRead, Write};

/// What a redacted secret reads as.
pub const REDACTED: &str = "[redacted]";

/// `text` with the value of every `secret=` (the query parameter that carries
/// `WORKFLOW_SECRET`; the name in any case) replaced by [`REDACTED`]. A value ends at `&`,
/// `"`, white space or the end of the text. Heroku's router logs each request's path with
/// its query string, so the registered URL's secret is in every `status=101` line.
pub fn redact_secrets(text: &str) -> Cow<'_, str> {
    const NAME: &str = "secret=";
    let lower = text.to_ascii_lowercase();
    if !lower.contains(NAME) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    while let Some(found) = lower[at..].find(NAME) {
        let value = at + found + NAME.len();
        let end = text[value..]
            .find(|c: char| c == '&' || c == '"' || c.is_whitespace())
            .map_or(text.len(), |n| value + n);
        out.push_str(&text[at..value]);
        if end > value {
            out.push_str(REDACTED);
        }
        at = end;
    }
    out.push_str(&text[at..]);
    Cow::Owned(out)
}

/// What one log line means.
#[derive(Debug, Clone, PartialEq)]
pub struct Explanation {
    /// The Heroku code (`H12`, `R14`), or `101` for a finished WebSocket session.
    pub code: String,
    /// The code's name, or a one-line summary for a session.
    pub title: String,
    /// What happened, in plain words.
    pub cause: String,
    /// What to do about it (empty when nothing needs doing).
    pub fix: String,
    /// False for lines that report normal operation (a WebSocket session that ended).
    pub problem: bool,
}

/// Cause and fix for each code the doctor knows.
fn known(code: &str) -> Option<(&'static str, &'static str, &'static str)> {
    Some(match code {
        "H10" => (
            "App crashed",
            "the web dyno is not running: its process exited, or never finished booting, so \
             the router answered 503 in its place (Relay's connection failed)",
            "look a few lines above for the app's own error message or an R10; check that the \
             Procfile says `web: exec ./target/release/<package name>` and that the build \
             produced that binary; `heroku local` runs the same command on your machine",
        ),
        "H12" => (
            "Request timeout",
            "nothing came back within 30 s; for a WebSocket that means the 101 answer to the \
             upgrade did not arrive in time (the line shows service=30000ms or so)",
            "answer the upgrade at once: do no slow work before the handshake (the SDK's \
             router does not); check that the dyno is not starved (R14 swapping, a busy loop) \
             and that the request reached a workflow path",
        ),
        "H13" => (
            "Connection closed without response",
            "the dyno accepted the connection and closed it without sending a byte; with \
             Router 2.0 this is also how an idle keep-alive connection closed by the dyno \
             shows up",
            "do not close sockets before answering; keep the server's idle timeout above 90 s, \
             or run `heroku labs:enable http-disable-keepalive-to-dyno`",
        ),
        "H14" => (
            "No web dynos running",
            "no web process is running, so nothing can take Relay's connection",
            "`heroku ps:scale web=1`; make sure the Procfile has a `web:` line; `heroku ps` \
             shows what is running",
        ),
        "H15" => (
            "Idle connection",
            "no byte crossed the WebSocket for 55 s, so the router closed it and the workflow \
             session ended where it was",
            "keep the SDK's ping on (PING_INTERVAL_SECS, default 25) and well under 55 s; a \
             server that never pings loses every session that waits longer than that",
        ),
        "H18" => (
            "Server request interrupted",
            "the dyno sent part of a response and then closed the socket (sock=backend); \
             with Router 2.0 an idle keep-alive connection closed by the dyno does this too",
            "look for a crash or restart at the same moment; keep the server's idle timeout \
             above 90 s or run `heroku labs:enable http-disable-keepalive-to-dyno`",
        ),
        "H27" => (
            "Client request interrupted",
            "the client (Relay, a browser, a health probe) closed the connection before the \
             app answered; this is not a fault of the app or of Heroku",
            "nothing to do unless it repeats on the workflow path; then check that the \
             upgrade is answered quickly (`relay-doctor check` times it)",
        ),
        "R10" => (
            "Boot timeout",
            "the web process did not listen on $PORT within 60 s of starting, so Heroku \
             killed it and counted the dyno as crashed",
            "bind 0.0.0.0:$PORT first thing (WorkflowServer::serve does); no hard-coded port, \
             not localhost; do slow setup after binding",
        ),
        "R14" => (
            "Memory quota exceeded",
            "the dyno uses more memory than its size allows and is swapping to disk; every \
             session slows down",
            "find what grows (sessions that never end show in /healthz `sessions`; large \
             buffers); move to a larger dyno with `heroku ps:type` if the load is real",
        ),
        "R15" => (
            "Memory quota vastly exceeded",
            "memory went far past the quota and Heroku restarted the dyno; live Relay \
             sessions were cut off",
            "as for R14: find what grows, or move to a larger dyno with `heroku ps:type`",
        ),
        _ => return None,
    })
}

/// `key=value` pairs of a router line; values may be double-quoted.
fn fields(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = text.trim_start();
    while !rest.is_empty() {
        let word_end = rest.find([' ', '=']).unwrap_or(rest.len());
        let key = &rest[..word_end];
        rest = &rest[word_end..];
        if let Some(after) = rest.strip_prefix('=') {
            let (value, tail) = if let Some(quoted) = after.strip_prefix('"') {
                match quoted.find('"') {
                    Some(end) => (&quoted[..end], &quoted[end + 1..]),
                    None => (quoted, ""),
                }
            } else {
                let end = after.find(' ').unwrap_or(after.len());
                (&after[..end], &after[end..])
            };
            out.push((key.to_owned(), value.to_owned()));
            rest = tail;
        }
        rest = rest.trim_start();
    }
    out
}

fn get<'a>(fields: &'a [(String, String)], key: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// `325252ms` → `5 min 25 s`.
fn duration(ms: &str) -> String {
    let Ok(n) = ms.trim_end_matches("ms").parse::<u64>() else {
        return ms.to_owned();
    };
    if n < 1000 {
        format!("{n} ms")
    } else if n < 60_000 {
        format!("{:.1} s", n as f64 / 1000.0)
    } else {
        format!("{} min {} s", n / 60_000, (n % 60_000) / 1000)
    }
}

/// The explanation of one line, if it is a router line or a dyno error the doctor knows.
pub fn explain(line: &str) -> Option<Explanation> {
    if let Some(at) = ["heroku[router]:", "heroku/router:"]
        .iter()
        .find_map(|m| line.find(m).map(|i| i + m.len()))
    {
        return router(&line[at..]);
    }
    // Dyno errors: `heroku[web.1]: Error R14 (Memory quota exceeded)`.
    if line.contains("heroku[") || line.contains("heroku/") {
        let at = line.find("Error R")?;
        let code: String = line[at + 6..].chars().take(3).collect();
        return Some(by_code(&code, None));
    }
    None
}

fn by_code(code: &str, desc: Option<&str>) -> Explanation {
    match known(code) {
        Some((title, cause, fix)) => Explanation {
            code: code.to_owned(),
            title: title.to_owned(),
            cause: cause.to_owned(),
            fix: fix.to_owned(),
            problem: true,
        },
        None => Explanation {
            code: code.to_owned(),
            title: desc.unwrap_or("unlisted error").to_owned(),
            cause: "a Heroku error this tool does not explain".to_owned(),
            fix: "see https://devcenter.heroku.com/articles/error-codes".to_owned(),
            problem: true,
        },
    }
}

fn router(text: &str) -> Option<Explanation> {
    let f = fields(text);
    if let Some(code) = get(&f, "code") {
        let mut e = by_code(code, get(&f, "desc"));
        if let Some(path) = get(&f, "path") {
            e.title = format!("{} (path {path})", e.title);
        }
        return Some(e);
    }
    match get(&f, "status") {
        Some("404") => {
            let path = get(&f, "path").unwrap_or("?");
            let shown = path.split('?').next().unwrap_or(path);
            return Some(Explanation {
                code: "404".into(),
                title: format!("no workflow at {shown}"),
                cause: "the app serves no workflow at this path: a typo in the path registered \
                        with Relay, or a workflow that is not added to the app"
                    .into(),
                fix: "compare the registered URL with the paths /healthz lists; fix the \
                      registration, or add the workflow in src/lib.rs and deploy"
                    .into(),
                problem: true,
            });
        }
        Some("401") => {
            let path = get(&f, "path").unwrap_or("?");
            let shown = path.split('?').next().unwrap_or(path);
            let given = path.to_ascii_lowercase().contains("secret=");
            return Some(Explanation {
                code: "401".into(),
                title: format!("the upgrade on {shown} was refused for its secret"),
                cause: if given {
                    "the secret in the registered URL is not the app's WORKFLOW_SECRET"
                } else {
                    "the app sets WORKFLOW_SECRET and the URL carries no ?secret="
                }
                .into(),
                fix: if given {
                    "register the URL again with the app's secret: \
                     ?secret=$(heroku config:get WORKFLOW_SECRET)"
                } else {
                    "register the URL with ?secret=$(heroku config:get WORKFLOW_SECRET) \
                     at its end"
                }
                .into(),
                problem: true,
            });
        }
        _ => {}
    }
    if get(&f, "status") == Some("101") {
        let path = get(&f, "path").unwrap_or("?");
        let service = get(&f, "service").map(duration).unwrap_or("?".into());
        let dyno = get(&f, "dyno").unwrap_or("?");
        return Some(Explanation {
            code: "101".into(),
            title: format!("WebSocket session on {path} lasted {service}"),
            cause: format!(
                "the router writes a status=101 line when a WebSocket session ends; service= \
                 is the length of the whole session (on {dyno}), not a delay"
            ),
            fix: String::new(),
            problem: false,
        });
    }
    None
}

/// Read lines from `input` and write each with its explanation to `out`. Lines the doctor
/// does not explain are copied as they are, or dropped with `only_problems` (which also
/// drops finished sessions). Every `secret=` value is redacted from what is written.
/// Returns the number of problem lines seen.
pub fn run<R: BufRead, W: Write>(input: R, out: &mut W, only_problems: bool) -> usize {
    let mut problems = 0;
    for line in input.lines() {
        let Ok(line) = line else { break };
        let line = redact_secrets(&line);
        match explain(&line) {
            Some(e) if e.problem || !only_problems => {
                problems += usize::from(e.problem);
                let _ = writeln!(out, "{line}");
                let mark = if e.problem { "✗" } else { "✓" };
                let _ = writeln!(out, "  {mark} {} {}: {}", e.code, e.title, e.cause);
                if !e.fix.is_empty() {
                    let _ = writeln!(out, "    fix: {}", e.fix);
                }
            }
            Some(_) => {}
            None if only_problems => {}
            None => {
                let _ = writeln!(out, "{line}");
            }
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code_of(line: &str) -> String {
        explain(line).map(|e| e.code).unwrap_or_default()
    }

    #[test]
    fn explains_a_wrong_path_and_a_wrong_or_missing_secret() {
        let line = |status: &str, path: &str| {
            format!(
                "2026-11-22T10:00:00+00:00 heroku[router]: at=info method=GET path=\"{path}\" \
                 host=a.herokuapp.com dyno=web.1 connect=0ms service=2ms status={status} \
                 bytes=120 protocol=https"
            )
        };
        let e = explain(&line("404", "/helo")).expect("explained");
        assert_eq!((e.code.as_str(), e.problem), ("404", true));
        assert_eq!(e.title, "no workflow at /helo");
        assert!(
            e.fix.contains("/healthz") && e.fix.contains("src/lib.rs"),
            "{}",
            e.fix
        );

        let missing = explain(&line("401", "/hello")).expect("explained");
        assert_eq!((missing.code.as_str(), missing.problem), ("401", true));
        assert!(
            missing.cause.contains("carries no ?secret="),
            "{}",
            missing.cause
        );
        let wrong = explain(&line("401", &format!("/hello?secret={REDACTED}"))).expect("explained");
        assert!(wrong.cause.contains("is not the app's"), "{}", wrong.cause);
        assert!(wrong.fix.contains("again"), "{}", wrong.fix);

        // Through the tool, with the secret redacted and only the problems.
        let input = line("401", "/hello?secret=hunter2") + "\n" + &line("200", "/healthz");
        let mut out = Vec::new();
        assert_eq!(run(input.as_bytes(), &mut out, true), 1);
        let out = String::from_utf8(out).expect("utf-8");
        assert!(!out.contains("hunter2"), "{out}");
        assert!(
            out.contains("✗ 401 the upgrade on /hello was refused"),
            "{out}"
        );
    }

    #[test]
    fn explains_every_router_error_code() {
        for code in ["H10", "H12", "H13", "H14", "H15", "H18", "H27"] {
            let line = format!(
                "2026-11-22T10:00:00.000000+00:00 heroku[router]: at=error code={code} \
                 desc=\"Some words\" method=GET path=\"/hello\" host=app-1a2b3c4d5e6f.herokuapp.com \
                 request_id=0f1e fwd=\"1.2.3.4\" dyno=web.1 connect=0ms service=30000ms \
                 status=503 bytes=0 protocol=https"
            );
            let e = explain(&line).expect(code);
            assert_eq!(e.code, code);
            assert!(e.problem);
            assert!(e.title.ends_with("(path /hello)"), "{}", e.title);
            assert!(!e.fix.is_empty());
            assert_ne!(
                e.title, "Some words (path /hello)",
                "{code} has its own name"
            );
        }
        // The newer format.
        let h15 = "2026-11-22T10:00:00+00:00 heroku/router: at=error code=H15 desc=\"Idle connection\" method=GET path=\"/hello\" dyno=web.1 connect=1ms service=55001ms status=503";
        let e = explain(h15).expect("H15");
        assert!(e.cause.contains("55 s"));
        assert!(e.fix.contains("PING_INTERVAL_SECS"));
        assert!(
            explain("heroku[router]: at=error code=H12 desc=\"Request timeout\"")
                .expect("H12")
                .cause
                .contains("101")
        );
    }

    #[test]
    fn explains_dyno_errors() {
        for (line, code, words) in [
            (
                "2026-11-22T10:00:00+00:00 heroku[web.1]: Error R10 (Boot timeout) -> Web process failed to bind to $PORT within 60 seconds of launch",
                "R10",
                "$PORT",
            ),
            (
                "2026-11-22T10:00:00+00:00 heroku[web.1]: Error R14 (Memory quota exceeded)",
                "R14",
                "swapping",
            ),
            (
                "2026-11-22T10:00:00+00:00 heroku[web.2]: Error R15 (Memory quota vastly exceeded)",
                "R15",
                "restarted",
            ),
        ] {
            let e = explain(line).expect(code);
            assert_eq!(e.code, code);
            assert!(e.cause.contains(words), "{code}: {}", e.cause);
        }
    }

    #[test]
    fn a_101_line_is_a_session_with_its_length() {
        let line = "2026-11-22T10:00:00+00:00 heroku/router: at=info method=GET path=\"/hello\" host=my-app.herokuapp.com request_id=abc fwd=\"1.2.3.4\" dyno=web.1 connect=0ms service=325252ms status=101 bytes=165 protocol=https";
        let e = explain(line).expect("101");
        assert_eq!(e.code, "101");
        assert!(!e.problem);
        assert_eq!(e.title, "WebSocket session on /hello lasted 5 min 25 s");
        assert!(e.cause.contains("web.1"));
    }

    #[test]
    fn other_lines_are_not_explained() {
        assert_eq!(code_of("2026-11-22T10:00:00+00:00 heroku[router]: at=info method=GET path=\"/healthz\" status=200 service=3ms"), "");
        assert_eq!(
            code_of("2026-11-22T10:00:00+00:00 app[web.1]: Error R14 is just text the app printed"),
            ""
        );
        assert_eq!(
            code_of("2026-11-22T10:00:00+00:00 heroku[web.1]: State changed from starting to up"),
            ""
        );
        assert_eq!(code_of(""), "");
        // An error code this tool does not list still gets a pointer.
        let e = explain(
            "heroku[router]: at=error code=H28 desc=\"Client Connection Idle\" path=\"/x\"",
        )
        .expect("H28");
        assert_eq!(e.title, "Client Connection Idle (path /x)");
        assert!(e.fix.contains("devcenter.heroku.com"));
    }

    #[test]
    fn secrets_are_redacted_in_any_case_up_to_the_end_of_their_value() {
        for (line, redacted) in [
            (
                "path=\"/hello?secret=0123abcd\" host=h",
                "path=\"/hello?secret=[redacted]\" host=h",
            ),
            ("/p?x=1&SECRET=a%2Fb&y=2", "/p?x=1&SECRET=[redacted]&y=2"),
            ("/p?Secret=abc def", "/p?Secret=[redacted] def"),
            ("/p?secret=abc", "/p?secret=[redacted]"),
            ("/p?secret=&x=1", "/p?secret=&x=1"),
            (
                "/a?secret=1&secret=2\tsecret=3",
                "/a?secret=[redacted]&secret=[redacted]\tsecret=[redacted]",
            ),
            ("no secrets here", "no secrets here"),
            ("sécret=é secret=é", "sécret=é secret=[redacted]"),
        ] {
            assert_eq!(redact_secrets(line), redacted, "{line}");
        }
    }

    #[test]
    fn nothing_printed_carries_the_secret() {
        let secret = "5f2b9c0d1e8a7b6c";
        let input = format!(
            "2026-11-22T10:00:00+00:00 heroku[router]: at=info method=GET path=\"/hello?secret={secret}\" host=a.herokuapp.com dyno=web.1 connect=0ms service=1200ms status=101 bytes=9 protocol=https\n\
             2026-11-22T10:00:01+00:00 heroku[router]: at=error code=H12 desc=\"Request timeout\" method=GET path=\"/hello?Secret={secret}&x=1\" dyno=web.1 service=30000ms status=503\n\
             2026-11-22T10:00:02+00:00 app[web.1]: an app line with ?SECRET={secret}\n"
        );
        for only_problems in [false, true] {
            let mut out = Vec::new();
            run(input.as_bytes(), &mut out, only_problems);
            let out = String::from_utf8(out).expect("utf-8");
            assert!(!out.contains(secret), "{out}");
            assert!(
                out.to_ascii_lowercase().contains("secret=[redacted]"),
                "{out}"
            );
        }
        let mut out = Vec::new();
        run(input.as_bytes(), &mut out, false);
        let out = String::from_utf8(out).expect("utf-8");
        assert!(
            out.contains("✗ H12 Request timeout (path /hello?Secret=[redacted]&x=1)"),
            "{out}"
        );
        assert!(out.contains("app line with ?SECRET=[redacted]"), "{out}");
    }

    #[test]
    fn fields_handle_quotes_and_bare_words() {
        let f = fields(" at=error desc=\"Two words\" path=\"/a b\" lone x=1 y=");
        assert_eq!(get(&f, "desc"), Some("Two words"));
        assert_eq!(get(&f, "path"), Some("/a b"));
        assert_eq!(get(&f, "x"), Some("1"));
        assert_eq!(get(&f, "y"), Some(""));
        assert_eq!(get(&f, "lone"), None);
    }

    #[test]
    fn run_passes_lines_through_or_keeps_only_problems() {
        let input = "a plain app line\n\
            heroku[router]: at=info method=GET path=\"/hello\" dyno=web.1 service=1200ms status=101\n\
            heroku[router]: at=error code=H14 desc=\"No web dynos running\" path=\"/hello\" status=503\n";
        let mut all = Vec::new();
        assert_eq!(run(input.as_bytes(), &mut all, false), 1);
        let all = String::from_utf8(all).expect("utf-8");
        assert!(all.starts_with("a plain app line\n"), "{all}");
        assert!(
            all.contains("✓ 101 WebSocket session on /hello lasted 1.2 s"),
            "{all}"
        );
        assert!(all.contains("✗ H14 No web dynos running"), "{all}");
        assert!(all.contains("fix: `heroku ps:scale web=1`"), "{all}");
        let mut some = Vec::new();
        assert_eq!(run(input.as_bytes(), &mut some, true), 1);
        let some = String::from_utf8(some).expect("utf-8");
        assert!(!some.contains("plain app line"), "{some}");
        assert!(!some.contains("101"), "{some}");
        assert!(some.contains("H14"), "{some}");
    }
}
