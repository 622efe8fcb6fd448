//! Carrying out a plan: server-side apply in waves and kind order, deferred dry runs,
//! CRDs waited for, then prune.

use std::collections::HashSet;
use std::time::Duration;

use driftless_core::plan::Action;
use driftless_core::{GroupVersionKind, ObjectRef};
use futures_util::StreamExt;
use kube::api::{DeleteParams, Patch, PatchParams};
use serde_json::Value;

use crate::error::{ApplyError, classify};
use crate::normalize;
use crate::order::kind_rank;
use crate::state::{AppState, InventoryEntry};
use crate::sync::{Item, PlannedSync, Prereq};
use crate::{CONCURRENCY, Cluster, FIELD_MANAGER};

/// How to apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApplyOptions {
    /// How long to wait for a CustomResourceDefinition to be Established.
    pub crd_timeout: Duration,
}

impl Default for ApplyOptions {
    fn default() -> Self {
        Self { crd_timeout: Duration::from_secs(60) }
    }
}

/// What a sync did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplyReport {
    /// Objects written, in order.
    pub applied: Vec<ObjectRef>,
    /// Objects deleted by prune, in order.
    pub deleted: Vec<ObjectRef>,
    /// The new state to write (revision left `None` for the engine to fill).
    pub state: AppState,
}

impl Cluster {
    /// Carry out a plan. Unchanged objects are not written. Deferred objects are dry-run as
    /// soon as their Namespace/CRD has been applied (before any later write); prune deletes
    /// come after every apply, in reverse order, with propagation `Background`.
    ///
    /// # Errors
    /// [`ApplyError`] naming the object at which it stopped and what was applied before.
    pub async fn apply(&self, planned: &PlannedSync, opts: &ApplyOptions) -> Result<ApplyReport, ApplyError> {
        let items = &planned.items;
        let mut applied: Vec<ObjectRef> = Vec::new();
        let mut entries: Vec<InventoryEntry> = Vec::new();
        let mut ready: Vec<bool> = items.iter().map(|i| i.prereqs.is_empty()).collect();
        let mut resources: Vec<_> = items.iter().map(|i| i.resolved.clone()).collect();
        let mut satisfied: HashSet<Prereq> = HashSet::new();

        let mut start = 0;
        while start < items.len() {
            let group_key = |i: &Item| (i.wave, kind_rank(&i.r.kind), i.r.kind.clone());
            let mut end = start + 1;
            while end < items.len() && group_key(&items[end]) == group_key(&items[start]) {
                end += 1;
            }
            // Objects of this group still waiting for a prerequisite cannot be written.
            if let Some(i) = (start..end).find(|&i| !ready[i]) {
                return Err(ApplyError::DryRun {
                    object: items[i].r.clone(),
                    message: "its Namespace or CustomResourceDefinition was not applied before it".into(),
                    applied,
                });
            }
            // Futures are collected before they are streamed: a closure held across the await
            // makes the whole sync future not `Send` for every lifetime, and it could not be spawned.
            let writes: Vec<_> = (start..end)
                .map(|i| {
                    let item = &items[i];
                    let resolved = resources[i].clone();
                    async move {
                        if item.action == Action::Unchanged {
                            return Ok((false, item.live_rv.clone()));
                        }
                        let params = PatchParams::apply(FIELD_MANAGER).force().validation_strict();
                        self.api(&resolved, item.r.namespace.as_deref())
                            .patch(&item.r.name, &params, &Patch::Apply(&item.body))
                            .await
                            .map(|o| (true, o.metadata.resource_version))
                    }
                })
                .collect();
            let writes = futures_util::stream::iter(writes).buffered(CONCURRENCY).collect::<Vec<_>>().await;
            let mut failure = None;
            for (i, result) in (start..end).zip(writes) {
                let item = &items[i];
                match result {
                    Ok((written, rv)) => {
                        if written {
                            applied.push(item.r.clone());
                        }
                        entries.push(InventoryEntry {
                            object: item.r.clone(),
                            hash: item.hash.clone(),
                            resource_version: rv,
                        });
                    }
                    Err(e) => {
                        if failure.is_none() {
                            let f = classify(&e);
                            failure = Some((
                                item.r.clone(),
                                normalize::scrub(&f.message, &item.body),
                                f.unreachable,
                            ));
                        }
                    }
                }
            }
            if let Some((object, message, unreachable)) = failure {
                return Err(ApplyError::Apply { object, message, applied, unreachable });
            }

            // Prerequisites provided by this group: wait for CRDs, then dry-run what waited.
            let mut newly = Vec::new();
            for item in &items[start..end] {
                if let Some(pre) = item.provides() {
                    if let Prereq::Crd(_) = pre
                        && let Err(message) = self.wait_established(item, opts.crd_timeout).await
                    {
                        return Err(ApplyError::Crd { object: item.r.clone(), message, applied });
                    }
                    newly.push(pre);
                }
            }
            if !newly.is_empty() {
                satisfied.extend(newly);
                let waiting: Vec<usize> = (end..items.len())
                    .filter(|&i| !ready[i] && items[i].prereqs.iter().all(|p| satisfied.contains(p)))
                    .collect();
                for &i in &waiting {
                    if items[i].prereqs.iter().any(|p| matches!(p, Prereq::Crd(_))) {
                        let gvk =
                            GroupVersionKind::from_api_version(&items[i].r.api_version, &items[i].r.kind);
                        match self.resolve(&gvk).await {
                            Ok(Some(r)) => resources[i] = r,
                            Ok(None) => {
                                return Err(ApplyError::Crd {
                                    object: items[i].r.clone(),
                                    message: format!(
                                        "kind {gvk} is still not served after its CRD was established"
                                    ),
                                    applied,
                                });
                            }
                            Err(e) => {
                                return Err(ApplyError::DryRun {
                                    object: items[i].r.clone(),
                                    message: e.to_string(),
                                    applied,
                                });
                            }
                        }
                    }
                }
                let results: Vec<_> = waiting
                    .iter()
                    .map(|&i| {
                        let item = &items[i];
                        let resolved = resources[i].clone();
                        async move {
                            self.count_dry_run();
                            let params =
                                PatchParams::apply(FIELD_MANAGER).force().dry_run().validation_strict();
                            self.api(&resolved, item.r.namespace.as_deref())
                                .patch(&item.r.name, &params, &Patch::Apply(&item.body))
                                .await
                        }
                    })
                    .collect();
                let results =
                    futures_util::stream::iter(results).buffered(CONCURRENCY).collect::<Vec<_>>().await;
                for (&i, result) in waiting.iter().zip(results) {
                    if let Err(e) = result {
                        let f = classify(&e);
                        return Err(ApplyError::DryRun {
                            object: items[i].r.clone(),
                            message: normalize::scrub(&f.message, &items[i].body),
                            applied,
                        });
                    }
                    ready[i] = true;
                }
            }
            start = end;
        }

        let mut deleted = Vec::new();
        for del in &planned.deletes {
            match self
                .api(&del.resolved, del.r.namespace.as_deref())
                .delete(&del.r.name, &DeleteParams::background())
                .await
            {
                Ok(_) => deleted.push(del.r.clone()),
                Err(e) if crate::error::is_not_found(&e) => {}
                Err(e) => {
                    let f = classify(&e);
                    return Err(ApplyError::Delete {
                        object: del.r.clone(),
                        message: f.message,
                        applied,
                        deleted,
                        unreachable: f.unreachable,
                    });
                }
            }
        }
        entries.extend(planned.kept.iter().cloned());
        Ok(ApplyReport {
            applied,
            deleted,
            state: AppState { revision: None, inventory: entries, synced_at: Some(crate::now_rfc3339()) },
        })
    }

    /// Poll the CRD until its `Established` condition is `True`, then forget the discovery of
    /// the group/versions it serves.
    async fn wait_established(&self, item: &Item, timeout: Duration) -> Result<(), String> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            match self.get_value(&item.resolved, &item.r).await {
                Ok(Some(live)) => {
                    let established =
                        live.pointer("/status/conditions").and_then(Value::as_array).is_some_and(|cs| {
                            cs.iter().any(|c| {
                                c.get("type").and_then(Value::as_str) == Some("Established")
                                    && c.get("status").and_then(Value::as_str) == Some("True")
                            })
                        });
                    if established {
                        let group = live.pointer("/spec/group").and_then(Value::as_str).unwrap_or_default();
                        for v in
                            live.pointer("/spec/versions").and_then(Value::as_array).into_iter().flatten()
                        {
                            if let Some(name) = v.get("name").and_then(Value::as_str) {
                                self.forget_discovery(group, name);
                            }
                        }
                        return Ok(());
                    }
                }
                Ok(None) => {}
                Err(e) => return Err(e.to_string()),
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(format!("not Established after {}s", timeout.as_secs_f64()));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}
