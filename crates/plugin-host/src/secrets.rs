//! Secret backends: references in, values out. The values come back wrapped in
//! [`SecretValue`], whose `Debug` and `Display` print `***`.

use serde_json::{Map, Value};

use crate::PluginError;
use crate::bindings::secrets::exports::driftless::plugin::secrets as wit;
use crate::bindings::secrets::{SecretBackend as SecretWorld, SecretBackendPre};

/// A resolved secret: bytes that never print.
pub type SecretValue = driftless_core::Secret<Vec<u8>>;

/// A reference to one secret, in the backend's own scheme.
#[derive(Debug, Clone, PartialEq)]
pub struct SecretReference {
    /// Where the value is, e.g. `vault://kv/app#password`.
    pub uri: String,
    /// Backend parameters.
    pub params: Map<String, Value>,
}

impl SecretReference {
    /// A reference without parameters.
    #[must_use]
    pub fn new(uri: impl Into<String>) -> Self {
        Self { uri: uri.into(), params: Map::new() }
    }
}

plugin_handle!(
    /// A compiled, checked secret backend.
    SecretBackendPlugin,
    SecretBackendPre
);

impl SecretBackendPlugin {
    /// The hosts this plugin may reach: the ones it declared, all granted.
    #[must_use]
    pub fn hosts(&self) -> Vec<String> {
        self.loaded.http.iter().flat_map(|hosts| hosts.iter().map(ToString::to_string)).collect()
    }

    /// Resolve a batch of references in one sandboxed call: one result per reference, in
    /// order. A reference the backend cannot resolve gets its error message (which the
    /// contract forbids to hold the secret); the call as a whole fails only when the plugin
    /// misbehaves.
    ///
    /// # Errors
    /// [`PluginError::Timeout`], [`PluginError::MemoryLimit`], [`PluginError::Trap`] (without
    /// the plugin's stderr, which may hold a secret) when the plugin misbehaves;
    /// [`PluginError::Denied`] when it tried to reach a host it may not;
    /// [`PluginError::BadOutput`] when it answers for a different number of references.
    pub fn resolve(
        &self,
        references: &[SecretReference],
    ) -> Result<Vec<Result<SecretValue, String>>, PluginError> {
        if references.is_empty() {
            return Ok(Vec::new());
        }
        let batch = references
            .iter()
            .map(|r| Ok(wit::SecretReference { uri: r.uri.clone(), params: crate::json_text(&r.params)? }))
            .collect::<Result<Vec<_>, PluginError>>()?;
        let answers = self.loaded.call(
            None,
            |store| self.pre.instantiate(store),
            |bindings: &SecretWorld, store| bindings.driftless_plugin_secrets().call_resolve(store, &batch),
        )?;
        if answers.len() != batch.len() {
            return Err(PluginError::BadOutput {
                plugin: self.loaded.metadata.name.clone(),
                index: answers.len().min(batch.len()),
                reason: format!("it answered for {} references but was given {}", answers.len(), batch.len()),
            });
        }
        Ok(answers.into_iter().map(|a| a.map(|v| SecretValue::new(v.value))).collect())
    }
}
