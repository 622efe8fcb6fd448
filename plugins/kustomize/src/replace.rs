//! `replacements` (copy a field of one object into fields of others) and the legacy `vars`
//! (`$(NAME)` in container commands, args and env values, resolved at the end of the build).

use serde_json::{Map, Value};

use crate::error::{Error, field};
use crate::fs::{Entry, Fs, restricted_file};
use crate::kustomization::{FieldOptions, Replacement, ReplacementSource, Var};
use crate::res::{Res, same_namespace};
use crate::select::Select;

/// One step of a field path.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seg {
    Key(String),
    /// `[key=value]`: the list items whose `key` is `value`.
    Match(String, String),
    /// A list index.
    Index(usize),
    /// `*`: every item or value.
    All,
}

/// Parse `spec.template.spec.containers.[name=web].image` (also `containers[name=web]`).
fn parse_path(text: &str) -> Result<Vec<Seg>, String> {
    let mut segs = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        if let Some(inner) = rest.strip_prefix('[') {
            let end = inner.find(']').ok_or_else(|| format!("field path {text:?}: unclosed `[`"))?;
            let body = &inner[..end];
            match body.split_once('=') {
                Some((k, v)) => segs.push(Seg::Match(k.to_owned(), v.to_owned())),
                None => segs.push(Seg::Index(
                    body.parse()
                        .map_err(|_| format!("field path {text:?}: expected [key=value] or [index]"))?,
                )),
            }
            rest = inner[end + 1..].strip_prefix('.').unwrap_or(&inner[end + 1..]);
            continue;
        }
        let end = rest.find(['.', '[']).unwrap_or(rest.len());
        let part = &rest[..end];
        if !part.is_empty() {
            segs.push(match part {
                "*" => Seg::All,
                p if p.chars().all(|c| c.is_ascii_digit()) => {
                    Seg::Index(p.parse().map_err(|_| format!("field path {text:?}: bad index"))?)
                }
                p => Seg::Key(p.to_owned()),
            });
        }
        rest = &rest[end..];
        rest = rest.strip_prefix('.').unwrap_or(rest);
    }
    if segs.is_empty() {
        return Err("empty field path".into());
    }
    Ok(segs)
}

fn get<'a>(value: &'a Value, segs: &[Seg]) -> Option<&'a Value> {
    let Some((first, rest)) = segs.split_first() else { return Some(value) };
    match (first, value) {
        (Seg::Key(k), Value::Object(m)) => get(m.get(k)?, rest),
        (Seg::Index(i), Value::Array(a)) => get(a.get(*i)?, rest),
        (Seg::Match(k, v), Value::Array(a)) => a
            .iter()
            .find(|item| item.get(k).is_some_and(|x| scalar_text(x).as_deref() == Some(v)))
            .and_then(|i| get(i, rest)),
        _ => None,
    }
}

fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Call `f` on every value at `segs`; with `create`, missing mapping keys are created.
/// Returns how many values were visited.
fn set(value: &mut Value, segs: &[Seg], create: bool, f: &mut dyn FnMut(&mut Value)) -> usize {
    let Some((first, rest)) = segs.split_first() else {
        f(value);
        return 1;
    };
    match first {
        Seg::Key(k) => {
            if value.is_null() && create {
                *value = Value::Object(Map::new());
            }
            let Value::Object(m) = value else { return 0 };
            if !m.contains_key(k) {
                if !create {
                    return 0;
                }
                m.insert(k.clone(), Value::Null);
            }
            m.get_mut(k).map_or(0, |v| set(v, rest, create, f))
        }
        Seg::Index(i) => match value {
            Value::Array(a) => a.get_mut(*i).map_or(0, |v| set(v, rest, create, f)),
            _ => 0,
        },
        Seg::Match(k, want) => match value {
            Value::Array(a) => a
                .iter_mut()
                .filter(|item| item.get(k).is_some_and(|x| scalar_text(x).as_deref() == Some(want.as_str())))
                .map(|item| set(item, rest, create, f))
                .sum(),
            _ => 0,
        },
        Seg::All => match value {
            Value::Array(a) => a.iter_mut().map(|v| set(v, rest, create, f)).sum(),
            Value::Object(m) => m.values_mut().map(|v| set(v, rest, create, f)).sum(),
            _ => 0,
        },
    }
}

fn pick_part(value: &Value, options: Option<&FieldOptions>) -> Value {
    let Some(o) = options else { return value.clone() };
    let (Some(delim), Some(text)) = (o.delimiter.as_deref().filter(|d| !d.is_empty()), value.as_str()) else {
        return value.clone();
    };
    let parts: Vec<&str> = text.split(delim).collect();
    usize::try_from(o.index)
        .ok()
        .and_then(|i| parts.get(i))
        .map_or_else(|| value.clone(), |p| Value::String((*p).to_owned()))
}

fn put_part(target: &mut Value, new: &Value, options: Option<&FieldOptions>) {
    let delim = options.and_then(|o| o.delimiter.as_deref()).filter(|d| !d.is_empty());
    match (delim, target.as_str(), new.as_str()) {
        (Some(d), Some(old), Some(new)) => {
            let mut parts: Vec<String> = old.split(d).map(str::to_owned).collect();
            let index = options.map_or(0, |o| o.index);
            match usize::try_from(index) {
                Ok(i) if i < parts.len() => parts[i] = new.to_owned(),
                Ok(_) => parts.push(new.to_owned()),
                Err(_) => parts.insert(0, new.to_owned()),
            }
            *target = Value::String(parts.join(d));
        }
        // A string field stays a string: kustomize keeps the target's scalar type.
        _ if target.is_string() && (new.is_number() || new.is_boolean()) => {
            *target = Value::String(new.to_string())
        }
        _ => *target = new.clone(),
    }
}

fn source_selects(src: &ReplacementSource, r: &Res) -> bool {
    let eq = |want: &Option<String>, have: &str| want.as_deref().is_none_or(|w| w.is_empty() || w == have);
    eq(&src.group, r.group())
        && eq(&src.version, r.version())
        && eq(&src.kind, r.kind())
        && src.name.as_deref().is_none_or(|n| r.all_names().any(|x| x == n))
        && src.namespace.as_deref().is_none_or(|ns| r.all_ids().any(|(x, _)| same_namespace(x, ns)))
}

fn load_replacements(
    fs: &Fs,
    dir: &str,
    kfile: &str,
    list: &[Replacement],
) -> Result<Vec<(Replacement, String)>, Error> {
    let mut out = Vec::new();
    for r in list {
        let Some(path) = &r.path else {
            out.push((r.clone(), kfile.to_owned()));
            continue;
        };
        if r.source.is_some() || !r.targets.is_empty() {
            return Err(field(kfile, "a replacement has `path` and also `source` or `targets`"));
        }
        let file = restricted_file(kfile, dir, path)?;
        if fs.entry(&file) != Entry::File {
            return Err(Error::Missing { file: kfile.to_owned(), entry: path.clone() });
        }
        let text = fs.read_text(&file)?;
        let docs = driftless_yaml::parse_stream(&text).map_err(|e| Error::Parse {
            file: file.clone(),
            line: Some(e.line),
            message: e.message,
        })?;
        for doc in docs {
            let items = match doc.value {
                Value::Array(a) => a,
                Value::Null => continue,
                other => vec![other],
            };
            for item in items {
                let rep: Replacement =
                    serde_json::from_value(item).map_err(|e| field(&file, format!("replacement: {e}")))?;
                out.push((rep, file.clone()));
            }
        }
    }
    Ok(out)
}

/// Run `replacements`.
pub(crate) fn replacements(
    fs: &Fs,
    dir: &str,
    kfile: &str,
    list: &[Replacement],
    acc: &mut [Res],
) -> Result<(), Error> {
    for (rep, file) in load_replacements(fs, dir, kfile, list)? {
        let src = rep.source.as_ref().ok_or_else(|| field(&file, "a replacement has no `source`"))?;
        let found: Vec<&Res> = acc.iter().filter(|r| source_selects(src, r)).collect();
        let what = format!("{} {}", src.kind.as_deref().unwrap_or("*"), src.name.as_deref().unwrap_or("*"));
        let source = match found.as_slice() {
            [one] => *one,
            [] => return Err(field(&file, format!("replacement source {what}: no resource matches"))),
            _ => {
                return Err(field(
                    &file,
                    format!("replacement source {what}: more than one resource matches"),
                ));
            }
        };
        let path_text = src.field_path.as_deref().unwrap_or("metadata.name");
        let segs = parse_path(path_text).map_err(|e| field(&file, e))?;
        let source_value = Value::Object(source.obj.clone());
        let value = get(&source_value, &segs)
            .ok_or_else(|| field(&file, format!("replacement source {what}: field {path_text} not found")))?;
        let value = pick_part(value, src.options.as_ref());
        for target in &rep.targets {
            let select = target.select.as_ref().map(Select::new).transpose().map_err(|e| field(&file, e))?;
            let rejects: Vec<Select> = target
                .reject
                .iter()
                .map(Select::new)
                .collect::<Result<_, _>>()
                .map_err(|e| field(&file, e))?;
            let paths: Vec<(String, Vec<Seg>)> = target
                .field_paths
                .iter()
                .map(|p| parse_path(p).map(|s| (p.clone(), s)))
                .collect::<Result<_, _>>()
                .map_err(|e| field(&file, e))?;
            let create = target.options.as_ref().is_some_and(|o| o.create);
            for res in acc.iter_mut() {
                if !select.as_ref().is_some_and(|s| s.matches(res)) || rejects.iter().any(|s| s.matches(res))
                {
                    continue;
                }
                for (text, segs) in &paths {
                    let mut obj = Value::Object(std::mem::take(&mut res.obj));
                    let n =
                        set(&mut obj, segs, create, &mut |v| put_part(v, &value, target.options.as_ref()));
                    if let Value::Object(m) = obj {
                        res.obj = m;
                    }
                    if n == 0 {
                        return Err(field(
                            &file,
                            format!(
                                "replacement target {}: field {text} not found (set options.create to add it)",
                                res.id_string()
                            ),
                        ));
                    }
                }
            }
        }
    }
    Ok(())
}

/// A declared var, with the kustomization that declared it.
#[derive(Debug, Clone)]
pub(crate) struct VarDecl {
    var: Var,
    kfile: String,
}

/// Record the `vars` of `kfile`.
pub(crate) fn declare_vars(kfile: &str, vars: &[Var], all: &mut Vec<VarDecl>) -> Result<(), Error> {
    for v in vars {
        if all.iter().any(|d| d.var.name == v.name) {
            return Err(field(kfile, format!("var {:?} is already declared", v.name)));
        }
        all.push(VarDecl { var: v.clone(), kfile: kfile.to_owned() });
    }
    Ok(())
}

/// Where `$(VAR)` is replaced: container commands, args, env values and mount paths of pod
/// templates, and Ingress hosts (plus labels and annotations, added in `resolve_vars`).
const VAR_FIELDS: &[&str] = &["command[]", "args[]", "env[]/value", "volumeMounts[]/mountPath"];

fn var_paths(kind: &str) -> Vec<String> {
    let prefix = match kind {
        "Pod" => "spec",
        "Deployment" | "ReplicaSet" | "DaemonSet" | "StatefulSet" | "Job" | "ReplicationController" => {
            "spec/template/spec"
        }
        "CronJob" => "spec/jobTemplate/spec/template/spec",
        "Ingress" => return vec!["spec/rules[]/host".into(), "spec/tls[]/hosts[]".into()],
        _ => return Vec::new(),
    };
    let mut out = Vec::new();
    for list in ["containers[]", "initContainers[]"] {
        for f in VAR_FIELDS {
            out.push(format!("{prefix}/{list}/{f}"));
        }
    }
    out
}

fn substitute(text: &str, values: &[(String, String)]) -> Option<String> {
    if !text.contains("$(") {
        return None;
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let mut changed = false;
    while let Some(start) = rest.find("$(") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        match after.find(')') {
            Some(end) if values.iter().any(|(n, _)| n == &after[..end]) => {
                let value = values
                    .iter()
                    .find(|(n, _)| n == &after[..end])
                    .map(|(_, v)| v.as_str())
                    .unwrap_or_default();
                out.push_str(value);
                rest = &after[end + 1..];
                changed = true;
            }
            _ => {
                out.push_str("$(");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    changed.then_some(out)
}

/// Resolve the declared vars and substitute them.
pub(crate) fn resolve_vars(vars: &[VarDecl], acc: &mut [Res]) -> Result<(), Error> {
    if vars.is_empty() {
        return Ok(());
    }
    let mut values = Vec::new();
    for d in vars {
        let o = &d.var.objref;
        let (group, version) = match &o.api_version {
            Some(av) => {
                av.rsplit_once('/').map_or((String::new(), av.clone()), |(g, v)| (g.to_owned(), v.to_owned()))
            }
            None => (o.group.clone().unwrap_or_default(), o.version.clone().unwrap_or_default()),
        };
        let found: Vec<&Res> = acc
            .iter()
            .filter(|r| {
                r.kind() == o.kind
                    && (version.is_empty() || (r.group() == group && r.version() == version))
                    && r.all_names().any(|n| n == o.name)
                    && o.namespace.as_deref().is_none_or(|ns| r.all_ids().any(|(x, _)| same_namespace(x, ns)))
            })
            .collect();
        let res = match found.as_slice() {
            [one] => *one,
            [] => {
                return Err(field(
                    &d.kfile,
                    format!("var {:?}: no {} named {} in the build", d.var.name, o.kind, o.name),
                ));
            }
            _ => {
                return Err(field(
                    &d.kfile,
                    format!("var {:?}: more than one {} named {}", d.var.name, o.kind, o.name),
                ));
            }
        };
        let path_text =
            d.var.fieldref.as_ref().and_then(|f| f.field_path.as_deref()).unwrap_or("metadata.name");
        let segs = parse_path(path_text).map_err(|e| field(&d.kfile, e))?;
        let value = get(&Value::Object(res.obj.clone()), &segs).and_then(scalar_text).ok_or_else(|| {
            field(
                &d.kfile,
                format!(
                    "var {:?}: field {path_text} of {} is not set or not a scalar",
                    d.var.name,
                    res.id_string()
                ),
            )
        })?;
        values.push((d.var.name.clone(), value));
    }
    for res in acc.iter_mut() {
        let mut paths = var_paths(res.kind());
        // Labels and annotations of every object, and pod template annotations.
        paths.push("metadata/labels".into());
        paths.push("metadata/annotations".into());
        if matches!(
            res.kind(),
            "Deployment" | "ReplicaSet" | "DaemonSet" | "StatefulSet" | "Job" | "ReplicationController"
        ) {
            paths.push("spec/template/metadata/annotations".into());
        }
        let mut obj = Value::Object(std::mem::take(&mut res.obj));
        for p in &paths {
            let segs: Vec<&str> = p.split('/').collect();
            crate::transform::visit(&mut obj, &segs, false, &mut |v| {
                if let Some(new) = v.as_str().and_then(|s| substitute(s, &values)) {
                    *v = Value::String(new);
                } else if let Value::Object(map) = v {
                    for value in map.values_mut() {
                        if let Some(new) = value.as_str().and_then(|s| substitute(s, &values)) {
                            *value = Value::String(new);
                        }
                    }
                }
            });
        }
        if let Value::Object(m) = obj {
            res.obj = m;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    #[test]
    fn field_paths() {
        let v = json!({"spec": {"containers": [{"name": "a", "image": "x"}, {"name": "b", "image": "y"}]}});
        let p = parse_path("spec.containers.[name=b].image").unwrap();
        assert_eq!(get(&v, &p), Some(&json!("y")));
        assert_eq!(get(&v, &parse_path("spec.containers[name=a].image").unwrap()), Some(&json!("x")));
        assert_eq!(get(&v, &parse_path("spec.containers.1.name").unwrap()), Some(&json!("b")));
        assert_eq!(get(&v, &parse_path("spec.containers[1].name").unwrap()), Some(&json!("b")));
        let mut v2 = v.clone();
        assert_eq!(
            set(&mut v2, &parse_path("spec.containers.*.image").unwrap(), false, &mut |x| *x = json!("z")),
            2
        );
        assert_eq!(set(&mut v2, &parse_path("spec.missing.x").unwrap(), false, &mut |x| *x = json!(1)), 0);
        assert_eq!(set(&mut v2, &parse_path("spec.missing.x").unwrap(), true, &mut |x| *x = json!(1)), 1);
        assert_eq!(v2["spec"]["missing"]["x"], 1);
    }

    #[test]
    fn vars_substitute() {
        let vals = vec![("A".to_owned(), "1".to_owned())];
        assert_eq!(substitute("x $(A) $(B) $(A", &vals).as_deref(), Some("x 1 $(B) $(A"));
        assert_eq!(substitute("none", &vals), None);
    }
}
