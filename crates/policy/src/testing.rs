//! Rego unit tests, as `opa test` runs them: every rule named `test_*` in every module (test
//! files `*_test.rego` included) must be defined and not `false`. Rules named `todo_*` are
//! skipped, as in OPA.

use std::path::PathBuf;
use std::time::Instant;

use regorus::unstable::{Parser, Rule, RuleHead};
use serde::{Deserialize, Serialize};

use crate::{LoadOptions, PolicyError, compile_rego, find};

/// The result of one test rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TestCase {
    /// `data.<package>.test_<name>`.
    pub name: String,
    /// The file declaring it.
    pub file: PathBuf,
    /// Whether it passed.
    pub passed: bool,
    /// Why not: `false`, undefined, or the error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
    /// How long it took.
    pub micros: u64,
}

/// Every test's result.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestReport {
    /// The tests, in file and declaration order.
    pub cases: Vec<TestCase>,
}

impl TestReport {
    /// How many passed.
    #[must_use]
    pub fn passed(&self) -> usize {
        self.cases.iter().filter(|c| c.passed).count()
    }

    /// How many failed.
    #[must_use]
    pub fn failed(&self) -> usize {
        self.cases.len() - self.passed()
    }
}

/// Runs the `test_*` rules of the Rego modules under `paths`, with their data documents.
///
/// # Errors
/// A file that cannot be read or compiled (named with file:line).
pub fn run_tests(paths: &[PathBuf], options: &LoadOptions<'_>) -> Result<TestReport, PolicyError> {
    // regorus recurses: on a thread with a known, large stack.
    crate::stack::run(|| run_tests_here(paths, options)).map_err(|e| crate::rego_thread_error(paths, &e))?
}

fn run_tests_here(paths: &[PathBuf], options: &LoadOptions<'_>) -> Result<TestReport, PolicyError> {
    let found = find(paths, true)?;
    if found.rego.is_empty() {
        return Err(PolicyError::Empty { path: paths.first().cloned().unwrap_or_default() });
    }
    let (mut engine, files) = compile_rego(&found, options)?;
    // Each module's test rule names, read from the parsed modules (regorus has no stable API
    // to list rules; `unstable` is pinned with the 0.14 dependency).
    let mut tests: Vec<(PathBuf, String)> = Vec::new();
    for module in engine.get_modules().clone() {
        let source = module.package.span.source.get_path().to_string();
        let Some((file, package)) = files.iter().find(|(f, _)| f.display().to_string() == source) else {
            continue;
        };
        for rule in &module.policy {
            let refr = match rule.as_ref() {
                Rule::Spec { head: RuleHead::Compr { refr, .. } | RuleHead::Set { refr, .. }, .. } => refr,
                _ => continue,
            };
            let Ok(components) = Parser::get_path_ref_components(refr) else { continue };
            let [name] = components.as_slice() else { continue };
            let name = name.text();
            if name.starts_with("test_") {
                let full = format!("{package}.{name}");
                if !tests.iter().any(|(_, t)| *t == full) {
                    tests.push((file.clone(), full));
                }
            }
        }
    }
    engine.set_input(regorus::Value::new_object());
    let mut report = TestReport::default();
    for (file, name) in tests {
        let start = Instant::now();
        let outcome = engine.eval_rule(name.clone());
        let failure = match outcome {
            Ok(regorus::Value::Undefined) => Some("undefined".to_owned()),
            Ok(regorus::Value::Bool(false)) => Some("false".to_owned()),
            Ok(_) => None,
            Err(e) => Some(format!("error: {e}")),
        };
        report.cases.push(TestCase {
            name,
            file,
            passed: failure.is_none(),
            failure,
            micros: u64::try_from(start.elapsed().as_micros()).unwrap_or(u64::MAX),
        });
    }
    Ok(report)
}
