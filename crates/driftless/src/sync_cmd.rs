//! `driftless plan` and `driftless sync`: read an Application, run the gated pipeline against
//! a cluster, print the record, map its outcome to an exit code.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use driftless_cluster::Cluster;
use driftless_core::spec::Application;
use driftless_engine::fleet::{reconcile_all, run_all};
use driftless_engine::health::load_plugins;
use driftless_engine::reconcile::reconcile;
use driftless_engine::record::{FailureKind, Ledger, Outcome, SyncRecord, Trigger};
use driftless_engine::sync::{Mode, SyncRequest, Syncer};
use driftless_plugin_host::ErrorClass;

use crate::commands::Output;
use crate::git_args::GitArgs;
use crate::{Failure, LimitArgs, write_stdout};

#[derive(Debug, clap::Args)]
pub(crate) struct AppArgs {
    /// Applications (YAML, `driftless.dev/v1alpha1`): a file of one or more documents, or a
    /// directory of such files (`*.yaml`, `*.yml`); repeatable. Names must be unique.
    #[arg(long = "file", short = 'f', value_name = "APP.yaml|DIR", required = true)]
    files: Vec<PathBuf>,
    /// With several apps: how many run at once.
    #[arg(long, value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..))]
    parallel: u16,
    /// The cluster's kubeconfig [default: $KUBECONFIG, else ~/.kube/config, else the
    /// in-cluster service account].
    #[arg(long, value_name = "FILE")]
    kubeconfig: Option<PathBuf>,
    /// A revision instead of spec.source.revision: roll back or forward, through the same gates
    /// and the history rule (going back needs allowHistoryRewrite). One app only.
    #[arg(long, value_name = "REV")]
    revision: Option<String>,
    /// Output format: text for people; json is the sync record (one JSON object per run).
    #[arg(long, short, value_enum, default_value_t = Output::Text)]
    output: Output,
    /// Append every sync record to this file, one JSON object per line.
    #[arg(long, value_name = "FILE")]
    ledger: Option<PathBuf>,
    /// A health plugin to consult before the built-in ones; repeatable, first wins.
    #[arg(long = "health-plugin", value_name = "FILE.wasm")]
    health_plugins: Vec<PathBuf>,
    #[command(flatten)]
    git: GitArgs,
    #[command(flatten)]
    limits: LimitArgs,
}

#[derive(Debug, clap::Args)]
pub(crate) struct SyncArgs {
    #[command(flatten)]
    app: AppArgs,
    /// Keep reconciling: poll the source every spec.sync.interval, watch the applied kinds for
    /// drift (reverted when selfHeal is on), back off with jitter after failures. Stops on
    /// Ctrl-C.
    #[arg(long)]
    watch: bool,
    /// With --watch: stop after this many runs.
    #[arg(long, value_name = "N", requires = "watch")]
    max_runs: Option<usize>,
}

/// `driftless plan`.
pub(crate) fn run_plan(args: &AppArgs) -> Result<(), Failure> {
    let (apps, runtime) = prepare(args)?;
    runtime.block_on(async {
        let syncer = Arc::new(syncer(args).await?);
        let mut printed = Printer::new(args.output);
        let records = if let [app] = &apps[..] {
            let request = SyncRequest {
                app,
                mode: Mode::Plan,
                revision: args.revision.as_deref(),
                trigger: Trigger::Manual,
            };
            let record = syncer.run(&request).await;
            printed.print(&record);
            vec![record]
        } else {
            run_all(syncer, apps, Mode::Plan, args.parallel.into(), |r| printed.print(r)).await
        };
        printed.finish(&records)
    })
}

/// `driftless sync`.
pub(crate) fn run_sync(args: &SyncArgs) -> Result<(), Failure> {
    let (apps, runtime) = prepare(&args.app)?;
    runtime.block_on(async {
        let syncer = Arc::new(syncer(&args.app).await?);
        let mut printed = Printer::new(args.app.output);
        let revision = args.app.revision.as_deref();
        if !args.watch {
            let records = if let [app] = &apps[..] {
                let request = SyncRequest { app, mode: Mode::Sync, revision, trigger: Trigger::Manual };
                let record = syncer.run(&request).await;
                printed.print(&record);
                vec![record]
            } else {
                run_all(syncer, apps, Mode::Sync, args.app.parallel.into(), |r| printed.print(r)).await
            };
            return printed.finish(&records);
        }
        // Watching ends on request (or after --max-runs): its exit code is that of each app's
        // last run.
        let mut last: BTreeMap<String, SyncRecord> = BTreeMap::new();
        let ctrl_c = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        let on_record = |record: &SyncRecord| {
            printed.print(record);
            last.insert(record.app.clone(), record.clone());
        };
        if let [app] = &apps[..] {
            reconcile(&syncer, app, revision, args.max_runs, on_record, ctrl_c).await;
        } else {
            reconcile_all(syncer, apps, args.max_runs, on_record, ctrl_c).await;
        }
        let records: Vec<SyncRecord> = last.into_values().collect();
        printed.finish(&records)
    })
}

/// Every Application in the files and directories given, each name once.
fn load_apps(paths: &[PathBuf]) -> Result<Vec<Application>, anyhow::Error> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(path)
                .with_context(|| format!("read directory {}", path.display()))?
                .filter_map(|entry| entry.ok().map(|e| e.path()))
                .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
                .collect();
            if found.is_empty() {
                anyhow::bail!("{}: no *.yaml or *.yml file", path.display());
            }
            found.sort();
            files.extend(found);
        } else {
            files.push(path.clone());
        }
    }
    let mut apps: Vec<Application> = Vec::new();
    let mut seen: BTreeMap<String, PathBuf> = BTreeMap::new();
    for file in files {
        let text = std::fs::read_to_string(&file).with_context(|| format!("read {}", file.display()))?;
        for app in Application::from_yaml_stream(&text).with_context(|| file.display().to_string())? {
            if let Some(first) = seen.insert(app.metadata.name.clone(), file.clone()) {
                anyhow::bail!(
                    "Application {:?} is defined twice: in {} and in {}",
                    app.metadata.name,
                    first.display(),
                    file.display()
                );
            }
            apps.push(app);
        }
    }
    Ok(apps)
}

fn prepare(args: &AppArgs) -> Result<(Arc<[Application]>, tokio::runtime::Runtime), Failure> {
    let apps = load_apps(&args.files).map_err(|e| Failure::new(ErrorClass::Input, e))?;
    if apps.len() > 1 && args.revision.is_some() {
        return Err(Failure::new(
            ErrorClass::Input,
            anyhow::anyhow!("--revision needs exactly one Application; {} were given", apps.len()),
        ));
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::new(ErrorClass::Runtime, e))?;
    Ok((apps.into(), runtime))
}

async fn syncer(args: &AppArgs) -> Result<Syncer, Failure> {
    let cluster = Cluster::connect(args.kubeconfig.as_deref()).await.map_err(|e| {
        let class = match driftless_engine::sync::cluster_failure(&e) {
            FailureKind::Input => ErrorClass::Input,
            FailureKind::Runtime => ErrorClass::Runtime,
        };
        Failure::new(class, anyhow::Error::new(e).context("connect to the cluster"))
    })?;
    let host = args.limits.host()?;
    let health_plugins =
        load_plugins(&host, &args.health_plugins).map_err(|e| Failure::new(ErrorClass::Input, e))?;
    Ok(Syncer {
        host,
        source: args.git.source(),
        auth: args.git.auth(),
        cluster,
        health_plugins,
        ledger: args.ledger.clone().map(Ledger::new),
        health_poll: Duration::from_millis(250),
    })
}

/// 0: planned, synced, unchanged or suspended; 1: a gate refused, or not healthy in time;
/// 2: the input is at fault; 3: something outside it failed.
fn exit_for(record: &SyncRecord) -> Result<(), Failure> {
    let reason = record.reason.clone().unwrap_or_default();
    match record.outcome {
        Outcome::Planned | Outcome::Synced | Outcome::Unchanged | Outcome::Suspended => Ok(()),
        Outcome::Refused => {
            let gate = record.gate.map_or_else(|| "a".to_owned(), |g| format!("the {}", g.as_str()));
            Err(Failure::refused(anyhow::anyhow!("{} refused by {gate} gate: {reason}", record.run)))
        }
        Outcome::Unhealthy => Err(Failure::refused(anyhow::anyhow!("{}: {reason}", record.app))),
        Outcome::Failed => {
            let class = match record.failure {
                Some(FailureKind::Input) => ErrorClass::Input,
                _ => ErrorClass::Runtime,
            };
            let stage = record.failed_stage.map_or_else(String::new, |s| format!(" at {s}"));
            Err(Failure::new(class, anyhow::anyhow!("{} failed{stage}: {reason}", record.run)))
        }
    }
}

/// Prints records as they come and turns the last ones into the exit code.
struct Printer {
    output: Output,
    failed: Option<Failure>,
}

impl Printer {
    fn new(output: Output) -> Self {
        Self { output, failed: None }
    }

    fn print(&mut self, record: &SyncRecord) {
        let text = match self.output {
            Output::Json => match serde_json::to_string(record) {
                Ok(mut text) => {
                    text.push('\n');
                    text
                }
                Err(e) => {
                    self.failed.get_or_insert(Failure::new(ErrorClass::Runtime, e));
                    return;
                }
            },
            Output::Text => record.text(),
        };
        if let Err(e) = write_stdout(&text) {
            self.failed.get_or_insert(e);
        }
    }

    /// One app: its exit code. Several: a summary line on stderr, and the gravest exit code
    /// (3 over 2 over 1 over 0), naming every app that did not succeed.
    fn finish(self, records: &[SyncRecord]) -> Result<(), Failure> {
        if let Some(e) = self.failed {
            return Err(e);
        }
        if let [record] = records {
            return exit_for(record);
        }
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for record in records {
            *counts.entry(record.outcome.as_str()).or_default() += 1;
        }
        let summary: Vec<String> = counts.iter().map(|(outcome, n)| format!("{n} {outcome}")).collect();
        eprintln!("{} apps: {}", records.len(), summary.join(", "));
        let failures: Vec<Failure> = records.iter().filter_map(|r| exit_for(r).err()).collect();
        let Some(code) = failures.iter().map(|f| f.code).max() else {
            return Ok(());
        };
        let message: Vec<String> = failures.iter().map(|f| format!("{:#}", f.error)).collect();
        Err(Failure { code, error: anyhow::anyhow!("{}", message.join("\n")) })
    }
}
