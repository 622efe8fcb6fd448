//! Planning a sync: server-side apply dry runs against live state, compared normalised.

use std::collections::{HashMap, HashSet};

use driftless_core::plan::{Action, Change, Plan};
use driftless_core::spec::IgnoreDifference;
use driftless_core::{GroupVersionKind, Object, ObjectRef};
use futures_util::StreamExt;
use kube::api::{ListParams, Patch, PatchParams};
use kube::discovery::ApiResource;
use serde_json::Value;

use crate::discovery::Resolved;
use crate::error::DryRunFailure;
use crate::normalize::{self, apply_ignores, strip};
use crate::order::sort_key;
use crate::state::{AppState, InventoryEntry};
use crate::{
    APP_LABEL, CONCURRENCY, Cluster, ClusterError, FIELD_MANAGER, IGNORE_ANNOTATION, PRUNE_ANNOTATION,
    WAVE_ANNOTATION, validate_app,
};

/// What to plan.
#[derive(Debug, Clone, Copy)]
pub struct PlanRequest<'a> {
    /// The app (a DNS-1123 label).
    pub app: &'a str,
    /// The desired objects, already labelled `APP_LABEL=app` by the engine; hooks excluded.
    pub desired: &'a [Object],
    /// Namespace set on namespaced objects without one (`None`: `default`, as kubectl).
    pub default_namespace: Option<&'a str>,
    /// Differences to ignore (Argo CD's `ignoreDifferences`).
    pub ignore_differences: &'a [IgnoreDifference],
    /// Whether objects that left the desired set are deleted.
    pub prune: bool,
    /// The state of the previous sync (prune candidates and the fast path).
    pub state: Option<&'a AppState>,
}

/// A plan, and what [`Cluster::apply`] needs to carry it out.
#[derive(Debug, Clone)]
pub struct PlannedSync {
    /// The plan to show.
    pub plan: Plan,
    pub(crate) items: Vec<Item>,
    pub(crate) deletes: Vec<DeleteItem>,
    pub(crate) kept: Vec<InventoryEntry>,
}

impl PlannedSync {
    /// The objects as they are sent to the server (namespace defaulted, `spec.replicas` of
    /// HPA-managed workloads dropped), in apply order.
    pub fn objects(&self) -> impl Iterator<Item = &Value> {
        self.items.iter().map(|i| &i.body)
    }
}

/// Something an object needs created or applied earlier in the same sync.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Prereq {
    Namespace(String),
    Crd(String),
}

impl Prereq {
    fn note(&self) -> String {
        match self {
            Prereq::Namespace(ns) => format!("waits for Namespace {ns} created in this sync"),
            Prereq::Crd(name) => format!("waits for CustomResourceDefinition {name} applied in this sync"),
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Item {
    pub r: ObjectRef,
    pub body: Value,
    pub resolved: Resolved,
    pub action: Action,
    pub wave: i64,
    pub hash: String,
    pub prereqs: Vec<Prereq>,
    /// The live resourceVersion of an unchanged object.
    pub live_rv: Option<String>,
}

impl Item {
    /// The prerequisite this object provides to others, if any.
    pub(crate) fn provides(&self) -> Option<Prereq> {
        match (self.r.kind.as_str(), self.resolved.resource.group.as_str()) {
            ("Namespace", "") => Some(Prereq::Namespace(self.r.name.clone())),
            ("CustomResourceDefinition", "apiextensions.k8s.io") => Some(Prereq::Crd(self.r.name.clone())),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct DeleteItem {
    pub r: ObjectRef,
    pub resolved: Resolved,
}

/// Identity of an object across versions: group, kind, namespace, name.
pub(crate) type Key = (String, String, Option<String>, String);

pub(crate) fn key(r: &ObjectRef) -> Key {
    let gvk = GroupVersionKind::from_api_version(&r.api_version, &r.kind);
    (gvk.group, gvk.kind, r.namespace.clone(), r.name.clone())
}

fn invalid(r: &ObjectRef, message: impl Into<String>) -> ClusterError {
    ClusterError::InvalidObject { object: r.clone(), message: message.into() }
}

fn annotation<'v>(value: &'v Value, key: &str) -> Option<&'v str> {
    value.pointer("/metadata/annotations").and_then(|a| a.get(key)).and_then(Value::as_str)
}

fn label<'v>(value: &'v Value, key: &str) -> Option<&'v str> {
    value.pointer("/metadata/labels").and_then(|a| a.get(key)).and_then(Value::as_str)
}

fn resource_version(value: &Value) -> Option<String> {
    value.pointer("/metadata/resourceVersion").and_then(Value::as_str).map(str::to_owned)
}

/// What a CRD in the desired set would serve for `gvk`: the resource, its scope, the CRD name.
fn served_by_desired_crd(desired: &[Object], gvk: &GroupVersionKind) -> Option<(Resolved, String)> {
    desired.iter().find_map(|o| {
        if o.kind() != "CustomResourceDefinition" || !o.api_version().starts_with("apiextensions.k8s.io/") {
            return None;
        }
        let v = o.as_value();
        let spec = v.get("spec")?;
        if spec.get("group")?.as_str()? != gvk.group || spec.pointer("/names/kind")?.as_str()? != gvk.kind {
            return None;
        }
        let serves = spec
            .get("versions")?
            .as_array()?
            .iter()
            .any(|ver| ver.get("name").and_then(Value::as_str) == Some(gvk.version.as_str()));
        if !serves {
            return None;
        }
        let plural = spec.pointer("/names/plural")?.as_str()?;
        let namespaced = spec.get("scope").and_then(Value::as_str) == Some("Namespaced");
        let kgvk = kube::core::GroupVersionKind::gvk(&gvk.group, &gvk.version, &gvk.kind);
        let resource = ApiResource::from_gvk_with_plural(&kgvk, plural);
        Some((Resolved { resource, namespaced }, o.name()?.to_owned()))
    })
}

/// The outcome of evaluating one object against the cluster.
enum Eval {
    Planned { action: Action, diff: Option<String>, live_rv: Option<String> },
    LiveIgnored,
    Failed(DryRunFailure),
}

struct Prepared {
    r: ObjectRef,
    body: Value,
    resolved: Resolved,
    wave: i64,
    hash: String,
    prereqs: Vec<Prereq>,
    hpa_managed: bool,
}

/// `obj` with the namespace it is applied to: `default_ns` when it is namespaced and has none,
/// none when it is cluster-scoped.
fn scoped(obj: Object, namespaced: bool, default_ns: &str) -> Result<Object, ClusterError> {
    if namespaced {
        if obj.namespace().is_none_or(str::is_empty) {
            let mut obj = obj;
            obj.set_namespace(default_ns);
            return Ok(obj);
        }
        return Ok(obj);
    }
    if obj.namespace().is_none() {
        return Ok(obj);
    }
    let r = obj.object_ref();
    let mut v = obj.into_value();
    if let Some(Value::Object(meta)) = v.get_mut("metadata") {
        meta.remove("namespace");
    }
    Object::from_value(v).map_err(|e| invalid(&r, e.to_string()))
}

impl Cluster {
    /// Every kind of `desired`, from discovery or from a CustomResourceDefinition of the same
    /// set (with that CRD's name).
    async fn resolve_kinds(
        &self,
        desired: &[Object],
    ) -> Result<HashMap<GroupVersionKind, (Resolved, Option<String>)>, ClusterError> {
        let mut kinds: HashMap<GroupVersionKind, (Resolved, Option<String>)> = HashMap::new();
        for obj in desired {
            let gvk = obj.gvk();
            if kinds.contains_key(&gvk) {
                continue;
            }
            let resolved = match self.resolve(&gvk).await? {
                Some(r) => (r, None),
                None => match served_by_desired_crd(desired, &gvk) {
                    Some((r, crd)) => (r, Some(crd)),
                    None => {
                        return Err(ClusterError::UnknownKind {
                            object: obj.object_ref(),
                            gvk: gvk.to_string(),
                        });
                    }
                },
            };
            kinds.insert(gvk, resolved);
        }
        Ok(kinds)
    }

    /// The objects as they will be applied: namespaced ones without a namespace get
    /// `default_namespace` (`default` when none), cluster-scoped ones lose a namespace they
    /// should not have. The engine does this before the policy gate, so that policies judge
    /// the namespaces objects really land in; [`Cluster::plan`] does the same.
    ///
    /// # Errors
    /// [`ClusterError::UnknownKind`] for a kind neither the cluster nor a CRD of the set serves;
    /// request errors from discovery.
    pub async fn scope_namespaces(
        &self,
        desired: Vec<Object>,
        default_namespace: Option<&str>,
    ) -> Result<Vec<Object>, ClusterError> {
        let kinds = self.resolve_kinds(&desired).await?;
        let default_ns = default_namespace.unwrap_or("default");
        desired
            .into_iter()
            .map(|obj| {
                let namespaced = kinds.get(&obj.gvk()).is_some_and(|(r, _)| r.namespaced);
                scoped(obj, namespaced, default_ns)
            })
            .collect()
    }

    /// Plan a sync: see the crate docs and `docs/cluster.md`. Nothing is written.
    ///
    /// # Errors
    /// [`ClusterError::DryRun`] naming every object the server refused;
    /// [`ClusterError::UnknownKind`]; [`ClusterError::InvalidObject`] (bad wave annotation,
    /// duplicate, prerequisite in a later wave); request errors.
    pub async fn plan(&self, req: &PlanRequest<'_>) -> Result<PlannedSync, ClusterError> {
        validate_app(req.app)?;
        let mut skipped = Vec::new();

        let kinds = self.resolve_kinds(req.desired).await?;

        // Normalise the desired objects: namespace, identity, wave.
        let default_ns = req.default_namespace.unwrap_or("default");
        let mut seen: HashSet<Key> = HashSet::new();
        let mut protected: HashSet<Key> = HashSet::new();
        let mut prepared: Vec<Prepared> = Vec::new();
        let mut hpa_targets: HashSet<(String, String, String)> = HashSet::new();
        for obj in req.desired {
            let (resolved, crd) = kinds.get(&obj.gvk()).cloned().ok_or_else(|| {
                ClusterError::UnknownKind { object: obj.object_ref(), gvk: obj.gvk().to_string() }
            })?;
            let body = scoped(obj.clone(), resolved.namespaced, default_ns)?;
            let r = body.object_ref();
            if r.name.is_empty() {
                return Err(invalid(&r, "metadata.name is missing"));
            }
            if !seen.insert(key(&r)) {
                return Err(invalid(&r, "the object appears twice in the desired set"));
            }
            let wave = match body.annotation(WAVE_ANNOTATION) {
                None => 0,
                Some(w) => w.trim().parse::<i64>().map_err(|_| {
                    invalid(&r, format!("annotation {WAVE_ANNOTATION}={w:?} is not an integer"))
                })?,
            };
            if body.annotation(IGNORE_ANNOTATION) == Some("true") {
                protected.insert(key(&r));
                skipped.push(Change {
                    object: r,
                    action: Action::Unchanged,
                    wave,
                    diff: None,
                    note: Some(format!("ignored: {IGNORE_ANNOTATION}=true in the desired object")),
                });
                continue;
            }
            if r.kind == "HorizontalPodAutoscaler" && resolved.resource.group == "autoscaling" {
                let v = body.as_value();
                if let (Some(kind), Some(name)) = (
                    v.pointer("/spec/scaleTargetRef/kind").and_then(Value::as_str),
                    v.pointer("/spec/scaleTargetRef/name").and_then(Value::as_str),
                ) {
                    hpa_targets.insert((
                        r.namespace.clone().unwrap_or_default(),
                        kind.to_owned(),
                        name.to_owned(),
                    ));
                }
            }
            let mut prereqs = Vec::new();
            if let Some(crd) = crd {
                prereqs.push(Prereq::Crd(crd));
            }
            let body = body.into_value();
            prepared.push(Prepared {
                r,
                body,
                resolved,
                wave,
                hash: String::new(),
                prereqs,
                hpa_managed: false,
            });
        }

        // Workloads scaled by an HPA of this sync: driftless never owns spec.replicas.
        for p in &mut prepared {
            let workload = matches!(p.r.kind.as_str(), "Deployment" | "StatefulSet" | "ReplicaSet")
                && p.resolved.resource.group == "apps";
            let target = (p.r.namespace.clone().unwrap_or_default(), p.r.kind.clone(), p.r.name.clone());
            if workload && hpa_targets.contains(&target) {
                normalize::remove_pointer(&mut p.body, "/spec/replicas");
                p.hpa_managed = true;
            }
            p.hash = if normalize::is_secret(&p.body) { String::new() } else { normalize::hash(&p.body) };
        }

        // Namespaces of this sync that do not exist yet: their objects wait for them.
        let desired_namespaces: HashSet<&str> = prepared
            .iter()
            .filter(|p| p.r.kind == "Namespace" && p.r.api_version == "v1")
            .map(|p| p.r.name.as_str())
            .collect();
        let needed: HashSet<String> = prepared
            .iter()
            .filter_map(|p| p.r.namespace.clone())
            .filter(|ns| desired_namespaces.contains(ns.as_str()))
            .collect();
        let mut missing_namespaces = HashSet::new();
        if !needed.is_empty() {
            let ns_kind = self
                .resolve(&GroupVersionKind::from_api_version("v1", "Namespace"))
                .await?
                .ok_or_else(|| ClusterError::Request {
                    object: "v1 Namespace".into(),
                    message: "the cluster does not serve Namespaces".into(),
                })?;
            for ns in needed {
                let r = ObjectRef {
                    api_version: "v1".into(),
                    kind: "Namespace".into(),
                    namespace: None,
                    name: ns,
                };
                if self.get_value(&ns_kind, &r).await?.is_none() {
                    missing_namespaces.insert(r.name);
                }
            }
        }
        for p in &mut prepared {
            if let Some(ns) = &p.r.namespace
                && missing_namespaces.contains(ns)
            {
                p.prereqs.push(Prereq::Namespace(ns.clone()));
            }
        }

        // One LIST per kind and namespace (label APP_LABEL=app) instead of a GET per object.
        let selector = format!("{APP_LABEL}={}", req.app);
        let mut groups: HashMap<(String, Option<String>), (Resolved, Option<String>)> = HashMap::new();
        for p in prepared.iter().filter(|p| p.prereqs.is_empty()) {
            let ns = if p.resolved.namespaced { p.r.namespace.clone() } else { None };
            groups
                .entry((
                    p.resolved.resource.api_version.clone() + "/" + &p.resolved.resource.kind,
                    ns.clone(),
                ))
                .or_insert_with(|| (p.resolved.clone(), ns));
        }
        // Futures are collected before they are streamed (see `apply`): a closure held across
        // an await would make the plan's future not `Send` for every lifetime.
        let lists: Vec<_> = groups
            .into_values()
            .map(|(resolved, ns)| {
                let selector = selector.clone();
                async move {
                    let api = self.api(&resolved, ns.as_deref());
                    let what = match &ns {
                        Some(ns) => {
                            format!("{} {} in {ns}", resolved.resource.api_version, resolved.resource.kind)
                        }
                        None => format!("{} {}", resolved.resource.api_version, resolved.resource.kind),
                    };
                    match api.list(&ListParams::default().labels(&selector)).await {
                        Ok(list) => Ok((resolved, list.items)),
                        Err(e) if crate::error::is_not_found(&e) => Ok((resolved, Vec::new())),
                        Err(e) => Err(self.error(what, &e)),
                    }
                }
            })
            .collect();
        let lists = futures_util::stream::iter(lists).buffer_unordered(CONCURRENCY).collect::<Vec<_>>().await;
        let mut listed: HashMap<Key, Value> = HashMap::new();
        for result in lists {
            let (resolved, items) = result?;
            for o in items {
                let r = ObjectRef {
                    api_version: resolved.resource.api_version.clone(),
                    kind: resolved.resource.kind.clone(),
                    namespace: o.metadata.namespace.clone(),
                    name: o.metadata.name.clone().unwrap_or_default(),
                };
                let v = crate::dynamic_to_value(&o, &r)?;
                listed.insert(key(&r), v);
            }
        }

        // Evaluate every object: fast path, or dry run and compare.
        let previous: HashMap<Key, &InventoryEntry> =
            req.state.map(|s| s.inventory.iter().map(|e| (key(&e.object), e)).collect()).unwrap_or_default();
        let evals: Vec<_> = prepared
            .iter()
            .map(|p| {
                let live = listed.get(&key(&p.r));
                let entry = previous.get(&key(&p.r)).copied();
                self.evaluate(p, live, entry, req.ignore_differences)
            })
            .collect();
        let evals = futures_util::stream::iter(evals).buffered(CONCURRENCY).collect::<Vec<_>>().await;

        let mut failures = Vec::new();
        let mut items = Vec::new();
        for (p, eval) in prepared.into_iter().zip(evals) {
            match eval? {
                Eval::Failed(f) => failures.push(f),
                Eval::LiveIgnored => {
                    protected.insert(key(&p.r));
                    skipped.push(Change {
                        object: p.r,
                        action: Action::Unchanged,
                        wave: p.wave,
                        diff: None,
                        note: Some(format!("ignored: {IGNORE_ANNOTATION}=true on the live object")),
                    });
                }
                Eval::Planned { action, diff, live_rv } => items.push((
                    Item {
                        r: p.r,
                        body: p.body,
                        resolved: p.resolved,
                        action,
                        wave: p.wave,
                        hash: p.hash,
                        prereqs: p.prereqs,
                        live_rv,
                    },
                    diff,
                )),
            }
        }
        if !failures.is_empty() {
            return Err(ClusterError::DryRun { failures });
        }

        items.sort_by(|(a, _), (b, _)| {
            sort_key(a.wave, &a.r.kind, a.r.namespace.as_deref(), &a.r.name).cmp(&sort_key(
                b.wave,
                &b.r.kind,
                b.r.namespace.as_deref(),
                &b.r.name,
            ))
        });
        let positions: HashMap<Prereq, usize> =
            items.iter().enumerate().filter_map(|(i, (item, _))| Some((item.provides()?, i))).collect();
        for (i, (item, _)) in items.iter().enumerate() {
            for pre in &item.prereqs {
                match positions.get(pre) {
                    Some(&at) if at < i => {}
                    Some(_) => {
                        return Err(invalid(
                            &item.r,
                            format!("{}, which comes in a later sync wave", pre.note()),
                        ));
                    }
                    None => return Err(invalid(&item.r, format!("{}, which is ignored", pre.note()))),
                }
            }
        }

        // Prune candidates: inventory entries no longer desired.
        let desired_keys: HashSet<Key> = items.iter().map(|(i, _)| key(&i.r)).collect();
        let candidates: Vec<&InventoryEntry> = req
            .state
            .map(|s| {
                s.inventory
                    .iter()
                    .filter(|e| {
                        !desired_keys.contains(&key(&e.object)) && !protected.contains(&key(&e.object))
                    })
                    .collect()
            })
            .unwrap_or_default();
        let mut deletes = Vec::new();
        let mut kept = Vec::new();
        let mut delete_changes = Vec::new();
        for entry in candidates {
            let r = &entry.object;
            let gvk = GroupVersionKind::from_api_version(&r.api_version, &r.kind);
            let Some(resolved) = self.resolve(&gvk).await? else { continue };
            let Some(live) = self.get_value(&resolved, r).await? else { continue };
            if label(&live, APP_LABEL) != Some(req.app) {
                skipped.push(Change {
                    object: r.clone(),
                    action: Action::Delete,
                    wave: 0,
                    diff: None,
                    note: Some(format!(
                        "not pruned: the live object no longer carries {APP_LABEL}={}; left alone and dropped from the inventory",
                        req.app
                    )),
                });
                continue;
            }
            let wave = annotation(&live, WAVE_ANNOTATION).and_then(|w| w.trim().parse().ok()).unwrap_or(0);
            let note = if !req.prune {
                kept.push(entry.clone());
                Some("not pruned: prune is disabled for this sync; kept in the inventory".to_owned())
            } else if annotation(&live, PRUNE_ANNOTATION) == Some("false") {
                Some(format!("not pruned: {PRUNE_ANNOTATION}=false; orphaned (dropped from the inventory)"))
            } else if annotation(&live, IGNORE_ANNOTATION) == Some("true") {
                Some(format!("not pruned: {IGNORE_ANNOTATION}=true; orphaned (dropped from the inventory)"))
            } else {
                None
            };
            if let Some(note) = note {
                skipped.push(Change {
                    object: r.clone(),
                    action: Action::Delete,
                    wave,
                    diff: None,
                    note: Some(note),
                });
                continue;
            }
            let mut shown = live.clone();
            strip(&mut shown);
            normalize::redact_all(&mut shown);
            let diff = normalize::diff(Some(&shown), None, &r.to_string());
            delete_changes.push((
                sort_key(wave, &r.kind, r.namespace.as_deref(), &r.name).clone_owned(),
                Change { object: r.clone(), action: Action::Delete, wave, diff: Some(diff), note: None },
                DeleteItem { r: r.clone(), resolved },
            ));
        }
        delete_changes.sort_by(|a, b| b.0.cmp(&a.0));

        let mut changes = Vec::with_capacity(items.len() + delete_changes.len());
        let mut plan_items = Vec::with_capacity(items.len());
        for (item, diff) in items {
            let note = (!item.prereqs.is_empty())
                .then(|| item.prereqs.iter().map(Prereq::note).collect::<Vec<_>>().join("; "));
            changes.push(Change { object: item.r.clone(), action: item.action, wave: item.wave, diff, note });
            plan_items.push(item);
        }
        for (_, change, del) in delete_changes {
            changes.push(change);
            deletes.push(del);
        }
        Ok(PlannedSync { plan: Plan { changes, skipped }, items: plan_items, deletes, kept })
    }

    async fn evaluate(
        &self,
        p: &Prepared,
        listed: Option<&Value>,
        entry: Option<&InventoryEntry>,
        rules: &[IgnoreDifference],
    ) -> Result<Eval, ClusterError> {
        let label = p.r.to_string();
        if !p.prereqs.is_empty() {
            let mut shown = p.body.clone();
            strip(&mut shown);
            normalize::redact_pair(None, Some(&mut shown));
            return Ok(Eval::Planned {
                action: Action::Create,
                diff: Some(normalize::diff(None, Some(&shown), &label)),
                live_rv: None,
            });
        }
        let fetched;
        let live = match listed {
            Some(v) => Some(v),
            None => {
                fetched = self.get_value(&p.resolved, &p.r).await?;
                fetched.as_ref()
            }
        };
        if live.is_some_and(|l| annotation(l, IGNORE_ANNOTATION) == Some("true")) {
            return Ok(Eval::LiveIgnored);
        }
        let live_rv = live.and_then(resource_version);
        if let Some(entry) = entry
            && !p.hash.is_empty()
            && entry.hash == p.hash
            && entry.resource_version.is_some()
            && entry.resource_version == live_rv
        {
            return Ok(Eval::Planned { action: Action::Unchanged, diff: None, live_rv });
        }
        let params = PatchParams::apply(FIELD_MANAGER).force().dry_run().validation_strict();
        self.count_dry_run();
        let result = match self
            .api(&p.resolved, p.r.namespace.as_deref())
            .patch(&p.r.name, &params, &Patch::Apply(&p.body))
            .await
        {
            Ok(o) => crate::dynamic_to_value(&o, &p.r)?,
            Err(e) => {
                let f = crate::error::classify(&e);
                if f.unreachable {
                    return Err(self.error(&p.r, &e));
                }
                return Ok(Eval::Failed(DryRunFailure {
                    object: p.r.clone(),
                    code: f.code,
                    message: normalize::scrub(&f.message, &p.body),
                }));
            }
        };
        let mut after = result;
        strip(&mut after);
        let Some(live_raw) = live else {
            normalize::redact_pair(None, Some(&mut after));
            return Ok(Eval::Planned {
                action: Action::Create,
                diff: Some(normalize::diff(None, Some(&after), &label)),
                live_rv: None,
            });
        };
        let mut before = live_raw.clone();
        strip(&mut before);
        let gvk = GroupVersionKind::from_api_version(&p.r.api_version, &p.r.kind);
        let matching: Vec<&IgnoreDifference> = rules
            .iter()
            .filter(|rule| {
                normalize::rule_matches(rule, &gvk.group, &gvk.kind, p.r.namespace.as_deref(), &p.r.name)
            })
            .collect();
        let extra: &[&str] = if p.hpa_managed { &["/spec/replicas"] } else { &[] };
        apply_ignores(&matching, extra, Some(live_raw), &mut [&mut before, &mut after]);
        if before == after {
            return Ok(Eval::Planned { action: Action::Unchanged, diff: None, live_rv });
        }
        normalize::redact_pair(Some(&mut before), Some(&mut after));
        Ok(Eval::Planned {
            action: Action::Update,
            diff: Some(normalize::diff(Some(&before), Some(&after), &label)),
            live_rv,
        })
    }
}

/// Owned form of a sort key.
trait CloneOwned {
    fn clone_owned(&self) -> (i64, usize, String, String, String);
}

impl CloneOwned for (i64, usize, &str, &str, &str) {
    fn clone_owned(&self) -> (i64, usize, String, String, String) {
        (self.0, self.1, self.2.to_owned(), self.3.to_owned(), self.4.to_owned())
    }
}
