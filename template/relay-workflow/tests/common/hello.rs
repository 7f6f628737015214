//! The hello workflow of the template, written out once for the tests of the SDK and of the
//! tools, and the names its transcript uses.
#![allow(dead_code)]

use relay_workflow::prelude::*;

/// The device URN the simulator's default trigger uses.
pub const BOB: &str = "urn:relay-resource:name:device:Bob";
/// The interaction URN tests use.
pub const BOB_HELLO: &str =
    "urn:relay-resource:name:interaction:hello?device=urn%3Arelay-resource%3Aname%3Adevice%3ABob";

/// What the hello workflow says last to `name` on Bob (without a `greeting` variable).
pub fn greeting(name: &str) -> String {
    format!("Hello {name}! You are using Bob.")
}

/// The hello workflow of the template, written out here so the SDK's tests stand alone.
pub fn hello() -> Workflow {
    Workflow::new()
        .on_start(|relay, start: StartEvent| async move {
            let device = start.trigger.source_uri().ok_or(Error::MissingSourceUri)?;
            relay.start_interaction(device, "hello").await?;
            Ok(())
        })
        .on_interaction_started(|relay, event: InteractionLifecycleEvent| async move {
            let interaction = event.source_uri;
            relay
                .say_and_wait(&interaction, "What is your name?")
                .await?;
            let name = relay.listen(&interaction).await?.text;
            let greeting = relay
                .get_var("greeting")
                .await?
                .unwrap_or_else(|| "Hello".into());
            let device = interaction.parse_device_name()?;
            relay
                .say_and_wait(
                    &interaction,
                    format!("{greeting} {name}! You are using {device}."),
                )
                .await?;
            relay.end_interaction(&interaction).await?;
            Ok(())
        })
        .on_interaction_ended(|relay, _| async move {
            relay.terminate().await?;
            Ok(())
        })
}
