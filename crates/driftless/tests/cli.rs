//! The `driftless` command run as a process: output formats, exit codes and error messages.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use driftless_e2e::{HOSTILE_PLUGIN, write_files};
use serde_json::Value;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

fn driftless(args: &[&str], cwd: &Path) -> Output {
    // Each run gets its own plugin cache, so tests neither share nor pollute the user's.
    let cache = tempfile::tempdir().unwrap();
    Command::new(env!("CARGO_BIN_EXE_driftless"))
        .args(args)
        .current_dir(cwd)
        .env_remove("RUST_LOG")
        .env("DRIFTLESS_CACHE_DIR", cache.path())
        .output()
        .expect("run driftless")
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).unwrap()
}

#[test]
fn renders_the_guestbook_example_as_yaml_and_json() {
    let root = repo_root();
    let yaml = driftless(&["render", "--path", "examples/guestbook"], &root);
    assert_eq!(yaml.status.code(), Some(0), "{}", stderr(&yaml));
    let docs = driftless_yaml::parse_stream(&stdout(&yaml)).unwrap();
    let kinds: Vec<_> = docs.iter().map(|d| d.value["kind"].as_str().unwrap().to_owned()).collect();
    assert_eq!(
        kinds,
        ["ConfigMap", "Deployment", "Service", "Namespace", "Deployment", "Service", "Deployment", "Service"]
    );

    let json = driftless(&["render", "--path", "examples/guestbook", "--output", "json"], &root);
    assert_eq!(json.status.code(), Some(0), "{}", stderr(&json));
    let array: Value = serde_json::from_str(&stdout(&json)).unwrap();
    let from_yaml: Vec<Value> = docs.into_iter().map(|d| d.value).collect();
    assert_eq!(array, Value::Array(from_yaml), "YAML and JSON outputs differ");
}

#[test]
fn yaml_output_reads_back_identically_with_kubectl() {
    if Command::new("kubectl").arg("version").arg("--client").output().is_err() {
        eprintln!("SKIPPED: kubectl is not installed; this test compares with `kubectl kustomize`");
        return;
    }
    let out = driftless(&["render", "--path", "examples/guestbook", "-o", "json"], &repo_root());
    let ours: Value = serde_json::from_str(&stdout(&out)).unwrap();
    // kubectl reads our YAML (as a kustomize resource) and prints it back; same objects.
    let dir = tempfile::tempdir().unwrap();
    let yaml = driftless(&["render", "--path", "examples/guestbook"], &repo_root());
    write_files(
        dir.path(),
        &[("all.yaml", &stdout(&yaml)), ("kustomization.yaml", "resources: [all.yaml]\n")],
    );
    let kubectl = Command::new("kubectl").arg("kustomize").arg(dir.path()).output().unwrap();
    assert!(kubectl.status.success(), "{}", String::from_utf8_lossy(&kubectl.stderr));
    let theirs = driftless_yaml::parse_stream(&String::from_utf8(kubectl.stdout).unwrap()).unwrap();
    let key = |v: &Value| format!("{}/{}", v["kind"], v["metadata"]["name"]);
    let mut ours: Vec<Value> = ours.as_array().unwrap().clone();
    let mut theirs: Vec<Value> = theirs.into_iter().map(|d| d.value).collect();
    ours.sort_by_key(key);
    theirs.sort_by_key(key);
    assert_eq!(ours, theirs);
}

#[test]
fn malformed_yaml_exits_2_naming_file_and_line() {
    let repo = tempfile::tempdir().unwrap();
    std::fs::create_dir(repo.path().join(".git")).unwrap();
    write_files(
        repo.path(),
        &[
            ("apps/web/ok.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n"),
            ("apps/web/broken.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: [unclosed\n"),
        ],
    );
    let out = driftless(&["render", "--path", "apps/web"], repo.path());
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    // The file is named relative to the Git work tree (the default render root).
    assert!(err.contains("apps/web/broken.yaml line "), "{err}");
    assert!(err.contains("invalid YAML"), "{err}");
    assert!(stdout(&out).is_empty(), "nothing may be rendered on error");
}

#[test]
fn a_document_without_kind_exits_2_naming_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    write_files(
        dir.path(),
        &[(
            "a.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\napiVersion: v1\nmetadata: {name: b}\n",
        )],
    );
    let out = driftless(&["render", "--path", "."], dir.path());
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("a.yaml line 5: not a Kubernetes object: `kind` is missing"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn hostile_plugins_exit_3_and_name_the_plugin() {
    for (mode, expected) in [
        ("loop", "plugin hostile was stopped after"),
        ("alloc", "memory limit of 256 MiB"),
        ("trap", "plugin hostile crashed"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        write_files(dir.path(), &[("mode", mode)]);
        let started = Instant::now();
        let out = driftless(&["render", "--path", ".", "--plugin", HOSTILE_PLUGIN], dir.path());
        let elapsed = started.elapsed();
        assert_eq!(out.status.code(), Some(3), "{mode}: {}", stderr(&out));
        assert!(stderr(&out).contains(expected), "{mode}: {}", stderr(&out));
        assert!(stdout(&out).is_empty());
        if mode == "loop" {
            // Process start and compiling the plugin come on top of the 1 s deadline.
            assert!(elapsed < Duration::from_secs(5), "loop took {elapsed:?}");
        }
    }
}

#[test]
fn the_plugin_timeout_flag_applies() {
    let dir = tempfile::tempdir().unwrap();
    write_files(dir.path(), &[("mode", "loop")]);
    let out = driftless(
        &["render", "--path", ".", "--plugin", HOSTILE_PLUGIN, "--plugin-timeout", "300ms"],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(3));
    assert!(stderr(&out).contains("time limit of 0.3 s"), "{}", stderr(&out));
}

#[test]
fn usage_and_input_errors_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let cases: &[(&[&str], &str)] = &[
        (&["render"], "--path"),
        (&["render", "--path", ".", "--output", "xml"], "invalid value 'xml'"),
        (&["render", "--path", "does-not-exist"], "does-not-exist"),
        (
            &["render", "--path", ".", "--plugin", "helmish"],
            "unknown renderer `helmish`: built-in renderers are manifests",
        ),
        (&["render", "--path", ".", "--plugin", "missing.wasm"], "plugin missing.wasm"),
        (&["render", "--path", ".", "--root", "sub"], "sub"),
        (&["render", "--path", ".", "--plugin-timeout", "0s"], "greater than zero"),
        (&["frobnicate"], "unrecognized subcommand"),
    ];
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    for (args, expected) in cases {
        let out = driftless(args, dir.path());
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(expected), "{args:?}: {}", stderr(&out));
    }
}

#[test]
fn a_file_that_is_not_a_plugin_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    write_files(dir.path(), &[("fake.wasm", "not wasm at all")]);
    let out = driftless(&["render", "--path", ".", "--plugin", "./fake.wasm"], dir.path());
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("plugin ./fake.wasm is not a valid driftless plugin"), "{}", stderr(&out));
}

#[test]
fn root_flag_sets_what_the_renderer_sees() {
    let dir = tempfile::tempdir().unwrap();
    write_files(dir.path(), &[("top/apps/web/mode", "ok")]);
    let out = driftless(
        &["render", "--path", "top/apps/web", "--root", "top", "--plugin", HOSTILE_PLUGIN, "-o", "json"],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // --path outside --root is refused.
    write_files(dir.path(), &[("elsewhere/x.yaml", "")]);
    let out = driftless(&["render", "--path", "elsewhere", "--root", "top"], dir.path());
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("is not inside the render root"), "{}", stderr(&out));
}

#[test]
fn help_is_available_for_every_command() {
    for args in [
        &["--help"][..],
        &["render", "--help"],
        &["help", "render"],
        &["health", "--help"],
        &["plugin", "--help"],
        &["plugin", "inspect", "--help"],
    ] {
        let out = driftless(args, &repo_root());
        assert_eq!(out.status.code(), Some(0), "{args:?}");
        assert!(stdout(&out).contains("Usage: driftless"), "{args:?}: {}", stdout(&out));
    }
    let out = driftless(&["render", "--help"], &repo_root());
    for flag in ["--path", "--root", "--plugin", "--output", "--plugin-timeout", "--plugin-memory-mib"] {
        assert!(stdout(&out).contains(flag), "render --help lacks {flag}");
    }
}

#[test]
fn health_reports_every_object_in_input_order() {
    let dir = tempfile::tempdir().unwrap();
    write_files(
        dir.path(),
        &[(
            "live.yaml",
            "\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop, generation: 3}
spec: {replicas: 3}
status: {observedGeneration: 3, replicas: 3, updatedReplicas: 3, availableReplicas: 1}
---
apiVersion: example.com/v1
kind: Widget
metadata: {name: w}
---
apiVersion: v1
kind: Namespace
metadata: {name: shop}
status: {phase: Active}
",
        )],
    );
    let out = driftless(&["health", "--manifests", "live.yaml", "-o", "json"], dir.path());
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let json: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(
        json,
        serde_json::json!([
            {"apiVersion": "apps/v1", "kind": "Deployment", "namespace": "shop", "name": "web",
             "status": "Progressing", "message": "waiting for rollout: 1 of 3 updated replicas are available"},
            {"apiVersion": "example.com/v1", "kind": "Widget", "namespace": null, "name": "w",
             "status": null, "message": null},
            {"apiVersion": "v1", "kind": "Namespace", "namespace": null, "name": "shop",
             "status": "Healthy", "message": "namespace is active"}
        ])
    );
    let text = driftless(&["health", "--manifests", "live.yaml"], dir.path());
    assert_eq!(text.status.code(), Some(0));
    assert!(stdout(&text).starts_with("OBJECT "), "{}", stdout(&text));
    assert!(stdout(&text).contains("apps/v1 Deployment shop/web  Progressing"), "{}", stdout(&text));
}

#[test]
fn health_errors_map_to_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    write_files(
        dir.path(),
        &[("bad.yaml", "kind: [\n"), ("ok.yaml", "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\n")],
    );
    let out = driftless(&["health", "--manifests", "bad.yaml"], dir.path());
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("bad.yaml: line 2: invalid YAML"), "{}", stderr(&out));
    // A renderer is not a health plugin: an input error naming it.
    let out = driftless(&["health", "--manifests", "ok.yaml", "--plugin", HOSTILE_PLUGIN], dir.path());
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("it says it is a renderer plugin, but it was loaded as a health plugin"),
        "{}",
        stderr(&out)
    );
    let out = driftless(&["health", "--manifests", "missing.yaml"], dir.path());
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn plugin_inspect_shows_what_a_component_is() {
    let out = driftless(&["plugin", "inspect", HOSTILE_PLUGIN], &repo_root());
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    for expected in [
        "name:         hostile",
        "kind:         renderer",
        "contract:     0.1.0",
        "capabilities: checkout-read",
        "  driftless:plugin/render@0.1.0",
        "sha256:       ",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in\n{text}");
    }
    let out = driftless(&["plugin", "inspect", HOSTILE_PLUGIN, "-o", "json"], &repo_root());
    let json: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(json["kind"], "renderer");
    assert_eq!(json["capabilities"], serde_json::json!(["checkout-read"]));
    assert_eq!(json["content_hash"].as_str().unwrap().len(), 64);

    let dir = tempfile::tempdir().unwrap();
    write_files(dir.path(), &[("x.wasm", "nope")]);
    let out = driftless(&["plugin", "inspect", "x.wasm"], dir.path());
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("plugin x.wasm is not a valid driftless plugin"), "{}", stderr(&out));
}
