//! Renderer plugins: a checkout in, Kubernetes objects out.
//!
//! Implement [`Renderer`] and call [`export_renderer!`](crate::export_renderer) once.

use std::path::PathBuf;

use serde_json::{Map, Value};

use crate::Object;
use crate::bindings::renderer::exports::driftless::plugin::render as wit_render;
use crate::bindings::types as wit;

/// One render request.
#[derive(Debug, Clone)]
pub struct Request {
    /// Where the host mounted the render root (read-only), as a path the plugin can open.
    pub root: PathBuf,
    /// The application's directory relative to `root`, `/`-separated (`.` for the root).
    pub path: String,
    /// The renderer parameters of the Application (`spec.render.params`).
    pub params: Map<String, Value>,
}

impl Request {
    /// The application's directory, as a path the plugin can open.
    #[must_use]
    pub fn app_dir(&self) -> PathBuf {
        if self.path == "." { self.root.clone() } else { self.root.join(&self.path) }
    }

    /// A path relative to the application's directory, expressed relative to the render root
    /// with `/` separators, as [`RenderError::file`] wants it.
    #[must_use]
    pub fn display_path(&self, relative: &str) -> String {
        if self.path == "." { relative.to_owned() } else { format!("{}/{relative}", self.path) }
    }
}

/// Why a render failed because of its input: returned to the host and shown to the user
/// (exit code 2 in the CLI).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderError {
    /// What is wrong.
    pub message: String,
    /// The file at fault, relative to the render root.
    pub file: Option<String>,
    /// The 1-based line in `file`.
    pub line: Option<u32>,
}

impl RenderError {
    /// An error not tied to a file.
    pub fn new(message: impl Into<String>) -> Self {
        Self { message: message.into(), file: None, line: None }
    }

    /// An error in a file (relative to the render root).
    pub fn in_file(file: impl Into<String>, message: impl Into<String>) -> Self {
        Self { message: message.into(), file: Some(file.into()), line: None }
    }

    /// Add the line.
    #[must_use]
    pub fn at_line(mut self, line: usize) -> Self {
        self.line = u32::try_from(line).ok();
        self
    }
}

impl std::fmt::Display for RenderError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.file, self.line) {
            (Some(file), Some(line)) => write!(f, "{file} line {line}: {}", self.message),
            (Some(file), None) => write!(f, "{file}: {}", self.message),
            _ => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for RenderError {}

/// A renderer.
pub trait Renderer {
    /// The plugin's name: lowercase letters, digits and `-`.
    const NAME: &'static str;

    /// Render the application at `request.app_dir()` into objects, in output order.
    ///
    /// # Errors
    /// A [`RenderError`] naming what in the input is wrong.
    fn render(request: &Request) -> Result<Vec<Object>, RenderError>;
}

#[doc(hidden)]
pub fn __render<R: Renderer>(request: wit_render::RenderRequest) -> Result<Vec<String>, wit::Diagnostic> {
    let to_wit = |e: RenderError| wit::Diagnostic { message: e.message, file: e.file, line: e.line };
    let params = match request.params.trim() {
        "" => Map::new(),
        text => serde_json::from_str(text)
            .map_err(|e| to_wit(RenderError::new(format!("render parameters: {e}"))))?,
    };
    let request = Request { root: PathBuf::from(request.root), path: request.path, params };
    let objects = R::render(&request).map_err(to_wit)?;
    objects
        .iter()
        .map(|o| serde_json::to_string(o).map_err(|e| to_wit(RenderError::new(e.to_string()))))
        .collect()
}

/// Export a [`Renderer`] as the plugin's implementation of the `renderer` world.
///
/// Its version is the plugin crate's `CARGO_PKG_VERSION`. Outside WebAssembly the macro
/// expands to nothing, so the plugin's own unit tests run natively.
#[macro_export]
macro_rules! export_renderer {
    ($renderer:ty) => {
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            use $crate::bindings::renderer as __bindings;
            struct __DriftlessRenderer;
            impl __bindings::Guest for __DriftlessRenderer {
                fn metadata() -> $crate::bindings::types::PluginMetadata {
                    $crate::__metadata(
                        <$renderer as $crate::renderer::Renderer>::NAME,
                        env!("CARGO_PKG_VERSION"),
                        $crate::PluginKind::Renderer,
                        ::std::vec![$crate::bindings::types::Capability::CheckoutRead],
                    )
                }
            }
            impl __bindings::exports::driftless::plugin::render::Guest for __DriftlessRenderer {
                fn render(
                    request: __bindings::exports::driftless::plugin::render::RenderRequest,
                ) -> Result<::std::vec::Vec<::std::string::String>, $crate::bindings::types::Diagnostic>
                {
                    $crate::renderer::__render::<$renderer>(request)
                }
            }
            __bindings::__export_renderer_world!(
                __DriftlessRenderer with_types_in $crate::bindings::renderer
            );
        };
    };
}
