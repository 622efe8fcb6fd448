//! `driftless demo`: the product's main job, end to end, for a newcomer with no cluster.
//!
//! It starts the sandbox cluster in-process, makes a Git repository from the bundled example
//! (`examples/guestbook`) and two library policies, with commits signed by an SSH key it
//! generates and trusts, then shows, with the real pipeline:
//! 1. the gated plan, then the sync and its health;
//! 2. drift: a Deployment scaled behind driftless's back, seen by the watch and healed;
//! 3. an unsigned commit refused by the verify gate, the cluster unchanged;
//! 4. a signed commit that breaks a policy (`:latest` image) refused by the policy gate, the
//!    cluster unchanged.
//!
//! Every step checks its own outcome; [`run`] fails naming the step whose result was not the
//! expected one. Entry point: [`run`].

mod git;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use driftless_cluster::Cluster;
use driftless_core::spec::Application;
use driftless_engine::record::{Gate, Outcome, SyncRecord, Trigger};
use driftless_engine::sync::{Mode, SyncRequest, Syncer};
use driftless_plugin_host::{Limits, PluginHost};
use driftless_sandbox::{Sandbox, SandboxConfig};
use driftless_source::{Auth, Source};
use kube::api::{Api, ApiResource, DynamicObject, Patch, PatchParams};

use crate::git::{Repo, Signer};

const APP: &str = "guestbook";
const APP_PATH: &str = "apps/guestbook";
const DEPLOYMENT: &str = "frontend";
/// How long the demo waits for the watch to notice and heal drift.
const HEAL_TIMEOUT: Duration = Duration::from_secs(30);

/// The bundled example and policies, compiled in so the demo runs from any directory.
const FILES: [(&str, &str); 7] = [
    ("apps/guestbook/namespace.yaml", include_str!("../../../examples/guestbook/namespace.yaml")),
    ("apps/guestbook/frontend.yaml", include_str!("../../../examples/guestbook/frontend.yaml")),
    ("apps/guestbook/frontend-config.json", include_str!("../../../examples/guestbook/frontend-config.json")),
    ("apps/guestbook/redis.yaml", include_str!("../../../examples/guestbook/redis.yaml")),
    ("policies/lib/kubernetes.rego", include_str!("../../../policies/lib/kubernetes.rego")),
    ("policies/no_latest_tag/policy.rego", include_str!("../../../policies/no_latest_tag/policy.rego")),
    (
        "policies/resources_required/policy.rego",
        include_str!("../../../policies/resources_required/policy.rego"),
    ),
];

/// The demo failed, or a step did not turn out as it should.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The `git` program failed (is it installed?).
    #[error("{command}: {message}")]
    Git {
        /// The command.
        command: String,
        /// Its error output.
        message: String,
    },
    /// The signing key could not be made or used.
    #[error("signing key: {0}")]
    Key(String),
    /// The built-in plugins could not be loaded.
    #[error("plugins: {0}")]
    Plugins(String),
    /// The sandbox cluster could not start.
    #[error("sandbox: {0}")]
    Sandbox(String),
    /// The cluster could not be reached or answered an error.
    #[error("cluster: {0}")]
    Cluster(String),
    /// A step's result was not the expected one.
    #[error("step {step}: {what}")]
    Unexpected {
        /// The step.
        step: &'static str,
        /// What happened instead.
        what: String,
    },
}

impl DemoError {
    fn io(path: &Path, source: std::io::Error) -> Self {
        DemoError::Io { path: path.to_owned(), source }
    }
}

/// How to run the demo.
#[derive(Debug, Clone, Default)]
pub struct DemoOptions {
    /// Keep the repository, kubeconfig, ledger and caches here (default: a temporary
    /// directory, removed afterwards).
    pub dir: Option<PathBuf>,
}

/// What the demo showed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoSummary {
    /// Objects the first sync applied.
    pub applied: usize,
    /// Replicas the drift set, and the replicas after healing.
    pub healed: (i64, i64),
    /// The reasons of the two refusals (verify, policy).
    pub refusals: Vec<String>,
}

fn unexpected(step: &'static str, what: impl Into<String>) -> DemoError {
    DemoError::Unexpected { step, what: what.into() }
}

fn say(out: &mut dyn Write, text: &str) {
    // The demo's narration is best effort: a closed stdout must not fail the run.
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
}

/// Run the demo, narrating to `out`.
///
/// # Errors
/// [`DemoError`]: a missing `git`, a sandbox that cannot start, or a step whose outcome was not
/// the expected one (named).
pub async fn run(out: &mut dyn Write, options: DemoOptions) -> Result<DemoSummary, DemoError> {
    let temp;
    let dir = match &options.dir {
        Some(dir) => {
            std::fs::create_dir_all(dir).map_err(|e| DemoError::io(dir, e))?;
            dir.clone()
        }
        None => {
            temp = tempfile::tempdir().map_err(|e| DemoError::io(Path::new("(temporary directory)"), e))?;
            temp.path().to_owned()
        }
    };

    say(out, "==> Starting the sandbox cluster (an in-memory Kubernetes API server on 127.0.0.1)\n");
    let mut config = SandboxConfig::new(dir.join("sandbox.kubeconfig"));
    config.ready_after = Some(Duration::from_secs(1));
    let sandbox = Sandbox::start(config).await.map_err(|e| DemoError::Sandbox(e.to_string()))?;
    say(out, &format!("    {} (kubeconfig {})\n", sandbox.url(), sandbox.kubeconfig_path().display()));

    say(
        out,
        "==> Making a Git repository from examples/guestbook, signed by a new SSH key that the app trusts\n",
    );
    let signer = Signer::generate()?;
    let repo = Repo::init(&dir.join("repo"), &dir)?;
    for (path, content) in FILES {
        repo.write(path, content)?;
    }
    let first = repo.commit_signed("Add the guestbook", &signer)?;
    say(
        out,
        &format!("    {} commit {} signed by {}\n", repo.dir().display(), &first[..12], signer.fingerprint()),
    );
    let app = application(repo.dir(), &signer.allowed_signers()?)?;
    say(
        out,
        "    the Application: verify enforce (ssh), policies no_latest_tag + resources_required, selfHeal on\n",
    );

    let cluster = Cluster::connect(Some(sandbox.kubeconfig_path()))
        .await
        .map_err(|e| DemoError::Cluster(e.to_string()))?;
    let host = PluginHost::with_cache(Limits::default(), PluginHost::default_cache_dir().as_deref())
        .map_err(|e| DemoError::Plugins(format!("plugin host: {e}")))?;
    let health_plugins = driftless_engine::health::load_plugins(&host, &[])
        .map_err(|e| DemoError::Plugins(format!("health plugins: {e}")))?;
    let syncer = Arc::new(Syncer {
        host,
        source: Source::new(dir.join("cache")),
        auth: Auth::default(),
        cluster,
        health_plugins,
        ledger: Some(driftless_engine::record::Ledger::new(dir.join("ledger.jsonl"))),
        health_poll: Duration::from_millis(200),
    });
    let run_once = |mode| {
        let syncer = Arc::clone(&syncer);
        let app = app.clone();
        async move { syncer.run(&SyncRequest { app: &app, mode, revision: None, trigger: Trigger::Manual }).await }
    };

    say(
        out,
        "\n==> 1. The gated plan (`driftless plan`): verify, render, policy, dry-run; nothing written\n",
    );
    let plan = run_once(Mode::Plan).await;
    say(out, &plan.text());
    expect(&plan, Outcome::Planned, "plan")?;

    say(out, "\n==> 2. Sync (`driftless sync`): apply in order, wait for health\n");
    let synced = run_once(Mode::Sync).await;
    say(out, &synced.text());
    expect(&synced, Outcome::Synced, "sync")?;
    let applied = synced.applied.len();

    say(out, "\n==> 3. Drift: someone scales deployment/frontend to 1 behind driftless's back\n");
    let healed = heal(out, &syncer, &app, &sandbox).await?;

    say(out, "\n==> 4. An unsigned commit (frontend scaled to 5) must be refused\n");
    let frontend = repo.read("apps/guestbook/frontend.yaml")?;
    repo.write("apps/guestbook/frontend.yaml", &frontend.replacen("replicas: 3", "replicas: 5", 1))?;
    let unsigned = repo.commit_unsigned("Scale the frontend to 5 (unsigned)")?;
    say(out, &format!("    commit {} has no signature\n", &unsigned[..12]));
    let refused = run_once(Mode::Sync).await;
    say(out, &refused.text());
    expect_refused(&refused, Gate::Verify, "unsigned commit")?;
    expect_replicas(&sandbox, 3, "unsigned commit").await?;
    say(out, "    the cluster is unchanged: deployment/frontend still has 3 replicas\n");
    repo.drop_last_commit()?;

    say(out, "\n==> 5. A signed commit that uses an image's :latest tag must be refused by policy\n");
    repo.write(
        "apps/guestbook/frontend.yaml",
        &frontend.replacen("gb-frontend:v5", "gb-frontend:latest", 1),
    )?;
    let violating = repo.commit_signed("Use the latest frontend", &signer)?;
    say(out, &format!("    commit {} signed by {}\n", &violating[..12], signer.fingerprint()));
    let denied = run_once(Mode::Sync).await;
    say(out, &denied.text());
    expect_refused(&denied, Gate::Policy, "policy violation")?;
    let image = live_image(&sandbox).await?;
    if image.ends_with(":latest") {
        return Err(unexpected("policy violation", format!("the cluster runs {image}")));
    }
    say(out, &format!("    the cluster is unchanged: deployment/frontend still runs {image}\n"));

    say(
        out,
        &format!(
            "\n==> Done: {applied} objects synced, drift healed ({} -> {} replicas), an unsigned and a \
             policy-violating commit refused with nothing written.\n",
            healed.0, healed.1,
        ),
    );
    let ledger = dir.join("ledger.jsonl");
    say(
        out,
        &match &options.dir {
            Some(_) => format!("    Every run's sync record is in {} (one JSON object per line).\n", ledger.display()),
            None => "    Run `driftless demo --dir DIR` to keep the repository, kubeconfig and the ledger of sync \
                     records.\n"
                .to_owned(),
        },
    );
    // Watches end before the server goes away.
    drop(syncer);
    let refusals =
        vec![refused.reason.clone().unwrap_or_default(), denied.reason.clone().unwrap_or_default()];
    sandbox.shutdown().await.map_err(|e| DemoError::Sandbox(e.to_string()))?;
    Ok(DemoSummary { applied, healed, refusals })
}

/// The demo's Application.
fn application(repo: &Path, allowed_signers: &str) -> Result<Application, DemoError> {
    let spec = serde_json::json!({
        "apiVersion": driftless_core::spec::API_VERSION,
        "kind": "Application",
        "metadata": {"name": APP},
        "spec": {
            "source": {"repoURL": repo.display().to_string(), "revision": "main", "path": APP_PATH},
            "verify": {"mode": "enforce", "target": "commit", "trust": [{"ssh": {"allowedSigners": allowed_signers}}]},
            "policy": {"sources": [{"path": "policies"}], "enforcement": "deny"},
            "destination": {"namespace": APP},
            "sync": {"automated": {"prune": true, "selfHeal": true}, "interval": "1h"},
            "health": {"timeout": "60s"}
        }
    });
    Application::from_value(spec).map_err(|e| unexpected("application", e.to_string()))
}

fn expect(record: &SyncRecord, outcome: Outcome, step: &'static str) -> Result<(), DemoError> {
    if record.outcome == outcome {
        return Ok(());
    }
    Err(unexpected(
        step,
        format!("expected {outcome:?}, got {:?}: {}", record.outcome, record.reason.as_deref().unwrap_or("")),
    ))
}

fn expect_refused(record: &SyncRecord, gate: Gate, step: &'static str) -> Result<(), DemoError> {
    if record.outcome == Outcome::Refused && record.gate == Some(gate) && record.applied.is_empty() {
        return Ok(());
    }
    Err(unexpected(
        step,
        format!(
            "expected a refusal by the {gate:?} gate, got {:?} ({:?}): {}",
            record.outcome,
            record.gate,
            record.reason.as_deref().unwrap_or("")
        ),
    ))
}

/// Scale the Deployment behind driftless's back while the reconcile loop watches; wait for
/// the drift-triggered run to put it back.
async fn heal(
    out: &mut dyn Write,
    syncer: &Syncer,
    app: &Application,
    sandbox: &driftless_sandbox::RunningSandbox,
) -> Result<(i64, i64), DemoError> {
    let (records_tx, mut records) = tokio::sync::mpsc::unbounded_channel::<SyncRecord>();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    // The loop and the intruder run side by side on this task; the intruder stops the loop.
    let reconcile = driftless_engine::reconcile::reconcile(
        syncer,
        app,
        None,
        None,
        |record| {
            let _ = records_tx.send(record.clone());
        },
        async {
            let _ = stop_rx.await;
        },
    );
    let intruder = async {
        let result = intrude(out, &mut records, sandbox).await;
        let _ = stop_tx.send(());
        result
    };
    let ((), healed) = tokio::join!(reconcile, intruder);
    let healed = healed?;
    say(out, &healed.text());
    expect(&healed, Outcome::Synced, "drift heal")?;
    expect_replicas(sandbox, 3, "drift heal").await?;
    say(out, "    healed: deployment/frontend is back to 3 replicas\n");
    Ok((1, 3))
}

/// Wait for the loop's first run, scale the Deployment, and wait for the drift-triggered run.
async fn intrude(
    out: &mut dyn Write,
    records: &mut tokio::sync::mpsc::UnboundedReceiver<SyncRecord>,
    sandbox: &driftless_sandbox::RunningSandbox,
) -> Result<SyncRecord, DemoError> {
    // The loop's first run finds everything in sync and starts watching.
    let first = tokio::time::timeout(HEAL_TIMEOUT, records.recv())
        .await
        .map_err(|_| unexpected("drift", "the reconcile loop did not run"))?
        .ok_or_else(|| unexpected("drift", "the reconcile loop stopped"))?;
    expect(&first, Outcome::Unchanged, "drift (first run of the loop)")?;
    // Let the watch start before changing anything.
    tokio::time::sleep(Duration::from_millis(500)).await;

    let deployments = deployments(sandbox).await?;
    let patch = serde_json::json!({"spec": {"replicas": 1}});
    deployments
        .patch(DEPLOYMENT, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map_err(|e| DemoError::Cluster(e.to_string()))?;
    say(out, "    kubectl-style merge patch: spec.replicas 3 -> 1\n");

    let deadline = tokio::time::Instant::now() + HEAL_TIMEOUT;
    loop {
        let record = tokio::time::timeout_at(deadline, records.recv())
            .await
            .map_err(|_| unexpected("drift", "no drift-triggered run within 30 s"))?
            .ok_or_else(|| unexpected("drift", "the reconcile loop stopped"))?;
        if record.trigger == Trigger::Drift && record.outcome != Outcome::Unchanged {
            return Ok(record);
        }
    }
}

async fn deployments(sandbox: &driftless_sandbox::RunningSandbox) -> Result<Api<DynamicObject>, DemoError> {
    let kubeconfig = kube::config::Kubeconfig::read_from(sandbox.kubeconfig_path())
        .map_err(|e| DemoError::Cluster(e.to_string()))?;
    let config =
        kube::Config::from_custom_kubeconfig(kubeconfig, &kube::config::KubeConfigOptions::default())
            .await
            .map_err(|e| DemoError::Cluster(e.to_string()))?;
    let client = kube::Client::try_from(config).map_err(|e| DemoError::Cluster(e.to_string()))?;
    let resource = ApiResource {
        group: "apps".into(),
        version: "v1".into(),
        api_version: "apps/v1".into(),
        kind: "Deployment".into(),
        plural: "deployments".into(),
    };
    Ok(Api::namespaced_with(client, APP, &resource))
}

async fn live_deployment(
    sandbox: &driftless_sandbox::RunningSandbox,
) -> Result<serde_json::Value, DemoError> {
    let object =
        deployments(sandbox).await?.get(DEPLOYMENT).await.map_err(|e| DemoError::Cluster(e.to_string()))?;
    serde_json::to_value(object).map_err(|e| DemoError::Cluster(e.to_string()))
}

async fn expect_replicas(
    sandbox: &driftless_sandbox::RunningSandbox,
    replicas: i64,
    step: &'static str,
) -> Result<(), DemoError> {
    let live = live_deployment(sandbox).await?;
    match live.pointer("/spec/replicas").and_then(serde_json::Value::as_i64) {
        Some(n) if n == replicas => Ok(()),
        other => {
            Err(unexpected(step, format!("deployment/frontend has {other:?} replicas, expected {replicas}")))
        }
    }
}

async fn live_image(sandbox: &driftless_sandbox::RunningSandbox) -> Result<String, DemoError> {
    let live = live_deployment(sandbox).await?;
    live.pointer("/spec/template/spec/containers/0/image")
        .and_then(serde_json::Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| unexpected("policy violation", "deployment/frontend has no image"))
}
