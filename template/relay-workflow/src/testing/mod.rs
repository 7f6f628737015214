//! A simulated Relay server for tests and tools (feature `testing`).
//!
//! In production the Relay cloud is the WebSocket *client*: when a trigger fires it connects
//! to your workflow server at `wss://host/<path>`, sends `wf_api_start_event`, and answers
//! the requests your workflow sends. The [`Simulator`] plays that part offline, so a
//! `cargo test` can run a workflow end to end against `ws://127.0.0.1:<port>/<path>`.
//!
//! Two ways to use it:
//!
//! * **Automatic** — [`Simulator::run`] with an [`AutoResponder`] answers every request the
//!   way Relay plausibly would (interaction lifecycle, prompt and speech events, variables,
//!   device info …) until the workflow terminates, and returns a [`Transcript`] to assert on.
//! * **Scripted** — send events and [`expect`](Simulator::expect) requests one by one,
//!   answering each with [`respond`](Simulator::respond), [`ack`](Simulator::ack),
//!   [`fail`](Simulator::fail) or [`progress`](Simulator::progress). Use this for the
//!   unhappy paths: error responses, late or missing events, malformed frames
//!   ([`send_text`](Simulator::send_text)), a peer that vanishes
//!   ([`disconnect`](Simulator::disconnect)).
//!
//! Every wait is bounded ([`Simulator::with_timeout`], [`AutoResponder::overall_timeout`]),
//! so a broken workflow fails the test with a message saying what was expected and what
//! came instead, rather than hanging it.
//!
//! # Using it in `cargo test`
//!
//! Enable the feature for tests only:
//!
//! ```toml
//! [dev-dependencies]
//! relay-workflow = { path = "relay-workflow", features = ["testing"] }
//! ```
//!
//! Start your workflow server with [`TestServer`] (it binds `127.0.0.1:0`: the OS picks a
//! free port, so tests can run in parallel), then point the simulator at it:
//!
//! ```no_run
//! use relay_workflow::testing::{AutoResponder, SimError, Simulator, TestServer, Trigger};
//! use relay_workflow::WorkflowServer;
//! use serde_json::json;
//! use std::time::Duration;
//!
//! # async fn hello_test(app: WorkflowServer) -> Result<(), SimError> {
//! // `app` is the WorkflowServer of your application, serving the hello workflow at /hello.
//! let server = TestServer::start(app).await;
//! let url = server.url("hello");
//!
//! // Automatic: Relay's side is played for you.
//! let transcript = Simulator::connect(&url)
//!     .await?
//!     .run(
//!         AutoResponder::default()
//!             .device("Bob")
//!             .var("greeting", "Hi")
//!             .say_on_listen(["Alice"]),
//!     )
//!     .await?;
//! assert_eq!(transcript.stop_reason.as_deref(), Some("normal"));
//! assert_eq!(transcript.said().last(), Some(&"Hi Alice! You are using Bob."));
//!
//! // Scripted: every step spelled out.
//! let mut sim = Simulator::connect(&url).await?.with_timeout(Duration::from_secs(2));
//! sim.start(Trigger::phrase("hello").device("Bob")).await?;
//! let req = sim.expect("start_interaction").await?;
//! assert_eq!(req.target_one(), Some("urn:relay-resource:name:device:Bob"));
//! sim.ack(&req).await?;
//! sim.interaction("started", "hello").await?; // the interaction named "hello" on Bob
//! let say = sim.expect("say").await?;
//! sim.respond(&say, json!({ "id": say.id })).await?;
//! sim.prompt(&say.id, "stopped", "hello").await?;
//! let listen = sim.expect("listen").await?;
//! sim.ack(&listen).await?;
//! sim.speech(&listen.id, "Alice", "hello").await?;
//! // … and so on, until:
//! let terminate = sim.expect("terminate").await?;
//! # let _ = terminate;
//! sim.stop("normal").await?;
//! sim.close().await?;
//! server.shutdown().await;
//! # Ok(())
//! # }
//! ```
//!
//! The same machinery drives the `relay-sim` command-line tool (crate `relay-tools`):
//! `relay-sim ws://127.0.0.1:8080/hello --say Alice --var greeting=Hi`.

mod auto;
mod connection;
mod error;
mod logs;
mod simulator;
mod test_server;
mod transcript;
mod trigger;
mod urn;

pub use auto::{AutoResponder, Reply};
pub use error::SimError;
pub use logs::{LogCapture, LOG_WAIT, MAX_CAPTURED_BYTES};
pub use simulator::{ReceivedRequest, SimFrame, Simulator, DEFAULT_TIMEOUT};
pub use test_server::TestServer;
pub use transcript::Transcript;
pub use trigger::{Trigger, DEFAULT_DEVICE};
pub use urn::{device_urn, interaction_urn};
