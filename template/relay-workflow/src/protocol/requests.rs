//! One struct per request, each tied to its response type through [`Request`].
//!
//! Field names are the wire names. Optional fields are omitted rather than sent as `null`
//! (older Relay servers read `null` as the string `"null"`).

use super::{Lang, Request, DEFAULT_TIMEOUT};
use crate::protocol::enums::InputType;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::time::Duration;

/// Implements [`Request`] for a payload struct.
///
/// `impl_request!(Type, "action", Response)` returns the response itself;
/// `impl_request!(Type, "action", Response => Output, |response, id| …)` converts it.
macro_rules! impl_request {
    ($ty:ty, $action:literal, $resp:ty) => {
        impl_request!($ty, $action, $resp => $resp, |response, _id| response);
    };
    ($ty:ty, $action:literal, $resp:ty => $out:ty, $convert:expr) => {
        impl Request for $ty {
            const ACTION: &'static str = $action;
            type Response = $resp;
            type Output = $out;
            fn output(response: $resp, id: &str) -> $out {
                let convert: fn($resp, &str) -> $out = $convert;
                convert(response, id)
            }
        }
    };
}

/// An empty acknowledgement. Any fields Relay adds are ignored.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Ack {}

/// `start_interaction`: open an interaction (a channel on the device) named `name`.
///
/// Relay answers, then sends `interaction_lifecycle` `started` and `resumed` events whose
/// `source_uri` is the interaction URN to target with speech, LED and listen actions.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StartInteraction {
    /// Interaction name; it becomes part of the interaction URN.
    pub name: String,
    /// Colour, wanted button events and home-channel behaviour.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub options: Option<InteractionOptions>,
}
impl_request!(StartInteraction, "start_interaction", Ack => (), |_, _| ());

/// Options of [`StartInteraction`].
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct InteractionOptions {
    /// Channel colour as six hex digits, e.g. `"0000ff"`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub color: Option<String>,
    /// Button gestures the interaction wants to receive as button events.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input_types: Option<Vec<InputType>>,
    /// What happens to the home channel meanwhile: `"suspend"` or `"normal"`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub home_channel: Option<String>,
}

/// `end_interaction`: close the interaction (target: the interaction URN).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct EndInteraction {}
impl_request!(EndInteraction, "end_interaction", Ack => (), |_, _| ());

/// The response to `say` and `play`: the playback id.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct PlaybackResponse {
    /// Playback id; prompt events carry it. Relay uses the request's `_id`.
    #[serde(default, deserialize_with = "super::lenient::opt_string")]
    pub id: Option<String>,
}

fn playback_id(response: PlaybackResponse, request_id: &str) -> String {
    response
        .id
        .filter(|id| !id.is_empty())
        .unwrap_or_else(|| request_id.to_owned())
}

/// `say`: text to speech on the target interaction.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Say {
    /// What to say.
    pub text: String,
    /// Voice language.
    pub lang: Lang,
}
impl_request!(Say, "say", PlaybackResponse => String, playback_id);

/// `play`: play an uploaded audio file or a built-in sound such as `relay-static://emergency`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Play {
    /// File name or `relay-static://…` URI.
    pub filename: String,
}
impl_request!(Play, "play", PlaybackResponse => String, playback_id);

/// `listen`: capture speech; the result arrives later as a speech event.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Listen {
    /// Restrict recognition to these phrases (empty: free speech).
    pub phrases: Vec<String>,
    /// `true` for text, `false` for raw audio.
    pub transcribe: bool,
    /// How long the device waits for speech, in seconds.
    pub timeout: u64,
    /// Recognition language.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alt_lang: Option<Lang>,
    /// Equal to the request's `_id`, so the speech event can be matched whichever field the
    /// server honours.
    pub request_id: String,
}
impl_request!(Listen, "listen", Ack => (), |_, _| ());

/// `get_var`: read a workflow variable (registration args are variables too).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GetVar {
    /// Variable name.
    pub name: String,
}
impl_request!(GetVar, "get_var", GetVarResponse => Option<String>, |r, _| r.into_value());

/// The response to [`GetVar`].
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct GetVarResponse {
    /// The value; absent when the variable is not set.
    #[serde(default)]
    pub value: Option<Value>,
}

impl GetVarResponse {
    /// The value as a string: strings as they are, other scalars in their JSON form,
    /// `None` when absent, `null` or empty.
    pub fn into_value(self) -> Option<String> {
        match self.value? {
            Value::Null => None,
            Value::String(s) if s.is_empty() => None,
            Value::String(s) => Some(s),
            other => Some(other.to_string()),
        }
    }
}

/// `set_var`: set a workflow variable for the rest of this instance. Values are strings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SetVar {
    /// Variable name.
    pub name: String,
    /// New value.
    pub value: String,
}
impl_request!(SetVar, "set_var", Ack => (), |_, _| ());

/// `unset_var`: remove a workflow variable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UnsetVar {
    /// Variable name.
    pub name: String,
}
impl_request!(UnsetVar, "unset_var", Ack => (), |_, _| ());

/// `terminate`: end this workflow instance. Relay sends no response; it sends the stop
/// event and closes the connection.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Terminate {}
impl_request!(Terminate, "terminate", Ack => (), |_, _| ());

impl Listen {
    /// The response wait: at least the default, and as long as the device listens.
    pub(crate) fn response_wait(&self) -> Duration {
        DEFAULT_TIMEOUT.max(Duration::from_secs(self.timeout))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::encode_request;
    use serde_json::{json, Value};

    fn frame<R: Request>(r: &R) -> Value {
        serde_json::from_str(&encode_request("id1", None, r).unwrap()).unwrap()
    }

    #[test]
    fn exact_payloads() {
        assert_eq!(
            frame(&Say {
                text: "Hi".into(),
                lang: Lang::default()
            }),
            json!({"_id":"id1","_type":"wf_api_say_request","text":"Hi","lang":"en-US"})
        );
        assert_eq!(
            frame(&Play {
                filename: "relay-static://emergency".into()
            }),
            json!({"_id":"id1","_type":"wf_api_play_request","filename":"relay-static://emergency"})
        );
        assert_eq!(
            frame(&Listen {
                phrases: vec![],
                transcribe: true,
                timeout: 60,
                alt_lang: None,
                request_id: "id1".into()
            }),
            json!({"_id":"id1","_type":"wf_api_listen_request","phrases":[],"transcribe":true,
                   "timeout":60,"request_id":"id1"})
        );
        assert_eq!(
            frame(&SetVar {
                name: "n".into(),
                value: "1".into()
            }),
            json!({"_id":"id1","_type":"wf_api_set_var_request","name":"n","value":"1"})
        );
        assert_eq!(
            frame(&UnsetVar { name: "n".into() }),
            json!({"_id":"id1","_type":"wf_api_unset_var_request","name":"n"})
        );
        assert_eq!(
            frame(&EndInteraction {}),
            json!({"_id":"id1","_type":"wf_api_end_interaction_request"})
        );
        assert_eq!(
            frame(&Terminate {}),
            json!({"_id":"id1","_type":"wf_api_terminate_request"})
        );
        assert_eq!(
            frame(&StartInteraction {
                name: "hello".into(),
                options: Some(InteractionOptions {
                    color: Some("0000ff".into()),
                    input_types: Some(vec![InputType::from("action_button_single_tap")]),
                    home_channel: Some("suspend".into()),
                })
            }),
            json!({"_id":"id1","_type":"wf_api_start_interaction_request","name":"hello",
                   "options":{"color":"0000ff","input_types":["action_button_single_tap"],
                              "home_channel":"suspend"}})
        );
    }

    #[test]
    fn outputs() {
        let r: PlaybackResponse = serde_json::from_value(json!({"id":"p1"})).unwrap();
        assert_eq!(Say::output(r, "req"), "p1");
        let r: PlaybackResponse = serde_json::from_value(json!({})).unwrap();
        assert_eq!(Say::output(r, "req"), "req");
        for (v, want) in [
            (json!({"value":"Hi"}), Some("Hi")),
            (json!({}), None),
            (json!({"value":null}), None),
            (json!({"value":""}), None),
            (json!({"value":5}), Some("5")),
            (json!({"value":true}), Some("true")),
        ] {
            let r: GetVarResponse = serde_json::from_value(v).unwrap();
            assert_eq!(GetVar::output(r, "x").as_deref(), want);
        }
        let _: Ack = serde_json::from_value(json!({"anything": [1, 2]})).unwrap();
    }

    #[test]
    fn listen_waits_at_least_as_long_as_the_device() {
        let l = |t| Listen {
            phrases: vec![],
            transcribe: true,
            timeout: t,
            alt_lang: None,
            request_id: String::new(),
        };
        assert_eq!(l(1).response_wait(), DEFAULT_TIMEOUT);
        assert_eq!(l(60).response_wait(), Duration::from_secs(60));
    }
}
