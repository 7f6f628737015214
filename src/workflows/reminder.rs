//! Reminder: "remind me" sets a server-side timer; when it fires, the device speaks the reminder.
//!
//! 1. On start, read the `seconds` (default 60) and `message` (default "Time to stretch")
//!    registration args, set a one-shot timer named "reminder", and confirm on the device.
//! 2. When the timer fires, open an interaction named "reminder", speak the message, end it
//!    and terminate. The timer lives on the Relay server, so a restarted workflow server
//!    does not lose it.

use relay_workflow::prelude::*;
use std::time::Duration;

/// Build the reminder workflow.
pub fn workflow() -> Workflow {
    Workflow::new()
        .on_start(|relay: Relay, start: StartEvent| async move {
            let device = start.trigger.source_uri().ok_or(Error::MissingSourceUri)?;
            let seconds = relay.get_int_var("seconds").await?.unwrap_or(60).max(1);
            relay.set_var("device", device.as_str()).await?;
            relay
                .set_timer("reminder", Duration::from_secs(seconds.unsigned_abs()))
                .await?;
            relay
                .log_user_message(format!("reminder set for {seconds} s"), device)
                .await?;
            Ok(())
        })
        .on_timer_fired(|relay: Relay, timer: TimerFiredEvent| async move {
            if timer.name != "reminder" {
                return Ok(());
            }
            let device = relay.get_var("device").await?.ok_or("no device")?;
            relay.start_interaction(device.as_str(), "reminder").await?;
            Ok(())
        })
        .on_interaction_started(
            |relay: Relay, event: InteractionLifecycleEvent| async move {
                let message = relay.get_var("message").await?;
                let message = message.as_deref().unwrap_or("Time to stretch");
                relay.say_and_wait(&event.source_uri, message).await?;
                relay.end_interaction(&event.source_uri).await?;
                Ok(())
            },
        )
        .on_interaction_ended(|relay: Relay, _| async move {
            relay.terminate().await?;
            Ok(())
        })
}
