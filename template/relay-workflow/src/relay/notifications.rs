//! Reaching people: broadcasts, alerts and notifications (and cancelling them), incidents,
//! and SMS.

use super::{single_urn, Action, Relay};
use crate::error::Error;
use crate::protocol::{
    CreateIncident, Notification, NotificationType, PushOptions, Request, ResolveIncident, Sms,
};
use crate::urn::{IntoTarget, Urn};

impl Relay {
    fn notification(
        &self,
        kind: NotificationType,
        target: impl IntoTarget,
        originator: Option<std::result::Result<Urn, Error>>,
        name: String,
        text: Option<String>,
    ) -> Action<Notification> {
        let (originator, error) = match originator {
            None => (None, None),
            Some(Ok(urn)) => (Some(urn), None),
            Some(Err(e)) => (None, Some(e)),
        };
        let action = self.request_to(
            target,
            Notification {
                kind,
                name,
                originator,
                text,
                push_opts: PushOptions::default(),
            },
        );
        match error {
            Some(e) => action.fail(e),
            None => action,
        }
    }

    /// Say `text` once on every target device (and show it in Dash). `originator` is the
    /// device or interaction it comes from; `name` identifies it for cancelling.
    ///
    /// ```no_run
    /// # use relay_workflow::Urn;
    /// # async fn f(relay: relay_workflow::Relay, bob: Urn) -> relay_workflow::Result<()> {
    /// relay.broadcast(&Urn::group_name("Cleaning")?, &bob, "spill", "Spill in aisle 3").await?;
    /// # Ok(()) }
    /// ```
    pub fn broadcast(
        &self,
        target: impl IntoTarget,
        originator: impl IntoTarget,
        name: impl Into<String>,
        text: impl Into<String>,
    ) -> Action<Notification> {
        let originator = single_urn(Notification::ACTION, "originator", originator);
        self.notification(
            NotificationType::Broadcast,
            target,
            Some(originator),
            name.into(),
            Some(text.into()),
        )
    }

    /// Like [`broadcast`](Self::broadcast), but repeated until someone acknowledges it;
    /// acknowledgements arrive as notification events (`Workflow::on_notification`).
    ///
    /// ```no_run
    /// # use relay_workflow::Urn;
    /// # async fn f(relay: relay_workflow::Relay, bob: Urn) -> relay_workflow::Result<()> {
    /// relay.alert(&Urn::group_name("Cleaning")?, &bob, "spill", "Spill in aisle 3").await?;
    /// # Ok(()) }
    /// ```
    pub fn alert(
        &self,
        target: impl IntoTarget,
        originator: impl IntoTarget,
        name: impl Into<String>,
        text: impl Into<String>,
    ) -> Action<Notification> {
        let originator = single_urn(Notification::ACTION, "originator", originator);
        self.notification(
            NotificationType::Alert,
            target,
            Some(originator),
            name.into(),
            Some(text.into()),
        )
    }

    /// A plain notification (type `notify`; relay-js removed its helper, the type remains).
    ///
    /// ```no_run
    /// # use relay_workflow::Urn;
    /// # async fn f(relay: relay_workflow::Relay, bob: Urn) -> relay_workflow::Result<()> {
    /// relay.notify(&Urn::group_name("Cleaning")?, &bob, "fyi", "Aisle 3 is clean").await?;
    /// # Ok(()) }
    /// ```
    pub fn notify(
        &self,
        target: impl IntoTarget,
        originator: impl IntoTarget,
        name: impl Into<String>,
        text: impl Into<String>,
    ) -> Action<Notification> {
        let originator = single_urn(Notification::ACTION, "originator", originator);
        self.notification(
            NotificationType::Notify,
            target,
            Some(originator),
            name.into(),
            Some(text.into()),
        )
    }

    /// Cancel the broadcast named `name` on the targets.
    ///
    /// ```no_run
    /// # use relay_workflow::Urn;
    /// # async fn f(relay: relay_workflow::Relay) -> relay_workflow::Result<()> {
    /// relay.cancel_broadcast(&Urn::group_name("Cleaning")?, "spill").await?;
    /// # Ok(()) }
    /// ```
    pub fn cancel_broadcast(
        &self,
        target: impl IntoTarget,
        name: impl Into<String>,
    ) -> Action<Notification> {
        self.notification(NotificationType::Cancel, target, None, name.into(), None)
    }

    /// Cancel the alert named `name` on the targets (the same request as
    /// [`cancel_broadcast`](Self::cancel_broadcast)).
    ///
    /// ```no_run
    /// # use relay_workflow::Urn;
    /// # async fn f(relay: relay_workflow::Relay) -> relay_workflow::Result<()> {
    /// relay.cancel_alert(&Urn::group_name("Cleaning")?, "spill").await?;
    /// # Ok(()) }
    /// ```
    pub fn cancel_alert(
        &self,
        target: impl IntoTarget,
        name: impl Into<String>,
    ) -> Action<Notification> {
        self.cancel_broadcast(target, name)
    }

    /// Cancel the notification named `name` on the targets (the same request as
    /// [`cancel_broadcast`](Self::cancel_broadcast)).
    ///
    /// ```no_run
    /// # use relay_workflow::Urn;
    /// # async fn f(relay: relay_workflow::Relay) -> relay_workflow::Result<()> {
    /// relay.cancel_notification(&Urn::group_name("Cleaning")?, "fyi").await?;
    /// # Ok(()) }
    /// ```
    pub fn cancel_notification(
        &self,
        target: impl IntoTarget,
        name: impl Into<String>,
    ) -> Action<Notification> {
        self.cancel_broadcast(target, name)
    }

    /// Open an incident of `kind` (free text) raised by `originator`; returns its id.
    ///
    /// ```no_run
    /// # async fn f(relay: relay_workflow::Relay, bob: relay_workflow::Urn) -> relay_workflow::Result<()> {
    /// let incident = relay.create_incident("Panic Alert", &bob).await?;
    /// # Ok(()) }
    /// ```
    pub fn create_incident(
        &self,
        kind: impl Into<String>,
        originator: impl IntoTarget,
    ) -> Action<CreateIncident> {
        let kind = kind.into();
        self.with_urn("originator", originator, None, |originator_uri| {
            CreateIncident {
                kind,
                originator_uri,
            }
        })
    }

    /// Resolve an incident.
    ///
    /// ```no_run
    /// # async fn f(relay: relay_workflow::Relay) -> relay_workflow::Result<()> {
    /// relay.resolve_incident("inc_123", "handled").await?;
    /// # Ok(()) }
    /// ```
    pub fn resolve_incident(
        &self,
        incident_id: impl Into<String>,
        reason: impl Into<String>,
    ) -> Action<ResolveIncident> {
        self.request(ResolveIncident {
            incident_id: incident_id.into(),
            reason: reason.into(),
        })
    }

    /// Send an SMS (from the Python SDK; Relay documents neither the `kind` values nor the
    /// `uri` form). Returns the message id when Relay gives one.
    ///
    /// ```no_run
    /// # async fn f(relay: relay_workflow::Relay) -> relay_workflow::Result<()> {
    /// relay.sms("sms", "Your order is ready", "tel:+15555550100").await?;
    /// # Ok(()) }
    /// ```
    pub fn sms(
        &self,
        kind: impl Into<String>,
        text: impl Into<String>,
        uri: impl Into<String>,
    ) -> Action<Sms> {
        self.request(Sms {
            kind: kind.into(),
            text: text.into(),
            uri: uri.into(),
        })
    }
}

impl Action<Notification> {
    /// Push options for the Relay app (priority, title, body, sound).
    pub fn push_options(mut self, options: PushOptions) -> Self {
        self.request_mut().push_opts = options;
        self
    }
}
