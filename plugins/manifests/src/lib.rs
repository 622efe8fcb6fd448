//! The `manifests` renderer: every `.yaml`, `.yml` and `.json` file under the app path,
//! recursively, as Kubernetes objects.
//!
//! - Files in byte order of their paths (relative to the app path); documents in file order.
//! - Multi-document YAML; empty documents skipped; `kind: List` expanded into its `items`.
//! - Files and directories whose name starts with `.` are skipped (`.git`, `.github`, ...);
//!   symbolic links to directories are not followed (no cycles).
//! - A document that is not a Kubernetes object (no `apiVersion`/`kind`, not a mapping) is an
//!   error naming the file and the document's line.

use std::path::Path;

use driftless_plugin_sdk::Object;
use driftless_plugin_sdk::manifest::{Format, parse_objects};
use driftless_plugin_sdk::renderer::{RenderError, Renderer, Request};

/// The renderer.
pub struct Manifests;

/// Deepest directory nesting walked below the app path.
const MAX_DEPTH: usize = 64;

impl Renderer for Manifests {
    const NAME: &'static str = "manifests";

    fn render(request: &Request) -> Result<Vec<Object>, RenderError> {
        let dir = request.app_dir();
        let mut files = Vec::new();
        collect(&dir, "", 0, request, &mut files)?;
        files.sort_unstable();
        let mut objects = Vec::new();
        for relative in files {
            let shown = request.display_path(&relative);
            let bytes = std::fs::read(dir.join(&relative))
                .map_err(|e| RenderError::in_file(&shown, format!("cannot read: {e}")))?;
            let text =
                String::from_utf8(bytes).map_err(|_| RenderError::in_file(&shown, "not valid UTF-8 text"))?;
            let parsed = parse_objects(&text, Format::of_file(&relative)).map_err(|e| {
                let error = RenderError::in_file(&shown, e.message);
                match e.line {
                    Some(line) => error.at_line(line),
                    None => error,
                }
            })?;
            objects.extend(parsed);
        }
        Ok(objects)
    }
}

driftless_plugin_sdk::export_renderer!(Manifests);

fn is_manifest(name: &str) -> bool {
    [".yaml", ".yml", ".json"].iter().any(|ext| name.ends_with(ext))
}

/// Collect manifest files under `dir`, as paths relative to the app path.
fn collect(
    dir: &Path,
    prefix: &str,
    depth: usize,
    request: &Request,
    out: &mut Vec<String>,
) -> Result<(), RenderError> {
    let shown = || request.display_path(if prefix.is_empty() { "." } else { prefix });
    if depth > MAX_DEPTH {
        return Err(RenderError::in_file(shown(), format!("directories nested deeper than {MAX_DEPTH}")));
    }
    let entries = std::fs::read_dir(dir)
        .map_err(|e| RenderError::in_file(shown(), format!("cannot read directory: {e}")))?;
    for entry in entries {
        let entry =
            entry.map_err(|e| RenderError::in_file(shown(), format!("cannot read directory: {e}")))?;
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            return Err(RenderError::in_file(shown(), "a file name is not valid UTF-8"));
        };
        if name.starts_with('.') {
            continue;
        }
        let relative = if prefix.is_empty() { name.clone() } else { format!("{prefix}/{name}") };
        let file_type = entry
            .file_type()
            .map_err(|e| RenderError::in_file(request.display_path(&relative), e.to_string()))?;
        if file_type.is_dir() {
            collect(&entry.path(), &relative, depth + 1, request, out)?;
        } else if is_manifest(&name) && (file_type.is_file() || file_type.is_symlink()) {
            // A symbolic link to a directory named like a manifest is not read as one.
            if file_type.is_symlink() && entry.path().is_dir() {
                continue;
            }
            out.push(relative);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::fs;

    fn render(files: &[(&str, &str)]) -> Result<Vec<Object>, RenderError> {
        let root = tempfile::tempdir().unwrap();
        for (path, text) in files {
            let path = root.path().join("app").join(path);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, text).unwrap();
        }
        Manifests::render(&Request {
            root: root.path().to_path_buf(),
            path: "app".into(),
            params: Default::default(),
        })
    }

    fn names(objects: &[Object]) -> Vec<&str> {
        objects.iter().map(|o| o.name().unwrap_or("?")).collect()
    }

    const CM: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: NAME}\n";

    #[test]
    fn files_in_byte_order_documents_in_file_order() {
        let objects = render(&[
            ("b.yaml", &format!("{}---\n{}", CM.replace("NAME", "b1"), CM.replace("NAME", "b2"))),
            ("a/z.yml", &CM.replace("NAME", "az")),
            ("a.yaml", &CM.replace("NAME", "a")),
            ("B.json", r#"{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "B"}}"#),
            ("notes.txt", "not a manifest"),
            (".hidden/x.yaml", "garbage: ["),
            (".ci.yaml", "garbage: ["),
        ])
        .unwrap();
        assert_eq!(names(&objects), ["B", "a", "az", "b1", "b2"]);
    }

    #[test]
    fn lists_are_expanded_and_empty_documents_skipped() {
        let list = "---\n---\napiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: Secret, metadata: {name: s}}\n- {apiVersion: v1, kind: Service, metadata: {name: svc}}\n---\n";
        let objects = render(&[("list.yaml", list)]).unwrap();
        assert_eq!(names(&objects), ["s", "svc"]);
        assert_eq!(objects[0].kind(), "Secret");
    }

    #[test]
    fn a_document_without_kind_names_file_and_line() {
        let text =
            format!("{}---\n# comment\napiVersion: v1\nmetadata: {{name: x}}\n", CM.replace("NAME", "ok"));
        let err = render(&[("dir/bad.yaml", &text)]).unwrap_err();
        assert_eq!(err.file.as_deref(), Some("app/dir/bad.yaml"));
        assert_eq!(err.line, Some(6));
        assert!(err.message.contains("`kind`"), "{err}");
    }

    #[test]
    fn malformed_yaml_and_json_name_file_and_line() {
        let err = render(&[("x.yaml", "a: 1\nb: [1,\n")]).unwrap_err();
        assert_eq!(err.file.as_deref(), Some("app/x.yaml"));
        assert!(err.line.unwrap() >= 2);
        assert!(err.message.starts_with("invalid YAML"), "{err}");

        let err = render(&[("y.json", "{\n\"a\": }")]).unwrap_err();
        assert_eq!((err.file.as_deref(), err.line), (Some("app/y.json"), Some(2)));

        let err = render(&[("l.yaml", "apiVersion: v1\nkind: List\nitems:\n- 3\n")]).unwrap_err();
        assert!(err.message.contains("List item 0"), "{err}");

        let err = render(&[("s.yaml", "- a\n- b\n")]).unwrap_err();
        assert!(err.message.contains("found a list"), "{err}");
    }

    #[test]
    fn invalid_utf8_is_an_error() {
        let root = tempfile::tempdir().unwrap();
        fs::write(root.path().join("bin.yaml"), [0xff, 0xfe, 0x00]).unwrap();
        let err = Manifests::render(&Request {
            root: root.path().to_path_buf(),
            path: ".".into(),
            params: Default::default(),
        })
        .unwrap_err();
        assert_eq!(err.file.as_deref(), Some("bin.yaml"));
    }
}
