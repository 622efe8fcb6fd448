//! Patches: `patches` (strategic merge or JSON 6902, with or without a target selector) and
//! the legacy `patchesStrategicMerge` and `patchesJson6902`.

use serde_json::Value;

use crate::error::{Error, patch as patch_error};
use crate::fs::{Entry, Fs, restricted_file};
use crate::kustomization::{Json6902, Kustomization, Patch, PatchOptions, Selector};
use crate::res::{Res, same_namespace};
use crate::select::Select;

/// A patch's text and the file to name in errors (the patch file, or the kustomization for an
/// inline patch).
struct Text {
    text: String,
    file: String,
}

fn load(fs: &Fs, dir: &str, kfile: &str, path: Option<&str>, inline: Option<&str>) -> Result<Text, Error> {
    match (path, inline) {
        (Some(p), None) => {
            let file = restricted_file(kfile, dir, p)?;
            if fs.entry(&file) != Entry::File {
                return Err(Error::Missing { file: kfile.to_owned(), entry: p.to_owned() });
            }
            Ok(Text { text: fs.read_text(&file)?, file })
        }
        (None, Some(t)) => Ok(Text { text: t.to_owned(), file: kfile.to_owned() }),
        (Some(_), Some(_)) => Err(patch_error(kfile, "a patch has both `path` and `patch`; give one")),
        (None, None) => Err(patch_error(kfile, "a patch has neither `path` nor `patch`")),
    }
}

enum Parsed {
    Strategic(Vec<Value>),
    Json(json_patch::Patch),
}

fn parse(t: &Text) -> Result<Parsed, Error> {
    let docs = driftless_yaml::parse_stream(&t.text).map_err(|e| Error::Parse {
        file: t.file.clone(),
        line: Some(e.line),
        message: format!("invalid patch: {} (column {})", e.message, e.column),
    })?;
    let docs: Vec<Value> = docs.into_iter().map(|d| d.value).filter(|v| !v.is_null()).collect();
    if docs.len() == 1 && docs[0].is_array() {
        let ops = serde_json::from_value(docs[0].clone())
            .map_err(|e| patch_error(&t.file, format!("malformed JSON 6902 patch: {e}")))?;
        return Ok(Parsed::Json(ops));
    }
    if docs.is_empty() {
        return Err(patch_error(&t.file, "the patch is empty"));
    }
    if let Some(bad) = docs.iter().find(|d| !d.is_object()) {
        let found = if bad.is_array() { "a list among several documents" } else { "a scalar" };
        return Err(patch_error(
            &t.file,
            format!(
                "malformed patch: expected a strategic merge patch (a mapping) or a JSON 6902 patch (a list of operations), found {found}"
            ),
        ));
    }
    Ok(Parsed::Strategic(docs))
}

fn apply_smp(res: &mut Res, patch: &Value, options: &PatchOptions, file: &str) -> Result<bool, Error> {
    let (name, ns, kind, api) = (
        res.name().to_owned(),
        res.namespace().to_owned(),
        res.kind().to_owned(),
        res.api_version().to_owned(),
    );
    let builtin = driftless_smp::is_builtin(&api);
    let mut value = Value::Object(std::mem::take(&mut res.obj));
    let outcome = driftless_smp::strategic_merge(&mut value, patch, builtin, driftless_smp::Mode::Kustomize);
    if let Value::Object(m) = value {
        res.obj = m;
    }
    let outcome = outcome.map_err(|e| patch_error(file, format!("{}: {e}", res.id_string())))?;
    if outcome == driftless_smp::Outcome::Deleted {
        return Ok(false);
    }
    let patched_name = res.name().to_owned();
    // The patch names its target; it does not rename it unless allowed.
    res.meta_mut().insert("name".into(), Value::String(name.clone()));
    res.meta_mut().insert("namespace".into(), Value::String(ns.clone()));
    if ns.is_empty() {
        res.meta_mut().remove("namespace");
    }
    if options.allow_name_change && patched_name != name && !patched_name.is_empty() {
        res.set_name(&patched_name);
    }
    if !options.allow_kind_change {
        res.obj.insert("kind".into(), Value::String(kind));
        res.obj.insert("apiVersion".into(), Value::String(api));
    }
    Ok(true)
}

fn apply_json(res: &mut Res, ops: &json_patch::Patch, file: &str) -> Result<(), Error> {
    let mut value = Value::Object(res.obj.clone());
    json_patch::patch(&mut value, ops)
        .map_err(|e| patch_error(file, format!("{}: JSON 6902 patch failed: {e}", res.id_string())))?;
    match value {
        Value::Object(m) => {
            let old_name = res.name().to_owned();
            let old_ns = res.namespace().to_owned();
            res.obj = m;
            // Track renames made by the patch so name references still resolve.
            let (new_name, new_ns) = (res.name().to_owned(), res.namespace().to_owned());
            if new_name != old_name || new_ns != old_ns {
                res.history.push((old_ns, old_name));
            }
            Ok(())
        }
        _ => Err(patch_error(
            file,
            format!("{}: the patch replaced the object with a non-mapping", res.id_string()),
        )),
    }
}

/// The resources a strategic merge patch without a target names: same kind (and group), and
/// a name and namespace they have or had.
fn by_id(acc: &[Res], patch: &Value) -> Vec<usize> {
    let kind = patch.get("kind").and_then(Value::as_str).unwrap_or_default();
    let api = patch.get("apiVersion").and_then(Value::as_str).unwrap_or_default();
    let group = api.rsplit_once('/').map_or("", |(g, _)| g);
    let name = patch.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default();
    let ns = patch.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or_default();
    acc.iter()
        .enumerate()
        .filter(|(_, r)| {
            r.kind() == kind
                && (api.is_empty() || r.group() == group)
                && r.all_ids().any(|(rns, rn)| rn == name && (ns.is_empty() || same_namespace(rns, ns)))
        })
        .map(|(i, _)| i)
        .collect()
}

fn selected(acc: &[Res], target: &Selector, file: &str) -> Result<Vec<usize>, Error> {
    let select = Select::new(target).map_err(|e| patch_error(file, e))?;
    Ok(acc.iter().enumerate().filter(|(_, r)| select.matches(r)).map(|(i, _)| i).collect())
}

fn describe(patch: &Value) -> String {
    let get = |p: &str| patch.pointer(p).and_then(Value::as_str).unwrap_or("?").to_owned();
    format!("{} {}", get("/kind"), get("/metadata/name"))
}

fn run_strategic(
    acc: &mut Vec<Res>,
    docs: &[Value],
    target: Option<&Selector>,
    options: &PatchOptions,
    file: &str,
) -> Result<(), Error> {
    for doc in docs {
        // kustomize reads every strategic merge patch as an object: it needs a kind and a name,
        // also when a target selects what it patches.
        if doc.get("kind").and_then(Value::as_str).is_none()
            || doc.pointer("/metadata/name").and_then(Value::as_str).is_none()
        {
            return Err(patch_error(file, "a strategic merge patch needs `kind` and `metadata.name`"));
        }
        let indexes = match target {
            Some(t) => selected(acc, t, file)?,
            None => {
                let found = by_id(acc, doc);
                match found.len() {
                    0 => {
                        return Err(patch_error(
                            file,
                            format!("no resource matches the patch for {}", describe(doc)),
                        ));
                    }
                    1 => found,
                    _ => {
                        return Err(patch_error(
                            file,
                            format!(
                                "several resources match the patch for {}; set metadata.namespace",
                                describe(doc)
                            ),
                        ));
                    }
                }
            }
        };
        let mut deleted = Vec::new();
        for i in indexes {
            if !apply_smp(&mut acc[i], doc, options, file)? {
                deleted.push(i);
            }
        }
        for i in deleted.into_iter().rev() {
            acc.remove(i);
        }
    }
    Ok(())
}

fn run_json(acc: &mut [Res], ops: &json_patch::Patch, target: &Selector, file: &str) -> Result<(), Error> {
    for i in selected(acc, target, file)? {
        apply_json(&mut acc[i], ops, file)?;
    }
    Ok(())
}

/// `patchesStrategicMerge`: files, or inline patches.
pub(crate) fn strategic_merge_legacy(
    fs: &Fs,
    dir: &str,
    kfile: &str,
    k: &Kustomization,
    acc: &mut Vec<Res>,
) -> Result<(), Error> {
    for entry in &k.patches_strategic_merge {
        let inline = entry.contains('\n') || entry.contains(": ");
        let text = if inline {
            load(fs, dir, kfile, None, Some(entry))?
        } else {
            load(fs, dir, kfile, Some(entry), None)?
        };
        match parse(&text)? {
            Parsed::Strategic(docs) => run_strategic(acc, &docs, None, &PatchOptions::default(), &text.file)?,
            Parsed::Json(_) => {
                return Err(patch_error(
                    &text.file,
                    "patchesStrategicMerge holds a JSON 6902 patch; use patches with a target",
                ));
            }
        }
    }
    Ok(())
}

/// `patches`.
pub(crate) fn patches(
    fs: &Fs,
    dir: &str,
    kfile: &str,
    list: &[Patch],
    acc: &mut Vec<Res>,
) -> Result<(), Error> {
    for p in list {
        let text = load(fs, dir, kfile, p.path.as_deref(), p.patch.as_deref())?;
        match parse(&text)? {
            Parsed::Strategic(docs) => run_strategic(acc, &docs, p.target.as_ref(), &p.options, &text.file)?,
            Parsed::Json(ops) => {
                let target = p
                    .target
                    .as_ref()
                    .ok_or_else(|| patch_error(&text.file, "a JSON 6902 patch needs a `target`"))?;
                run_json(acc, &ops, target, &text.file)?;
            }
        }
    }
    Ok(())
}

/// `patchesJson6902`.
pub(crate) fn json6902_legacy(
    fs: &Fs,
    dir: &str,
    kfile: &str,
    list: &[Json6902],
    acc: &mut [Res],
) -> Result<(), Error> {
    for p in list {
        let text = load(fs, dir, kfile, p.path.as_deref(), p.patch.as_deref())?;
        match parse(&text)? {
            Parsed::Json(ops) => run_json(acc, &ops, &p.target, &text.file)?,
            Parsed::Strategic(_) => {
                return Err(patch_error(&text.file, "patchesJson6902 needs a list of JSON 6902 operations"));
            }
        }
    }
    Ok(())
}
