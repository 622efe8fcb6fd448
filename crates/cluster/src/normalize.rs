//! Normalisation of objects for comparison, ignore rules, Secret redaction, diffs and hashes.

use base64::Engine as _;
use driftless_core::spec::IgnoreDifference;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// Drop what the server owns or that changes on every write: `status`, and
/// `metadata.{managedFields, resourceVersion, uid, creationTimestamp, generation, selfLink}`
/// and the kubectl last-applied annotation. Empty `labels`/`annotations` maps are dropped.
pub(crate) fn strip(value: &mut Value) {
    let Some(map) = value.as_object_mut() else { return };
    map.remove("status");
    if let Some(Value::Object(meta)) = map.get_mut("metadata") {
        for key in ["managedFields", "resourceVersion", "uid", "creationTimestamp", "generation", "selfLink"]
        {
            meta.remove(key);
        }
        if let Some(Value::Object(ann)) = meta.get_mut("annotations") {
            ann.remove(LAST_APPLIED);
        }
        for key in ["annotations", "labels"] {
            if meta.get(key).is_some_and(|v| v.as_object().is_some_and(Map::is_empty) || v.is_null()) {
                meta.remove(key);
            }
        }
    }
}

/// Whether `rule` applies to an object of this group, kind, namespace and name.
pub(crate) fn rule_matches(
    rule: &IgnoreDifference,
    group: &str,
    kind: &str,
    namespace: Option<&str>,
    name: &str,
) -> bool {
    rule.group == group
        && rule.kind == kind
        && rule.name.as_deref().is_none_or(|n| n == name)
        && rule.namespace.as_deref().is_none_or(|n| Some(n) == namespace)
}

/// Remove the value at an RFC 6901 JSON pointer, if there is one.
pub(crate) fn remove_pointer(value: &mut Value, pointer: &str) {
    if pointer.is_empty() || !pointer.starts_with('/') {
        return;
    }
    let tokens: Vec<String> =
        pointer[1..].split('/').map(|t| t.replace("~1", "/").replace("~0", "~")).collect();
    let Some((last, parents)) = tokens.split_last() else { return };
    let mut cur = value;
    for t in parents {
        cur = match cur {
            Value::Object(m) => match m.get_mut(t) {
                Some(v) => v,
                None => return,
            },
            Value::Array(a) => match t.parse::<usize>().ok().and_then(|i| a.get_mut(i)) {
                Some(v) => v,
                None => return,
            },
            _ => return,
        };
    }
    match cur {
        Value::Object(m) => {
            m.remove(last);
        }
        Value::Array(a) => {
            if let Ok(i) = last.parse::<usize>()
                && i < a.len()
            {
                a.remove(i);
            }
        }
        _ => {}
    }
}

/// One step of a managed-fields path (structured-merge-diff's `fieldsV1`).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Step {
    /// `f:name`: a map field.
    Field(String),
    /// `k:{...}`: the list item whose key fields have these values.
    Key(Map<String, Value>),
    /// `v:...`: the set item equal to this value.
    Item(Value),
    /// `i:n`: the list item at this index.
    Index(usize),
}

/// The paths owned by any of `managers` according to the live object's managedFields.
/// A path ending where the manager owns the node itself (`.`) or a leaf removes that node.
pub(crate) fn managed_paths(live: &Value, managers: &[String]) -> Vec<Vec<Step>> {
    let mut out = Vec::new();
    let Some(entries) = live.pointer("/metadata/managedFields").and_then(Value::as_array) else {
        return out;
    };
    for entry in entries {
        let manager = entry.get("manager").and_then(Value::as_str).unwrap_or_default();
        if !managers.iter().any(|m| m == manager) {
            continue;
        }
        if let Some(fields) = entry.get("fieldsV1") {
            walk_fields(fields, &mut Vec::new(), &mut out);
        }
    }
    out
}

fn walk_fields(node: &Value, path: &mut Vec<Step>, out: &mut Vec<Vec<Step>>) {
    let Some(map) = node.as_object() else { return };
    if map.is_empty() || map.contains_key(".") {
        if !path.is_empty() {
            out.push(path.clone());
        }
        if map.len() <= 1 {
            return;
        }
    }
    for (key, child) in map {
        let step = if let Some(f) = key.strip_prefix("f:") {
            Step::Field(f.to_owned())
        } else if let Some(k) = key.strip_prefix("k:") {
            match serde_json::from_str::<Map<String, Value>>(k) {
                Ok(m) => Step::Key(m),
                Err(_) => continue,
            }
        } else if let Some(v) = key.strip_prefix("v:") {
            match serde_json::from_str::<Value>(v) {
                Ok(v) => Step::Item(v),
                Err(_) => continue,
            }
        } else if let Some(i) = key.strip_prefix("i:") {
            match i.parse() {
                Ok(i) => Step::Index(i),
                Err(_) => continue,
            }
        } else {
            continue;
        };
        path.push(step);
        walk_fields(child, path, out);
        path.pop();
    }
}

fn find_item(list: &[Value], step: &Step) -> Option<usize> {
    match step {
        Step::Key(keys) => list.iter().position(|item| keys.iter().all(|(k, v)| item.get(k) == Some(v))),
        Step::Item(v) => list.iter().position(|item| item == v),
        Step::Index(i) => (*i < list.len()).then_some(*i),
        Step::Field(_) => None,
    }
}

/// Remove the node at a managed-fields path, if present.
pub(crate) fn remove_path(value: &mut Value, path: &[Step]) {
    let Some((last, parents)) = path.split_last() else { return };
    let mut cur = value;
    for step in parents {
        cur = match (cur, step) {
            (Value::Object(m), Step::Field(f)) => match m.get_mut(f) {
                Some(v) => v,
                None => return,
            },
            (Value::Array(a), step) => match find_item(a, step) {
                Some(i) => &mut a[i],
                None => return,
            },
            _ => return,
        };
    }
    match (cur, last) {
        (Value::Object(m), Step::Field(f)) => {
            m.remove(f);
        }
        (Value::Array(a), step) => {
            if let Some(i) = find_item(a, step) {
                a.remove(i);
            }
        }
        _ => {}
    }
}

/// Apply the ignore rules that match the object to both sides, and drop the given extra
/// pointers (e.g. `spec.replicas` of an HPA-managed workload).
pub(crate) fn apply_ignores(
    rules: &[&IgnoreDifference],
    extra_pointers: &[&str],
    live_raw: Option<&Value>,
    sides: &mut [&mut Value],
) {
    let managers: Vec<String> =
        rules.iter().flat_map(|r| r.managed_fields_managers.iter().cloned()).collect();
    let paths = match (live_raw, managers.is_empty()) {
        (Some(live), false) => managed_paths(live, &managers),
        _ => Vec::new(),
    };
    for side in sides.iter_mut() {
        for rule in rules {
            for p in &rule.json_pointers {
                remove_pointer(side, p);
            }
        }
        for p in extra_pointers {
            remove_pointer(side, p);
        }
        for path in &paths {
            remove_path(side, path);
        }
    }
}

/// Whether the object is a core Secret.
pub(crate) fn is_secret(value: &Value) -> bool {
    value.get("kind").and_then(Value::as_str) == Some("Secret")
        && value.get("apiVersion").and_then(Value::as_str) == Some("v1")
}

/// Replace every value under `data`/`stringData` of a Secret on both sides by a marker:
/// `<redacted>` where unchanged (and on the live side), `<redacted: changed>` or
/// `<redacted: added>` on the desired side where it differs. No hash of a value is shown.
pub(crate) fn redact_pair(live: Option<&mut Value>, desired: Option<&mut Value>) {
    let live_secret = live.as_ref().is_some_and(|v| is_secret(v));
    let desired_secret = desired.as_ref().is_some_and(|v| is_secret(v));
    if !live_secret && !desired_secret {
        return;
    }
    let original_live = live.as_ref().map(|v| (**v).clone());
    // Desired side first (needs the original live values), then the live side.
    if let Some(desired) = desired {
        for field in ["data", "stringData"] {
            let live_map =
                original_live.as_ref().and_then(|v| v.get(field)).and_then(Value::as_object).cloned();
            if let Some(Value::Object(map)) = desired.get_mut(field) {
                for (key, value) in map.iter_mut() {
                    let marker = match live_map.as_ref().and_then(|m| m.get(key)) {
                        Some(old) if old == value => "<redacted>",
                        Some(_) => "<redacted: changed>",
                        None => "<redacted: added>",
                    };
                    *value = Value::String(marker.into());
                }
            }
        }
    }
    if let Some(live) = live {
        for field in ["data", "stringData"] {
            if let Some(Value::Object(map)) = live.get_mut(field) {
                for value in map.values_mut() {
                    *value = Value::String("<redacted>".into());
                }
            }
        }
    }
}

/// Redact a single object's Secret values (e.g. a deleted Secret).
pub(crate) fn redact_all(value: &mut Value) {
    redact_pair(Some(value), None);
}

/// Replace every Secret value of `object` (raw, base64 and decoded forms) in `message`.
pub(crate) fn scrub(message: &str, object: &Value) -> String {
    if !is_secret(object) {
        return message.to_owned();
    }
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut needles: Vec<String> = Vec::new();
    for field in ["data", "stringData"] {
        let Some(map) = object.get(field).and_then(Value::as_object) else { continue };
        for value in map.values() {
            let Some(text) = value.as_str() else { continue };
            needles.push(text.to_owned());
            if field == "data" {
                if let Ok(bytes) = b64.decode(text)
                    && let Ok(decoded) = String::from_utf8(bytes)
                {
                    needles.push(decoded);
                }
            } else {
                needles.push(b64.encode(text));
            }
        }
    }
    needles.retain(|n| !n.is_empty());
    needles.sort_by_key(|n| std::cmp::Reverse(n.len()));
    let mut out = message.to_owned();
    for n in needles {
        out = out.replace(&n, "<redacted>");
    }
    out
}

/// A unified diff of the YAML of two normalised objects (`None`: absent).
pub(crate) fn diff(live: Option<&Value>, desired: Option<&Value>, label: &str) -> String {
    let a = live.map(driftless_yaml::to_yaml).unwrap_or_default();
    let b = desired.map(driftless_yaml::to_yaml).unwrap_or_default();
    similar::TextDiff::from_lines(&a, &b)
        .unified_diff()
        .context_radius(3)
        .header(&format!("live {label}"), &format!("desired {label}"))
        .to_string()
}

/// SHA-256 (hex) of the canonical JSON of a value (object keys sorted).
pub(crate) fn hash(value: &Value) -> String {
    let mut text = String::new();
    canonical(value, &mut text);
    let digest = Sha256::digest(text.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

fn canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String((*k).clone()).to_string());
                out.push(':');
                canonical(&map[k.as_str()], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical(v, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use serde_json::json;

    #[test]
    fn strip_drops_server_fields() {
        let mut v = json!({"apiVersion": "v1", "kind": "ConfigMap", "status": {"x": 1},
            "metadata": {"name": "a", "uid": "u", "resourceVersion": "3", "generation": 2,
                "creationTimestamp": "t", "managedFields": [], "selfLink": "s",
                "annotations": {LAST_APPLIED: "{}"}, "labels": {}}});
        strip(&mut v);
        assert_eq!(v, json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}}));
    }

    #[test]
    fn pointers_and_managed_paths_are_removed() {
        let mut v = json!({"spec": {"replicas": 3, "a/b": 1, "list": [1, 2]}});
        remove_pointer(&mut v, "/spec/a~1b");
        remove_pointer(&mut v, "/spec/list/0");
        remove_pointer(&mut v, "/spec/missing/x");
        assert_eq!(v, json!({"spec": {"replicas": 3, "list": [2]}}));

        let live = json!({"metadata": {"managedFields": [
            {"manager": "hpa", "operation": "Update", "fieldsV1": {"f:spec": {"f:replicas": {}}}},
            {"manager": "inject", "operation": "Update", "fieldsV1": {"f:spec": {"f:template": {"f:spec": {
                "f:containers": {"k:{\"name\":\"sidecar\"}": {".": {}, "f:image": {}}}}}}}},
            {"manager": "driftless", "operation": "Apply", "fieldsV1": {"f:spec": {"f:paused": {}}}}
        ]}});
        let paths = managed_paths(&live, &["hpa".into(), "inject".into()]);
        assert_eq!(paths.len(), 3);
        let mut d = json!({"spec": {"replicas": 5, "paused": false, "template": {"spec": {"containers": [
            {"name": "app", "image": "a"}, {"name": "sidecar", "image": "s"}]}}}});
        for p in &paths {
            remove_path(&mut d, p);
        }
        assert_eq!(
            d,
            json!({"spec": {"paused": false, "template": {"spec": {"containers": [
            {"name": "app", "image": "a"}]}}}})
        );
    }

    #[test]
    fn secrets_are_redacted_with_markers_and_scrubbed() {
        let mut live = json!({"apiVersion": "v1", "kind": "Secret", "data": {"same": "c2FtZQ==", "old": "b2xk", "gone": "eA=="}});
        let mut desired = json!({"apiVersion": "v1", "kind": "Secret", "data": {"same": "c2FtZQ==", "old": "bmV3", "added": "eQ=="}});
        redact_pair(Some(&mut live), Some(&mut desired));
        assert_eq!(live["data"], json!({"same": "<redacted>", "old": "<redacted>", "gone": "<redacted>"}));
        assert_eq!(
            desired["data"],
            json!({"same": "<redacted>", "old": "<redacted: changed>", "added": "<redacted: added>"})
        );
        let text = diff(Some(&live), Some(&desired), "x");
        assert!(!text.contains("b2xk") && !text.contains("bmV3"), "{text}");

        let secret = json!({"apiVersion": "v1", "kind": "Secret",
            "data": {"k": "aHVudGVyMg=="}, "stringData": {"p": "s3cr3t-pass"}});
        let msg = "bad value hunter2 and aHVudGVyMg== and s3cr3t-pass and czNjcjN0LXBhc3M=";
        let out = scrub(msg, &secret);
        for leaked in ["hunter2", "aHVudGVyMg==", "s3cr3t-pass", "czNjcjN0LXBhc3M="] {
            assert!(!out.contains(leaked), "{out}");
        }
        assert_eq!(out.matches("<redacted>").count(), 4);
        // Not a Secret: untouched.
        assert_eq!(scrub("hunter2", &json!({"apiVersion": "v1", "kind": "ConfigMap"})), "hunter2");
    }

    #[test]
    fn hash_ignores_key_order() {
        let a = json!({"a": 1, "b": {"c": [1, {"d": 2, "e": 3}]}});
        let b = json!({"b": {"c": [1, {"e": 3, "d": 2}]}, "a": 1});
        assert_eq!(hash(&a), hash(&b));
        assert_ne!(hash(&a), hash(&json!({"a": 2})));
        assert_eq!(hash(&a).len(), 64);
    }

    #[test]
    fn diff_is_unified_yaml() {
        let text =
            diff(Some(&json!({"spec": {"replicas": 1}})), Some(&json!({"spec": {"replicas": 2}})), "d");
        assert!(text.contains("--- live d") && text.contains("+++ desired d"), "{text}");
        assert!(text.contains("-  replicas: 1") && text.contains("+  replicas: 2"), "{text}");
    }
}
