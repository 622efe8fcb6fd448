//! Just enough Kubernetes protobuf to read what kubectl's typed clients send: `kubectl
//! create namespace|configmap|secret` encode the body as `application/vnd.kubernetes.protobuf`
//! (the `k8s\0` envelope around a `runtime.Unknown`). Namespace, ConfigMap, Secret and the
//! Deployment fields `kubectl create deployment` sets are decoded into JSON, with the common
//! metadata fields; anything else is refused with 415.

use base64::Engine as _;
use serde_json::{Map, Value, json};

/// A body that cannot be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ProtoError(pub String);

enum Field<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
}

struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    fn varint(&mut self) -> Result<u64, ProtoError> {
        let mut v: u64 = 0;
        for i in 0..10 {
            let (&b, rest) = self.buf.split_first().ok_or_else(|| ProtoError("truncated varint".into()))?;
            self.buf = rest;
            v |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(ProtoError("varint too long".into()))
    }

    fn next(&mut self) -> Result<Option<(u64, Field<'a>)>, ProtoError> {
        if self.buf.is_empty() {
            return Ok(None);
        }
        let key = self.varint()?;
        let field = match key & 7 {
            0 => Field::Varint(self.varint()?),
            2 => {
                let len =
                    usize::try_from(self.varint()?).map_err(|_| ProtoError("length overflow".into()))?;
                if len > self.buf.len() {
                    return Err(ProtoError("truncated field".into()));
                }
                let (data, rest) = self.buf.split_at(len);
                self.buf = rest;
                Field::Bytes(data)
            }
            1 => {
                self.skip(8)?;
                Field::Varint(0)
            }
            5 => {
                self.skip(4)?;
                Field::Varint(0)
            }
            w => return Err(ProtoError(format!("unsupported wire type {w}"))),
        };
        Ok(Some((key >> 3, field)))
    }

    fn skip(&mut self, n: usize) -> Result<(), ProtoError> {
        if n > self.buf.len() {
            return Err(ProtoError("truncated field".into()));
        }
        self.buf = &self.buf[n..];
        Ok(())
    }
}

fn fields(buf: &[u8]) -> Result<Vec<(u64, Field<'_>)>, ProtoError> {
    let mut r = Reader { buf };
    let mut out = Vec::new();
    while let Some(f) = r.next()? {
        out.push(f);
    }
    Ok(out)
}

fn text(b: &[u8]) -> Result<String, ProtoError> {
    String::from_utf8(b.to_vec()).map_err(|_| ProtoError("a string field is not UTF-8".into()))
}

/// A `map<string, string>` (or bytes, base64-encoded) entry.
fn map_entry(b: &[u8], bytes_value: bool) -> Result<(String, String), ProtoError> {
    let (mut k, mut v) = (String::new(), String::new());
    for (n, f) in fields(b)? {
        match (n, f) {
            (1, Field::Bytes(x)) => k = text(x)?,
            (2, Field::Bytes(x)) if bytes_value => v = base64::engine::general_purpose::STANDARD.encode(x),
            (2, Field::Bytes(x)) => v = text(x)?,
            _ => {}
        }
    }
    Ok((k, v))
}

fn object_meta(b: &[u8]) -> Result<Value, ProtoError> {
    let mut m = Map::new();
    let (mut labels, mut annotations, mut finalizers) = (Map::new(), Map::new(), Vec::new());
    for (n, f) in fields(b)? {
        match (n, f) {
            (1, Field::Bytes(x)) if !x.is_empty() => {
                m.insert("name".into(), json!(text(x)?));
            }
            (2, Field::Bytes(x)) if !x.is_empty() => {
                m.insert("generateName".into(), json!(text(x)?));
            }
            (3, Field::Bytes(x)) if !x.is_empty() => {
                m.insert("namespace".into(), json!(text(x)?));
            }
            (6, Field::Bytes(x)) if !x.is_empty() => {
                m.insert("resourceVersion".into(), json!(text(x)?));
            }
            (11, Field::Bytes(x)) => {
                let (k, v) = map_entry(x, false)?;
                labels.insert(k, json!(v));
            }
            (12, Field::Bytes(x)) => {
                let (k, v) = map_entry(x, false)?;
                annotations.insert(k, json!(v));
            }
            (14, Field::Bytes(x)) => finalizers.push(json!(text(x)?)),
            _ => {}
        }
    }
    if !labels.is_empty() {
        m.insert("labels".into(), Value::Object(labels));
    }
    if !annotations.is_empty() {
        m.insert("annotations".into(), Value::Object(annotations));
    }
    if !finalizers.is_empty() {
        m.insert("finalizers".into(), Value::Array(finalizers));
    }
    Ok(Value::Object(m))
}

fn put_text(m: &mut Map<String, Value>, key: &str, b: &[u8]) -> Result<(), ProtoError> {
    if !b.is_empty() {
        m.insert(key.into(), json!(text(b)?));
    }
    Ok(())
}

fn push_text(m: &mut Map<String, Value>, key: &str, b: &[u8]) -> Result<(), ProtoError> {
    let item = json!(text(b)?);
    match m.entry(key.to_owned()).or_insert_with(|| json!([])) {
        Value::Array(a) => a.push(item),
        _ => return Err(ProtoError(format!("{key} is not a list"))),
    }
    Ok(())
}

fn label_selector(b: &[u8]) -> Result<Value, ProtoError> {
    let mut labels = Map::new();
    for (n, f) in fields(b)? {
        match (n, f) {
            (1, Field::Bytes(x)) => {
                let (k, v) = map_entry(x, false)?;
                labels.insert(k, json!(v));
            }
            (2, Field::Bytes(_)) => {
                return Err(ProtoError("protobuf matchExpressions are not supported; send JSON".into()));
            }
            _ => {}
        }
    }
    Ok(json!({"matchLabels": labels}))
}

/// The Container fields `kubectl create deployment` sets.
fn container(b: &[u8]) -> Result<Value, ProtoError> {
    let mut m = Map::new();
    for (n, f) in fields(b)? {
        match (n, f) {
            (1, Field::Bytes(x)) => put_text(&mut m, "name", x)?,
            (2, Field::Bytes(x)) => put_text(&mut m, "image", x)?,
            (3, Field::Bytes(x)) => push_text(&mut m, "command", x)?,
            (4, Field::Bytes(x)) => push_text(&mut m, "args", x)?,
            (5, Field::Bytes(x)) => put_text(&mut m, "workingDir", x)?,
            (6, Field::Bytes(x)) => {
                let mut port = Map::new();
                for (pn, pf) in fields(x)? {
                    match (pn, pf) {
                        (1, Field::Bytes(y)) => put_text(&mut port, "name", y)?,
                        (3, Field::Varint(v)) => {
                            port.insert("containerPort".into(), json!(v));
                        }
                        (4, Field::Bytes(y)) => put_text(&mut port, "protocol", y)?,
                        _ => {}
                    }
                }
                match m.entry("ports").or_insert_with(|| json!([])) {
                    Value::Array(a) => a.push(Value::Object(port)),
                    _ => return Err(ProtoError("ports is not a list".into())),
                }
            }
            (7, Field::Bytes(x)) => {
                let (k, v) = map_entry(x, false)?;
                match m.entry("env").or_insert_with(|| json!([])) {
                    Value::Array(a) => a.push(json!({"name": k, "value": v})),
                    _ => return Err(ProtoError("env is not a list".into())),
                }
            }
            (14, Field::Bytes(x)) => put_text(&mut m, "imagePullPolicy", x)?,
            _ => {}
        }
    }
    Ok(Value::Object(m))
}

fn pod_template(b: &[u8]) -> Result<Value, ProtoError> {
    let mut t = json!({});
    for (n, f) in fields(b)? {
        match (n, f) {
            (1, Field::Bytes(x)) => t["metadata"] = object_meta(x)?,
            (2, Field::Bytes(x)) => {
                let mut spec = Map::new();
                let mut containers = Vec::new();
                for (sn, sf) in fields(x)? {
                    match (sn, sf) {
                        (2, Field::Bytes(c)) => containers.push(container(c)?),
                        (3, Field::Bytes(r)) => put_text(&mut spec, "restartPolicy", r)?,
                        _ => {}
                    }
                }
                spec.insert("containers".into(), Value::Array(containers));
                t["spec"] = Value::Object(spec);
            }
            _ => {}
        }
    }
    Ok(t)
}

fn deployment_spec(b: &[u8]) -> Result<Value, ProtoError> {
    let mut spec = json!({});
    for (n, f) in fields(b)? {
        match (n, f) {
            (1, Field::Varint(v)) => spec["replicas"] = json!(v),
            (2, Field::Bytes(x)) => spec["selector"] = label_selector(x)?,
            (3, Field::Bytes(x)) => spec["template"] = pod_template(x)?,
            (4, Field::Bytes(x)) => {
                for (sn, sf) in fields(x)? {
                    if let (1, Field::Bytes(t)) = (sn, sf)
                        && !t.is_empty()
                    {
                        spec["strategy"] = json!({"type": text(t)?});
                    }
                }
            }
            (5, Field::Varint(v)) if v > 0 => spec["minReadySeconds"] = json!(v),
            _ => {}
        }
    }
    Ok(spec)
}

/// Decode a protobuf-encoded Namespace, ConfigMap, Secret or Deployment (the fields `kubectl create` sets) into JSON.
///
/// # Errors
/// [`ProtoError`] for anything else, or a malformed body.
pub fn decode(body: &[u8]) -> Result<Value, ProtoError> {
    let inner =
        body.strip_prefix(b"k8s\0").ok_or_else(|| ProtoError("missing the k8s protobuf envelope".into()))?;
    let (mut api_version, mut kind, mut raw) = (String::new(), String::new(), &[][..]);
    for (n, f) in fields(inner)? {
        match (n, f) {
            (1, Field::Bytes(tm)) => {
                for (tn, tf) in fields(tm)? {
                    match (tn, tf) {
                        (1, Field::Bytes(x)) => api_version = text(x)?,
                        (2, Field::Bytes(x)) => kind = text(x)?,
                        _ => {}
                    }
                }
            }
            (2, Field::Bytes(x)) => raw = x,
            _ => {}
        }
    }
    let mut obj = json!({"apiVersion": api_version, "kind": kind});
    let (mut data, mut binary, mut string_data) = (Map::new(), Map::new(), Map::new());
    for (n, f) in fields(raw)? {
        match (kind.as_str(), n, f) {
            (_, 1, Field::Bytes(x)) => obj["metadata"] = object_meta(x)?,
            ("Namespace", 2, Field::Bytes(x)) => {
                let fin: Result<Vec<Value>, ProtoError> = fields(x)?
                    .into_iter()
                    .filter_map(|(n, f)| match (n, f) {
                        (1, Field::Bytes(s)) => Some(text(s).map(Value::String)),
                        _ => None,
                    })
                    .collect();
                obj["spec"] = json!({"finalizers": fin?});
            }
            ("Namespace", _, _) => {}
            ("Deployment", 2, Field::Bytes(x)) => obj["spec"] = deployment_spec(x)?,
            ("Deployment", _, _) => {}
            ("ConfigMap", 2, Field::Bytes(x)) => {
                let (k, v) = map_entry(x, false)?;
                data.insert(k, json!(v));
            }
            ("ConfigMap", 3, Field::Bytes(x)) => {
                let (k, v) = map_entry(x, true)?;
                binary.insert(k, json!(v));
            }
            ("ConfigMap" | "Secret", 4 | 5, Field::Varint(v)) if (kind == "ConfigMap") == (n == 4) => {
                obj["immutable"] = json!(v != 0);
            }
            ("Secret", 2, Field::Bytes(x)) => {
                let (k, v) = map_entry(x, true)?;
                data.insert(k, json!(v));
            }
            ("Secret", 3, Field::Bytes(x)) => obj["type"] = json!(text(x)?),
            ("Secret", 4, Field::Bytes(x)) => {
                let (k, v) = map_entry(x, false)?;
                string_data.insert(k, json!(v));
            }
            ("ConfigMap" | "Secret", _, _) => {}
            (other, _, _) => {
                return Err(ProtoError(format!(
                    "protobuf bodies are supported for Namespace, ConfigMap, Secret and Deployment only, not {other}; send JSON"
                )));
            }
        }
    }
    for (field, map) in [("data", data), ("binaryData", binary), ("stringData", string_data)] {
        if !map.is_empty() {
            obj[field] = Value::Object(map);
        }
    }
    Ok(obj)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ld(field: u8, data: &[u8]) -> Vec<u8> {
        let mut v = vec![(field << 3) | 2, u8::try_from(data.len()).unwrap_or(0)];
        v.extend_from_slice(data);
        v
    }

    #[test]
    fn decodes_a_configmap() {
        let meta = [ld(1, b"cm"), ld(11, &[ld(1, b"a"), ld(2, b"b")].concat())].concat();
        let raw = [ld(1, &meta), ld(2, &[ld(1, b"k"), ld(2, b"v")].concat())].concat();
        let unknown = [ld(1, &[ld(1, b"v1"), ld(2, b"ConfigMap")].concat()), ld(2, &raw)].concat();
        let body = [b"k8s\0".as_slice(), &unknown].concat();
        let v = decode(&body).unwrap_or(Value::Null);
        assert_eq!(
            v,
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm", "labels": {"a": "b"}}, "data": {"k": "v"}})
        );
        assert!(decode(b"k8s\0\x0a\x05").is_err());
        assert!(decode(b"{}").is_err());
    }
}
