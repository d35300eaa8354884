//! Lenient reading of foreign JSON: the parts every Kubernetes object shares.
//!
//! Every field the mapper reads is optional and type-tolerant: a field of the wrong JSON type
//! reads as absent and a malformed list item is skipped, so only the identity fields can make
//! an object unreadable.

use serde::de::{DeserializeOwned, Deserializer};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::MapError;

/// Deserialises `T` if the value fits, else `None`; never fails on well-formed JSON.
pub(crate) fn lenient<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: DeserializeOwned,
{
    let value = Value::deserialize(deserializer)?;
    Ok(serde_json::from_value(value).ok())
}

/// Deserialises a list keeping only the items that fit `T`; anything but a list is empty.
pub(crate) fn lenient_vec<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: DeserializeOwned,
{
    let value = Value::deserialize(deserializer)?;
    Ok(match value {
        Value::Array(items) => items
            .into_iter()
            .filter_map(|item| serde_json::from_value(item).ok())
            .collect(),
        _ => Vec::new(),
    })
}

/// The `metadata` fields the mapper reads.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectMeta {
    /// `metadata.name` (always present and non-empty on a mapped object).
    #[serde(default, deserialize_with = "lenient")]
    pub name: Option<String>,
    /// `metadata.namespace`; absent on hand-written objects.
    #[serde(default, deserialize_with = "lenient")]
    pub namespace: Option<String>,
    /// `metadata.generation`.
    #[serde(default, deserialize_with = "lenient")]
    pub generation: Option<i64>,
    /// `metadata.deletionTimestamp` (RFC 3339).
    #[serde(default, deserialize_with = "lenient")]
    pub deletion_timestamp: Option<String>,
    /// `metadata.labels`.
    #[serde(default, deserialize_with = "lenient")]
    pub labels: Option<std::collections::BTreeMap<String, String>>,
}

/// Namespace and name of an object: its key within one cluster and kind.
///
/// An object without `metadata.namespace` is keyed under the configured default namespace by
/// the reconciler, so this holds the namespace as read.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ObjectKey {
    /// The namespace (empty when the object carried none).
    pub namespace: String,
    /// The name.
    pub name: String,
}

impl std::fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// The identity fields every object must carry.
pub(crate) struct Identity<'a> {
    pub(crate) kind: &'a str,
    pub(crate) api_version: &'a str,
    pub(crate) name: &'a str,
    pub(crate) namespace: Option<&'a str>,
}

impl<'a> Identity<'a> {
    /// Reads `kind`, `apiVersion` and `metadata.name` (all required, non-empty strings) and
    /// `metadata.namespace` (optional); names and namespaces must not contain `/`.
    pub(crate) fn read(value: &'a Value) -> Result<Self, MapError> {
        let Value::Object(object) = value else {
            return Err(MapError::NotAnObject {
                found: json_type(value),
            });
        };
        let text = |v: Option<&'a Value>, field| match v.and_then(Value::as_str) {
            Some(s) if !s.is_empty() => Ok(s),
            _ => Err(MapError::MissingIdentity { field }),
        };
        let kind = text(object.get("kind"), "kind")?;
        let api_version = text(object.get("apiVersion"), "apiVersion")?;
        let metadata = object.get("metadata");
        let name = text(metadata.and_then(|m| m.get("name")), "metadata.name")?;
        let namespace = metadata
            .and_then(|m| m.get("namespace"))
            .and_then(Value::as_str)
            .filter(|ns| !ns.is_empty());
        for (field, value) in [
            ("metadata.name", Some(name)),
            ("metadata.namespace", namespace),
        ] {
            if let Some(value) = value.filter(|v| v.contains('/')) {
                return Err(MapError::InvalidName {
                    field,
                    value: value.to_owned(),
                });
            }
        }
        Ok(Self {
            kind,
            api_version,
            name,
            namespace,
        })
    }

    /// The API group of `apiVersion` (`helm.toolkit.fluxcd.io` of `helm.toolkit.fluxcd.io/v2`).
    pub(crate) fn group(&self) -> &'a str {
        self.api_version
            .split_once('/')
            .map_or("", |(group, _version)| group)
    }

    pub(crate) fn unsupported(&self) -> MapError {
        MapError::UnsupportedKind {
            kind: self.kind.to_owned(),
            api_version: self.api_version.to_owned(),
        }
    }

    pub(crate) fn key(&self) -> ObjectKey {
        ObjectKey {
            namespace: self.namespace.unwrap_or_default().to_owned(),
            name: self.name.to_owned(),
        }
    }
}

pub(crate) const fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
