//! One run of the pipeline for one app: Source → Verify → Render → Secrets → Policy → Plan →
//! Apply → Health → Record.
//!
//! Each stage takes the previous stage's output; a refusing gate or a failing stage stops the
//! run before anything is written, and the [`SyncRecord`] says which and why. Nothing is
//! written to the cluster before the Apply stage, and the Apply stage writes only what the
//! plan's dry-run accepted.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use driftless_cluster::{
    APP_LABEL, AppEvent, AppState, ApplyError, ApplyOptions, Cluster, ClusterError, EventType,
    HOOK_ANNOTATION, PlanRequest,
};
use driftless_core::health::HealthStatus;
use driftless_core::spec::{Application, VerifyMode};
use driftless_core::{Object, ObjectRef};
use driftless_plugin_host::{HealthPlugin, PluginHost};
use driftless_policy::{Inventory, LoadOptions, PolicySet};
use driftless_source::{Auth, Checkout, ObjectId, Repo, Resolved, Source, SourceError};
use tracing::Instrument as _;

use crate::health::{ObjectHealth, assess};
use crate::record::{
    FailureKind, Gate, HealthRecord, HookRecord, Ledger, Outcome, PlanRecord, PolicyRecord, RenderedRecord,
    Stage, StageTiming, SyncRecord, Trigger,
};
use crate::render::{RenderRequest, render};
use crate::verify::{VerifyGateError, VerifyRequest, verify_revision};

/// How long to wait for a CustomResourceDefinition applied in a sync to be established.
const CRD_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a hook Job may run.
const HOOK_TIMEOUT: Duration = Duration::from_secs(300);
/// Live objects read at once while polling health.
const HEALTH_READS_IN_FLIGHT: usize = 16;

/// Whether a run only plans or also applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Everything up to the plan; writes nothing.
    Plan,
    /// The whole pipeline.
    Sync,
}

impl Mode {
    /// `plan` or `sync`, as in the record's `run`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Plan => "plan",
            Mode::Sync => "sync",
        }
    }
}

/// One run's request.
#[derive(Debug, Clone, Copy)]
pub struct SyncRequest<'a> {
    /// The app.
    pub app: &'a Application,
    /// Plan or sync.
    pub mode: Mode,
    /// A revision instead of `spec.source.revision` (a rollback or roll forward; the history
    /// rule still applies).
    pub revision: Option<&'a str>,
    /// What started it.
    pub trigger: Trigger,
}

/// What runs need: the plugin host, the clone cache, the cluster. Shared by every run.
pub struct Syncer {
    /// Runs renderer, health and policy plugins.
    pub host: PluginHost,
    /// The clone cache.
    pub source: Source,
    /// Credentials for the app's repositories.
    pub auth: Auth,
    /// The target cluster.
    pub cluster: Cluster,
    /// Health plugins, first answer wins (see [`crate::health::load_plugins`]).
    pub health_plugins: Vec<HealthPlugin>,
    /// Where records are appended, if anywhere.
    pub ledger: Option<Ledger>,
    /// The first pause between health polls (it doubles up to 2 s).
    pub health_poll: Duration,
}

/// Why a run stopped early.
enum Stop {
    Refused { gate: Gate, reason: String },
    Failed { stage: Stage, kind: FailureKind, reason: String },
}

impl Stop {
    fn input(stage: Stage, reason: impl std::fmt::Display) -> Self {
        Stop::Failed { stage, kind: FailureKind::Input, reason: reason.to_string() }
    }

    fn runtime(stage: Stage, reason: impl std::fmt::Display) -> Self {
        Stop::Failed { stage, kind: FailureKind::Runtime, reason: reason.to_string() }
    }

    fn source(stage: Stage, e: &SourceError) -> Self {
        let kind = if e.is_input() { FailureKind::Input } else { FailureKind::Runtime };
        Stop::Failed { stage, kind, reason: e.to_string() }
    }

    fn cluster(stage: Stage, e: &ClusterError) -> Self {
        Stop::Failed { stage, kind: cluster_failure(e), reason: e.to_string() }
    }
}

/// Whose fault a cluster error is: the input's (an object or kubeconfig the server or client
/// refuses: 4xx) or the environment's (unreachable, 5xx, a corrupt state ConfigMap).
#[must_use]
pub fn cluster_failure(e: &ClusterError) -> FailureKind {
    let server = |code: u16| code == 0 || code >= 500;
    match e {
        ClusterError::Unreachable { .. }
        | ClusterError::Request { .. }
        | ClusterError::InvalidState { .. } => FailureKind::Runtime,
        ClusterError::Api { code, .. } if server(*code) => FailureKind::Runtime,
        ClusterError::DryRun { failures } if failures.iter().any(|f| server(f.code)) => FailureKind::Runtime,
        _ => FailureKind::Input,
    }
}

/// Tracks stage timings into the record.
struct Timer {
    stage: Stage,
    started: Instant,
}

impl Timer {
    fn start(stage: Stage) -> Self {
        Self { stage, started: Instant::now() }
    }

    fn stop(self, record: &mut SyncRecord) {
        let ms = (self.started.elapsed().as_secs_f64() * 100_000.0).round() / 100.0;
        record.timings.push(StageTiming { stage: self.stage, ms });
    }
}

/// Run blocking work (Git, plugins, policy evaluation) without stalling the runtime's other
/// tasks.
fn blocking<T>(f: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        _ => f(),
    }
}

impl Syncer {
    /// Run the pipeline once. Never fails: a refusal or failure is the record's outcome.
    pub async fn run(&self, request: &SyncRequest<'_>) -> SyncRecord {
        let app = request.app;
        let revision = request.revision.unwrap_or(&app.spec.source.revision).to_owned();
        let mut record = SyncRecord::new(
            &app.metadata.name,
            request.mode.as_str(),
            request.trigger,
            &app.spec.source.repo_url,
            &revision,
        );
        let span = tracing::info_span!("sync", app = %record.app, revision = %revision, run = record.run);
        let result = self.pipeline(request, &revision, &mut record).instrument(span.clone()).await;
        match result {
            Ok(outcome) => record.outcome = outcome,
            Err(Stop::Refused { gate, reason }) => {
                record.outcome = Outcome::Refused;
                record.gate = Some(gate);
                record.reason = Some(reason);
            }
            Err(Stop::Failed { stage, kind, reason }) => {
                record.outcome = Outcome::Failed;
                record.failed_stage = Some(stage);
                record.failure = Some(kind);
                record.reason = Some(reason);
            }
        }
        record.finished_at = crate::record::now_rfc3339();
        if request.mode == Mode::Sync {
            self.record_event(&mut record).await;
        }
        if let Some(ledger) = &self.ledger {
            let timer = Timer::start(Stage::Record);
            if let Err(e) = ledger.append(&record) {
                // An unrecorded sync is a failed one: auditors must see every decision.
                record.outcome = Outcome::Failed;
                record.failed_stage = Some(Stage::Record);
                record.failure = Some(FailureKind::Runtime);
                record.reason = Some(e.to_string());
            }
            timer.stop(&mut record);
        }
        span.in_scope(|| {
            tracing::info!(outcome = ?record.outcome, ms = record.total_ms(), "run finished");
        });
        record
    }

    /// A Kubernetes Event for a sync that changed something or needs a person (not for an
    /// unchanged or suspended one: those would only add noise every interval). An Event that
    /// cannot be written is a warning in the record, not a failed sync.
    async fn record_event(&self, record: &mut SyncRecord) {
        let (event_type, reason) = match record.outcome {
            Outcome::Synced => (EventType::Normal, "Synced"),
            Outcome::Refused => (EventType::Warning, "SyncRefused"),
            Outcome::Failed => (EventType::Warning, "SyncFailed"),
            Outcome::Unhealthy => (EventType::Warning, "Unhealthy"),
            Outcome::Planned | Outcome::Unchanged | Outcome::Suspended => return,
        };
        let timer = Timer::start(Stage::Record);
        let event = AppEvent { event_type, reason: reason.into(), message: record.summary() };
        match self.cluster.record_event(&record.app, &event).await {
            Ok(true) => {}
            Ok(false) => {
                tracing::debug!(app = %record.app, "no Event: the app has no state in the cluster yet")
            }
            Err(e) => record.warnings.push(format!("Kubernetes Event not recorded: {e}")),
        }
        timer.stop(record);
    }

    async fn pipeline(
        &self,
        request: &SyncRequest<'_>,
        revision: &str,
        record: &mut SyncRecord,
    ) -> Result<Outcome, Stop> {
        let app = request.app;
        let spec = &app.spec;
        let name = app.metadata.name.as_str();
        if spec.sync.suspend && request.mode == Mode::Sync {
            record.reason = Some("sync.suspend is set: not reconciling".into());
            return Ok(Outcome::Suspended);
        }

        // Source: the repository at the revision, and the app's last synced state.
        let timer = Timer::start(Stage::Source);
        let (repo, resolved) = blocking(|| {
            let repo = self.source.fetch(&spec.source.repo_url, &self.auth)?;
            let resolved = repo.resolve(revision)?;
            Ok::<_, SourceError>((repo, resolved))
        })
        .map_err(|e| Stop::source(Stage::Source, &e))?;
        record.commit = Some(resolved.commit.to_string());
        let state = self.cluster.read_state(name).await.map_err(|e| Stop::cluster(Stage::Source, &e))?;
        record.previous_commit = state.as_ref().and_then(|s| s.revision.clone());
        timer.stop(record);

        // Gate 1.
        let timer = Timer::start(Stage::Verify);
        let since = last_synced(&repo, &spec.verify, record)?;
        let report = blocking(|| {
            verify_revision(&VerifyRequest {
                repo: &repo,
                resolved: &resolved,
                since,
                spec: &spec.verify,
                now: SystemTime::now(),
            })
        })
        .map_err(|e| gate_error(&e))?;
        let (passed, verified, reason) = (report.passed, report.verified, report.reason.clone());
        record.signer = report.signer.clone();
        record.verification = Some(report);
        timer.stop(record);
        if !passed {
            return Err(Stop::Refused {
                gate: Gate::Verify,
                reason: format!(
                    "{revision} ({}): {}",
                    short(&resolved.commit),
                    reason.unwrap_or_else(|| "refused".into())
                ),
            });
        }
        if !verified && spec.verify.mode == VerifyMode::Audit {
            record.warnings.push(format!("verify (audit mode): {}", reason.unwrap_or_default()));
        }

        // Render.
        let timer = Timer::start(Stage::Render);
        let checkout =
            blocking(|| repo.checkout(resolved.commit)).map_err(|e| Stop::source(Stage::Render, &e))?;
        let app_dir = checkout.app_dir(&spec.source.path).map_err(|e| Stop::source(Stage::Render, &e))?;
        let plugin = renderer_plugin(spec.render.plugin.as_deref())?;
        let rendered = blocking(|| {
            render(
                &self.host,
                &RenderRequest {
                    path: app_dir,
                    root: Some(checkout.root.clone()),
                    plugin,
                    params: spec.render.params.clone(),
                },
            )
        })
        .map_err(|e| {
            let kind = match e.class() {
                driftless_plugin_host::ErrorClass::Input => FailureKind::Input,
                driftless_plugin_host::ErrorClass::Runtime => FailureKind::Runtime,
            };
            Stop::Failed { stage: Stage::Render, kind, reason: format!("render {}: {e}", spec.source.path) }
        })?;
        record.rendered = Some(RenderedRecord {
            plugin: rendered.plugin.clone(),
            path: rendered.path.clone(),
            objects: rendered.objects.len(),
        });
        // Policies judge the objects as they will be applied: in the namespace they land in.
        let objects = self
            .cluster
            .scope_namespaces(rendered.objects, spec.destination.namespace.as_deref())
            .await
            .map_err(|e| Stop::cluster(Stage::Render, &e))?;
        timer.stop(record);

        // Secrets: no backends yet; objects pass through unchanged.
        let timer = Timer::start(Stage::Secrets);
        timer.stop(record);

        // Gate 2.
        if !spec.policy.sources.is_empty() {
            let timer = Timer::start(Stage::Policy);
            let policy = self.policy_gate(app, &checkout, &objects).await;
            timer.stop(record);
            let policy = policy?;
            let denied: Vec<String> = policy
                .decisions
                .iter()
                .filter(|d| d.blocks())
                .map(|d| {
                    let object =
                        d.object.as_ref().map_or_else(|| "the whole set".to_owned(), ToString::to_string);
                    format!("{} on {object}: {}", d.policy, d.messages.join("; "))
                })
                .collect();
            for d in
                policy.decisions.iter().filter(|d| d.outcome == driftless_core::policy::PolicyOutcome::Warned)
            {
                record.warnings.push(format!("policy {} (warn): {}", d.policy, d.messages.join("; ")));
            }
            for w in &policy.expired_waivers {
                record.warnings.push(format!(
                    "waiver {} for {} expired on {}: no longer applied",
                    w.name, w.policy, w.expired
                ));
            }
            record.policy = Some(policy);
            if !denied.is_empty() {
                let more = if denied.len() > 3 {
                    format!(" (and {} more)", denied.len() - 3)
                } else {
                    String::new()
                };
                return Err(Stop::Refused {
                    gate: Gate::Policy,
                    reason: format!(
                        "{} denied: {}{more}",
                        plural(denied.len(), "decision"),
                        denied[..denied.len().min(3)].join(" | ")
                    ),
                });
            }
        }

        // Plan: the objects labelled as this app's, hooks aside.
        let timer = Timer::start(Stage::Plan);
        let (desired, hooks) = split_hooks(objects, name, spec.destination.namespace.as_deref())?;
        let prune = spec.sync.automated.is_some_and(|a| a.prune);
        let planned = self
            .cluster
            .plan(&PlanRequest {
                app: name,
                desired: &desired,
                default_namespace: spec.destination.namespace.as_deref(),
                ignore_differences: &spec.sync.ignore_differences,
                prune,
                state: state.as_ref(),
            })
            .await;
        timer.stop(record);
        let planned = planned.map_err(|e| Stop::cluster(Stage::Plan, &e))?;
        record.plan = Some(PlanRecord { summary: planned.plan.summary(), plan: planned.plan.clone() });
        if request.mode == Mode::Plan {
            return Ok(Outcome::Planned);
        }

        // Apply: PreSync hooks, the objects in order, prune, the app's new state.
        let timer = Timer::start(Stage::Apply);
        let applied = self.apply(&planned, &hooks, &resolved, state.as_ref(), record).await;
        timer.stop(record);
        let new_state = applied?;
        let wrote = !record.applied.is_empty() || !record.deleted.is_empty() || !record.hooks.is_empty();
        if !wrote {
            return Ok(Outcome::Unchanged);
        }

        // Health of what the app owns, then PostSync hooks.
        let timer = Timer::start(Stage::Health);
        let health = self.wait_healthy(&new_state, spec.health.timeout.0).await;
        timer.stop(record);
        let health = health?;
        let healthy = health.healthy;
        record.health = Some(health);
        if !healthy {
            record.reason = Some(format!("not healthy within health.timeout ({})", spec.health.timeout));
            return Ok(Outcome::Unhealthy);
        }
        let post: Vec<&Object> =
            hooks.iter().filter(|(p, _)| *p == HookPhase::PostSync).map(|(_, o)| o).collect();
        if !post.is_empty() {
            let timer = Timer::start(Stage::Apply);
            let result = self.run_hooks(&post, HookPhase::PostSync, record).await;
            timer.stop(record);
            result?;
        }
        Ok(Outcome::Synced)
    }
}

/// The last synced commit as an id in `repo`. A commit the repository no longer has means its
/// history was rewritten: refused unless allowed (or reported, in audit mode).
fn last_synced(
    repo: &Repo,
    verify: &driftless_core::spec::VerifySpec,
    record: &mut SyncRecord,
) -> Result<Option<ObjectId>, Stop> {
    let Some(hex) = record.previous_commit.clone() else { return Ok(None) };
    if let Some(id) = ObjectId::from_hex(hex.as_bytes()).ok().filter(|id| repo.raw_object(*id).is_ok()) {
        return Ok(Some(id));
    }
    if verify.allow_history_rewrite {
        return Ok(None);
    }
    let reason = format!(
        "not a descendant: the last synced commit {hex} is not in the repository any more (history \
         was rewritten, e.g. by a force push; set allowHistoryRewrite to accept)"
    );
    match verify.mode {
        VerifyMode::Enforce => Err(Stop::Refused { gate: Gate::Verify, reason }),
        VerifyMode::Audit => {
            record.warnings.push(format!("verify (audit mode): {reason}"));
            Ok(None)
        }
        VerifyMode::Off => Ok(None),
    }
}

/// `PreSync` or `PostSync`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HookPhase {
    PreSync,
    PostSync,
}

impl HookPhase {
    fn as_str(self) -> &'static str {
        match self {
            HookPhase::PreSync => "PreSync",
            HookPhase::PostSync => "PostSync",
        }
    }
}

/// Hook Jobs with their phase.
type Hooks = Vec<(HookPhase, Object)>;

/// The objects to apply, labelled as the app's, and the hook Jobs apart.
fn split_hooks(
    objects: Vec<Object>,
    app: &str,
    namespace: Option<&str>,
) -> Result<(Vec<Object>, Hooks), Stop> {
    let mut desired = Vec::with_capacity(objects.len());
    let mut hooks = Vec::new();
    for mut object in objects {
        object.set_label(APP_LABEL, app);
        let Some(phase) = object.annotation(HOOK_ANNOTATION).map(str::to_owned) else {
            desired.push(object);
            continue;
        };
        let phase = match phase.as_str() {
            "PreSync" => HookPhase::PreSync,
            "PostSync" => HookPhase::PostSync,
            other => {
                return Err(Stop::input(
                    Stage::Plan,
                    format!(
                        "{}: {HOOK_ANNOTATION} must be PreSync or PostSync, not {other:?}",
                        object.object_ref()
                    ),
                ));
            }
        };
        if object.kind() != "Job" || !object.api_version().starts_with("batch/") {
            return Err(Stop::input(
                Stage::Plan,
                format!("{}: only batch Jobs can be hooks ({HOOK_ANNOTATION})", object.object_ref()),
            ));
        }
        if object.namespace().is_none() {
            object.set_namespace(namespace.unwrap_or("default"));
        }
        hooks.push((phase, object));
    }
    Ok((desired, hooks))
}

/// `spec.render.plugin`: a built-in renderer's name, or an absolute path of a `.wasm`
/// component the operator installed. Never a file from the app's repository.
fn renderer_plugin(plugin: Option<&str>) -> Result<Option<String>, Stop> {
    match plugin {
        None => Ok(None),
        Some(name) if !name.contains('/') && !name.ends_with(".wasm") => Ok(Some(name.to_owned())),
        Some(path) if Path::new(path).is_absolute() => Ok(Some(path.to_owned())),
        Some(path) => Err(Stop::input(
            Stage::Render,
            format!(
                "spec.render.plugin {path:?}: a renderer is a built-in name or an absolute path on the \
                 host running driftless; plugins are never loaded from the app's repository"
            ),
        )),
    }
}

fn gate_error(e: &VerifyGateError) -> Stop {
    match e {
        VerifyGateError::Trust(_) => Stop::input(Stage::Verify, format!("spec.verify: {e}")),
        VerifyGateError::Source(s) => Stop::source(Stage::Verify, s),
    }
}

fn short(id: &ObjectId) -> String {
    id.to_hex_with_len(12).to_string()
}

fn plural(n: usize, what: &str) -> String {
    if n == 1 { format!("1 {what}") } else { format!("{n} {what}s") }
}

impl Syncer {
    /// Gate 2: load the app's policies (from its checkout, or from other repositories that
    /// pass the same signature gate) and judge the rendered objects.
    async fn policy_gate(
        &self,
        app: &Application,
        checkout: &Checkout,
        objects: &[Object],
    ) -> Result<PolicyRecord, Stop> {
        let spec = &app.spec.policy;
        let mut paths = Vec::new();
        let mut sources = Vec::new();
        for (i, source) in spec.sources.iter().enumerate() {
            let field = format!("spec.policy.sources[{i}]");
            let Some(url) = &source.repo_url else {
                paths.push(
                    policy_path(checkout, &source.path)
                        .map_err(|e| Stop::input(Stage::Policy, format!("{field}: {e}")))?,
                );
                sources.push(source.path.clone());
                continue;
            };
            // Whoever may push unsigned commits to a policy repository must not be able to
            // weaken the gate: it is verified like the app's source, and fails closed.
            let revision = source.revision.as_deref().unwrap_or("HEAD");
            let (repo, resolved) = blocking(|| {
                let repo = self.source.fetch(url, &self.auth)?;
                let resolved = repo.resolve(revision)?;
                Ok::<(Repo, Resolved), SourceError>((repo, resolved))
            })
            .map_err(|e| Stop::source(Stage::Policy, &e))?;
            let report = blocking(|| {
                verify_revision(&VerifyRequest {
                    repo: &repo,
                    resolved: &resolved,
                    since: None,
                    spec: &app.spec.verify,
                    now: SystemTime::now(),
                })
            })
            .map_err(|e| gate_error(&e))?;
            if !report.passed {
                return Err(Stop::Refused {
                    gate: Gate::Verify,
                    reason: format!(
                        "policy source {} at {revision} ({}): {}",
                        driftless_source::redact_url(url),
                        short(&resolved.commit),
                        report.reason.unwrap_or_else(|| "refused".into())
                    ),
                });
            }
            let policy_checkout =
                blocking(|| repo.checkout(resolved.commit)).map_err(|e| Stop::source(Stage::Policy, &e))?;
            paths.push(
                policy_path(&policy_checkout, &source.path)
                    .map_err(|e| Stop::input(Stage::Policy, format!("{field}: {e}")))?,
            );
            sources.push(format!(
                "{}@{}:{}",
                driftless_source::redact_url(url),
                resolved.commit,
                source.path
            ));
        }
        let waivers = match &spec.waivers {
            Some(path) => {
                let file = checkout
                    .file(path)
                    .map_err(|e| Stop::input(Stage::Policy, format!("spec.policy.waivers: {e}")))?;
                driftless_policy::load_waivers(&file).map_err(|e| Stop::input(Stage::Policy, e))?
            }
            None => Vec::new(),
        };
        let report = blocking(|| {
            // Plugins are not loaded from repositories: a `.wasm` among the policies fails the
            // load (no plugin host), and so the gate.
            let set = PolicySet::load(&paths, &LoadOptions::default())?
                .with_enforcement(spec.enforcement)
                .with_waivers(waivers);
            Ok::<_, driftless_policy::PolicyError>(set.evaluate(objects, &Inventory::default()))
        })
        .map_err(|e| Stop::input(Stage::Policy, e))?;
        Ok(PolicyRecord {
            summary: report.summary(),
            decisions: report.decisions,
            expired_waivers: report.expired_waivers,
            sources,
        })
    }

    /// The Apply stage: PreSync hooks, the plan applied in order (prune last), and the app's
    /// new state written to the cluster. Returns the new state.
    async fn apply(
        &self,
        planned: &driftless_cluster::PlannedSync,
        hooks: &[(HookPhase, Object)],
        resolved: &Resolved,
        previous: Option<&AppState>,
        record: &mut SyncRecord,
    ) -> Result<AppState, Stop> {
        let pre: Vec<&Object> =
            hooks.iter().filter(|(p, _)| *p == HookPhase::PreSync).map(|(_, o)| o).collect();
        self.run_hooks(&pre, HookPhase::PreSync, record).await?;
        let report = match self.cluster.apply(planned, &ApplyOptions { crd_timeout: CRD_TIMEOUT }).await {
            Ok(report) => report,
            Err(e) => {
                record.applied = e.applied().to_vec();
                // A deferred dry run refusing an object is the input's fault; a write failing
                // after its dry run passed is the environment's.
                let kind = match e {
                    ApplyError::DryRun { .. } => FailureKind::Input,
                    _ => FailureKind::Runtime,
                };
                return Err(Stop::Failed { stage: Stage::Apply, kind, reason: e.to_string() });
            }
        };
        record.applied = report.applied;
        record.deleted = report.deleted;
        let mut state = report.state;
        state.revision = Some(resolved.commit.to_string());
        let changed = previous.is_none_or(|p| p.revision != state.revision || p.inventory != state.inventory);
        if changed {
            state.synced_at = Some(crate::record::now_rfc3339());
            self.cluster
                .write_state(&record.app, &state)
                .await
                .map_err(|e| Stop::cluster(Stage::Apply, &e))?;
        }
        Ok(state)
    }

    /// Run hook Jobs one after the other; the first that fails stops the sync.
    async fn run_hooks(
        &self,
        jobs: &[&Object],
        phase: HookPhase,
        record: &mut SyncRecord,
    ) -> Result<(), Stop> {
        for job in jobs {
            let outcome = self
                .cluster
                .run_hook(job, HOOK_TIMEOUT)
                .await
                .map_err(|e| Stop::cluster(Stage::Apply, &e))?;
            record.hooks.push(HookRecord {
                object: job.object_ref(),
                phase: phase.as_str().to_owned(),
                succeeded: outcome.succeeded,
                message: outcome.message.clone(),
            });
            if !outcome.succeeded {
                return Err(Stop::input(
                    Stage::Apply,
                    format!("{} hook {} failed: {}", phase.as_str(), job.object_ref(), outcome.message),
                ));
            }
        }
        Ok(())
    }

    /// Poll the app's objects that some health plugin handles until every one is Healthy or
    /// Suspended, one is Degraded (or Unknown), or `timeout` passes.
    async fn wait_healthy(&self, state: &AppState, timeout: Duration) -> Result<HealthRecord, Stop> {
        let refs: Vec<ObjectRef> = state
            .inventory
            .iter()
            .map(|e| e.object.clone())
            .filter(|r| {
                let gvk = driftless_core::GroupVersionKind::from_api_version(&r.api_version, &r.kind);
                self.health_plugins.iter().any(|p| p.handles(&gvk.group, &gvk.kind))
            })
            .collect();
        let deadline = Instant::now() + timeout;
        let mut pause = self.health_poll;
        loop {
            let mut live: Vec<Result<Option<Object>, ClusterError>> = Vec::with_capacity(refs.len());
            for chunk in refs.chunks(HEALTH_READS_IN_FLIGHT) {
                live.extend(futures_util::future::join_all(chunk.iter().map(|r| self.cluster.get(r))).await);
            }
            let mut results: Vec<ObjectHealth> = refs
                .iter()
                .map(|r| ObjectHealth {
                    object: r.clone(),
                    status: Some(HealthStatus::Missing),
                    message: Some("not in the cluster".into()),
                    plugin: None,
                })
                .collect();
            let mut found = Vec::new();
            let mut slots = Vec::new();
            for (i, live) in live.into_iter().enumerate() {
                if let Some(object) = live.map_err(|e| Stop::cluster(Stage::Health, &e))? {
                    slots.push(i);
                    found.push(object);
                }
            }
            let assessed = blocking(|| assess(&self.health_plugins, &found))
                .map_err(|e| Stop::runtime(Stage::Health, e))?;
            for (i, health) in slots.into_iter().zip(assessed) {
                results[i].status = health.status;
                results[i].message = health.message;
                results[i].plugin = health.plugin;
            }
            let healthy = results
                .iter()
                .all(|h| matches!(h.status, None | Some(HealthStatus::Healthy | HealthStatus::Suspended)));
            let waiting = results
                .iter()
                .any(|h| matches!(h.status, Some(HealthStatus::Progressing | HealthStatus::Missing)));
            let now = Instant::now();
            if healthy || !waiting || now >= deadline {
                return Ok(HealthRecord { healthy, objects: results });
            }
            tokio::time::sleep(pause.min(deadline - now)).await;
            pause = (pause * 2).min(Duration::from_secs(2));
        }
    }
}

/// A policy source's path in a checkout: a directory of policies or one file.
fn policy_path(checkout: &Checkout, path: &str) -> Result<PathBuf, SourceError> {
    checkout.app_dir(path).or_else(|_| checkout.file(path))
}
