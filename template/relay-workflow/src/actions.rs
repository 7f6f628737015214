//! The [`Relay`] methods for every action beyond interactions, speech and plain variables:
//! playback control, vibration, LEDs, notifications, device information and settings, calls,
//! inbox, groups, timers, translation, analytics, incidents, SMS and typed variables.
//!
//! Each method builds an [`Action`] (or a [`MappedAction`] when the response is turned
//! into a typed value); set options on it, then `.await` it.

use crate::error::{Error, Result};
use crate::protocol::*;
use crate::urn::{IntoTarget, Urn};
use crate::workflow::{Action, Relay};
use serde::Serialize;
use serde_json::Value;
use std::fmt;
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::time::Duration;

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// An action whose response is turned into a typed value (device info, group queries).
#[must_use = "an action does nothing until it is awaited"]
pub struct MappedAction<R: Request, T> {
    action: Action<R>,
    map: fn(R::Output) -> Result<T>,
}

impl<R: Request + fmt::Debug, T> fmt::Debug for MappedAction<R, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MappedAction")
            .field("action", &self.action)
            .finish()
    }
}

impl<R: Request, T> MappedAction<R, T> {
    /// Wait this long for Relay's response instead of the action's default.
    pub fn response_timeout(mut self, timeout: Duration) -> Self {
        self.action = self.action.response_timeout(timeout);
        self
    }

    /// The request as it will be sent.
    pub fn request(&self) -> &R {
        self.action.request()
    }
}

impl<T> MappedAction<GetDeviceInfo, T> {
    /// Ask the device itself for a fresh value (waits up to 45 s instead of 5 s). Relay
    /// refreshes the address, coordinates, indoor location and battery; for other queries
    /// the flag is sent but has no known effect.
    pub fn refresh(mut self, refresh: bool) -> Self {
        self.action = self.action.refresh(refresh);
        self
    }
}

impl<R: Request, T: Send + 'static> IntoFuture for MappedAction<R, T> {
    type Output = Result<T>;
    type IntoFuture = BoxFuture<Result<T>>;

    fn into_future(self) -> Self::IntoFuture {
        let map = self.map;
        let action = self.action;
        Box::pin(async move { map(action.await?) })
    }
}

/// What identifies a call for [`Relay::answer_call`] and [`Relay::hangup_call`]: the call id
/// itself, or any call event (its `call_id` is used).
pub trait IntoCallId {
    /// The call id, or a message saying why there is none.
    fn into_call_id(self) -> std::result::Result<String, String>;
}

impl IntoCallId for &str {
    fn into_call_id(self) -> std::result::Result<String, String> {
        if self.is_empty() {
            Err("the call id is empty; pass the call_id of a call event".into())
        } else {
            Ok(self.to_owned())
        }
    }
}

impl IntoCallId for String {
    fn into_call_id(self) -> std::result::Result<String, String> {
        self.as_str().into_call_id()
    }
}

impl IntoCallId for &String {
    fn into_call_id(self) -> std::result::Result<String, String> {
        self.as_str().into_call_id()
    }
}

impl IntoCallId for &CallEvent {
    fn into_call_id(self) -> std::result::Result<String, String> {
        match &self.call_id {
            Some(id) => id.as_str().into_call_id(),
            None => Err(
                "the call event has no call_id (call_start_request events have none; \
                 answer the call_received event instead)"
                    .into(),
            ),
        }
    }
}

impl IntoCallId for CallEvent {
    fn into_call_id(self) -> std::result::Result<String, String> {
        (&self).into_call_id()
    }
}

/// Latitude and longitude of a device, in degrees (the answer to a `latlong` query).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Coordinates {
    /// Degrees north.
    pub latitude: f64,
    /// Degrees east.
    pub longitude: f64,
}

/// One URN from something that may be several; an error unless there is exactly one.
fn single_urn(
    action: &'static str,
    what: &'static str,
    value: impl IntoTarget,
) -> std::result::Result<Urn, Error> {
    let mut uris = value.into_target()?.into_uris();
    match uris.len() {
        1 => Ok(uris.remove(0)),
        n => Err(Error::InvalidArgument {
            action,
            message: format!("the {what} must be one URN, but {n} were given; pass a single URN"),
        }),
    }
}

/// A colour as six hex digits; a leading `#` is dropped.
fn color_arg(color: &str) -> std::result::Result<String, Error> {
    let hex = color.strip_prefix('#').unwrap_or(color);
    if hex.len() == 6 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(hex.to_owned())
    } else {
        Err(Error::InvalidArgument {
            action: "set_led",
            message: format!(
                "colour {color:?} is not six hex digits; write it like \"FF0000\" (red)"
            ),
        })
    }
}

fn decode_error(action: &'static str, message: String) -> Error {
    Error::Decode {
        action,
        source: serde::de::Error::custom(message),
    }
}

fn info_field(info: &DeviceInfo, query: DeviceInfoQuery) -> Result<Value> {
    match info.get(&query) {
        Some(Value::Null) | None => Err(decode_error(
            "get_device_info",
            format!("the response has no {query:?} field: {:?}", info.0),
        )),
        Some(value) => Ok(value.clone()),
    }
}

fn info_string(info: DeviceInfo, query: DeviceInfoQuery) -> Result<String> {
    match info_field(&info, query.clone())? {
        Value::String(s) => Ok(s),
        other => serde_json::from_value::<CharList>(other.clone())
            .map(|c| c.0)
            .map_err(|_| {
                decode_error(
                    "get_device_info",
                    format!("{query} should be a string, but Relay sent {other}"),
                )
            }),
    }
}

/// A string that may arrive as an array of character codes.
struct CharList(String);

impl<'de> serde::Deserialize<'de> for CharList {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        crate::protocol::lenient::string(d).map(CharList)
    }
}

fn number(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn device_name(info: DeviceInfo) -> Result<String> {
    info_string(info, DeviceInfoQuery::Name)
}
fn device_id(info: DeviceInfo) -> Result<String> {
    info_string(info, DeviceInfoQuery::Id)
}
fn device_address(info: DeviceInfo) -> Result<String> {
    info_string(info, DeviceInfoQuery::Address)
}
fn device_indoor_location(info: DeviceInfo) -> Result<String> {
    info_string(info, DeviceInfoQuery::IndoorLocation)
}
fn device_username(info: DeviceInfo) -> Result<String> {
    info_string(info, DeviceInfoQuery::Username)
}
fn device_type(info: DeviceInfo) -> Result<DeviceType> {
    info_string(info, DeviceInfoQuery::Type).map(DeviceType::from)
}
fn device_battery(info: DeviceInfo) -> Result<f64> {
    let value = info_field(&info, DeviceInfoQuery::Battery)?;
    number(&value).ok_or_else(|| {
        decode_error(
            "get_device_info",
            format!("battery should be a number (percent), but Relay sent {value}"),
        )
    })
}
fn device_coordinates(info: DeviceInfo) -> Result<Coordinates> {
    let value = info_field(&info, DeviceInfoQuery::Latlong)?;
    match value.as_array().map(Vec::as_slice) {
        Some([lat, long]) => match (number(lat), number(long)) {
            (Some(latitude), Some(longitude)) => Ok(Coordinates {
                latitude,
                longitude,
            }),
            _ => Err(decode_error(
                "get_device_info",
                format!("latlong should hold two numbers, but Relay sent {value}"),
            )),
        },
        _ => Err(decode_error(
            "get_device_info",
            format!("latlong should be [latitude, longitude], but Relay sent {value}"),
        )),
    }
}
fn device_location_enabled(info: DeviceInfo) -> Result<bool> {
    let value = info_field(&info, DeviceInfoQuery::LocationEnabled)?;
    match &value {
        Value::Bool(b) => Ok(*b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Ok(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Ok(false),
        _ => Err(decode_error(
            "get_device_info",
            format!("location_enabled should be true or false, but Relay sent {value}"),
        )),
    }
}

fn members(response: GroupQueryResponse) -> Result<Vec<Urn>> {
    response.member_uris.ok_or_else(|| {
        decode_error(
            "group_query",
            "the list_members response has no member_uris".into(),
        )
    })
}

fn is_member(response: GroupQueryResponse) -> Result<bool> {
    response.is_member.ok_or_else(|| {
        decode_error(
            "group_query",
            "the is_member response has no is_member".into(),
        )
    })
}

// ---------------------------------------------------------------------------
// Playback, vibration, LEDs
// ---------------------------------------------------------------------------

impl Relay {
    /// Stop everything said or played on an interaction (`.ids(…)` stops only those).
    ///
    /// ```no_run
    /// # async fn f(relay: relay_workflow::Relay, interaction: relay_workflow::Urn) -> relay_workflow::Result<()> {
    /// relay.stop_playback(&interaction).await?;
    /// # Ok(()) }
    /// ```
    pub fn stop_playback(&self, target: impl IntoTarget) -> Action<StopPlayback> {
        self.request_to(target, StopPlayback::default())
    }

    /// Vibrate the device: `pattern` in milliseconds (delay, on, off, on, …).
    ///
    /// ```no_run
    /// # async fn f(relay: relay_workflow::Relay, interaction: relay_workflow::Urn) -> relay_workflow::Result<()> {
    /// relay.vibrate(&interaction, [100, 500, 500, 500, 500, 500]).await?;
    /// # Ok(()) }
    /// ```
    pub fn vibrate(
        &self,
        target: impl IntoTarget,
        pattern: impl IntoIterator<Item = u64>,
    ) -> Action<Vibrate> {
        self.request_to(
            target,
            Vibrate {
                pattern: pattern.into_iter().collect(),
            },
        )
    }

    /// Any LED effect with any options (relay-js `ledAction`).
    ///
    /// ```no_run
    /// # use relay_workflow::protocol::{LedEffect, LedInfo};
    /// # async fn f(relay: relay_workflow::Relay, interaction: relay_workflow::Urn) -> relay_workflow::Result<()> {
    /// relay.set_led(&interaction, LedEffect::Static, LedInfo::default().color("3", "00FF00")).await?;
    /// # Ok(()) }
    /// ```
    pub fn set_led(
        &self,
        target: impl IntoTarget,
        effect: LedEffect,
        info: LedInfo,
    ) -> Action<SetLed> {
        let mut action = self.request_to(target, SetLed { effect, args: info });
        let mut error = None;
        if let Some(colors) = &mut action.request_mut().args.colors {
            for color in colors.values_mut() {
                match color_arg(color) {
                    Ok(hex) => *color = hex,
                    Err(e) => {
                        error.get_or_insert(e);
                    }
                }
            }
        }
        match error {
            Some(e) => action.fail(e),
            None => action,
        }
    }

    /// Light one LED (`index` 1 to 16; the ring has 12) in a colour (`"RRGGBB"`).
    ///
    /// ```no_run
    /// # async fn f(relay: relay_workflow::Relay, interaction: relay_workflow::Urn) -> relay_workflow::Result<()> {
    /// relay.switch_led_on(&interaction, 1, "FF0000").await?;
    /// # Ok(()) }
    /// ```
    pub fn switch_led_on(
        &self,
        target: impl IntoTarget,
        index: u8,
        color: impl AsRef<str>,
    ) -> Action<SetLed> {
        let action = self.set_led(
            target,
            LedEffect::Static,
            LedInfo::default().color(index.to_string(), color.as_ref()),
        );
        if (1..=16).contains(&index) {
            action
        } else {
            action.fail(Error::InvalidArgument {
                action: "set_led",
                message: format!("LED index {index} is out of range; use 1 to 12 (the ring)"),
            })
        }
    }

    /// Light the whole ring in one colour.
    ///
    /// ```no_run
    /// # async fn f(relay: relay_workflow::Relay, interaction: relay_workflow::Urn) -> relay_workflow::Result<()> {
    /// relay.switch_all_leds_on(&interaction, "00FF00").await?;
    /// # Ok(()) }
    /// ```
    pub fn switch_all_leds_on(
        &self,
        target: impl IntoTarget,
        color: impl AsRef<str>,
    ) -> Action<SetLed> {
        self.set_led(
            target,
            LedEffect::Static,
            LedInfo::default().color("ring", color.as_ref()),
        )
    }

    /// Turn every LED off.
    ///
    /// ```no_run
    /// # async fn f(relay: relay_workflow::Relay, interaction: relay_workflow::Urn) -> relay_workflow::Result<()> {
    /// relay.switch_all_leds_off(&interaction).await?;
    /// # Ok(()) }
    /// ```
    pub fn switch_all_leds_off(&self, target: impl IntoTarget) -> Action<SetLed> {
        self.set_led(target, LedEffect::Off, LedInfo::default())
    }

    /// Rainbow round the ring, forever (`.rotations(n)` for n turns).
    ///
    /// ```no_run
    /// # async fn f(relay: relay_workflow::Relay, interaction: relay_workflow::Urn) -> relay_workflow::Result<()> {
    /// relay.rainbow(&interaction).rotations(3).await?;
    /// # Ok(()) }
    /// ```
    pub fn rainbow(&self, target: impl IntoTarget) -> Action<SetLed> {
        let info = LedInfo {
            rotations: Some(-1),
            ..LedInfo::default()
        };
        self.set_led(target, LedEffect::Rainbow, info)
    }

    /// One LED of `color` running round the ring, forever (`.rotations(n)` for n turns).
    ///
    /// ```no_run
    /// # async fn f(relay: relay_workflow::Relay, interaction: relay_workflow::Urn) -> relay_workflow::Result<()> {
    /// relay.rotate(&interaction, "FFFFFF").await?;
    /// # Ok(()) }
    /// ```
    pub fn rotate(&self, target: impl IntoTarget, color: impl AsRef<str>) -> Action<SetLed> {
        let info = LedInfo {
            rotations: Some(-1),
            ..LedInfo::default()
        }
        .color("1", color.as_ref());
        self.set_led(target, LedEffect::Rotate, info)
    }

    /// Flash the ring in `color`, forever (`.count(n)` for n flashes).
    ///
    /// ```no_run
    /// # async fn f(relay: relay_workflow::Relay, interaction: relay_workflow::Urn) -> relay_workflow::Result<()> {
    /// relay.flash(&interaction, "0000FF").count(5).await?;
    /// # Ok(()) }
    /// ```
    pub fn flash(&self, target: impl IntoTarget, color: impl AsRef<str>) -> Action<SetLed> {
        let info = LedInfo {
            count: Some(-1),
            ..LedInfo::default()
        }
        .color("ring", color.as_ref());
        self.set_led(target, LedEffect::Flash, info)
    }

    /// Fade the ring in and out in `color`, forever (`.count(n)` for n breaths).
    ///
    /// ```no_run
    /// # async fn f(relay: relay_workflow::Relay, interaction: relay_workflow::Urn) -> relay_workflow::Result<()> {
    /// relay.breathe(&interaction, "0000FF").await?;
    /// # Ok(()) }
    /// ```
    pub fn breathe(&self, target: impl IntoTarget, color: impl AsRef<str>) -> Action<SetLed> {
        let info = LedInfo {
            count: Some(-1),
            ..LedInfo::default()
        }
        .color("ring", color.as_ref());
        self.set_led(target, LedEffect::Breathe, info)
    }
}

impl Action<StopPlayback> {
    /// Stop only these playbacks (ids returned by `say` and `play`).
    pub fn ids<I, S>(mut self, ids: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.request_mut().ids = Some(ids.into_iter().map(Into::into).collect());
        self
    }
}

impl Action<SetLed> {
    /// Number of rotations (`rotate`, `rainbow`); −1 is forever.
    pub fn rotations(mut self, rotations: i64) -> Self {
        self.request_mut().args.rotations = Some(rotations);
        self
    }

    /// Number of repetitions (`flash`, `breathe`); −1 is forever.
    pub fn count(mut self, count: i64) -> Self {
        self.request_mut().args.count = Some(count);
        self
    }

    /// Duration of one cycle.
    pub fn duration(mut self, duration: Duration) -> Self {
        self.request_mut().args.duration = Some(millis(duration));
        self
    }

    /// Pause between cycles.
    pub fn repeat_delay(mut self, delay: Duration) -> Self {
        self.request_mut().args.repeat_delay = Some(millis(delay));
        self
    }

    /// How often the pattern repeats.
    pub fn pattern_repeats(mut self, repeats: i64) -> Self {
        self.request_mut().args.pattern_repeats = Some(repeats);
        self
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

// ---------------------------------------------------------------------------
// Notifications
// ---------------------------------------------------------------------------

impl Relay {
    fn notification(
        &self,
        kind: NotificationType,
        target: impl IntoTarget,
        originator: Option<std::result::Result<Urn, Error>>,
        name: String,
        text: Option<String>,
    ) -> Action<Notification> {
        let (originator, error) = match originator {
            None => (None, None),
            Some(Ok(urn)) => (Some(urn), None),
            Some(Err(e)) => (None, Some(e)),
        };
        let action = self.request_to(
            target,
            Notification {
                kind,
                name,
                originator,
                text,
                push_opts: PushOptions::default(),
            },
        );
        match error {
            Some(e) => action.fail(e),
            None => action,
        }
    }

    /// Say `text` once on every target device (and show it in Dash). `originator` is the
    /// device or interaction it comes from; `name` identifies it for cancelling.
    ///
    /// ```no_run
    /// # use relay_workflow::Urn;
    /// # async fn f(relay: relay_workflow::Relay, bob: Urn) -> relay_workflow::Result<()> {
    /// relay.broadcast(&Urn::group_name("Cleaning")?, &bob, "spill", "Spill in aisle 3").await?;
    /// # Ok(()) }
    /// ```
    pub fn broadcast(
        &self,
        target: impl IntoTarget,
        originator: impl IntoTarget,
        name: impl Into<String>,
        text: impl Into<String>,
    ) -> Action<Notification> {
        let originator = single_urn(Notification::ACTION, "originator", originator);
        self.notification(
            NotificationType::Broadcast,
            target,
            Some(originator),
            name.into(),
            Some(text.into()),
        )
    }

    /// Like [`broadcast`](Self::broadcast), but repeated until someone acknowledges it;
    /// acknowledgements arrive as notification events (`Workflow::on_notification`).
    ///
    /// ```no_run
    /// # use relay_workflow::Urn;
    /// # async fn f(relay: relay_workflow::Relay, bob: Urn) -> relay_workflow::Result<()> {
    /// relay.alert(&Urn::group_name("Cleaning")?, &bob, "spill", "Spill in aisle 3").await?;
    /// # Ok(()) }
    /// ```
    pub fn alert(
        &self,
        target: impl IntoTarget,
        originator: impl IntoTarget,
        name: impl Into<String>,
        text: impl Into<String>,
    ) -> Action<Notification> {
        let originator = single_urn(Notification::ACTION, "originator", originator);
        self.notification(
            NotificationType::Alert,
            target,
            Some(originator),
            name.into(),
            Some(text.into()),
        )
    }

    /// A plain notification (type `notify`; relay-js removed its helper, the type remains).
    ///
    /// ```no_run
    /// # use relay_workflow::Urn;
    /// # async fn f(relay: relay_workflow::Relay, bob: Urn) -> relay_workflow::Result<()> {
    /// relay.notify(&Urn::group_name("Cleaning")?, &bob, "fyi", "Aisle 3 is clean").await?;
    /// # Ok(()) }
    /// ```
    pub fn notify(
        &self,
        target: impl IntoTarget,
        originator: impl IntoTarget,
        name: impl Into<String>,
        text: impl Into<String>,
    ) -> Action<Notification> {
        let originator = single_urn(Notification::ACTION, "originator", originator);
        self.notification(
            NotificationType::Notify,
            target,
            Some(originator),
            name.into(),
            Some(text.into()),
        )
    }

    /// Cancel the broadcast named `name` on the targets.
    ///
    /// ```no_run
    /// # use relay_workflow::Urn;
    /// # async fn f(relay: relay_workflow::Relay) -> relay_workflow::Result<()> {
    /// relay.cancel_broadcast(&Urn::group_name("Cleaning")?, "spill").await?;
    /// # Ok(()) }
    /// ```
    pub fn cancel_broadcast(
        &self,
        target: impl IntoTarget,
        name: impl Into<String>,
    ) -> Action<Notification> {
        self.notification(NotificationType::Cancel, target, None, name.into(), None)
    }

    /// Cancel the alert named `name` on the targets (the same request as
    /// [`cancel_broadcast`](Self::cancel_broadcast)).
    ///
    /// ```no_run
    /// # use relay_workflow::Urn;
    /// # async fn f(relay: relay_workflow::Relay) -> relay_workflow::Result<()> {
    /// relay.cancel_alert(&Urn::group_name("Cleaning")?, "spill").await?;
    /// # Ok(()) }
    /// ```
    pub fn cancel_alert(
        &self,
        target: impl IntoTarget,
        name: impl Into<String>,
    ) -> Action<Notification> {
        self.cancel_broadcast(target, name)
    }

    /// Cancel the notification named `name` on the targets (the same request as
    /// [`cancel_broadcast`](Self::cancel_broadcast)).
    ///
    /// ```no_run
    /// # use relay_workflow::Urn;
    /// # async fn f(relay: relay_workflow::Relay) -> relay_workflow::Result<()> {
    /// relay.cancel_notification(&Urn::group_name("Cleaning")?, "fyi").await?;
    /// # Ok(()) }
    /// ```
    pub fn cancel_notification(
        &self,
        target: impl IntoTarget,
        name: impl Into<String>,
    ) -> Action<Notification> {
        self.cancel_broadcast(target, name)
    }
}

impl Action<Notification> {
    /// Push options for the Relay app (priority, title, body, sound).
    pub fn push_options(mut self, options: PushOptions) -> Self {
        self.request_mut().push_opts = options;
        self
    }
}

// ---------------------------------------------------------------------------
// Device information and settings
// ---------------------------------------------------------------------------

impl Relay {
    /// Any device-info query, answered with the raw response (see the typed getters below).
    ///
    /// ```no_run
    /// # use relay_workflow::protocol::DeviceInfoQuery;
    /// # async fn f(relay: relay_workflow::Relay, device: relay_workflow::Urn) -> relay_workflow::Result<()> {
    /// let info = relay.get_device_info(&device, DeviceInfoQuery::Battery).refresh(true).await?;
    /// # Ok(()) }
    /// ```
    pub fn get_device_info(
        &self,
        target: impl IntoTarget,
        query: DeviceInfoQuery,
    ) -> Action<GetDeviceInfo> {
        self.request_to(
            target,
            GetDeviceInfo {
                query,
                refresh: false,
            },
        )
    }

    fn device_info<T>(
        &self,
        target: impl IntoTarget,
        query: DeviceInfoQuery,
        map: fn(DeviceInfo) -> Result<T>,
    ) -> MappedAction<GetDeviceInfo, T> {
        MappedAction {
            action: self.get_device_info(target, query),
            map,
        }
    }

    /// The device's name.
    ///
    /// ```no_run
    /// # async fn f(relay: relay_workflow::Relay, device: relay_workflow::Urn) -> relay_workflow::Result<()> {
    /// let name: String = relay.get_device_name(&device).await?;
    /// # Ok(()) }
    /// ```
    pub fn get_device_name(&self, target: impl IntoTarget) -> MappedAction<GetDeviceInfo, String> {
        self.device_info(target, DeviceInfoQuery::Name, device_name)
    }

    /// The device's id.
    ///
    /// ```no_run
    /// # async fn f(relay: relay_workflow::Relay, device: relay_workflow::Urn) -> relay_workflow::Result<()> {
    /// let id: String = relay.get_device_id(&device).await?;
    /// # Ok(()) }
    /// ```
    pub fn get_device_id(&self, target: impl IntoTarget) -> MappedAction<GetDeviceInfo, String> {
        self.device_info(target, DeviceInfoQuery::Id, device_id)
    }

    /// The kind of device.
    ///
    /// ```no_run
    /// # async fn f(relay: relay_workflow::Relay, device: relay_workflow::Urn) -> relay_workflow::Result<()> {
    /// let kind = relay.get_device_type(&device).await?;
    /// # Ok(()) }
    /// ```
    pub fn get_device_type(
        &self,
        target: impl IntoTarget,
    ) -> MappedAction<GetDeviceInfo, DeviceType> {
        self.device_info(target, DeviceInfoQuery::Type, device_type)
    }

    /// The device's street address (`.refresh(true)` asks the device).
    ///
    /// ```no_run
    /// # async fn f(relay: relay_workflow::Relay, device: relay_workflow::Urn) -> relay_workflow::Result<()> {
    /// let address = relay.get_device_address(&device).refresh(true).await?;
    /// # Ok(()) }
    /// ```
    pub fn get_device_address(
        &self,
        target: impl IntoTarget,
    ) -> MappedAction<GetDeviceInfo, String> {
        self.device_info(target, DeviceInfoQuery::Address, device_address)
    }

    /// The device's latitude and longitude (`.refresh(true)` asks the device).
    ///
    /// ```no_run
    /// # async fn f(relay: relay_workflow::Relay, device: relay_workflow::Urn) -> relay_workflow::Result<()> {
    /// let at = relay.get_device_coordinates(&device).refresh(true).await?;
    /// println!("{} {}", at.latitude, at.longitude);
    /// # Ok(()) }
    /// ```
    pub fn get_device_coordinates(
        &self,
        target: impl IntoTarget,
    ) -> MappedAction<GetDeviceInfo, Coordinates> {
        self.device_info(target, DeviceInfoQuery::Latlong, device_coordinates)
    }

    /// The device's indoor location (`.refresh(true)` asks the device).
    ///
    /// ```no_run
    /// # async fn f(relay: relay_workflow::Relay, device: relay_workflow::Urn) -> relay_workflow::Result<()> {
    /// let room = relay.get_device_indoor_location(&device).await?;
    /// # Ok(()) }
    /// ```
    pub fn get_device_indoor_location(
        &self,
        target: impl IntoTarget,
    ) -> MappedAction<GetDeviceInfo, String> {
        self.device_info(
            target,
            DeviceInfoQuery::IndoorLocation,
            device_indoor_location,
        )
    }

    /// The battery level in percent (`.refresh(true)` asks the device).
    ///
    /// ```no_run
    /// # async fn f(relay: relay_workflow::Relay, device: relay_workflow::Urn) -> relay_workflow::Result<()> {
    /// let percent: f64 = relay.get_device_battery(&device).refresh(true).await?;
    /// # Ok(()) }
    /// ```
    pub fn get_device_battery(&self, target: impl IntoTarget) -> MappedAction<GetDeviceInfo, f64> {
        self.device_info(target, DeviceInfoQuery::Battery, device_battery)
    }

    /// The user signed in on the device (relay-js `getUserProfile`).
    ///
    /// ```no_run
    /// # async fn f(relay: relay_workflow::Relay, device: relay_workflow::Urn) -> relay_workflow::Result<()> {
    /// let user = relay.get_device_username(&device).await?;
    /// # Ok(()) }
    /// ```
    pub fn get_device_username(
        &self,
        target: impl IntoTarget,
    ) -> MappedAction<GetDeviceInfo, String> {
        self.device_info(target, DeviceInfoQuery::Username, device_username)
    }

    /// Whether the device reports its location.
    ///
    /// ```no_run
    /// # async fn f(relay: relay_workflow::Relay, device: relay_workflow::Urn) -> relay_workflow::Result<()> {
    /// let on: bool = relay.get_device_location_enabled(&device).await?;
    /// # Ok(()) }
    /// ```
    pub fn get_device_location_enabled(
        &self,
        target: impl IntoTarget,
    ) -> MappedAction<GetDeviceInfo, bool> {
        self.device_info(
            target,
            DeviceInfoQuery::LocationEnabled,
            device_location_enabled,
        )
    }

    /// Change any device setting (see the helpers below).
    ///
    /// ```no_run
    /// # use relay_workflow::protocol::DeviceInfoField;
    /// # async fn f(relay: relay_workflow::Relay, device: relay_workflow::Urn) -> relay_workflow::Result<()> {
    /// relay.set_device_info(&device, DeviceInfoField::Label, "Front desk").await?;
    /// # Ok(()) }
    /// ```
    pub fn set_device_info(
        &self,
        target: impl IntoTarget,
        field: DeviceInfoField,
        value: impl Into<String>,
    ) -> Action<SetDeviceInfo> {
        self.request_to(
            target,
            SetDeviceInfo {
                field,
                value: value.into(),
            },
        )
    }

    /// Rename the device (field `label`).
    ///
    /// ```no_run
    /// # async fn f(relay: relay_workflow::Relay, device: relay_workflow::Urn) -> relay_workflow::Result<()> {
    /// relay.set_device_name(&device, "Front desk").await?;
    /// # Ok(()) }
    /// ```
    pub fn set_device_name(
        &self,
        target: impl IntoTarget,
        name: impl Into<String>,
    ) -> Action<SetDeviceInfo> {
        self.set_device_info(target, DeviceInfoField::Label, name)
    }

    /// Turn location reporting on (the string `"true"` on the wire).
    ///
    /// ```no_run
    /// # async fn f(relay: relay_workflow::Relay, device: relay_workflow::Urn) -> relay_workflow::Result<()> {
    /// relay.enable_location(&device).await?;
    /// # Ok(()) }
    /// ```
    pub fn enable_location(&self, target: impl IntoTarget) -> Action<SetDeviceInfo> {
        self.set_device_info(target, DeviceInfoField::LocationEnabled, "true")
    }

    /// Turn location reporting off (the string `"false"` on the wire).
    ///
    /// ```no_run
    /// # async fn f(relay: relay_workflow::Relay, device: relay_workflow::Urn) -> relay_workflow::Result<()> {
    /// relay.disable_location(&device).await?;
    /// # Ok(()) }
    /// ```
    pub fn disable_location(&self, target: impl IntoTarget) -> Action<SetDeviceInfo> {
        self.set_device_info(target, DeviceInfoField::LocationEnabled, "false")
    }

    /// Move the device to a channel (options: `.suppress_tts(true)`,
    /// `.disable_home_channel(true)`).
    ///
    /// ```no_run
    /// # async fn f(relay: relay_workflow::Relay, device: relay_workflow::Urn) -> relay_workflow::Result<()> {
    /// relay.set_channel(&device, "security").suppress_tts(true).await?;
    /// # Ok(()) }
    /// ```
    pub fn set_channel(
        &self,
        target: impl IntoTarget,
        channel_name: impl Into<String>,
    ) -> Action<SetChannel> {
        self.request_to(
            target,
            SetChannel {
                channel_name: channel_name.into(),
                suppress_tts: false,
                disable_home_channel: false,
            },
        )
    }

    /// Enable the home channel of the target devices.
    ///
    /// ```no_run
    /// # async fn f(relay: relay_workflow::Relay, device: relay_workflow::Urn) -> relay_workflow::Result<()> {
    /// relay.enable_home_channel(&device).await?;
    /// # Ok(()) }
    /// ```
    pub fn enable_home_channel(&self, target: impl IntoTarget) -> Action<SetHomeChannelState> {
        self.request_to(target, SetHomeChannelState { enabled: true })
    }

    /// Disable the home channel of the target devices.
    ///
    /// ```no_run
    /// # async fn f(relay: relay_workflow::Relay, device: relay_workflow::Urn) -> relay_workflow::Result<()> {
    /// relay.disable_home_channel(&device).await?;
    /// # Ok(()) }
    /// ```
    pub fn disable_home_channel(&self, target: impl IntoTarget) -> Action<SetHomeChannelState> {
        self.request_to(target, SetHomeChannelState { enabled: false })
    }

    /// Sign `username` in on the device (`.force(true)` even if signed in elsewhere).
    ///
    /// ```no_run
    /// # async fn f(relay: relay_workflow::Relay, device: relay_workflow::Urn) -> relay_workflow::Result<()> {
    /// relay.set_user_profile(&device, "bob").force(true).await?;
    /// # Ok(()) }
    /// ```
    pub fn set_user_profile(
        &self,
        target: impl IntoTarget,
        username: impl Into<String>,
    ) -> Action<SetUserProfile> {
        self.request_to(
            target,
            SetUserProfile {
                username: username.into(),
                force: false,
            },
        )
    }
}

impl Action<GetDeviceInfo> {
    /// Ask the device itself for a fresh value (waits up to 45 s instead of 5 s).
    pub fn refresh(mut self, refresh: bool) -> Self {
        self.request_mut().refresh = refresh;
        self
    }
}

impl Action<SetChannel> {
    /// Do not announce the channel change.
    pub fn suppress_tts(mut self, suppress: bool) -> Self {
        self.request_mut().suppress_tts = suppress;
        self
    }

    /// Also disable the home channel.
    pub fn disable_home_channel(mut self, disable: bool) -> Self {
        self.request_mut().disable_home_channel = disable;
        self
    }
}

impl Action<SetUserProfile> {
    /// Sign in even if the user is signed in on another device.
    pub fn force(mut self, force: bool) -> Self {
        self.request_mut().force = force;
        self
    }
}

// ---------------------------------------------------------------------------
// Calls and inbox
// ---------------------------------------------------------------------------

impl Relay {
    /// The target device calls `callee` (a device URN); returns the call id.
    ///
    /// ```no_run
    /// # use relay_workflow::Urn;
    /// # async fn f(relay: relay_workflow::Relay, bob: Urn) -> relay_workflow::Result<()> {
    /// let call_id = relay.place_call(&bob, &Urn::device_name("Ann")?).await?;
    /// # Ok(()) }
    /// ```
    pub fn place_call(&self, target: impl IntoTarget, callee: impl AsRef<str>) -> Action<Call> {
        self.request_to(
            target,
            Call {
                uri: callee.as_ref().to_owned(),
            },
        )
    }

    fn with_call_id<R: Request>(
        &self,
        action_name: &'static str,
        target: impl IntoTarget,
        call: impl IntoCallId,
        make: fn(String) -> R,
    ) -> Action<R> {
        match call.into_call_id() {
            Ok(id) => self.request_to(target, make(id)),
            Err(message) => {
                self.request_to(target, make(String::new()))
                    .fail(Error::InvalidArgument {
                        action: action_name,
                        message,
                    })
            }
        }
    }

    /// The target device answers a call (a call id, or the call event itself).
    ///
    /// ```no_run
    /// # use relay_workflow::prelude::*;
    /// # async fn f(relay: Relay, device: Urn, event: CallEvent) -> relay_workflow::Result<()> {
    /// relay.answer_call(&device, &event).await?;
    /// # Ok(()) }
    /// ```
    pub fn answer_call(&self, target: impl IntoTarget, call: impl IntoCallId) -> Action<Answer> {
        self.with_call_id("answer", target, call, |call_id| Answer { call_id })
    }

    /// The target device hangs up a call (a call id, or a call event).
    ///
    /// ```no_run
    /// # async fn f(relay: relay_workflow::Relay, device: relay_workflow::Urn) -> relay_workflow::Result<()> {
    /// relay.hangup_call(&device, "call-1").await?;
    /// # Ok(()) }
    /// ```
    pub fn hangup_call(&self, target: impl IntoTarget, call: impl IntoCallId) -> Action<Hangup> {
        self.with_call_id("hangup", target, call, |call_id| Hangup { call_id })
    }

    /// Register the device for calls (`.expires(seconds)` sets the lifetime).
    ///
    /// ```no_run
    /// # async fn f(relay: relay_workflow::Relay, device: relay_workflow::Urn) -> relay_workflow::Result<()> {
    /// relay.register_for_calls(&device, "sip:bob@example.com", "secret").expires(3600).await?;
    /// # Ok(()) }
    /// ```
    pub fn register_for_calls(
        &self,
        target: impl IntoTarget,
        uri: impl Into<String>,
        password: impl Into<String>,
    ) -> Action<Register> {
        self.request_to(
            target,
            Register {
                uri: Some(uri.into()),
                password: Some(password.into()),
                expires: None,
            },
        )
    }

    /// Unregister the device for calls (`register` with `expires: 0`).
    ///
    /// ```no_run
    /// # async fn f(relay: relay_workflow::Relay, device: relay_workflow::Urn) -> relay_workflow::Result<()> {
    /// relay.unregister_for_calls(&device).await?;
    /// # Ok(()) }
    /// ```
    pub fn unregister_for_calls(&self, target: impl IntoTarget) -> Action<Register> {
        self.request_to(
            target,
            Register {
                expires: Some(0),
                ..Register::default()
            },
        )
    }

    /// How many messages wait in the device's inbox.
    ///
    /// ```no_run
    /// # async fn f(relay: relay_workflow::Relay, device: relay_workflow::Urn) -> relay_workflow::Result<()> {
    /// let waiting: u32 = relay.inbox_count(&device).await?;
    /// # Ok(()) }
    /// ```
    pub fn inbox_count(&self, target: impl IntoTarget) -> Action<InboxCount> {
        self.request_to(target, InboxCount {})
    }

    /// Play the device's inbox; `Workflow::on_play_inbox_messages` hears when it is done.
    ///
    /// ```no_run
    /// # async fn f(relay: relay_workflow::Relay, device: relay_workflow::Urn) -> relay_workflow::Result<()> {
    /// relay.play_inbox_messages(&device).await?;
    /// # Ok(()) }
    /// ```
    pub fn play_inbox_messages(&self, target: impl IntoTarget) -> Action<PlayInboxMessages> {
        self.request_to(target, PlayInboxMessages {})
    }
}

impl Action<Register> {
    /// Registration lifetime in seconds (0 unregisters).
    pub fn expires(mut self, seconds: u64) -> Self {
        self.request_mut().expires = Some(seconds);
        self
    }

    /// Registration URI.
    pub fn uri(mut self, uri: impl Into<String>) -> Self {
        self.request_mut().uri = Some(uri.into());
        self
    }

    /// Registration password.
    pub fn password(mut self, password: impl Into<String>) -> Self {
        self.request_mut().password = Some(password.into());
        self
    }
}

// ---------------------------------------------------------------------------
// Groups
// ---------------------------------------------------------------------------

impl Relay {
    fn with_urn<R: Request>(
        &self,
        what: &'static str,
        urn: impl IntoTarget,
        target: Option<crate::urn::Target>,
        make: impl FnOnce(Urn) -> R,
    ) -> Action<R> {
        let (urn, error) = match single_urn(R::ACTION, what, urn) {
            Ok(urn) => (urn, None),
            Err(e) => (Urn::default(), Some(e)),
        };
        let action = match target {
            Some(t) => self.request_to(t, make(urn)),
            None => self.request(make(urn)),
        };
        match error {
            Some(e) => action.fail(e),
            None => action,
        }
    }

    /// Create a group named `name`; returns its URN.
    ///
    /// ```no_run
    /// # async fn f(relay: relay_workflow::Relay) -> relay_workflow::Result<()> {
    /// let group = relay.create_group("rendezvous-1").await?;
    /// # Ok(()) }
    /// ```
    pub fn create_group(&self, name: impl Into<String>) -> Action<CreateGroup> {
        self.request(CreateGroup { name: name.into() })
    }

    /// Delete a group.
    ///
    /// ```no_run
    /// # async fn f(relay: relay_workflow::Relay, group: relay_workflow::Urn) -> relay_workflow::Result<()> {
    /// relay.delete_group(&group).await?;
    /// # Ok(()) }
    /// ```
    pub fn delete_group(&self, group: impl IntoTarget) -> Action<DeleteGroup> {
        self.with_urn("group", group, None, |uri| DeleteGroup { uri })
    }

    /// Add devices to a group.
    ///
    /// ```no_run
    /// # async fn f(relay: relay_workflow::Relay, group: relay_workflow::Urn, bob: relay_workflow::Urn) -> relay_workflow::Result<()> {
    /// relay.add_group_members(&group, &bob).await?;
    /// # Ok(()) }
    /// ```
    pub fn add_group_members(
        &self,
        group: impl IntoTarget,
        members: impl IntoTarget,
    ) -> Action<AddGroupMembers> {
        match members.into_target() {
            Ok(members) => self.with_urn("group", group, Some(members), |group_uri| {
                AddGroupMembers { group_uri }
            }),
            Err(e) => self
                .request(AddGroupMembers {
                    group_uri: Urn::default(),
                })
                .fail(e),
        }
    }

    /// Remove devices from a group.
    ///
    /// ```no_run
    /// # async fn f(relay: relay_workflow::Relay, group: relay_workflow::Urn, bob: relay_workflow::Urn) -> relay_workflow::Result<()> {
    /// relay.remove_group_members(&group, &bob).await?;
    /// # Ok(()) }
    /// ```
    pub fn remove_group_members(
        &self,
        group: impl IntoTarget,
        members: impl IntoTarget,
    ) -> Action<RemoveGroupMembers> {
        match members.into_target() {
            Ok(members) => self.with_urn("group", group, Some(members), |group_uri| {
                RemoveGroupMembers { group_uri }
            }),
            Err(e) => self
                .request(RemoveGroupMembers {
                    group_uri: Urn::default(),
                })
                .fail(e),
        }
    }

    /// The URNs of a group's members.
    ///
    /// ```no_run
    /// # use relay_workflow::Urn;
    /// # async fn f(relay: relay_workflow::Relay) -> relay_workflow::Result<()> {
    /// let members = relay.list_group_members(&Urn::group_name("security")?).await?;
    /// # Ok(()) }
    /// ```
    pub fn list_group_members(&self, group: impl IntoTarget) -> MappedAction<GroupQuery, Vec<Urn>> {
        MappedAction {
            action: self.with_urn("group", group, None, |group_uri| GroupQuery {
                group_uri,
                query: GroupQueryKind::ListMembers,
            }),
            map: members,
        }
    }

    /// Whether the device named `device_name` belongs to the group named `group_name`
    /// (both by name, as Relay requires for this query).
    ///
    /// ```no_run
    /// # async fn f(relay: relay_workflow::Relay) -> relay_workflow::Result<()> {
    /// let on_duty = relay.is_group_member("security", "Bob").await?;
    /// # Ok(()) }
    /// ```
    pub fn is_group_member(
        &self,
        group_name: &str,
        device_name: &str,
    ) -> MappedAction<GroupQuery, bool> {
        let (group_uri, error) = match Urn::group_member(group_name, device_name) {
            Ok(urn) => (urn, None),
            Err(e) => (Urn::default(), Some(e)),
        };
        let action = self.request(GroupQuery {
            group_uri,
            query: GroupQueryKind::IsMember,
        });
        MappedAction {
            action: match error {
                Some(e) => action.fail(e),
                None => action,
            },
            map: is_member,
        }
    }
}

// ---------------------------------------------------------------------------
// Timers
// ---------------------------------------------------------------------------

impl Relay {
    /// A named timer that fires once after `after` (`.interval()` makes it repeat);
    /// `Workflow::on_timer_fired` receives its name. Whole seconds are sent as `secs`,
    /// anything finer as `ms`.
    ///
    /// ```no_run
    /// # use std::time::Duration;
    /// # async fn f(relay: relay_workflow::Relay) -> relay_workflow::Result<()> {
    /// relay.set_timer("tick", Duration::from_secs(30)).interval().await?;
    /// # Ok(()) }
    /// ```
    pub fn set_timer(&self, name: impl Into<String>, after: Duration) -> Action<SetTimer> {
        let ms = millis(after);
        let (timeout, timeout_type) = if ms.is_multiple_of(1000) {
            (ms / 1000, TimeoutType::Secs)
        } else {
            (ms, TimeoutType::Ms)
        };
        self.request(SetTimer {
            kind: TimerType::Timeout,
            name: name.into(),
            timeout,
            timeout_type,
        })
    }

    /// Cancel a named timer.
    ///
    /// ```no_run
    /// # async fn f(relay: relay_workflow::Relay) -> relay_workflow::Result<()> {
    /// relay.clear_timer("tick").await?;
    /// # Ok(()) }
    /// ```
    pub fn clear_timer(&self, name: impl Into<String>) -> Action<ClearTimer> {
        self.request(ClearTimer { name: name.into() })
    }

    /// Start the instance's single unnamed timer; `Workflow::on_timer` runs after `seconds`.
    ///
    /// ```no_run
    /// # async fn f(relay: relay_workflow::Relay) -> relay_workflow::Result<()> {
    /// relay.start_timer(60).await?;
    /// # Ok(()) }
    /// ```
    pub fn start_timer(&self, seconds: u64) -> Action<StartTimer> {
        self.request(StartTimer { timeout: seconds })
    }

    /// Stop the unnamed timer.
    ///
    /// ```no_run
    /// # async fn f(relay: relay_workflow::Relay) -> relay_workflow::Result<()> {
    /// relay.stop_timer().await?;
    /// # Ok(()) }
    /// ```
    pub fn stop_timer(&self) -> Action<StopTimer> {
        self.request(StopTimer {})
    }
}

impl Action<SetTimer> {
    /// Fire repeatedly, every period, until cleared.
    pub fn interval(mut self) -> Self {
        self.request_mut().kind = TimerType::Interval;
        self
    }

    /// Express the period in this unit (truncated; at least 1). For example `mins` turns
    /// 120 s into `timeout: 2, timeout_type: "mins"`.
    pub fn timeout_type(mut self, unit: TimeoutType) -> Self {
        let request = self.request_mut();
        if let (Some(from), Some(to)) = (request.timeout_type.millis(), unit.millis()) {
            request.timeout = (request.timeout.saturating_mul(from) / to).max(1);
        }
        request.timeout_type = unit;
        self
    }
}

// ---------------------------------------------------------------------------
// Translation, analytics, incidents, SMS
// ---------------------------------------------------------------------------

impl Relay {
    /// Translate `text`; returns the translation.
    ///
    /// ```no_run
    /// # use relay_workflow::protocol::Lang;
    /// # async fn f(relay: relay_workflow::Relay) -> relay_workflow::Result<()> {
    /// let french = relay.translate("hello", Lang::EnUs, Lang::FrFr).await?;
    /// # Ok(()) }
    /// ```
    pub fn translate(
        &self,
        text: impl Into<String>,
        from: impl Into<Lang>,
        to: impl Into<Lang>,
    ) -> Action<Translate> {
        self.request(Translate {
            text: text.into(),
            from_lang: from.into(),
            to_lang: to.into(),
        })
    }

    fn analytics(
        &self,
        content_type: &str,
        content: String,
        device: Option<std::result::Result<Urn, Error>>,
    ) -> Action<LogAnalyticsEvent> {
        let (device_uri, error) = match device {
            None => (None, None),
            Some(Ok(urn)) => (Some(urn), None),
            Some(Err(e)) => (None, Some(e)),
        };
        let action = self.request(LogAnalyticsEvent {
            category: "default".into(),
            content_type: content_type.into(),
            content,
            device_uri,
        });
        match error {
            Some(e) => action.fail(e),
            None => action,
        }
    }

    /// Log a text message to Relay's analytics (`.category(…)`, default `default`).
    ///
    /// ```no_run
    /// # async fn f(relay: relay_workflow::Relay) -> relay_workflow::Result<()> {
    /// relay.log_message("workflow triggered").await?;
    /// # Ok(()) }
    /// ```
    pub fn log_message(&self, message: impl Into<String>) -> Action<LogAnalyticsEvent> {
        self.analytics(CONTENT_TYPE_TEXT, message.into(), None)
    }

    /// Log a text message about a user or device.
    ///
    /// ```no_run
    /// # async fn f(relay: relay_workflow::Relay, bob: relay_workflow::Urn) -> relay_workflow::Result<()> {
    /// relay.log_user_message("checked in", &bob).category("attendance").await?;
    /// # Ok(()) }
    /// ```
    pub fn log_user_message(
        &self,
        message: impl Into<String>,
        device: impl IntoTarget,
    ) -> Action<LogAnalyticsEvent> {
        let device = single_urn(LogAnalyticsEvent::ACTION, "device", device);
        self.analytics(CONTENT_TYPE_TEXT, message.into(), Some(device))
    }

    fn tracked(
        &self,
        category: String,
        params: &impl Serialize,
        device: Option<std::result::Result<Urn, Error>>,
    ) -> Action<LogAnalyticsEvent> {
        let (content, error) = match serde_json::to_string(params) {
            Ok(json) => (json, None),
            Err(source) => (
                String::new(),
                Some(Error::Encode {
                    action: "log_analytics_event",
                    source,
                }),
            ),
        };
        let action = self
            .analytics(CONTENT_TYPE_EVENT, content, device)
            .category(category);
        match error {
            Some(e) => action.fail(e),
            None => action,
        }
    }

    /// Track an event with parameters (sent as a JSON string in `content`).
    ///
    /// ```no_run
    /// # async fn f(relay: relay_workflow::Relay) -> relay_workflow::Result<()> {
    /// relay.track_event("order", &serde_json::json!({"id": 42})).await?;
    /// # Ok(()) }
    /// ```
    pub fn track_event(
        &self,
        category: impl Into<String>,
        params: &impl Serialize,
    ) -> Action<LogAnalyticsEvent> {
        self.tracked(category.into(), params, None)
    }

    /// Track an event about a user or device.
    ///
    /// ```no_run
    /// # async fn f(relay: relay_workflow::Relay, bob: relay_workflow::Urn) -> relay_workflow::Result<()> {
    /// relay.track_user_event("order", &bob, &serde_json::json!({"id": 42})).await?;
    /// # Ok(()) }
    /// ```
    pub fn track_user_event(
        &self,
        category: impl Into<String>,
        device: impl IntoTarget,
        params: &impl Serialize,
    ) -> Action<LogAnalyticsEvent> {
        let device = single_urn(LogAnalyticsEvent::ACTION, "device", device);
        self.tracked(category.into(), params, Some(device))
    }

    /// Open an incident of `kind` (free text) raised by `originator`; returns its id.
    ///
    /// ```no_run
    /// # async fn f(relay: relay_workflow::Relay, bob: relay_workflow::Urn) -> relay_workflow::Result<()> {
    /// let incident = relay.create_incident("Panic Alert", &bob).await?;
    /// # Ok(()) }
    /// ```
    pub fn create_incident(
        &self,
        kind: impl Into<String>,
        originator: impl IntoTarget,
    ) -> Action<CreateIncident> {
        let kind = kind.into();
        self.with_urn("originator", originator, None, |originator_uri| {
            CreateIncident {
                kind,
                originator_uri,
            }
        })
    }

    /// Resolve an incident.
    ///
    /// ```no_run
    /// # async fn f(relay: relay_workflow::Relay) -> relay_workflow::Result<()> {
    /// relay.resolve_incident("inc_123", "handled").await?;
    /// # Ok(()) }
    /// ```
    pub fn resolve_incident(
        &self,
        incident_id: impl Into<String>,
        reason: impl Into<String>,
    ) -> Action<ResolveIncident> {
        self.request(ResolveIncident {
            incident_id: incident_id.into(),
            reason: reason.into(),
        })
    }

    /// Send an SMS (from the Python SDK; Relay documents neither the `kind` values nor the
    /// `uri` form). Returns the message id when Relay gives one.
    ///
    /// ```no_run
    /// # async fn f(relay: relay_workflow::Relay) -> relay_workflow::Result<()> {
    /// relay.sms("sms", "Your order is ready", "tel:+15555550100").await?;
    /// # Ok(()) }
    /// ```
    pub fn sms(
        &self,
        kind: impl Into<String>,
        text: impl Into<String>,
        uri: impl Into<String>,
    ) -> Action<Sms> {
        self.request(Sms {
            kind: kind.into(),
            text: text.into(),
            uri: uri.into(),
        })
    }
}

impl Action<LogAnalyticsEvent> {
    /// The category (default `default`).
    pub fn category(mut self, category: impl Into<String>) -> Self {
        self.request_mut().category = category.into();
        self
    }
}

// ---------------------------------------------------------------------------
// Typed variables
// ---------------------------------------------------------------------------

impl Relay {
    /// A variable read through `map`; `None` when it is not set.
    ///
    /// ```no_run
    /// # async fn f(relay: relay_workflow::Relay) -> relay_workflow::Result<()> {
    /// let shout = relay.get_mapped_var("name", |s| s.to_uppercase()).await?;
    /// # Ok(()) }
    /// ```
    pub async fn get_mapped_var<T>(
        &self,
        name: impl Into<String>,
        map: impl FnOnce(&str) -> T,
    ) -> Result<Option<T>> {
        Ok(self.get_var(name).await?.map(|value| map(&value)))
    }

    async fn parsed_var<T>(
        &self,
        name: String,
        expected: &'static str,
        parse: impl FnOnce(&str) -> Option<T>,
    ) -> Result<Option<T>> {
        match self.get_var(name.clone()).await? {
            None => Ok(None),
            Some(value) => match parse(value.trim()) {
                Some(v) => Ok(Some(v)),
                None => Err(Error::Variable {
                    name,
                    value,
                    expected,
                }),
            },
        }
    }

    /// A variable as a number; `None` when not set, [`Error::Variable`] when not a number.
    ///
    /// ```no_run
    /// # async fn f(relay: relay_workflow::Relay) -> relay_workflow::Result<()> {
    /// let limit = relay.get_number_var("limit").await?.unwrap_or(10.0);
    /// # Ok(()) }
    /// ```
    pub async fn get_number_var(&self, name: impl Into<String>) -> Result<Option<f64>> {
        self.parsed_var(name.into(), "a number", |s| {
            s.parse::<f64>().ok().filter(|n| n.is_finite())
        })
        .await
    }

    /// A variable as a whole number; `None` when not set, [`Error::Variable`] otherwise.
    ///
    /// ```no_run
    /// # async fn f(relay: relay_workflow::Relay) -> relay_workflow::Result<()> {
    /// let interval = relay.get_int_var("interval").await?.unwrap_or(60);
    /// # Ok(()) }
    /// ```
    pub async fn get_int_var(&self, name: impl Into<String>) -> Result<Option<i64>> {
        self.parsed_var(name.into(), "a whole number", |s| s.parse::<i64>().ok())
            .await
    }

    /// A variable as a flag: `true` only for `"true"` in any letter case (surrounding spaces
    /// ignored), `false` for anything else, as relay-js's `booleanMapper`; `None` when not set.
    ///
    /// ```no_run
    /// # async fn f(relay: relay_workflow::Relay) -> relay_workflow::Result<()> {
    /// let verbose = relay.get_bool_var("verbose").await?.unwrap_or(false);
    /// # Ok(()) }
    /// ```
    pub async fn get_bool_var(&self, name: impl Into<String>) -> Result<Option<bool>> {
        self.get_mapped_var(name, |s| s.trim().eq_ignore_ascii_case("true"))
            .await
    }

    /// A variable as a list: split on `,`, each item trimmed; `None` when not set.
    ///
    /// ```no_run
    /// # async fn f(relay: relay_workflow::Relay) -> relay_workflow::Result<()> {
    /// let names = relay.get_array_var("names").await?.unwrap_or_default();
    /// # Ok(()) }
    /// ```
    pub async fn get_array_var(&self, name: impl Into<String>) -> Result<Option<Vec<String>>> {
        self.get_mapped_var(name, |s| {
            s.split(',').map(|item| item.trim().to_owned()).collect()
        })
        .await
    }

    /// Set several variables at once (concurrently); fails if any fails.
    ///
    /// ```no_run
    /// # async fn f(relay: relay_workflow::Relay) -> relay_workflow::Result<()> {
    /// relay.set_vars([("a", "1"), ("b", "2")]).await?;
    /// # Ok(()) }
    /// ```
    pub async fn set_vars<I, K, V>(&self, vars: I) -> Result<()>
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        let calls = vars
            .into_iter()
            .map(|(name, value)| self.set_var(name, value).into_future());
        futures_util::future::try_join_all(calls).await?;
        Ok(())
    }

    /// Remove several variables at once (concurrently, and awaited, unlike relay-js).
    ///
    /// ```no_run
    /// # async fn f(relay: relay_workflow::Relay) -> relay_workflow::Result<()> {
    /// relay.unset_vars(["a", "b"]).await?;
    /// # Ok(()) }
    /// ```
    pub async fn unset_vars<I, S>(&self, names: I) -> Result<()>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let calls = names
            .into_iter()
            .map(|name| self.unset_var(name).into_future());
        futures_util::future::try_join_all(calls).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::urn::UrnError;
    use serde_json::json;

    fn info(v: Value) -> DeviceInfo {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn typed_device_info() {
        assert_eq!(device_battery(info(json!({"battery": 75}))).unwrap(), 75.0);
        assert_eq!(
            device_battery(info(json!({"battery": "80"}))).unwrap(),
            80.0
        );
        let c = device_coordinates(info(json!({"latlong": [35.7796, -78.6382]}))).unwrap();
        assert_eq!((c.latitude, c.longitude), (35.7796, -78.6382));
        assert!(device_location_enabled(info(json!({"location_enabled": true}))).unwrap());
        assert!(!device_location_enabled(info(json!({"location_enabled": "false"}))).unwrap());
        assert_eq!(
            device_type(info(json!({"type": "relay2"}))).unwrap(),
            DeviceType::Relay2
        );
        assert_eq!(
            device_name(info(json!({"name": [67, 97, 109]}))).unwrap(),
            "Cam"
        );
        for (bad, what) in [
            (
                device_battery(info(json!({"battery": "full"}))).map(|_| ()),
                "battery",
            ),
            (
                device_coordinates(info(json!({"latlong": [1]}))).map(|_| ()),
                "latlong",
            ),
            (device_name(info(json!({"id": "x"}))).map(|_| ()), "Name"),
            (
                device_location_enabled(info(json!({"location_enabled": 1}))).map(|_| ()),
                "location_enabled",
            ),
        ] {
            let e = bad.unwrap_err().to_string();
            assert!(e.contains("get_device_info") && e.contains(what), "{e}");
        }
    }

    #[test]
    fn colours_and_call_ids() {
        assert_eq!(color_arg("#00ff00").unwrap(), "00ff00");
        assert_eq!(color_arg("0000FF").unwrap(), "0000FF");
        for bad in ["red", "12345", "#1234567", ""] {
            assert!(color_arg(bad)
                .unwrap_err()
                .to_string()
                .contains("six hex digits"));
        }
        assert_eq!("call-1".into_call_id().unwrap(), "call-1");
        assert!("".into_call_id().is_err());
        let event = CallEvent::default();
        assert!((&event).into_call_id().unwrap_err().contains("no call_id"));
    }

    #[test]
    fn one_urn_where_one_is_needed() {
        let bob = Urn::device_name("Bob").unwrap();
        assert_eq!(single_urn("x", "group", &bob).unwrap(), bob);
        let two = vec![bob.clone(), Urn::device_name("Ann").unwrap()];
        let e = single_urn("notification", "originator", two).unwrap_err();
        assert_eq!(
            e.to_string(),
            "notification: the originator must be one URN, but 2 were given; pass a single URN"
        );
        assert!(matches!(
            single_urn("x", "group", "nope"),
            Err(Error::Urn(UrnError::NotRelayUrn { .. }))
        ));
    }

    #[test]
    fn group_answers_must_match_the_query() {
        assert!(members(GroupQueryResponse::default()).is_err());
        assert!(is_member(GroupQueryResponse::default()).is_err());
        assert!(is_member(GroupQueryResponse {
            is_member: Some(false),
            member_uris: None
        })
        .is_ok_and(|m| !m));
    }
}
