//! Policy plugins.

use driftless_core::{Object, ObjectRef};

use serde_json::{Map, Value};

use crate::PluginError;
use crate::bindings::policy::exports::driftless::plugin::policy_check as wit;
use crate::bindings::policy::{Policy as PolicyWorld, PolicyPre};

pub use driftless_core::policy::{Decision, Operation, Review, Violation};

plugin_handle!(
    /// A compiled, checked policy plugin.
    PolicyPlugin,
    PolicyPre
);

impl PolicyPlugin {
    /// Judge a batch of reviews in one sandboxed call; one decision per review, in order.
    ///
    /// # Errors
    /// As for the other plugin calls; [`PluginError::BadOutput`] when the plugin answers for a
    /// different number of reviews, or says an object is allowed while listing violations.
    pub fn evaluate(
        &self,
        reviews: &[Review],
        params: &Map<String, Value>,
        inventory: &[Object],
    ) -> Result<Vec<Decision>, PluginError> {
        let batch = reviews
            .iter()
            .map(|r| {
                Ok(wit::Review {
                    object: crate::json_text(&r.object)?,
                    old_object: r.old_object.as_ref().map(crate::json_text).transpose()?,
                    operation: r.operation.as_str().to_owned(),
                })
            })
            .collect::<Result<Vec<_>, PluginError>>()?;
        let params = crate::json_text(params)?;
        let inventory = inventory.iter().map(crate::json_text).collect::<Result<Vec<_>, _>>()?;
        let answers = self.loaded.call(
            None,
            |store| self.pre.instantiate(store),
            |bindings: &PolicyWorld, store| {
                bindings.driftless_plugin_policy_check().call_evaluate(store, &batch, &params, &inventory)
            },
        )?;
        let plugin = &self.loaded.metadata.name;
        if answers.len() != batch.len() {
            return Err(PluginError::BadOutput {
                plugin: plugin.clone(),
                index: answers.len().min(batch.len()),
                reason: format!("it decided on {} reviews but was given {}", answers.len(), batch.len()),
            });
        }
        answers
            .into_iter()
            .enumerate()
            .map(|(index, d)| {
                if d.allowed && !d.violations.is_empty() {
                    return Err(PluginError::BadOutput {
                        plugin: plugin.clone(),
                        index,
                        reason: "it allowed an object while listing violations".into(),
                    });
                }
                Ok(Decision {
                    allowed: d.allowed,
                    violations: d
                        .violations
                        .into_iter()
                        .map(|v| Violation {
                            message: v.message,
                            object: v.object.map(|r| ObjectRef {
                                api_version: r.api_version,
                                kind: r.kind,
                                namespace: r.namespace,
                                name: r.name,
                            }),
                        })
                        .collect(),
                })
            })
            .collect()
    }
}
