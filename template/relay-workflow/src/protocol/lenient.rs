//! Tolerant decoding for string fields.
//!
//! Older Relay servers sometimes encode a string as a JSON array of character codes
//! (`[117, 114, 110]` for `"urn"`). Rather than rewriting every integer array in every
//! message (which corrupts legitimate arrays such as `latlong`), only fields that are
//! strings by definition accept that form.

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use std::fmt;

struct LenientString;

impl<'de> Visitor<'de> for LenientString {
    type Value = String;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string or an array of character codes")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
        Ok(v.to_owned())
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<String, E> {
        Ok(v)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<String, A::Error> {
        let mut bytes = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(code) = seq.next_element::<u32>()? {
            let byte = u8::try_from(code)
                .map_err(|_| de::Error::custom(format!("character code {code} out of range")))?;
            bytes.push(byte);
        }
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }
}

/// Deserialize a string that may arrive as an array of character codes.
pub(crate) fn string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    d.deserialize_any(LenientString)
}

/// Like [`string`], for optional fields; `null` becomes `None`.
pub(crate) fn opt_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    struct Opt;
    impl<'de> Visitor<'de> for Opt {
        type Value = Option<String>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("an optional string")
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D2: Deserializer<'de>>(self, d: D2) -> Result<Self::Value, D2::Error> {
            string(d).map(Some)
        }
    }
    d.deserialize_option(Opt)
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    #[derive(Deserialize)]
    struct S {
        #[serde(deserialize_with = "super::string")]
        a: String,
        #[serde(default, deserialize_with = "super::opt_string")]
        b: Option<String>,
    }

    #[test]
    fn accepts_strings_and_char_code_arrays() {
        let s: S = serde_json::from_str(r#"{"a":[117,114,110],"b":"x"}"#).unwrap();
        assert_eq!(s.a, "urn");
        assert_eq!(s.b.as_deref(), Some("x"));
        let s: S = serde_json::from_str(r#"{"a":"plain","b":null}"#).unwrap();
        assert_eq!(s.a, "plain");
        assert_eq!(s.b, None);
        let s: S = serde_json::from_str(r#"{"a":"plain"}"#).unwrap();
        assert_eq!(s.b, None);
    }

    #[test]
    fn rejects_other_types() {
        assert!(serde_json::from_str::<S>(r#"{"a":5}"#).is_err());
        assert!(serde_json::from_str::<S>(r#"{"a":[300]}"#).is_err());
    }
}
