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

    /// Assess a batch of live objects in one sandboxed call — or, from 2,000 objects, one per
    /// core, each with its own store, deadline and memory cap. One entry per object, in order;
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
                // The group of `apiVersion` (`apps/v1` -> `apps`, `v1` -> ``), borrowed.
                let group = objects[i].api_version().rsplit_once('/').map_or("", |(group, _)| group);
                self.handles(group, objects[i].kind())
            })
            .collect();
        let mut results = vec![None; objects.len()];
        if handled.is_empty() {
            return Ok(results);
        }
        // Large batches are split over the machine's cores, one sandboxed call (fresh store,
        // own deadline and memory cap) per part; writing each part's JSON goes with it.
        let parts = match handled.len() / MIN_OBJECTS_PER_PART {
            0 | 1 => 1,
            most => cores().min(most),
        };
        let answers = if parts == 1 {
            self.assess_part(objects, &handled, 0)?
        } else {
            let chunk = handled.len().div_ceil(parts);
            let answered: Vec<Result<Vec<Option<wit::Health>>, PluginError>> = std::thread::scope(|scope| {
                let running: Vec<_> = handled
                    .chunks(chunk)
                    .enumerate()
                    .map(|(n, part)| scope.spawn(move || self.assess_part(objects, part, n * chunk)))
                    .collect();
                running
                    .into_iter()
                    .map(|t| {
                        t.join().unwrap_or_else(|_| Err(PluginError::Host("a health thread panicked".into())))
                    })
                    .collect()
            });
            let mut answers = Vec::with_capacity(handled.len());
            for part in answered {
                answers.extend(part?);
            }
            answers
        };
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

    /// One sandboxed call assessing `objects[i]` for each `i` of `part`, which starts at
    /// `offset` in the batch sent to the plugin; one answer each.
    fn assess_part(
        &self,
        objects: &[Object],
        part: &[usize],
        offset: usize,
    ) -> Result<Vec<Option<wit::Health>>, PluginError> {
        let batch = part.iter().map(|&i| crate::json_text(&objects[i])).collect::<Result<Vec<_>, _>>()?;
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
                index: offset + answers.len().min(batch.len()),
                reason: format!("it answered for {} objects but was given {}", answers.len(), batch.len()),
            });
        }
        Ok(answers)
    }
}

/// The cores this process may use, read once (reading them means reading cgroup files: tens
/// of microseconds, as much as a whole small call).
fn cores() -> usize {
    static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, usize::from))
}

/// The smallest part of a batch worth a call (and a thread) of its own: below it, the fixed
/// cost of a call (about 30 µs) and of a thread outweigh what a second core saves.
const MIN_OBJECTS_PER_PART: usize = 1_000;
