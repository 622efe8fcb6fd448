//! Many apps at once: one [`Syncer`] (one plugin host, one clone cache, one cluster connection)
//! shared by every app, a bounded number of runs in flight, records handed back as they finish.
//!
//! Apps on the same repository share its clone, and their fetches: callers that arrive while a
//! fetch runs share the next one (none may see a remote older than at its call), so 200 apps in
//! one repository cost a handful of fetches each round, not 200 (bench: 200 x 20 objects in
//! docs/benchmarks.md; fetching each repository once per round for all its apps is not done).

use std::future::Future;
use std::sync::Arc;

use driftless_core::spec::Application;
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::task::JoinSet;

use crate::reconcile::reconcile;
use crate::record::{Outcome, SyncRecord, Trigger};
use crate::sync::{Mode, SyncRequest, Syncer};

/// Run the pipeline once for every app, at most `parallel` at a time. `on_record` sees each
/// record as its run finishes; the records are returned in the order of `apps`.
pub async fn run_all(
    syncer: Arc<Syncer>,
    apps: Arc<[Application]>,
    mode: Mode,
    parallel: usize,
    mut on_record: impl FnMut(&SyncRecord),
) -> Vec<SyncRecord> {
    let permits = Arc::new(Semaphore::new(parallel.max(1)));
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut tasks = JoinSet::new();
    for index in 0..apps.len() {
        let (syncer, apps, permits, tx) =
            (Arc::clone(&syncer), Arc::clone(&apps), Arc::clone(&permits), tx.clone());
        tasks.spawn(async move {
            // The semaphore is never closed, so a permit always comes.
            let _permit = permits.acquire().await;
            let request = SyncRequest { app: &apps[index], mode, revision: None, trigger: Trigger::Manual };
            let record = syncer.run(&request).await;
            let _ = tx.send((index, record));
        });
    }
    drop(tx);
    let mut records: Vec<Option<SyncRecord>> = vec![None; apps.len()];
    while let Some((index, record)) = rx.recv().await {
        on_record(&record);
        records[index] = Some(record);
    }
    // Every task has sent its record or died; a task that died (a panic inside a run, which
    // `Syncer::run` does not do) leaves a failed record naming its app.
    while tasks.join_next().await.is_some() {}
    records
        .into_iter()
        .zip(apps.iter())
        .map(|(record, app)| record.unwrap_or_else(|| lost_run(app, mode)))
        .collect()
}

/// Keep every app in sync, each in its own reconcile loop ([`reconcile`]), until `shutdown`
/// resolves or every app has had `max_runs` runs. `on_record` sees every record as it comes.
pub async fn reconcile_all(
    syncer: Arc<Syncer>,
    apps: Arc<[Application]>,
    max_runs: Option<usize>,
    mut on_record: impl FnMut(&SyncRecord),
    shutdown: impl Future<Output = ()>,
) {
    let (stop_tx, stop_rx) = watch::channel(false);
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut tasks = JoinSet::new();
    for index in 0..apps.len() {
        let (syncer, apps, tx, mut stop) =
            (Arc::clone(&syncer), Arc::clone(&apps), tx.clone(), stop_rx.clone());
        tasks.spawn(async move {
            let stopped = async move {
                let _ = stop.wait_for(|s| *s).await;
            };
            reconcile(&syncer, &apps[index], None, max_runs, |record| drop(tx.send(record.clone())), stopped)
                .await;
        });
    }
    drop(tx);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => {
                let _ = stop_tx.send(true);
                break;
            }
            record = rx.recv() => match record {
                Some(record) => on_record(&record),
                // Every loop has ended (each ran `max_runs` times).
                None => break,
            },
        }
    }
    // Loops stop at their next pause; records of runs still finishing are still handed over.
    while let Some(record) = rx.recv().await {
        on_record(&record);
    }
    while tasks.join_next().await.is_some() {}
}

fn lost_run(app: &Application, mode: Mode) -> SyncRecord {
    let mut record =
        SyncRecord::new(&app.metadata.name, mode.as_str(), Trigger::Manual, &app.spec.source.repo_url, "");
    record.outcome = Outcome::Failed;
    record.failure = Some(crate::record::FailureKind::Runtime);
    record.reason = Some("the run ended without a record (its task failed)".into());
    record
}
