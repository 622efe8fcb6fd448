//! The `kustomize` renderer: builds the kustomization in the app directory the way
//! `kubectl kustomize` (kustomize v5.5) does, inside the WebAssembly sandbox.
//!
//! Supported: `resources` (files, directories, nested kustomizations), `components`,
//! `namespace`, `namePrefix`/`nameSuffix` with name references, `commonLabels` and `labels`,
//! `commonAnnotations`, `images`, `replicas`, `patches` (strategic merge and JSON 6902, with
//! target selectors), `patchesStrategicMerge`, `patchesJson6902`, `configMapGenerator` and
//! `secretGenerator` (with kustomize's hash suffix), `generatorOptions`, `replacements`, `vars`,
//! `buildMetadata`, `sortOptions`. Files outside a kustomization's directory are refused (the
//! load restrictor); remote bases are refused (no network). Fields that need plugins or Helm
//! are refused, not ignored. See `docs/kustomize.md` for the known differences.
//!
//! Output: objects in kustomize's legacy order, mapping keys sorted as kustomize prints them.

mod build;
mod error;
mod fs;
mod generate;
mod kustomization;
mod nameref;
mod order;
mod patch;
mod replace;
mod res;
mod select;
mod transform;

pub use error::Error;

use driftless_plugin_sdk::Object;
use driftless_plugin_sdk::renderer::{RenderError, Renderer, Request};

/// The renderer.
pub struct Kustomize;

impl Renderer for Kustomize {
    const NAME: &'static str = "kustomize";

    fn render(request: &Request) -> Result<Vec<Object>, RenderError> {
        let fs = fs::Fs::new(request.root.clone());
        let values = build::build(&fs, &request.path)?;
        values
            .into_iter()
            .map(|v| {
                let id = format!(
                    "{} {}",
                    v.get("kind").and_then(|k| k.as_str()).unwrap_or("?"),
                    v.pointer("/metadata/name").and_then(|k| k.as_str()).unwrap_or("?")
                );
                Object::from_value(v)
                    .map_err(|e| RenderError::new(format!("{id}: not a valid object after the build: {e}")))
            })
            .collect()
    }
}

driftless_plugin_sdk::export_renderer!(Kustomize);
