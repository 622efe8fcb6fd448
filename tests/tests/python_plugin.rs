//! Language neutrality: a health plugin written in Python (componentize-py) against the same
//! WIT, built here and run by the host like any Rust plugin. Skips, saying so, without
//! componentize-py (CI installs it).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;

use driftless_core::Object;
use driftless_plugin_host::{HealthStatus, Limits, PluginHost, PluginKind};
use serde_json::json;

#[test]
fn a_python_health_plugin_runs_in_the_host() {
    let Ok(version) = Command::new("componentize-py").arg("--version").output() else {
        eprintln!("SKIPPED: componentize-py is not installed (pip install componentize-py==0.25.1)");
        return;
    };
    assert!(version.status.success());
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let out_dir = tempfile::tempdir().unwrap();
    let wasm = out_dir.path().join("python-health.wasm");
    let build = Command::new("componentize-py")
        .args(["-d", root.join("sdk/wit").to_str().unwrap(), "-w", "health", "componentize", "app", "-o"])
        .arg(&wasm)
        .current_dir(root.join("tests/plugins/python-health"))
        .output()
        .unwrap();
    assert!(build.status.success(), "componentize-py failed: {}", String::from_utf8_lossy(&build.stderr));

    // Compiling an 18 MB component takes seconds: keep it between runs.
    let cache = root.join("target/plugin-cache-tests");
    let host = PluginHost::with_cache(Limits::default(), Some(&cache)).unwrap();
    let plugin = host.load_health("python-health.wasm", &std::fs::read(&wasm).unwrap()).unwrap();
    assert_eq!(plugin.metadata().name, "python-health");
    assert_eq!(plugin.metadata().kind, PluginKind::Health);
    assert!(plugin.handles("example.com", "Widget"));

    let widget = |name: &str, status: serde_json::Value| {
        Object::from_value(json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": name}, "status": status}))
            .unwrap()
    };
    let objects = [
        widget("a", json!({"ready": true})),
        widget("b", json!({"ready": false})),
        widget("c", json!({})),
        Object::from_value(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm"}}))
            .unwrap(),
    ];
    let health = plugin.assess(&objects).unwrap();
    assert_eq!(
        health[0].as_ref().map(|h| (h.status, h.message.as_str())),
        Some((HealthStatus::Healthy, "ready (said Python)"))
    );
    assert_eq!(health[1].as_ref().map(|h| h.status), Some(HealthStatus::Degraded));
    assert!(health[2].is_none());
    assert!(health[3].is_none(), "a kind the plugin did not declare must not reach it");
}
