//! Where the time of a health batch goes, natively: writing each object's JSON (the host's
//! part), parsing it with the plugin's projection, and assessing it (the plugin's part).
//! `cargo run --release -p driftless-plugin-health-core --example profile`
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::time::Instant;

use driftless_plugin_health_core::HealthCore;
use driftless_plugin_sdk::health::{HealthCheck, Projection};
use serde_json::json;

fn objects(n: usize) -> Vec<serde_json::Value> {
    (0..n)
        .map(|i| {
            if i % 2 == 0 {
                json!({"apiVersion": "apps/v1", "kind": "Deployment",
                       "metadata": {"name": format!("web-{i}"), "namespace": "bench", "generation": 4},
                       "spec": {"replicas": 3, "template": {"spec": {"containers": [{"name": "c", "image": "x:1"}]}}},
                       "status": {"observedGeneration": 4, "replicas": 3, "updatedReplicas": 3,
                                  "readyReplicas": 3, "availableReplicas": 3,
                                  "conditions": [{"type": "Available", "status": "True"}]}})
            } else {
                json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": format!("pod-{i}"), "namespace": "bench"},
                       "spec": {"containers": [{"name": "c", "image": "x:1"}]},
                       "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}],
                                  "containerStatuses": [{"name": "c", "ready": true, "restartCount": 0,
                                                         "state": {"running": {}}}]}})
            }
        })
        .collect()
}

fn main() {
    let values = objects(10_000);
    for round in 0..5 {
        let t = Instant::now();
        let texts: Vec<String> = values.iter().map(|v| serde_json::to_string(v).unwrap()).collect();
        let write = t.elapsed();
        let t = Instant::now();
        let mut buf = Vec::with_capacity(4096);
        let texts2: Vec<String> = values
            .iter()
            .map(|v| {
                buf.clear();
                serde_json::to_writer(&mut buf, v).unwrap();
                String::from_utf8(buf.clone()).unwrap()
            })
            .collect();
        let write_buffered = t.elapsed();
        assert_eq!(texts, texts2);
        let projection = Projection::new(HealthCore::READS);
        let t = Instant::now();
        let parsed: Vec<_> = texts.iter().map(|t| projection.parse(t).unwrap()).collect();
        let parse = t.elapsed();
        let t = Instant::now();
        let health: Vec<_> = parsed.iter().map(HealthCore::assess).collect();
        let assess = t.elapsed();
        let t = Instant::now();
        drop(parsed);
        let free = t.elapsed();
        let t = Instant::now();
        let full: Vec<serde_json::Value> = texts.iter().map(|t| serde_json::from_str(t).unwrap()).collect();
        let full_parse = t.elapsed();
        assert_eq!(health.len(), full.len());
        println!(
            "round {round}: write {write:?} (buffered {write_buffered:?}), projected parse {parse:?}, assess {assess:?}, free {free:?}; full parse {full_parse:?}; bytes {}",
            texts.iter().map(String::len).sum::<usize>()
        );
    }
}
