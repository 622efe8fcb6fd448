//! Field ownership for server-side apply: the fields an object sets (as `fieldsV1` paths),
//! the `managedFields` entries, apply merges with conflicts, and update bookkeeping.

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

use crate::merge::{ListKind, list_kind};

/// One path in `fieldsV1` notation: `f:spec`, `k:{"name":"a"}`, `v:"x"`, `.`.
pub type FieldPath = Vec<String>;
/// A set of field paths.
pub type FieldSet = BTreeSet<FieldPath>;

/// What is left out of field sets: identity and server-set metadata.
const SKIP_META: [&str; 8] = [
    "name",
    "namespace",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "managedFields",
    "selfLink",
];

/// Which part of an object a field set covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// The whole object (no status subresource).
    All,
    /// Everything but `status` (the main resource of a type with a status subresource).
    NoStatus,
    /// Only `status` (the status subresource).
    StatusOnly,
}

fn field_names(path: &[String]) -> Vec<&str> {
    path.iter().filter_map(|s| s.strip_prefix("f:")).collect()
}

/// The fields `value` sets.
#[must_use]
pub fn fields_of(value: &Value, custom: bool, scope: Scope) -> FieldSet {
    let mut out = FieldSet::new();
    let Value::Object(map) = value else { return out };
    for (k, v) in map {
        if k == "apiVersion" || k == "kind" {
            continue;
        }
        let is_status = k == "status";
        match scope {
            Scope::NoStatus if is_status => continue,
            Scope::StatusOnly if !is_status => continue,
            _ => {}
        }
        let mut path = vec![format!("f:{k}")];
        if k == "metadata" {
            if let Value::Object(meta) = v {
                for (mk, mv) in meta {
                    if SKIP_META.contains(&mk.as_str())
                        || mk == "deletionTimestamp"
                        || mk == "deletionGracePeriodSeconds"
                    {
                        continue;
                    }
                    path.push(format!("f:{mk}"));
                    collect(mv, &mut path, &mut out, custom);
                    path.pop();
                }
            }
            continue;
        }
        collect(v, &mut path, &mut out, custom);
    }
    out
}

fn key_segment(item: &Value, key: &str) -> Option<String> {
    let id = item.get(key)?;
    let mut m = Map::new();
    m.insert(key.to_owned(), id.clone());
    Some(format!("k:{}", Value::Object(m)))
}

fn collect(value: &Value, path: &mut FieldPath, out: &mut FieldSet, custom: bool) {
    match value {
        Value::Object(m) if !m.is_empty() => {
            for (k, v) in m {
                path.push(format!("f:{k}"));
                collect(v, path, out, custom);
                path.pop();
            }
        }
        Value::Array(items) if !items.is_empty() => match list_kind(&field_names(path), custom) {
            ListKind::Keyed(key) if items.iter().all(|i| i.get(key).is_some()) => {
                for item in items {
                    let Some(seg) = key_segment(item, key) else { continue };
                    path.push(seg);
                    let mut marker = path.clone();
                    marker.push(".".into());
                    out.insert(marker);
                    collect(item, path, out, custom);
                    path.pop();
                }
            }
            ListKind::Set => {
                for item in items {
                    let mut p = path.clone();
                    p.push(format!("v:{item}"));
                    out.insert(p);
                }
            }
            _ => {
                out.insert(path.clone());
            }
        },
        _ => {
            out.insert(path.clone());
        }
    }
}

/// A set as a `fieldsV1` object.
#[must_use]
pub fn to_fields_v1(set: &FieldSet) -> Value {
    let mut root = Map::new();
    for path in set {
        let mut cur = &mut root;
        for seg in path {
            let next = cur.entry(seg.clone()).or_insert_with(|| Value::Object(Map::new()));
            let Value::Object(m) = next else { break };
            cur = m;
        }
    }
    Value::Object(root)
}

/// A `fieldsV1` object as a set.
#[must_use]
pub fn from_fields_v1(value: &Value) -> FieldSet {
    fn walk(v: &Value, path: &mut FieldPath, out: &mut FieldSet) {
        match v {
            Value::Object(m) if !m.is_empty() => {
                for (k, child) in m {
                    path.push(k.clone());
                    walk(child, path, out);
                    path.pop();
                }
            }
            _ if !path.is_empty() => {
                out.insert(path.clone());
            }
            _ => {}
        }
    }
    let mut out = FieldSet::new();
    walk(value, &mut Vec::new(), &mut out);
    out
}

fn find_item(items: &[Value], seg: &str) -> Option<usize> {
    if let Some(k) = seg.strip_prefix("k:") {
        let key: Map<String, Value> = serde_json::from_str(k).ok()?;
        items.iter().position(|i| key.iter().all(|(kk, kv)| i.get(kk) == Some(kv)))
    } else if let Some(v) = seg.strip_prefix("v:") {
        let want: Value = serde_json::from_str(v).ok()?;
        items.iter().position(|i| *i == want)
    } else {
        None
    }
}

/// The value at a field path.
#[must_use]
pub fn value_at<'a>(value: &'a Value, path: &[String]) -> Option<&'a Value> {
    let mut cur = value;
    for seg in path {
        if seg == "." {
            continue;
        }
        cur = if let Some(f) = seg.strip_prefix("f:") {
            cur.get(f)?
        } else {
            let items = cur.as_array()?;
            &items[find_item(items, seg)?]
        };
    }
    Some(cur)
}

fn value_at_mut<'a>(value: &'a mut Value, path: &[String]) -> Option<&'a mut Value> {
    let mut cur = value;
    for seg in path {
        if seg == "." {
            continue;
        }
        cur = if let Some(f) = seg.strip_prefix("f:") {
            cur.get_mut(f)?
        } else {
            let items = cur.as_array_mut()?;
            let i = find_item(items, seg)?;
            &mut items[i]
        };
    }
    Some(cur)
}

/// Remove the field at a path (a `.` marker removes the list item it marks).
pub fn remove_at(value: &mut Value, path: &[String]) {
    let path = if path.last().is_some_and(|s| s == ".") { &path[..path.len() - 1] } else { path };
    let Some((last, parent_path)) = path.split_last() else { return };
    let Some(parent) = value_at_mut(value, parent_path) else { return };
    if let Some(f) = last.strip_prefix("f:") {
        if let Value::Object(m) = parent {
            m.remove(f);
        }
    } else if let Value::Array(items) = parent
        && let Some(i) = find_item(items, last)
    {
        items.remove(i);
    }
}

/// A path as people read it: `.spec.template.spec.containers[name="web"].image`.
#[must_use]
pub fn display_path(path: &[String]) -> String {
    let mut s = String::new();
    for seg in path {
        if let Some(f) = seg.strip_prefix("f:") {
            s.push('.');
            s.push_str(f);
        } else if let Some(k) = seg.strip_prefix("k:") {
            let key: Map<String, Value> = serde_json::from_str(k).unwrap_or_default();
            let inner: Vec<String> = key.iter().map(|(k, v)| format!("{k}={v}")).collect();
            s.push_str(&format!("[{}]", inner.join(",")));
        } else if let Some(v) = seg.strip_prefix("v:") {
            s.push_str(&format!("[{v}]"));
        }
    }
    s
}

/// Merge an applied configuration into a live object (maps recursively, keyed lists by
/// key, set lists as sets, everything else replaced).
pub fn merge_applied(live: &mut Value, config: &Value, path: &mut Vec<String>, custom: bool) {
    match (live, config) {
        (Value::Object(lm), Value::Object(cm)) => {
            for (k, cv) in cm {
                path.push(k.clone());
                match lm.get_mut(k) {
                    Some(lv) => merge_applied(lv, cv, path, custom),
                    None => {
                        lm.insert(k.clone(), cv.clone());
                    }
                }
                path.pop();
            }
        }
        (live @ Value::Array(_), Value::Array(citems)) => {
            let fields: Vec<&str> = path.iter().map(String::as_str).collect();
            let Value::Array(litems) = live else { return };
            match list_kind(&fields, custom) {
                ListKind::Keyed(key) if citems.iter().all(|i| i.get(key).is_some()) => {
                    for ci in citems {
                        match litems.iter().position(|l| l.get(key) == ci.get(key)) {
                            Some(p) => merge_applied(&mut litems[p], ci, path, custom),
                            None => litems.push(ci.clone()),
                        }
                    }
                }
                ListKind::Set => {
                    for ci in citems {
                        if !litems.contains(ci) {
                            litems.push(ci.clone());
                        }
                    }
                }
                _ => *live = Value::Array(citems.clone()),
            }
        }
        (live, config) => *live = config.clone(),
    }
}

/// One `managedFields` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// The field manager.
    pub manager: String,
    /// `Apply` or `Update`.
    pub operation: String,
    /// The API version the fields were set through.
    pub api_version: String,
    /// When the entry last changed.
    pub time: String,
    /// `status` or `scale` for subresource writes.
    pub subresource: Option<String>,
    /// The fields owned.
    pub fields: FieldSet,
}

/// Read the `managedFields` of an object.
#[must_use]
pub fn read_entries(object: &Value) -> Vec<Entry> {
    let Some(list) = object.pointer("/metadata/managedFields").and_then(Value::as_array) else {
        return Vec::new();
    };
    list.iter()
        .filter_map(|e| {
            let s = |k: &str| e.get(k).and_then(Value::as_str).map(str::to_owned);
            Some(Entry {
                manager: s("manager")?,
                operation: s("operation").unwrap_or_else(|| "Update".into()),
                api_version: s("apiVersion").unwrap_or_default(),
                time: s("time").unwrap_or_default(),
                subresource: s("subresource").filter(|x| !x.is_empty()),
                fields: e.get("fieldsV1").map(from_fields_v1).unwrap_or_default(),
            })
        })
        .collect()
}

/// Write the `managedFields` of an object (entries with no fields are dropped).
pub fn write_entries(object: &mut Value, entries: &[Entry]) {
    let list: Vec<Value> = entries
        .iter()
        .filter(|e| !e.fields.is_empty())
        .map(|e| {
            let mut v = json!({
                "manager": e.manager, "operation": e.operation, "apiVersion": e.api_version,
                "time": e.time, "fieldsType": "FieldsV1", "fieldsV1": to_fields_v1(&e.fields),
            });
            if let Some(s) = &e.subresource {
                v["subresource"] = json!(s);
            }
            v
        })
        .collect();
    if let Some(Value::Object(meta)) = object.get_mut("metadata") {
        if list.is_empty() {
            meta.remove("managedFields");
        } else {
            meta.insert("managedFields".into(), Value::Array(list));
        }
    }
}

/// A field another manager owns with a different value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    /// The other manager.
    pub manager: String,
    /// The field, as [`display_path`] writes it.
    pub field: String,
}

/// What an apply or update is.
#[derive(Debug, Clone)]
pub struct Writer<'a> {
    /// The field manager.
    pub manager: &'a str,
    /// The API version used.
    pub api_version: &'a str,
    /// The subresource written, if any.
    pub subresource: Option<&'a str>,
    /// Whether the type is a custom resource (lists merge atomically).
    pub custom: bool,
    /// The part of the object this write covers.
    pub scope: Scope,
    /// The time to record.
    pub time: &'a str,
}

fn same_entry(e: &Entry, manager: &str, operation: &str, sub: Option<&str>) -> bool {
    e.manager == manager && e.operation == operation && e.subresource.as_deref() == sub
}

/// Server-side apply `config` onto `live` (or onto nothing, to create). Returns the new
/// object, or the conflicts when `force` is false and other managers own fields the config
/// sets to other values.
///
/// # Errors
/// The list of conflicts.
pub fn apply(
    live: Option<&Value>,
    config: &Value,
    w: &Writer<'_>,
    force: bool,
) -> Result<Value, Vec<Conflict>> {
    let new_set = fields_of(config, w.custom, w.scope);
    let mut entries = live.map(read_entries).unwrap_or_default();
    let mut object = live.cloned().unwrap_or_else(|| json!({}));
    let mine = |e: &Entry| same_entry(e, w.manager, "Apply", w.subresource);

    let mut conflicts = Vec::new();
    let mut taken: Vec<(usize, FieldPath)> = Vec::new();
    if let Some(live) = live {
        for (i, e) in entries.iter().enumerate() {
            if mine(e) {
                continue;
            }
            for p in e.fields.intersection(&new_set) {
                if p.last().is_some_and(|s| s == ".") {
                    continue;
                }
                if let Some(lv) = value_at(live, p)
                    && value_at(config, p) != Some(lv)
                {
                    conflicts.push(Conflict { manager: e.manager.clone(), field: display_path(p) });
                    taken.push((i, p.clone()));
                }
            }
        }
    }
    if !conflicts.is_empty() && !force {
        return Err(conflicts);
    }
    for (i, p) in taken {
        entries[i].fields.remove(&p);
    }

    // Fields this manager applied before and no longer applies go, unless someone else
    // also owns them.
    let old: FieldSet = entries.iter().filter(|e| mine(e)).flat_map(|e| e.fields.iter().cloned()).collect();
    let others: Vec<&FieldSet> = entries.iter().filter(|e| !mine(e)).map(|e| &e.fields).collect();
    let mut gone: Vec<&FieldPath> = old.difference(&new_set).collect();
    // Deepest first, so a removed item does not shift the paths of its fields.
    gone.sort_by_key(|p| std::cmp::Reverse(p.len()));
    for p in gone {
        let owned_elsewhere = if p.last().is_some_and(|s| s == ".") {
            let item = &p[..p.len() - 1];
            others.iter().any(|s| s.iter().any(|q| q.starts_with(item)))
        } else {
            others.iter().any(|s| s.contains(p))
        };
        if !owned_elsewhere {
            remove_at(&mut object, p);
        }
    }

    merge_applied(&mut object, config, &mut Vec::new(), w.custom);

    entries.retain(|e| !mine(e));
    entries.push(Entry {
        manager: w.manager.to_owned(),
        operation: "Apply".into(),
        api_version: w.api_version.to_owned(),
        time: w.time.to_owned(),
        subresource: w.subresource.map(str::to_owned),
        fields: new_set,
    });
    write_entries(&mut object, &entries);
    Ok(object)
}

/// Record a non-apply write (create, update, patch): the fields whose values changed now
/// belong to `w.manager`; fields that no longer exist belong to no one.
pub fn record_update(old: Option<&Value>, new: &mut Value, w: &Writer<'_>) {
    let mut entries = old.map(read_entries).unwrap_or_default();
    let now_fields = fields_of(new, w.custom, Scope::All);
    let changed: FieldSet = fields_of(new, w.custom, w.scope)
        .into_iter()
        .filter(|p| {
            let before = old.and_then(|o| value_at(o, p));
            if p.last().is_some_and(|s| s == ".") { before.is_none() } else { before != value_at(new, p) }
        })
        .collect();
    for e in &mut entries {
        e.fields.retain(|p| now_fields.contains(p) && !changed.contains(p));
    }
    if !changed.is_empty() {
        let sub = w.subresource;
        match entries.iter_mut().find(|e| same_entry(e, w.manager, "Update", sub)) {
            Some(e) => {
                e.fields.extend(changed);
                w.time.clone_into(&mut e.time);
            }
            None => entries.push(Entry {
                manager: w.manager.to_owned(),
                operation: "Update".into(),
                api_version: w.api_version.to_owned(),
                time: w.time.to_owned(),
                subresource: sub.map(str::to_owned),
                fields: changed,
            }),
        }
    }
    write_entries(new, &entries);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn writer(manager: &str) -> Writer<'_> {
        Writer {
            manager,
            api_version: "apps/v1",
            subresource: None,
            custom: false,
            scope: Scope::NoStatus,
            time: "2026-01-01T00:00:00Z",
        }
    }

    fn deploy(replicas: i64, containers: Value) -> Value {
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d", "labels": {"a": "1"}},
               "spec": {"replicas": replicas, "template": {"spec": {"containers": containers}}}})
    }

    #[test]
    fn fields_v1_round_trip() {
        let d = deploy(1, json!([{"name": "web", "image": "x"}]));
        let set = fields_of(&d, false, Scope::All);
        assert!(set.contains(&vec!["f:spec".to_owned(), "f:replicas".to_owned()]));
        let item: FieldPath =
            ["f:spec", "f:template", "f:spec", "f:containers", "k:{\"name\":\"web\"}", "f:image"]
                .iter()
                .map(|s| (*s).to_owned())
                .collect();
        assert!(set.contains(&item));
        assert_eq!(value_at(&d, &item), Some(&json!("x")));
        assert_eq!(from_fields_v1(&to_fields_v1(&set)), set);
    }

    #[test]
    fn apply_conflicts_then_force_takes_ownership() {
        let first = apply(None, &deploy(1, json!([{"name": "web", "image": "x"}])), &writer("a"), false);
        let Ok(live) = first else { panic!("first apply failed") };
        let second =
            apply(Some(&live), &deploy(3, json!([{"name": "web", "image": "x"}])), &writer("b"), false);
        let Err(conflicts) = second else { panic!("expected a conflict") };
        assert_eq!(conflicts, vec![Conflict { manager: "a".into(), field: ".spec.replicas".into() }]);
        let forced =
            apply(Some(&live), &deploy(3, json!([{"name": "web", "image": "x"}])), &writer("b"), true);
        let Ok(forced) = forced else { panic!("forced apply failed") };
        assert_eq!(forced.pointer("/spec/replicas"), Some(&json!(3)));
        let entries = read_entries(&forced);
        let a = entries.iter().find(|e| e.manager == "a").map(|e| e.fields.clone()).unwrap_or_default();
        assert!(!a.contains(&vec!["f:spec".to_owned(), "f:replicas".to_owned()]));
    }

    #[test]
    fn apply_removes_fields_no_longer_applied() {
        let Ok(live) = apply(
            None,
            &deploy(1, json!([{"name": "web", "image": "x"}, {"name": "side", "image": "y"}])),
            &writer("a"),
            false,
        ) else {
            panic!("apply failed")
        };
        let mut config = deploy(1, json!([{"name": "web", "image": "x"}]));
        if let Some(m) = config.pointer_mut("/metadata").and_then(Value::as_object_mut) {
            m.remove("labels");
        }
        let Ok(after) = apply(Some(&live), &config, &writer("a"), false) else { panic!("apply failed") };
        assert_eq!(
            after.pointer("/spec/template/spec/containers"),
            Some(&json!([{"name": "web", "image": "x"}]))
        );
        assert_eq!(after.pointer("/metadata/labels/a"), None);
    }
}
