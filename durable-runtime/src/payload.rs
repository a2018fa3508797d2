//! [`Payload`]: serialized inputs, outputs and event data, carried without re-encoding.

use std::fmt;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// A JSON-encoded value the runtime carries between user code and the store.
///
/// The runtime never looks inside a payload: it is encoded once where user code hands a
/// value over ([`Payload::encode`]) and decoded once where user code receives it
/// ([`Payload::decode`]); stores keep its text as is. Cloning is cheap (shared).
#[derive(Clone)]
pub struct Payload(Arc<RawValue>);

impl Payload {
    /// Encodes `value` as JSON.
    ///
    /// # Errors
    /// A [`serde_json::Error`] when `value`'s `Serialize` impl fails (for example a map
    /// with non-string keys).
    pub fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Self, serde_json::Error> {
        let raw = serde_json::value::to_raw_value(value)?;
        Ok(Self(Arc::from(raw)))
    }

    /// Decodes the payload as a `T`.
    ///
    /// A payload that is a JSON *string holding JSON* (`"[\"Tokyo\"]"`, what Durable
    /// Functions' Python client sends for every input, event and operation) decodes as the
    /// JSON inside when it does not decode as `T` itself, as Durable Functions' workers decode
    /// twice. A `T` that a string decodes into (`String`, `serde_json::Value`) keeps the
    /// string.
    ///
    /// # Errors
    /// A [`serde_json::Error`] when the JSON does not have `T`'s shape (the error of the first
    /// decode, when the second does not help either).
    pub fn decode<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        let text = self.0.get();
        let error = match serde_json::from_str(text) {
            Ok(value) => return Ok(value),
            Err(error) => error,
        };
        if text.trim_start().starts_with('"')
            && let Ok(inner) = serde_json::from_str::<String>(text)
            && let Ok(value) = serde_json::from_str(&inner)
        {
            return Ok(value);
        }
        Err(error)
    }

    /// Wraps JSON text, checking that it is well-formed JSON.
    ///
    /// # Errors
    /// A [`serde_json::Error`] when `json` is not one JSON value.
    pub fn from_json(json: impl Into<String>) -> Result<Self, serde_json::Error> {
        let raw = RawValue::from_string(json.into())?;
        Ok(Self(Arc::from(raw)))
    }

    /// The JSON `null` payload, the encoding of `()`.
    pub fn null() -> Self {
        Self::from_json("null").unwrap_or_else(|_| unreachable!("`null` is valid JSON"))
    }

    /// The JSON text.
    pub fn as_json(&self) -> &str {
        self.0.get()
    }

    /// The length of the JSON text in bytes.
    pub fn len(&self) -> usize {
        self.0.get().len()
    }

    /// Always false: a payload holds at least one JSON token.
    pub fn is_empty(&self) -> bool {
        self.0.get().is_empty()
    }
}

impl Serialize for Payload {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Payload {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = Box::<RawValue>::deserialize(deserializer)?;
        Ok(Self(Arc::from(raw)))
    }
}

impl PartialEq for Payload {
    fn eq(&self, other: &Self) -> bool {
        self.0.get() == other.0.get()
    }
}

impl Eq for Payload {}

impl fmt::Debug for Payload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.get())
    }
}

impl fmt::Display for Payload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.get())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_keeps_text() {
        let payload = Payload::encode(&vec!["Tokyo", "Seattle"]).unwrap();
        assert_eq!(payload.as_json(), r#"["Tokyo","Seattle"]"#);
        let wrapped = serde_json::to_string(&serde_json::json!({"a": 1})).unwrap();
        let event: Payload = serde_json::from_str(&wrapped).unwrap();
        assert_eq!(event.as_json(), r#"{"a":1}"#);
        assert_eq!(
            payload.decode::<Vec<String>>().unwrap(),
            ["Tokyo", "Seattle"]
        );
        assert!(Payload::from_json("{").is_err());
        assert_eq!(Payload::null().decode::<()>().unwrap(), ());
    }

    #[test]
    fn a_string_holding_json_decodes_twice_only_when_needed() {
        // What Durable Functions' Python client sends: the JSON as a JSON string.
        let doubled = Payload::encode(r#"["Tokyo"]"#).unwrap();
        assert_eq!(doubled.decode::<Vec<String>>().unwrap(), ["Tokyo"]);
        // A type a string decodes into keeps the string.
        assert_eq!(doubled.decode::<String>().unwrap(), r#"["Tokyo"]"#);
        // A string that holds no JSON, or JSON of the wrong shape, fails as before.
        assert!(
            Payload::encode("plain")
                .unwrap()
                .decode::<Vec<String>>()
                .is_err()
        );
        assert!(
            Payload::encode("[1]")
                .unwrap()
                .decode::<Vec<String>>()
                .is_err()
        );
    }
}
