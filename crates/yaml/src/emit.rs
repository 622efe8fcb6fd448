//! Writing JSON values as YAML in the layout `kubectl` and `kustomize` print: two-space
//! indentation, sequences at their key's indentation, literal blocks for multi-line strings,
//! and quotes only where a plain scalar would read back as something else.

use std::fmt::Write as _;

use serde_json::{Map, Value};

/// One value as a YAML document (no `---` marker), ending with a newline.
#[must_use]
pub fn to_yaml(value: &Value) -> String {
    let mut out = String::new();
    match value {
        Value::Object(map) if !map.is_empty() => write_map(&mut out, map, 0),
        Value::Array(items) if !items.is_empty() => write_seq(&mut out, items, 0),
        scalar => {
            write_inline(&mut out, scalar, 0);
            out.push('\n');
        }
    }
    out
}

/// Several values as one YAML stream, documents separated by `---`.
#[must_use]
pub fn to_yaml_stream<'a>(values: impl IntoIterator<Item = &'a Value>) -> String {
    let mut out = String::new();
    for (i, value) in values.into_iter().enumerate() {
        if i > 0 {
            out.push_str("---\n");
        }
        out.push_str(&to_yaml(value));
    }
    out
}

fn indent(out: &mut String, n: usize) {
    out.extend(std::iter::repeat_n(' ', n));
}

/// A block mapping whose first key goes where the cursor is; later keys at `col`.
fn write_map(out: &mut String, map: &Map<String, Value>, col: usize) {
    for (i, (key, value)) in map.iter().enumerate() {
        if i > 0 {
            indent(out, col);
        }
        write_string(out, key, col, false);
        out.push(':');
        write_value_after_key(out, value, col);
    }
}

fn write_value_after_key(out: &mut String, value: &Value, col: usize) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            out.push('\n');
            indent(out, col + 2);
            write_map(out, map, col + 2);
        }
        Value::Array(items) if !items.is_empty() => {
            out.push('\n');
            indent(out, col);
            write_seq(out, items, col);
        }
        other => {
            out.push(' ');
            write_inline(out, other, col);
            out.push('\n');
        }
    }
}

/// A block sequence whose first `- ` goes where the cursor is; later items at `col`.
fn write_seq(out: &mut String, items: &[Value], col: usize) {
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            indent(out, col);
        }
        out.push_str("- ");
        match item {
            Value::Object(map) if !map.is_empty() => write_map(out, map, col + 2),
            Value::Array(inner) if !inner.is_empty() => write_seq(out, inner, col + 2),
            other => {
                write_inline(out, other, col);
                out.push('\n');
            }
        }
    }
}

/// A scalar or empty collection on the current line; `col` is the indentation of its key, for
/// the lines of a literal block.
fn write_inline(out: &mut String, value: &Value, col: usize) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => {
            let _ = write!(out, "{n}");
        }
        Value::String(s) => write_string(out, s, col, true),
        Value::Array(_) => out.push_str("[]"),
        Value::Object(_) => out.push_str("{}"),
    }
}

fn write_string(out: &mut String, s: &str, col: usize, block_allowed: bool) {
    if block_allowed && s.contains('\n') && literal_allowed(s) {
        write_literal(out, s, col);
    } else if reads_as_other_type(s) {
        write_double_quoted(out, s);
    } else if plain_allowed(s) {
        out.push_str(s);
    } else if s.chars().all(|c| !c.is_control()) {
        out.push('\'');
        out.push_str(&s.replace('\'', "''"));
        out.push('\'');
    } else {
        write_double_quoted(out, s);
    }
}

fn write_literal(out: &mut String, s: &str, col: usize) {
    let body = s.trim_end_matches('\n');
    let trailing = s.len() - body.len();
    out.push_str(match trailing {
        0 => "|-",
        1 => "|",
        _ => "|+",
    });
    for line in body.split('\n') {
        out.push('\n');
        if !line.is_empty() {
            indent(out, col + 2);
            out.push_str(line);
        }
    }
    // Keep-chomping: the extra final newlines are empty lines of the block.
    for _ in 1..trailing {
        out.push('\n');
    }
}

/// Literal blocks cannot carry trailing spaces, a leading space on the first line (without an
/// indentation indicator), tabs or control characters faithfully.
fn literal_allowed(s: &str) -> bool {
    !s.starts_with([' ', '\n'])
        && s.chars().all(|c| c == '\n' || !c.is_control())
        && s.split('\n').all(|line| !line.ends_with([' ', '\t']))
}

fn write_double_quoted(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Would this text, written plain, be read back as something other than this string by a
/// YAML 1.1 or 1.2 reader (kubectl uses both)?
fn reads_as_other_type(s: &str) -> bool {
    const WORDS: &[&str] = &[
        "", "~", "null", "Null", "NULL", "true", "True", "TRUE", "false", "False", "FALSE", "y", "Y", "yes",
        "Yes", "YES", "n", "N", "no", "No", "NO", "on", "On", "ON", "off", "Off", "OFF", ".inf", ".Inf",
        ".INF", "-.inf", "-.Inf", "-.INF", "+.inf", ".nan", ".NaN", ".NAN", "<<", "=",
    ];
    if WORDS.contains(&s) {
        return true;
    }
    let body = s.strip_prefix(['-', '+']).unwrap_or(s);
    let Some(first) = body.chars().next() else {
        return false;
    };
    if !(first.is_ascii_digit() || first == '.') {
        return false;
    }
    // Anything number-shaped: decimal, float, exponent, 0x/0o/0b, `_` separators, base 60.
    body.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-' | '+'))
        && (body.parse::<f64>().is_ok()
            || body.starts_with("0x")
            || body.starts_with("0o")
            || body.starts_with("0b")
            || body.replace('_', "").parse::<f64>().is_ok()
            || is_sexagesimal(body))
}

fn is_sexagesimal(s: &str) -> bool {
    s.contains(':')
        && s.split(':').all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit() || c == '.'))
}

fn plain_allowed(s: &str) -> bool {
    let Some(first) = s.chars().next() else {
        return false;
    };
    let second = s.chars().nth(1);
    let starts_badly = match first {
        '-' | '?' | ':' => second.is_none_or(|c| c == ' '),
        ',' | '[' | ']' | '{' | '}' | '#' | '&' | '*' | '!' | '|' | '>' | '\'' | '"' | '%' | '@' | '`'
        | ' ' => true,
        _ => false,
    };
    !starts_badly
        && !s.ends_with([' ', ':'])
        && !s.contains(": ")
        && !s.contains(" #")
        && !s.starts_with("---")
        && !s.starts_with("...")
        && s.chars().all(|c| !c.is_control() && c != '\u{feff}')
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::parse_stream;
    use serde_json::json;

    #[test]
    fn kubectl_layout() {
        let v = json!({
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "web", "labels": {"app": "web"}, "annotations": {}},
            "spec": {"ports": [{"port": 80, "name": "http"}, {"port": 443}], "x": [], "y": [["a"], "b"]}
        });
        let expected = "\
apiVersion: v1
kind: Service
metadata:
  name: web
  labels:
    app: web
  annotations: {}
spec:
  ports:
  - port: 80
    name: http
  - port: 443
  x: []
  \"y\":
  - - a
  - b
";
        assert_eq!(to_yaml(&v), expected);
    }

    #[test]
    fn strings_are_quoted_only_when_needed() {
        let v = json!({"a": "true", "b": "0644", "c": "yes", "d": "1e3", "e": "plain text",
                       "f": "with: colon", "g": "", "h": "*star", "i": "it's", "j": "tab\there",
                       "k": "1:20", "l": "-", "m": "-x", "n": "v1.2.3", "o": "null"});
        let expected = "\
a: \"true\"
b: \"0644\"
c: \"yes\"
d: \"1e3\"
e: plain text
f: 'with: colon'
g: \"\"
h: '*star'
i: it's
j: \"tab\\there\"
k: \"1:20\"
l: '-'
m: -x
\"n\": v1.2.3
o: \"null\"
";
        assert_eq!(to_yaml(&v), expected);
    }

    #[test]
    fn multiline_strings_become_literal_blocks() {
        let v = json!({"data": {"a": "line1\nline2\n", "b": "x\n\ny", "c": "k\n\n"}});
        let expected = "data:\n  a: |\n    line1\n    line2\n  b: |-\n    x\n\n    y\n  c: |+\n    k\n\n";
        let text = to_yaml(&v);
        assert_eq!(text, expected);
        assert_eq!(parse_stream(&text).unwrap()[0].value, v);
    }

    #[test]
    fn round_trips_awkward_values() {
        let v = json!({
            "s": ["", " lead", "trail ", "#x", "a #b", "é ü", "\u{1}", "- a", "[x]", "x\ny ",
                  " \nindented", "---", "...", "0x1F", "1_000", ".5", "+1", "~", "@at", "%p"],
            "n": [0, -1, 1.5, 1e20, null, true],
            "nested": [{"a": [{"b": {}}]}, [], {}]
        });
        let text = to_yaml(&v);
        let back = parse_stream(&text).unwrap();
        assert_eq!(back.len(), 1);
        assert_eq!(back[0].value, v, "{text}");
    }

    #[test]
    fn streams_separate_documents() {
        let docs = [json!({"a": 1}), json!({"b": 2})];
        assert_eq!(to_yaml_stream(&docs), "a: 1\n---\nb: 2\n");
    }
}
