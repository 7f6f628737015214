//! Listening: ask the device to listen, then wait for the speech event that answers it.

use super::{new_id, BoxFuture, Relay};
use crate::error::{Error, Result};
use crate::protocol::{Event, Lang, Listen};
use crate::urn::{IntoTarget, Target, UrnError};
use std::future::IntoFuture;
use std::time::Duration;

/// Extra time, beyond the device's listen timeout, for the speech event to arrive.
const SPEECH_MARGIN: Duration = Duration::from_secs(10);

impl Relay {
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
        let relay = &self.relay;
        let wanted = id.clone();
        let speech =
            relay.wait_for(move |e| matches!(e, Event::Speech(s) if s.request_id == wanted));
        let response_wait = self
            .response_timeout
            .unwrap_or_else(|| request.response_wait());
        relay
            .call(&id, Some(&target), &request, response_wait)
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
