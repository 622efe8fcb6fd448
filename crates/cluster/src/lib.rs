//! Everything driftless does to a Kubernetes cluster, through kube-rs only.
//!
//! [`Cluster::plan`] turns desired objects into a [`Plan`](driftless_core::plan::Plan) by
//! server-side apply dry runs against live state (normalised, with ignore rules and Secret
//! values redacted), with a fast path that skips the dry run of objects unchanged since the
//! last sync. [`Cluster::apply`] writes the plan in waves and kind order with server-side apply
//! (field manager [`FIELD_MANAGER`]), waits for CRDs, dry-runs objects that needed a Namespace or
//! CRD of the same sync right after it exists, and prunes what left the app's inventory. The
//! inventory lives in the cluster ([`Cluster::read_state`], [`Cluster::write_state`]). Also:
//! hook Jobs ([`Cluster::run_hook`]) and drift watches ([`Cluster::watch`]).
//!
//! It does not render, verify, evaluate policy or judge health: the engine does. See
//! `docs/cluster.md`.

mod apply;
mod discovery;
mod error;
mod event;
mod hook;
mod normalize;
mod order;
mod state;
mod sync;
mod watch;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use driftless_core::{GroupVersionKind, Object, ObjectRef};
use kube::api::{Api, DynamicObject};

pub use apply::{ApplyOptions, ApplyReport};
pub use error::{ApplyError, ClusterError, DryRunFailure};
pub use event::{AppEvent, EventType};
pub use hook::HookOutcome;
pub use state::{AppState, InventoryEntry};
pub use sync::{PlanRequest, PlannedSync};
pub use watch::WATCH_CHANNEL;

/// The server-side apply field manager of every write.
pub const FIELD_MANAGER: &str = "driftless";
/// Namespace of the state ConfigMaps.
pub const STATE_NAMESPACE: &str = "driftless-system";
/// Tracking label the engine puts on every desired object: `driftless.dev/app=<app>`.
pub const APP_LABEL: &str = "driftless.dev/app";
/// Sync wave of an object (an integer, default 0); lower waves are written first.
pub const WAVE_ANNOTATION: &str = "driftless.dev/sync-wave";
/// `PreSync` or `PostSync` on hook Jobs.
pub const HOOK_ANNOTATION: &str = "driftless.dev/hook";
/// `"false"`: the object is never deleted by prune.
pub const PRUNE_ANNOTATION: &str = "driftless.dev/prune";
/// `"true"`: the object is never touched (not applied, not pruned, not diffed).
pub const IGNORE_ANNOTATION: &str = "driftless.dev/ignore";

/// Timeout of connecting to the API server.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Timeout of reading an answer (watches ask the server to end them before this).
pub const READ_TIMEOUT: Duration = Duration::from_secs(60);
/// At most this many dry runs (or writes of one kind) in flight.
pub(crate) const CONCURRENCY: usize = 16;

/// A connection to one cluster, with its discovery cache. Cheap to clone.
#[derive(Clone)]
pub struct Cluster {
    inner: Arc<Inner>,
}

struct Inner {
    client: kube::Client,
    url: String,
    discovery: discovery::Discovery,
    dry_runs: AtomicU64,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster").field("url", &self.inner.url).finish_non_exhaustive()
    }
}

impl Cluster {
    /// Connect with a kubeconfig file, or with `None` the inferred configuration
    /// (`KUBECONFIG`, `~/.kube/config`, in-cluster). Requests get [`CONNECT_TIMEOUT`] and
    /// [`READ_TIMEOUT`]. Nothing is sent until the first operation.
    ///
    /// # Errors
    /// [`ClusterError::Kubeconfig`] when the configuration cannot be read or used.
    pub async fn connect(kubeconfig: Option<&Path>) -> Result<Cluster, ClusterError> {
        let (mut config, source_name) = match kubeconfig {
            Some(path) => {
                let name = path.display().to_string();
                let kc = kube::config::Kubeconfig::read_from(path).map_err(|e| ClusterError::Kubeconfig {
                    source_name: name.clone(),
                    message: error::chain(&e),
                })?;
                let config =
                    kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
                        .await
                        .map_err(|e| ClusterError::Kubeconfig {
                            source_name: name.clone(),
                            message: error::chain(&e),
                        })?;
                (config, name)
            }
            None => {
                let name = "inferred configuration".to_owned();
                let config = kube::Config::infer().await.map_err(|e| ClusterError::Kubeconfig {
                    source_name: name.clone(),
                    message: error::chain(&e),
                })?;
                (config, name)
            }
        };
        config.connect_timeout = Some(CONNECT_TIMEOUT);
        config.read_timeout = Some(READ_TIMEOUT);
        let url = config.cluster_url.to_string();
        let client = kube::Client::try_from(config)
            .map_err(|e| ClusterError::Kubeconfig { source_name, message: error::chain(&e) })?;
        Ok(Self::with_url(client, url))
    }

    /// Use an existing client (its timeouts are the caller's).
    #[must_use]
    pub fn from_client(client: kube::Client) -> Cluster {
        Self::with_url(client, "the cluster".to_owned())
    }

    fn with_url(client: kube::Client, url: String) -> Cluster {
        Cluster {
            inner: Arc::new(Inner {
                client,
                url,
                discovery: discovery::Discovery::default(),
                dry_runs: AtomicU64::new(0),
            }),
        }
    }

    /// The API server URL (or "the cluster" for [`Cluster::from_client`]).
    #[must_use]
    pub fn url(&self) -> &str {
        &self.inner.url
    }

    /// The underlying client.
    #[must_use]
    pub fn client(&self) -> &kube::Client {
        &self.inner.client
    }

    /// How many server-side apply dry runs this cluster handle has sent (plans and deferred
    /// dry runs). For metrics, and to observe the plan's fast path.
    #[must_use]
    pub fn dry_run_count(&self) -> u64 {
        self.inner.dry_runs.load(Ordering::Relaxed)
    }

    pub(crate) fn count_dry_run(&self) {
        self.inner.dry_runs.fetch_add(1, Ordering::Relaxed);
    }

    /// Map a kube error about `object` to a [`ClusterError`].
    pub(crate) fn error(&self, object: impl std::fmt::Display, err: &kube::Error) -> ClusterError {
        let f = error::classify(err);
        if f.unreachable {
            ClusterError::Unreachable { url: self.inner.url.clone(), message: f.message }
        } else if f.code != 0 {
            ClusterError::Api { object: object.to_string(), code: f.code, message: f.message }
        } else {
            ClusterError::Request { object: object.to_string(), message: f.message }
        }
    }

    /// Resolve a kind through the discovery cache (refreshed when unknown).
    pub(crate) async fn resolve(
        &self,
        gvk: &GroupVersionKind,
    ) -> Result<Option<discovery::Resolved>, ClusterError> {
        self.inner
            .discovery
            .resolve(&self.inner.client, gvk)
            .await
            .map_err(|e| self.error(format_args!("discovery of {gvk}"), &e))
    }

    pub(crate) fn forget_discovery(&self, group: &str, version: &str) {
        self.inner.discovery.invalidate(group, version);
    }

    pub(crate) fn api(&self, resolved: &discovery::Resolved, namespace: Option<&str>) -> Api<DynamicObject> {
        match (resolved.namespaced, namespace) {
            (true, Some(ns)) => Api::namespaced_with(self.inner.client.clone(), ns, &resolved.resource),
            _ => Api::all_with(self.inner.client.clone(), &resolved.resource),
        }
    }

    /// The live object, or `None` when it does not exist (or its kind is not served).
    ///
    /// # Errors
    /// [`ClusterError`] when the request fails.
    pub async fn get(&self, r: &ObjectRef) -> Result<Option<Object>, ClusterError> {
        let gvk = GroupVersionKind::from_api_version(&r.api_version, &r.kind);
        let Some(resolved) = self.resolve(&gvk).await? else { return Ok(None) };
        self.get_value(&resolved, r).await?.map(|v| to_object(r, v)).transpose()
    }

    pub(crate) async fn get_value(
        &self,
        resolved: &discovery::Resolved,
        r: &ObjectRef,
    ) -> Result<Option<serde_json::Value>, ClusterError> {
        match self.api(resolved, r.namespace.as_deref()).get_opt(&r.name).await {
            Ok(Some(o)) => Ok(Some(dynamic_to_value(&o, r)?)),
            Ok(None) => Ok(None),
            Err(e) => Err(self.error(r, &e)),
        }
    }
}

pub(crate) fn dynamic_to_value(o: &DynamicObject, r: &ObjectRef) -> Result<serde_json::Value, ClusterError> {
    serde_json::to_value(o).map_err(|e| ClusterError::Request {
        object: r.to_string(),
        message: format!("unreadable answer: {e}"),
    })
}

pub(crate) fn to_object(r: &ObjectRef, v: serde_json::Value) -> Result<Object, ClusterError> {
    Object::from_value(v).map_err(|e| ClusterError::Request {
        object: r.to_string(),
        message: format!("unreadable object: {e}"),
    })
}

/// Check an app name: a DNS-1123 label (it names the state ConfigMap and the label value).
pub(crate) fn validate_app(app: &str) -> Result<(), ClusterError> {
    let reason = if app.is_empty() {
        Some("it is empty")
    } else if app.len() > 53 {
        Some("it is longer than 53 characters (the state ConfigMap is driftless-<app>)")
    } else if !app.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') {
        Some("only lowercase letters, digits and '-' are allowed")
    } else if app.starts_with('-') || app.ends_with('-') {
        Some("it must start and end with a letter or digit")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(ClusterError::InvalidApp { app: app.to_owned(), reason }),
        None => Ok(()),
    }
}

/// RFC 3339 UTC timestamp of now (seconds).
pub(crate) fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_names_are_dns_labels() {
        for ok in ["shop", "a", "web-1"] {
            assert!(validate_app(ok).is_ok(), "{ok}");
        }
        for bad in ["", "Shop", "-a", "a-", "a_b", "a.b", &"x".repeat(54)] {
            assert!(matches!(validate_app(bad), Err(ClusterError::InvalidApp { .. })), "{bad}");
        }
    }

    #[test]
    fn timestamps_are_rfc3339() {
        let t = now_rfc3339();
        assert_eq!(t.len(), 20, "{t}");
        assert!(t.starts_with("20") && t.ends_with('Z'), "{t}");
    }
}
