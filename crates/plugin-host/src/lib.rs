//! The plugin host: runs driftless plugins (WebAssembly components) in a sandbox.
//!
//! A plugin gets nothing ambient. A renderer sees one directory, the render root, read-only at
//! [`GUEST_ROOT`]; health and policy plugins see no files at all. No environment variables, no
//! network, no stdout (stderr is kept, bounded, to explain a crash). Every call runs under a
//! wall-clock deadline enforced with epochs that a background thread really ticks, and every
//! store has a memory cap. A plugin that traps, loops or over-allocates fails its own call
//! with an error naming it; the host and other plugins carry on.
//!
//! Components are compiled once per content hash (kept in memory, and on disk as precompiled
//! artifacts when a cache directory is configured), checked through their `metadata` function
//! (kind, contract version, capabilities), pre-linked into an `InstancePre`, and instantiated
//! in a fresh `Store` for every call — one call per batch of objects.
//!
//! Secret backends are the one exception to "no network": they are linked with `wasi:http`
//! (outgoing requests only; `wasi:sockets` stays denied), and their requests reach only the
//! hosts they declare with `outbound-http` capabilities — each of which the operator must
//! grant, or the plugin is not loaded. What they resolve comes back as [`SecretValue`]s, which
//! never print.
//!
//! Entry points: [`PluginHost::new`], then [`PluginHost::load_renderer`] /
//! [`PluginHost::load_health`] / [`PluginHost::load_policy`] /
//! [`PluginHost::load_secret_backend`], and [`PluginHost::inspect`].

/// A plugin kind's handle: the loaded component and its world's pre-instantiation, a `Debug`
/// that shows the metadata, a constructor that checks the component against the world, and
/// `metadata()`.
macro_rules! plugin_handle {
    ($(#[$doc:meta])* $name:ident, $pre:ident) => {
        $(#[$doc])*
        pub struct $name {
            loaded: $crate::Loaded,
            pre: $pre<$crate::sandbox::State>,
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($name)).field("metadata", &self.loaded.metadata).finish_non_exhaustive()
            }
        }

        impl $name {
            pub(crate) fn new(loaded: $crate::Loaded) -> Result<Self, $crate::PluginError> {
                let pre = $pre::new(loaded.pre.clone()).map_err(|e| $crate::PluginError::Invalid {
                    plugin: loaded.label.clone(),
                    reason: format!("{e:#}"),
                })?;
                Ok(Self { loaded, pre })
            }

            /// The plugin's own metadata.
            #[must_use]
            pub fn metadata(&self) -> &$crate::PluginMetadata {
                &self.loaded.metadata
            }
        }
    };
}

mod cache;
mod error;
mod health;
mod http;
mod inspect;
mod policy;
mod renderer;
mod sandbox;
pub mod scaffold;
mod secrets;
mod ticker;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmtime::component::{Component, HasSelf, InstancePre, Linker};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

pub use cache::CacheOutcome;
pub use error::{ErrorClass, PluginError};
pub use health::{Health, HealthPlugin, HealthStatus};
pub use inspect::Inspection;
pub use policy::{Decision, Operation, PolicyPlugin, Review, Violation};
pub use renderer::RendererPlugin;
use sandbox::{Access, State};
pub use secrets::{SecretBackendPlugin, SecretReference, SecretValue};
use ticker::EpochTicker;

/// The contract version this host implements: the version of the `driftless:plugin` WIT
/// package. Plugins built for another minor version (0.x) are refused.
pub const CONTRACT_VERSION: &str = "0.1.0";

/// Where a renderer finds the render root inside its sandbox.
pub const GUEST_ROOT: &str = "/src";

/// Bindings generated from `sdk/wit`, one module per world, sharing the types and host
/// interfaces.
#[allow(missing_docs, clippy::all)]
pub(crate) mod bindings {
    pub mod base {
        wasmtime::component::bindgen!({
            path: "../../sdk/wit",
            world: "driftless:plugin/plugin-base",
        });
    }
    pub use base::driftless::plugin::{host, types};

    pub mod renderer {
        wasmtime::component::bindgen!({
            path: "../../sdk/wit",
            world: "driftless:plugin/renderer",
            with: {
                "driftless:plugin/types": crate::bindings::types,
                "driftless:plugin/host": crate::bindings::host,
            },
        });
    }

    pub mod health {
        wasmtime::component::bindgen!({
            path: "../../sdk/wit",
            world: "driftless:plugin/health",
            with: {
                "driftless:plugin/types": crate::bindings::types,
                "driftless:plugin/host": crate::bindings::host,
            },
        });
    }

    pub mod policy {
        wasmtime::component::bindgen!({
            path: "../../sdk/wit",
            world: "driftless:plugin/policy",
            with: {
                "driftless:plugin/types": crate::bindings::types,
                "driftless:plugin/host": crate::bindings::host,
            },
        });
    }

    pub mod secrets {
        wasmtime::component::bindgen!({
            path: "../../sdk/wit",
            world: "driftless:plugin/secret-backend",
            with: {
                "driftless:plugin/types": crate::bindings::types,
                "driftless:plugin/host": crate::bindings::host,
            },
        });
    }
}

use bindings::types as wit;

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

/// How plugin instances get their linear memories, tables and instance state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Allocator {
    /// `mmap` on every instantiation, `munmap` after: wasmtime's default.
    #[default]
    OnDemand,
    /// Slots reserved once per host and reused (wasmtime's pooling allocator), sized for
    /// [`POOL_INSTANCES`] concurrent calls with linear memories of at most the memory limit.
    Pooling,
}

/// Concurrent plugin calls the pooling allocator has room for.
pub const POOL_INSTANCES: u32 = 64;

/// The kinds of plugin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PluginKind {
    /// Renders a checkout into objects.
    Renderer,
    /// Assesses the health of live objects.
    Health,
    /// Resolves secret references.
    SecretBackend,
    /// Judges objects before they are applied.
    Policy,
}

impl std::fmt::Display for PluginKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PluginKind::Renderer => "renderer",
            PluginKind::Health => "health",
            PluginKind::SecretBackend => "secret-backend",
            PluginKind::Policy => "policy",
        })
    }
}

/// A capability a plugin asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Capability {
    /// Read the checkout (renderers).
    CheckoutRead,
    /// Outbound HTTP(S) to one host.
    OutboundHttp(String),
}

impl std::fmt::Display for Capability {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Capability::CheckoutRead => f.write_str("checkout-read"),
            Capability::OutboundHttp(host) => write!(f, "outbound-http({host})"),
        }
    }
}

/// What a plugin says about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginMetadata {
    /// Its name.
    pub name: String,
    /// Its kind.
    pub kind: PluginKind,
    /// Its own version.
    pub version: String,
    /// The contract version it was built for.
    pub contract: String,
    /// What it asks for.
    pub capabilities: Vec<Capability>,
}

impl From<wit::PluginMetadata> for PluginMetadata {
    fn from(m: wit::PluginMetadata) -> Self {
        Self {
            name: m.name,
            kind: match m.kind {
                wit::PluginKind::Renderer => PluginKind::Renderer,
                wit::PluginKind::Health => PluginKind::Health,
                wit::PluginKind::SecretBackend => PluginKind::SecretBackend,
                wit::PluginKind::Policy => PluginKind::Policy,
            },
            version: m.version,
            contract: m.contract,
            capabilities: m
                .capabilities
                .into_iter()
                .map(|c| match c {
                    wit::Capability::CheckoutRead => Capability::CheckoutRead,
                    wit::Capability::OutboundHttp(host) => Capability::OutboundHttp(host),
                })
                .collect(),
        }
    }
}

/// Runs plugins. One per process is enough: it owns the compiler, the compiled-component cache
/// and the epoch ticker.
pub struct PluginHost {
    engine: Engine,
    /// WASI without sockets or HTTP: renderers, health checks, policies.
    linker: Arc<Linker<State>>,
    /// The same, plus outgoing `wasi:http`: secret backends.
    http_linker: Arc<Linker<State>>,
    limits: Limits,
    cache: cache::SharedCache,
    _ticker: EpochTicker,
}

impl std::fmt::Debug for PluginHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginHost").field("limits", &self.limits).finish_non_exhaustive()
    }
}

/// A component compiled, linked and checked, before it is wrapped as its kind.
pub(crate) struct Loaded {
    pub(crate) label: String,
    pub(crate) metadata: PluginMetadata,
    pub(crate) pre: InstancePre<State>,
    pub(crate) engine: Engine,
    pub(crate) limits: Limits,
    pub(crate) hash: String,
    /// The hosts its HTTP requests may reach (secret backends only).
    pub(crate) http: Option<Arc<[http::Authority]>>,
}

impl Loaded {
    /// Run one sandboxed call; see [`sandbox::call`].
    pub(crate) fn call<B, R>(
        &self,
        root: Option<&Path>,
        instantiate: impl FnOnce(&mut wasmtime::Store<State>) -> wasmtime::Result<B>,
        f: impl FnOnce(&B, &mut wasmtime::Store<State>) -> wasmtime::Result<R>,
    ) -> Result<R, PluginError> {
        let access = Access { root, http: self.http.clone(), confidential: self.http.is_some() };
        sandbox::call(&self.engine, &self.metadata.name, self.limits, &access, instantiate, f)
    }
}

impl PluginHost {
    /// A host whose plugin calls run under `limits`, with no on-disk cache.
    ///
    /// # Errors
    /// [`PluginError::Host`] when the WebAssembly engine cannot be set up.
    pub fn new(limits: Limits) -> Result<Self, PluginError> {
        Self::with_cache(limits, None)
    }

    /// A host that also keeps precompiled components in `cache_dir` (created, mode 0700), so a
    /// restart does not compile again. A directory other users can write to is not used.
    ///
    /// # Errors
    /// [`PluginError::Host`] when the WebAssembly engine cannot be set up.
    pub fn with_cache(limits: Limits, cache_dir: Option<&Path>) -> Result<Self, PluginError> {
        Self::with_allocator(limits, cache_dir, Allocator::default())
    }

    /// A host as [`PluginHost::with_cache`], with instances allocated by `allocator`.
    ///
    /// # Errors
    /// [`PluginError::Host`] when the WebAssembly engine cannot be set up (for the pooling
    /// allocator: when its address space cannot be reserved).
    pub fn with_allocator(
        limits: Limits,
        cache_dir: Option<&Path>,
        allocator: Allocator,
    ) -> Result<Self, PluginError> {
        let host_err = |e: wasmtime::Error| PluginError::Host(format!("{e:#}"));
        let mut config = Config::new();
        config.wasm_component_model(true).epoch_interruption(true).max_wasm_stack(1 << 20);
        if allocator == Allocator::Pooling {
            let mut pool = PoolingAllocationConfig::new();
            // A Rust component holds a few core instances (the program, shims), one memory and
            // a few tables.
            pool.total_component_instances(POOL_INSTANCES)
                .total_core_instances(POOL_INSTANCES * 8)
                .total_memories(POOL_INSTANCES * 2)
                .total_tables(POOL_INSTANCES * 8)
                .max_memory_size(limits.memory)
                // Reuse the first MiB of a slot without giving its pages back.
                .linear_memory_keep_resident(1 << 20)
                .table_keep_resident(64 << 10);
            config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        }
        let engine = Engine::new(&config).map_err(host_err)?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker).map_err(host_err)?;
        bindings::host::add_to_linker::<State, HasSelf<State>>(&mut linker, |s| s).map_err(host_err)?;
        bindings::types::add_to_linker::<State, HasSelf<State>>(&mut linker, |s| s).map_err(host_err)?;
        let mut http_linker = linker.clone();
        wasmtime_wasi_http::p2::add_only_http_to_linker_sync(&mut http_linker).map_err(host_err)?;
        let cache = Arc::new(cache::ComponentCache::new(&engine, cache_dir));
        let ticker = EpochTicker::start(engine.clone(), sandbox::EPOCH_TICK);
        Ok(Self {
            engine,
            linker: Arc::new(linker),
            http_linker: Arc::new(http_linker),
            limits,
            cache,
            _ticker: ticker,
        })
    }

    /// The default on-disk cache directory: `$DRIFTLESS_CACHE_DIR`, else
    /// `$XDG_CACHE_HOME/driftless/plugins`, else `~/.cache/driftless/plugins`.
    #[must_use]
    pub fn default_cache_dir() -> Option<PathBuf> {
        if let Some(dir) = std::env::var_os("DRIFTLESS_CACHE_DIR") {
            return Some(PathBuf::from(dir));
        }
        let base = std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))?;
        Some(base.join("driftless").join("plugins"))
    }

    /// The limits plugin calls run under.
    #[must_use]
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Compile (or fetch from the cache), link, and read the metadata of a component.
    fn compile(
        &self,
        label: &str,
        wasm: &[u8],
        kind: PluginKind,
    ) -> Result<(Component, InstancePre<State>, String, CacheOutcome), PluginError> {
        let invalid =
            |e: wasmtime::Error| PluginError::Invalid { plugin: label.to_owned(), reason: format!("{e:#}") };
        let hash = cache::content_hash(wasm);
        let (component, outcome) = self.cache.get(&self.engine, &hash, wasm).map_err(invalid)?;
        let linker = if kind == PluginKind::SecretBackend { &self.http_linker } else { &self.linker };
        let pre = linker.instantiate_pre(&component).map_err(invalid)?;
        Ok((component, pre, hash, outcome))
    }

    fn read_metadata(&self, label: &str, pre: &InstancePre<State>) -> Result<PluginMetadata, PluginError> {
        let base = bindings::base::PluginBasePre::new(pre.clone())
            .map_err(|e| PluginError::Invalid { plugin: label.to_owned(), reason: format!("{e:#}") })?;
        let metadata = sandbox::call(
            &self.engine,
            label,
            self.limits,
            &Access::default(),
            |store| base.instantiate(store),
            |bindings, store| bindings.call_metadata(store),
        )?;
        Ok(metadata.into())
    }

    /// Load a component as a plugin of `kind`, granted `grants`.
    fn load(
        &self,
        label: &str,
        wasm: &[u8],
        kind: PluginKind,
        grants: &[Capability],
    ) -> Result<Loaded, PluginError> {
        let started = Instant::now();
        let (_component, pre, hash, outcome) = self.compile(label, wasm, kind)?;
        let compiled = started.elapsed();
        let metadata = self.read_metadata(label, &pre)?;
        check_metadata(label, &metadata, kind, grants)?;
        // What it may reach is what it asked for (all of it granted, as just checked), not
        // everything the operator granted.
        let http = (kind == PluginKind::SecretBackend).then(|| {
            metadata
                .capabilities
                .iter()
                .filter_map(|c| match c {
                    Capability::OutboundHttp(host) => http::Authority::parse(host),
                    Capability::CheckoutRead => None,
                })
                .collect::<Arc<[_]>>()
        });
        tracing::debug!(
            plugin = %metadata.name,
            version = %metadata.version,
            cache = ?outcome,
            compile_ms = compiled.as_secs_f64() * 1e3,
            "loaded {kind} plugin"
        );
        Ok(Loaded {
            label: label.to_owned(),
            metadata,
            pre,
            engine: self.engine.clone(),
            limits: self.limits,
            hash,
            http,
        })
    }

    /// Load a renderer. `label` names the plugin in errors until its own metadata is read (a
    /// built-in name or the file's path). Renderers are granted `checkout-read` only.
    ///
    /// # Errors
    /// [`PluginError::Invalid`] when the bytes are not a component implementing the renderer
    /// world with imports the host offers; [`PluginError::Refused`] when its metadata says it
    /// is another kind, was built for another contract version, or asks for more than it is
    /// granted; call errors from `metadata`.
    pub fn load_renderer(&self, label: &str, wasm: &[u8]) -> Result<RendererPlugin, PluginError> {
        let loaded = self.load(label, wasm, PluginKind::Renderer, &[Capability::CheckoutRead])?;
        RendererPlugin::new(loaded)
    }

    /// Load a health plugin, granted nothing. Errors as for [`PluginHost::load_renderer`].
    ///
    /// # Errors
    /// See [`PluginHost::load_renderer`].
    pub fn load_health(&self, label: &str, wasm: &[u8]) -> Result<HealthPlugin, PluginError> {
        let loaded = self.load(label, wasm, PluginKind::Health, &[])?;
        HealthPlugin::new(loaded)
    }

    /// Load a policy plugin, granted nothing. Errors as for [`PluginHost::load_renderer`].
    ///
    /// # Errors
    /// See [`PluginHost::load_renderer`].
    pub fn load_policy(&self, label: &str, wasm: &[u8]) -> Result<PolicyPlugin, PluginError> {
        let loaded = self.load(label, wasm, PluginKind::Policy, &[])?;
        PolicyPlugin::new(loaded)
    }

    /// Load a secret backend, granted outbound HTTP to `hosts` (each `host` or `host:port`;
    /// without a port, the scheme's default port). The plugin must declare every host it
    /// reaches with an `outbound-http` capability; at run time it reaches only those, and a
    /// request anywhere else fails its call with [`PluginError::Denied`].
    ///
    /// # Errors
    /// As for [`PluginHost::load_renderer`]; [`PluginError::Refused`] when it asks for a host
    /// that is not in `hosts` (naming both), or `hosts` holds something that is not
    /// `host[:port]`.
    pub fn load_secret_backend(
        &self,
        label: &str,
        wasm: &[u8],
        hosts: &[&str],
    ) -> Result<SecretBackendPlugin, PluginError> {
        let mut grants = Vec::with_capacity(hosts.len());
        for host in hosts {
            let authority = http::Authority::parse(host).ok_or_else(|| PluginError::Refused {
                plugin: label.to_owned(),
                reason: format!("the granted host `{host}` is not `host` or `host:port`"),
            })?;
            grants.push(Capability::OutboundHttp(authority.to_string()));
        }
        let loaded = self.load(label, wasm, PluginKind::SecretBackend, &grants)?;
        SecretBackendPlugin::new(loaded)
    }

    /// Describe a component: content hash, imports and exports, and — when it implements the
    /// plugin contract — its metadata.
    ///
    /// # Errors
    /// [`PluginError::Invalid`] when the bytes are not a component.
    pub fn inspect(&self, label: &str, wasm: &[u8]) -> Result<Inspection, PluginError> {
        inspect::inspect(self, label, wasm)
    }
}

fn check_metadata(
    label: &str,
    metadata: &PluginMetadata,
    kind: PluginKind,
    grants: &[Capability],
) -> Result<(), PluginError> {
    let refused = |reason: String| PluginError::Refused { plugin: label.to_owned(), reason };
    if metadata.kind != kind {
        return Err(refused(format!(
            "it says it is a {} plugin, but it was loaded as a {kind} plugin",
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
        // Host names compare without regard to case; a host that is not `host[:port]` is
        // never granted.
        let normalised = match capability {
            Capability::OutboundHttp(host) => {
                let Some(authority) = http::Authority::parse(host) else {
                    return Err(refused(format!(
                        "it asks for {capability}, which is not `host` or `host:port`"
                    )));
                };
                Capability::OutboundHttp(authority.to_string())
            }
            Capability::CheckoutRead => Capability::CheckoutRead,
        };
        if !grants.contains(&normalised) {
            let granted = if grants.is_empty() {
                "nothing".to_owned()
            } else {
                grants.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
            };
            return Err(refused(format!(
                "it asks for {capability}, which is not granted ({kind} plugins are granted {granted})"
            )));
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

/// JSON text for a plugin call, written straight from the value (no intermediate copies).
pub(crate) fn json_text<T: serde::Serialize + ?Sized>(value: &T) -> Result<String, PluginError> {
    serde_json::to_string(value)
        .map_err(|e| PluginError::Host(format!("cannot write JSON for a plugin call: {e}")))
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
    fn metadata_checks_name_both_sides() {
        let meta = |kind, contract: &str, capabilities| PluginMetadata {
            name: "p".into(),
            kind,
            version: "1.0.0".into(),
            contract: contract.into(),
            capabilities,
        };
        let err = check_metadata("x", &meta(PluginKind::Health, "0.1.0", vec![]), PluginKind::Renderer, &[])
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "plugin x refused: it says it is a health plugin, but it was loaded as a renderer plugin"
        );
        let err =
            check_metadata("x", &meta(PluginKind::Renderer, "0.2.0", vec![]), PluginKind::Renderer, &[])
                .unwrap_err();
        assert!(err.to_string().contains("contract 0.2.0, and this host supports 0.1.0"), "{err}");
        let greedy = meta(PluginKind::Health, "0.1.0", vec![Capability::CheckoutRead]);
        let err = check_metadata("x", &greedy, PluginKind::Health, &[]).unwrap_err();
        assert!(
            err.to_string().contains(
                "asks for checkout-read, which is not granted (health plugins are granted nothing)"
            ),
            "{err}"
        );
        assert!(
            check_metadata(
                "x",
                &meta(PluginKind::Renderer, "0.1.3", vec![Capability::CheckoutRead]),
                PluginKind::Renderer,
                &[Capability::CheckoutRead]
            )
            .is_ok()
        );
    }
}
