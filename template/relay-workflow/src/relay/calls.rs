//! Calls and the inbox: place, answer and hang up calls, register a device for calls, count
//! and play the inbox's messages.

use super::{Action, Relay};
use crate::error::Error;
use crate::protocol::{
    Answer, Call, CallEvent, Hangup, InboxCount, PlayInboxMessages, Register, Request,
};
use crate::urn::IntoTarget;

/// What identifies a call for [`Relay::answer_call`] and [`Relay::hangup_call`]: the call id
/// itself, or any call event (its `call_id` is used).
pub trait IntoCallId {
    /// The call id, or a message saying why there is none.
    fn into_call_id(self) -> std::result::Result<String, String>;
}

impl IntoCallId for &str {
    fn into_call_id(self) -> std::result::Result<String, String> {
        if self.is_empty() {
            Err("the call id is empty; pass the call_id of a call event".into())
        } else {
            Ok(self.to_owned())
        }
    }
}

impl IntoCallId for String {
    fn into_call_id(self) -> std::result::Result<String, String> {
        self.as_str().into_call_id()
    }
}

impl IntoCallId for &String {
    fn into_call_id(self) -> std::result::Result<String, String> {
        self.as_str().into_call_id()
    }
}

impl IntoCallId for &CallEvent {
    fn into_call_id(self) -> std::result::Result<String, String> {
        match &self.call_id {
            Some(id) => id.as_str().into_call_id(),
            None => Err(
                "the call event has no call_id (call_start_request events have none; \
                 answer the call_received event instead)"
                    .into(),
            ),
        }
    }
}

impl IntoCallId for CallEvent {
    fn into_call_id(self) -> std::result::Result<String, String> {
        (&self).into_call_id()
    }
}

impl Relay {
    /// The target device calls `callee` (a device URN); returns the call id.
    ///
    /// ```no_run
    /// # use relay_workflow::Urn;
    /// # async fn f(relay: relay_workflow::Relay, bob: Urn) -> relay_workflow::Result<()> {
    /// let call_id = relay.place_call(&bob, &Urn::device_name("Ann")?).await?;
    /// # Ok(()) }
    /// ```
    pub fn place_call(&self, target: impl IntoTarget, callee: impl AsRef<str>) -> Action<Call> {
        self.request_to(
            target,
            Call {
                uri: callee.as_ref().to_owned(),
            },
        )
    }

    fn with_call_id<R: Request>(
        &self,
        action_name: &'static str,
        target: impl IntoTarget,
        call: impl IntoCallId,
        make: fn(String) -> R,
    ) -> Action<R> {
        match call.into_call_id() {
            Ok(id) => self.request_to(target, make(id)),
            Err(message) => {
                self.request_to(target, make(String::new()))
                    .fail(Error::InvalidArgument {
                        action: action_name,
                        message,
                    })
            }
        }
    }

    /// The target device answers a call (a call id, or the call event itself).
    ///
    /// ```no_run
    /// # use relay_workflow::prelude::*;
    /// # async fn f(relay: Relay, device: Urn, event: CallEvent) -> relay_workflow::Result<()> {
    /// relay.answer_call(&device, &event).await?;
    /// # Ok(()) }
    /// ```
    pub fn answer_call(&self, target: impl IntoTarget, call: impl IntoCallId) -> Action<Answer> {
        self.with_call_id("answer", target, call, |call_id| Answer { call_id })
    }

    /// The target device hangs up a call (a call id, or a call event).
    ///
    /// ```no_run
    /// # async fn f(relay: relay_workflow::Relay, device: relay_workflow::Urn) -> relay_workflow::Result<()> {
    /// relay.hangup_call(&device, "call-1").await?;
    /// # Ok(()) }
    /// ```
    pub fn hangup_call(&self, target: impl IntoTarget, call: impl IntoCallId) -> Action<Hangup> {
        self.with_call_id("hangup", target, call, |call_id| Hangup { call_id })
    }

    /// Register the device for calls (`.expires(seconds)` sets the lifetime).
    ///
    /// ```no_run
    /// # async fn f(relay: relay_workflow::Relay, device: relay_workflow::Urn) -> relay_workflow::Result<()> {
    /// relay.register_for_calls(&device, "sip:bob@example.com", "secret").expires(3600).await?;
    /// # Ok(()) }
    /// ```
    pub fn register_for_calls(
        &self,
        target: impl IntoTarget,
        uri: impl Into<String>,
        password: impl Into<String>,
    ) -> Action<Register> {
        self.request_to(
            target,
            Register {
                uri: Some(uri.into()),
                password: Some(password.into()),
                expires: None,
            },
        )
    }

    /// Unregister the device for calls (`register` with `expires: 0`).
    ///
    /// ```no_run
    /// # async fn f(relay: relay_workflow::Relay, device: relay_workflow::Urn) -> relay_workflow::Result<()> {
    /// relay.unregister_for_calls(&device).await?;
    /// # Ok(()) }
    /// ```
    pub fn unregister_for_calls(&self, target: impl IntoTarget) -> Action<Register> {
        self.request_to(
            target,
            Register {
                expires: Some(0),
                ..Register::default()
            },
        )
    }

    /// How many messages wait in the device's inbox.
    ///
    /// ```no_run
    /// # async fn f(relay: relay_workflow::Relay, device: relay_workflow::Urn) -> relay_workflow::Result<()> {
    /// let waiting: u32 = relay.inbox_count(&device).await?;
    /// # Ok(()) }
    /// ```
    pub fn inbox_count(&self, target: impl IntoTarget) -> Action<InboxCount> {
        self.request_to(target, InboxCount {})
    }

    /// Play the device's inbox; `Workflow::on_play_inbox_messages` hears when it is done.
    ///
    /// ```no_run
    /// # async fn f(relay: relay_workflow::Relay, device: relay_workflow::Urn) -> relay_workflow::Result<()> {
    /// relay.play_inbox_messages(&device).await?;
    /// # Ok(()) }
    /// ```
    pub fn play_inbox_messages(&self, target: impl IntoTarget) -> Action<PlayInboxMessages> {
        self.request_to(target, PlayInboxMessages {})
    }
}

impl Action<Register> {
    /// Registration lifetime in seconds (0 unregisters).
    pub fn expires(mut self, seconds: u64) -> Self {
        self.request_mut().expires = Some(seconds);
        self
    }

    /// Registration URI.
    pub fn uri(mut self, uri: impl Into<String>) -> Self {
        self.request_mut().uri = Some(uri.into());
        self
    }

    /// Registration password.
    pub fn password(mut self, password: impl Into<String>) -> Self {
        self.request_mut().password = Some(password.into());
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn call_ids() {
        assert_eq!("call-1".into_call_id().unwrap(), "call-1");
        assert!("".into_call_id().is_err());
        let event = CallEvent::default();
        assert!((&event).into_call_id().unwrap_err().contains("no call_id"));
    }
}
