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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn render(files: &[(&str, &str)], path: &str) -> Result<Vec<Object>, RenderError> {
        let root = tempfile::tempdir().unwrap();
        for (file, text) in files {
            let p = root.path().join(file);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
        Kustomize::render(&Request {
            root: root.path().to_path_buf(),
            path: path.into(),
            params: Default::default(),
        })
    }

    #[test]
    fn errors_name_the_file_relative_to_the_root() {
        let err = render(&[("app/kustomization.yaml", "resources: [gone.yaml]\n")], "app").unwrap_err();
        assert_eq!(err.file.as_deref(), Some("app/kustomization.yaml"));
        assert_eq!(err.message, "`gone.yaml` does not exist");
        let err =
            render(&[("app/kustomization.yaml", "resources:\n- x.yaml\n"), ("app/x.yaml", "a: [\n")], "app")
                .unwrap_err();
        assert_eq!(err.file.as_deref(), Some("app/x.yaml"));
        assert!(err.line.is_some(), "{err}");
        let err = render(&[("app/kustomization.yaml", "resources:\n- ../../x.yaml\n")], "app").unwrap_err();
        assert!(err.message.contains("outside"), "{err}");
        let err = render(&[("app/x.yaml", "")], "app").unwrap_err();
        assert!(err.message.contains("no kustomization.yaml"), "{err}");
    }

    #[test]
    fn a_small_overlay_renders_in_kustomize_order() {
        let objects = render(
            &[
                ("base/kustomization.yaml", "resources: [all.yaml]\n"),
                (
                    "base/all.yaml",
                    "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\n---\napiVersion: v1\nkind: Service\nmetadata: {name: web}\n",
                ),
                ("prod/kustomization.yaml", "resources: [../base]\nnamePrefix: prod-\nnamespace: p\n"),
            ],
            "prod",
        )
        .unwrap();
        let ids: Vec<String> = objects
            .iter()
            .map(|o| format!("{}/{}/{}", o.kind(), o.namespace().unwrap(), o.name().unwrap()))
            .collect();
        assert_eq!(ids, ["Service/p/prod-web", "Deployment/p/prod-web"]);
    }
}
