//! Run the compiled plugin in the real host from a test (feature `host`).
//!
//! [`build_plugin`] compiles a plugin crate for `wasm32-wasip2` with a nested `cargo build
//! --release` (in a target directory of its own, `<the crate's target dir>/driftless-plugin-test`),
//! and the loaders ([`health`], [`renderer`], [`policy`], [`secret_backend`], or a [`Loader`]
//! for limits, grants or patched bytes) load the component into a
//! [`driftless_plugin_host::PluginHost`], the sandbox `driftless` itself runs plugins in. A
//! [`Compiled`] handle dereferences to the host's plugin type, so a test calls
//! `plugin.assess(&objects)`, `plugin.render(..)`, `plugin.evaluate(..)` or
//! `plugin.resolve(..)` exactly as the engine does:
//!
//! ```no_run
//! use driftless_plugin_sdk::testing::{compiled, object};
//!
//! let plugin = compiled::health(env!("CARGO_MANIFEST_DIR")).unwrap();
//! let answers = plugin.assess(&[object(r#"{"apiVersion": "example.com/v1", "kind": "Widget"}"#)]).unwrap();
//! assert!(answers[0].is_some());
//! ```
//!
//! The first build of a test run compiles the plugin and the SDK for WebAssembly (tens of
//! seconds); later ones are cargo's no-op check. Builds are remembered per crate for the life
//! of the test process.

use std::collections::HashMap;
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

pub use driftless_plugin_host::{
    self as host, HealthPlugin, Limits, PluginError, PluginHost, PolicyPlugin, RendererPlugin,
    SecretBackendPlugin,
};

/// The target plugins are built for.
pub use driftless_wasm_build::TARGET;

/// Why a plugin crate could not be built.
#[derive(Debug, Clone, thiserror::Error)]
pub enum BuildError {
    /// `cargo metadata` failed: not a crate, or a broken manifest.
    #[error("cannot read the plugin crate at {}: {reason}", dir.display())]
    Metadata {
        /// The directory given.
        dir: PathBuf,
        /// What cargo said.
        reason: String,
    },
    /// The crate has no `cdylib` library target, so it builds no component.
    #[error(
        "crate `{krate}` is not a plugin: it has no `cdylib` library (add `crate-type = [\"cdylib\", \"rlib\"]` under [lib])"
    )]
    NotAPlugin {
        /// The crate's name.
        krate: String,
    },
    /// `cargo` could not be run.
    #[error("cannot run cargo to build crate `{krate}`: {reason}")]
    Spawn {
        /// The crate's name.
        krate: String,
        /// Why.
        reason: String,
    },
    /// The build failed.
    #[error("building crate `{krate}` for {TARGET} failed ({status}):\n{stderr}{hint}")]
    Cargo {
        /// The crate's name.
        krate: String,
        /// cargo's exit status.
        status: String,
        /// The end of cargo's error output.
        stderr: String,
        /// A hint, when the cause is known (a missing target), else empty.
        hint: String,
    },
    /// The build succeeded, yet the component is not where cargo puts it.
    #[error("crate `{krate}` built, but {} is missing", path.display())]
    Missing {
        /// The crate's name.
        krate: String,
        /// Where the component should be.
        path: PathBuf,
    },
}

/// Build the plugin crate in `manifest_dir` (the directory of its `Cargo.toml`) with `cargo
/// build --release --target wasm32-wasip2`, into `<its target dir>/driftless-plugin-test`, and
/// return the path of the component.
///
/// # Errors
/// [`BuildError`], naming the crate; [`BuildError::Cargo`] carries the end of cargo's output.
pub fn build_plugin(manifest_dir: impl AsRef<Path>) -> Result<PathBuf, BuildError> {
    static BUILT: OnceLock<Mutex<HashMap<PathBuf, Result<PathBuf, BuildError>>>> = OnceLock::new();
    let dir = manifest_dir.as_ref();
    let key = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    // One build per crate and process; the lock also keeps two tests from running cargo on the
    // same target directory at once (cargo would serialise them anyway).
    let mut built =
        BUILT.get_or_init(Mutex::default).lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(result) = built.get(&key) {
        return result.clone();
    }
    let result = build_uncached(&key);
    built.insert(key, result.clone());
    result
}

/// The package of the crate in `dir`: (name, cdylib target name, target directory).
fn package_of(dir: &Path) -> Result<(String, String, PathBuf), BuildError> {
    let failed = |reason: String| BuildError::Metadata { dir: dir.to_path_buf(), reason };
    let manifest = dir.join("Cargo.toml");
    let output = driftless_wasm_build::cargo_for_wasm()
        .args(["metadata", "--format-version", "1", "--no-deps", "--manifest-path"])
        .arg(&manifest)
        .output()
        .map_err(|e| failed(format!("cannot run cargo: {e}")))?;
    if !output.status.success() {
        return Err(failed(String::from_utf8_lossy(&output.stderr).trim().to_owned()));
    }
    let metadata: serde_json::Value =
        serde_json::from_slice(&output.stdout).map_err(|e| failed(format!("cargo metadata: {e}")))?;
    let target_dir = metadata["target_directory"]
        .as_str()
        .map(PathBuf::from)
        .ok_or_else(|| failed("cargo metadata names no target directory".into()))?;
    let manifest = manifest.canonicalize().unwrap_or(manifest);
    let package = metadata["packages"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["manifest_path"].as_str().map(Path::new) == Some(manifest.as_path()))
        .ok_or_else(|| failed(format!("no package with manifest {}", manifest.display())))?;
    let name = package["name"].as_str().unwrap_or_default().to_owned();
    let lib = package["targets"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|t| t["kind"].as_array().is_some_and(|kinds| kinds.iter().any(|k| k == "cdylib")));
    let Some(lib) = lib.and_then(|t| t["name"].as_str()) else {
        return Err(BuildError::NotAPlugin { krate: name });
    };
    Ok((name, lib.replace('-', "_"), target_dir))
}

fn build_uncached(dir: &Path) -> Result<PathBuf, BuildError> {
    let (krate, lib, target_dir) = package_of(dir)?;
    let target_dir = target_dir.join("driftless-plugin-test");
    let mut cmd = driftless_wasm_build::cargo_for_wasm();
    cmd.args(["build", "--release", "--target", TARGET, "--manifest-path"])
        .arg(dir.join("Cargo.toml"))
        .args(["-p", &krate, "--target-dir"])
        .arg(&target_dir);
    let output =
        cmd.output().map_err(|e| BuildError::Spawn { krate: krate.clone(), reason: e.to_string() })?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let lines: Vec<&str> = stderr.lines().collect();
        let hint = if stderr.contains("target may not be installed") {
            format!("\nhint: install the target with `rustup target add {TARGET}`")
        } else {
            String::new()
        };
        return Err(BuildError::Cargo {
            krate,
            status: output.status.to_string(),
            stderr: lines[lines.len().saturating_sub(40)..].join("\n"),
            hint,
        });
    }
    let path = target_dir.join(TARGET).join("release").join(format!("{lib}.wasm"));
    if !path.is_file() {
        return Err(BuildError::Missing { krate, path });
    }
    Ok(path)
}

/// Why a compiled plugin could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The crate did not build.
    #[error(transparent)]
    Build(#[from] BuildError),
    /// The component could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The component.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The host refused it or could not run it (wrong kind, contract, capabilities, ...).
    #[error(transparent)]
    Host(#[from] PluginError),
}

/// A compiled plugin loaded in the real host; dereferences to the host's plugin type.
pub struct Compiled<P> {
    plugin: P,
    wasm: Arc<[u8]>,
    // Keeps the epoch ticker that enforces call deadlines running.
    host: PluginHost,
}

impl<P: std::fmt::Debug> std::fmt::Debug for Compiled<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Compiled")
            .field("plugin", &self.plugin)
            .field("host", &self.host)
            .finish_non_exhaustive()
    }
}

impl<P> Deref for Compiled<P> {
    type Target = P;
    fn deref(&self) -> &P {
        &self.plugin
    }
}

impl<P> Compiled<P> {
    /// The component's bytes, as loaded.
    #[must_use]
    pub fn wasm(&self) -> &[u8] {
        &self.wasm
    }

    /// The host it runs in (its limits).
    #[must_use]
    pub fn host(&self) -> &PluginHost {
        &self.host
    }
}

/// Where the component comes from.
#[derive(Debug, Clone)]
enum Source {
    Crate(PathBuf),
    Bytes(String, Vec<u8>),
}

/// Load a compiled plugin with limits other than the defaults, grants, or patched bytes.
///
/// ```no_run
/// use std::time::Duration;
/// use driftless_plugin_sdk::testing::compiled::{Limits, Loader};
///
/// let limits = Limits { timeout: Duration::from_millis(200), memory: 32 << 20 };
/// let backend = Loader::new(env!("CARGO_MANIFEST_DIR"))
///     .limits(limits)
///     .grant("127.0.0.1:8200")
///     .secret_backend()
///     .unwrap();
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct Loader {
    source: Source,
    limits: Limits,
    grants: Vec<String>,
}

impl Loader {
    /// The plugin crate in `manifest_dir`, built with [`build_plugin`].
    pub fn new(manifest_dir: impl AsRef<Path>) -> Self {
        Self::from_source(Source::Crate(manifest_dir.as_ref().to_path_buf()))
    }

    /// A component's bytes (for instance [`build_plugin`]'s output, patched); `label` names it
    /// in errors.
    pub fn from_wasm(label: impl Into<String>, wasm: Vec<u8>) -> Self {
        Self::from_source(Source::Bytes(label.into(), wasm))
    }

    fn from_source(source: Source) -> Self {
        Self { source, limits: Limits::default(), grants: Vec::new() }
    }

    /// Calls run under `limits` (default: [`Limits::default`], as `driftless` uses).
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Grant outbound HTTP to `host` (`host` or `host:port`), for a secret backend.
    pub fn grant(mut self, host: impl Into<String>) -> Self {
        self.grants.push(host.into());
        self
    }

    /// The component's label and bytes, and a host with the limits.
    fn prepare(&self) -> Result<(String, Arc<[u8]>, PluginHost), LoadError> {
        let (label, wasm) = match &self.source {
            Source::Crate(dir) => {
                let path = build_plugin(dir)?;
                let wasm =
                    std::fs::read(&path).map_err(|source| LoadError::Read { path: path.clone(), source })?;
                (path.display().to_string(), wasm)
            }
            Source::Bytes(label, wasm) => (label.clone(), wasm.clone()),
        };
        let host = PluginHost::new(self.limits)?;
        Ok((label, wasm.into(), host))
    }

    /// Load it as a health plugin.
    ///
    /// # Errors
    /// [`LoadError`].
    pub fn health(self) -> Result<Compiled<HealthPlugin>, LoadError> {
        let (label, wasm, host) = self.prepare()?;
        let plugin = host.load_health(&label, &wasm)?;
        Ok(Compiled { plugin, wasm, host })
    }

    /// Load it as a renderer.
    ///
    /// # Errors
    /// [`LoadError`].
    pub fn renderer(self) -> Result<Compiled<RendererPlugin>, LoadError> {
        let (label, wasm, host) = self.prepare()?;
        let plugin = host.load_renderer(&label, &wasm)?;
        Ok(Compiled { plugin, wasm, host })
    }

    /// Load it as a policy.
    ///
    /// # Errors
    /// [`LoadError`].
    pub fn policy(self) -> Result<Compiled<PolicyPlugin>, LoadError> {
        let (label, wasm, host) = self.prepare()?;
        let plugin = host.load_policy(&label, &wasm)?;
        Ok(Compiled { plugin, wasm, host })
    }

    /// Load it as a secret backend, granted the hosts given with [`Loader::grant`].
    ///
    /// # Errors
    /// [`LoadError`]; [`PluginError::Refused`] when it declares a host not granted.
    pub fn secret_backend(self) -> Result<Compiled<SecretBackendPlugin>, LoadError> {
        let (label, wasm, host) = self.prepare()?;
        let grants: Vec<&str> = self.grants.iter().map(String::as_str).collect();
        let plugin = host.load_secret_backend(&label, &wasm, &grants)?;
        Ok(Compiled { plugin, wasm, host })
    }
}

/// Build the health plugin crate in `manifest_dir` and load it with the default limits.
///
/// # Errors
/// [`LoadError`].
pub fn health(manifest_dir: impl AsRef<Path>) -> Result<Compiled<HealthPlugin>, LoadError> {
    Loader::new(manifest_dir).health()
}

/// Build the renderer crate in `manifest_dir` and load it with the default limits.
///
/// # Errors
/// [`LoadError`].
pub fn renderer(manifest_dir: impl AsRef<Path>) -> Result<Compiled<RendererPlugin>, LoadError> {
    Loader::new(manifest_dir).renderer()
}

/// Build the policy crate in `manifest_dir` and load it with the default limits.
///
/// # Errors
/// [`LoadError`].
pub fn policy(manifest_dir: impl AsRef<Path>) -> Result<Compiled<PolicyPlugin>, LoadError> {
    Loader::new(manifest_dir).policy()
}

/// Build the secret backend crate in `manifest_dir` and load it with the default limits,
/// granted `hosts`.
///
/// # Errors
/// [`LoadError`].
pub fn secret_backend(
    manifest_dir: impl AsRef<Path>,
    hosts: &[&str],
) -> Result<Compiled<SecretBackendPlugin>, LoadError> {
    hosts.iter().fold(Loader::new(manifest_dir), |loader, host| loader.grant(*host)).secret_backend()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_that_is_not_a_crate_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let err = build_plugin(dir.path()).unwrap_err();
        assert!(matches!(err, BuildError::Metadata { .. }), "{err:?}");
        assert!(err.to_string().contains("cannot read the plugin crate at"), "{err}");
    }

    #[test]
    fn a_crate_that_does_not_compile_is_named() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("src")).unwrap();
        std::fs::write(
            dir.path().join("Cargo.toml"),
            "[package]\nname = \"broken-plugin\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n[lib]\ncrate-type = [\"cdylib\"]\n\n[workspace]\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("src/lib.rs"), "pub fn f() -> u32 { \"not a number\" }\n").unwrap();
        let err = build_plugin(dir.path()).unwrap_err();
        let BuildError::Cargo { krate, stderr, .. } = &err else { panic!("{err:?}") };
        assert_eq!(krate, "broken-plugin");
        assert!(stderr.contains("mismatched types"), "{stderr}");
        assert!(
            err.to_string().starts_with("building crate `broken-plugin` for wasm32-wasip2 failed"),
            "{err}"
        );
    }

    #[test]
    fn a_crate_without_cdylib_is_not_a_plugin() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("src")).unwrap();
        std::fs::write(
            dir.path().join("Cargo.toml"),
            "[package]\nname = \"plain-lib\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n[workspace]\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("src/lib.rs"), "").unwrap();
        let err = build_plugin(dir.path()).unwrap_err();
        assert!(matches!(&err, BuildError::NotAPlugin { krate } if krate == "plain-lib"), "{err:?}");
    }
}
