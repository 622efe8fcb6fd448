//! Describing a component without trusting it: its hash, what it imports and exports, and —
//! when it implements the plugin contract — what its metadata says.

use serde::Serialize;

use crate::{PluginError, PluginHost, PluginMetadata};

/// What `driftless plugin inspect` shows.
#[derive(Debug, Clone, Serialize)]
pub struct Inspection {
    /// SHA-256 of the component, hex-encoded.
    pub content_hash: String,
    /// Size in bytes.
    pub size: usize,
    /// Names of the component's imports (interfaces and functions).
    pub imports: Vec<String>,
    /// Names of the component's exports.
    pub exports: Vec<String>,
    /// The plugin's metadata, when it could be read.
    #[serde(skip)]
    pub metadata: Option<PluginMetadata>,
    /// Why the metadata could not be read, when it could not.
    pub metadata_error: Option<String>,
}

pub(crate) fn inspect(host: &PluginHost, label: &str, wasm: &[u8]) -> Result<Inspection, PluginError> {
    let invalid =
        |e: wasmtime::Error| PluginError::Invalid { plugin: label.to_owned(), reason: format!("{e:#}") };
    let content_hash = crate::cache::content_hash(wasm);
    let (component, _) = host.cache.get(&host.engine, &content_hash, wasm).map_err(invalid)?;
    let ty = component.component_type();
    let imports = ty.imports(&host.engine).map(|(name, _)| name.to_owned()).collect();
    let exports = ty.exports(&host.engine).map(|(name, _)| name.to_owned()).collect();
    let (metadata, metadata_error) = match host
        .http_linker
        .instantiate_pre(&component)
        .map_err(invalid)
        .and_then(|pre| host.read_metadata(label, &pre))
    {
        Ok(m) => (Some(m), None),
        Err(e) => (None, Some(e.to_string())),
    };
    Ok(Inspection { content_hash, size: wasm.len(), imports, exports, metadata, metadata_error })
}
