//! kustomize's legacy output order: some kinds first (Namespace, ..., ConfigMap, Secret,
//! Service, ... Deployment), webhook configurations last, the rest in between; ties by
//! group/version/kind, then namespace, then name.

use crate::res::Res;

const FIRST: &[&str] = &[
    "Namespace",
    "ResourceQuota",
    "StorageClass",
    "CustomResourceDefinition",
    "ServiceAccount",
    "PodSecurityPolicy",
    "Role",
    "ClusterRole",
    "RoleBinding",
    "ClusterRoleBinding",
    "ConfigMap",
    "Secret",
    "Endpoints",
    "Service",
    "LimitRange",
    "PriorityClass",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "Deployment",
    "StatefulSet",
    "CronJob",
    "PodDisruptionBudget",
];

const LAST: &[&str] = &["MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"];

fn rank(kind: &str) -> i64 {
    if let Some(i) = FIRST.iter().position(|k| *k == kind) {
        return i as i64 - FIRST.len() as i64;
    }
    LAST.iter().position(|k| *k == kind).map_or(0, |i| i as i64 + 1)
}

fn gvk_string(r: &Res) -> String {
    let or = |s: &str, d: &str| if s.is_empty() { d.to_owned() } else { s.to_owned() };
    format!("{}_{}_{}", or(r.group(), "~G"), or(r.version(), "~V"), or(r.kind(), "~K"))
}

/// The namespace as kustomize's legacy sort compares it: `~X` when unset.
fn sort_namespace(r: &Res) -> &str {
    if r.namespace().is_empty() { "~X" } else { r.namespace() }
}

/// Sort in kustomize's legacy order (stable).
pub(crate) fn legacy(acc: &mut [Res]) {
    acc.sort_by_cached_key(|r| {
        (rank(r.kind()), gvk_string(r), sort_namespace(r).to_owned(), r.name().to_owned())
    });
}
