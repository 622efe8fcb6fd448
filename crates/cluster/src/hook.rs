//! Hook Jobs (`driftless.dev/hook: PreSync | PostSync`): replaced and run to completion.

use std::time::Duration;

use driftless_core::{GroupVersionKind, Object};
use kube::api::{DeleteParams, Patch, PatchParams};
use serde_json::Value;

use crate::{Cluster, ClusterError, FIELD_MANAGER};

/// How a hook Job ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookOutcome {
    /// Whether the Job completed (condition `Complete`).
    pub succeeded: bool,
    /// The condition's reason and message, or why it did not finish.
    pub message: String,
}

impl Cluster {
    /// Run a hook Job: delete any previous Job of that name (waiting until it is gone), create
    /// it (server-side apply), and poll until its `Complete` or `Failed` condition, or until
    /// `timeout` (then `succeeded: false`). A namespace-less Job runs in `default`.
    ///
    /// # Errors
    /// [`ClusterError`] when the object is not a Job or a request fails.
    pub async fn run_hook(&self, job: &Object, timeout: Duration) -> Result<HookOutcome, ClusterError> {
        let mut job = job.clone();
        if job.namespace().is_none_or(str::is_empty) {
            job.set_namespace("default");
        }
        let r = job.object_ref();
        let gvk = GroupVersionKind::from_api_version(&r.api_version, &r.kind);
        if gvk.group != "batch" || gvk.kind != "Job" || r.name.is_empty() {
            return Err(ClusterError::InvalidObject {
                object: r,
                message: "a hook must be a named batch Job".into(),
            });
        }
        let resolved = self
            .resolve(&gvk)
            .await?
            .ok_or_else(|| ClusterError::UnknownKind { object: r.clone(), gvk: gvk.to_string() })?;
        let api = self.api(&resolved, r.namespace.as_deref());
        let deadline = tokio::time::Instant::now() + timeout;
        match api.delete(&r.name, &DeleteParams::background()).await {
            Ok(_) => loop {
                if self.get_value(&resolved, &r).await?.is_none() {
                    break;
                }
                if tokio::time::Instant::now() >= deadline {
                    return Ok(HookOutcome {
                        succeeded: false,
                        message: format!(
                            "the previous Job {r} was not gone after {}s",
                            timeout.as_secs_f64()
                        ),
                    });
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            },
            Err(e) if crate::error::is_not_found(&e) => {}
            Err(e) => return Err(self.error(&r, &e)),
        }
        let params = PatchParams::apply(FIELD_MANAGER).force();
        api.patch(&r.name, &params, &Patch::Apply(job.as_value())).await.map_err(|e| self.error(&r, &e))?;
        loop {
            if let Some(live) = self.get_value(&resolved, &r).await? {
                for c in live.pointer("/status/conditions").and_then(Value::as_array).into_iter().flatten() {
                    let kind = c.get("type").and_then(Value::as_str).unwrap_or_default();
                    if c.get("status").and_then(Value::as_str) != Some("True")
                        || !matches!(kind, "Complete" | "Failed")
                    {
                        continue;
                    }
                    let reason = c.get("reason").and_then(Value::as_str).unwrap_or_default();
                    let message = c.get("message").and_then(Value::as_str).unwrap_or_default();
                    let text = [kind, reason, message]
                        .iter()
                        .filter(|s| !s.is_empty())
                        .copied()
                        .collect::<Vec<_>>()
                        .join(": ");
                    return Ok(HookOutcome { succeeded: kind == "Complete", message: text });
                }
            }
            if tokio::time::Instant::now() >= deadline {
                return Ok(HookOutcome {
                    succeeded: false,
                    message: format!("Job {r} did not finish within {}s", timeout.as_secs_f64()),
                });
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}
