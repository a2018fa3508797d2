//! Identifier newtypes: [`InstanceId`] and [`ExecutionId`].
//!
//! Error policy: parsing an id never panics; a bad id is an [`InvalidInstanceId`] that says
//! which rule it broke.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The longest instance id accepted, in characters (Durable Functions' limit).
pub const MAX_INSTANCE_ID_LEN: usize = 256;

/// The id of a durable entity: the entity's registered name plus a key.
///
/// Follows Durable Functions' `EntityId`: the name is case-insensitive (kept lower-case) and
/// the key is any case-sensitive string. An entity is stored as the instance
/// `@{name}@{key}` ([`EntityId::instance_id`], DF's scheduler id). Critical sections lock
/// entities in the order of this type's `Ord` (name, then key), the global order that
/// keeps them free of deadlocks.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct EntityId {
    name: String,
    key: String,
}

impl EntityId {
    /// Makes an entity id; `name` is lower-cased. Prefer the generated
    /// `Counter::entity_id(key)`, which cannot get the name wrong.
    ///
    /// # Errors
    /// [`InvalidEntityId`] when `name` is empty or contains `@`, or the instance id would be
    /// longer than 256 characters.
    pub fn new(name: &str, key: impl Into<String>) -> Result<Self, InvalidEntityId> {
        let name = name.to_lowercase();
        let key = key.into();
        let reason = if name.is_empty() {
            "the name is empty"
        } else if name.contains('@') {
            "the name contains `@`"
        } else if name.chars().count() + key.chars().count() + 2 > MAX_INSTANCE_ID_LEN {
            "`@name@key` is longer than 256 characters"
        } else {
            return Ok(Self { name, key });
        };
        Err(InvalidEntityId { name, key, reason })
    }

    /// The id of an entity of type `E` with `key` (`E::NAME` was checked by `#[entity]`).
    pub fn of<E: crate::Entity>(key: impl Into<String>) -> Self {
        Self {
            name: E::NAME.to_owned(),
            key: key.into(),
        }
    }

    /// The entity's registered name, lower-case.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The instance id the entity is stored under: `@{name}@{key}`.
    pub fn instance_id(&self) -> InstanceId {
        InstanceId(format!("@{}@{}", self.name, self.key))
    }

    /// Parses an entity instance id (`@name@key`); `None` for an orchestration's id.
    pub fn from_instance_id(id: &str) -> Option<Self> {
        let rest = id.strip_prefix('@')?;
        let (name, key) = rest.split_once('@')?;
        (!name.is_empty()).then(|| Self {
            name: name.to_owned(),
            key: key.to_owned(),
        })
    }
}

impl fmt::Debug for EntityId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EntityId(@{}@{})", self.name, self.key)
    }
}

impl fmt::Display for EntityId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "@{}@{}", self.name, self.key)
    }
}

/// An entity id that breaks the rules; see [`EntityId::new`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid entity id (name {name:?}, key {key:?}): {reason}; use a non-empty name without `@`"
)]
pub struct InvalidEntityId {
    /// The name given (lower-cased).
    pub name: String,
    /// The key given.
    pub key: String,
    /// The rule it broke.
    pub reason: &'static str,
}

/// The id of an orchestration instance, stable across replays and continue-as-new.
///
/// Rules follow Durable Functions' `StartNewAsync`: 1 to 256 characters, no leading `@`
/// (reserved for entities), and none of `/`, `\`, `#`, `?` or control characters.
/// [`InstanceId::new`] and [`FromStr`] check them; [`InstanceId::generate`] makes a fresh
/// 32-hex-digit id (a UUID v4 in `Guid.ToString("N")` form, as Durable Functions does).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct InstanceId(String);

impl InstanceId {
    /// Checks `id` against the instance id rules and wraps it.
    ///
    /// # Errors
    /// [`InvalidInstanceId`] naming the broken rule.
    pub fn new(id: impl Into<String>) -> Result<Self, InvalidInstanceId> {
        let id = id.into();
        validate_instance_id(&id)?;
        Ok(Self(id))
    }

    /// Makes a new unique instance id: 32 lowercase hex digits, as Durable Functions' `Guid`
    /// ids ("N" format).
    ///
    /// The digits are a UUID version 7: the first 12 are the creation time in milliseconds,
    /// the rest random. Ids made close in time sort close together, so the store's B-trees
    /// keyed by instance id (instances, history, messages) take new rows near each other
    /// instead of on a random page each, and the pages a busy store touches stay few
    /// whatever the backlog.
    pub fn generate() -> Self {
        Self(time_ordered_uuid())
    }

    /// The id as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Wraps an id read back from a store, where it was validated when written.
    pub(crate) fn from_trusted(id: String) -> Self {
        Self(id)
    }

    /// Whether this is an entity's row (`@name@key`): orchestration ids never start with `@`.
    pub(crate) fn is_entity(&self) -> bool {
        self.0.starts_with('@')
    }
}

impl<'de> Deserialize<'de> for InstanceId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let id = String::deserialize(deserializer)?;
        // Entity instance ids (`@name@key`) appear in stored messages and history.
        if EntityId::from_instance_id(&id).is_some() {
            return Ok(Self(id));
        }
        Self::new(id).map_err(serde::de::Error::custom)
    }
}

fn validate_instance_id(id: &str) -> Result<(), InvalidInstanceId> {
    let reason = if id.is_empty() {
        "it is empty"
    } else if id.chars().count() > MAX_INSTANCE_ID_LEN {
        "it is longer than 256 characters"
    } else if id.starts_with('@') {
        "it starts with `@`, which is reserved for entity ids"
    } else if id.contains(['/', '\\', '#', '?']) {
        "it contains one of `/`, `\\`, `#`, `?`"
    } else if id.chars().any(char::is_control) {
        "it contains a control character"
    } else {
        return Ok(());
    };
    Err(InvalidInstanceId {
        id: id.to_owned(),
        reason,
    })
}

impl fmt::Display for InstanceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for InstanceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl FromStr for InstanceId {
    type Err = InvalidInstanceId;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

impl TryFrom<&str> for InstanceId {
    type Error = InvalidInstanceId;
    fn try_from(value: &str) -> Result<Self, Self::Error> {
        Self::new(value)
    }
}

impl TryFrom<String> for InstanceId {
    type Error = InvalidInstanceId;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::new(value)
    }
}

impl AsRef<str> for InstanceId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// An instance id that breaks the id rules (see [`InstanceId`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid instance id {id:?}: {reason}; use 1 to 256 characters without a leading `@` and without `/ \\ # ?` or control characters"
)]
pub struct InvalidInstanceId {
    /// The rejected id.
    pub id: String,
    /// Which rule it broke.
    pub reason: &'static str,
}

/// A UUID version 7 from the clock's current time, as 32 lowercase hex digits.
fn time_ordered_uuid() -> String {
    let now = crate::clock::now();
    let seconds = u64::try_from(now.timestamp()).unwrap_or(0);
    let timestamp =
        uuid::Timestamp::from_unix(uuid::NoContext, seconds, now.timestamp_subsec_nanos());
    uuid::Uuid::new_v7(timestamp).simple().to_string()
}

/// The id of one execution (generation) of an instance; continue-as-new starts a new one.
///
/// A UUID (version 7, time-ordered) in 32-hex-digit form, as Durable Functions'
/// `ExecutionId`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ExecutionId(String);

impl ExecutionId {
    /// Makes a new unique execution id (32 hex digits, time-ordered as
    /// [`InstanceId::generate`]).
    pub fn generate() -> Self {
        Self(time_ordered_uuid())
    }

    /// The id as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub(crate) fn from_trusted(id: String) -> Self {
        Self(id)
    }
}

impl fmt::Display for ExecutionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for ExecutionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_id_rules() {
        assert!(InstanceId::new("order-42").is_ok());
        assert!(InstanceId::new("a".repeat(256)).is_ok());
        for (bad, why) in [
            ("", "empty"),
            ("@counter@a", "reserved"),
            ("a/b", "contains"),
            ("a\\b", "contains"),
            ("a#b", "contains"),
            ("a?b", "contains"),
            ("a\nb", "control"),
        ] {
            let err = InstanceId::new(bad).unwrap_err();
            assert!(err.reason.contains(why), "{bad:?}: {err}");
        }
        let err = InstanceId::new("a".repeat(257)).unwrap_err();
        assert!(err.to_string().contains("longer than 256"), "{err}");
    }

    #[test]
    fn generated_ids_are_valid_and_distinct() {
        let a = InstanceId::generate();
        let b = InstanceId::generate();
        assert_ne!(a, b);
        assert_eq!(a.as_str().len(), 32);
        assert!(InstanceId::new(a.as_str()).is_ok());
    }

    #[test]
    fn generated_ids_sort_by_creation_time() {
        let first = InstanceId::generate();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let second = InstanceId::generate();
        assert!(first < second, "{first} then {second}");
        // Version 7 in the 13th digit.
        assert_eq!(&second.as_str()[12..13], "7");
    }
}
