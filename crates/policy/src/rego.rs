//! Rego source policies, conftest style, evaluated with regorus.
//!
//! Every package that declares `deny`, `violation` or `warn` is a policy, evaluated once per
//! object with `input` = the object. Rules named `deny_set`, `violation_set` and `warn_set` are
//! evaluated once over the whole set, with `input` = `{"objects": [...]}`. Each rule yields
//! messages: strings, or objects with a `msg` field.

use std::path::{Path, PathBuf};
use std::time::Duration;

use driftless_core::spec::Enforcement;
use regorus::rvm::RegoVM;
use regorus::unstable::{Lexer, Source, Token, TokenKind};
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

/// Makes an engine with the evaluation time limit and the bounded builtins.
pub(crate) fn new_engine(timeout: Duration) -> Engine {
    let mut engine = Engine::new();
    engine.set_execution_timer_config(crate::vm::timer(timeout));
    crate::builtins::install(&mut engine);
    engine
}

/// Adds one Rego module, in v0 when the file says so or `v0` is set.
pub(crate) fn add_module(
    engine: &mut Engine,
    path: &Path,
    text: String,
    v0: bool,
) -> Result<String, PolicyError> {
    let test = path.file_name().is_some_and(|n| n.to_string_lossy().ends_with("_test.rego"));
    let limit = if test { MAX_TEST_BRACKET_NESTING } else { MAX_BRACKET_NESTING };
    if let Some((line, col)) = nested_too_deep(&path.display().to_string(), &text, limit) {
        return Err(PolicyError::Rego {
            path: path.to_owned(),
            message: format!(
                "{}:{line}:{col}: brackets nested more than {limit} deep (regorus's parser \
                 takes time exponential in the nesting)",
                path.display()
            ),
        });
    }
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

/// How deep `[` and `{` may nest in a Rego policy. regorus 0.14's parser tries each bracket as
/// a comprehension first and parses its contents again when that fails, so its time doubles
/// with each level (25 levels: minutes, a hostile policy's way to stall every sync).
pub(crate) const MAX_BRACKET_NESTING: usize = 12;

/// The same for test files (`*_test.rego`), which only `policy test` reads: a Kubernetes
/// object written out in `with input as {...}` nests about a dozen deep.
pub(crate) const MAX_TEST_BRACKET_NESTING: usize = 16;

/// Where `[` and `{` first nest deeper than `limit` (line and column), read with regorus's own
/// lexer, so strings, raw strings and comments are skipped exactly as the parser skips them.
/// `None` also when the text does not lex: the parser then reports that.
fn nested_too_deep(label: &str, text: &str, limit: usize) -> Option<(u32, u32)> {
    let source = Source::from_contents(label.to_owned(), text.to_owned()).ok()?;
    let mut lexer = Lexer::new(&source);
    let mut depth = 0_usize;
    loop {
        let Token(kind, span) = lexer.next_token().ok()?;
        match (kind, span.text()) {
            (TokenKind::Eof, _) => return None,
            (TokenKind::Symbol, "[" | "{") => {
                depth += 1;
                if depth > limit {
                    return Some((span.line, span.col));
                }
            }
            (TokenKind::Symbol, "]" | "}") => depth = depth.saturating_sub(1),
            _ => {}
        }
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
/// Every per-object rule.
const BATCH_RULE: &str = "data.driftless_internal_batch.results";
/// The per-object rules that run on the VM.
const VM_RULE: &str = "data.driftless_internal_batch.vm";
/// The per-object rules left to the interpreter when the others run on the VM.
const REST_RULE: &str = "data.driftless_internal_batch.rest";

/// Every per-object message rule, in order, with its policy.
fn object_rules(policies: &[RegoPolicy]) -> Vec<(&RegoPolicy, &MessageRule)> {
    policies
        .iter()
        .flat_map(|p| p.rules.iter().filter(|r| r.scope == Scope::Object).map(move |r| (p, r)))
        .collect()
}

/// A rule whose value is `[[x | x := data.<package>.<rule>], ...]`: one entry per rule, `[]`
/// when undefined, never undefined itself.
fn batch_rule(name: &str, rules: &[&MessageRule]) -> String {
    let mut text = format!("{name} := [\n");
    for rule in rules {
        text.push_str(&format!("\t[x | x := {}],\n", rule.path));
    }
    text.push_str("]\n");
    text
}

/// Where each per-object rule is evaluated: on the VM (with the interpreter as fallback), or
/// in the interpreter.
#[derive(Debug, Clone, Default)]
pub(crate) struct Plan {
    /// The VM program for the rules of `on_vm`; `None` when no policy can run there.
    pub vm: Option<crate::vm::VmProgram>,
    /// Per per-object rule (in [`object_rules`] order): whether it runs on the VM.
    pub on_vm: Vec<bool>,
}

impl Plan {
    /// The ids of the policies whose per-object rules run on the VM.
    pub(crate) fn vm_policies(&self, policies: &[RegoPolicy]) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for ((p, _), on_vm) in object_rules(policies).into_iter().zip(&self.on_vm) {
            if *on_vm && self.vm.is_some() && !out.contains(&p.id) {
                out.push(p.id.clone());
            }
        }
        out
    }
}

/// Adds the batch module: `results` gathers every per-object message rule, so that helper
/// rules shared by policies are computed once per object, not once per rule; `vm` gathers
/// those of the policies the VM decides as the interpreter (each compiled and audited alone,
/// see [`crate::vm::obstacle`]), `rest` the others. Then evaluates `results` once (on an empty
/// input) so that the engine, and its clones, are prepared.
pub(crate) fn add_batch(
    engine: &mut Engine,
    policies: &[RegoPolicy],
    timeout: Duration,
) -> Result<Plan, PolicyError> {
    let path = Path::new("(driftless batch)");
    let all: Vec<&MessageRule> = object_rules(policies).into_iter().map(|(_, r)| r).collect();
    // Each policy's rules alone, to audit what the VM makes of them.
    let mut probe = engine.clone();
    let mut text = format!("package {BATCH_PACKAGE}\n\n");
    let with_rules: Vec<&RegoPolicy> =
        policies.iter().filter(|p| p.rules.iter().any(|r| r.scope == Scope::Object)).collect();
    for (i, p) in with_rules.iter().enumerate() {
        let rules: Vec<&MessageRule> = p.rules.iter().filter(|r| r.scope == Scope::Object).collect();
        text.push_str(&batch_rule(&format!("policy_{i}"), &rules));
    }
    add_module(&mut probe, path, text, false)?;
    let mut on_vm_policy: Vec<&str> = Vec::new();
    for (i, p) in with_rules.iter().enumerate() {
        let rule = format!("data.{BATCH_PACKAGE}.policy_{i}");
        match crate::vm::compile(&probe, &rule) {
            Ok(program) => match crate::vm::obstacle(&program) {
                None => on_vm_policy.push(&p.id),
                Some(why) => {
                    tracing::debug!(policy = %p.id, why = %why, "policy left to the Rego interpreter")
                }
            },
            Err(e) => {
                tracing::debug!(policy = %p.id, error = %e, "policy left to the Rego interpreter: the VM cannot compile it")
            }
        }
    }
    let on_vm: Vec<bool> =
        object_rules(policies).iter().map(|(p, _)| on_vm_policy.contains(&p.id.as_str())).collect();
    let pick = |vm: bool| -> Vec<&MessageRule> {
        all.iter().zip(&on_vm).filter(|(_, v)| **v == vm).map(|(r, _)| *r).collect()
    };
    let text = format!(
        "package {BATCH_PACKAGE}\n\n{}{}{}",
        batch_rule("results", &all),
        batch_rule("vm", &pick(true)),
        batch_rule("rest", &pick(false))
    );
    add_module(engine, path, text, false)?;
    engine.set_input(Value::new_object());
    let _ = engine.eval_rule(BATCH_RULE.to_owned());
    let mut plan = Plan { vm: None, on_vm };
    if plan.on_vm.iter().any(|v| *v) {
        let made = crate::vm::compile(engine, VM_RULE).and_then(|program| {
            // The audit was per policy; the union is audited again (it shares helpers).
            if let Some(why) = crate::vm::obstacle(&program) {
                return Err(why);
            }
            crate::vm::VmProgram::new(program, engine.get_data(), crate::vm::timer(timeout))
        });
        match made {
            Ok(vm) => plan.vm = Some(vm),
            Err(e) => tracing::debug!(error = %e, "Rego policies left to the interpreter"),
        }
    }
    Ok(plan)
}

/// One rule's messages, or why it could not be evaluated.
pub(crate) type RuleResult<'a> = (&'a RegoPolicy, &'a MessageRule, Result<Vec<String>, String>);

/// Evaluates every per-object rule on `input`. With a VM, the rules it runs go there first
/// and the others to the interpreter's `rest` batch; without, all go to the interpreter's
/// batch. When the VM cannot be trusted on this object (a builtin erred, the VM failed), the
/// interpreter judges the object; when an interpreter batch fails (a rule errs or runs out of
/// time), its rules are evaluated one by one, each under the time limit, so the error is
/// attributed to its policy.
pub(crate) fn eval_object<'a>(
    engine: &mut Engine,
    vm: Option<&mut RegoVM>,
    plan: &Plan,
    input: Value,
    policies: &'a [RegoPolicy],
) -> Vec<RuleResult<'a>> {
    let rules = object_rules(policies);
    let mut results: Vec<Option<Result<Vec<String>, String>>> = vec![None; rules.len()];
    let mut interpret: Vec<usize> = (0..rules.len()).collect();
    let mut batch = Some(BATCH_RULE);
    if let Some(vm) = vm {
        let on_vm: Vec<usize> = (0..rules.len()).filter(|i| plan.on_vm.get(*i) == Some(&true)).collect();
        match crate::vm::VmProgram::run(vm, input.clone()) {
            crate::vm::VmRun::Value(value) => {
                if let Some(values) = batch_values(&value, on_vm.len()) {
                    for (i, messages) in on_vm.iter().zip(values) {
                        results[*i] = Some(Ok(messages));
                    }
                    interpret.retain(|i| results[*i].is_none());
                    batch = Some(REST_RULE);
                }
            }
            // The interpreter's batch would run out of time as well: go rule by rule at once,
            // so a runaway policy costs two time limits, not three.
            crate::vm::VmRun::TimedOut => batch = None,
            crate::vm::VmRun::Interpret => {}
        }
    }
    if !interpret.is_empty() {
        engine.set_input(input);
        let values = batch.and_then(|rule| engine.eval_rule(rule.to_owned()).ok());
        match values.as_ref().and_then(|v| batch_values(v, interpret.len())) {
            Some(values) => {
                for (i, messages) in interpret.iter().zip(values) {
                    results[*i] = Some(Ok(messages));
                }
            }
            None => {
                for i in &interpret {
                    results[*i] = Some(eval_messages(engine, &rules[*i].1.path));
                }
            }
        }
    }
    rules
        .into_iter()
        .zip(results)
        .map(|((p, r), result)| (p, r, result.unwrap_or_else(|| Err("not evaluated".into()))))
        .collect()
}

/// The messages of each rule from a batch's value: one `[value]` (or `[]` when undefined) per
/// rule, in order; `None` when the value does not have that shape.
fn batch_values(value: &Value, len: usize) -> Option<Vec<Vec<String>>> {
    let Value::Array(results) = value else { return None };
    if results.len() != len {
        return None;
    }
    Some(
        results
            .iter()
            .map(|v| match v {
                Value::Array(a) => a.first().map(messages).unwrap_or_default(),
                _ => Vec::new(),
            })
            .collect(),
    )
}

/// Evaluates one rule and reads its messages. Undefined means none. An error names the rule.
pub(crate) fn eval_messages(engine: &mut Engine, rule: &str) -> Result<Vec<String>, String> {
    let value = engine.eval_rule(rule.to_owned()).map_err(|e| format!("{rule}: {e}"))?;
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
