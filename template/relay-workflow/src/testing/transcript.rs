//! What happened during a simulated conversation.

use super::simulator::ReceivedRequest;
use serde_json::{json, Value};

/// The record of a conversation: every request the workflow sent, every event the
/// simulator sent, and how it ended. Returned by [`Simulator::run`](super::Simulator::run)
/// (covering the run) and kept up to date for the whole connection by
/// [`Simulator::transcript`](super::Simulator::transcript).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Transcript {
    /// Every request received, in order.
    pub requests: Vec<ReceivedRequest>,
    /// Every event the simulator sent (start, lifecycle, prompt, speech, progress, stop …),
    /// as sent. Responses are not events and are not listed.
    pub events: Vec<Value>,
    /// The `reason` of the stop event, if the simulator sent one.
    pub stop_reason: Option<String>,
    /// The close code and reason of the workflow server's close frame, if one arrived.
    pub close: Option<(u16, String)>,
}

impl Transcript {
    /// The short action names of the requests, in order: `["start_interaction", "say", …]`.
    pub fn actions(&self) -> Vec<&str> {
        self.requests.iter().map(|r| r.action.as_str()).collect()
    }

    /// The requests for one action, in order.
    pub fn find(&self, action: &str) -> Vec<&ReceivedRequest> {
        self.requests
            .iter()
            .filter(|r| r.action == action)
            .collect()
    }

    /// The `text` of every `say` request, in order.
    pub fn said(&self) -> Vec<&str> {
        self.requests
            .iter()
            .filter(|r| r.action == "say")
            .filter_map(|r| r.str("text"))
            .collect()
    }

    /// The short names of the events sent (`"start"`, `"interaction_lifecycle"`, …), in order.
    pub fn event_names(&self) -> Vec<&str> {
        self.events
            .iter()
            .filter_map(|e| e.get("_type").and_then(Value::as_str))
            .map(|t| {
                t.strip_prefix("wf_api_")
                    .and_then(|t| t.strip_suffix("_event"))
                    .unwrap_or(t)
            })
            .collect()
    }

    /// The whole transcript as one JSON document:
    /// `{"requests": [raw frames], "events": [...], "stop_reason": …, "close": {"code", "reason"} | null}`.
    pub fn to_json(&self) -> Value {
        json!({
            "requests": self.requests.iter().map(|r| r.raw.clone()).collect::<Vec<_>>(),
            "events": self.events,
            "stop_reason": self.stop_reason,
            "close": self.close.as_ref().map(|(code, reason)| json!({"code": code, "reason": reason})),
        })
    }
}
