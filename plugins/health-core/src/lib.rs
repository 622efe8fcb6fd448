//! The `health-core` health plugin: the health of the built-in Kubernetes kinds with the
//! semantics of Argo CD's gitops-engine (generation vs observedGeneration, rollout progress,
//! paused → Suspended, failed Job → Degraded, ...). The rules are in [`assess`].

pub mod assess;

use driftless_plugin_sdk::Object;
use driftless_plugin_sdk::health::{Health, HealthCheck, HealthStatus, KindSelector, Reads};

/// The plugin.
pub struct HealthCore;

impl HealthCheck for HealthCore {
    const NAME: &'static str = "health-core";

    // Every field `assess` reads, and nothing else: the rest of each object (pod templates,
    // managed fields, other annotations) is skipped unparsed. The tests of `assess` run every
    // case through this projection too, and compare.
    const READS: Reads = Reads::Only(&[
        "/metadata/deletionTimestamp",
        "/metadata/generation",
        "/metadata/annotations/autoscaling.alpha.kubernetes.io~1conditions",
        "/spec/paused",
        "/spec/replicas",
        "/spec/updateStrategy",
        "/spec/restartPolicy",
        "/spec/type",
        "/spec/volumeName",
        "/spec/suspend",
        "/status",
    ]);

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
