//! Health plugins.

use driftless_core::Object;

use crate::bindings::health::exports::driftless::plugin::health_check as wit;
use crate::bindings::health::{Health as HealthWorld, HealthPre};
use crate::sandbox::State;
use crate::{Loaded, PluginError, PluginMetadata};

pub use driftless_core::health::{Health, HealthStatus};

/// A compiled, checked health plugin.
pub struct HealthPlugin {
    loaded: Loaded,
    pre: HealthPre<State>,
    /// (group, kind) pairs it assesses; kind `*` for all kinds of the group.
    kinds: Vec<(String, String)>,
}

impl std::fmt::Debug for HealthPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HealthPlugin")
            .field("metadata", &self.loaded.metadata)
            .field("kinds", &self.kinds)
            .finish_non_exhaustive()
    }
}

impl HealthPlugin {
    pub(crate) fn new(loaded: Loaded) -> Result<Self, PluginError> {
        let pre = HealthPre::new(loaded.pre.clone())
            .map_err(|e| PluginError::Invalid { plugin: loaded.label.clone(), reason: format!("{e:#}") })?;
        let kinds = loaded.call(
            None,
            |store| pre.instantiate(store),
            |bindings: &HealthWorld, store| bindings.driftless_plugin_health_check().call_kinds(store),
        )?;
        let kinds = kinds.into_iter().map(|k| (k.group, k.kind)).collect();
        Ok(Self { loaded, pre, kinds })
    }

    /// The plugin's own metadata.
    #[must_use]
    pub fn metadata(&self) -> &PluginMetadata {
        &self.loaded.metadata
    }

    /// Instantiate the plugin in a fresh sandbox and call nothing: the fixed cost of every
    /// call, for benchmarks.
    ///
    /// # Errors
    /// As for [`HealthPlugin::assess`].
    #[doc(hidden)]
    pub fn instantiate_only(&self) -> Result<(), PluginError> {
        self.loaded.call(None, |store| self.pre.instantiate(store), |_: &HealthWorld, _| Ok(()))
    }

    /// Whether the plugin says it assesses objects of this group and kind.
    #[must_use]
    pub fn handles(&self, group: &str, kind: &str) -> bool {
        self.kinds.iter().any(|(g, k)| g == group && (k == kind || k == "*"))
    }

    /// Assess a batch of live objects in one sandboxed call. One entry per object, in order;
    /// `None` where the plugin does not handle the object (objects of kinds it did not declare
    /// are not sent to it).
    ///
    /// # Errors
    /// [`PluginError::Timeout`], [`PluginError::MemoryLimit`], [`PluginError::Trap`] when the
    /// plugin misbehaves; [`PluginError::BadOutput`] when it answers for a different number of
    /// objects than it was given.
    pub fn assess(&self, objects: &[Object]) -> Result<Vec<Option<Health>>, PluginError> {
        let handled: Vec<usize> = (0..objects.len())
            .filter(|&i| {
                let gvk = objects[i].gvk();
                self.handles(&gvk.group, &gvk.kind)
            })
            .collect();
        let mut results = vec![None; objects.len()];
        if handled.is_empty() {
            return Ok(results);
        }
        let batch = handled.iter().map(|&i| crate::json_text(&objects[i])).collect::<Result<Vec<_>, _>>()?;
        let answers = self.loaded.call(
            None,
            |store| self.pre.instantiate(store),
            |bindings: &HealthWorld, store| {
                bindings.driftless_plugin_health_check().call_assess(store, &batch)
            },
        )?;
        if answers.len() != batch.len() {
            return Err(PluginError::BadOutput {
                plugin: self.loaded.metadata.name.clone(),
                index: answers.len().min(batch.len()),
                reason: format!("it answered for {} objects but was given {}", answers.len(), batch.len()),
            });
        }
        for (&i, answer) in handled.iter().zip(answers) {
            results[i] = answer.map(|h| Health {
                status: match h.status {
                    wit::HealthStatus::Healthy => HealthStatus::Healthy,
                    wit::HealthStatus::Progressing => HealthStatus::Progressing,
                    wit::HealthStatus::Degraded => HealthStatus::Degraded,
                    wit::HealthStatus::Suspended => HealthStatus::Suspended,
                    wit::HealthStatus::Missing => HealthStatus::Missing,
                    wit::HealthStatus::Unknown => HealthStatus::Unknown,
                },
                message: h.message,
            });
        }
        Ok(results)
    }
}
