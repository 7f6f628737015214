//! The device: its information (name, id, type, address, coordinates, indoor location,
//! battery, user, location reporting), typed; its settings (name, location reporting,
//! channel, home channel) and the user signed in on it.

use super::{decode_error, Action, MappedAction, Relay};
use crate::error::Result;
use crate::protocol::{
    DeviceInfo, DeviceInfoField, DeviceInfoQuery, DeviceType, GetDeviceInfo, SetChannel,
    SetDeviceInfo, SetHomeChannelState, SetUserProfile,
};
use crate::urn::IntoTarget;
use serde_json::Value;

/// Latitude and longitude of a device, in degrees (the answer to a `latlong` query).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Coordinates {
    /// Degrees north.
    pub latitude: f64,
    /// Degrees east.
    pub longitude: f64,
}

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

impl<T> MappedAction<GetDeviceInfo, T> {
    /// Ask the device itself for a fresh value (waits up to 45 s instead of 5 s). Relay
    /// refreshes the address, coordinates, indoor location and battery; for other queries
    /// the flag is sent but has no known effect.
    pub fn refresh(mut self, refresh: bool) -> Self {
        self.action = self.action.refresh(refresh);
        self
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

#[cfg(test)]
mod tests {
    use super::*;
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
}
