//! Events: messages the Relay server sends on its own (spec §5).
//!
//! Every event is a JSON object whose `_type` is `wf_api_<name>_event`, with the payload
//! fields next to `_type` (not nested). [`Event::decode`] turns such an object into a typed
//! [`Event`]; [`Event::to_json`] does the reverse.
//!
//! Decoding is tolerant, as the spec requires: missing fields take their defaults (an empty
//! string, an empty list, `None`, or an enum's `Other("")`), a JSON `null` counts as missing,
//! unknown fields are ignored, strings may arrive as arrays of character codes (spec §2.8), and
//! call events accept numbers or strings for epochs and booleans or strings for `onnet`
//! (spec §5.12). A field of a known event that has an impossible JSON type (a number where a
//! string belongs, say) is an error rather than a silently dropped value.
//!
//! Encoding never emits `null`: absent optional fields are left out.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, DeserializeOwned, Deserializer, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::enums::{
    ButtonKind, CallDirection, IncidentEventType, Lang, LifecycleType, NotificationEventKind,
    PlayInboxAction, PromptType, StopReason, Taps, TriggerType,
};
use super::lenient;
use crate::urn::Urn;

// ---------------------------------------------------------------------------------------------
// Tolerant field decoders
// ---------------------------------------------------------------------------------------------

/// `deserialize_with` helpers for event fields.
mod tolerant {
    use super::*;

    /// A string that may be sent as character codes; `null` becomes `""`.
    pub(super) fn string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
        lenient::opt_string(d).map(Option::unwrap_or_default)
    }

    /// Any value whose `null` means "use the default".
    pub(super) fn nullable<'de, D, T>(d: D) -> Result<T, D::Error>
    where
        D: Deserializer<'de>,
        T: Deserialize<'de> + Default,
    {
        Option::<T>::deserialize(d).map(Option::unwrap_or_default)
    }

    /// A boolean sent as a JSON boolean or as `"true"`/`"false"` in any letter case.
    pub(super) fn opt_bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Option<bool>;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a boolean or the string \"true\" or \"false\"")
            }

            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
                Ok(Some(v))
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                let v = v.trim();
                if v.eq_ignore_ascii_case("true") {
                    Ok(Some(true))
                } else if v.eq_ignore_ascii_case("false") {
                    Ok(Some(false))
                } else {
                    Err(E::invalid_value(de::Unexpected::Str(v), &self))
                }
            }

            fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(None)
            }

            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(None)
            }

            fn visit_some<D2: Deserializer<'de>>(self, d: D2) -> Result<Self::Value, D2::Error> {
                d.deserialize_any(self)
            }
        }
        d.deserialize_any(V)
    }

    /// Whole seconds since the epoch, sent as a JSON number or a numeric string. A fractional
    /// value is truncated; an empty string counts as missing.
    pub(super) fn opt_epoch<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
        struct V;

        impl V {
            fn float<E: de::Error>(self, v: f64) -> Result<Option<i64>, E> {
                // `i64::MAX as f64` rounds up to 2^63, hence the strict upper bound.
                if v.is_finite() && v >= i64::MIN as f64 && v < i64::MAX as f64 {
                    Ok(Some(v.trunc() as i64))
                } else {
                    Err(E::invalid_value(de::Unexpected::Float(v), &self))
                }
            }
        }

        impl<'de> Visitor<'de> for V {
            type Value = Option<i64>;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an epoch time as a number or a numeric string")
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(Some(v))
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                i64::try_from(v)
                    .map(Some)
                    .map_err(|_| E::invalid_value(de::Unexpected::Unsigned(v), &self))
            }

            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
                self.float(v)
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                let t = v.trim();
                if t.is_empty() {
                    return Ok(None);
                }
                if let Ok(n) = t.parse::<i64>() {
                    return Ok(Some(n));
                }
                match t.parse::<f64>() {
                    Ok(f) => self.float(f),
                    Err(_) => Err(E::invalid_value(de::Unexpected::Str(v), &self)),
                }
            }

            fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(None)
            }

            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(None)
            }

            fn visit_some<D2: Deserializer<'de>>(self, d: D2) -> Result<Self::Value, D2::Error> {
                d.deserialize_any(self)
            }
        }
        d.deserialize_any(V)
    }
}

/// `None` for an absent or empty URN.
fn non_empty(urn: &Urn) -> Option<&Urn> {
    (!urn.as_str().is_empty()).then_some(urn)
}

// ---------------------------------------------------------------------------------------------
// Event payloads
// ---------------------------------------------------------------------------------------------

/// `wf_api_start_event`: the workflow instance was triggered (spec §5.1).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct StartEvent {
    /// What triggered the workflow.
    #[serde(deserialize_with = "tolerant::nullable")]
    pub trigger: Trigger,
}

/// The trigger of a start (or resume) event.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Trigger {
    /// The kind of trigger (`type` on the wire); `Other("")` if Relay sent none.
    #[serde(rename = "type", deserialize_with = "tolerant::nullable")]
    pub kind: TriggerType,
    /// Trigger-specific arguments.
    #[serde(deserialize_with = "tolerant::nullable")]
    pub args: TriggerArgs,
}

impl Trigger {
    /// The triggering device, if the trigger has one (timer triggers may not).
    /// An empty `source_uri` counts as absent.
    pub fn source_uri(&self) -> Option<&Urn> {
        self.args.source_uri.as_ref().and_then(non_empty)
    }
}

/// `trigger.args` of a start event. Which fields are present depends on the trigger type;
/// fields this SDK does not know are kept in [`TriggerArgs::extra`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TriggerArgs {
    /// The device that fired the trigger (a device URN, not an interaction).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_uri: Option<Urn>,
    /// Phrase triggers: the phrase that was matched.
    #[serde(
        deserialize_with = "lenient::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub phrase: Option<String>,
    /// Phrase triggers: the words spoken after the phrase.
    #[serde(
        deserialize_with = "lenient::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub spillover: Option<String>,
    /// Button triggers: `action_button_single_tap`, `action_button_double_tap` or
    /// `action_button_triple_tap`.
    #[serde(
        deserialize_with = "lenient::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub action: Option<String>,
    /// HTTP triggers: the `action_args` posted to the trigger endpoint.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub args: Option<BTreeMap<String, Value>>,
    /// NFC triggers: the tag uid.
    #[serde(
        deserialize_with = "lenient::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub uid: Option<String>,
    /// NFC triggers: the tag content.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nfc_payload: Option<BTreeMap<String, Value>>,
    /// Any other arguments, as received.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `wf_api_stop_event`: the workflow instance is stopping (spec §5.2).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct StopEvent {
    /// Why: `normal` after terminate, `error`, or server-defined text; `Other("")` if
    /// Relay sent none.
    #[serde(deserialize_with = "tolerant::nullable")]
    pub reason: StopReason,
}

/// `wf_api_interaction_lifecycle_event`: an interaction changed state (spec §5.3).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct InteractionLifecycleEvent {
    /// The new state (`type` on the wire).
    #[serde(rename = "type", deserialize_with = "tolerant::nullable")]
    pub kind: LifecycleType,
    /// The interaction URN; the target for interaction actions.
    #[serde(deserialize_with = "tolerant::nullable")]
    pub source_uri: Urn,
    /// Why, for `failed` (and possibly other states).
    #[serde(
        deserialize_with = "lenient::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub reason: Option<String>,
}

/// `wf_api_prompt_event`: progress of a `say` or `play` playback (spec §5.4).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PromptEvent {
    /// The playback id: the `_id` of the `say`/`play` request (= `id` in its response).
    #[serde(deserialize_with = "tolerant::string")]
    pub id: String,
    /// What happened (`type` on the wire).
    #[serde(rename = "type", deserialize_with = "tolerant::nullable")]
    pub kind: PromptType,
    /// The interaction URN.
    #[serde(deserialize_with = "tolerant::nullable")]
    pub source_uri: Urn,
}

/// `wf_api_button_event`: a button was pressed during an interaction (spec §5.5).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ButtonEvent {
    /// Which button.
    #[serde(deserialize_with = "tolerant::nullable")]
    pub button: ButtonKind,
    /// How it was pressed.
    #[serde(deserialize_with = "tolerant::nullable")]
    pub taps: Taps,
    /// The interaction URN.
    #[serde(deserialize_with = "tolerant::nullable")]
    pub source_uri: Urn,
}

/// `wf_api_timer_event`: the unnamed timer (`start_timer`) fired (spec §5.6).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TimerEvent {
    /// A timer name, if Relay sends one (no payload is documented).
    #[serde(
        deserialize_with = "lenient::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub name: Option<String>,
}

/// `wf_api_timer_fired_event`: a named timer (`set_timer`) fired (spec §5.7).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TimerFiredEvent {
    /// The timer name given to `set_timer`.
    #[serde(deserialize_with = "tolerant::string")]
    pub name: String,
}

/// `wf_api_notification_event`: something happened to a notification, typically an
/// acknowledgement (spec §5.8).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct NotificationEvent {
    /// The device that produced the event (e.g. the acknowledging device).
    #[serde(deserialize_with = "tolerant::nullable")]
    pub source_uri: Urn,
    /// The notification name given in the `notification` request.
    #[serde(deserialize_with = "tolerant::string")]
    pub name: String,
    /// What happened.
    #[serde(deserialize_with = "tolerant::nullable")]
    pub event: NotificationEventKind,
    /// Which devices are in which state.
    #[serde(deserialize_with = "tolerant::nullable")]
    pub notification_state: NotificationState,
}

/// `notification_state` of a notification event: devices grouped by state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NotificationState {
    /// Devices that acknowledged.
    #[serde(deserialize_with = "tolerant::nullable")]
    pub acknowledged: Vec<Urn>,
    /// Devices the notification was delivered to.
    #[serde(deserialize_with = "tolerant::nullable")]
    pub created: Vec<Urn>,
    /// Devices where it was cancelled.
    #[serde(deserialize_with = "tolerant::nullable")]
    pub cancelled: Vec<Urn>,
    /// Devices where it timed out.
    #[serde(deserialize_with = "tolerant::nullable")]
    pub timed_out: Vec<Urn>,
}

/// `wf_api_incident_event`: an incident was resolved or cancelled (spec §5.9).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct IncidentEvent {
    /// What happened (`type` on the wire).
    #[serde(rename = "type", deserialize_with = "tolerant::nullable")]
    pub kind: IncidentEventType,
    /// The incident id returned by `create_incident`.
    #[serde(deserialize_with = "tolerant::string")]
    pub incident_id: String,
    /// Why.
    #[serde(
        deserialize_with = "lenient::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub reason: Option<String>,
}

/// `wf_api_speech_event`: the result of a `listen` request (spec §5.10).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SpeechEvent {
    /// The `_id` of the `listen` request that produced it.
    #[serde(deserialize_with = "tolerant::string")]
    pub request_id: String,
    /// The transcription (when `transcribe` was true).
    #[serde(
        deserialize_with = "lenient::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub text: Option<String>,
    /// The recorded audio, base64 (when `transcribe` was false).
    #[serde(
        deserialize_with = "lenient::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub audio: Option<String>,
    /// The language of the transcription.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lang: Option<Lang>,
    /// The interaction URN.
    #[serde(deserialize_with = "tolerant::nullable")]
    pub source_uri: Urn,
}

/// `wf_api_progress_event`: a long-running request is still being processed (spec §2.7).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ProgressEvent {
    /// The `_id` of the pending request (the envelope `_id`).
    #[serde(rename = "_id", deserialize_with = "tolerant::string")]
    pub id: String,
}

/// The payload shared by the seven call events (spec §5.12). Which fields are present
/// depends on the event; all are optional.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CallEvent {
    /// The call id (absent from `call_start_request`).
    #[serde(
        deserialize_with = "lenient::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub call_id: Option<String>,
    /// Direction of the call relative to this device.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub direction: Option<CallDirection>,
    /// Id of the other device.
    #[serde(
        deserialize_with = "lenient::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub device_id: Option<String>,
    /// Name of the other device.
    #[serde(
        deserialize_with = "lenient::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub device_name: Option<String>,
    /// URN or SIP-style URI of the other party (the callee for `call_start_request`).
    #[serde(
        deserialize_with = "lenient::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub uri: Option<String>,
    /// Whether the other party is Relay-hosted. Accepts a JSON boolean or a
    /// `"true"`/`"false"` string in any letter case.
    #[serde(
        deserialize_with = "tolerant::opt_bool",
        skip_serializing_if = "Option::is_none"
    )]
    pub onnet: Option<bool>,
    /// When the call was requested, in seconds since the Unix epoch. Accepts a JSON number
    /// or a numeric string.
    #[serde(
        deserialize_with = "tolerant::opt_epoch",
        skip_serializing_if = "Option::is_none"
    )]
    pub start_time_epoch: Option<i64>,
    /// When the call connected, in seconds since the Unix epoch (number or numeric string).
    #[serde(
        deserialize_with = "tolerant::opt_epoch",
        skip_serializing_if = "Option::is_none"
    )]
    pub connect_time_epoch: Option<i64>,
    /// When the call ended, in seconds since the Unix epoch (number or numeric string).
    #[serde(
        deserialize_with = "tolerant::opt_epoch",
        skip_serializing_if = "Option::is_none"
    )]
    pub end_time_epoch: Option<i64>,
    /// Why the call ended or failed.
    #[serde(
        deserialize_with = "lenient::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub reason: Option<String>,
}

/// `wf_api_sms_event` (spec §5.13; payload "TBD" in every SDK).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SmsEvent {
    /// The message id.
    #[serde(deserialize_with = "tolerant::string")]
    pub id: String,
    /// What happened to the message.
    #[serde(deserialize_with = "tolerant::string")]
    pub event: String,
}

/// The play-inbox event: the result of `play_inbox_messages` (spec §5.13).
///
/// Decoded from both `wf_api_play_inbox_messages_event` and
/// `wf_api_play_inbox_message_event`; encoded with the plural spelling.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PlayInboxMessagesEvent {
    /// `complete` or `error`.
    #[serde(deserialize_with = "tolerant::nullable")]
    pub action: PlayInboxAction,
}

/// `wf_api_resume_event` (spec §5.13; payload "TBD").
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ResumeEvent {
    /// The trigger, if sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trigger: Option<Trigger>,
}

/// `wf_api_audio_event` (spec §5.13; payload undocumented).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AudioEvent {
    /// Every field of the message except `_type`, as received.
    #[serde(flatten)]
    pub fields: Map<String, Value>,
}

/// An event whose `_type` this SDK does not know, kept as received.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UnknownEvent {
    /// The wire `_type`.
    pub event_type: String,
    /// The whole JSON object as received, `_type` included.
    pub raw: Map<String, Value>,
}

impl UnknownEvent {
    /// The name part of `_type`: `"foo"` for `"wf_api_foo_event"`; other strings lose only
    /// a leading `wf_api_` if present.
    pub fn name(&self) -> &str {
        let t = self.event_type.as_str();
        let t = t.strip_prefix("wf_api_").unwrap_or(t);
        t.strip_suffix("_event").unwrap_or(t)
    }
}

// ---------------------------------------------------------------------------------------------
// The event table
// ---------------------------------------------------------------------------------------------

/// Every event this SDK knows, each named in this one place. A row reads
///
/// ```text
/// /// what the event is (the doc of its `Event` variant)
/// Variant(Payload) = "wire _type" | "another accepted spelling" => "short name"
///     /// when the handler runs (the doc of its `Workflow` method)
///     fn on_variant;
/// ```
///
/// The spellings after `|` are optional, and so is the handler: an event without `fn` never
/// reaches a handler (progress events only restart the clock of a pending request).
/// `event_table!(callback)` hands the rows to `callback!`: `define_events!` below builds
/// [`Event`], [`EventKind`], the decoder, the encoder and the names from them, and
/// `workflow.rs` builds the `Workflow::on_*` registration methods. The unknown event (any
/// other `_type`) is no row: each callback adds it.
macro_rules! event_table {
    ($callback:ident) => {
        $callback! {
            /// `wf_api_start_event`.
            Start(StartEvent) = "wf_api_start_event" => "start"
                /// The workflow was triggered; the event says how and by which device.
                fn on_start;
            /// `wf_api_stop_event`.
            Stop(StopEvent) = "wf_api_stop_event" => "stop"
                /// The instance is over (after terminate, an error, or the user leaving the
                /// channel).
                fn on_stop;
            /// `wf_api_interaction_lifecycle_event`.
            InteractionLifecycle(InteractionLifecycleEvent)
                = "wf_api_interaction_lifecycle_event" => "interaction_lifecycle"
                /// Every interaction lifecycle change without a more specific handler
                /// (`on_interaction_started` and friends take precedence for their type).
                fn on_interaction_lifecycle;
            /// `wf_api_prompt_event`.
            Prompt(PromptEvent) = "wf_api_prompt_event" => "prompt"
                /// A say or play started, stopped or failed.
                fn on_prompt;
            /// `wf_api_button_event`.
            Button(ButtonEvent) = "wf_api_button_event" => "button"
                /// The Talk (action) or channel button was pressed during an interaction.
                fn on_button;
            /// `wf_api_timer_event`.
            Timer(TimerEvent) = "wf_api_timer_event" => "timer"
                /// The unnamed timer (`start_timer`) fired.
                fn on_timer;
            /// `wf_api_timer_fired_event`.
            TimerFired(TimerFiredEvent) = "wf_api_timer_fired_event" => "timer_fired"
                /// A named timer (`set_timer`) fired.
                fn on_timer_fired;
            /// `wf_api_notification_event`.
            Notification(NotificationEvent) = "wf_api_notification_event" => "notification"
                /// A notification changed state (for example, a device acknowledged an alert).
                fn on_notification;
            /// `wf_api_incident_event`.
            Incident(IncidentEvent) = "wf_api_incident_event" => "incident"
                /// An incident was resolved or cancelled.
                fn on_incident;
            /// `wf_api_speech_event`.
            Speech(SpeechEvent) = "wf_api_speech_event" => "speech"
                /// Speech arrived that no `listen` call is waiting for.
                fn on_speech;
            /// `wf_api_progress_event` (carries the `_id` of a pending request).
            Progress(ProgressEvent) = "wf_api_progress_event" => "progress";
            /// `wf_api_call_start_request_event`: the device asked to place a call.
            CallStartRequest(CallEvent) = "wf_api_call_start_request_event" => "call_start_request"
                /// A device asked to place a call.
                fn on_call_start_request;
            /// `wf_api_call_received_event`: an inbound call is offered to the device.
            CallReceived(CallEvent) = "wf_api_call_received_event" => "call_received"
                /// An inbound call is offered to the device.
                fn on_call_received;
            /// `wf_api_call_ringing_event`: the callee is ringing.
            CallRinging(CallEvent) = "wf_api_call_ringing_event" => "call_ringing"
                /// The callee is ringing.
                fn on_call_ringing;
            /// `wf_api_call_progressing_event`: the call is progressing.
            CallProgressing(CallEvent) = "wf_api_call_progressing_event" => "call_progressing"
                /// The call is progressing.
                fn on_call_progressing;
            /// `wf_api_call_connected_event`: the call connected.
            CallConnected(CallEvent) = "wf_api_call_connected_event" => "call_connected"
                /// The call connected.
                fn on_call_connected;
            /// `wf_api_call_disconnected_event`: a connected call ended.
            CallDisconnected(CallEvent) = "wf_api_call_disconnected_event" => "call_disconnected"
                /// A connected call ended.
                fn on_call_disconnected;
            /// `wf_api_call_failed_event`: the call never connected.
            CallFailed(CallEvent) = "wf_api_call_failed_event" => "call_failed"
                /// A call never connected.
                fn on_call_failed;
            /// `wf_api_sms_event`.
            Sms(SmsEvent) = "wf_api_sms_event" => "sms"
                /// An SMS event.
                fn on_sms;
            /// `wf_api_play_inbox_messages_event` (also accepted as
            /// `wf_api_play_inbox_message_event`).
            PlayInboxMessages(PlayInboxMessagesEvent)
                = "wf_api_play_inbox_messages_event" | "wf_api_play_inbox_message_event"
                => "play_inbox_messages"
                /// Inbox playback completed or failed.
                fn on_play_inbox_messages;
            /// `wf_api_resume_event`.
            Resume(ResumeEvent) = "wf_api_resume_event" => "resume"
                /// The instance was resumed.
                fn on_resume;
            /// `wf_api_audio_event`.
            Audio(AudioEvent) = "wf_api_audio_event" => "audio"
                /// An audio event (payload undocumented by Relay).
                fn on_audio;
        }
    };
}
pub(crate) use event_table;

/// Builds [`Event`], [`EventKind`], [`KNOWN_EVENT_TYPES`] and the decoding, encoding and
/// naming of events from the rows of [`event_table!`].
macro_rules! define_events {
    ($(
        $(#[$doc:meta])*
        $variant:ident($payload:ty) = $wire:literal $(| $alias:literal)* => $name:literal
            $( $(#[$handler_doc:meta])* fn $handler:ident )?;
    )*) => {
        /// An event sent by the Relay server.
        #[derive(Debug, Clone, PartialEq)]
        #[non_exhaustive]
        pub enum Event {
            $( $(#[$doc])* $variant($payload), )*
            /// Any other `_type`, kept as received.
            Unknown(UnknownEvent),
        }

        /// What kind of event an [`Event`] is, without its payload: cheap to copy and to
        /// compare. Handlers are registered and found by kind.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[non_exhaustive]
        pub enum EventKind {
            $( #[doc = concat!("`", $wire, "`.")] $variant, )*
            /// Any `_type` this SDK does not know.
            Unknown,
        }

        /// Every `_type` that [`Event::decode`] maps to a typed variant (anything else becomes
        /// [`Event::Unknown`]). Both spellings of the play-inbox event are listed.
        pub const KNOWN_EVENT_TYPES: &[&str] = &[$( $wire, $($alias,)* )*];

        impl EventKind {
            /// Every kind, in the order of [`Event`]'s variants ([`EventKind::Unknown`] last).
            pub const ALL: &'static [EventKind] = &[$( EventKind::$variant, )* EventKind::Unknown];

            /// The number of kinds.
            pub const COUNT: usize = Self::ALL.len();

            /// The wire `_type` that events of this kind are sent with (the plural spelling
            /// for the play-inbox event); `None` for [`EventKind::Unknown`].
            pub const fn event_type(self) -> Option<&'static str> {
                match self {
                    $( EventKind::$variant => Some($wire), )*
                    EventKind::Unknown => None,
                }
            }

            /// The short name, e.g. `"prompt"`; `"unknown"` for [`EventKind::Unknown`].
            pub const fn name(self) -> &'static str {
                match self {
                    $( EventKind::$variant => $name, )*
                    EventKind::Unknown => "unknown",
                }
            }

            /// The kind of a wire `_type` (either spelling of the play-inbox event); `None`
            /// for a `_type` this SDK does not know.
            pub fn from_event_type(event_type: &str) -> Option<EventKind> {
                match event_type {
                    $( $wire $(| $alias)* => Some(EventKind::$variant), )*
                    _ => None,
                }
            }

            /// The kind with this short name ([`EventKind::name`]), `"unknown"` included.
            pub fn from_name(name: &str) -> Option<EventKind> {
                match name {
                    $( $name => Some(EventKind::$variant), )*
                    "unknown" => Some(EventKind::Unknown),
                    _ => None,
                }
            }

            /// A number from 0 to [`COUNT`](Self::COUNT) − 1, in the order of
            /// [`ALL`](Self::ALL): an index into a table with one entry per kind.
            pub const fn index(self) -> usize {
                self as usize
            }
        }

        impl Event {
            /// Decode an event from its wire `_type` and the whole JSON object, which may still
            /// contain `_type` and `_id`.
            ///
            /// An unknown `_type` gives `Ok(Event::Unknown)` with the object kept as it is. A
            /// known `_type` whose fields have impossible JSON types is an error; missing
            /// fields, `null`s and unknown fields are tolerated.
            ///
            /// # Errors
            ///
            /// [`EventDecodeError`] when `event_type` is known and a field has an impossible
            /// JSON type or value (for example a number for a button's `taps`).
            pub fn decode(
                event_type: &str,
                object: Map<String, Value>,
            ) -> Result<Event, EventDecodeError> {
                let t = event_type;
                Ok(match t {
                    $( $wire $(| $alias)* => Event::$variant(decode_as(t, object)?), )*
                    _ => Event::Unknown(UnknownEvent {
                        event_type: t.to_owned(),
                        raw: object,
                    }),
                })
            }

            /// The kind of this event.
            pub const fn kind(&self) -> EventKind {
                match self {
                    $( Event::$variant(_) => EventKind::$variant, )*
                    Event::Unknown(_) => EventKind::Unknown,
                }
            }

            /// The payload of a known event as a JSON object, without `_type`; the raw
            /// object of an unknown event.
            fn payload_json(&self) -> Map<String, Value> {
                match self {
                    $( Event::$variant(e) => object_of(e), )*
                    Event::Unknown(u) => u.raw.clone(),
                }
            }
        }
    };
}

event_table!(define_events);

impl fmt::Display for EventKind {
    /// The short name ([`EventKind::name`]).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A known event `_type` whose fields could not be decoded.
#[derive(Debug, thiserror::Error)]
#[error("cannot decode {event_type}: {source}")]
pub struct EventDecodeError {
    /// The wire `_type` of the message.
    pub event_type: String,
    /// What was wrong with it.
    #[source]
    pub source: serde_json::Error,
}

/// Why a text frame could not be turned into an [`Event`] by [`Event::from_json_str`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EventParseError {
    /// The frame is not valid JSON.
    #[error("invalid JSON: {0}")]
    Json(#[source] serde_json::Error),
    /// The frame is valid JSON but not an object.
    #[error("message is not a JSON object")]
    NotAnObject,
    /// The object has no `_type`, or its `_type` is not a string.
    #[error("message has no string `_type`")]
    MissingType,
    /// The `_type` is known but the fields do not fit it.
    #[error(transparent)]
    Decode(#[from] EventDecodeError),
}

/// Decode `object` (without `_type`) as `T`.
fn decode_as<T: DeserializeOwned>(
    event_type: &str,
    mut object: Map<String, Value>,
) -> Result<T, EventDecodeError> {
    object.remove("_type");
    T::deserialize(Value::Object(object)).map_err(|source| EventDecodeError {
        event_type: event_type.to_owned(),
        source,
    })
}

/// The JSON object a payload serializes to.
fn object_of<T: Serialize>(payload: &T) -> Map<String, Value> {
    // Payloads are structs of strings, numbers, booleans and string-keyed maps, so they
    // always serialize to an object.
    match serde_json::to_value(payload) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    }
}

impl Event {
    /// Parse a whole text frame: a JSON object with a string `_type`, decoded with
    /// [`Event::decode`].
    ///
    /// # Errors
    ///
    /// [`EventParseError`] when the text is not JSON, not an object, has no string `_type`,
    /// or does not decode as its (known) type.
    pub fn from_json_str(s: &str) -> Result<Event, EventParseError> {
        let Value::Object(object) = serde_json::from_str(s).map_err(EventParseError::Json)? else {
            return Err(EventParseError::NotAnObject);
        };
        let event_type = match object.get("_type") {
            Some(Value::String(t)) => t.clone(),
            _ => return Err(EventParseError::MissingType),
        };
        Ok(Event::decode(&event_type, object)?)
    }

    /// The wire `_type`, e.g. `"wf_api_prompt_event"`. The play-inbox event reports the
    /// plural spelling whichever one it arrived with.
    pub fn event_type(&self) -> &str {
        match self {
            Event::Unknown(u) => &u.event_type,
            known => known.kind().event_type().unwrap_or_default(),
        }
    }

    /// The short name, e.g. `"prompt"`; for an unknown event, the name part of its `_type`
    /// (see [`UnknownEvent::name`]).
    pub fn name(&self) -> &str {
        match self {
            Event::Unknown(u) => u.name(),
            known => known.kind().name(),
        }
    }

    /// The event as a wire JSON object: `_type` (and `_id` for progress) next to the payload
    /// fields, with no `null`s. An unknown event gives back its raw object (with `_type`
    /// added if it had none).
    pub fn to_json(&self) -> Value {
        let mut map = self.payload_json();
        let event_type = Value::String(self.event_type().to_owned());
        match self {
            Event::Unknown(_) => {
                map.entry("_type").or_insert(event_type);
            }
            _ => {
                map.insert("_type".to_owned(), event_type);
            }
        }
        Value::Object(map)
    }

    /// The URN the event came from, where it has one: the triggering device for start (and
    /// resume), the interaction for lifecycle, prompt, button and speech events, the device
    /// for notification events. `None` for other events and when the URN is absent or empty.
    pub fn source_uri(&self) -> Option<&Urn> {
        match self {
            Event::Start(e) => e.trigger.source_uri(),
            Event::Resume(e) => e.trigger.as_ref().and_then(Trigger::source_uri),
            Event::InteractionLifecycle(e) => non_empty(&e.source_uri),
            Event::Prompt(e) => non_empty(&e.source_uri),
            Event::Button(e) => non_empty(&e.source_uri),
            Event::Notification(e) => non_empty(&e.source_uri),
            Event::Speech(e) => non_empty(&e.source_uri),
            _ => None,
        }
    }

    /// The payload of any of the seven call events.
    pub fn as_call(&self) -> Option<&CallEvent> {
        match self {
            Event::CallStartRequest(e)
            | Event::CallReceived(e)
            | Event::CallRinging(e)
            | Event::CallProgressing(e)
            | Event::CallConnected(e)
            | Event::CallDisconnected(e)
            | Event::CallFailed(e) => Some(e),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const BOB: &str = "urn:relay-resource:name:device:Bob";
    const INTERACTION: &str = "urn:relay-resource:name:interaction:hello?device=urn%3Arelay-resource%3Aname%3Adevice%3ABob";

    /// Decode a frame, check that it re-encodes to the same JSON, and return it.
    fn round_trip(frame: &str) -> Event {
        let event = Event::from_json_str(frame).unwrap();
        let original: Value = serde_json::from_str(frame).unwrap();
        assert_eq!(event.to_json(), original, "round trip of {frame}");
        assert_eq!(
            Event::from_json_str(&event.to_json().to_string()).unwrap(),
            event
        );
        event
    }

    fn call(event: &Event) -> &CallEvent {
        event.as_call().unwrap()
    }

    // ---- one test per event type, frames from Appendix A where it has them ----

    #[test]
    fn start_phrase() {
        let e = round_trip(
            r#"{"_type":"wf_api_start_event","trigger":{"type":"phrase","args":{"phrase":"hello","spillover":"","source_uri":"urn:relay-resource:name:device:Bob"}}}"#,
        );
        let Event::Start(start) = &e else {
            panic!("{e:?}")
        };
        assert_eq!(start.trigger.kind, TriggerType::Phrase);
        assert_eq!(start.trigger.args.phrase.as_deref(), Some("hello"));
        assert_eq!(start.trigger.args.spillover.as_deref(), Some(""));
        assert_eq!(start.trigger.source_uri().unwrap(), BOB);
        assert_eq!(e.source_uri().unwrap(), BOB);
        assert_eq!(e.event_type(), "wf_api_start_event");
        assert_eq!(e.name(), "start");
    }

    #[test]
    fn start_button() {
        let e = round_trip(
            r#"{"_type":"wf_api_start_event","trigger":{"type":"button","args":{"action":"action_button_double_tap","source_uri":"urn:relay-resource:id:device:990007560023456"}}}"#,
        );
        let Event::Start(start) = &e else {
            panic!("{e:?}")
        };
        assert_eq!(start.trigger.kind, TriggerType::Button);
        assert_eq!(
            start.trigger.args.action.as_deref(),
            Some("action_button_double_tap")
        );
        assert_eq!(
            e.source_uri().unwrap(),
            "urn:relay-resource:id:device:990007560023456"
        );
    }

    #[test]
    fn start_http() {
        let e = round_trip(
            r#"{"_type":"wf_api_start_event","trigger":{"type":"http","args":{"args":{"order":"42"},"source_uri":"urn:relay-resource:id:device:990007560023456"}}}"#,
        );
        let Event::Start(start) = &e else {
            panic!("{e:?}")
        };
        assert_eq!(start.trigger.kind, TriggerType::Http);
        let args = start.trigger.args.args.as_ref().unwrap();
        assert_eq!(args["order"], json!("42"));
    }

    #[test]
    fn start_nfc() {
        let e = round_trip(
            r#"{"_type":"wf_api_start_event","trigger":{"type":"nfc","args":{"uid":"04A1B2","nfc_payload":{"category":"room","label":"213"},"source_uri":"urn:relay-resource:name:device:Bob"}}}"#,
        );
        let Event::Start(start) = &e else {
            panic!("{e:?}")
        };
        assert_eq!(start.trigger.kind, TriggerType::Nfc);
        assert_eq!(start.trigger.args.uid.as_deref(), Some("04A1B2"));
        let payload = start.trigger.args.nfc_payload.as_ref().unwrap();
        assert_eq!(payload["label"], json!("213"));
        assert!(start.trigger.args.extra.is_empty());
    }

    #[test]
    fn start_keeps_unknown_trigger_args_and_types() {
        let e = round_trip(
            r#"{"_type":"wf_api_start_event","trigger":{"type":"battery","args":{"level":15,"latlong":[35.7,-78.6]}}}"#,
        );
        let Event::Start(start) = &e else {
            panic!("{e:?}")
        };
        assert_eq!(start.trigger.kind, TriggerType::Other("battery".into()));
        assert_eq!(start.trigger.args.extra["level"], json!(15));
        assert_eq!(start.trigger.args.extra["latlong"], json!([35.7, -78.6]));
        assert_eq!(e.source_uri(), None);
    }

    #[test]
    fn start_other_trigger_type() {
        let e =
            round_trip(r#"{"_type":"wf_api_start_event","trigger":{"type":"other","args":{}}}"#);
        let Event::Start(start) = &e else {
            panic!("{e:?}")
        };
        assert_eq!(start.trigger.kind, TriggerType::OtherTrigger);
    }

    #[test]
    fn stop() {
        let e = round_trip(r#"{"_type":"wf_api_stop_event","reason":"normal"}"#);
        assert_eq!(
            e,
            Event::Stop(StopEvent {
                reason: StopReason::Normal
            })
        );
        assert_eq!(e.name(), "stop");
        assert_eq!(e.source_uri(), None);
    }

    #[test]
    fn interaction_lifecycle_started() {
        let e = round_trip(
            r#"{"_type":"wf_api_interaction_lifecycle_event","type":"started","source_uri":"urn:relay-resource:name:interaction:hello?device=urn%3Arelay-resource%3Aname%3Adevice%3ABob"}"#,
        );
        let Event::InteractionLifecycle(l) = &e else {
            panic!("{e:?}")
        };
        assert_eq!(l.kind, LifecycleType::Started);
        assert_eq!(l.source_uri, INTERACTION);
        assert_eq!(l.reason, None);
        assert_eq!(e.source_uri().unwrap(), INTERACTION);
        assert_eq!(e.name(), "interaction_lifecycle");
    }

    #[test]
    fn interaction_lifecycle_failed() {
        let e = round_trip(
            r#"{"_type":"wf_api_interaction_lifecycle_event","type":"failed","reason":"…","source_uri":"urn:relay-resource:name:interaction:hello?device=urn%3Arelay-resource%3Aname%3Adevice%3ABob"}"#,
        );
        let Event::InteractionLifecycle(l) = &e else {
            panic!("{e:?}")
        };
        assert_eq!(l.kind, LifecycleType::Failed);
        assert_eq!(l.reason.as_deref(), Some("…"));
    }

    #[test]
    fn prompt() {
        let e = round_trip(
            r#"{"_type":"wf_api_prompt_event","id":"a1b2","type":"stopped","source_uri":"urn:relay-resource:name:interaction:hello?device=urn%3Arelay-resource%3Aname%3Adevice%3ABob"}"#,
        );
        let Event::Prompt(p) = &e else {
            panic!("{e:?}")
        };
        assert_eq!(p.id, "a1b2");
        assert_eq!(p.kind, PromptType::Stopped);
        assert_eq!(p.source_uri, INTERACTION);
        assert_eq!(e.event_type(), "wf_api_prompt_event");
        assert_eq!(e.name(), "prompt");
    }

    #[test]
    fn button() {
        let e = round_trip(
            r#"{"_type":"wf_api_button_event","button":"action","taps":"single","source_uri":"urn:relay-resource:name:interaction:hello?device=urn%3Arelay-resource%3Aname%3Adevice%3ABob"}"#,
        );
        let Event::Button(b) = &e else {
            panic!("{e:?}")
        };
        assert_eq!(b.button, ButtonKind::Action);
        assert_eq!(b.taps, Taps::Single);
        assert_eq!(e.source_uri().unwrap(), INTERACTION);
    }

    #[test]
    fn timer() {
        let e = round_trip(r#"{"_type":"wf_api_timer_event"}"#);
        assert_eq!(e, Event::Timer(TimerEvent { name: None }));
        assert_eq!(e.name(), "timer");
        let e = round_trip(r#"{"_type":"wf_api_timer_event","name":"t"}"#);
        assert_eq!(
            e,
            Event::Timer(TimerEvent {
                name: Some("t".into())
            })
        );
    }

    #[test]
    fn timer_fired() {
        let e = round_trip(r#"{"_type":"wf_api_timer_fired_event","name":"reminder"}"#);
        assert_eq!(
            e,
            Event::TimerFired(TimerFiredEvent {
                name: "reminder".into()
            })
        );
        assert_eq!(e.name(), "timer_fired");
    }

    #[test]
    fn notification() {
        let e = round_trip(
            r#"{"_type":"wf_api_notification_event","source_uri":"urn:relay-resource:name:device:Ann","name":"cleanup_alert","event":"ack_event","notification_state":{"acknowledged":["urn:relay-resource:name:device:Ann"],"created":["urn:relay-resource:name:device:Ann","urn:relay-resource:name:device:Joe"],"cancelled":[],"timed_out":[]}}"#,
        );
        let Event::Notification(n) = &e else {
            panic!("{e:?}")
        };
        assert_eq!(n.name, "cleanup_alert");
        assert_eq!(n.event, NotificationEventKind::AckEvent);
        assert_eq!(
            n.notification_state.acknowledged,
            vec![Urn::from_string_unchecked(
                "urn:relay-resource:name:device:Ann"
            )]
        );
        assert_eq!(n.notification_state.created.len(), 2);
        assert!(n.notification_state.cancelled.is_empty());
        assert!(n.notification_state.timed_out.is_empty());
        assert_eq!(
            e.source_uri().unwrap(),
            "urn:relay-resource:name:device:Ann"
        );
    }

    #[test]
    fn incident() {
        let e = round_trip(
            r#"{"_type":"wf_api_incident_event","type":"resolved","incident_id":"inc_123","reason":"handled"}"#,
        );
        assert_eq!(
            e,
            Event::Incident(IncidentEvent {
                kind: IncidentEventType::Resolved,
                incident_id: "inc_123".into(),
                reason: Some("handled".into()),
            })
        );
        let e = round_trip(
            r#"{"_type":"wf_api_incident_event","type":"cancelled","incident_id":"inc_124"}"#,
        );
        let Event::Incident(i) = &e else {
            panic!("{e:?}")
        };
        assert_eq!(i.kind, IncidentEventType::Cancelled);
        assert_eq!(i.reason, None);
    }

    #[test]
    fn speech_text() {
        let e = round_trip(
            r#"{"_type":"wf_api_speech_event","request_id":"c3d4","text":"my name is Bob","lang":"en-US","source_uri":"urn:relay-resource:name:interaction:hello?device=urn%3Arelay-resource%3Aname%3Adevice%3ABob"}"#,
        );
        let Event::Speech(s) = &e else {
            panic!("{e:?}")
        };
        assert_eq!(s.request_id, "c3d4");
        assert_eq!(s.text.as_deref(), Some("my name is Bob"));
        assert_eq!(s.audio, None);
        assert_eq!(s.lang, Some(Lang::EnUs));
        assert_eq!(e.source_uri().unwrap(), INTERACTION);
    }

    #[test]
    fn speech_audio() {
        let e = round_trip(
            r#"{"_type":"wf_api_speech_event","request_id":"c3d5","audio":"<base64>","source_uri":"…"}"#,
        );
        let Event::Speech(s) = &e else {
            panic!("{e:?}")
        };
        assert_eq!(s.audio.as_deref(), Some("<base64>"));
        assert_eq!(s.text, None);
        assert_eq!(s.lang, None);
    }

    #[test]
    fn progress() {
        let e = round_trip(r#"{"_id":"e5f6","_type":"wf_api_progress_event"}"#);
        assert_eq!(e, Event::Progress(ProgressEvent { id: "e5f6".into() }));
        assert_eq!(e.name(), "progress");
    }

    #[test]
    fn call_start_request() {
        let e = round_trip(
            r#"{"_type":"wf_api_call_start_request_event","uri":"urn:relay-resource:name:device:Ann"}"#,
        );
        assert!(matches!(e, Event::CallStartRequest(_)));
        assert_eq!(
            call(&e),
            &CallEvent {
                uri: Some("urn:relay-resource:name:device:Ann".into()),
                ..CallEvent::default()
            }
        );
        assert_eq!(e.name(), "call_start_request");
        assert_eq!(e.source_uri(), None);
    }

    #[test]
    fn call_received() {
        let e = round_trip(
            r#"{"_type":"wf_api_call_received_event","call_id":"call-1","direction":"inbound","device_id":"990007560023457","device_name":"Ann","uri":"urn:relay-resource:name:device:Ann","onnet":true,"start_time_epoch":1666000000}"#,
        );
        assert!(matches!(e, Event::CallReceived(_)));
        let c = call(&e);
        assert_eq!(c.call_id.as_deref(), Some("call-1"));
        assert_eq!(c.direction, Some(CallDirection::Inbound));
        assert_eq!(c.device_id.as_deref(), Some("990007560023457"));
        assert_eq!(c.device_name.as_deref(), Some("Ann"));
        assert_eq!(c.onnet, Some(true));
        assert_eq!(c.start_time_epoch, Some(1_666_000_000));
        assert_eq!(c.connect_time_epoch, None);
    }

    #[test]
    fn call_ringing() {
        let e = round_trip(
            r#"{"_type":"wf_api_call_ringing_event","call_id":"call-1","direction":"outbound","device_id":"…","device_name":"Ann","uri":"…","onnet":true,"start_time_epoch":1666000000}"#,
        );
        assert!(matches!(e, Event::CallRinging(_)));
        assert_eq!(call(&e).direction, Some(CallDirection::Outbound));
    }

    #[test]
    fn call_progressing() {
        let e = round_trip(
            r#"{"_type":"wf_api_call_progressing_event","call_id":"call-1","direction":"outbound","device_id":"…","device_name":"Ann","uri":"…","onnet":true,"start_time_epoch":1666000000}"#,
        );
        assert!(matches!(e, Event::CallProgressing(_)));
        assert_eq!(call(&e).start_time_epoch, Some(1_666_000_000));
    }

    #[test]
    fn call_connected() {
        let e = round_trip(
            r#"{"_type":"wf_api_call_connected_event","call_id":"call-1","direction":"outbound","device_id":"…","device_name":"Ann","uri":"…","onnet":true,"start_time_epoch":1666000000,"connect_time_epoch":1666000005}"#,
        );
        assert!(matches!(e, Event::CallConnected(_)));
        assert_eq!(call(&e).connect_time_epoch, Some(1_666_000_005));
    }

    #[test]
    fn call_disconnected() {
        let e = round_trip(
            r#"{"_type":"wf_api_call_disconnected_event","call_id":"call-1","direction":"outbound","device_id":"…","device_name":"Ann","uri":"…","onnet":true,"reason":"hangup","start_time_epoch":1666000000,"connect_time_epoch":1666000005,"end_time_epoch":1666000060}"#,
        );
        assert!(matches!(e, Event::CallDisconnected(_)));
        let c = call(&e);
        assert_eq!(c.reason.as_deref(), Some("hangup"));
        assert_eq!(c.end_time_epoch, Some(1_666_000_060));
    }

    #[test]
    fn call_failed() {
        let e = round_trip(
            r#"{"_type":"wf_api_call_failed_event","call_id":"call-2","direction":"outbound","device_id":"…","device_name":"Ann","uri":"…","onnet":true,"reason":"busy","start_time_epoch":1666000000,"connect_time_epoch":0,"end_time_epoch":1666000010}"#,
        );
        assert!(matches!(e, Event::CallFailed(_)));
        let c = call(&e);
        assert_eq!(c.call_id.as_deref(), Some("call-2"));
        assert_eq!(c.reason.as_deref(), Some("busy"));
        assert_eq!(c.connect_time_epoch, Some(0));
        assert_eq!(e.name(), "call_failed");
    }

    #[test]
    fn sms() {
        let e = round_trip(r#"{"_type":"wf_api_sms_event","id":"sms-1","event":"…"}"#);
        assert_eq!(
            e,
            Event::Sms(SmsEvent {
                id: "sms-1".into(),
                event: "…".into()
            })
        );
        assert_eq!(e.name(), "sms");
    }

    #[test]
    fn play_inbox_messages_both_spellings() {
        let plural =
            round_trip(r#"{"_type":"wf_api_play_inbox_messages_event","action":"complete"}"#);
        assert_eq!(
            plural,
            Event::PlayInboxMessages(PlayInboxMessagesEvent {
                action: PlayInboxAction::Complete
            })
        );
        let singular =
            Event::from_json_str(r#"{"_type":"wf_api_play_inbox_message_event","action":"error"}"#)
                .unwrap();
        assert_eq!(
            singular,
            Event::PlayInboxMessages(PlayInboxMessagesEvent {
                action: PlayInboxAction::Error
            })
        );
        // Encoded with the plural spelling.
        assert_eq!(singular.event_type(), "wf_api_play_inbox_messages_event");
        assert_eq!(singular.name(), "play_inbox_messages");
        assert_eq!(
            singular.to_json(),
            json!({"_type":"wf_api_play_inbox_messages_event","action":"error"})
        );
    }

    #[test]
    fn resume() {
        let e = round_trip(
            r#"{"_type":"wf_api_resume_event","trigger":{"type":"phrase","args":{"phrase":"hello","source_uri":"urn:relay-resource:name:device:Bob"}}}"#,
        );
        let Event::Resume(r) = &e else {
            panic!("{e:?}")
        };
        assert_eq!(r.trigger.as_ref().unwrap().kind, TriggerType::Phrase);
        assert_eq!(e.source_uri().unwrap(), BOB);
        assert_eq!(e.name(), "resume");
        let e = round_trip(r#"{"_type":"wf_api_resume_event"}"#);
        assert_eq!(e, Event::Resume(ResumeEvent { trigger: None }));
        assert_eq!(e.source_uri(), None);
    }

    #[test]
    fn audio() {
        let e = round_trip(
            r#"{"_type":"wf_api_audio_event","source_uri":"urn:relay-resource:name:device:Bob","chunk":"AAEC","seq":[1,2,3]}"#,
        );
        let Event::Audio(a) = &e else { panic!("{e:?}") };
        assert!(!a.fields.contains_key("_type"));
        assert_eq!(a.fields["chunk"], json!("AAEC"));
        assert_eq!(a.fields["seq"], json!([1, 2, 3]));
        assert_eq!(e.name(), "audio");
    }

    // ---- tolerance and errors ----

    #[test]
    fn unknown_type_keeps_raw_json() {
        let frame =
            r#"{"_type":"wf_api_battery_event","level":[1,2,3],"nested":{"a":null},"_id":"x"}"#;
        let e = round_trip(frame);
        let Event::Unknown(u) = &e else {
            panic!("{e:?}")
        };
        assert_eq!(u.event_type, "wf_api_battery_event");
        assert_eq!(
            Value::Object(u.raw.clone()),
            serde_json::from_str::<Value>(frame).unwrap()
        );
        assert_eq!(e.event_type(), "wf_api_battery_event");
        assert_eq!(e.name(), "battery");
        assert_eq!(e.source_uri(), None);

        let e = Event::from_json_str(r#"{"_type":"wf_api_say_response","id":"1"}"#).unwrap();
        assert_eq!(e.name(), "say_response");
        let e = Event::from_json_str(r#"{"_type":"odd"}"#).unwrap();
        assert_eq!(e.name(), "odd");
    }

    #[test]
    fn unknown_event_without_type_key_gets_one_when_encoded() {
        let e = Event::decode("wf_api_new_event", Map::new()).unwrap();
        assert_eq!(e.to_json(), json!({"_type":"wf_api_new_event"}));
    }

    #[test]
    fn every_known_type_tolerates_missing_fields() {
        for &event_type in KNOWN_EVENT_TYPES {
            let e = Event::from_json_str(&json!({ "_type": event_type }).to_string())
                .unwrap_or_else(|err| panic!("{event_type}: {err}"));
            assert!(!matches!(e, Event::Unknown(_)), "{event_type}");
            let expected_type = if event_type == "wf_api_play_inbox_message_event" {
                "wf_api_play_inbox_messages_event"
            } else {
                event_type
            };
            assert_eq!(e.event_type(), expected_type);
            let name = expected_type
                .strip_prefix("wf_api_")
                .and_then(|t| t.strip_suffix("_event"))
                .unwrap();
            assert_eq!(e.name(), name);
            // Encoding a defaulted event emits no nulls.
            let json = e.to_json();
            assert!(!json.to_string().contains("null"), "{json}");
            assert_eq!(json["_type"], json!(expected_type));
        }
    }

    #[test]
    fn missing_prompt_fields_take_defaults() {
        let e = Event::from_json_str(r#"{"_type":"wf_api_prompt_event"}"#).unwrap();
        let Event::Prompt(p) = &e else {
            panic!("{e:?}")
        };
        assert_eq!(p, &PromptEvent::default());
        assert_eq!(p.kind, PromptType::Other(String::new()));
        assert_eq!(e.source_uri(), None);
    }

    #[test]
    fn nulls_count_as_missing() {
        let e = Event::from_json_str(
            r#"{"_type":"wf_api_prompt_event","id":null,"type":null,"source_uri":null}"#,
        )
        .unwrap();
        assert_eq!(e, Event::Prompt(PromptEvent::default()));
        let e = Event::from_json_str(
            r#"{"_type":"wf_api_interaction_lifecycle_event","type":"ended","reason":null,"source_uri":"u"}"#,
        )
        .unwrap();
        let Event::InteractionLifecycle(l) = &e else {
            panic!("{e:?}")
        };
        assert_eq!(l.reason, None);
        assert!(!e.to_json().as_object().unwrap().contains_key("reason"));
        let e = Event::from_json_str(
            r#"{"_type":"wf_api_notification_event","notification_state":{"acknowledged":null}}"#,
        )
        .unwrap();
        let Event::Notification(n) = &e else {
            panic!("{e:?}")
        };
        assert!(n.notification_state.acknowledged.is_empty());
        let e = Event::from_json_str(
            r#"{"_type":"wf_api_call_failed_event","onnet":null,"start_time_epoch":null,"direction":null}"#,
        )
        .unwrap();
        assert_eq!(call(&e), &CallEvent::default());
        let e = Event::from_json_str(r#"{"_type":"wf_api_start_event","trigger":null}"#).unwrap();
        assert_eq!(e, Event::Start(StartEvent::default()));
    }

    #[test]
    fn extra_fields_are_ignored() {
        let e = Event::from_json_str(
            r#"{"_type":"wf_api_prompt_event","_id":"zz","id":"a1","type":"started","source_uri":"u","volume":11,"meta":{"x":[1,2]}}"#,
        )
        .unwrap();
        assert_eq!(
            e,
            Event::Prompt(PromptEvent {
                id: "a1".into(),
                kind: PromptType::Started,
                source_uri: Urn::from_string_unchecked("u"),
            })
        );
        // A speech event carrying an `_id` (as GO declares) still decodes.
        let e = Event::from_json_str(
            r#"{"_type":"wf_api_speech_event","_id":"c3d4","request_id":"c3d4","text":"hi"}"#,
        )
        .unwrap();
        assert!(matches!(e, Event::Speech(_)));
    }

    #[test]
    fn char_code_strings_decode() {
        // "urn:x" and "hi" as character codes.
        let e = Event::from_json_str(
            r#"{"_type":"wf_api_prompt_event","id":[104,105],"type":[115,116,111,112,112,101,100],"source_uri":[117,114,110,58,120]}"#,
        )
        .unwrap();
        let Event::Prompt(p) = &e else {
            panic!("{e:?}")
        };
        assert_eq!(p.id, "hi");
        assert_eq!(p.kind, PromptType::Stopped);
        assert_eq!(p.source_uri, "urn:x");

        let e = Event::from_json_str(
            r#"{"_type":"wf_api_start_event","trigger":{"type":"phrase","args":{"phrase":[104,105],"source_uri":[117,114,110,58,120]}}}"#,
        )
        .unwrap();
        assert_eq!(e.source_uri().unwrap(), "urn:x");
        let Event::Start(s) = &e else { panic!("{e:?}") };
        assert_eq!(s.trigger.args.phrase.as_deref(), Some("hi"));

        let e = Event::from_json_str(
            r#"{"_type":"wf_api_notification_event","notification_state":{"created":[[117,114,110,58,120]]}}"#,
        )
        .unwrap();
        let Event::Notification(n) = &e else {
            panic!("{e:?}")
        };
        assert_eq!(
            n.notification_state.created,
            vec![Urn::from_string_unchecked("urn:x")]
        );

        let e = Event::from_json_str(
            r#"{"_type":"wf_api_speech_event","text":[104,105],"lang":[122,104]}"#,
        )
        .unwrap();
        let Event::Speech(s) = &e else {
            panic!("{e:?}")
        };
        assert_eq!(s.text.as_deref(), Some("hi"));
        assert_eq!(s.lang, Some(Lang::Zh));
    }

    #[test]
    fn call_events_accept_strings_for_epochs_and_onnet() {
        let e = Event::from_json_str(
            r#"{"_type":"wf_api_call_disconnected_event","call_id":"c","onnet":"True","start_time_epoch":"1666000000","connect_time_epoch":" 1666000005 ","end_time_epoch":"1666000060.9"}"#,
        )
        .unwrap();
        let c = call(&e);
        assert_eq!(c.onnet, Some(true));
        assert_eq!(c.start_time_epoch, Some(1_666_000_000));
        assert_eq!(c.connect_time_epoch, Some(1_666_000_005));
        assert_eq!(c.end_time_epoch, Some(1_666_000_060));
        // Re-encoded with native JSON types.
        assert_eq!(
            e.to_json(),
            json!({"_type":"wf_api_call_disconnected_event","call_id":"c","onnet":true,
                   "start_time_epoch":1666000000,"connect_time_epoch":1666000005,
                   "end_time_epoch":1666000060})
        );

        for (text, expected) in [
            ("true", true),
            ("False", false),
            ("false", false),
            ("TRUE", true),
        ] {
            let frame = json!({"_type": "wf_api_call_received_event", "onnet": text}).to_string();
            let e = Event::from_json_str(&frame).unwrap();
            assert_eq!(call(&e).onnet, Some(expected), "{text}");
        }

        let e = Event::from_json_str(
            r#"{"_type":"wf_api_call_failed_event","start_time_epoch":"","end_time_epoch":1666000010.0,"onnet":false}"#,
        )
        .unwrap();
        let c = call(&e);
        assert_eq!(c.start_time_epoch, None);
        assert_eq!(c.end_time_epoch, Some(1_666_000_010));
        assert_eq!(c.onnet, Some(false));
    }

    #[test]
    fn call_events_reject_nonsense_epochs_and_onnet() {
        for frame in [
            r#"{"_type":"wf_api_call_received_event","onnet":"yes"}"#,
            r#"{"_type":"wf_api_call_received_event","onnet":1}"#,
            r#"{"_type":"wf_api_call_received_event","start_time_epoch":"soon"}"#,
            r#"{"_type":"wf_api_call_received_event","start_time_epoch":true}"#,
            r#"{"_type":"wf_api_call_received_event","start_time_epoch":18446744073709551615}"#,
            r#"{"_type":"wf_api_call_received_event","start_time_epoch":1e300}"#,
        ] {
            let err = Event::from_json_str(frame).unwrap_err();
            let EventParseError::Decode(err) = err else {
                panic!("{frame}: {err:?}")
            };
            assert_eq!(err.event_type, "wf_api_call_received_event");
        }
    }

    #[test]
    fn wrongly_typed_field_is_an_error_naming_the_type() {
        let err = Event::from_json_str(
            r#"{"_type":"wf_api_button_event","button":"action","taps":5,"source_uri":"u"}"#,
        )
        .unwrap_err();
        let EventParseError::Decode(err) = err else {
            panic!("{err:?}")
        };
        assert_eq!(err.event_type, "wf_api_button_event");
        let message = err.to_string();
        assert!(
            message.starts_with("cannot decode wf_api_button_event: "),
            "{message}"
        );
        assert!(std::error::Error::source(&err).is_some());

        let mut object = Map::new();
        object.insert("notification_state".into(), json!("acked"));
        let err = Event::decode("wf_api_notification_event", object).unwrap_err();
        assert_eq!(err.event_type, "wf_api_notification_event");

        for frame in [
            r#"{"_type":"wf_api_start_event","trigger":"phrase"}"#,
            r#"{"_type":"wf_api_start_event","trigger":{"args":{"args":"order=42"}}}"#,
            r#"{"_type":"wf_api_speech_event","lang":7}"#,
            r#"{"_type":"wf_api_timer_fired_event","name":{"a":1}}"#,
            r#"{"_type":"wf_api_progress_event","_id":12}"#,
            r#"{"_type":"wf_api_prompt_event","source_uri":[300]}"#,
        ] {
            assert!(
                matches!(Event::from_json_str(frame), Err(EventParseError::Decode(_))),
                "{frame}"
            );
        }
    }

    #[test]
    fn unknown_enum_values_land_in_other() {
        let e = round_trip(
            r#"{"_type":"wf_api_prompt_event","id":"a","type":"paused","source_uri":"u"}"#,
        );
        let Event::Prompt(p) = &e else {
            panic!("{e:?}")
        };
        assert_eq!(p.kind, PromptType::Other("paused".into()));

        let e = round_trip(
            r#"{"_type":"wf_api_button_event","button":"side","taps":"quadruple","source_uri":"u"}"#,
        );
        let Event::Button(b) = &e else {
            panic!("{e:?}")
        };
        assert_eq!(b.button, ButtonKind::Other("side".into()));
        assert_eq!(b.taps, Taps::Other("quadruple".into()));

        let e = round_trip(
            r#"{"_type":"wf_api_speech_event","request_id":"r","lang":"xx-YY","source_uri":"u"}"#,
        );
        let Event::Speech(s) = &e else {
            panic!("{e:?}")
        };
        assert_eq!(s.lang, Some(Lang::Other("xx-YY".into())));

        let e = round_trip(r#"{"_type":"wf_api_stop_event","reason":"timeout"}"#);
        assert_eq!(
            e,
            Event::Stop(StopEvent {
                reason: StopReason::Other("timeout".into())
            })
        );

        let e = round_trip(r#"{"_type":"wf_api_call_received_event","direction":"sideways"}"#);
        assert_eq!(
            call(&e).direction,
            Some(CallDirection::Other("sideways".into()))
        );
    }

    #[test]
    fn decode_works_without_type_key() {
        let mut object = Map::new();
        object.insert("reason".into(), json!("error"));
        let e = Event::decode("wf_api_stop_event", object).unwrap();
        assert_eq!(
            e,
            Event::Stop(StopEvent {
                reason: StopReason::Error
            })
        );
    }

    #[test]
    fn built_events_encode_and_decode() {
        let e = Event::Speech(SpeechEvent {
            request_id: "r1".into(),
            text: Some("hello".into()),
            audio: None,
            lang: Some(Lang::DeDe),
            source_uri: Urn::from_string_unchecked(INTERACTION),
        });
        let json = e.to_json();
        assert_eq!(
            json,
            json!({"_type":"wf_api_speech_event","request_id":"r1","text":"hello","lang":"de-DE","source_uri":INTERACTION})
        );
        assert_eq!(Event::from_json_str(&json.to_string()).unwrap(), e);

        let e = Event::CallConnected(CallEvent::default());
        assert_eq!(e.to_json(), json!({"_type":"wf_api_call_connected_event"}));

        let e = Event::Audio(AudioEvent::default());
        assert_eq!(e.to_json(), json!({"_type":"wf_api_audio_event"}));
    }

    #[test]
    fn from_json_str_rejects_bad_frames() {
        assert!(matches!(
            Event::from_json_str("{not json"),
            Err(EventParseError::Json(_))
        ));
        assert!(matches!(
            Event::from_json_str(r#"["wf_api_stop_event"]"#),
            Err(EventParseError::NotAnObject)
        ));
        assert!(matches!(
            Event::from_json_str("null"),
            Err(EventParseError::NotAnObject)
        ));
        assert!(matches!(
            Event::from_json_str(r#"{"reason":"normal"}"#),
            Err(EventParseError::MissingType)
        ));
        assert!(matches!(
            Event::from_json_str(r#"{"_type":5}"#),
            Err(EventParseError::MissingType)
        ));
    }

    #[test]
    fn every_kind_round_trips_through_its_names() {
        assert_eq!(EventKind::ALL.len(), EventKind::COUNT);
        for (i, &kind) in EventKind::ALL.iter().enumerate() {
            assert_eq!(kind.index(), i, "{kind:?}");
            assert_eq!(EventKind::from_name(kind.name()), Some(kind));
            assert_eq!(kind.to_string(), kind.name());
            let Some(event_type) = kind.event_type() else {
                assert_eq!(kind, EventKind::Unknown);
                continue;
            };
            assert_eq!(EventKind::from_event_type(event_type), Some(kind));
            assert!(KNOWN_EVENT_TYPES.contains(&event_type), "{event_type}");
            // The short name is the middle of the wire name.
            assert_eq!(
                Some(kind.name()),
                event_type
                    .strip_prefix("wf_api_")
                    .and_then(|t| t.strip_suffix("_event"))
            );
            // Decoding the wire name gives an event of that kind, which names itself so.
            let event = Event::decode(event_type, Map::new()).unwrap();
            assert_eq!(event.kind(), kind);
            assert_eq!(event.event_type(), event_type);
            assert_eq!(event.name(), kind.name());
        }
        for &event_type in KNOWN_EVENT_TYPES {
            let kind = EventKind::from_event_type(event_type).expect(event_type);
            assert_eq!(Event::decode(event_type, Map::new()).unwrap().kind(), kind);
        }
        assert_eq!(
            EventKind::from_event_type("wf_api_play_inbox_message_event"),
            Some(EventKind::PlayInboxMessages)
        );
        let unknown = Event::decode("wf_api_battery_event", Map::new()).unwrap();
        assert_eq!(unknown.kind(), EventKind::Unknown);
        assert_eq!(EventKind::from_event_type("wf_api_battery_event"), None);
        assert_eq!(EventKind::from_name("battery"), None);
        assert_eq!(EventKind::from_name("wf_api_start_event"), None);
    }

    #[test]
    fn as_call_only_for_call_events() {
        assert!(Event::Stop(StopEvent::default()).as_call().is_none());
        for t in [
            "wf_api_call_start_request_event",
            "wf_api_call_received_event",
            "wf_api_call_ringing_event",
            "wf_api_call_progressing_event",
            "wf_api_call_connected_event",
            "wf_api_call_disconnected_event",
            "wf_api_call_failed_event",
        ] {
            let e = Event::decode(t, Map::new()).unwrap();
            assert!(e.as_call().is_some(), "{t}");
            assert_eq!(e.event_type(), t);
        }
    }
}
