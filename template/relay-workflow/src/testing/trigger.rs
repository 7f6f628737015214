//! The trigger carried by the start event.

use super::urn::device_urn;
use serde_json::{json, Map, Value};

/// The device the simulator pretends to be when a test names none.
pub const DEFAULT_DEVICE: &str = "Bob";

/// What started the workflow: the `trigger` of `wf_api_start_event` (spec §5.1).
///
/// Every constructor except [`Trigger::timer`] sets `source_uri` to the device URN of
/// [`DEFAULT_DEVICE`] (`urn:relay-resource:name:device:Bob`); change it with
/// [`device`](Trigger::device) or [`source_uri`](Trigger::source_uri).
///
/// ```
/// use relay_workflow::testing::Trigger;
/// let start = Trigger::phrase("hello").device("Ann").spillover("world").to_json();
/// assert_eq!(start["_type"], "wf_api_start_event");
/// assert_eq!(start["trigger"]["type"], "phrase");
/// assert_eq!(start["trigger"]["args"]["phrase"], "hello");
/// assert_eq!(start["trigger"]["args"]["spillover"], "world");
/// assert_eq!(start["trigger"]["args"]["source_uri"], "urn:relay-resource:name:device:Ann");
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Trigger {
    kind: String,
    args: Map<String, Value>,
}

impl Trigger {
    fn with_device(kind: &str, args: Value) -> Self {
        let mut args = match args {
            Value::Object(map) => map,
            _ => Map::new(),
        };
        args.insert("source_uri".into(), device_urn(DEFAULT_DEVICE).into());
        Trigger {
            kind: kind.to_owned(),
            args,
        }
    }

    /// A phrase trigger ("hey Relay, hello"): `args.phrase` and an empty `args.spillover`.
    pub fn phrase(phrase: &str) -> Self {
        Self::with_device("phrase", json!({ "phrase": phrase, "spillover": "" }))
    }

    /// A button trigger; `action` is `action_button_single_tap`, `…_double_tap` or
    /// `…_triple_tap`.
    pub fn button(action: &str) -> Self {
        Self::with_device("button", json!({ "action": action }))
    }

    /// An HTTP trigger; `args` become `trigger.args.args` (the posted `action_args`).
    ///
    /// ```
    /// use relay_workflow::testing::Trigger;
    /// let t = Trigger::http([("order", "42")]).to_json();
    /// assert_eq!(t["trigger"]["args"]["args"]["order"], "42");
    /// ```
    pub fn http<I, K, V>(args: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        let map: Map<String, Value> = args
            .into_iter()
            .map(|(k, v)| (k.into(), Value::String(v.into())))
            .collect();
        Self::with_device("http", json!({ "args": map }))
    }

    /// An NFC trigger for the tag `uid`, with an empty `nfc_payload`.
    pub fn nfc(uid: &str) -> Self {
        Self::with_device("nfc", json!({ "uid": uid, "nfc_payload": {} }))
    }

    /// A timer trigger. It has no device: `args` is empty unless you add to it.
    pub fn timer() -> Self {
        Trigger {
            kind: "timer".to_owned(),
            args: Map::new(),
        }
    }

    /// Any other trigger type (`emergency`, `geofence`, …), with the default device.
    pub fn other(kind: &str) -> Self {
        Self::with_device(kind, json!({}))
    }

    /// Set `source_uri` to the URN of the device named `name`.
    pub fn device(self, name: &str) -> Self {
        self.source_uri(&device_urn(name))
    }

    /// Set `source_uri` verbatim (for id-typed or deliberately odd URNs).
    pub fn source_uri(self, urn: &str) -> Self {
        self.arg("source_uri", urn)
    }

    /// Set any field of `trigger.args`.
    pub fn arg(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.args.insert(key.to_owned(), value.into());
        self
    }

    /// Set `args.spillover`, the words spoken after the phrase.
    pub fn spillover(self, text: &str) -> Self {
        self.arg("spillover", text)
    }

    /// The trigger type (`phrase`, `button`, …).
    pub fn kind(&self) -> &str {
        &self.kind
    }

    /// `args.source_uri`, if set to a string.
    pub fn source(&self) -> Option<&str> {
        self.args.get("source_uri").and_then(Value::as_str)
    }

    /// The whole start event: `{"_type":"wf_api_start_event","trigger":{"type":…,"args":{…}}}`.
    pub fn to_json(&self) -> Value {
        json!({
            "_type": "wf_api_start_event",
            "trigger": { "type": self.kind, "args": self.args },
        })
    }
}

impl Default for Trigger {
    /// `Trigger::phrase("hello")` from the default device.
    fn default() -> Self {
        Trigger::phrase("hello")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOB: &str = "urn:relay-resource:name:device:Bob";

    #[test]
    fn every_constructor_matches_the_spec_examples() {
        assert_eq!(
            Trigger::phrase("hello").to_json(),
            json!({"_type":"wf_api_start_event","trigger":{"type":"phrase","args":{"phrase":"hello","spillover":"","source_uri":BOB}}})
        );
        assert_eq!(
            Trigger::button("action_button_double_tap").to_json()["trigger"],
            json!({"type":"button","args":{"action":"action_button_double_tap","source_uri":BOB}})
        );
        assert_eq!(
            Trigger::http([("order", "42")]).to_json()["trigger"],
            json!({"type":"http","args":{"args":{"order":"42"},"source_uri":BOB}})
        );
        assert_eq!(
            Trigger::nfc("04A1B2").to_json()["trigger"],
            json!({"type":"nfc","args":{"uid":"04A1B2","nfc_payload":{},"source_uri":BOB}})
        );
        assert_eq!(
            Trigger::timer().to_json()["trigger"],
            json!({"type":"timer","args":{}})
        );
        assert_eq!(
            Trigger::other("emergency").to_json()["trigger"],
            json!({"type":"emergency","args":{"source_uri":BOB}})
        );
        assert_eq!(Trigger::default(), Trigger::phrase("hello"));
    }

    #[test]
    fn builders_set_args() {
        let t = Trigger::timer()
            .device("Front Desk")
            .arg("n", 3)
            .spillover("x");
        assert_eq!(t.kind(), "timer");
        assert_eq!(
            t.source(),
            Some("urn:relay-resource:name:device:Front%20Desk")
        );
        assert_eq!(t.to_json()["trigger"]["args"]["n"], 3);
        let t = t.source_uri("urn:relay-resource:id:device:99");
        assert_eq!(t.source(), Some("urn:relay-resource:id:device:99"));
    }
}
