//! Health plugins: live objects in, health out.
//!
//! Implement [`HealthCheck`] and call [`export_health!`](crate::export_health) once.
//!
//! Most of the time of a health call goes into parsing the objects. A check that reads only a
//! few fields says which in [`HealthCheck::READS`]; the SDK then builds values for those only
//! and skips the rest of each object's JSON text (see [`crate::project`]).

use crate::Object;
use crate::bindings::health::exports::driftless::plugin::health_check as wit;

pub use crate::project::{Projection, ReadError, Reads};
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

    /// The fields [`HealthCheck::assess`] reads, as JSON pointers (`/status`,
    /// `/metadata/generation`); the object it is given holds these (and `apiVersion` and
    /// `kind`) and nothing else. Default: the whole object.
    ///
    /// Reading a field that is not listed finds it absent, so list every field the check looks
    /// at (or a parent of it) and test the check through [`read_object`] or
    /// `driftless_plugin_sdk::testing::assess`, which apply the same projection.
    const READS: Reads = Reads::All;

    /// The kinds this plugin assesses.
    fn kinds() -> Vec<KindSelector>;

    /// The health of one live object; `None` when this plugin does not handle it.
    fn assess(object: &Object) -> Option<Health>;
}

/// Parse an object's JSON text as the plugin `H` receives it: only the fields in `H::READS`.
///
/// # Errors
/// [`ReadError`] when the text is not JSON or not a Kubernetes object.
pub fn read_object<H: HealthCheck>(text: &str) -> Result<Object, ReadError> {
    crate::project::parse(text, H::READS)
}

/// What the compiled plugin answers for one object's JSON text: `H::assess` of the object
/// parsed with `projection` (of `H::READS`), or Unknown when the text is not a Kubernetes object.
pub(crate) fn assess_text<H: HealthCheck>(projection: &Projection, text: &str) -> Option<Health> {
    match projection.parse(text) {
        Ok(object) => H::assess(&object),
        Err(e) => Some(Health::new(HealthStatus::Unknown, format!("not a Kubernetes object: {e}"))),
    }
}

#[doc(hidden)]
pub fn __kinds<H: HealthCheck>() -> Vec<wit::KindSelector> {
    H::kinds().into_iter().map(|k| wit::KindSelector { group: k.group, kind: k.kind }).collect()
}

#[doc(hidden)]
pub fn __assess<H: HealthCheck>(objects: Vec<String>) -> Vec<Option<wit::Health>> {
    // The selection is prepared once per batch, not per object.
    let projection = Projection::new(H::READS);
    objects
        .iter()
        .map(|text| {
            let health = assess_text::<H>(&projection, text)?;
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
