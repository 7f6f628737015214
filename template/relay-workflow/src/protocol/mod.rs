//! Wire types of the Relay workflow protocol. No I/O happens here.
//!
//! Every message is one JSON object in one WebSocket text frame. Reserved keys start with
//! an underscore and sit beside the payload: `_type` (always), `_id` (requests, their
//! responses, error responses and progress events) and `_target` (targeted requests).
//!
//! * [`Event`]: everything Relay sends on its own (`wf_api_<name>_event`).
//! * [`Request`]: implemented by one struct per action (`wf_api_<action>_request`), each tied
//!   to the type its `wf_api_<action>_response` decodes into.
//! * [`Incoming`] / [`decode_frame`]: classifies an incoming frame as a response, an error
//!   response, a progress event or an event.

pub mod enums;
pub mod events;
pub(crate) mod lenient;
pub mod requests;

pub use enums::*;
pub use events::*;
pub use requests::*;

use crate::urn::Target;
use serde::{de::DeserializeOwned, Serialize};
use serde_json::{Map, Value};
use std::time::Duration;

/// How long an ordinary request waits for its response (relay-js uses the same 5 s).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// A request (an "action") the workflow sends to Relay.
///
/// Adding an action to the SDK means: a struct with the payload fields, its response type,
/// and an `impl Request` (usually through the crate's `impl_request!` macro).
pub trait Request: Serialize + Send + Sync + 'static {
    /// The `<action>` of `wf_api_<action>_request`, e.g. `"say"`.
    const ACTION: &'static str;
    /// What `wf_api_<action>_response` decodes into.
    type Response: DeserializeOwned + Send + 'static;
    /// What the awaited call returns to the workflow.
    type Output: Send + 'static;
    /// Turn the decoded response into the call's output. `id` is the request's `_id`.
    fn output(response: Self::Response, id: &str) -> Self::Output;
    /// How long to wait for the response unless the call overrides it.
    fn timeout(&self) -> Duration {
        DEFAULT_TIMEOUT
    }
}

/// The wire `_type` of a request: `wf_api_<action>_request`.
pub fn request_type(action: &str) -> String {
    format!("wf_api_{action}_request")
}

#[derive(Serialize)]
struct Envelope<'a, R> {
    #[serde(rename = "_id")]
    id: &'a str,
    #[serde(rename = "_type")]
    kind: &'a str,
    #[serde(rename = "_target", skip_serializing_if = "Option::is_none")]
    target: Option<&'a Target>,
    #[serde(flatten)]
    payload: &'a R,
}

/// Encode a request as the text of one frame.
pub fn encode_request<R: Request>(
    id: &str,
    target: Option<&Target>,
    request: &R,
) -> Result<String, serde_json::Error> {
    serde_json::to_string(&Envelope {
        id,
        kind: &request_type(R::ACTION),
        target,
        payload: request,
    })
}

/// One incoming frame, classified by its `_type` and `_id`.
#[derive(Debug, Clone, PartialEq)]
pub enum Incoming {
    /// `wf_api_<action>_response`: the answer to the request with this `_id`.
    Response {
        /// The request's `_id`.
        id: String,
        /// The `<action>` part of the `_type`.
        action: String,
        /// Every field except `_id` and `_type` (an empty map is a plain acknowledgement).
        payload: Map<String, Value>,
    },
    /// `wf_api_error_response`: Relay refused the request with this `_id`.
    Error {
        /// The request's `_id`.
        id: String,
        /// Relay's reason.
        message: String,
    },
    /// `wf_api_progress_event`: the request with this `_id` is still being worked on.
    Progress {
        /// The request's `_id`.
        id: String,
    },
    /// Any other message: an event. Unknown types arrive as [`Event::Unknown`].
    Event(Event),
}

/// Why an incoming frame could not be used at all.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The text is not JSON.
    #[error("frame is not JSON: {0}")]
    NotJson(#[source] serde_json::Error),
    /// The JSON is not an object.
    #[error("frame is JSON but not an object")]
    NotObject,
    /// The object has no string `_type`.
    #[error("frame has no string _type")]
    MissingType,
    /// A response or progress event without a string `_id`.
    #[error("{0} has no string _id")]
    MissingId(String),
    /// An event whose known type has fields of the wrong JSON type.
    #[error(transparent)]
    Event(#[from] EventDecodeError),
}

/// Decode and classify one text frame.
pub fn decode_frame(text: &str) -> Result<Incoming, FrameError> {
    let value: Value = serde_json::from_str(text).map_err(FrameError::NotJson)?;
    let Value::Object(mut object) = value else {
        return Err(FrameError::NotObject);
    };
    let kind = match object.get("_type") {
        Some(Value::String(kind)) => kind.clone(),
        _ => return Err(FrameError::MissingType),
    };
    let id = match object.get("_id") {
        Some(Value::String(id)) => Some(id.clone()),
        _ => None,
    };
    if kind == "wf_api_error_response" {
        let id = id.ok_or_else(|| FrameError::MissingId(kind.clone()))?;
        let message = match object.get("error") {
            Some(Value::String(message)) => message.clone(),
            Some(other) => format!("Unknown error ({other})"),
            None => "Unknown error".to_owned(),
        };
        return Ok(Incoming::Error { id, message });
    }
    if Some(kind.as_str()) == EventKind::Progress.event_type() {
        let id = id.ok_or_else(|| FrameError::MissingId(kind.clone()))?;
        return Ok(Incoming::Progress { id });
    }
    if let Some(action) = kind
        .strip_prefix("wf_api_")
        .and_then(|rest| rest.strip_suffix("_response"))
    {
        let id = id.ok_or_else(|| FrameError::MissingId(kind.clone()))?;
        let action = action.to_owned();
        object.remove("_id");
        object.remove("_type");
        return Ok(Incoming::Response {
            id,
            action,
            payload: object,
        });
    }
    Ok(Incoming::Event(Event::decode(&kind, object)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn classifies_responses_errors_and_progress() {
        let r = decode_frame(r#"{"_id":"a","_type":"wf_api_say_response","id":"a"}"#).unwrap();
        assert_eq!(
            r,
            Incoming::Response {
                id: "a".into(),
                action: "say".into(),
                payload: json!({"id":"a"}).as_object().unwrap().clone()
            }
        );
        let e = decode_frame(r#"{"_id":"b","_type":"wf_api_error_response","error":"bad target"}"#)
            .unwrap();
        assert_eq!(
            e,
            Incoming::Error {
                id: "b".into(),
                message: "bad target".into()
            }
        );
        let e = decode_frame(r#"{"_id":"b","_type":"wf_api_error_response","error":7}"#).unwrap();
        assert!(matches!(e, Incoming::Error { message, .. } if message.contains("Unknown error")));
        let p = decode_frame(r#"{"_id":"c","_type":"wf_api_progress_event"}"#).unwrap();
        assert_eq!(p, Incoming::Progress { id: "c".into() });
    }

    #[test]
    fn analytics_request_name_is_not_an_event() {
        // The action name ends in `_event`; the frame is a request echo, not an event we know.
        let f =
            decode_frame(r#"{"_id":"x","_type":"wf_api_log_analytics_event_response"}"#).unwrap();
        assert!(matches!(f, Incoming::Response { action, .. } if action == "log_analytics_event"));
    }

    #[test]
    fn rejects_bad_frames() {
        assert!(matches!(decode_frame("{nope"), Err(FrameError::NotJson(_))));
        assert!(matches!(decode_frame("[1,2]"), Err(FrameError::NotObject)));
        assert!(matches!(decode_frame("\"s\""), Err(FrameError::NotObject)));
        assert!(matches!(
            decode_frame(r#"{"a":1}"#),
            Err(FrameError::MissingType)
        ));
        assert!(matches!(
            decode_frame(r#"{"_type":5}"#),
            Err(FrameError::MissingType)
        ));
        assert!(matches!(
            decode_frame(r#"{"_type":"wf_api_say_response"}"#),
            Err(FrameError::MissingId(_))
        ));
        assert!(matches!(
            decode_frame(r#"{"_type":"wf_api_progress_event"}"#),
            Err(FrameError::MissingId(_))
        ));
    }

    #[test]
    fn unknown_types_become_unknown_events() {
        let f = decode_frame(r#"{"_type":"wf_api_brand_new_event","x":1}"#).unwrap();
        match f {
            Incoming::Event(Event::Unknown(u)) => {
                assert_eq!(u.event_type, "wf_api_brand_new_event");
                assert_eq!(u.raw.get("x"), Some(&json!(1)));
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn encodes_envelope_with_flattened_payload_and_target() {
        let target =
            crate::urn::IntoTarget::into_target("urn:relay-resource:name:device:Bob").unwrap();
        let s = encode_request(
            "01",
            Some(&target),
            &StartInteraction {
                name: "hello".into(),
                options: None,
            },
        )
        .unwrap();
        let v: Value = serde_json::from_str(&s).unwrap();
        assert_eq!(
            v,
            json!({"_id":"01","_type":"wf_api_start_interaction_request",
                   "_target":{"uris":["urn:relay-resource:name:device:Bob"]},"name":"hello"})
        );
        let s = encode_request("02", None, &GetVar { name: "g".into() }).unwrap();
        assert_eq!(
            serde_json::from_str::<Value>(&s).unwrap(),
            json!({"_id":"02","_type":"wf_api_get_var_request","name":"g"})
        );
    }
}
