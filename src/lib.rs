//! Every sample Relay workflow in one server.
//!
//! | path | workflow |
//! |---|---|
//! | `/hellopath` | [`workflows::hello`]: asks your name and greets you |

pub mod workflows;

use relay_workflow::WorkflowServer;

/// Every sample workflow, each at its path.
pub fn app() -> WorkflowServer {
    WorkflowServer::new()
        .version(env!("CARGO_PKG_VERSION"))
        .workflow("hellopath", workflows::hello::workflow())
}

/// The Rust examples of this repository's README, compiled by `cargo test`.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
