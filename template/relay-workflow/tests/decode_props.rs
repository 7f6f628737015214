//! Property tests of the frame and event decoders: no input panics them, and every event
//! they accept survives a trip through its wire form.

use proptest::prelude::*;
use relay_workflow::protocol::{decode_frame, Event, Incoming};
use serde_json::{Map, Value};

/// Every `_type` the SDK knows, an alias, and a few it does not.
const TYPES: &[&str] = &[
    "wf_api_start_event",
    "wf_api_stop_event",
    "wf_api_interaction_lifecycle_event",
    "wf_api_prompt_event",
    "wf_api_button_event",
    "wf_api_timer_event",
    "wf_api_timer_fired_event",
    "wf_api_notification_event",
    "wf_api_incident_event",
    "wf_api_speech_event",
    "wf_api_progress_event",
    "wf_api_call_start_request_event",
    "wf_api_call_received_event",
    "wf_api_call_ringing_event",
    "wf_api_call_progressing_event",
    "wf_api_call_connected_event",
    "wf_api_call_disconnected_event",
    "wf_api_call_failed_event",
    "wf_api_sms_event",
    "wf_api_play_inbox_messages_event",
    "wf_api_play_inbox_message_event",
    "wf_api_resume_event",
    "wf_api_audio_event",
    "wf_api_error_response",
    "wf_api_say_response",
    "wf_api_get_device_info_response",
    "wf_api_brand_new_event",
    "",
];

/// Field names the events use, so that generated objects reach the typed decoders.
const FIELDS: &[&str] = &[
    "_id",
    "source_uri",
    "trigger",
    "type",
    "args",
    "reason",
    "id",
    "text",
    "request_id",
    "audio",
    "lang",
    "button",
    "taps",
    "name",
    "event",
    "notification_state",
    "acknowledged",
    "created",
    "error",
    "phrase",
    "spillover",
    "call_id",
    "direction",
    "device_id",
    "uri",
    "onnet",
    "start_time_epoch",
    "connect_time_epoch",
    "end_time_epoch",
    "incident_id",
    "message",
    "from",
    "to",
];

const URNS: &[&str] = &[
    "urn:relay-resource:name:device:Bob",
    "urn:relay-resource:id:device:990007560023456",
    "urn:relay-resource:name:interaction:hello?device=urn%3Arelay-resource%3Aname%3Adevice%3ABob",
    "urn:relay-resource:name:interaction:hello?device=",
    "urn:relay-resource:",
    "urn:",
];

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(FIELDS).prop_map(str::to_owned),
        1 => ".{0,8}",
    ]
}

/// Leaves of generated JSON. Any finite float when `wild`; otherwise floats with few
/// digits, because serde_json's default float parser is not correctly rounded for long
/// mantissas (a parse-print-parse trip may move the last bit), which is not the SDK's concern.
fn leaf(wild: bool) -> impl Strategy<Value = Value> {
    let float = if wild {
        any::<f64>()
            .prop_filter("JSON has no NaN or infinity", |f| f.is_finite())
            .boxed()
    } else {
        any::<i32>().prop_map(|n| f64::from(n) / 1000.0).boxed()
    };
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        float.prop_map(Value::from),
        ".{0,16}".prop_map(Value::from),
        prop::sample::select(URNS).prop_map(Value::from),
        prop::sample::select(
            &[
                "started", "stopped", "ended", "failed", "normal", "single", "double", "action",
                "channel", "en-US", "1", "2", "3"
            ][..]
        )
        .prop_map(Value::from),
    ]
}

fn json(wild: bool) -> impl Strategy<Value = Value> {
    leaf(wild).prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map(key(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A JSON object with a `_type` (usually a known one) and fields from the events' vocabulary.
fn frame_object(wild: bool) -> impl Strategy<Value = Map<String, Value>> {
    (
        prop::sample::select(TYPES),
        prop::collection::btree_map(key(), json(wild), 0..8),
    )
        .prop_map(|(kind, fields)| {
            let mut object: Map<String, Value> = fields.into_iter().collect();
            object.insert("_type".into(), Value::from(kind));
            object
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_panics(text in any::<String>()) {
        let _ = decode_frame(&text);
    }

    #[test]
    fn arbitrary_json_never_panics(value in json(true)) {
        let _ = decode_frame(&value.to_string());
    }

    #[test]
    fn event_shaped_objects_never_panic(object in frame_object(true)) {
        let kind = object.get("_type").and_then(Value::as_str).unwrap_or_default().to_owned();
        let _ = Event::decode(&kind, object.clone());
        let _ = decode_frame(&Value::Object(object).to_string());
    }

    #[test]
    fn accepted_events_survive_their_wire_form(object in frame_object(false)) {
        let text = Value::Object(object).to_string();
        if let Ok(Incoming::Event(event)) = decode_frame(&text) {
            let again = event.to_json().to_string();
            match decode_frame(&again) {
                Ok(Incoming::Event(back)) => prop_assert_eq!(back, event, "wire form: {}", again),
                other => prop_assert!(false, "{} decoded from {} but its wire form {} gave {:?}", event.name(), text, again, other),
            }
        }
    }
}
