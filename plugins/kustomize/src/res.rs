//! One resource being built: the object, the ids it had before, and how it was made.

use serde_json::{Map, Value};

/// Kinds that are not namespaced (the built-in ones; every other kind is taken as
/// namespaced, as kustomize does without a schema).
const CLUSTER_SCOPED: &[&str] = &[
    "APIService",
    "CertificateSigningRequest",
    "ClusterRole",
    "ClusterRoleBinding",
    "ComponentStatus",
    "CSIDriver",
    "CSINode",
    "CustomResourceDefinition",
    "FlowSchema",
    "IngressClass",
    "MutatingWebhookConfiguration",
    "Namespace",
    "Node",
    "PersistentVolume",
    "PodSecurityPolicy",
    "PriorityClass",
    "PriorityLevelConfiguration",
    "RuntimeClass",
    "SelfSubjectAccessReview",
    "SelfSubjectRulesReview",
    "StorageClass",
    "SubjectAccessReview",
    "TokenReview",
    "ValidatingAdmissionPolicy",
    "ValidatingAdmissionPolicyBinding",
    "ValidatingWebhookConfiguration",
    "VolumeAttachment",
];

/// Whether objects of `kind` live in a namespace.
pub(crate) fn is_namespaced(kind: &str) -> bool {
    !CLUSTER_SCOPED.contains(&kind)
}

/// How a generated ConfigMap or Secret is named at the end of the build.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Generated {
    /// Append the content hash to the name.
    pub hash: bool,
}

/// A resource in the build.
#[derive(Debug, Clone)]
pub(crate) struct Res {
    pub obj: Map<String, Value>,
    /// Earlier (namespace, name) pairs, oldest first; the current one is not in the list.
    pub history: Vec<(String, String)>,
    pub generated: Option<Generated>,
    /// The file it came from (or the kustomization that generated it), relative to the root.
    pub origin: String,
    /// For a generated object, the kustomization that generated it.
    pub generated_by: Option<String>,
    /// The name prefixes and suffixes it was given, innermost first.
    pub affixes: (Vec<String>, Vec<String>),
}

fn str_at<'a>(map: &'a Map<String, Value>, key: &str) -> &'a str {
    map.get(key).and_then(Value::as_str).unwrap_or_default()
}

impl Res {
    pub(crate) fn new(obj: Map<String, Value>, origin: &str) -> Self {
        Self {
            obj,
            history: Vec::new(),
            generated: None,
            origin: origin.to_owned(),
            generated_by: None,
            affixes: Default::default(),
        }
    }

    pub(crate) fn api_version(&self) -> &str {
        str_at(&self.obj, "apiVersion")
    }

    pub(crate) fn kind(&self) -> &str {
        str_at(&self.obj, "kind")
    }

    pub(crate) fn group(&self) -> &str {
        self.api_version().rsplit_once('/').map_or("", |(g, _)| g)
    }

    pub(crate) fn version(&self) -> &str {
        let v = self.api_version();
        v.rsplit_once('/').map_or(v, |(_, v)| v)
    }

    fn meta(&self) -> Option<&Map<String, Value>> {
        self.obj.get("metadata").and_then(Value::as_object)
    }

    pub(crate) fn meta_mut(&mut self) -> &mut Map<String, Value> {
        let meta = self.obj.entry("metadata").or_insert_with(|| Value::Object(Map::new()));
        if !meta.is_object() {
            *meta = Value::Object(Map::new());
        }
        match meta {
            Value::Object(m) => m,
            _ => unreachable!("metadata was just made a mapping"),
        }
    }

    pub(crate) fn name(&self) -> &str {
        self.meta().map(|m| str_at(m, "name")).unwrap_or_default()
    }

    pub(crate) fn namespace(&self) -> &str {
        self.meta().map(|m| str_at(m, "namespace")).unwrap_or_default()
    }

    pub(crate) fn namespaced(&self) -> bool {
        is_namespaced(self.kind())
    }

    pub(crate) fn set_name(&mut self, name: &str) {
        if name != self.name() {
            self.history.push((self.namespace().to_owned(), self.name().to_owned()));
            self.meta_mut().insert("name".into(), Value::String(name.into()));
        }
    }

    pub(crate) fn set_namespace(&mut self, namespace: &str) {
        if namespace != self.namespace() {
            self.history.push((self.namespace().to_owned(), self.name().to_owned()));
            self.meta_mut().insert("namespace".into(), Value::String(namespace.into()));
        }
    }

    /// The string map `metadata.<field>` (labels, annotations), if set.
    pub(crate) fn meta_map(&self, field: &str) -> Option<&Map<String, Value>> {
        self.meta()?.get(field)?.as_object()
    }

    /// The names it has had, current first.
    pub(crate) fn all_names(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.name()).chain(self.history.iter().rev().map(|(_, n)| n.as_str()))
    }

    /// The (namespace, name) it was first given.
    pub(crate) fn original(&self) -> (&str, &str) {
        self.history.first().map_or((self.namespace(), self.name()), |(ns, n)| (ns.as_str(), n.as_str()))
    }

    /// The (namespace, name) ids it has had, current first.
    pub(crate) fn all_ids(&self) -> impl Iterator<Item = (&str, &str)> {
        std::iter::once((self.namespace(), self.name()))
            .chain(self.history.iter().rev().map(|(ns, n)| (ns.as_str(), n.as_str())))
    }

    /// A key equal for two resources exactly when they have the same id: group, version,
    /// kind, name and namespace (empty and `default` being the same namespace).
    pub(crate) fn id_key(&self) -> String {
        let ns = if self.namespace().is_empty() { "default" } else { self.namespace() };
        format!("{}\u{0}{}\u{0}{}\u{0}{}", self.api_version(), self.kind(), ns, self.name())
    }

    /// kustomize's way of showing an id: `Kind.version.group/name.namespace`.
    pub(crate) fn id_string(&self) -> String {
        let group = if self.group().is_empty() { "[noGrp]" } else { self.group() };
        let ns = if self.namespace().is_empty() { "[noNs]" } else { self.namespace() };
        format!("{}.{}.{}/{}.{}", self.kind(), self.version(), group, self.name(), ns)
    }
}

/// Namespaces compare with `""` and `default` equal.
pub(crate) fn same_namespace(a: &str, b: &str) -> bool {
    let norm = |s: &str| if s.is_empty() { "default" } else { s }.to_owned();
    norm(a) == norm(b)
}
