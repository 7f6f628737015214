//! The automatic side of the simulator: answer every request the way Relay plausibly would.

use super::error::SimError;
use super::simulator::{End, Incoming, Observer, ReceivedRequest, SimFrame, Simulator};
use super::transcript::Transcript;
use super::trigger::{Trigger, DEFAULT_DEVICE};
use super::urn::{device_name, device_urn, group_urn, interaction_urn, is_device};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt;
use std::time::Duration;
use tokio::time::Instant;

/// How a custom handler (see [`AutoResponder::on`]) answers one request.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// Send `wf_api_<action>_response` with these fields (a JSON object, or `null` for an
    /// empty ack). No follow-up events are sent.
    Respond(Value),
    /// Send `wf_api_error_response` with this message.
    Error(String),
    /// Send nothing at all (to test the workflow's own timeouts).
    Ignore,
    /// Answer as the auto-responder would by default, follow-up events included.
    Auto,
}

type Handler = Box<dyn FnMut(&ReceivedRequest) -> Reply + Send>;

/// Plays Relay's part automatically for [`Simulator::run`]: sends the start event, answers
/// every request and sends the events that follow it (spec §3.3), until the workflow
/// terminates.
///
/// Default answers:
///
/// | request | answer, then events |
/// |---|---|
/// | `start_interaction` | ack; lifecycle `started`, `resumed` for each target (interaction URN from `name` and the targeted device) |
/// | `say`, `play` | `{"id": _id}`; prompt `started`, `stopped` with that id |
/// | `listen` | ack; speech `{request_id: _id, text, lang, source_uri}` with the next [`say_on_listen`](Self::say_on_listen) text (empty when exhausted) |
/// | `end_interaction` | ack; lifecycle `ended` |
/// | `terminate` | no response; stop `{"reason":"normal"}`, then close (1000) |
/// | `get_device_info` | `{<query>: value}`: name → the device, id → `990007560023456`, battery → 75, latlong → `[35.7796, -78.6382]`, address/location, type → `relay2`, location_enabled → true, username, indoor_location → `Lobby` |
/// | `set_var` / `get_var` / `unset_var` | a variable store seeded by [`var`](Self::var): `{name, value, type:"string"}` / `{"value"}` or `{}` / ack |
/// | `create_incident` | `{"incident_id": "inc-1"}` (then inc-2 …) |
/// | `translate` | `{"text": <the same text>}` |
/// | `inbox_count` | `{"count": "0"}` |
/// | `call` | `{"call_id": "call-1"}` |
/// | `group_query` | list_members → `{"member_uris": [device]}`, is_member → `{"is_member": true}` |
/// | `create_group` | `{"uri": <group URN of the name>}` |
/// | `play_inbox_messages` | ack; play-inbox-messages `{"action": "complete"}` |
/// | `sms` | `{"message_id": "sms-1"}` (then sms-2 …) |
/// | anything else | ack |
///
/// Requests missing what Relay needs (`start_interaction` without `name` or target; `say`,
/// `listen` or `end_interaction` without a target; `say` without `text`; `set_var`/`get_var`
/// without `name`) get a `wf_api_error_response`, as a real server would refuse them.
///
/// ```
/// use relay_workflow::testing::{AutoResponder, Reply, Trigger};
/// let responder = AutoResponder::default()
///     .device("Ann")
///     .trigger(Trigger::button("action_button_single_tap").device("Ann"))
///     .say_on_listen(["yes", "no"])
///     .var("greeting", "Hi")
///     .on("translate", |req| match req.str("to_lang") {
///         Some("fr-FR") => Reply::Respond(serde_json::json!({"text": "bonjour"})),
///         _ => Reply::Auto,
///     });
/// # drop(responder);
/// ```
pub struct AutoResponder {
    device: String,
    listen_texts: VecDeque<String>,
    vars: BTreeMap<String, String>,
    trigger: Option<Trigger>,
    overall_timeout: Duration,
    max_frames: usize,
    handlers: HashMap<String, Handler>,
    observer: Option<Observer>,
    incidents: u32,
    calls: u32,
    messages: u32,
    last_interaction: Option<String>,
}

impl Default for AutoResponder {
    fn default() -> Self {
        AutoResponder {
            device: DEFAULT_DEVICE.to_owned(),
            listen_texts: VecDeque::new(),
            vars: BTreeMap::new(),
            trigger: None,
            overall_timeout: Duration::from_secs(30),
            max_frames: 10_000,
            handlers: HashMap::new(),
            observer: None,
            incidents: 0,
            calls: 0,
            messages: 0,
            last_interaction: None,
        }
    }
}

impl fmt::Debug for AutoResponder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut handlers: Vec<&String> = self.handlers.keys().collect();
        handlers.sort();
        f.debug_struct("AutoResponder")
            .field("device", &self.device)
            .field("listen_texts", &self.listen_texts)
            .field("vars", &self.vars)
            .field("trigger", &self.trigger)
            .field("overall_timeout", &self.overall_timeout)
            .field("max_frames", &self.max_frames)
            .field("handlers", &handlers)
            .field("observer", &self.observer.is_some())
            .finish_non_exhaustive()
    }
}

/// One step of an answer.
#[derive(Debug, Clone, PartialEq)]
enum Step {
    Respond(Value),
    Error(String),
    Event(&'static str, Value),
    Stop(String),
    Close,
}

impl AutoResponder {
    /// A responder with the defaults (same as [`Default`]).
    pub fn new() -> Self {
        Self::default()
    }

    /// The device the simulator plays (default `Bob`): its name answers
    /// `get_device_info name`, and the default trigger comes from it.
    pub fn device(mut self, name: &str) -> Self {
        self.device = name.to_owned();
        self
    }

    /// What the device user says, one text per `listen`, in order; appended to earlier
    /// calls. When exhausted, listens are answered with empty text.
    pub fn say_on_listen<I, S>(mut self, texts: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.listen_texts.extend(texts.into_iter().map(Into::into));
        self
    }

    /// Seed a workflow variable (as registration args would); `get_var` answers it,
    /// `set_var`/`unset_var` change it.
    pub fn var(mut self, name: &str, value: &str) -> Self {
        self.vars.insert(name.to_owned(), value.to_owned());
        self
    }

    /// The trigger of the start event. Default: `Trigger::phrase("hello")` from the
    /// [`device`](Self::device). Not sent if the simulator was already started by hand.
    pub fn trigger(mut self, trigger: Trigger) -> Self {
        self.trigger = Some(trigger);
        self
    }

    /// The bound on the whole conversation (default 30 s).
    pub fn overall_timeout(mut self, d: Duration) -> Self {
        self.overall_timeout = d;
        self
    }

    /// The most frames the workflow may send before the run is aborted (default 10 000);
    /// catches a workflow stuck in a loop.
    pub fn max_frames(mut self, n: usize) -> Self {
        self.max_frames = n;
        self
    }

    /// Answer `action` (short name such as `"get_var"`) with `handler` instead of the default;
    /// the handler may return [`Reply::Auto`] to fall back to the default for some requests.
    pub fn on<F>(mut self, action: &str, handler: F) -> Self
    where
        F: FnMut(&ReceivedRequest) -> Reply + Send + 'static,
    {
        self.handlers.insert(action.to_owned(), Box::new(handler));
        self
    }

    /// Call `observer` with every frame as it is sent or received (what `relay-sim` prints).
    pub fn observer<F>(mut self, observer: F) -> Self
    where
        F: FnMut(&SimFrame) + Send + 'static,
    {
        self.observer = Some(Box::new(observer));
        self
    }

    /// Seed or change a workflow variable while a conversation runs (the `&mut` form of
    /// [`var`](Self::var), for tools that drive [`answer`](Self::answer) themselves).
    pub fn put_var(&mut self, name: &str, value: &str) {
        self.vars.insert(name.to_owned(), value.to_owned());
    }

    /// Queue what the device user says at the next `listen` (the `&mut` form of
    /// [`say_on_listen`](Self::say_on_listen)).
    pub fn push_listen_text(&mut self, text: &str) {
        self.listen_texts.push_back(text.to_owned());
    }

    /// Answer one request on `sim` as [`Simulator::run`] would (custom handlers first, then
    /// the defaults, follow-up events included), for tools that read the requests
    /// themselves with [`Simulator::next_request`]. Returns `true` when the answer ended the
    /// conversation: after a `terminate`, the stop event and a close frame were sent; wait
    /// for the server's close with [`Simulator::expect_close`]. A connection that is gone
    /// mid-answer is not an error here: the next read reports how it ended.
    pub async fn answer(
        &mut self,
        sim: &mut Simulator,
        req: &ReceivedRequest,
    ) -> Result<bool, SimError> {
        let mut closing = false;
        for step in self.plan(req) {
            let sent = match step {
                Step::Respond(payload) => sim.respond(req, payload).await,
                Step::Error(message) => sim.fail(req, &message).await,
                Step::Event(name, fields) => sim.send_event(name, fields).await,
                Step::Stop(reason) => sim.stop(&reason).await,
                Step::Close => {
                    closing = true;
                    sim.begin_close().await
                }
            };
            match sent {
                Ok(()) => {}
                Err(SimError::Closed { .. }) => break,
                Err(e) => return Err(e),
            }
        }
        Ok(closing)
    }

    /// The steps answering `req`.
    fn plan(&mut self, req: &ReceivedRequest) -> Vec<Step> {
        if let Some(handler) = self.handlers.get_mut(&req.action) {
            match handler(req) {
                Reply::Respond(payload) => return vec![Step::Respond(payload)],
                Reply::Error(message) => return vec![Step::Error(message)],
                Reply::Ignore => return Vec::new(),
                Reply::Auto => {}
            }
        }
        match self.default_plan(req) {
            Ok(steps) => steps,
            Err(message) => vec![Step::Error(message)],
        }
    }

    fn default_plan(&mut self, req: &ReceivedRequest) -> Result<Vec<Step>, String> {
        let ack = Step::Respond(json!({}));
        let steps = match req.action.as_str() {
            "start_interaction" => {
                let name = required(req, "name")?;
                let targets = targeted(req)?;
                let mut steps = vec![ack];
                for target in targets {
                    let device = if is_device(target) {
                        target.clone()
                    } else {
                        device_urn(&self.device)
                    };
                    let interaction = interaction_urn(name, &device);
                    for kind in ["started", "resumed"] {
                        steps.push(Step::Event(
                            "interaction_lifecycle",
                            json!({ "type": kind, "source_uri": interaction }),
                        ));
                    }
                    self.last_interaction.get_or_insert(interaction);
                }
                steps
            }
            "say" | "play" => {
                if req.action == "say" {
                    required(req, "text")?;
                }
                let source = self.source_of(req, req.action == "say")?;
                let mut steps = vec![Step::Respond(json!({ "id": req.id }))];
                for kind in ["started", "stopped"] {
                    steps.push(Step::Event(
                        "prompt",
                        json!({ "id": req.id, "type": kind, "source_uri": source }),
                    ));
                }
                steps
            }
            "listen" => {
                let source = self.source_of(req, true)?;
                let text = self.listen_texts.pop_front().unwrap_or_default();
                let lang = req.str("alt_lang").unwrap_or("en-US");
                let speech = json!({ "request_id": req.id, "text": text, "lang": lang, "source_uri": source });
                vec![ack, Step::Event("speech", speech)]
            }
            "end_interaction" => {
                let mut steps = vec![ack];
                for target in targeted(req)? {
                    steps.push(Step::Event(
                        "interaction_lifecycle",
                        json!({ "type": "ended", "source_uri": target }),
                    ));
                }
                steps
            }
            "terminate" => vec![Step::Stop("normal".into()), Step::Close],
            "get_device_info" => {
                let query = required(req, "query")?;
                let value = self
                    .device_info(req, query)
                    .ok_or_else(|| format!("unknown get_device_info query {query:?}"))?;
                let mut answer = Map::new();
                answer.insert(query.to_owned(), value);
                vec![Step::Respond(Value::Object(answer))]
            }
            "set_var" => {
                let name = required(req, "name")?;
                let value = match req.payload.get("value") {
                    Some(Value::String(s)) => s.clone(),
                    Some(other) => other.to_string(),
                    None => String::new(),
                };
                self.vars.insert(name.to_owned(), value.clone());
                vec![Step::Respond(
                    json!({ "name": name, "value": value, "type": "string" }),
                )]
            }
            "get_var" => {
                let name = required(req, "name")?;
                match self.vars.get(name) {
                    Some(value) => vec![Step::Respond(json!({ "value": value }))],
                    None => vec![ack],
                }
            }
            "unset_var" => {
                self.vars.remove(required(req, "name")?);
                vec![ack]
            }
            "create_incident" => {
                self.incidents += 1;
                vec![Step::Respond(
                    json!({ "incident_id": format!("inc-{}", self.incidents) }),
                )]
            }
            "translate" => vec![Step::Respond(
                json!({ "text": req.str("text").unwrap_or_default() }),
            )],
            "inbox_count" => vec![Step::Respond(json!({ "count": "0" }))],
            "call" => {
                self.calls += 1;
                vec![Step::Respond(
                    json!({ "call_id": format!("call-{}", self.calls) }),
                )]
            }
            "group_query" => match req.str("query") {
                Some("list_members") => vec![Step::Respond(
                    json!({ "member_uris": [device_urn(&self.device)] }),
                )],
                Some("is_member") => vec![Step::Respond(json!({ "is_member": true }))],
                other => return Err(format!("unknown group_query query {other:?}")),
            },
            "play_inbox_messages" => {
                targeted(req)?;
                vec![
                    ack,
                    Step::Event("play_inbox_messages", json!({ "action": "complete" })),
                ]
            }
            "sms" => {
                required(req, "text")?;
                self.messages += 1;
                vec![Step::Respond(
                    json!({ "message_id": format!("sms-{}", self.messages) }),
                )]
            }
            "create_group" => {
                let name = required(req, "name")?;
                vec![Step::Respond(json!({ "uri": group_urn(name) }))]
            }
            _ => vec![ack],
        };
        Ok(steps)
    }

    /// Where the events following `req` come from: its target, else the last interaction.
    fn source_of(&self, req: &ReceivedRequest, needs_target: bool) -> Result<String, String> {
        match (req.target.first(), &self.last_interaction) {
            (Some(target), _) => Ok(target.clone()),
            (None, _) if needs_target => Err(format!(
                "{} needs an interaction URN in _target",
                req.action
            )),
            (None, Some(last)) => Ok(last.clone()),
            (None, None) => Ok(device_urn(&self.device)),
        }
    }

    fn device_info(&self, req: &ReceivedRequest, query: &str) -> Option<Value> {
        let name = req
            .target
            .first()
            .and_then(|t| device_name(t))
            .unwrap_or_else(|| self.device.clone());
        Some(match query {
            "name" => json!(name),
            "id" => json!("990007560023456"),
            "battery" => json!(75),
            "latlong" => json!([35.7796, -78.6382]),
            "address" | "location" => json!("1 Fenton Main St, Cary, NC 27511, USA"),
            "type" => json!("relay2"),
            "location_enabled" => json!(true),
            "username" => json!(name.to_lowercase()),
            "indoor_location" => json!("Lobby"),
            _ => return None,
        })
    }
}

fn required<'r>(req: &'r ReceivedRequest, field: &str) -> Result<&'r str, String> {
    req.str(field)
        .ok_or_else(|| format!("{} needs a string field {field:?}", req.action))
}

fn targeted(req: &ReceivedRequest) -> Result<&Vec<String>, String> {
    if req.target.is_empty() {
        Err(format!("{} needs a _target", req.action))
    } else {
        Ok(&req.target)
    }
}

fn action_list(transcript: &Transcript) -> String {
    const SHOWN: usize = 40;
    let actions = transcript.actions();
    if actions.len() <= SHOWN {
        format!("[{}]", actions.join(", "))
    } else {
        format!(
            "[… {} more, {}]",
            actions.len() - SHOWN,
            actions[actions.len() - SHOWN..].join(", ")
        )
    }
}

impl Simulator {
    /// Let `responder` play Relay until the conversation ends, and return what happened.
    ///
    /// Sends the responder's start event (unless [`start`](Self::start) was already called:
    /// a test may script the beginning of a conversation and let `run` finish it), then
    /// answers every request. The transcript covers the run itself: the requests received
    /// and the events sent from the moment `run` was called. Ends with `Ok` when the stop event was sent (after the
    /// workflow's `terminate`) and the connection then closed, or when the workflow server
    /// closes or drops the connection on its own (then
    /// [`stop_reason`](Transcript::stop_reason) is `None`; the test decides whether that is
    /// a failure). A frame that is not a request is a [`SimError::Protocol`]; so is a
    /// workflow sending more than [`max_frames`](AutoResponder::max_frames). Running longer
    /// than the [overall timeout](AutoResponder::overall_timeout) is a
    /// [`SimError::Timeout`] listing the actions seen so far.
    pub async fn run(mut self, mut responder: AutoResponder) -> Result<Transcript, SimError> {
        let deadline = Instant::now() + responder.overall_timeout;
        let before = (self.transcript.requests.len(), self.transcript.events.len());
        if let Some(observer) = responder.observer.take() {
            self.observer = Some(observer);
        }
        if !self.started {
            let trigger = match responder.trigger.take() {
                Some(trigger) => trigger,
                None => Trigger::phrase("hello").device(&responder.device),
            };
            match self.start(trigger).await {
                // Already gone (e.g. an unknown path): the first read reports how it ended.
                Ok(()) | Err(SimError::Closed { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        let mut frames = 0usize;
        // Set once our close frame is out: from then on, wait only for the server's answer.
        let mut closing_deadline: Option<Instant> = None;
        loop {
            let wait_until = closing_deadline.unwrap_or(deadline);
            let incoming = match self.read_incoming(wait_until).await? {
                Some(incoming) => incoming,
                None => {
                    let (what, after) = match closing_deadline {
                        Some(_) => (
                            "the workflow server to answer the close frame sent after the stop event",
                            self.timeout.min(responder.overall_timeout),
                        ),
                        None => (
                            "the workflow to finish (terminate, then stop and close)",
                            responder.overall_timeout,
                        ),
                    };
                    return Err(SimError::Timeout {
                        waiting_for: format!(
                            "{what}; actions so far: {}",
                            action_list(&self.transcript)
                        ),
                        after,
                    });
                }
            };
            let req = match incoming {
                Incoming::End(End::Close(_) | End::Dropped(_)) => break,
                Incoming::Invalid(description) => {
                    return Err(SimError::Protocol(format!(
                        "the workflow sent {description}; actions so far: {}",
                        action_list(&self.transcript)
                    )))
                }
                Incoming::Request(req) => req,
            };
            frames += 1;
            if frames > responder.max_frames {
                return Err(SimError::Protocol(format!(
                    "the workflow sent more than {} frames (AutoResponder::max_frames); actions so far: {}",
                    responder.max_frames,
                    action_list(&self.transcript)
                )));
            }
            if closing_deadline.is_some() {
                // After the stop event Relay accepts no more actions; they stay recorded.
                continue;
            }
            if responder.answer(&mut self, &req).await? {
                closing_deadline = Some(deadline.min(Instant::now() + self.timeout));
            }
        }
        let mut transcript = self.transcript;
        transcript.requests.drain(..before.0);
        transcript.events.drain(..before.1);
        Ok(transcript)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(action: &str, target: &[&str], payload: Value) -> ReceivedRequest {
        let Value::Object(payload) = payload else {
            panic!("payload must be an object")
        };
        ReceivedRequest {
            id: "id-1".into(),
            action: action.into(),
            target: target.iter().map(|t| (*t).to_owned()).collect(),
            payload,
            raw: Value::Null,
        }
    }

    const BOB: &str = "urn:relay-resource:name:device:Bob";
    const HELLO: &str = "urn:relay-resource:name:interaction:hello?device=urn%3Arelay-resource%3Aname%3Adevice%3ABob";

    fn respond(r: &mut AutoResponder, req: &ReceivedRequest) -> Value {
        match r.plan(req).as_slice() {
            [Step::Respond(v)] => v.clone(),
            other => panic!("expected one response, got {other:?}"),
        }
    }

    #[test]
    fn interaction_flow() {
        let mut r = AutoResponder::default().say_on_listen(["Alice"]);
        let steps = r.plan(&req("start_interaction", &[BOB], json!({"name": "hello"})));
        assert_eq!(
            steps,
            vec![
                Step::Respond(json!({})),
                Step::Event(
                    "interaction_lifecycle",
                    json!({"type": "started", "source_uri": HELLO})
                ),
                Step::Event(
                    "interaction_lifecycle",
                    json!({"type": "resumed", "source_uri": HELLO})
                ),
            ]
        );
        let steps = r.plan(&req(
            "say",
            &[HELLO],
            json!({"text": "hi", "lang": "en-US"}),
        ));
        assert_eq!(steps[0], Step::Respond(json!({"id": "id-1"})));
        assert_eq!(
            steps[2],
            Step::Event(
                "prompt",
                json!({"id": "id-1", "type": "stopped", "source_uri": HELLO})
            )
        );
        let listen = req(
            "listen",
            &[HELLO],
            json!({"phrases": [], "transcribe": true, "timeout": 60}),
        );
        assert_eq!(
            r.plan(&listen)[1],
            Step::Event(
                "speech",
                json!({"request_id": "id-1", "text": "Alice", "lang": "en-US", "source_uri": HELLO})
            )
        );
        assert_eq!(
            r.plan(&listen)[1],
            Step::Event(
                "speech",
                json!({"request_id": "id-1", "text": "", "lang": "en-US", "source_uri": HELLO})
            )
        );
        assert_eq!(
            r.plan(&req("end_interaction", &[HELLO], json!({})))[1],
            Step::Event(
                "interaction_lifecycle",
                json!({"type": "ended", "source_uri": HELLO})
            )
        );
        assert_eq!(
            r.plan(&req("terminate", &[], json!({}))),
            vec![Step::Stop("normal".into()), Step::Close]
        );
    }

    #[test]
    fn group_targets_use_the_responder_device() {
        let mut r = AutoResponder::default().device("Ann");
        let steps = r.plan(&req(
            "start_interaction",
            &["urn:relay-resource:name:group:team"],
            json!({"name": "x y"}),
        ));
        assert_eq!(
            steps[1],
            Step::Event(
                "interaction_lifecycle",
                json!({"type": "started", "source_uri": interaction_urn("x y", &device_urn("Ann"))})
            )
        );
    }

    #[test]
    fn refuses_requests_relay_would_refuse() {
        let mut r = AutoResponder::default();
        for bad in [
            req("start_interaction", &[BOB], json!({})),
            req("start_interaction", &[], json!({"name": "hello"})),
            req("say", &[], json!({"text": "hi"})),
            req("say", &[HELLO], json!({})),
            req("listen", &[], json!({})),
            req("end_interaction", &[], json!({})),
            req("get_var", &[], json!({})),
            req("get_device_info", &[BOB], json!({"query": "shoe_size"})),
            req("play_inbox_messages", &[], json!({})),
            req("sms", &[], json!({"type": "sms"})),
        ] {
            let steps = r.plan(&bad);
            assert!(
                matches!(steps.as_slice(), [Step::Error(_)]),
                "{bad:?} → {steps:?}"
            );
        }
    }

    #[test]
    fn inbox_playback_and_sms_answers() {
        let mut r = AutoResponder::default();
        let steps = r.plan(&req("play_inbox_messages", &[BOB], json!({})));
        assert_eq!(
            steps,
            [
                Step::Respond(json!({})),
                Step::Event("play_inbox_messages", json!({"action": "complete"}))
            ]
        );
        for n in 1..=2 {
            let steps = r.plan(&req("sms", &[], json!({"type": "sms", "text": "hi"})));
            assert_eq!(
                steps,
                [Step::Respond(json!({"message_id": format!("sms-{n}")}))]
            );
        }
    }

    #[test]
    fn device_info_answers() {
        let mut r = AutoResponder::default();
        let mut ask = |q: &str, target: &str| {
            respond(
                &mut r,
                &req(
                    "get_device_info",
                    &[target],
                    json!({"query": q, "refresh": false}),
                ),
            )
        };
        assert_eq!(ask("name", HELLO), json!({"name": "Bob"}));
        assert_eq!(
            ask("name", "urn:relay-resource:name:device:Front%20Desk"),
            json!({"name": "Front Desk"})
        );
        assert_eq!(ask("id", BOB), json!({"id": "990007560023456"}));
        assert_eq!(ask("battery", BOB), json!({"battery": 75}));
        assert_eq!(ask("latlong", BOB), json!({"latlong": [35.7796, -78.6382]}));
        assert_eq!(ask("type", BOB), json!({"type": "relay2"}));
        assert_eq!(
            ask("location_enabled", BOB),
            json!({"location_enabled": true})
        );
        assert_eq!(ask("username", BOB), json!({"username": "bob"}));
        assert_eq!(
            ask("indoor_location", BOB),
            json!({"indoor_location": "Lobby"})
        );
        assert!(ask("address", BOB)["address"].is_string());
    }

    #[test]
    fn variables_and_misc() {
        let mut r = AutoResponder::default().var("greeting", "Hi");
        let get = req("get_var", &[], json!({"name": "greeting"}));
        assert_eq!(respond(&mut r, &get), json!({"value": "Hi"}));
        assert_eq!(
            respond(
                &mut r,
                &req("set_var", &[], json!({"name": "greeting", "value": "Yo"}))
            ),
            json!({"name": "greeting", "value": "Yo", "type": "string"})
        );
        assert_eq!(respond(&mut r, &get), json!({"value": "Yo"}));
        assert_eq!(
            respond(&mut r, &req("unset_var", &[], json!({"name": "greeting"}))),
            json!({})
        );
        assert_eq!(respond(&mut r, &get), json!({}));

        let incident = req(
            "create_incident",
            &[],
            json!({"type": "Panic", "originator_uri": BOB}),
        );
        assert_eq!(respond(&mut r, &incident), json!({"incident_id": "inc-1"}));
        assert_eq!(respond(&mut r, &incident), json!({"incident_id": "inc-2"}));
        assert_eq!(
            respond(
                &mut r,
                &req(
                    "translate",
                    &[],
                    json!({"text": "hello", "to_lang": "fr-FR"})
                )
            ),
            json!({"text": "hello"})
        );
        assert_eq!(
            respond(&mut r, &req("inbox_count", &[BOB], json!({}))),
            json!({"count": "0"})
        );
        assert_eq!(
            respond(&mut r, &req("call", &[BOB], json!({"uri": BOB}))),
            json!({"call_id": "call-1"})
        );
        assert_eq!(
            respond(
                &mut r,
                &req(
                    "group_query",
                    &[],
                    json!({"group_uri": "g", "query": "list_members"})
                )
            ),
            json!({"member_uris": [BOB]})
        );
        assert_eq!(
            respond(
                &mut r,
                &req(
                    "group_query",
                    &[],
                    json!({"group_uri": "g", "query": "is_member"})
                )
            ),
            json!({"is_member": true})
        );
        assert_eq!(
            respond(
                &mut r,
                &req("create_group", &[], json!({"name": "rendezvous 1"}))
            ),
            json!({"uri": "urn:relay-resource:name:group:rendezvous%201"})
        );
        assert_eq!(
            respond(&mut r, &req("vibrate", &[HELLO], json!({"pattern": [100]}))),
            json!({})
        );
    }

    #[test]
    fn custom_handlers() {
        let mut r = AutoResponder::default()
            .on("get_var", |_| Reply::Error("nope".into()))
            .on("vibrate", |_| Reply::Ignore)
            .on("say", |req| {
                if req.str("text") == Some("special") {
                    Reply::Respond(json!({"id": "custom"}))
                } else {
                    Reply::Auto
                }
            });
        assert_eq!(
            r.plan(&req("get_var", &[], json!({"name": "x"}))),
            vec![Step::Error("nope".into())]
        );
        assert_eq!(r.plan(&req("vibrate", &[HELLO], json!({}))), vec![]);
        assert_eq!(
            r.plan(&req("say", &[HELLO], json!({"text": "special"}))),
            vec![Step::Respond(json!({"id": "custom"}))]
        );
        assert_eq!(
            r.plan(&req("say", &[HELLO], json!({"text": "plain"})))
                .len(),
            3
        );
    }
}
