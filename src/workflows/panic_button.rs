//! Panic button: a user in trouble alerts the security team, who acknowledge on their devices.
//!
//! 1. On start, open an incident ("Panic Alert") for the triggering device, remember its id
//!    in a workflow variable, and open an interaction named "panic" on the device.
//! 2. When it has started: flash the ring red, vibrate, alert the group named by the `group`
//!    registration arg (default `security`) with `"<device> needs help"`, and reassure the user.
//! 3. When someone acknowledges the alert: cancel it, resolve the incident, tell the user who is
//!    coming, switch the LEDs off, end the interaction and terminate.

use relay_workflow::prelude::*;

/// Build the panic-button workflow.
pub fn workflow() -> Workflow {
    Workflow::new()
        .on_start(|relay: Relay, start: StartEvent| async move {
            let device = start.trigger.source_uri().ok_or(Error::MissingSourceUri)?;
            let incident = relay.create_incident("Panic Alert", device).await?;
            relay.set_var("incident", incident).await?;
            relay.start_interaction(device, "panic").await?;
            Ok(())
        })
        .on_interaction_started(
            |relay: Relay, event: InteractionLifecycleEvent| async move {
                let me = event.source_uri;
                let group = relay.get_var("group").await?.unwrap_or("security".into());
                let who = me.parse_device_name()?;
                relay.flash(&me, "FF0000").await?;
                relay.vibrate(&me, [100, 500, 500, 500, 500, 500]).await?;
                relay
                    .alert(
                        &Urn::group_name(&group)?,
                        &me,
                        "panic",
                        format!("{who} needs help"),
                    )
                    .await?;
                relay.set_var("interaction", me.as_str()).await?;
                relay.say_and_wait(&me, "Help has been called.").await?;
                Ok(())
            },
        )
        .on_notification(|relay: Relay, event: NotificationEvent| async move {
            if event.event != NotificationEventKind::AckEvent {
                return Ok(());
            }
            let helper = event.source_uri.parse_device_name()?;
            let me = relay
                .get_var("interaction")
                .await?
                .ok_or("no interaction")?;
            let me = Urn::from_string_unchecked(me);
            let group = relay.get_var("group").await?.unwrap_or("security".into());
            relay
                .cancel_alert(&Urn::group_name(&group)?, "panic")
                .await?;
            if let Some(incident) = relay.get_var("incident").await? {
                let reason = format!("acknowledged by {helper}");
                relay.resolve_incident(incident, reason).await?;
            }
            relay.switch_all_leds_off(&me).await?;
            relay
                .say_and_wait(&me, format!("{helper} is on the way."))
                .await?;
            relay.end_interaction(&me).await?;
            Ok(())
        })
        .on_interaction_ended(|relay: Relay, _| async move {
            relay.terminate().await?;
            Ok(())
        })
}
