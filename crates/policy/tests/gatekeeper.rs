//! Gatekeeper templates written in the gatekeeper-library's shape, with their constraints and
//! allowed/disallowed samples, run unmodified.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use driftless_core::policy::PolicyOutcome;
use driftless_core::spec::Enforcement;
use driftless_policy::{Inventory, LoadOptions, PolicySet, Report, load_reviews};

fn fixture(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/gatekeeper").join(path)
}

fn run(dir: &str, sample: &str, inventory: &Inventory) -> Report {
    let set = PolicySet::load(&[fixture(dir)], &LoadOptions::default()).unwrap();
    let reviews = load_reviews(&[fixture(&format!("{dir}/{sample}"))]).unwrap();
    set.evaluate_reviews(&reviews, inventory, SystemTime::now())
}

fn messages(report: &Report) -> Vec<String> {
    report.violations().flat_map(|d| d.messages.clone()).collect()
}

#[test]
fn library_samples_are_allowed_and_disallowed() {
    let none = Inventory::default();
    for (dir, expected) in [
        ("requiredlabels", "you must provide labels: {\"owner\"}"),
        (
            "allowedrepos",
            "container <nginx> has an invalid image repo <nginx>, allowed repos are [\"openpolicyagent/\"]",
        ),
        ("privileged", "Privileged container is not allowed: nginx, securityContext: {\"privileged\": true}"),
        ("blocknodeport", "User is not allowed to create service of type NodePort"),
    ] {
        let allowed = run(dir, "example_allowed.yaml", &none);
        assert_eq!(messages(&allowed), Vec::<String>::new(), "{dir} allowed sample");
        assert!(!allowed.denied(), "{dir}");
        assert!(allowed.decisions.iter().any(|d| d.engine == "gatekeeper"), "{dir}: the constraint ran");
        let disallowed = run(dir, "example_disallowed.yaml", &none);
        let got = messages(&disallowed);
        assert!(got.iter().any(|m| m == expected), "{dir}: {got:?}");
    }
}

#[test]
fn allowed_repos_reports_init_containers_too() {
    let report = run("allowedrepos", "example_disallowed.yaml", &Inventory::default());
    let got = messages(&report);
    assert_eq!(got.len(), 2, "{got:?}");
    assert!(got[1].starts_with("initContainer <nginxinit>"), "{got:?}");
    assert!(report.denied());
    let d = report.violations().next().unwrap();
    assert_eq!(d.policy, "K8sAllowedRepos/repo-is-openpolicyagent");
    assert_eq!(d.object.as_ref().unwrap().name, "nginx-disallowed");
}

#[test]
fn required_labels_checks_the_regex() {
    let set = PolicySet::load(&[fixture("requiredlabels")], &LoadOptions::default()).unwrap();
    let ns = driftless_core::Object::from_value(serde_json::json!({
        "apiVersion": "v1", "kind": "Namespace",
        "metadata": {"name": "x", "labels": {"owner": "someone@else"}}
    }))
    .unwrap();
    let report = set.evaluate(&[ns], &Inventory::default());
    assert_eq!(
        messages(&report),
        ["Label <owner: someone@else> does not satisfy allowed regex: ^[a-zA-Z]+.agilebank.demo$"]
    );
}

#[test]
fn enforcement_action_warn_does_not_block() {
    let report = run("blocknodeport", "example_disallowed.yaml", &Inventory::default());
    let d = report.violations().next().unwrap();
    assert_eq!(d.outcome, PolicyOutcome::Warned);
    assert_eq!(d.enforcement, Enforcement::Warn);
    assert!(!report.denied());
}

#[test]
fn the_app_enforcement_weakens_a_deny_constraint() {
    let set = PolicySet::load(&[fixture("privileged")], &LoadOptions::default())
        .unwrap()
        .with_enforcement(Enforcement::Dryrun);
    let reviews = load_reviews(&[fixture("privileged/example_disallowed.yaml")]).unwrap();
    let report = set.evaluate_reviews(&reviews, &Inventory::default(), SystemTime::now());
    let d = report.violations().next().unwrap();
    assert_eq!(d.outcome, PolicyOutcome::DryRun);
    assert!(!report.denied());
}

#[test]
fn updates_come_from_admission_reviews() {
    // The library's privileged template exempts UPDATE through its `libs`.
    let report = run("privileged", "example_update.yaml", &Inventory::default());
    assert!(messages(&report).is_empty());
    assert_eq!(report.decisions.len(), 1);
}

#[test]
fn referential_policies_read_the_inventory() {
    let inventory = Inventory::load(&[fixture("uniqueingresshost/inventory.yaml")]).unwrap();
    let conflicting = run("uniqueingresshost", "example_disallowed.yaml", &inventory);
    assert_eq!(
        messages(&conflicting),
        ["ingress host conflicts with an existing ingress <example-host.example.com>"]
    );
    let fine = run("uniqueingresshost", "example_allowed.yaml", &inventory);
    assert!(messages(&fine).is_empty());
    // Without the inventory, the same object alone conflicts with nothing (it is not its own
    // conflict: the template skips the identical object).
    let alone = run("uniqueingresshost", "example_disallowed.yaml", &Inventory::default());
    assert!(messages(&alone).is_empty());
}

#[test]
fn objects_of_one_set_see_each_other_in_the_inventory() {
    let set = PolicySet::load(&[fixture("uniqueingresshost")], &LoadOptions::default()).unwrap();
    let mut objects: Vec<_> = load_reviews(&[fixture("uniqueingresshost/inventory.yaml")])
        .unwrap()
        .into_iter()
        .map(|r| r.object)
        .collect();
    objects.extend(
        load_reviews(&[fixture("uniqueingresshost/example_disallowed.yaml")])
            .unwrap()
            .into_iter()
            .map(|r| r.object),
    );
    let report = set.evaluate(&objects, &Inventory::default());
    assert_eq!(report.violations().count(), 2, "each ingress conflicts with the other");
}

#[test]
fn all_fixtures_load_together_and_ids_are_kind_and_name() {
    let set = PolicySet::load(&[fixture("")], &LoadOptions::default()).unwrap();
    let mut ids: Vec<String> = set.policies().into_iter().map(|p| p.id).collect();
    ids.sort();
    assert_eq!(
        ids,
        [
            "K8sAllowedRepos/repo-is-openpolicyagent",
            "K8sBlockNodePort/block-node-port",
            "K8sPSPPrivilegedContainer/psp-privileged-container",
            "K8sRequiredLabels/all-must-have-owner",
            "K8sUniqueIngressHost/unique-ingress-host",
        ]
    );
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn a_constraint_without_its_template_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "c.yaml", &std::fs::read_to_string(fixture("requiredlabels/constraint.yaml")).unwrap());
    let err = PolicySet::load(&[dir.path().to_owned()], &LoadOptions::default()).unwrap_err().to_string();
    assert!(
        err.ends_with(
            "K8sRequiredLabels all-must-have-owner: kind: no ConstraintTemplate defines K8sRequiredLabels"
        ),
        "{err}"
    );
}

#[test]
fn template_errors_name_the_template_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(fixture("blocknodeport/template.yaml"))
        .unwrap()
        .replace("input.review.kind.kind == \"Service\"", "input.review.kind.kind == == \"Service\"");
    write(dir.path(), "t.yaml", &text);
    let err = PolicySet::load(&[dir.path().to_owned()], &LoadOptions::default()).unwrap_err().to_string();
    assert!(err.contains("t.yaml#k8sblocknodeport.rego:3:25: expecting }"), "{err}");

    let text = std::fs::read_to_string(fixture("blocknodeport/constraint.yaml"))
        .unwrap()
        .replace("enforcementAction: warn", "enforcementAction: audit");
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "c.yaml", &text);
    std::fs::copy(fixture("blocknodeport/template.yaml"), dir.path().join("t.yaml")).unwrap();
    let err = PolicySet::load(&[dir.path().to_owned()], &LoadOptions::default()).unwrap_err().to_string();
    assert!(err.contains("K8sBlockNodePort block-node-port: spec.enforcementAction: \"audit\""), "{err}");
}

#[test]
fn namespace_selectors_use_namespaces_of_the_set() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(fixture("blocknodeport/template.yaml"), dir.path().join("t.yaml")).unwrap();
    write(
        dir.path(),
        "c.yaml",
        "apiVersion: constraints.gatekeeper.sh/v1beta1\nkind: K8sBlockNodePort\nmetadata: {name: prod-only}\n\
         spec:\n  match:\n    namespaceSelector: {matchLabels: {env: prod}}\n",
    );
    let set = PolicySet::load(&[dir.path().to_owned()], &LoadOptions::default()).unwrap();
    let service = |ns: &str| {
        driftless_core::Object::from_value(serde_json::json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "s", "namespace": ns}, "spec": {"type": "NodePort"}
        }))
        .unwrap()
    };
    let prod = driftless_core::Object::from_value(serde_json::json!({
        "apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop", "labels": {"env": "prod"}}
    }))
    .unwrap();
    let report = set.evaluate(&[prod, service("shop"), service("dev")], &Inventory::default());
    let denied: Vec<_> = report.violations().map(|d| d.object.clone().unwrap().namespace).collect();
    assert_eq!(denied, [Some("shop".to_owned())]);
}
