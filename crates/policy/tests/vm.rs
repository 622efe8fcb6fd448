//! Per-object Rego rules run on regorus's bytecode VM by default, where it decides as the
//! interpreter (the reference, opt-in with `with_rego_interpreter`). These tests compare the
//! decisions of both on mixed sets, and on adversarial policies: errors the VM would swallow
//! must be caught (at load or per object) so the policy fails closed as in the interpreter.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use driftless_core::Object;
use driftless_core::policy::PolicyOutcome;
use driftless_policy::{Inventory, LoadOptions, PolicySet, Report, load_reviews};
use serde_json::json;

fn library() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../policies")
}

fn fixture(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(path)
}

fn obj(v: serde_json::Value) -> Object {
    Object::from_value(v).unwrap()
}

/// Every example of the library, and generated objects that pass and fail each policy in
/// several ways: kinds with and without pod specs, init containers, pod- and container-level
/// security contexts, registries with ports, digests, missing fields.
fn mixed_set() -> Vec<Object> {
    let mut objects = Vec::new();
    let mut examples: Vec<PathBuf> = std::fs::read_dir(library())
        .unwrap()
        .map(|e| e.unwrap().path().join("examples"))
        .filter(|p| p.is_dir())
        .collect();
    examples.sort();
    for dir in examples {
        objects.extend(load_reviews(&[dir]).unwrap().into_iter().map(|r| r.object));
    }
    let images = [
        "registry.example.com/app:1.2",
        "nginx:latest",
        "nginx",
        "registry.example.com:5000/app",
        "registry.example.com:5000/app:2",
        "ghcr.io/x/y@sha256:0123456789abcdef",
    ];
    for i in 0..240usize {
        let image = images[i % images.len()];
        let ns = if i % 11 == 0 { None } else { Some(format!("team-{}", i % 4)) };
        let mut metadata = json!({"name": format!("o-{i}")});
        if let Some(ns) = &ns {
            metadata["namespace"] = json!(ns);
        }
        if i % 3 != 0 {
            metadata["labels"] = json!({"app.kubernetes.io/name": "app", "team": "t"});
        }
        let container = json!({
            "name": format!("c{i}"),
            "image": image,
            "ports": if i % 9 == 0 { json!([{"containerPort": 80, "hostPort": 8080}]) } else { json!([{"containerPort": 80}]) },
            "resources": if i % 4 == 0 { json!({}) } else { json!({"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"memory": "1Gi"}}) },
            "securityContext": match i % 6 {
                0 => json!({"privileged": true, "runAsUser": 0}),
                1 => json!({"allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"], "add": ["NET_ADMIN"]}}),
                2 => json!({"allowPrivilegeEscalation": false, "runAsNonRoot": true, "capabilities": {"drop": ["ALL"]},
                            "seccompProfile": {"type": "RuntimeDefault"}}),
                3 => json!({"runAsNonRoot": false, "seccompProfile": {"type": "Unconfined"}}),
                _ => json!({}),
            },
            "readinessProbe": if i % 5 == 0 { json!(null) } else { json!({"httpGet": {"path": "/", "port": 80}}) },
        });
        let pod_spec = json!({
            "hostNetwork": i % 13 == 0,
            "securityContext": if i % 2 == 0 { json!({"runAsNonRoot": true, "seccompProfile": {"type": "Localhost"}}) } else { json!({}) },
            "containers": [container.clone()],
            "initContainers": if i % 7 == 0 { json!([{"name": "init", "image": "busybox"}]) } else { json!([]) },
            "volumes": if i % 8 == 0 { json!([{"name": "h", "hostPath": {"path": "/var/run"}}]) } else { json!([{"name": "e", "emptyDir": {}}]) },
        });
        let value = match i % 8 {
            0 => json!({"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": pod_spec}),
            1 | 2 => {
                json!({"apiVersion": "apps/v1", "kind": (["Deployment", "StatefulSet"][i % 2]), "metadata": metadata,
                "spec": {"template": {"metadata": {"labels": {"a": "b"}}, "spec": pod_spec}}})
            }
            3 => json!({"apiVersion": "batch/v1", "kind": "CronJob", "metadata": metadata,
                "spec": {"schedule": "* * * * *", "jobTemplate": {"spec": {"template": {"spec": pod_spec}}}}}),
            4 => json!({"apiVersion": "v1", "kind": "Service", "metadata": metadata,
                "spec": {"type": (["ClusterIP", "NodePort", "LoadBalancer"][i % 3]), "ports": [{"port": 80}]}}),
            5 => json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": metadata,
                "spec": {"tls": if i % 3 == 0 { json!([]) } else { json!([{"hosts": ["a.example.com"]}]) },
                         "rules": [{"host": "a.example.com"}, {"host": format!("h{i}.example.com")}]}}),
            6 => json!({"apiVersion": "v1", "kind": "Namespace", "metadata": metadata}),
            _ => json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata, "data": {"k": "v"}}),
        };
        objects.push(obj(value));
    }
    objects
}

fn both(paths: &[PathBuf], objects: &[Object]) -> (Report, Report, bool) {
    let vm = PolicySet::load(paths, &LoadOptions::default()).unwrap().with_threads(1);
    let used = vm.uses_rego_vm();
    let interpreted =
        PolicySet::load(paths, &LoadOptions::default()).unwrap().with_threads(1).with_rego_interpreter(true);
    assert!(!interpreted.uses_rego_vm(), "the interpreter was asked for");
    let inventory = Inventory::default();
    (vm.evaluate(objects, &inventory), interpreted.evaluate(objects, &inventory), used)
}

#[test]
fn the_library_decides_the_same_on_the_vm_and_in_the_interpreter() {
    let objects = mixed_set();
    let (vm, interpreted, used) = both(&[library()], &objects);
    assert!(used, "the library compiles for the VM");
    let set = PolicySet::load(&[library()], &LoadOptions::default()).unwrap();
    assert_eq!(set.rego_vm_policies().len(), set.policies().len(), "every library policy runs on the VM");
    assert_eq!(vm.decisions.len(), interpreted.decisions.len());
    for (a, b) in vm.decisions.iter().zip(&interpreted.decisions) {
        assert_eq!(a, b);
    }
    // The set exercises every policy, both ways, and nothing errs.
    let s = vm.summary();
    assert!(s.denied > 300 && s.warned > 0 && s.allowed > 1000, "{s:?}");
    assert_eq!(s.errors, 0);
    for p in PolicySet::load(&[library()], &LoadOptions::default()).unwrap().policies() {
        let mine = vm.decisions.iter().filter(|d| d.policy == p.id);
        let outcomes: Vec<PolicyOutcome> = mine.map(|d| d.outcome).collect();
        assert!(outcomes.contains(&PolicyOutcome::Allowed), "{} never allows", p.id);
        assert!(outcomes.iter().any(|o| *o != PolicyOutcome::Allowed), "{} never flags", p.id);
    }
}

#[test]
fn threads_on_the_vm_keep_the_order() {
    let objects = mixed_set();
    let one = PolicySet::load(&[library()], &LoadOptions::default()).unwrap().with_threads(1);
    let three = PolicySet::load(&[library()], &LoadOptions::default()).unwrap().with_threads(3);
    let inventory = Inventory::default();
    assert_eq!(one.evaluate(&objects, &inventory).decisions, three.evaluate(&objects, &inventory).decisions);
}

#[test]
fn fixtures_with_data_helpers_and_set_rules_decide_the_same() {
    let objects = mixed_set();
    let (vm, interpreted, used) = both(&[fixture("rego")], &objects);
    assert!(used);
    assert_eq!(vm.decisions, interpreted.decisions);
    assert!(vm.summary().denied > 0);
}

/// Conflicting values of a complete rule: an error in the interpreter, an undefined rule on
/// regorus 0.14's VM (the policy would pass). The policy is found at load and interpreted.
#[test]
fn a_rule_that_can_conflict_is_interpreted_and_fails_closed() {
    let pod = obj(json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}}));
    let (vm, interpreted, used) = both(&[fixture("broken")], std::slice::from_ref(&pod));
    assert!(!used, "k8s.conflict is left to the interpreter");
    assert_eq!(vm.decisions, interpreted.decisions);
    assert_eq!(vm.decisions[0].outcome, PolicyOutcome::Error);
    assert_eq!(vm.decisions[0].policy, "k8s.conflict");
    assert!(vm.denied());
}

fn pod(name: &str, labels: serde_json::Value, spec: serde_json::Value) -> Object {
    obj(
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "ns", "labels": labels}, "spec": spec}),
    )
}

/// Objects that make the adversarial policies err, deny and allow.
fn adversarial_objects() -> Vec<Object> {
    let ok = json!({"containers": [{"name": "app-a", "image": "r.example.com/a:1"}]});
    vec![
        pod("clean", json!({}), ok.clone()),
        pod("p-number", json!({"replicas": "3"}), ok.clone()),
        pod("p-not-a-number", json!({"replicas": "x"}), ok.clone()),
        pod("p-bad-pattern", json!({"pattern": "("}), ok.clone()),
        pod("p-evil", json!({}), json!({"containers": [{"name": "app-e", "image": "evil/x:1"}]})),
        // An image that is not a string: startswith and endswith err.
        pod("p-numeric-image", json!({}), json!({"containers": [{"name": "app-n", "image": 5}]})),
        // A name that is not a string: startswith errs inside `every`.
        pod("p-numeric-name", json!({}), json!({"containers": [{"name": 7, "image": "r.example.com/a:1"}]})),
        pod("p-hub", json!({}), json!({"containers": [{"name": "app-h", "image": "nginx:latest"}]})),
        pod("p-badly-named", json!({}), json!({"containers": [{"name": "x", "image": "r.example.com/a:1"}]})),
        // Two containers: the complete rule iterating yields two values; one name, two images.
        pod(
            "p-two",
            json!({}),
            json!({"containers": [
            {"name": "app-a", "image": "r.example.com/a:latest"},
            {"name": "app-a", "image": "r.example.com/b:1"}]}),
        ),
        pod("p-zero-zones", json!({}), json!({"replicas": 4, "zones": 0, "containers": []})),
        pod("p-string-zones", json!({}), json!({"replicas": 4, "zones": "two", "containers": []})),
        pod("p-replicas", json!({}), json!({"replicas": 8, "zones": 1, "containers": []})),
        pod("p-string-replicas", json!({}), json!({"replicas": "8", "zones": 1, "containers": []})),
        pod("p-gold", json!({"gold": "yes"}), ok.clone()),
        pod("p-silver", json!({"silver": "yes"}), ok.clone()),
        pod("p-both-tiers", json!({"gold": "yes", "silver": "yes"}), ok.clone()),
        pod("p-mode-c", json!({"c": "yes"}), ok.clone()),
        pod(
            "p-profiled",
            json!({}),
            json!({"profile": "strict", "containers": [{"name": "app-a", "image": "r.example.com/a:1"}]}),
        ),
        pod("p-both-modes", json!({"b": "yes", "c": "yes"}), ok),
        obj(json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "ns"}})),
        obj(
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "ns"}, "data": {"k": "v"}}),
        ),
    ]
}

fn outcome(report: &Report, policy: &str, object: &str) -> PolicyOutcome {
    let d = report
        .decisions
        .iter()
        .find(|d| d.policy == policy && d.object.as_ref().is_some_and(|o| o.name == object))
        .unwrap_or_else(|| panic!("no decision of {policy} on {object}"));
    d.outcome
}

#[test]
fn adversarial_policies_decide_as_in_the_interpreter_and_fail_closed() {
    let objects = adversarial_objects();
    let (vm, interpreted, used) = both(&[fixture("adversarial")], &objects);
    assert!(used);
    // What runs where: builtin errors are caught per object, the rest is found at load.
    let set = PolicySet::load(&[fixture("adversarial")], &LoadOptions::default()).unwrap();
    let mut on_vm = set.rego_vm_policies();
    on_vm.sort();
    assert_eq!(on_vm, ["adv.every", "adv.functions", "adv.negation", "adv.startswith", "adv.to_number"]);

    assert_eq!(vm.decisions.len(), interpreted.decisions.len());
    for (a, b) in vm.decisions.iter().zip(&interpreted.decisions) {
        assert_eq!(a, b);
    }
    use PolicyOutcome::{Allowed, Denied, Error};
    for (policy, object, expected) in [
        ("adv.to_number", "clean", Allowed),
        ("adv.to_number", "p-number", Denied),
        ("adv.to_number", "p-not-a-number", Error),
        ("adv.negation", "clean", Denied),
        ("adv.negation", "p-number", Allowed),
        ("adv.negation", "p-bad-pattern", Error),
        ("adv.startswith", "p-evil", Denied),
        ("adv.startswith", "p-numeric-image", Error),
        ("adv.startswith", "clean", Allowed),
        ("adv.every", "clean", Allowed),
        ("adv.every", "p-badly-named", Denied),
        ("adv.every", "p-numeric-name", Error),
        ("adv.functions", "p-hub", Denied),
        ("adv.functions", "clean", Allowed),
        ("adv.arithmetic", "p-zero-zones", Error),
        ("adv.arithmetic", "p-string-zones", Error),
        ("adv.arithmetic", "p-replicas", Denied),
        ("adv.compare", "p-replicas", Denied),
        ("adv.function_conflict", "p-silver", Denied),
        ("adv.function_conflict", "p-gold", Allowed),
        ("adv.function_conflict", "p-both-tiers", Error),
        ("adv.complete_loop", "p-two", Error),
        ("adv.complete_loop", "clean", Allowed),
        ("adv.partial_object", "p-two", Error),
        ("adv.conflict", "p-mode-c", Denied),
        ("adv.conflict", "p-both-modes", Error),
        ("adv.function_else", "clean", Denied),
        ("adv.function_else", "p-profiled", Allowed),
        ("adv.with", "s", Denied),
        ("adv.with", "clean", Allowed),
    ] {
        assert_eq!(outcome(&vm, policy, object), expected, "{policy} on {object}");
    }
    // Errors fail closed under deny, and say what failed.
    for d in vm.decisions.iter().filter(|d| d.outcome == Error) {
        assert!(d.blocks(), "{d:?}");
        assert!(d.messages[0].starts_with("policy error: "), "{:?}", d.messages);
    }
    // One error does not hide the other policies' verdicts on that object.
    assert_eq!(outcome(&vm, "adv.functions", "p-not-a-number"), Allowed);
}

#[test]
fn what_the_vm_cannot_compile_is_interpreted() {
    // `with` is not supported by the VM's compiler: that policy falls back to the interpreter.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("p.rego"),
        r#"package k8s.with_kind

kind_of := input.kind

deny contains msg if {
	kind_of == "Pod" with input as {"kind": "Pod"}
	input.kind == "Secret"
	msg := "no Secrets"
}
"#,
    )
    .unwrap();
    let objects = vec![
        obj(json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}})),
        obj(json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}})),
    ];
    let (vm, interpreted, used) = both(&[dir.path().to_owned()], &objects);
    assert!(!used, "`with` is left to the interpreter");
    assert_eq!(vm.decisions[0].policy, "k8s.with_kind");
    assert_eq!(vm.decisions, interpreted.decisions);
    assert_eq!(vm.decisions[0].outcome, PolicyOutcome::Denied);
    assert_eq!(vm.decisions[1].outcome, PolicyOutcome::Allowed);
}

/// Runaway rules the VM runs (no arithmetic): nested iteration, and the same inside a
/// comprehension. Stopped by the time limit on the VM, then interpreted rule by rule: an error
/// that names the rule, which blocks under deny.
#[test]
fn a_runaway_policy_is_stopped_on_the_vm_too() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("p.rego"),
        r#"package adv.runaway

deny contains "never" if {
	some x in numbers.range(1, 100000)
	some y in numbers.range(1, 100000)
	x == y
	y == 0
}
"#,
    )
    .unwrap();
    std::fs::write(
        dir.path().join("q.rego"),
        r#"package adv.runaway_comprehension

deny contains "never" if {
	pairs := [[x, y] | some x in numbers.range(1, 100000); some y in numbers.range(1, 100000); x == y; y == 0]
	count(pairs) != 0
}
"#,
    )
    .unwrap();
    std::fs::write(
        dir.path().join("r.rego"),
        r#"package adv.fine

deny contains "a Secret" if input.kind == "Secret"
"#,
    )
    .unwrap();
    let options = LoadOptions { timeout: Duration::from_millis(200), ..LoadOptions::default() };
    let set = PolicySet::load(&[dir.path().to_owned()], &options).unwrap().with_threads(1);
    let mut on_vm = set.rego_vm_policies();
    on_vm.sort();
    assert_eq!(on_vm, ["adv.fine", "adv.runaway", "adv.runaway_comprehension"]);
    let secret = obj(json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}}));
    let start = std::time::Instant::now();
    let report = set.evaluate(&[secret], &Inventory::default());
    // Not a timing assertion: far less than the 10 billion steps each rule would take.
    assert!(start.elapsed() < Duration::from_secs(20));
    assert!(report.denied());
    for policy in ["adv.runaway", "adv.runaway_comprehension"] {
        let d = report.decisions.iter().find(|d| d.policy == policy).unwrap();
        assert_eq!(d.outcome, PolicyOutcome::Error, "{d:?}");
        assert!(d.messages[0].contains(&format!("data.{policy}.deny")), "{:?}", d.messages);
        assert!(d.messages[0].contains("time"), "{:?}", d.messages);
    }
    // The other policy's verdict stands.
    let fine = report.decisions.iter().find(|d| d.policy == "adv.fine").unwrap();
    assert_eq!(fine.outcome, PolicyOutcome::Denied);
}
