//! Gatekeeper's `spec.match`: which objects a constraint applies to.

use std::collections::BTreeMap;
use std::path::Path;

use driftless_core::Object;
use serde::Deserialize;
use serde_json::Value;

use crate::PolicyError;

/// `spec.match` of a constraint.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Match {
    /// Group/kind pairs; empty matches every kind.
    #[serde(default)]
    pub kinds: Vec<KindMatch>,
    /// Namespaces (globs with a leading or trailing `*`); empty matches all.
    #[serde(default)]
    pub namespaces: Vec<String>,
    /// Namespaces left out (same globs).
    #[serde(default)]
    pub excluded_namespaces: Vec<String>,
    /// Labels of the object.
    #[serde(default)]
    pub label_selector: Option<LabelSelector>,
    /// Labels of the object's namespace (or of the Namespace object itself).
    #[serde(default)]
    pub namespace_selector: Option<LabelSelector>,
    /// `*` (default), `Cluster` or `Namespaced`.
    #[serde(default)]
    pub scope: Option<String>,
    /// The object's name (a glob with a leading or trailing `*`).
    #[serde(default)]
    pub name: Option<String>,
    /// Gatekeeper's source filter (`All`, `Original`, `Generated`); only `All`/`Original`
    /// objects exist before apply, so it is accepted and ignored.
    #[serde(default)]
    pub source: Option<String>,
}

/// One entry of `match.kinds`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KindMatch {
    /// API groups (`""` is the core group, `*` any).
    #[serde(default)]
    pub api_groups: Vec<String>,
    /// Kinds (`*` any).
    #[serde(default)]
    pub kinds: Vec<String>,
}

/// A Kubernetes label selector.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LabelSelector {
    /// Labels that must be equal.
    #[serde(default)]
    pub match_labels: BTreeMap<String, String>,
    /// Expressions that must all hold.
    #[serde(default)]
    pub match_expressions: Vec<Requirement>,
}

/// One `matchExpressions` entry.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Requirement {
    /// The label key.
    pub key: String,
    /// `In`, `NotIn`, `Exists` or `DoesNotExist`.
    pub operator: String,
    /// Values for `In`/`NotIn`.
    #[serde(default)]
    pub values: Vec<String>,
}

impl LabelSelector {
    /// Checks the operators, naming the field at fault.
    pub(crate) fn validate(&self, path: &Path, document: &str, field: &str) -> Result<(), PolicyError> {
        for (i, r) in self.match_expressions.iter().enumerate() {
            let ok = match r.operator.as_str() {
                "In" | "NotIn" => !r.values.is_empty(),
                "Exists" | "DoesNotExist" => r.values.is_empty(),
                _ => false,
            };
            if !ok {
                return Err(PolicyError::invalid(
                    path,
                    document,
                    format!("{field}.matchExpressions[{i}]"),
                    format!(
                        "operator {:?} with {} values (In/NotIn need values, Exists/DoesNotExist none)",
                        r.operator,
                        r.values.len()
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Whether `labels` satisfy the selector.
    pub fn matches<'a>(&self, labels: impl Fn(&str) -> Option<&'a str>) -> bool {
        self.match_labels.iter().all(|(k, v)| labels(k) == Some(v.as_str()))
            && self.match_expressions.iter().all(|r| {
                let value = labels(&r.key);
                match r.operator.as_str() {
                    "In" => value.is_some_and(|v| r.values.iter().any(|x| x == v)),
                    "NotIn" => value.is_none_or(|v| !r.values.iter().any(|x| x == v)),
                    "Exists" => value.is_some(),
                    "DoesNotExist" => value.is_none(),
                    _ => false,
                }
            })
    }
}

/// A glob with at most a leading or a trailing `*`, as Gatekeeper allows.
fn glob_matches(pattern: &str, text: &str) -> bool {
    if pattern == "*" {
        return true;
    }
    if let Some(prefix) = pattern.strip_suffix('*') {
        return text.starts_with(prefix);
    }
    if let Some(suffix) = pattern.strip_prefix('*') {
        return text.ends_with(suffix);
    }
    pattern == text
}

impl Match {
    /// Checks the parts serde cannot, naming the field at fault.
    pub(crate) fn validate(&self, path: &Path, document: &str) -> Result<(), PolicyError> {
        if let Some(scope) = &self.scope
            && !matches!(scope.as_str(), "*" | "Cluster" | "Namespaced")
        {
            return Err(PolicyError::invalid(
                path,
                document,
                "spec.match.scope",
                format!("{scope:?} is not one of *, Cluster, Namespaced"),
            ));
        }
        if let Some(s) = &self.label_selector {
            s.validate(path, document, "spec.match.labelSelector")?;
        }
        if let Some(s) = &self.namespace_selector {
            s.validate(path, document, "spec.match.namespaceSelector")?;
        }
        Ok(())
    }

    /// Whether the constraint applies to `object`. `namespace_labels` finds the labels of a
    /// namespace by name (from the set or the inventory); an unknown namespace has no labels.
    pub fn matches(&self, object: &Object, namespace_of: &dyn Fn(&str) -> Option<Object>) -> bool {
        let gvk = object.gvk();
        if !self.kinds.is_empty()
            && !self.kinds.iter().any(|k| {
                (k.api_groups.is_empty() || k.api_groups.iter().any(|g| g == "*" || *g == gvk.group))
                    && (k.kinds.is_empty() || k.kinds.iter().any(|x| x == "*" || *x == gvk.kind))
            })
        {
            return false;
        }
        let is_namespace = gvk.group.is_empty() && gvk.kind == "Namespace";
        // The namespace an object is judged in: its own, or its name for a Namespace.
        let namespace = if is_namespace { object.name() } else { object.namespace() };
        match self.scope.as_deref() {
            Some("Cluster") if object.namespace().is_some() => return false,
            Some("Namespaced") if object.namespace().is_none() => return false,
            _ => {}
        }
        if let Some(name) = &self.name
            && !object.name().is_some_and(|n| glob_matches(name, n))
        {
            return false;
        }
        if !self.namespaces.is_empty()
            && !namespace.is_some_and(|ns| self.namespaces.iter().any(|p| glob_matches(p, ns)))
        {
            return false;
        }
        if let Some(ns) = namespace
            && self.excluded_namespaces.iter().any(|p| glob_matches(p, ns))
        {
            return false;
        }
        if let Some(selector) = &self.label_selector
            && !selector.matches(|k| object.label(k))
        {
            return false;
        }
        if let Some(selector) = &self.namespace_selector {
            let ns_object =
                if is_namespace { Some(object.clone()) } else { namespace.and_then(namespace_of) };
            match (namespace, ns_object) {
                // Cluster-scoped objects are not filtered by a namespace selector (Gatekeeper).
                (None, _) => {}
                (Some(_), Some(ns)) => {
                    if !selector.matches(|k| ns.label(k)) {
                        return false;
                    }
                }
                (Some(_), None) => {
                    if !selector.matches(|_| None) {
                        return false;
                    }
                }
            }
        }
        true
    }
}

/// Reads `spec.match` from a constraint.
pub(crate) fn parse_match(value: Option<&Value>, path: &Path, document: &str) -> Result<Match, PolicyError> {
    let Some(value) = value else { return Ok(Match::default()) };
    let m: Match = serde_path_to_error::deserialize(value).map_err(|e| {
        let field = match e.path().to_string().as_str() {
            "." => "spec.match".to_owned(),
            p => format!("spec.match.{p}"),
        };
        PolicyError::invalid(path, document, field, e.inner().to_string())
    })?;
    m.validate(path, document)?;
    Ok(m)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Object {
        Object::from_value(v).unwrap()
    }

    fn m(v: Value) -> Match {
        parse_match(Some(&v), Path::new("c.yaml"), "K8sX c").unwrap()
    }

    fn none(_: &str) -> Option<Object> {
        None
    }

    #[test]
    fn kinds_namespaces_and_labels() {
        let pod = obj(json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "p", "namespace": "kube-system", "labels": {"app": "x"}}}));
        let deploy = obj(json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "d", "namespace": "shop"}}));
        let core_pods = m(json!({"kinds": [{"apiGroups": [""], "kinds": ["Pod"]}]}));
        assert!(core_pods.matches(&pod, &none));
        assert!(!core_pods.matches(&deploy, &none));
        let any_apps = m(json!({"kinds": [{"apiGroups": ["apps"], "kinds": ["*"]}]}));
        assert!(any_apps.matches(&deploy, &none));
        let excluded = m(json!({"excludedNamespaces": ["kube-*"]}));
        assert!(!excluded.matches(&pod, &none));
        assert!(excluded.matches(&deploy, &none));
        let only = m(json!({"namespaces": ["*-system"]}));
        assert!(only.matches(&pod, &none));
        assert!(!only.matches(&deploy, &none));
        let labelled = m(
            json!({"labelSelector": {"matchExpressions": [{"key": "app", "operator": "In", "values": ["x"]}]}}),
        );
        assert!(labelled.matches(&pod, &none));
        assert!(!labelled.matches(&deploy, &none));
        let not_in = m(
            json!({"labelSelector": {"matchExpressions": [{"key": "app", "operator": "NotIn", "values": ["x"]}]}}),
        );
        assert!(!not_in.matches(&pod, &none));
        assert!(not_in.matches(&deploy, &none));
        let cluster = m(json!({"scope": "Cluster"}));
        assert!(!cluster.matches(&pod, &none));
        let named = m(json!({"name": "d*"}));
        assert!(named.matches(&deploy, &none) && !named.matches(&pod, &none));
    }

    #[test]
    fn namespace_selector_reads_the_namespace_object() {
        let ns = obj(json!({"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": "shop", "labels": {"env": "prod"}}}));
        let deploy = obj(json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "d", "namespace": "shop"}}));
        let other = obj(json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "d", "namespace": "unknown"}}));
        let sel = m(json!({"namespaceSelector": {"matchLabels": {"env": "prod"}}}));
        let lookup = |name: &str| (name == "shop").then(|| ns.clone());
        assert!(sel.matches(&deploy, &lookup));
        assert!(sel.matches(&ns, &lookup));
        assert!(!sel.matches(&other, &lookup));
    }

    #[test]
    fn bad_match_names_the_field() {
        let err = parse_match(Some(&json!({"kinds": [{"apiGroup": [""]}]})), Path::new("c.yaml"), "K8sX c")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("c.yaml: K8sX c: spec.match.kinds[0]"), "{err}");
        let err = parse_match(
            Some(&json!({"labelSelector": {"matchExpressions": [{"key": "a", "operator": "Has"}]}})),
            Path::new("c.yaml"),
            "K8sX c",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("spec.match.labelSelector.matchExpressions[0]"), "{err}");
    }
}
