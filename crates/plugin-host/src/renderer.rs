//! Renderer plugins.

use std::path::Path;

use driftless_core::Object;
use serde_json::{Map, Value};

use crate::bindings::renderer::exports::driftless::plugin::render::RenderRequest;
use crate::bindings::renderer::{Renderer, RendererPre};
use crate::{GUEST_ROOT, PluginError};

plugin_handle!(
    /// A compiled, checked renderer, ready to be called any number of times (each call in a fresh
    /// sandbox).
    RendererPlugin,
    RendererPre
);

impl RendererPlugin {
    /// The SHA-256 of the component, hex-encoded.
    #[must_use]
    pub fn content_hash(&self) -> &str {
        &self.loaded.hash
    }

    /// Render the directory `path` (relative, `/`-separated, `.` for the root) inside `root`,
    /// which the plugin sees read-only at [`GUEST_ROOT`]. `params` are the renderer
    /// parameters.
    ///
    /// # Errors
    /// [`PluginError::Input`] when the plugin rejects its input (with the file and line it
    /// names); [`PluginError::Timeout`], [`PluginError::MemoryLimit`] or [`PluginError::Trap`]
    /// when it misbehaves; [`PluginError::BadOutput`] when what it returns is not Kubernetes
    /// objects; [`PluginError::Host`] when `root` cannot be opened.
    pub fn render(
        &self,
        root: &Path,
        path: &str,
        params: &Map<String, Value>,
    ) -> Result<Vec<Object>, PluginError> {
        let request = RenderRequest {
            root: GUEST_ROOT.to_owned(),
            path: path.to_owned(),
            params: crate::json_text(params)?,
        };
        let output = self.loaded.call(
            Some(root),
            |store| self.pre.instantiate(store),
            |bindings: &Renderer, store| bindings.driftless_plugin_render().call_render(store, &request),
        )?;
        let plugin = &self.loaded.metadata.name;
        let texts = output.map_err(|e| PluginError::Input {
            plugin: plugin.clone(),
            message: e.message,
            file: e.file,
            line: e.line,
        })?;
        texts
            .into_iter()
            .enumerate()
            .map(|(index, text)| {
                let bad = |reason: String| PluginError::BadOutput { plugin: plugin.clone(), index, reason };
                let value: Value = serde_json::from_str(&text).map_err(|e| bad(format!("not JSON: {e}")))?;
                Object::from_value(value).map_err(|e| bad(e.to_string()))
            })
            .collect()
    }
}
