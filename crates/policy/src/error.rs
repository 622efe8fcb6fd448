//! Errors of loading policies, waivers and inventories.

use std::path::PathBuf;

/// Policies, waivers, objects or an inventory could not be loaded. Every variant names the
/// file and, where there is one, the document, field or rule at fault.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// A file or directory could not be read.
    #[error("{}: {error}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The I/O error (in the message, not a `source`, so it is not printed twice).
        error: std::io::Error,
    },
    /// A YAML or JSON file is not well formed.
    #[error("{}: {message}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong, with the line where it is known.
        message: String,
    },
    /// A Rego module does not compile (the message names file:line).
    #[error("{message}")]
    Rego {
        /// The module.
        path: PathBuf,
        /// The compiler's message, which starts with file:line:column.
        message: String,
    },
    /// A document is well formed but wrong: a missing or ill-typed field.
    #[error("{}: {document}: {field}: {message}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The document in it, e.g. `ConstraintTemplate k8srequiredlabels` or `document 2`.
        document: String,
        /// The field at fault, e.g. `spec.match.kinds[0]`.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// A wasm policy could not be loaded.
    #[error("{}: {message}", path.display())]
    Wasm {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A wasm policy was loaded but failed while evaluating: it trapped, or ran out of its
    /// fuel budget ([`crate::FUEL_PER_EVALUATION`]). A failure of the policy, not of the input.
    #[error("{}: entrypoint {entrypoint}: evaluation failed: {message}", path.display())]
    WasmEvaluation {
        /// The module (or bundle) file.
        path: PathBuf,
        /// The entrypoint evaluated.
        entrypoint: String,
        /// What happened: the trap, or the budget that ran out.
        message: String,
    },
    /// Two policies have the same id.
    #[error("{}: policy {id} is already defined in {}", path.display(), first.display())]
    Duplicate {
        /// The policy id.
        id: String,
        /// Where it was defined first.
        first: PathBuf,
        /// Where it is defined again.
        path: PathBuf,
    },
    /// No policy was found where some were expected.
    #[error("{}: no policies found (expected .rego files, Gatekeeper templates and constraints, or .wasm files)", path.display())]
    Empty {
        /// The path searched.
        path: PathBuf,
    },
}

impl PolicyError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io { path: path.into(), error: source }
    }

    pub(crate) fn invalid(
        path: impl Into<PathBuf>,
        document: impl Into<String>,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self::Invalid {
            path: path.into(),
            document: document.into(),
            field: field.into(),
            message: message.into(),
        }
    }
}
