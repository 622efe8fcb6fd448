//! Keeping one app in sync: run the pipeline, then wait for the next reason to run it again —
//! the polling interval, a live change to an object the app applied (drift), or a retry after a
//! failure, with exponential backoff and jitter. Drift is reverted through the same gated
//! pipeline when `selfHeal` is on; otherwise it is only planned and reported.

use std::collections::BTreeSet;
use std::future::Future;
use std::time::Duration;

use driftless_core::plan::Action;
use driftless_core::spec::Application;
use driftless_core::{GroupVersionKind, ObjectRef};
use tokio::sync::mpsc::Receiver;

use crate::record::{Outcome, SyncRecord, Trigger};
use crate::sync::{Mode, SyncRequest, Syncer};

/// The first retry after a failure; it doubles per consecutive failure.
const BACKOFF_BASE: Duration = Duration::from_secs(2);
/// The longest pause between retries.
const BACKOFF_CAP: Duration = Duration::from_secs(300);
/// Drift events arriving within this window cause one run.
const DRIFT_DEBOUNCE: Duration = Duration::from_millis(500);

/// Reconcile `app` until `shutdown` resolves (or after `max_runs` runs, when given), handing
/// every record to `on_record`.
pub async fn reconcile(
    syncer: &Syncer,
    app: &Application,
    revision: Option<&str>,
    max_runs: Option<usize>,
    mut on_record: impl FnMut(&SyncRecord),
    shutdown: impl Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    let self_heal = app.spec.sync.automated.is_some_and(|a| a.self_heal);
    let interval = app.spec.sync.interval.0;
    let mut trigger = Trigger::Manual;
    let mut failures = 0u32;
    let mut runs = 0usize;
    let mut watched: BTreeSet<GroupVersionKind> = BTreeSet::new();
    let mut drift: Option<Receiver<ObjectRef>> = None;
    loop {
        let mode = if trigger == Trigger::Drift && !self_heal { Mode::Plan } else { Mode::Sync };
        let record = syncer.run(&SyncRequest { app, mode, revision, trigger }).await;
        on_record(&record);
        runs += 1;
        if max_runs.is_some_and(|max| runs >= max) {
            return;
        }
        let retry = matches!(record.outcome, Outcome::Failed | Outcome::Unhealthy);
        failures = if retry { failures.saturating_add(1) } else { 0 };
        let pause = if retry { backoff(failures) } else { interval };

        // Watch the kinds the app owns; restart the watch when they change.
        let kinds = owned_kinds(&record);
        if !kinds.is_empty() && (kinds != watched || drift.is_none()) {
            let list: Vec<GroupVersionKind> = kinds.iter().cloned().collect();
            match syncer.cluster.watch(&list, &record.app).await {
                Ok(rx) => {
                    drift = Some(rx);
                    watched = kinds;
                }
                Err(e) => {
                    tracing::warn!(app = %record.app, error = %e, "cannot watch for drift; polling only");
                    drift = None;
                }
            }
        }
        // Our own writes come back as events: they are not drift.
        if let Some(rx) = drift.as_mut() {
            while rx.try_recv().is_ok() {}
        }

        trigger = tokio::select! {
            () = &mut shutdown => return,
            () = tokio::time::sleep(pause) => if retry { Trigger::Retry } else { Trigger::Interval },
            Some(changed) = next_event(&mut drift) => {
                tracing::info!(app = %record.app, object = %changed, "live change to an applied object");
                tokio::time::sleep(DRIFT_DEBOUNCE).await;
                if let Some(rx) = drift.as_mut() {
                    while rx.try_recv().is_ok() {}
                }
                Trigger::Drift
            }
        };
    }
}

async fn next_event(drift: &mut Option<Receiver<ObjectRef>>) -> Option<ObjectRef> {
    match drift {
        Some(rx) => {
            let event = rx.recv().await;
            if event.is_none() {
                // The watch ended: fall back to polling until the next run restarts it.
                *drift = None;
                std::future::pending::<()>().await;
            }
            event
        }
        None => std::future::pending().await,
    }
}

/// The kinds of the objects the app owns after this run (from its plan).
fn owned_kinds(record: &SyncRecord) -> BTreeSet<GroupVersionKind> {
    record
        .plan
        .iter()
        .flat_map(|p| p.plan.changes.iter())
        .filter(|c| c.action != Action::Delete)
        .map(|c| GroupVersionKind::from_api_version(&c.object.api_version, &c.object.kind))
        .collect()
}

/// The pause before retry number `failures` (1-based): doubling from [`BACKOFF_BASE`] up to
/// [`BACKOFF_CAP`], then ±20% jitter so that many apps failing together do not retry together.
#[must_use]
pub fn backoff(failures: u32) -> Duration {
    let exp = failures.saturating_sub(1).min(16);
    let base = BACKOFF_BASE.saturating_mul(1u32 << exp).min(BACKOFF_CAP);
    let jitter = getrandom::u32().unwrap_or(u32::MAX / 2);
    // A factor in [0.8, 1.2].
    let factor = 0.8 + 0.4 * (f64::from(jitter) / f64::from(u32::MAX));
    base.mul_f64(factor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_the_cap_with_jitter() {
        for (failures, nominal) in [(1, 2.0), (2, 4.0), (3, 8.0), (8, 256.0), (9, 300.0), (40, 300.0)] {
            for _ in 0..20 {
                let pause = backoff(failures).as_secs_f64();
                assert!(
                    (nominal * 0.8 - 1e-9..=nominal * 1.2 + 1e-9).contains(&pause),
                    "failure {failures}: {pause}s not within 20% of {nominal}s"
                );
            }
        }
        let pauses: BTreeSet<u128> = (0..20).map(|_| backoff(3).as_millis()).collect();
        assert!(pauses.len() > 1, "no jitter: {pauses:?}");
    }
}
