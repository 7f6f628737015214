//! Speech and playback: say and play (and wait until the device has finished), stop
//! playback, translate text.

use super::{new_id, Action, BoxFuture, Relay};
use crate::error::{Error, Result};
use crate::protocol::{Event, Lang, Play, PromptType, Request, Say, StopPlayback, Translate};
use crate::urn::IntoTarget;
use std::fmt;
use std::future::IntoFuture;
use std::time::Duration;

/// How long say-and-wait and play-and-wait wait for playback to finish, at least.
const PLAYBACK_WAIT: Duration = Duration::from_secs(32);

impl Relay {
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

    /// Stop everything said or played on an interaction (`.ids(…)` stops only those).
    ///
    /// ```no_run
    /// # async fn f(relay: relay_workflow::Relay, interaction: relay_workflow::Urn) -> relay_workflow::Result<()> {
    /// relay.stop_playback(&interaction).await?;
    /// # Ok(()) }
    /// ```
    pub fn stop_playback(&self, target: impl IntoTarget) -> Action<StopPlayback> {
        self.request_to(target, StopPlayback::default())
    }

    /// Translate `text`; returns the translation.
    ///
    /// ```no_run
    /// # use relay_workflow::protocol::Lang;
    /// # async fn f(relay: relay_workflow::Relay) -> relay_workflow::Result<()> {
    /// let french = relay.translate("hello", Lang::EnUs, Lang::FrFr).await?;
    /// # Ok(()) }
    /// ```
    pub fn translate(
        &self,
        text: impl Into<String>,
        from: impl Into<Lang>,
        to: impl Into<Lang>,
    ) -> Action<Translate> {
        self.request(Translate {
            text: text.into(),
            from_lang: from.into(),
            to_lang: to.into(),
        })
    }
}

impl Action<StopPlayback> {
    /// Stop only these playbacks (ids returned by `say` and `play`).
    pub fn ids<I, S>(mut self, ids: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.request_mut().ids = Some(ids.into_iter().map(Into::into).collect());
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
        let relay = self.action.relay.clone();
        // Registered before the request goes out: a stopped event that overtakes the
        // response (or shares its read) is not lost.
        let by_request_id = relay.wait_for(prompt_done(id.clone()));
        let playback = self.action.send().await?;
        let finished = if playback == id {
            tokio::time::timeout(wait, by_request_id).await
        } else {
            let by_playback_id = relay.wait_for(prompt_done(playback.clone()));
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
