//! Relay resource names (`urn:relay-resource:…`): building, parsing and targeting.

use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde::{Deserialize, Deserializer, Serialize};
use std::fmt;
use std::str::FromStr;

/// A Relay resource name such as `urn:relay-resource:name:device:Bob`.
///
/// Events carry URNs in their `source_uri` fields; actions take them as targets.
/// The string is kept exactly as Relay sent it.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize)]
#[serde(transparent)]
pub struct Urn(String);

impl Urn {
    /// Wrap a string without checking it.
    pub fn from_string_unchecked(s: impl Into<String>) -> Self {
        Urn(s.into())
    }

    /// The URN as Relay spells it.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The owned string.
    pub fn into_string(self) -> String {
        self.0
    }
}

impl<'de> Deserialize<'de> for Urn {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        crate::protocol::lenient::string(d).map(Urn)
    }
}

impl fmt::Display for Urn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Urn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl AsRef<str> for Urn {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl PartialEq<str> for Urn {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for Urn {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

// ---------------------------------------------------------------------------
// Building
// ---------------------------------------------------------------------------

/// The prefix every Relay resource name starts with.
const PREFIX: &str = "urn:relay-resource:";

/// How deep `device` query parameters may nest (an interaction's device is depth 1).
const MAX_NESTING: u8 = 3;

/// Characters JavaScript's `encodeURIComponent` leaves alone: `A-Z a-z 0-9 - _ . ! ~ * ' ( )`.
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'!')
    .remove(b'~')
    .remove(b'*')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')');

/// Percent-encode like `encodeURIComponent` (UTF-8 bytes of non-ASCII characters are encoded).
fn encode(s: &str) -> String {
    utf8_percent_encode(s, COMPONENT).to_string()
}

/// `urn:relay-resource:<id_type>:<resource>:<enc value>`, refusing an empty value.
fn build(id_type: &str, resource: &str, value: &str, what: &'static str) -> Result<Urn, UrnError> {
    if value.is_empty() {
        return Err(UrnError::Empty { what });
    }
    Ok(Urn(format!(
        "{PREFIX}{id_type}:{resource}:{}",
        encode(value)
    )))
}

impl Urn {
    /// The URN of the device labelled `name`: `urn:relay-resource:name:device:<name>`.
    ///
    /// The name is percent-encoded like JavaScript's `encodeURIComponent`.
    ///
    /// ```
    /// # use relay_workflow::urn::Urn;
    /// assert_eq!(Urn::device_name("Bob Smith")?, "urn:relay-resource:name:device:Bob%20Smith");
    /// # Ok::<(), relay_workflow::urn::UrnError>(())
    /// ```
    ///
    /// # Errors
    /// [`UrnError::Empty`] if `name` is empty.
    pub fn device_name(name: &str) -> Result<Urn, UrnError> {
        build("name", "device", name, "device name")
    }

    /// The URN of the device with id `id`: `urn:relay-resource:id:device:<id>`.
    ///
    /// ```
    /// # use relay_workflow::urn::Urn;
    /// assert_eq!(Urn::device_id("990007560023456")?, "urn:relay-resource:id:device:990007560023456");
    /// # Ok::<(), relay_workflow::urn::UrnError>(())
    /// ```
    ///
    /// # Errors
    /// [`UrnError::Empty`] if `id` is empty.
    pub fn device_id(id: &str) -> Result<Urn, UrnError> {
        build("id", "device", id, "device id")
    }

    /// The URN of the group named `name`: `urn:relay-resource:name:group:<name>`.
    ///
    /// ```
    /// # use relay_workflow::urn::Urn;
    /// assert_eq!(Urn::group_name("security")?, "urn:relay-resource:name:group:security");
    /// # Ok::<(), relay_workflow::urn::UrnError>(())
    /// ```
    ///
    /// # Errors
    /// [`UrnError::Empty`] if `name` is empty.
    pub fn group_name(name: &str) -> Result<Urn, UrnError> {
        build("name", "group", name, "group name")
    }

    /// The URN of the group with id `id`: `urn:relay-resource:id:group:<id>`.
    ///
    /// ```
    /// # use relay_workflow::urn::Urn;
    /// assert_eq!(Urn::group_id("g-42")?, "urn:relay-resource:id:group:g-42");
    /// # Ok::<(), relay_workflow::urn::UrnError>(())
    /// ```
    ///
    /// # Errors
    /// [`UrnError::Empty`] if `id` is empty.
    pub fn group_id(id: &str) -> Result<Urn, UrnError> {
        build("id", "group", id, "group id")
    }

    /// The group-member URN used as `group_uri` of an `is_member` group query:
    /// `urn:relay-resource:name:group:<group>?device=<encoded device-name URN>`.
    ///
    /// The device-name URN is encoded as a whole, so the device name ends up encoded twice
    /// (exactly as relay-js `groupMember` does); [`Urn::parse`] undoes both layers.
    ///
    /// ```
    /// # use relay_workflow::urn::Urn;
    /// assert_eq!(
    ///     Urn::group_member("security", "Bob")?,
    ///     "urn:relay-resource:name:group:security?device=urn%3Arelay-resource%3Aname%3Adevice%3ABob"
    /// );
    /// # Ok::<(), relay_workflow::urn::UrnError>(())
    /// ```
    ///
    /// # Errors
    /// [`UrnError::Empty`] if either name is empty.
    pub fn group_member(group_name: &str, device_name: &str) -> Result<Urn, UrnError> {
        let group = Urn::group_name(group_name)?;
        let device = Urn::device_name(device_name)?;
        Ok(Urn(format!("{group}?device={}", encode(device.as_str()))))
    }

    /// The URN of the interaction named `name`, without a device:
    /// `urn:relay-resource:name:interaction:<name>`.
    ///
    /// Relay mints the per-device interaction URNs itself (they arrive as `source_uri` of
    /// interaction events); this form names the interaction on no particular device.
    ///
    /// ```
    /// # use relay_workflow::urn::Urn;
    /// assert_eq!(Urn::interaction_name("hello")?, "urn:relay-resource:name:interaction:hello");
    /// # Ok::<(), relay_workflow::urn::UrnError>(())
    /// ```
    ///
    /// # Errors
    /// [`UrnError::Empty`] if `name` is empty.
    pub fn interaction_name(name: &str) -> Result<Urn, UrnError> {
        build("name", "interaction", name, "interaction name")
    }

    /// Every interaction named `name` that is currently in lifecycle state `status`
    /// (relay-js `allDevicesWithStatus`):
    /// `urn:relay-resource:name:interaction:<name>?status=<status>`.
    ///
    /// ```
    /// # use relay_workflow::urn::Urn;
    /// assert_eq!(
    ///     Urn::interactions_with_status("hello", "started")?,
    ///     "urn:relay-resource:name:interaction:hello?status=started"
    /// );
    /// # Ok::<(), relay_workflow::urn::UrnError>(())
    /// ```
    ///
    /// # Errors
    /// [`UrnError::Empty`] if `name` or `status` is empty.
    pub fn interactions_with_status(name: &str, status: &str) -> Result<Urn, UrnError> {
        let base = Urn::interaction_name(name)?;
        if status.is_empty() {
            return Err(UrnError::Empty {
                what: "interaction status",
            });
        }
        Ok(Urn(format!("{base}?status={}", encode(status))))
    }

    /// Every device on the account: `urn:relay-resource:all:device`.
    ///
    /// ```
    /// # use relay_workflow::urn::Urn;
    /// assert_eq!(Urn::all_devices(), "urn:relay-resource:all:device");
    /// ```
    #[must_use]
    pub fn all_devices() -> Urn {
        Urn(format!("{PREFIX}all:device"))
    }

    /// "The server" as the originator of a notification: `urn:relay-resource:name:server:ibot`.
    ///
    /// ```
    /// # use relay_workflow::urn::Urn;
    /// assert_eq!(Urn::generic_originator(), "urn:relay-resource:name:server:ibot");
    /// ```
    #[must_use]
    pub fn generic_originator() -> Urn {
        Urn(format!("{PREFIX}name:server:ibot"))
    }
}

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

/// Why a URN could not be built, parsed or used as a target.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum UrnError {
    /// A name, id, status or URN that must not be empty was empty.
    #[error("the {what} is empty; pass a non-empty {what}")]
    Empty {
        /// What was empty, e.g. `"device name"`.
        what: &'static str,
    },

    /// The text does not start with `urn:relay-resource:`.
    #[error(
        "`{input}` is not a Relay URN; expected `urn:relay-resource:<id|name>:<type>:<value>` \
         (use the event's `source_uri`, or build one with Urn::device_name, Urn::group_name, …)"
    )]
    NotRelayUrn {
        /// The offending text.
        input: String,
    },

    /// A well-formed Relay URN of the wrong kind (e.g. an id URN where a name was asked for).
    #[error(
        "wrong kind of Relay URN: expected {expected}, but `{input}` is {found}; \
         use the parse_* function that matches its form, or build the URN you need with the \
         Urn constructors"
    )]
    WrongType {
        /// The kind that was needed.
        expected: &'static str,
        /// The kind that was found.
        found: String,
        /// The offending URN.
        input: String,
    },

    /// Text that starts like a Relay URN but does not follow its grammar.
    #[error(
        "malformed Relay URN `{input}`: {reason}; expected \
         `urn:relay-resource:<id|name>:<type>:<value>[?device=…|?status=…]` or \
         `urn:relay-resource:all:<type>`"
    )]
    Malformed {
        /// The offending text.
        input: String,
        /// What is wrong with it.
        reason: String,
    },

    /// A target list with no URNs in it.
    #[error("the target list is empty; pass at least one device, group or interaction URN")]
    EmptyTarget,
}

// ---------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------

/// How a URN identifies its resource (the third `:`-separated field).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IdType {
    /// `id`: by opaque id (e.g. a device's IMEI-like id).
    Id,
    /// `name`: by name or label.
    Name,
    /// `all`: every resource of the type (`urn:relay-resource:all:device`); no value.
    All,
}

impl IdType {
    /// The spelling used in URNs: `id`, `name` or `all`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            IdType::Id => "id",
            IdType::Name => "name",
            IdType::All => "all",
        }
    }
}

impl fmt::Display for IdType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The kind of resource a URN names (the fourth `:`-separated field).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ResourceType {
    /// `device`
    Device,
    /// `group`
    Group,
    /// `interaction`
    Interaction,
    /// `server` (as in the generic originator)
    Server,
    /// `tag` (NFC tags; seen in the CLI only)
    Tag,
    /// Any other resource type, kept verbatim.
    Other(String),
}

impl ResourceType {
    fn from_field(s: &str) -> ResourceType {
        match s {
            "device" => ResourceType::Device,
            "group" => ResourceType::Group,
            "interaction" => ResourceType::Interaction,
            "server" => ResourceType::Server,
            "tag" => ResourceType::Tag,
            other => ResourceType::Other(other.to_owned()),
        }
    }

    /// The spelling used in URNs, e.g. `device`.
    #[must_use]
    pub fn as_str(&self) -> &str {
        match self {
            ResourceType::Device => "device",
            ResourceType::Group => "group",
            ResourceType::Interaction => "interaction",
            ResourceType::Server => "server",
            ResourceType::Tag => "tag",
            ResourceType::Other(s) => s,
        }
    }
}

impl fmt::Display for ResourceType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A Relay URN taken apart; see [`Urn::parse`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedUrn {
    /// `id`, `name` or `all`.
    pub id_type: IdType,
    /// `device`, `group`, `interaction`, …
    pub resource: ResourceType,
    /// The id or name, percent-decoded; empty for the `all` form.
    pub value: String,
    /// The `device` query parameter (interaction and group-member URNs), itself parsed.
    pub device: Option<Box<ParsedUrn>>,
    /// The `status` query parameter (interactions-with-status URNs), decoded.
    pub status: Option<String>,
}

impl ParsedUrn {
    /// Rebuild the URN in canonical spelling (values encoded like `encodeURIComponent`,
    /// `device` before `status`). Parsing the result gives back an equal `ParsedUrn`.
    ///
    /// ```
    /// # use relay_workflow::urn::Urn;
    /// let urn = Urn::group_member("night shift", "Bob")?;
    /// assert_eq!(urn.parse()?.to_urn(), urn);
    /// # Ok::<(), relay_workflow::urn::UrnError>(())
    /// ```
    #[must_use]
    pub fn to_urn(&self) -> Urn {
        let mut s = String::from(PREFIX);
        s.push_str(self.id_type.as_str());
        s.push(':');
        s.push_str(self.resource.as_str());
        if self.id_type != IdType::All {
            s.push(':');
            s.push_str(&encode(&self.value));
        }
        let mut sep = '?';
        if let Some(device) = &self.device {
            s.push(sep);
            s.push_str("device=");
            s.push_str(&encode(device.to_urn().as_str()));
            sep = '&';
        }
        if let Some(status) = &self.status {
            s.push(sep);
            s.push_str("status=");
            s.push_str(&encode(status));
        }
        Urn(s)
    }

    /// Names the URN's form for error messages, e.g. "an `id:device` URN".
    fn describe(&self) -> String {
        let article = match self.id_type {
            IdType::Name => "a",
            IdType::Id | IdType::All => "an",
        };
        format!("{article} `{}:{}` URN", self.id_type, self.resource)
    }
}

fn malformed(input: &str, reason: impl Into<String>) -> UrnError {
    UrnError::Malformed {
        input: input.to_owned(),
        reason: reason.into(),
    }
}

/// Percent-decode the value part of the head (`+` stays `+`).
fn decode_value(input: &str, raw: &str) -> Result<String, UrnError> {
    percent_decode_str(raw)
        .decode_utf8()
        .map(std::borrow::Cow::into_owned)
        .map_err(|_| malformed(input, "its id or name is not UTF-8 once percent-decoded"))
}

/// Decode one query key or value with form rules: `+` is a space, then percent-decoding.
fn decode_form(input: &str, raw: &str) -> Result<String, UrnError> {
    let spaced = raw.replace('+', " ");
    percent_decode_str(&spaced)
        .decode_utf8()
        .map(std::borrow::Cow::into_owned)
        .map_err(|_| malformed(input, "its query is not UTF-8 once percent-decoded"))
}

/// The parser behind [`Urn::parse`], [`FromStr`] and the free functions.
fn parse_str(input: &str, depth: u8) -> Result<ParsedUrn, UrnError> {
    if input.is_empty() {
        return Err(UrnError::Empty { what: "URN" });
    }
    let (head, query) = match input.split_once('?') {
        Some((head, query)) => (head, Some(query)),
        None => (input, None),
    };
    let Some(rest) = head.strip_prefix(PREFIX) else {
        return Err(UrnError::NotRelayUrn {
            input: input.to_owned(),
        });
    };
    // The first two fields never contain `:`; whatever follows the fourth colon is the value
    // (so a value with an unescaped `:` is still read whole).
    let mut fields = rest.splitn(3, ':');
    let id_field = fields.next().unwrap_or_default();
    let resource_field = fields.next();
    let value_field = fields.next();

    let id_type = match id_field {
        "id" => IdType::Id,
        "name" => IdType::Name,
        "all" => IdType::All,
        "" => {
            return Err(malformed(
                input,
                "the id type after `urn:relay-resource:` is missing",
            ))
        }
        other => {
            return Err(malformed(
                input,
                format!("unknown id type `{other}` (expected `id`, `name` or `all`)"),
            ))
        }
    };
    let resource = match resource_field {
        None | Some("") => return Err(malformed(input, "the resource type is missing")),
        Some(r) => ResourceType::from_field(r),
    };
    let value = match (id_type, value_field) {
        (IdType::All, None) => String::new(),
        (IdType::All, Some(_)) => {
            return Err(malformed(
                input,
                "the `all` form takes no id or name after the resource type",
            ))
        }
        (_, None | Some("")) => {
            return Err(malformed(
                input,
                "the id or name after the resource type is missing",
            ))
        }
        (_, Some(raw)) => decode_value(input, raw)?,
    };

    let mut device = None;
    let mut status = None;
    for pair in query.unwrap_or_default().split('&') {
        if pair.is_empty() {
            continue;
        }
        let (raw_key, raw_value) = pair.split_once('=').unwrap_or((pair, ""));
        match decode_form(input, raw_key)?.as_str() {
            "device" if device.is_none() => {
                if depth >= MAX_NESTING {
                    return Err(malformed(
                        input,
                        "`device` parameters are nested too deeply",
                    ));
                }
                let nested = decode_form(input, raw_value)?;
                let parsed = parse_str(&nested, depth + 1).map_err(|e| {
                    let reason = match e {
                        UrnError::Empty { .. } => "its `device` parameter is empty".to_owned(),
                        UrnError::NotRelayUrn { input: inner } => {
                            format!("its `device` parameter `{inner}` is not a Relay URN")
                        }
                        UrnError::Malformed {
                            input: inner,
                            reason,
                        } => format!("its `device` parameter `{inner}` is malformed ({reason})"),
                        other => format!("its `device` parameter is invalid ({other})"),
                    };
                    malformed(input, reason)
                })?;
                device = Some(Box::new(parsed));
            }
            "status" if status.is_none() => status = Some(decode_form(input, raw_value)?),
            // Unknown and repeated parameters are ignored (the first occurrence wins).
            _ => {}
        }
    }

    Ok(ParsedUrn {
        id_type,
        resource,
        value,
        device,
        status,
    })
}

const EXPECT_DEVICE_NAME: &str =
    "a `name:device` URN, or an interaction or group-member URN whose `device` parameter is one";
const EXPECT_DEVICE_ID: &str =
    "an `id:device` URN, or an interaction or group-member URN whose `device` parameter is one";
const EXPECT_GROUP_NAME: &str = "a `name:group` URN";
const EXPECT_GROUP_ID: &str = "an `id:group` URN";
const EXPECT_INTERACTION_NAME: &str = "a `name:interaction` URN";

/// The device a URN designates: itself, or the `device` parameter of an interaction or
/// group-member URN; then its value if it has the wanted id type.
fn device_value(input: &str, want: IdType, expected: &'static str) -> Result<String, UrnError> {
    let parsed = parse_str(input, 0)?;
    let wrong = |found: String| UrnError::WrongType {
        expected,
        found,
        input: input.to_owned(),
    };
    match parsed.resource {
        ResourceType::Device if parsed.id_type == want => Ok(parsed.value),
        ResourceType::Device => Err(wrong(parsed.describe())),
        ResourceType::Interaction | ResourceType::Group => match parsed.device {
            Some(device) if device.resource == ResourceType::Device && device.id_type == want => {
                Ok(device.value)
            }
            Some(ref device) => Err(wrong(format!(
                "{} whose `device` parameter is {}",
                parsed.describe(),
                device.describe()
            ))),
            None => Err(wrong(format!(
                "{} with no `device` parameter",
                parsed.describe()
            ))),
        },
        _ => Err(wrong(parsed.describe())),
    }
}

/// The value of a URN of exactly this resource and id type.
fn plain_value(
    input: &str,
    resource: &ResourceType,
    want: IdType,
    expected: &'static str,
) -> Result<String, UrnError> {
    let parsed = parse_str(input, 0)?;
    if parsed.resource == *resource && parsed.id_type == want {
        Ok(parsed.value)
    } else {
        Err(UrnError::WrongType {
            expected,
            found: parsed.describe(),
            input: input.to_owned(),
        })
    }
}

fn resource_is(input: &str, resource: &ResourceType) -> bool {
    parse_str(input, 0).is_ok_and(|p| p.resource == *resource && p.id_type != IdType::All)
}

impl FromStr for Urn {
    type Err = UrnError;

    /// Check that `s` is a well-formed Relay URN (see [`Urn::parse`]) and wrap it unchanged.
    fn from_str(s: &str) -> Result<Urn, UrnError> {
        parse_str(s, 0)?;
        Ok(Urn(s.to_owned()))
    }
}

impl Urn {
    /// Take the URN apart.
    ///
    /// The query is split off at the first `?`; the head must be
    /// `urn:relay-resource:<id|name>:<type>:<value>` (or `urn:relay-resource:all:<type>`), and the
    /// value is percent-decoded (a `:` left unescaped in the value is kept as part of it). Query
    /// parameters are decoded with form rules (`+` is a space); `device` is parsed as a URN in
    /// turn, `status` is kept as text, other parameters are ignored.
    ///
    /// ```
    /// # use relay_workflow::urn::{IdType, ResourceType, Urn};
    /// let urn = Urn::from_string_unchecked(
    ///     "urn:relay-resource:name:interaction:hello%20world?device=urn%3Arelay-resource%3Aname%3Adevice%3ACam",
    /// );
    /// let parsed = urn.parse()?;
    /// assert_eq!(parsed.resource, ResourceType::Interaction);
    /// assert_eq!(parsed.value, "hello world");
    /// assert_eq!(parsed.device.map(|d| d.value).as_deref(), Some("Cam"));
    /// # Ok::<(), relay_workflow::urn::UrnError>(())
    /// ```
    ///
    /// # Errors
    /// [`UrnError::Empty`], [`UrnError::NotRelayUrn`] or [`UrnError::Malformed`].
    pub fn parse(&self) -> Result<ParsedUrn, UrnError> {
        parse_str(&self.0, 0)
    }

    /// The device name of a `name:device` URN, or of the device of an interaction or
    /// group-member URN.
    ///
    /// ```
    /// # use relay_workflow::urn::Urn;
    /// let urn = Urn::from_string_unchecked(
    ///     "urn:relay-resource:name:interaction:hello?device=urn%3Arelay-resource%3Aname%3Adevice%3ABob",
    /// );
    /// assert_eq!(urn.parse_device_name()?, "Bob");
    /// # Ok::<(), relay_workflow::urn::UrnError>(())
    /// ```
    ///
    /// # Errors
    /// [`UrnError::WrongType`] for other URNs (including `id:device` ones), or a parse error.
    pub fn parse_device_name(&self) -> Result<String, UrnError> {
        device_value(&self.0, IdType::Name, EXPECT_DEVICE_NAME)
    }

    /// The device id of an `id:device` URN, or of the device of an interaction or group-member
    /// URN.
    ///
    /// ```
    /// # use relay_workflow::urn::Urn;
    /// assert_eq!(Urn::device_id("990007560023456")?.parse_device_id()?, "990007560023456");
    /// # Ok::<(), relay_workflow::urn::UrnError>(())
    /// ```
    ///
    /// # Errors
    /// [`UrnError::WrongType`] for other URNs (including `name:device` ones), or a parse error.
    pub fn parse_device_id(&self) -> Result<String, UrnError> {
        device_value(&self.0, IdType::Id, EXPECT_DEVICE_ID)
    }

    /// The group name of a `name:group` URN (including a group-member URN).
    ///
    /// ```
    /// # use relay_workflow::urn::Urn;
    /// assert_eq!(Urn::group_name("night shift")?.parse_group_name()?, "night shift");
    /// # Ok::<(), relay_workflow::urn::UrnError>(())
    /// ```
    ///
    /// # Errors
    /// [`UrnError::WrongType`] for other URNs, or a parse error.
    pub fn parse_group_name(&self) -> Result<String, UrnError> {
        plain_value(
            &self.0,
            &ResourceType::Group,
            IdType::Name,
            EXPECT_GROUP_NAME,
        )
    }

    /// The group id of an `id:group` URN.
    ///
    /// ```
    /// # use relay_workflow::urn::Urn;
    /// assert_eq!(Urn::group_id("g-42")?.parse_group_id()?, "g-42");
    /// # Ok::<(), relay_workflow::urn::UrnError>(())
    /// ```
    ///
    /// # Errors
    /// [`UrnError::WrongType`] for other URNs, or a parse error.
    pub fn parse_group_id(&self) -> Result<String, UrnError> {
        plain_value(&self.0, &ResourceType::Group, IdType::Id, EXPECT_GROUP_ID)
    }

    /// The interaction name of a `name:interaction` URN (with or without a device).
    ///
    /// ```
    /// # use relay_workflow::urn::Urn;
    /// let urn = Urn::from_string_unchecked(
    ///     "urn:relay-resource:name:interaction:hello%20world?device=urn%3Arelay-resource%3Aname%3Adevice%3ABob",
    /// );
    /// assert_eq!(urn.parse_interaction_name()?, "hello world");
    /// # Ok::<(), relay_workflow::urn::UrnError>(())
    /// ```
    ///
    /// # Errors
    /// [`UrnError::WrongType`] for other URNs (including `id:interaction` ones), or a parse error.
    pub fn parse_interaction_name(&self) -> Result<String, UrnError> {
        plain_value(
            &self.0,
            &ResourceType::Interaction,
            IdType::Name,
            EXPECT_INTERACTION_NAME,
        )
    }

    /// Whether this is a well-formed URN of one device, by name or id
    /// (`false` for `urn:relay-resource:all:device`).
    ///
    /// ```
    /// # use relay_workflow::urn::Urn;
    /// assert!(Urn::device_name("Bob")?.is_device());
    /// # Ok::<(), relay_workflow::urn::UrnError>(())
    /// ```
    #[must_use]
    pub fn is_device(&self) -> bool {
        resource_is(&self.0, &ResourceType::Device)
    }

    /// Whether this is a well-formed group URN, by name or id (group-member URNs included).
    ///
    /// ```
    /// # use relay_workflow::urn::Urn;
    /// assert!(Urn::group_name("security")?.is_group());
    /// # Ok::<(), relay_workflow::urn::UrnError>(())
    /// ```
    #[must_use]
    pub fn is_group(&self) -> bool {
        resource_is(&self.0, &ResourceType::Group)
    }

    /// Whether this is a well-formed interaction URN, by name or id.
    ///
    /// ```
    /// # use relay_workflow::urn::Urn;
    /// assert!(Urn::interaction_name("hello")?.is_interaction());
    /// # Ok::<(), relay_workflow::urn::UrnError>(())
    /// ```
    #[must_use]
    pub fn is_interaction(&self) -> bool {
        resource_is(&self.0, &ResourceType::Interaction)
    }

    /// Whether this is a well-formed Relay URN (the check [`FromStr`] makes).
    ///
    /// ```
    /// # use relay_workflow::urn::Urn;
    /// assert!(Urn::all_devices().is_relay_uri());
    /// assert!(!Urn::from_string_unchecked("https://example.com").is_relay_uri());
    /// ```
    #[must_use]
    pub fn is_relay_uri(&self) -> bool {
        parse_str(&self.0, 0).is_ok()
    }
}

// ---------------------------------------------------------------------------
// relay-js `Uri` namespace equivalents
// ---------------------------------------------------------------------------

/// relay-js `deviceName`; see [`Urn::device_name`].
///
/// ```
/// assert_eq!(relay_workflow::urn::device_name("Bob")?, "urn:relay-resource:name:device:Bob");
/// # Ok::<(), relay_workflow::urn::UrnError>(())
/// ```
///
/// # Errors
/// [`UrnError::Empty`] if `name` is empty.
pub fn device_name(name: &str) -> Result<Urn, UrnError> {
    Urn::device_name(name)
}

/// relay-js `deviceId`; see [`Urn::device_id`].
///
/// ```
/// assert_eq!(relay_workflow::urn::device_id("9900")?, "urn:relay-resource:id:device:9900");
/// # Ok::<(), relay_workflow::urn::UrnError>(())
/// ```
///
/// # Errors
/// [`UrnError::Empty`] if `id` is empty.
pub fn device_id(id: &str) -> Result<Urn, UrnError> {
    Urn::device_id(id)
}

/// relay-js `groupName`; see [`Urn::group_name`].
///
/// ```
/// assert_eq!(relay_workflow::urn::group_name("security")?, "urn:relay-resource:name:group:security");
/// # Ok::<(), relay_workflow::urn::UrnError>(())
/// ```
///
/// # Errors
/// [`UrnError::Empty`] if `name` is empty.
pub fn group_name(name: &str) -> Result<Urn, UrnError> {
    Urn::group_name(name)
}

/// relay-js `groupId`; see [`Urn::group_id`].
///
/// ```
/// assert_eq!(relay_workflow::urn::group_id("g-42")?, "urn:relay-resource:id:group:g-42");
/// # Ok::<(), relay_workflow::urn::UrnError>(())
/// ```
///
/// # Errors
/// [`UrnError::Empty`] if `id` is empty.
pub fn group_id(id: &str) -> Result<Urn, UrnError> {
    Urn::group_id(id)
}

/// relay-js `groupMember`; see [`Urn::group_member`].
///
/// ```
/// assert!(relay_workflow::urn::group_member("security", "Bob")?.as_str().ends_with("?device=urn%3Arelay-resource%3Aname%3Adevice%3ABob"));
/// # Ok::<(), relay_workflow::urn::UrnError>(())
/// ```
///
/// # Errors
/// [`UrnError::Empty`] if either name is empty.
pub fn group_member(group_name: &str, device_name: &str) -> Result<Urn, UrnError> {
    Urn::group_member(group_name, device_name)
}

/// relay-js `interactionName`; see [`Urn::interaction_name`].
///
/// ```
/// assert_eq!(relay_workflow::urn::interaction_name("hello")?, "urn:relay-resource:name:interaction:hello");
/// # Ok::<(), relay_workflow::urn::UrnError>(())
/// ```
///
/// # Errors
/// [`UrnError::Empty`] if `name` is empty.
pub fn interaction_name(name: &str) -> Result<Urn, UrnError> {
    Urn::interaction_name(name)
}

/// relay-js `allDevicesWithStatus`; see [`Urn::interactions_with_status`].
///
/// ```
/// assert_eq!(relay_workflow::urn::all_devices_with_status("hello", "started")?, "urn:relay-resource:name:interaction:hello?status=started");
/// # Ok::<(), relay_workflow::urn::UrnError>(())
/// ```
///
/// # Errors
/// [`UrnError::Empty`] if `name` or `status` is empty.
pub fn all_devices_with_status(name: &str, status: &str) -> Result<Urn, UrnError> {
    Urn::interactions_with_status(name, status)
}

/// relay-js `allDevices`; see [`Urn::all_devices`].
///
/// ```
/// assert_eq!(relay_workflow::urn::all_devices(), "urn:relay-resource:all:device");
/// ```
#[must_use]
pub fn all_devices() -> Urn {
    Urn::all_devices()
}

/// relay-js `genericOriginator`; see [`Urn::generic_originator`].
///
/// ```
/// assert_eq!(relay_workflow::urn::generic_originator(), "urn:relay-resource:name:server:ibot");
/// ```
#[must_use]
pub fn generic_originator() -> Urn {
    Urn::generic_originator()
}

/// relay-js `parseDeviceName` (but decoded, and an error instead of a throw); see
/// [`Urn::parse_device_name`].
///
/// ```
/// assert_eq!(relay_workflow::urn::parse_device_name("urn:relay-resource:name:device:johnny%20five")?, "johnny five");
/// # Ok::<(), relay_workflow::urn::UrnError>(())
/// ```
///
/// # Errors
/// As [`Urn::parse_device_name`].
pub fn parse_device_name(uri: &str) -> Result<String, UrnError> {
    device_value(uri, IdType::Name, EXPECT_DEVICE_NAME)
}

/// relay-js `parseDeviceId`; see [`Urn::parse_device_id`].
///
/// ```
/// assert_eq!(relay_workflow::urn::parse_device_id("urn:relay-resource:id:device:9900")?, "9900");
/// # Ok::<(), relay_workflow::urn::UrnError>(())
/// ```
///
/// # Errors
/// As [`Urn::parse_device_id`].
pub fn parse_device_id(uri: &str) -> Result<String, UrnError> {
    device_value(uri, IdType::Id, EXPECT_DEVICE_ID)
}

/// relay-js `parseGroupName`; see [`Urn::parse_group_name`].
///
/// ```
/// assert_eq!(relay_workflow::urn::parse_group_name("urn:relay-resource:name:group:security")?, "security");
/// # Ok::<(), relay_workflow::urn::UrnError>(())
/// ```
///
/// # Errors
/// As [`Urn::parse_group_name`].
pub fn parse_group_name(uri: &str) -> Result<String, UrnError> {
    plain_value(uri, &ResourceType::Group, IdType::Name, EXPECT_GROUP_NAME)
}

/// relay-js `parseGroupId`; see [`Urn::parse_group_id`].
///
/// ```
/// assert_eq!(relay_workflow::urn::parse_group_id("urn:relay-resource:id:group:g-42")?, "g-42");
/// # Ok::<(), relay_workflow::urn::UrnError>(())
/// ```
///
/// # Errors
/// As [`Urn::parse_group_id`].
pub fn parse_group_id(uri: &str) -> Result<String, UrnError> {
    plain_value(uri, &ResourceType::Group, IdType::Id, EXPECT_GROUP_ID)
}

/// The interaction name of an interaction URN (PY `parse_interaction`); see
/// [`Urn::parse_interaction_name`].
///
/// ```
/// assert_eq!(relay_workflow::urn::parse_interaction_name("urn:relay-resource:name:interaction:hello")?, "hello");
/// # Ok::<(), relay_workflow::urn::UrnError>(())
/// ```
///
/// # Errors
/// As [`Urn::parse_interaction_name`].
pub fn parse_interaction_name(uri: &str) -> Result<String, UrnError> {
    plain_value(
        uri,
        &ResourceType::Interaction,
        IdType::Name,
        EXPECT_INTERACTION_NAME,
    )
}

/// relay-js `isInteractionUri`, working (it always returned `undefined` in JS); see
/// [`Urn::is_interaction`].
///
/// ```
/// assert!(relay_workflow::urn::is_interaction_uri("urn:relay-resource:name:interaction:hello"));
/// ```
#[must_use]
pub fn is_interaction_uri(uri: &str) -> bool {
    resource_is(uri, &ResourceType::Interaction)
}

/// relay-js `isRelayUri` (stricter: the whole URN must be well formed); see
/// [`Urn::is_relay_uri`].
///
/// ```
/// assert!(!relay_workflow::urn::is_relay_uri("urn:relay-resource"));
/// ```
#[must_use]
pub fn is_relay_uri(uri: &str) -> bool {
    parse_str(uri, 0).is_ok()
}

// ---------------------------------------------------------------------------
// Targets
// ---------------------------------------------------------------------------

/// The `_target` of an action: one or more URNs, serialized as `{"uris": […]}`.
///
/// Built through [`IntoTarget`], so it is never empty.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Target {
    uris: Vec<Urn>,
}

impl Target {
    /// The URNs addressed.
    #[must_use]
    pub fn uris(&self) -> &[Urn] {
        &self.uris
    }

    /// The URNs addressed, owned.
    #[must_use]
    pub fn into_uris(self) -> Vec<Urn> {
        self.uris
    }

    /// From URNs already typed as [`Urn`]: not re-validated (Relay-minted URNs are passed on
    /// verbatim), but the list and each URN must be non-empty.
    fn from_urns(uris: Vec<Urn>) -> Result<Target, UrnError> {
        if uris.is_empty() {
            return Err(UrnError::EmptyTarget);
        }
        if uris.iter().any(|u| u.0.is_empty()) {
            return Err(UrnError::Empty { what: "URN" });
        }
        Ok(Target { uris })
    }

    /// From text: each item must be a well-formed Relay URN.
    fn from_strs<S: AsRef<str> + Into<String>>(
        items: impl IntoIterator<Item = S>,
    ) -> Result<Target, UrnError> {
        let uris = items
            .into_iter()
            .map(|s| {
                parse_str(s.as_ref(), 0)?;
                Ok(Urn(s.into()))
            })
            .collect::<Result<Vec<_>, UrnError>>()?;
        if uris.is_empty() {
            return Err(UrnError::EmptyTarget);
        }
        Ok(Target { uris })
    }
}

/// Anything that can address an action: a [`Urn`], a URN string, a list of either, or a
/// [`Target`].
///
/// Strings are checked to be well-formed Relay URNs; [`Urn`]s are passed on as they are.
/// An empty list is an error.
///
/// ```
/// # use relay_workflow::urn::{IntoTarget, Urn};
/// let bob = Urn::device_name("Bob")?;
/// let target = [bob, Urn::device_name("Ann")?].into_target()?;
/// assert_eq!(target.uris().len(), 2);
/// assert!("not a urn".into_target().is_err());
/// # Ok::<(), relay_workflow::urn::UrnError>(())
/// ```
pub trait IntoTarget {
    /// Convert into a [`Target`].
    ///
    /// # Errors
    /// [`UrnError::EmptyTarget`] for an empty list; [`UrnError::Empty`],
    /// [`UrnError::NotRelayUrn`] or [`UrnError::Malformed`] naming a bad item.
    fn into_target(self) -> Result<Target, UrnError>;
}

impl IntoTarget for Target {
    fn into_target(self) -> Result<Target, UrnError> {
        Ok(self)
    }
}

impl IntoTarget for &Target {
    fn into_target(self) -> Result<Target, UrnError> {
        Ok(self.clone())
    }
}

impl IntoTarget for Urn {
    fn into_target(self) -> Result<Target, UrnError> {
        Target::from_urns(vec![self])
    }
}

impl IntoTarget for &Urn {
    fn into_target(self) -> Result<Target, UrnError> {
        Target::from_urns(vec![self.clone()])
    }
}

impl IntoTarget for Vec<Urn> {
    fn into_target(self) -> Result<Target, UrnError> {
        Target::from_urns(self)
    }
}

impl IntoTarget for &Vec<Urn> {
    fn into_target(self) -> Result<Target, UrnError> {
        Target::from_urns(self.clone())
    }
}

impl IntoTarget for &[Urn] {
    fn into_target(self) -> Result<Target, UrnError> {
        Target::from_urns(self.to_vec())
    }
}

impl<const N: usize> IntoTarget for [Urn; N] {
    fn into_target(self) -> Result<Target, UrnError> {
        Target::from_urns(Vec::from(self))
    }
}

impl IntoTarget for &str {
    fn into_target(self) -> Result<Target, UrnError> {
        Target::from_strs([self])
    }
}

impl IntoTarget for String {
    fn into_target(self) -> Result<Target, UrnError> {
        Target::from_strs([self])
    }
}

impl IntoTarget for &String {
    fn into_target(self) -> Result<Target, UrnError> {
        Target::from_strs([self.as_str()])
    }
}

impl IntoTarget for Vec<&str> {
    fn into_target(self) -> Result<Target, UrnError> {
        Target::from_strs(self)
    }
}

impl IntoTarget for Vec<String> {
    fn into_target(self) -> Result<Target, UrnError> {
        Target::from_strs(self)
    }
}

impl IntoTarget for &[&str] {
    fn into_target(self) -> Result<Target, UrnError> {
        Target::from_strs(self.iter().copied())
    }
}

impl<const N: usize> IntoTarget for [&str; N] {
    fn into_target(self) -> Result<Target, UrnError> {
        Target::from_strs(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOB_INTERACTION: &str =
        "urn:relay-resource:name:interaction:hello?device=urn%3Arelay-resource%3Aname%3Adevice%3ABob";

    fn u(s: &str) -> Urn {
        Urn::from_string_unchecked(s)
    }

    fn wrong_type(r: Result<String, UrnError>) -> (&'static str, String, String) {
        match r {
            Err(UrnError::WrongType {
                expected,
                found,
                input,
            }) => (expected, found, input),
            other => panic!("expected WrongType, got {other:?}"),
        }
    }

    // ----- constructors --------------------------------------------------

    #[test]
    fn constructors_exact_strings() {
        assert_eq!(
            Urn::device_name("Cam").unwrap(),
            "urn:relay-resource:name:device:Cam"
        );
        assert_eq!(
            Urn::device_id("990007560023456").unwrap(),
            "urn:relay-resource:id:device:990007560023456"
        );
        assert_eq!(
            Urn::group_name("security").unwrap(),
            "urn:relay-resource:name:group:security"
        );
        assert_eq!(
            Urn::group_id("abc-123").unwrap(),
            "urn:relay-resource:id:group:abc-123"
        );
        assert_eq!(
            Urn::group_member("abc", "xyz").unwrap(),
            "urn:relay-resource:name:group:abc?device=urn%3Arelay-resource%3Aname%3Adevice%3Axyz"
        );
        assert_eq!(
            Urn::interaction_name("hello world").unwrap(),
            "urn:relay-resource:name:interaction:hello%20world"
        );
        assert_eq!(
            Urn::interactions_with_status("hello", "started").unwrap(),
            "urn:relay-resource:name:interaction:hello?status=started"
        );
        assert_eq!(Urn::all_devices(), "urn:relay-resource:all:device");
        assert_eq!(
            Urn::generic_originator(),
            "urn:relay-resource:name:server:ibot"
        );
    }

    #[test]
    fn constructors_encode_like_encode_uri_component() {
        let cases = [
            ("johnny five", "johnny%20five"),
            ("a:b", "a%3Ab"),
            ("a/b", "a%2Fb"),
            ("O'Brien", "O'Brien"),
            ("unreserved-_.!~*'()", "unreserved-_.!~*'()"),
            ("?&=+#%", "%3F%26%3D%2B%23%25"),
            ("Zoë", "Zo%C3%AB"),
            ("日本", "%E6%97%A5%E6%9C%AC"),
            ("🚀", "%F0%9F%9A%80"),
            ("tab\there", "tab%09here"),
            ("\"quoted\" <x>", "%22quoted%22%20%3Cx%3E"),
        ];
        for (raw, enc) in cases {
            assert_eq!(
                Urn::device_name(raw).unwrap().as_str(),
                format!("urn:relay-resource:name:device:{enc}"),
                "{raw}"
            );
            assert_eq!(
                Urn::device_id(raw).unwrap().as_str(),
                format!("urn:relay-resource:id:device:{enc}")
            );
            assert_eq!(
                Urn::group_name(raw).unwrap().as_str(),
                format!("urn:relay-resource:name:group:{enc}")
            );
            assert_eq!(
                Urn::group_id(raw).unwrap().as_str(),
                format!("urn:relay-resource:id:group:{enc}")
            );
            assert_eq!(
                Urn::interaction_name(raw).unwrap().as_str(),
                format!("urn:relay-resource:name:interaction:{enc}")
            );
        }
    }

    #[test]
    fn group_member_double_encodes_the_device_name() {
        assert_eq!(
            Urn::group_member("night shift", "johnny five").unwrap(),
            "urn:relay-resource:name:group:night%20shift?device=\
             urn%3Arelay-resource%3Aname%3Adevice%3Ajohnny%2520five"
        );
        assert_eq!(
            Urn::group_member("a/b", "c:d").unwrap(),
            "urn:relay-resource:name:group:a%2Fb?device=\
             urn%3Arelay-resource%3Aname%3Adevice%3Ac%253Ad"
        );
    }

    #[test]
    fn interactions_with_status_encodes_both_parts() {
        assert_eq!(
            Urn::interactions_with_status("my flow", "a b").unwrap(),
            "urn:relay-resource:name:interaction:my%20flow?status=a%20b"
        );
    }

    #[test]
    fn constructors_reject_empty_text() {
        let empty = |what| Err(UrnError::Empty { what });
        assert_eq!(Urn::device_name(""), empty("device name"));
        assert_eq!(Urn::device_id(""), empty("device id"));
        assert_eq!(Urn::group_name(""), empty("group name"));
        assert_eq!(Urn::group_id(""), empty("group id"));
        assert_eq!(Urn::group_member("", "Bob"), empty("group name"));
        assert_eq!(Urn::group_member("g", ""), empty("device name"));
        assert_eq!(Urn::interaction_name(""), empty("interaction name"));
        assert_eq!(
            Urn::interactions_with_status("", "started"),
            empty("interaction name")
        );
        assert_eq!(
            Urn::interactions_with_status("hello", ""),
            empty("interaction status")
        );
        // Whitespace is a name, not nothing.
        assert_eq!(
            Urn::device_name(" ").unwrap(),
            "urn:relay-resource:name:device:%20"
        );
    }

    #[test]
    fn free_functions_match_methods() {
        assert_eq!(device_name("B b"), Urn::device_name("B b"));
        assert_eq!(device_id("1"), Urn::device_id("1"));
        assert_eq!(group_name("g"), Urn::group_name("g"));
        assert_eq!(group_id("g"), Urn::group_id("g"));
        assert_eq!(group_member("g", "d"), Urn::group_member("g", "d"));
        assert_eq!(interaction_name("i"), Urn::interaction_name("i"));
        assert_eq!(
            all_devices_with_status("i", "ended"),
            Urn::interactions_with_status("i", "ended")
        );
        assert_eq!(all_devices(), Urn::all_devices());
        assert_eq!(generic_originator(), Urn::generic_originator());
        assert_eq!(
            parse_device_name(BOB_INTERACTION),
            u(BOB_INTERACTION).parse_device_name()
        );
        assert_eq!(
            parse_device_id("urn:relay-resource:id:device:7").as_deref(),
            Ok("7")
        );
        assert_eq!(
            parse_group_name("urn:relay-resource:name:group:g").as_deref(),
            Ok("g")
        );
        assert_eq!(
            parse_group_id("urn:relay-resource:id:group:g").as_deref(),
            Ok("g")
        );
        assert_eq!(
            parse_interaction_name(BOB_INTERACTION).as_deref(),
            Ok("hello")
        );
        assert!(is_interaction_uri(BOB_INTERACTION));
        assert!(!is_interaction_uri("urn:relay-resource:name:device:Bob"));
        assert!(is_relay_uri(BOB_INTERACTION));
        assert!(!is_relay_uri("hello"));
    }

    // ----- parsing -------------------------------------------------------

    fn parsed(
        id_type: IdType,
        resource: ResourceType,
        value: &str,
        device: Option<ParsedUrn>,
        status: Option<&str>,
    ) -> ParsedUrn {
        ParsedUrn {
            id_type,
            resource,
            value: value.to_owned(),
            device: device.map(Box::new),
            status: status.map(str::to_owned),
        }
    }

    fn device(name: &str) -> ParsedUrn {
        parsed(IdType::Name, ResourceType::Device, name, None, None)
    }

    /// Every form of the §4.1 table: parse, compare fields, rebuild the same string.
    #[test]
    fn parse_round_trips_every_table_form() {
        let table = [
            (
                "urn:relay-resource:name:device:Cam",
                parsed(IdType::Name, ResourceType::Device, "Cam", None, None),
            ),
            (
                "urn:relay-resource:id:device:990007560023456",
                parsed(IdType::Id, ResourceType::Device, "990007560023456", None, None),
            ),
            (
                "urn:relay-resource:name:group:security",
                parsed(IdType::Name, ResourceType::Group, "security", None, None),
            ),
            (
                "urn:relay-resource:id:group:4f1c-77",
                parsed(IdType::Id, ResourceType::Group, "4f1c-77", None, None),
            ),
            (
                "urn:relay-resource:all:device",
                parsed(IdType::All, ResourceType::Device, "", None, None),
            ),
            (
                "urn:relay-resource:name:interaction:hello%20world?device=urn%3Arelay-resource%3Aname%3Adevice%3ACam",
                parsed(
                    IdType::Name,
                    ResourceType::Interaction,
                    "hello world",
                    Some(device("Cam")),
                    None,
                ),
            ),
            (
                "urn:relay-resource:name:interaction:hello?status=started",
                parsed(
                    IdType::Name,
                    ResourceType::Interaction,
                    "hello",
                    None,
                    Some("started"),
                ),
            ),
            (
                "urn:relay-resource:name:group:abc?device=urn%3Arelay-resource%3Aname%3Adevice%3Axyz",
                parsed(
                    IdType::Name,
                    ResourceType::Group,
                    "abc",
                    Some(device("xyz")),
                    None,
                ),
            ),
            (
                "urn:relay-resource:name:server:ibot",
                parsed(IdType::Name, ResourceType::Server, "ibot", None, None),
            ),
            (
                "urn:relay-resource:id:tag:04A1B2",
                parsed(IdType::Id, ResourceType::Tag, "04A1B2", None, None),
            ),
            (
                "urn:relay-resource:id:interaction:i-9?device=urn%3Arelay-resource%3Aid%3Adevice%3A42",
                parsed(
                    IdType::Id,
                    ResourceType::Interaction,
                    "i-9",
                    Some(parsed(IdType::Id, ResourceType::Device, "42", None, None)),
                    None,
                ),
            ),
            (
                "urn:relay-resource:name:widget:w1",
                parsed(
                    IdType::Name,
                    ResourceType::Other("widget".into()),
                    "w1",
                    None,
                    None,
                ),
            ),
        ];
        for (text, want) in table {
            let urn: Urn = text.parse().unwrap();
            assert_eq!(urn, text, "FromStr keeps the spelling");
            let got = urn.parse().unwrap();
            assert_eq!(got, want, "{text}");
            assert_eq!(got.to_urn(), text, "canonical rebuild of {text}");
            assert_eq!(got.to_urn().parse().unwrap(), got);
        }
    }

    #[test]
    fn constructors_parse_back() {
        let urn = Urn::group_member("night shift", "johnny five").unwrap();
        assert_eq!(urn.parse_group_name().unwrap(), "night shift");
        assert_eq!(urn.parse_device_name().unwrap(), "johnny five");
        let urn = Urn::interactions_with_status("my flow", "a b").unwrap();
        let p = urn.parse().unwrap();
        assert_eq!(p.value, "my flow");
        assert_eq!(p.status.as_deref(), Some("a b"));
        assert_eq!(
            Urn::generic_originator().parse().unwrap().resource,
            ResourceType::Server
        );
        assert_eq!(Urn::all_devices().parse().unwrap().id_type, IdType::All);
    }

    #[test]
    fn parse_device_name_of_interaction() {
        assert_eq!(u(BOB_INTERACTION).parse_device_name().unwrap(), "Bob");
        assert_eq!(
            u(BOB_INTERACTION).parse_interaction_name().unwrap(),
            "hello"
        );
    }

    #[test]
    fn names_with_spaces_are_decoded() {
        // relay-js returned "johnny%20five" here.
        assert_eq!(
            parse_device_name("urn:relay-resource:name:device:johnny%20five").unwrap(),
            "johnny five"
        );
        assert_eq!(
            parse_device_name(
                "urn:relay-resource:name:interaction:hi?device=urn%3Arelay-resource%3Aname%3Adevice%3Ajohnny%2520five"
            )
            .unwrap(),
            "johnny five"
        );
        assert_eq!(
            parse_group_name("urn:relay-resource:name:group:night%20shift").unwrap(),
            "night shift"
        );
    }

    #[test]
    fn names_containing_colons() {
        let urn = Urn::device_name("ward:3:bed:12").unwrap();
        assert_eq!(urn, "urn:relay-resource:name:device:ward%3A3%3Abed%3A12");
        assert_eq!(urn.parse_device_name().unwrap(), "ward:3:bed:12");
        let interaction = format!(
            "urn:relay-resource:name:interaction:a%3Ab?device={}",
            encode(urn.as_str())
        );
        assert_eq!(parse_device_name(&interaction).unwrap(), "ward:3:bed:12");
        assert_eq!(parse_interaction_name(&interaction).unwrap(), "a:b");
        // A colon left unescaped (relay-go PathEscape) is still read as part of the value.
        assert_eq!(
            parse_device_name("urn:relay-resource:name:device:a:b").unwrap(),
            "a:b"
        );
        // ... including a raw device URN in the query (relay-go groupMember).
        assert_eq!(
            parse_device_name(
                "urn:relay-resource:name:group:g?device=urn:relay-resource:name:device:x:y"
            )
            .unwrap(),
            "x:y"
        );
    }

    #[test]
    fn plus_in_query_is_space_but_not_in_value() {
        let p = u("urn:relay-resource:name:interaction:a+b?status=in+progress")
            .parse()
            .unwrap();
        assert_eq!(p.value, "a+b");
        assert_eq!(p.status.as_deref(), Some("in progress"));
        assert_eq!(
            parse_device_name(
                "urn:relay-resource:name:interaction:x?device=urn:relay-resource:name:device:johnny+five"
            )
            .unwrap(),
            "johnny five"
        );
        // An encoded plus stays a plus.
        assert_eq!(
            parse_device_name(&Urn::group_member("g", "a+b").unwrap().into_string()).unwrap(),
            "a+b"
        );
    }

    #[test]
    fn query_details() {
        // Unknown parameters are ignored, the first repeated one wins, order does not matter.
        let p = u("urn:relay-resource:name:interaction:x?foo=1&status=ended&&device=urn%3Arelay-resource%3Aname%3Adevice%3AA&device=urn%3Arelay-resource%3Aname%3Adevice%3AB&status=started")
            .parse()
            .unwrap();
        assert_eq!(p.status.as_deref(), Some("ended"));
        assert_eq!(p.device.map(|d| d.value).as_deref(), Some("A"));
        // Only the first `?` splits; the rest belongs to the query.
        let p = u("urn:relay-resource:name:interaction:x?status=a?b")
            .parse()
            .unwrap();
        assert_eq!(p.status.as_deref(), Some("a?b"));
        // A `?` encoded in a name is part of the name.
        assert_eq!(
            parse_device_name("urn:relay-resource:name:device:why%3F").unwrap(),
            "why?"
        );
    }

    #[test]
    fn invalid_device_parameter_is_malformed() {
        for text in [
            "urn:relay-resource:name:interaction:x?device=Bob",
            "urn:relay-resource:name:interaction:x?device=",
            "urn:relay-resource:name:interaction:x?device=urn%3Arelay-resource%3Aname%3Adevice%3A",
        ] {
            match u(text).parse() {
                Err(UrnError::Malformed { input, reason }) => {
                    assert_eq!(input, text);
                    assert!(reason.contains("`device` parameter"), "{reason}");
                }
                other => panic!("{text}: {other:?}"),
            }
        }
    }

    #[test]
    fn invalid_device_parameter_message_names_it() {
        let msg = u("urn:relay-resource:name:interaction:x?device=Bob")
            .parse()
            .unwrap_err()
            .to_string();
        assert!(
            msg.starts_with(
                "malformed Relay URN `urn:relay-resource:name:interaction:x?device=Bob`: \
                 its `device` parameter `Bob` is not a Relay URN;"
            ),
            "{msg}"
        );
    }

    #[test]
    fn deep_nesting_is_refused() {
        let mut text = "urn:relay-resource:name:device:x".to_owned();
        for _ in 0..200 {
            text = format!("urn:relay-resource:name:interaction:i?device={text}");
        }
        assert!(matches!(u(&text).parse(), Err(UrnError::Malformed { .. })));
    }

    #[test]
    fn invalid_utf8_after_decoding_is_malformed() {
        assert!(matches!(
            parse_device_name("urn:relay-resource:name:device:%FF"),
            Err(UrnError::Malformed { .. })
        ));
        assert!(matches!(
            u("urn:relay-resource:name:interaction:x?status=%C3").parse(),
            Err(UrnError::Malformed { .. })
        ));
    }

    // ----- errors --------------------------------------------------------

    #[test]
    fn name_accessors_refuse_id_urns_and_vice_versa() {
        let (expected, found, input) = wrong_type(parse_device_name(
            "urn:relay-resource:id:device:990007560023456",
        ));
        assert_eq!(expected, EXPECT_DEVICE_NAME);
        assert_eq!(found, "an `id:device` URN");
        assert_eq!(input, "urn:relay-resource:id:device:990007560023456");

        let (_, found, _) = wrong_type(parse_device_id("urn:relay-resource:name:device:Bob"));
        assert_eq!(found, "a `name:device` URN");
        let (_, found, _) = wrong_type(parse_device_id(BOB_INTERACTION));
        assert_eq!(
            found,
            "a `name:interaction` URN whose `device` parameter is a `name:device` URN"
        );
        let (_, found, _) = wrong_type(parse_group_name("urn:relay-resource:id:group:g"));
        assert_eq!(found, "an `id:group` URN");
        let (_, found, _) = wrong_type(parse_group_id("urn:relay-resource:name:group:g"));
        assert_eq!(found, "a `name:group` URN");
        let (_, found, _) = wrong_type(parse_interaction_name(
            "urn:relay-resource:id:interaction:i?device=urn%3Arelay-resource%3Aid%3Adevice%3A1",
        ));
        assert_eq!(found, "an `id:interaction` URN");
        assert_eq!(
            parse_device_id(
                "urn:relay-resource:id:interaction:i?device=urn%3Arelay-resource%3Aid%3Adevice%3A1"
            )
            .as_deref(),
            Ok("1")
        );
    }

    #[test]
    fn accessors_refuse_other_resources() {
        let (_, found, _) = wrong_type(parse_device_name("urn:relay-resource:name:group:g"));
        assert_eq!(found, "a `name:group` URN with no `device` parameter");
        let (_, found, _) = wrong_type(Urn::interaction_name("hello").unwrap().parse_device_name());
        assert_eq!(found, "a `name:interaction` URN with no `device` parameter");
        let (_, found, _) = wrong_type(Urn::all_devices().parse_device_name());
        assert_eq!(found, "an `all:device` URN");
        let (_, found, _) = wrong_type(Urn::generic_originator().parse_device_name());
        assert_eq!(found, "a `name:server` URN");
        let (_, found, _) = wrong_type(parse_group_name("urn:relay-resource:name:device:Bob"));
        assert_eq!(found, "a `name:device` URN");
        let (_, found, _) =
            wrong_type(parse_interaction_name("urn:relay-resource:name:device:Bob"));
        assert_eq!(found, "a `name:device` URN");
    }

    #[test]
    fn non_relay_strings() {
        for text in [
            "Bob",
            "urn:relay-resource",
            "urn:other:name:device:Bob",
            "URN:RELAY-RESOURCE:name:device:Bob",
            "https://example.com/urn:relay-resource:name:device:Bob",
            " urn:relay-resource:name:device:Bob",
        ] {
            let err = text.parse::<Urn>().unwrap_err();
            assert_eq!(
                err,
                UrnError::NotRelayUrn {
                    input: text.to_owned()
                }
            );
            assert!(err.to_string().contains(text));
            assert!(!is_relay_uri(text));
            assert!(!u(text).is_relay_uri());
            assert!(matches!(
                parse_device_name(text),
                Err(UrnError::NotRelayUrn { .. })
            ));
        }
    }

    #[test]
    fn malformed_relay_urns() {
        for (text, needle) in [
            ("urn:relay-resource:", "id type"),
            ("urn:relay-resource:name", "resource type"),
            ("urn:relay-resource:name:", "resource type"),
            ("urn:relay-resource:name::Bob", "resource type"),
            ("urn:relay-resource:name:device", "id or name"),
            ("urn:relay-resource:name:device:", "id or name"),
            ("urn:relay-resource:name:device:?device=x", "id or name"),
            ("urn:relay-resource:all:", "resource type"),
            ("urn:relay-resource:all:device:Bob", "`all` form"),
            (
                "urn:relay-resource:uuid:device:Bob",
                "unknown id type `uuid`",
            ),
        ] {
            match text.parse::<Urn>() {
                Err(UrnError::Malformed { input, reason }) => {
                    assert_eq!(input, text);
                    assert!(reason.contains(needle), "{text}: {reason}");
                }
                other => panic!("{text}: {other:?}"),
            }
            assert!(!is_relay_uri(text));
        }
    }

    #[test]
    fn empty_input() {
        let empty = UrnError::Empty { what: "URN" };
        assert_eq!("".parse::<Urn>(), Err(empty.clone()));
        assert_eq!(Urn::default().parse(), Err(empty.clone()));
        assert_eq!(parse_device_name(""), Err(empty.clone()));
        assert_eq!(parse_group_id(""), Err(empty));
        assert!(!is_relay_uri(""));
        assert!(!is_interaction_uri(""));
        assert!(!Urn::default().is_device());
    }

    #[test]
    fn error_messages_say_what_to_do() {
        let msg = UrnError::Empty {
            what: "device name",
        }
        .to_string();
        assert_eq!(
            msg,
            "the device name is empty; pass a non-empty device name"
        );
        let msg = "Bob".parse::<Urn>().unwrap_err().to_string();
        assert!(msg.contains("`Bob` is not a Relay URN"), "{msg}");
        assert!(msg.contains("Urn::device_name"), "{msg}");
        let msg = parse_device_name("urn:relay-resource:id:device:7")
            .unwrap_err()
            .to_string();
        assert!(msg.contains("expected a `name:device` URN"), "{msg}");
        assert!(
            msg.contains("`urn:relay-resource:id:device:7` is an `id:device` URN"),
            "{msg}"
        );
        assert!(msg.contains("parse_*"), "{msg}");
        let msg = "urn:relay-resource:name:device:"
            .parse::<Urn>()
            .unwrap_err()
            .to_string();
        assert!(
            msg.starts_with("malformed Relay URN `urn:relay-resource:name:device:`"),
            "{msg}"
        );
        assert!(UrnError::EmptyTarget.to_string().contains("at least one"));
    }

    #[test]
    fn predicates() {
        let dev = Urn::device_name("Bob").unwrap();
        let dev_id = Urn::device_id("1").unwrap();
        let grp = Urn::group_name("g").unwrap();
        let member = Urn::group_member("g", "Bob").unwrap();
        let inter = u(BOB_INTERACTION);
        let inter_id = u("urn:relay-resource:id:interaction:i-9");
        let status = Urn::interactions_with_status("hello", "started").unwrap();
        let junk = u("urn:relay-resource:name:device:");

        assert!(dev.is_device() && dev_id.is_device());
        assert!(!dev.is_group() && !dev.is_interaction());
        assert!(!Urn::all_devices().is_device());
        assert!(grp.is_group() && member.is_group() && !grp.is_device());
        assert!(inter.is_interaction() && inter_id.is_interaction() && status.is_interaction());
        assert!(!inter.is_device() && !inter.is_group());
        assert!(is_interaction_uri(inter_id.as_str()));
        assert!(!junk.is_device() && !junk.is_relay_uri());
        for ok in [&dev, &dev_id, &grp, &member, &inter, &inter_id, &status] {
            assert!(ok.is_relay_uri(), "{ok}");
        }
        assert!(Urn::all_devices().is_relay_uri());
        assert!(Urn::generic_originator().is_relay_uri());
    }

    #[test]
    fn display_of_parsed_kinds() {
        assert_eq!(IdType::Name.to_string(), "name");
        assert_eq!(IdType::Id.as_str(), "id");
        assert_eq!(IdType::All.as_str(), "all");
        assert_eq!(ResourceType::Interaction.to_string(), "interaction");
        assert_eq!(ResourceType::Other("x".into()).as_str(), "x");
    }

    // ----- property-style round trips -----------------------------------

    /// Deterministic generator of awkward names (xorshift64*; no external crates).
    struct Names(u64);

    impl Names {
        fn next_u64(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }

        fn name(&mut self) -> String {
            const POOL: &[&str] = &[
                "a",
                "Z",
                "0",
                "9",
                " ",
                ":",
                "/",
                "?",
                "&",
                "=",
                "+",
                "%",
                "#",
                "'",
                "\"",
                "-",
                "_",
                ".",
                "!",
                "~",
                "*",
                "(",
                ")",
                "@",
                "$",
                ",",
                ";",
                "[",
                "]",
                "\\",
                "\t",
                "%20",
                "%3A",
                "é",
                "ü",
                "ß",
                "日本",
                "🚀",
                "\u{200b}",
                "urn:relay-resource:",
                "?device=",
            ];
            let len = 1 + (self.next_u64() % 12) as usize;
            (0..len)
                .map(|_| POOL[(self.next_u64() % POOL.len() as u64) as usize])
                .collect()
        }
    }

    #[test]
    fn generated_names_round_trip() {
        let mut gen = Names(0x9E37_79B9_7F4A_7C15);
        for _ in 0..500 {
            let name = gen.name();
            let iname = gen.name();

            let dev = device_name(&name).unwrap();
            assert_eq!(parse_device_name(dev.as_str()).unwrap(), name, "{dev}");
            assert_eq!(dev.parse().unwrap().to_urn(), dev);
            assert_eq!(
                parse_device_id(device_id(&name).unwrap().as_str()).unwrap(),
                name
            );
            assert_eq!(
                parse_group_name(group_name(&name).unwrap().as_str()).unwrap(),
                name
            );
            assert_eq!(
                parse_group_id(group_id(&name).unwrap().as_str()).unwrap(),
                name
            );

            // An interaction URN as Relay mints it, built by hand.
            let interaction = format!(
                "urn:relay-resource:name:interaction:{}?device={}",
                encode(&iname),
                encode(dev.as_str())
            );
            assert_eq!(
                parse_device_name(&interaction).unwrap(),
                name,
                "{interaction}"
            );
            assert_eq!(parse_interaction_name(&interaction).unwrap(), iname);
            assert!(is_interaction_uri(&interaction));

            let member = group_member(&iname, &name).unwrap();
            assert_eq!(member.parse_group_name().unwrap(), iname);
            assert_eq!(member.parse_device_name().unwrap(), name);

            let st = all_devices_with_status(&iname, &name).unwrap();
            assert_eq!(st.parse().unwrap().status.as_deref(), Some(name.as_str()));
        }
    }

    // ----- targets -------------------------------------------------------

    fn json(t: Target) -> String {
        serde_json::to_string(&t).unwrap()
    }

    #[test]
    fn target_json_shape() {
        let t = Urn::device_name("Bob").unwrap().into_target().unwrap();
        assert_eq!(
            json(t),
            r#"{"uris":["urn:relay-resource:name:device:Bob"]}"#
        );
        let t = vec![Urn::group_name("a").unwrap(), Urn::device_id("1").unwrap()]
            .into_target()
            .unwrap();
        assert_eq!(
            json(t),
            r#"{"uris":["urn:relay-resource:name:group:a","urn:relay-resource:id:device:1"]}"#
        );
        let v = serde_json::json!({ "_target": BOB_INTERACTION.into_target().unwrap() });
        assert_eq!(v["_target"]["uris"][0], BOB_INTERACTION);
    }

    #[test]
    fn into_target_for_every_impl() {
        let bob = Urn::device_name("Bob").unwrap();
        let ann = Urn::device_name("Ann").unwrap();
        let one = vec![bob.clone()];
        let two = vec![bob.clone(), ann.clone()];
        let text = bob.as_str().to_owned();
        let text2 = ann.as_str().to_owned();

        let check = |t: Result<Target, UrnError>, want: &[Urn]| {
            assert_eq!(t.unwrap().uris(), want);
        };
        check(bob.clone().into_target(), &one);
        check((&bob).into_target(), &one);
        check(text.as_str().into_target(), &one);
        check(text.clone().into_target(), &one);
        check((&text).into_target(), &one);
        check(two.clone().into_target(), &two);
        check((&two).into_target(), &two);
        check(two.as_slice().into_target(), &two);
        check([bob.clone(), ann.clone()].into_target(), &two);
        check(vec![text.as_str(), text2.as_str()].into_target(), &two);
        check(vec![text.clone(), text2.clone()].into_target(), &two);
        check(
            [text.as_str(), text2.as_str()].as_slice().into_target(),
            &two,
        );
        check([text.as_str(), text2.as_str()].into_target(), &two);
        let target = two.clone().into_target().unwrap();
        check((&target).into_target(), &two);
        check(target.clone().into_target(), &two);
        assert_eq!(target.into_uris(), two);
    }

    #[test]
    fn into_target_keeps_urns_verbatim() {
        // Typed URNs are Relay's to define; only emptiness is refused.
        let odd = u("urn:relay-resource:future:thing");
        assert_eq!(odd.clone().into_target().unwrap().uris(), &[odd]);
        assert_eq!(
            Urn::default().into_target(),
            Err(UrnError::Empty { what: "URN" })
        );
        // A string keeps its spelling even when not canonical.
        let raw = "urn:relay-resource:name:device:a:b";
        assert_eq!(raw.into_target().unwrap().uris()[0], raw);
    }

    #[test]
    fn into_target_rejects_bad_strings_and_empty_lists() {
        assert_eq!(
            "Bob".into_target(),
            Err(UrnError::NotRelayUrn {
                input: "Bob".into()
            })
        );
        assert_eq!(
            String::from("urn:relay-resource:name:device:").into_target(),
            Err(malformed(
                "urn:relay-resource:name:device:",
                "the id or name after the resource type is missing"
            ))
        );
        let err = vec!["urn:relay-resource:name:device:Bob", "nope"]
            .into_target()
            .unwrap_err();
        assert_eq!(
            err,
            UrnError::NotRelayUrn {
                input: "nope".into()
            }
        );
        assert!(err.to_string().contains("`nope`"));
        assert_eq!("".into_target(), Err(UrnError::Empty { what: "URN" }));

        assert_eq!(Vec::<Urn>::new().into_target(), Err(UrnError::EmptyTarget));
        assert_eq!((&[] as &[Urn]).into_target(), Err(UrnError::EmptyTarget));
        assert_eq!(([] as [Urn; 0]).into_target(), Err(UrnError::EmptyTarget));
        assert_eq!(Vec::<&str>::new().into_target(), Err(UrnError::EmptyTarget));
        assert_eq!(
            Vec::<String>::new().into_target(),
            Err(UrnError::EmptyTarget)
        );
        assert_eq!((&[] as &[&str]).into_target(), Err(UrnError::EmptyTarget));
        assert_eq!(([] as [&str; 0]).into_target(), Err(UrnError::EmptyTarget));
    }

    #[test]
    fn into_target_is_usable_generically() {
        fn say(target: impl IntoTarget) -> Result<String, UrnError> {
            Ok(serde_json::to_string(&target.into_target()?).unwrap_or_default())
        }
        let interaction = u(BOB_INTERACTION);
        assert!(say(&interaction).is_ok());
        assert!(say(interaction).is_ok());
        assert!(say(BOB_INTERACTION).is_ok());
        assert!(say("hello").is_err());
    }

    #[test]
    fn deserialize_still_lenient() {
        let urn: Urn = serde_json::from_str("[117,114,110]").unwrap();
        assert_eq!(urn, "urn");
        let urn: Urn = serde_json::from_str(&format!("\"{BOB_INTERACTION}\"")).unwrap();
        assert_eq!(urn.parse_device_name().unwrap(), "Bob");
    }
}
