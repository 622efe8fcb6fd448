//! Name references: after names change (prefix, suffix, hash), fields that name another
//! object (a ConfigMap in a pod template, a ServiceAccount in a RoleBinding, ...) follow.

use std::collections::HashMap;

use serde_json::Value;

use crate::res::Res;
use crate::transform::visit;

/// One kind of reference: objects of `referral` kind are named at `path` in objects of the
/// `referrers` kinds; when `when` is set, the sibling field `when.0` must equal the referral's
/// kind.
struct Rule {
    referral: &'static str,
    referrers: &'static [&'static str],
    path: &'static str,
    when: Option<&'static str>,
}

const WORKLOADS: &[&str] =
    &["Deployment", "ReplicaSet", "DaemonSet", "StatefulSet", "Job", "ReplicationController"];

/// Where a pod spec sits in each kind.
fn pod_spec_prefix(kind: &str) -> Option<&'static str> {
    match kind {
        "Pod" => Some("spec"),
        k if WORKLOADS.contains(&k) => Some("spec/template/spec"),
        "CronJob" => Some("spec/jobTemplate/spec/template/spec"),
        _ => None,
    }
}

const CONTAINER_LISTS: [&str; 3] = ["containers[]", "initContainers[]", "ephemeralContainers[]"];

/// References from a pod spec: (referral kind, path below the pod spec).
fn pod_spec_refs() -> Vec<(&'static str, String)> {
    let mut refs = vec![
        ("ConfigMap", "volumes[]/configMap/name".to_owned()),
        ("ConfigMap", "volumes[]/projected/sources[]/configMap/name".to_owned()),
        ("Secret", "volumes[]/secret/secretName".to_owned()),
        ("Secret", "volumes[]/projected/sources[]/secret/name".to_owned()),
        ("Secret", "imagePullSecrets[]/name".to_owned()),
        ("ServiceAccount", "serviceAccountName".to_owned()),
        ("ServiceAccount", "serviceAccount".to_owned()),
        ("PersistentVolumeClaim", "volumes[]/persistentVolumeClaim/claimName".to_owned()),
        ("PriorityClass", "priorityClassName".to_owned()),
    ];
    for list in CONTAINER_LISTS {
        refs.push(("ConfigMap", format!("{list}/env[]/valueFrom/configMapKeyRef/name")));
        refs.push(("ConfigMap", format!("{list}/envFrom[]/configMapRef/name")));
        refs.push(("Secret", format!("{list}/env[]/valueFrom/secretKeyRef/name")));
        refs.push(("Secret", format!("{list}/envFrom[]/secretRef/name")));
    }
    refs
}

const RULES: &[Rule] = &[
    Rule { referral: "Secret", referrers: &["ServiceAccount"], path: "imagePullSecrets[]/name", when: None },
    Rule { referral: "Secret", referrers: &["Ingress"], path: "spec/tls[]/secretName", when: None },
    Rule {
        referral: "Service",
        referrers: &["Ingress"],
        path: "spec/rules[]/http/paths[]/backend/service/name",
        when: None,
    },
    Rule {
        referral: "Service",
        referrers: &["Ingress"],
        path: "spec/defaultBackend/service/name",
        when: None,
    },
    Rule {
        referral: "Service",
        referrers: &["Ingress"],
        path: "spec/rules[]/http/paths[]/backend/serviceName",
        when: None,
    },
    Rule { referral: "Service", referrers: &["Ingress"], path: "spec/backend/serviceName", when: None },
    Rule { referral: "Service", referrers: &["StatefulSet"], path: "spec/serviceName", when: None },
    Rule { referral: "Service", referrers: &["APIService"], path: "spec/service/name", when: None },
    Rule {
        referral: "Service",
        referrers: &["MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"],
        path: "webhooks[]/clientConfig/service/name",
        when: None,
    },
    Rule { referral: "Role", referrers: &["RoleBinding"], path: "roleRef/name", when: Some("kind") },
    Rule {
        referral: "ClusterRole",
        referrers: &["RoleBinding", "ClusterRoleBinding"],
        path: "roleRef/name",
        when: Some("kind"),
    },
    Rule {
        referral: "ServiceAccount",
        referrers: &["RoleBinding", "ClusterRoleBinding"],
        path: "subjects[]/name",
        when: Some("kind"),
    },
    Rule {
        referral: "PersistentVolume",
        referrers: &["PersistentVolumeClaim"],
        path: "spec/volumeName",
        when: None,
    },
    Rule {
        referral: "StorageClass",
        referrers: &["PersistentVolumeClaim", "PersistentVolume"],
        path: "spec/storageClassName",
        when: None,
    },
    Rule {
        referral: "StorageClass",
        referrers: &["StatefulSet"],
        path: "spec/volumeClaimTemplates[]/spec/storageClassName",
        when: None,
    },
    Rule {
        referral: "Deployment",
        referrers: &["HorizontalPodAutoscaler"],
        path: "spec/scaleTargetRef/name",
        when: Some("kind"),
    },
    Rule {
        referral: "StatefulSet",
        referrers: &["HorizontalPodAutoscaler"],
        path: "spec/scaleTargetRef/name",
        when: Some("kind"),
    },
    Rule {
        referral: "ReplicaSet",
        referrers: &["HorizontalPodAutoscaler"],
        path: "spec/scaleTargetRef/name",
        when: Some("kind"),
    },
];

/// What a referrer can see of a possible referral.
struct Candidate {
    kind: String,
    names: Vec<String>,
    namespaces: Vec<String>,
    name: String,
    namespace: String,
    namespaced: bool,
    affixes: (Vec<String>, Vec<String>),
}

/// The referrer's view: its namespace, and the prefixes and suffixes its name was given.
struct Referrer<'a> {
    namespace: Option<&'a str>,
    affixes: &'a (Vec<String>, Vec<String>),
}

/// The candidates, indexed by kind and by every name they have had.
struct Index {
    cands: Vec<Candidate>,
    by_name: HashMap<(String, String), Vec<usize>>,
}

fn choose<'a>(
    index: &'a Index,
    kind: &str,
    old: &str,
    referrer: &Referrer,
    subject_ns: Option<&str>,
) -> Option<&'a Candidate> {
    let referrer_ns = referrer.namespace;
    let found = index.by_name.get(&(kind.to_owned(), old.to_owned()))?;
    let matching: Vec<&Candidate> = found.iter().map(|&i| &index.cands[i]).collect();
    if matching.is_empty() {
        return None;
    }
    let in_ns: Vec<&Candidate> = matching
        .iter()
        .copied()
        .filter(|c| {
            if !c.namespaced {
                return true;
            }
            match (subject_ns, referrer_ns) {
                (Some(ns), _) => c.namespaces.iter().any(|n| crate::res::same_namespace(n, ns)),
                (None, Some(ns)) => crate::res::same_namespace(&c.namespace, ns),
                (None, None) => true,
            }
        })
        .collect();
    let first = in_ns.first().copied()?;
    if in_ns.iter().all(|c| c.name == first.name) {
        return Some(first);
    }
    // Several bases made the same object under different prefixes: the one named like the
    // referrer is meant (as kustomize decides).
    let same_affixes: Vec<&Candidate> =
        in_ns.into_iter().filter(|c| &c.affixes == referrer.affixes).collect();
    match same_affixes.as_slice() {
        [one] => Some(*one),
        _ => None,
    }
}

/// Fix every name reference in `acc` to the current names of what it refers to.
pub(crate) fn fix(acc: &mut [Res]) {
    let cands: Vec<Candidate> = acc
        .iter()
        .map(|r| Candidate {
            kind: r.kind().to_owned(),
            names: r.all_names().map(str::to_owned).collect(),
            namespaces: r.all_ids().map(|(ns, _)| ns.to_owned()).collect(),
            name: r.name().to_owned(),
            namespace: r.namespace().to_owned(),
            namespaced: r.namespaced(),
            affixes: r.affixes.clone(),
        })
        .collect();
    let mut by_name: HashMap<(String, String), Vec<usize>> = HashMap::new();
    for (i, c) in cands.iter().enumerate() {
        let mut names: Vec<&String> = c.names.iter().collect();
        names.sort();
        names.dedup();
        for name in names {
            by_name.entry((c.kind.clone(), name.clone())).or_default().push(i);
        }
    }
    let index = Index { cands, by_name };
    let pod_refs = pod_spec_refs();
    for res in acc.iter_mut() {
        let kind = res.kind().to_owned();
        let referrer_ns = res.namespaced().then(|| res.namespace().to_owned());
        let affixes = res.affixes.clone();
        let referrer = Referrer { namespace: referrer_ns.as_deref(), affixes: &affixes };
        let mut obj = Value::Object(std::mem::take(&mut res.obj));
        if let Some(prefix) = pod_spec_prefix(&kind) {
            for (referral, sub) in &pod_refs {
                let path = format!("{prefix}/{sub}");
                let segs: Vec<&str> = path.split('/').collect();
                visit(&mut obj, &segs, false, &mut |v| {
                    if let Some(old) = v.as_str()
                        && let Some(c) = choose(&index, referral, old, &referrer, None)
                    {
                        *v = Value::String(c.name.clone());
                    }
                });
            }
        }
        for rule in RULES.iter().filter(|r| r.referrers.contains(&kind.as_str())) {
            let segs: Vec<&str> = rule.path.split('/').collect();
            let Some((field, parent)) = segs.split_last() else { continue };
            visit(&mut obj, parent, false, &mut |p| {
                let Value::Object(m) = p else { return };
                if let Some(key) = rule.when
                    && m.get(key).and_then(Value::as_str) != Some(rule.referral)
                {
                    return;
                }
                let Some(old) = m.get(*field).and_then(Value::as_str) else { return };
                let subject = rule.referral == "ServiceAccount" && rule.when.is_some();
                let subject_ns = if subject { m.get("namespace").and_then(Value::as_str) } else { None };
                if let Some(c) = choose(&index, rule.referral, old, &referrer, subject_ns) {
                    m.insert((*field).to_owned(), Value::String(c.name.clone()));
                    if subject && !c.namespace.is_empty() {
                        m.insert("namespace".into(), Value::String(c.namespace.clone()));
                    }
                }
            });
        }
        if let Value::Object(m) = obj {
            res.obj = m;
        }
    }
}
