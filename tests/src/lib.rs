//! End-to-end tests of driftless across crates and processes live in `tests/tests/`; this
//! library gives them (and other crates' tests) the compiled test plugins and small fixtures.

use std::path::Path;

/// The hostile renderer component (see `tests/plugins/hostile`), compiled for this build.
pub const HOSTILE_PLUGIN: &str = env!("DRIFTLESS_TEST_PLUGIN_HOSTILE");

/// A health plugin asking for outbound HTTP, which health plugins are never granted.
pub const GREEDY_PLUGIN: &str = env!("DRIFTLESS_TEST_PLUGIN_GREEDY");

/// A policy plugin written with the SDK: no `latest` image tags.
pub const NO_LATEST_PLUGIN: &str = env!("DRIFTLESS_TEST_PLUGIN_NO_LATEST");

/// A secret backend that fetches values from a loopback HTTP server (see
/// `tests/plugins/loopback-secrets`; patch its port marker before loading it).
pub const LOOPBACK_SECRETS_PLUGIN: &str = env!("DRIFTLESS_TEST_PLUGIN_LOOPBACK_SECRETS");

/// A health plugin built for contract 0.2.0.
pub const FUTURE_PLUGIN: &str = env!("DRIFTLESS_TEST_PLUGIN_FUTURE");

/// Write `files` (path relative to `root`, contents) under `root`, creating directories.
///
/// # Panics
/// When a file cannot be written: this is test code.
#[allow(clippy::expect_used)]
pub fn write_files(root: &Path, files: &[(&str, &str)]) {
    for (path, text) in files {
        let path = root.join(path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create fixture directory");
        }
        std::fs::write(&path, text).expect("write fixture file");
    }
}

/// A directory of `n` ConfigMaps and Deployments, `n` objects in all, spread over files of
/// 50 documents: the render benchmark's input.
///
/// # Panics
/// When a file cannot be written: this is test code.
#[allow(clippy::expect_used)]
pub fn write_many_objects(dir: &Path, n: usize) {
    std::fs::create_dir_all(dir).expect("create fixture directory");
    let mut file = String::new();
    for i in 0..n {
        if i % 2 == 0 {
            file.push_str(&format!(
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: config-{i}\n  labels: {{app: bench, index: \"{i}\"}}\ndata:\n  key: value-{i}\n  other: |\n    line one\n    line two\n"
            ));
        } else {
            file.push_str(&format!(
                "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web-{i}\n  labels: {{app: bench}}\nspec:\n  replicas: 2\n  selector:\n    matchLabels: {{app: web-{i}}}\n  template:\n    metadata:\n      labels: {{app: web-{i}}}\n    spec:\n      containers:\n      - name: web\n        image: registry.example/web:1.{i}\n        ports:\n        - containerPort: 8080\n        resources:\n          requests: {{cpu: 100m, memory: 64Mi}}\n"
            ));
        }
        file.push_str("---\n");
        if (i + 1) % 50 == 0 || i + 1 == n {
            std::fs::write(dir.join(format!("objects-{:05}.yaml", i / 50)), &file)
                .expect("write fixture file");
            file.clear();
        }
    }
}
