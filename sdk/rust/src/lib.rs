//! Write driftless plugins in Rust.
//!
//! A plugin is a WebAssembly component built for `wasm32-wasip2` from a `cdylib` crate. It
//! implements one world of the contract in `sdk/wit` (package `driftless:plugin@0.1.0`); this
//! crate generates the bindings and turns them into plain Rust traits, so a renderer is a few
//! lines:
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
//! read-only. No network, no environment, no clock beyond what WASI gives, no other files.
//!
//! Only renderers are covered so far; health checks, secret backends and policies follow the
//! same pattern.

// The generated bindings refer to this crate by name, also from inside it.
extern crate self as driftless_plugin_sdk;

pub use driftless_core::{GroupVersionKind, Object, ObjectError, ObjectRef};
pub use serde_json;

/// The contract version this SDK implements: the version of the `driftless:plugin` WIT
/// package.
pub const CONTRACT_VERSION: &str = "0.1.0";

pub mod log;
pub mod renderer;

#[doc(hidden)]
pub mod __private {
    pub use wit_bindgen;
}

/// Bindings generated from `sdk/wit`; plugin authors use the traits instead.
#[doc(hidden)]
#[allow(missing_docs, unsafe_code, clippy::all)]
pub mod bindings {
    /// The `renderer` world.
    pub mod renderer {
        wit_bindgen::generate!({
            path: "../wit",
            world: "driftless:plugin/renderer",
            pub_export_macro: true,
            export_macro_name: "__export_renderer_world",
            default_bindings_module: "driftless_plugin_sdk::bindings::renderer",
            runtime_path: "driftless_plugin_sdk::__private::wit_bindgen::rt",
        });
    }
}
