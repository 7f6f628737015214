//! The hello workflow: asks for your name and greets you on the device that triggered it.
//!
//! 1. On start, open an interaction named "hello" on the triggering device.
//! 2. When it has started: say "What is your name?", listen, read the `greeting` workflow
//!    variable (a registration arg: `--arg greeting=Howdy`; "Hello" when unset), greet the
//!    user by name and device, and end the interaction.
//! 3. When the interaction has ended, terminate the workflow instance.

use relay_workflow::prelude::*;

/// Build the hello workflow.
pub fn workflow() -> Workflow {
    Workflow::new()
        .on_start(|relay: Relay, start: StartEvent| async move {
            let device = start.trigger.source_uri().ok_or(Error::MissingSourceUri)?;
            relay.start_interaction(device, "hello").await?;
            Ok(())
        })
        .on_interaction_started(
            |relay: Relay, event: InteractionLifecycleEvent| async move {
                let interaction = event.source_uri;
                relay
                    .say_and_wait(&interaction, "What is your name?")
                    .await?;
                let name = relay.listen(&interaction).await?.text;
                let greeting = relay
                    .get_var("greeting")
                    .await?
                    .unwrap_or_else(|| "Hello".to_owned());
                let device = interaction.parse_device_name()?;
                relay
                    .say_and_wait(
                        &interaction,
                        format!("{greeting} {name}! You are using {device}."),
                    )
                    .await?;
                relay.end_interaction(&interaction).await?;
                Ok(())
            },
        )
        .on_interaction_ended(
            |relay: Relay, _event: InteractionLifecycleEvent| async move {
                relay.terminate().await?;
                Ok(())
            },
        )
}
