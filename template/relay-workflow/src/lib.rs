//! # relay-workflow
//!
//! Build [Relay](https://www.relaypro.com) workflows in Rust and serve them from Heroku
//! (or anywhere that terminates TLS in front of a plain HTTP port).
//!
//! When a trigger fires (a spoken phrase, a button, a timer, an HTTP call), the Relay cloud
//! opens a WebSocket to your workflow server at the URL you registered, sends events, and
//! answers the actions your workflow sends. This crate is that server:
//!
//! * [`Workflow`]: declare the handlers that run for each event;
//! * [`Relay`]: the per-session handle with one async method per action
//!   (`say`, `listen`, `get_var`, …), each awaiting Relay's correlated response;
//! * [`WorkflowServer`]: maps workflow paths to workflows and keeps Heroku's contract
//!   (binds `$PORT`, pings under the router's 55 s idle window, drains on SIGTERM);
//! * [`protocol`]: the wire types, with no I/O; [`urn`]: building and parsing
//!   `urn:relay-resource:…` names;
//! * `testing` (feature): a simulated Relay server to drive workflows in `cargo test`;
//! * `api` (feature): the Relay HTTP API client, to trigger another workflow over HTTP or
//!   read a device's details from a workflow (an example server is in the module's docs);
//! * [`guide`]: a table of every relay-js action and event with its equivalent here.
//!
//! ```no_run
//! use relay_workflow::prelude::*;
//!
//! fn hello() -> Workflow {
//!     Workflow::new()
//!         .on_start(|relay, start: StartEvent| async move {
//!             let device = start.trigger.source_uri().ok_or(Error::MissingSourceUri)?.clone();
//!             relay.start_interaction(&device, "hello").await?;
//!             Ok(())
//!         })
//!         .on_interaction_started(|relay, event: InteractionLifecycleEvent| async move {
//!             let interaction = event.source_uri;
//!             relay.say_and_wait(&interaction, "What is your name?").await?;
//!             let name = relay.listen(&interaction).await?.text;
//!             relay.say_and_wait(&interaction, format!("Hello {name}!")).await?;
//!             relay.end_interaction(&interaction).await?;
//!             Ok(())
//!         })
//!         .on_interaction_ended(|relay, _| async move {
//!             relay.terminate().await?;
//!             Ok(())
//!         })
//! }
//!
//! #[tokio::main]
//! async fn main() -> Result<(), relay_workflow::ServeError> {
//!     relay_workflow::init_logging();
//!     WorkflowServer::new()
//!         .workflow("hellopath", hello())
//!         .settings_from_env()?
//!         .serve()
//!         .await
//! }
//! ```
//!
//! Handlers must never block their thread: use `.await` to wait and
//! [`tokio::task::spawn_blocking`] for blocking work (CPU-heavy, or blocking I/O); see
//! [Never block in a handler](Workflow#never-block-in-a-handler).
//!
//! ## Feature flags
//!
//! | feature | what it adds |
//! |---|---|
//! | `testing` | the `testing` module: the simulated Relay server |
//! | `codec` | the WebSocket codec, for the developer tools (`relay-tools`); not for apps |
//! | `api` | the `api` module: the Relay HTTP API client (trigger a workflow over HTTP, read a device); adds reqwest and rustls |
//! | `tls` | serving https/wss directly (`TLS_CERT_FILE`, `TLS_KEY_FILE`), for hosts without a TLS-terminating router (not Heroku); adds rustls |
//! | `keep-awake` | requesting the app's own `/healthz` now and then (`KEEP_AWAKE_URL`) so an eco dyno does not sleep; adds reqwest and rustls |
//!
//! With no feature, none of reqwest, rustls or tokio-rustls is compiled. Enable one in the
//! app's `Cargo.toml`: `relay-workflow = { path = "relay-workflow", features = ["keep-awake"] }`.
//! A server whose environment sets `KEEP_AWAKE_URL` without `keep-awake` logs a warning
//! naming that line; TLS files without `tls` stop it at start with the same advice (serving
//! plain HTTP where TLS was asked for would expose the secret).
//!
//! ## Environment variables read by [`WorkflowServer::settings_from_env`]
//!
//! Only [`WorkflowServer::settings_from_env`] (and [`WorkflowServer::serve`] for a server
//! that has not called it) reads the environment; the builder, `serve_with` and `router`
//! read nothing. [`server::SETTINGS`] is the same table in code.
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `PORT` | 8080 | port to bind on 0.0.0.0 (Heroku sets it) |
//! | `RUST_LOG` | `info` | log filter ([`init_logging`]) |
//! | `PING_INTERVAL_SECS` | 25 | WebSocket ping interval |
//! | `SHUTDOWN_DEADLINE_SECS` | 25 | time sessions get to finish after SIGTERM/SIGINT; the process exits at most 2 s after it, whatever is in flight |
//! | `KEEP_AWAKE_URL` | unset | the app's public URL; when set, `/healthz` is requested periodically so an eco dyno does not sleep (feature `keep-awake`) |
//! | `KEEP_AWAKE_INTERVAL_SECS` | 1500 | interval of those keep-awake requests (jittered) |
//! | `WORKFLOW_SECRET` | unset | shared secret every upgrade must carry as `?secret=…` (or an `X-Relay-Workflow-Secret` header); 401 otherwise; never logged. Without it the server warns at start on Heroku and `/healthz` says `"secret": "not set"` |
//! | `MAX_SESSIONS` | 10000 | most concurrent sessions; beyond it upgrades get 503 |
//! | `MAX_MESSAGE_BYTES` | 8388608 | largest incoming message; a larger one closes the session with 1009 |
//! | `FIRST_EVENT_TIMEOUT_SECS` | 30 | time to send the request headers, then (upgraded) the first event; 1008 otherwise |
//! | `MAX_PENDING_REQUESTS` | 1000 | actions awaiting a response per session; one more fails with [`Error::TooManyPending`] |
//! | `MAX_QUEUED_EVENTS` | 256 | events one session may have waiting while its handler for an earlier event still runs; one more closes it with 1008 |
//! | `MAX_BUFFERED_BYTES` | 67108864 | bytes buffered for all peers together; when spent, sessions mid-message wait (10 s at most, then 1013) |
//! | `MAX_READ_BYTES_PER_SEC` | 1048576 | bytes per second one session reads on average beyond one largest message (0: no limit) |
//! | `MAX_CONNECTING` | 1024 | connections that have not started a session (reading the request, or awaiting the first event); a newer one takes the oldest one's place |
//! | `TLS_CERT_FILE`, `TLS_KEY_FILE` | unset | PEM certificate chain and private key: serve https/wss directly (not on Heroku; feature `tls`) |
//!
//! ## Logging
//!
//! [`init_logging`] writes one line per record to standard output. What a peer sends can
//! neither forge a line nor colour a terminal, and the log output can neither slow nor stop
//! the server:
//!
//! | what | bound |
//! |---|---|
//! | control characters (newline, CR, ESC, DEL, U+2028, …) in any message or field | written as visible escapes: `\n`, `\u{1b}` |
//! | lines waiting to be written | 4096 lines and 1 MiB; beyond that lines are dropped, and one line says how many once there is room |
//! | a closed or failing output | the lines are lost, nothing else (no retry, no panic) |
//! | queued lines at exit | written for up to 1 s as [`WorkflowServer::serve`] returns |
//! | refusals (401, 503, accept errors) | one line per reason every 10 s at most, with the count since the last one |
//!
//! A second SIGTERM or SIGINT exits at once (status 143 or 130), without draining.
#![deny(missing_docs)]
#![forbid(unsafe_code)]
#![warn(missing_debug_implementations)]

mod admission;
#[cfg(feature = "api")]
pub mod api;
mod budget;
pub mod error;
mod logging;
pub mod protocol;
mod relay;
pub mod server;
mod session;
#[cfg(feature = "testing")]
pub mod testing;
mod upgrade;
pub mod urn;
pub mod workflow;
#[cfg(not(feature = "codec"))]
mod ws;
// For the developer tools (the load generator and the Autobahn echo server); not part of
// the API.
#[cfg(feature = "codec")]
#[doc(hidden)]
pub mod ws;

pub use error::{Error, Result};
pub use logging::init_logging;
pub use relay::{
    Action, AndWait, Coordinates, IntoCallId, ListenAction, MappedAction, Relay, Utterance,
};
pub use server::{ServeError, ServerHandle, WorkflowServer};
pub use urn::{IntoTarget, Target, Urn, UrnError};
pub use workflow::{BoxError, HandlerResult, Workflow};

/// Coming from relay-js: every relay-js action and event next to its equivalent here.
pub mod guide {
    #![doc = include_str!("../docs/relay-js.md")]
}

/// Everything a workflow file usually needs: `use relay_workflow::prelude::*;`
pub mod prelude {
    pub use crate::error::{Error, Result};
    pub use crate::protocol::enums::{
        ButtonKind, CallDirection, DeviceType, IncidentEventType, LedEffect, LifecycleType,
        NotificationEventKind, PlayInboxAction, PromptType, StopReason, Taps, TriggerType,
    };
    pub use crate::protocol::events::*;
    pub use crate::protocol::Lang;
    pub use crate::relay::{Relay, Utterance};
    pub use crate::server::WorkflowServer;
    pub use crate::urn::Urn;
    pub use crate::workflow::{HandlerResult, Workflow};
}
