//! A report as text, JSON, SARIF 2.1.0 or wg-policy `PolicyReport` objects.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use driftless_core::policy::{PolicyDecision, PolicyOutcome};
use driftless_core::spec::Enforcement;
use serde_json::{Value, json};

use crate::Report;

fn enforcement_name(e: Enforcement) -> &'static str {
    match e {
        Enforcement::Deny => "deny",
        Enforcement::Warn => "warn",
        Enforcement::Dryrun => "dryrun",
    }
}

fn outcome_name(o: PolicyOutcome) -> &'static str {
    match o {
        PolicyOutcome::Allowed => "allowed",
        PolicyOutcome::Denied => "denied",
        PolicyOutcome::Warned => "warned",
        PolicyOutcome::DryRun => "dryrun",
        PolicyOutcome::Waived => "waived",
        PolicyOutcome::Error => "error",
    }
}

fn object_json(d: &PolicyDecision) -> Value {
    match &d.object {
        Some(o) => {
            json!({"apiVersion": o.api_version, "kind": o.kind, "namespace": o.namespace, "name": o.name})
        }
        None => Value::Null,
    }
}

/// One line per violation message, then a summary line.
#[must_use]
pub fn text(report: &Report) -> String {
    let mut out = String::new();
    for d in report.violations() {
        let object = d.object.as_ref().map_or_else(|| "(the whole set)".to_owned(), ToString::to_string);
        let waiver = d.waiver.as_ref().map(|w| format!(" [waiver {}]", w.name)).unwrap_or_default();
        for m in &d.messages {
            let _ = writeln!(
                out,
                "{:<7} {} {}: {m}{waiver}",
                outcome_name(d.outcome).to_uppercase(),
                d.policy,
                object
            );
        }
    }
    for w in &report.expired_waivers {
        let _ = writeln!(
            out,
            "EXPIRED waiver {} (policy {}) expired {}; it no longer applies",
            w.name, w.policy, w.expired
        );
    }
    let s = report.summary();
    let _ = writeln!(
        out,
        "{} objects, {} decisions: {} denied, {} warned, {} dryrun, {} waived, {} errors — {}",
        s.objects,
        s.decisions,
        s.denied,
        s.warned,
        s.dryrun,
        s.waived,
        s.errors,
        if s.allowed_to_sync { "allowed" } else { "DENIED" }
    );
    out
}

/// `{"violations": [{"policy","enforcement","object","message",...}], "summary": {...}}`.
#[must_use]
pub fn json(report: &Report) -> Value {
    let mut violations = Vec::new();
    for d in report.violations() {
        for m in &d.messages {
            let mut v = json!({
                "policy": d.policy,
                "engine": d.engine,
                "enforcement": enforcement_name(d.enforcement),
                "outcome": outcome_name(d.outcome),
                "object": object_json(d),
                "message": m,
            });
            if let Some(w) = &d.waiver {
                v["waiver"] = json!(w);
            }
            violations.push(v);
        }
    }
    json!({
        "violations": violations,
        "expiredWaivers": report.expired_waivers,
        "summary": report.summary(),
    })
}

/// SARIF 2.1.0, one result per violation message; objects as logical locations.
#[must_use]
pub fn sarif(report: &Report) -> Value {
    let mut rules: BTreeMap<&str, &str> = BTreeMap::new();
    let mut results = Vec::new();
    for d in report.violations() {
        rules.insert(&d.policy, &d.engine);
        let level = match d.outcome {
            PolicyOutcome::Denied | PolicyOutcome::Error => "error",
            PolicyOutcome::Warned => "warning",
            _ => "note",
        };
        let location = d.object.as_ref().map(|o| {
            let name = match &o.namespace {
                Some(ns) => format!("{}/{}/{ns}/{}", o.api_version, o.kind, o.name),
                None => format!("{}/{}/{}", o.api_version, o.kind, o.name),
            };
            json!([{"logicalLocations": [{"fullyQualifiedName": name, "kind": "object"}]}])
        });
        for m in &d.messages {
            let mut r = json!({
                "ruleId": d.policy,
                "level": level,
                "message": {"text": m},
                "properties": {"outcome": outcome_name(d.outcome), "enforcement": enforcement_name(d.enforcement)},
            });
            if let Some(l) = &location {
                r["locations"] = l.clone();
            }
            if d.outcome == PolicyOutcome::Waived
                && let Some(w) = &d.waiver
            {
                r["suppressions"] = json!([{"kind": "external", "justification": w.justification}]);
            }
            results.push(r);
        }
    }
    let rules: Vec<Value> =
        rules.into_iter().map(|(id, engine)| json!({"id": id, "properties": {"engine": engine}})).collect();
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "driftless", "informationUri": "https://example.invalid/driftless", "rules": rules}},
            "results": results,
        }],
    })
}

/// wg-policy `PolicyReport`s (`wgpolicyk8s.io/v1alpha2`): one per namespace, and a
/// `ClusterPolicyReport` for cluster-scoped objects and verdicts on the whole set.
#[must_use]
pub fn policy_reports(report: &Report) -> Vec<Value> {
    let mut by_namespace: BTreeMap<Option<String>, Vec<Value>> = BTreeMap::new();
    for d in &report.decisions {
        let result = match d.outcome {
            PolicyOutcome::Allowed => "pass",
            PolicyOutcome::Denied | PolicyOutcome::DryRun => "fail",
            PolicyOutcome::Warned => "warn",
            PolicyOutcome::Waived => "skip",
            PolicyOutcome::Error => "error",
        };
        let mut r = json!({
            "source": "driftless",
            "policy": d.policy,
            "result": result,
            "scored": true,
            "properties": {"engine": d.engine, "enforcement": enforcement_name(d.enforcement)},
        });
        if !d.messages.is_empty() {
            r["message"] = json!(d.messages.join("; "));
        }
        if let Some(w) = &d.waiver {
            r["properties"]["waiver"] = json!(w.name);
        }
        if let Some(o) = &d.object {
            let mut resource = json!({"apiVersion": o.api_version, "kind": o.kind, "name": o.name});
            if let Some(ns) = &o.namespace {
                resource["namespace"] = json!(ns);
            }
            r["resources"] = json!([resource]);
        }
        let ns = d.object.as_ref().and_then(|o| o.namespace.clone());
        by_namespace.entry(ns).or_default().push(r);
    }
    by_namespace
        .into_iter()
        .map(|(ns, results)| {
            let mut summary = json!({"pass": 0, "fail": 0, "warn": 0, "error": 0, "skip": 0});
            for r in &results {
                if let Some(key) = r["result"].as_str() {
                    summary[key] = json!(summary[key].as_u64().unwrap_or(0) + 1);
                }
            }
            let mut metadata =
                json!({"name": "driftless-policy", "labels": {"app.kubernetes.io/managed-by": "driftless"}});
            let kind = match &ns {
                Some(ns) => {
                    metadata["namespace"] = json!(ns);
                    "PolicyReport"
                }
                None => "ClusterPolicyReport",
            };
            json!({
                "apiVersion": "wgpolicyk8s.io/v1alpha2",
                "kind": kind,
                "metadata": metadata,
                "summary": summary,
                "results": results,
            })
        })
        .collect()
}
