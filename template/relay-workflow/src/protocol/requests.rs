//! One struct per request, each tied to its response type through [`Request`].
//!
//! Field names are the wire names. Optional fields are omitted rather than sent as `null`
//! (older Relay servers read `null` as the string `"null"`).

use super::{Lang, Request, DEFAULT_TIMEOUT};
use crate::protocol::enums::*;
use crate::urn::Urn;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::time::Duration;

/// How long a `notification` waits for its response (progress events restart the clock).
pub const NOTIFICATION_TIMEOUT: Duration = Duration::from_secs(60);
/// How long `get_device_info` with `refresh: true` waits: the device itself is asked.
pub const REFRESH_TIMEOUT: Duration = Duration::from_secs(45);

/// Implements [`Request`] for a payload struct.
///
/// `impl_request!(Type, "action", Response)` returns the response itself;
/// `impl_request!(Type, "action", Response => Output, |response, id| …)` converts it.
macro_rules! impl_request {
    ($ty:ty, $action:literal, $resp:ty) => {
        impl_request!($ty, $action, $resp => $resp, |response, _id| response);
    };
    ($ty:ty, $action:literal, $resp:ty => $out:ty, $convert:expr) => {
        impl_request!($ty, $action, $resp => $out, $convert, |_r| DEFAULT_TIMEOUT);
    };
    ($ty:ty, $action:literal, $resp:ty => $out:ty, $convert:expr, $timeout:expr) => {
        impl Request for $ty {
            const ACTION: &'static str = $action;
            type Response = $resp;
            type Output = $out;
            fn output(response: $resp, id: &str) -> $out {
                let convert: fn($resp, &str) -> $out = $convert;
                convert(response, id)
            }
            fn timeout(&self) -> Duration {
                let timeout: fn(&$ty) -> Duration = $timeout;
                timeout(self)
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

// ---------------------------------------------------------------------------
// Playback, vibration, LEDs
// ---------------------------------------------------------------------------

/// `stop_playback`: stop says and plays on an interaction.
///
/// `ids` omitted stops everything. (The .NET SDK drops `_target` when no ids are given; this
/// SDK always sends it.)
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct StopPlayback {
    /// Playback ids (as returned by `say`/`play`) to stop; `None` stops all.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ids: Option<Vec<String>>,
}
impl_request!(StopPlayback, "stop_playback", Ack => (), |_, _| ());

/// `vibrate`: vibrate the device of an interaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Vibrate {
    /// Milliseconds: initial delay, on, off, on, off, … (six entries are three pulses).
    pub pattern: Vec<u64>,
}
impl_request!(Vibrate, "vibrate", Ack => (), |_, _| ());

/// `set_led`: light the LED ring of an interaction's device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SetLed {
    /// The effect.
    pub effect: LedEffect,
    /// Colours and timing; `{}` for [`LedEffect::Off`].
    pub args: LedInfo,
}
impl_request!(SetLed, "set_led", Ack => (), |_, _| ());

/// The `args` of [`SetLed`]. Fields left `None` are not sent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct LedInfo {
    /// Rotations of `rotate`/`rainbow`; −1 is forever.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rotations: Option<i64>,
    /// Repetitions of `flash`/`breathe`; −1 is forever.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<i64>,
    /// Duration of one cycle, in milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration: Option<u64>,
    /// Pause between cycles, in milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repeat_delay: Option<u64>,
    /// How often the pattern repeats.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pattern_repeats: Option<i64>,
    /// Colour per LED: key `"ring"` (all LEDs) or `"1"`…`"16"` (the ring has 12), value six
    /// hex digits without `#` (`"000000"` is off).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub colors: Option<BTreeMap<String, String>>,
}

impl LedInfo {
    /// Set the colour of one LED key (`"ring"` or `"1"`…`"16"`).
    pub fn color(mut self, led: impl Into<String>, color: impl Into<String>) -> Self {
        self.colors
            .get_or_insert_with(BTreeMap::new)
            .insert(led.into(), color.into());
        self
    }
}

// ---------------------------------------------------------------------------
// Notifications
// ---------------------------------------------------------------------------

/// `notification`: broadcast, alert, notify or cancel, to devices and groups.
///
/// Waits 60 s for the response ([`NOTIFICATION_TIMEOUT`]); Relay's progress events restart
/// the clock. `push_opts` is always sent (`{}` when empty), as relay-js does. The legacy
/// duplicate `target` field some SDKs add is not sent (relay-js does not either).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Notification {
    /// Broadcast, alert, notify or cancel.
    #[serde(rename = "type")]
    pub kind: NotificationType,
    /// The notification's name: cancel uses it, notification events carry it.
    pub name: String,
    /// The device (or interaction) that caused it; not sent for cancel.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub originator: Option<Urn>,
    /// What is spoken and shown; not sent for cancel.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Push options for the Relay app.
    pub push_opts: PushOptions,
}
impl_request!(Notification, "notification", Ack => (), |_, _| (), |_| NOTIFICATION_TIMEOUT);

/// Push options of a [`Notification`] (for the Relay phone app).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PushOptions {
    /// Priority.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub priority: Option<NotificationPriority>,
    /// Title of the push notification.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Body of the push notification.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// Sound.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sound: Option<NotificationSound>,
}

// ---------------------------------------------------------------------------
// Device information and settings
// ---------------------------------------------------------------------------

/// `get_device_info`: ask about a device. The response has one field named like the query.
///
/// Waits 5 s, or 45 s ([`REFRESH_TIMEOUT`]) with `refresh`, when the device itself is asked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GetDeviceInfo {
    /// What to ask for.
    pub query: DeviceInfoQuery,
    /// Ask the device for a fresh value (address, coordinates, indoor location, battery).
    pub refresh: bool,
}
impl_request!(GetDeviceInfo, "get_device_info", DeviceInfo => DeviceInfo, |r, _| r,
    |r| if r.refresh { REFRESH_TIMEOUT } else { DEFAULT_TIMEOUT });

/// The response to [`GetDeviceInfo`]: every field Relay sent, keyed by query name.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(transparent)]
pub struct DeviceInfo(pub Map<String, Value>);

impl DeviceInfo {
    /// The raw value answering `query`.
    pub fn get(&self, query: &DeviceInfoQuery) -> Option<&Value> {
        self.0.get(query.as_str())
    }
}

/// `set_device_info`: change a device setting. Values are strings on the wire, booleans
/// included (`"true"`/`"false"`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SetDeviceInfo {
    /// The setting.
    pub field: DeviceInfoField,
    /// Its new value.
    pub value: String,
}
impl_request!(SetDeviceInfo, "set_device_info", Ack => (), |_, _| ());

/// `set_user_profile`: sign a user in on a device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SetUserProfile {
    /// The user.
    pub username: String,
    /// Sign in even if the user is signed in elsewhere.
    pub force: bool,
}
impl_request!(SetUserProfile, "set_user_profile", Ack => (), |_, _| ());

/// `set_channel`: move a device to a channel. (The .NET SDK's extra `target` field is not sent.)
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SetChannel {
    /// The channel.
    pub channel_name: String,
    /// Do not announce the change.
    pub suppress_tts: bool,
    /// Also disable the home channel.
    pub disable_home_channel: bool,
}
impl_request!(SetChannel, "set_channel", Ack => (), |_, _| ());

/// `set_home_channel_state`: enable or disable the home channel of devices.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SetHomeChannelState {
    /// `true` enables it.
    pub enabled: bool,
}
impl_request!(SetHomeChannelState, "set_home_channel_state", Ack => (), |_, _| ());

/// `set_device_mode` (disabled in every official SDK; the server may refuse it).
#[doc(hidden)]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SetDeviceMode {
    /// `panic`, `alarm` or `none`.
    pub mode: String,
}
impl_request!(SetDeviceMode, "set_device_mode", Ack => (), |_, _| ());

/// `device_power_off` (disabled in every official SDK; the server may refuse it).
#[doc(hidden)]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DevicePowerOff {
    /// Restart instead of powering off.
    pub restart: bool,
}
impl_request!(DevicePowerOff, "device_power_off", Ack => (), |_, _| ());

// ---------------------------------------------------------------------------
// Calls
// ---------------------------------------------------------------------------

/// `call`: the target device places a call to `uri`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Call {
    /// The callee's URN.
    pub uri: String,
}
impl_request!(Call, "call", CallResponse => String, |r, _| r.call_id);

/// The response to [`Call`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct CallResponse {
    /// The new call's id; call events carry it.
    #[serde(default, deserialize_with = "super::lenient::string")]
    pub call_id: String,
}

/// `answer`: the target device answers a call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Answer {
    /// The call id.
    pub call_id: String,
}
impl_request!(Answer, "answer", Ack => (), |_, _| ());

/// `hangup`: the target device hangs up a call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Hangup {
    /// The call id.
    pub call_id: String,
}
impl_request!(Hangup, "hangup", Ack => (), |_, _| ());

/// `register`: register the target device for calls (`expires: 0` unregisters).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Register {
    /// Registration URI.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    /// Registration password.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// Lifetime in seconds; 0 unregisters.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires: Option<u64>,
}
impl_request!(Register, "register", Ack => (), |_, _| ());

// ---------------------------------------------------------------------------
// Inbox
// ---------------------------------------------------------------------------

/// `inbox_count`: how many messages wait in the device's inbox.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct InboxCount {}
impl_request!(InboxCount, "inbox_count", InboxCountResponse => u32, |r, _| r.count);

/// The response to [`InboxCount`]. Relay sends the count as a numeric string (`"3"`); a JSON
/// number is accepted too. Anything else (`"3x"`, `""`, `"-1"`) is a decode error.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct InboxCountResponse {
    /// The number of messages.
    #[serde(deserialize_with = "count_string")]
    pub count: u32,
}

fn count_string<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    use serde::de::Error as _;
    let value = Value::deserialize(d)?;
    let parsed = match &value {
        Value::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
            s.parse::<u32>().ok()
        }
        Value::Number(n) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
        _ => None,
    };
    parsed.ok_or_else(|| {
        D::Error::custom(format!(
            "inbox count must be a non-negative whole number such as \"3\", but Relay sent {value}"
        ))
    })
}

/// `play_inbox_messages`: play the device's inbox; a play-inbox event follows.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PlayInboxMessages {}
impl_request!(PlayInboxMessages, "play_inbox_messages", Ack => (), |_, _| ());

// ---------------------------------------------------------------------------
// Groups
// ---------------------------------------------------------------------------

/// `create_group`: create a (rendezvous) group; returns its URN.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CreateGroup {
    /// The group's name.
    pub name: String,
}
impl_request!(CreateGroup, "create_group", CreateGroupResponse => Urn, |r, _| r.uri);

/// The response to [`CreateGroup`].
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct CreateGroupResponse {
    /// The new group's URN.
    pub uri: Urn,
}

/// `delete_group`: delete a group made with `create_group`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeleteGroup {
    /// The group's URN.
    pub uri: Urn,
}
impl_request!(DeleteGroup, "delete_group", Ack => (), |_, _| ());

/// `add_group_members`: add the targeted devices to a group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AddGroupMembers {
    /// The group's URN.
    pub group_uri: Urn,
}
impl_request!(AddGroupMembers, "add_group_members", Ack => (), |_, _| ());

/// `remove_group_members`: remove the targeted devices from a group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RemoveGroupMembers {
    /// The group's URN.
    pub group_uri: Urn,
}
impl_request!(RemoveGroupMembers, "remove_group_members", Ack => (), |_, _| ());

/// `group_query`: list a group's members, or ask whether a device is one.
///
/// For [`GroupQueryKind::IsMember`], `group_uri` is a group-member URN
/// ([`Urn::group_member`]). The .NET-only `list_group_members` request is not offered: no
/// other SDK uses it and it is probably not a server action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GroupQuery {
    /// The group URN, or a group-member URN for `is_member`.
    pub group_uri: Urn,
    /// What to ask.
    pub query: GroupQueryKind,
}
impl_request!(GroupQuery, "group_query", GroupQueryResponse);

/// The response to [`GroupQuery`]: the field matching the query is present.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct GroupQueryResponse {
    /// Answer to `list_members`.
    #[serde(default)]
    pub member_uris: Option<Vec<Urn>>,
    /// Answer to `is_member`.
    #[serde(default)]
    pub is_member: Option<bool>,
}

// ---------------------------------------------------------------------------
// Timers
// ---------------------------------------------------------------------------

/// `set_timer`: a named server-side timer; `timer_fired` events carry its name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SetTimer {
    /// Fire once or repeatedly.
    #[serde(rename = "type")]
    pub kind: TimerType,
    /// The timer's name.
    pub name: String,
    /// Period, in `timeout_type` units.
    pub timeout: u64,
    /// Unit of `timeout`.
    pub timeout_type: TimeoutType,
}
impl_request!(SetTimer, "set_timer", Ack => (), |_, _| ());

/// `clear_timer`: cancel a named timer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClearTimer {
    /// The timer's name.
    pub name: String,
}
impl_request!(ClearTimer, "clear_timer", Ack => (), |_, _| ());

/// `start_timer`: the instance's single unnamed timer; a `timer` event follows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StartTimer {
    /// Seconds until it fires.
    pub timeout: u64,
}
impl_request!(StartTimer, "start_timer", Ack => (), |_, _| ());

/// `stop_timer`: stop the unnamed timer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct StopTimer {}
impl_request!(StopTimer, "stop_timer", Ack => (), |_, _| ());

// ---------------------------------------------------------------------------
// Translation, analytics, incidents, SMS
// ---------------------------------------------------------------------------

/// `translate`: translate text between languages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Translate {
    /// The text.
    pub text: String,
    /// Its language.
    pub from_lang: Lang,
    /// The language wanted.
    pub to_lang: Lang,
}
impl_request!(Translate, "translate", TranslateResponse => String, |r, _| r.text);

/// The response to [`Translate`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct TranslateResponse {
    /// The translation.
    #[serde(deserialize_with = "super::lenient::string")]
    pub text: String,
}

/// `content_type` of a logged message.
pub const CONTENT_TYPE_TEXT: &str = "text/plain";
/// `content_type` of a tracked event (its `content` is a JSON object encoded as a string).
pub const CONTENT_TYPE_EVENT: &str = "application/vnd.relay.event.parameters+json";

/// `log_analytics_event`: record a message or an event in Relay's analytics.
///
/// `content` is always a string: the message itself, or for tracked events the parameters
/// object encoded as JSON. (relay-js sends tracked parameters as an object, and under
/// `analytics_content` for user events; the spec recommends one JSON-string `content`.)
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogAnalyticsEvent {
    /// Free text category; `default` unless set.
    pub category: String,
    /// [`CONTENT_TYPE_TEXT`] or [`CONTENT_TYPE_EVENT`].
    pub content_type: String,
    /// The message, or the JSON-encoded parameters.
    pub content: String,
    /// The user or device the entry is about.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device_uri: Option<Urn>,
}
impl_request!(LogAnalyticsEvent, "log_analytics_event", Ack => (), |_, _| ());

/// `create_incident`: open an incident (shown in Dash); returns its id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CreateIncident {
    /// Free text, e.g. `Panic Alert`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The device that raised it.
    pub originator_uri: Urn,
}
impl_request!(CreateIncident, "create_incident", CreateIncidentResponse => String, |r, _| r.incident_id);

/// The response to [`CreateIncident`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct CreateIncidentResponse {
    /// The incident's id.
    #[serde(deserialize_with = "super::lenient::string")]
    pub incident_id: String,
}

/// `resolve_incident`: close an incident.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResolveIncident {
    /// The incident's id.
    pub incident_id: String,
    /// Why it is resolved.
    pub reason: String,
}
impl_request!(ResolveIncident, "resolve_incident", Ack => (), |_, _| ());

/// `sms`: send an SMS (only the Python SDK has it; Relay does not document its semantics).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Sms {
    /// Message type (free text).
    #[serde(rename = "type")]
    pub kind: String,
    /// The message.
    pub text: String,
    /// The recipient.
    pub uri: String,
}
impl_request!(Sms, "sms", SmsResponse => Option<String>, |r, _| r.message_id);

/// The response to [`Sms`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct SmsResponse {
    /// The message id, when Relay sends one.
    #[serde(default, deserialize_with = "super::lenient::opt_string")]
    pub message_id: Option<String>,
}

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

    const IX: &str = "urn:relay-resource:name:interaction:hello?device=urn%3Arelay-resource%3Aname%3Adevice%3ABob";
    const BOB: &str = "urn:relay-resource:name:device:Bob";

    /// The frame as sent with `_id` "05" and one target URN.
    fn to<R: Request>(target: &str, r: &R) -> Value {
        let t = crate::urn::IntoTarget::into_target(target).unwrap();
        serde_json::from_str(&encode_request("05", Some(&t), r).unwrap()).unwrap()
    }

    fn untargeted<R: Request>(r: &R) -> Value {
        serde_json::from_str(&encode_request("05", None, r).unwrap()).unwrap()
    }

    fn urn(s: &str) -> Urn {
        Urn::from_string_unchecked(s)
    }

    #[test]
    fn stop_playback_frame() {
        let r = StopPlayback {
            ids: Some(vec!["03".into()]),
        };
        assert_eq!(
            to(IX, &r),
            json!({"_id":"05","_type":"wf_api_stop_playback_request","_target":{"uris":[IX]},"ids":["03"]})
        );
        assert_eq!(
            to(IX, &StopPlayback::default()),
            json!({"_id":"05","_type":"wf_api_stop_playback_request","_target":{"uris":[IX]}})
        );
    }

    #[test]
    fn vibrate_frame() {
        let r = Vibrate {
            pattern: vec![100, 500, 500, 500, 500, 500],
        };
        assert_eq!(
            to(IX, &r),
            json!({"_id":"05","_type":"wf_api_vibrate_request","_target":{"uris":[IX]},
                   "pattern":[100,500,500,500,500,500]})
        );
    }

    #[test]
    fn set_led_frame() {
        let r = SetLed {
            effect: LedEffect::Flash,
            args: LedInfo {
                count: Some(-1),
                ..LedInfo::default()
            }
            .color("ring", "0000FF"),
        };
        assert_eq!(
            to(IX, &r),
            json!({"_id":"05","_type":"wf_api_set_led_request","_target":{"uris":[IX]},
                   "effect":"flash","args":{"count":-1,"colors":{"ring":"0000FF"}}})
        );
        let off = SetLed {
            effect: LedEffect::Off,
            args: LedInfo::default(),
        };
        assert_eq!(to(IX, &off)["args"], json!({}));
    }

    #[test]
    fn notification_frames() {
        let group = "urn:relay-resource:name:group:Cleaning";
        let alert = Notification {
            kind: NotificationType::Alert,
            name: "cleanup_alert".into(),
            originator: Some(urn(BOB)),
            text: Some("Cleanup needed in room 213".into()),
            push_opts: PushOptions {
                priority: Some(NotificationPriority::High),
                title: Some("Cleanup".into()),
                body: Some("Room 213".into()),
                sound: Some(NotificationSound::Default),
            },
        };
        assert_eq!(
            to(group, &alert),
            json!({"_id":"05","_type":"wf_api_notification_request","_target":{"uris":[group]},
                   "originator":BOB,"type":"alert","name":"cleanup_alert",
                   "text":"Cleanup needed in room 213",
                   "push_opts":{"priority":"high","title":"Cleanup","body":"Room 213","sound":"default"}})
        );
        let cancel = Notification {
            kind: NotificationType::Cancel,
            name: "cleanup_alert".into(),
            originator: None,
            text: None,
            push_opts: PushOptions::default(),
        };
        assert_eq!(
            to(group, &cancel),
            json!({"_id":"05","_type":"wf_api_notification_request","_target":{"uris":[group]},
                   "type":"cancel","name":"cleanup_alert","push_opts":{}})
        );
        assert_eq!(cancel.timeout(), Duration::from_secs(60));
    }

    #[test]
    fn set_channel_frame() {
        let r = SetChannel {
            channel_name: "security".into(),
            suppress_tts: false,
            disable_home_channel: false,
        };
        assert_eq!(
            to(BOB, &r),
            json!({"_id":"05","_type":"wf_api_set_channel_request","_target":{"uris":[BOB]},
                   "channel_name":"security","suppress_tts":false,"disable_home_channel":false})
        );
    }

    #[test]
    fn set_home_channel_state_frame() {
        assert_eq!(
            to(BOB, &SetHomeChannelState { enabled: true }),
            json!({"_id":"05","_type":"wf_api_set_home_channel_state_request",
                   "_target":{"uris":[BOB]},"enabled":true})
        );
    }

    #[test]
    fn get_device_info_frame_and_timeout() {
        let r = GetDeviceInfo {
            query: DeviceInfoQuery::Battery,
            refresh: true,
        };
        assert_eq!(
            to(IX, &r),
            json!({"_id":"05","_type":"wf_api_get_device_info_request","_target":{"uris":[IX]},
                   "query":"battery","refresh":true})
        );
        assert_eq!(r.timeout(), REFRESH_TIMEOUT);
        let plain = GetDeviceInfo {
            query: DeviceInfoQuery::Name,
            refresh: false,
        };
        assert_eq!(plain.timeout(), DEFAULT_TIMEOUT);
        let info: DeviceInfo = serde_json::from_value(json!({"battery":75})).unwrap();
        assert_eq!(info.get(&DeviceInfoQuery::Battery), Some(&json!(75)));
        let info: DeviceInfo =
            serde_json::from_value(json!({"latlong":[35.7796,-78.6382]})).unwrap();
        assert_eq!(
            info.get(&DeviceInfoQuery::Latlong),
            Some(&json!([35.7796, -78.6382]))
        );
    }

    #[test]
    fn set_device_info_frame() {
        let r = SetDeviceInfo {
            field: DeviceInfoField::LocationEnabled,
            value: "true".into(),
        };
        assert_eq!(
            to(IX, &r),
            json!({"_id":"05","_type":"wf_api_set_device_info_request","_target":{"uris":[IX]},
                   "field":"location_enabled","value":"true"})
        );
    }

    #[test]
    fn set_user_profile_frame() {
        let r = SetUserProfile {
            username: "bob".into(),
            force: false,
        };
        assert_eq!(
            to(BOB, &r),
            json!({"_id":"05","_type":"wf_api_set_user_profile_request","_target":{"uris":[BOB]},
                   "username":"bob","force":false})
        );
    }

    #[test]
    fn call_frames_and_response() {
        let ann = "urn:relay-resource:name:device:Ann";
        assert_eq!(
            to(BOB, &Call { uri: ann.into() }),
            json!({"_id":"05","_type":"wf_api_call_request","_target":{"uris":[BOB]},"uri":ann})
        );
        let r: CallResponse = serde_json::from_value(json!({"call_id":"call-1"})).unwrap();
        assert_eq!(Call::output(r, "05"), "call-1");
        assert_eq!(
            to(
                ann,
                &Answer {
                    call_id: "call-1".into()
                }
            ),
            json!({"_id":"05","_type":"wf_api_answer_request","_target":{"uris":[ann]},"call_id":"call-1"})
        );
        assert_eq!(
            to(
                ann,
                &Hangup {
                    call_id: "call-1".into()
                }
            ),
            json!({"_id":"05","_type":"wf_api_hangup_request","_target":{"uris":[ann]},"call_id":"call-1"})
        );
    }

    #[test]
    fn register_frames() {
        let r = Register {
            uri: Some("sip:bob@example.com".into()),
            password: Some("pw".into()),
            expires: Some(3600),
        };
        assert_eq!(
            to(BOB, &r),
            json!({"_id":"05","_type":"wf_api_register_request","_target":{"uris":[BOB]},
                   "uri":"sip:bob@example.com","password":"pw","expires":3600})
        );
        let unregister = Register {
            expires: Some(0),
            ..Register::default()
        };
        assert_eq!(
            to(BOB, &unregister),
            json!({"_id":"05","_type":"wf_api_register_request","_target":{"uris":[BOB]},"expires":0})
        );
    }

    #[test]
    fn inbox_frames_and_strict_count() {
        assert_eq!(
            to(BOB, &InboxCount {}),
            json!({"_id":"05","_type":"wf_api_inbox_count_request","_target":{"uris":[BOB]}})
        );
        assert_eq!(
            to(IX, &PlayInboxMessages {}),
            json!({"_id":"05","_type":"wf_api_play_inbox_messages_request","_target":{"uris":[IX]}})
        );
        for (v, want) in [(json!("3"), 3), (json!("0"), 0), (json!(7), 7)] {
            let r: InboxCountResponse = serde_json::from_value(json!({ "count": v })).unwrap();
            assert_eq!(InboxCount::output(r, "05"), want);
        }
        for bad in [
            json!("3x"),
            json!(""),
            json!("-1"),
            json!(" 3"),
            json!(1.5),
            json!(null),
            json!("99999999999"),
        ] {
            let err = serde_json::from_value::<InboxCountResponse>(json!({ "count": bad }))
                .unwrap_err()
                .to_string();
            assert!(err.contains("non-negative whole number"), "{bad}: {err}");
        }
        assert!(serde_json::from_value::<InboxCountResponse>(json!({})).is_err());
    }

    #[test]
    fn group_frames_and_responses() {
        let new = "urn:relay-resource:id:group:g1";
        assert_eq!(
            untargeted(&CreateGroup {
                name: "rendezvous-1".into()
            }),
            json!({"_id":"05","_type":"wf_api_create_group_request","name":"rendezvous-1"})
        );
        let r: CreateGroupResponse = serde_json::from_value(json!({ "uri": new })).unwrap();
        assert_eq!(CreateGroup::output(r, "05"), urn(new));
        assert_eq!(
            untargeted(&DeleteGroup { uri: urn(new) }),
            json!({"_id":"05","_type":"wf_api_delete_group_request","uri":new})
        );
        assert_eq!(
            to(
                BOB,
                &AddGroupMembers {
                    group_uri: urn(new)
                }
            ),
            json!({"_id":"05","_type":"wf_api_add_group_members_request",
                   "_target":{"uris":[BOB]},"group_uri":new})
        );
        assert_eq!(
            to(
                BOB,
                &RemoveGroupMembers {
                    group_uri: urn(new)
                }
            ),
            json!({"_id":"05","_type":"wf_api_remove_group_members_request",
                   "_target":{"uris":[BOB]},"group_uri":new})
        );
        let sec = "urn:relay-resource:name:group:security";
        assert_eq!(
            untargeted(&GroupQuery {
                group_uri: urn(sec),
                query: GroupQueryKind::ListMembers
            }),
            json!({"_id":"05","_type":"wf_api_group_query_request","group_uri":sec,"query":"list_members"})
        );
        let member = Urn::group_member("security", "Bob").unwrap();
        assert_eq!(
            untargeted(&GroupQuery {
                group_uri: member,
                query: GroupQueryKind::IsMember
            }),
            json!({"_id":"05","_type":"wf_api_group_query_request",
                   "group_uri":"urn:relay-resource:name:group:security?device=urn%3Arelay-resource%3Aname%3Adevice%3ABob",
                   "query":"is_member"})
        );
        let r: GroupQueryResponse =
            serde_json::from_value(json!({ "member_uris": [BOB] })).unwrap();
        assert_eq!(r.member_uris, Some(vec![urn(BOB)]));
        let r: GroupQueryResponse = serde_json::from_value(json!({"is_member": true})).unwrap();
        assert_eq!(r.is_member, Some(true));
    }

    #[test]
    fn timer_frames() {
        let r = SetTimer {
            kind: TimerType::Interval,
            name: "tick".into(),
            timeout: 30,
            timeout_type: TimeoutType::Secs,
        };
        assert_eq!(
            untargeted(&r),
            json!({"_id":"05","_type":"wf_api_set_timer_request","type":"interval","name":"tick",
                   "timeout":30,"timeout_type":"secs"})
        );
        assert_eq!(
            untargeted(&ClearTimer {
                name: "tick".into()
            }),
            json!({"_id":"05","_type":"wf_api_clear_timer_request","name":"tick"})
        );
        assert_eq!(
            untargeted(&StartTimer { timeout: 60 }),
            json!({"_id":"05","_type":"wf_api_start_timer_request","timeout":60})
        );
        assert_eq!(
            untargeted(&StopTimer {}),
            json!({"_id":"05","_type":"wf_api_stop_timer_request"})
        );
    }

    #[test]
    fn translate_frame_and_response() {
        let r = Translate {
            text: "hello".into(),
            from_lang: Lang::EnUs,
            to_lang: Lang::FrFr,
        };
        assert_eq!(
            untargeted(&r),
            json!({"_id":"05","_type":"wf_api_translate_request","text":"hello",
                   "from_lang":"en-US","to_lang":"fr-FR"})
        );
        let resp: TranslateResponse =
            serde_json::from_value(json!({"text":"bonjour","from_lang":"en-US","to_lang":"fr-FR"}))
                .unwrap();
        assert_eq!(Translate::output(resp, "05"), "bonjour");
    }

    #[test]
    fn log_analytics_event_frames() {
        let r = LogAnalyticsEvent {
            category: "default".into(),
            content_type: CONTENT_TYPE_TEXT.into(),
            content: "workflow triggered".into(),
            device_uri: Some(urn(BOB)),
        };
        assert_eq!(
            untargeted(&r),
            json!({"_id":"05","_type":"wf_api_log_analytics_event_request","category":"default",
                   "content_type":"text/plain","content":"workflow triggered","device_uri":BOB})
        );
        let tracked = LogAnalyticsEvent {
            category: "order".into(),
            content_type: CONTENT_TYPE_EVENT.into(),
            content: r#"{"id":42}"#.into(),
            device_uri: None,
        };
        assert_eq!(
            untargeted(&tracked),
            json!({"_id":"05","_type":"wf_api_log_analytics_event_request","category":"order",
                   "content_type":"application/vnd.relay.event.parameters+json",
                   "content":"{\"id\":42}"})
        );
    }

    #[test]
    fn incident_frames_and_response() {
        let r = CreateIncident {
            kind: "Panic Alert".into(),
            originator_uri: urn(BOB),
        };
        assert_eq!(
            untargeted(&r),
            json!({"_id":"05","_type":"wf_api_create_incident_request","type":"Panic Alert",
                   "originator_uri":BOB})
        );
        let resp: CreateIncidentResponse =
            serde_json::from_value(json!({"incident_id":"inc_123"})).unwrap();
        assert_eq!(CreateIncident::output(resp, "05"), "inc_123");
        assert_eq!(
            untargeted(&ResolveIncident {
                incident_id: "inc_123".into(),
                reason: "handled".into()
            }),
            json!({"_id":"05","_type":"wf_api_resolve_incident_request","incident_id":"inc_123",
                   "reason":"handled"})
        );
    }

    #[test]
    fn sms_frame_and_response() {
        let r = Sms {
            kind: "sms".into(),
            text: "hi".into(),
            uri: "tel:+15555550100".into(),
        };
        assert_eq!(
            untargeted(&r),
            json!({"_id":"05","_type":"wf_api_sms_request","type":"sms","text":"hi",
                   "uri":"tel:+15555550100"})
        );
        let resp: SmsResponse = serde_json::from_value(json!({"message_id":"m1"})).unwrap();
        assert_eq!(Sms::output(resp, "05").as_deref(), Some("m1"));
        let resp: SmsResponse = serde_json::from_value(json!({})).unwrap();
        assert_eq!(Sms::output(resp, "05"), None);
    }

    #[test]
    fn hidden_disabled_actions_frames() {
        assert_eq!(
            to(
                BOB,
                &SetDeviceMode {
                    mode: "none".into()
                }
            ),
            json!({"_id":"05","_type":"wf_api_set_device_mode_request","_target":{"uris":[BOB]},"mode":"none"})
        );
        assert_eq!(
            to(BOB, &DevicePowerOff { restart: true }),
            json!({"_id":"05","_type":"wf_api_device_power_off_request","_target":{"uris":[BOB]},"restart":true})
        );
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
