//! Rego source policies, conftest style, evaluated with regorus.
//!
//! Every package that declares `deny`, `violation` or `warn` is a policy, evaluated once per
//! object with `input` = the object. Rules named `deny_set`, `violation_set` and `warn_set` are
//! evaluated once over the whole set, with `input` = `{"objects": [...]}`. Each rule yields
//! messages: strings, or objects with a `msg` field.

use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::time::Duration;

use driftless_core::spec::Enforcement;
use regorus::utils::limits::ExecutionTimerConfig;
use regorus::{Engine, Value};

use crate::PolicyError;

/// The comment that makes a file Rego v0 (before its `package` line).
pub const REGO_V0_MARKER: &str = "# driftless: rego.v0";

/// Whether a rule is judged per object or once over the whole set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scope {
    Object,
    Set,
}

/// One rule that yields messages.
#[derive(Debug, Clone)]
pub(crate) struct MessageRule {
    /// `data.<package>.<rule>`.
    pub path: String,
    /// `deny`/`violation` rules deny; `warn` rules warn.
    pub enforcement: Enforcement,
    pub scope: Scope,
}

/// One package with message rules.
#[derive(Debug, Clone)]
pub(crate) struct RegoPolicy {
    /// The package, without `data.`.
    pub id: String,
    /// The file that declares it first.
    pub path: PathBuf,
    pub rules: Vec<MessageRule>,
}

/// Makes an engine with the evaluation time limit.
pub(crate) fn new_engine(timeout: Duration) -> Engine {
    let mut engine = Engine::new();
    engine.set_execution_timer_config(ExecutionTimerConfig {
        limit: timeout,
        check_interval: NonZeroU32::MIN.saturating_add(63),
    });
    engine
}

/// Adds one Rego module, in v0 when the file says so or `v0` is set.
pub(crate) fn add_module(
    engine: &mut Engine,
    path: &Path,
    text: String,
    v0: bool,
) -> Result<String, PolicyError> {
    let v0 = v0 || declares_v0(&text);
    engine.set_rego_v0(v0);
    let label = path.display().to_string();
    let result = engine.add_policy(label, text);
    engine.set_rego_v0(false);
    result.map_err(|e| PolicyError::Rego { path: path.to_owned(), message: compact_error(&format!("{e}")) })
}

/// regorus's multi-line diagnostic (`--> file:line:col`, the source line, `error: what`) as one
/// line: `file:line:col: what`.
pub(crate) fn compact_error(text: &str) -> String {
    let location = text.lines().find_map(|l| l.trim().strip_prefix("--> "));
    let what = text.lines().find_map(|l| l.trim().strip_prefix("error: "));
    match (location, what) {
        (Some(location), Some(what)) => format!("{location}: {what}"),
        _ => text.trim().to_owned(),
    }
}

fn declares_v0(text: &str) -> bool {
    text.lines().map(str::trim).take_while(|l| !l.starts_with("package ")).any(|l| l == REGO_V0_MARKER)
}

/// The message rules of each package declared by `files` in `engine`.
pub(crate) fn discover(engine: &Engine, files: &[(PathBuf, String)]) -> Result<Vec<RegoPolicy>, PolicyError> {
    let mut policies: Vec<RegoPolicy> = Vec::new();
    for (path, package) in files {
        let label = path.display().to_string();
        let id = package.strip_prefix("data.").unwrap_or(package).to_owned();
        let mut rules = Vec::new();
        for (name, enforcement, scope) in [
            ("deny", Enforcement::Deny, Scope::Object),
            ("violation", Enforcement::Deny, Scope::Object),
            ("warn", Enforcement::Warn, Scope::Object),
            ("deny_set", Enforcement::Deny, Scope::Set),
            ("violation_set", Enforcement::Deny, Scope::Set),
            ("warn_set", Enforcement::Warn, Scope::Set),
        ] {
            let declared = engine
                .has_declared_rule_rooted_at(&label, name)
                .map_err(|e| PolicyError::Rego { path: path.clone(), message: format!("{e}") })?;
            if declared {
                rules.push(MessageRule { path: format!("{package}.{name}"), enforcement, scope });
            }
        }
        if rules.is_empty() {
            continue;
        }
        match policies.iter_mut().find(|p| p.id == id) {
            Some(existing) => {
                for rule in rules {
                    if !existing.rules.iter().any(|r| r.path == rule.path) {
                        existing.rules.push(rule);
                    }
                }
            }
            None => policies.push(RegoPolicy { id, path: path.clone(), rules }),
        }
    }
    Ok(policies)
}

/// The package of the batch module, which gathers every per-object rule in one evaluation.
const BATCH_PACKAGE: &str = "driftless_internal_batch";
const BATCH_RULE: &str = "data.driftless_internal_batch.results";

/// Adds a module whose one rule evaluates every per-object message rule at once, so that
/// helper rules shared by policies are computed once per object, not once per rule. Each
/// entry is `[x | x := data.<package>.<rule>]`: `[]` when undefined, never undefined itself.
/// Then evaluates it once (on an empty input) so that the engine, and its clones, are
/// prepared.
pub(crate) fn add_batch(engine: &mut Engine, policies: &[RegoPolicy]) -> Result<(), PolicyError> {
    let mut text = format!("package {BATCH_PACKAGE}\n\nresults := [\n");
    for p in policies {
        for rule in p.rules.iter().filter(|r| r.scope == Scope::Object) {
            text.push_str(&format!("\t[x | x := {}],\n", rule.path));
        }
    }
    text.push_str("]\n");
    let path = Path::new("(driftless batch)");
    add_module(engine, path, text, false)?;
    engine.set_input(Value::new_object());
    let _ = engine.eval_rule(BATCH_RULE.to_owned());
    Ok(())
}

/// One rule's messages, or why it could not be evaluated.
pub(crate) type RuleResult<'a> = (&'a RegoPolicy, &'a MessageRule, Result<Vec<String>, String>);

/// Evaluates every per-object rule on the engine's input: one evaluation for all of them, or,
/// when that fails (one rule errors or runs out of time), one per rule so the error is
/// attributed to its policy.
pub(crate) fn eval_object<'a>(engine: &mut Engine, policies: &'a [RegoPolicy]) -> Vec<RuleResult<'a>> {
    let rules: Vec<(&RegoPolicy, &MessageRule)> = policies
        .iter()
        .flat_map(|p| p.rules.iter().filter(|r| r.scope == Scope::Object).map(move |r| (p, r)))
        .collect();
    if let Ok(Value::Array(results)) = engine.eval_rule(BATCH_RULE.to_owned()) {
        let out: Vec<_> = rules
            .iter()
            .zip(results.iter())
            .map(|((p, r), v)| {
                let messages = match v {
                    Value::Array(a) => a.first().map(messages).unwrap_or_default(),
                    _ => Vec::new(),
                };
                (*p, *r, Ok(messages))
            })
            .collect();
        if out.len() == results.len() {
            return out;
        }
    }
    rules.into_iter().map(|(p, r)| (p, r, eval_messages(engine, &r.path))).collect()
}

/// Evaluates one rule and reads its messages. Undefined means none.
pub(crate) fn eval_messages(engine: &mut Engine, rule: &str) -> Result<Vec<String>, String> {
    let value = engine.eval_rule(rule.to_owned()).map_err(|e| format!("{e}"))?;
    Ok(messages(&value))
}

/// Messages from a rule's value: each string is one; objects give their `msg`.
pub(crate) fn messages(value: &Value) -> Vec<String> {
    fn one(v: &Value) -> String {
        match v {
            Value::String(s) => s.to_string(),
            Value::Object(map) => match map.get(&Value::from("msg")) {
                Some(Value::String(s)) => s.to_string(),
                _ => v.to_json_str().unwrap_or_default(),
            },
            other => other.to_json_str().unwrap_or_default(),
        }
    }
    let mut out: Vec<String> = match value {
        Value::Undefined | Value::Null => Vec::new(),
        Value::Bool(false) => Vec::new(),
        Value::Set(items) => items.iter().map(one).collect(),
        Value::Array(items) => items.iter().map(one).collect(),
        Value::String(s) if s.is_empty() => Vec::new(),
        other => vec![one(other)],
    };
    out.sort();
    out.dedup();
    out
}

/// A JSON value as a regorus value.
pub(crate) fn to_rego(value: &serde_json::Value) -> Value {
    // Straight from the borrowed JSON, without cloning it first.
    <Value as serde::Deserialize>::deserialize(value).unwrap_or(Value::Undefined)
}
