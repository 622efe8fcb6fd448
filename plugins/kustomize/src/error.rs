//! What can be wrong with a kustomization, naming the file at fault.

use driftless_plugin_sdk::renderer::RenderError;

/// A kustomization that cannot be built. Every variant names the file at fault, relative to
/// the render root; nothing is rendered when one occurs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A file or directory cannot be read.
    #[error("{file}: cannot read: {reason}")]
    Read {
        /// The file.
        file: String,
        /// Why.
        reason: String,
    },
    /// Malformed YAML or JSON, or a document that is not a Kubernetes object.
    #[error("{file}{}: {message}", line.map(|l| format!(" line {l}")).unwrap_or_default())]
    Parse {
        /// The file.
        file: String,
        /// The line, when known.
        line: Option<usize>,
        /// What is wrong.
        message: String,
    },
    /// A kustomization field that is unknown, has the wrong type or a bad value.
    #[error("{file}: {message}")]
    Field {
        /// The kustomization file.
        file: String,
        /// What is wrong.
        message: String,
    },
    /// A field this renderer does not implement (plugins, Helm charts, ...): refused rather
    /// than ignored.
    #[error("{file}: `{field}` is not supported by the driftless kustomize renderer")]
    Unsupported {
        /// The kustomization file.
        file: String,
        /// The field.
        field: String,
    },
    /// A directory listed as a resource or component has no kustomization file.
    #[error("{file}: `{entry}`: no kustomization.yaml, kustomization.yml or Kustomization in {dir}")]
    NoKustomization {
        /// The kustomization that lists it.
        file: String,
        /// The entry as written.
        entry: String,
        /// The directory.
        dir: String,
    },
    /// A listed file or directory does not exist.
    #[error("{file}: `{entry}` does not exist")]
    Missing {
        /// The kustomization that lists it.
        file: String,
        /// The entry as written.
        entry: String,
    },
    /// A file outside the kustomization's directory (kustomize's load restrictor), or a path
    /// leaving the render root.
    #[error(
        "{file}: `{entry}` is outside {root}: the load restrictor allows only files under the kustomization's directory"
    )]
    Restricted {
        /// The kustomization that lists it.
        file: String,
        /// The entry as written.
        entry: String,
        /// The directory it must stay under.
        root: String,
    },
    /// A remote base (a Git or HTTP URL): renderers have no network.
    #[error(
        "{file}: `{entry}` is a remote resource; the renderer has no network: vendor it into the repository"
    )]
    Remote {
        /// The kustomization that lists it.
        file: String,
        /// The entry as written.
        entry: String,
    },
    /// Kustomizations that include each other.
    #[error("{file}: cycle of kustomizations: {chain}")]
    Cycle {
        /// The kustomization that closes the cycle.
        file: String,
        /// The directories in the cycle.
        chain: String,
    },
    /// Two resources with the same id.
    #[error("{file}: may not add resource with an already registered id: {id}")]
    Conflict {
        /// The kustomization where they meet.
        file: String,
        /// The id, `Kind.version.group/name.namespace`.
        id: String,
    },
    /// A patch that is malformed or cannot be applied.
    #[error("{file}: {message}")]
    Patch {
        /// The patch file, or the kustomization holding an inline patch.
        file: String,
        /// What is wrong.
        message: String,
    },
}

impl Error {
    /// The file at fault.
    #[must_use]
    pub fn file(&self) -> &str {
        match self {
            Error::Read { file, .. }
            | Error::Parse { file, .. }
            | Error::Field { file, .. }
            | Error::Unsupported { file, .. }
            | Error::NoKustomization { file, .. }
            | Error::Missing { file, .. }
            | Error::Restricted { file, .. }
            | Error::Remote { file, .. }
            | Error::Cycle { file, .. }
            | Error::Conflict { file, .. }
            | Error::Patch { file, .. } => file,
        }
    }
}

impl From<Error> for RenderError {
    fn from(e: Error) -> Self {
        let file = e.file().to_owned();
        let line = if let Error::Parse { line, .. } = &e { *line } else { None };
        // The file leads the message already; the host prints `file: message`.
        let full = e.to_string();
        let message = full
            .strip_prefix(&file)
            .and_then(|m| m.strip_prefix(": "))
            .map_or_else(|| full.split_once(": ").map_or(full.clone(), |(_, m)| m.to_owned()), str::to_owned);
        let error = RenderError::in_file(file, message);
        match line {
            Some(line) => error.at_line(line),
            None => error,
        }
    }
}

/// Shorthand for a field error.
pub(crate) fn field(file: &str, message: impl Into<String>) -> Error {
    Error::Field { file: file.to_owned(), message: message.into() }
}

/// Shorthand for a patch error.
pub(crate) fn patch(file: &str, message: impl Into<String>) -> Error {
    Error::Patch { file: file.to_owned(), message: message.into() }
}
