//! The built-in transformers that need no patch: namespace, name prefix and suffix, labels,
//! annotations, images and replicas, with the field specs kustomize uses for them.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::kustomization::{Image, Kustomization, Replica};
use crate::res::Res;

/// Visit the values at `path` (segments; `x[]` walks every item of list `x`), creating the
/// missing mappings on the way when `create`.
pub(crate) fn visit(value: &mut Value, path: &[&str], create: bool, f: &mut dyn FnMut(&mut Value)) {
    let Some((first, rest)) = path.split_first() else {
        f(value);
        return;
    };
    let Value::Object(map) = value else { return };
    if let Some(list) = first.strip_suffix("[]") {
        if let Some(Value::Array(items)) = map.get_mut(list) {
            for item in items {
                visit(item, rest, create, f);
            }
        }
        return;
    }
    if !map.contains_key(*first) {
        if !create {
            return;
        }
        map.insert(
            (*first).to_owned(),
            if rest.is_empty() { Value::Null } else { Value::Object(Map::new()) },
        );
    }
    if let Some(next) = map.get_mut(*first) {
        if next.is_null() && create && !rest.is_empty() {
            *next = Value::Object(Map::new());
        }
        visit(next, rest, create, f);
    }
}

fn add_pairs(value: &mut Value, pairs: &BTreeMap<String, String>) {
    if !value.is_object() {
        *value = Value::Object(Map::new());
    }
    if let Value::Object(m) = value {
        for (k, v) in pairs {
            m.insert(k.clone(), Value::String(v.clone()));
        }
    }
}

const WORKLOADS: &[&str] = &["Deployment", "ReplicaSet", "DaemonSet", "StatefulSet"];

struct Spec {
    kinds: &'static [&'static str],
    path: &'static str,
    create: bool,
}

const fn spec(kinds: &'static [&'static str], path: &'static str, create: bool) -> Spec {
    Spec { kinds, path, create }
}

/// Pod-template labels (`labels[].includeTemplates`, and selectors' templates).
const TEMPLATE_LABELS: &[Spec] = &[
    spec(
        &["Deployment", "ReplicaSet", "DaemonSet", "StatefulSet", "Job", "ReplicationController"],
        "spec/template/metadata/labels",
        true,
    ),
    spec(&["StatefulSet"], "spec/volumeClaimTemplates[]/metadata/labels", true),
    spec(&["CronJob"], "spec/jobTemplate/metadata/labels", true),
    spec(&["CronJob"], "spec/jobTemplate/spec/template/metadata/labels", true),
];

/// Selector labels (`commonLabels`, `labels[].includeSelectors`).
const SELECTOR_LABELS: &[Spec] = &[
    spec(&["Service", "ReplicationController"], "spec/selector", true),
    spec(WORKLOADS, "spec/selector/matchLabels", true),
    spec(&["Job"], "spec/selector/matchLabels", false),
    spec(&["CronJob"], "spec/jobTemplate/spec/selector/matchLabels", false),
    spec(&["PodDisruptionBudget"], "spec/selector/matchLabels", false),
    spec(&["NetworkPolicy"], "spec/podSelector/matchLabels", false),
    spec(&["NetworkPolicy"], "spec/ingress[]/from[]/podSelector/matchLabels", false),
    spec(&["NetworkPolicy"], "spec/egress[]/to[]/podSelector/matchLabels", false),
    spec(
        WORKLOADS,
        "spec/template/spec/affinity/podAffinity/preferredDuringSchedulingIgnoredDuringExecution[]/podAffinityTerm/labelSelector/matchLabels",
        false,
    ),
    spec(
        WORKLOADS,
        "spec/template/spec/affinity/podAffinity/requiredDuringSchedulingIgnoredDuringExecution[]/labelSelector/matchLabels",
        false,
    ),
    spec(
        WORKLOADS,
        "spec/template/spec/affinity/podAntiAffinity/preferredDuringSchedulingIgnoredDuringExecution[]/podAffinityTerm/labelSelector/matchLabels",
        false,
    ),
    spec(
        WORKLOADS,
        "spec/template/spec/affinity/podAntiAffinity/requiredDuringSchedulingIgnoredDuringExecution[]/labelSelector/matchLabels",
        false,
    ),
];

const TEMPLATE_ANNOTATIONS: &[Spec] = &[
    spec(
        &["Deployment", "ReplicaSet", "DaemonSet", "StatefulSet", "Job", "ReplicationController"],
        "spec/template/metadata/annotations",
        true,
    ),
    spec(&["CronJob"], "spec/jobTemplate/metadata/annotations", true),
    spec(&["CronJob"], "spec/jobTemplate/spec/template/metadata/annotations", true),
];

fn apply_specs(res: &mut Res, specs: &[Spec], pairs: &BTreeMap<String, String>) {
    let kind = res.kind().to_owned();
    let core = res.api_version() == "v1";
    let core_only = |s: &Spec| matches!(s.kinds, ["Service", "ReplicationController"]) && !core;
    for s in specs {
        if !s.kinds.contains(&kind.as_str()) || core_only(s) {
            continue;
        }
        let path: Vec<&str> = s.path.split('/').collect();
        let mut obj = Value::Object(std::mem::take(&mut res.obj));
        visit(&mut obj, &path, s.create, &mut |v| add_pairs(v, pairs));
        if let Value::Object(m) = obj {
            res.obj = m;
        }
    }
}

fn add_meta(res: &mut Res, field: &str, pairs: &BTreeMap<String, String>) {
    let entry = res.meta_mut().entry(field).or_insert(Value::Null);
    add_pairs(entry, pairs);
}

/// Labels: `commonLabels` go to metadata, templates and selectors; each `labels` entry to
/// metadata, and to templates and selectors as it asks.
pub(crate) fn labels(k: &Kustomization, acc: &mut [Res]) {
    let mut sets: Vec<(&BTreeMap<String, String>, bool, bool)> = Vec::new();
    if !k.common_labels.is_empty() {
        sets.push((&k.common_labels, true, true));
    }
    for l in &k.labels {
        if !l.pairs.is_empty() {
            sets.push((&l.pairs, l.include_selectors, l.include_templates || l.include_selectors));
        }
    }
    for (pairs, selectors, templates) in sets {
        for res in acc.iter_mut() {
            add_meta(res, "labels", pairs);
            if templates {
                apply_specs(res, TEMPLATE_LABELS, pairs);
            }
            if selectors {
                apply_specs(res, SELECTOR_LABELS, pairs);
            }
        }
    }
}

/// `commonAnnotations`: metadata and pod templates.
pub(crate) fn annotations(k: &Kustomization, acc: &mut [Res]) {
    if k.common_annotations.is_empty() {
        return;
    }
    for res in acc.iter_mut() {
        add_meta(res, "annotations", &k.common_annotations);
        apply_specs(res, TEMPLATE_ANNOTATIONS, &k.common_annotations);
    }
}

/// `namespace`: every namespaced object moves there; Namespace objects are renamed to it;
/// `default` ServiceAccount subjects of role bindings and webhook services follow.
pub(crate) fn namespace(ns: &str, acc: &mut [Res]) {
    for res in acc.iter_mut() {
        let kind = res.kind().to_owned();
        if kind == "Namespace" {
            res.set_name(ns);
            continue;
        }
        if res.namespaced() {
            res.set_namespace(ns);
        }
        let set_ns = |v: &mut Value| {
            if v.is_string() {
                *v = Value::String(ns.to_owned());
            }
        };
        let mut obj = Value::Object(std::mem::take(&mut res.obj));
        match kind.as_str() {
            "RoleBinding" | "ClusterRoleBinding" => visit(&mut obj, &["subjects[]"], false, &mut |s| {
                if let Value::Object(m) = s
                    && m.get("name").and_then(Value::as_str) == Some("default")
                {
                    m.insert("namespace".into(), Value::String(ns.to_owned()));
                }
            }),
            "MutatingWebhookConfiguration" | "ValidatingWebhookConfiguration" => {
                visit(&mut obj, &["webhooks[]", "clientConfig", "service", "namespace"], false, &mut {
                    set_ns
                })
            }
            "APIService" => visit(&mut obj, &["spec", "service", "namespace"], false, &mut { set_ns }),
            _ => {}
        }
        if let Value::Object(m) = obj {
            res.obj = m;
        }
    }
}

/// `namePrefix` / `nameSuffix`, except for the kinds whose names are not free
/// (CustomResourceDefinition, APIService, Namespace).
pub(crate) fn prefix_suffix(prefix: &str, suffix: &str, acc: &mut [Res]) {
    for res in acc.iter_mut() {
        if matches!(res.kind(), "CustomResourceDefinition" | "APIService" | "Namespace") {
            continue;
        }
        let name = format!("{prefix}{}{suffix}", res.name());
        res.set_name(&name);
        if !prefix.is_empty() {
            res.affixes.0.push(prefix.to_owned());
        }
        if !suffix.is_empty() {
            res.affixes.1.push(suffix.to_owned());
        }
    }
}

/// An image reference split as kustomize splits it: name, tag, digest.
fn split_image(image: &str) -> (&str, &str, &str) {
    let slash = image.find('/').filter(|&i| i > 0).unwrap_or(0);
    let search = &image[slash..];
    let at = search.find('@').map(|i| i + slash);
    let colon = search.find(':').map(|i| i + slash);
    match (colon, at) {
        (None, None) => (image, "", ""),
        (c, Some(a)) if c.is_none_or(|c| a < c) => (&image[..a], "", &image[a + 1..]),
        (Some(c), Some(a)) => (&image[..c], &image[c + 1..a], &image[a + 1..]),
        (Some(c), None) => (&image[..c], &image[c + 1..], ""),
        (None, Some(_)) => (image, "", ""),
    }
}

/// Whether `image` is the image `name` (with any tag or a sha256 digest), as kustomize
/// matches: `^name(@sha256)?(:[a-zA-Z0-9_.{}-]*)?$`.
fn image_matches(image: &str, name: &str) -> bool {
    let Some(rest) = image.strip_prefix(name) else { return false };
    let rest = rest.strip_prefix("@sha256").unwrap_or(rest);
    rest.is_empty()
        || rest
            .strip_prefix(':')
            .is_some_and(|t| t.chars().all(|c| c.is_ascii_alphanumeric() || "_.{}-".contains(c)))
}

fn tag_string(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn update_image(current: &str, img: &Image) -> Option<String> {
    if !image_matches(current, &img.name) {
        return None;
    }
    let (name, tag, digest) = split_image(current);
    let mut name = name.to_owned();
    let (mut tag, mut digest) = (tag.to_owned(), digest.to_owned());
    if let Some(n) = img.new_name.as_deref().filter(|n| !n.is_empty()) {
        name = n.to_owned();
    }
    let new_tag = img.new_tag.as_ref().map(tag_string).filter(|t| !t.is_empty());
    let new_digest = img.digest.clone().filter(|d| !d.is_empty());
    match (new_tag, new_digest) {
        (Some(t), Some(d)) => (tag, digest) = (t, d),
        (Some(t), None) => (tag, digest) = (t, String::new()),
        (None, Some(d)) => (tag, digest) = (String::new(), d),
        (None, None) => {}
    }
    if let Some(suffix) = img.tag_suffix.as_deref().filter(|s| !s.is_empty()) {
        tag.push_str(suffix);
    }
    if !tag.is_empty() {
        name = format!("{name}:{tag}");
    }
    if !digest.is_empty() {
        name = format!("{name}@{digest}");
    }
    Some(name)
}

fn walk_containers(value: &mut Value, images: &[Image]) {
    match value {
        Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                if (key == "containers" || key == "initContainers")
                    && let Value::Array(items) = v
                {
                    for item in items.iter_mut() {
                        if let Some(Value::String(image)) = item.get_mut("image") {
                            for img in images {
                                if let Some(new) = update_image(image, img) {
                                    *image = new;
                                    break;
                                }
                            }
                        }
                    }
                }
                walk_containers(v, images);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| walk_containers(v, images)),
        _ => {}
    }
}

/// `images`: every `image` of a `containers` or `initContainers` list, in any kind.
pub(crate) fn images(images: &[Image], acc: &mut [Res]) {
    if images.is_empty() {
        return;
    }
    for res in acc.iter_mut() {
        let mut obj = Value::Object(std::mem::take(&mut res.obj));
        walk_containers(&mut obj, images);
        if let Value::Object(m) = obj {
            res.obj = m;
        }
    }
}

/// `replicas`: `spec.replicas` of the workloads with that name (current or earlier).
pub(crate) fn replicas(replicas: &[Replica], acc: &mut [Res]) {
    for r in replicas {
        for res in acc.iter_mut() {
            if matches!(res.kind(), "Deployment" | "ReplicationController" | "ReplicaSet" | "StatefulSet")
                && res.all_names().any(|n| n == r.name)
            {
                let spec = res.obj.entry("spec").or_insert_with(|| Value::Object(Map::new()));
                if !spec.is_object() {
                    *spec = Value::Object(Map::new());
                }
                if let Value::Object(s) = spec {
                    s.insert("replicas".into(), Value::from(r.count));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn img(name: &str, new_name: Option<&str>, tag: Option<&str>, digest: Option<&str>) -> Image {
        Image {
            name: name.into(),
            new_name: new_name.map(Into::into),
            new_tag: tag.map(|t| Value::String(t.into())),
            digest: digest.map(Into::into),
            tag_suffix: None,
        }
    }

    #[test]
    fn images_split_and_update_as_kustomize() {
        assert_eq!(split_image("reg:5000/a/b:1.0@sha256:x"), ("reg:5000/a/b", "1.0", "sha256:x"));
        assert_eq!(split_image("nginx@sha256:x"), ("nginx", "", "sha256:x"));
        assert_eq!(split_image("reg:5000/nginx"), ("reg:5000/nginx", "", ""));
        let i = img("nginx", None, Some("2"), None);
        assert_eq!(update_image("nginx:1", &i).as_deref(), Some("nginx:2"));
        assert_eq!(update_image("nginx", &i).as_deref(), Some("nginx:2"));
        assert_eq!(update_image("nginx-other:1", &i), None);
        assert_eq!(update_image("nginx@sha256:abc", &i).as_deref(), Some("nginx:2"));
        let d = img("nginx", Some("reg/ng"), None, Some("sha256:f"));
        assert_eq!(update_image("nginx:1", &d).as_deref(), Some("reg/ng@sha256:f"));
    }
}
