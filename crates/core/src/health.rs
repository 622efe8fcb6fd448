//! Health: how a live object is doing, as in Argo CD.

use serde::{Deserialize, Serialize};

/// How an object is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum HealthStatus {
    /// Doing what it should.
    Healthy,
    /// Not there yet, but getting there (a rollout, a pending volume).
    Progressing,
    /// Failed, or not going to get there without help.
    Degraded,
    /// Paused on purpose (a paused Deployment, a suspended Job).
    Suspended,
    /// Not in the cluster.
    Missing,
    /// Cannot tell.
    Unknown,
}

impl std::fmt::Display for HealthStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self, f)
    }
}

/// The health of one object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    /// The status.
    pub status: HealthStatus,
    /// Why, for a person.
    pub message: String,
}

impl Health {
    /// A health with a message.
    pub fn new(status: HealthStatus, message: impl Into<String>) -> Self {
        Self { status, message: message.into() }
    }
}
