//! Rego source policies, conftest style; enforcement, waivers, limits, tests and outputs.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use driftless_core::Object;
use driftless_core::policy::PolicyOutcome;
use driftless_core::spec::Enforcement;
use driftless_policy::{Inventory, LoadOptions, PolicySet, Report, output, parse_waivers, run_tests};
use serde_json::json;

fn fixture(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(path)
}

fn obj(v: serde_json::Value) -> Object {
    Object::from_value(v).unwrap()
}

fn deployment(name: &str, image: &str, team: Option<&str>) -> Object {
    let mut labels = serde_json::Map::new();
    if let Some(t) = team {
        labels.insert("team".into(), json!(t));
    }
    obj(json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": "shop", "labels": labels},
        "spec": {"template": {"spec": {"containers": [{"name": "c", "image": image}]}}}
    }))
}

fn nodeport(name: &str, port: u16) -> Object {
    obj(json!({
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": "shop", "labels": {"team": "shop"}},
        "spec": {"type": "NodePort", "ports": [{"port": 80, "nodePort": port}]}
    }))
}

fn load(dir: &str) -> PolicySet {
    PolicySet::load(&[fixture(dir)], &LoadOptions::default()).unwrap()
}

fn violations(report: &Report) -> Vec<(String, PolicyOutcome, String)> {
    let mut out: Vec<_> = report
        .violations()
        .flat_map(|d| {
            let object = d.object.as_ref().map_or("*".to_owned(), |o| o.name.clone());
            d.messages.iter().map(move |m| (format!("{} {object}", d.policy), d.outcome, m.clone()))
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0).then(a.2.cmp(&b.2)));
    out
}

#[test]
fn packages_with_message_rules_are_policies() {
    let set = load("rego");
    let mut ids: Vec<(String, Enforcement)> =
        set.policies().into_iter().map(|p| (p.id, p.enforcement)).collect();
    ids.sort();
    assert_eq!(
        ids,
        [
            ("k8s.no_latest".to_owned(), Enforcement::Deny),
            ("k8s.team_label".to_owned(), Enforcement::Deny),
            ("k8s.unique_service_ports".to_owned(), Enforcement::Deny),
        ]
    );
}

#[test]
fn deny_warn_data_and_set_rules() {
    let set = load("rego");
    let objects = [
        deployment("good", "nginx:1.27", Some("shop")),
        deployment("latest", "nginx:latest", Some("shop")),
        deployment("untagged", "nginx", None),
        deployment("stranger", "nginx:1.27", Some("finance")),
        nodeport("a", 30001),
        nodeport("b", 30001),
    ];
    let report = set.evaluate(&objects, &Inventory::default());
    assert_eq!(
        violations(&report),
        [
            (
                "k8s.no_latest latest".to_owned(),
                PolicyOutcome::Denied,
                "image nginx:latest uses the :latest tag".to_owned()
            ),
            ("k8s.no_latest untagged".to_owned(), PolicyOutcome::Denied, "image nginx has no tag".to_owned()),
            (
                "k8s.team_label stranger".to_owned(),
                PolicyOutcome::Denied,
                "team \"finance\" is not one of [\"shop\", \"data\"]".to_owned()
            ),
            (
                "k8s.team_label untagged".to_owned(),
                PolicyOutcome::Warned,
                "Deployment untagged has no team label".to_owned()
            ),
            (
                "k8s.unique_service_ports *".to_owned(),
                PolicyOutcome::Denied,
                "Services a and b both use nodePort 30001".to_owned()
            ),
        ]
    );
    assert!(report.denied());
    // Every policy judged every object, allowed or not: 6 objects x (no_latest deny, team
    // deny, team warn) + one set rule.
    assert_eq!(report.decisions.len(), 6 * 3 + 1);
    let s = report.summary();
    assert_eq!((s.denied, s.warned, s.allowed, s.errors), (4, 1, 14, 0));
}

#[test]
fn threads_do_not_change_the_decisions() {
    let objects: Vec<Object> = (0..300)
        .map(|i| deployment(&format!("d{i}"), if i % 7 == 0 { "x:latest" } else { "x:1" }, Some("shop")))
        .collect();
    let one = load("rego").with_threads(1).evaluate(&objects, &Inventory::default());
    let four = load("rego").with_threads(4).evaluate(&objects, &Inventory::default());
    assert_eq!(one.decisions, four.decisions);
    assert_eq!(one.summary().denied, 43);
}

#[test]
fn v0_files_say_so() {
    let set = load("rego-v0");
    let pod = obj(json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
        "spec": {"containers": [{"name": "root", "securityContext": {"privileged": true}}]}}));
    let report = set.evaluate(&[pod], &Inventory::default());
    assert_eq!(violations(&report)[0].2, "container root is privileged");
    // The same file without its marker is v0 syntax, refused as v1.
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(fixture("rego-v0/privileged.rego"))
        .unwrap()
        .replace("# driftless: rego.v0\n", "");
    std::fs::write(dir.path().join("p.rego"), &text).unwrap();
    assert!(PolicySet::load(&[dir.path().to_owned()], &LoadOptions::default()).is_err());
    // ... and accepted when the app says v0.
    let options = LoadOptions { rego_v0: true, ..LoadOptions::default() };
    assert_eq!(PolicySet::load(&[dir.path().to_owned()], &options).unwrap().policies().len(), 1);
}

#[test]
fn a_syntax_error_names_file_and_line() {
    let err = PolicySet::load(&[fixture("syntax")], &LoadOptions::default()).unwrap_err().to_string();
    assert!(err.contains("bad.rego:4:"), "{err}");
}

#[test]
fn a_failing_policy_fails_closed_under_deny_only() {
    let pod = obj(json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}}));
    let report = load("broken").evaluate(std::slice::from_ref(&pod), &Inventory::default());
    let d = report.violations().next().unwrap();
    assert_eq!(d.outcome, PolicyOutcome::Error);
    assert!(d.messages[0].starts_with("policy error: "), "{:?}", d.messages);
    assert!(report.denied());
    let report = load("broken").with_enforcement(Enforcement::Warn).evaluate(&[pod], &Inventory::default());
    assert!(!report.denied());
    assert_eq!(report.summary().errors, 1);
}

#[test]
fn a_runaway_policy_is_stopped() {
    let options = LoadOptions { timeout: Duration::from_millis(200), ..LoadOptions::default() };
    let set = PolicySet::load(&[fixture("runaway")], &options).unwrap();
    let pod = obj(json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}}));
    let start = std::time::Instant::now();
    let report = set.evaluate(&[pod], &Inventory::default());
    let elapsed = start.elapsed();
    let d = report.violations().next().expect("an error decision");
    assert_eq!(d.outcome, PolicyOutcome::Error);
    assert!(report.denied());
    // Far less than the ~40 billion steps the rule would take.
    assert!(elapsed < Duration::from_secs(20), "{elapsed:?}");
}

const WAIVERS: &str = r"apiVersion: driftless.dev/v1alpha1
kind: PolicyWaivers
waivers:
  - name: legacy
    policy: k8s.no_latest
    selector: {names: [latest]}
    justification: vendor image, OPS-1
    expires: 2030-01-01
  - name: old
    policy: 'k8s.*'
    selector: {names: [untagged]}
    justification: gone
    expires: 2020-01-01
";

#[test]
fn waivers_apply_until_they_expire() {
    let waivers = parse_waivers(Path::new("waivers.yaml"), WAIVERS).unwrap();
    let set = load("rego").with_waivers(waivers);
    let objects =
        [deployment("latest", "nginx:latest", Some("shop")), deployment("untagged", "nginx", Some("shop"))];
    let now = humantime::parse_rfc3339("2026-06-01T00:00:00Z").unwrap();
    let reviews: Vec<_> = objects
        .iter()
        .map(|o| driftless_core::policy::Review {
            object: o.clone(),
            old_object: None,
            operation: driftless_core::policy::Operation::Create,
        })
        .collect();
    let report = set.evaluate_reviews(&reviews, &Inventory::default(), now);
    let got = violations(&report);
    assert_eq!(got[0].1, PolicyOutcome::Waived);
    assert_eq!(got[1].1, PolicyOutcome::Denied, "the expired waiver no longer applies");
    let waived = report.violations().find(|d| d.outcome == PolicyOutcome::Waived).unwrap();
    assert_eq!(waived.waiver.as_ref().unwrap().justification, "vendor image, OPS-1");
    assert_eq!(report.expired_waivers.len(), 1);
    assert_eq!(report.expired_waivers[0].name, "old");
    assert!(report.denied());
    // The first one is valid through 2030-01-01 (UTC), and stops the next day.
    let later = humantime::parse_rfc3339("2030-01-02T00:00:00Z").unwrap();
    let report = set.evaluate_reviews(&reviews, &Inventory::default(), later);
    assert_eq!(report.summary().waived, 0);
    assert_eq!(report.expired_waivers.len(), 2);
    let _ = SystemTime::now();
}

#[test]
fn rego_unit_tests_run_like_opa_test() {
    let report = run_tests(&[fixture("rego")], &LoadOptions::default()).unwrap();
    let names: Vec<_> = report.cases.iter().map(|c| (c.name.as_str(), c.passed)).collect();
    assert_eq!(
        names,
        [
            ("data.k8s.no_latest_test.test_latest_denied", true),
            ("data.k8s.no_latest_test.test_pinned_allowed", true)
        ]
    );
    let report = run_tests(&[fixture("failing-tests")], &LoadOptions::default()).unwrap();
    let mut got: Vec<_> =
        report.cases.iter().map(|c| (c.name.as_str(), c.failure.clone().unwrap_or_default())).collect();
    got.sort();
    assert_eq!(
        got,
        [
            ("data.p_test.test_fails", "undefined".to_owned()),
            ("data.p_test.test_passes", String::new()),
            ("data.p_test.test_undefined", "undefined".to_owned()),
        ]
    );
    assert_eq!((report.passed(), report.failed()), (1, 2));
}

#[test]
fn outputs_have_their_shapes() {
    let set = load("rego");
    let report = set.evaluate(
        &[deployment("latest", "nginx:latest", Some("shop")), deployment("ok", "nginx:1", Some("shop"))],
        &Inventory::default(),
    );
    let json = output::json(&report);
    assert_eq!(
        json["violations"][0],
        json!({"policy": "k8s.no_latest", "engine": "rego", "enforcement": "deny", "outcome": "denied",
               "object": {"apiVersion": "apps/v1", "kind": "Deployment", "namespace": "shop", "name": "latest"},
               "message": "image nginx:latest uses the :latest tag"})
    );
    assert_eq!(json["summary"]["denied"], 1);
    assert_eq!(json["summary"]["allowedToSync"], false);
    let sarif = output::sarif(&report);
    assert_eq!(sarif["version"], "2.1.0");
    assert_eq!(sarif["runs"][0]["results"][0]["ruleId"], "k8s.no_latest");
    assert_eq!(sarif["runs"][0]["results"][0]["level"], "error");
    assert_eq!(
        sarif["runs"][0]["results"][0]["locations"][0]["logicalLocations"][0]["fullyQualifiedName"],
        "apps/v1/Deployment/shop/latest"
    );
    let reports = output::policy_reports(&report);
    assert_eq!(reports.len(), 2, "one for namespace shop, one cluster report for the set rule");
    let shop = reports.iter().find(|r| r["kind"] == "PolicyReport").unwrap();
    assert_eq!(shop["apiVersion"], "wgpolicyk8s.io/v1alpha2");
    assert_eq!(shop["metadata"]["namespace"], "shop");
    assert_eq!(shop["summary"]["fail"], 1);
    assert_eq!(shop["summary"]["pass"], 5);
    let text = output::text(&report);
    assert!(
        text.contains(
            "DENIED  k8s.no_latest apps/v1 Deployment shop/latest: image nginx:latest uses the :latest tag"
        ),
        "{text}"
    );
    assert!(text.trim_end().ends_with("DENIED"), "{text}");
}

#[test]
fn a_huge_range_fails_closed_instead_of_aborting() {
    // regorus reserves a range's whole array before any check: 1e12 elements aborted the
    // process. Both evaluators refuse more than a million, and the policy fails closed.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("p.rego"),
        "package p\n\ndeny contains \"big\" if count(numbers.range(1, input.spec.n)) > 5\n\n\
         deny contains \"stepped\" if count(numbers.range_step(0, input.spec.n, 2)) > 5\n",
    )
    .unwrap();
    let object = |n: i64| {
        obj(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "spec": {"n": n}}))
    };
    for interpreter in [false, true] {
        let set = PolicySet::load(&[dir.path().to_owned()], &LoadOptions::default())
            .unwrap()
            .with_rego_interpreter(interpreter);
        let report = set.evaluate(&[object(1_000_000_000_000)], &Inventory::default());
        let d = report.violations().next().expect("an error decision");
        assert_eq!(d.outcome, PolicyOutcome::Error, "interpreter: {interpreter}");
        assert!(d.messages[0].contains("more than the 1000000 driftless allows"), "{:?}", d.messages);
        assert!(report.denied());
        // Within the bound, both builtins answer as OPA's.
        let report = set.evaluate(&[object(12)], &Inventory::default());
        let mut messages: Vec<_> = report.violations().flat_map(|v| v.messages.clone()).collect();
        messages.sort();
        assert_eq!(messages, ["big", "stepped"], "interpreter: {interpreter}");
    }
}

#[test]
fn a_huge_sprintf_width_fails_closed_instead_of_panicking_or_padding_gigabytes() {
    // regorus's sprintf pads to any width (4 GB for `%4000000000d`) and overflows (a panic) past
    // u32: both evaluators refuse widths over 100,000, and the policy fails closed.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("p.rego"),
        "package p\n\ndeny contains \"padded\" if count(sprintf(concat(\"\", [\"%\", input.spec.w, \"d\"]), [1])) > 5\n",
    )
    .unwrap();
    let object = |w: &str| {
        obj(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "spec": {"w": w}}))
    };
    for interpreter in [false, true] {
        let set = PolicySet::load(&[dir.path().to_owned()], &LoadOptions::default())
            .unwrap()
            .with_rego_interpreter(interpreter);
        for w in ["4000000000", "99999999999999"] {
            let report = set.evaluate(&[object(w)], &Inventory::default());
            let d = report.violations().next().expect("an error decision");
            assert_eq!(d.outcome, PolicyOutcome::Error, "interpreter: {interpreter}, width {w}");
            assert!(d.messages[0].contains("width or precision over the 100000"), "{:?}", d.messages);
        }
        let report = set.evaluate(&[object("8")], &Inventory::default());
        let messages: Vec<_> = report.violations().flat_map(|v| v.messages.clone()).collect();
        assert_eq!(messages, ["padded"], "interpreter: {interpreter}");
    }
}
