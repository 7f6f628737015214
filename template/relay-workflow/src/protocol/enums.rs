//! Open string enumerations used on the wire.
//!
//! Relay sends many fields as strings drawn from a known set that may grow at any time
//! (spec §10). Each enumeration here lists the values this SDK knows and keeps anything else
//! in an `Other(String)` variant, so an unfamiliar value never makes a message undecodable and
//! is sent back unchanged.

/// Declares an open string enumeration.
///
/// ```text
/// string_enum! {
///     /// Doc for the enum.
///     pub enum Colour default Red {
///         /// Doc for the variant.
///         Red => "red",
///         /// Doc for the variant.
///         Blue => "blue",
///     }
/// }
/// ```
///
/// The generated enum has one unit variant per listed wire string plus
/// `Other(String)`, which keeps any value not in the list. It implements
/// `as_str`, `Display`, `FromStr` (infallible), `From<&str>`, `From<String>`,
/// `Clone`, `Debug`, `PartialEq`, `Eq`, `Hash`, `PartialEq<str>`, `Default`, and
/// serializes as a plain JSON string. Deserialization also accepts a string sent as
/// an array of character codes (see `crate::protocol::lenient`).
///
/// Equality and hashing go by the wire string, so `Other("red".into())` equals `Red`.
/// `Default` is the variant named after `default`, or `Other("")` when the clause is left
/// out.
macro_rules! string_enum {
    (@default $name:ident) => {
        impl ::core::default::Default for $name {
            /// `Other("")`: the value is unknown.
            fn default() -> Self {
                $name::Other(::std::string::String::new())
            }
        }
    };
    (@default $name:ident $default:ident) => {
        impl ::core::default::Default for $name {
            fn default() -> Self {
                $name::$default
            }
        }
    };
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident $(default $default:ident)? {
            $(
                $(#[$vmeta:meta])*
                $variant:ident => $wire:literal
            ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Debug)]
        $vis enum $name {
            $(
                $(#[$vmeta])*
                $variant,
            )*
            /// A value this SDK does not know, kept exactly as received.
            Other(::std::string::String),
        }

        impl $name {
            /// The wire string for this value.
            pub fn as_str(&self) -> &str {
                match self {
                    $( $name::$variant => $wire, )*
                    $name::Other(s) => s.as_str(),
                }
            }
        }

        $crate::protocol::enums::string_enum!(@default $name $($default)?);

        impl ::core::cmp::PartialEq for $name {
            fn eq(&self, other: &Self) -> bool {
                self.as_str() == other.as_str()
            }
        }

        impl ::core::cmp::Eq for $name {}

        impl ::core::hash::Hash for $name {
            fn hash<H: ::core::hash::Hasher>(&self, state: &mut H) {
                ::core::hash::Hash::hash(self.as_str(), state);
            }
        }

        impl ::core::cmp::PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.as_str() == other
            }
        }

        impl ::core::cmp::PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.as_str() == *other
            }
        }

        impl ::core::fmt::Display for $name {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::core::convert::From<&str> for $name {
            fn from(s: &str) -> Self {
                match s {
                    $( $wire => $name::$variant, )*
                    other => $name::Other(other.to_owned()),
                }
            }
        }

        impl ::core::convert::From<::std::string::String> for $name {
            fn from(s: ::std::string::String) -> Self {
                match s.as_str() {
                    $( $wire => $name::$variant, )*
                    _ => $name::Other(s),
                }
            }
        }

        impl ::core::str::FromStr for $name {
            type Err = ::core::convert::Infallible;

            fn from_str(s: &str) -> ::core::result::Result<Self, Self::Err> {
                Ok($name::from(s))
            }
        }

        impl ::serde::Serialize for $name {
            fn serialize<S: ::serde::Serializer>(
                &self,
                serializer: S,
            ) -> ::core::result::Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(
                deserializer: D,
            ) -> ::core::result::Result<Self, D::Error> {
                $crate::protocol::lenient::string(deserializer).map($name::from)
            }
        }
    };
}

pub(crate) use string_enum;

string_enum! {
    /// A language tag (spec §10.1), used by `lang`, `alt_lang`, `from_lang` and `to_lang`.
    ///
    /// The 35 tags known to the JS and Go SDKs; anything else is kept in [`Lang::Other`].
    /// Matching is exact (`"en-us"` is `Other`). The default is [`Lang::EnUs`].
    pub enum Lang default EnUs {
        /// English (United States), `en-US`.
        EnUs => "en-US",
        /// German, `de-DE`.
        DeDe => "de-DE",
        /// Spanish, `es-ES`.
        EsEs => "es-ES",
        /// French, `fr-FR`.
        FrFr => "fr-FR",
        /// Italian, `it-IT`.
        ItIt => "it-IT",
        /// Russian, `ru-RU`.
        RuRu => "ru-RU",
        /// Swedish, `sv-SE`.
        SvSe => "sv-SE",
        /// Turkish, `tr-TR`.
        TrTr => "tr-TR",
        /// Hindi, `hi-IN`.
        HiIn => "hi-IN",
        /// Icelandic, `is-IS`.
        IsIs => "is-IS",
        /// Japanese, `ja-JP`.
        JaJp => "ja-JP",
        /// Korean, `ko-KR`.
        KoKr => "ko-KR",
        /// Polish, `pl-PK` (Relay's spelling; not `pl-PL`).
        PlPk => "pl-PK",
        /// Portuguese (Brazil), `pt-BR`.
        PtBr => "pt-BR",
        /// Norwegian Bokmål, `nb-NO`.
        NbNo => "nb-NO",
        /// Dutch, `nl-NL`.
        NlNl => "nl-NL",
        /// Chinese, `zh`.
        Zh => "zh",
        /// Arabic, `ar`.
        Ar => "ar",
        /// Vietnamese, `vi-VN`.
        ViVn => "vi-VN",
        /// Indonesian, `id-ID`.
        IdId => "id-ID",
        /// Filipino, `fil-PH`.
        FilPh => "fil-PH",
        /// Danish, `da-DK`.
        DaDk => "da-DK",
        /// Czech, `cs-CZ`.
        CsCz => "cs-CZ",
        /// Gujarati, `gu-IN`.
        GuIn => "gu-IN",
        /// Hungarian, `hu-HU`.
        HuHu => "hu-HU",
        /// Tamil, `ta-IN`.
        TaIn => "ta-IN",
        /// Ukrainian, `uk-UA`.
        UkUa => "uk-UA",
        /// Slovak, `sk-SK`.
        SkSk => "sk-SK",
        /// Romanian, `ro-RO`.
        RoRo => "ro-RO",
        /// Punjabi, `pa-IN`.
        PaIn => "pa-IN",
        /// Malay, `ms-MY`.
        MsMy => "ms-MY",
        /// Bengali, `bn-IN`.
        BnIn => "bn-IN",
        /// Greek, `el-GR`.
        ElGr => "el-GR",
        /// Kannada, `kn-IN`.
        KnIn => "kn-IN",
        /// Finnish, `fi-FI`.
        FiFi => "fi-FI",
    }
}

string_enum! {
    /// What started a workflow: `trigger.type` of a start event (spec §5.1).
    ///
    /// The wire value `"other"` is [`TriggerType::OtherTrigger`]; values this SDK does not
    /// know are kept in [`TriggerType::Other`]. The default is `Other("")` (no type sent).
    pub enum TriggerType {
        /// A spoken phrase, `phrase`.
        Phrase => "phrase",
        /// A button press on the device, `button`.
        Button => "button",
        /// An HTTP trigger request, `http`.
        Http => "http",
        /// An NFC tag scan, `nfc`.
        Nfc => "nfc",
        /// An emergency (SOS) trigger, `emergency`.
        Emergency => "emergency",
        /// Relay's own catch-all trigger type, the wire string `other`.
        OtherTrigger => "other",
        /// A calendar entry, `calendar`.
        Calendar => "calendar",
        /// A geofence crossing, `geofence`.
        Geofence => "geofence",
        /// A telephony trigger, `telephony`.
        Telephony => "telephony",
        /// A scheduled timer, `timer` (the exact wire value is unconfirmed, spec §14).
        Timer => "timer",
    }
}

string_enum! {
    /// `type` of an interaction lifecycle event (spec §5.3).
    pub enum LifecycleType {
        /// The interaction channel exists; interaction actions may be sent, `started`.
        Started => "started",
        /// The interaction became the device's active channel, `resumed`.
        Resumed => "resumed",
        /// The user navigated away from the interaction, `suspended`.
        Suspended => "suspended",
        /// The interaction ended, `ended`.
        Ended => "ended",
        /// The interaction failed (see `reason`), `failed`.
        Failed => "failed",
    }
}

string_enum! {
    /// `type` of a prompt (playback) event (spec §5.4).
    pub enum PromptType {
        /// Playback started, `started`.
        Started => "started",
        /// Playback finished or was stopped, `stopped`.
        Stopped => "stopped",
        /// Playback failed, `failed`.
        Failed => "failed",
    }
}

string_enum! {
    /// Which button a button event is about (spec §5.5).
    pub enum ButtonKind {
        /// The Talk button, `action`.
        Action => "action",
        /// The assistant/channel button, `channel`.
        Channel => "channel",
    }
}

string_enum! {
    /// How a button was pressed (spec §5.5).
    pub enum Taps {
        /// One tap, `single`.
        Single => "single",
        /// Two taps, `double`.
        Double => "double",
        /// Three taps, `triple`.
        Triple => "triple",
        /// A long press, `long`.
        Long => "long",
    }
}

string_enum! {
    /// `type` of an incident event (spec §5.9).
    pub enum IncidentEventType {
        /// The incident was resolved, `resolved`.
        Resolved => "resolved",
        /// The incident was cancelled, `cancelled`.
        Cancelled => "cancelled",
    }
}

string_enum! {
    /// Direction of a call, relative to this device (spec §5.12).
    pub enum CallDirection {
        /// The call comes in to this device, `inbound`.
        Inbound => "inbound",
        /// The call goes out from this device, `outbound`.
        Outbound => "outbound",
    }
}

string_enum! {
    /// `reason` of a stop event (spec §5.2); the server may send other text.
    pub enum StopReason {
        /// The workflow terminated normally, `normal`.
        Normal => "normal",
        /// The workflow was stopped because of an error, `error`.
        Error => "error",
    }
}

string_enum! {
    /// Device input an interaction wants to receive, for `start_interaction` options
    /// (spec §6.1).
    pub enum InputType {
        /// Single tap of the Talk button, `action_button_single_tap`.
        ActionButtonSingleTap => "action_button_single_tap",
        /// Double tap of the Talk button, `action_button_double_tap`.
        ActionButtonDoubleTap => "action_button_double_tap",
        /// Triple tap of the Talk button, `action_button_triple_tap`.
        ActionButtonTripleTap => "action_button_triple_tap",
        /// Long press of the Talk button, `action_button_long_press`.
        ActionButtonLongPress => "action_button_long_press",
        /// Double tap of the channel button, `channel_button_double_tap`.
        ChannelButtonDoubleTap => "channel_button_double_tap",
        /// Triple tap of the channel button, `channel_button_triple_tap`.
        ChannelButtonTripleTap => "channel_button_triple_tap",
    }
}

string_enum! {
    /// `event` of a notification event (spec §5.8, §10.3).
    pub enum NotificationEventKind {
        /// A device acknowledged the notification, `ack_event`.
        AckEvent => "ack_event",
    }
}

string_enum! {
    /// `action` of a play-inbox-messages event (spec §5.13).
    pub enum PlayInboxAction {
        /// All inbox messages were played, `complete`.
        Complete => "complete",
        /// Playing the inbox failed, `error`.
        Error => "error",
    }
}

string_enum! {
    /// LED effect of `set_led` (spec §6.4, §10.2).
    pub enum LedEffect {
        /// All LEDs off, `off`.
        Off => "off",
        /// Steady colours, `static`.
        Static => "static",
        /// Flash, `flash`.
        Flash => "flash",
        /// Slow fade in and out, `breathe`.
        Breathe => "breathe",
        /// A lit LED running round the ring, `rotate`.
        Rotate => "rotate",
        /// Rainbow colours round the ring, `rainbow`.
        Rainbow => "rainbow",
    }
}

string_enum! {
    /// `type` of a `notification` request (spec §6.6, §10.3).
    pub enum NotificationType {
        /// Played once on every target and shown in Dash, `broadcast`.
        Broadcast => "broadcast",
        /// Repeats until a recipient acknowledges it, `alert`.
        Alert => "alert",
        /// A plain notification, `notify`.
        Notify => "notify",
        /// Cancels an earlier notification of the same name, `cancel`.
        Cancel => "cancel",
    }
}

string_enum! {
    /// Push-notification priority for the Relay app (spec §10.3).
    pub enum NotificationPriority {
        /// `normal`.
        Normal => "normal",
        /// `high`.
        High => "high",
        /// `critical`.
        Critical => "critical",
    }
}

string_enum! {
    /// Push-notification sound for the Relay app (spec §10.3).
    pub enum NotificationSound {
        /// The default sound, `default`.
        Default => "default",
        /// The emergency sound, `sos`.
        Sos => "sos",
    }
}

string_enum! {
    /// Whether a named timer fires once or repeatedly (spec §6.12, §10.4).
    pub enum TimerType default Timeout {
        /// Fires once, `timeout`.
        Timeout => "timeout",
        /// Fires every period until cleared, `interval`.
        Interval => "interval",
    }
}

string_enum! {
    /// Unit of a named timer's `timeout` (spec §6.12, §10.4).
    pub enum TimeoutType default Secs {
        /// Milliseconds, `ms`.
        Ms => "ms",
        /// Seconds, `secs`.
        Secs => "secs",
        /// Minutes, `mins`.
        Mins => "mins",
        /// Hours, `hrs`.
        Hrs => "hrs",
    }
}

impl TimeoutType {
    /// Milliseconds in one unit (`None` for a unit this SDK does not know).
    pub fn millis(&self) -> Option<u64> {
        match self {
            TimeoutType::Ms => Some(1),
            TimeoutType::Secs => Some(1_000),
            TimeoutType::Mins => Some(60_000),
            TimeoutType::Hrs => Some(3_600_000),
            TimeoutType::Other(_) => None,
        }
    }
}

string_enum! {
    /// What `get_device_info` asks for (spec §6.7, §10.5). The response has one field named
    /// like the query.
    pub enum DeviceInfoQuery {
        /// The device's name (label), `name`.
        Name => "name",
        /// The device id, `id`.
        Id => "id",
        /// The kind of device ([`DeviceType`]), `type`.
        Type => "type",
        /// Street address, `address` (refreshable).
        Address => "address",
        /// `[latitude, longitude]`, `latlong` (refreshable).
        Latlong => "latlong",
        /// Battery level in percent, `battery` (refreshable).
        Battery => "battery",
        /// Indoor location name, `indoor_location` (refreshable).
        IndoorLocation => "indoor_location",
        /// Location as the .NET SDK asks for it, `location`; prefer [`DeviceInfoQuery::Address`].
        Location => "location",
        /// The user signed in on the device, `username`.
        Username => "username",
        /// Whether location reporting is on, `location_enabled`.
        LocationEnabled => "location_enabled",
    }
}

string_enum! {
    /// Kind of device, the answer to a `type` query (spec §10.6).
    pub enum DeviceType {
        /// Relay (first generation), `relay`.
        Relay => "relay",
        /// Relay 2, `relay2`.
        Relay2 => "relay2",
        /// The Relay phone app, `relay_app`.
        RelayApp => "relay_app",
        /// A radio-over-IP bridge, `roip`.
        Roip => "roip",
        /// Relay Dash, `dash`.
        Dash => "dash",
    }
}

string_enum! {
    /// Field changed by `set_device_info` (spec §6.8, §10.7).
    pub enum DeviceInfoField {
        /// The device's name, `label`.
        Label => "label",
        /// The device's channel, `channel` (does not work, per every official SDK).
        Channel => "channel",
        /// Location reporting, `location_enabled` (value `"true"` or `"false"`).
        LocationEnabled => "location_enabled",
    }
}

string_enum! {
    /// `query` of a `group_query` request (spec §6.11).
    pub enum GroupQueryKind {
        /// The group's member URNs, `list_members`.
        ListMembers => "list_members",
        /// Whether a device is a member, `is_member`.
        IsMember => "is_member",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn known_values_round_trip() {
        assert_eq!(Lang::from("pl-PK"), Lang::PlPk);
        assert_eq!(Lang::FilPh.as_str(), "fil-PH");
        assert_eq!(Lang::Zh.to_string(), "zh");
        assert_eq!("ar".parse::<Lang>(), Ok(Lang::Ar));
        assert_eq!(TriggerType::from("other"), TriggerType::OtherTrigger);
        assert_eq!(
            InputType::from(String::from("channel_button_triple_tap")),
            InputType::ChannelButtonTripleTap
        );
        assert_eq!(
            serde_json::to_value(Taps::Long).unwrap(),
            serde_json::json!("long")
        );
        assert_eq!(
            serde_json::from_value::<Taps>(serde_json::json!("double")).unwrap(),
            Taps::Double
        );
    }

    #[test]
    fn unknown_values_are_kept() {
        let lang = Lang::from("en-us");
        assert_eq!(lang, Lang::Other("en-us".into()));
        assert_eq!(lang.as_str(), "en-us");
        let t: TriggerType = serde_json::from_str(r#""battery""#).unwrap();
        assert_eq!(t, TriggerType::Other("battery".into()));
        assert_eq!(serde_json::to_string(&t).unwrap(), r#""battery""#);
    }

    #[test]
    fn equality_and_hash_follow_the_wire_string() {
        assert_eq!(Lang::Other("en-US".into()), Lang::EnUs);
        assert_eq!(Lang::EnUs, "en-US");
        let set: HashSet<Lang> = [Lang::EnUs, Lang::Other("en-US".into())].into();
        assert_eq!(set.len(), 1);
    }

    #[test]
    fn defaults() {
        assert_eq!(Lang::default(), Lang::EnUs);
        assert_eq!(TriggerType::default(), TriggerType::Other(String::new()));
        assert_eq!(StopReason::default().as_str(), "");
    }

    #[test]
    fn lenient_deserialization() {
        let lang: Lang = serde_json::from_str("[102,114,45,70,82]").unwrap();
        assert_eq!(lang, Lang::FrFr);
        assert!(serde_json::from_str::<Lang>("5").is_err());
        assert!(serde_json::from_str::<Lang>("{}").is_err());
    }

    #[test]
    fn all_languages_are_distinct_and_parse_back() {
        let all = [
            Lang::EnUs,
            Lang::DeDe,
            Lang::EsEs,
            Lang::FrFr,
            Lang::ItIt,
            Lang::RuRu,
            Lang::SvSe,
            Lang::TrTr,
            Lang::HiIn,
            Lang::IsIs,
            Lang::JaJp,
            Lang::KoKr,
            Lang::PlPk,
            Lang::PtBr,
            Lang::NbNo,
            Lang::NlNl,
            Lang::Zh,
            Lang::Ar,
            Lang::ViVn,
            Lang::IdId,
            Lang::FilPh,
            Lang::DaDk,
            Lang::CsCz,
            Lang::GuIn,
            Lang::HuHu,
            Lang::TaIn,
            Lang::UkUa,
            Lang::SkSk,
            Lang::RoRo,
            Lang::PaIn,
            Lang::MsMy,
            Lang::BnIn,
            Lang::ElGr,
            Lang::KnIn,
            Lang::FiFi,
        ];
        let wire: HashSet<&str> = all.iter().map(Lang::as_str).collect();
        assert_eq!(wire.len(), 35);
        for lang in &all {
            let parsed = Lang::from(lang.as_str());
            assert!(!matches!(parsed, Lang::Other(_)), "{lang} parsed as Other");
            assert_eq!(&parsed, lang);
        }
    }
}
