//! Building a kustomization: resources, components, generators and transformers, level by
//! level; then, at the top, hash suffixes, name references, vars and the output order.

use std::collections::HashSet;

use driftless_plugin_sdk::manifest::{Format, parse_objects};
use serde_json::{Map, Value};

use crate::error::{Error, field};
use crate::fs::{Entry, Fs, is_remote, join, restricted_file};
use crate::kustomization::Kustomization;
use crate::res::Res;
use crate::{generate, nameref, order, patch, replace, transform};

/// The label `buildMetadata: [managedByLabel]` adds, and its value: what the kustomize built
/// into kubectl prints (it has no release version of its own).
const MANAGED_BY: (&str, &str) = ("app.kubernetes.io/managed-by", "kustomize-(devel)");

struct Ctx<'a> {
    fs: &'a Fs,
    /// Kustomization directories being built, outermost first (cycle detection).
    stack: Vec<String>,
    vars: Vec<replace::VarDecl>,
}

/// Add a generated `res` to `acc`, refusing a second resource with the same id.
pub(crate) fn add(kfile: &str, acc: &mut Vec<Res>, res: Res) -> Result<(), Error> {
    let key = res.id_key();
    if acc.iter().any(|r| r.id_key() == key) {
        return Err(Error::Conflict { file: kfile.to_owned(), id: res.id_string() });
    }
    acc.push(res);
    Ok(())
}

/// Build the kustomization in directory `app` (relative to the render root) into objects,
/// in output order, with sorted keys.
pub(crate) fn build(fs: &Fs, app: &str) -> Result<Vec<Value>, Error> {
    let mut ctx = Ctx { fs, stack: Vec::new(), vars: Vec::new() };
    let mut acc = Vec::new();
    let k = accumulate(&mut ctx, app, &mut acc, false)?;

    for res in &mut acc {
        if res.generated.is_some_and(|g| g.hash) {
            let name = format!("{}-{}", res.name(), generate::hash(&res.obj));
            res.set_name(&name);
        }
    }
    nameref::fix(&mut acc);
    replace::resolve_vars(&ctx.vars, &mut acc)?;
    if k.build_metadata.iter().any(|o| o == "managedByLabel") {
        for res in &mut acc {
            let labels = res.meta_mut().entry("labels").or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(m) = labels {
                m.insert(MANAGED_BY.0.into(), MANAGED_BY.1.into());
            }
        }
    }
    if k.build_metadata.iter().any(|o| o == "originAnnotations") {
        for res in &mut acc {
            let origin = origin_annotation(app, res);
            let annotations =
                res.meta_mut().entry("annotations").or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(m) = annotations {
                m.insert("config.kubernetes.io/origin".into(), origin.into());
            }
        }
    }
    if k.sort_options.as_ref().and_then(|s| s.order.as_deref()) != Some("fifo") {
        order::legacy(&mut acc);
    }
    Ok(acc.into_iter().map(|r| sorted(Value::Object(r.obj))).collect())
}

/// `path` as seen from directory `from` (both relative to the render root).
fn relative_to(from: &str, path: &str) -> String {
    let split = |s: &str| -> Vec<String> {
        if s == "." { Vec::new() } else { s.split('/').map(str::to_owned).collect() }
    };
    let (from, path) = (split(from), split(path));
    let common = from.iter().zip(&path).take_while(|(a, b)| a == b).count();
    let mut parts: Vec<String> = vec!["..".to_owned(); from.len() - common];
    parts.extend(path[common..].iter().cloned());
    parts.join("/")
}

fn origin_annotation(app: &str, res: &Res) -> String {
    match &res.generated_by {
        Some(kfile) => format!(
            "configuredIn: {}\nconfiguredBy:\n  apiVersion: builtin\n  kind: {}Generator\n",
            relative_to(app, kfile),
            res.kind()
        ),
        None => format!("path: {}\n", relative_to(app, &res.origin)),
    }
}

/// The value with every mapping's keys in byte order, as `kubectl kustomize` prints them.
fn sorted(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(String, Value)> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(entries.into_iter().map(|(k, v)| (k, sorted(v))).collect())
        }
        Value::Array(items) => Value::Array(items.into_iter().map(sorted).collect()),
        other => other,
    }
}

fn load_kustomization(ctx: &Ctx, dir: &str) -> Result<(String, Kustomization), Error> {
    let kfile = ctx.fs.kustomization_file(dir).ok_or_else(|| Error::NoKustomization {
        file: dir.to_owned(),
        entry: ".".into(),
        dir: dir.to_owned(),
    })?;
    let text = ctx.fs.read_text(&kfile)?;
    Ok((kfile.clone(), Kustomization::parse(&kfile, &text)?))
}

/// Build the kustomization (or component) in `dir` into `acc`; returns it.
fn accumulate(ctx: &mut Ctx, dir: &str, acc: &mut Vec<Res>, component: bool) -> Result<Kustomization, Error> {
    let (kfile, k) = load_kustomization(ctx, dir)?;
    if ctx.stack.iter().any(|d| d == dir) {
        let mut chain = ctx.stack.clone();
        chain.push(dir.to_owned());
        return Err(Error::Cycle { file: kfile, chain: chain.join(" -> ") });
    }
    if component && !k.is_component() {
        return Err(field(&kfile, "is listed under `components` but is not `kind: Component`"));
    }
    if !component && k.is_component() {
        return Err(field(&kfile, "is a Component: list it under `components`, not `resources`"));
    }
    ctx.stack.push(dir.to_owned());

    let mut ids: HashSet<String> = acc.iter().map(Res::id_key).collect();
    for entry in k.resources.iter().chain(&k.bases) {
        for res in resource(ctx, dir, &kfile, entry)? {
            if !ids.insert(res.id_key()) {
                return Err(Error::Conflict { file: kfile.clone(), id: res.id_string() });
            }
            acc.push(res);
        }
    }
    // Generators before components: a component may patch or merge what they make.
    generate::run(ctx.fs, dir, &kfile, &k, acc)?;
    for entry in &k.components {
        if is_remote(entry) {
            return Err(Error::Remote { file: kfile.clone(), entry: entry.clone() });
        }
        let path = join(dir, entry).ok_or_else(|| Error::Restricted {
            file: kfile.clone(),
            entry: entry.clone(),
            root: ".".into(),
        })?;
        match ctx.fs.entry(&path) {
            Entry::Dir if ctx.fs.kustomization_file(&path).is_some() => {
                accumulate(ctx, &path, acc, true)?;
            }
            Entry::Dir => {
                return Err(Error::NoKustomization { file: kfile.clone(), entry: entry.clone(), dir: path });
            }
            Entry::File => return Err(field(&kfile, format!("component `{entry}` must be a directory"))),
            Entry::Missing => return Err(Error::Missing { file: kfile.clone(), entry: entry.clone() }),
        }
    }

    patch::strategic_merge_legacy(ctx.fs, dir, &kfile, &k, acc)?;
    patch::patches(ctx.fs, dir, &kfile, &k.patches, acc)?;
    if let Some(ns) = k.namespace.as_deref().filter(|n| !n.is_empty()) {
        transform::namespace(ns, acc);
    }
    let (prefix, suffix) = (k.name_prefix.as_deref().unwrap_or(""), k.name_suffix.as_deref().unwrap_or(""));
    if !prefix.is_empty() || !suffix.is_empty() {
        transform::prefix_suffix(prefix, suffix, acc);
    }
    transform::labels(&k, acc);
    transform::annotations(&k, acc);
    patch::json6902_legacy(ctx.fs, dir, &kfile, &k.patches_json6902, acc)?;
    transform::replicas(&k.replicas, acc);
    transform::images(&k.images, acc);
    replace::replacements(ctx.fs, dir, &kfile, &k.replacements, acc)?;
    replace::declare_vars(&kfile, &k.vars, &mut ctx.vars)?;

    ctx.stack.pop();
    Ok(k)
}

/// The resources one `resources` entry gives: a file's objects or a kustomization's build.
fn resource(ctx: &mut Ctx, dir: &str, kfile: &str, entry: &str) -> Result<Vec<Res>, Error> {
    if is_remote(entry) {
        return Err(Error::Remote { file: kfile.to_owned(), entry: entry.to_owned() });
    }
    let path = join(dir, entry).ok_or_else(|| Error::Restricted {
        file: kfile.to_owned(),
        entry: entry.to_owned(),
        root: ".".into(),
    })?;
    match ctx.fs.entry(&path) {
        Entry::Missing => Err(Error::Missing { file: kfile.to_owned(), entry: entry.to_owned() }),
        Entry::Dir => {
            if ctx.fs.kustomization_file(&path).is_none() {
                return Err(Error::NoKustomization {
                    file: kfile.to_owned(),
                    entry: entry.to_owned(),
                    dir: path,
                });
            }
            let mut sub = Vec::new();
            accumulate(ctx, &path, &mut sub, false)?;
            Ok(sub)
        }
        Entry::File => {
            // Files obey the load restrictor; directories are kustomizations of their own.
            let path = restricted_file(kfile, dir, entry)?;
            let text = ctx.fs.read_text(&path)?;
            let objects = parse_objects(&text, Format::of_file(&path)).map_err(|e| Error::Parse {
                file: path.clone(),
                line: e.line,
                message: e.message,
            })?;
            Ok(objects
                .into_iter()
                .filter_map(|o| match o.into_value() {
                    Value::Object(map) => Some(Res::new(map, &path)),
                    _ => None,
                })
                .collect())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_for_origins() {
        assert_eq!(relative_to("apps/prod", "apps/base/d.yaml"), "../base/d.yaml");
        assert_eq!(relative_to(".", "d.yaml"), "d.yaml");
        assert_eq!(relative_to("a", "a/b/c.yaml"), "b/c.yaml");
    }
}
