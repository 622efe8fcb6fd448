//! Reading Kubernetes objects from manifest text: a YAML stream or a JSON document.
//!
//! Multi-document YAML; empty documents skipped; `kind: List` expanded into its `items`; a
//! document that is not a Kubernetes object is an error with the document's line.

use serde_json::Value;

use crate::Object;

/// Manifest text that does not hold Kubernetes objects.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{message}", line.map(|l| format!("line {l}: ")).unwrap_or_default())]
pub struct ManifestError {
    /// The 1-based line of the document (or of the syntax error).
    pub line: Option<usize>,
    /// What is wrong.
    pub message: String,
}

/// Whether manifest text is read as YAML (any `.yaml`/`.yml`) or as JSON (`.json`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// A YAML stream (JSON documents are YAML too, but numbers and escapes are read as YAML).
    Yaml,
    /// One JSON document, read as JSON.
    Json,
}

impl Format {
    /// The format a file name implies: JSON for `.json`, YAML otherwise.
    #[must_use]
    pub fn of_file(name: &str) -> Self {
        if name.ends_with(".json") { Format::Json } else { Format::Yaml }
    }
}

/// Every object in `text`, in order.
///
/// # Errors
/// [`ManifestError`] for malformed text or a document that is not a Kubernetes object.
pub fn parse_objects(text: &str, format: Format) -> Result<Vec<Object>, ManifestError> {
    let documents: Vec<(Value, usize)> = match format {
        Format::Json => {
            let value = serde_json::from_str(text)
                .map_err(|e| ManifestError { line: Some(e.line()), message: format!("invalid JSON: {e}") })?;
            vec![(value, 1)]
        }
        Format::Yaml => driftless_yaml::parse_stream(text)
            .map_err(|e| ManifestError {
                line: Some(e.line),
                message: format!("invalid YAML: {} (column {})", e.message, e.column),
            })?
            .into_iter()
            .map(|d| (d.value, d.line))
            .collect(),
    };
    let mut out = Vec::new();
    for (value, line) in documents {
        if value.is_null() {
            continue;
        }
        let fail = |message: String| ManifestError { line: Some(line), message };
        let object = Object::from_value(value).map_err(|e| fail(format!("not a Kubernetes object: {e}")))?;
        if object.kind() != "List" {
            out.push(object);
            continue;
        }
        let items = match object.as_map().get("items") {
            None | Some(Value::Null) => &[][..],
            Some(Value::Array(items)) => items.as_slice(),
            Some(_) => return Err(fail("`items` of a List must be a list".into())),
        };
        for (i, item) in items.iter().enumerate() {
            let item = Object::from_value(item.clone())
                .map_err(|e| fail(format!("List item {i} is not a Kubernetes object: {e}")))?;
            out.push(item);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_streams_lists_and_errors() {
        let text = "---\napiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: Secret, metadata: {name: s}}\n---\n---\napiVersion: v1\nkind: Service\nmetadata: {name: svc}\n";
        let objects = parse_objects(text, Format::Yaml).unwrap();
        assert_eq!(objects.iter().map(|o| o.kind()).collect::<Vec<_>>(), ["Secret", "Service"]);
        let err = parse_objects("apiVersion: v1\nkind: X\n---\n\nmetadata: {}\n", Format::Yaml).unwrap_err();
        assert_eq!(
            err.to_string(),
            "line 5: not a Kubernetes object: `apiVersion` is missing or not a non-empty string"
        );
        let err = parse_objects("apiVersion: v1\nkind: List\nitems: 3\n", Format::Yaml).unwrap_err();
        assert_eq!(err.line, Some(1));
        assert!(parse_objects("- a\n", Format::Yaml).unwrap_err().message.contains("found a list"));
    }

    #[test]
    fn json_is_read_as_json() {
        let objects =
            parse_objects(r#"{"apiVersion": "v1", "kind": "ConfigMap", "data": {"n": "1e3"}}"#, Format::Json)
                .unwrap();
        assert_eq!(objects[0].as_map()["data"]["n"], "1e3");
        let err = parse_objects("{\n\"a\": }", Format::Json).unwrap_err();
        assert_eq!(err.line, Some(2));
        assert_eq!(Format::of_file("x.json"), Format::Json);
        assert_eq!(Format::of_file("x.yml"), Format::Yaml);
    }
}
