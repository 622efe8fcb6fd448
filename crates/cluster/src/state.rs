//! The app's state in the cluster: ConfigMap `driftless-<app>` in [`STATE_NAMESPACE`], with
//! data keys `revision`, `syncedAt` and `inventory` (JSON list of [`InventoryEntry`]).

use driftless_core::ObjectRef;
use kube::api::{Api, Patch, PatchParams};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::{Cluster, ClusterError, FIELD_MANAGER, STATE_NAMESPACE, validate_app};

/// What driftless last did for one app.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppState {
    /// The last synced commit id (filled by the engine).
    pub revision: Option<String>,
    /// Every object the app owns, as last applied.
    pub inventory: Vec<InventoryEntry>,
    /// When the last sync finished (RFC 3339).
    pub synced_at: Option<String>,
}

/// One object of an app's inventory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InventoryEntry {
    /// The object.
    pub object: ObjectRef,
    /// SHA-256 of the desired object as applied (canonical JSON). Empty for Secrets, which
    /// never take the fast path (so no hash of their values is stored).
    pub hash: String,
    /// The live resourceVersion right after driftless's apply (or when last seen unchanged).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_version: Option<String>,
}

fn configmap_name(app: &str) -> String {
    format!("driftless-{app}")
}

impl Cluster {
    /// Read the state of `app`; `None` when there is none yet.
    ///
    /// # Errors
    /// [`ClusterError::InvalidApp`], [`ClusterError::InvalidState`] when the ConfigMap is
    /// malformed (naming it), or a request error.
    pub async fn read_state(&self, app: &str) -> Result<Option<AppState>, ClusterError> {
        validate_app(app)?;
        let name = configmap_name(app);
        let full = format!("{STATE_NAMESPACE}/{name}");
        let api: Api<k8s_openapi::api::core::v1::ConfigMap> =
            Api::namespaced(self.client().clone(), STATE_NAMESPACE);
        let cm = match api.get_opt(&name).await {
            Ok(Some(cm)) => cm,
            Ok(None) => return Ok(None),
            Err(e) => return Err(self.error(format_args!("v1 ConfigMap {full}"), &e)),
        };
        let data = cm.data.unwrap_or_default();
        let invalid = |message: String| ClusterError::InvalidState { configmap: full.clone(), message };
        let inventory = match data.get("inventory") {
            Some(text) => serde_json::from_str::<Vec<InventoryEntry>>(text)
                .map_err(|e| invalid(format!("data.inventory is not a JSON inventory: {e}")))?,
            None => return Err(invalid("data.inventory is missing".into())),
        };
        let nonempty = |k: &str| data.get(k).filter(|s| !s.is_empty()).cloned();
        Ok(Some(AppState { revision: nonempty("revision"), inventory, synced_at: nonempty("syncedAt") }))
    }

    /// Write the state of `app` (server-side apply), creating [`STATE_NAMESPACE`] if missing.
    ///
    /// # Errors
    /// [`ClusterError::InvalidApp`] or a request error.
    pub async fn write_state(&self, app: &str, state: &AppState) -> Result<(), ClusterError> {
        validate_app(app)?;
        let name = configmap_name(app);
        let inventory = serde_json::to_string(&state.inventory).map_err(|e| ClusterError::Request {
            object: format!("v1 ConfigMap {STATE_NAMESPACE}/{name}"),
            message: format!("cannot encode the inventory: {e}"),
        })?;
        let body = json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": STATE_NAMESPACE,
                         "labels": {"app.kubernetes.io/managed-by": "driftless", crate::APP_LABEL: app}},
            "data": {
                "revision": state.revision.clone().unwrap_or_default(),
                "syncedAt": state.synced_at.clone().unwrap_or_default(),
                "inventory": inventory,
            }
        });
        let params = PatchParams::apply(FIELD_MANAGER).force();
        let cms: Api<k8s_openapi::api::core::v1::ConfigMap> =
            Api::namespaced(self.client().clone(), STATE_NAMESPACE);
        let what = format!("v1 ConfigMap {STATE_NAMESPACE}/{name}");
        match cms.patch(&name, &params, &Patch::Apply(&body)).await {
            Ok(_) => return Ok(()),
            Err(e) if crate::error::is_not_found(&e) => {}
            Err(e) => return Err(self.error(&what, &e)),
        }
        let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(self.client().clone());
        let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": STATE_NAMESPACE}});
        namespaces
            .patch(STATE_NAMESPACE, &params, &Patch::Apply(&ns))
            .await
            .map_err(|e| self.error(format_args!("v1 Namespace {STATE_NAMESPACE}"), &e))?;
        cms.patch(&name, &params, &Patch::Apply(&body)).await.map_err(|e| self.error(&what, &e))?;
        Ok(())
    }
}
