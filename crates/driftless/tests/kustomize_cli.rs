//! The kustomize conformance suite: every fixture under `tests/kustomize/` is rendered by
//! `driftless render` (renderer auto-detected: the real `kustomize` WebAssembly plugin) and
//! compared with `expected.yaml`, the output of `kubectl kustomize` (v5.5) stored beside it:
//! same objects in the same order, compared as parsed YAML; byte-identical ones are counted.
//!
//! Fixtures with an `expected-error` file must fail with exit code 2, print nothing on stdout
//! and name that file in the error; `kubectl kustomize` must refuse them too.
//!
//! With `kubectl` on PATH the suite also checks that each `expected.yaml` is still what
//! kubectl prints; `KUSTOMIZE_REGENERATE=1` rewrites them from kubectl instead.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use serde_json::Value;

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/kustomize").canonicalize().unwrap()
}

fn fixtures() -> Vec<PathBuf> {
    let mut list: Vec<PathBuf> = std::fs::read_dir(fixtures_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    list.sort();
    list
}

fn kubectl_available() -> bool {
    Command::new("kubectl").args(["version", "--client"]).output().is_ok_and(|o| o.status.success())
}

fn kubectl_kustomize(dir: &Path) -> Result<String, String> {
    let out = Command::new("kubectl").arg("kustomize").arg(dir).output().map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(String::from_utf8(out.stdout).unwrap())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

fn parse(text: &str) -> Vec<Value> {
    driftless_yaml::parse_stream(text)
        .unwrap()
        .into_iter()
        .map(|d| d.value)
        .filter(|v| !v.is_null())
        .collect()
}

struct Outcome {
    name: String,
    failure: Option<String>,
    byte_identical: bool,
    error_case: bool,
}

fn check(dir: &Path, cache: &Path, kubectl: bool, regenerate: bool) -> Outcome {
    let name = dir.file_name().unwrap().to_string_lossy().into_owned();
    let fail = |msg: String| Outcome {
        name: name.clone(),
        failure: Some(msg),
        byte_identical: false,
        error_case: false,
    };
    let ours = Command::new(env!("CARGO_BIN_EXE_driftless"))
        .args(["render", "--path"])
        .arg(dir)
        .arg("--root")
        .arg(dir)
        .env_remove("RUST_LOG")
        .env("DRIFTLESS_CACHE_DIR", cache)
        .output()
        .expect("run driftless");
    let stdout = String::from_utf8(ours.stdout).unwrap();
    let stderr = String::from_utf8_lossy(&ours.stderr).into_owned();

    if let Ok(expected_error) = std::fs::read_to_string(dir.join("expected-error")) {
        let file = expected_error.trim();
        let mut problems = Vec::new();
        if ours.status.code() != Some(2) {
            problems.push(format!("exit code {:?}, expected 2", ours.status.code()));
        }
        if !stdout.is_empty() {
            problems.push("rendered something on stdout".to_owned());
        }
        if !stderr.contains(file) {
            problems.push(format!("the error does not name {file}"));
        }
        if kubectl && kubectl_kustomize(dir).is_ok() {
            problems.push("kubectl kustomize accepts this fixture".to_owned());
        }
        let failure = (!problems.is_empty()).then(|| format!("{}\nstderr: {stderr}", problems.join("; ")));
        return Outcome { name, failure, byte_identical: false, error_case: true };
    }

    let expected_path = dir.join("expected.yaml");
    if regenerate {
        match kubectl_kustomize(dir) {
            Ok(text) => std::fs::write(&expected_path, text).unwrap(),
            Err(e) => return fail(format!("kubectl kustomize failed: {e}")),
        }
    }
    let Ok(expected) = std::fs::read_to_string(&expected_path) else {
        return fail("no expected.yaml (run with KUSTOMIZE_REGENERATE=1 and kubectl on PATH)".into());
    };
    if kubectl && !regenerate {
        match kubectl_kustomize(dir) {
            Ok(text) if text == expected => {}
            Ok(_) => return fail("expected.yaml is not what kubectl kustomize prints now".into()),
            Err(e) => return fail(format!("kubectl kustomize failed: {e}")),
        }
    }
    if ours.status.code() != Some(0) {
        return fail(format!("driftless render exited with {:?}: {stderr}", ours.status.code()));
    }
    if parse(&stdout) != parse(&expected) {
        return fail(format!(
            "objects differ from kubectl kustomize\n--- ours\n{stdout}\n--- kubectl\n{expected}"
        ));
    }
    Outcome { name, failure: None, byte_identical: stdout == expected, error_case: false }
}

#[test]
fn kustomize_conformance_suite() {
    let regenerate = std::env::var("KUSTOMIZE_REGENERATE").is_ok_and(|v| v == "1");
    let kubectl = kubectl_available();
    if regenerate {
        assert!(kubectl, "KUSTOMIZE_REGENERATE=1 needs kubectl on PATH");
    }
    if !kubectl {
        eprintln!(
            "NOTE: kubectl is not installed: expected.yaml files are used as stored, not re-checked against `kubectl kustomize`"
        );
    }
    let cache = tempfile::tempdir().unwrap();
    let all = fixtures();
    assert!(all.len() >= 60, "only {} fixtures", all.len());
    let queue = Mutex::new(all.clone());
    let results = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                loop {
                    let Some(dir) = queue.lock().unwrap().pop() else { break };
                    let outcome = check(&dir, cache.path(), kubectl, regenerate);
                    results.lock().unwrap().push(outcome);
                }
            });
        }
    });
    let mut results = results.into_inner().unwrap();
    results.sort_by(|a, b| a.name.cmp(&b.name));
    let builds = results.iter().filter(|r| !r.error_case).count();
    let same = results.iter().filter(|r| !r.error_case && r.failure.is_none()).count();
    let identical = results.iter().filter(|r| r.byte_identical).count();
    let errors = results.iter().filter(|r| r.error_case).count();
    eprintln!(
        "kustomize conformance: {same}/{builds} builds give kubectl's objects in kubectl's order, {identical} byte-identical; {errors} error fixtures"
    );
    let failures: Vec<String> =
        results.iter().filter_map(|r| r.failure.as_ref().map(|f| format!("== {}: {f}", r.name))).collect();
    assert!(
        failures.is_empty(),
        "{} of {} fixtures fail:\n{}",
        failures.len(),
        results.len(),
        failures.join("\n")
    );
}

fn render_in(dir: &Path, extra: &[&str]) -> std::process::Output {
    let cache = tempfile::tempdir().unwrap();
    Command::new(env!("CARGO_BIN_EXE_driftless"))
        .args(["render", "--path", "."])
        .args(extra)
        .current_dir(dir)
        .env_remove("RUST_LOG")
        .env("DRIFTLESS_CACHE_DIR", cache.path())
        .output()
        .expect("run driftless")
}

#[test]
fn the_renderer_is_detected_and_plugin_overrides_it() {
    let dir = tempfile::tempdir().unwrap();
    let cm = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\n";
    std::fs::write(dir.path().join("cm.yaml"), cm).unwrap();

    // No kustomization: plain manifests.
    let out = render_in(dir.path(), &[]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8(out.stdout).unwrap(), cm);

    // A kustomization: kustomize.
    std::fs::write(dir.path().join("kustomization.yaml"), "resources: [cm.yaml]\nnamePrefix: k-\n").unwrap();
    let out = render_in(dir.path(), &[]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8(out.stdout).unwrap(), cm.replace("name: cfg", "name: k-cfg"));

    // --plugin wins: the manifests renderer reads kustomization.yaml as a manifest and refuses it.
    let out = render_in(dir.path(), &["--plugin", "manifests"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("kustomization.yaml"));
}
