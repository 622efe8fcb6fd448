//! The optional simulated controller (off by default): once a workload's current generation
//! has been seen for `ready_after`, it writes the status a healthy rollout would have, so
//! `kubectl rollout status` and health checks progress in demos. It schedules nothing.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::api::Shared;
use crate::util;

const WORKLOADS: [&str; 5] =
    ["deployments.apps", "statefulsets.apps", "replicasets.apps", "daemonsets.apps", "jobs.batch"];

/// The status a finished rollout of `object` has, or `None` when it already has it.
fn ready_status(type_key: &str, object: &Value) -> Option<Value> {
    let generation = object.pointer("/metadata/generation").and_then(Value::as_i64).unwrap_or(1);
    let replicas = object.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(1);
    let now = util::rfc3339(util::now_secs());
    let status = match type_key {
        "deployments.apps" => json!({
            "observedGeneration": generation, "replicas": replicas, "updatedReplicas": replicas,
            "readyReplicas": replicas, "availableReplicas": replicas,
            "conditions": [
                {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable",
                 "message": "Deployment has minimum availability.", "lastUpdateTime": now, "lastTransitionTime": now},
                {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable",
                 "message": "ReplicaSet has successfully progressed.", "lastUpdateTime": now, "lastTransitionTime": now}
            ]
        }),
        "statefulsets.apps" => json!({
            "observedGeneration": generation, "replicas": replicas, "readyReplicas": replicas,
            "currentReplicas": replicas, "updatedReplicas": replicas, "availableReplicas": replicas,
            "currentRevision": format!("rev-{generation}"), "updateRevision": format!("rev-{generation}")
        }),
        "replicasets.apps" => json!({
            "observedGeneration": generation, "replicas": replicas, "fullyLabeledReplicas": replicas,
            "readyReplicas": replicas, "availableReplicas": replicas
        }),
        "daemonsets.apps" => json!({
            "observedGeneration": generation, "desiredNumberScheduled": 1, "currentNumberScheduled": 1,
            "updatedNumberScheduled": 1, "numberReady": 1, "numberAvailable": 1, "numberMisscheduled": 0
        }),
        "jobs.batch" => json!({
            "succeeded": 1, "startTime": now, "completionTime": now,
            "conditions": [{"type": "Complete", "status": "True", "lastProbeTime": now, "lastTransitionTime": now}]
        }),
        _ => return None,
    };
    let current = object.get("status").cloned().unwrap_or(Value::Null);
    let done = match type_key {
        "jobs.batch" => current.get("succeeded").is_some(),
        _ => {
            current.get("observedGeneration") == status.get("observedGeneration")
                && ["replicas", "readyReplicas", "numberReady"]
                    .iter()
                    .all(|k| current.get(k) == status.get(k))
        }
    };
    (!done).then_some(status)
}

/// Run until shutdown, checking every 100 ms.
pub async fn run(shared: Arc<Shared>, ready_after: Duration, mut shutdown: watch::Receiver<bool>) {
    let mut first_seen: HashMap<(String, String, String, i64), Instant> = HashMap::new();
    loop {
        tokio::select! {
            () = tokio::time::sleep(Duration::from_millis(100)) => {}
            _ = shutdown.changed() => return,
        }
        let now = Instant::now();
        let mut state = shared.lock();
        let mut updates = Vec::new();
        let mut live = Vec::new();
        for key in WORKLOADS {
            for ((ns, name), object) in state.iter_type(key) {
                if object.pointer("/metadata/deletionTimestamp").is_some() {
                    continue;
                }
                let generation = object.pointer("/metadata/generation").and_then(Value::as_i64).unwrap_or(1);
                let id = (key.to_owned(), ns.clone(), name.clone(), generation);
                live.push(id.clone());
                let Some(status) = ready_status(key, object) else { continue };
                let seen = *first_seen.entry(id).or_insert(now);
                if now.duration_since(seen) >= ready_after {
                    let mut new = object.clone();
                    new["status"] = status;
                    updates.push((key, ns.clone(), name.clone(), new));
                }
            }
        }
        first_seen.retain(|id, _| live.contains(id));
        for (key, ns, name, object) in updates {
            state.put(key, &ns, &name, object);
        }
        drop(state);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ready_deployment_is_left_alone() {
        let d = json!({"metadata": {"generation": 2}, "spec": {"replicas": 3}});
        let Some(status) = ready_status("deployments.apps", &d) else { panic!("expected a status") };
        assert_eq!(status["readyReplicas"], json!(3));
        let mut done = d.clone();
        done["status"] = status;
        assert_eq!(ready_status("deployments.apps", &done), None);
        assert_eq!(ready_status("configmaps.", &d), None);
    }
}
