//! Compile the first-party plugins to WebAssembly so the binary can embed them.

use driftless_wasm_build::{Plugin, build_plugins};

fn main() {
    let _ = build_plugins(&[
        Plugin { package: "driftless-plugin-manifests", file: "manifests.wasm" },
        Plugin { package: "driftless-plugin-kustomize", file: "kustomize.wasm" },
        Plugin { package: "driftless-plugin-health-core", file: "health-core.wasm" },
    ]);
}
