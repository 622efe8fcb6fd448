//! Prune, ignore rules, HPA, Secrets, the fast path, state, watches, hooks and a dead server.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::*;
use driftless_cluster::{
    AppState, ApplyOptions, ClusterError, IGNORE_ANNOTATION, InventoryEntry, PRUNE_ANNOTATION, PlanRequest,
};
use driftless_core::plan::Action;
use driftless_core::spec::IgnoreDifference;
use driftless_core::{GroupVersionKind, Object};
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;

#[tokio::test]
async fn prune_deletes_only_inventory_objects_with_the_label() {
    let env = start().await;
    let mut keep_me = cm("default", "keep-me", json!({}));
    keep_me.set_annotation(PRUNE_ANNOTATION, "false");
    let desired = vec![cm("default", "a", json!({})), cm("default", "b", json!({})), keep_me];
    let (_, report) = sync(&env, &desired, None).await;

    // Made by hand in the same namespace: not ours.
    let cms: Api<k8s_openapi::api::core::v1::ConfigMap> =
        Api::namespaced(env.cluster.client().clone(), "default");
    cms.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata": {"name": "by-hand"}})).unwrap(),
    )
    .await
    .unwrap();
    // Forged inventory entries: an object without our label and one that is gone.
    let mut state = report.state.clone();
    for name in ["by-hand", "never-existed"] {
        state.inventory.push(InventoryEntry {
            object: driftless_core::ObjectRef {
                api_version: "v1".into(),
                kind: "ConfigMap".into(),
                namespace: Some("default".into()),
                name: name.into(),
            },
            hash: String::new(),
            resource_version: None,
        });
    }

    let only_a = vec![cm("default", "a", json!({}))];
    // Prune off: nothing deleted, the candidates stay in the inventory.
    let req = PlanRequest { prune: false, ..request(&only_a, Some(&state)) };
    let planned = env.cluster.plan(&req).await.unwrap();
    assert_eq!(planned.plan.summary().deletes, 0);
    let report_off = env.cluster.apply(&planned, &ApplyOptions::default()).await.unwrap();
    assert!(report_off.deleted.is_empty());
    assert_eq!(report_off.state.inventory.len(), 3, "{:#?}", report_off.state.inventory);

    let planned = plan(&env, &only_a, Some(&state)).await;
    let deletes: Vec<String> = planned
        .plan
        .changes
        .iter()
        .filter(|c| c.action == Action::Delete)
        .map(|c| c.object.name.clone())
        .collect();
    assert_eq!(deletes, ["b"]);
    let mut skipped: Vec<(String, bool)> = planned
        .plan
        .skipped
        .iter()
        .map(|c| (c.object.name.clone(), c.note.as_deref().unwrap_or_default().contains("not pruned")))
        .collect();
    skipped.sort();
    assert_eq!(skipped, [("by-hand".to_owned(), true), ("keep-me".to_owned(), true)]);
    let report = env.cluster.apply(&planned, &ApplyOptions::default()).await.unwrap();
    assert_eq!(names(&report.deleted), ["ConfigMap/b"]);
    let live: Vec<String> = cms
        .list(&Default::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|c| c.metadata.name)
        .collect();
    assert_eq!(live, ["a", "by-hand", "keep-me"]);
    // keep-me is orphaned: it left the inventory.
    let inventory: Vec<&str> = report.state.inventory.iter().map(|e| e.object.name.as_str()).collect();
    assert_eq!(inventory, ["a"]);
}

#[tokio::test]
async fn the_ignore_annotation_means_never_touched() {
    let env = start().await;
    let (_, report) = sync(
        &env,
        &[cm("default", "live-ignored", json!({"v": "1"})), cm("default", "kept", json!({}))],
        None,
    )
    .await;
    // Someone marks the live object ignored and edits it.
    let api = dynamic_api(&env, "v1", "ConfigMap", "configmaps", Some("default"));
    apply_as(&api, "human", "live-ignored", json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "live-ignored", "annotations": {IGNORE_ANNOTATION: "true"}}, "data": {"v": "hand"}}))
    .await;
    let mut desired_ignored = cm("default", "new-ignored", json!({}));
    desired_ignored.set_annotation(IGNORE_ANNOTATION, "true");
    let mut kept_ignored = cm("default", "kept", json!({}));
    kept_ignored.set_annotation(IGNORE_ANNOTATION, "true");
    let desired = vec![cm("default", "live-ignored", json!({"v": "2"})), desired_ignored, kept_ignored];
    let (planned, report) = sync(&env, &desired, Some(&report.state)).await;
    assert!(planned.plan.changes.is_empty(), "{:#?}", planned.plan.changes);
    assert_eq!(planned.plan.skipped.len(), 3);
    assert!(report.applied.is_empty() && report.deleted.is_empty());
    // Not created, not updated, not pruned.
    assert!(env.cluster.get(&desired[1].object_ref()).await.unwrap().is_none());
    let live = env.cluster.get(&desired[0].object_ref()).await.unwrap().unwrap();
    assert_eq!(live.as_value()["data"]["v"], json!("hand"));
    assert!(env.cluster.get(&desired[2].object_ref()).await.unwrap().is_some());
}

#[tokio::test]
async fn ignore_differences_by_pointer_and_by_manager() {
    let env = start().await;
    let desired = vec![deployment("default", "web", 2)];
    let (_, report) = sync(&env, &desired, None).await;
    // `kubectl scale`-like: another manager takes spec.replicas.
    let api = dynamic_api(&env, "apps/v1", "Deployment", "deployments", Some("default"));
    apply_as(
        &api,
        "scaler",
        "web",
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web"}, "spec": {"replicas": 5}}),
    )
    .await;

    let plain = plan(&env, &desired, Some(&report.state)).await;
    assert_eq!(plain.plan.changes[0].action, Action::Update);

    let by_manager = [IgnoreDifference {
        group: "apps".into(),
        kind: "Deployment".into(),
        name: None,
        namespace: None,
        json_pointers: vec![],
        managed_fields_managers: vec!["scaler".into()],
    }];
    let req = PlanRequest { ignore_differences: &by_manager, ..request(&desired, Some(&report.state)) };
    let planned = env.cluster.plan(&req).await.unwrap();
    assert_eq!(planned.plan.changes[0].action, Action::Unchanged, "{:#?}", planned.plan);

    let by_pointer = [IgnoreDifference {
        group: "apps".into(),
        kind: "Deployment".into(),
        name: Some("web".into()),
        namespace: Some("default".into()),
        json_pointers: vec!["/spec/replicas".into()],
        managed_fields_managers: vec![],
    }];
    let req = PlanRequest { ignore_differences: &by_pointer, ..request(&desired, Some(&report.state)) };
    assert!(env.cluster.plan(&req).await.unwrap().plan.is_noop());
    // A rule for another name does not match.
    let other = [IgnoreDifference { name: Some("api".into()), ..by_pointer[0].clone() }];
    let req = PlanRequest { ignore_differences: &other, ..request(&desired, Some(&report.state)) };
    assert!(!env.cluster.plan(&req).await.unwrap().plan.is_noop());
}

#[tokio::test]
async fn an_hpa_owns_the_replicas_of_its_workload() {
    let env = start().await;
    // The sandbox has no autoscaling API: serve HorizontalPodAutoscaler through a CRD.
    let hpa_crd = obj(json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "horizontalpodautoscalers.autoscaling"},
        "spec": {"group": "autoscaling", "scope": "Namespaced",
                 "names": {"plural": "horizontalpodautoscalers", "singular": "horizontalpodautoscaler", "kind": "HorizontalPodAutoscaler"},
                 "versions": [{"name": "v2", "served": true, "storage": true,
                    "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]}}));
    let hpa = obj(json!({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                 "minReplicas": 2, "maxReplicas": 9}}));
    let desired = vec![hpa_crd, deployment("default", "web", 3), hpa, deployment("default", "other", 3)];
    let (planned, report) = sync(&env, &desired, None).await;
    let sent: Vec<&serde_json::Value> = planned.objects().collect();
    let web = sent.iter().find(|o| o["metadata"]["name"] == "web" && o["kind"] == "Deployment").unwrap();
    assert!(web["spec"].get("replicas").is_none(), "{web}");
    let other = sent.iter().find(|o| o["metadata"]["name"] == "other").unwrap();
    assert_eq!(other["spec"]["replicas"], json!(3));

    // The autoscaler scales (through the scale subresource, as the HPA controller does).
    let api = dynamic_api(&env, "apps/v1", "Deployment", "deployments", Some("default"));
    api.patch_scale("web", &PatchParams::default(), &Patch::Merge(json!({"spec": {"replicas": 7}})))
        .await
        .unwrap();
    let again = plan(&env, &desired, Some(&report.state)).await;
    assert!(again.plan.is_noop(), "{:#?}", again.plan);
    env.cluster.apply(&again, &ApplyOptions::default()).await.unwrap();
    let live = env.cluster.get(&desired[1].object_ref()).await.unwrap().unwrap();
    assert_eq!(live.as_value()["spec"]["replicas"], json!(7));
}

#[tokio::test]
async fn secret_values_never_appear_in_diffs_or_errors() {
    let env = start().await;
    let secret = |v: &str| {
        obj(
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "creds", "namespace": "default"},
            "stringData": {"password": v, "user": "admin-user-x"}}),
        )
    };
    let (planned, report) = sync(&env, &[secret("hunter2-first")], None).await;
    let diff = planned.plan.changes[0].diff.clone().unwrap();
    assert!(
        diff.contains("<redacted: added>") && !diff.contains("hunter2") && !diff.contains("admin-user-x"),
        "{diff}"
    );
    assert!(report.state.inventory[0].hash.is_empty(), "no hash of Secret values is stored");

    let planned = plan(&env, &[secret("hunter2-second")], Some(&report.state)).await;
    let change = &planned.plan.changes[0];
    assert_eq!(change.action, Action::Update);
    let diff = change.diff.clone().unwrap();
    assert!(diff.contains("<redacted: changed>"), "{diff}");
    for leaked in ["hunter2", "aHVudGVyMi1", "admin-user-x", "YWRtaW4tdXNlci14"] {
        assert!(!diff.contains(leaked), "{leaked} in {diff}");
    }
    // A refused Secret: the error carries no value.
    let mut bad = secret("hunter2-third").into_value();
    bad["metadata"]["namespace"] = json!("missing-ns");
    bad["hunter2-third"] = json!("field named after the value");
    let err = env.cluster.plan(&request(&[Object::from_value(bad).unwrap()], None)).await.unwrap_err();
    let text = err.to_string();
    assert!(text.contains("creds") && !text.contains("hunter2-third"), "{text}");
}

#[tokio::test]
async fn the_fast_path_skips_dry_runs_until_an_out_of_band_edit() {
    let env = start().await;
    let desired: Vec<Object> =
        (0..20).map(|i| cm("default", &format!("c{i:02}"), json!({"i": i.to_string()}))).collect();
    let (_, report) = sync(&env, &desired, None).await;
    let before = env.cluster.dry_run_count();
    let planned = plan(&env, &desired, Some(&report.state)).await;
    assert!(planned.plan.is_noop());
    assert_eq!(env.cluster.dry_run_count(), before, "no dry run when nothing changed");

    // `kubectl edit`: the resourceVersion moves, so that object is dry-run and updated back.
    let api = dynamic_api(&env, "v1", "ConfigMap", "configmaps", Some("default"));
    apply_as(
        &api,
        "kubectl-edit",
        "c07",
        json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "c07"}, "data": {"i": "edited"}}),
    )
    .await;
    let planned = plan(&env, &desired, Some(&report.state)).await;
    assert_eq!(env.cluster.dry_run_count(), before + 1);
    let updates: Vec<&str> = planned
        .plan
        .changes
        .iter()
        .filter(|c| c.action == Action::Update)
        .map(|c| c.object.name.as_str())
        .collect();
    assert_eq!(updates, ["c07"]);
    let report = env.cluster.apply(&planned, &ApplyOptions::default()).await.unwrap();
    assert_eq!(names(&report.applied), ["ConfigMap/c07"]);
    let live = env.cluster.get(&desired[7].object_ref()).await.unwrap().unwrap();
    assert_eq!(live.as_value()["data"]["i"], json!("7"));

    // A changed desired object never takes the fast path.
    let mut changed = desired.clone();
    changed[3] = cm("default", "c03", json!({"i": "new"}));
    let before = env.cluster.dry_run_count();
    let planned = plan(&env, &changed, Some(&report.state)).await;
    assert_eq!(env.cluster.dry_run_count(), before + 1);
    assert_eq!(planned.plan.summary().updates, 1);
}

#[tokio::test]
async fn state_round_trip_and_malformed_state() {
    let env = start().await;
    assert_eq!(env.cluster.read_state(APP).await.unwrap(), None);
    let (_, report) = sync(&env, &[cm("default", "a", json!({}))], None).await;
    let mut state = report.state.clone();
    state.revision = Some("0123abcd".into());
    env.cluster.write_state(APP, &state).await.unwrap();
    assert_eq!(env.cluster.read_state(APP).await.unwrap(), Some(state.clone()));
    // Written again (namespace exists now).
    state.inventory.clear();
    env.cluster.write_state(APP, &state).await.unwrap();
    assert_eq!(env.cluster.read_state(APP).await.unwrap().unwrap().inventory, []);

    let api = dynamic_api(&env, "v1", "ConfigMap", "configmaps", Some(driftless_cluster::STATE_NAMESPACE));
    apply_as(
        &api,
        "vandal",
        "driftless-shop",
        json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "driftless-shop"}, "data": {"inventory": "[{\"oops\": 1}]"}}),
    )
    .await;
    let err = env.cluster.read_state(APP).await.unwrap_err();
    assert!(matches!(err, ClusterError::InvalidState { .. }), "{err}");
    assert!(err.to_string().contains("driftless-system/driftless-shop"), "{err}");

    let err = env.cluster.read_state("Bad_Name").await.unwrap_err();
    assert!(matches!(err, ClusterError::InvalidApp { .. }), "{err}");
    let err = env.cluster.write_state("-x", &AppState::default()).await.unwrap_err();
    assert!(matches!(err, ClusterError::InvalidApp { .. }), "{err}");
}

#[tokio::test]
async fn a_dead_server_is_unreachable() {
    let env = start().await;
    let Env { dir, sandbox, cluster } = env;
    sandbox.shutdown().await.unwrap();
    let err = cluster.read_state(APP).await.unwrap_err();
    assert!(err.is_unreachable(), "{err}");
    assert!(err.to_string().contains("https://127.0.0.1:"), "{err}");
    let desired = [cm("default", "a", json!({}))];
    let err = cluster.plan(&request(&desired, None)).await.unwrap_err();
    assert!(err.is_unreachable(), "{err}");
    let err = driftless_cluster::Cluster::connect(Some(&dir.path().join("missing"))).await.unwrap_err();
    assert!(matches!(err, ClusterError::Kubeconfig { .. }), "{err}");
}

#[tokio::test]
async fn watch_reports_changes_made_by_another_client() {
    let env = start().await;
    let desired = vec![cm("default", "watched", json!({"v": "1"})), deployment("default", "web", 1)];
    sync(&env, &desired, None).await;
    let kinds = [
        GroupVersionKind::from_api_version("v1", "ConfigMap"),
        GroupVersionKind::from_api_version("apps/v1", "Deployment"),
    ];
    let mut rx = env.cluster.watch(&kinds, APP).await.unwrap();
    let api = dynamic_api(&env, "v1", "ConfigMap", "configmaps", Some("default"));
    apply_as(
        &api,
        "someone",
        "watched",
        json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "watched"}, "data": {"v": "2"}}),
    )
    .await;
    let got = tokio::time::timeout(Duration::from_secs(10), rx.recv()).await.unwrap().unwrap();
    assert_eq!(got.to_string(), "v1 ConfigMap default/watched");
    let deployments = dynamic_api(&env, "apps/v1", "Deployment", "deployments", Some("default"));
    deployments.delete("web", &Default::default()).await.unwrap();
    let got = tokio::time::timeout(Duration::from_secs(10), rx.recv()).await.unwrap().unwrap();
    assert_eq!(got.to_string(), "apps/v1 Deployment default/web");
}

#[tokio::test]
async fn a_hook_job_runs_to_completion_and_is_replaced() {
    let env = start_with(|mut c| {
        c.ready_after = Some(Duration::from_millis(200));
        c
    })
    .await;
    let job = Object::from_value(json!({"apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": "migrate", "namespace": "default", "annotations": {"driftless.dev/hook": "PreSync"}},
        "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "m", "image": "busybox"}]}}}}))
    .unwrap();
    let outcome = env.cluster.run_hook(&job, Duration::from_secs(10)).await.unwrap();
    assert!(outcome.succeeded, "{outcome:?}");
    assert!(outcome.message.starts_with("Complete"), "{outcome:?}");
    let first_uid =
        env.cluster.get(&job.object_ref()).await.unwrap().unwrap().as_value()["metadata"]["uid"].clone();
    let outcome = env.cluster.run_hook(&job, Duration::from_secs(10)).await.unwrap();
    assert!(outcome.succeeded, "{outcome:?}");
    let second_uid =
        env.cluster.get(&job.object_ref()).await.unwrap().unwrap().as_value()["metadata"]["uid"].clone();
    assert_ne!(first_uid, second_uid, "the previous Job was replaced");

    // Without the simulated controller nothing completes: a timeout, reported as a failure.
    let quiet = start().await;
    let outcome = quiet.cluster.run_hook(&job, Duration::from_millis(500)).await.unwrap();
    assert!(!outcome.succeeded && outcome.message.contains("did not finish"), "{outcome:?}");
}

#[tokio::test]
async fn prune_deletes_in_reverse_order_after_the_applies() {
    let env = start().await;
    let mut late = cm("default", "z-late", json!({}));
    late.set_annotation(driftless_cluster::WAVE_ANNOTATION, "1");
    let desired = vec![cm("default", "x", json!({})), deployment("default", "y", 1), late];
    let (_, report) = sync(&env, &desired, None).await;
    let next = vec![cm("default", "new", json!({}))];
    let (planned, report) = sync(&env, &next, Some(&report.state)).await;
    let order: Vec<(Action, String)> =
        planned.plan.changes.iter().map(|c| (c.action, c.object.name.clone())).collect();
    assert_eq!(
        order,
        [
            (Action::Create, "new".to_owned()),
            (Action::Delete, "z-late".to_owned()),
            (Action::Delete, "y".to_owned()),
            (Action::Delete, "x".to_owned())
        ]
    );
    assert_eq!(names(&report.deleted), ["ConfigMap/z-late", "Deployment/y", "ConfigMap/x"]);
    assert_eq!(names(&report.applied), ["ConfigMap/new"]);
    let inventory: Vec<&str> = report.state.inventory.iter().map(|e| e.object.name.as_str()).collect();
    assert_eq!(inventory, ["new"]);
    for o in &desired {
        assert!(env.cluster.get(&o.object_ref()).await.unwrap().is_none(), "{}", o.object_ref());
    }
}

#[tokio::test]
async fn server_messages_about_a_secret_are_scrubbed_of_its_values() {
    let env = start().await;
    // Contrived so that the server echoes a value: the (invalid) name is also a value.
    let secret = obj(json!({"apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "Leak_Me_1", "namespace": "default"},
        "data": {"a": "TGVha19NZV8x"}, "stringData": {"b": "Leak_Me_1"}}));
    let err = env.cluster.plan(&request(&[secret], None)).await.unwrap_err();
    let ClusterError::DryRun { failures } = &err else { panic!("expected a dry-run error, got {err}") };
    assert!(failures[0].message.contains("Invalid value"), "{err}");
    assert!(failures[0].message.contains("<redacted>"), "{err}");
    // The object ref names the Secret (names are not secret); the server's message does not.
    assert!(!failures[0].message.contains("Leak_Me_1"), "{err}");
}
