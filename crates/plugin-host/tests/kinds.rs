//! Health and policy plugins, metadata checks, inspection and the precompiled cache, with real
//! compiled plugins: the built-in `health-core`, and the test plugins `no-latest` (policy),
//! `greedy` (asks for a capability it cannot have) and `future` (another contract version).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::OnceLock;

use driftless_core::Object;
use driftless_e2e::{FUTURE_PLUGIN, GREEDY_PLUGIN, HOSTILE_PLUGIN, NO_LATEST_PLUGIN};
use driftless_plugin_host::{
    Capability, ErrorClass, HealthStatus, Limits, Operation, PluginError, PluginHost, PluginKind, Review,
};
use serde_json::{Map, json};

fn host() -> &'static PluginHost {
    static HOST: OnceLock<PluginHost> = OnceLock::new();
    HOST.get_or_init(|| PluginHost::new(Limits::default()).unwrap())
}

fn object(value: serde_json::Value) -> Object {
    Object::from_value(value).unwrap()
}

#[test]
fn health_core_assesses_a_batch_in_order() {
    let plugin = host()
        .load_health("health-core", driftless_plugins_builtin::get("health-core").unwrap().wasm)
        .unwrap();
    assert_eq!(plugin.metadata().kind, PluginKind::Health);
    assert!(plugin.handles("apps", "Deployment"));
    assert!(!plugin.handles("example.com", "Widget"));
    let objects = [
        object(
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "a", "generation": 2},
                      "spec": {"replicas": 2},
                      "status": {"observedGeneration": 2, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 2}}),
        ),
        object(json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}})),
        object(
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "b"}, "spec": {"paused": true}}),
        ),
        object(json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j"},
                      "status": {"conditions": [{"type": "Failed", "status": "True", "message": "BackoffLimitExceeded"}]}})),
    ];
    let health = plugin.assess(&objects).unwrap();
    let statuses: Vec<_> = health.iter().map(|h| h.as_ref().map(|h| h.status)).collect();
    assert_eq!(
        statuses,
        [Some(HealthStatus::Healthy), None, Some(HealthStatus::Suspended), Some(HealthStatus::Degraded)]
    );
    assert!(health[3].as_ref().unwrap().message.contains("BackoffLimitExceeded"));
}

#[test]
fn a_large_batch_is_split_over_calls_and_keeps_its_order() {
    // From 2,000 objects a batch goes out in parts, one call per core: the answers must come
    // back in input order, unhandled kinds included.
    let plugin = host()
        .load_health("health-core", driftless_plugins_builtin::get("health-core").unwrap().wasm)
        .unwrap();
    let objects: Vec<Object> = (0..5_003)
        .map(|i| match i % 3 {
            // Each Deployment's message names its own replica count.
            0 => object(json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": format!("d{i}")},
                               "spec": {"replicas": i}, "status": {"updatedReplicas": 0}})),
            1 => object(json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": format!("w{i}")}})),
            _ => object(json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": format!("p{i}")},
                               "status": {"phase": "Succeeded"}})),
        })
        .collect();
    let all = plugin.assess(&objects).unwrap();
    assert_eq!(all.len(), objects.len());
    for i in (0..objects.len()).step_by(97).chain([objects.len() - 1]) {
        let alone = plugin.assess(std::slice::from_ref(&objects[i])).unwrap();
        assert_eq!(all[i], alone[0], "object {i}");
        if i % 3 == 0 {
            let message = &all[i].as_ref().unwrap().message;
            assert!(message.contains(&format!("of {i} replicas")), "object {i}: {message}");
        }
    }
}

#[test]
fn a_policy_plugin_decides_per_review_with_params() {
    let plugin = host().load_policy("no-latest.wasm", &std::fs::read(NO_LATEST_PLUGIN).unwrap()).unwrap();
    let deploy = |name: &str, image: &str| {
        object(
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": "shop"},
                      "spec": {"template": {"spec": {"containers": [{"name": "c", "image": image}]}}}}),
        )
    };
    let reviews = [
        Review { object: deploy("pinned", "nginx:1.25"), old_object: None, operation: Operation::Create },
        Review { object: deploy("floating", "nginx:latest"), old_object: None, operation: Operation::Update },
        Review { object: deploy("exempt", "internal/tool"), old_object: None, operation: Operation::Create },
    ];
    let params: Map<_, _> = json!({"exempt": ["internal/"]}).as_object().unwrap().clone();
    let decisions = plugin.evaluate(&reviews, &params, &[]).unwrap();
    assert_eq!(decisions.iter().map(|d| d.allowed).collect::<Vec<_>>(), [true, false, true]);
    let violation = &decisions[1].violations[0];
    assert_eq!(violation.message, "container c uses image nginx:latest without a pinned tag");
    assert_eq!(violation.object.as_ref().unwrap().to_string(), "apps/v1 Deployment shop/floating");
}

#[test]
fn a_plugin_loaded_as_the_wrong_kind_is_refused() {
    let err = host()
        .load_renderer("health-core", driftless_plugins_builtin::get("health-core").unwrap().wasm)
        .unwrap_err();
    assert_eq!(err.class(), ErrorClass::Input);
    assert!(
        err.to_string().contains("it says it is a health plugin, but it was loaded as a renderer plugin"),
        "{err}"
    );
    let err = host().load_policy("hostile.wasm", &std::fs::read(HOSTILE_PLUGIN).unwrap()).unwrap_err();
    assert!(matches!(err, PluginError::Refused { .. }), "{err}");
}

#[test]
fn a_plugin_asking_for_an_ungranted_capability_is_refused_naming_both() {
    let err = host().load_health("greedy.wasm", &std::fs::read(GREEDY_PLUGIN).unwrap()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "plugin greedy.wasm refused: it asks for outbound-http(exfiltrate.example:443), which is not granted \
         (health plugins are granted nothing)"
    );
}

#[test]
fn a_plugin_for_another_contract_version_is_refused_naming_both() {
    let err = host().load_health("future.wasm", &std::fs::read(FUTURE_PLUGIN).unwrap()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "plugin future.wasm refused: it was built for plugin contract 0.2.0, and this host supports 0.1.0"
    );
}

#[test]
fn inspect_reports_hash_imports_exports_and_metadata() {
    let wasm = std::fs::read(GREEDY_PLUGIN).unwrap();
    let inspection = host().inspect("greedy.wasm", &wasm).unwrap();
    assert_eq!(inspection.content_hash.len(), 64);
    assert_eq!(inspection.size, wasm.len());
    assert!(
        inspection.imports.iter().any(|i| i == "driftless:plugin/types@0.1.0"),
        "{:?}",
        inspection.imports
    );
    assert!(inspection.imports.iter().all(|i| !i.starts_with("wasi:filesystem")), "{:?}", inspection.imports);
    assert!(inspection.exports.iter().any(|e| e == "metadata"), "{:?}", inspection.exports);
    assert!(inspection.exports.iter().any(|e| e.starts_with("driftless:plugin/health-check@0.1.0")));
    let metadata = inspection.metadata.unwrap();
    assert_eq!(metadata.capabilities, [Capability::OutboundHttp("exfiltrate.example:443".into())]);
    assert!(host().inspect("junk", b"junk").is_err());
}

#[test]
fn the_disk_cache_survives_a_restart_and_rebuilds_corrupt_entries() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let wasm = driftless_plugins_builtin::get("health-core").unwrap().wasm;
    let load = || {
        let host = PluginHost::with_cache(Limits::default(), Some(&cache)).unwrap();
        host.load_health("health-core", wasm).unwrap().metadata().name.clone()
    };
    assert_eq!(load(), "health-core");
    let entries: Vec<_> = std::fs::read_dir(&cache).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(entries.len(), 1, "{entries:?}");
    let entry = &entries[0];
    assert!(entry.file_name().unwrap().to_str().unwrap().ends_with(".cwasm"));
    let written = std::fs::read(entry).unwrap();

    // A second host (a restart) loads from disk: the file is not rewritten.
    let modified = std::fs::metadata(entry).unwrap().modified().unwrap();
    assert_eq!(load(), "health-core");
    assert_eq!(std::fs::metadata(entry).unwrap().modified().unwrap(), modified);

    // A corrupt entry is detected and replaced by a good one.
    let mut corrupt = written.clone();
    let last = corrupt.len() - 1;
    corrupt[last] ^= 0xff;
    std::fs::write(entry, &corrupt).unwrap();
    assert_eq!(load(), "health-core");
    assert_eq!(std::fs::read(entry).unwrap(), written);

    // Truncated too.
    std::fs::write(entry, &written[..100]).unwrap();
    assert_eq!(load(), "health-core");
    assert_eq!(std::fs::read(entry).unwrap(), written);
}

#[cfg(unix)]
#[test]
fn a_cache_directory_others_can_write_is_not_used() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let host = PluginHost::with_cache(Limits::default(), Some(dir.path())).unwrap();
    host.load_health("health-core", driftless_plugins_builtin::get("health-core").unwrap().wasm).unwrap();
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "wrote into a world-writable cache");
}
