//! The real binary as Heroku runs it: `PORT` from the environment, SIGTERM to stop.

// The hello transcript and the raw upgrade, as the SDK's tests write them.
#[path = "../template/relay-workflow/tests/common/hello.rs"]
mod hello;
#[path = "../template/relay-workflow/tests/common/raw.rs"]
mod raw;
#[path = "../template/relay-workflow/tests/common/sim.rs"]
mod sim;

use hello::{greeting, BOB_HELLO as INTERACTION};
use relay_workflow::testing::{AutoResponder, Simulator};
use serde_json::json;
use sim::complete_hello;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

/// The server process; killed on drop so a failing test leaves nothing running.
struct Server {
    child: Child,
    port: u16,
    lines: mpsc::Receiver<String>,
    /// Every line the server wrote to stdout, for checks over the whole log.
    log: Arc<Mutex<Vec<String>>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    fn start(env: &[(&str, &str)]) -> Server {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_relay-samples"));
        cmd.env("PORT", "0")
            .env("RUST_LOG", "info")
            .env_remove("KEEP_AWAKE_URL")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("start relay-samples");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = mpsc::channel();
        let log = Arc::new(Mutex::new(Vec::new()));
        let all = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                all.lock().unwrap().push(line.clone());
                let _ = tx.send(line);
            }
        });
        let mut server = Server {
            child,
            port: 0,
            lines,
            log,
        };
        let line = server.wait_for_line("listening on 0.0.0.0:");
        server.port = line
            .rsplit(':')
            .next()
            .and_then(|p| p.trim().parse().ok())
            .expect("port");
        server
    }

    fn wait_for_line(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.lines.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return line,
                Ok(_) => {}
                Err(_) => break,
            }
        }
        panic!("the server never logged {needle:?}");
    }

    /// The whole log so far (after exit: all of it, once the reader has caught up).
    fn log(&self) -> String {
        for _ in 0..100 {
            // The reader thread ends at end of file; give it a moment after the exit.
            if self.lines.recv_timeout(Duration::from_millis(20))
                == Err(mpsc::RecvTimeoutError::Disconnected)
            {
                break;
            }
        }
        self.log.lock().unwrap().join("\n")
    }

    fn url(&self) -> String {
        format!("ws://127.0.0.1:{}/hellopath", self.port)
    }

    fn sigterm(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success());
    }

    /// Wait (bounded) for the process to exit; returns its status and how long it took.
    fn wait_exit(&mut self, limit: Duration) -> (std::process::ExitStatus, Duration) {
        let began = Instant::now();
        while began.elapsed() < limit {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return (status, began.elapsed());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("the server did not exit within {limit:?}");
    }
}

#[tokio::test]
async fn serves_hello_on_the_port_from_the_environment_and_exits_on_sigterm() {
    let mut server = Server::start(&[]);
    complete_hello(&server.url(), "Eve").await;
    server.wait_for_line("session ended");
    server.sigterm();
    let (status, _) = server.wait_exit(Duration::from_secs(10));
    assert!(status.success(), "{status}");
}

#[tokio::test]
async fn sigterm_lets_the_running_session_finish_and_refuses_new_connections() {
    let mut server = Server::start(&[("SHUTDOWN_DEADLINE_SECS", "20")]);
    let mut sim = Simulator::connect(&server.url()).await.unwrap();
    sim.start(relay_workflow::testing::Trigger::phrase("hello"))
        .await
        .unwrap();
    let r = sim.expect("start_interaction").await.unwrap();
    sim.ack(&r).await.unwrap();
    sim.interaction("started", INTERACTION).await.unwrap();
    let say = sim.expect("say").await.unwrap();
    sim.respond(&say, json!({"id": say.id})).await.unwrap();
    sim.prompt(&say.id, "stopped", INTERACTION).await.unwrap();
    let listen = sim.expect("listen").await.unwrap();

    server.sigterm();
    server.wait_for_line("SIGTERM received");
    let mut refused = false;
    for _ in 0..40 {
        if tokio::net::TcpStream::connect(("127.0.0.1", server.port))
            .await
            .is_err()
        {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(refused, "new connections were still accepted after SIGTERM");

    sim.ack(&listen).await.unwrap();
    sim.speech(&listen.id, "Finn", INTERACTION).await.unwrap();
    let get = sim.expect("get_var").await.unwrap();
    sim.respond(&get, json!({})).await.unwrap();
    let t = sim.run(AutoResponder::default()).await.unwrap();
    assert_eq!(t.said(), [greeting("Finn")]);
    let (status, took) = server.wait_exit(Duration::from_secs(15));
    assert!(status.success(), "{status}");
    assert!(took < Duration::from_secs(15));
}

#[tokio::test]
async fn sigterm_closes_a_stuck_session_with_1001_before_the_deadline() {
    let mut server = Server::start(&[("SHUTDOWN_DEADLINE_SECS", "2")]);
    let mut sim = Simulator::connect(&server.url()).await.unwrap();
    sim.start(relay_workflow::testing::Trigger::phrase("hello"))
        .await
        .unwrap();
    sim.expect("start_interaction").await.unwrap(); // never answered
    let began = Instant::now();
    server.sigterm();
    let close = sim
        .with_timeout(Duration::from_secs(10))
        .expect_close()
        .await
        .unwrap();
    assert_eq!(close.map(|(code, _)| code), Some(1001));
    let (status, _) = server.wait_exit(Duration::from_secs(10));
    assert!(status.success(), "{status}");
    assert!(
        began.elapsed() < Duration::from_secs(8),
        "took {:?}",
        began.elapsed()
    );
}

#[test]
fn a_bad_port_is_a_clear_error_naming_the_variable() {
    let out = Command::new(env!("CARGO_BIN_EXE_relay-samples"))
        .env("PORT", "eighty")
        .output()
        .expect("run relay-samples");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("PORT must be a port number between 0 and 65535, but it is \"eighty\""),
        "{stderr}"
    );
}

#[tokio::test]
async fn sigterm_with_twenty_sessions_in_flight_loses_none() {
    const SESSIONS: usize = 20;
    let mut server = Server::start(&[("SHUTDOWN_DEADLINE_SECS", "2")]);
    let mut sims = Vec::new();
    for _ in 0..SESSIONS {
        let mut sim = Simulator::connect(&server.url()).await.unwrap();
        sim.start(relay_workflow::testing::Trigger::phrase("hello"))
            .await
            .unwrap();
        let r = sim.expect("start_interaction").await.unwrap();
        sims.push((sim, r));
    }
    let began = Instant::now();
    server.sigterm();
    server.wait_for_line("SIGTERM received");
    // Half go on to the end during the drain; the other half never answer again.
    let tasks: Vec<_> = sims
        .into_iter()
        .enumerate()
        .map(|(i, (mut sim, r))| {
            tokio::spawn(async move {
                if i % 2 == 0 {
                    sim.ack(&r).await.map_err(|e| e.to_string())?;
                    sim.interaction("started", INTERACTION)
                        .await
                        .map_err(|e| e.to_string())?;
                    let t = sim
                        .run(AutoResponder::default().say_on_listen(["Gus"]))
                        .await
                        .map_err(|e| e.to_string())?;
                    if t.said().last().copied() == Some(greeting("Gus").as_str()) {
                        Ok("completed")
                    } else {
                        Err(format!("said {:?}", t.said()))
                    }
                } else {
                    match sim
                        .with_timeout(Duration::from_secs(10))
                        .expect_close()
                        .await
                    {
                        Ok(Some((1001, _))) => Ok("closed with 1001"),
                        other => Err(format!("{other:?}")),
                    }
                }
            })
        })
        .collect();
    let mut outcomes = Vec::new();
    for task in tasks {
        outcomes.push(task.await.unwrap());
    }
    let completed = outcomes.iter().filter(|o| **o == Ok("completed")).count();
    let closed = outcomes
        .iter()
        .filter(|o| **o == Ok("closed with 1001"))
        .count();
    assert_eq!(
        (completed, closed),
        (SESSIONS / 2, SESSIONS / 2),
        "{outcomes:?}"
    );
    let (status, _) = server.wait_exit(Duration::from_secs(10));
    assert!(status.success(), "{status}");
    // Deadline (2 s) plus the close grace (3 s), well before Heroku's 30 s SIGKILL.
    assert!(
        began.elapsed() < Duration::from_secs(8),
        "took {:?}",
        began.elapsed()
    );
    let log = server.log();
    assert!(log.contains("closing 10 session(s) with 1001"), "{log}");
    assert!(log.contains("shutdown complete"), "{log}");
}

#[tokio::test]
async fn no_secret_reaches_the_log_even_at_trace() {
    const SECRET: &str = "process-secret-5e6f7a8b9c0d1e2f";
    const GUESS: &str = "process-guess-1a2b3c4d";
    let mut server = Server::start(&[("WORKFLOW_SECRET", SECRET), ("RUST_LOG", "trace")]);
    let good = format!("{}?secret={SECRET}", server.url());
    complete_hello(&good, "Hal").await;
    for url in [server.url(), format!("{}?secret={GUESS}", server.url())] {
        let err = Simulator::connect(&url).await.unwrap_err().to_string();
        assert!(err.contains("401"), "{err}");
    }
    server.wait_for_line("401: a wrong secret");
    server.sigterm();
    let (status, _) = server.wait_exit(Duration::from_secs(10));
    assert!(status.success(), "{status}");
    let log = server.log();
    assert!(log.contains("frame received"), "TRACE was not on: {log}");
    assert!(!log.contains(SECRET), "the secret reached the log");
    assert!(!log.contains(GUESS), "a guessed secret reached the log");
}

#[test]
fn bad_limits_and_half_tls_settings_are_clear_errors() {
    let cases: [(&[(&str, &str)], &str); 4] = [
        (
            &[("MAX_SESSIONS", "0")],
            "MAX_SESSIONS must be a whole number, at least 1, but it is \"0\"",
        ),
        (
            &[("MAX_MESSAGE_BYTES", "10")],
            "MAX_MESSAGE_BYTES must be a whole number, at least 1024",
        ),
        (
            &[("FIRST_EVENT_TIMEOUT_SECS", "soon")],
            "FIRST_EVENT_TIMEOUT_SECS must be a whole number of seconds, at least 1",
        ),
        (
            &[("TLS_CERT_FILE", "/nonexistent/cert.pem")],
            "TLS_CERT_FILE is set but TLS_KEY_FILE is not",
        ),
    ];
    for (env, expected) in cases {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_relay-samples"));
        cmd.env("PORT", "0")
            .env_remove("TLS_CERT_FILE")
            .env_remove("TLS_KEY_FILE");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run relay-samples");
        let began = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().expect("try_wait") {
                break status;
            }
            if began.elapsed() > Duration::from_secs(10) {
                let _ = child.kill();
                let _ = child.wait();
                panic!("{env:?}: the server started instead of refusing");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        assert!(!status.success(), "{env:?} started");
        let mut stderr = String::new();
        std::io::Read::read_to_string(&mut child.stderr.take().expect("stderr"), &mut stderr)
            .expect("read stderr");
        assert!(stderr.contains(expected), "{env:?}: {stderr}");
    }
}

/// Send `signal` (`TERM`, `INT`) to the process.
fn send_signal(pid: u32, signal: &str) {
    let status = Command::new("kill")
        .args([&format!("-{signal}"), &pid.to_string()])
        .status()
        .expect("run kill");
    assert!(status.success());
}

/// The server with standard output and error on one pipe, as `./app 2>&1 | …` runs it.
/// Killed on drop.
struct Piped {
    child: Child,
    port: u16,
    /// The read end, after the `listening on` line (dropped: the pipe is closed).
    reader: Option<BufReader<std::io::PipeReader>>,
}

impl Drop for Piped {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Piped {
    fn start(env: &[(&str, &str)]) -> Piped {
        let (reader, writer) = std::io::pipe().expect("pipe");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_relay-samples"));
        cmd.env("PORT", "0")
            .env("RUST_LOG", "info")
            .env_remove("KEEP_AWAKE_URL")
            .stdout(writer.try_clone().expect("clone the pipe"))
            .stderr(writer);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("start relay-samples");
        // `cmd` holds the write end: drop it, so that only the server has it.
        drop(cmd);
        let mut server = Piped {
            child,
            port: 0,
            reader: None,
        };
        // Read up to the port on a thread of its own, so that the wait is bounded.
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(reader);
            let mut line = String::new();
            for _ in 0..50 {
                line.clear();
                if reader.read_line(&mut line).unwrap_or(0) == 0 {
                    break;
                }
                if let Some((_, port)) = line.trim_end().rsplit_once("listening on 0.0.0.0:") {
                    let _ = tx.send(Some((port.parse::<u16>().expect("port"), reader)));
                    return;
                }
            }
            let _ = tx.send(None);
        });
        let (port, reader) = rx
            .recv_timeout(Duration::from_secs(20))
            .ok()
            .flatten()
            .expect("the server never logged its port");
        server.port = port;
        server.reader = Some(reader);
        server
    }

    fn wait_exit(&mut self, limit: Duration) -> std::process::ExitStatus {
        let began = Instant::now();
        while began.elapsed() < limit {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("the server did not exit within {limit:?}");
    }
}

#[tokio::test]
async fn sigterm_and_sigint_stop_the_server_after_its_log_pipe_is_closed() {
    for signal in ["TERM", "INT"] {
        let mut server = Piped::start(&[("SHUTDOWN_DEADLINE_SECS", "2")]);
        // As `| head -1` does: the first line read, then the pipe closed.
        drop(server.reader.take());
        // Something to log into the closed pipe before the signal, as well as after it.
        let url = format!("ws://127.0.0.1:{}/hellopath", server.port);
        // (Before the fix, the failed write of a log line could end this connection.)
        if let Ok(mut sim) = Simulator::connect(&url).await {
            sim.send_text("{bad").await.unwrap();
            tokio::time::sleep(Duration::from_millis(200)).await;
            sim.close().await.unwrap();
        }
        // A moment to log into the closed pipe (and a signal that ends the process by the
        // default action, before any handler exists, would prove nothing).
        tokio::time::sleep(Duration::from_millis(300)).await;
        send_signal(server.child.id(), signal);
        let status = server.wait_exit(Duration::from_secs(10));
        assert!(status.success(), "SIG{signal}: {status}");
    }
}

#[tokio::test]
async fn sigterm_stops_the_server_while_nobody_reads_its_log() {
    let mut server = Piped::start(&[("SHUTDOWN_DEADLINE_SECS", "2")]);
    // The read end stays open and unread from here on: the pipe fills up.
    let url = format!("ws://127.0.0.1:{}/hellopath", server.port);
    let mut sim = Simulator::connect(&url).await.unwrap();
    // A WARN line of about 300 bytes each: megabytes, against a pipe of 64 KiB.
    let frame = format!("{{bad {}", "x".repeat(200));
    let began = Instant::now();
    let mut sent = 0;
    while sent < 20_000 && began.elapsed() < Duration::from_secs(10) {
        match tokio::time::timeout(Duration::from_secs(1), sim.send_text(&frame)).await {
            Ok(Ok(())) => sent += 1,
            _ => break,
        }
    }
    assert!(sent > 1000, "only {sent} frames sent");
    let _ = tokio::time::timeout(Duration::from_secs(5), sim.close()).await;
    send_signal(server.child.id(), "TERM");
    let status = server.wait_exit(Duration::from_secs(10));
    assert!(status.success(), "{status}");
    assert!(server.reader.is_some(), "the pipe was open all along");
}

#[tokio::test]
async fn a_peer_cannot_forge_log_lines_or_colour_them() {
    const FAKE: &str = "2026-12-04T00:00:00.000000Z  INFO relay_workflow::session: forged";
    let mut server = Server::start(&[("SHUTDOWN_DEADLINE_SECS", "2")]);
    let mut sim = Simulator::connect(&server.url()).await.unwrap();
    // In a malformed frame (logged as its text) and in an event's type (logged as a field).
    sim.send_text(&format!("{{bad\n{FAKE}\x1b[31m red\x1b[0m\r\n{FAKE}"))
        .await
        .unwrap();
    let event = serde_json::json!({ "_type": format!("x\n{FAKE}\x1b[31m\u{2028}{FAKE}") });
    sim.send_text(&event.to_string()).await.unwrap();
    server.wait_for_line("dropped a malformed frame");
    server.wait_for_line("unknown event type");
    sim.close().await.unwrap();
    server.sigterm();
    let (status, _) = server.wait_exit(Duration::from_secs(10));
    assert!(status.success(), "{status}");
    let log = server.log();
    assert!(
        !log.lines().any(|l| l.starts_with("2026-12-04T00:00:00")),
        "a forged line: {log}"
    );
    assert!(
        !log.contains('\x1b'),
        "an escape byte reached the log: {log:?}"
    );
    assert!(!log.contains('\u{2028}'), "{log:?}");
    assert!(log.contains(r"{bad\n2026-12-04T00:00:00"), "{log}");
    assert!(log.contains(r"forged\u{1b}[31m"), "{log}");
}

/// The status of a WebSocket upgrade to `target` (path and query) on 127.0.0.1:`port`.
fn upgrade_status(port: u16, target: &str) -> Option<u16> {
    raw::upgrade_status(([127, 0, 0, 1], port).into(), target)
}

#[test]
fn a_flood_of_wrong_secrets_is_logged_in_a_few_lines_that_count_it() {
    const REFUSED: usize = 600;
    let mut server = Server::start(&[("WORKFLOW_SECRET", "flood-secret-0a1b2c3d4e5f6a7b")]);
    for i in 0..REFUSED {
        let status = upgrade_status(server.port, &format!("/hellopath?secret=guess-{i}"));
        assert_eq!(status, Some(401), "attempt {i}");
    }
    // Each 401 line stands for one refusal, or for the count it gives.
    let count = |line: &str| -> usize {
        match line.split_once(" [") {
            Some((_, note)) => note
                .split(' ')
                .next()
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("no count in {line}")),
            None => 1,
        }
    };
    // The count comes at the latest when the 10 s interval is up.
    let began = Instant::now();
    let lines = loop {
        let log = server.log.lock().unwrap().clone();
        let lines: Vec<String> = log
            .into_iter()
            .filter(|l| l.contains("with 401: a wrong secret"))
            .collect();
        if lines.iter().map(|l| count(l)).sum::<usize>() >= REFUSED
            || began.elapsed() > Duration::from_secs(25)
        {
            break lines;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    server.sigterm();
    let (status, _) = server.wait_exit(Duration::from_secs(10));
    assert!(status.success(), "{status}");
    assert!(lines.len() <= 4, "{} lines: {lines:#?}", lines.len());
    assert_eq!(
        lines.iter().map(|l| count(l)).sum::<usize>(),
        REFUSED,
        "{lines:#?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("like this since the last such line")),
        "{lines:#?}"
    );
}

#[tokio::test]
async fn a_second_sigterm_exits_at_once_without_draining() {
    let mut server = Server::start(&[("SHUTDOWN_DEADLINE_SECS", "25")]);
    let mut sim = Simulator::connect(&server.url()).await.unwrap();
    sim.start(relay_workflow::testing::Trigger::phrase("hello"))
        .await
        .unwrap();
    sim.expect("start_interaction").await.unwrap(); // never answered: the drain would wait
    server.sigterm();
    server.wait_for_line("SIGTERM received");
    server.sigterm();
    let (status, took) = server.wait_exit(Duration::from_secs(10));
    assert_eq!(status.code(), Some(143), "{status}");
    assert!(took < Duration::from_secs(10));
}
