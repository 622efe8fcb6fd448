//! The health stage: every object through the health plugins, first answer wins.
//!
//! Plugins given by the user come first, in order, then the built-in ones (`health-core`), so
//! a user's plugin can override the built-in health of a kind. A kind no plugin handles gets no
//! status.

use std::path::PathBuf;

use driftless_core::{Object, ObjectRef};
use driftless_plugin_host::{HealthPlugin, HealthStatus, PluginError, PluginHost};
use serde::Serialize;

/// The health of one object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ObjectHealth {
    /// Which object.
    #[serde(flatten)]
    pub object: ObjectRef,
    /// Its status; `None` when no plugin handles its kind.
    pub status: Option<HealthStatus>,
    /// Why, from the plugin that answered.
    pub message: Option<String>,
    /// The plugin that answered.
    #[serde(skip)]
    pub plugin: Option<String>,
}

/// A health stage that failed.
#[derive(Debug, thiserror::Error)]
pub enum HealthError {
    /// A plugin file cannot be read.
    #[error("plugin {}: {source}", path.display())]
    PluginFile {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Loading or calling a plugin failed.
    #[error(transparent)]
    Plugin(#[from] PluginError),
}

/// Load the health plugins: the files given, then the built-in ones.
///
/// # Errors
/// [`HealthError`] when a file cannot be read or is not a health plugin.
pub fn load_plugins(host: &PluginHost, files: &[PathBuf]) -> Result<Vec<HealthPlugin>, HealthError> {
    let mut plugins = Vec::new();
    for path in files {
        let wasm =
            std::fs::read(path).map_err(|source| HealthError::PluginFile { path: path.clone(), source })?;
        plugins.push(host.load_health(&path.display().to_string(), &wasm)?);
    }
    for builtin in driftless_plugins_builtin::of_kind(driftless_plugins_builtin::Kind::Health) {
        plugins.push(host.load_health(builtin.name, builtin.wasm)?);
    }
    Ok(plugins)
}

/// Assess `objects` with `plugins`: one batch call per plugin, with the objects no earlier
/// plugin answered for. Results are in input order.
///
/// # Errors
/// [`HealthError::Plugin`] when a plugin fails its call.
pub fn assess(plugins: &[HealthPlugin], objects: &[Object]) -> Result<Vec<ObjectHealth>, HealthError> {
    let span = tracing::info_span!("health", objects = objects.len());
    let _guard = span.enter();
    let mut results: Vec<ObjectHealth> = objects
        .iter()
        .map(|o| ObjectHealth { object: o.object_ref(), status: None, message: None, plugin: None })
        .collect();
    for plugin in plugins {
        let pending: Vec<usize> = (0..objects.len()).filter(|&i| results[i].status.is_none()).collect();
        if pending.is_empty() {
            break;
        }
        let batch: Vec<Object> = pending.iter().map(|&i| objects[i].clone()).collect();
        for (&i, health) in pending.iter().zip(plugin.assess(&batch)?) {
            if let Some(health) = health {
                results[i].status = Some(health.status);
                results[i].message = Some(health.message);
                results[i].plugin = Some(plugin.metadata().name.clone());
            }
        }
    }
    Ok(results)
}
