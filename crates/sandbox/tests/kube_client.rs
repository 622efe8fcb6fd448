//! kube-rs as the client of the sandbox, for every verb.

use std::time::Duration;

use driftless_sandbox::{RunningSandbox, Sandbox, SandboxConfig};
use futures_util::{StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams,
    PostParams, WatchEvent, WatchParams,
};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(10);

struct Env {
    _dir: tempfile::TempDir,
    sandbox: RunningSandbox,
    client: Client,
}

async fn start_with(config: impl FnOnce(SandboxConfig) -> SandboxConfig) -> Env {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let cfg = config(SandboxConfig::new(dir.path().join("kubeconfig")));
    let sandbox = Sandbox::start(cfg).await.unwrap_or_else(|e| panic!("start: {e}"));
    let kc = Kubeconfig::read_from(sandbox.kubeconfig_path()).unwrap_or_else(|e| panic!("kubeconfig: {e}"));
    let config = Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .unwrap_or_else(|e| panic!("config: {e}"));
    let client = Client::try_from(config).unwrap_or_else(|e| panic!("client: {e}"));
    Env { _dir: dir, sandbox, client }
}

async fn start() -> Env {
    start_with(|c| c).await
}

fn cm(name: &str, labels: Value, data: Value) -> ConfigMap {
    serde_json::from_value(json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name, "labels": labels}, "data": data}))
    .unwrap_or_else(|e| panic!("configmap: {e}"))
}

fn deployment(name: &str, replicas: i64, containers: Value) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": containers}}}})
}

fn code(err: kube::Error) -> u16 {
    match err {
        kube::Error::Api(s) => s.code,
        other => panic!("expected an API error, got {other}"),
    }
}

#[tokio::test]
async fn create_get_list_update_with_selectors_and_pages() {
    let env = start().await;
    let api: Api<ConfigMap> = Api::namespaced(env.client.clone(), "default");
    for i in 0..5 {
        let tier = if i % 2 == 0 { "front" } else { "back" };
        let created = api
            .create(
                &PostParams::default(),
                &cm(&format!("c{i}"), json!({"tier": tier}), json!({"i": i.to_string()})),
            )
            .await
            .unwrap_or_else(|e| panic!("create: {e}"));
        assert!(created.metadata.uid.is_some());
        assert!(created.metadata.creation_timestamp.is_some());
        assert!(created.metadata.resource_version.is_some());
    }
    let dup = api.create(&PostParams::default(), &cm("c0", json!({}), json!({}))).await;
    assert_eq!(dup.map_err(code).err(), Some(409));

    let got = api.get("c3").await.unwrap_or_else(|e| panic!("get: {e}"));
    assert_eq!(got.data.and_then(|d| d.get("i").cloned()).as_deref(), Some("3"));
    assert_eq!(api.get("missing").await.map_err(code).err(), Some(404));

    let front =
        api.list(&ListParams::default().labels("tier=front")).await.unwrap_or_else(|e| panic!("list: {e}"));
    let names: Vec<String> = front.items.iter().filter_map(|c| c.metadata.name.clone()).collect();
    assert_eq!(names, ["c0", "c2", "c4"]);
    let by_name =
        api.list(&ListParams::default().fields("metadata.name=c1")).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(by_name.items.len(), 1);
    assert_eq!(api.list(&ListParams::default().fields("spec.x=1")).await.map_err(code).err(), Some(400));

    let mut seen = Vec::new();
    let mut params = ListParams::default().limit(2);
    loop {
        let page = api.list(&params).await.unwrap_or_else(|e| panic!("page: {e}"));
        seen.extend(page.items.iter().filter_map(|c| c.metadata.name.clone()));
        match page.metadata.continue_.filter(|c| !c.is_empty()) {
            Some(token) => params = ListParams::default().limit(2).continue_token(&token),
            None => break,
        }
    }
    assert_eq!(seen, ["c0", "c1", "c2", "c3", "c4"]);

    // Update, then a stale update is refused.
    let mut obj = api.get("c0").await.unwrap_or_else(|e| panic!("{e}"));
    let stale = obj.clone();
    obj.data = Some([("i".to_owned(), "changed".to_owned())].into());
    let updated =
        api.replace("c0", &PostParams::default(), &obj).await.unwrap_or_else(|e| panic!("replace: {e}"));
    assert_ne!(updated.metadata.resource_version, stale.metadata.resource_version);
    assert_eq!(api.replace("c0", &PostParams::default(), &stale).await.map_err(code).err(), Some(409));

    // Delete a collection by label: only the selected objects go.
    let deleted = api
        .delete_collection(&DeleteParams::default(), &ListParams::default().labels("tier=back"))
        .await
        .unwrap_or_else(|e| panic!("delete_collection: {e}"));
    let gone: Vec<String> = deleted
        .left()
        .map(|l| l.items.iter().filter_map(|c| c.metadata.name.clone()).collect())
        .unwrap_or_default();
    assert_eq!(gone, ["c1", "c3"]);
    let left = api.list(&ListParams::default()).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        left.items.iter().filter_map(|c| c.metadata.name.clone()).collect::<Vec<_>>(),
        ["c0", "c2", "c4"]
    );
    env.sandbox.shutdown().await.unwrap_or_else(|e| panic!("{e}"));
}

#[tokio::test]
async fn missing_namespace_is_404_even_in_dry_run_and_dry_run_stores_nothing() {
    let env = start().await;
    let missing: Api<ConfigMap> = Api::namespaced(env.client.clone(), "nope");
    let dry = PostParams { dry_run: true, ..PostParams::default() };
    assert_eq!(missing.create(&dry, &cm("a", json!({}), json!({}))).await.map_err(code).err(), Some(404));
    assert_eq!(
        missing.create(&PostParams::default(), &cm("a", json!({}), json!({}))).await.map_err(code).err(),
        Some(404)
    );
    let api: Api<ConfigMap> = Api::namespaced(env.client.clone(), "default");
    let created = api.create(&dry, &cm("dry", json!({}), json!({}))).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(created.metadata.name.as_deref(), Some("dry"));
    assert_eq!(api.get("dry").await.map_err(code).err(), Some(404));
    let bad = cm("Not_Valid", json!({}), json!({}));
    assert_eq!(api.create(&PostParams::default(), &bad).await.map_err(code).err(), Some(422));
}

#[tokio::test]
async fn patches_merge_json_strategic_and_generation() {
    let env = start().await;
    let api: Api<Deployment> = Api::namespaced(env.client.clone(), "default");
    let d: Deployment = serde_json::from_value(deployment(
        "web",
        1,
        json!([{"name": "web", "image": "web:1"}, {"name": "side", "image": "side:1"}]),
    ))
    .unwrap_or_else(|e| panic!("{e}"));
    let created = api.create(&PostParams::default(), &d).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(created.metadata.generation, Some(1));

    let pp = PatchParams::default();
    let p = json!({"spec": {"template": {"spec": {"containers": [{"name": "web", "image": "web:2"}]}}}});
    let after =
        api.patch("web", &pp, &Patch::Strategic(&p)).await.unwrap_or_else(|e| panic!("strategic: {e}"));
    let images: Vec<String> = after
        .spec
        .template
        .spec
        .as_ref()
        .map(|s| s.containers.iter().filter_map(|c| c.image.clone()).collect())
        .unwrap_or_default();
    assert_eq!(images, ["web:2", "side:1"], "strategic merge keeps the other container");
    assert_eq!(after.metadata.generation, Some(2));

    let after = api
        .patch("web", &pp, &Patch::Merge(&json!({"metadata": {"labels": {"x": "y"}}})))
        .await
        .unwrap_or_else(|e| panic!("merge: {e}"));
    assert_eq!(after.metadata.generation, Some(2), "metadata changes do not bump generation");
    assert_eq!(after.metadata.labels.and_then(|l| l.get("x").cloned()).as_deref(), Some("y"));

    let ops: json_patch::Patch =
        serde_json::from_value(json!([{"op": "replace", "path": "/spec/replicas", "value": 4}]))
            .unwrap_or_else(|e| panic!("{e}"));
    let after = api.patch("web", &pp, &Patch::Json::<()>(ops)).await.unwrap_or_else(|e| panic!("json: {e}"));
    assert_eq!(after.spec.replicas, Some(4));
    assert_eq!(after.metadata.generation, Some(3));

    let bad: json_patch::Patch =
        serde_json::from_value(json!([{"op": "test", "path": "/spec/replicas", "value": 9}]))
            .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(api.patch("web", &pp, &Patch::Json::<()>(bad)).await.map_err(code).err(), Some(422));
}

#[tokio::test]
async fn server_side_apply_owns_fields_conflicts_and_force() {
    let env = start().await;
    let api: Api<Deployment> = Api::namespaced(env.client.clone(), "default");
    let config = deployment("app", 2, json!([{"name": "app", "image": "app:1"}]));
    let first = api
        .patch("app", &PatchParams::apply("alice"), &Patch::Apply(&config))
        .await
        .unwrap_or_else(|e| panic!("apply: {e}"));
    let managers: Vec<String> =
        first.metadata.managed_fields.unwrap_or_default().iter().filter_map(|m| m.manager.clone()).collect();
    assert_eq!(managers, ["alice"]);

    let other = deployment("app", 5, json!([{"name": "app", "image": "app:1"}]));
    let refused = api.patch("app", &PatchParams::apply("bob"), &Patch::Apply(&other)).await;
    match refused {
        Err(kube::Error::Api(s)) => {
            assert_eq!(s.code, 409);
            assert!(s.message.contains("alice") && s.message.contains(".spec.replicas"), "{}", s.message);
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    let forced = api
        .patch("app", &PatchParams::apply("bob").force(), &Patch::Apply(&other))
        .await
        .unwrap_or_else(|e| panic!("force: {e}"));
    assert_eq!(forced.spec.replicas, Some(5));

    // Dropping a field from alice's config removes it only if nobody else owns it.
    let mut smaller = deployment("app", 2, json!([{"name": "app", "image": "app:1"}]));
    smaller["metadata"]["labels"] = json!({"keep": "me"});
    let after = api.patch("app", &PatchParams::apply("alice"), &Patch::Apply(&smaller)).await;
    assert_eq!(after.map_err(code).err(), Some(409), "alice no longer owns replicas");
    let mut smaller = deployment("app", 5, json!([{"name": "app", "image": "app:1"}]));
    smaller["metadata"]["labels"] = json!({"keep": "me"});
    api.patch("app", &PatchParams::apply("alice"), &Patch::Apply(&smaller))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mut no_labels = deployment("app", 5, json!([{"name": "app", "image": "app:1"}]));
    no_labels["metadata"].as_object_mut().map(|m| m.remove("labels"));
    let after = api
        .patch("app", &PatchParams::apply("alice"), &Patch::Apply(&no_labels))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(!after.metadata.labels.unwrap_or_default().contains_key("keep"), "an unowned label is removed");

    // Dry-run apply changes nothing.
    let dry = PatchParams::apply("carol").force().dry_run();
    let d = deployment("app", 9, json!([{"name": "app", "image": "app:1"}]));
    let preview = api.patch("app", &dry, &Patch::Apply(&d)).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(preview.spec.replicas, Some(9));
    let live = api.get("app").await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(live.spec.replicas, Some(5));
}

#[tokio::test]
async fn status_and_scale_subresources() {
    let env = start().await;
    let api: Api<Deployment> = Api::namespaced(env.client.clone(), "default");
    let d: Deployment = serde_json::from_value(deployment("s", 1, json!([{"name": "s", "image": "s"}])))
        .unwrap_or_else(|e| panic!("{e}"));
    api.create(&PostParams::default(), &d).await.unwrap_or_else(|e| panic!("{e}"));
    let status = json!({"status": {"replicas": 1, "readyReplicas": 1}, "spec": {"replicas": 7}});
    let after = api
        .patch_status("s", &PatchParams::default(), &Patch::Merge(&status))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(after.status.as_ref().and_then(|s| s.ready_replicas), Some(1));
    assert_eq!(after.spec.replicas, Some(1), "the status subresource ignores spec");
    let main = api
        .patch("s", &PatchParams::default(), &Patch::Merge(&json!({"status": {"readyReplicas": 0}})))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(main.status.and_then(|s| s.ready_replicas), Some(1), "the main resource ignores status");

    let mut current = api.get_status("s").await.unwrap_or_else(|e| panic!("{e}"));
    current.status.get_or_insert_with(Default::default).available_replicas = Some(1);
    let replaced =
        api.replace_status("s", &PostParams::default(), &current).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(replaced.status.and_then(|s| s.available_replicas), Some(1));
    let scale = api.get_scale("s").await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(scale.spec.and_then(|s| s.replicas), Some(1));
    assert_eq!(scale.status.and_then(|s| s.selector).as_deref(), Some("app=s"));
    let scaled = api
        .patch_scale("s", &PatchParams::default(), &Patch::Merge(&json!({"spec": {"replicas": 3}})))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(scaled.spec.and_then(|s| s.replicas), Some(3));
    assert_eq!(api.get("s").await.ok().and_then(|d| d.spec.replicas), Some(3));
}

#[tokio::test]
async fn delete_honours_finalizers_and_namespaces_cascade() {
    let env = start().await;
    let ns_api: Api<Namespace> = Api::all(env.client.clone());
    let ns: Namespace =
        serde_json::from_value(json!({"metadata": {"name": "team"}})).unwrap_or_else(|e| panic!("{e}"));
    ns_api.create(&PostParams::default(), &ns).await.unwrap_or_else(|e| panic!("{e}"));
    let api: Api<ConfigMap> = Api::namespaced(env.client.clone(), "team");
    let mut held = cm("held", json!({}), json!({}));
    held.metadata.finalizers = Some(vec!["example.com/hold".into()]);
    api.create(&PostParams::default(), &held).await.unwrap_or_else(|e| panic!("{e}"));
    api.create(&PostParams::default(), &cm("free", json!({}), json!({})))
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    api.delete("held", &DeleteParams::default()).await.unwrap_or_else(|e| panic!("{e}"));
    let marked = api.get("held").await.unwrap_or_else(|e| panic!("still there: {e}"));
    assert!(marked.metadata.deletion_timestamp.is_some());

    ns_api.delete("team", &DeleteParams::default()).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(api.get("free").await.map_err(code).err(), Some(404), "contents go with the namespace");
    let terminating = ns_api.get("team").await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(terminating.status.and_then(|s| s.phase).as_deref(), Some("Terminating"));
    assert_eq!(
        api.create(&PostParams::default(), &cm("new", json!({}), json!({}))).await.map_err(code).err(),
        Some(403)
    );

    api.patch("held", &PatchParams::default(), &Patch::Merge(&json!({"metadata": {"finalizers": null}})))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(api.get("held").await.map_err(code).err(), Some(404));
    assert_eq!(
        ns_api.get("team").await.map_err(code).err(),
        Some(404),
        "an empty terminating namespace goes"
    );
}

#[tokio::test]
async fn watch_from_resource_version_with_bookmarks() {
    let env = start_with(|mut c| {
        c.bookmark_interval = Duration::from_millis(200);
        c
    })
    .await;
    let api: Api<ConfigMap> = Api::namespaced(env.client.clone(), "default");
    let first = api
        .create(&PostParams::default(), &cm("w", json!({}), json!({})))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let rv = first.metadata.resource_version.clone().unwrap_or_default();
    let stream = api.watch(&WatchParams::default().timeout(20), &rv).await.unwrap_or_else(|e| panic!("{e}"));
    let mut stream = stream.boxed();
    api.patch("w", &PatchParams::default(), &Patch::Merge(&json!({"data": {"k": "v"}})))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    api.delete("w", &DeleteParams::default()).await.unwrap_or_else(|e| panic!("{e}"));
    let mut kinds = Vec::new();
    let mut bookmark = false;
    let deadline = tokio::time::Instant::now() + WAIT;
    while kinds.len() < 2 || !bookmark {
        let next = tokio::time::timeout_at(deadline, stream.try_next()).await;
        match next {
            Ok(Ok(Some(WatchEvent::Modified(o)))) => {
                assert_eq!(o.data.and_then(|d| d.get("k").cloned()).as_deref(), Some("v"));
                kinds.push("MODIFIED");
            }
            Ok(Ok(Some(WatchEvent::Deleted(_)))) => kinds.push("DELETED"),
            Ok(Ok(Some(WatchEvent::Bookmark(_)))) => bookmark = true,
            Ok(Ok(Some(other))) => panic!("unexpected event {other:?}"),
            other => panic!("watch ended or timed out: {other:?}"),
        }
    }
    assert_eq!(kinds, ["MODIFIED", "DELETED"]);
}

#[tokio::test]
async fn crds_add_resource_types() {
    let env = start().await;
    let crds: Api<DynamicObject> = Api::all_with(
        env.client.clone(),
        &ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("apiextensions.k8s.io", "v1", "CustomResourceDefinition"),
            "customresourcedefinitions",
        ),
    );
    let crd: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "gadgets.example.com"},
        "spec": {"group": "example.com", "scope": "Namespaced",
                 "names": {"plural": "gadgets", "singular": "gadget", "kind": "Gadget"},
                 "versions": [{"name": "v1", "served": true, "storage": true,
                               "subresources": {"status": {}},
                               "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]}
    }))
    .unwrap_or_else(|e| panic!("{e}"));
    let ar =
        ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("example.com", "v1", "Gadget"), "gadgets");
    let gadgets: Api<DynamicObject> = Api::namespaced_with(env.client.clone(), "default", &ar);
    assert_eq!(
        gadgets.list(&ListParams::default()).await.map_err(code).err(),
        Some(404),
        "not served before the CRD"
    );
    crds.create(&PostParams::default(), &crd).await.unwrap_or_else(|e| panic!("{e}"));
    let g = json!({"apiVersion": "example.com/v1", "kind": "Gadget", "metadata": {"name": "g1"}, "spec": {"size": 1}});
    let applied = gadgets
        .patch("g1", &PatchParams::apply("test"), &Patch::Apply(&g))
        .await
        .unwrap_or_else(|e| panic!("apply custom resource: {e}"));
    assert_eq!(applied.data["spec"]["size"], json!(1));
    assert_eq!(gadgets.list(&ListParams::default()).await.map(|l| l.items.len()).ok(), Some(1));
    crds.delete("gadgets.example.com", &DeleteParams::default()).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(gadgets.get("g1").await.map_err(code).err(), Some(404));
}

#[tokio::test]
async fn state_file_keeps_objects_across_restarts() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let state = dir.path().join("state.json");
    let s = state.clone();
    let env = start_with(move |mut c| {
        c.state_path = Some(s);
        c
    })
    .await;
    let api: Api<ConfigMap> = Api::namespaced(env.client.clone(), "default");
    api.create(&PostParams::default(), &cm("kept", json!({}), json!({"a": "b"})))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    env.sandbox.shutdown().await.unwrap_or_else(|e| panic!("{e}"));
    let s = state.clone();
    let env = start_with(move |mut c| {
        c.state_path = Some(s);
        c
    })
    .await;
    let api: Api<ConfigMap> = Api::namespaced(env.client.clone(), "default");
    let kept = api.get("kept").await.unwrap_or_else(|e| panic!("after restart: {e}"));
    assert_eq!(kept.data.and_then(|d| d.get("a").cloned()).as_deref(), Some("b"));
}

#[tokio::test]
async fn a_label_selected_watch_sees_objects_enter_and_leave() {
    let env = start().await;
    let api: Api<ConfigMap> = Api::namespaced(env.client.clone(), "default");
    let first = api
        .create(&PostParams::default(), &cm("s", json!({"app": "no"}), json!({})))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let rv = first.metadata.resource_version.clone().unwrap_or_default();
    let mut stream = api
        .watch(&WatchParams::default().labels("app=yes").timeout(20), &rv)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .boxed();
    for (step, value) in ["yes", "yes", "no"].into_iter().enumerate() {
        let p = json!({"metadata": {"labels": {"app": value}}, "data": {"step": step.to_string()}});
        api.patch("s", &PatchParams::default(), &Patch::Merge(&p)).await.unwrap_or_else(|e| panic!("{e}"));
    }
    let mut kinds = Vec::new();
    let deadline = tokio::time::Instant::now() + WAIT;
    while kinds.len() < 3 {
        match tokio::time::timeout_at(deadline, stream.try_next()).await {
            Ok(Ok(Some(WatchEvent::Added(_)))) => kinds.push("ADDED"),
            Ok(Ok(Some(WatchEvent::Modified(_)))) => kinds.push("MODIFIED"),
            Ok(Ok(Some(WatchEvent::Deleted(_)))) => kinds.push("DELETED"),
            Ok(Ok(Some(WatchEvent::Bookmark(_)))) => {}
            other => panic!("watch ended or timed out: {other:?}"),
        }
    }
    assert_eq!(kinds, ["ADDED", "MODIFIED", "DELETED"]);
}

#[tokio::test]
async fn kube_rs_discovery_legacy_and_aggregated_agree() {
    let env = start().await;
    let legacy =
        kube::Discovery::new(env.client.clone()).run().await.unwrap_or_else(|e| panic!("legacy: {e}"));
    let aggregated = kube::Discovery::new(env.client.clone())
        .run_aggregated()
        .await
        .unwrap_or_else(|e| panic!("aggregated: {e}"));
    for discovery in [&legacy, &aggregated] {
        let gvk = GroupVersionKind::gvk("apps", "v1", "Deployment");
        let (ar, caps) = discovery.resolve_gvk(&gvk).unwrap_or_else(|| panic!("Deployment not discovered"));
        assert_eq!(ar.plural, "deployments");
        assert_eq!(caps.scope, kube::discovery::Scope::Namespaced);
        assert!(
            caps.subresources.iter().any(|(s, _)| s.plural == "deployments/scale" || s.plural == "scale")
        );
        let ns = discovery.resolve_gvk(&GroupVersionKind::gvk("", "v1", "Namespace")).map(|(_, c)| c.scope);
        assert_eq!(ns, Some(kube::discovery::Scope::Cluster));
    }
    let mut a: Vec<String> = legacy.groups().map(|g| g.name().to_owned()).collect();
    let mut b: Vec<String> = aggregated.groups().map(|g| g.name().to_owned()).collect();
    a.sort();
    b.sort();
    assert_eq!(a, b);
}
