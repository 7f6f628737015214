//! [`Relay`], the handle a handler acts through, and what every action shares: the
//! [`Link`] to the session that carries requests and events, sending a request and awaiting
//! its correlated response, and the action futures [`Action`] and [`MappedAction`].
//!
//! The `Relay` methods live beside this file, one file per kind of action:
//!
//! | file | actions |
//! |---|---|
//! | `interactions.rs` | start and end interactions, terminate the instance |
//! | `speech.rs` | say, play (and wait for them), stop playback, translate |
//! | `listen.rs` | listen for speech |
//! | `vars.rs` | workflow instance variables, plain and typed |
//! | `notifications.rs` | broadcast, alert, notify and cancel them; incidents; SMS |
//! | `device.rs` | device info (name, location, battery, …), settings, channel, user profile |
//! | `leds.rs` | LEDs and vibration |
//! | `calls.rs` | calls and the inbox |
//! | `groups.rs` | groups and their members |
//! | `timers.rs` | named and unnamed timers |
//! | `analytics.rs` | analytics messages and tracked events |
//!
//! Nothing here knows the socket: the session driver (`session.rs`) provides the [`Link`].

mod analytics;
mod calls;
mod device;
mod groups;
mod ids;
mod interactions;
mod leds;
mod listen;
mod notifications;
mod speech;
mod timers;
mod vars;

pub use calls::IntoCallId;
pub use device::Coordinates;
pub(crate) use ids::{new_id, session_id};
pub use listen::{ListenAction, Utterance};
pub use speech::{AndWait, Playback};

use crate::error::{Error, Result};
use crate::protocol::{encode_request, Event, Request};
use crate::urn::{IntoTarget, Target, Urn, UrnError};
use serde_json::{Map, Value};
use std::fmt;
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;
use tracing::{debug, warn};

pub(crate) type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// How the session answers a request.
pub(crate) enum Reply {
    /// The response's fields (without `_type` and `_id`).
    Payload(Map<String, Value>),
    /// Relay's error response, with its message.
    Refused(String),
    /// No response within the request's timeout (the session keeps the clock).
    TimedOut,
}

/// Which event a waiter wants.
pub(crate) type Matcher = Box<dyn Fn(&Event) -> bool + Send>;

/// What a [`Relay`] handle needs from its session. The session driver (`session.rs`)
/// provides it: it owns the socket, the table of requests awaiting a response and the
/// waiters for events.
pub(crate) trait Link: Send + Sync {
    /// The session's short id, as in log lines.
    fn id(&self) -> &str;
    /// The workflow path the session was opened on.
    fn path(&self) -> &str;
    /// Whether the connection has ended.
    fn is_closed(&self) -> bool;
    /// Expect the response to request `id` (an `action`) within `timeout`, restarted by
    /// progress events. The receiver gets the [`Reply`], or fails when the connection ends.
    ///
    /// # Errors
    ///
    /// [`Error::Closed`] when the connection has ended, [`Error::TooManyPending`] when the
    /// session's bound on requests awaiting a response is reached.
    fn expect(
        &self,
        id: &str,
        action: &'static str,
        timeout: Duration,
    ) -> Result<oneshot::Receiver<Reply>>;
    /// Stop expecting the response to `id` (it came, timed out, or its caller gave up).
    fn forget(&self, id: &str);
    /// Queue a text frame for Relay.
    ///
    /// # Errors
    ///
    /// [`Error::Closed`] when the connection has ended.
    fn send(&self, frame: &str, action: &'static str) -> Result<()>;
    /// A one-shot waiter for the first event that `matches`, looking first at the recent
    /// events a late waiter may want. The receiver fails when the connection ends.
    fn wait_for(&self, matches: Matcher) -> oneshot::Receiver<Box<Event>>;
}

/// The handle a handler uses to act in its session. Cheap to clone; clones share the session.
///
/// Every action method returns a future-like builder: set options, then `.await` it.
/// Each call waits for Relay's response (5 s by default; `.response_timeout()` overrides it)
/// and returns [`Error::Relay`] with Relay's message when Relay refuses it.
#[derive(Clone)]
pub struct Relay {
    link: Arc<dyn Link>,
}

impl fmt::Debug for Relay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Relay")
            .field("session", &self.link.id())
            .field("path", &self.link.path())
            .finish()
    }
}

/// Forgets a pending request when the waiting call ends or is dropped.
struct Forget<'a> {
    link: &'a dyn Link,
    id: &'a str,
}

impl Drop for Forget<'_> {
    fn drop(&mut self) {
        self.link.forget(self.id);
    }
}

impl Relay {
    pub(crate) fn new(link: Arc<dyn Link>) -> Self {
        Relay { link }
    }

    /// This session's short id, as it appears in log lines.
    pub fn session_id(&self) -> &str {
        self.link.id()
    }

    /// The workflow path this session was opened on (without slashes).
    pub fn path(&self) -> &str {
        self.link.path()
    }

    /// Whether the connection to Relay has ended (actions then fail with [`Error::Closed`]).
    pub fn is_closed(&self) -> bool {
        self.link.is_closed()
    }

    /// Send any request without a target. The escape hatch for actions without a method.
    pub fn request<R: Request>(&self, request: R) -> Action<R> {
        Action::new(self, None, request)
    }

    /// Send any request to a target.
    pub fn request_to<R: Request>(&self, target: impl IntoTarget, request: R) -> Action<R> {
        Action::new(self, Some(target.into_target()), request)
    }

    /// Send a request and wait for its response (the session restarts the clock on
    /// progress events).
    async fn call<R: Request>(
        &self,
        id: &str,
        target: Option<&Target>,
        request: &R,
        timeout: Duration,
    ) -> Result<R::Output> {
        let frame = encode_request(id, target, request).map_err(|source| Error::Encode {
            action: R::ACTION,
            source,
        })?;
        let rx = self.link.expect(id, R::ACTION, timeout)?;
        let _forget = Forget {
            link: &*self.link,
            id,
        };
        debug!(action = R::ACTION, id, "request sent");
        self.link.send(&frame, R::ACTION)?;
        match rx.await {
            Ok(Reply::Payload(payload)) => {
                let response = serde_json::from_value::<R::Response>(Value::Object(payload))
                    .map_err(|source| Error::Decode {
                        action: R::ACTION,
                        source,
                    })?;
                Ok(R::output(response, id))
            }
            Ok(Reply::Refused(message)) => Err(Error::Relay {
                action: R::ACTION,
                message,
            }),
            Ok(Reply::TimedOut) => {
                warn!(action = R::ACTION, id, "no response within {timeout:?}");
                Err(Error::Timeout {
                    action: R::ACTION,
                    after: timeout,
                })
            }
            Err(_) => Err(Error::Closed { action: R::ACTION }),
        }
    }

    /// Send a request that Relay never answers (terminate).
    fn send_unanswered<R: Request>(&self, id: &str, request: &R) -> Result<()> {
        let frame = encode_request(id, None, request).map_err(|source| Error::Encode {
            action: R::ACTION,
            source,
        })?;
        if self.link.is_closed() {
            return Err(Error::Closed { action: R::ACTION });
        }
        debug!(action = R::ACTION, id, "request sent");
        self.link.send(&frame, R::ACTION)
    }

    /// A one-shot waiter for the first event that `matches` (see [`Link::wait_for`]).
    fn wait_for(
        &self,
        matches: impl Fn(&Event) -> bool + Send + 'static,
    ) -> oneshot::Receiver<Box<Event>> {
        self.link.wait_for(Box::new(matches))
    }

    /// An action on a single URN (`what` names it in the error when `urn` is not exactly
    /// one), sent to `target` when there is one.
    fn with_urn<R: Request>(
        &self,
        what: &'static str,
        urn: impl IntoTarget,
        target: Option<Target>,
        make: impl FnOnce(Urn) -> R,
    ) -> Action<R> {
        let (urn, error) = match single_urn(R::ACTION, what, urn) {
            Ok(urn) => (urn, None),
            Err(e) => (Urn::default(), Some(e)),
        };
        let action = match target {
            Some(t) => self.request_to(t, make(urn)),
            None => self.request(make(urn)),
        };
        match error {
            Some(e) => action.fail(e),
            None => action,
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
            .call(&id, target.as_ref(), &self.request, timeout)
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

/// An action whose response is turned into a typed value (device info, group queries).
#[must_use = "an action does nothing until it is awaited"]
pub struct MappedAction<R: Request, T> {
    action: Action<R>,
    map: fn(R::Output) -> Result<T>,
}

impl<R: Request + fmt::Debug, T> fmt::Debug for MappedAction<R, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MappedAction")
            .field("action", &self.action)
            .finish()
    }
}

impl<R: Request, T> MappedAction<R, T> {
    /// Wait this long for Relay's response instead of the action's default.
    pub fn response_timeout(mut self, timeout: Duration) -> Self {
        self.action = self.action.response_timeout(timeout);
        self
    }

    /// The request as it will be sent.
    pub fn request(&self) -> &R {
        self.action.request()
    }
}

impl<R: Request, T: Send + 'static> IntoFuture for MappedAction<R, T> {
    type Output = Result<T>;
    type IntoFuture = BoxFuture<Result<T>>;

    fn into_future(self) -> Self::IntoFuture {
        let map = self.map;
        let action = self.action;
        Box::pin(async move { map(action.await?) })
    }
}

/// One URN from something that may be several; an error unless there is exactly one.
fn single_urn(
    action: &'static str,
    what: &'static str,
    value: impl IntoTarget,
) -> std::result::Result<Urn, Error> {
    let mut uris = value.into_target()?.into_uris();
    match uris.len() {
        1 => Ok(uris.remove(0)),
        n => Err(Error::InvalidArgument {
            action,
            message: format!("the {what} must be one URN, but {n} were given; pass a single URN"),
        }),
    }
}

/// A response that does not say what its request asked for.
fn decode_error(action: &'static str, message: String) -> Error {
    Error::Decode {
        action,
        source: serde::de::Error::custom(message),
    }
}

/// Whole milliseconds, saturating.
fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::sync::Mutex;

    /// A link to no session: it records what is sent and answers nothing.
    #[derive(Default)]
    pub(crate) struct Recorder {
        pub(crate) sent: Mutex<Vec<String>>,
    }

    impl Link for Recorder {
        fn id(&self) -> &str {
            "test"
        }
        fn path(&self) -> &str {
            "path"
        }
        fn is_closed(&self) -> bool {
            false
        }
        fn expect(
            &self,
            _id: &str,
            action: &'static str,
            _timeout: Duration,
        ) -> Result<oneshot::Receiver<Reply>> {
            Err(Error::Closed { action })
        }
        fn forget(&self, _id: &str) {}
        fn send(&self, frame: &str, _action: &'static str) -> Result<()> {
            self.sent.lock().unwrap().push(frame.to_owned());
            Ok(())
        }
        fn wait_for(&self, _matches: Matcher) -> oneshot::Receiver<Box<Event>> {
            oneshot::channel().1
        }
    }

    #[test]
    fn one_urn_where_one_is_needed() {
        let bob = Urn::device_name("Bob").unwrap();
        assert_eq!(single_urn("x", "group", &bob).unwrap(), bob);
        let two = vec![bob.clone(), Urn::device_name("Ann").unwrap()];
        let e = single_urn("notification", "originator", two).unwrap_err();
        assert_eq!(
            e.to_string(),
            "notification: the originator must be one URN, but 2 were given; pass a single URN"
        );
        assert!(matches!(
            single_urn("x", "group", "nope"),
            Err(Error::Urn(UrnError::NotRelayUrn { .. }))
        ));
    }

    #[tokio::test]
    async fn actions_go_through_the_link() {
        let link = Arc::new(Recorder::default());
        let relay = Relay::new(link.clone());
        // The recorder refuses to expect answers, as a closed session does.
        assert!(matches!(
            relay.get_var("x").await,
            Err(Error::Closed { action: "get_var" })
        ));
        // A bad argument fails before anything is sent.
        assert!(matches!(
            relay
                .switch_led_on("urn:relay-resource:name:device:Bob", 0, "FF0000")
                .await,
            Err(Error::InvalidArgument {
                action: "set_led",
                ..
            })
        ));
        assert!(link.sent.lock().unwrap().is_empty());
        // Terminate expects no answer; its stop waiter ends with the (absent) session.
        relay.terminate().await.unwrap();
        let sent = link.sent.lock().unwrap();
        assert_eq!(sent.len(), 1);
        assert!(
            sent[0].contains(r#""_type":"wf_api_terminate_request""#),
            "{}",
            sent[0]
        );
    }

    #[test]
    fn a_handle_reports_its_session() {
        let relay = Relay::new(Arc::new(Recorder::default()));
        assert_eq!(relay.session_id(), "test");
        assert_eq!(relay.path(), "path");
        assert!(!relay.is_closed());
        assert_eq!(
            format!("{relay:?}"),
            r#"Relay { session: "test", path: "path" }"#
        );
    }
}
