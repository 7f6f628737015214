//! Analytics: text messages and tracked events (with JSON parameters), about the instance
//! or about a user or device.

use super::{single_urn, Action, Relay};
use crate::error::Error;
use crate::protocol::{LogAnalyticsEvent, Request, CONTENT_TYPE_EVENT, CONTENT_TYPE_TEXT};
use crate::urn::{IntoTarget, Urn};
use serde::Serialize;

impl Relay {
    fn analytics(
        &self,
        content_type: &str,
        content: String,
        device: Option<std::result::Result<Urn, Error>>,
    ) -> Action<LogAnalyticsEvent> {
        let (device_uri, error) = match device {
            None => (None, None),
            Some(Ok(urn)) => (Some(urn), None),
            Some(Err(e)) => (None, Some(e)),
        };
        let action = self.request(LogAnalyticsEvent {
            category: "default".into(),
            content_type: content_type.into(),
            content,
            device_uri,
        });
        match error {
            Some(e) => action.fail(e),
            None => action,
        }
    }

    /// Log a text message to Relay's analytics (`.category(…)`, default `default`).
    ///
    /// ```no_run
    /// # async fn f(relay: relay_workflow::Relay) -> relay_workflow::Result<()> {
    /// relay.log_message("workflow triggered").await?;
    /// # Ok(()) }
    /// ```
    pub fn log_message(&self, message: impl Into<String>) -> Action<LogAnalyticsEvent> {
        self.analytics(CONTENT_TYPE_TEXT, message.into(), None)
    }

    /// Log a text message about a user or device.
    ///
    /// ```no_run
    /// # async fn f(relay: relay_workflow::Relay, bob: relay_workflow::Urn) -> relay_workflow::Result<()> {
    /// relay.log_user_message("checked in", &bob).category("attendance").await?;
    /// # Ok(()) }
    /// ```
    pub fn log_user_message(
        &self,
        message: impl Into<String>,
        device: impl IntoTarget,
    ) -> Action<LogAnalyticsEvent> {
        let device = single_urn(LogAnalyticsEvent::ACTION, "device", device);
        self.analytics(CONTENT_TYPE_TEXT, message.into(), Some(device))
    }

    fn tracked(
        &self,
        category: String,
        params: &impl Serialize,
        device: Option<std::result::Result<Urn, Error>>,
    ) -> Action<LogAnalyticsEvent> {
        let (content, error) = match serde_json::to_string(params) {
            Ok(json) => (json, None),
            Err(source) => (
                String::new(),
                Some(Error::Encode {
                    action: "log_analytics_event",
                    source,
                }),
            ),
        };
        let action = self
            .analytics(CONTENT_TYPE_EVENT, content, device)
            .category(category);
        match error {
            Some(e) => action.fail(e),
            None => action,
        }
    }

    /// Track an event with parameters (sent as a JSON string in `content`).
    ///
    /// ```no_run
    /// # async fn f(relay: relay_workflow::Relay) -> relay_workflow::Result<()> {
    /// relay.track_event("order", &serde_json::json!({"id": 42})).await?;
    /// # Ok(()) }
    /// ```
    pub fn track_event(
        &self,
        category: impl Into<String>,
        params: &impl Serialize,
    ) -> Action<LogAnalyticsEvent> {
        self.tracked(category.into(), params, None)
    }

    /// Track an event about a user or device.
    ///
    /// ```no_run
    /// # async fn f(relay: relay_workflow::Relay, bob: relay_workflow::Urn) -> relay_workflow::Result<()> {
    /// relay.track_user_event("order", &bob, &serde_json::json!({"id": 42})).await?;
    /// # Ok(()) }
    /// ```
    pub fn track_user_event(
        &self,
        category: impl Into<String>,
        device: impl IntoTarget,
        params: &impl Serialize,
    ) -> Action<LogAnalyticsEvent> {
        let device = single_urn(LogAnalyticsEvent::ACTION, "device", device);
        self.tracked(category.into(), params, Some(device))
    }
}

impl Action<LogAnalyticsEvent> {
    /// The category (default `default`).
    pub fn category(mut self, category: impl Into<String>) -> Self {
        self.request_mut().category = category.into();
        self
    }
}
