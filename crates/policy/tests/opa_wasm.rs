//! OPA-compiled wasm, tested with modules written by hand to OPA's wasm ABI (1.1): values are
//! NUL-terminated JSON texts, so `opa_json_parse`/`opa_json_dump` are copies. Entrypoint 0
//! (`k8s/deny`) denies an input whose JSON holds `:latest"`; entrypoint 1 (`k8s/data`)
//! returns the data document; `k8s/warn` warns on every input.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use driftless_core::Object;
use driftless_core::policy::PolicyOutcome;
use driftless_core::spec::Enforcement;
use driftless_policy::{Inventory, LoadOptions, PolicySet, opa_query};
use serde_json::json;

/// The module, with `prelude` spliced in at the start of `eval` (for the runaway variant).
fn module(prelude: &str) -> Vec<u8> {
    let wat = include_str!("fixtures/opa/no_latest.wat").replace(";; eval-prelude", prelude);
    wat::parse_str(&wat).unwrap()
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn pod(name: &str, image: &str) -> Object {
    Object::from_value(
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "shop"},
        "spec": {"containers": [{"name": "c", "image": image}]}}),
    )
    .unwrap()
}

#[test]
fn deny_and_warn_entrypoints_judge_each_object() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "policy.wasm", &module(""));
    let set = PolicySet::load(&[dir.path().to_owned()], &LoadOptions::default()).unwrap();
    let mut ids: Vec<_> = set.policies().into_iter().map(|p| (p.id, p.engine, p.enforcement)).collect();
    ids.sort();
    assert_eq!(
        ids,
        [
            ("policy.wasm#k8s/deny".to_owned(), "opa-wasm".to_owned(), Enforcement::Deny),
            ("policy.wasm#k8s/warn".to_owned(), "opa-wasm".to_owned(), Enforcement::Warn),
        ]
    );
    let report = set.evaluate(&[pod("a", "nginx:latest"), pod("b", "nginx:1.27")], &Inventory::default());
    let mut got: Vec<_> = report
        .violations()
        .map(|d| (d.policy.clone(), d.object.clone().unwrap().name, d.outcome, d.messages.clone()))
        .collect();
    got.sort();
    assert_eq!(
        got,
        [
            (
                "policy.wasm#k8s/deny".into(),
                "a".into(),
                PolicyOutcome::Denied,
                vec!["image uses the :latest tag".into()]
            ),
            ("policy.wasm#k8s/warn".into(), "a".into(), PolicyOutcome::Warned, vec!["a warning".into()]),
            ("policy.wasm#k8s/warn".into(), "b".into(), PolicyOutcome::Warned, vec!["a warning".into()]),
        ]
    );
    assert!(report.denied());
    assert_eq!(report.summary().allowed, 1);
}

#[test]
fn query_returns_the_raw_result_set_with_data() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "policy.wasm", &module(""));
    let result = opa_query(&path, "k8s/data", &json!({}), Some(json!({"teams": ["shop"]}))).unwrap();
    assert_eq!(result, json!([{"result": {"teams": ["shop"]}}]));
    let result = opa_query(&path, "k8s/deny", &json!({"image": "x:1"}), None).unwrap();
    assert_eq!(result, json!([{"result": []}]));
    let err = opa_query(&path, "k8s/allow", &json!({}), None).unwrap_err().to_string();
    assert!(err.contains("no entrypoint k8s/allow (it has: k8s/data, k8s/deny, k8s/warn)"), "{err}");
}

#[test]
fn bundles_carry_their_data() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("bundle.tar.gz");
    {
        let file = std::fs::File::create(&bundle).unwrap();
        let mut tar = tar::Builder::new(flate2::write::GzEncoder::new(file, flate2::Compression::fast()));
        for (name, bytes) in [
            ("/policy.wasm", module("")),
            ("/data.json", br#"{"a": 1}"#.to_vec()),
            ("/config/data.json", br#"{"teams": ["shop"]}"#.to_vec()),
        ] {
            let mut header = tar::Header::new_gnu();
            header.set_size(bytes.len() as u64);
            header.set_mode(0o644);
            header.set_cksum();
            tar.append_data(&mut header, name.trim_start_matches('/'), bytes.as_slice()).unwrap();
        }
        tar.into_inner().unwrap().finish().unwrap();
    }
    let result = opa_query(&bundle, "k8s/data", &json!({}), None).unwrap();
    assert_eq!(result, json!([{"result": {"a": 1, "config": {"teams": ["shop"]}}}]));
    let set = PolicySet::load(&[bundle], &LoadOptions::default()).unwrap();
    assert_eq!(set.policies()[0].id, "bundle.tar.gz#k8s/deny");
}

#[test]
fn a_runaway_module_is_stopped_and_fails_closed() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "loop.wasm", &module("(loop $forever (br $forever))"));
    let options = LoadOptions { opa_entrypoints: vec!["k8s/deny".into()], ..LoadOptions::default() };
    let set = PolicySet::load(&[dir.path().to_owned()], &options).unwrap();
    let reviews = vec![driftless_core::policy::Review {
        object: pod("a", "x:1"),
        old_object: None,
        operation: driftless_core::policy::Operation::Create,
    }];
    let report = set.evaluate_reviews(&reviews, &Inventory::default(), SystemTime::now());
    let d = report.violations().next().unwrap();
    assert_eq!(d.outcome, PolicyOutcome::Error);
    assert!(d.messages[0].contains("stopped after"), "{:?}", d.messages);
    assert!(report.denied());
}

#[test]
fn modules_that_are_not_opa_policies_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "empty.wasm", &wat::parse_str("(module)").unwrap());
    let err = PolicySet::load(&[dir.path().to_owned()], &LoadOptions::default()).unwrap_err().to_string();
    assert!(err.contains("empty.wasm: not an OPA wasm policy"), "{err}");
}
