//! Plugin benchmarks with the real built-in plugins:
//! - `manifests`: 2,000 objects through the sandbox (fresh store and instance each call, as in
//!   production), and one object (the fixed cost of a call);
//! - `health-core`: 10,000 objects in one batch, and one object; the same with wasmtime's
//!   pooling instance allocator (`health-core (pooling)`), to compare;
//! - loading a plugin: compiling it, and loading it from the on-disk cache after a restart.
//!
//! Run: `cargo bench -p driftless-plugin-host --bench render`. Figures go to
//! `docs/benchmarks.md`.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use driftless_core::Object;
use driftless_plugin_host::{Allocator, Limits, PluginHost};
use serde_json::{Map, json};

fn live_objects(n: usize) -> Vec<Object> {
    (0..n)
        .map(|i| {
            let value = if i % 2 == 0 {
                json!({"apiVersion": "apps/v1", "kind": "Deployment",
                       "metadata": {"name": format!("web-{i}"), "namespace": "bench", "generation": 4},
                       "spec": {"replicas": 3, "template": {"spec": {"containers": [{"name": "c", "image": "x:1"}]}}},
                       "status": {"observedGeneration": 4, "replicas": 3, "updatedReplicas": 3,
                                  "readyReplicas": 3, "availableReplicas": 3,
                                  "conditions": [{"type": "Available", "status": "True"}]}})
            } else {
                json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": format!("pod-{i}"), "namespace": "bench"},
                       "spec": {"containers": [{"name": "c", "image": "x:1"}]},
                       "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}],
                                  "containerStatuses": [{"name": "c", "ready": true, "restartCount": 0,
                                                         "state": {"running": {}}}]}})
            };
            Object::from_value(value).unwrap()
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let host = PluginHost::new(Limits::default()).unwrap();
    let manifests_wasm = driftless_plugins_builtin::get("manifests").unwrap().wasm;
    let health_wasm = driftless_plugins_builtin::get("health-core").unwrap().wasm;
    let manifests = host.load_renderer("manifests", manifests_wasm).unwrap();
    let health = host.load_health("health-core", health_wasm).unwrap();

    let many = tempfile::tempdir().unwrap();
    driftless_e2e::write_many_objects(many.path(), 2_000);
    let one = tempfile::tempdir().unwrap();
    driftless_e2e::write_many_objects(one.path(), 1);
    let params = Map::new();
    assert_eq!(manifests.render(many.path(), ".", &params).unwrap().len(), 2_000);

    let mut group = c.benchmark_group("manifests");
    group.sample_size(20);
    group.bench_function("render 2000 objects", |b| {
        b.iter(|| manifests.render(many.path(), ".", &params).unwrap())
    });
    group.bench_function("render 1 object", |b| {
        b.iter(|| manifests.render(one.path(), ".", &params).unwrap())
    });
    group.finish();

    let objects = live_objects(10_000);
    let single = live_objects(1);
    assert!(health.assess(&objects).unwrap().iter().all(Option::is_some));
    let mut group = c.benchmark_group("health-core");
    group.sample_size(20);
    group.bench_function("assess 10000 objects", |b| b.iter(|| health.assess(&objects).unwrap()));
    group.bench_function("assess 1 object", |b| b.iter(|| health.assess(&single).unwrap()));
    group.bench_function("instantiate (fresh store, no call)", |b| {
        b.iter(|| health.instantiate_only().unwrap())
    });
    group.finish();

    let pooled_host = PluginHost::with_allocator(Limits::default(), None, Allocator::Pooling).unwrap();
    let pooled = pooled_host.load_health("health-core", health_wasm).unwrap();
    assert_eq!(pooled.assess(&objects).unwrap(), health.assess(&objects).unwrap());
    let mut group = c.benchmark_group("health-core (pooling)");
    group.sample_size(20);
    group.bench_function("assess 10000 objects", |b| b.iter(|| pooled.assess(&objects).unwrap()));
    group.bench_function("assess 1 object", |b| b.iter(|| pooled.assess(&single).unwrap()));
    group.bench_function("instantiate (fresh store, no call)", |b| {
        b.iter(|| pooled.instantiate_only().unwrap())
    });
    group.finish();

    let cache = tempfile::tempdir().unwrap();
    PluginHost::with_cache(Limits::default(), Some(cache.path()))
        .unwrap()
        .load_renderer("m", manifests_wasm)
        .unwrap();
    let mut group = c.benchmark_group("load manifests plugin");
    group.sample_size(10);
    group.bench_function("compile (cold)", |b| {
        b.iter_batched(
            || PluginHost::new(Limits::default()).unwrap(),
            |host| host.load_renderer("manifests", manifests_wasm).unwrap(),
            BatchSize::PerIteration,
        )
    });
    group.bench_function("from the disk cache (restart)", |b| {
        b.iter_batched(
            || PluginHost::with_cache(Limits::default(), Some(cache.path())).unwrap(),
            |host| host.load_renderer("manifests", manifests_wasm).unwrap(),
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
