//! The policy library in `policies/`: its Rego unit tests pass, and each policy allows its
//! passing example and denies (or warns on) its failing one.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::{Path, PathBuf};

use driftless_core::policy::PolicyOutcome;
use driftless_policy::{Inventory, LoadOptions, PolicySet, load_reviews, run_tests};

fn library() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../policies")
}

fn policy_dirs() -> Vec<String> {
    let mut dirs: Vec<String> = std::fs::read_dir(library())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("policy.rego").is_file())
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    dirs.sort();
    dirs
}

#[test]
fn the_library_has_at_least_twelve_policies_each_tested() {
    let dirs = policy_dirs();
    assert!(dirs.len() >= 12, "{dirs:?}");
    let report = run_tests(&[library()], &LoadOptions::default()).unwrap();
    let failed: Vec<_> = report.cases.iter().filter(|c| !c.passed).collect();
    assert!(failed.is_empty(), "{failed:#?}");
    for dir in &dirs {
        let prefix = format!("data.driftless.{dir}_test.test_");
        assert!(report.cases.iter().any(|c| c.name.starts_with(&prefix)), "{dir} has no tests");
    }
}

#[test]
fn each_policy_allows_its_passing_example_and_flags_its_failing_one() {
    let set = PolicySet::load(&[library()], &LoadOptions::default()).unwrap();
    assert_eq!(set.policies().len(), policy_dirs().len());
    for dir in policy_dirs() {
        let id = format!("driftless.{dir}");
        for (example, flagged) in [("pass.yaml", false), ("fail.yaml", true)] {
            let path = library().join(&dir).join("examples").join(example);
            let objects: Vec<_> = load_reviews(&[path]).unwrap().into_iter().map(|r| r.object).collect();
            let report = set.evaluate(&objects, &Inventory::default());
            let mine: Vec<_> = report.violations().filter(|d| d.policy == id).collect();
            assert_eq!(!mine.is_empty(), flagged, "{id} on {example}: {mine:#?}");
            assert!(mine.iter().all(|d| d.outcome != PolicyOutcome::Error), "{id}: {mine:#?}");
        }
    }
}
