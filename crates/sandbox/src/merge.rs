//! Strategic merge patch for the built-in types: the list merge keys Kubernetes declares
//! (`containers` by `name`, `ports` by `containerPort`, ...) and the `$patch` directives.

use serde_json::{Map, Value};

/// How a list at some field path merges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListKind {
    /// Items are objects identified by this key.
    Keyed(&'static str),
    /// Items are scalars, merged as a set.
    Set,
    /// The list is replaced whole.
    Atomic,
}

/// The merge strategy of the list at `fields` (field names from the object root, list keys
/// left out), for built-in types. `custom` types merge lists atomically, except metadata.
#[must_use]
pub fn list_kind(fields: &[&str], custom: bool) -> ListKind {
    let last = fields.last().copied().unwrap_or_default();
    let parent = if fields.len() >= 2 { fields[fields.len() - 2] } else { "" };
    if fields.first() == Some(&"metadata") {
        return match last {
            "finalizers" => ListKind::Set,
            "ownerReferences" => ListKind::Keyed("uid"),
            _ => ListKind::Atomic,
        };
    }
    if custom {
        return ListKind::Atomic;
    }
    match last {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "env"
        | "volumes"
        | "imagePullSecrets"
        | "resourceClaims" => ListKind::Keyed("name"),
        "ports" if matches!(parent, "containers" | "initContainers" | "ephemeralContainers") => {
            ListKind::Keyed("containerPort")
        }
        "ports" if fields == ["spec", "ports"] => ListKind::Keyed("port"),
        "volumeMounts" => ListKind::Keyed("mountPath"),
        "volumeDevices" => ListKind::Keyed("devicePath"),
        "hostAliases" => ListKind::Keyed("ip"),
        "conditions" => ListKind::Keyed("type"),
        "topologySpreadConstraints" => ListKind::Keyed("topologyKey"),
        "secrets" if fields == ["secrets"] => ListKind::Keyed("name"),
        _ => ListKind::Atomic,
    }
}

/// A strategic merge patch that cannot be applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid strategic merge patch: {0}")]
pub struct MergeError(pub String);

fn strip_directives(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| !k.starts_with('$'))
                .map(|(k, v)| (k.clone(), strip_directives(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(strip_directives).collect()),
        other => other.clone(),
    }
}

/// Apply a strategic merge patch to `target`.
///
/// # Errors
/// [`MergeError`] when the patch is not an object or a directive is malformed.
pub fn strategic_merge(target: &mut Value, patch: &Value, custom: bool) -> Result<(), MergeError> {
    if !patch.is_object() {
        return Err(MergeError("the patch must be a JSON object".into()));
    }
    merge_map(target, patch, &mut Vec::new(), custom)
}

fn merge_map(
    target: &mut Value,
    patch: &Value,
    path: &mut Vec<String>,
    custom: bool,
) -> Result<(), MergeError> {
    let Value::Object(pm) = patch else {
        *target = patch.clone();
        return Ok(());
    };
    match pm.get("$patch").and_then(Value::as_str) {
        Some("replace") => {
            *target = strip_directives(patch);
            return Ok(());
        }
        Some("delete") => {
            *target = Value::Object(Map::new());
            return Ok(());
        }
        Some(other) if other != "merge" => {
            return Err(MergeError(format!("unknown $patch directive {other:?}")));
        }
        _ => {}
    }
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let Value::Object(tm) = target else { return Ok(()) };
    for (key, pv) in pm {
        if let Some(field) = key.strip_prefix("$deleteFromPrimitiveList/") {
            if let (Some(Value::Array(list)), Some(remove)) = (tm.get_mut(field), pv.as_array()) {
                list.retain(|x| !remove.contains(x));
            }
            continue;
        }
        if key.starts_with('$') {
            // `$setElementOrder/...` and `$retainKeys` only affect order and pruning of
            // fields the patch also sets; they are accepted and not enforced.
            continue;
        }
        if pv.is_null() {
            tm.remove(key);
            continue;
        }
        path.push(key.clone());
        match pv {
            Value::Object(_) => {
                let entry = tm.entry(key.clone()).or_insert(Value::Null);
                merge_map(entry, pv, path, custom)?;
            }
            Value::Array(items) => {
                let fields: Vec<&str> = path.iter().map(String::as_str).collect();
                let kind = list_kind(&fields, custom);
                let current = tm.get(key).and_then(Value::as_array).cloned();
                let merged = merge_list(current, items, kind, path, custom)?;
                tm.insert(key.clone(), Value::Array(merged));
            }
            _ => {
                tm.insert(key.clone(), pv.clone());
            }
        }
        path.pop();
    }
    Ok(())
}

fn merge_list(
    current: Option<Vec<Value>>,
    items: &[Value],
    kind: ListKind,
    path: &mut Vec<String>,
    custom: bool,
) -> Result<Vec<Value>, MergeError> {
    let replace = items.iter().any(|i| i.get("$patch").and_then(Value::as_str) == Some("replace"));
    if replace {
        return Ok(items.iter().filter(|i| i.get("$patch").is_none()).map(strip_directives).collect());
    }
    let mut out = current.unwrap_or_default();
    match kind {
        ListKind::Atomic => Ok(items.iter().map(strip_directives).collect()),
        ListKind::Set => {
            for i in items {
                if !out.contains(i) {
                    out.push(i.clone());
                }
            }
            Ok(out)
        }
        ListKind::Keyed(k) => {
            for item in items {
                let Some(id) = item.get(k) else {
                    return Err(MergeError(format!(
                        "list item at {} lacks its merge key {k:?}",
                        path.join(".")
                    )));
                };
                let pos = out.iter().position(|o| o.get(k) == Some(id));
                if item.get("$patch").and_then(Value::as_str) == Some("delete") {
                    if let Some(p) = pos {
                        out.remove(p);
                    }
                    continue;
                }
                match pos {
                    Some(p) => merge_map(&mut out[p], item, path, custom)?,
                    None => out.push(strip_directives(item)),
                }
            }
            Ok(out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn containers_merge_by_name_and_delete() {
        let mut d = json!({"spec": {"template": {"spec": {"containers": [
            {"name": "a", "image": "a:1", "ports": [{"containerPort": 80}]},
            {"name": "b", "image": "b:1"}]}}}});
        let p = json!({"spec": {"template": {"spec": {"containers": [
            {"name": "a", "image": "a:2", "ports": [{"containerPort": 443}]},
            {"name": "b", "$patch": "delete"}],
            "$setElementOrder/containers": [{"name": "a"}]}}}});
        assert!(strategic_merge(&mut d, &p, false).is_ok());
        assert_eq!(
            d,
            json!({"spec": {"template": {"spec": {"containers": [
                {"name": "a", "image": "a:2", "ports": [{"containerPort": 80}, {"containerPort": 443}]}]}}}})
        );
    }

    #[test]
    fn atomic_lists_replace_and_null_deletes() {
        let mut d = json!({"spec": {"args": ["a"], "x": 1}, "metadata": {"finalizers": ["f1"]}});
        let p = json!({"spec": {"args": ["b"], "x": null}, "metadata": {"finalizers": ["f2"]}});
        assert!(strategic_merge(&mut d, &p, false).is_ok());
        assert_eq!(d, json!({"spec": {"args": ["b"]}, "metadata": {"finalizers": ["f1", "f2"]}}));
        assert!(strategic_merge(&mut d, &json!([1]), false).is_err());
    }
}
