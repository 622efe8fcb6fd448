//! `configMapGenerator` and `secretGenerator`, and the content-hash name suffix kustomize
//! gives generated objects.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use base64::Engine as _;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::error::{Error, field};
use crate::fs::{Fs, base_name, restricted_file};
use crate::kustomization::{Generator, GeneratorOptions, Kustomization};
use crate::res::{Generated, Res, same_namespace};

/// Run the generators of the kustomization `kfile` (in `dir`) into `acc`.
pub(crate) fn run(
    fs: &Fs,
    dir: &str,
    kfile: &str,
    k: &Kustomization,
    acc: &mut Vec<Res>,
) -> Result<(), Error> {
    let global = k.generator_options.clone().unwrap_or_default();
    for g in &k.config_map_generator {
        let res = make(fs, dir, kfile, g, &global, false)?;
        place(kfile, g, res, acc)?;
    }
    for g in &k.secret_generator {
        let res = make(fs, dir, kfile, g, &global, true)?;
        place(kfile, g, res, acc)?;
    }
    Ok(())
}

fn valid_key(key: &str) -> bool {
    !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// Strip one pair of matching quotes around a literal's value, as kustomize does.
fn unquote(v: &str) -> &str {
    for q in ['"', '\''] {
        if v.len() >= 2 && v.starts_with(q) && v.ends_with(q) {
            return &v[1..v.len() - 1];
        }
    }
    v
}

fn make(
    fs: &Fs,
    dir: &str,
    kfile: &str,
    g: &Generator,
    global: &GeneratorOptions,
    secret: bool,
) -> Result<Res, Error> {
    let what = if secret { "secretGenerator" } else { "configMapGenerator" };
    let name = g
        .name
        .as_deref()
        .filter(|n| !n.is_empty())
        .ok_or_else(|| field(kfile, format!("{what}: an entry has no name")))?;
    let ctx = |message: String| field(kfile, format!("{what} {name}: {message}"));
    // Keys in insertion order are not needed: output maps are sorted.
    let mut data: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut insert = |key: &str, value: Vec<u8>| -> Result<(), Error> {
        if !valid_key(key) {
            return Err(ctx(format!("{key:?} is not a valid key name (letters, digits, `-`, `_`, `.`)")));
        }
        if data.insert(key.to_owned(), value).is_some() {
            return Err(ctx(format!("key {key:?} is defined more than once")));
        }
        Ok(())
    };
    for literal in &g.literals {
        let (key, value) =
            literal.split_once('=').ok_or_else(|| ctx(format!("literal {literal:?} is not KEY=VALUE")))?;
        insert(key, unquote(value).as_bytes().to_vec())?;
    }
    for entry in g.envs.iter().chain(g.env.iter()) {
        let path = restricted_file(kfile, dir, entry)?;
        let text = fs
            .read_text(&path)
            .map_err(|_| Error::Missing { file: kfile.to_owned(), entry: entry.clone() })?;
        for (i, line) in text.trim_start_matches('\u{feff}').lines().enumerate() {
            let line = line.trim_start();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (key, value) = line.split_once('=').ok_or_else(|| Error::Parse {
                file: path.clone(),
                line: Some(i + 1),
                message: format!(
                    "{line:?} is not KEY=VALUE (renderers see no environment to take a value from)"
                ),
            })?;
            insert(key, value.as_bytes().to_vec())?;
        }
    }
    for entry in &g.files {
        let (key, file) = match entry.split_once('=') {
            Some((k, f)) => (k.to_owned(), f),
            None => (base_name(entry).to_owned(), entry.as_str()),
        };
        let path = restricted_file(kfile, dir, file)?;
        if fs.entry(&path) != crate::fs::Entry::File {
            return Err(Error::Missing { file: kfile.to_owned(), entry: file.to_owned() });
        }
        insert(&key, fs.read(&path)?)?;
    }

    let options = g.options.clone().unwrap_or_default();
    let mut labels = global.labels.clone();
    labels.extend(options.labels);
    let mut annotations = global.annotations.clone();
    annotations.extend(options.annotations);
    let hash = !options.disable_name_suffix_hash.or(global.disable_name_suffix_hash).unwrap_or(false);
    let immutable = options.immutable.or(global.immutable).unwrap_or(false);

    let mut meta = Map::new();
    meta.insert("name".into(), name.into());
    if let Some(ns) = g.namespace.as_deref().filter(|n| !n.is_empty()) {
        meta.insert("namespace".into(), ns.into());
    }
    let string_map = |m: BTreeMap<String, String>| {
        Value::Object(m.into_iter().map(|(k, v)| (k, Value::String(v))).collect())
    };
    if !labels.is_empty() {
        meta.insert("labels".into(), string_map(labels));
    }
    if !annotations.is_empty() {
        meta.insert("annotations".into(), string_map(annotations));
    }
    let mut obj = Map::new();
    obj.insert("apiVersion".into(), "v1".into());
    obj.insert("kind".into(), if secret { "Secret" } else { "ConfigMap" }.into());
    obj.insert("metadata".into(), Value::Object(meta));
    let b64 = |bytes: &[u8]| Value::String(base64::engine::general_purpose::STANDARD.encode(bytes));
    if secret {
        let d: Map<String, Value> =
            data.iter().map(|(k, v)| (k.clone(), Value::String(secret_base64(v)))).collect();
        obj.insert("data".into(), Value::Object(d));
        obj.insert("type".into(), g.type_.clone().unwrap_or_else(|| "Opaque".into()).into());
    } else {
        let mut text = Map::new();
        let mut binary = Map::new();
        for (k, v) in data {
            match String::from_utf8(v) {
                Ok(s) => text.insert(k, Value::String(s)),
                Err(e) => binary.insert(k, b64(e.as_bytes())),
            };
        }
        if !text.is_empty() {
            obj.insert("data".into(), Value::Object(text));
        }
        if !binary.is_empty() {
            obj.insert("binaryData".into(), Value::Object(binary));
        }
    }
    if immutable {
        obj.insert("immutable".into(), Value::Bool(true));
    }
    let mut res = Res::new(obj, kfile);
    res.generated = Some(Generated { hash });
    res.generated_by = Some(kfile.to_owned());
    Ok(res)
}

/// Add a generated object by its behavior: `create` (the default), `merge` or `replace`.
fn place(kfile: &str, g: &Generator, new: Res, acc: &mut Vec<Res>) -> Result<(), Error> {
    let behavior = g.behavior.as_deref().unwrap_or("create");
    if behavior == "create" {
        return crate::build::add(kfile, acc, new);
    }
    if behavior != "merge" && behavior != "replace" {
        return Err(field(
            kfile,
            format!(
                "generator {}: behavior must be create, merge or replace, found {behavior:?}",
                new.name()
            ),
        ));
    }
    let found = acc.iter().position(|r| {
        r.kind() == new.kind()
            && r.all_ids().any(|(ns, n)| {
                n == new.name() && (new.namespace().is_empty() || same_namespace(ns, new.namespace()))
            })
    });
    let Some(i) = found else {
        return Err(field(
            kfile,
            format!(
                "generator {} has behavior {behavior} but there is no {} {} to {behavior} with",
                new.name(),
                new.kind(),
                new.name()
            ),
        ));
    };
    let old = &mut acc[i];
    let meta_maps = ["labels", "annotations"];
    if behavior == "merge" {
        for key in ["data", "binaryData"] {
            if let Some(Value::Object(add)) = new.obj.get(key) {
                let entry = old.obj.entry(key).or_insert_with(|| Value::Object(Map::new()));
                if let Value::Object(m) = entry {
                    m.extend(add.clone());
                }
            }
        }
    } else {
        for key in ["data", "binaryData"] {
            match new.obj.get(key) {
                Some(v) => old.obj.insert(key.into(), v.clone()),
                None => old.obj.remove(key),
            };
        }
    }
    for key in meta_maps {
        if let Some(Value::Object(add)) = new.meta_map(key).map(|m| Value::Object(m.clone())) {
            let entry = old.meta_mut().entry(key).or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(m) = entry {
                m.extend(add);
            }
        }
    }
    if let Some(v) = new.obj.get("immutable") {
        old.obj.insert("immutable".into(), v.clone());
    }
    old.generated = new.generated;
    Ok(())
}

/// Base64 as kustomize writes Secret data: one line when shorter than 70 characters, else
/// lines of 70 characters, each ending with a newline.
fn secret_base64(bytes: &[u8]) -> String {
    const LINE: usize = 70;
    let encoded = base64::engine::general_purpose::STANDARD.encode(bytes);
    if encoded.len() < LINE {
        return encoded;
    }
    let mut out = String::with_capacity(encoded.len() + encoded.len() / LINE + 1);
    for chunk in encoded.as_bytes().chunks(LINE) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out
}

/// Go's `encoding/json` spelling of a string: `<`, `>`, `&`, U+2028 and U+2029 escaped.
fn go_json_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Go's `encoding/json` spelling of a value, with map keys sorted as Go sorts them.
fn go_json(value: &Value, out: &mut String) {
    match value {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                go_json_string(k, out);
                out.push(':');
                go_json(&m[k], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                go_json(v, out);
            }
            out.push(']');
        }
        Value::String(s) => go_json_string(s, out),
        other => {
            let _ = write!(out, "{other}");
        }
    }
}

/// The hash suffix kustomize appends to a generated ConfigMap or Secret: SHA-256 of the Go
/// JSON encoding of its kind, data (and type), with an empty name; 10 hex digits with some
/// letters substituted.
pub(crate) fn hash(obj: &Map<String, Value>) -> String {
    let kind = obj.get("kind").and_then(Value::as_str).unwrap_or_default();
    let non_empty =
        |key: &str| obj.get(key).filter(|v| v.as_object().is_some_and(|m| !m.is_empty())).cloned();
    let mut m = Map::new();
    m.insert("kind".into(), kind.into());
    m.insert("name".into(), "".into());
    if kind == "Secret" {
        m.insert("data".into(), obj.get("data").cloned().unwrap_or_else(|| "".into()));
        m.insert("type".into(), obj.get("type").cloned().unwrap_or_else(|| "".into()));
        if let Some(sd) = non_empty("stringData") {
            m.insert("stringData".into(), sd);
        }
    } else {
        m.insert("data".into(), non_empty("data").unwrap_or_else(|| "".into()));
        if let Some(bd) = non_empty("binaryData") {
            m.insert("binaryData".into(), bd);
        }
    }
    let mut text = String::new();
    go_json(&Value::Object(m), &mut text);
    let digest = Sha256::digest(text.as_bytes());
    digest
        .iter()
        .flat_map(|b| [b >> 4, b & 0xf])
        .take(10)
        .map(|n| match n {
            0 => 'g',
            1 => 'h',
            3 => 'k',
            10 => 'm',
            14 => 't',
            n => char::from_digit(u32::from(n), 16).unwrap_or('0'),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    fn h(v: Value) -> String {
        hash(v.as_object().unwrap())
    }

    #[test]
    fn hashes_match_kubectl_kustomize() {
        // Names as `kubectl kustomize` (v5.5) gave them on this machine.
        assert_eq!(h(json!({"kind": "ConfigMap", "data": {"a": "1"}})), "h29d89cmmt");
        assert_eq!(h(json!({"kind": "ConfigMap", "data": {"a": "1", "b": "<x&y>"}})), "cchh4fmt2g");
        assert_eq!(h(json!({"kind": "ConfigMap"})), "6ct58987ht");
        assert_eq!(h(json!({"kind": "Secret", "type": "Opaque", "data": {}})), "46f8b28mk5");
        assert_eq!(h(json!({"kind": "Secret", "type": "Opaque", "data": {"a": "MQ=="}})), "25khgmg44c");
    }

    #[test]
    fn literals_unquote() {
        assert_eq!(unquote("'a b'"), "a b");
        assert_eq!(unquote("\"x\""), "x");
        assert_eq!(unquote("'x\""), "'x\"");
        assert!(valid_key("a.b-c_d") && !valid_key("a/b") && !valid_key(""));
    }
}
