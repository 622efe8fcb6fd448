//! One sandboxed call: a fresh store with a WASI context that grants nothing but what the
//! caller passes, a memory cap, and an epoch deadline.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmtime::component::ResourceTable;
use wasmtime::{Engine, ResourceLimiter, Store, Trap, UpdateDeadline};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use crate::bindings::host as wit_host;
use crate::http::HttpGate;
use crate::{GUEST_ROOT, Limits, PluginError};

/// How often the epoch advances: the granularity of deadlines.
pub(crate) const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Most bytes of a plugin's stderr kept for error messages.
const STDERR_CAPACITY: usize = 64 << 10;

/// Most log lines one call may write; later lines are dropped, with one warning.
const MAX_LOG_LINES: u32 = 1_000;

/// Longest log line kept, in bytes.
const MAX_LOG_LINE: usize = 4 << 10;

/// The state of one sandbox.
pub(crate) struct State {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    gate: HttpGate,
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

/// Only secret backends are linked with `wasi:http`; their requests go through the gate, which
/// lets through only the hosts the plugin declared and the operator granted.
impl WasiHttpView for State {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView { ctx: &mut self.http, table: &mut self.table, hooks: &mut self.gate }
    }
}

/// What one call may reach beyond its own memory.
#[derive(Default)]
pub(crate) struct Access<'a> {
    /// Mounted read-only at [`GUEST_ROOT`].
    pub(crate) root: Option<&'a Path>,
    /// The hosts outbound HTTP may reach (`host[:port]`); empty: none.
    pub(crate) http: Option<Arc<[crate::http::Authority]>>,
    /// The call handles secrets: what the plugin wrote to stderr stays out of errors.
    pub(crate) confidential: bool,
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

impl crate::bindings::types::Host for State {}

/// Caps linear memory and tables, and remembers whether it refused to grow memory so that the
/// resulting trap is reported as what it is.
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

/// Run `f` in a fresh store under `limits`: instantiate with `instantiate`, then call. The
/// `access.root`, when given, is mounted read-only at [`GUEST_ROOT`]; HTTP requests may reach
/// the hosts in `access.http` (when the plugin is linked with `wasi:http` at all); nothing
/// else is granted.
pub(crate) fn call<B, R>(
    engine: &Engine,
    plugin: &str,
    limits: Limits,
    access: &Access<'_>,
    instantiate: impl FnOnce(&mut Store<State>) -> wasmtime::Result<B>,
    f: impl FnOnce(&B, &mut Store<State>) -> wasmtime::Result<R>,
) -> Result<R, PluginError> {
    let stderr = MemoryOutputPipe::new(STDERR_CAPACITY);
    let mut wasi = WasiCtx::builder();
    // Calls run synchronously on their own thread: file reads block it directly instead of
    // hopping to tokio's blocking pool for every operation (measured: 0.8 ms → see benchmarks
    // for the cost of a one-file render).
    wasi.allow_blocking_current_thread(true)
        .stderr(stderr.clone())
        .allow_tcp(false)
        .allow_udp(false)
        .allow_ip_name_lookup(false)
        .socket_addr_check(|_, _| Box::pin(async { false }));
    if let Some(root) = access.root {
        wasi.preopened_dir(root, GUEST_ROOT, FsPerms::ReadOnly).map_err(|e| {
            PluginError::Host(format!("cannot open the render root {}: {e:#}", root.display()))
        })?;
    }
    let started = Instant::now();
    let deadline = started + limits.timeout;
    let state = State {
        wasi: wasi.build(),
        http: WasiHttpCtx::new(),
        gate: HttpGate::new(plugin, access.http.clone().unwrap_or_else(|| Arc::from([])), deadline),
        table: ResourceTable::new(),
        limiter: MemoryLimiter { limit: limits.memory, refused: false },
        plugin: Arc::from(plugin),
        log_lines: 0,
    };
    let mut store = Store::new(engine, state);
    store.limiter(|s| &mut s.limiter);
    // The epoch wakes the store up about when the time is up; the callback then checks the
    // real clock, so a ticker that catches up after running late can never cut a call short.
    let ticks = limits.timeout.as_millis().div_ceil(EPOCH_TICK.as_millis());
    store.set_epoch_deadline(u64::try_from(ticks).unwrap_or(u64::MAX));
    store.epoch_deadline_callback(move |_| {
        if Instant::now() >= deadline { Err(Trap::Interrupt.into()) } else { Ok(UpdateDeadline::Continue(1)) }
    });

    let result = instantiate(&mut store).and_then(|bindings| f(&bindings, &mut store));
    let elapsed = started.elapsed();
    // A request to a host it may not reach fails the whole call, whatever the plugin made of
    // the refusal: that is a plugin overstepping, and the operator should hear of it.
    if let Some(denied) = store.data_mut().gate.take_denied() {
        return Err(PluginError::Denied {
            plugin: plugin.to_owned(),
            host: denied,
            granted: store.data().gate.granted(),
        });
    }
    result.map_err(|e| {
        let plugin = plugin.to_owned();
        let stderr = if access.confidential {
            // A secret backend's panic message may hold a secret: keep it out of errors and logs.
            String::new()
        } else {
            String::from_utf8_lossy(&stderr.contents()).trim().to_owned()
        };
        if !stderr.is_empty() {
            tracing::debug!(plugin = %plugin, %stderr, "plugin stderr");
        }
        if store.data().limiter.refused {
            PluginError::MemoryLimit { plugin, limit: limits.memory }
        } else if e.downcast_ref::<Trap>() == Some(&Trap::Interrupt) {
            PluginError::Timeout { plugin, limit: limits.timeout, elapsed }
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
    fn last_lines_keeps_the_tail() {
        assert_eq!(last_lines("a\nb\nc\n", 2), "b\nc");
        assert_eq!(last_lines("a\nnote: run with `RUST_BACKTRACE=1` x\n", 2), "a");
        assert_eq!(last_lines("", 2), "");
    }
}
