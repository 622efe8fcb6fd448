//! Compile the test plugins (hostile ones included) to WebAssembly for the tests to load.

use driftless_wasm_build::{Plugin, build_plugins};

fn main() {
    let paths = build_plugins(&[
        Plugin { package: "driftless-test-plugin-hostile", file: "hostile.wasm" },
        Plugin { package: "driftless-test-plugin-greedy", file: "greedy.wasm" },
        Plugin { package: "driftless-test-plugin-future", file: "future.wasm" },
        Plugin { package: "driftless-test-plugin-no-latest", file: "no-latest.wasm" },
        Plugin { package: "driftless-test-plugin-loopback-secrets", file: "loopback-secrets.wasm" },
    ]);
    for (name, path) in ["HOSTILE", "GREEDY", "FUTURE", "NO_LATEST", "LOOPBACK_SECRETS"].iter().zip(paths) {
        println!("cargo:rustc-env=DRIFTLESS_TEST_PLUGIN_{name}={}", path.display());
    }
}
