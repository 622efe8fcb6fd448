//! `driftless plugin new`: each scaffold builds for wasm32-wasip2 with cargo, passes its own
//! tests, and runs under the matching command (`health --plugin`, `render --plugin`).
//! Slow (it builds the SDK for two targets the first time), so all kinds share one target
//! directory under this workspace's `target/`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use driftless_e2e::write_files;
use serde_json::Value;

fn target_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/scaffold-tests")
}

fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("run command");
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn driftless(args: &[&str], cwd: &Path, cache: &Path) -> Output {
    run(Command::new(env!("CARGO_BIN_EXE_driftless"))
        .args(args)
        .current_dir(cwd)
        .env("DRIFTLESS_CACHE_DIR", cache))
}

fn cargo(args: &[&str], dir: &Path) -> Output {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    run(Command::new(cargo)
        .args(args)
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", target_dir())
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS"))
}

/// Scaffold `name` of `kind`, run its tests, build its component; return the component path.
fn scaffold_and_build(work: &Path, cache: &Path, name: &str, kind: &str) -> PathBuf {
    let out = driftless(&["plugin", "new", name, "--kind", kind], work, cache);
    let shown = if kind == "secret" { "secret-backend" } else { kind };
    assert!(String::from_utf8_lossy(&out.stdout).contains(&format!("created {shown} plugin `{name}`")));
    let dir = work.join(name);
    assert!(!dir.join("wit").exists(), "the scaffold must not copy WIT files");
    let test = cargo(&["test", "--quiet"], &dir);
    let summary = String::from_utf8_lossy(&test.stdout);
    assert!(summary.contains("test result: ok. 1 passed"), "{summary}");
    cargo(&["build", "--release", "--quiet", "--target", "wasm32-wasip2"], &dir);
    target_dir().join("wasm32-wasip2/release").join(format!("{}.wasm", name.replace('-', "_")))
}

#[test]
fn scaffolded_plugins_build_pass_their_tests_and_run() {
    let work = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();

    let health = scaffold_and_build(work.path(), cache.path(), "widget-health", "health");
    write_files(
        work.path(),
        &[(
            "live.yaml",
            "\
apiVersion: example.com/v1
kind: Widget
metadata: {name: ready}
status: {ready: true}
---
apiVersion: example.com/v1
kind: Widget
metadata: {name: pending}
---
apiVersion: v1
kind: Namespace
metadata: {name: ns}
status: {phase: Active}
",
        )],
    );
    let out = driftless(
        &["health", "--manifests", "live.yaml", "--plugin", health.to_str().unwrap(), "-o", "json"],
        work.path(),
        cache.path(),
    );
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    let statuses: Vec<&str> =
        json.as_array().unwrap().iter().map(|h| h["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["Healthy", "Progressing", "Healthy"]);

    let renderer = scaffold_and_build(work.path(), cache.path(), "hello-render", "renderer");
    std::fs::create_dir(work.path().join("app")).unwrap();
    let out = driftless(
        &["render", "--path", "app", "--root", ".", "--plugin", renderer.to_str().unwrap(), "-o", "json"],
        work.path(),
        cache.path(),
    );
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json[0]["metadata"]["name"], "hello-render");
    assert_eq!(json[0]["data"]["rendered-from"], "app");

    let policy = scaffold_and_build(work.path(), cache.path(), "owner-label", "policy");
    let out = driftless(&["plugin", "inspect", policy.to_str().unwrap()], work.path(), cache.path());
    assert!(String::from_utf8_lossy(&out.stdout).contains("kind:         policy"));

    let secret = scaffold_and_build(work.path(), cache.path(), "vault-kv", "secret");
    let out = driftless(&["plugin", "inspect", secret.to_str().unwrap()], work.path(), cache.path());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("kind:         secret-backend"), "{text}");
    assert!(text.contains("outbound-http(secrets.example.com)"), "{text}");
    assert!(text.contains("wasi:http/outgoing-handler"), "{text}");
}

#[test]
fn bad_names_and_missing_sdks_are_refused() {
    let work = tempfile::tempdir().unwrap();
    for (args, expected) in [
        (&["plugin", "new", "Bad_Name", "--kind", "secret"][..], "is not a valid plugin name"),
        (&["plugin", "new", "Bad_Name", "--kind", "health"], "is not a valid plugin name"),
        (
            &["plugin", "new", "x", "--kind", "health", "--sdk", "/nonexistent"],
            "no driftless SDK at /nonexistent",
        ),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_driftless"))
            .args(args)
            .current_dir(work.path())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(expected),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_eq!(std::fs::read_dir(work.path()).unwrap().count(), 0, "nothing may be written");
}
