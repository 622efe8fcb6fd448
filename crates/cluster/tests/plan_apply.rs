//! Plan and apply against an in-process sandbox: classification, diffs, ordering, deferred
//! dry runs, CRDs, waves, failures that write nothing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use driftless_cluster::{ApplyError, ApplyOptions, ClusterError};
use driftless_core::plan::Action;
use serde_json::json;

#[tokio::test]
async fn create_update_unchanged_with_a_diff() {
    let env = start().await;
    let desired = vec![cm("default", "conf", json!({"color": "blue"})), deployment("default", "web", 2)];
    let (planned, report) = sync(&env, &desired, None).await;
    let actions: Vec<Action> = planned.plan.changes.iter().map(|c| c.action).collect();
    assert_eq!(actions, [Action::Create, Action::Create]);
    assert!(planned.plan.changes[0].diff.as_deref().unwrap().contains("+  color: blue"));
    assert_eq!(names(&report.applied), ["ConfigMap/conf", "Deployment/web"]);
    assert_eq!(report.state.inventory.len(), 2);
    assert!(report.state.inventory.iter().all(|e| e.resource_version.is_some() && e.hash.len() == 64));

    // Same desired state, without state (no fast path): everything unchanged by dry run.
    let before = env.cluster.dry_run_count();
    let again = plan(&env, &desired, None).await;
    assert!(again.plan.is_noop(), "{:#?}", again.plan);
    assert_eq!(again.plan.summary().unchanged, 2);
    assert_eq!(env.cluster.dry_run_count() - before, 2);
    let report2 = env.cluster.apply(&again, &ApplyOptions::default()).await.unwrap();
    assert!(report2.applied.is_empty());
    assert_eq!(report2.state.inventory.len(), 2);

    // A change: Update with a unified diff of just that field.
    let changed = vec![cm("default", "conf", json!({"color": "green"})), deployment("default", "web", 3)];
    let (planned, report) = sync(&env, &changed, Some(&report2.state)).await;
    let summary = planned.plan.summary();
    assert_eq!((summary.updates, summary.creates, summary.unchanged), (2, 0, 0));
    let diff = planned.plan.changes[0].diff.as_deref().unwrap();
    assert!(diff.contains("-  color: blue") && diff.contains("+  color: green"), "{diff}");
    assert!(!diff.contains("resourceVersion") && !diff.contains("managedFields"), "{diff}");
    let diff = planned.plan.changes[1].diff.as_deref().unwrap();
    assert!(diff.contains("-  replicas: 2") && diff.contains("+  replicas: 3"), "{diff}");
    assert!(!diff.contains("status"), "{diff}");
    assert_eq!(report.applied.len(), 2);
    let live = env.cluster.get(&changed[1].object_ref()).await.unwrap().unwrap();
    assert_eq!(live.as_value()["spec"]["replicas"], json!(3));
}

#[tokio::test]
async fn a_bad_object_fails_the_plan_and_nothing_is_written() {
    let env = start().await;
    let desired = vec![
        cm("default", "good", json!({"a": "1"})),
        deployment("nowhere", "lost", 1),
        obj(
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "odd", "namespace": "default"},
            "data": {}, "spec": {"x": 1}}),
        ),
    ];
    let err = env.cluster.plan(&request(&desired, None)).await.unwrap_err();
    let ClusterError::DryRun { failures } = &err else { panic!("expected a dry-run error, got {err}") };
    let failed: Vec<String> = failures.iter().map(|f| f.object.to_string()).collect();
    assert_eq!(failed, ["apps/v1 Deployment nowhere/lost", "v1 ConfigMap default/odd"], "{err}");
    assert_eq!(failures[0].code, 404);
    assert!(failures[1].message.contains("unknown field \"spec\""), "{err}");
    assert!(!err.is_unreachable());
    // Nothing written: the good ConfigMap does not exist.
    assert!(env.cluster.get(&desired[0].object_ref()).await.unwrap().is_none());

    // An unknown kind without its CRD names the object.
    let widget = obj(
        json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w", "namespace": "default"}}),
    );
    let err = env.cluster.plan(&request(&[widget], None)).await.unwrap_err();
    assert!(matches!(err, ClusterError::UnknownKind { .. }), "{err}");
    assert!(err.to_string().contains("example.com/v1 Widget default/w"), "{err}");

    // A bad wave annotation.
    let mut bad = cm("default", "w", json!({}));
    bad.set_annotation(driftless_cluster::WAVE_ANNOTATION, "soon");
    let err = env.cluster.plan(&request(&[bad], None)).await.unwrap_err();
    assert!(err.to_string().contains("is not an integer"), "{err}");
}

#[tokio::test]
async fn namespace_and_its_objects_in_one_sync() {
    let env = start().await;
    let desired = vec![cm("web", "conf", json!({"a": "1"})), deployment("web", "front", 1), namespace("web")];
    let before = env.cluster.dry_run_count();
    let planned = plan(&env, &desired, None).await;
    // Only the Namespace was dry-run in the plan; the others wait for it.
    assert_eq!(env.cluster.dry_run_count() - before, 1);
    let notes: Vec<Option<&str>> = planned.plan.changes.iter().map(|c| c.note.as_deref()).collect();
    assert_eq!(
        notes,
        [
            None,
            Some("waits for Namespace web created in this sync"),
            Some("waits for Namespace web created in this sync")
        ]
    );
    assert!(planned.plan.changes.iter().all(|c| c.action == Action::Create));
    let report = env.cluster.apply(&planned, &ApplyOptions::default()).await.unwrap();
    assert_eq!(names(&report.applied), ["Namespace/web", "ConfigMap/conf", "Deployment/front"]);
    assert_eq!(env.cluster.dry_run_count() - before, 3);
    for o in &desired {
        assert!(env.cluster.get(&o.object_ref()).await.unwrap().is_some(), "{}", o.object_ref());
    }
}

#[tokio::test]
async fn a_deferred_dry_run_failure_stops_after_the_namespace() {
    let env = start().await;
    let desired = vec![
        namespace("late"),
        obj(
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "bad", "namespace": "late"},
            "data": {}, "bogus": true}),
        ),
        cm("default", "after", json!({})),
    ];
    let planned = plan(&env, &desired, None).await;
    let err = env.cluster.apply(&planned, &ApplyOptions::default()).await.unwrap_err();
    let ApplyError::DryRun { object, message, applied } = &err else {
        panic!("expected a dry-run error: {err}")
    };
    assert_eq!(object.to_string(), "v1 ConfigMap late/bad");
    assert!(message.contains("unknown field \"bogus\""), "{message}");
    assert_eq!(names(applied), ["Namespace/late"]);
    // The ConfigMap of the same wave in another namespace was not written either.
    assert!(env.cluster.get(&desired[2].object_ref()).await.unwrap().is_none());
}

fn crd() -> driftless_core::Object {
    obj(json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {"group": "example.com", "scope": "Namespaced",
                 "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
                 "versions": [{"name": "v1", "served": true, "storage": true,
                    "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]}}))
}

#[tokio::test]
async fn crd_and_custom_resource_in_one_sync() {
    let env = start().await;
    let widget = obj(json!({"apiVersion": "example.com/v1", "kind": "Widget",
        "metadata": {"name": "w1", "namespace": "default"}, "spec": {"size": 3}}));
    let desired = vec![widget.clone(), crd()];
    let planned = plan(&env, &desired, None).await;
    assert_eq!(
        planned.plan.changes[1].note.as_deref(),
        Some("waits for CustomResourceDefinition widgets.example.com applied in this sync")
    );
    let report = env.cluster.apply(&planned, &ApplyOptions::default()).await.unwrap();
    assert_eq!(names(&report.applied), ["CustomResourceDefinition/widgets.example.com", "Widget/w1"]);
    let live = env.cluster.get(&widget.object_ref()).await.unwrap().unwrap();
    assert_eq!(live.as_value()["spec"]["size"], json!(3));
    // Now served: a resync plans both unchanged (discovery was refreshed).
    let again = plan(&env, &desired, Some(&report.state)).await;
    assert!(again.plan.is_noop(), "{:#?}", again.plan);
}

#[tokio::test]
async fn waves_then_kind_order() {
    let env = start().await;
    let mut late = cm("default", "a-late", json!({}));
    late.set_annotation(driftless_cluster::WAVE_ANNOTATION, "2");
    let mut early = deployment("default", "z-early", 1);
    early.set_annotation(driftless_cluster::WAVE_ANNOTATION, "-1");
    let sa = obj(
        json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "runner", "namespace": "default"}}),
    );
    let role = obj(json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
        "metadata": {"name": "reader"}, "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]}));
    let desired = vec![
        late,
        deployment("default", "web", 1),
        cm("default", "conf", json!({})),
        sa,
        early,
        role,
        namespace("extra"),
    ];
    let (planned, report) = sync(&env, &desired, None).await;
    let expected = [
        "Deployment/z-early",
        "Namespace/extra",
        "ClusterRole/reader",
        "ServiceAccount/runner",
        "ConfigMap/conf",
        "Deployment/web",
        "ConfigMap/a-late",
    ];
    assert_eq!(names(&report.applied), expected);
    let waves: Vec<i64> = planned.plan.changes.iter().map(|c| c.wave).collect();
    assert_eq!(waves, [-1, 0, 0, 0, 0, 0, 2]);
}
