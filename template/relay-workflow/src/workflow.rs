//! Declaring a workflow ([`Workflow`]) and acting in a running session ([`Relay`]).

use crate::error::{Error, Result};
use crate::protocol::*;
use crate::session::{new_id, Shared};
use crate::urn::{IntoTarget, Target, UrnError};
use std::collections::HashMap;
use std::fmt;
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

/// The error type handlers may return: any error, boxed. `?` converts SDK errors and your own.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What a handler returns. Returning an error logs it; the session goes on.
pub type HandlerResult = std::result::Result<(), BoxError>;

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;
type HandlerFn = Arc<dyn Fn(Relay, Event) -> Option<BoxFuture<HandlerResult>> + Send + Sync>;

/// How long say-and-wait and play-and-wait wait for playback to finish, at least.
const PLAYBACK_WAIT: Duration = Duration::from_secs(32);
/// How long terminate waits for the stop event.
const STOP_WAIT: Duration = Duration::from_secs(32);
/// Extra time, beyond the device's listen timeout, for the speech event to arrive.
const SPEECH_MARGIN: Duration = Duration::from_secs(10);

/// A workflow: the handlers that run when Relay sends events.
///
/// A `Workflow` is a declaration; the server runs a fresh session of it for every
/// connection Relay opens. Each handler receives a [`Relay`] handle for that session and
/// the typed event. Handlers of one session run one at a time, in arrival order (as in
/// relay-js), while responses and awaited events keep flowing.
///
/// ```
/// use relay_workflow::prelude::*;
///
/// let hello = Workflow::new()
///     .on_start(|relay, start: StartEvent| async move {
///         let device = start.trigger.source_uri().ok_or(Error::MissingSourceUri)?.clone();
///         relay.start_interaction(&device, "hello").await?;
///         Ok(())
///     })
///     .on_interaction_started(|relay, event: InteractionLifecycleEvent| async move {
///         relay.say_and_wait(&event.source_uri, "Hello!").await?;
///         relay.end_interaction(&event.source_uri).await?;
///         Ok(())
///     })
///     .on_interaction_ended(|relay, _| async move {
///         relay.terminate().await?;
///         Ok(())
///     });
/// ```
///
/// # Never block in a handler
///
/// Handlers run on the async runtime's worker threads, one per CPU core, shared by every
/// session of the server. A handler that blocks its thread (`std::thread::sleep`, a CPU-heavy
/// loop, `std::fs`, a synchronous HTTP client or database driver) takes a worker away from
/// every other session for as long as it blocks: on a 2-core machine, two handlers that call
/// `std::thread::sleep` stall every session, pings included. Wait with `.await`
/// (`tokio::time::sleep`, async clients), and move blocking work to Tokio's blocking pool
/// with [`tokio::task::spawn_blocking`], awaiting its result:
///
/// ```
/// use relay_workflow::prelude::*;
///
/// /// Blocking work: CPU-heavy, or blocking I/O.
/// fn checksum(data: &[u8]) -> u64 {
///     data.iter().fold(0u64, |sum, b| sum.rotate_left(5) ^ u64::from(*b))
/// }
///
/// let workflow = Workflow::new().on_start(|relay, start: StartEvent| async move {
///     let device = start.trigger.source_uri().ok_or(Error::MissingSourceUri)?.clone();
///     let data = vec![7u8; 1 << 20];
///     // Runs on the blocking pool; this handler waits without holding a worker.
///     let sum = tokio::task::spawn_blocking(move || checksum(&data)).await?;
///     relay.start_interaction(&device, format!("checksum {sum:x}")).await?;
///     Ok(())
/// });
/// # drop(workflow);
/// ```
#[derive(Clone, Default)]
pub struct Workflow {
    /// Shared by every session of the workflow: a clone costs one reference count.
    handlers: Arc<HashMap<&'static str, HandlerFn>>,
}

impl fmt::Debug for Workflow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut names: Vec<_> = self.handlers.keys().collect();
        names.sort();
        f.debug_struct("Workflow")
            .field("handlers", &names)
            .finish()
    }
}

macro_rules! on_event {
    ($( $(#[$doc:meta])* $method:ident => $key:literal, $variant:ident($ty:ty); )*) => {
        $(
            $(#[$doc])*
            pub fn $method<F, Fut>(self, handler: F) -> Self
            where
                F: Fn(Relay, $ty) -> Fut + Send + Sync + 'static,
                Fut: Future<Output = HandlerResult> + Send + 'static,
            {
                self.register($key, |event| match event {
                    Event::$variant(e) => Some(e),
                    _ => None,
                }, handler)
            }
        )*
    };
}

macro_rules! on_lifecycle {
    ($( $(#[$doc:meta])* $method:ident => $key:literal; )*) => {
        $(
            $(#[$doc])*
            pub fn $method<F, Fut>(self, handler: F) -> Self
            where
                F: Fn(Relay, InteractionLifecycleEvent) -> Fut + Send + Sync + 'static,
                Fut: Future<Output = HandlerResult> + Send + 'static,
            {
                self.register($key, |event| match event {
                    Event::InteractionLifecycle(e) => Some(e),
                    _ => None,
                }, handler)
            }
        )*
    };
}

impl Workflow {
    /// A workflow with no handlers yet.
    pub fn new() -> Self {
        Self::default()
    }

    fn register<E, F, Fut>(
        mut self,
        key: &'static str,
        extract: fn(Event) -> Option<E>,
        handler: F,
    ) -> Self
    where
        E: Send + 'static,
        F: Fn(Relay, E) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = HandlerResult> + Send + 'static,
    {
        let handler = Arc::new(handler);
        let erased: HandlerFn = Arc::new(move |relay, event| {
            let event = extract(event)?;
            Some(Box::pin(handler(relay, event)) as BoxFuture<HandlerResult>)
        });
        Arc::make_mut(&mut self.handlers).insert(key, erased);
        self
    }

    /// Handle any event that has no handler of its own (including unknown event types).
    pub fn on_event<F, Fut>(self, handler: F) -> Self
    where
        F: Fn(Relay, Event) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = HandlerResult> + Send + 'static,
    {
        self.register("*", Some, handler)
    }

    on_event! {
        /// The workflow was triggered; the event says how and by which device.
        on_start => "start", Start(StartEvent);
        /// The instance is over (after terminate, an error, or the user leaving the channel).
        on_stop => "stop", Stop(StopEvent);
        /// Every interaction lifecycle change without a more specific handler
        /// (`on_interaction_started` and friends take precedence for their type).
        on_interaction_lifecycle => "interaction_lifecycle", InteractionLifecycle(InteractionLifecycleEvent);
        /// A say or play started, stopped or failed.
        on_prompt => "prompt", Prompt(PromptEvent);
        /// The Talk (action) or channel button was pressed during an interaction.
        on_button => "button", Button(ButtonEvent);
        /// The unnamed timer (`start_timer`) fired.
        on_timer => "timer", Timer(TimerEvent);
        /// A named timer (`set_timer`) fired.
        on_timer_fired => "timer_fired", TimerFired(TimerFiredEvent);
        /// A notification changed state (for example, a device acknowledged an alert).
        on_notification => "notification", Notification(NotificationEvent);
        /// An incident was resolved or cancelled.
        on_incident => "incident", Incident(IncidentEvent);
        /// Speech arrived that no `listen` call is waiting for.
        on_speech => "speech", Speech(SpeechEvent);
        /// A device asked to place a call.
        on_call_start_request => "call_start_request", CallStartRequest(CallEvent);
        /// An inbound call is offered to the device.
        on_call_received => "call_received", CallReceived(CallEvent);
        /// The callee is ringing.
        on_call_ringing => "call_ringing", CallRinging(CallEvent);
        /// The call is progressing.
        on_call_progressing => "call_progressing", CallProgressing(CallEvent);
        /// The call connected.
        on_call_connected => "call_connected", CallConnected(CallEvent);
        /// A connected call ended.
        on_call_disconnected => "call_disconnected", CallDisconnected(CallEvent);
        /// A call never connected.
        on_call_failed => "call_failed", CallFailed(CallEvent);
        /// An SMS event.
        on_sms => "sms", Sms(SmsEvent);
        /// Inbox playback completed or failed.
        on_play_inbox_messages => "play_inbox_messages", PlayInboxMessages(PlayInboxMessagesEvent);
        /// The instance was resumed.
        on_resume => "resume", Resume(ResumeEvent);
        /// An audio event (payload undocumented by Relay).
        on_audio => "audio", Audio(AudioEvent);
        /// An event type this SDK does not know; the raw JSON is kept.
        on_unknown => "unknown", Unknown(UnknownEvent);
    }

    on_lifecycle! {
        /// The interaction exists: interaction actions may now target `event.source_uri`.
        on_interaction_started => "interaction_started";
        /// The interaction became the device's active channel (also right after start).
        on_interaction_resumed => "interaction_resumed";
        /// The user navigated away from the interaction.
        on_interaction_suspended => "interaction_suspended";
        /// The interaction ended (after `end_interaction`).
        on_interaction_ended => "interaction_ended";
        /// The interaction failed; `event.reason` says why.
        on_interaction_failed => "interaction_failed";
    }

    /// The handler registered for `event`, if any.
    fn handler(&self, event: &Event) -> Option<&HandlerFn> {
        let specific = match event {
            Event::InteractionLifecycle(e) => match e.kind {
                LifecycleType::Started => Some("interaction_started"),
                LifecycleType::Resumed => Some("interaction_resumed"),
                LifecycleType::Suspended => Some("interaction_suspended"),
                LifecycleType::Ended => Some("interaction_ended"),
                LifecycleType::Failed => Some("interaction_failed"),
                _ => None,
            },
            _ => None,
        };
        let general = match event {
            Event::Unknown(_) => "unknown",
            other => other.name(),
        };
        specific
            .and_then(|key| self.handlers.get(key))
            .or_else(|| self.handlers.get(general))
            .or_else(|| self.handlers.get("*"))
    }

    /// Whether the workflow has a handler for `event`.
    pub(crate) fn handles(&self, event: &Event) -> bool {
        self.handler(event).is_some()
    }

    /// The handler for `event`, already bound to it, if the workflow has one.
    pub(crate) fn handler_for(
        &self,
        relay: Relay,
        event: Event,
    ) -> Option<BoxFuture<HandlerResult>> {
        let handler = self.handler(&event)?;
        handler(relay, event)
    }
}

/// The handle a handler uses to act in its session. Cheap to clone; clones share the session.
///
/// Every action method returns a future-like builder: set options, then `.await` it.
/// Each call waits for Relay's response (5 s by default; `.response_timeout()` overrides it)
/// and returns [`Error::Relay`] with Relay's message when Relay refuses it.
#[derive(Clone)]
pub struct Relay {
    shared: Arc<Shared>,
}

impl fmt::Debug for Relay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Relay")
            .field("session", &self.shared.id())
            .field("path", &self.shared.path())
            .finish()
    }
}

impl Relay {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Relay { shared }
    }

    /// This session's short id, as it appears in log lines.
    pub fn session_id(&self) -> &str {
        self.shared.id()
    }

    /// The workflow path this session was opened on (without slashes).
    pub fn path(&self) -> &str {
        self.shared.path()
    }

    /// Whether the connection to Relay has ended (actions then fail with [`Error::Closed`]).
    pub fn is_closed(&self) -> bool {
        self.shared.is_closed()
    }

    /// Send any request without a target. The escape hatch for actions without a method.
    pub fn request<R: Request>(&self, request: R) -> Action<R> {
        Action::new(self, None, request)
    }

    /// Send any request to a target.
    pub fn request_to<R: Request>(&self, target: impl IntoTarget, request: R) -> Action<R> {
        Action::new(self, Some(target.into_target()), request)
    }

    /// Start an interaction named `name` on a device (or group). Relay then sends
    /// interaction `started` and `resumed` events carrying the interaction URN.
    ///
    /// ```no_run
    /// # async fn f(relay: relay_workflow::Relay, device: relay_workflow::Urn) -> relay_workflow::Result<()> {
    /// relay.start_interaction(&device, "hello").await?;
    /// # Ok(()) }
    /// ```
    pub fn start_interaction(
        &self,
        target: impl IntoTarget,
        name: impl Into<String>,
    ) -> Action<StartInteraction> {
        self.request_to(
            target,
            StartInteraction {
                name: name.into(),
                options: None,
            },
        )
    }

    /// End an interaction (target: its URN). Relay then sends interaction `ended`.
    pub fn end_interaction(&self, target: impl IntoTarget) -> Action<EndInteraction> {
        self.request_to(target, EndInteraction {})
    }

    /// Speak `text` on an interaction; returns the playback id once Relay accepted it.
    /// Use [`say_and_wait`](Self::say_and_wait) to wait until it has been spoken.
    pub fn say(&self, target: impl IntoTarget, text: impl Into<String>) -> Action<Say> {
        self.request_to(
            target,
            Say {
                text: text.into(),
                lang: Lang::default(),
            },
        )
    }

    /// Speak `text` and wait until the device has finished speaking it
    /// (the prompt `stopped` event for this playback).
    ///
    /// ```no_run
    /// # async fn f(relay: relay_workflow::Relay, interaction: relay_workflow::Urn) -> relay_workflow::Result<()> {
    /// relay.say_and_wait(&interaction, "What is your name?").await?;
    /// # Ok(()) }
    /// ```
    pub fn say_and_wait(&self, target: impl IntoTarget, text: impl Into<String>) -> AndWait<Say> {
        self.say(target, text).and_wait()
    }

    /// Play an audio file (uploaded with `relay audio create`) or a built-in sound such as
    /// `relay-static://emergency`.
    pub fn play(&self, target: impl IntoTarget, filename: impl Into<String>) -> Action<Play> {
        self.request_to(
            target,
            Play {
                filename: filename.into(),
            },
        )
    }

    /// Play a file and wait until playback stopped.
    pub fn play_and_wait(
        &self,
        target: impl IntoTarget,
        filename: impl Into<String>,
    ) -> AndWait<Play> {
        self.play(target, filename).and_wait()
    }

    /// Listen for speech on an interaction and return what was said.
    ///
    /// ```no_run
    /// # async fn f(relay: relay_workflow::Relay, interaction: relay_workflow::Urn) -> relay_workflow::Result<()> {
    /// let answer = relay.listen(&interaction).phrases(["yes", "no"]).await?;
    /// println!("heard {}", answer.text);
    /// # Ok(()) }
    /// ```
    pub fn listen(&self, target: impl IntoTarget) -> ListenAction {
        ListenAction {
            relay: self.clone(),
            target: target.into_target(),
            phrases: Vec::new(),
            transcribe: true,
            timeout: Duration::from_secs(60),
            alt_lang: None,
            response_timeout: None,
        }
    }

    /// Read a workflow variable; `None` when it is not set. Registration args
    /// (`relay workflow:create … --arg name=value`) are read the same way.
    pub fn get_var(&self, name: impl Into<String>) -> Action<GetVar> {
        self.request(GetVar { name: name.into() })
    }

    /// Set a workflow variable for the rest of this instance.
    pub fn set_var(&self, name: impl Into<String>, value: impl Into<String>) -> Action<SetVar> {
        self.request(SetVar {
            name: name.into(),
            value: value.into(),
        })
    }

    /// Remove a workflow variable.
    pub fn unset_var(&self, name: impl Into<String>) -> Action<UnsetVar> {
        self.request(UnsetVar { name: name.into() })
    }

    /// End this workflow instance and wait (up to 32 s) for Relay's stop event.
    /// Returns `Ok` when the stop event arrives or the connection closes.
    pub async fn terminate(&self) -> Result<()> {
        let id = new_id();
        let stop = self.shared.wait_for(|e| matches!(e, Event::Stop(_)));
        self.shared.send_unanswered(&id, &Terminate {}).await?;
        match tokio::time::timeout(STOP_WAIT, stop).await {
            Ok(_) => Ok(()), // the stop event, or the connection closed: either way it is over
            Err(_) => Err(Error::EventTimeout {
                action: "terminate",
                event: "stop",
                after: STOP_WAIT,
            }),
        }
    }
}

/// An action ready to send: set options, then `.await` it.
#[must_use = "an action does nothing until it is awaited"]
pub struct Action<R: Request> {
    relay: Relay,
    target: Option<std::result::Result<Target, UrnError>>,
    request: R,
    timeout: Option<Duration>,
    id: Option<String>,
    /// An argument was unusable: awaiting returns this error without sending anything.
    error: Option<Error>,
}

impl<R: Request + fmt::Debug> fmt::Debug for Action<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Action")
            .field("target", &self.target)
            .field("request", &self.request)
            .field("error", &self.error)
            .finish()
    }
}

impl<R: Request> Action<R> {
    fn new(
        relay: &Relay,
        target: Option<std::result::Result<Target, UrnError>>,
        request: R,
    ) -> Self {
        Action {
            relay: relay.clone(),
            target,
            request,
            timeout: None,
            id: None,
            error: None,
        }
    }

    /// Make the action fail with `error` when awaited, without sending anything
    /// (the first error wins).
    pub(crate) fn fail(mut self, error: impl Into<Error>) -> Self {
        self.error.get_or_insert(error.into());
        self
    }

    /// Wait this long for Relay's response instead of the action's default.
    pub fn response_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// The request as it will be sent.
    pub fn request(&self) -> &R {
        &self.request
    }

    /// Change the request before it is sent.
    pub fn request_mut(&mut self) -> &mut R {
        &mut self.request
    }

    async fn send(self) -> Result<R::Output> {
        if let Some(error) = self.error {
            return Err(error);
        }
        let target = self.target.transpose()?;
        let timeout = self.timeout.unwrap_or_else(|| self.request.timeout());
        let id = self.id.unwrap_or_else(new_id);
        self.relay
            .shared
            .request(&id, target.as_ref(), &self.request, timeout)
            .await
    }
}

impl<R: Request> IntoFuture for Action<R> {
    type Output = Result<R::Output>;
    type IntoFuture = BoxFuture<Result<R::Output>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.send())
    }
}

impl Action<StartInteraction> {
    /// Set the interaction's options (colour, wanted button events, home channel).
    pub fn options(mut self, options: InteractionOptions) -> Self {
        self.request.options = Some(options);
        self
    }
}

impl Action<Say> {
    /// Speak in this language (default `en-US`).
    pub fn lang(mut self, lang: impl Into<Lang>) -> Self {
        self.request.lang = lang.into();
        self
    }
}

/// Requests whose response is a playback id followed by prompt events (say, play).
pub trait Playback: Request<Output = String> {}
impl Playback for Say {}
impl Playback for Play {}

impl<R: Playback> Action<R> {
    /// Also wait until the playback has finished (the prompt `stopped` event).
    pub fn and_wait(self) -> AndWait<R> {
        AndWait {
            action: self,
            wait: None,
        }
    }
}

/// A say or play that completes when the device has finished playing it.
#[must_use = "an action does nothing until it is awaited"]
pub struct AndWait<R: Playback> {
    action: Action<R>,
    wait: Option<Duration>,
}

impl<R: Playback> fmt::Debug for AndWait<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AndWait")
            .field("action", &R::ACTION)
            .field("wait", &self.wait)
            .finish()
    }
}

impl AndWait<Say> {
    /// Speak in this language (default `en-US`).
    pub fn lang(mut self, lang: impl Into<Lang>) -> Self {
        self.action = self.action.lang(lang);
        self
    }
}

impl<R: Playback> AndWait<R> {
    /// Wait this long for Relay's response to the request itself.
    pub fn response_timeout(mut self, timeout: Duration) -> Self {
        self.action = self.action.response_timeout(timeout);
        self
    }

    /// Wait this long for playback to finish (default: 32 s, longer for long texts).
    pub fn playback_timeout(mut self, timeout: Duration) -> Self {
        self.wait = Some(timeout);
        self
    }

    async fn run(mut self, default_wait: Duration) -> Result<String> {
        let action_name = if R::ACTION == "say" {
            "say_and_wait"
        } else {
            "play_and_wait"
        };
        let wait = self.wait.unwrap_or(default_wait);
        let id = new_id();
        self.action.id = Some(id.clone());
        let shared = self.action.relay.shared.clone();
        // Registered before the request goes out: a stopped event that overtakes the
        // response (or shares its read) is not lost.
        let by_request_id = shared.wait_for(prompt_done(id.clone()));
        let playback = self.action.send().await?;
        let finished = if playback == id {
            tokio::time::timeout(wait, by_request_id).await
        } else {
            let by_playback_id = shared.wait_for(prompt_done(playback.clone()));
            tokio::time::timeout(wait, async {
                tokio::select! {
                    e = by_request_id => e,
                    e = by_playback_id => e,
                }
            })
            .await
        };
        match finished.map(|r| r.map(|e| *e)) {
            Ok(Ok(Event::Prompt(p))) if p.kind == PromptType::Failed => {
                Err(Error::PlaybackFailed {
                    action: action_name,
                    id: playback,
                })
            }
            Ok(Ok(_)) => Ok(playback),
            Ok(Err(_)) => Err(Error::Closed {
                action: action_name,
            }),
            Err(_) => Err(Error::EventTimeout {
                action: action_name,
                event: "prompt stopped",
                after: wait,
            }),
        }
    }
}

fn prompt_done(id: String) -> impl Fn(&Event) -> bool + Send + 'static {
    move |e| {
        matches!(e, Event::Prompt(p)
            if p.id == id && matches!(p.kind, PromptType::Stopped | PromptType::Failed))
    }
}

impl IntoFuture for AndWait<Say> {
    type Output = Result<String>;
    type IntoFuture = BoxFuture<Result<String>>;

    fn into_future(self) -> Self::IntoFuture {
        // Long texts take longer to speak: allow about 15 characters a second beyond 32 s.
        let extra = Duration::from_secs(self.action.request.text.len() as u64 / 15);
        Box::pin(self.run(PLAYBACK_WAIT + extra))
    }
}

impl IntoFuture for AndWait<Play> {
    type Output = Result<String>;
    type IntoFuture = BoxFuture<Result<String>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.run(PLAYBACK_WAIT))
    }
}

/// What a `listen` heard.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Utterance {
    /// The transcription (empty when transcription was off or nothing was understood).
    pub text: String,
    /// Recorded audio, base64, when transcription was off.
    pub audio: Option<String>,
    /// Language of the transcription.
    pub lang: Option<Lang>,
}

/// A `listen` call: set options, then `.await` it.
#[must_use = "an action does nothing until it is awaited"]
#[derive(Debug)]
pub struct ListenAction {
    relay: Relay,
    target: std::result::Result<Target, UrnError>,
    phrases: Vec<String>,
    transcribe: bool,
    timeout: Duration,
    alt_lang: Option<Lang>,
    response_timeout: Option<Duration>,
}

impl ListenAction {
    /// Restrict recognition to these phrases.
    pub fn phrases<I, S>(mut self, phrases: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.phrases = phrases.into_iter().map(Into::into).collect();
        self
    }

    /// `false` returns raw audio instead of text (default `true`).
    pub fn transcribe(mut self, transcribe: bool) -> Self {
        self.transcribe = transcribe;
        self
    }

    /// How long the device listens (default 60 s; whole seconds on the wire).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Recognition language.
    pub fn alt_lang(mut self, lang: impl Into<Lang>) -> Self {
        self.alt_lang = Some(lang.into());
        self
    }

    /// Wait this long for Relay's acknowledgement of the listen request.
    pub fn response_timeout(mut self, timeout: Duration) -> Self {
        self.response_timeout = Some(timeout);
        self
    }

    async fn run(self) -> Result<Utterance> {
        let target = self.target?;
        let id = new_id();
        let request = Listen {
            phrases: self.phrases,
            transcribe: self.transcribe,
            timeout: self.timeout.as_secs().max(1),
            alt_lang: self.alt_lang,
            request_id: id.clone(),
        };
        let shared = &self.relay.shared;
        let wanted = id.clone();
        let speech =
            shared.wait_for(move |e| matches!(e, Event::Speech(s) if s.request_id == wanted));
        let response_wait = self
            .response_timeout
            .unwrap_or_else(|| request.response_wait());
        shared
            .request(&id, Some(&target), &request, response_wait)
            .await?;
        let wait = Duration::from_secs(request.timeout) + SPEECH_MARGIN;
        match tokio::time::timeout(wait, speech)
            .await
            .map(|r| r.map(|e| *e))
        {
            Ok(Ok(Event::Speech(s))) => Ok(Utterance {
                text: s.text.unwrap_or_default(),
                audio: s.audio,
                lang: s.lang,
            }),
            Ok(Ok(_)) | Ok(Err(_)) => Err(Error::Closed { action: "listen" }),
            Err(_) => Err(Error::EventTimeout {
                action: "listen",
                event: "speech",
                after: wait,
            }),
        }
    }
}

impl IntoFuture for ListenAction {
    type Output = Result<Utterance>;
    type IntoFuture = BoxFuture<Result<Utterance>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.run())
    }
}
