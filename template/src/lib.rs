//! The workflows of this app and the server that hosts them.

pub mod workflows;

use relay_workflow::WorkflowServer;

/// The path of the hello workflow: register `wss://<your-app-host>/{{workflow_path}}` with Relay.
pub const HELLO_PATH: &str = "{{workflow_path}}";

/// Every workflow of this app, each at its path.
pub fn app() -> WorkflowServer {
    WorkflowServer::new()
        .version(env!("CARGO_PKG_VERSION"))
        .workflow(HELLO_PATH, workflows::hello::workflow())
}

/// The Rust examples of this app's README, compiled by `cargo test`.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
