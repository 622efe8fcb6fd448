//! The plugin host: runs driftless plugins (WebAssembly components) in a sandbox.
//!
//! A plugin gets nothing ambient. A renderer sees one directory, the render root, read-only at
//! [`GUEST_ROOT`]; no other files, no environment variables, no network, no stdout (its stderr
//! is kept, bounded, to explain a crash). Every call runs under a wall-clock deadline enforced
//! with epochs that a background thread really ticks, and every store has a memory cap. A plugin
//! that traps, loops or over-allocates fails its own call with an error naming it; the host and
//! other plugins carry on.
//!
//! Components are compiled once per [`PluginHost::load_renderer`] and instantiated from an
//! `InstancePre` with a fresh `Store` per call.
//!
//! Entry points: [`PluginHost::new`], [`PluginHost::load_renderer`], [`RendererPlugin::render`].
//! Only the renderer world is hosted so far.

mod error;
mod ticker;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use driftless_core::Object;
use serde_json::{Map, Value};
use wasmtime::component::{Component, HasSelf, Linker, ResourceTable};
use wasmtime::{Config, Engine, ResourceLimiter, Store, Trap};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxView, WasiView};

pub use error::{ErrorClass, PluginError};
use ticker::EpochTicker;

/// The contract version this host implements: the version of the `driftless:plugin` WIT
/// package. Plugins built for another minor version (0.x) are refused.
pub const CONTRACT_VERSION: &str = "0.1.0";

/// Where a renderer finds the render root inside its sandbox.
pub const GUEST_ROOT: &str = "/src";

/// Bindings generated from `sdk/wit`.
#[allow(missing_docs, clippy::all)]
mod bindings {
    wasmtime::component::bindgen!({
        path: "../../sdk/wit",
        world: "driftless:plugin/renderer",
    });
}

use bindings::driftless::plugin::{host as wit_host, types as wit_types};

/// Limits every plugin call runs under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Wall-clock time one call may take before it is stopped.
    pub timeout: Duration,
    /// Most linear memory one plugin instance may use, in bytes.
    pub memory: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self { timeout: Duration::from_secs(1), memory: 256 << 20 }
    }
}

/// How often the epoch advances: the granularity of deadlines.
const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Most bytes of a plugin's stderr kept for error messages.
const STDERR_CAPACITY: usize = 64 << 10;

/// Most log lines one call may write; later lines are dropped, with one warning.
const MAX_LOG_LINES: u32 = 1_000;

/// Longest log line kept, in bytes.
const MAX_LOG_LINE: usize = 4 << 10;

/// Runs plugins. One per process is enough: it owns the compiler and the epoch ticker.
pub struct PluginHost {
    engine: Engine,
    linker: Arc<Linker<State>>,
    limits: Limits,
    _ticker: EpochTicker,
}

impl std::fmt::Debug for PluginHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginHost").field("limits", &self.limits).finish_non_exhaustive()
    }
}

impl PluginHost {
    /// A host whose plugin calls run under `limits`.
    ///
    /// # Errors
    /// [`PluginError::Host`] when the WebAssembly engine cannot be set up.
    pub fn new(limits: Limits) -> Result<Self, PluginError> {
        let mut config = Config::new();
        config.wasm_component_model(true).epoch_interruption(true).max_wasm_stack(1 << 20);
        let engine = Engine::new(&config).map_err(|e| PluginError::Host(format!("{e:#}")))?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)
            .map_err(|e| PluginError::Host(format!("{e:#}")))?;
        wit_host::add_to_linker::<State, HasSelf<State>>(&mut linker, |s| s)
            .map_err(|e| PluginError::Host(format!("{e:#}")))?;
        let ticker = EpochTicker::start(engine.clone(), EPOCH_TICK);
        Ok(Self { engine, linker: Arc::new(linker), limits, _ticker: ticker })
    }

    /// The limits plugin calls run under.
    #[must_use]
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Compile and check a renderer plugin. `label` names the plugin in errors until its own
    /// metadata is read (a built-in name or the file's path).
    ///
    /// # Errors
    /// [`PluginError::Invalid`] when the bytes are not a component, do not implement the
    /// renderer world, or import what the host does not offer; [`PluginError::Refused`] when
    /// its metadata says it is not a renderer, was built for another contract version, or asks
    /// for capabilities a renderer is not granted; call errors from `metadata`.
    pub fn load_renderer(&self, label: &str, wasm: &[u8]) -> Result<RendererPlugin, PluginError> {
        let started = Instant::now();
        let invalid =
            |e: wasmtime::Error| PluginError::Invalid { plugin: label.to_owned(), reason: format!("{e:#}") };
        let component = Component::new(&self.engine, wasm).map_err(invalid)?;
        let pre = self.linker.instantiate_pre(&component).map_err(invalid)?;
        let pre = bindings::RendererPre::new(pre).map_err(invalid)?;
        let compiled = started.elapsed();

        let mut plugin = RendererPlugin {
            label: label.to_owned(),
            metadata: PluginMetadata {
                name: label.to_owned(),
                version: String::new(),
                contract: String::new(),
            },
            pre,
            engine: self.engine.clone(),
            limits: self.limits,
        };
        let metadata =
            plugin.call(None, |bindings, store| bindings.driftless_plugin_plugin().call_metadata(store))?;
        check_metadata(label, &metadata)?;
        plugin.metadata =
            PluginMetadata { name: metadata.name, version: metadata.version, contract: metadata.contract };
        tracing::debug!(
            plugin = %plugin.metadata.name,
            version = %plugin.metadata.version,
            compile_ms = compiled.as_secs_f64() * 1e3,
            "loaded renderer"
        );
        Ok(plugin)
    }
}

fn check_metadata(label: &str, metadata: &wit_types::PluginMetadata) -> Result<(), PluginError> {
    let refused = |reason: String| PluginError::Refused { plugin: label.to_owned(), reason };
    if metadata.kind != wit_types::PluginKind::Renderer {
        return Err(refused(format!(
            "it says it is a {:?} plugin, but it was loaded as a renderer",
            metadata.kind
        )));
    }
    if !contract_compatible(&metadata.contract) {
        return Err(refused(format!(
            "it was built for plugin contract {}, and this host supports {CONTRACT_VERSION}",
            if metadata.contract.is_empty() { "(none)" } else { &metadata.contract }
        )));
    }
    for capability in &metadata.capabilities {
        match capability {
            wit_types::Capability::CheckoutRead => {}
            wit_types::Capability::OutboundHttp(host) => {
                return Err(refused(format!(
                    "it asks for outbound HTTP to `{host}`, which renderers are never granted"
                )));
            }
        }
    }
    if metadata.name.is_empty()
        || !metadata.name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err(refused(format!(
            "its name `{}` is not lowercase letters, digits and `-`",
            metadata.name
        )));
    }
    Ok(())
}

/// Same major version, and for 0.x the same minor version.
fn contract_compatible(version: &str) -> bool {
    let parse = |v: &str| -> Option<(u64, u64)> {
        let mut parts = v.split('.');
        let major = parts.next()?.parse().ok()?;
        let minor = parts.next()?.parse().ok()?;
        Some((major, minor))
    };
    match (parse(version), parse(CONTRACT_VERSION)) {
        (Some((0, a)), Some((0, b))) => a == b,
        (Some((a, _)), Some((b, _))) => a == b,
        _ => false,
    }
}

/// What a plugin says about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginMetadata {
    /// Its name.
    pub name: String,
    /// Its own version.
    pub version: String,
    /// The contract version it was built for.
    pub contract: String,
}

/// A compiled, checked renderer, ready to be called any number of times (each call in a fresh
/// sandbox).
pub struct RendererPlugin {
    label: String,
    metadata: PluginMetadata,
    pre: bindings::RendererPre<State>,
    engine: Engine,
    limits: Limits,
}

impl std::fmt::Debug for RendererPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RendererPlugin")
            .field("label", &self.label)
            .field("metadata", &self.metadata)
            .finish_non_exhaustive()
    }
}

/// The state of one sandbox.
struct State {
    wasi: WasiCtx,
    table: ResourceTable,
    limiter: MemoryLimiter,
    plugin: Arc<str>,
    log_lines: u32,
}

impl WasiView for State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl wit_host::Host for State {
    fn log(&mut self, level: wit_host::Level, message: String) {
        self.log_lines += 1;
        if self.log_lines > MAX_LOG_LINES {
            if self.log_lines == MAX_LOG_LINES + 1 {
                tracing::warn!(plugin = %self.plugin, "plugin logged more than {MAX_LOG_LINES} lines; dropping the rest");
            }
            return;
        }
        let mut message = message;
        if message.len() > MAX_LOG_LINE {
            let mut cut = MAX_LOG_LINE;
            while !message.is_char_boundary(cut) {
                cut -= 1;
            }
            message.truncate(cut);
            message.push_str(" [truncated]");
        }
        let plugin = &*self.plugin;
        match level {
            wit_host::Level::Trace => tracing::trace!(plugin, "{message}"),
            wit_host::Level::Debug => tracing::debug!(plugin, "{message}"),
            wit_host::Level::Info => tracing::info!(plugin, "{message}"),
            wit_host::Level::Warn => tracing::warn!(plugin, "{message}"),
            wit_host::Level::Error => tracing::error!(plugin, "{message}"),
        }
    }
}

impl wit_types::Host for State {}

/// Caps linear memory and tables, and remembers whether it refused to grow memory so a
/// resulting trap can be reported as what it is.
struct MemoryLimiter {
    limit: usize,
    refused: bool,
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.limit {
            self.refused = true;
            return Ok(false);
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 1 << 20)
    }
}

impl RendererPlugin {
    /// The plugin's own metadata.
    #[must_use]
    pub fn metadata(&self) -> &PluginMetadata {
        &self.metadata
    }

    /// Render the directory `path` (relative, `/`-separated, `.` for the root) inside `root`,
    /// which the plugin sees read-only at [`GUEST_ROOT`]. `params` are the renderer
    /// parameters.
    ///
    /// # Errors
    /// [`PluginError::Input`] when the plugin rejects its input (with the file and line it
    /// names); [`PluginError::Timeout`], [`PluginError::MemoryLimit`] or [`PluginError::Trap`]
    /// when it misbehaves; [`PluginError::BadOutput`] when what it returns is not Kubernetes
    /// objects; [`PluginError::Host`] when `root` cannot be opened.
    pub fn render(
        &self,
        root: &Path,
        path: &str,
        params: &Map<String, Value>,
    ) -> Result<Vec<Object>, PluginError> {
        let request = bindings::exports::driftless::plugin::render::RenderRequest {
            root: GUEST_ROOT.to_owned(),
            path: path.to_owned(),
            params: Value::Object(params.clone()).to_string(),
        };
        let output = self.call(Some(root), |bindings, store| {
            bindings.driftless_plugin_render().call_render(store, &request)
        })?;
        let texts = output.map_err(|e| PluginError::Input {
            plugin: self.metadata.name.clone(),
            message: e.message,
            file: e.file,
            line: e.line,
        })?;
        texts
            .into_iter()
            .enumerate()
            .map(|(index, text)| {
                let bad = |reason: String| PluginError::BadOutput {
                    plugin: self.metadata.name.clone(),
                    index,
                    reason,
                };
                let value: Value = serde_json::from_str(&text).map_err(|e| bad(format!("not JSON: {e}")))?;
                Object::from_value(value).map_err(|e| bad(e.to_string()))
            })
            .collect()
    }

    /// Run `f` against a fresh instance in a fresh store, under the limits.
    fn call<R>(
        &self,
        root: Option<&Path>,
        f: impl FnOnce(&bindings::Renderer, &mut Store<State>) -> wasmtime::Result<R>,
    ) -> Result<R, PluginError> {
        let plugin = self.metadata.name.clone();
        let stderr = MemoryOutputPipe::new(STDERR_CAPACITY);
        let mut wasi = WasiCtx::builder();
        wasi.stderr(stderr.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .socket_addr_check(|_, _| Box::pin(async { false }));
        if let Some(root) = root {
            wasi.preopened_dir(root, GUEST_ROOT, FsPerms::ReadOnly).map_err(|e| {
                PluginError::Host(format!("cannot open the render root {}: {e:#}", root.display()))
            })?;
        }
        let state = State {
            wasi: wasi.build(),
            table: ResourceTable::new(),
            limiter: MemoryLimiter { limit: self.limits.memory, refused: false },
            plugin: Arc::from(plugin.as_str()),
            log_lines: 0,
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limiter);
        let ticks = self.limits.timeout.as_millis().div_ceil(EPOCH_TICK.as_millis()) + 1;
        store.set_epoch_deadline(u64::try_from(ticks).unwrap_or(u64::MAX));

        let started = Instant::now();
        let result = self.pre.instantiate(&mut store).and_then(|bindings| f(&bindings, &mut store));
        let elapsed = started.elapsed();
        result.map_err(|e| {
            let stderr = String::from_utf8_lossy(&stderr.contents()).trim().to_owned();
            if !stderr.is_empty() {
                tracing::debug!(plugin = %plugin, %stderr, "plugin stderr");
            }
            if store.data().limiter.refused {
                PluginError::MemoryLimit { plugin, limit: self.limits.memory }
            } else if e.downcast_ref::<Trap>() == Some(&Trap::Interrupt) {
                PluginError::Timeout { plugin, limit: self.limits.timeout, elapsed }
            } else {
                // The trap itself; the wasm backtrace goes to the debug log.
                tracing::debug!(plugin = %plugin, error = ?e, "plugin call failed");
                let message = match e.downcast_ref::<Trap>() {
                    Some(trap) => trap.to_string(),
                    None => e.root_cause().to_string(),
                };
                PluginError::Trap { plugin, message, stderr: last_lines(&stderr, 5) }
            }
        })
    }
}

/// The last `n` lines of `text`, where a panic message is, without Rust's backtrace hint.
fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> =
        text.lines().filter(|l| !l.starts_with("note: run with `RUST_BACKTRACE=1`")).collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contract_versions_match_on_minor_for_0_x() {
        assert!(contract_compatible("0.1.0"));
        assert!(contract_compatible("0.1.7"));
        assert!(!contract_compatible("0.2.0"));
        assert!(!contract_compatible("1.1.0"));
        assert!(!contract_compatible(""));
        assert!(!contract_compatible("x.y"));
    }

    #[test]
    fn the_contract_version_is_the_wit_package_version() {
        let wit = include_str!("../../../sdk/wit/types.wit");
        assert!(wit.contains(&format!("package driftless:plugin@{CONTRACT_VERSION};")));
    }

    #[test]
    fn last_lines_keeps_the_tail() {
        assert_eq!(last_lines("a\nb\nc\n", 2), "b\nc");
        assert_eq!(last_lines("", 2), "");
    }
}
