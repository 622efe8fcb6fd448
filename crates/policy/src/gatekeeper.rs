//! Gatekeeper: `ConstraintTemplate` (v1, Rego, with `libs`) and the constraints built on them.
//!
//! Input is what Gatekeeper gives a template: `input.review` (`object`, `oldObject`,
//! `operation`, `kind`, `name`, `namespace`) and `input.parameters`; `data.inventory` holds the
//! cluster inventory in Gatekeeper's layout (`cluster[groupVersion][kind][name]`,
//! `namespace[ns][groupVersion][kind][name]`). Templates are Rego v0 unless their source says
//! `version: v1`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::Subject;
use driftless_core::Object;
use driftless_core::spec::Enforcement;
use regorus::Engine;
use serde_json::{Map, Value, json};

use crate::PolicyError;
use crate::matcher::{Match, parse_match};
use crate::rego;

/// The `apiVersion` group of templates.
pub const TEMPLATE_GROUP: &str = "templates.gatekeeper.sh";
/// The `apiVersion` group of constraints.
pub const CONSTRAINT_GROUP: &str = "constraints.gatekeeper.sh";
const TARGET: &str = "admission.k8s.gatekeeper.sh";

/// A compiled template.
#[derive(Clone)]
pub(crate) struct Template {
    /// The constraint kind it defines (`spec.crd.spec.names.kind`).
    pub kind: String,
    pub path: PathBuf,
    pub engine: Engine,
    /// `data.<package>.violation`.
    pub rule: String,
}

/// A constraint: an instance of a template.
#[derive(Debug, Clone)]
pub(crate) struct Constraint {
    pub kind: String,
    pub name: String,
    pub path: PathBuf,
    pub parameters: regorus::Value,
    pub matcher: Match,
    pub enforcement: Enforcement,
}

impl Constraint {
    /// `Kind/name`.
    pub fn id(&self) -> String {
        format!("{}/{}", self.kind, self.name)
    }
}

fn str_at<'a>(value: &'a Value, pointer: &str) -> Option<&'a str> {
    value.pointer(pointer).and_then(Value::as_str)
}

/// Compiles a `ConstraintTemplate` document.
pub(crate) fn load_template(path: &Path, doc: &Value, timeout: Duration) -> Result<Template, PolicyError> {
    let name = str_at(doc, "/metadata/name").unwrap_or("?");
    let document = format!("ConstraintTemplate {name}");
    let invalid = |field: &str, message: &str| PolicyError::invalid(path, &document, field, message);
    let kind = str_at(doc, "/spec/crd/spec/names/kind")
        .filter(|k| !k.is_empty())
        .ok_or_else(|| invalid("spec.crd.spec.names.kind", "missing: the constraint kind"))?;
    let targets = doc
        .pointer("/spec/targets")
        .and_then(Value::as_array)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| invalid("spec.targets", "missing: one target with rego"))?;
    let (index, target) = targets
        .iter()
        .enumerate()
        .find(|(_, t)| str_at(t, "/target") == Some(TARGET))
        .ok_or_else(|| invalid("spec.targets", &format!("no target {TARGET}")))?;
    let field = format!("spec.targets[{index}]");
    // `rego`/`libs`, or the newer `code: [{engine: Rego, source: {rego, libs, version}}]`.
    let code = target.get("code").and_then(Value::as_array).and_then(|code| {
        code.iter().position(|c| str_at(c, "/engine") == Some("Rego")).map(|i| (i, &code[i]["source"]))
    });
    let (source, source_field) = match code {
        Some((i, source)) if target.get("rego").is_none() => (source, format!("{field}.code[{i}].source")),
        _ => (target, field.clone()),
    };
    let rego_text = source
        .get("rego")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid(&format!("{source_field}.rego"), "missing: the template's Rego"))?;
    let v1 = match source.get("version") {
        None => false,
        Some(Value::String(v)) if v == "v0" => false,
        Some(Value::String(v)) if v == "v1" => true,
        Some(other) => {
            return Err(invalid(&format!("{source_field}.version"), &format!("{other} is not v0 or v1")));
        }
    };
    let mut engine = rego::new_engine(timeout);
    let label = PathBuf::from(format!("{}#{name}.rego", path.display()));
    let package = rego::add_module(&mut engine, &label, rego_text.to_owned(), !v1)?;
    if let Some(libs) = source.get("libs") {
        let libs = libs
            .as_array()
            .ok_or_else(|| invalid(&format!("{source_field}.libs"), "must be a list of Rego modules"))?;
        for (i, lib) in libs.iter().enumerate() {
            let text = lib
                .as_str()
                .ok_or_else(|| invalid(&format!("{source_field}.libs[{i}]"), "must be Rego source text"))?;
            let lib = PathBuf::from(format!("{}#{name}.lib{i}.rego", path.display()));
            rego::add_module(&mut engine, &lib, text.to_owned(), !v1)?;
        }
    }
    crate::recursion::check(engine.get_modules())?;
    let declared = engine
        .has_declared_rule_rooted_at(&label.display().to_string(), "violation")
        .map_err(|e| PolicyError::Rego { path: label.clone(), message: format!("{e}") })?;
    if !declared {
        return Err(invalid(&format!("{source_field}.rego"), &format!("{package} has no `violation` rule")));
    }
    Ok(Template {
        kind: kind.to_owned(),
        path: path.to_owned(),
        engine,
        rule: format!("{package}.violation"),
    })
}

/// Reads a constraint document.
pub(crate) fn load_constraint(path: &Path, doc: &Value) -> Result<Constraint, PolicyError> {
    let kind = str_at(doc, "/kind").unwrap_or("?");
    let name = str_at(doc, "/metadata/name").unwrap_or("?");
    let document = format!("{kind} {name}");
    if name == "?" {
        return Err(PolicyError::invalid(path, &document, "metadata.name", "missing"));
    }
    let spec = doc.get("spec").cloned().unwrap_or(Value::Object(Map::new()));
    let enforcement = match spec.get("enforcementAction") {
        None => Enforcement::Deny,
        Some(Value::String(a)) if a == "deny" => Enforcement::Deny,
        Some(Value::String(a)) if a == "warn" => Enforcement::Warn,
        Some(Value::String(a)) if a == "dryrun" => Enforcement::Dryrun,
        Some(other) => {
            return Err(PolicyError::invalid(
                path,
                &document,
                "spec.enforcementAction",
                format!("{other} is not deny, warn or dryrun"),
            ));
        }
    };
    let matcher = parse_match(spec.get("match"), path, &document)?;
    let parameters = spec.get("parameters").cloned().unwrap_or(Value::Object(Map::new()));
    if !parameters.is_object() {
        return Err(PolicyError::invalid(path, &document, "spec.parameters", "must be an object"));
    }
    Ok(Constraint {
        kind: kind.to_owned(),
        name: name.to_owned(),
        path: path.to_owned(),
        parameters: rego::to_rego(&parameters),
        matcher,
        enforcement,
    })
}

/// `input.review` for one review, as Gatekeeper builds it from an admission request;
/// `object` is the review's object, already converted.
pub(crate) fn review_input(review: &Subject<'_>, object: regorus::Value) -> regorus::Value {
    let gvk = review.object.gvk();
    let mut r = json!({
        "kind": {"group": gvk.group, "version": gvk.version, "kind": gvk.kind},
        "name": review.object.name().unwrap_or_default(),
        "operation": review.operation.as_str(),
        "dryRun": false,
        "userInfo": {"username": "driftless"},
    });
    if let Some(ns) = review.object.namespace() {
        r["namespace"] = json!(ns);
    }
    if let Some(old) = review.old_object {
        r["oldObject"] = old.as_value().clone();
    }
    let mut review = rego::to_rego(&r);
    if let Ok(map) = review.as_object_mut() {
        map.insert(regorus::Value::from("object"), object);
    }
    review
}

/// Gatekeeper's `data.inventory` from objects.
pub(crate) fn inventory_data<'a>(objects: impl IntoIterator<Item = &'a Object>) -> Value {
    let mut cluster = Map::new();
    let mut namespaced = Map::new();
    for o in objects {
        let Some(name) = o.name() else { continue };
        let (root, ns) = match o.namespace() {
            Some(ns) => (&mut namespaced, Some(ns)),
            None => (&mut cluster, None),
        };
        let mut node = root;
        if let Some(ns) = ns {
            node = entry(node, ns);
        }
        node = entry(node, o.api_version());
        node = entry(node, o.kind());
        node.insert(name.to_owned(), o.as_value().clone());
    }
    json!({"inventory": {"cluster": cluster, "namespace": namespaced}})
}

fn entry<'a>(map: &'a mut Map<String, Value>, key: &str) -> &'a mut Map<String, Value> {
    let slot = map.entry(key.to_owned()).or_insert_with(|| Value::Object(Map::new()));
    if !slot.is_object() {
        *slot = Value::Object(Map::new());
    }
    match slot {
        Value::Object(m) => m,
        _ => unreachable!("just made an object"),
    }
}

/// Evaluates one template rule against one review input; the messages.
pub(crate) fn evaluate(
    engine: &mut Engine,
    rule: &str,
    input: regorus::Value,
) -> Result<Vec<String>, String> {
    engine.set_input(input);
    rego::eval_messages(engine, rule)
}

/// `{"review": ..., "parameters": ...}`.
pub(crate) fn input(review: &regorus::Value, parameters: &regorus::Value) -> regorus::Value {
    let mut map = std::collections::BTreeMap::new();
    map.insert(regorus::Value::from("review"), review.clone());
    map.insert(regorus::Value::from("parameters"), parameters.clone());
    regorus::Value::from(map)
}
