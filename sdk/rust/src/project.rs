//! Parse only the fields a plugin reads.
//!
//! A health check looks at a handful of fields (`apiVersion`, `kind`, a few of `metadata`,
//! `spec` and `status`), yet a live object carries far more: pod templates, managed fields,
//! `last-applied-configuration` annotations. Building JSON values for all of it, and freeing
//! them, is most of the cost of a call. [`parse`] walks the JSON text once and builds values
//! only for the selected fields; everything else is read (so that it fails where a full parse
//! fails, numbers out of range included) and dropped on the spot, without building a value or
//! copying a string that has no escapes.
//!
//! The result is still a valid [`Object`] in the same cases as a full parse: the fields that
//! [`Object::from_value`] checks (`metadata.name`, `metadata.namespace`, `metadata.labels`,
//! `metadata.annotations`) are type-checked while they are skipped, and the same error is
//! reported as if they had been parsed.

use std::cell::Cell;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

use crate::{Object, ObjectError};

/// Which fields of an object a plugin reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reads {
    /// The whole object.
    All,
    /// Only these fields, as JSON pointers (RFC 6901: `/status`, `/metadata/generation`,
    /// `/metadata/annotations/example.com~1key` for the key `example.com/key`). A pointer
    /// selects the whole value at its end. `apiVersion` and `kind` are always read. Arrays are
    /// read whole: a pointer stops at the first array on its way, and so does a pointer
    /// through a value that turns out not to be an object.
    Only(&'static [&'static str]),
}

/// Why an object's JSON text could not be read.
#[derive(Debug)]
pub enum ReadError {
    /// The text is not JSON.
    Json(serde_json::Error),
    /// The JSON is not a Kubernetes object.
    Object(ObjectError),
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadError::Json(e) => e.fmt(f),
            ReadError::Object(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for ReadError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ReadError::Json(e) => Some(e),
            ReadError::Object(e) => Some(e),
        }
    }
}

/// Parse an object from JSON text, building values only for the fields in `reads`.
///
/// # Errors
/// [`ReadError::Json`] when the text is not JSON, [`ReadError::Object`] when it is not a
/// Kubernetes object: the same errors, in the same order, as a full parse followed by
/// [`Object::from_value`].
pub fn parse(text: &str, reads: Reads) -> Result<Object, ReadError> {
    Projection::new(reads).parse(text)
}

/// The selection of [`Reads`], prepared once for many objects.
#[derive(Debug)]
pub struct Projection {
    /// `None`: everything.
    root: Option<Node>,
}

impl Projection {
    /// Prepare `reads`.
    #[must_use]
    pub fn new(reads: Reads) -> Self {
        match reads {
            Reads::All => Self { root: None },
            Reads::Only(fields) => Self { root: Some(Node::select(fields)) },
        }
    }

    /// Parse one object, as [`parse`] does.
    ///
    /// # Errors
    /// As for [`parse`].
    pub fn parse(&self, text: &str) -> Result<Object, ReadError> {
        match &self.root {
            None => {
                let value: Value = serde_json::from_str(text).map_err(ReadError::Json)?;
                Object::from_value(value).map_err(ReadError::Object)
            }
            Some(root) => parse_selected(text, root),
        }
    }
}

fn parse_selected(text: &str, selection: &Node) -> Result<Object, ReadError> {
    let failed = Cell::new(0u8);
    let mut de = serde_json::Deserializer::from_str(text);
    let value = Project { node: selection, failed: &failed }.deserialize(&mut de).map_err(ReadError::Json)?;
    de.end().map_err(ReadError::Json)?;
    // `from_value` checks apiVersion, kind, that metadata is an object, then the metadata
    // fields in the order of CHECKED; a skipped field that failed its check comes in that order.
    let skipped_failure = CHECKED.iter().position(|c| failed.get() & c.check.bit != 0);
    let wrong = |at: usize| {
        ReadError::Object(ObjectError::WrongType { field: CHECKED[at].path, expected: CHECKED[at].expected })
    };
    match Object::from_value(value) {
        Ok(object) => match skipped_failure {
            Some(at) => Err(wrong(at)),
            None => Ok(object),
        },
        Err(ObjectError::WrongType { field, expected }) => {
            let kept_failure = CHECKED.iter().position(|c| c.path == field);
            match (skipped_failure, kept_failure) {
                (Some(skipped), Some(kept)) if skipped < kept => Err(wrong(skipped)),
                _ => Err(ReadError::Object(ObjectError::WrongType { field, expected })),
            }
        }
        Err(e) => Err(ReadError::Object(e)),
    }
}

/// The shape a skipped value must have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// A string.
    String,
    /// `null`, or an object whose values are strings.
    StringMapOrNull,
}

/// A shape check; a failure sets `bit`.
#[derive(Debug, Clone, Copy)]
struct Check {
    shape: Shape,
    bit: u8,
}

/// A metadata field [`Object::from_value`] checks; checked here too when it is skipped.
struct Checked {
    key: &'static str,
    path: &'static str,
    expected: &'static str,
    check: Check,
}

/// In the order `from_value` checks them.
const CHECKED: [Checked; 4] = [
    Checked {
        key: "name",
        path: "metadata.name",
        expected: "a string",
        check: Check { shape: Shape::String, bit: 1 },
    },
    Checked {
        key: "namespace",
        path: "metadata.namespace",
        expected: "a string",
        check: Check { shape: Shape::String, bit: 2 },
    },
    Checked {
        key: "labels",
        path: "metadata.labels",
        expected: "a map of strings to strings",
        check: Check { shape: Shape::StringMapOrNull, bit: 4 },
    },
    Checked {
        key: "annotations",
        path: "metadata.annotations",
        expected: "a map of strings to strings",
        check: Check { shape: Shape::StringMapOrNull, bit: 8 },
    },
];

/// The selected fields, as a tree.
#[derive(Debug, Default)]
struct Node {
    /// Keep the whole value.
    all: bool,
    /// Keep these members (when the value is an object); skip the others.
    children: Vec<(String, Node)>,
    /// When this value is skipped, check it has this shape.
    check: Option<Check>,
    /// When a member of this value is skipped, check it has this shape (a partly read label
    /// or annotation map).
    members: Option<Check>,
}

impl Node {
    fn child(&mut self, key: &str) -> &mut Node {
        let at = match self.children.iter().position(|(k, _)| k == key) {
            Some(at) => at,
            None => {
                self.children.push((key.to_owned(), Node::default()));
                self.children.len() - 1
            }
        };
        &mut self.children[at].1
    }

    /// The tree of `pointers`, plus `apiVersion` and `kind`, plus shape checks on the metadata
    /// fields that `Object::from_value` checks.
    fn select(pointers: &[&str]) -> Node {
        let mut root = Node::default();
        for pointer in ["/apiVersion", "/kind"].iter().chain(pointers) {
            let mut node = &mut root;
            // "" (the whole document) or anything not starting with `/` selects everything:
            // reading more than asked is always safe.
            let mut tokens = pointer.strip_prefix('/').map(|p| p.split('/'));
            loop {
                if node.all {
                    break;
                }
                match tokens.as_mut().and_then(Iterator::next) {
                    None => {
                        node.all = true;
                        node.children.clear();
                        break;
                    }
                    Some(token) => node = node.child(&token.replace("~1", "/").replace("~0", "~")),
                }
            }
        }
        if !root.all {
            let metadata = root.child("metadata");
            if !metadata.all {
                for checked in &CHECKED {
                    let field = metadata.child(checked.key);
                    if !field.all {
                        field.check = Some(checked.check);
                        if checked.check.shape == Shape::StringMapOrNull {
                            field.members = Some(Check { shape: Shape::String, bit: checked.check.bit });
                        }
                    }
                }
            }
        }
        root
    }

    /// Only checked, never kept.
    fn check_only(&self) -> bool {
        !self.all && self.children.is_empty()
    }
}

/// Deserialize one value as `node` selects it.
struct Project<'a> {
    node: &'a Node,
    failed: &'a Cell<u8>,
}

impl<'de> DeserializeSeed<'de> for Project<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        if self.node.all {
            return serde::Deserialize::deserialize(deserializer);
        }
        deserializer.deserialize_any(self)
    }
}

/// Values that are not objects are built whole, as `serde_json::Value` builds them.
impl<'de> Visitor<'de> for Project<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any valid JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(item) = seq.next_element::<Value>()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        let children = &self.node.children;
        while let Some(key) = map.next_key_seed(KeySeed { children })? {
            match key {
                Some(at) if !children[at].1.check_only() => {
                    let node = &children[at].1;
                    let value = map.next_value_seed(Project { node, failed: self.failed })?;
                    out.insert(children[at].0.clone(), value);
                }
                Some(at) => map.next_value_seed(Skip { check: children[at].1.check, failed: self.failed })?,
                None => map.next_value_seed(Skip { check: self.node.members, failed: self.failed })?,
            }
        }
        Ok(Value::Object(out))
    }
}

/// An object key: the index of the selected member it names, if any. Keys are compared where
/// they lie, never copied.
struct KeySeed<'a> {
    children: &'a [(String, Node)],
}

impl<'de> DeserializeSeed<'de> for KeySeed<'_> {
    type Value = Option<usize>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Option<usize>, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl Visitor<'_> for KeySeed<'_> {
    type Value = Option<usize>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_str<E>(self, v: &str) -> Result<Option<usize>, E> {
        Ok(self.children.iter().position(|(k, _)| k == v))
    }
}

/// Skip a value, checking its shape when asked. A failed check is recorded, not raised, so
/// that errors come out in the order of a full parse.
#[derive(Clone, Copy)]
struct Skip<'a> {
    check: Option<Check>,
    failed: &'a Cell<u8>,
}

impl Skip<'_> {
    fn fail(&self) {
        if let Some(check) = self.check {
            self.failed.set(self.failed.get() | check.bit);
        }
    }

    fn shape(&self) -> Option<Shape> {
        self.check.map(|c| c.shape)
    }
}

impl<'de> DeserializeSeed<'de> for Skip<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        // Not `deserialize_ignored_any`: serde_json skips numbers there without reading them,
        // so `1e400` would pass, where a full parse fails with "number out of range".
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Skip<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any valid JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        self.fail();
        Ok(())
    }

    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        self.fail();
        Ok(())
    }

    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        self.fail();
        Ok(())
    }

    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        self.fail();
        Ok(())
    }

    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        if self.shape() != Some(Shape::String) {
            self.fail();
        }
        Ok(())
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        // `null` is an absent label or annotation map, but not a name.
        if self.shape() != Some(Shape::StringMapOrNull) {
            self.fail();
        }
        Ok(())
    }

    fn visit_none<E>(self) -> Result<(), E> {
        if self.shape() != Some(Shape::StringMapOrNull) {
            self.fail();
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        self.fail();
        while seq.next_element_seed(Skip { check: None, ..self })?.is_some() {}
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        match self.check {
            Some(Check { shape: Shape::StringMapOrNull, bit }) => {
                let member = Skip { check: Some(Check { shape: Shape::String, bit }), ..self };
                while map.next_key::<IgnoredAny>()?.is_some() {
                    map.next_value_seed(member)?;
                }
            }
            _ => {
                self.fail();
                while map.next_key::<IgnoredAny>()?.is_some() {
                    map.next_value_seed(Skip { check: None, ..self })?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const READS: Reads = Reads::Only(&[
        "/spec/replicas",
        "/status",
        "/metadata/generation",
        "/metadata/annotations/example.com~1conditions",
    ]);

    fn parsed(text: &str, reads: Reads) -> Result<Value, String> {
        parse(text, reads).map(Object::into_value).map_err(|e| e.to_string())
    }

    #[test]
    fn keeps_what_is_read_and_skips_the_rest() {
        let text = r#"{"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "generation": 3, "labels": {"a": "b"},
                         "annotations": {"example.com/conditions": "[]", "big": "xxxx"}},
            "spec": {"replicas": 2, "template": {"spec": {"containers": [{"name": "c"}]}}},
            "status": {"replicas": 2, "conditions": [{"type": "Available"}]}}"#;
        assert_eq!(
            parsed(text, READS).unwrap(),
            serde_json::json!({"apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"generation": 3, "annotations": {"example.com/conditions": "[]"}},
                "spec": {"replicas": 2},
                "status": {"replicas": 2, "conditions": [{"type": "Available"}]}})
        );
        let all: Value = serde_json::from_str(text).unwrap();
        assert_eq!(parsed(text, Reads::All).unwrap(), all);
        assert_eq!(parsed(text, Reads::Only(&[""])).unwrap(), all);
    }

    #[test]
    fn values_that_are_not_objects_are_kept_whole() {
        let text = r#"{"apiVersion": "v1", "kind": "X", "spec": [1, {"replicas": 2, "x": 3}],
            "status": "broken", "metadata": {"generation": {"a": [1]}}}"#;
        let value = parsed(text, READS).unwrap();
        assert_eq!(value["spec"], serde_json::json!([1, {"replicas": 2, "x": 3}]));
        assert_eq!(value["status"], "broken");
        assert_eq!(value["metadata"]["generation"], serde_json::json!({"a": [1]}));
    }

    /// Every input gives what a full parse and `Object::from_value` give: the same error, or
    /// an object agreeing with it on every field read.
    #[test]
    fn errors_are_those_of_a_full_parse() {
        let cases = [
            "",
            "nul",
            "[1, 2]",
            r#""Pod""#,
            r#"{"kind": "Pod"}"#,
            r#"{"apiVersion": "", "kind": "Pod"}"#,
            r#"{"apiVersion": "v1", "kind": 3}"#,
            r#"{"apiVersion": "v1", "kind": "Pod"} x"#,
            r#"{"apiVersion": "v1", "kind": "Pod", "spec": {"a": [1, }}"#,
            r#"{"apiVersion": "v1", "kind": "Pod", "spec": {"a": "\q"}}"#,
            r#"{"apiVersion": "v1", "kind": "Pod", "metadata": null}"#,
            r#"{"apiVersion": "v1", "kind": "Pod", "metadata": "x"}"#,
            r#"{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": 1}}"#,
            r#"{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": null}}"#,
            r#"{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": []}}"#,
            r#"{"apiVersion": "v1", "kind": "Pod", "metadata": {"labels": null, "annotations": null}}"#,
            r#"{"apiVersion": "v1", "kind": "Pod", "metadata": {"labels": {"a": 1}}}"#,
            r#"{"apiVersion": "v1", "kind": "Pod", "metadata": {"labels": {"a": null}}}"#,
            r#"{"apiVersion": "v1", "kind": "Pod", "metadata": {"labels": "a"}}"#,
            r#"{"apiVersion": "v1", "kind": "Pod", "metadata": {"labels": {"a": {}}, "name": 2}}"#,
            r#"{"apiVersion": "v1", "kind": "Pod", "metadata": {"annotations": {"x": 1}}}"#,
            r#"{"apiVersion": "v1", "kind": "Pod", "metadata": {"annotations": {"example.com/conditions": 1}}}"#,
            r#"{"apiVersion": "v1", "kind": "Pod", "metadata": {"annotations": {"example.com/conditions": 1}, "name": []}}"#,
            r#"{"apiVersion": "v1", "kind": "Pod", "metadata": {"annotations": [], "labels": 5}}"#,
            r#"{"apiVersion": "v1", "kind": "Pod", "metadata": {"annotations": {"a": "b"}, "labels": {"c": "d"}, "name": "n", "namespace": "s"}}"#,
            r#"{"apiVersion": "v1", "kind": "Pod", "status": {"phase": "Running"}, "status": 1}"#,
            r#"{"apiVersion": "v1", "kind": "Pod", "spec": {"replicas": 1e400}}"#,
            r#"{"apiVersion": "v1", "kind": "Pod", "spec": {"other": 1e400}}"#,
        ];
        for text in cases {
            let full = serde_json::from_str::<Value>(text)
                .map_err(|e| e.to_string())
                .and_then(|v| Object::from_value(v).map_err(|e| e.to_string()));
            let projected = parse(text, READS).map_err(|e| e.to_string());
            match (&full, &projected) {
                (Err(a), Err(b)) => assert_eq!(a, b, "{text}"),
                (Ok(a), Ok(b)) => {
                    for pointer in
                        ["/apiVersion", "/kind", "/spec/replicas", "/status", "/metadata/generation"]
                    {
                        assert_eq!(a.as_value().pointer(pointer), b.as_value().pointer(pointer), "{text}");
                    }
                }
                _ => panic!("{text}: full parse {full:?}, projected {projected:?}"),
            }
        }
    }
}
