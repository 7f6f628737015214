//! Errors returned by workflow actions.

use crate::urn::UrnError;
use std::time::Duration;

/// Why a workflow action failed.
///
/// Every variant names the action involved, so a log line such as
/// `say failed: no response to say within 5s` tells the developer where to look.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Relay answered the request with `wf_api_error_response`.
    #[error("Relay refused {action}: {message}")]
    Relay {
        /// The action, e.g. `say`.
        action: &'static str,
        /// Relay's own words (the `error` field of the error response).
        message: String,
    },
    /// No response arrived in time. Progress events from Relay restart the clock.
    #[error("no response to {action} within {after:?}; Relay may be slow or the target may be wrong (override the wait with .response_timeout())")]
    Timeout {
        /// The action, e.g. `get_var`.
        action: &'static str,
        /// How long the call waited.
        after: Duration,
    },
    /// The response arrived, but the event the action waits for did not.
    #[error("{action}: no {event} event within {after:?}")]
    EventTimeout {
        /// The action, e.g. `say_and_wait`.
        action: &'static str,
        /// What was awaited, e.g. `prompt stopped`.
        event: &'static str,
        /// How long the call waited.
        after: Duration,
    },
    /// The WebSocket to Relay closed (or the session is shutting down) before the action completed.
    #[error("{action}: the connection to Relay closed before the action completed")]
    Closed {
        /// The action that was cut off.
        action: &'static str,
    },
    /// The session already has as many requests awaiting a response as it may
    /// (`MAX_PENDING_REQUESTS`, default 1000): the new one was not sent.
    #[error("{action} not sent: this session already has {limit} requests awaiting a response (raise MAX_PENDING_REQUESTS, or await actions before starting more)")]
    TooManyPending {
        /// The action that was refused.
        action: &'static str,
        /// The limit.
        limit: usize,
    },
    /// Relay's response did not have the expected shape.
    #[error("cannot decode the response to {action}: {source}")]
    Decode {
        /// The action.
        action: &'static str,
        /// What serde found wrong.
        #[source]
        source: serde_json::Error,
    },
    /// The request could not be encoded as JSON (a value that JSON cannot represent).
    #[error("cannot encode {action}: {source}")]
    Encode {
        /// The action.
        action: &'static str,
        /// What serde found wrong.
        #[source]
        source: serde_json::Error,
    },
    /// Relay reported that a `say` or `play` failed (a prompt event of type `failed`).
    #[error("{action}: Relay reported that playback {id} failed")]
    PlaybackFailed {
        /// `say_and_wait` or `play_and_wait`.
        action: &'static str,
        /// The playback id.
        id: String,
    },
    /// An argument of an action was unusable (a bad colour, an LED index out of range, a call
    /// event without a call id, …). Nothing was sent.
    #[error("{action}: {message}")]
    InvalidArgument {
        /// The action, e.g. `set_led`.
        action: &'static str,
        /// What is wrong and what to pass instead.
        message: String,
    },
    /// A workflow variable is set, but not to a value of the type asked for.
    #[error("workflow variable {name:?} is {value:?}, which is not {expected}; set it to {expected} (relay workflow … --arg {name}=…) or read it with get_var")]
    Variable {
        /// The variable's name.
        name: String,
        /// Its value as Relay holds it.
        value: String,
        /// What it should have been, e.g. `a number`.
        expected: &'static str,
    },
    /// A target or URN was not valid.
    #[error(transparent)]
    Urn(#[from] UrnError),
    /// The start event did not say which device triggered the workflow.
    #[error("the start event has no trigger.args.source_uri (a timer or HTTP trigger without a device?); target a device URN explicitly")]
    MissingSourceUri,
}

/// Result of a workflow action.
pub type Result<T, E = Error> = std::result::Result<T, E>;
