//! Tally: count people through a door with the Talk button.
//!
//! 1. On start, open an interaction named "tally" and explain: tap to count, double tap to
//!    finish.
//! 2. Each single tap adds one to the `count` workflow variable (kept by Relay for this
//!    instance) and says the new total.
//! 3. A double tap says the total, logs it to Relay's analytics, clears the variable, ends the
//!    interaction and terminates.

use relay_workflow::prelude::*;

/// Build the tally workflow.
pub fn workflow() -> Workflow {
    Workflow::new()
        .on_start(|relay: Relay, start: StartEvent| async move {
            let device = start.trigger.source_uri().ok_or(Error::MissingSourceUri)?;
            relay.start_interaction(device, "tally").await?;
            Ok(())
        })
        .on_interaction_started(
            |relay: Relay, event: InteractionLifecycleEvent| async move {
                let text = "Tap to count, double tap to finish.";
                relay.say_and_wait(&event.source_uri, text).await?;
                Ok(())
            },
        )
        .on_button(|relay: Relay, event: ButtonEvent| async move {
            let here = event.source_uri;
            let count = relay.get_int_var("count").await?.unwrap_or(0);
            match event.taps {
                Taps::Single => {
                    relay.set_var("count", (count + 1).to_string()).await?;
                    relay.say(&here, (count + 1).to_string()).await?;
                }
                Taps::Double => {
                    relay.say_and_wait(&here, format!("Total {count}.")).await?;
                    let total = std::collections::BTreeMap::from([("count", count)]);
                    relay.track_event("tally", &total).await?;
                    relay.unset_var("count").await?;
                    relay.end_interaction(&here).await?;
                }
                _ => {}
            }
            Ok(())
        })
        .on_interaction_ended(|relay: Relay, _| async move {
            relay.terminate().await?;
            Ok(())
        })
}
