//! `driftless policy` run as a process: the library's tests, eval's exit codes and formats,
//! Gatekeeper with an inventory, waivers, query's exit codes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

fn driftless(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_driftless"))
        .args(args)
        .current_dir(repo_root())
        .env_remove("RUST_LOG")
        .output()
        .expect("run driftless")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).unwrap()
}

#[test]
fn the_policy_library_tests_pass() {
    let out = driftless(&["policy", "test", "policies"]);
    assert_eq!(out.status.code(), Some(0), "{}{}", text(&out.stdout), text(&out.stderr));
    assert!(text(&out.stdout).ends_with(" passed, 0 failed\n"), "{}", text(&out.stdout));
    let failing = driftless(&["policy", "test", "crates/policy/tests/fixtures/failing-tests"]);
    assert_eq!(failing.status.code(), Some(1));
    assert!(text(&failing.stdout).contains("FAIL data.p_test.test_fails"), "{}", text(&failing.stdout));
}

#[test]
fn eval_exits_0_when_allowed_1_when_denied_2_on_bad_input() {
    let pass = driftless(&[
        "policy",
        "eval",
        "--policies",
        "policies",
        "-f",
        "policies/required_labels/examples/pass.yaml",
    ]);
    assert_eq!(pass.status.code(), Some(0), "{}{}", text(&pass.stdout), text(&pass.stderr));
    assert!(text(&pass.stdout).ends_with("— allowed\n"), "{}", text(&pass.stdout));

    let fail = driftless(&[
        "policy",
        "eval",
        "--policies",
        "policies",
        "--manifests",
        "policies/service_types/examples/fail.yaml",
        "--output",
        "json",
    ]);
    assert_eq!(fail.status.code(), Some(1), "{}", text(&fail.stderr));
    let json: Value = serde_json::from_slice(&fail.stdout).unwrap();
    assert_eq!(json["summary"]["allowedToSync"], false);
    let v = json["violations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["policy"] == "driftless.service_types")
        .expect("a service_types violation");
    assert_eq!(v["policy"], "driftless.service_types");
    assert_eq!(v["enforcement"], "deny");
    assert_eq!(
        v["object"],
        serde_json::json!({"apiVersion": "v1", "kind": "Service", "namespace": "shop", "name": "web"})
    );
    assert_eq!(v["message"], "Service shop/web: type NodePort is not allowed");

    // The interpreter, asked for, decides the same as the default (the VM where it can).
    let interpreted = driftless(&[
        "policy",
        "eval",
        "--policies",
        "policies",
        "--manifests",
        "policies/service_types/examples/fail.yaml",
        "--output",
        "json",
        "--rego-interpreter",
    ]);
    assert_eq!(interpreted.status.code(), Some(1), "{}", text(&interpreted.stderr));
    assert_eq!(interpreted.stdout, fail.stdout);

    // The app's dryrun lets it through, reported.
    let dry = driftless(&[
        "policy",
        "eval",
        "--policies",
        "policies",
        "-f",
        "policies/service_types/examples/fail.yaml",
        "--enforcement",
        "dryrun",
    ]);
    assert_eq!(dry.status.code(), Some(0), "{}", text(&dry.stderr));
    assert!(text(&dry.stdout).contains("DRYRUN  driftless.service_types"), "{}", text(&dry.stdout));

    let bad =
        driftless(&["policy", "eval", "--policies", "crates/policy/tests/fixtures/syntax", "-f", "policies"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(text(&bad.stderr).contains("bad.rego:4:"), "{}", text(&bad.stderr));
    let missing = driftless(&["policy", "eval", "--policies", "policies", "-f", "no/such/file.yaml"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(text(&missing.stderr).contains("no/such/file.yaml"), "{}", text(&missing.stderr));
    // Recursive rules would overflow regorus's stack and abort the process: refused at load.
    let recursive = "crates/policy/tests/fixtures/recursive";
    let eval = ["policy", "eval", "--policies", recursive, "-f", "policies/no_latest_tag/examples"];
    for args in [&eval[..], &["policy", "test", recursive]] {
        let out = driftless(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out.stderr));
        let cycle =
            "p.rego:6:1: recursive rules are not allowed in Rego: data.recursive.a -> data.recursive.b";
        assert!(text(&out.stderr).contains(cycle), "{args:?}: {}", text(&out.stderr));
    }
}

#[test]
fn gatekeeper_with_inventory_and_policy_reports() {
    let g = "crates/policy/tests/fixtures/gatekeeper";
    let out = driftless(&[
        "policy",
        "eval",
        "--policies",
        g,
        "-f",
        &format!("{g}/uniqueingresshost/example_disallowed.yaml"),
        "--inventory",
        &format!("{g}/uniqueingresshost/inventory.yaml"),
        "-o",
        "policyreport",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.starts_with("apiVersion: wgpolicyk8s.io/v1alpha2\nkind: PolicyReport\n"), "{stdout}");
    assert!(
        stdout
            .contains("message: ingress host conflicts with an existing ingress <example-host.example.com>")
    );
}

#[test]
fn waivers_let_a_denied_object_through() {
    let dir = tempfile::tempdir().unwrap();
    let waivers = dir.path().join("waivers.yaml");
    std::fs::write(
        &waivers,
        "apiVersion: driftless.dev/v1alpha1\nkind: PolicyWaivers\nwaivers:\n  - name: public-web\n    \
         policy: driftless.service_types\n    selector: {namespaces: [shop], names: [web]}\n    \
         justification: migration, OPS-7\n    expires: 2999-01-01\n",
    )
    .unwrap();
    let out = driftless(&[
        "policy",
        "eval",
        "--policies",
        "policies/service_types",
        "policies/lib",
        "-f",
        "policies/service_types/examples/fail.yaml",
        "--waivers",
        waivers.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}{}", text(&out.stdout), text(&out.stderr));
    assert!(
        text(&out.stdout).contains("WAIVED  driftless.service_types")
            && text(&out.stdout).contains("[waiver public-web]")
    );
}

/// The hand-written OPA ABI module of the policy crate's tests, with `prelude` spliced in at
/// the start of `eval`.
fn opa_module(dir: &Path, name: &str, prelude: &str) -> PathBuf {
    let wat =
        include_str!("../../policy/tests/fixtures/opa/no_latest.wat").replace(";; eval-prelude", prelude);
    let path = dir.join(name);
    std::fs::write(&path, wat::parse_str(&wat).unwrap()).unwrap();
    path
}

#[test]
fn query_exits_3_naming_the_module_when_it_traps_or_runs_out_of_fuel() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("input.json");
    std::fs::write(&input, r#"{"image": "nginx:latest"}"#).unwrap();
    let query = |wasm: &Path| {
        driftless(&[
            "policy",
            "query",
            "--wasm",
            wasm.to_str().unwrap(),
            "--entrypoint",
            "k8s/deny",
            "--input",
            input.to_str().unwrap(),
        ])
    };
    // The module as it is answers.
    let fine = query(&opa_module(dir.path(), "fine.wasm", ""));
    assert_eq!(fine.status.code(), Some(0), "{}", text(&fine.stderr));
    assert!(text(&fine.stdout).contains("image uses the :latest tag"), "{}", text(&fine.stdout));

    let trap = query(&opa_module(dir.path(), "trap.wasm", "unreachable"));
    assert_eq!(trap.status.code(), Some(3), "{}", text(&trap.stderr));
    let stderr = text(&trap.stderr);
    assert!(stderr.contains("trap.wasm: entrypoint k8s/deny: evaluation failed"), "{stderr}");
    assert!(stderr.contains("unreachable"), "{stderr}");
    assert!(trap.stdout.is_empty());

    let runaway = query(&opa_module(dir.path(), "loop.wasm", "(loop $forever (br $forever))"));
    assert_eq!(runaway.status.code(), Some(3), "{}", text(&runaway.stderr));
    let stderr = text(&runaway.stderr);
    assert!(stderr.contains("loop.wasm: entrypoint k8s/deny: evaluation failed: stopped after"), "{stderr}");

    // Bad input stays exit 2: an entrypoint the module does not have.
    let missing = driftless(&[
        "policy",
        "query",
        "--wasm",
        dir.path().join("fine.wasm").to_str().unwrap(),
        "--entrypoint",
        "k8s/nope",
        "--input",
        input.to_str().unwrap(),
    ]);
    assert_eq!(missing.status.code(), Some(2), "{}", text(&missing.stderr));
    assert!(text(&missing.stderr).contains("no entrypoint k8s/nope"), "{}", text(&missing.stderr));
}
