//! Reading a YAML stream into JSON values, one per document.

use std::borrow::Cow;
use std::collections::HashMap;

use saphyr::Scalar;
use saphyr_parser::{Event, Parser, ScalarStyle, Span, SpannedEventReceiver, Tag};
use serde_json::{Map, Number, Value};

use crate::YamlError;

/// Deepest nesting of sequences and mappings accepted (serde_json's own limit).
pub const MAX_DEPTH: usize = 128;

/// Most nodes that aliases may expand to in one stream.
pub const MAX_ALIAS_EXPANSION: usize = 100_000;

/// One document of a YAML stream.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    /// The document's content; `Null` for an empty document.
    pub value: Value,
    /// 1-based line where the document's content starts (its `---` when it is empty).
    pub line: usize,
}

/// Read every document of a YAML stream, in order.
///
/// # Errors
/// A [`YamlError`] with the line and column of the first fault: malformed YAML, a duplicate
/// key, a complex (non-scalar) key, a value JSON cannot hold, nesting deeper than
/// [`MAX_DEPTH`] or alias expansion beyond [`MAX_ALIAS_EXPANSION`].
pub fn parse_stream(text: &str) -> Result<Vec<Document>, YamlError> {
    let mut loader = Loader::default();
    let mut parser = Parser::new_from_str(text);
    let scanned = parser.load(&mut loader, true);
    // The loader's own error comes first: the parser may fail later on the same stream.
    if let Some(err) = loader.error {
        return Err(err);
    }
    scanned.map_err(|e| YamlError {
        line: e.marker().line(),
        column: e.marker().col() + 1,
        message: e.info().to_owned(),
    })?;
    Ok(loader.docs)
}

enum Frame {
    Seq {
        items: Vec<Value>,
        anchor: usize,
        start: Span,
    },
    Map {
        map: Map<String, Value>,
        anchor: usize,
        start: Span,
        /// The key whose value comes next, and whether it is the YAML merge key `<<`.
        key: Option<(String, bool)>,
        /// Mappings merged in through `<<`; explicit keys win over them.
        merges: Vec<Map<String, Value>>,
    },
}

#[derive(Default)]
struct Loader {
    docs: Vec<Document>,
    stack: Vec<Frame>,
    /// Anchored values of the current document, with their size in nodes.
    anchors: HashMap<usize, (Value, usize)>,
    root: Option<(Value, usize)>,
    doc_line: usize,
    expanded: usize,
    error: Option<YamlError>,
}

fn error_at(span: Span, message: impl Into<String>) -> YamlError {
    YamlError { line: span.start.line(), column: span.start.col() + 1, message: message.into() }
}

fn node_count(value: &Value) -> usize {
    match value {
        Value::Array(items) => 1 + items.iter().map(node_count).sum::<usize>(),
        Value::Object(map) => 1 + map.values().map(node_count).sum::<usize>(),
        _ => 1,
    }
}

/// Resolve a scalar as kustomize does: the YAML 1.2 core schema, plus the legacy octal form
/// (`0644`) that Kubernetes manifests use for file modes.
fn resolve_scalar(
    text: Cow<'_, str>,
    style: ScalarStyle,
    tag: Option<&Cow<'_, Tag>>,
    span: Span,
) -> Result<Value, YamlError> {
    if style == ScalarStyle::Plain && tag.is_none() && is_legacy_octal(&text) {
        let (sign, digits) = match text.strip_prefix('-') {
            Some(rest) => (-1, rest),
            None => (1, text.strip_prefix('+').unwrap_or(&text)),
        };
        if let Ok(n) = i64::from_str_radix(digits, 8) {
            return Ok(Value::Number(Number::from(sign * n)));
        }
    }
    let original = text.clone();
    let Some(scalar) = Scalar::parse_from_cow_and_metadata(text, style, tag) else {
        let tag = match tag {
            Some(t) if t.is_yaml_core_schema() => format!("!!{}", t.suffix),
            Some(t) => format!("{}{}", t.handle, t.suffix),
            None => String::new(),
        };
        return Err(error_at(span, format!("`{original}` is not a valid {tag} value")));
    };
    Ok(match scalar {
        Scalar::Null => Value::Null,
        Scalar::Boolean(b) => Value::Bool(b),
        Scalar::Integer(i) => Value::Number(Number::from(i)),
        Scalar::FloatingPoint(f) => match Number::from_f64(f.into_inner()) {
            Some(n) => Value::Number(n),
            None => {
                return Err(error_at(
                    span,
                    format!("`{original}` (infinity or NaN) cannot be represented in JSON"),
                ));
            }
        },
        Scalar::String(s) => Value::String(s.into_owned()),
    })
}

fn is_legacy_octal(text: &str) -> bool {
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    digits.len() > 1 && digits.starts_with('0') && digits.bytes().all(|b| (b'0'..=b'7').contains(&b))
}

impl Loader {
    fn fail(&mut self, err: YamlError) {
        if self.error.is_none() {
            self.error = Some(err);
        }
    }

    fn open(&mut self, frame: Frame, span: Span) {
        if self.stack.len() >= MAX_DEPTH {
            self.fail(error_at(span, format!("nesting deeper than {MAX_DEPTH} levels")));
            return;
        }
        self.stack.push(frame);
    }

    /// Keep an anchored value for its aliases (counting its nodes only then: counting every
    /// collection would walk each subtree once per level above it).
    fn remember(&mut self, anchor: usize, value: &Value) {
        if anchor > 0 {
            self.anchors.insert(anchor, (value.clone(), node_count(value)));
        }
    }

    /// Place a finished node in its parent (or as the document root).
    fn insert(&mut self, value: Value, span: Span) {
        let Some(top) = self.stack.last_mut() else {
            self.root = Some((value, span.start.line()));
            return;
        };
        match top {
            Frame::Seq { items, .. } => items.push(value),
            Frame::Map { map, key, merges, .. } => match key.take() {
                None => {
                    let (name, merge) = match value {
                        Value::String(s) => {
                            let merge = s == "<<";
                            (s, merge)
                        }
                        Value::Null => ("null".to_owned(), false),
                        Value::Bool(b) => (b.to_string(), false),
                        Value::Number(n) => (n.to_string(), false),
                        Value::Array(_) | Value::Object(_) => {
                            self.fail(error_at(span, "complex mapping keys are not supported"));
                            return;
                        }
                    };
                    if !merge && map.contains_key(&name) {
                        self.fail(error_at(span, format!("duplicate key `{name}`")));
                        return;
                    }
                    *key = Some((name, merge));
                }
                Some((_, true)) => match value {
                    Value::Object(m) => merges.push(m),
                    Value::Array(items) if items.iter().all(Value::is_object) => {
                        merges.extend(items.into_iter().filter_map(|v| match v {
                            Value::Object(m) => Some(m),
                            _ => None,
                        }));
                    }
                    _ => {
                        self.fail(error_at(span, "the merge key `<<` needs a mapping or a list of mappings"))
                    }
                },
                Some((name, false)) => {
                    map.insert(name, value);
                }
            },
        }
    }
}

impl<'input> SpannedEventReceiver<'input> for Loader {
    fn on_event(&mut self, event: Event<'input>, span: Span) {
        if self.error.is_some() {
            return;
        }
        match event {
            Event::DocumentStart(_) => {
                self.doc_line = span.start.line();
                self.anchors.clear();
                self.root = None;
            }
            Event::DocumentEnd => {
                let (value, line) = self.root.take().unwrap_or((Value::Null, self.doc_line));
                self.docs.push(Document { value, line });
            }
            Event::Scalar(text, style, anchor, tag) => {
                match resolve_scalar(text, style, tag.as_ref(), span) {
                    Ok(value) => {
                        self.remember(anchor, &value);
                        self.insert(value, span);
                    }
                    Err(e) => self.fail(e),
                }
            }
            Event::SequenceStart(anchor, _) => {
                self.open(Frame::Seq { items: Vec::new(), anchor, start: span }, span);
            }
            Event::MappingStart(anchor, _) => self.open(
                Frame::Map { map: Map::new(), anchor, start: span, key: None, merges: Vec::new() },
                span,
            ),
            Event::SequenceEnd | Event::MappingEnd => {
                let (value, anchor, start) = match self.stack.pop() {
                    Some(Frame::Seq { items, anchor, start }) => (Value::Array(items), anchor, start),
                    Some(Frame::Map { mut map, anchor, start, merges, .. }) => {
                        for merged in merges {
                            for (k, v) in merged {
                                map.entry(k).or_insert(v);
                            }
                        }
                        (Value::Object(map), anchor, start)
                    }
                    None => return,
                };
                self.remember(anchor, &value);
                self.insert(value, start);
            }
            Event::Alias(id) => match self.anchors.get(&id) {
                Some((value, size)) => {
                    self.expanded += size;
                    if self.expanded > MAX_ALIAS_EXPANSION {
                        self.fail(error_at(
                            span,
                            format!("aliases expand to more than {MAX_ALIAS_EXPANSION} nodes"),
                        ));
                        return;
                    }
                    let value = value.clone();
                    self.insert(value, span);
                }
                None => self.fail(error_at(span, "alias to an unknown anchor")),
            },
            Event::StreamStart | Event::StreamEnd | Event::Nothing => {}
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    fn values(text: &str) -> Vec<Value> {
        parse_stream(text).unwrap().into_iter().map(|d| d.value).collect()
    }

    #[test]
    fn documents_keep_order_and_lines() {
        let docs = parse_stream("a: 1\n---\n# c\nb: [x, y]\n---\n---\nc: {d: e}\n").unwrap();
        assert_eq!(docs.len(), 4);
        assert_eq!(docs[0], Document { value: json!({"a": 1}), line: 1 });
        assert_eq!(docs[1], Document { value: json!({"b": ["x", "y"]}), line: 4 });
        assert_eq!(docs[2].value, Value::Null);
        assert_eq!(docs[2].line, 6);
        assert_eq!(docs[3], Document { value: json!({"c": {"d": "e"}}), line: 7 });
    }

    #[test]
    fn key_order_is_preserved() {
        let v = &values("z: 1\na: 2\nm: 3\n")[0];
        let keys: Vec<_> = v.as_object().unwrap().keys().cloned().collect();
        assert_eq!(keys, ["z", "a", "m"]);
    }

    #[test]
    fn scalars_follow_the_core_schema_and_legacy_octal() {
        let v = &values(
            "a: yes\nb: true\nc: 010\nd: 0644\ne: '0644'\nf: 1.5\ng: ~\nh:\ni: 0x1F\nj: !!str 12\nk: -012\n",
        )[0];
        assert_eq!(
            v,
            &json!({"a": "yes", "b": true, "c": 8, "d": 420, "e": "0644", "f": 1.5,
                     "g": null, "h": null, "i": 31, "j": "12", "k": -10})
        );
    }

    #[test]
    fn anchors_aliases_and_merge_keys() {
        let v = &values("base: &b {x: 1, y: 2}\nuse: *b\nmerged:\n  <<: *b\n  y: 3\n")[0];
        assert_eq!(
            v,
            &json!({"base": {"x": 1, "y": 2}, "use": {"x": 1, "y": 2}, "merged": {"y": 3, "x": 1}})
        );
    }

    #[test]
    fn malformed_yaml_reports_line_and_column() {
        let err = parse_stream("a: 1\nb: [1, 2\nc: 3\n").unwrap_err();
        assert!(err.line >= 2, "{err}");
        let err = parse_stream("a: 1\n  b: 2\n").unwrap_err();
        assert_eq!(err.line, 2, "{err}");
    }

    #[test]
    fn duplicate_keys_are_refused() {
        let err = parse_stream("a: 1\nb: 2\na: 3\n").unwrap_err();
        assert_eq!((err.line, err.message.as_str()), (3, "duplicate key `a`"));
    }

    #[test]
    fn values_json_cannot_hold_are_refused() {
        let err = parse_stream("a:\n  b: .nan\n").unwrap_err();
        assert_eq!(err.line, 2);
        assert!(err.message.contains("JSON"), "{err}");
        let err = parse_stream("? [a]\n: 1\n").unwrap_err();
        assert!(err.message.contains("complex"), "{err}");
        let err = parse_stream("a: !!int nope\n").unwrap_err();
        assert!(err.message.contains("!!int"), "{err}");
    }

    #[test]
    fn deep_nesting_is_refused() {
        let deep = "[".repeat(MAX_DEPTH + 1) + &"]".repeat(MAX_DEPTH + 1);
        let err = parse_stream(&deep).unwrap_err();
        assert!(err.message.contains("nesting"), "{err}");
        let ok = "[".repeat(MAX_DEPTH) + &"]".repeat(MAX_DEPTH);
        assert_eq!(parse_stream(&ok).unwrap().len(), 1);
    }

    #[test]
    fn alias_bombs_are_refused() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..10 {
            let prev = format!("*a{}", i - 1);
            let items = [prev.as_str(); 10].join(", ");
            text.push_str(&format!("a{i}: &a{i} [{items}]\n"));
        }
        let err = parse_stream(&text).unwrap_err();
        assert!(err.message.contains("aliases expand"), "{err}");
    }
}
