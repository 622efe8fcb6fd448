//! Kubernetes objects, their group/version/kind, and references to them.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Why a JSON value is not a Kubernetes object.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ObjectError {
    /// The value is not a JSON object.
    #[error("expected an object (a mapping), found {found}")]
    NotAnObject {
        /// The JSON type that was found instead.
        found: &'static str,
    },
    /// A required string field is missing, empty or not a string.
    #[error("`{field}` is missing or not a non-empty string")]
    MissingField {
        /// The field, as a dotted path.
        field: &'static str,
    },
    /// A field has the wrong type.
    #[error("`{field}` must be {expected}")]
    WrongType {
        /// The field, as a dotted path.
        field: &'static str,
        /// What the field must be.
        expected: &'static str,
    },
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// A Kubernetes object: a JSON object with a non-empty string `apiVersion` and `kind`, and,
/// when present, a `metadata` object whose `name`, `namespace`, `labels` and `annotations`
/// have the types Kubernetes requires. Everything else is kept as it is, in order.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(transparent)]
pub struct Object(Value);

impl Object {
    /// Check `value` and wrap it.
    ///
    /// # Errors
    /// [`ObjectError`] when `value` is not an object, lacks `apiVersion` or `kind`, or has
    /// metadata of the wrong shape.
    pub fn from_value(value: Value) -> Result<Self, ObjectError> {
        let Value::Object(map) = value else {
            return Err(ObjectError::NotAnObject { found: json_type(&value) });
        };
        for field in ["apiVersion", "kind"] {
            match map.get(field) {
                Some(Value::String(s)) if !s.is_empty() => {}
                _ => {
                    return Err(ObjectError::MissingField {
                        field: if field == "kind" { "kind" } else { "apiVersion" },
                    });
                }
            }
        }
        if let Some(meta) = map.get("metadata") {
            let Value::Object(meta) = meta else {
                return Err(ObjectError::WrongType { field: "metadata", expected: "an object" });
            };
            for (field, path) in [("name", "metadata.name"), ("namespace", "metadata.namespace")] {
                if !matches!(meta.get(field), None | Some(Value::String(_))) {
                    return Err(ObjectError::WrongType { field: path, expected: "a string" });
                }
            }
            for (field, path) in [("labels", "metadata.labels"), ("annotations", "metadata.annotations")] {
                match meta.get(field) {
                    None | Some(Value::Null) => {}
                    Some(Value::Object(m)) if m.values().all(Value::is_string) => {}
                    Some(_) => {
                        return Err(ObjectError::WrongType {
                            field: path,
                            expected: "a map of strings to strings",
                        });
                    }
                }
            }
        }
        Ok(Self(Value::Object(map)))
    }

    /// The object as a JSON value (always a JSON object).
    #[must_use]
    pub fn as_value(&self) -> &Value {
        &self.0
    }

    /// The object's fields.
    #[must_use]
    pub fn as_map(&self) -> &Map<String, Value> {
        match &self.0 {
            Value::Object(map) => map,
            _ => unreachable!("an Object always holds a JSON object"),
        }
    }

    fn map_mut(&mut self) -> &mut Map<String, Value> {
        match &mut self.0 {
            Value::Object(map) => map,
            _ => unreachable!("an Object always holds a JSON object"),
        }
    }

    /// The object as JSON, consumed.
    #[must_use]
    pub fn into_value(self) -> Value {
        self.0
    }

    fn str_field(&self, field: &str) -> &str {
        self.as_map().get(field).and_then(Value::as_str).unwrap_or_default()
    }

    fn metadata(&self) -> Option<&Map<String, Value>> {
        self.as_map().get("metadata").and_then(Value::as_object)
    }

    fn metadata_mut(&mut self) -> &mut Map<String, Value> {
        let meta = self.map_mut().entry("metadata").or_insert_with(|| Value::Object(Map::new()));
        if !meta.is_object() {
            *meta = Value::Object(Map::new());
        }
        match meta {
            Value::Object(m) => m,
            _ => unreachable!("metadata was just made an object"),
        }
    }

    /// `apiVersion`, e.g. `apps/v1`.
    #[must_use]
    pub fn api_version(&self) -> &str {
        self.str_field("apiVersion")
    }

    /// `kind`, e.g. `Deployment`.
    #[must_use]
    pub fn kind(&self) -> &str {
        self.str_field("kind")
    }

    /// The group, version and kind.
    #[must_use]
    pub fn gvk(&self) -> GroupVersionKind {
        GroupVersionKind::from_api_version(self.api_version(), self.kind())
    }

    /// `metadata.name`, if set.
    #[must_use]
    pub fn name(&self) -> Option<&str> {
        self.metadata()?.get("name")?.as_str()
    }

    /// `metadata.namespace`, if set.
    #[must_use]
    pub fn namespace(&self) -> Option<&str> {
        self.metadata()?.get("namespace")?.as_str()
    }

    /// Set `metadata.namespace`.
    pub fn set_namespace(&mut self, namespace: &str) {
        self.metadata_mut().insert("namespace".into(), Value::String(namespace.into()));
    }

    fn string_map(&self, field: &str) -> impl Iterator<Item = (&str, &str)> {
        self.metadata()
            .and_then(|m| m.get(field))
            .and_then(Value::as_object)
            .into_iter()
            .flat_map(|m| m.iter().filter_map(|(k, v)| Some((k.as_str(), v.as_str()?))))
    }

    fn set_in_string_map(&mut self, field: &str, key: &str, value: &str) {
        let meta = self.metadata_mut();
        let map = meta.entry(field).or_insert_with(|| Value::Object(Map::new()));
        if !map.is_object() {
            *map = Value::Object(Map::new());
        }
        if let Value::Object(m) = map {
            m.insert(key.into(), Value::String(value.into()));
        }
    }

    /// `metadata.labels`, in order.
    pub fn labels(&self) -> impl Iterator<Item = (&str, &str)> {
        self.string_map("labels")
    }

    /// One label.
    #[must_use]
    pub fn label(&self, key: &str) -> Option<&str> {
        self.labels().find(|(k, _)| *k == key).map(|(_, v)| v)
    }

    /// Set one label.
    pub fn set_label(&mut self, key: &str, value: &str) {
        self.set_in_string_map("labels", key, value);
    }

    /// `metadata.annotations`, in order.
    pub fn annotations(&self) -> impl Iterator<Item = (&str, &str)> {
        self.string_map("annotations")
    }

    /// One annotation.
    #[must_use]
    pub fn annotation(&self, key: &str) -> Option<&str> {
        self.annotations().find(|(k, _)| *k == key).map(|(_, v)| v)
    }

    /// Set one annotation.
    pub fn set_annotation(&mut self, key: &str, value: &str) {
        self.set_in_string_map("annotations", key, value);
    }

    /// A reference to this object.
    #[must_use]
    pub fn object_ref(&self) -> ObjectRef {
        ObjectRef {
            api_version: self.api_version().to_owned(),
            kind: self.kind().to_owned(),
            namespace: self.namespace().map(str::to_owned),
            name: self.name().unwrap_or_default().to_owned(),
        }
    }
}

impl<'de> Deserialize<'de> for Object {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        Object::from_value(value).map_err(serde::de::Error::custom)
    }
}

impl TryFrom<Value> for Object {
    type Error = ObjectError;
    fn try_from(value: Value) -> Result<Self, Self::Error> {
        Object::from_value(value)
    }
}

impl From<Object> for Value {
    fn from(object: Object) -> Self {
        object.into_value()
    }
}

/// A Kubernetes group, version and kind. The core group is the empty string.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct GroupVersionKind {
    /// API group, `""` for the core group.
    pub group: String,
    /// API version within the group, e.g. `v1`.
    pub version: String,
    /// Kind, e.g. `Deployment`.
    pub kind: String,
}

impl GroupVersionKind {
    /// Split an `apiVersion` (`apps/v1`, or `v1` for the core group) and pair it with `kind`.
    #[must_use]
    pub fn from_api_version(api_version: &str, kind: &str) -> Self {
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        Self { group: group.to_owned(), version: version.to_owned(), kind: kind.to_owned() }
    }

    /// The `apiVersion` form: `group/version`, or `version` for the core group.
    #[must_use]
    pub fn api_version(&self) -> String {
        if self.group.is_empty() { self.version.clone() } else { format!("{}/{}", self.group, self.version) }
    }
}

impl fmt::Display for GroupVersionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.api_version(), self.kind)
    }
}

/// A reference to one object. In JSON: `{"apiVersion", "kind", "namespace", "name"}`, with
/// `namespace` null for cluster-scoped objects.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectRef {
    /// `apiVersion` of the object.
    pub api_version: String,
    /// `kind` of the object.
    pub kind: String,
    /// Namespace, `None` for cluster-scoped objects (or namespaced ones not yet defaulted).
    pub namespace: Option<String>,
    /// Name.
    pub name: String,
}

impl fmt::Display for ObjectRef {
    /// `apps/v1 Deployment web/frontend`, or `v1 Namespace web` when cluster-scoped.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{} {} {}/{}", self.api_version, self.kind, ns, self.name),
            None => write!(f, "{} {} {}", self.api_version, self.kind, self.name),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    fn deployment() -> Object {
        Object::from_value(json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "shop", "labels": {"app": "web", "tier": "fe"}},
            "spec": {"replicas": 2}
        }))
        .unwrap()
    }

    #[test]
    fn accessors_read_the_object() {
        let d = deployment();
        assert_eq!(d.api_version(), "apps/v1");
        assert_eq!(d.kind(), "Deployment");
        assert_eq!(d.name(), Some("web"));
        assert_eq!(d.namespace(), Some("shop"));
        assert_eq!(d.labels().collect::<Vec<_>>(), [("app", "web"), ("tier", "fe")]);
        assert_eq!(d.label("tier"), Some("fe"));
        assert_eq!(d.annotations().count(), 0);
        assert_eq!(
            d.gvk(),
            GroupVersionKind { group: "apps".into(), version: "v1".into(), kind: "Deployment".into() }
        );
    }

    #[test]
    fn setters_create_metadata_maps() {
        let mut o = Object::from_value(json!({"apiVersion": "v1", "kind": "ConfigMap"})).unwrap();
        o.set_namespace("ns");
        o.set_label("a", "1");
        o.set_annotation("b", "2");
        assert_eq!(
            o.into_value(),
            json!({"apiVersion": "v1", "kind": "ConfigMap",
                   "metadata": {"namespace": "ns", "labels": {"a": "1"}, "annotations": {"b": "2"}}})
        );
    }

    #[test]
    fn invalid_objects_are_refused_with_the_field() {
        let cases = [
            (json!([1]), "expected an object (a mapping), found a list"),
            (json!({"kind": "X"}), "`apiVersion` is missing or not a non-empty string"),
            (json!({"apiVersion": "v1", "kind": ""}), "`kind` is missing or not a non-empty string"),
            (json!({"apiVersion": "v1", "kind": "X", "metadata": []}), "`metadata` must be an object"),
            (
                json!({"apiVersion": "v1", "kind": "X", "metadata": {"name": 3}}),
                "`metadata.name` must be a string",
            ),
            (
                json!({"apiVersion": "v1", "kind": "X", "metadata": {"labels": {"a": 1}}}),
                "`metadata.labels` must be a map of strings to strings",
            ),
        ];
        for (value, message) in cases {
            assert_eq!(Object::from_value(value).unwrap_err().to_string(), message);
        }
    }

    #[test]
    fn gvk_of_the_core_group_and_refs() {
        let gvk = GroupVersionKind::from_api_version("v1", "Namespace");
        assert_eq!(gvk.group, "");
        assert_eq!(gvk.api_version(), "v1");
        assert_eq!(gvk.to_string(), "v1 Namespace");
        let gvk = GroupVersionKind::from_api_version("rbac.authorization.k8s.io/v1", "Role");
        assert_eq!((gvk.group.as_str(), gvk.version.as_str()), ("rbac.authorization.k8s.io", "v1"));

        let r = deployment().object_ref();
        assert_eq!(r.to_string(), "apps/v1 Deployment shop/web");
        assert_eq!(
            serde_json::to_value(&r).unwrap(),
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "namespace": "shop", "name": "web"})
        );
        let ns =
            Object::from_value(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "a"}}))
                .unwrap()
                .object_ref();
        assert_eq!(serde_json::to_value(&ns).unwrap()["namespace"], Value::Null);
        assert_eq!(ns.to_string(), "v1 Namespace a");
    }

    #[test]
    fn deserialize_checks_too() {
        let err = serde_json::from_str::<Object>(r#"{"kind": "X"}"#).unwrap_err();
        assert!(err.to_string().contains("apiVersion"), "{err}");
    }
}
