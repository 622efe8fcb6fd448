//! Errors of the cluster operations. Every variant names the object, kind or URL concerned.

use std::fmt;

use driftless_core::ObjectRef;

/// One object whose server-side apply dry run the API server refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DryRunFailure {
    /// The object.
    pub object: ObjectRef,
    /// HTTP status code of the answer (0 when the request itself failed).
    pub code: u16,
    /// The API server's message (Secret values scrubbed).
    pub message: String,
}

impl fmt::Display for DryRunFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} ({})", self.object, self.message, self.code)
    }
}

/// Why a cluster operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClusterError {
    /// The API server could not be reached (connection refused, timeout, TLS failure).
    #[error("cannot reach the cluster at {url}: {message}")]
    Unreachable {
        /// The API server URL.
        url: String,
        /// What failed.
        message: String,
    },
    /// The kubeconfig (or in-cluster configuration) could not be read.
    #[error("kubeconfig {source_name}: {message}")]
    Kubeconfig {
        /// The file, or "inferred configuration".
        source_name: String,
        /// What is wrong.
        message: String,
    },
    /// The API server refused a request about `object`.
    #[error("{object}: the API server answered {code}: {message}")]
    Api {
        /// The object, kind or resource concerned.
        object: String,
        /// HTTP status code.
        code: u16,
        /// The API server's message (Secret values scrubbed).
        message: String,
    },
    /// A request failed in a way that is neither an API answer nor unreachability.
    #[error("{object}: {message}")]
    Request {
        /// The object, kind or resource concerned.
        object: String,
        /// What failed.
        message: String,
    },
    /// The cluster does not serve the object's kind, and no CustomResourceDefinition for it
    /// is in the same sync.
    #[error(
        "{object}: kind {gvk} is not served by the cluster and no CustomResourceDefinition for it is in this sync"
    )]
    UnknownKind {
        /// The object.
        object: ObjectRef,
        /// Its group/version and kind.
        gvk: String,
    },
    /// The server-side apply dry run failed for these objects; nothing was written.
    #[error("dry run refused by the API server, nothing written: {}", join(failures))]
    DryRun {
        /// Every refused object with the server's message.
        failures: Vec<DryRunFailure>,
    },
    /// A desired object is not usable as given (bad annotation, duplicate, missing name, ...).
    #[error("{object}: {message}")]
    InvalidObject {
        /// The object.
        object: ObjectRef,
        /// What is wrong.
        message: String,
    },
    /// The app name is not a DNS-1123 label.
    #[error("invalid app name {app:?}: {reason}")]
    InvalidApp {
        /// The name given.
        app: String,
        /// Why it is refused.
        reason: &'static str,
    },
    /// The state ConfigMap exists but cannot be read.
    #[error("state ConfigMap {configmap}: {message}")]
    InvalidState {
        /// `namespace/name` of the ConfigMap.
        configmap: String,
        /// What is wrong.
        message: String,
    },
}

fn join(failures: &[DryRunFailure]) -> String {
    failures.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
}

impl ClusterError {
    /// Whether the cluster could not be reached at all (the CLI exits 3 on this).
    #[must_use]
    pub fn is_unreachable(&self) -> bool {
        matches!(self, ClusterError::Unreachable { .. })
    }
}

/// Why applying a planned sync stopped. Every variant lists what was applied before it
/// stopped; nothing after the failing step was written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApplyError {
    /// The dry run of an object deferred until its Namespace or CRD existed failed.
    #[error("dry run of {object} failed: {message} (applied before stopping: {})", applied.len())]
    DryRun {
        /// The object.
        object: ObjectRef,
        /// The API server's message (Secret values scrubbed).
        message: String,
        /// Objects written before the failure, in order.
        applied: Vec<ObjectRef>,
    },
    /// Applying an object failed.
    #[error("apply of {object} failed: {message} (applied before stopping: {})", applied.len())]
    Apply {
        /// The object.
        object: ObjectRef,
        /// The API server's message (Secret values scrubbed).
        message: String,
        /// Objects written before the failure, in order.
        applied: Vec<ObjectRef>,
        /// Whether the cluster became unreachable.
        unreachable: bool,
    },
    /// A CustomResourceDefinition did not become Established in time.
    #[error("CustomResourceDefinition {object}: {message} (applied before stopping: {})", applied.len())]
    Crd {
        /// The CRD.
        object: ObjectRef,
        /// What happened.
        message: String,
        /// Objects written before the failure, in order.
        applied: Vec<ObjectRef>,
    },
    /// Deleting a pruned object failed (all applies had succeeded).
    #[error("delete of {object} failed: {message} (applied: {}, deleted before stopping: {})", applied.len(), deleted.len())]
    Delete {
        /// The object.
        object: ObjectRef,
        /// The API server's message.
        message: String,
        /// Objects written, in order.
        applied: Vec<ObjectRef>,
        /// Objects deleted before the failure.
        deleted: Vec<ObjectRef>,
        /// Whether the cluster became unreachable.
        unreachable: bool,
    },
}

impl ApplyError {
    /// Objects written before the sync stopped.
    #[must_use]
    pub fn applied(&self) -> &[ObjectRef] {
        match self {
            ApplyError::DryRun { applied, .. }
            | ApplyError::Apply { applied, .. }
            | ApplyError::Crd { applied, .. }
            | ApplyError::Delete { applied, .. } => applied,
        }
    }

    /// The object at which the sync stopped.
    #[must_use]
    pub fn object(&self) -> &ObjectRef {
        match self {
            ApplyError::DryRun { object, .. }
            | ApplyError::Apply { object, .. }
            | ApplyError::Crd { object, .. }
            | ApplyError::Delete { object, .. } => object,
        }
    }

    /// Whether the sync stopped because the cluster could not be reached.
    #[must_use]
    pub fn is_unreachable(&self) -> bool {
        matches!(
            self,
            ApplyError::Apply { unreachable: true, .. } | ApplyError::Delete { unreachable: true, .. }
        )
    }
}

/// A kube error, classified.
pub(crate) struct KubeFailure {
    pub code: u16,
    pub message: String,
    pub unreachable: bool,
}

pub(crate) fn classify(err: &kube::Error) -> KubeFailure {
    match err {
        kube::Error::Api(status) => {
            KubeFailure { code: status.code, message: status.message.clone(), unreachable: false }
        }
        kube::Error::HyperError(_) | kube::Error::Service(_) => {
            KubeFailure { code: 0, message: chain(err), unreachable: true }
        }
        other => KubeFailure { code: 0, message: chain(other), unreachable: false },
    }
}

/// The error and its sources, one line.
pub(crate) fn chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

/// Whether a kube error is a 404.
pub(crate) fn is_not_found(err: &kube::Error) -> bool {
    matches!(err, kube::Error::Api(s) if s.code == 404)
}
