//! Write driftless plugins in Rust.
//!
//! A plugin is a WebAssembly component built for `wasm32-wasip2` from a `cdylib` crate. It
//! implements one world of the contract in `sdk/wit` (package `driftless:plugin@0.1.0`); this
//! crate generates the bindings and turns them into plain Rust traits, one per plugin kind:
//!
//! | kind | trait | export macro |
//! |---|---|---|
//! | renderer | [`renderer::Renderer`] | [`export_renderer!`] |
//! | health | [`health::HealthCheck`] | [`export_health!`] |
//! | policy | [`policy::Policy`] | [`export_policy!`] |
//! | secret-backend | [`secrets::SecretBackend`] | [`export_secret_backend!`] |
//!
//! A renderer is a few lines:
//!
//! ```no_run
//! use driftless_plugin_sdk::renderer::{Renderer, Request, RenderError};
//! use driftless_plugin_sdk::Object;
//!
//! struct Hello;
//!
//! impl Renderer for Hello {
//!     const NAME: &'static str = "hello";
//!
//!     fn render(request: &Request) -> Result<Vec<Object>, RenderError> {
//!         let name = request.params.get("name").and_then(|v| v.as_str()).unwrap_or("world");
//!         let object = serde_json::json!({
//!             "apiVersion": "v1", "kind": "ConfigMap",
//!             "metadata": {"name": "hello"}, "data": {"greeting": format!("hello, {name}")},
//!         });
//!         Ok(vec![Object::from_value(object).map_err(|e| RenderError::new(e.to_string()))?])
//!     }
//! }
//!
//! driftless_plugin_sdk::export_renderer!(Hello);
//! ```
//!
//! The plugin sees nothing but what the host grants: for a renderer, the render root mounted
//! read-only; for a secret backend, HTTP(S) requests ([`http`]) to the hosts it declares and the
//! operator grants; for the others, nothing at all. No sockets, no environment, no other files.
//! Outside WebAssembly the export macros expand to nothing, so a plugin's unit tests run
//! natively with `cargo test`.

// The generated bindings refer to this crate by name, also from inside it.
extern crate self as driftless_plugin_sdk;

pub use driftless_core::{GroupVersionKind, Object, ObjectError, ObjectRef, manifest};
pub use serde_json;

/// The contract version this SDK implements: the version of the `driftless:plugin` WIT
/// package.
pub const CONTRACT_VERSION: &str = "0.1.0";

pub mod health;
pub mod http;
pub mod log;
pub mod policy;
pub mod project;
pub mod renderer;
pub mod secrets;
#[cfg(not(target_arch = "wasm32"))]
pub mod testing;

/// The kinds of plugin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PluginKind {
    /// Renders a checkout into objects.
    Renderer,
    /// Assesses the health of live objects.
    Health,
    /// Judges objects before they are applied.
    Policy,
    /// Resolves secret references.
    SecretBackend,
}

#[doc(hidden)]
pub mod __private {
    pub use wit_bindgen;
}

#[doc(hidden)]
pub fn __metadata(
    name: &str,
    version: &str,
    kind: PluginKind,
    capabilities: Vec<bindings::types::Capability>,
) -> bindings::types::PluginMetadata {
    bindings::types::PluginMetadata {
        name: name.to_owned(),
        kind: match kind {
            PluginKind::Renderer => bindings::types::PluginKind::Renderer,
            PluginKind::Health => bindings::types::PluginKind::Health,
            PluginKind::Policy => bindings::types::PluginKind::Policy,
            PluginKind::SecretBackend => bindings::types::PluginKind::SecretBackend,
        },
        version: version.to_owned(),
        contract: CONTRACT_VERSION.to_owned(),
        capabilities,
    }
}

/// Bindings generated from `sdk/wit`; plugin authors use the traits instead.
#[doc(hidden)]
#[allow(missing_docs, unsafe_code, clippy::all)]
pub mod bindings {
    /// What every world includes: the shared types and the host interface.
    pub mod base {
        wit_bindgen::generate!({
            path: "../wit",
            world: "driftless:plugin/plugin-base",
            pub_export_macro: true,
            export_macro_name: "__export_base_world",
            default_bindings_module: "driftless_plugin_sdk::bindings::base",
            runtime_path: "driftless_plugin_sdk::__private::wit_bindgen::rt",
        });
    }
    pub use base::driftless::plugin::{host, types};

    /// The `renderer` world.
    pub mod renderer {
        wit_bindgen::generate!({
            path: "../wit",
            world: "driftless:plugin/renderer",
            with: {
                "driftless:plugin/types@0.1.0": crate::bindings::types,
                "driftless:plugin/host@0.1.0": crate::bindings::host,
            },
            pub_export_macro: true,
            export_macro_name: "__export_renderer_world",
            default_bindings_module: "driftless_plugin_sdk::bindings::renderer",
            runtime_path: "driftless_plugin_sdk::__private::wit_bindgen::rt",
        });
    }

    /// The `health` world.
    pub mod health {
        wit_bindgen::generate!({
            path: "../wit",
            world: "driftless:plugin/health",
            with: {
                "driftless:plugin/types@0.1.0": crate::bindings::types,
                "driftless:plugin/host@0.1.0": crate::bindings::host,
            },
            pub_export_macro: true,
            export_macro_name: "__export_health_world",
            default_bindings_module: "driftless_plugin_sdk::bindings::health",
            runtime_path: "driftless_plugin_sdk::__private::wit_bindgen::rt",
        });
    }

    /// The `policy` world.
    pub mod policy {
        wit_bindgen::generate!({
            path: "../wit",
            world: "driftless:plugin/policy",
            with: {
                "driftless:plugin/types@0.1.0": crate::bindings::types,
                "driftless:plugin/host@0.1.0": crate::bindings::host,
            },
            pub_export_macro: true,
            export_macro_name: "__export_policy_world",
            default_bindings_module: "driftless_plugin_sdk::bindings::policy",
            runtime_path: "driftless_plugin_sdk::__private::wit_bindgen::rt",
        });
    }

    /// The `secret-backend` world.
    pub mod secrets {
        wit_bindgen::generate!({
            path: "../wit",
            world: "driftless:plugin/secret-backend",
            with: {
                "driftless:plugin/types@0.1.0": crate::bindings::types,
                "driftless:plugin/host@0.1.0": crate::bindings::host,
            },
            pub_export_macro: true,
            export_macro_name: "__export_secret_backend_world",
            default_bindings_module: "driftless_plugin_sdk::bindings::secrets",
            runtime_path: "driftless_plugin_sdk::__private::wit_bindgen::rt",
        });
    }
}
