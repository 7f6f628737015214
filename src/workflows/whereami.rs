//! Where am I: the device tells its user where it is and how much battery is left.
//!
//! 1. On start, open an interaction named "where am I" on the triggering device.
//! 2. Ask Relay for the device's name, a fresh address and its battery level, and say them.
//!    If location reporting is off, say so and turn it on instead of guessing.
//! 3. End the interaction, then terminate.

use relay_workflow::prelude::*;

/// Build the where-am-I workflow.
pub fn workflow() -> Workflow {
    Workflow::new()
        .on_start(|relay: Relay, start: StartEvent| async move {
            let device = start.trigger.source_uri().ok_or(Error::MissingSourceUri)?;
            relay.start_interaction(device, "where am I").await?;
            Ok(())
        })
        .on_interaction_started(
            |relay: Relay, event: InteractionLifecycleEvent| async move {
                let here = event.source_uri;
                let name = relay.get_device_name(&here).await?;
                if relay.get_device_location_enabled(&here).await? {
                    let address = relay.get_device_address(&here).refresh(true).await?;
                    let battery = relay.get_device_battery(&here).refresh(true).await?;
                    let text =
                        format!("{name}, you are at {address}. Battery {battery:.0} percent.");
                    relay.say_and_wait(&here, text).await?;
                } else {
                    relay.enable_location(&here).await?;
                    let text = format!("{name}, location was off. I turned it on; ask me again.");
                    relay.say_and_wait(&here, text).await?;
                }
                relay.end_interaction(&here).await?;
                Ok(())
            },
        )
        .on_interaction_ended(|relay: Relay, _| async move {
            relay.terminate().await?;
            Ok(())
        })
}
