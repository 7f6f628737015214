//! The scripted side of the simulator: connect, send events, expect requests, answer them.

use super::connection::{Connection, Gone, Inbound};
use super::error::SimError;
use super::transcript::Transcript;
use super::trigger::{Trigger, DEFAULT_DEVICE};
use super::urn::{device_urn, interaction_urn, is_device};
use serde_json::{json, Map, Value};
use std::fmt;
use std::time::Duration;
use tokio::time::{timeout, timeout_at, Instant};
use tokio_tungstenite::connect_async_with_config;
use tokio_tungstenite::tungstenite::error::ProtocolError;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{self, Message};

/// How long [`Simulator::connect`] and every wait of a [`Simulator`] last unless changed
/// with [`Simulator::with_timeout`].
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// Frames longer than this are shortened in error messages.
const SHOW_MAX: usize = 600;

pub(super) type Observer = Box<dyn FnMut(&SimFrame) + Send>;

/// One frame crossing the simulated connection, as shown to an observer
/// (see [`Simulator::with_observer`] and [`AutoResponder::observer`](super::AutoResponder::observer)).
#[derive(Debug, Clone, PartialEq)]
pub enum SimFrame {
    /// A frame the simulator (playing Relay) sent: an event, a response, an error response.
    /// Raw text that is not JSON (from [`Simulator::send_text`]) appears as a JSON string;
    /// binary frames as a string describing them.
    Sent(Value),
    /// A frame the workflow sent. Normally a request; anything else is shown as received
    /// (text that is not JSON as a JSON string, binary frames as a description) just before
    /// the simulator reports it as a protocol error.
    Received(Value),
}

/// A request (`wf_api_<action>_request`) the workflow sent.
#[derive(Debug, Clone, PartialEq)]
pub struct ReceivedRequest {
    /// The correlation id `_id`; every answer must echo it.
    pub id: String,
    /// The short action name: `say` for `wf_api_say_request`.
    pub action: String,
    /// The URNs of `_target.uris` (empty when the request has no `_target`).
    pub target: Vec<String>,
    /// Every other top-level field (the payload), without `_id`, `_type` and `_target`.
    pub payload: Map<String, Value>,
    /// The whole frame as received.
    pub raw: Value,
}

impl ReceivedRequest {
    /// A string field of the payload: `req.str("text")` for a `say`.
    pub fn str(&self, field: &str) -> Option<&str> {
        self.payload.get(field).and_then(Value::as_str)
    }

    /// The target URN when there is exactly one (`None` for no target or several).
    pub fn target_one(&self) -> Option<&str> {
        match self.target.as_slice() {
            [one] => Some(one),
            _ => None,
        }
    }

    /// Decode a frame. `Ok(None)`: valid JSON object, but not a request.
    fn parse(raw: Value) -> Result<Option<ReceivedRequest>, (String, Value)> {
        let Some(obj) = raw.as_object() else {
            let d = format!("a JSON value that is not an object: {}", show(&raw));
            return Err((d, raw));
        };
        let action = match obj.get("_type").and_then(Value::as_str) {
            Some(t) => match t
                .strip_prefix("wf_api_")
                .and_then(|t| t.strip_suffix("_request"))
            {
                Some(a) if !a.is_empty() => a.to_owned(),
                _ => return Ok(None),
            },
            None => return Ok(None),
        };
        let Some(id) = obj.get("_id").and_then(Value::as_str).map(str::to_owned) else {
            let d = format!("a request without a string \"_id\": {}", show(&raw));
            return Err((d, raw));
        };
        let target = match obj.get("_target") {
            None => Vec::new(),
            Some(t) => match parse_target(t) {
                Some(uris) => uris,
                None => {
                    let d = format!(
                        "a request whose \"_target\" is not {{\"uris\": [URN, …]}}: {}",
                        show(&raw)
                    );
                    return Err((d, raw));
                }
            },
        };
        let payload = obj
            .iter()
            .filter(|(k, _)| !matches!(k.as_str(), "_id" | "_type" | "_target"))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        Ok(Some(ReceivedRequest {
            id,
            action,
            target,
            payload,
            raw,
        }))
    }
}

fn parse_target(t: &Value) -> Option<Vec<String>> {
    t.get("uris")?
        .as_array()?
        .iter()
        .map(|u| u.as_str().map(str::to_owned))
        .collect()
}

/// Compact JSON of a frame, shortened for error messages.
pub(super) fn show(v: &Value) -> String {
    shorten(&v.to_string())
}

fn shorten(s: &str) -> String {
    if s.chars().count() <= SHOW_MAX {
        return s.to_owned();
    }
    let head: String = s.chars().take(SHOW_MAX).collect();
    format!("{head}… ({} bytes in all)", s.len())
}

/// How the connection ended, from the simulator's side.
#[derive(Debug, Clone)]
pub(super) enum End {
    /// The server sent a close frame (with its code and reason, if it had any).
    Close(Option<(u16, String)>),
    /// The stream ended or failed without a close frame.
    Dropped(String),
}

impl End {
    pub(super) fn to_error(&self) -> SimError {
        match self {
            End::Close(Some((code, reason))) => SimError::Closed {
                code: Some(*code),
                reason: reason.clone(),
            },
            End::Close(None) => SimError::Closed {
                code: None,
                reason: "the workflow server sent a close frame without a code".into(),
            },
            End::Dropped(why) => SimError::Closed {
                code: None,
                reason: why.clone(),
            },
        }
    }
}

/// One thing read from the workflow.
pub(super) enum Incoming {
    Request(ReceivedRequest),
    /// A frame that is not a valid request; the string describes it.
    Invalid(String),
    End(End),
}

/// A simulated Relay server: the WebSocket *client* that connects to a workflow server and
/// plays Relay's part of the conversation.
///
/// Drive it by hand ([`start`](Self::start), [`expect`](Self::expect),
/// [`respond`](Self::respond), the event helpers …) or hand it to an
/// [`AutoResponder`](super::AutoResponder) with [`run`](Self::run). Every wait is bounded by
/// the timeout ([`DEFAULT_TIMEOUT`] unless set with [`with_timeout`](Self::with_timeout)).
///
/// The connection is serviced in the background: WebSocket pings from the server are
/// answered even while the test is busy elsewhere, as Relay would. Frames from the workflow
/// wait in a queue until the test asks for them.
pub struct Simulator {
    conn: Connection,
    url: String,
    pub(super) timeout: Duration,
    /// The device of the start trigger: interaction names are resolved against it.
    device: String,
    pub(super) started: bool,
    auto_ack: Vec<String>,
    pub(super) transcript: Transcript,
    pub(super) end: Option<End>,
    pub(super) observer: Option<Observer>,
    last_received: Option<String>,
}

impl fmt::Debug for Simulator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Simulator")
            .field("url", &without_query(&self.url))
            .field("timeout", &self.timeout)
            .field("device", &self.device)
            .field("started", &self.started)
            .field("auto_ack", &self.auto_ack)
            .field("requests", &self.transcript.requests.len())
            .field("events", &self.transcript.events.len())
            .field("end", &self.end)
            .finish_non_exhaustive()
    }
}

/// The URL with its query string (which may hold the workflow's secret) masked, for
/// messages.
fn without_query(url: &str) -> String {
    match url.split_once('?') {
        Some((base, _)) => format!("{base}?…"),
        None => url.to_owned(),
    }
}

impl Simulator {
    /// Open a WebSocket connection to a workflow URL such as `ws://127.0.0.1:8080/hello`,
    /// as Relay does when a trigger fires. Nothing is sent yet; call [`start`](Self::start)
    /// (or [`run`](Self::run)). Gives up after [`DEFAULT_TIMEOUT`].
    ///
    /// Only `ws://` is supported here; a TLS connection opened
    /// elsewhere can be used through `Simulator::from_websocket`. A query string (such as
    /// `?secret=…` for a server with `WORKFLOW_SECRET`) is sent as is, and masked in errors.
    pub async fn connect(url: &str) -> Result<Simulator, SimError> {
        let attempt = timeout(DEFAULT_TIMEOUT, connect_async_with_config(url, None, true)).await;
        let ws = match attempt {
            Ok(Ok((ws, _response))) => ws,
            Ok(Err(source)) => {
                return Err(SimError::Connect {
                    url: without_query(url),
                    source,
                })
            }
            Err(_) => {
                let io = std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("no WebSocket handshake within {DEFAULT_TIMEOUT:?}"),
                );
                return Err(SimError::Connect {
                    url: without_query(url),
                    source: tungstenite::Error::Io(io),
                });
            }
        };
        Ok(Simulator::over(ws, url))
    }

    /// A simulator over a WebSocket connection opened elsewhere: the
    /// deploy doctor opens its own TLS connection (with its own trust roots and name
    /// resolution) and hands the upgraded stream here. `url` is only used in messages.
    pub fn from_websocket(
        ws: tokio_tungstenite::WebSocketStream<
            tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
        >,
        url: &str,
    ) -> Simulator {
        Simulator::over(ws, url)
    }

    fn over(ws: super::connection::Ws, url: &str) -> Simulator {
        Simulator {
            conn: Connection::spawn(ws),
            url: url.to_owned(),
            timeout: DEFAULT_TIMEOUT,
            device: device_urn(DEFAULT_DEVICE),
            started: false,
            auto_ack: Vec::new(),
            transcript: Transcript::default(),
            end: None,
            observer: None,
            last_received: None,
        }
    }

    /// How long each wait ([`next_request`](Self::next_request), [`expect`](Self::expect),
    /// [`expect_close`](Self::expect_close), sending a frame, closing) may last.
    /// Default [`DEFAULT_TIMEOUT`] (5 s).
    pub fn with_timeout(mut self, d: Duration) -> Self {
        self.timeout = d;
        self
    }

    /// Answer every `action` request with an empty response without returning it from
    /// [`next_request`](Self::next_request)/[`expect`](Self::expect) (it is still recorded
    /// in the [`transcript`](Self::transcript)). Useful for requests a script does not care
    /// about, such as `log_analytics_event`. Has no effect on [`run`](Self::run).
    pub fn auto_ack(mut self, action: &str) -> Self {
        self.auto_ack.push(normalize_action(action).to_owned());
        self
    }

    /// Call `observer` with every frame sent and received, as it happens (handy with
    /// `println!` while debugging a test).
    pub fn with_observer(mut self, observer: impl FnMut(&SimFrame) + Send + 'static) -> Self {
        self.observer = Some(Box::new(observer));
        self
    }

    /// Everything recorded so far: the requests received and the events sent.
    pub fn transcript(&self) -> &Transcript {
        &self.transcript
    }

    /// Send `wf_api_start_event` with this trigger. Its `source_uri` (when it is a device URN)
    /// becomes the device against which interaction *names* are resolved by the event helpers.
    pub async fn start(&mut self, trigger: Trigger) -> Result<(), SimError> {
        if let Some(src) = trigger.source() {
            if is_device(src) {
                self.device = src.to_owned();
            }
        }
        self.started = true;
        self.send_event_value(trigger.to_json()).await
    }

    /// The next request the workflow sends. Pings are answered on the way; a frame that is
    /// not a request is a [`SimError::Protocol`], a close is a [`SimError::Closed`], silence
    /// longer than the timeout a [`SimError::Timeout`].
    pub async fn next_request(&mut self) -> Result<ReceivedRequest, SimError> {
        self.next_request_for("a request from the workflow").await
    }

    /// The next request, which must be `action` (short name such as `"say"`; the wire name
    /// `"wf_api_say_request"` is accepted too). Anything else is a [`SimError::Unexpected`]
    /// showing the frame that came instead.
    pub async fn expect(&mut self, action: &str) -> Result<ReceivedRequest, SimError> {
        let action = normalize_action(action);
        let what = format!("a `{action}` request (wf_api_{action}_request)");
        let req = self.next_request_for(&what).await?;
        if req.action == action {
            Ok(req)
        } else {
            Err(SimError::Unexpected {
                expected: what,
                got: show(&req.raw),
            })
        }
    }

    async fn next_request_for(&mut self, what: &str) -> Result<ReceivedRequest, SimError> {
        let deadline = Instant::now() + self.timeout;
        loop {
            match self.read_incoming(deadline).await? {
                None => return Err(self.timeout_error(what)),
                Some(Incoming::Request(req)) => {
                    if self.auto_ack.contains(&req.action) {
                        self.ack(&req).await?;
                        continue;
                    }
                    return Ok(req);
                }
                Some(Incoming::Invalid(description)) => {
                    return Err(SimError::Protocol(format!(
                        "while waiting for {what}, the workflow sent {description}"
                    )))
                }
                Some(Incoming::End(end)) => return Err(end.to_error()),
            }
        }
    }

    fn timeout_error(&self, what: &str) -> SimError {
        let last = match &self.last_received {
            Some(last) => format!("the last frame from the workflow was {last}"),
            None => "nothing received from the workflow yet".to_owned(),
        };
        SimError::Timeout {
            waiting_for: format!("{what} ({last})"),
            after: self.timeout,
        }
    }

    /// Answer `req` with `wf_api_<action>_response`: `_id` echoed, the fields of `payload`
    /// (a JSON object, or `null` for none) at the top level. Keys in `payload` override
    /// `_id`/`_type`, which lets a test send a deliberately wrong answer.
    pub async fn respond(&mut self, req: &ReceivedRequest, payload: Value) -> Result<(), SimError> {
        let mut frame = Map::new();
        frame.insert("_id".into(), req.id.clone().into());
        frame.insert(
            "_type".into(),
            format!("wf_api_{}_response", req.action).into(),
        );
        match payload {
            Value::Object(fields) => frame.extend(fields),
            Value::Null => {}
            other => {
                return Err(SimError::Protocol(format!(
                    "respond() takes a JSON object payload (its fields are flattened into the \
                     response), not {}",
                    show(&other)
                )))
            }
        }
        self.send_json(Value::Object(frame)).await
    }

    /// Answer `req` with an empty response (an "ack").
    pub async fn ack(&mut self, req: &ReceivedRequest) -> Result<(), SimError> {
        self.respond(req, Value::Null).await
    }

    /// Answer `req` with `wf_api_error_response {"_id", "error": message}`.
    pub async fn fail(&mut self, req: &ReceivedRequest, message: &str) -> Result<(), SimError> {
        let frame = json!({ "_id": req.id, "_type": "wf_api_error_response", "error": message });
        self.send_json(frame).await
    }

    /// Send `wf_api_progress_event {"_id"}` for `req` ("still working").
    pub async fn progress(&mut self, req: &ReceivedRequest) -> Result<(), SimError> {
        self.send_event_value(json!({ "_id": req.id, "_type": "wf_api_progress_event" }))
            .await
    }

    /// Send the event `wf_api_<name>_event` with `fields` (a JSON object, or `null`) at the
    /// top level: `send_event("timer_fired", json!({"name": "tick"}))`.
    pub async fn send_event(&mut self, name: &str, fields: Value) -> Result<(), SimError> {
        let mut frame = Map::new();
        frame.insert("_type".into(), format!("wf_api_{name}_event").into());
        match fields {
            Value::Object(f) => frame.extend(f),
            Value::Null => {}
            other => {
                return Err(SimError::Protocol(format!(
                    "send_event() takes a JSON object of fields, not {}",
                    show(&other)
                )))
            }
        }
        self.send_event_value(Value::Object(frame)).await
    }

    /// `wf_api_interaction_lifecycle_event {type: kind, source_uri}`; `kind` is `started`,
    /// `resumed`, `suspended`, `ended` or `failed`.
    ///
    /// `interaction` is either an interaction URN (anything starting with `urn:`), used as
    /// is, or an interaction *name*, turned into the URN Relay would mint for it on the
    /// device of the start trigger (default `Bob`) — see [`interaction_urn`].
    pub async fn interaction(&mut self, kind: &str, interaction: &str) -> Result<(), SimError> {
        let source = self.resolve(interaction);
        self.send_event(
            "interaction_lifecycle",
            json!({ "type": kind, "source_uri": source }),
        )
        .await
    }

    /// `wf_api_prompt_event {id, type: kind, source_uri}`; `id` is the `_id` of the say/play
    /// request, `kind` `started`, `stopped` or `failed`. `interaction` as in
    /// [`interaction`](Self::interaction).
    pub async fn prompt(
        &mut self,
        id: &str,
        kind: &str,
        interaction: &str,
    ) -> Result<(), SimError> {
        let source = self.resolve(interaction);
        self.send_event(
            "prompt",
            json!({ "id": id, "type": kind, "source_uri": source }),
        )
        .await
    }

    /// `wf_api_speech_event {request_id, text, lang: "en-US", source_uri}`: the device user
    /// said `text` in answer to the listen request `request_id`. `interaction` as in
    /// [`interaction`](Self::interaction).
    pub async fn speech(
        &mut self,
        request_id: &str,
        text: &str,
        interaction: &str,
    ) -> Result<(), SimError> {
        let source = self.resolve(interaction);
        self.send_event(
            "speech",
            json!({ "request_id": request_id, "text": text, "lang": "en-US", "source_uri": source }),
        )
        .await
    }

    /// `wf_api_button_event {button, taps, source_uri}`; `button` is `action` or `channel`,
    /// `taps` `single`, `double`, `triple` or `long`. `interaction` as in
    /// [`interaction`](Self::interaction).
    pub async fn button(
        &mut self,
        button: &str,
        taps: &str,
        interaction: &str,
    ) -> Result<(), SimError> {
        let source = self.resolve(interaction);
        self.send_event(
            "button",
            json!({ "button": button, "taps": taps, "source_uri": source }),
        )
        .await
    }

    /// `wf_api_stop_event {reason}` (`normal` after a terminate). Relay then closes the
    /// connection: follow it with [`close`](Self::close).
    pub async fn stop(&mut self, reason: &str) -> Result<(), SimError> {
        self.send_event("stop", json!({ "reason": reason })).await?;
        self.transcript.stop_reason = Some(reason.to_owned());
        Ok(())
    }

    /// Send a raw text frame, exactly as given (for malformed-input tests). Not recorded as
    /// an event.
    pub async fn send_text(&mut self, raw: &str) -> Result<(), SimError> {
        let shown = serde_json::from_str(raw).unwrap_or_else(|_| Value::String(raw.to_owned()));
        self.send_message(Message::text(raw), shown).await
    }

    /// Send a binary frame (which the protocol does not use).
    pub async fn send_binary(&mut self, bytes: Vec<u8>) -> Result<(), SimError> {
        let shown = Value::String(format!("<binary frame, {} bytes>", bytes.len()));
        self.send_message(Message::binary(bytes), shown).await
    }

    /// Wait (bounded by the timeout) for the workflow server to close the connection.
    /// Returns the close code and reason of its close frame, or `None` when the frame had no
    /// code or the connection was dropped without one. A request arriving first is a
    /// [`SimError::Unexpected`].
    pub async fn expect_close(&mut self) -> Result<Option<(u16, String)>, SimError> {
        let what = "the workflow server to close the connection";
        let deadline = Instant::now() + self.timeout;
        loop {
            match self.read_incoming(deadline).await? {
                None => return Err(self.timeout_error(what)),
                Some(Incoming::Request(req)) => {
                    if self.auto_ack.contains(&req.action) {
                        self.ack(&req).await?;
                        continue;
                    }
                    return Err(SimError::Unexpected {
                        expected: what.to_owned(),
                        got: show(&req.raw),
                    });
                }
                Some(Incoming::Invalid(description)) => {
                    return Err(SimError::Unexpected {
                        expected: what.to_owned(),
                        got: description,
                    })
                }
                Some(Incoming::End(End::Close(frame))) => return Ok(frame),
                Some(Incoming::End(End::Dropped(_))) => return Ok(None),
            }
        }
    }

    /// Close the connection politely (close code 1000) and wait, bounded, for the server to
    /// complete the closing handshake. Frames arriving meanwhile are ignored.
    pub async fn close(mut self) -> Result<(), SimError> {
        if self.end.is_some() {
            return Ok(());
        }
        self.begin_close().await?;
        let deadline = Instant::now() + self.timeout;
        self.finish_close(deadline).await
    }

    /// Drop the TCP connection abruptly, without a close frame (the socket is reset), as
    /// when a device loses its network. (Simply dropping a `Simulator` also ends the
    /// connection without a close frame, with an orderly TCP shutdown.)
    pub fn disconnect(self) {
        self.conn.disconnect();
    }

    // ---- internals shared with the auto-responder ----

    /// Interaction URN for an interaction URN or name (see [`Simulator::interaction`]).
    fn resolve(&self, interaction: &str) -> String {
        if interaction.starts_with("urn:") {
            interaction.to_owned()
        } else {
            interaction_urn(interaction, &self.device)
        }
    }

    /// Send an event frame and record it in the transcript.
    pub(super) async fn send_event_value(&mut self, event: Value) -> Result<(), SimError> {
        self.send_json(event.clone()).await?;
        self.transcript.events.push(event);
        Ok(())
    }

    pub(super) async fn send_json(&mut self, frame: Value) -> Result<(), SimError> {
        let text = serde_json::to_string(&frame)?;
        self.send_message(Message::text(text), frame).await
    }

    async fn send_message(&mut self, msg: Message, shown: Value) -> Result<(), SimError> {
        if let Some(end) = &self.end {
            return Err(end.to_error());
        }
        match timeout(self.timeout, self.conn.send(msg)).await {
            Err(_) => Err(SimError::Timeout {
                waiting_for: "the workflow server to accept a frame (it is not reading)".into(),
                after: self.timeout,
            }),
            Ok(Err(Gone)) => {
                let end = End::Dropped("the connection is gone".into());
                let err = end.to_error();
                self.end = Some(end);
                Err(err)
            }
            Ok(Ok(Err(e))) => Err(match classify_ws_error(e) {
                Ok(why) => {
                    let end = End::Dropped(why);
                    let err = end.to_error();
                    self.end = Some(end);
                    err
                }
                Err(e) => SimError::WebSocket(e),
            }),
            Ok(Ok(Ok(()))) => {
                if let Some(observer) = &mut self.observer {
                    observer(&SimFrame::Sent(shown));
                }
                Ok(())
            }
        }
    }

    /// Send our close frame (code 1000) without waiting for the answer.
    pub(super) async fn begin_close(&mut self) -> Result<(), SimError> {
        let frame = CloseFrame {
            code: CloseCode::Normal,
            reason: "".into(),
        };
        match timeout(self.timeout, self.conn.close(frame)).await {
            Err(_) => Err(SimError::Timeout {
                waiting_for: "the workflow server to accept the close frame".into(),
                after: self.timeout,
            }),
            Ok(Ok(Ok(()))) => Ok(()),
            Ok(Err(Gone)) => {
                self.end = Some(End::Dropped("the connection is gone".into()));
                Ok(())
            }
            Ok(Ok(Err(e))) => match classify_ws_error(e) {
                Ok(why) => {
                    self.end = Some(End::Dropped(why));
                    Ok(())
                }
                Err(e) => Err(SimError::WebSocket(e)),
            },
        }
    }

    /// After [`begin_close`](Self::begin_close): read until the server's close frame or the
    /// end of the stream.
    pub(super) async fn finish_close(&mut self, deadline: Instant) -> Result<(), SimError> {
        while self.end.is_none() {
            match timeout_at(deadline, self.conn.recv()).await {
                Err(_) => {
                    return Err(SimError::Timeout {
                        waiting_for: "the workflow server to answer the close frame".into(),
                        after: self.timeout,
                    })
                }
                Ok(Inbound::Message(Message::Close(frame))) => {
                    let frame = close_frame(frame);
                    self.transcript.close = frame.clone();
                    self.end = Some(End::Close(frame));
                }
                Ok(Inbound::Message(_)) => {}
                Ok(Inbound::End) => self.end = Some(End::Dropped("closed".into())),
                Ok(Inbound::Error(e)) => {
                    let why = classify_ws_error(e).unwrap_or_else(|e| e.to_string());
                    self.end = Some(End::Dropped(why));
                }
            }
        }
        Ok(())
    }

    /// Read the next meaningful frame; `Ok(None)` when the deadline passes first.
    pub(super) async fn read_incoming(
        &mut self,
        deadline: Instant,
    ) -> Result<Option<Incoming>, SimError> {
        loop {
            if let Some(end) = &self.end {
                return Ok(Some(Incoming::End(end.clone())));
            }
            let msg = match timeout_at(deadline, self.conn.recv()).await {
                Err(_) => return Ok(None),
                Ok(msg) => msg,
            };
            let (incoming, shown) = match msg {
                Inbound::Message(Message::Text(text)) => {
                    let text = text.as_str();
                    match serde_json::from_str::<Value>(text) {
                        Err(_) => {
                            let d = format!("a text frame that is not JSON: {:?}", shorten(text));
                            (Incoming::Invalid(d), Value::String(text.to_owned()))
                        }
                        Ok(raw) => match ReceivedRequest::parse(raw.clone()) {
                            Ok(Some(req)) => (Incoming::Request(req), raw),
                            Ok(None) => {
                                let d = format!("a frame that is not a request: {}", show(&raw));
                                (Incoming::Invalid(d), raw)
                            }
                            Err((d, raw)) => (Incoming::Invalid(d), raw),
                        },
                    }
                }
                Inbound::Message(Message::Binary(bytes)) => {
                    let d = format!(
                        "a binary frame ({} bytes); the protocol uses text frames only",
                        bytes.len()
                    );
                    let shown = Value::String(format!("<binary frame, {} bytes>", bytes.len()));
                    (Incoming::Invalid(d), shown)
                }
                Inbound::Message(Message::Close(frame)) => {
                    // The driver keeps reading, which sends tungstenite's reply.
                    let frame = close_frame(frame);
                    self.transcript.close = frame.clone();
                    self.end = Some(End::Close(frame));
                    continue;
                }
                Inbound::Message(_ping_pong_or_raw_frame) => continue,
                Inbound::End => {
                    self.end = Some(End::Dropped(
                        "the connection ended without a close frame".into(),
                    ));
                    continue;
                }
                Inbound::Error(e) => match classify_ws_error(e) {
                    Ok(why) => {
                        self.end = Some(End::Dropped(why));
                        continue;
                    }
                    Err(e) => return Err(SimError::WebSocket(e)),
                },
            };
            self.last_received = Some(show(&shown));
            if let Incoming::Request(req) = &incoming {
                self.transcript.requests.push(req.clone());
            }
            if let Some(observer) = &mut self.observer {
                observer(&SimFrame::Received(shown));
            }
            return Ok(Some(incoming));
        }
    }
}

fn close_frame(frame: Option<CloseFrame>) -> Option<(u16, String)> {
    frame.map(|f| (u16::from(f.code), f.reason.as_str().to_owned()))
}

/// `Ok(description)` when the error only means the connection is gone.
fn classify_ws_error(e: tungstenite::Error) -> Result<String, tungstenite::Error> {
    match e {
        tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed => {
            Ok("the connection is closed".into())
        }
        tungstenite::Error::Protocol(ProtocolError::ResetWithoutClosingHandshake) => {
            Ok("the workflow server dropped the connection without a close frame".into())
        }
        tungstenite::Error::Protocol(ProtocolError::SendAfterClosing) => {
            Ok("the connection is closing".into())
        }
        tungstenite::Error::Io(io) => Ok(format!("the connection was lost: {io}")),
        other => Err(other),
    }
}

/// `"wf_api_say_request"` → `"say"`; short names pass through.
fn normalize_action(action: &str) -> &str {
    action
        .strip_prefix("wf_api_")
        .and_then(|a| a.strip_suffix("_request"))
        .unwrap_or(action)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_requests() {
        let raw = json!({"_id":"03","_type":"wf_api_say_request","_target":{"uris":["u1"]},"text":"hi","lang":"en-US"});
        let req = ReceivedRequest::parse(raw.clone()).unwrap().unwrap();
        assert_eq!(req.id, "03");
        assert_eq!(req.action, "say");
        assert_eq!(req.target, vec!["u1"]);
        assert_eq!(req.target_one(), Some("u1"));
        assert_eq!(req.str("text"), Some("hi"));
        assert_eq!(req.payload.len(), 2);
        assert_eq!(req.raw, raw);

        let log = json!({"_id":"1","_type":"wf_api_log_analytics_event_request","content":"x"});
        let req = ReceivedRequest::parse(log).unwrap().unwrap();
        assert_eq!(req.action, "log_analytics_event");
        assert_eq!(req.target_one(), None);

        let two =
            json!({"_id":"1","_type":"wf_api_notification_request","_target":{"uris":["a","b"]}});
        assert_eq!(
            ReceivedRequest::parse(two).unwrap().unwrap().target_one(),
            None
        );
    }

    #[test]
    fn rejects_bad_requests() {
        for bad in [
            json!({"_type":"wf_api_say_request"}),
            json!({"_id":7,"_type":"wf_api_say_request"}),
            json!({"_id":"1","_type":"wf_api_say_request","_target":"urn:x"}),
            json!({"_id":"1","_type":"wf_api_say_request","_target":{"uris":[1]}}),
            json!([1, 2]),
        ] {
            assert!(ReceivedRequest::parse(bad).is_err());
        }
        for not_request in [
            json!({"_type":"wf_api_say_response","_id":"1"}),
            json!({"_type":"wf_api_start_event"}),
            json!({"_type":"wf_api__request","_id":"1"}),
            json!({"text":"no type"}),
        ] {
            assert_eq!(ReceivedRequest::parse(not_request), Ok(None));
        }
    }

    #[test]
    fn shortens_long_frames() {
        let long = "x".repeat(2000);
        let s = shorten(&long);
        assert!(s.len() < 700, "{s}");
        assert!(s.ends_with("(2000 bytes in all)"));
        assert_eq!(normalize_action("wf_api_say_request"), "say");
        assert_eq!(normalize_action("say"), "say");
    }
}
