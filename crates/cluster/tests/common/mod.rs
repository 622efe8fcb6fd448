//! Test support: an in-process sandbox per test, objects, and a second client.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, dead_code)]

use driftless_cluster::{AppState, ApplyOptions, ApplyReport, Cluster, PlanRequest, PlannedSync};
use driftless_core::Object;
use driftless_sandbox::{RunningSandbox, Sandbox, SandboxConfig};
use kube::api::{Api, ApiResource, DynamicObject, Patch, PatchParams};
use serde_json::{Value, json};

pub const APP: &str = "shop";

pub struct Env {
    pub dir: tempfile::TempDir,
    pub sandbox: RunningSandbox,
    pub cluster: Cluster,
}

pub async fn start_with(config: impl FnOnce(SandboxConfig) -> SandboxConfig) -> Env {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(SandboxConfig::new(dir.path().join("kubeconfig")));
    let sandbox = Sandbox::start(cfg).await.unwrap();
    let cluster = Cluster::connect(Some(sandbox.kubeconfig_path())).await.unwrap();
    Env { dir, sandbox, cluster }
}

pub async fn start() -> Env {
    start_with(|c| c).await
}

/// An object labelled for the app, as the engine hands them over.
pub fn obj(mut value: Value) -> Object {
    value["metadata"]["labels"][driftless_cluster::APP_LABEL] = json!(APP);
    Object::from_value(value).unwrap()
}

pub fn cm(ns: &str, name: &str, data: Value) -> Object {
    obj(
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": ns}, "data": data}),
    )
}

pub fn namespace(name: &str) -> Object {
    obj(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}))
}

pub fn deployment(ns: &str, name: &str, replicas: i64) -> Object {
    obj(json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": ns},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}},
                              "spec": {"containers": [{"name": "app", "image": "nginx:1.27"}]}}}}))
}

pub fn request<'a>(desired: &'a [Object], state: Option<&'a AppState>) -> PlanRequest<'a> {
    PlanRequest {
        app: APP,
        desired,
        default_namespace: Some("default"),
        ignore_differences: &[],
        prune: true,
        state,
    }
}

pub async fn plan(env: &Env, desired: &[Object], state: Option<&AppState>) -> PlannedSync {
    env.cluster.plan(&request(desired, state)).await.unwrap_or_else(|e| panic!("plan: {e}"))
}

/// Plan and apply; returns the plan and the report.
pub async fn sync(env: &Env, desired: &[Object], state: Option<&AppState>) -> (PlannedSync, ApplyReport) {
    let planned = plan(env, desired, state).await;
    let report =
        env.cluster.apply(&planned, &ApplyOptions::default()).await.unwrap_or_else(|e| panic!("apply: {e}"));
    (planned, report)
}

pub fn dynamic_api(
    env: &Env,
    api_version: &str,
    kind: &str,
    plural: &str,
    ns: Option<&str>,
) -> Api<DynamicObject> {
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    let gvk = kube::core::GroupVersionKind::gvk(group, version, kind);
    let ar = ApiResource::from_gvk_with_plural(&gvk, plural);
    match ns {
        Some(ns) => Api::namespaced_with(env.cluster.client().clone(), ns, &ar),
        None => Api::all_with(env.cluster.client().clone(), &ar),
    }
}

/// A change by someone else: server-side apply with another field manager.
pub async fn apply_as(api: &Api<DynamicObject>, manager: &str, name: &str, body: Value) -> Value {
    let o = api.patch(name, &PatchParams::apply(manager).force(), &Patch::Apply(&body)).await.unwrap();
    serde_json::to_value(o).unwrap()
}

pub fn names(refs: &[driftless_core::ObjectRef]) -> Vec<String> {
    refs.iter().map(|r| format!("{}/{}", r.kind, r.name)).collect()
}
