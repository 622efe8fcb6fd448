//! The resource types the sandbox serves: the built-in ones and those added by
//! CustomResourceDefinitions, and the discovery documents that describe them.

use std::collections::BTreeMap;

use serde_json::{Value, json};

/// Where a resource keeps its replica count and selector, for the `scale` subresource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScalePaths {
    /// Dotted path of the desired replicas, e.g. `.spec.replicas`.
    pub spec_replicas: String,
    /// Dotted path of the observed replicas, e.g. `.status.replicas`.
    pub status_replicas: String,
    /// Dotted path of the label selector, if any.
    pub label_selector: Option<String>,
}

/// One resource type (a group, version and plural name), as discovery describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceType {
    /// API group; empty for the core group.
    pub group: String,
    /// API version served.
    pub version: String,
    /// Kind of the objects.
    pub kind: String,
    /// Plural resource name, as in URLs.
    pub plural: String,
    /// Singular name.
    pub singular: String,
    /// Whether objects live in namespaces.
    pub namespaced: bool,
    /// Short names (`cm`, `deploy`, ...).
    pub short_names: Vec<String>,
    /// Whether the `status` subresource is served.
    pub status: bool,
    /// The `scale` subresource, when served.
    pub scale: Option<ScalePaths>,
    /// Categories (`all`).
    pub categories: Vec<String>,
    /// Whether the type comes from a CustomResourceDefinition.
    pub custom: bool,
}

impl ResourceType {
    /// `group/version`, or `version` for the core group.
    #[must_use]
    pub fn api_version(&self) -> String {
        if self.group.is_empty() { self.version.clone() } else { format!("{}/{}", self.group, self.version) }
    }

    /// The storage key of the type: `plural.group` (objects of all versions share it).
    #[must_use]
    pub fn key(&self) -> String {
        format!("{}.{}", self.plural, self.group)
    }
}

fn scale_default() -> ScalePaths {
    ScalePaths {
        spec_replicas: ".spec.replicas".into(),
        status_replicas: ".status.replicas".into(),
        label_selector: Some(".spec.selector".into()),
    }
}

#[allow(clippy::too_many_arguments)]
fn builtin(
    group: &str,
    version: &str,
    kind: &str,
    plural: &str,
    namespaced: bool,
    short: &[&str],
    status: bool,
    scale: bool,
) -> ResourceType {
    let all = matches!(
        plural,
        "pods"
            | "services"
            | "deployments"
            | "statefulsets"
            | "daemonsets"
            | "replicasets"
            | "jobs"
            | "cronjobs"
    );
    ResourceType {
        group: group.into(),
        version: version.into(),
        kind: kind.into(),
        plural: plural.into(),
        singular: kind.to_ascii_lowercase(),
        namespaced,
        short_names: short.iter().map(|s| (*s).to_owned()).collect(),
        status,
        scale: scale.then(scale_default),
        categories: if all { vec!["all".into()] } else { Vec::new() },
        custom: false,
    }
}

/// The built-in resource types.
#[must_use]
pub fn builtins() -> Vec<ResourceType> {
    vec![
        builtin("", "v1", "Namespace", "namespaces", false, &["ns"], true, false),
        builtin("", "v1", "ConfigMap", "configmaps", true, &["cm"], false, false),
        builtin("", "v1", "Secret", "secrets", true, &[], false, false),
        builtin("", "v1", "Service", "services", true, &["svc"], true, false),
        builtin("", "v1", "ServiceAccount", "serviceaccounts", true, &["sa"], false, false),
        builtin("", "v1", "Pod", "pods", true, &["po"], true, false),
        builtin("", "v1", "PersistentVolumeClaim", "persistentvolumeclaims", true, &["pvc"], true, false),
        builtin("", "v1", "Event", "events", true, &["ev"], false, false),
        builtin("apps", "v1", "Deployment", "deployments", true, &["deploy"], true, true),
        builtin("apps", "v1", "StatefulSet", "statefulsets", true, &["sts"], true, true),
        builtin("apps", "v1", "DaemonSet", "daemonsets", true, &["ds"], true, false),
        builtin("apps", "v1", "ReplicaSet", "replicasets", true, &["rs"], true, true),
        builtin("batch", "v1", "Job", "jobs", true, &[], true, false),
        builtin("batch", "v1", "CronJob", "cronjobs", true, &["cj"], true, false),
        builtin("networking.k8s.io", "v1", "Ingress", "ingresses", true, &["ing"], true, false),
        builtin("rbac.authorization.k8s.io", "v1", "Role", "roles", true, &[], false, false),
        builtin("rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings", true, &[], false, false),
        builtin("rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles", false, &[], false, false),
        builtin(
            "rbac.authorization.k8s.io",
            "v1",
            "ClusterRoleBinding",
            "clusterrolebindings",
            false,
            &[],
            false,
            false,
        ),
        builtin(
            "apiextensions.k8s.io",
            "v1",
            "CustomResourceDefinition",
            "customresourcedefinitions",
            false,
            &["crd", "crds"],
            true,
            false,
        ),
    ]
}

/// Why a CustomResourceDefinition cannot be served.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid CustomResourceDefinition: {0}")]
pub struct CrdError(pub String);

fn str_at<'a>(value: &'a Value, pointer: &str) -> Option<&'a str> {
    value.pointer(pointer).and_then(Value::as_str).filter(|s| !s.is_empty())
}

/// The resource types a CustomResourceDefinition adds (one per served version).
///
/// # Errors
/// [`CrdError`] when required fields are missing or the name is not `<plural>.<group>`.
pub fn types_of_crd(crd: &Value) -> Result<Vec<ResourceType>, CrdError> {
    let missing = |f: &str| CrdError(format!("spec.{f} is required"));
    let group = str_at(crd, "/spec/group").ok_or_else(|| missing("group"))?;
    let plural = str_at(crd, "/spec/names/plural").ok_or_else(|| missing("names.plural"))?;
    let kind = str_at(crd, "/spec/names/kind").ok_or_else(|| missing("names.kind"))?;
    let name = str_at(crd, "/metadata/name").unwrap_or_default();
    if name != format!("{plural}.{group}") {
        return Err(CrdError(format!(
            "metadata.name must be spec.names.plural+\".\"+spec.group: {plural}.{group}"
        )));
    }
    let namespaced = match str_at(crd, "/spec/scope") {
        Some("Namespaced") => true,
        Some("Cluster") => false,
        _ => return Err(CrdError("spec.scope must be Namespaced or Cluster".into())),
    };
    let singular =
        str_at(crd, "/spec/names/singular").map_or_else(|| kind.to_ascii_lowercase(), str::to_owned);
    let strings = |p: &str| -> Vec<String> {
        crd.pointer(p)
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).map(str::to_owned).collect())
            .unwrap_or_default()
    };
    let versions =
        crd.pointer("/spec/versions").and_then(Value::as_array).ok_or_else(|| missing("versions"))?;
    if versions.is_empty() {
        return Err(missing("versions"));
    }
    let mut out = Vec::new();
    for v in versions {
        let vname = str_at(v, "/name").ok_or_else(|| missing("versions[].name"))?;
        if v.get("served").and_then(Value::as_bool) == Some(false) {
            continue;
        }
        let scale = v.pointer("/subresources/scale").map(|s| ScalePaths {
            spec_replicas: str_at(s, "/specReplicasPath").unwrap_or(".spec.replicas").to_owned(),
            status_replicas: str_at(s, "/statusReplicasPath").unwrap_or(".status.replicas").to_owned(),
            label_selector: str_at(s, "/labelSelectorPath").map(str::to_owned),
        });
        out.push(ResourceType {
            group: group.into(),
            version: vname.into(),
            kind: kind.into(),
            plural: plural.into(),
            singular: singular.clone(),
            namespaced,
            short_names: strings("/spec/names/shortNames"),
            status: v.pointer("/subresources/status").is_some(),
            scale,
            categories: strings("/spec/names/categories"),
            custom: true,
        });
    }
    Ok(out)
}

/// All served resource types, indexed by API group and version.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    types: Vec<ResourceType>,
}

impl Registry {
    /// A registry with the built-in types.
    #[must_use]
    pub fn with_builtins() -> Self {
        Self { types: builtins() }
    }

    /// Replace the types of one CRD (by its group and plural) with `types`.
    pub fn set_crd(&mut self, group: &str, plural: &str, types: Vec<ResourceType>) {
        self.remove_crd(group, plural);
        self.types.extend(types);
    }

    /// Remove the types of one CRD.
    pub fn remove_crd(&mut self, group: &str, plural: &str) {
        self.types.retain(|t| !(t.custom && t.group == group && t.plural == plural));
    }

    /// The type served at `group/version` under `plural`.
    #[must_use]
    pub fn find(&self, group: &str, version: &str, plural: &str) -> Option<&ResourceType> {
        self.types.iter().find(|t| t.group == group && t.version == version && t.plural == plural)
    }

    /// The type of `kind` served at `group/version`.
    #[must_use]
    pub fn find_kind(&self, group: &str, version: &str, kind: &str) -> Option<&ResourceType> {
        self.types.iter().find(|t| t.group == group && t.version == version && t.kind == kind)
    }

    /// Whether `group/version` is served at all.
    #[must_use]
    pub fn has_group_version(&self, group: &str, version: &str) -> bool {
        self.types.iter().any(|t| t.group == group && t.version == version)
    }

    /// All types.
    #[must_use]
    pub fn types(&self) -> &[ResourceType] {
        &self.types
    }

    /// Groups (not the core group) with their versions, in order of first appearance.
    fn groups(&self) -> Vec<(String, Vec<String>)> {
        let mut out: Vec<(String, Vec<String>)> = Vec::new();
        for t in self.types.iter().filter(|t| !t.group.is_empty()) {
            match out.iter_mut().find(|(g, _)| *g == t.group) {
                Some((_, versions)) => {
                    if !versions.contains(&t.version) {
                        versions.push(t.version.clone());
                    }
                }
                None => out.push((t.group.clone(), vec![t.version.clone()])),
            }
        }
        out
    }

    /// `/apis`: an APIGroupList.
    #[must_use]
    pub fn api_group_list(&self) -> Value {
        let groups: Vec<Value> = self
            .groups()
            .into_iter()
            .map(|(g, versions)| {
                let vs: Vec<Value> = versions
                    .iter()
                    .map(|v| json!({"groupVersion": format!("{g}/{v}"), "version": v}))
                    .collect();
                let preferred = vs.first().cloned().unwrap_or(Value::Null);
                json!({"name": g, "versions": vs, "preferredVersion": preferred})
            })
            .collect();
        json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
    }

    /// `/apis/<group>`: an APIGroup, if served.
    #[must_use]
    pub fn api_group(&self, group: &str) -> Option<Value> {
        let (g, versions) = self.groups().into_iter().find(|(g, _)| g == group)?;
        let vs: Vec<Value> =
            versions.iter().map(|v| json!({"groupVersion": format!("{g}/{v}"), "version": v})).collect();
        let preferred = vs.first().cloned().unwrap_or(Value::Null);
        Some(
            json!({"kind": "APIGroup", "apiVersion": "v1", "name": g, "versions": vs, "preferredVersion": preferred}),
        )
    }

    /// `/api/v1` or `/apis/<group>/<version>`: an APIResourceList, if served.
    #[must_use]
    pub fn api_resource_list(&self, group: &str, version: &str) -> Option<Value> {
        if !self.has_group_version(group, version) {
            return None;
        }
        let gv = if group.is_empty() { version.to_owned() } else { format!("{group}/{version}") };
        let mut resources = Vec::new();
        for t in self.types.iter().filter(|t| t.group == group && t.version == version) {
            let mut r = json!({
                "name": t.plural,
                "singularName": t.singular,
                "namespaced": t.namespaced,
                "kind": t.kind,
                "verbs": ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"],
            });
            if !t.short_names.is_empty() {
                r["shortNames"] = json!(t.short_names);
            }
            if !t.categories.is_empty() {
                r["categories"] = json!(t.categories);
            }
            resources.push(r);
            if t.status {
                resources.push(json!({"name": format!("{}/status", t.plural), "singularName": "", "namespaced": t.namespaced,
                    "kind": t.kind, "verbs": ["get", "patch", "update"]}));
            }
            if t.scale.is_some() {
                resources.push(json!({"name": format!("{}/scale", t.plural), "singularName": "", "namespaced": t.namespaced,
                    "group": "autoscaling", "version": "v1", "kind": "Scale", "verbs": ["get", "patch", "update"]}));
            }
        }
        Some(
            json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources}),
        )
    }

    /// `/api` or `/apis` as aggregated discovery (`apidiscovery.k8s.io/v2`
    /// `APIGroupDiscoveryList`): every group with its versions (preferred first) and their
    /// resources, so a client needs no per-group requests.
    #[must_use]
    pub fn aggregated_discovery(&self, core: bool) -> Value {
        let groups: Vec<(String, Vec<String>)> =
            if core { vec![(String::new(), vec!["v1".to_owned()])] } else { self.groups() };
        let items: Vec<Value> = groups
            .into_iter()
            .map(|(g, versions)| {
                let versions: Vec<Value> = versions
                    .iter()
                    .map(|v| {
                        let resources: Vec<Value> = self
                            .types
                            .iter()
                            .filter(|t| t.group == g && t.version == *v)
                            .map(|t| {
                                let gvk = json!({"group": t.group, "version": t.version, "kind": t.kind});
                                let mut subresources = Vec::new();
                                if t.status {
                                    subresources.push(json!({"subresource": "status", "responseKind": gvk,
                                        "verbs": ["get", "patch", "update"]}));
                                }
                                if t.scale.is_some() {
                                    subresources.push(json!({"subresource": "scale",
                                        "responseKind": {"group": "autoscaling", "version": "v1", "kind": "Scale"},
                                        "verbs": ["get", "patch", "update"]}));
                                }
                                let mut r = json!({
                                    "resource": t.plural,
                                    "responseKind": gvk,
                                    "scope": if t.namespaced { "Namespaced" } else { "Cluster" },
                                    "singularResource": t.singular,
                                    "verbs": ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"],
                                });
                                if !t.short_names.is_empty() {
                                    r["shortNames"] = json!(t.short_names);
                                }
                                if !t.categories.is_empty() {
                                    r["categories"] = json!(t.categories);
                                }
                                if !subresources.is_empty() {
                                    r["subresources"] = Value::Array(subresources);
                                }
                                r
                            })
                            .collect();
                        json!({"version": v, "resources": resources, "freshness": "Current"})
                    })
                    .collect();
                let metadata = if g.is_empty() { json!({"creationTimestamp": null}) } else { json!({"name": g, "creationTimestamp": null}) };
                json!({"metadata": metadata, "versions": versions})
            })
            .collect();
        json!({"kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/v2", "metadata": {}, "items": items})
    }

    /// `/openapi/v3`: the index of per-group-version documents.
    #[must_use]
    pub fn openapi_v3_index(&self) -> Value {
        let mut paths = BTreeMap::new();
        let mut gvs: Vec<(String, String)> = Vec::new();
        for t in &self.types {
            let gv = (t.group.clone(), t.version.clone());
            if !gvs.contains(&gv) {
                gvs.push(gv);
            }
        }
        for (g, v) in gvs {
            let p = if g.is_empty() { format!("api/{v}") } else { format!("apis/{g}/{v}") };
            // The hash only needs to change when the document does; the registry's size and
            // names are a cheap stand-in that changes when a CRD is added or removed.
            let hash = self.openapi_hash(&g, &v);
            paths.insert(p.clone(), json!({"serverRelativeURL": format!("/openapi/v3/{p}?hash={hash}")}));
        }
        json!({"paths": paths})
    }

    fn openapi_hash(&self, group: &str, version: &str) -> String {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for t in self.types.iter().filter(|t| t.group == group && t.version == version) {
            for b in
                t.plural.bytes().chain(t.kind.bytes()).chain([u8::from(t.namespaced), u8::from(t.status)])
            {
                h ^= u64::from(b);
                h = h.wrapping_mul(0x0100_0000_01b3);
            }
        }
        format!("{h:016X}")
    }

    /// `/openapi/v3/<api|apis/group>/<version>`: a minimal OpenAPI v3 document per group
    /// version. It declares, per kind, a PATCH operation accepting the `fieldValidation` query
    /// parameter, which is what kubectl checks before leaving validation to the server; it
    /// carries no schemas.
    #[must_use]
    pub fn openapi_v3_document(&self, group: &str, version: &str) -> Option<Value> {
        if !self.has_group_version(group, version) {
            return None;
        }
        let prefix =
            if group.is_empty() { format!("/api/{version}") } else { format!("/apis/{group}/{version}") };
        let mut paths = serde_json::Map::new();
        for t in self.types.iter().filter(|t| t.group == group && t.version == version) {
            let item = if t.namespaced {
                format!("{prefix}/namespaces/{{namespace}}/{}/{{name}}", t.plural)
            } else {
                format!("{prefix}/{}/{{name}}", t.plural)
            };
            let gvk = json!({"group": t.group, "version": t.version, "kind": t.kind});
            let params = json!([
                {"name": "dryRun", "in": "query", "schema": {"type": "string"}},
                {"name": "fieldManager", "in": "query", "schema": {"type": "string"}},
                {"name": "fieldValidation", "in": "query", "schema": {"type": "string"}},
                {"name": "force", "in": "query", "schema": {"type": "boolean"}}
            ]);
            paths.insert(
                item,
                json!({
                    "get": {"x-kubernetes-group-version-kind": gvk, "x-kubernetes-action": "get",
                            "responses": {"200": {"description": "OK"}}},
                    "patch": {"x-kubernetes-group-version-kind": gvk, "x-kubernetes-action": "patch",
                              "parameters": params, "responses": {"200": {"description": "OK"}}}
                }),
            );
        }
        Some(json!({
            "openapi": "3.0.0",
            "info": {"title": "driftless sandbox", "version": "v1.32.0"},
            "paths": paths,
            "components": {"schemas": {}}
        }))
    }
}
