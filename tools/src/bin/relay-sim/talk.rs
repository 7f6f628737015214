//! Talking to a workflow by hand (`--interactive`) or from a script file (`--script`).
//!
//! Both modes answer every request automatically, as the plain mode does, except where the
//! person (or the script) says otherwise: what the device user says when the workflow
//! listens, buttons pressed, variables set, requests failed, the session stopped.

use crate::Printer;
use relay_workflow::testing::{
    AutoResponder, ReceivedRequest, SimError, SimFrame, Simulator, Trigger,
};
use serde_json::Value;
use std::io::Write;
use std::time::Duration;
use tokio::sync::mpsc;

/// The most requests one conversation may bring (catches a workflow stuck in a loop).
const MAX_REQUESTS: usize = 10_000;

/// The commands of the interactive prompt.
pub const INTERACTIVE_HELP: &str = "\
At the `device user says>` prompt, type what the device user says, or a command:
    :button [BUTTON] [TAPS]   press a button (default: action single; BUTTON is action
                              or channel, TAPS single, double, triple or long)
    :var NAME=VALUE           set a workflow variable (get_var answers it)
    :fail TEXT                answer the pending request with an error
    :stop                     end the session as Relay would (stop event, then close)
    :quit                     drop the connection at once
    :help                     this text
An empty line says nothing (silence). Every other request is answered automatically;
with --ask ACTION the prompt also appears for those requests, where Enter answers
automatically and a JSON object is sent as the response.";

/// The line format of `--script FILE`.
pub const SCRIPT_HELP: &str = "\
A script has one step per line, run in order; blank lines and lines starting with #
are skipped. Requests are answered automatically while a step waits.
    say TEXT                 answer the next listen with TEXT (waits for it)
    expect ACTION            wait until the workflow sends ACTION (say, listen, …)
    fail ACTION TEXT         answer the next ACTION request with an error TEXT
    button [BUTTON] [TAPS]   press a button now (default: action single)
    var NAME=VALUE           set a workflow variable now
    wait MS                  pause for MS milliseconds (at most 600000)
    stop [REASON]            end the session now (stop event, default reason normal)
After the last step the conversation runs on, answered automatically, until the
workflow terminates.";

/// One step of a script or one command at the prompt.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// What the device user says at a listen.
    Say(String),
    /// Wait for a request.
    Expect(String),
    /// Answer a request with an error: the pending one (prompt) or the next of this action.
    Fail(Option<String>, String),
    /// Press a button.
    Button(String, String),
    /// Set a variable.
    Var(String, String),
    /// Pause.
    Wait(Duration),
    /// Send the stop event and close.
    Stop(String),
    /// Drop the connection.
    Quit,
    /// Show the commands.
    Help,
}

fn button(args: &str) -> Result<Command, String> {
    let mut words = args.split_whitespace();
    let button = words.next().unwrap_or("action");
    let taps = words.next().unwrap_or("single");
    if !matches!(button, "action" | "channel") {
        return Err(format!("button must be action or channel, not {button:?}"));
    }
    if !matches!(taps, "single" | "double" | "triple" | "long") {
        return Err(format!(
            "taps must be single, double, triple or long, not {taps:?}"
        ));
    }
    if let Some(extra) = words.next() {
        return Err(format!("unexpected {extra:?} after the taps"));
    }
    Ok(Command::Button(button.to_owned(), taps.to_owned()))
}

fn var(args: &str) -> Result<Command, String> {
    match args.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => {
            Ok(Command::Var(k.trim().to_owned(), v.trim().to_owned()))
        }
        _ => Err(format!("var needs NAME=VALUE, not {args:?}")),
    }
}

/// A line typed at the prompt: text is speech; `:`-commands as in [`INTERACTIVE_HELP`].
pub fn parse_prompt(line: &str) -> Result<Command, String> {
    let line = line.trim();
    let Some(command) = line.strip_prefix(':') else {
        return Ok(Command::Say(line.to_owned()));
    };
    let (word, args) = command.split_once(' ').unwrap_or((command, ""));
    let args = args.trim();
    match word {
        "button" => button(args),
        "var" => var(args),
        "fail" if args.is_empty() => Err(":fail needs the error text".into()),
        "fail" => Ok(Command::Fail(None, args.to_owned())),
        "stop" => Ok(Command::Stop(
            if args.is_empty() { "normal" } else { args }.to_owned(),
        )),
        "quit" => Ok(Command::Quit),
        "help" => Ok(Command::Help),
        other => Err(format!("unknown command :{other} (:help lists them)")),
    }
}

/// A script file: its steps with their line numbers.
pub fn parse_script(text: &str) -> Result<Vec<(usize, Command)>, String> {
    let mut steps = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (word, args) = line.split_once(' ').unwrap_or((line, ""));
        let args = args.trim();
        let step = match word {
            "say" => Ok(Command::Say(args.to_owned())),
            "expect" if args.is_empty() => Err("expect needs an action name".to_owned()),
            "expect" => Ok(Command::Expect(short_action(args))),
            "fail" => match args.split_once(' ') {
                Some((action, text)) if !text.trim().is_empty() => Ok(Command::Fail(
                    Some(short_action(action)),
                    text.trim().to_owned(),
                )),
                _ => Err("fail needs an action and the error text: fail listen no mic".into()),
            },
            "button" => button(args),
            "var" => var(args),
            "wait" => args
                .parse::<u64>()
                .ok()
                .filter(|ms| *ms <= 600_000)
                .map(|ms| Command::Wait(Duration::from_millis(ms)))
                .ok_or_else(|| format!("wait needs milliseconds (0 to 600000), not {args:?}")),
            "stop" => Ok(Command::Stop(
                if args.is_empty() { "normal" } else { args }.to_owned(),
            )),
            other => Err(format!(
                "unknown step {other:?}; steps are say, expect, fail, button, var, wait, stop"
            )),
        };
        steps.push((n, step.map_err(|e| format!("line {n}: {e}"))?));
    }
    Ok(steps)
}

fn short_action(a: &str) -> String {
    a.trim()
        .trim_start_matches("wf_api_")
        .trim_end_matches("_request")
        .to_owned()
}

/// How a conversation ended.
#[derive(Debug)]
pub enum Ending {
    /// The workflow terminated (or the session was stopped) and the connection closed.
    Stopped,
    /// The connection ended without a stop event.
    Closed,
    /// The person quit (or input ended).
    Quit,
}

/// A conversation in progress.
pub struct Talk<'w, W: Write> {
    sim: Simulator,
    responder: AutoResponder,
    frames: mpsc::UnboundedReceiver<SimFrame>,
    printer: Printer,
    out: &'w mut W,
    /// The interaction URN of the latest request that named one (buttons come from it).
    interaction: Option<String>,
    /// The device URN, when no interaction is known.
    device: String,
    requests: usize,
    /// Actions for which the prompt appears too (`all` for every one).
    ask: Vec<String>,
}

impl<'w, W: Write> Talk<'w, W> {
    /// Wrap a connected simulator. `timeout` bounds each wait for the workflow.
    pub fn new(
        sim: Simulator,
        responder: AutoResponder,
        device: String,
        timeout: Duration,
        ask: Vec<String>,
        out: &'w mut W,
    ) -> Self {
        let (tx, frames) = mpsc::unbounded_channel();
        let sim = sim.with_timeout(timeout).with_observer(move |f| {
            let _ = tx.send(f.clone());
        });
        Talk {
            sim,
            responder,
            frames,
            printer: Printer::default(),
            out,
            interaction: None,
            device,
            requests: 0,
            ask,
        }
    }

    /// Send the start event.
    pub async fn start(&mut self, trigger: Trigger) -> Result<(), SimError> {
        self.sim.start(trigger).await?;
        self.flush_frames();
        Ok(())
    }

    /// Give back the simulator (to close it) and the output.
    pub fn finish(mut self) -> (Simulator, &'w mut W) {
        self.flush_frames();
        (self.sim, self.out)
    }

    fn flush_frames(&mut self) {
        while let Ok(frame) = self.frames.try_recv() {
            let line = self.printer.line(&frame);
            let _ = writeln!(self.out, "{line}");
        }
        let _ = self.out.flush();
    }

    fn say(&mut self, text: &str) {
        let _ = writeln!(self.out, "{text}");
        let _ = self.out.flush();
    }

    /// The next request, or `None` when the connection ended.
    async fn next(&mut self) -> Result<Option<ReceivedRequest>, SimError> {
        self.requests += 1;
        if self.requests > MAX_REQUESTS {
            return Err(SimError::Protocol(format!(
                "the workflow sent more than {MAX_REQUESTS} requests"
            )));
        }
        let got = self.sim.next_request().await;
        self.flush_frames();
        match got {
            Ok(req) => {
                if let Some(t) = req.target.iter().find(|t| t.contains(":interaction:")) {
                    self.interaction = Some(t.clone());
                }
                Ok(Some(req))
            }
            Err(SimError::Closed { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Answer automatically; `Some(ending)` when that ended the conversation.
    async fn auto(&mut self, req: &ReceivedRequest) -> Result<Option<Ending>, SimError> {
        let closing = self.responder.answer(&mut self.sim, req).await?;
        self.flush_frames();
        if !closing {
            return Ok(None);
        }
        let _ = self.sim.expect_close().await;
        self.flush_frames();
        Ok(Some(Ending::Stopped))
    }

    async fn stop(&mut self, reason: &str) -> Result<Ending, SimError> {
        self.sim.stop(reason).await?;
        self.flush_frames();
        Ok(Ending::Stopped)
    }

    async fn press(&mut self, button: &str, taps: &str) -> Result<(), SimError> {
        let source = self
            .interaction
            .clone()
            .unwrap_or_else(|| self.device.clone());
        self.sim.button(button, taps, &source).await?;
        self.flush_frames();
        Ok(())
    }

    /// Keep answering automatically until the conversation ends.
    async fn run_out(&mut self) -> Result<Ending, SimError> {
        loop {
            let Some(req) = self.next().await? else {
                return Ok(Ending::Closed);
            };
            if let Some(end) = self.auto(&req).await? {
                return Ok(end);
            }
        }
    }

    /// Talk with a person: `lines` are what they type (one message per line; the channel
    /// closing means end of input).
    pub async fn interactive(
        &mut self,
        lines: &mut mpsc::UnboundedReceiver<String>,
    ) -> Result<Ending, SimError> {
        self.flush_frames();
        loop {
            let Some(req) = self.next().await? else {
                return Ok(Ending::Closed);
            };
            let asked = self.ask.iter().any(|a| a == "all" || *a == req.action);
            if req.action != "listen" && !asked {
                if let Some(end) = self.auto(&req).await? {
                    return Ok(end);
                }
                continue;
            }
            let prompt = if req.action == "listen" {
                "device user says> ".to_owned()
            } else {
                format!("{} answer (Enter: automatic)> ", req.action)
            };
            loop {
                let _ = write!(self.out, "{prompt}");
                let _ = self.out.flush();
                let Some(line) = lines.recv().await else {
                    self.say("(end of input)");
                    return Ok(Ending::Quit);
                };
                let trimmed = line.trim();
                if req.action != "listen" && trimmed.starts_with('{') {
                    match serde_json::from_str::<Value>(trimmed) {
                        Ok(v @ Value::Object(_)) => {
                            self.sim.respond(&req, v).await?;
                            self.flush_frames();
                            break;
                        }
                        _ => {
                            self.say("not a JSON object; try again (or Enter for automatic)");
                            continue;
                        }
                    }
                }
                let command = match parse_prompt(trimmed) {
                    Ok(c) => c,
                    Err(e) => {
                        self.say(&e);
                        continue;
                    }
                };
                match command {
                    Command::Say(text) => {
                        if req.action == "listen" {
                            self.responder.push_listen_text(&text);
                        } else if !text.is_empty() {
                            self.say("Enter answers automatically; a JSON object is sent as the response");
                            continue;
                        }
                        if let Some(end) = self.auto(&req).await? {
                            return Ok(end);
                        }
                        break;
                    }
                    Command::Fail(_, text) => {
                        self.sim.fail(&req, &text).await?;
                        self.flush_frames();
                        break;
                    }
                    Command::Button(b, t) => self.press(&b, &t).await?,
                    Command::Var(k, v) => {
                        self.responder.put_var(&k, &v);
                        self.say(&format!("  variable {k} = {v:?}"));
                    }
                    Command::Stop(reason) => return self.stop(&reason).await,
                    Command::Quit => return Ok(Ending::Quit),
                    Command::Help => self.say(INTERACTIVE_HELP),
                    Command::Expect(_) | Command::Wait(_) => {}
                }
            }
        }
    }

    /// Play a script (see [`SCRIPT_HELP`]), then answer automatically until the end.
    pub async fn script(&mut self, steps: &[(usize, Command)]) -> Result<Ending, String> {
        self.flush_frames();
        for (n, step) in steps {
            let at = |e: SimError| format!("line {n}: {e}");
            let ended = |what: &str| format!("line {n}: the conversation ended before {what}");
            match step {
                Command::Say(text) => loop {
                    let Some(req) = self.next().await.map_err(at)? else {
                        return Err(ended("a listen"));
                    };
                    if req.action == "listen" {
                        self.responder.push_listen_text(text);
                    }
                    if self.auto(&req).await.map_err(at)?.is_some() {
                        return Err(ended("a listen"));
                    }
                    if req.action == "listen" {
                        break;
                    }
                },
                Command::Expect(action) | Command::Fail(Some(action), _) => loop {
                    let what = format!("a {action} request");
                    let Some(req) = self.next().await.map_err(at)? else {
                        return Err(ended(&what));
                    };
                    if req.action == *action {
                        if let Command::Fail(_, text) = step {
                            self.sim.fail(&req, text).await.map_err(at)?;
                            self.flush_frames();
                            break;
                        }
                    }
                    if self.auto(&req).await.map_err(at)?.is_some() {
                        if req.action == *action {
                            break;
                        }
                        return Err(ended(&what));
                    }
                    if req.action == *action {
                        break;
                    }
                },
                Command::Button(b, t) => self.press(b, t).await.map_err(at)?,
                Command::Var(k, v) => self.responder.put_var(k, v),
                Command::Wait(d) => tokio::time::sleep(*d).await,
                Command::Stop(reason) => return self.stop(reason).await.map_err(at),
                Command::Fail(None, _) | Command::Quit | Command::Help => {}
            }
        }
        self.run_out().await.map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompt_lines() {
        assert_eq!(parse_prompt(" Alice "), Ok(Command::Say("Alice".into())));
        assert_eq!(parse_prompt(""), Ok(Command::Say(String::new())));
        assert_eq!(
            parse_prompt(":button"),
            Ok(Command::Button("action".into(), "single".into()))
        );
        assert_eq!(
            parse_prompt(":button channel double"),
            Ok(Command::Button("channel".into(), "double".into()))
        );
        assert_eq!(
            parse_prompt(":var greeting = Hi there"),
            Ok(Command::Var("greeting".into(), "Hi there".into()))
        );
        assert_eq!(
            parse_prompt(":fail no mic"),
            Ok(Command::Fail(None, "no mic".into()))
        );
        assert_eq!(parse_prompt(":stop"), Ok(Command::Stop("normal".into())));
        assert_eq!(parse_prompt(":quit"), Ok(Command::Quit));
        for bad in [
            ":button elbow",
            ":button action twice",
            ":var x",
            ":fail",
            ":dance",
        ] {
            assert!(parse_prompt(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn script_lines() {
        let steps = parse_script(
            "# greet\n\nexpect wf_api_say_request\nsay Alice\nfail listen no mic\nbutton action double\nvar a=b\nwait 10\nstop\n",
        )
        .expect("script");
        let steps: Vec<Command> = steps.into_iter().map(|(_, s)| s).collect();
        assert_eq!(
            steps,
            [
                Command::Expect("say".into()),
                Command::Say("Alice".into()),
                Command::Fail(Some("listen".into()), "no mic".into()),
                Command::Button("action".into(), "double".into()),
                Command::Var("a".into(), "b".into()),
                Command::Wait(Duration::from_millis(10)),
                Command::Stop("normal".into()),
            ]
        );
        for (bad, line) in [
            ("say hi\nshout x", "line 2"),
            ("expect", "line 1"),
            ("fail listen", "line 1"),
            ("wait soon", "line 1"),
            ("\n\nbutton a b", "line 3"),
        ] {
            let e = parse_script(bad).expect_err(bad);
            assert!(e.starts_with(line), "{bad}: {e}");
        }
    }
}
