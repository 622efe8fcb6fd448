//! WASM policy plugins (the SDK's `policy` world) through the plugin host: the test plugin
//! `no-latest`, with parameters from a file beside it.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use driftless_core::Object;
use driftless_core::policy::PolicyOutcome;
use driftless_e2e::NO_LATEST_PLUGIN;
use driftless_plugin_host::{Limits, PluginHost};
use driftless_policy::{Inventory, LoadOptions, PolicySet};
use serde_json::json;

fn deploy(name: &str, image: &str) -> Object {
    Object::from_value(
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": "shop"},
        "spec": {"template": {"spec": {"containers": [{"name": "c", "image": image}]}}}}),
    )
    .unwrap()
}

#[test]
fn a_policy_plugin_judges_the_set_with_its_parameters() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(NO_LATEST_PLUGIN, dir.path().join("no-latest.wasm")).unwrap();
    std::fs::write(dir.path().join("no-latest.params.json"), r#"{"exempt": ["internal/"]}"#).unwrap();
    let host = PluginHost::new(Limits::default()).unwrap();
    let options = LoadOptions { plugin_host: Some(&host), ..LoadOptions::default() };
    let set = PolicySet::load(&[dir.path().to_owned()], &options).unwrap();
    let policies = set.policies();
    assert_eq!(policies.len(), 1);
    assert_eq!(policies[0].engine, "plugin");
    let report = set.evaluate(
        &[
            deploy("pinned", "nginx:1.25"),
            deploy("floating", "nginx:latest"),
            deploy("exempt", "internal/tool"),
        ],
        &Inventory::default(),
    );
    let got: Vec<_> = report
        .decisions
        .iter()
        .map(|d| (d.object.clone().unwrap().name, d.outcome, d.messages.clone()))
        .collect();
    assert_eq!(
        got,
        [
            ("pinned".into(), PolicyOutcome::Allowed, vec![]),
            (
                "floating".into(),
                PolicyOutcome::Denied,
                vec!["container c uses image nginx:latest without a pinned tag".to_owned()]
            ),
            ("exempt".into(), PolicyOutcome::Allowed, vec![]),
        ]
    );
}

#[test]
fn a_plugin_needs_a_host() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(NO_LATEST_PLUGIN, dir.path().join("no-latest.wasm")).unwrap();
    let err = PolicySet::load(&[dir.path().to_owned()], &LoadOptions::default()).unwrap_err().to_string();
    assert!(err.ends_with("no-latest.wasm: a policy plugin (component) needs a plugin host"), "{err}");
}
