//! OPA-compiled wasm (`opa build -t wasm`), run with opa-wasm on wasmtime.
//!
//! Each entrypoint whose last segment is `deny`, `violation` or `warn` (or the ones named in
//! [`crate::LoadOptions::opa_entrypoints`]) is a policy, evaluated once per object with
//! `input` = the object; its result's messages are read like those of Rego rules. Every
//! evaluation runs under a fuel budget, so a runaway module is stopped.

use std::io::Read;
use std::path::{Path, PathBuf};

use driftless_core::spec::Enforcement;
use serde_json::Value;
use wasmtime::{Config, Engine, Module, Store};

use crate::{LoadOptions, PolicyError, Subject, Verdict};

/// Instructions (fuel units) one evaluation of one entrypoint may use.
pub const FUEL_PER_EVALUATION: u64 = 1_000_000_000;

/// Whether `bytes` are a core wasm module (OPA's output), not a component (a plugin).
pub(crate) fn is_core_module(bytes: &[u8]) -> bool {
    bytes.len() >= 8 && bytes[..4] == *b"\0asm" && bytes[4..8] == [1, 0, 0, 0]
}

/// The enforcement an entrypoint's name implies.
pub(crate) fn entrypoint_enforcement(entrypoint: &str) -> Enforcement {
    if entrypoint.rsplit('/').next() == Some("warn") { Enforcement::Warn } else { Enforcement::Deny }
}

fn engine() -> Result<Engine, String> {
    let mut config = Config::new();
    config.consume_fuel(true);
    Engine::new(&config).map_err(|e| format!("{e:#}"))
}

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_current_thread().build().map_err(|e| e.to_string())
}

/// A loaded OPA wasm policy.
pub(crate) struct OpaPolicy {
    pub path: PathBuf,
    label: String,
    engine: Engine,
    module: Module,
    data: Value,
    pub entrypoints: Vec<String>,
}

/// An instantiated module with its data, in one store.
struct Instance {
    store: Store<()>,
    policy: opa_wasm::Policy<opa_wasm::DefaultContext>,
}

async fn instantiate(
    engine: &Engine,
    module: &Module,
    data: &Value,
) -> Result<(Instance, Vec<String>), String> {
    let mut store = Store::new(engine, ());
    store.set_fuel(FUEL_PER_EVALUATION).map_err(|e| format!("{e:#}"))?;
    let runtime = opa_wasm::Runtime::new(&mut store, module).await.map_err(|e| format!("{e:#}"))?;
    let mut entrypoints: Vec<String> = runtime.entrypoints().into_iter().map(str::to_owned).collect();
    entrypoints.sort();
    let policy = runtime.with_data(&mut store, data).await.map_err(|e| format!("{e:#}"))?;
    Ok((Instance { store, policy }, entrypoints))
}

impl Instance {
    /// The raw result set of one evaluation.
    async fn evaluate(&mut self, entrypoint: &str, input: &Value) -> Result<Value, String> {
        self.store.set_fuel(FUEL_PER_EVALUATION).map_err(|e| format!("{e:#}"))?;
        self.policy.evaluate(&mut self.store, entrypoint, input).await.map_err(|e| {
            let text = format!("{e:#}");
            if text.contains("fuel") {
                format!("stopped after {FUEL_PER_EVALUATION} instructions (runaway policy?): {text}")
            } else {
                text
            }
        })
    }
}

/// Messages from an OPA result set (`[{"result": ...}]`, `[]` when undefined).
fn result_messages(result: &Value) -> Result<Vec<String>, String> {
    let Some(set) = result.as_array() else {
        return Err(format!("the module returned {result}, not a result set"));
    };
    let mut out = Vec::new();
    for item in set {
        let value = item.get("result").unwrap_or(item);
        let items: Vec<&Value> = match value {
            Value::Array(a) => a.iter().collect(),
            Value::Null | Value::Bool(false) => Vec::new(),
            Value::String(s) if s.is_empty() => Vec::new(),
            other => vec![other],
        };
        for v in items {
            out.push(match v {
                Value::String(s) => s.clone(),
                Value::Object(m) => match m.get("msg") {
                    Some(Value::String(s)) => s.clone(),
                    _ => v.to_string(),
                },
                other => other.to_string(),
            });
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

fn wasm_error(path: &Path, message: impl Into<String>) -> PolicyError {
    PolicyError::Wasm { path: path.to_owned(), message: message.into() }
}

impl OpaPolicy {
    /// Compiles a module and reads its entrypoints.
    pub(crate) fn load(
        path: &Path,
        bytes: &[u8],
        data: Option<Value>,
        options: &LoadOptions<'_>,
    ) -> Result<Self, PolicyError> {
        let engine = engine().map_err(|e| wasm_error(path, e))?;
        let module = Module::new(&engine, bytes).map_err(|e| wasm_error(path, format!("{e:#}")))?;
        let data = data.unwrap_or_else(|| Value::Object(serde_json::Map::new()));
        let all = runtime()
            .and_then(|rt| rt.block_on(instantiate(&engine, &module, &data)))
            .map_err(|e| wasm_error(path, format!("not an OPA wasm policy: {e}")))?
            .1;
        let entrypoints: Vec<String> = if options.opa_entrypoints.is_empty() {
            all.iter()
                .filter(|e| matches!(e.rsplit('/').next(), Some("deny" | "violation" | "warn")))
                .cloned()
                .collect()
        } else {
            for e in &options.opa_entrypoints {
                if !all.contains(e) {
                    return Err(wasm_error(path, format!("no entrypoint {e} (it has: {})", all.join(", "))));
                }
            }
            options.opa_entrypoints.clone()
        };
        if entrypoints.is_empty() {
            return Err(wasm_error(
                path,
                format!("no entrypoint ending in deny, violation or warn (it has: {})", all.join(", ")),
            ));
        }
        let label =
            path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned());
        Ok(Self { path: path.to_owned(), label, engine, module, data, entrypoints })
    }

    /// Loads an OPA bundle: its `policy.wasm` and its data files.
    pub(crate) fn load_bundle(path: &Path, options: &LoadOptions<'_>) -> Result<Self, PolicyError> {
        let (wasm, data) = read_bundle(path)?;
        Self::load(path, &wasm, Some(data), options)
    }

    /// The policy id of an entrypoint: `file#entrypoint`.
    pub(crate) fn id(&self, entrypoint: &str) -> String {
        format!("{}#{entrypoint}", self.label)
    }

    /// Evaluates every entrypoint on every review, on a thread of its own (the engine is
    /// async, and callers may be inside a runtime).
    pub(crate) fn evaluate(&self, reviews: &[Subject<'_>]) -> Vec<Verdict> {
        let fail = |message: String| {
            self.entrypoints
                .iter()
                .map(|e| Verdict {
                    policy: self.id(e),
                    engine: "opa-wasm",
                    own: entrypoint_enforcement(e),
                    object: None,
                    result: Err(message.clone()),
                })
                .collect::<Vec<_>>()
        };
        let run = || -> Result<Vec<Verdict>, String> {
            runtime()?.block_on(async {
                let (mut instance, _) = instantiate(&self.engine, &self.module, &self.data).await?;
                let mut out = Vec::new();
                for (index, review) in reviews.iter().enumerate() {
                    for e in &self.entrypoints {
                        let result = instance.evaluate(e, review.object.as_value()).await;
                        let failed = result.is_err();
                        out.push(Verdict {
                            policy: self.id(e),
                            engine: "opa-wasm",
                            own: entrypoint_enforcement(e),
                            object: Some(index),
                            result: result.and_then(|r| result_messages(&r)),
                        });
                        if failed {
                            // A trapped instance is not to be trusted again.
                            (instance, _) = instantiate(&self.engine, &self.module, &self.data).await?;
                        }
                    }
                }
                Ok(out)
            })
        };
        std::thread::scope(|s| match s.spawn(run).join() {
            Ok(Ok(verdicts)) => verdicts,
            Ok(Err(e)) => fail(e),
            Err(_) => fail("the OPA wasm evaluation panicked".into()),
        })
    }
}

/// Reads `policy.wasm` and the data files (OPA bundle layout) from a `.tar.gz` bundle.
pub(crate) fn read_bundle(path: &Path) -> Result<(Vec<u8>, Value), PolicyError> {
    let file = std::fs::File::open(path).map_err(|e| PolicyError::io(path, e))?;
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
    let mut wasm = None;
    let mut data = Value::Object(serde_json::Map::new());
    let entries = archive.entries().map_err(|e| wasm_error(path, format!("not a bundle: {e}")))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| wasm_error(path, format!("not a bundle: {e}")))?;
        let name = entry.path().map_err(|e| wasm_error(path, e.to_string()))?.to_string_lossy().into_owned();
        let name = name.trim_start_matches("./").trim_start_matches('/').to_owned();
        let mut bytes = Vec::new();
        // Bundles are small; a cap keeps a hostile archive from filling memory.
        entry
            .by_ref()
            .take(256 << 20)
            .read_to_end(&mut bytes)
            .map_err(|e| wasm_error(path, format!("{name}: {e}")))?;
        if name == "policy.wasm" || (name.ends_with("/policy.wasm") && wasm.is_none()) {
            wasm = Some(bytes);
        } else if name == "data.json" || name.ends_with("/data.json") {
            let value: Value =
                serde_json::from_slice(&bytes).map_err(|e| wasm_error(path, format!("{name}: {e}")))?;
            let mut value = value;
            let dir: Vec<&str> =
                name.trim_end_matches("data.json").split('/').filter(|s| !s.is_empty()).collect();
            for key in dir.iter().rev() {
                value = serde_json::json!({ *key: value });
            }
            merge(&mut data, value);
        }
    }
    let wasm =
        wasm.ok_or_else(|| wasm_error(path, "the bundle has no policy.wasm (build it with -t wasm)"))?;
    Ok((wasm, data))
}

fn merge(into: &mut Value, from: Value) {
    match (into, from) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in b {
                match a.get_mut(&k) {
                    Some(slot) => merge(slot, v),
                    None => {
                        a.insert(k, v);
                    }
                }
            }
        }
        (slot, v) => *slot = v,
    }
}

/// Evaluates one entrypoint of an OPA wasm module (or bundle) on `input`, with `data`: OPA's
/// raw result set (`[{"result": ...}]`, `[]` when undefined). For `driftless policy query`.
///
/// # Errors
/// [`PolicyError::WasmEvaluation`] when the module traps or runs out of fuel while evaluating;
/// other variants when it cannot be read, compiled or instantiated, or has no such entrypoint.
pub fn query(
    path: &Path,
    entrypoint: &str,
    input: &Value,
    data: Option<Value>,
) -> Result<Value, PolicyError> {
    let (wasm, bundle_data) = if path.to_string_lossy().ends_with(".tar.gz") {
        let (w, d) = read_bundle(path)?;
        (w, Some(d))
    } else {
        (std::fs::read(path).map_err(|e| PolicyError::io(path, e))?, None)
    };
    let mut all_data = bundle_data.unwrap_or_else(|| Value::Object(serde_json::Map::new()));
    if let Some(d) = data {
        merge(&mut all_data, d);
    }
    let engine = engine().map_err(|e| wasm_error(path, e))?;
    let module = Module::new(&engine, &wasm).map_err(|e| wasm_error(path, format!("{e:#}")))?;
    let evaluation_error = |message: String| PolicyError::WasmEvaluation {
        path: path.to_owned(),
        entrypoint: entrypoint.to_owned(),
        message,
    };
    let run = || -> Result<Value, PolicyError> {
        runtime().map_err(|e| wasm_error(path, e))?.block_on(async {
            let (mut instance, entrypoints) =
                instantiate(&engine, &module, &all_data).await.map_err(|e| wasm_error(path, e))?;
            if !entrypoints.iter().any(|e| e == entrypoint) {
                return Err(wasm_error(
                    path,
                    format!("no entrypoint {entrypoint} (it has: {})", entrypoints.join(", ")),
                ));
            }
            // A trap or an exhausted budget is the module failing, not bad input.
            instance.evaluate(entrypoint, input).await.map_err(evaluation_error)
        })
    };
    std::thread::scope(|s| s.spawn(run).join()).map_err(|_| evaluation_error("evaluation panicked".into()))?
}
