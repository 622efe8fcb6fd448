//! The render stage: pick a renderer, give it the render root read-only, collect its objects.

use std::path::{Component, Path, PathBuf};

use driftless_core::Object;
use driftless_plugin_host::{ErrorClass, PluginError, PluginHost};
use serde_json::{Map, Value};

/// The renderer used when none is named and the directory holds no kustomization.
pub const DEFAULT_RENDERER: &str = "manifests";

/// The renderer used when none is named and the directory holds a kustomization.
pub const KUSTOMIZE_RENDERER: &str = "kustomize";

/// The file names that make a directory a kustomization, as kustomize looks for them.
pub const KUSTOMIZATION_FILES: [&str; 3] = ["kustomization.yaml", "kustomization.yml", "Kustomization"];

/// The renderer for `dir` when none is named: [`KUSTOMIZE_RENDERER`] when it holds a
/// kustomization file, else [`DEFAULT_RENDERER`].
#[must_use]
pub fn detect_renderer(dir: &Path) -> &'static str {
    if KUSTOMIZATION_FILES.iter().any(|name| dir.join(name).is_file()) {
        KUSTOMIZE_RENDERER
    } else {
        DEFAULT_RENDERER
    }
}

/// What to render.
#[derive(Debug, Clone)]
pub struct RenderRequest {
    /// The application's directory.
    pub path: PathBuf,
    /// The directory the renderer may read (it must contain `path`); when `None`, the top of
    /// the Git work tree holding `path`, else `path` itself.
    pub root: Option<PathBuf>,
    /// A built-in renderer's name, or the path of a `.wasm` component; when `None`,
    /// [`detect_renderer`] picks one.
    pub plugin: Option<String>,
    /// Renderer parameters.
    pub params: Map<String, Value>,
}

/// What a render produced.
#[derive(Debug, Clone)]
pub struct Rendered {
    /// The objects, in the renderer's order.
    pub objects: Vec<Object>,
    /// The renderer's name (from its metadata).
    pub plugin: String,
    /// The render root the renderer saw.
    pub root: PathBuf,
    /// The application's directory relative to the root (`.` for the root itself).
    pub path: String,
}

/// A render that failed.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// The application's directory (or the root) does not exist or cannot be read.
    #[error("{}: {source}", path.display())]
    Path {
        /// The path.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The application's directory is a file.
    #[error("{}: not a directory", path.display())]
    NotADirectory {
        /// The path.
        path: PathBuf,
    },
    /// The application's directory is not inside the render root.
    #[error("{} is not inside the render root {}", path.display(), root.display())]
    OutsideRoot {
        /// The application's directory.
        path: PathBuf,
        /// The render root.
        root: PathBuf,
    },
    /// A path is not valid UTF-8.
    #[error("{}: path is not valid UTF-8", path.display())]
    NonUtf8Path {
        /// The path.
        path: PathBuf,
    },
    /// No built-in renderer has that name.
    #[error(
        "unknown renderer `{name}`: built-in renderers are {available}; or give the path of a .wasm component"
    )]
    UnknownPlugin {
        /// The name asked for.
        name: String,
        /// The built-in names, comma-separated.
        available: String,
    },
    /// The plugin file cannot be read.
    #[error("plugin {}: {source}", path.display())]
    PluginFile {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Loading or running the plugin failed.
    #[error(transparent)]
    Plugin(#[from] PluginError),
}

impl RenderError {
    /// Whose fault the error is.
    #[must_use]
    pub fn class(&self) -> ErrorClass {
        match self {
            RenderError::Plugin(e) => e.class(),
            _ => ErrorClass::Input,
        }
    }
}

/// Render `request.path` with the chosen renderer, in `host`'s sandbox.
///
/// # Errors
/// [`RenderError`]: bad paths and unknown plugins (input errors), and whatever the plugin
/// call reports ([`RenderError::class`] tells input from runtime failures).
pub fn render(host: &PluginHost, request: &RenderRequest) -> Result<Rendered, RenderError> {
    let path = canonical_dir(&request.path)?;
    let root = match &request.root {
        Some(root) => canonical_dir(root)?,
        None => git_work_tree(&path).unwrap_or_else(|| path.clone()),
    };
    let relative = relative_path(&path, &root)?;

    let plugin_name = request.plugin.as_deref().unwrap_or_else(|| detect_renderer(&path));
    let span = tracing::info_span!("render", path = %relative, plugin = plugin_name);
    let _guard = span.enter();

    let plugin = if is_plugin_file(plugin_name) {
        let file = PathBuf::from(plugin_name);
        let wasm =
            std::fs::read(&file).map_err(|source| RenderError::PluginFile { path: file.clone(), source })?;
        host.load_renderer(&file.display().to_string(), &wasm)?
    } else {
        let builtin =
            driftless_plugins_builtin::get(plugin_name).ok_or_else(|| RenderError::UnknownPlugin {
                name: plugin_name.to_owned(),
                available: driftless_plugins_builtin::ALL
                    .iter()
                    .map(|p| p.name)
                    .collect::<Vec<_>>()
                    .join(", "),
            })?;
        host.load_renderer(builtin.name, builtin.wasm)?
    };
    let objects = plugin.render(&root, &relative, &request.params)?;
    tracing::debug!(objects = objects.len(), "rendered");
    Ok(Rendered { objects, plugin: plugin.metadata().name.clone(), root, path: relative })
}

/// A plugin named by path rather than by built-in name.
fn is_plugin_file(name: &str) -> bool {
    name.ends_with(".wasm") || name.contains('/') || name.contains(std::path::MAIN_SEPARATOR)
}

fn canonical_dir(path: &Path) -> Result<PathBuf, RenderError> {
    let canonical = std::fs::canonicalize(path)
        .map_err(|source| RenderError::Path { path: path.to_path_buf(), source })?;
    if !canonical.is_dir() {
        return Err(RenderError::NotADirectory { path: path.to_path_buf() });
    }
    Ok(canonical)
}

/// The top of the Git work tree holding `dir`: the nearest ancestor with a `.git` entry
/// (a directory, or a file for worktrees and submodules).
fn git_work_tree(dir: &Path) -> Option<PathBuf> {
    dir.ancestors().find(|d| d.join(".git").exists()).map(Path::to_path_buf)
}

/// `path` relative to `root`, `/`-separated, `.` when equal.
fn relative_path(path: &Path, root: &Path) -> Result<String, RenderError> {
    let outside = || RenderError::OutsideRoot { path: path.to_path_buf(), root: root.to_path_buf() };
    let rest = path.strip_prefix(root).map_err(|_| outside())?;
    let mut parts = Vec::new();
    for component in rest.components() {
        match component {
            Component::Normal(part) => parts
                .push(part.to_str().ok_or_else(|| RenderError::NonUtf8Path { path: path.to_path_buf() })?),
            _ => return Err(outside()),
        }
    }
    Ok(if parts.is_empty() { ".".to_owned() } else { parts.join("/") })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn relative_paths() {
        assert_eq!(relative_path(Path::new("/a/b/c"), Path::new("/a")).unwrap(), "b/c");
        assert_eq!(relative_path(Path::new("/a"), Path::new("/a")).unwrap(), ".");
        assert!(matches!(
            relative_path(Path::new("/x/y"), Path::new("/a")),
            Err(RenderError::OutsideRoot { .. })
        ));
    }

    #[test]
    fn the_default_root_is_the_git_work_tree() {
        let dir = tempfile::tempdir().unwrap();
        let top = dir.path().canonicalize().unwrap();
        std::fs::create_dir_all(top.join("repo/.git")).unwrap();
        std::fs::create_dir_all(top.join("repo/apps/web")).unwrap();
        assert_eq!(git_work_tree(&top.join("repo/apps/web")), Some(top.join("repo")));
        assert_eq!(git_work_tree(&top.join("repo")), Some(top.join("repo")));
    }

    #[test]
    fn kustomizations_are_detected() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(detect_renderer(dir.path()), DEFAULT_RENDERER);
        for name in KUSTOMIZATION_FILES {
            std::fs::write(dir.path().join(name), "resources: []\n").unwrap();
            assert_eq!(detect_renderer(dir.path()), KUSTOMIZE_RENDERER, "{name}");
            std::fs::remove_file(dir.path().join(name)).unwrap();
        }
        // A directory named like the file is not a kustomization.
        std::fs::create_dir(dir.path().join("kustomization.yaml")).unwrap();
        assert_eq!(detect_renderer(dir.path()), DEFAULT_RENDERER);
    }

    #[test]
    fn plugin_files_are_told_from_names() {
        assert!(is_plugin_file("x.wasm"));
        assert!(is_plugin_file("./plugins/x"));
        assert!(!is_plugin_file("manifests"));
    }
}
