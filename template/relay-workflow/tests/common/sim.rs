//! Hello sessions run to their end through the simulator, and the check of their greeting,
//! written once for the tests of the SDK, the samples and the tools.
#![allow(dead_code)]

use super::hello::greeting;
use relay_workflow::testing::{AutoResponder, Simulator, Transcript};
use std::time::Duration;

/// Most time a hello session may take to its end in [`finish_hello`].
pub const HELLO_WAIT: Duration = Duration::from_secs(20);

/// Run the hello workflow to its end through `url` (within [`HELLO_WAIT`]), answering its
/// question with `name`, and check the greeting; the transcript.
pub async fn complete_hello(url: &str, name: &str) -> Transcript {
    let sim = Simulator::connect(url).await.unwrap();
    finish_hello(sim, name).await
}

/// Run an open hello session on `sim` to its end (within [`HELLO_WAIT`]), answering a
/// question with `name`, and check that the last thing said is the greeting of `name` on
/// Bob; the transcript.
pub async fn finish_hello(sim: Simulator, name: &str) -> Transcript {
    let t = tokio::time::timeout(
        HELLO_WAIT,
        sim.run(AutoResponder::default().say_on_listen([name])),
    )
    .await
    .unwrap_or_else(|_| panic!("a hello session did not finish within {HELLO_WAIT:?}"))
    .unwrap();
    assert_greeted(&t, name);
    t
}

/// Check that the last thing a hello session said is the greeting of `name` on Bob.
pub fn assert_greeted(t: &Transcript, name: &str) {
    assert_eq!(
        t.said().last().copied(),
        Some(greeting(name).as_str()),
        "said: {:?}",
        t.said()
    );
}
