//! Drift detection: watches of the applied kinds, filtered by the app label.

use std::time::Duration;

use driftless_core::{GroupVersionKind, ObjectRef};
use futures_util::StreamExt;
use kube::api::{ListParams, WatchEvent, WatchParams};
use tokio::sync::mpsc;

use crate::discovery::Resolved;
use crate::{APP_LABEL, Cluster, ClusterError, validate_app};

/// Capacity of the channel [`Cluster::watch`] returns.
pub const WATCH_CHANNEL: usize = 1024;
/// Server-side timeout of one watch request, below [`crate::READ_TIMEOUT`].
const WATCH_SECONDS: u32 = 45;
const BACKOFF_MIN: Duration = Duration::from_millis(200);
const BACKOFF_MAX: Duration = Duration::from_secs(30);

impl Cluster {
    /// Watch objects of these kinds labelled `APP_LABEL=app` in all namespaces, one watch per
    /// kind; the ref of each modified or deleted object is sent on the returned channel
    /// (bounded: [`WATCH_CHANNEL`]). Watches reconnect with jittered exponential backoff and
    /// stop when the receiver is dropped. Kinds the cluster does not serve are skipped.
    ///
    /// # Errors
    /// [`ClusterError::InvalidApp`], or discovery errors.
    pub async fn watch(
        &self,
        kinds: &[GroupVersionKind],
        app: &str,
    ) -> Result<mpsc::Receiver<ObjectRef>, ClusterError> {
        validate_app(app)?;
        let (tx, rx) = mpsc::channel(WATCH_CHANNEL);
        let selector = format!("{APP_LABEL}={app}");
        let mut started = std::collections::HashSet::new();
        for gvk in kinds {
            if !started.insert(gvk.clone()) {
                continue;
            }
            let Some(resolved) = self.resolve(gvk).await? else {
                tracing::warn!(kind = %gvk, "not served by the cluster; not watched");
                continue;
            };
            // The first list happens before returning, so no change after this call is missed.
            let rv = self.list_rv(&resolved, &selector).await.ok();
            tokio::spawn(watch_kind(self.clone(), resolved, selector.clone(), rv, tx.clone()));
        }
        Ok(rx)
    }

    async fn list_rv(&self, resolved: &Resolved, selector: &str) -> Result<String, kube::Error> {
        let list =
            self.api(resolved, None).list_metadata(&ListParams::default().labels(selector).limit(1)).await?;
        Ok(list.metadata.resource_version.unwrap_or_default())
    }
}

fn jitter(d: Duration) -> Duration {
    let random = getrandom::u32().unwrap_or(u32::MAX / 2);
    // 50%..100% of d.
    d / 2 + d.mul_f64(f64::from(random) / f64::from(u32::MAX) / 2.0)
}

async fn watch_kind(
    cluster: Cluster,
    resolved: Resolved,
    selector: String,
    mut rv: Option<String>,
    tx: mpsc::Sender<ObjectRef>,
) {
    let api = cluster.api(&resolved, None);
    let mut backoff = BACKOFF_MIN;
    loop {
        if tx.is_closed() {
            return;
        }
        let version = match &rv {
            Some(v) => v.clone(),
            None => match cluster.list_rv(&resolved, &selector).await {
                Ok(v) => v,
                Err(e) => {
                    tracing::debug!(kind = %resolved.resource.kind, error = %e, "watch: list failed");
                    tokio::time::sleep(jitter(backoff)).await;
                    backoff = (backoff * 2).min(BACKOFF_MAX);
                    continue;
                }
            },
        };
        let params = WatchParams::default().labels(&selector).timeout(WATCH_SECONDS);
        let stream = match api.watch(&params, &version).await {
            Ok(s) => s,
            Err(e) => {
                tracing::debug!(kind = %resolved.resource.kind, error = %e, "watch: request failed");
                rv = None;
                tokio::time::sleep(jitter(backoff)).await;
                backoff = (backoff * 2).min(BACKOFF_MAX);
                continue;
            }
        };
        let mut stream = std::pin::pin!(stream);
        let mut healthy = true;
        loop {
            // Stop as soon as nobody listens, not at the next event.
            let event = tokio::select! {
                () = tx.closed() => return,
                event = stream.next() => event,
            };
            let Some(event) = event else { break };
            let (object, send) = match event {
                Ok(WatchEvent::Modified(o)) | Ok(WatchEvent::Deleted(o)) => (o, true),
                Ok(WatchEvent::Added(o)) => (o, false),
                Ok(WatchEvent::Bookmark(b)) => {
                    rv = Some(b.metadata.resource_version);
                    continue;
                }
                Ok(WatchEvent::Error(e)) => {
                    // 410 Gone: our version is too old; list again.
                    tracing::debug!(kind = %resolved.resource.kind, code = e.code, "watch: error event");
                    rv = None;
                    healthy = false;
                    break;
                }
                Err(e) => {
                    tracing::debug!(kind = %resolved.resource.kind, error = %e, "watch: stream failed");
                    healthy = false;
                    break;
                }
            };
            if let Some(v) = object.metadata.resource_version.clone() {
                rv = Some(v);
            }
            if send {
                let r = ObjectRef {
                    api_version: resolved.resource.api_version.clone(),
                    kind: resolved.resource.kind.clone(),
                    namespace: object.metadata.namespace.clone(),
                    name: object.metadata.name.clone().unwrap_or_default(),
                };
                if tx.send(r).await.is_err() {
                    return;
                }
            }
        }
        if healthy {
            backoff = BACKOFF_MIN;
        } else {
            tokio::time::sleep(jitter(backoff)).await;
            backoff = (backoff * 2).min(BACKOFF_MAX);
        }
    }
}
