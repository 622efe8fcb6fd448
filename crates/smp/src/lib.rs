//! Strategic merge patch, as `kustomize` applies it to Kubernetes objects.
//!
//! A strategic merge patch is a partial object: maps merge key by key, `null` deletes a field,
//! and lists merge according to the field's patch strategy in the Kubernetes schema: lists of
//! objects with a merge key (`containers` by `name`, container `ports` by `containerPort`, ...)
//! merge item by item, a few lists of scalars (`finalizers`) merge as sets, and every other
//! list is replaced whole. Directives: `$patch: delete` (of the whole object, of a map, or of
//! one list item), `$patch: replace` (of a map or of a whole list), `$patch: merge`; in
//! [`Mode::Server`] also `$deleteFromPrimitiveList/<field>`, `$setElementOrder/<field>` (orders
//! a merged list) and `$retainKeys` (keeps only the listed keys of a map). kustomize (kyaml)
//! knows only `$patch` and copies the other `$` keys into the object as plain fields:
//! [`Mode::Kustomize`] does the same.
//!
//! Where kustomize differs from the API server, this crate follows kustomize (kyaml's merge with
//! new list items prepended): a merged list holds the patch's items first, in the patch's
//! order, then the target's items the patch did not mention, in their order. Custom resources
//! have no schema here, so their lists are replaced whole (as kustomize does without an
//! OpenAPI document for them).
//!
//! The crate is pure (no I/O) so that both WebAssembly plugins and the host can use it.
//! Entry point: [`strategic_merge`].

use serde_json::{Map, Value};

/// How a list merges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListStrategy {
    /// Items are objects identified by this key; merged item by item.
    Keyed(&'static str),
    /// Items are scalars, merged as a set.
    Set,
    /// The patch's list replaces the target's.
    Replace,
}

/// Whose semantics to follow where kustomize and the API server differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// As `kustomize` (kyaml) applies patches: only `$patch` is a directive.
    Kustomize,
    /// As the API server applies `application/strategic-merge-patch+json`: also
    /// `$setElementOrder`, `$retainKeys` and `$deleteFromPrimitiveList`.
    Server,
}

/// What a patch did to its target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The target was merged with the patch.
    Merged,
    /// The patch deletes the whole object (`$patch: delete` at its top level).
    Deleted,
}

/// A strategic merge patch that cannot be applied. `path` is the dotted field path in the
/// patch (`spec.template.spec.containers[1]`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SmpError {
    /// The patch is not a JSON object (a mapping).
    #[error("a strategic merge patch must be a mapping, found {found}")]
    NotAMapping {
        /// What was found.
        found: &'static str,
    },
    /// An unknown `$patch` directive.
    #[error("{path}: unknown `$patch` directive {value:?} (expected merge, replace or delete)")]
    UnknownDirective {
        /// Where.
        path: String,
        /// The directive's value.
        value: String,
    },
    /// A list item lacks the list's merge key.
    #[error("{path}: list item lacks its merge key `{key}`")]
    MissingMergeKey {
        /// Where.
        path: String,
        /// The merge key.
        key: &'static str,
    },
    /// A directive whose value has the wrong type.
    #[error("{path}: `{directive}` must be {expected}")]
    BadDirective {
        /// Where.
        path: String,
        /// The directive.
        directive: String,
        /// What it must be.
        expected: &'static str,
    },
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

/// API groups of the built-in Kubernetes kinds, whose schema (and so whose list merge keys)
/// this crate knows.
const BUILTIN_GROUPS: &[&str] = &[
    "",
    "apps",
    "batch",
    "autoscaling",
    "policy",
    "networking.k8s.io",
    "rbac.authorization.k8s.io",
    "storage.k8s.io",
    "scheduling.k8s.io",
    "coordination.k8s.io",
    "discovery.k8s.io",
    "node.k8s.io",
    "admissionregistration.k8s.io",
    "apiextensions.k8s.io",
    "apiregistration.k8s.io",
    "certificates.k8s.io",
    "events.k8s.io",
    "extensions",
    "flowcontrol.apiserver.k8s.io",
];

/// Whether `apiVersion` belongs to a built-in Kubernetes API group (lists merge by the
/// schema's keys) rather than a custom resource (lists are replaced).
#[must_use]
pub fn is_builtin(api_version: &str) -> bool {
    let group = api_version.rsplit_once('/').map_or("", |(g, _)| g);
    BUILTIN_GROUPS.contains(&group)
}

/// The strategy of the list at `fields` (field names from the object's root; list positions
/// left out). Without a schema (`builtin` false) lists are replaced, except in `metadata`.
#[must_use]
pub fn list_strategy(fields: &[&str], builtin: bool) -> ListStrategy {
    let last = fields.last().copied().unwrap_or_default();
    let parent = if fields.len() >= 2 { fields[fields.len() - 2] } else { "" };
    if fields.first() == Some(&"metadata") {
        return match (fields.len(), last) {
            (2, "finalizers") => ListStrategy::Set,
            (2, "ownerReferences") => ListStrategy::Keyed("uid"),
            _ => ListStrategy::Replace,
        };
    }
    if !builtin {
        return ListStrategy::Replace;
    }
    match last {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "env"
        | "volumes"
        | "imagePullSecrets"
        | "resourceClaims" => ListStrategy::Keyed("name"),
        "ports" if matches!(parent, "containers" | "initContainers" | "ephemeralContainers") => {
            ListStrategy::Keyed("containerPort")
        }
        "ports" if fields == ["spec", "ports"] => ListStrategy::Keyed("port"),
        "volumeMounts" => ListStrategy::Keyed("mountPath"),
        "volumeDevices" => ListStrategy::Keyed("devicePath"),
        "hostAliases" => ListStrategy::Keyed("ip"),
        "conditions" => ListStrategy::Keyed("type"),
        "readinessGates" => ListStrategy::Keyed("conditionType"),
        "topologySpreadConstraints" => ListStrategy::Keyed("topologyKey"),
        "secrets" if fields == ["secrets"] => ListStrategy::Keyed("name"),
        _ => ListStrategy::Replace,
    }
}

/// Apply the strategic merge `patch` to `target` (a whole object; `builtin` as from
/// [`is_builtin`]). On error `target` may be partly patched: callers work on a copy.
///
/// # Errors
/// [`SmpError`] when the patch is not a mapping or a directive is malformed.
pub fn strategic_merge(
    target: &mut Value,
    patch: &Value,
    builtin: bool,
    mode: Mode,
) -> Result<Outcome, SmpError> {
    let Value::Object(pm) = patch else {
        return Err(SmpError::NotAMapping { found: type_name(patch) });
    };
    let mut path = Vec::new();
    let ctx = Ctx { builtin, mode };
    match merge_map(target, pm, &mut path, ctx)? {
        MapOutcome::Delete => Ok(Outcome::Deleted),
        MapOutcome::Keep => Ok(Outcome::Merged),
    }
}

#[derive(Clone, Copy)]
struct Ctx {
    builtin: bool,
    mode: Mode,
}

/// Whether `key` is a directive in `mode` (rather than a field to copy).
fn is_directive(key: &str, mode: Mode) -> bool {
    key == "$patch" || (mode == Mode::Server && key.starts_with('$'))
}

enum MapOutcome {
    Keep,
    Delete,
}

fn show(path: &[String]) -> String {
    if path.is_empty() { "(top level)".to_owned() } else { path.join(".") }
}

/// The patch without its directives, as a value to store.
fn strip(value: &Value, mode: Mode) -> Value {
    match value {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| !is_directive(k, mode))
                .map(|(k, v)| (k.clone(), strip(v, mode)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(
            a.iter()
                .filter(|i| !matches!(i.get("$patch").and_then(Value::as_str), Some("delete" | "replace")))
                .map(|v| strip(v, mode))
                .collect(),
        ),
        other => other.clone(),
    }
}

fn directive<'a>(map: &'a Map<String, Value>, path: &[String]) -> Result<Option<&'a str>, SmpError> {
    match map.get("$patch") {
        None => Ok(None),
        Some(Value::String(s)) if matches!(s.as_str(), "merge" | "replace" | "delete") => Ok(Some(s)),
        Some(Value::String(s)) => Err(SmpError::UnknownDirective { path: show(path), value: s.clone() }),
        Some(other) => Err(SmpError::UnknownDirective { path: show(path), value: other.to_string() }),
    }
}

fn merge_map(
    target: &mut Value,
    patch: &Map<String, Value>,
    path: &mut Vec<String>,
    ctx: Ctx,
) -> Result<MapOutcome, SmpError> {
    let mode = ctx.mode;
    match directive(patch, path)? {
        Some("delete") => return Ok(MapOutcome::Delete),
        Some("replace") => {
            *target = strip(&Value::Object(patch.clone()), mode);
            return Ok(MapOutcome::Keep);
        }
        _ => {}
    }
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let Value::Object(tm) = target else { return Ok(MapOutcome::Keep) };
    for (key, pv) in patch {
        if key == "$patch" {
            continue;
        }
        if mode == Mode::Server
            && let Some(field) = key.strip_prefix("$deleteFromPrimitiveList/")
        {
            let Value::Array(remove) = pv else {
                return Err(SmpError::BadDirective {
                    path: show(path),
                    directive: key.clone(),
                    expected: "a list",
                });
            };
            if let Some(Value::Array(list)) = tm.get_mut(field) {
                list.retain(|x| !remove.contains(x));
            }
            continue;
        }
        if is_directive(key, mode) {
            // `$setElementOrder/...` and `$retainKeys` are handled with their fields.
            continue;
        }
        path.push(key.clone());
        match pv {
            Value::Null => {
                tm.remove(key);
            }
            Value::Object(inner) => {
                let entry = tm.entry(key.clone()).or_insert(Value::Null);
                if let MapOutcome::Delete = merge_map(entry, inner, path, ctx)? {
                    tm.remove(key);
                }
            }
            Value::Array(items) => {
                // Field names only: `containers[0]` is the field `containers`.
                let fields: Vec<&str> = path.iter().map(|p| p.split('[').next().unwrap_or(p)).collect();
                let strategy = list_strategy(&fields, ctx.builtin);
                let current = match tm.remove(key) {
                    Some(Value::Array(list)) => list,
                    _ => Vec::new(),
                };
                let order = if mode == Mode::Server {
                    patch.get(&format!("$setElementOrder/{key}")).and_then(Value::as_array)
                } else {
                    None
                };
                let merged = merge_list(current, items, strategy, order, path, ctx)?;
                tm.insert(key.clone(), Value::Array(merged));
            }
            scalar => {
                tm.insert(key.clone(), scalar.clone());
            }
        }
        path.pop();
    }
    if let Some(retain) = patch.get("$retainKeys").filter(|_| mode == Mode::Server) {
        let Value::Array(keys) = retain else {
            return Err(SmpError::BadDirective {
                path: show(path),
                directive: "$retainKeys".into(),
                expected: "a list of field names",
            });
        };
        tm.retain(|k, _| keys.iter().any(|x| x.as_str() == Some(k)));
    }
    Ok(MapOutcome::Keep)
}

fn merge_list(
    current: Vec<Value>,
    items: &[Value],
    strategy: ListStrategy,
    order: Option<&Vec<Value>>,
    path: &mut Vec<String>,
    ctx: Ctx,
) -> Result<Vec<Value>, SmpError> {
    let mode = ctx.mode;
    let replace = items.iter().any(|i| i.get("$patch").and_then(Value::as_str) == Some("replace"));
    if replace || strategy == ListStrategy::Replace {
        return Ok(items
            .iter()
            .filter(|i| !matches!(i.get("$patch").and_then(Value::as_str), Some("replace" | "delete")))
            .map(|v| strip(v, mode))
            .collect());
    }
    let mut merged = match strategy {
        ListStrategy::Set => {
            let mut out: Vec<Value> = Vec::with_capacity(items.len() + current.len());
            for item in items.iter().chain(current.iter()) {
                if !out.contains(item) {
                    out.push(item.clone());
                }
            }
            out
        }
        ListStrategy::Keyed(key) => {
            let mut current: Vec<Option<Value>> = current.into_iter().map(Some).collect();
            let mut out = Vec::with_capacity(items.len() + current.len());
            for (i, item) in items.iter().enumerate() {
                let last = path.pop().unwrap_or_default();
                path.push(format!("{last}[{i}]"));
                let Some(id) = item.get(key) else {
                    return Err(SmpError::MissingMergeKey { path: show(path), key });
                };
                let found = current.iter().position(|c| c.as_ref().and_then(|c| c.get(key)) == Some(id));
                let existing = found.and_then(|p| current[p].take());
                let item_map = item.as_object();
                let deleted =
                    item_map.is_some_and(|m| m.get("$patch").and_then(Value::as_str) == Some("delete"));
                if !deleted {
                    match (existing, item_map) {
                        (Some(mut existing), Some(m)) => {
                            if let MapOutcome::Keep = merge_map(&mut existing, m, path, ctx)? {
                                out.push(existing);
                            }
                        }
                        _ => out.push(strip(item, mode)),
                    }
                }
                path.pop();
                path.push(last);
            }
            out.extend(current.into_iter().flatten());
            out
        }
        ListStrategy::Replace => Vec::new(),
    };
    if let Some(order) = order {
        let position = |v: &Value| {
            order.iter().position(|o| match strategy {
                ListStrategy::Keyed(key) => o.get(key).is_some() && o.get(key) == v.get(key),
                _ => o == v,
            })
        };
        merged.sort_by_key(|v| position(v).unwrap_or(usize::MAX));
    }
    Ok(merged)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    fn merged(mut target: Value, patch: Value, builtin: bool) -> Value {
        assert_eq!(strategic_merge(&mut target, &patch, builtin, Mode::Kustomize).unwrap(), Outcome::Merged);
        target
    }

    fn pod(containers: Value) -> Value {
        json!({"spec": {"template": {"spec": {"containers": containers}}}})
    }

    #[test]
    fn keyed_lists_put_patch_items_first_then_the_rest() {
        // The order `kubectl kustomize` v5.5 gives.
        let target = pod(json!([{"name": "a", "image": "a"}, {"name": "b", "image": "b"}, {"name": "c"}]));
        let patch = pod(json!([{"name": "c", "image": "c2"}, {"name": "x", "image": "x"}]));
        assert_eq!(
            merged(target, patch, true),
            pod(json!([{"name": "c", "image": "c2"}, {"name": "x", "image": "x"},
                       {"name": "a", "image": "a"}, {"name": "b", "image": "b"}]))
        );
    }

    #[test]
    fn nested_keyed_lists_and_sets() {
        let target = json!({"metadata": {"finalizers": ["a", "b"]},
            "spec": {"template": {"spec": {"containers": [{"name": "a", "ports": [{"containerPort": 80}]}]}}}});
        let patch = json!({"metadata": {"finalizers": ["c", "a"]},
            "spec": {"template": {"spec": {"containers": [{"name": "a", "ports": [{"containerPort": 81}]}]}}}});
        assert_eq!(
            merged(target, patch, true),
            json!({"metadata": {"finalizers": ["c", "a", "b"]},
                "spec": {"template": {"spec": {"containers": [{"name": "a",
                    "ports": [{"containerPort": 81}, {"containerPort": 80}]}]}}}})
        );
    }

    #[test]
    fn directives_delete_and_replace() {
        let target = json!({"spec": {"volumes": [{"name": "v1"}, {"name": "v2"}], "m": {"a": 1, "b": 2}}});
        let patch = json!({"spec": {"volumes": [{"name": "v1", "$patch": "delete"}],
                                    "m": {"$patch": "replace", "c": 3}}});
        assert_eq!(
            merged(target.clone(), patch, true),
            json!({"spec": {"volumes": [{"name": "v2"}], "m": {"c": 3}}})
        );

        let patch =
            json!({"spec": {"volumes": [{"$patch": "replace"}, {"name": "v9"}], "m": {"$patch": "delete"}}});
        assert_eq!(merged(target.clone(), patch, true), json!({"spec": {"volumes": [{"name": "v9"}]}}));

        let mut t = target.clone();
        assert_eq!(
            strategic_merge(&mut t, &json!({"$patch": "delete"}), true, Mode::Kustomize).unwrap(),
            Outcome::Deleted
        );
        let err = strategic_merge(&mut t, &json!({"spec": {"m": {"$patch": "drop"}}}), true, Mode::Kustomize)
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "spec.m: unknown `$patch` directive \"drop\" (expected merge, replace or delete)"
        );
    }

    #[test]
    fn custom_resources_replace_lists_and_null_deletes() {
        let target =
            json!({"spec": {"items": [{"name": "a", "v": 1}, {"name": "b"}], "m": {"a": 1, "b": 2}}});
        let patch = json!({"spec": {"items": [{"name": "b", "v": 2}], "m": {"a": null, "c": 3}}});
        assert_eq!(
            merged(target, patch, false),
            json!({"spec": {"items": [{"name": "b", "v": 2}], "m": {"b": 2, "c": 3}}})
        );
    }

    #[test]
    fn errors_name_the_place() {
        let mut t = pod(json!([{"name": "a"}]));
        let err = strategic_merge(&mut t, &pod(json!([{"image": "x"}])), true, Mode::Kustomize).unwrap_err();
        assert_eq!(err.to_string(), "spec.template.spec.containers[0]: list item lacks its merge key `name`");
        let err = strategic_merge(&mut t, &json!([1]), true, Mode::Kustomize).unwrap_err();
        assert_eq!(err, SmpError::NotAMapping { found: "a list" });
    }

    #[test]
    fn element_order_primitive_deletes_and_retain_keys() {
        let target = json!({"metadata": {"finalizers": ["a", "b", "c"]},
            "spec": {"containers": [{"name": "a"}, {"name": "b"}], "strategy": {"type": "X", "rollingUpdate": {}}}});
        let patch = json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["b"]},
            "spec": {"$setElementOrder/containers": [{"name": "b"}, {"name": "a"}], "containers": [{"name": "a", "image": "i"}],
                     "strategy": {"$retainKeys": ["type"], "type": "Recreate"}}});
        let mut server = target.clone();
        assert_eq!(strategic_merge(&mut server, &patch, true, Mode::Server).unwrap(), Outcome::Merged);
        assert_eq!(
            server,
            json!({"metadata": {"finalizers": ["a", "c"]},
                "spec": {"containers": [{"name": "b"}, {"name": "a", "image": "i"}], "strategy": {"type": "Recreate"}}})
        );
        // kustomize copies these keys as fields (checked with kubectl kustomize v5.5).
        let kustomized = merged(target, patch, true);
        assert_eq!(kustomized["metadata"]["$deleteFromPrimitiveList/finalizers"], json!(["b"]));
        assert_eq!(kustomized["metadata"]["finalizers"], json!(["a", "b", "c"]));
        assert_eq!(kustomized["spec"]["containers"], json!([{"name": "a", "image": "i"}, {"name": "b"}]));
        assert_eq!(kustomized["spec"]["strategy"]["$retainKeys"], json!(["type"]));
        assert!(is_builtin("apps/v1") && is_builtin("v1") && !is_builtin("example.com/v1"));
    }
}
