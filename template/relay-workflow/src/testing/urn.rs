//! The few Relay resource names the simulator has to mint and read.
//!
//! Kept private to the testing module on purpose: the simulator must not depend on the
//! rest of the SDK, so that a bug there cannot hide behind the same bug here.

use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// The bytes JavaScript's `encodeURIComponent` leaves alone: `A-Z a-z 0-9 - _ . ! ~ * ' ( )`.
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

const DEVICE_NAME_PREFIX: &str = "urn:relay-resource:name:device:";
const DEVICE_ID_PREFIX: &str = "urn:relay-resource:id:device:";
const INTERACTION_PREFIX: &str = "urn:relay-resource:name:interaction:";

fn encode(s: &str) -> String {
    utf8_percent_encode(s, COMPONENT).to_string()
}

fn decode(s: &str) -> String {
    percent_decode_str(s).decode_utf8_lossy().into_owned()
}

/// The URN of a device addressed by its name: `urn:relay-resource:name:device:<name>`,
/// the name encoded like JavaScript's `encodeURIComponent` (so `"Front Desk"` becomes
/// `Front%20Desk`).
///
/// ```
/// use relay_workflow::testing::device_urn;
/// assert_eq!(device_urn("Front Desk"), "urn:relay-resource:name:device:Front%20Desk");
/// ```
pub fn device_urn(name: &str) -> String {
    format!("{DEVICE_NAME_PREFIX}{}", encode(name))
}

/// The URN Relay mints for the interaction `name` on the device `device_urn`:
/// `urn:relay-resource:name:interaction:<name>?device=<device URN>`, both parts encoded
/// like `encodeURIComponent`. This is the `source_uri` of lifecycle, prompt, button and
/// speech events, and the target the workflow must use for interaction actions.
///
/// ```
/// use relay_workflow::testing::{device_urn, interaction_urn};
/// assert_eq!(
///     interaction_urn("hello", &device_urn("Bob")),
///     "urn:relay-resource:name:interaction:hello?device=urn%3Arelay-resource%3Aname%3Adevice%3ABob"
/// );
/// ```
pub fn interaction_urn(name: &str, device_urn: &str) -> String {
    format!(
        "{INTERACTION_PREFIX}{}?device={}",
        encode(name),
        encode(device_urn)
    )
}

/// The URN of a group addressed by its name.
pub(crate) fn group_urn(name: &str) -> String {
    format!("urn:relay-resource:name:group:{}", encode(name))
}

/// True for `urn:relay-resource:{name,id}:device:…`.
pub(crate) fn is_device(urn: &str) -> bool {
    urn.starts_with(DEVICE_NAME_PREFIX) || urn.starts_with(DEVICE_ID_PREFIX)
}

/// The device URN inside an interaction URN's `device` query parameter.
pub(crate) fn device_of_interaction(urn: &str) -> Option<String> {
    let (head, query) = urn.split_once('?')?;
    if !head.starts_with(INTERACTION_PREFIX) {
        return None;
    }
    query
        .split('&')
        .find_map(|pair| pair.strip_prefix("device="))
        .map(|v| decode(&v.replace('+', " ")))
}

/// The device name behind a name-typed device URN, or behind the device of an interaction URN.
pub(crate) fn device_name(urn: &str) -> Option<String> {
    if let Some(rest) = urn.strip_prefix(DEVICE_NAME_PREFIX) {
        let name = rest.split('?').next().unwrap_or(rest);
        return Some(decode(name));
    }
    device_of_interaction(urn).and_then(|d| device_name(&d))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_like_encode_uri_component() {
        assert_eq!(
            device_urn("a b/c:d?e&f=g+h!~*'()_-.é"),
            "urn:relay-resource:name:device:a%20b%2Fc%3Ad%3Fe%26f%3Dg%2Bh!~*'()_-.%C3%A9"
        );
    }

    #[test]
    fn interaction_round_trip() {
        let dev = device_urn("Front Desk");
        let urn = interaction_urn("hello world", &dev);
        assert_eq!(
            urn,
            "urn:relay-resource:name:interaction:hello%20world?device=urn%3Arelay-resource%3Aname%3Adevice%3AFront%2520Desk"
        );
        assert_eq!(device_of_interaction(&urn).as_deref(), Some(dev.as_str()));
        assert_eq!(device_name(&urn).as_deref(), Some("Front Desk"));
        assert_eq!(device_name(&dev).as_deref(), Some("Front Desk"));
        assert!(is_device(&dev));
        assert!(is_device("urn:relay-resource:id:device:990007560023456"));
        assert!(!is_device(&urn));
        assert_eq!(device_name("urn:relay-resource:id:device:99"), None);
    }
}
