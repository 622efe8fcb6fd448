//! Build-script helper: compile workspace plugin crates to `wasm32-wasip2` components.
//!
//! Called from a `build.rs`, [`build_plugins`] runs a nested `cargo build --release --target
//! wasm32-wasip2 -p ...` over this workspace in a target directory of its own (sharing the
//! outer build's target directory would deadlock on its lock), copies each component into
//! `OUT_DIR` and tells cargo when to run again. It does not embed or load anything: the caller
//! decides (`include_bytes!`, or a path for tests).

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The target plugins are built for.
pub const TARGET: &str = "wasm32-wasip2";

/// A plugin to build: its package name and the name of the file to produce in `OUT_DIR`.
#[derive(Debug, Clone, Copy)]
pub struct Plugin {
    /// Cargo package name, e.g. `driftless-plugin-manifests`.
    pub package: &'static str,
    /// File name in `OUT_DIR`, e.g. `manifests.wasm`.
    pub file: &'static str,
}

/// `cargo` (the one running this build or test, else from `PATH`) without the settings of the
/// outer build, which are for the host and not for wasm: features, cfgs, rustflags, wrappers,
/// the build target. `CARGO_TARGET_DIR` stays; callers decide.
#[must_use]
pub fn cargo_for_wasm() -> Command {
    let mut cmd = Command::new(env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    for (key, _) in env::vars_os() {
        let Some(key) = key.to_str() else { continue };
        if key.starts_with("CARGO_FEATURE_")
            || key.starts_with("CARGO_CFG_")
            || matches!(
                key,
                "RUSTFLAGS"
                    | "CARGO_ENCODED_RUSTFLAGS"
                    | "CARGO_BUILD_RUSTFLAGS"
                    | "RUSTC_WORKSPACE_WRAPPER"
                    | "RUSTC_WRAPPER"
                    | "CARGO_BUILD_TARGET"
                    | "CARGO_LLVM_COV"
                    | "CARGO_PRIMARY_PACKAGE"
            )
        {
            cmd.env_remove(key);
        }
    }
    cmd
}

/// Build `plugins` and return the path of each component in `OUT_DIR`, in the same order.
///
/// Build scripts may panic to report failure; this function panics with cargo's output when
/// the nested build fails, with a hint when the `wasm32-wasip2` target is missing.
#[must_use]
#[allow(clippy::expect_used, clippy::panic)]
pub fn build_plugins(plugins: &[Plugin]) -> Vec<PathBuf> {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("OUT_DIR"));
    let workspace = find_workspace_root(&manifest_dir);
    let target_dir =
        outer_target_dir(&out_dir).unwrap_or_else(|| workspace.join("target")).join("wasm-plugins");

    for watched in
        ["Cargo.toml", "Cargo.lock", "sdk", "plugins", "crates/core", "crates/yaml", "tests/plugins"]
    {
        println!("cargo:rerun-if-changed={}", workspace.join(watched).display());
    }

    ensure_target_installed();
    let mut cmd = cargo_for_wasm();
    // The nested build has a target directory of its own (sharing the outer one would deadlock).
    cmd.env_remove("CARGO_TARGET_DIR");
    cmd.current_dir(&workspace)
        .args(["build", "--release", "--target", TARGET, "--target-dir"])
        .arg(&target_dir);
    for plugin in plugins {
        cmd.args(["-p", plugin.package]);
    }
    // Plugins are small and built rarely: whole-program optimisation pays at every call.
    cmd.env("CARGO_PROFILE_RELEASE_LTO", "true").env("CARGO_PROFILE_RELEASE_CODEGEN_UNITS", "1");
    let output = cmd.output().expect("run cargo for the wasm plugins");
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let hint = if stderr.contains("may not be installed") || stderr.contains("target may not") {
            format!("\nhint: install the target with `rustup target add {TARGET}`")
        } else {
            String::new()
        };
        panic!("building the wasm plugins failed:\n{stderr}{hint}");
    }

    plugins
        .iter()
        .map(|plugin| {
            let artifact = plugin.package.replace('-', "_") + ".wasm";
            let built = target_dir.join(TARGET).join("release").join(artifact);
            let dest = out_dir.join(plugin.file);
            copy_if_changed(&built, &dest);
            dest
        })
        .collect()
}

/// Install the wasm target through rustup when the toolchain lacks it, so that `cargo build`
/// works on a fresh machine (rustup does not add a `rust-toolchain.toml` target to a toolchain
/// that is already installed).
fn ensure_target_installed() {
    let rustc = env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let sysroot = Command::new(rustc)
        .args(["--print", "sysroot"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    let Some(sysroot) = sysroot else { return };
    if sysroot.join("lib/rustlib").join(TARGET).is_dir() {
        return;
    }
    let mut rustup = Command::new("rustup");
    rustup.args(["target", "add", TARGET]);
    if let Some(toolchain) = env::var_os("RUSTUP_TOOLCHAIN") {
        rustup.arg("--toolchain").arg(toolchain);
    }
    match rustup.output() {
        Ok(o) if o.status.success() => {
            println!("cargo:warning=installed the {TARGET} target with rustup to build the plugins");
        }
        // The nested build below fails with a hint.
        _ => println!("cargo:warning=the {TARGET} target is missing and rustup could not add it"),
    }
}

/// Copy unless the destination already has the same bytes, so that dependants are not rebuilt
/// for nothing.
#[allow(clippy::panic)]
fn copy_if_changed(from: &Path, to: &Path) {
    let new = std::fs::read(from).unwrap_or_else(|e| panic!("read the built plugin {}: {e}", from.display()));
    if std::fs::read(to).ok().as_deref() != Some(new.as_slice()) {
        std::fs::write(to, &new).unwrap_or_else(|e| panic!("write {}: {e}", to.display()));
    }
}

/// The nearest ancestor of `start` whose `Cargo.toml` declares a `[workspace]`.
fn find_workspace_root(start: &Path) -> PathBuf {
    start
        .ancestors()
        .find(|dir| {
            std::fs::read_to_string(dir.join("Cargo.toml")).is_ok_and(|text| text.contains("[workspace]"))
        })
        .unwrap_or(start)
        .to_path_buf()
}

/// The outer build's target directory: the ancestor of `OUT_DIR` that cargo tagged with
/// `CACHEDIR.TAG`.
fn outer_target_dir(out_dir: &Path) -> Option<PathBuf> {
    out_dir.ancestors().find(|d| d.join("CACHEDIR.TAG").is_file()).map(Path::to_path_buf)
}
