//! The compiled `no-latest` policy, run in the real host through
//! `driftless_plugin_sdk::testing::compiled`: what its native unit test checks, checked again
//! across the WebAssembly boundary.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use driftless_plugin_sdk::serde_json::{Map, json};
use driftless_plugin_sdk::testing::compiled::{self, Limits, Loader, PluginError};
use driftless_plugin_sdk::testing::review;

fn deployment(image: &str) -> String {
    json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
           "spec": {"template": {"spec": {"containers": [{"name": "c", "image": image}]}}}})
    .to_string()
}

#[test]
fn the_compiled_policy_judges_tags_in_the_host() {
    let policy = compiled::policy(env!("CARGO_MANIFEST_DIR")).unwrap();
    assert_eq!(policy.metadata().name, "no-latest");
    assert_eq!(policy.metadata().version, env!("CARGO_PKG_VERSION"));
    let reviews = [
        review(&deployment("nginx")),
        review(&deployment("nginx:latest")),
        review(&deployment("registry:5000/nginx:1.25")),
        review(&deployment("nginx@sha256:abc")),
    ];
    let decisions = policy.evaluate(&reviews, &Map::new(), &[]).unwrap();
    let allowed: Vec<bool> = decisions.iter().map(|d| d.allowed).collect();
    assert_eq!(allowed, [false, false, true, true]);
    assert_eq!(
        decisions[1].violations[0].message,
        "container c uses image nginx:latest without a pinned tag"
    );

    let exempt = json!({"exempt": ["nginx"]}).as_object().unwrap().clone();
    let decisions = policy.evaluate(&reviews[..2], &exempt, &[]).unwrap();
    assert!(decisions.iter().all(|d| d.allowed), "{decisions:?}");
}

#[test]
fn the_compiled_policy_runs_under_the_limits_given() {
    // Four pages of linear memory are less than any Rust component needs to start.
    let tiny = Limits { memory: 4 * (64 << 10), ..Limits::default() };
    let err = Loader::new(env!("CARGO_MANIFEST_DIR")).limits(tiny).policy().unwrap_err();
    assert!(
        matches!(err, compiled::LoadError::Host(PluginError::MemoryLimit { limit, .. }) if limit == tiny.memory),
        "{err:?}"
    );
    // The wrong kind is refused, naming both sides.
    let err = compiled::health(env!("CARGO_MANIFEST_DIR")).unwrap_err();
    assert!(
        err.to_string().contains("it says it is a policy plugin, but it was loaded as a health plugin"),
        "{err}"
    );
}
