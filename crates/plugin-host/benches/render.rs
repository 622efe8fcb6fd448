//! Render benchmarks with the real `manifests` plugin: 2,000 objects through the sandbox
//! (fresh store and instance each time, as in production), one object (the fixed cost of a
//! call), and loading (compiling) the plugin.
//!
//! Run: `cargo bench -p driftless-plugin-host --bench render`. Figures go to
//! `docs/benchmarks.md`.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use criterion::{Criterion, criterion_group, criterion_main};
use driftless_plugin_host::{Limits, PluginHost};
use serde_json::Map;

fn bench(c: &mut Criterion) {
    let host = PluginHost::new(Limits::default()).unwrap();
    let wasm = driftless_plugins_builtin::get("manifests").unwrap().wasm;
    let plugin = host.load_renderer("manifests", wasm).unwrap();

    let many = tempfile::tempdir().unwrap();
    driftless_e2e::write_many_objects(many.path(), 2_000);
    let one = tempfile::tempdir().unwrap();
    driftless_e2e::write_many_objects(one.path(), 1);
    let params = Map::new();

    assert_eq!(plugin.render(many.path(), ".", &params).unwrap().len(), 2_000);

    let mut group = c.benchmark_group("manifests");
    group.sample_size(20);
    group.bench_function("render 2000 objects (instantiate + render + parse output)", |b| {
        b.iter(|| plugin.render(many.path(), ".", &params).unwrap())
    });
    group.bench_function("render 1 object (fixed cost of a call)", |b| {
        b.iter(|| plugin.render(one.path(), ".", &params).unwrap())
    });
    group.sample_size(10);
    group.bench_function("load plugin (compile + metadata call)", |b| {
        b.iter(|| host.load_renderer("manifests", wasm).unwrap())
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
