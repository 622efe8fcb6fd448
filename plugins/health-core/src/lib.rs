//! The `health-core` health plugin: the health of the built-in Kubernetes kinds with the
//! semantics of Argo CD's gitops-engine (generation vs observedGeneration, rollout progress,
//! paused → Suspended, failed Job → Degraded, ...). The rules are in [`assess`].

pub mod assess;

use driftless_plugin_sdk::Object;
use driftless_plugin_sdk::health::{Health, HealthCheck, HealthStatus, KindSelector};

/// The plugin.
pub struct HealthCore;

impl HealthCheck for HealthCore {
    const NAME: &'static str = "health-core";

    fn kinds() -> Vec<KindSelector> {
        assess::KINDS.iter().map(|(group, kind)| KindSelector::new(group, kind)).collect()
    }

    fn assess(object: &Object) -> Option<Health> {
        let health = assess::assess(object.as_value())?;
        let status = match health.status {
            assess::Status::Healthy => HealthStatus::Healthy,
            assess::Status::Progressing => HealthStatus::Progressing,
            assess::Status::Degraded => HealthStatus::Degraded,
            assess::Status::Suspended => HealthStatus::Suspended,
            assess::Status::Missing => HealthStatus::Missing,
            assess::Status::Unknown => HealthStatus::Unknown,
        };
        Some(Health { status, message: health.message })
    }
}

driftless_plugin_sdk::export_health!(HealthCore);
