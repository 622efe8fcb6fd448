//! The policy gate of driftless: every rendered set of objects is judged before anything is
//! applied, by the policy libraries teams already have, and every decision is recorded.
//!
//! Four engines sit behind one interface:
//! - **Rego source** (regorus), conftest style: packages with `deny`/`violation`/`warn` rules,
//!   evaluated per object (`input` = the object); `deny_set`/`violation_set`/`warn_set` rules
//!   once over the whole set (`input` = `{"objects": [...]}`). Rego v1 by default; v0 for the
//!   whole load ([`LoadOptions::rego_v0`]) or per file ([`rego::REGO_V0_MARKER`]).
//! - **Gatekeeper**: `ConstraintTemplate` v1 and constraints, with `match`, `parameters`,
//!   `enforcementAction` and `data.inventory`.
//! - **OPA-compiled wasm** (`opa build -t wasm`: `policy.wasm` or a bundle `.tar.gz`), via
//!   opa-wasm.
//! - **WASM policy plugins** (the SDK's `policy` world), via the plugin host.
//!
//! The effective enforcement of each verdict is the weaker of the app's and the policy's own;
//! waivers ([`waiver`]) exempt chosen objects until they expire. A policy that fails to
//! evaluate fails closed under `deny`.
//!
//! It does not fetch policies from Git, read the cluster or apply anything. Entry points:
//! [`PolicySet::load`] then [`PolicySet::evaluate`]; [`run_tests`] for Rego unit tests.

mod builtins;
mod error;
mod gatekeeper;
pub mod matcher;
mod opa;
pub mod output;
mod recursion;
pub mod rego;
mod stack;
mod testing;
mod vm;
pub mod waiver;

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use driftless_core::policy::{Operation, PolicyDecision, PolicyOutcome, Review};
use driftless_core::spec::Enforcement;
use driftless_core::{Object, ObjectRef};
use driftless_plugin_host::PluginHost;
use driftless_plugin_host::PolicyPlugin;
use serde::{Deserialize, Serialize};

pub use error::PolicyError;
pub use opa::{FUEL_PER_EVALUATION, query as opa_query};
pub use testing::{TestCase, TestReport, run_tests};
pub use waiver::{ExpiredWaiver, Waiver, load_waivers, parse_waivers};

use gatekeeper::{Constraint, Template};
use opa::OpaPolicy;
use rego::{RegoPolicy, Scope};

/// How policies are loaded.
#[derive(Debug, Clone)]
pub struct LoadOptions<'a> {
    /// Read every Rego source file as v0 (the app says so); files can also opt in one by one.
    pub rego_v0: bool,
    /// The longest one evaluation of one policy on one object may take.
    pub timeout: Duration,
    /// Runs WASM policy plugins (`.wasm` components); needed only when there are some.
    pub plugin_host: Option<&'a PluginHost>,
    /// Entrypoints of OPA wasm policies to evaluate; empty means every entrypoint whose last
    /// segment is `deny`, `violation` or `warn`.
    pub opa_entrypoints: Vec<String>,
}

impl Default for LoadOptions<'_> {
    fn default() -> Self {
        Self {
            rego_v0: false,
            timeout: Duration::from_secs(1),
            plugin_host: None,
            opa_entrypoints: Vec::new(),
        }
    }
}

/// What a policy is, for listings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyInfo {
    /// Its id, as in decisions and waivers.
    pub id: String,
    /// Its engine: `rego`, `gatekeeper`, `opa-wasm` or `plugin`.
    pub engine: String,
    /// Its own enforcement.
    pub enforcement: Enforcement,
    /// Where it was loaded from.
    pub path: PathBuf,
}

/// The objects policies may look up besides the ones being synced: the cluster's, from files
/// now, from the cluster later.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Inventory {
    /// The objects.
    pub objects: Vec<Object>,
}

impl Inventory {
    /// Reads objects from YAML/JSON files or directories of them.
    ///
    /// # Errors
    /// An unreadable file or a document that is not an object, named.
    pub fn load(paths: &[PathBuf]) -> Result<Self, PolicyError> {
        let reviews = load_reviews(paths)?;
        Ok(Self { objects: reviews.into_iter().map(|r| r.object).collect() })
    }
}

struct RegoSet {
    engine: regorus::Engine,
    policies: Vec<RegoPolicy>,
    /// Which per-object rules run on the VM.
    plan: rego::Plan,
}

struct PluginPolicy {
    id: String,
    path: PathBuf,
    plugin: PolicyPlugin,
    params: serde_json::Map<String, serde_json::Value>,
}

/// A plugin's parameters: `NAME.params.json` or `NAME.params.yaml` beside `NAME.wasm`.
fn plugin_params(wasm: &Path) -> Result<serde_json::Map<String, serde_json::Value>, PolicyError> {
    for ext in ["params.json", "params.yaml"] {
        let path = wasm.with_extension(ext);
        if path.is_file() {
            return match read_data(&path)? {
                serde_json::Value::Object(map) => Ok(map),
                _ => Err(PolicyError::Parse { path, message: "plugin parameters must be an object".into() }),
            };
        }
    }
    Ok(serde_json::Map::new())
}

/// Loaded, compiled policies, ready to judge sets of objects.
pub struct PolicySet {
    rego: Option<RegoSet>,
    templates: Vec<Template>,
    constraints: Vec<Constraint>,
    opa: Vec<OpaPolicy>,
    plugins: Vec<PluginPolicy>,
    enforcement: Enforcement,
    waivers: Vec<Waiver>,
    threads: usize,
    rego_interpreter: bool,
}

impl std::fmt::Debug for PolicySet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PolicySet").field("policies", &self.policies()).finish_non_exhaustive()
    }
}

/// Files found under the given paths, by what they are.
#[derive(Default)]
struct Found {
    rego: Vec<PathBuf>,
    data: Vec<(PathBuf, Vec<String>)>,
    yaml: Vec<PathBuf>,
    wasm: Vec<PathBuf>,
    bundles: Vec<PathBuf>,
}

fn is_data_file(name: &str) -> bool {
    matches!(name, "data.json" | "data.yaml" | "data.yml")
}

fn walk(root: &Path, dir: &Path, found: &mut Found, tests: bool) -> Result<(), PolicyError> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| PolicyError::io(dir, e))?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .map_err(|e| PolicyError::io(dir, e))?;
    entries.sort();
    for path in entries {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_owned();
        if name.starts_with('.') {
            continue;
        }
        if path.is_dir() {
            walk(root, &path, found, tests)?;
        } else {
            classify(root, &path, &name, found, tests);
        }
    }
    Ok(())
}

fn classify(root: &Path, path: &Path, name: &str, found: &mut Found, tests: bool) -> bool {
    if name.ends_with(".rego") {
        if tests || !name.ends_with("_test.rego") {
            found.rego.push(path.to_owned());
        }
    } else if is_data_file(name) {
        // OPA bundle layout: a data file's directory is its place under `data`.
        let dir = path.parent().and_then(|p| p.strip_prefix(root).ok()).unwrap_or(Path::new(""));
        let keys = dir.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect();
        found.data.push((path.to_owned(), keys));
    } else if name.ends_with(".yaml") || name.ends_with(".yml") {
        found.yaml.push(path.to_owned());
    } else if name.ends_with(".wasm") {
        found.wasm.push(path.to_owned());
    } else if name.ends_with(".tar.gz") {
        found.bundles.push(path.to_owned());
    } else {
        return false;
    }
    true
}

fn find(paths: &[PathBuf], tests: bool) -> Result<Found, PolicyError> {
    let mut found = Found::default();
    for path in paths {
        let meta = std::fs::metadata(path).map_err(|e| PolicyError::io(path, e))?;
        if meta.is_dir() {
            walk(path, path, &mut found, tests)?;
        } else {
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_owned();
            let root = path.parent().unwrap_or(Path::new(""));
            if !classify(root, path, &name, &mut found, true) {
                return Err(PolicyError::Parse {
                    path: path.clone(),
                    message: "not a policy file (.rego, .yaml, .yml, .wasm, .tar.gz, data.json)".into(),
                });
            }
        }
    }
    Ok(found)
}

fn read(path: &Path) -> Result<String, PolicyError> {
    std::fs::read_to_string(path).map_err(|e| PolicyError::io(path, e))
}

/// A data document (JSON or YAML) as JSON.
fn read_data(path: &Path) -> Result<serde_json::Value, PolicyError> {
    let text = read(path)?;
    if path.extension().is_some_and(|e| e == "json") {
        return serde_json::from_str(&text).map_err(|e| PolicyError::Parse {
            path: path.to_owned(),
            message: format!("line {}: {e}", e.line()),
        });
    }
    let mut docs = driftless_yaml::parse_stream(&text)
        .map_err(|e| PolicyError::Parse { path: path.to_owned(), message: e.to_string() })?;
    match docs.len() {
        0 => Ok(serde_json::Value::Object(serde_json::Map::new())),
        1 => Ok(docs.remove(0).value),
        n => Err(PolicyError::Parse {
            path: path.to_owned(),
            message: format!("{n} documents; a data file holds one"),
        }),
    }
}

/// Adds the data documents to an engine, each at its directory's place.
fn add_data(engine: &mut regorus::Engine, data: &[(PathBuf, Vec<String>)]) -> Result<(), PolicyError> {
    for (path, keys) in data {
        let mut value = read_data(path)?;
        if !value.is_object() {
            return Err(PolicyError::Parse {
                path: path.clone(),
                message: "a data document must be an object".into(),
            });
        }
        for key in keys.iter().rev() {
            value = serde_json::json!({ key: value });
        }
        engine.add_data(rego::to_rego(&value)).map_err(|e| PolicyError::Parse {
            path: path.clone(),
            message: format!("merging into data: {e}"),
        })?;
    }
    Ok(())
}

/// The verdict when Rego could not be evaluated at all: an error, which blocks under `deny`.
fn thread_failure(message: String) -> Verdict {
    Verdict {
        policy: "driftless.policy".into(),
        engine: "rego",
        own: Enforcement::Deny,
        object: None,
        result: Err(message),
    }
}

/// The error when the thread loading `files` (Rego sources) failed: it names them.
pub(crate) fn rego_thread_error(files: &[PathBuf], what: &str) -> PolicyError {
    let path = files.first().cloned().unwrap_or_default();
    let others = match files.len() {
        0 | 1 => String::new(),
        n => format!(" (and {} other Rego files)", n - 1),
    };
    PolicyError::Rego { message: format!("{}{others}: {what}", path.display()), path }
}

/// Compiles the Rego sources (and their data) into one engine; the packages of each file.
fn compile_rego(
    found: &Found,
    options: &LoadOptions<'_>,
) -> Result<(regorus::Engine, Vec<(PathBuf, String)>), PolicyError> {
    let mut engine = rego::new_engine(options.timeout);
    let mut files = Vec::new();
    for path in &found.rego {
        let package = rego::add_module(&mut engine, path, read(path)?, options.rego_v0)?;
        files.push((path.clone(), package));
    }
    recursion::check(engine.get_modules())?;
    add_data(&mut engine, &found.data)?;
    Ok((engine, files))
}

impl PolicySet {
    /// Loads every policy under `paths` (files or directories, searched recursively): `.rego`
    /// files (not `*_test.rego`) with `data.json`/`data.yaml` documents, YAML files holding
    /// Gatekeeper templates and constraints (other YAML documents are skipped: example
    /// manifests may sit beside policies), `.wasm` files (OPA-compiled modules or policy
    /// plugins) and OPA bundles (`.tar.gz`).
    ///
    /// # Errors
    /// The first file that cannot be read or compiled, named with its line where known; a
    /// constraint without its template; two policies with one id; no policy at all.
    pub fn load(paths: &[PathBuf], options: &LoadOptions<'_>) -> Result<Self, PolicyError> {
        let found = find(paths, false)?;
        let mut set = PolicySet {
            rego: None,
            templates: Vec::new(),
            constraints: Vec::new(),
            opa: Vec::new(),
            plugins: Vec::new(),
            enforcement: Enforcement::Deny,
            waivers: Vec::new(),
            threads: std::thread::available_parallelism().map_or(1, usize::from),
            rego_interpreter: false,
        };
        if !found.rego.is_empty() {
            let load = || -> Result<RegoSet, PolicyError> {
                let (mut engine, files) = compile_rego(&found, options)?;
                let policies = rego::discover(&engine, &files)?;
                let plan = rego::add_batch(&mut engine, &policies, options.timeout)?;
                Ok(RegoSet { engine, policies, plan })
            };
            let loaded = stack::run(load).map_err(|e| rego_thread_error(&found.rego, &e))?;
            set.rego = Some(loaded?);
        }
        for path in &found.yaml {
            set.load_gatekeeper_file(path, options)?;
        }
        for c in &set.constraints {
            if !set.templates.iter().any(|t| t.kind == c.kind) {
                return Err(PolicyError::invalid(
                    &c.path,
                    format!("{} {}", c.kind, c.name),
                    "kind",
                    format!("no ConstraintTemplate defines {}", c.kind),
                ));
            }
        }
        for path in &found.wasm {
            let bytes = std::fs::read(path).map_err(|e| PolicyError::io(path, e))?;
            if opa::is_core_module(&bytes) {
                set.opa.push(OpaPolicy::load(path, &bytes, None, options)?);
            } else {
                let host = options.plugin_host.ok_or_else(|| PolicyError::Wasm {
                    path: path.clone(),
                    message: "a policy plugin (component) needs a plugin host".into(),
                })?;
                let label = path.display().to_string();
                let plugin = host
                    .load_policy(&label, &bytes)
                    .map_err(|e| PolicyError::Wasm { path: path.clone(), message: e.to_string() })?;
                let id = plugin.metadata().name.clone();
                let params = plugin_params(path)?;
                set.plugins.push(PluginPolicy { id, path: path.clone(), plugin, params });
            }
        }
        for path in &found.bundles {
            set.opa.push(OpaPolicy::load_bundle(path, options)?);
        }
        set.check_unique()?;
        if set.policies().is_empty() {
            return Err(PolicyError::Empty { path: paths.first().cloned().unwrap_or_default() });
        }
        Ok(set)
    }

    fn load_gatekeeper_file(&mut self, path: &Path, options: &LoadOptions<'_>) -> Result<(), PolicyError> {
        let text = read(path)?;
        let docs = driftless_yaml::parse_stream(&text)
            .map_err(|e| PolicyError::Parse { path: path.to_owned(), message: e.to_string() })?;
        for doc in docs {
            let api_version = doc.value.get("apiVersion").and_then(|v| v.as_str()).unwrap_or_default();
            let group = api_version.split('/').next().unwrap_or_default();
            let kind = doc.value.get("kind").and_then(|v| v.as_str()).unwrap_or_default();
            if group == gatekeeper::TEMPLATE_GROUP && kind == "ConstraintTemplate" {
                let template = gatekeeper::load_template(path, &doc.value, options.timeout)?;
                if let Some(first) = self.templates.iter().find(|t| t.kind == template.kind) {
                    return Err(PolicyError::Duplicate {
                        id: format!("ConstraintTemplate for {}", template.kind),
                        first: first.path.clone(),
                        path: path.to_owned(),
                    });
                }
                self.templates.push(template);
            } else if group == gatekeeper::CONSTRAINT_GROUP {
                self.constraints.push(gatekeeper::load_constraint(path, &doc.value)?);
            }
        }
        Ok(())
    }

    fn check_unique(&self) -> Result<(), PolicyError> {
        let mut seen: BTreeMap<String, PathBuf> = BTreeMap::new();
        for p in self.policies() {
            if let Some(first) = seen.get(&p.id) {
                return Err(PolicyError::Duplicate { id: p.id, first: first.clone(), path: p.path });
            }
            seen.insert(p.id, p.path);
        }
        Ok(())
    }

    /// Sets the app's enforcement (`spec.policy.enforcement`); `deny` by default.
    #[must_use]
    pub fn with_enforcement(mut self, enforcement: Enforcement) -> Self {
        self.enforcement = enforcement;
        self
    }

    /// Sets the waivers.
    #[must_use]
    pub fn with_waivers(mut self, waivers: Vec<Waiver>) -> Self {
        self.waivers = waivers;
        self
    }

    /// Sets how many threads evaluate (at least 1; the machine's cores by default).
    #[must_use]
    pub fn with_threads(mut self, threads: usize) -> Self {
        self.threads = threads.max(1);
        self
    }

    /// Whether every per-object Rego rule runs in regorus's tree-walking interpreter (off by
    /// default). By default, the policies whose rules regorus's bytecode VM decides exactly as
    /// the interpreter run there, about five times faster; see the `vm` module: what the VM
    /// cannot decide identically is found at load (that policy is interpreted) or per object
    /// (that object is interpreted), so decisions and errors are the interpreter's either way.
    /// This switch is for comparing, and for when the VM is suspected.
    #[must_use]
    pub fn with_rego_interpreter(mut self, interpreter: bool) -> Self {
        self.rego_interpreter = interpreter;
        self
    }

    /// Whether some per-object Rego rules run on the VM.
    #[must_use]
    pub fn uses_rego_vm(&self) -> bool {
        !self.rego_vm_policies().is_empty()
    }

    /// The Rego policies whose per-object rules run on the VM (the others are interpreted).
    #[must_use]
    pub fn rego_vm_policies(&self) -> Vec<String> {
        match &self.rego {
            Some(r) if !self.rego_interpreter => r.plan.vm_policies(&r.policies),
            _ => Vec::new(),
        }
    }

    /// The loaded policies.
    #[must_use]
    pub fn policies(&self) -> Vec<PolicyInfo> {
        let mut out = Vec::new();
        if let Some(rego) = &self.rego {
            for p in &rego.policies {
                let enforcement = if p.rules.iter().all(|r| r.enforcement == Enforcement::Warn) {
                    Enforcement::Warn
                } else {
                    Enforcement::Deny
                };
                out.push(PolicyInfo {
                    id: p.id.clone(),
                    engine: "rego".into(),
                    enforcement,
                    path: p.path.clone(),
                });
            }
        }
        for c in &self.constraints {
            out.push(PolicyInfo {
                id: c.id(),
                engine: "gatekeeper".into(),
                enforcement: c.enforcement,
                path: c.path.clone(),
            });
        }
        for o in &self.opa {
            for e in &o.entrypoints {
                out.push(PolicyInfo {
                    id: o.id(e),
                    engine: "opa-wasm".into(),
                    enforcement: opa::entrypoint_enforcement(e),
                    path: o.path.clone(),
                });
            }
        }
        for p in &self.plugins {
            out.push(PolicyInfo {
                id: p.id.clone(),
                engine: "plugin".into(),
                enforcement: Enforcement::Deny,
                path: p.path.clone(),
            });
        }
        out
    }

    /// Judges objects about to be created, with waivers checked against the current time.
    #[must_use]
    pub fn evaluate(&self, objects: &[Object], inventory: &Inventory) -> Report {
        let subjects: Vec<Subject<'_>> = objects
            .iter()
            .map(|object| Subject { object, old_object: None, operation: Operation::Create })
            .collect();
        // Only plugins take owned reviews: copy the objects for them alone.
        let reviews = || {
            Cow::Owned(
                objects
                    .iter()
                    .map(|o| Review { object: o.clone(), old_object: None, operation: Operation::Create })
                    .collect::<Vec<_>>(),
            )
        };
        self.judge(&subjects, reviews, inventory, SystemTime::now())
    }

    /// Judges reviews; waivers apply when unexpired at `now`. Never fails: a policy that
    /// cannot be evaluated yields an [`PolicyOutcome::Error`] decision, which blocks under
    /// `deny`.
    #[must_use]
    pub fn evaluate_reviews(&self, reviews: &[Review], inventory: &Inventory, now: SystemTime) -> Report {
        let subjects: Vec<Subject<'_>> = reviews
            .iter()
            .map(|r| Subject { object: &r.object, old_object: r.old_object.as_ref(), operation: r.operation })
            .collect();
        self.judge(&subjects, || Cow::Borrowed(reviews), inventory, now)
    }

    fn judge<'r>(
        &self,
        subjects: &[Subject<'_>],
        reviews: impl FnOnce() -> Cow<'r, [Review]>,
        inventory: &Inventory,
        now: SystemTime,
    ) -> Report {
        // regorus recurses: Rego and Gatekeeper run on threads with a known, large stack.
        let rego = stack::run(|| {
            let mut verdicts = self.evaluate_per_object(subjects, inventory);
            verdicts.extend(self.evaluate_set(subjects));
            verdicts
        });
        let mut verdicts = rego.unwrap_or_else(|e| vec![thread_failure(e)]);
        verdicts.extend(self.evaluate_opa(subjects));
        if !self.plugins.is_empty() {
            verdicts.extend(self.evaluate_plugins(&reviews(), inventory));
        }
        self.finish(subjects, verdicts, now)
    }

    /// Rego and Gatekeeper, per object, split across threads. Each thread gets its own clones
    /// of the compiled engines (made here), so nothing mutable is shared.
    fn evaluate_per_object(&self, reviews: &[Subject<'_>], inventory: &Inventory) -> Vec<Verdict> {
        if reviews.is_empty() {
            return Vec::new();
        }
        // data.inventory: the inventory, with the set's own objects replacing theirs.
        let mut gk_engines: Vec<GkWork<'_>> = Vec::new();
        if !self.constraints.is_empty() {
            let mut by_ref: BTreeMap<ObjectRef, &Object> = BTreeMap::new();
            for o in inventory.objects.iter().chain(reviews.iter().map(|r| r.object)) {
                by_ref.insert(o.object_ref(), o);
            }
            let data = rego::to_rego(&gatekeeper::inventory_data(by_ref.values().copied()));
            for t in &self.templates {
                let constraints: Vec<&Constraint> =
                    self.constraints.iter().filter(|c| c.kind == t.kind).collect();
                if constraints.is_empty() {
                    continue;
                }
                let mut engine = t.engine.clone();
                if let Err(e) = engine.add_data(data.clone()) {
                    tracing::warn!(template = %t.kind, error = %e, "inventory not added");
                }
                gk_engines.push(GkWork { engine, rule: &t.rule, constraints });
            }
        }
        let namespaces: BTreeMap<&str, &Object> = inventory
            .objects
            .iter()
            .chain(reviews.iter().map(|r| r.object))
            .filter(|o| o.kind() == "Namespace" && o.api_version() == "v1")
            .filter_map(|o| o.name().map(|n| (n, o)))
            .collect();
        let rego_policies: &[RegoPolicy] = self.rego.as_ref().map_or(&[], |r| &r.policies);
        let plan = self.rego.as_ref().map(|r| &r.plan).filter(|_| !self.rego_interpreter);
        let vm_program = plan.and_then(|p| p.vm.as_ref());
        let no_plan = rego::Plan::default();
        let plan = plan.unwrap_or(&no_plan);
        let threads = self.threads.min(reviews.len().div_ceil(64)).max(1);
        let chunk = reviews.len().div_ceil(threads);
        let namespaces = &namespaces;
        let work = move |start: usize,
                         part: &[Subject<'_>],
                         mut rego: Option<regorus::Engine>,
                         mut gk: Vec<GkWork<'_>>|
              -> Vec<Verdict> {
            let mut out = Vec::new();
            let lookup = |name: &str| namespaces.get(name).map(|o| (*o).clone());
            let mut vm = vm_program.and_then(vm::VmProgram::vm);
            for (offset, review) in part.iter().enumerate() {
                let index = start + offset;
                if rego.is_none() && gk.is_empty() {
                    continue;
                }
                // Converted once, shared by the Rego policies and the Gatekeeper reviews.
                let object = rego::to_rego(review.object.as_value());
                if let Some(engine) = rego.as_mut() {
                    let input = object.clone();
                    out.extend(
                        rego::eval_object(engine, vm.as_mut(), plan, input, rego_policies).into_iter().map(
                            |(p, rule, result)| Verdict {
                                policy: p.id.clone(),
                                engine: "rego",
                                own: rule.enforcement,
                                object: Some(index),
                                result,
                            },
                        ),
                    );
                }
                if gk.is_empty() {
                    continue;
                }
                let review_value = gatekeeper::review_input(review, object);
                for w in &mut gk {
                    for c in &w.constraints {
                        if !c.matcher.matches(review.object, &lookup) {
                            continue;
                        }
                        let input = gatekeeper::input(&review_value, &c.parameters);
                        out.push(Verdict {
                            policy: c.id(),
                            engine: "gatekeeper",
                            own: c.enforcement,
                            object: Some(index),
                            result: gatekeeper::evaluate(&mut w.engine, w.rule, input),
                        });
                    }
                }
            }
            out
        };
        let rego_engine = || self.rego.as_ref().map(|r| r.engine.clone());
        if threads == 1 {
            return work(0, reviews, rego_engine(), gk_engines);
        }
        let jobs: Vec<_> = reviews
            .chunks(chunk)
            .enumerate()
            .map(|(i, part)| (i * chunk, part, rego_engine(), gk_engines.clone()))
            .collect();
        std::thread::scope(|scope| {
            let handles: Vec<_> = jobs
                .into_iter()
                .map(|(start, part, rego, gk)| {
                    let work = &work;
                    stack::spawn_scoped(scope, move || work(start, part, rego, gk))
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| match h {
                    Ok(h) => {
                        h.join().unwrap_or_else(|panic| vec![thread_failure(stack::panicked(panic.as_ref()))])
                    }
                    Err(e) => vec![thread_failure(format!("cannot start an evaluation thread: {e}"))],
                })
                .collect()
        })
    }

    /// Rego rules over the whole set.
    fn evaluate_set(&self, reviews: &[Subject<'_>]) -> Vec<Verdict> {
        let Some(set) = &self.rego else { return Vec::new() };
        if !set.policies.iter().any(|p| p.rules.iter().any(|r| r.scope == Scope::Set)) {
            return Vec::new();
        }
        let mut engine = set.engine.clone();
        let objects: Vec<serde_json::Value> = reviews.iter().map(|r| r.object.as_value().clone()).collect();
        engine.set_input(rego::to_rego(&serde_json::json!({ "objects": objects })));
        let mut out = Vec::new();
        for p in &set.policies {
            for rule in p.rules.iter().filter(|r| r.scope == Scope::Set) {
                out.push(Verdict {
                    policy: p.id.clone(),
                    engine: "rego",
                    own: rule.enforcement,
                    object: None,
                    result: rego::eval_messages(&mut engine, &rule.path),
                });
            }
        }
        out
    }

    fn evaluate_opa(&self, reviews: &[Subject<'_>]) -> Vec<Verdict> {
        let mut out = Vec::new();
        for policy in &self.opa {
            out.extend(policy.evaluate(reviews));
        }
        out
    }

    fn evaluate_plugins(&self, reviews: &[Review], inventory: &Inventory) -> Vec<Verdict> {
        let mut out = Vec::new();
        for p in &self.plugins {
            match p.plugin.evaluate(reviews, &p.params, &inventory.objects) {
                Ok(decisions) => {
                    for (index, d) in decisions.into_iter().enumerate() {
                        out.push(Verdict {
                            policy: p.id.clone(),
                            engine: "plugin",
                            own: Enforcement::Deny,
                            object: Some(index),
                            result: Ok(d
                                .violations
                                .into_iter()
                                .map(|v| match v.object {
                                    Some(o) if o != reviews[index].object.object_ref() => {
                                        format!("{o}: {}", v.message)
                                    }
                                    _ => v.message,
                                })
                                .collect()),
                        });
                    }
                }
                Err(e) => out.push(Verdict {
                    policy: p.id.clone(),
                    engine: "plugin",
                    own: Enforcement::Deny,
                    object: None,
                    result: Err(e.to_string()),
                }),
            }
        }
        out
    }

    /// Applies enforcement and waivers.
    fn finish(&self, reviews: &[Subject<'_>], verdicts: Vec<Verdict>, now: SystemTime) -> Report {
        let mut decisions = Vec::with_capacity(verdicts.len());
        // Each object's reference, made once for its many decisions.
        let mut refs: Vec<Option<ObjectRef>> = vec![None; reviews.len()];
        for v in verdicts {
            let enforcement = self.enforcement.weaker(v.own);
            let object = v.object.and_then(|i| reviews.get(i).map(|r| r.object));
            let object_ref = v.object.and_then(|i| {
                let slot = refs.get_mut(i)?;
                Some(slot.get_or_insert_with(|| reviews[i].object.object_ref()).clone())
            });
            let (outcome, messages, waiver) = match v.result {
                Err(error) => (PolicyOutcome::Error, vec![format!("policy error: {error}")], None),
                Ok(messages) if messages.is_empty() => (PolicyOutcome::Allowed, messages, None),
                Ok(messages) => {
                    let waiver = object.zip(object_ref.as_ref()).and_then(|(o, r)| {
                        self.waivers
                            .iter()
                            .find(|w| w.is_active(now) && w.covers(&v.policy, r, |k| o.label(k)))
                    });
                    match waiver {
                        Some(w) => (PolicyOutcome::Waived, messages, Some(w.usage())),
                        None => {
                            let outcome = match enforcement {
                                Enforcement::Deny => PolicyOutcome::Denied,
                                Enforcement::Warn => PolicyOutcome::Warned,
                                Enforcement::Dryrun => PolicyOutcome::DryRun,
                            };
                            (outcome, messages, None)
                        }
                    }
                }
            };
            decisions.push(PolicyDecision {
                policy: v.policy,
                engine: v.engine.to_owned(),
                enforcement,
                object: object_ref,
                outcome,
                messages,
                waiver,
            });
        }
        let expired_waivers: Vec<ExpiredWaiver> =
            self.waivers.iter().filter(|w| !w.is_active(now)).map(Waiver::expired).collect();
        for w in &expired_waivers {
            tracing::warn!(waiver = %w.name, policy = %w.policy, expired = %w.expired, "waiver expired; it no longer applies");
        }
        Report { decisions, expired_waivers, objects: reviews.len() }
    }
}

/// One object to judge, borrowed from a [`Review`] or an object to create: what every engine
/// but plugins (which take owned reviews) reads.
#[derive(Clone, Copy)]
pub(crate) struct Subject<'a> {
    pub object: &'a Object,
    pub old_object: Option<&'a Object>,
    pub operation: Operation,
}

/// One template's engine (with the inventory) and its constraints, for one thread.
#[derive(Clone)]
struct GkWork<'a> {
    engine: regorus::Engine,
    rule: &'a str,
    constraints: Vec<&'a Constraint>,
}

/// One raw verdict, before enforcement and waivers.
pub(crate) struct Verdict {
    pub policy: String,
    pub engine: &'static str,
    pub own: Enforcement,
    /// Index of the review, `None` for the whole set.
    pub object: Option<usize>,
    pub result: Result<Vec<String>, String>,
}

/// Every decision of one evaluation, for the sync record and the CLI.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// One per policy, object and rule kind (allowed ones included).
    pub decisions: Vec<PolicyDecision>,
    /// Waivers that have expired and no longer apply.
    pub expired_waivers: Vec<ExpiredWaiver>,
    /// How many objects were judged.
    pub objects: usize,
}

/// Counts of a report.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    /// Objects judged.
    pub objects: usize,
    /// Decisions made.
    pub decisions: usize,
    /// Decisions allowing.
    pub allowed: usize,
    /// Decisions denying.
    pub denied: usize,
    /// Decisions warning.
    pub warned: usize,
    /// Decisions only reported.
    pub dryrun: usize,
    /// Decisions waived.
    pub waived: usize,
    /// Policies that failed to evaluate.
    pub errors: usize,
    /// Expired waivers.
    pub expired_waivers: usize,
    /// Whether the sync may go on.
    pub allowed_to_sync: bool,
}

impl Report {
    /// Whether any decision refuses the sync.
    #[must_use]
    pub fn denied(&self) -> bool {
        self.decisions.iter().any(PolicyDecision::blocks)
    }

    /// The decisions with messages (everything but `allowed`).
    pub fn violations(&self) -> impl Iterator<Item = &PolicyDecision> {
        self.decisions.iter().filter(|d| d.outcome != PolicyOutcome::Allowed)
    }

    /// The counts.
    #[must_use]
    pub fn summary(&self) -> Summary {
        let mut s = Summary {
            objects: self.objects,
            decisions: self.decisions.len(),
            expired_waivers: self.expired_waivers.len(),
            allowed_to_sync: !self.denied(),
            ..Summary::default()
        };
        for d in &self.decisions {
            match d.outcome {
                PolicyOutcome::Allowed => s.allowed += 1,
                PolicyOutcome::Denied => s.denied += 1,
                PolicyOutcome::Warned => s.warned += 1,
                PolicyOutcome::DryRun => s.dryrun += 1,
                PolicyOutcome::Waived => s.waived += 1,
                PolicyOutcome::Error => s.errors += 1,
            }
        }
        s
    }
}

/// Reads objects to judge from YAML/JSON files or directories of them (recursively,
/// `.yaml`/`.yml`/`.json`). An `AdmissionReview` document gives its request's object,
/// old object and operation; any other document is an object to create.
///
/// # Errors
/// An unreadable file, a YAML error (with its line), a document that is not an object.
pub fn load_reviews(paths: &[PathBuf]) -> Result<Vec<Review>, PolicyError> {
    let mut files = Vec::new();
    for path in paths {
        collect_manifests(path, &mut files, true)?;
    }
    let mut out = Vec::new();
    for path in files {
        let text = read(&path)?;
        let docs = driftless_yaml::parse_stream(&text)
            .map_err(|e| PolicyError::Parse { path: path.clone(), message: e.to_string() })?;
        for doc in docs {
            if doc.value.is_null() {
                continue;
            }
            let document = format!("document at line {}", doc.line);
            let object = |value: serde_json::Value, field: &str| {
                Object::from_value(value)
                    .map_err(|e| PolicyError::invalid(&path, &document, field, e.to_string()))
            };
            let is_review = doc.value.get("kind").and_then(|k| k.as_str()) == Some("AdmissionReview");
            if is_review {
                let request = doc.value.get("request").cloned().unwrap_or_default();
                let op = request.get("operation").and_then(|o| o.as_str()).unwrap_or("CREATE");
                let operation = Operation::parse(op).ok_or_else(|| {
                    PolicyError::invalid(
                        &path,
                        &document,
                        "request.operation",
                        format!("{op:?} is not CREATE, UPDATE or DELETE"),
                    )
                })?;
                let old_object = match request.get("oldObject") {
                    Some(v) if !v.is_null() => Some(object(v.clone(), "request.oldObject")?),
                    _ => None,
                };
                let main = match request.get("object") {
                    Some(v) if !v.is_null() => v.clone(),
                    _ => old_object.as_ref().map(|o| o.as_value().clone()).unwrap_or_default(),
                };
                out.push(Review { object: object(main, "request.object")?, old_object, operation });
            } else if doc.value.get("kind").and_then(|k| k.as_str()) == Some("List") {
                let items = doc.value.get("items").and_then(|i| i.as_array()).cloned().unwrap_or_default();
                for (i, item) in items.into_iter().enumerate() {
                    out.push(Review {
                        object: object(item, &format!("items[{i}]"))?,
                        old_object: None,
                        operation: Operation::Create,
                    });
                }
            } else {
                out.push(Review {
                    object: object(doc.value, ".")?,
                    old_object: None,
                    operation: Operation::Create,
                });
            }
        }
    }
    Ok(out)
}

fn collect_manifests(path: &Path, out: &mut Vec<PathBuf>, explicit: bool) -> Result<(), PolicyError> {
    let meta = std::fs::metadata(path).map_err(|e| PolicyError::io(path, e))?;
    if meta.is_dir() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
            .map_err(|e| PolicyError::io(path, e))?
            .map(|e| e.map(|e| e.path()))
            .collect::<Result<_, _>>()
            .map_err(|e| PolicyError::io(path, e))?;
        entries.sort();
        for entry in entries {
            if entry.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.')) {
                continue;
            }
            collect_manifests(&entry, out, false)?;
        }
    } else if explicit || path.extension().is_some_and(|e| e == "yaml" || e == "yml" || e == "json") {
        out.push(path.to_owned());
    }
    Ok(())
}
