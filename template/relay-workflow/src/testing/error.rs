//! The simulator's error type.

use std::time::Duration;
use tokio_tungstenite::tungstenite;

/// Everything that can go wrong while the simulator talks to a workflow server.
///
/// The messages are written for a failing test: they say what the simulator was waiting
/// for and show the frame that came instead.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The WebSocket connection could not be opened (refused, bad URL, handshake
    /// rejected, or no answer within the timeout).
    #[error("could not connect to {url}: {source}")]
    Connect {
        /// The URL the simulator tried.
        url: String,
        /// What the WebSocket client reported.
        #[source]
        source: tungstenite::Error,
    },

    /// Nothing arrived within the configured time.
    #[error("timed out after {after:?} waiting for {waiting_for}")]
    Timeout {
        /// What the simulator was waiting for (and, for [`Simulator::run`](super::Simulator::run),
        /// the actions seen so far).
        waiting_for: String,
        /// How long it waited.
        after: Duration,
    },

    /// The workflow sent something other than what the test expected.
    #[error("expected {expected}, but the workflow sent {got}")]
    Unexpected {
        /// What the test asked for.
        expected: String,
        /// The frame that came instead (compact JSON, long frames shortened).
        got: String,
    },

    /// The connection is closed (by the workflow server, or dropped without a close frame).
    #[error("{}", closed_message(*.code, .reason))]
    Closed {
        /// The close code the server sent, if it sent a close frame with one.
        code: Option<u16>,
        /// The close reason, or a description of how the connection ended.
        reason: String,
    },

    /// The workflow broke the protocol: a frame that is not JSON, not a request, a binary
    /// frame, a request without `_id`, a malformed `_target`, too many frames …
    #[error("protocol violation: {0}")]
    Protocol(String),

    /// The WebSocket layer failed.
    #[error("websocket error: {0}")]
    WebSocket(#[from] tungstenite::Error),

    /// A value could not be turned into JSON.
    #[error("JSON error: {0}")]
    Json(#[from] serde_json::Error),
}

fn closed_message(code: Option<u16>, reason: &str) -> String {
    match code {
        Some(code) if reason.is_empty() => {
            format!("the workflow server closed the connection (close code {code})")
        }
        Some(code) => format!(
            "the workflow server closed the connection (close code {code}, reason {reason:?})"
        ),
        None if reason.is_empty() => "the connection is closed".to_owned(),
        None => format!("the connection is closed: {reason}"),
    }
}
