//! Plan and apply 1,000 objects into an in-process sandbox, then replan with no change, and
//! print the timings. `cargo run --release -p driftless-cluster --example sync_1000 [N]`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::time::{Duration, Instant};

use driftless_cluster::{APP_LABEL, AppState, ApplyOptions, Cluster, PlanRequest};
use driftless_core::Object;
use driftless_sandbox::{Sandbox, SandboxConfig};
use serde_json::{Value, json};

fn labelled(mut v: Value) -> Object {
    v["metadata"]["labels"][APP_LABEL] = json!("bench");
    Object::from_value(v).unwrap()
}

fn objects(n: usize) -> Vec<Object> {
    let mut out =
        vec![labelled(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "bench"}}))];
    let mut i = 0;
    while out.len() < n {
        let name = format!("svc-{i:04}");
        let o = match i % 3 {
            0 => {
                json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "bench"},
                "data": {"index": i.to_string(), "config.yaml": "a: 1\nb: [2, 3]\n"}})
            }
            1 => {
                json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": "bench"},
                "spec": {"replicas": 2, "selector": {"matchLabels": {"app": name}},
                  "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [
                    {"name": "app", "image": "registry.example/app:1.0", "ports": [{"containerPort": 8080}],
                     "env": [{"name": "INDEX", "value": i.to_string()}]}]}}}})
            }
            _ => {
                json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": "bench"},
                "spec": {"selector": {"app": name}, "ports": [{"port": 80, "targetPort": 8080}]}})
            }
        };
        out.push(labelled(o));
        i += 1;
    }
    out
}

fn req<'a>(desired: &'a [Object], state: Option<&'a AppState>) -> PlanRequest<'a> {
    PlanRequest {
        app: "bench",
        desired,
        default_namespace: None,
        ignore_differences: &[],
        prune: true,
        state,
    }
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

#[tokio::main]
async fn main() {
    let n: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(1000);
    let dir = tempfile::tempdir().unwrap();
    let sandbox = Sandbox::start(SandboxConfig::new(dir.path().join("kubeconfig"))).await.unwrap();
    let cluster = Cluster::connect(Some(sandbox.kubeconfig_path())).await.unwrap();
    let desired = objects(n);
    let t = Instant::now();
    let planned = cluster.plan(&req(&desired, None)).await.unwrap();
    let plan_first = t.elapsed();
    let t = Instant::now();
    let report = cluster.apply(&planned, &ApplyOptions::default()).await.unwrap();
    let apply_first = t.elapsed();
    let t = Instant::now();
    cluster.write_state("bench", &report.state).await.unwrap();
    let write_first = t.elapsed();
    println!("objects: {n}");
    println!(
        "first sync: plan {} + apply {} ({} written) + write state {} = {}",
        ms(plan_first),
        ms(apply_first),
        report.applied.len(),
        ms(write_first),
        ms(plan_first + apply_first + write_first)
    );

    for round in 1..=3 {
        let dry_before = cluster.dry_run_count();
        let t = Instant::now();
        let state = cluster.read_state("bench").await.unwrap().unwrap();
        let read = t.elapsed();
        let t = Instant::now();
        let planned = cluster.plan(&req(&desired, Some(&state))).await.unwrap();
        let plan = t.elapsed();
        assert!(planned.plan.is_noop());
        let t = Instant::now();
        let report = cluster.apply(&planned, &ApplyOptions::default()).await.unwrap();
        cluster.write_state("bench", &report.state).await.unwrap();
        let finish = t.elapsed();
        println!(
            "no-change resync {round} (fast path): read state {} + plan {} + apply/write state {} = {} ({} dry runs)",
            ms(read),
            ms(plan),
            ms(finish),
            ms(read + plan + finish),
            cluster.dry_run_count() - dry_before
        );
    }

    let dry_before = cluster.dry_run_count();
    let t = Instant::now();
    let planned = cluster.plan(&req(&desired, None)).await.unwrap();
    assert!(planned.plan.is_noop());
    println!(
        "no-change plan without state (a dry run per object): {} ({} dry runs)",
        ms(t.elapsed()),
        cluster.dry_run_count() - dry_before
    );
    sandbox.shutdown().await.unwrap();
}
