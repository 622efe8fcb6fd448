//! Recursive Rego is refused at load, naming the cycle, instead of overflowing regorus's stack
//! (which aborts the process: a failing test here is a crashed test binary). Rules that only
//! look recursive — a local variable or argument with a rule's name — still load.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::{Path, PathBuf};

use driftless_core::Object;
use driftless_policy::{Inventory, LoadOptions, PolicySet, run_tests};
use serde_json::json;

/// Writes `files` (name, text) into a new directory.
fn dir(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    dir
}

fn load(path: &Path) -> Result<PolicySet, String> {
    PolicySet::load(&[path.to_owned()], &LoadOptions::default()).map_err(|e| e.to_string())
}

fn refused(files: &[(&str, &str)], cycle: &str) {
    let d = dir(files);
    let Err(err) = load(d.path()) else { panic!("loaded, expected the cycle {cycle}") };
    assert!(err.contains("recursive rules are not allowed"), "{err}");
    assert!(err.contains(cycle), "expected {cycle} in: {err}");
    assert!(err.contains(".rego:"), "names the file and line: {err}");
}

fn pod() -> Object {
    Object::from_value(json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
        "spec": {"containers": [{"name": "c", "image": "nginx:1"}]}}))
    .unwrap()
}

#[test]
fn two_rules_that_need_each_other_are_refused() {
    refused(
        &[("p.rego", "package p\n\ndeny contains \"x\" if a\n\na if b\n\nb if a\n")],
        "data.p.a -> data.p.b -> data.p.a",
    );
}

#[test]
fn a_function_calling_itself_is_refused() {
    refused(
        &[("p.rego", "package p\n\nf(x) := f(x)\n\ndeny contains \"x\" if f(1)\n")],
        "data.p.f -> data.p.f",
    );
}

#[test]
fn functions_calling_each_other_are_refused() {
    refused(
        &[(
            "p.rego",
            "package p\n\nf(x) := y if { y := g(x) }\n\ng(x) := f(x) + 1\n\ndeny contains \"x\" if f(1) > 0\n",
        )],
        "data.p.f -> data.p.g -> data.p.f",
    );
}

#[test]
fn recursion_through_data_imports_else_and_comprehensions_is_refused() {
    // By absolute path.
    refused(
        &[("p.rego", "package p\n\ndeny contains m if { some m in data.p.deny }\n")],
        "data.p.deny -> data.p.deny",
    );
    // Across packages, through import aliases.
    refused(
        &[
            ("a.rego", "package a\n\nimport data.b\n\ndeny contains \"x\" if b.check\n\nhelper if deny\n"),
            ("b.rego", "package b\n\nimport data.a as other\n\ncheck if other.helper\n"),
        ],
        "data.a.deny -> data.b.check -> data.a.helper -> data.a.deny",
    );
    // Through an `else`.
    refused(
        &[(
            "p.rego",
            "package p\n\nname := \"a\" if { input.x } else := other\n\nother := name\n\ndeny contains name\n",
        )],
        "data.p.name -> data.p.other -> data.p.name",
    );
    // Through a comprehension, an `every` domain and a dynamic reference into the package.
    refused(
        &[(
            "p.rego",
            "package p\n\nitems := [i | some i in items]\n\ndeny contains \"x\" if count(items) > 1\n",
        )],
        "data.p.items -> data.p.items",
    );
    refused(
        &[(
            "p.rego",
            "package p\n\nok if { every x in all { x } }\n\nall := [ok]\n\ndeny contains \"x\" if not ok\n",
        )],
        "data.p.ok -> data.p.all -> data.p.ok",
    );
    refused(
        &[("p.rego", "package p\n\nlimits := {\"x\": 1}\n\ndeny contains \"x\" if data.p[input.kind]\n")],
        "data.p.deny -> data.p.deny",
    );
    // Rego v0, partial sets.
    refused(
        &[(
            "p.rego",
            "# driftless: rego.v0\npackage p\n\ndeny[msg] { other[msg] }\n\nother[m] { deny[m] }\n",
        )],
        "data.p.deny -> data.p.other -> data.p.deny",
    );
}

#[test]
fn names_that_only_look_recursive_load_and_evaluate() {
    // `b` inside `a` is a local (`b :=`), `a` inside `f` is its argument, `x` in the
    // comprehension and `every` are their own: no rule depends on itself.
    let d = dir(&[(
        "p.rego",
        "package p\n\n\
         a if { b := input.spec.containers[0]; b.name == \"c\" }\n\n\
         b if a\n\n\
         f(a) := a + 1\n\n\
         x := [x | x := input.spec.containers[_]]\n\n\
         y if { every y in input.spec.containers { y.image } }\n\n\
         deny contains \"four\" if { b; f(1) == 2; count(x) == 1; y }\n",
    )]);
    let set = load(d.path()).unwrap();
    let report = set.evaluate(&[pod()], &Inventory::default());
    let messages: Vec<_> = report.violations().flat_map(|v| v.messages.clone()).collect();
    assert_eq!(messages, vec!["four".to_owned()]);
}

#[test]
fn the_library_and_fixtures_load() {
    // The library and every fixture set (already tested for their decisions) pass the check.
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for path in [
        root.join("../../policies"),
        root.join("tests/fixtures/rego"),
        root.join("tests/fixtures/gatekeeper"),
        root.join("tests/fixtures/adversarial"),
    ] {
        if path.exists() {
            load(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        }
    }
}

const RECURSIVE_TEMPLATE: &str = r#"apiVersion: templates.gatekeeper.sh/v1
kind: ConstraintTemplate
metadata:
  name: looping
spec:
  crd:
    spec:
      names:
        kind: Looping
  targets:
    - target: admission.k8s.gatekeeper.sh
      rego: |
        package looping

        violation[{"msg": "x"}] { bad }

        bad { worse }

        worse { bad }
"#;

#[test]
fn a_recursive_gatekeeper_template_is_refused() {
    let d = dir(&[("template.yaml", RECURSIVE_TEMPLATE)]);
    let Err(err) = load(d.path()) else { panic!("loaded a recursive template") };
    assert!(err.contains("data.looping.bad -> data.looping.worse -> data.looping.bad"), "{err}");
    assert!(err.contains("template.yaml#looping.rego:"), "{err}");
}

#[test]
fn policy_tests_refuse_recursive_modules() {
    let d = dir(&[
        ("p.rego", "package p\n\ndeny contains \"x\" if a\n\na if b\n\nb if a\n"),
        ("p_test.rego", "package p\n\ntest_a if a\n"),
    ]);
    let Err(err) = run_tests(&[PathBuf::from(d.path())], &LoadOptions::default()) else {
        panic!("ran the tests of a recursive module")
    };
    let err = err.to_string();
    assert!(err.contains("data.p.a -> data.p.b -> data.p.a"), "{err}");
}

/// A chain `deny -> a0 -> ... -> a<n> (true)`, each link inside arrays nested `nesting` deep.
fn chain(n: usize, nesting: usize) -> String {
    let mut text = String::from("package p\n\ndeny contains \"x\" if a0\n\n");
    for i in 0..n {
        let open = "[".repeat(nesting);
        let close = "]".repeat(nesting);
        text.push_str(&format!("a{i} if {{ x := {open}a{}{close}; x }}\n", i + 1));
    }
    text.push_str(&format!("a{n} := true\n"));
    text
}

#[test]
fn a_chain_of_rules_deeper_than_the_limit_is_refused_and_one_at_it_runs_on_a_small_stack() {
    // deny, a0..a62: 64 rules deep, the limit. Loaded and evaluated from a thread with a
    // small stack (as a tokio blocking thread has): regorus runs on the policy crate's own
    // threads, so it does not overflow this one.
    let at_limit = dir(&[("p.rego", &chain(62, 10))]);
    let path = at_limit.path().to_owned();
    let messages = std::thread::Builder::new()
        .stack_size(512 << 10)
        .spawn(move || {
            for interpreter in [false, true] {
                let set = load(&path).unwrap().with_rego_interpreter(interpreter);
                let report = set.evaluate(&[pod()], &Inventory::default());
                let messages: Vec<_> = report.violations().flat_map(|v| v.messages.clone()).collect();
                assert_eq!(messages, vec!["x".to_owned()], "interpreter: {interpreter}");
            }
        })
        .unwrap()
        .join();
    assert!(messages.is_ok(), "the evaluation thread failed");

    let over = dir(&[("p.rego", &chain(63, 1))]);
    let Err(err) = load(over.path()) else { panic!("loaded a chain 65 rules deep") };
    assert!(err.contains("p.rego:3:1: rules depend on each other 65 deep"), "{err}");
    assert!(err.contains("data.p.deny -> data.p.a0 -> ... -> data.p.a63"), "{err}");
}

#[test]
fn brackets_nested_past_the_limit_are_refused_before_parsing() {
    // regorus's parser doubles its time with each level (25 levels took minutes): the limit is
    // checked on the tokens, before any parse, and its message names the line and column.
    let deep = format!(
        "package p\n\ndeny contains \"x\" if {{\n  x := {}1{}\n  count(x) > 5\n}}\n",
        "[".repeat(25),
        "]".repeat(25)
    );
    let d = dir(&[("p.rego", &deep)]);
    let Err(err) = load(d.path()) else { panic!("loaded 25 nested brackets") };
    assert!(err.contains("p.rego:4:19: brackets nested more than 12 deep"), "{err}");
    // (The rule body's `{` is the first level.) Brackets in strings, raw strings and comments
    // do not count; 12 levels are fine.
    let fine = format!(
        "package p\n\n# {}\nmsg := \"{}\\\"[\"\nraw := `{}`\n\ndeny contains msg if {{\n  x := {}1{}\n  count(x) > 5\n}}\n",
        "[".repeat(30),
        "{".repeat(30),
        "[".repeat(30),
        "[".repeat(11),
        "]".repeat(11)
    );
    let d = dir(&[("p.rego", &fine)]);
    load(d.path()).unwrap();
    // Test files, which only `policy test` reads, may nest 16 deep (objects in `with input as`).
    let input = format!("{}{{\"x\": 1}}{}", "{\"a\": ".repeat(13), "}".repeat(13));
    let test = format!("package p\n\ntest_deep if {{\n  count(deny) == 0 with input as {input}\n}}\n");
    let d = dir(&[("p.rego", "package p\n\ndeny contains \"x\" if input.b\n"), ("p_test.rego", &test)]);
    let report = run_tests(&[d.path().to_owned()], &LoadOptions::default()).unwrap();
    assert_eq!((report.passed(), report.failed()), (1, 0), "{report:?}");
}
