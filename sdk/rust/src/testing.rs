//! Helpers for a plugin's native unit tests (`cargo test`): a throw-away checkout, objects and
//! reviews from JSON text, and [`assess`] for health checks (with the same projection as the
//! compiled plugin). Not available inside WebAssembly.
//!
//! To run the compiled component in the real host from a test, enable the SDK's `host` feature
//! (for the dev-dependency) and use `testing::compiled::{health, renderer, policy, secret_backend}`.

use std::path::Path;

use serde_json::{Map, Value};

use crate::Object;
use crate::health::{Health, HealthCheck};
use crate::policy::{Operation, Review};
use crate::renderer::Request;

#[cfg(feature = "host")]
pub mod compiled;

/// A temporary directory standing in for a checkout; removed when dropped.
#[derive(Debug)]
pub struct Checkout {
    dir: tempfile::TempDir,
}

impl Checkout {
    /// The checkout's top directory.
    #[must_use]
    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// A render request for the directory `path` (relative, `/`-separated) of this checkout.
    #[must_use]
    pub fn request(&self, path: &str) -> Request {
        self.request_with_params(path, Map::new())
    }

    /// A render request with renderer parameters.
    #[must_use]
    pub fn request_with_params(&self, path: &str, params: Map<String, Value>) -> Request {
        Request { root: self.dir.path().to_path_buf(), path: path.to_owned(), params }
    }
}

/// A checkout holding `files` (path relative to the top, contents).
///
/// # Panics
/// When the files cannot be written: this is test code.
#[must_use]
#[allow(clippy::expect_used)]
pub fn checkout(files: &[(&str, &str)]) -> Checkout {
    let dir = tempfile::tempdir().expect("create a temporary checkout");
    for (path, text) in files {
        let path = dir.path().join(path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create a directory in the checkout");
        }
        std::fs::write(&path, text).expect("write a file in the checkout");
    }
    Checkout { dir }
}

/// An object from JSON text.
///
/// # Panics
/// When the text is not a Kubernetes object: this is test code.
#[must_use]
#[allow(clippy::panic)]
pub fn object(json: &str) -> Object {
    let value: Value =
        serde_json::from_str(json).unwrap_or_else(|e| panic!("invalid JSON in a test object: {e}"));
    Object::from_value(value).unwrap_or_else(|e| panic!("not a Kubernetes object: {e}"))
}

/// What the health plugin `H` answers for one object given as JSON text, as its compiled
/// component does: the object is parsed with the projection of `H::READS`, so a field the check
/// reads but does not declare is absent here too. Text that is not a Kubernetes object gets
/// `Unknown`, as in the plugin.
#[must_use]
pub fn assess<H: HealthCheck>(json: &str) -> Option<Health> {
    crate::health::assess_text::<H>(&crate::health::Projection::new(H::READS), json)
}

/// A review of a new object (`CREATE`) from JSON text.
///
/// # Panics
/// When the text is not a Kubernetes object: this is test code.
#[must_use]
pub fn review(json: &str) -> Review {
    Review { object: object(json), old_object: None, operation: Operation::Create }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helpers_build_inputs() {
        let c = checkout(&[("apps/web/a.yaml", "x: 1\n")]);
        let request = c.request("apps/web");
        assert_eq!(std::fs::read_to_string(request.app_dir().join("a.yaml")).unwrap(), "x: 1\n");
        assert_eq!(request.display_path("a.yaml"), "apps/web/a.yaml");
        let r = review(r#"{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}}"#);
        assert_eq!(r.object.name(), Some("p"));
        assert_eq!(r.operation, Operation::Create);
    }
}
