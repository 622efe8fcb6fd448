//! The order of writes within a sync wave.
//!
//! Prerequisites first (Namespaces, CRDs, cluster-wide policy and RBAC, identities and
//! configuration), then storage, networking and workloads, then what consumes workloads
//! (autoscalers, jobs, ingresses), admission webhooks last so they cannot block the objects
//! of their own sync. Kinds not listed (custom resources above all) come after every listed
//! kind, ordered by kind name. Deletion uses the reverse order.

const KIND_ORDER: &[&str] = &[
    "Namespace",
    "CustomResourceDefinition",
    "PriorityClass",
    "StorageClass",
    "ClusterRole",
    "ClusterRoleBinding",
    "ResourceQuota",
    "LimitRange",
    "NetworkPolicy",
    "PodSecurityPolicy",
    "ServiceAccount",
    "Role",
    "RoleBinding",
    "Secret",
    "ConfigMap",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "Service",
    "Endpoints",
    "PodDisruptionBudget",
    "DaemonSet",
    "Pod",
    "ReplicationController",
    "ReplicaSet",
    "Deployment",
    "StatefulSet",
    "HorizontalPodAutoscaler",
    "Job",
    "CronJob",
    "IngressClass",
    "Ingress",
    "APIService",
    "ValidatingWebhookConfiguration",
    "MutatingWebhookConfiguration",
];

/// Rank of a kind in the write order; unknown kinds after all known ones.
pub(crate) fn kind_rank(kind: &str) -> usize {
    KIND_ORDER.iter().position(|k| *k == kind).unwrap_or(KIND_ORDER.len())
}

/// The full sort key of an object: wave, kind rank, kind, namespace, name.
pub(crate) fn sort_key<'a>(
    wave: i64,
    kind: &'a str,
    namespace: Option<&'a str>,
    name: &'a str,
) -> (i64, usize, &'a str, &'a str, &'a str) {
    (wave, kind_rank(kind), kind, namespace.unwrap_or(""), name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prerequisites_come_first() {
        let mut kinds = vec![
            "Deployment",
            "Widget",
            "ConfigMap",
            "ClusterRole",
            "Namespace",
            "RoleBinding",
            "CustomResourceDefinition",
        ];
        kinds.sort_by_key(|k| (kind_rank(k), *k));
        assert_eq!(
            kinds,
            [
                "Namespace",
                "CustomResourceDefinition",
                "ClusterRole",
                "RoleBinding",
                "ConfigMap",
                "Deployment",
                "Widget"
            ]
        );
    }
}
