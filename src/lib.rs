//! Every sample Relay workflow in one server.
//!
//! | path | workflow |
//! |---|---|
//! | `/hellopath` | [`workflows::hello`]: asks your name and greets you |
//! | `/whereami` | [`workflows::whereami`]: device info and location: says where the device is and its battery |
//! | `/panic` | [`workflows::panic_button`]: incidents, LEDs, vibration and alerts: calls the security team until someone acknowledges |
//! | `/reminder` | [`workflows::reminder`]: timers: speaks a reminder when a server-side timer fires |
//! | `/tally` | [`workflows::tally`]: buttons and variables: counts taps of the Talk button |

pub mod workflows;

use relay_workflow::WorkflowServer;

/// Every sample workflow, each at its path.
pub fn app() -> WorkflowServer {
    WorkflowServer::new()
        .version(env!("CARGO_PKG_VERSION"))
        .workflow("hellopath", workflows::hello::workflow())
        .workflow("whereami", workflows::whereami::workflow())
        .workflow("panic", workflows::panic_button::workflow())
        .workflow("reminder", workflows::reminder::workflow())
        .workflow("tally", workflows::tally::workflow())
}

/// The Rust examples of this repository's README, compiled by `cargo test`.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
