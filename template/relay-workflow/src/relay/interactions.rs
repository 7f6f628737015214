//! Interactions and the instance's lifecycle: start and end an interaction, terminate the
//! workflow instance.

use super::{new_id, Action, Relay};
use crate::error::{Error, Result};
use crate::protocol::{EndInteraction, Event, InteractionOptions, StartInteraction, Terminate};
use crate::urn::IntoTarget;
use std::time::Duration;

/// How long terminate waits for the stop event.
const STOP_WAIT: Duration = Duration::from_secs(32);

impl Relay {
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

    /// End this workflow instance and wait (up to 32 s) for Relay's stop event.
    /// Returns `Ok` when the stop event arrives or the connection closes.
    pub async fn terminate(&self) -> Result<()> {
        let id = new_id();
        let stop = self.wait_for(|e| matches!(e, Event::Stop(_)));
        self.send_unanswered(&id, &Terminate {})?;
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

impl Action<StartInteraction> {
    /// Set the interaction's options (colour, wanted button events, home channel).
    pub fn options(mut self, options: InteractionOptions) -> Self {
        self.request.options = Some(options);
        self
    }
}
