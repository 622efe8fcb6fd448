//! The sandbox, tested with real compiled plugins: the first-party `manifests` renderer and
//! the hostile test renderer (`tests/plugins/hostile`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use driftless_e2e::{HOSTILE_PLUGIN, write_files};
use driftless_plugin_host::{Allocator, ErrorClass, Limits, PluginError, PluginHost, RendererPlugin};
use serde_json::{Map, Value};

fn host() -> &'static PluginHost {
    static HOST: OnceLock<PluginHost> = OnceLock::new();
    HOST.get_or_init(|| PluginHost::new(Limits::default()).unwrap())
}

fn hostile() -> &'static RendererPlugin {
    static PLUGIN: OnceLock<RendererPlugin> = OnceLock::new();
    PLUGIN.get_or_init(|| {
        let wasm = std::fs::read(HOSTILE_PLUGIN).unwrap();
        host().load_renderer("hostile.wasm", &wasm).unwrap()
    })
}

fn manifests() -> &'static RendererPlugin {
    static PLUGIN: OnceLock<RendererPlugin> = OnceLock::new();
    PLUGIN.get_or_init(|| {
        let builtin = driftless_plugins_builtin::get("manifests").unwrap();
        host().load_renderer("manifests", builtin.wasm).unwrap()
    })
}

/// Render with the hostile plugin in `mode`, from a fresh checkout.
fn hostile_render(mode: &str) -> Result<Vec<driftless_core::Object>, PluginError> {
    let root = tempfile::tempdir().unwrap();
    write_files(root.path(), &[("app/mode", mode)]);
    hostile().render(root.path(), "app", &Map::new())
}

fn assert_still_works(plugin: &RendererPlugin) {
    let objects = hostile_render("ok").unwrap();
    assert_eq!(objects.len(), 1);
    assert_eq!(plugin.metadata().name, "hostile");
}

#[test]
fn metadata_is_read_at_load() {
    let meta = hostile().metadata();
    assert_eq!((meta.name.as_str(), meta.contract.as_str()), ("hostile", "0.1.0"));
    assert_eq!(manifests().metadata().name, "manifests");
}

#[test]
fn a_plugin_that_loops_forever_is_stopped_within_two_seconds() {
    let started = Instant::now();
    let err = hostile_render("loop").unwrap_err();
    let elapsed = started.elapsed();
    assert!(matches!(err, PluginError::Timeout { ref plugin, .. } if plugin == "hostile"), "{err}");
    assert_eq!(err.class(), ErrorClass::Runtime);
    assert!(elapsed < Duration::from_secs(2), "stopped after {elapsed:?}");
    assert!(elapsed >= Limits::default().timeout, "stopped early, after {elapsed:?}");
    assert!(err.to_string().contains("time limit of 1.0 s"), "{err}");
    assert_still_works(hostile());
}

#[test]
fn a_plugin_that_allocates_a_gibibyte_is_stopped_at_the_cap() {
    let err = hostile_render("alloc").unwrap_err();
    assert!(
        matches!(err, PluginError::MemoryLimit { ref plugin, limit } if plugin == "hostile" && limit == 256 << 20),
        "{err}"
    );
    assert!(err.to_string().contains("memory limit of 256 MiB"), "{err}");
    assert_still_works(hostile());
}

#[test]
fn a_plugin_that_traps_fails_alone_with_its_panic_message() {
    let err = hostile_render("trap").unwrap_err();
    let PluginError::Trap { plugin, stderr, .. } = &err else { panic!("expected a trap, got {err}") };
    assert_eq!(plugin, "hostile");
    assert!(stderr.contains("hostile plugin trapping on purpose"), "{err}");
    assert_still_works(hostile());
    // Another plugin on the same host is unaffected.
    let root = tempfile::tempdir().unwrap();
    write_files(root.path(), &[("cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n")]);
    assert_eq!(manifests().render(root.path(), ".", &Map::new()).unwrap().len(), 1);
}

#[test]
fn a_plugin_that_recurses_without_end_fails_alone() {
    let err = hostile_render("recursion").unwrap_err();
    let PluginError::Trap { plugin, message, .. } = &err else { panic!("expected a trap, got {err}") };
    assert_eq!(plugin, "hostile");
    // Rust keeps its stack in linear memory: running off its end is an out-of-bounds access;
    // a plugin with frames on the native stack hits wasmtime's stack limit instead.
    assert!(message.contains("out of bounds") || message.contains("stack"), "{err}");
    assert_still_works(hostile());
}

#[test]
fn a_plugin_that_floods_its_output_is_stopped_at_the_memory_cap() {
    // A deadline far beyond the time the flood takes to reach the cap, even on a loaded
    // machine: the memory cap must be what stops it.
    let host = PluginHost::new(Limits { timeout: Duration::from_secs(60), ..Limits::default() }).unwrap();
    let plugin = host.load_renderer("hostile.wasm", &std::fs::read(HOSTILE_PLUGIN).unwrap()).unwrap();
    let root = tempfile::tempdir().unwrap();
    write_files(root.path(), &[("app/mode", "flood")]);
    let err = plugin.render(root.path(), "app", &Map::new()).unwrap_err();
    assert!(matches!(err, PluginError::MemoryLimit { ref plugin, .. } if plugin == "hostile"), "{err}");
    assert_still_works(hostile());
}

#[test]
fn nothing_outside_the_render_root_is_reachable() {
    let outside = tempfile::tempdir().unwrap();
    write_files(outside.path(), &[("secret.txt", "s3cr3t")]);
    let root = tempfile::tempdir().unwrap();
    write_files(root.path(), &[("app/mode", "probe")]);
    #[cfg(unix)]
    std::os::unix::fs::symlink(outside.path().join("secret.txt"), root.path().join("app/escape")).unwrap();

    let objects = hostile().render(root.path(), "app", &Map::new()).unwrap();
    let data = objects[0].as_map()["data"].as_object().unwrap().clone();
    for probe in ["etc-passwd", "parent", "symlink", "write", "tcp", "dns"] {
        let outcome = data[probe].as_str().unwrap();
        assert!(outcome.starts_with("denied"), "{probe}: {outcome}");
    }
    assert_eq!(data["env"], Value::String("0".into()), "environment variables leaked");
    assert!(!root.path().join("app/written").exists(), "the plugin wrote into the checkout");
}

#[test]
fn output_that_is_not_objects_is_refused_naming_the_plugin() {
    let err = hostile_render("garbage").unwrap_err();
    assert!(matches!(err, PluginError::BadOutput { index: 0, .. }), "{err}");
    assert!(
        err.to_string().starts_with("plugin hostile returned an invalid object (item 0): not JSON"),
        "{err}"
    );
    let err = hostile_render("not-object").unwrap_err();
    assert!(err.to_string().contains("expected an object"), "{err}");
    assert_eq!(err.class(), ErrorClass::Runtime);
}

#[test]
fn input_errors_carry_file_and_line() {
    let root = tempfile::tempdir().unwrap();
    write_files(root.path(), &[("apps/web/bad.yaml", "apiVersion: v1\nkind: ConfigMap\n---\nkind: X\n")]);
    let err = manifests().render(root.path(), "apps/web", &Map::new()).unwrap_err();
    assert_eq!(err.class(), ErrorClass::Input);
    let PluginError::Input { file, line, .. } = &err else { panic!("{err}") };
    assert_eq!((file.as_deref(), *line), (Some("apps/web/bad.yaml"), Some(4)));
    assert!(err.to_string().starts_with("apps/web/bad.yaml line 4: "), "{err}");
}

#[test]
fn bytes_that_are_not_a_component_are_refused() {
    let err = host().load_renderer("junk.wasm", b"\0asm\x01\0\0\0").unwrap_err();
    assert!(matches!(err, PluginError::Invalid { ref plugin, .. } if plugin == "junk.wasm"), "{err}");
    let err = host().load_renderer("text.wasm", b"hello").unwrap_err();
    assert_eq!(err.class(), ErrorClass::Input);
}

#[test]
fn a_missing_render_root_is_a_host_error() {
    let err = manifests().render(Path::new("/nonexistent/driftless"), ".", &Map::new()).unwrap_err();
    assert!(matches!(err, PluginError::Host(_)), "{err}");
}

#[test]
fn tighter_limits_apply() {
    let host = PluginHost::new(Limits { timeout: Duration::from_millis(200), memory: 32 << 20 }).unwrap();
    let plugin = host.load_renderer("hostile.wasm", &std::fs::read(HOSTILE_PLUGIN).unwrap()).unwrap();
    let root = tempfile::tempdir().unwrap();
    write_files(root.path(), &[("mode", "loop")]);
    let started = Instant::now();
    let err = plugin.render(root.path(), ".", &Map::new()).unwrap_err();
    assert!(matches!(err, PluginError::Timeout { .. }), "{err}");
    assert!(started.elapsed() < Duration::from_millis(1000), "{:?}", started.elapsed());
}

#[test]
fn the_pooling_allocator_keeps_every_limit() {
    let limits = Limits { timeout: Duration::from_millis(300), memory: 32 << 20 };
    let host = PluginHost::with_allocator(limits, None, Allocator::Pooling).unwrap();
    let plugin = host.load_renderer("hostile.wasm", &std::fs::read(HOSTILE_PLUGIN).unwrap()).unwrap();
    let render = |mode: &str| {
        let root = tempfile::tempdir().unwrap();
        write_files(root.path(), &[("mode", mode)]);
        plugin.render(root.path(), ".", &Map::new())
    };
    for mode in ["alloc", "flood"] {
        let err = render(mode).unwrap_err();
        assert!(matches!(err, PluginError::MemoryLimit { limit, .. } if limit == 32 << 20), "{mode}: {err}");
    }
    let started = Instant::now();
    assert!(matches!(render("loop").unwrap_err(), PluginError::Timeout { .. }));
    assert!(started.elapsed() < Duration::from_millis(1300), "{:?}", started.elapsed());
    let err = render("trap").unwrap_err();
    assert!(err.to_string().contains("hostile plugin trapping on purpose"), "{err}");
    // Slots are reused after every kind of failure, more times than the pool has slots.
    for _ in 0..2 * driftless_plugin_host::POOL_INSTANCES {
        assert_eq!(render("ok").unwrap().len(), 1);
    }
}
