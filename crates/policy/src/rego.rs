//! Rego source policies, conftest style, evaluated with regorus.
//!
//! Every package that declares `deny`, `violation` or `warn` is a policy, evaluated once per
//! object with `input` = the object. Rules named `deny_set`, `violation_set` and `warn_set` are
//! evaluated once over the whole set, with `input` = `{"objects": [...]}`. Each rule yields
//! messages: strings, or objects with a `msg` field.

use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use driftless_core::spec::Enforcement;
use regorus::languages::rego::compiler::Compiler;
use regorus::rvm::vm::VmError;
use regorus::rvm::{Program, RegoVM};
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

/// The evaluation time limit, checked every 64 steps.
fn timer(timeout: Duration) -> ExecutionTimerConfig {
    ExecutionTimerConfig { limit: timeout, check_interval: NonZeroU32::MIN.saturating_add(63) }
}

/// Makes an engine with the evaluation time limit.
pub(crate) fn new_engine(timeout: Duration) -> Engine {
    let mut engine = Engine::new();
    engine.set_execution_timer_config(timer(timeout));
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

/// The batch rule compiled to bytecode for regorus's virtual machine (RVM), which runs it
/// several times faster than the tree-walking interpreter. The interpreter stays the reference:
/// whatever the VM cannot compile is interpreted, and an object on which the VM fails is
/// interpreted again, so errors are reported (and attributed to their policy) as before.
#[derive(Clone)]
pub(crate) struct VmBatch {
    program: Arc<Program>,
    data: Value,
    timer: ExecutionTimerConfig,
}

impl std::fmt::Debug for VmBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VmBatch").field("instructions", &self.program.instructions.len()).finish()
    }
}

impl VmBatch {
    /// Compiles the batch rule of `engine` (added by [`add_batch`]); `None`, logged, when the VM
    /// does not support something the policies use (e.g. `with`).
    pub(crate) fn compile(engine: &Engine, timeout: Duration) -> Option<Self> {
        // Compiling prepares the engine for that entry point: do it on a copy.
        let mut copy = engine.clone();
        let entry: regorus::Rc<str> = regorus::Rc::from(BATCH_RULE);
        let compiled = copy.compile_with_entrypoint(&entry).map_err(|e| e.to_string()).and_then(|policy| {
            Compiler::compile_from_policy(&policy, &[BATCH_RULE]).map_err(|e| e.to_string())
        });
        match compiled {
            Ok(program) => Some(Self { program, data: engine.get_data(), timer: timer(timeout) }),
            Err(e) => {
                tracing::debug!(error = %e, "Rego policies left to the interpreter");
                None
            }
        }
    }

    /// A VM ready to run the batch (one per thread: it holds evaluation state).
    pub(crate) fn vm(&self) -> Option<RegoVM> {
        let mut vm = RegoVM::new();
        vm.load_program(self.program.clone());
        vm.set_data(self.data.clone()).ok()?;
        // As the interpreter: builtin errors are errors, time is the only limit.
        vm.set_strict_builtin_errors(true);
        vm.set_max_instructions(usize::MAX);
        vm.set_execution_timer_config(Some(self.timer));
        Some(vm)
    }
}

/// One rule's messages, or why it could not be evaluated.
pub(crate) type RuleResult<'a> = (&'a RegoPolicy, &'a MessageRule, Result<Vec<String>, String>);

/// Evaluates every per-object rule on the engine's input: one evaluation for all of them, or,
/// when that fails (one rule errors or runs out of time), one per rule so the error is
/// attributed to its policy.
/// With a VM, the batch runs there first; the interpreter takes over when the VM fails.
pub(crate) fn eval_object<'a>(
    engine: &mut Engine,
    vm: Option<&mut RegoVM>,
    input: Value,
    policies: &'a [RegoPolicy],
) -> Vec<RuleResult<'a>> {
    let rules: Vec<(&RegoPolicy, &MessageRule)> = policies
        .iter()
        .flat_map(|p| p.rules.iter().filter(|r| r.scope == Scope::Object).map(move |r| (p, r)))
        .collect();
    let mut batch = true;
    if let Some(vm) = vm {
        vm.set_input(input.clone());
        let result = vm.execute();
        // Free the input now rather than at the next object.
        vm.set_input(Value::Undefined);
        match result {
            Ok(value) => {
                if let Some(out) = batch_results(&rules, &value) {
                    return out;
                }
            }
            // The interpreter's batch would run out of time as well: go rule by rule at once,
            // so a runaway policy costs two time limits, not three.
            Err(VmError::TimeLimitExceeded { .. }) => batch = false,
            Err(e) => tracing::debug!(error = %e, "the VM failed on an object; interpreting it"),
        }
    }
    engine.set_input(input);
    if batch {
        let value = engine.eval_rule(BATCH_RULE.to_owned());
        if let Some(out) = value.ok().and_then(|v| batch_results(&rules, &v)) {
            return out;
        }
    }
    // Rule by rule, each under the time limit, so an error names its policy.
    rules.into_iter().map(|(p, r)| (p, r, eval_messages(engine, &r.path))).collect()
}

/// The messages of each rule from the batch's value: one `[value]` (or `[]` when undefined)
/// per rule, in order.
fn batch_results<'a>(
    rules: &[(&'a RegoPolicy, &'a MessageRule)],
    value: &Value,
) -> Option<Vec<RuleResult<'a>>> {
    let Value::Array(results) = value else { return None };
    if results.len() != rules.len() {
        return None;
    }
    Some(
        rules
            .iter()
            .zip(results.iter())
            .map(|((p, r), v)| {
                let messages = match v {
                    Value::Array(a) => a.first().map(messages).unwrap_or_default(),
                    _ => Vec::new(),
                };
                (*p, *r, Ok(messages))
            })
            .collect(),
    )
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
