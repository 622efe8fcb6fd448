//! Health plugins: live objects in, health out.
//!
//! Implement [`HealthCheck`] and call [`export_health!`](crate::export_health) once.

use crate::Object;
use crate::bindings::health::exports::driftless::plugin::health_check as wit;

pub use driftless_core::health::{Health, HealthStatus};

/// A kind a health plugin assesses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KindSelector {
    /// API group, `""` for the core group.
    pub group: String,
    /// Kind, or `*` for every kind of the group.
    pub kind: String,
}

impl KindSelector {
    /// `group` (`""` for core) and `kind` (`*` for all).
    pub fn new(group: &str, kind: &str) -> Self {
        Self { group: group.to_owned(), kind: kind.to_owned() }
    }
}

/// A health check.
pub trait HealthCheck {
    /// The plugin's name: lowercase letters, digits and `-`.
    const NAME: &'static str;

    /// The kinds this plugin assesses.
    fn kinds() -> Vec<KindSelector>;

    /// The health of one live object; `None` when this plugin does not handle it.
    fn assess(object: &Object) -> Option<Health>;
}

#[doc(hidden)]
pub fn __kinds<H: HealthCheck>() -> Vec<wit::KindSelector> {
    H::kinds().into_iter().map(|k| wit::KindSelector { group: k.group, kind: k.kind }).collect()
}

#[doc(hidden)]
pub fn __assess<H: HealthCheck>(objects: Vec<String>) -> Vec<Option<wit::Health>> {
    objects
        .iter()
        .map(|text| {
            let object = serde_json::from_str::<serde_json::Value>(text)
                .map_err(|e| e.to_string())
                .and_then(|v| Object::from_value(v).map_err(|e| e.to_string()));
            let health = match object {
                Ok(object) => H::assess(&object)?,
                Err(e) => Health::new(HealthStatus::Unknown, format!("not a Kubernetes object: {e}")),
            };
            let status = match health.status {
                HealthStatus::Healthy => wit::HealthStatus::Healthy,
                HealthStatus::Progressing => wit::HealthStatus::Progressing,
                HealthStatus::Degraded => wit::HealthStatus::Degraded,
                HealthStatus::Suspended => wit::HealthStatus::Suspended,
                HealthStatus::Missing => wit::HealthStatus::Missing,
                HealthStatus::Unknown => wit::HealthStatus::Unknown,
            };
            Some(wit::Health { status, message: health.message })
        })
        .collect()
}

/// Export a [`HealthCheck`] as the plugin's implementation of the `health` world.
///
/// Its version is the plugin crate's `CARGO_PKG_VERSION`. Outside WebAssembly the macro
/// expands to nothing, so the plugin's own unit tests run natively.
#[macro_export]
macro_rules! export_health {
    ($check:ty) => {
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            use __bindings::exports::driftless::plugin::health_check as __wit;
            use $crate::bindings::health as __bindings;
            struct __Health;
            impl __bindings::Guest for __Health {
                fn metadata() -> $crate::bindings::types::PluginMetadata {
                    let name = <$check as $crate::health::HealthCheck>::NAME;
                    let kind = $crate::PluginKind::Health;
                    $crate::__metadata(name, env!("CARGO_PKG_VERSION"), kind, Vec::new())
                }
            }
            impl __wit::Guest for __Health {
                fn kinds() -> Vec<__wit::KindSelector> {
                    $crate::health::__kinds::<$check>()
                }
                fn assess(objects: Vec<String>) -> Vec<Option<__wit::Health>> {
                    $crate::health::__assess::<$check>(objects)
                }
            }
    __bindings::__export_health_world!(__Health with_types_in __bindings);
        };
    };
}
