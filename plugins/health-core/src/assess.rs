//! Health assessment for built-in Kubernetes kinds.
//!
//! Pure logic, no I/O: given an object as read from the cluster (including its
//! `status`), decide whether it is healthy, still progressing, degraded or
//! suspended, with a short message for a person. The rules follow the
//! semantics of Argo CD's gitops-engine (`pkg/health`), re-expressed here.
//!
//! Every accessor is tolerant: missing fields, wrong JSON types and odd values
//! never panic; they are treated as absent and the object is assessed with
//! what is left.
//!
//! Where this differs from gitops-engine, on purpose:
//! - `metadata.deletionTimestamp` makes any kind Progressing ("pending deletion").
//! - Generation checks apply only when `metadata.generation` is set.
//! - `spec.replicas` defaults to 1 (gitops-engine skips the check when absent).
//! - Pods: bad waiting states (CrashLoopBackOff, ErrImagePull, anything `Err*`,
//!   `*Error`, `*BackOff`) are Degraded only with restartPolicy Always; init
//!   containers are checked too; a pod without a phase is Progressing.
//! - Jobs: `FailureTarget` True is Degraded; a finished Job stays finished even
//!   if later marked suspended.
//! - HPA: Degraded when AbleToScale or ScalingActive is False with a reason
//!   starting `Failed` or `Invalid` (not only gitops-engine's four reasons).
//! - CRD: not yet Established is Progressing (current gitops-engine: Degraded).
//! - PVC without status is Progressing; Namespace without status is Healthy.

use serde_json::Value;

/// Health of one object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Doing what it should.
    Healthy,
    /// Not there yet, but getting there.
    Progressing,
    /// Failed, or not going to get there without help.
    Degraded,
    /// Paused on purpose.
    Suspended,
    /// The object is absent from the cluster. Never produced by [`assess`];
    /// the host decides it.
    #[allow(dead_code)]
    Missing,
    /// Cannot tell.
    Unknown,
}

/// The health of one object, with a message for a person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Health {
    /// The status.
    pub status: Status,
    /// Why.
    pub message: String,
}

/// The kinds this module assesses, as (group, kind); group "" is the core group.
pub const KINDS: &[(&str, &str)] = &[
    ("apps", "Deployment"),
    ("apps", "StatefulSet"),
    ("apps", "DaemonSet"),
    ("apps", "ReplicaSet"),
    ("", "Pod"),
    ("", "Service"),
    ("", "PersistentVolumeClaim"),
    ("", "Namespace"),
    ("batch", "Job"),
    ("networking.k8s.io", "Ingress"),
    ("extensions", "Ingress"),
    ("autoscaling", "HorizontalPodAutoscaler"),
    ("apiregistration.k8s.io", "APIService"),
    ("apiextensions.k8s.io", "CustomResourceDefinition"),
];

/// Assess one object (a Kubernetes object as JSON, as read from the cluster with its `status`).
/// `None` when the kind (by apiVersion group + kind) is not one of KINDS.
pub fn assess(object: &Value) -> Option<Health> {
    let api_version = str_at(object, &["apiVersion"])?;
    let kind = str_at(object, &["kind"])?;
    let (group, version) = split_api_version(api_version);
    let check = checker(group, kind)?;

    // As in gitops-engine, an object that is being deleted is progressing
    // (towards its disappearance), whatever its kind-specific status says.
    if is_set(get(object, &["metadata", "deletionTimestamp"])) {
        return Some(progressing("pending deletion"));
    }
    Some(check(object, version))
}

type Check = fn(&Value, &str) -> Health;

/// The assessment function for a (group, kind); `None` outside [`KINDS`].
fn checker(group: &str, kind: &str) -> Option<Check> {
    let check: Check = match (group, kind) {
        ("apps", "Deployment") => deployment,
        ("apps", "StatefulSet") => stateful_set,
        ("apps", "DaemonSet") => daemon_set,
        ("apps", "ReplicaSet") => replica_set,
        ("", "Pod") => pod,
        ("", "Service") => service,
        ("", "PersistentVolumeClaim") => pvc,
        ("", "Namespace") => namespace,
        ("batch", "Job") => job,
        ("networking.k8s.io" | "extensions", "Ingress") => ingress,
        ("autoscaling", "HorizontalPodAutoscaler") => hpa,
        ("apiregistration.k8s.io", "APIService") => api_service,
        ("apiextensions.k8s.io", "CustomResourceDefinition") => crd,
        _ => return None,
    };
    Some(check)
}

/// `apps/v1` → (`apps`, `v1`); `v1` → (``, `v1`).
fn split_api_version(api_version: &str) -> (&str, &str) {
    match api_version.split_once('/') {
        Some((group, version)) => (group, version),
        None => ("", api_version),
    }
}

// ---------------------------------------------------------------------------
// Constructors and JSON accessors
// ---------------------------------------------------------------------------

fn health(status: Status, message: impl Into<String>) -> Health {
    Health { status, message: message.into() }
}

fn healthy(message: impl Into<String>) -> Health {
    health(Status::Healthy, message)
}

fn progressing(message: impl Into<String>) -> Health {
    health(Status::Progressing, message)
}

fn degraded(message: impl Into<String>) -> Health {
    health(Status::Degraded, message)
}

/// The value at `path`. Kubernetes objects have small maps (a handful to a few dozen keys),
/// where comparing keys in order is cheaper than hashing the one looked for (serde_json's
/// ordered map hashes with SipHash; inside WebAssembly this was a tenth of a health batch).
fn get<'a>(value: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter()
        .try_fold(value, |cur, key| cur.as_object()?.iter().find(|(k, _)| k.as_str() == *key).map(|(_, v)| v))
}

/// A string at `path`.
fn str_at<'a>(value: &'a Value, path: &[&str]) -> Option<&'a str> {
    get(value, path)?.as_str()
}

/// A non-empty string at `path`.
fn nonempty_str_at<'a>(value: &'a Value, path: &[&str]) -> Option<&'a str> {
    str_at(value, path).filter(|s| !s.is_empty())
}

/// An integer at `path`; floats with no fractional part are accepted,
/// anything else (strings, objects, ...) counts as absent.
fn int_at(value: &Value, path: &[&str]) -> Option<i64> {
    let v = get(value, path)?;
    if let Some(i) = v.as_i64() {
        return Some(i);
    }
    if v.as_u64().is_some() {
        return Some(i64::MAX);
    }
    let f = v.as_f64()?;
    if f.is_finite() && f.fract() == 0.0 {
        // `as` saturates at the bounds of i64.
        Some(f as i64)
    } else {
        None
    }
}

fn bool_at(value: &Value, path: &[&str]) -> bool {
    get(value, path).and_then(Value::as_bool).unwrap_or(false)
}

/// A field that is present with a meaningful value (not null, not "").
fn is_set(value: Option<&Value>) -> bool {
    match value {
        None | Some(Value::Null) => false,
        Some(Value::String(s)) => !s.is_empty(),
        Some(_) => true,
    }
}

/// A non-empty JSON array at `path`.
fn nonempty_array_at(value: &Value, path: &[&str]) -> bool {
    get(value, path).and_then(Value::as_array).is_some_and(|a| !a.is_empty())
}

/// One entry of a `status.conditions` list; missing fields read as "".
#[derive(Debug, Clone, Copy)]
struct Condition<'a> {
    kind: &'a str,
    status: &'a str,
    reason: &'a str,
    message: &'a str,
}

impl Condition<'_> {
    fn is_true(&self) -> bool {
        self.status == "True"
    }

    fn is_false(&self) -> bool {
        self.status == "False"
    }

    /// `reason: message`, leaving out whichever is empty.
    fn detail(&self) -> String {
        join_detail(self.reason, self.message)
    }
}

/// The conditions in `list` (anything that is not an array gives none;
/// entries that are not objects are skipped).
fn conditions_of(list: Option<&Value>) -> Vec<Condition<'_>> {
    let Some(items) = list.and_then(Value::as_array) else {
        return Vec::new();
    };
    items
        .iter()
        .filter(|item| item.is_object())
        .map(|item| Condition {
            kind: str_at(item, &["type"]).unwrap_or(""),
            status: str_at(item, &["status"]).unwrap_or(""),
            reason: str_at(item, &["reason"]).unwrap_or(""),
            message: str_at(item, &["message"]).unwrap_or(""),
        })
        .collect()
}

fn status_conditions(object: &Value) -> Vec<Condition<'_>> {
    conditions_of(get(object, &["status", "conditions"]))
}

fn find<'a, 'c>(conditions: &'c [Condition<'a>], kind: &str) -> Option<&'c Condition<'a>> {
    conditions.iter().find(|c| c.kind == kind)
}

fn join_detail(reason: &str, message: &str) -> String {
    match (reason.is_empty(), message.is_empty()) {
        (false, false) => format!("{reason}: {message}"),
        (false, true) => reason.to_string(),
        (true, false) => message.to_string(),
        (true, true) => String::new(),
    }
}

/// `prefix: detail`, or just `prefix` when there is no detail.
fn with_detail(prefix: &str, detail: &str) -> String {
    if detail.is_empty() { prefix.to_string() } else { format!("{prefix}: {detail}") }
}

/// Progressing when the controller has not yet observed the latest spec.
fn unobserved_generation(object: &Value) -> Option<Health> {
    let generation = int_at(object, &["metadata", "generation"])?;
    let observed = int_at(object, &["status", "observedGeneration"]).unwrap_or(0);
    (observed < generation).then(|| {
        progressing(format!(
            "waiting for the controller to observe generation {generation} (observed {observed})"
        ))
    })
}

// ---------------------------------------------------------------------------
// apps
// ---------------------------------------------------------------------------

fn deployment(d: &Value, _version: &str) -> Health {
    if bool_at(d, &["spec", "paused"]) {
        return health(Status::Suspended, "deployment is paused");
    }
    if let Some(h) = unobserved_generation(d) {
        return h;
    }
    let conditions = status_conditions(d);
    if let Some(c) = find(&conditions, "Progressing")
        && c.reason == "ProgressDeadlineExceeded"
    {
        return degraded(with_detail("rollout exceeded its progress deadline", c.message));
    }
    let desired = int_at(d, &["spec", "replicas"]).unwrap_or(1);
    let updated = int_at(d, &["status", "updatedReplicas"]).unwrap_or(0);
    let current = int_at(d, &["status", "replicas"]).unwrap_or(0);
    let available = int_at(d, &["status", "availableReplicas"]).unwrap_or(0);
    if updated < desired {
        return progressing(format!("waiting for rollout: {updated} of {desired} replicas updated"));
    }
    if current > updated {
        return progressing(format!(
            "waiting for rollout: {} old replicas pending termination",
            current.saturating_sub(updated)
        ));
    }
    if available < updated {
        return progressing(format!(
            "waiting for rollout: {available} of {updated} updated replicas are available"
        ));
    }
    healthy(format!("{available} of {desired} replicas updated and available"))
}

fn stateful_set(s: &Value, _version: &str) -> Health {
    if let Some(h) = unobserved_generation(s) {
        return h;
    }
    let desired = int_at(s, &["spec", "replicas"]).unwrap_or(1);
    let ready = int_at(s, &["status", "readyReplicas"]).unwrap_or(0);
    let updated = int_at(s, &["status", "updatedReplicas"]).unwrap_or(0);
    if ready < desired {
        return progressing(format!("waiting for pods: {ready} of {desired} ready"));
    }
    let strategy = str_at(s, &["spec", "updateStrategy", "type"]).unwrap_or("RollingUpdate");
    if strategy == "OnDelete" {
        return healthy(format!("{ready} of {desired} pods ready (OnDelete update strategy)"));
    }
    if strategy == "RollingUpdate"
        && let Some(partition) = int_at(s, &["spec", "updateStrategy", "rollingUpdate", "partition"])
    {
        let target = desired.saturating_sub(partition.max(0)).max(0);
        if updated < target {
            return progressing(format!(
                "waiting for partitioned rollout: {updated} of {target} pods updated (partition {partition})"
            ));
        }
        return healthy(format!(
            "rollout complete: {updated} pods updated, {ready} of {desired} ready (partition {partition})"
        ));
    }
    let current_rev = str_at(s, &["status", "currentRevision"]).unwrap_or("");
    let update_rev = str_at(s, &["status", "updateRevision"]).unwrap_or("");
    if current_rev != update_rev {
        return progressing(format!(
            "waiting for rolling update: {updated} of {desired} pods at revision {update_rev} (current revision {current_rev})"
        ));
    }
    if update_rev.is_empty() {
        healthy(format!("{ready} of {desired} pods ready"))
    } else {
        healthy(format!("{ready} of {desired} pods ready at revision {update_rev}"))
    }
}

fn daemon_set(d: &Value, _version: &str) -> Health {
    if let Some(h) = unobserved_generation(d) {
        return h;
    }
    let desired = int_at(d, &["status", "desiredNumberScheduled"]).unwrap_or(0);
    let updated = int_at(d, &["status", "updatedNumberScheduled"]).unwrap_or(0);
    let available = int_at(d, &["status", "numberAvailable"]).unwrap_or(0);
    if str_at(d, &["spec", "updateStrategy", "type"]) == Some("OnDelete") {
        return healthy(format!("{updated} of {desired} pods updated (OnDelete update strategy)"));
    }
    if updated < desired {
        return progressing(format!("waiting for rollout: {updated} of {desired} pods updated"));
    }
    if available < desired {
        return progressing(format!("waiting for rollout: {available} of {desired} pods available"));
    }
    healthy(format!("{available} of {desired} pods updated and available"))
}

fn replica_set(r: &Value, _version: &str) -> Health {
    if let Some(h) = unobserved_generation(r) {
        return h;
    }
    let conditions = status_conditions(r);
    if let Some(c) = find(&conditions, "ReplicaFailure")
        && c.is_true()
    {
        return degraded(with_detail("replica failure", &c.detail()));
    }
    let desired = int_at(r, &["spec", "replicas"]).unwrap_or(1);
    let available = int_at(r, &["status", "availableReplicas"]).unwrap_or(0);
    if available < desired {
        return progressing(format!("waiting for replicas: {available} of {desired} available"));
    }
    healthy(format!("{available} of {desired} replicas available"))
}

// ---------------------------------------------------------------------------
// core
// ---------------------------------------------------------------------------

/// Waiting reasons that mean a container cannot start on its own.
fn is_bad_waiting_reason(reason: &str) -> bool {
    const KNOWN: &[&str] = &[
        "CrashLoopBackOff",
        "ErrImagePull",
        "ImagePullBackOff",
        "ErrImageNeverPull",
        "CreateContainerConfigError",
        "CreateContainerError",
        "InvalidImageName",
        "RunContainerError",
        "PreStartHookError",
        "PostStartHookError",
        "RegistryUnavailable",
    ];
    KNOWN.contains(&reason)
        || reason.starts_with("Err")
        || reason.ends_with("Error")
        || reason.ends_with("BackOff")
}

/// A container status entry with the label used in messages.
struct ContainerStatus<'a> {
    label: String,
    value: &'a Value,
}

fn container_statuses(p: &Value) -> Vec<ContainerStatus<'_>> {
    let mut out = Vec::new();
    for (field, what) in [("initContainerStatuses", "init container"), ("containerStatuses", "container")] {
        let Some(items) = get(p, &["status", field]).and_then(Value::as_array) else {
            continue;
        };
        for item in items.iter().filter(|i| i.is_object()) {
            let name = str_at(item, &["name"]).unwrap_or("?");
            out.push(ContainerStatus { label: format!("{what} {name:?}"), value: item });
        }
    }
    out
}

/// Why a terminated container failed, if it did.
fn termination_detail(terminated: &Value) -> Option<String> {
    if !terminated.is_object() {
        return None;
    }
    let message = nonempty_str_at(terminated, &["message"]);
    let reason = nonempty_str_at(terminated, &["reason"]);
    let exit_code = int_at(terminated, &["exitCode"]).unwrap_or(0);
    if let Some(message) = message {
        return Some(message.to_string());
    }
    match (reason, exit_code) {
        (Some("Completed"), 0) | (None, 0) => None,
        (Some(reason), 0) => Some(reason.to_string()),
        (Some(reason), code) => Some(format!("{reason} (exit code {code})")),
        (None, code) => Some(format!("exit code {code}")),
    }
}

fn pod(p: &Value, _version: &str) -> Health {
    let phase = str_at(p, &["status", "phase"]).unwrap_or("");
    let pod_message = str_at(p, &["status", "message"]).unwrap_or("");
    let pod_reason = str_at(p, &["status", "reason"]).unwrap_or("");
    let restart_policy = str_at(p, &["spec", "restartPolicy"]).unwrap_or("Always");
    let statuses = container_statuses(p);

    match phase {
        "Succeeded" => return healthy(with_detail("pod completed successfully", pod_message)),
        "Failed" => {
            let detail = if !pod_message.is_empty() {
                join_detail(pod_reason, pod_message)
            } else {
                statuses
                    .iter()
                    .find_map(|c| {
                        let t = get(c.value, &["state", "terminated"])?;
                        termination_detail(t).map(|d| format!("{} {d}", c.label))
                    })
                    .unwrap_or_else(|| pod_reason.to_string())
            };
            return degraded(with_detail("pod failed", &detail));
        }
        _ => {}
    }

    // Containers stuck in a bad waiting state. As in gitops-engine this only
    // applies to pods that restart forever: a run-once pod (a hook, a job's
    // pod) may still recover, e.g. once its image is pushed.
    if restart_policy == "Always" {
        let bad: Vec<String> = statuses
            .iter()
            .filter_map(|c| {
                let waiting = get(c.value, &["state", "waiting"])?;
                let reason = str_at(waiting, &["reason"])?;
                if !is_bad_waiting_reason(reason) {
                    return None;
                }
                let message = str_at(waiting, &["message"]).unwrap_or("");
                Some(format!("{} is waiting: {}", c.label, join_detail(reason, message)))
            })
            .collect();
        if !bad.is_empty() {
            return degraded(bad.join("; "));
        }
    }

    match phase {
        "Running" => running_pod(p, restart_policy, pod_message),
        "Pending" => {
            let detail = join_detail(pod_reason, pod_message);
            let detail = if detail.is_empty() { unscheduled_detail(p) } else { detail };
            progressing(with_detail("pod is pending", &detail))
        }
        "Unknown" => health(
            Status::Unknown,
            with_detail("pod state is unknown", &join_detail(pod_reason, pod_message)),
        ),
        "" => progressing("pod has no status yet"),
        other => health(Status::Unknown, format!("unrecognised pod phase {other:?}")),
    }
}

/// The message of a `PodScheduled` condition that is not True, if any.
fn unscheduled_detail(p: &Value) -> String {
    let conditions = status_conditions(p);
    find(&conditions, "PodScheduled").filter(|c| !c.is_true()).map(|c| c.detail()).unwrap_or_default()
}

fn running_pod(p: &Value, restart_policy: &str, pod_message: &str) -> Health {
    if restart_policy != "Always" {
        // Run-once pods are on their way to completion.
        return progressing(format!("pod is running (restartPolicy {restart_policy})"));
    }
    let containers: Vec<&Value> = get(p, &["status", "containerStatuses"])
        .and_then(Value::as_array)
        .map(|a| a.iter().filter(|c| c.is_object()).collect())
        .unwrap_or_default();
    let total = containers.len();
    let ready_count = containers.iter().filter(|c| bool_at(c, &["ready"])).count();
    let conditions = status_conditions(p);
    let ready = match find(&conditions, "Ready") {
        Some(c) => c.is_true(),
        None => total > 0 && ready_count == total,
    };
    if ready {
        return healthy(with_detail(
            &if total > 0 {
                format!("pod is running, {ready_count} of {total} containers ready")
            } else {
                "pod is running and ready".to_string()
            },
            pod_message,
        ));
    }
    // Not ready after a container has already died once: it is failing
    // rather than starting up.
    for c in &containers {
        if bool_at(c, &["ready"]) {
            continue;
        }
        if let Some(t) = get(c, &["lastState", "terminated"]).filter(|t| t.is_object()) {
            let name = str_at(c, &["name"]).unwrap_or("?");
            let detail = termination_detail(t).unwrap_or_else(|| "terminated".to_string());
            return degraded(format!("container {name:?} is not ready and last terminated: {detail}"));
        }
    }
    progressing(format!("waiting for containers: {ready_count} of {total} ready"))
}

/// The first load-balancer address (ip or hostname) in `status.loadBalancer.ingress`.
fn load_balancer_address(object: &Value) -> Option<String> {
    if !nonempty_array_at(object, &["status", "loadBalancer", "ingress"]) {
        return None;
    }
    let first =
        get(object, &["status", "loadBalancer", "ingress"]).and_then(Value::as_array).and_then(|a| a.first());
    let address = first
        .and_then(|f| nonempty_str_at(f, &["ip"]).or_else(|| nonempty_str_at(f, &["hostname"])))
        .unwrap_or("assigned");
    Some(address.to_string())
}

fn service(s: &Value, _version: &str) -> Health {
    let service_type = str_at(s, &["spec", "type"]).unwrap_or("ClusterIP");
    if service_type != "LoadBalancer" {
        return healthy(format!("service of type {service_type}"));
    }
    match load_balancer_address(s) {
        Some(address) => healthy(format!("load balancer ready at {address}")),
        None => progressing("waiting for a load balancer address"),
    }
}

fn pvc(c: &Value, _version: &str) -> Health {
    let volume = nonempty_str_at(c, &["spec", "volumeName"]);
    match str_at(c, &["status", "phase"]) {
        Some("Bound") => healthy(match volume {
            Some(v) => format!("claim is bound to volume {v}"),
            None => "claim is bound".to_string(),
        }),
        Some("Pending") => progressing("claim is pending: waiting for a volume"),
        Some("Lost") => degraded(match volume {
            Some(v) => format!("claim lost its volume {v}"),
            None => "claim lost its volume".to_string(),
        }),
        None | Some("") => progressing("claim has no status yet"),
        Some(other) => health(Status::Unknown, format!("unrecognised claim phase {other:?}")),
    }
}

fn namespace(n: &Value, _version: &str) -> Health {
    match str_at(n, &["status", "phase"]) {
        Some("Active") => healthy("namespace is active"),
        Some("Terminating") => progressing("namespace is terminating"),
        None | Some("") => healthy("namespace has no status; assumed usable"),
        Some(other) => health(Status::Unknown, format!("unrecognised namespace phase {other:?}")),
    }
}

// ---------------------------------------------------------------------------
// batch, networking
// ---------------------------------------------------------------------------

fn job(j: &Value, _version: &str) -> Health {
    let conditions = status_conditions(j);
    let active = int_at(j, &["status", "active"]).unwrap_or(0);
    let succeeded = int_at(j, &["status", "succeeded"]).unwrap_or(0);
    let failed = int_at(j, &["status", "failed"]).unwrap_or(0);

    // FailureTarget is set (Kubernetes 1.31+) as soon as the job is bound to
    // fail, before its pods are gone and Failed is added.
    if let Some(c) =
        conditions.iter().find(|c| c.is_true() && (c.kind == "Failed" || c.kind == "FailureTarget"))
    {
        return degraded(with_detail("job failed", &c.detail()));
    }
    if let Some(c) =
        conditions.iter().find(|c| c.is_true() && (c.kind == "Complete" || c.kind == "SuccessCriteriaMet"))
    {
        let summary = format!("job completed: {succeeded} succeeded");
        return healthy(with_detail(&summary, c.message));
    }
    let suspended_condition = find(&conditions, "Suspended").filter(|c| c.is_true());
    if bool_at(j, &["spec", "suspend"]) || suspended_condition.is_some() {
        let detail = suspended_condition.map(|c| c.detail()).unwrap_or_default();
        return health(Status::Suspended, with_detail("job is suspended", &detail));
    }
    progressing(format!("job is running: {active} active, {succeeded} succeeded, {failed} failed"))
}

fn ingress(i: &Value, _version: &str) -> Health {
    match load_balancer_address(i) {
        Some(address) => healthy(format!("ingress has load balancer address {address}")),
        None => progressing("waiting for a load balancer address"),
    }
}

// ---------------------------------------------------------------------------
// autoscaling
// ---------------------------------------------------------------------------

const HPA_CONDITIONS_ANNOTATION: &str = "autoscaling.alpha.kubernetes.io/conditions";

fn hpa(h: &Value, _version: &str) -> Health {
    // autoscaling/v1 has no status.conditions; the API server exposes them as
    // a JSON string in an annotation. v2 (and v2beta*) carry them in status.
    // Both sources are consulted whatever the version, status first.
    let parsed: Value;
    let mut conditions = status_conditions(h);
    if conditions.is_empty()
        && let Some(raw) =
            get(h, &["metadata", "annotations", HPA_CONDITIONS_ANNOTATION]).and_then(Value::as_str)
    {
        match serde_json::from_str::<Value>(raw) {
            Ok(v) => {
                parsed = v;
                conditions = conditions_of(Some(&parsed));
            }
            Err(_) => {
                return health(
                    Status::Unknown,
                    format!("cannot parse the {HPA_CONDITIONS_ANNOTATION} annotation"),
                );
            }
        }
    }

    let failing = conditions.iter().find(|c| {
        (c.kind == "AbleToScale" || c.kind == "ScalingActive")
            && c.is_false()
            && (c.reason.starts_with("Failed") || c.reason.starts_with("Invalid"))
    });
    if let Some(c) = failing {
        return degraded(with_detail(&format!("{} is False", c.kind), &c.detail()));
    }
    if conditions.is_empty() {
        return progressing("waiting for the autoscaler to report its conditions");
    }
    let current = int_at(h, &["status", "currentReplicas"]).unwrap_or(0);
    let desired = int_at(h, &["status", "desiredReplicas"]).unwrap_or(current);
    let mut message = format!("autoscaling: {current} current, {desired} desired replicas");
    if let Some(c) = find(&conditions, "ScalingLimited").filter(|c| c.is_true()) {
        message = with_detail(&message, &with_detail("limited", c.reason));
    }
    healthy(message)
}

// ---------------------------------------------------------------------------
// apiregistration, apiextensions
// ---------------------------------------------------------------------------

fn api_service(a: &Value, _version: &str) -> Health {
    let conditions = status_conditions(a);
    match find(&conditions, "Available") {
        Some(c) if c.is_true() => healthy(with_detail("available", &c.detail())),
        // gitops-engine reports an unavailable APIService as Progressing too.
        Some(c) => progressing(with_detail("not available", &c.detail())),
        None => progressing("waiting for the Available condition"),
    }
}

fn crd(c: &Value, _version: &str) -> Health {
    let conditions = status_conditions(c);
    if let Some(cond) = find(&conditions, "NamesAccepted").filter(|x| x.is_false()) {
        return degraded(with_detail("names not accepted", &cond.detail()));
    }
    if let Some(cond) = find(&conditions, "Terminating").filter(|x| x.is_true()) {
        return progressing(with_detail("being terminated", &cond.detail()));
    }
    if let Some(cond) = find(&conditions, "NonStructuralSchema").filter(|x| x.is_true()) {
        return degraded(with_detail("schema is not structural", &cond.detail()));
    }
    match find(&conditions, "Established") {
        Some(cond) if cond.is_true() => healthy("established"),
        Some(cond) => progressing(with_detail("not established yet", &cond.detail())),
        None => progressing("waiting for the Established condition"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(v: &Value) -> Health {
        match assess_both_ways(v) {
            Some(h) => h,
            None => panic!("expected an assessment for {v}"),
        }
    }

    /// `assess` of the whole object, checked against what the compiled plugin answers for the
    /// object's JSON text, which it parses with the projection of `HealthCore::READS`: a field
    /// `assess` reads that READS leaves out makes them differ.
    fn assess_both_ways(v: &Value) -> Option<Health> {
        let full = assess(v);
        let text = v.to_string();
        let projected = driftless_plugin_sdk::testing::assess::<crate::HealthCore>(&text);
        match driftless_plugin_sdk::Object::from_value(v.clone()) {
            Ok(_) => {
                let full_sdk = full.as_ref().map(|h| (format!("{:?}", h.status), h.message.clone()));
                let projected = projected.map(|h| (format!("{:?}", h.status), h.message));
                assert_eq!(full_sdk, projected, "projection changed the answer for {text}");
            }
            // Not an object: the plugin says so, without assessing it.
            Err(e) => {
                let h = projected.unwrap_or_else(|| panic!("no answer for {text}"));
                assert_eq!(h.message, format!("not a Kubernetes object: {e}"), "{text}");
            }
        }
        full
    }

    #[track_caller]
    fn check(v: Value, status: Status, fragment: &str) {
        let h = run(&v);
        assert_eq!(h.status, status, "wrong status: {h:?}");
        assert!(h.message.contains(fragment), "message {:?} lacks {fragment:?}", h.message);
    }

    // ----- dispatch and apiVersion parsing --------------------------------

    #[test]
    fn api_version_is_split_into_group_and_version() {
        assert_eq!(split_api_version("apps/v1"), ("apps", "v1"));
        assert_eq!(split_api_version("v1"), ("", "v1"));
        assert_eq!(split_api_version("extensions/v1beta1"), ("extensions", "v1beta1"));
        assert_eq!(split_api_version("networking.k8s.io/v1"), ("networking.k8s.io", "v1"));
        assert_eq!(split_api_version(""), ("", ""));
    }

    #[test]
    fn group_decides_the_kind() {
        let dep = |api: &str| {
            json!({"apiVersion": api, "kind": "Deployment", "spec": {"replicas": 1},
            "status": {"replicas": 1, "updatedReplicas": 1, "availableReplicas": 1}})
        };
        check(dep("apps/v1"), Status::Healthy, "1 of 1");
        check(dep("apps/v1beta2"), Status::Healthy, "1 of 1");
        // A Deployment in the core group or in another group is not ours.
        assert_eq!(assess(&dep("v1")), None);
        assert_eq!(assess(&dep("example.com/v1")), None);
        // Ingress from extensions/v1beta1 is assessed like networking.k8s.io.
        let ing = |api: &str| {
            json!({"apiVersion": api, "kind": "Ingress",
            "status": {"loadBalancer": {"ingress": [{"ip": "10.0.0.1"}]}}})
        };
        check(ing("extensions/v1beta1"), Status::Healthy, "10.0.0.1");
        check(ing("networking.k8s.io/v1"), Status::Healthy, "10.0.0.1");
        assert_eq!(assess(&ing("v1")), None);
        // Pod is core only.
        check(
            json!({"apiVersion": "v1", "kind": "Pod", "status": {"phase": "Succeeded"}}),
            Status::Healthy,
            "completed",
        );
        assert_eq!(assess(&json!({"apiVersion": "apps/v1", "kind": "Pod"})), None);
    }

    #[test]
    fn unknown_kinds_give_none() {
        for v in [
            json!({"apiVersion": "v1", "kind": "ConfigMap"}),
            json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout"}),
            json!({"apiVersion": "batch/v1", "kind": "CronJob"}),
            json!({"apiVersion": "apps/v1", "kind": "deployment"}),
            json!({"kind": "Pod"}),
            json!({"apiVersion": "v1"}),
            json!({"apiVersion": 1, "kind": "Pod"}),
            json!({"apiVersion": "v1", "kind": ["Pod"]}),
            json!(null),
            json!("Pod"),
            json!([{"apiVersion": "v1", "kind": "Pod"}]),
        ] {
            assert_eq!(assess(&v), None, "{v}");
        }
    }

    #[test]
    fn every_listed_kind_is_assessed() {
        for (group, kind) in KINDS {
            assert!(checker(group, kind).is_some(), "{group}/{kind}");
            let api = if group.is_empty() { "v1".to_string() } else { format!("{group}/v1") };
            let h = assess(&json!({"apiVersion": api, "kind": kind}));
            assert!(h.is_some(), "{group}/{kind}");
        }
        assert!(checker("", "ConfigMap").is_none());
    }

    #[test]
    fn deletion_timestamp_means_progressing_for_every_kind() {
        for (group, kind) in KINDS {
            let api = if group.is_empty() { "v1".to_string() } else { format!("{group}/v1") };
            let v = json!({"apiVersion": api, "kind": kind,
                "metadata": {"deletionTimestamp": "2024-01-01T00:00:00Z"}});
            check(v, Status::Progressing, "pending deletion");
        }
        // A null deletionTimestamp is not a deletion.
        check(
            json!({"apiVersion": "v1", "kind": "Namespace",
                "metadata": {"deletionTimestamp": null}, "status": {"phase": "Active"}}),
            Status::Healthy,
            "active",
        );
    }

    // ----- Deployment -------------------------------------------------------

    fn deployment(spec: Value, status: Value, generation: i64) -> Value {
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "generation": generation},
            "spec": spec, "status": status})
    }

    #[test]
    fn deployment_healthy() {
        check(
            deployment(
                json!({"replicas": 3}),
                json!({"observedGeneration": 2, "replicas": 3, "updatedReplicas": 3,
                    "readyReplicas": 3, "availableReplicas": 3}),
                2,
            ),
            Status::Healthy,
            "3 of 3 replicas updated and available",
        );
    }

    #[test]
    fn deployment_replicas_default_to_one() {
        check(
            deployment(json!({}), json!({"observedGeneration": 1}), 1),
            Status::Progressing,
            "0 of 1 replicas updated",
        );
        check(
            deployment(
                json!({}),
                json!({"observedGeneration": 1, "replicas": 1, "updatedReplicas": 1,
                    "availableReplicas": 1}),
                1,
            ),
            Status::Healthy,
            "1 of 1",
        );
    }

    #[test]
    fn deployment_scaled_to_zero_is_healthy() {
        check(
            deployment(json!({"replicas": 0}), json!({"observedGeneration": 1}), 1),
            Status::Healthy,
            "0 of 0",
        );
    }

    #[test]
    fn deployment_generation_not_observed() {
        check(
            deployment(
                json!({"replicas": 3}),
                json!({"observedGeneration": 1, "replicas": 3, "updatedReplicas": 3,
                    "availableReplicas": 3}),
                2,
            ),
            Status::Progressing,
            "waiting for the controller to observe generation 2",
        );
        // No status at all yet.
        check(
            deployment(json!({"replicas": 3}), json!(null), 1),
            Status::Progressing,
            "observe generation 1 (observed 0)",
        );
    }

    #[test]
    fn deployment_rollout_progressing() {
        let spec = json!({"replicas": 3});
        check(
            deployment(
                spec.clone(),
                json!({"observedGeneration": 1, "replicas": 4, "updatedReplicas": 1,
                    "availableReplicas": 3}),
                1,
            ),
            Status::Progressing,
            "waiting for rollout: 1 of 3 replicas updated",
        );
        check(
            deployment(
                spec.clone(),
                json!({"observedGeneration": 1, "replicas": 5, "updatedReplicas": 3,
                    "availableReplicas": 3}),
                1,
            ),
            Status::Progressing,
            "2 old replicas pending termination",
        );
        check(
            deployment(
                spec,
                json!({"observedGeneration": 1, "replicas": 3, "updatedReplicas": 3,
                    "availableReplicas": 1}),
                1,
            ),
            Status::Progressing,
            "waiting for rollout: 1 of 3 updated replicas are available",
        );
    }

    #[test]
    fn deployment_progress_deadline_exceeded_is_degraded() {
        check(
            deployment(
                json!({"replicas": 3}),
                json!({"observedGeneration": 1, "replicas": 3, "updatedReplicas": 1,
                    "conditions": [
                        {"type": "Available", "status": "True"},
                        {"type": "Progressing", "status": "False",
                         "reason": "ProgressDeadlineExceeded",
                         "message": "ReplicaSet \"web-5d\" has timed out progressing."}]}),
                1,
            ),
            Status::Degraded,
            "exceeded its progress deadline: ReplicaSet \"web-5d\" has timed out",
        );
    }

    #[test]
    fn deployment_paused_is_suspended() {
        check(
            deployment(
                json!({"replicas": 3, "paused": true}),
                json!({"observedGeneration": 1, "updatedReplicas": 0}),
                3,
            ),
            Status::Suspended,
            "paused",
        );
    }

    // ----- StatefulSet ------------------------------------------------------

    fn sts(spec: Value, status: Value) -> Value {
        json!({"apiVersion": "apps/v1", "kind": "StatefulSet",
            "metadata": {"name": "db", "generation": 1}, "spec": spec, "status": status})
    }

    #[test]
    fn statefulset_healthy_rolling_update() {
        check(
            sts(
                json!({"replicas": 3, "updateStrategy": {"type": "RollingUpdate",
                    "rollingUpdate": {"partition": 0}}}),
                json!({"observedGeneration": 1, "replicas": 3, "readyReplicas": 3,
                    "updatedReplicas": 3, "currentRevision": "db-1", "updateRevision": "db-1"}),
            ),
            Status::Healthy,
            "3 pods updated, 3 of 3 ready",
        );
        // No strategy block: revisions decide.
        check(
            sts(
                json!({"replicas": 2}),
                json!({"observedGeneration": 1, "readyReplicas": 2, "updatedReplicas": 2,
                    "currentRevision": "db-7", "updateRevision": "db-7"}),
            ),
            Status::Healthy,
            "2 of 2 pods ready at revision db-7",
        );
    }

    #[test]
    fn statefulset_waiting_for_ready_pods() {
        check(
            sts(json!({"replicas": 3}), json!({"observedGeneration": 1, "readyReplicas": 1})),
            Status::Progressing,
            "waiting for pods: 1 of 3 ready",
        );
    }

    #[test]
    fn statefulset_partitioned_rollout() {
        let spec = json!({"replicas": 5, "updateStrategy": {"type": "RollingUpdate",
            "rollingUpdate": {"partition": 2}}});
        check(
            sts(
                spec.clone(),
                json!({"observedGeneration": 1, "readyReplicas": 5, "updatedReplicas": 1,
                    "currentRevision": "db-1", "updateRevision": "db-2"}),
            ),
            Status::Progressing,
            "1 of 3 pods updated (partition 2)",
        );
        // Updated up to the partition: done, though revisions differ by design.
        check(
            sts(
                spec,
                json!({"observedGeneration": 1, "readyReplicas": 5, "updatedReplicas": 3,
                    "currentRevision": "db-1", "updateRevision": "db-2"}),
            ),
            Status::Healthy,
            "rollout complete: 3 pods updated",
        );
    }

    #[test]
    fn statefulset_revision_mismatch_is_progressing() {
        check(
            sts(
                json!({"replicas": 3, "updateStrategy": {"type": "RollingUpdate"}}),
                json!({"observedGeneration": 1, "readyReplicas": 3, "updatedReplicas": 1,
                    "currentRevision": "db-1", "updateRevision": "db-2"}),
            ),
            Status::Progressing,
            "1 of 3 pods at revision db-2 (current revision db-1)",
        );
    }

    #[test]
    fn statefulset_on_delete_is_healthy_once_ready() {
        let spec = json!({"replicas": 2, "updateStrategy": {"type": "OnDelete"}});
        check(
            sts(
                spec.clone(),
                json!({"observedGeneration": 1, "readyReplicas": 2, "updatedReplicas": 0,
                    "currentRevision": "db-1", "updateRevision": "db-2"}),
            ),
            Status::Healthy,
            "2 of 2 pods ready (OnDelete",
        );
        check(
            sts(spec, json!({"observedGeneration": 1, "readyReplicas": 1})),
            Status::Progressing,
            "1 of 2 ready",
        );
    }

    #[test]
    fn statefulset_generation_not_observed() {
        let mut v = sts(json!({"replicas": 1}), json!({"observedGeneration": 3, "readyReplicas": 1}));
        if let Some(m) = v.pointer_mut("/metadata/generation") {
            *m = json!(4);
        }
        check(v, Status::Progressing, "observe generation 4 (observed 3)");
    }

    // ----- DaemonSet --------------------------------------------------------

    fn ds(strategy: &str, status: Value) -> Value {
        json!({"apiVersion": "apps/v1", "kind": "DaemonSet",
            "metadata": {"name": "agent", "generation": 2},
            "spec": {"updateStrategy": {"type": strategy}}, "status": status})
    }

    #[test]
    fn daemonset_healthy() {
        check(
            ds(
                "RollingUpdate",
                json!({"observedGeneration": 2, "desiredNumberScheduled": 3,
                    "updatedNumberScheduled": 3, "numberAvailable": 3}),
            ),
            Status::Healthy,
            "3 of 3 pods updated and available",
        );
    }

    #[test]
    fn daemonset_progressing() {
        check(
            ds(
                "RollingUpdate",
                json!({"observedGeneration": 2, "desiredNumberScheduled": 3,
                    "updatedNumberScheduled": 1, "numberAvailable": 3}),
            ),
            Status::Progressing,
            "waiting for rollout: 1 of 3 pods updated",
        );
        check(
            ds(
                "RollingUpdate",
                json!({"observedGeneration": 2, "desiredNumberScheduled": 3,
                    "updatedNumberScheduled": 3, "numberAvailable": 2}),
            ),
            Status::Progressing,
            "2 of 3 pods available",
        );
        check(
            ds("RollingUpdate", json!({"observedGeneration": 1})),
            Status::Progressing,
            "observe generation 2 (observed 1)",
        );
    }

    #[test]
    fn daemonset_on_delete_is_healthy() {
        check(
            ds(
                "OnDelete",
                json!({"observedGeneration": 2, "desiredNumberScheduled": 3,
                    "updatedNumberScheduled": 1, "numberAvailable": 3}),
            ),
            Status::Healthy,
            "1 of 3 pods updated (OnDelete",
        );
    }

    // ----- ReplicaSet -------------------------------------------------------

    fn rs(replicas: Value, status: Value) -> Value {
        json!({"apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": "web-5d", "generation": 1},
            "spec": {"replicas": replicas}, "status": status})
    }

    #[test]
    fn replicaset_healthy() {
        check(
            rs(json!(2), json!({"observedGeneration": 1, "replicas": 2, "availableReplicas": 2})),
            Status::Healthy,
            "2 of 2 replicas available",
        );
    }

    #[test]
    fn replicaset_progressing() {
        check(
            rs(json!(3), json!({"observedGeneration": 1, "replicas": 3, "availableReplicas": 1})),
            Status::Progressing,
            "1 of 3 available",
        );
        check(rs(json!(3), json!({})), Status::Progressing, "observe generation 1");
    }

    #[test]
    fn replicaset_replica_failure_is_degraded() {
        check(
            rs(
                json!(3),
                json!({"observedGeneration": 1, "availableReplicas": 0, "conditions": [
                    {"type": "ReplicaFailure", "status": "True", "reason": "FailedCreate",
                     "message": "pods \"web-5d-x\" is forbidden: exceeded quota"}]}),
            ),
            Status::Degraded,
            "replica failure: FailedCreate: pods \"web-5d-x\" is forbidden",
        );
        // A ReplicaFailure condition that is False does not degrade.
        check(
            rs(
                json!(1),
                json!({"observedGeneration": 1, "availableReplicas": 1, "conditions": [
                    {"type": "ReplicaFailure", "status": "False"}]}),
            ),
            Status::Healthy,
            "1 of 1",
        );
    }

    // ----- Pod --------------------------------------------------------------

    fn pod(spec: Value, status: Value) -> Value {
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
            "spec": spec, "status": status})
    }

    #[test]
    fn pod_running_and_ready_is_healthy() {
        check(
            pod(
                json!({}),
                json!({"phase": "Running",
                    "conditions": [{"type": "Ready", "status": "True"}],
                    "containerStatuses": [
                        {"name": "app", "ready": true, "state": {"running": {}}},
                        {"name": "side", "ready": true, "state": {"running": {}}}]}),
            ),
            Status::Healthy,
            "2 of 2 containers ready",
        );
        // Without a Ready condition, all containers ready is enough.
        check(
            pod(
                json!({"restartPolicy": "Always"}),
                json!({"phase": "Running", "containerStatuses": [
                    {"name": "app", "ready": true}]}),
            ),
            Status::Healthy,
            "1 of 1 containers ready",
        );
    }

    #[test]
    fn pod_ready_condition_without_container_statuses() {
        check(
            pod(json!({}), json!({"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]})),
            Status::Healthy,
            "pod is running and ready",
        );
        check(pod(json!({}), json!({"phase": "Running"})), Status::Progressing, "0 of 0 ready");
    }

    #[test]
    fn pod_succeeded_is_healthy() {
        check(
            pod(json!({"restartPolicy": "Never"}), json!({"phase": "Succeeded"})),
            Status::Healthy,
            "completed successfully",
        );
    }

    #[test]
    fn pod_pending_and_not_ready_are_progressing() {
        check(
            pod(
                json!({}),
                json!({"phase": "Pending", "conditions": [{"type": "PodScheduled",
                    "status": "False", "reason": "Unschedulable",
                    "message": "0/3 nodes are available"}]}),
            ),
            Status::Progressing,
            "pod is pending: Unschedulable: 0/3 nodes are available",
        );
        check(
            pod(
                json!({}),
                json!({"phase": "Running",
                    "conditions": [{"type": "Ready", "status": "False"}],
                    "containerStatuses": [
                        {"name": "app", "ready": false, "state": {"running": {}}},
                        {"name": "side", "ready": true, "state": {"running": {}}}]}),
            ),
            Status::Progressing,
            "waiting for containers: 1 of 2 ready",
        );
        check(
            pod(
                json!({"restartPolicy": "OnFailure"}),
                json!({"phase": "Running", "containerStatuses": [{"name": "a", "ready": true}]}),
            ),
            Status::Progressing,
            "restartPolicy OnFailure",
        );
        check(pod(json!({}), json!(null)), Status::Progressing, "no status");
    }

    #[test]
    fn pod_deleting_is_progressing() {
        let mut v = pod(json!({}), json!({"phase": "Running"}));
        if let Some(m) = v.pointer_mut("/metadata") {
            *m = json!({"name": "p", "deletionTimestamp": "2024-05-01T10:00:00Z"});
        }
        check(v, Status::Progressing, "pending deletion");
    }

    #[test]
    fn pod_failed_is_degraded_with_a_message() {
        check(
            pod(
                json!({"restartPolicy": "Never"}),
                json!({"phase": "Failed", "reason": "Evicted",
                    "message": "The node was low on resource: memory."}),
            ),
            Status::Degraded,
            "pod failed: Evicted: The node was low on resource: memory.",
        );
        check(
            pod(
                json!({"restartPolicy": "Never"}),
                json!({"phase": "Failed", "containerStatuses": [
                    {"name": "ok", "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}},
                    {"name": "main", "state": {"terminated": {"exitCode": 137, "reason": "OOMKilled"}}}]}),
            ),
            Status::Degraded,
            "container \"main\" OOMKilled (exit code 137)",
        );
        check(
            pod(
                json!({"restartPolicy": "Never"}),
                json!({"phase": "Failed", "initContainerStatuses": [
                    {"name": "migrate", "state": {"terminated": {"exitCode": 2}}}]}),
            ),
            Status::Degraded,
            "init container \"migrate\" exit code 2",
        );
        check(pod(json!({}), json!({"phase": "Failed"})), Status::Degraded, "pod failed");
    }

    #[test]
    fn pod_bad_waiting_containers_are_degraded() {
        for reason in [
            "CrashLoopBackOff",
            "ErrImagePull",
            "ImagePullBackOff",
            "CreateContainerConfigError",
            "InvalidImageName",
            "CreateContainerError",
            "RunContainerError",
        ] {
            check(
                pod(
                    json!({}),
                    json!({"phase": "Pending", "containerStatuses": [
                        {"name": "ok", "ready": false, "state": {"waiting": {"reason": "ContainerCreating"}}},
                        {"name": "app", "ready": false, "state": {"waiting": {
                            "reason": reason, "message": "it broke"}}}]}),
                ),
                Status::Degraded,
                &format!("container \"app\" is waiting: {reason}: it broke"),
            );
        }
        // Init containers count too, and several are all named.
        let v = pod(
            json!({}),
            json!({"phase": "Pending",
                "initContainerStatuses": [{"name": "init", "state": {"waiting": {"reason": "CrashLoopBackOff"}}}],
                "containerStatuses": [{"name": "app", "state": {"waiting": {"reason": "ImagePullBackOff"}}}]}),
        );
        let h = run(&v);
        assert_eq!(h.status, Status::Degraded);
        assert!(h.message.contains("init container \"init\" is waiting: CrashLoopBackOff"), "{h:?}");
        assert!(h.message.contains("container \"app\" is waiting: ImagePullBackOff"), "{h:?}");
    }

    #[test]
    fn pod_bad_waiting_does_not_degrade_run_once_pods() {
        check(
            pod(
                json!({"restartPolicy": "Never"}),
                json!({"phase": "Pending", "containerStatuses": [
                    {"name": "hook", "state": {"waiting": {"reason": "ImagePullBackOff"}}}]}),
            ),
            Status::Progressing,
            "pod is pending",
        );
    }

    #[test]
    fn pod_not_ready_after_a_crash_is_degraded() {
        check(
            pod(
                json!({}),
                json!({"phase": "Running",
                    "conditions": [{"type": "Ready", "status": "False"}],
                    "containerStatuses": [{"name": "app", "ready": false,
                        "state": {"running": {}},
                        "lastState": {"terminated": {"exitCode": 1, "reason": "Error"}}}]}),
            ),
            Status::Degraded,
            "container \"app\" is not ready and last terminated: Error (exit code 1)",
        );
    }

    #[test]
    fn pod_unknown_phase_is_unknown() {
        check(
            pod(json!({}), json!({"phase": "Unknown", "message": "node lost"})),
            Status::Unknown,
            "node lost",
        );
        check(pod(json!({}), json!({"phase": "Sleeping"})), Status::Unknown, "\"Sleeping\"");
    }

    // ----- Service ----------------------------------------------------------

    fn svc(spec: Value, status: Value) -> Value {
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"},
            "spec": spec, "status": status})
    }

    #[test]
    fn service_cluster_ip_is_healthy() {
        check(svc(json!({"type": "ClusterIP"}), json!({})), Status::Healthy, "ClusterIP");
        check(svc(json!({}), json!(null)), Status::Healthy, "ClusterIP");
        check(svc(json!({"type": "NodePort"}), json!({})), Status::Healthy, "NodePort");
    }

    #[test]
    fn service_load_balancer() {
        check(
            svc(json!({"type": "LoadBalancer"}), json!({"loadBalancer": {}})),
            Status::Progressing,
            "waiting for a load balancer address",
        );
        check(
            svc(json!({"type": "LoadBalancer"}), json!({"loadBalancer": {"ingress": []}})),
            Status::Progressing,
            "waiting for a load balancer",
        );
        check(
            svc(
                json!({"type": "LoadBalancer"}),
                json!({"loadBalancer": {"ingress": [{"hostname": "lb.example.com"}]}}),
            ),
            Status::Healthy,
            "lb.example.com",
        );
    }

    // ----- Ingress ----------------------------------------------------------

    #[test]
    fn ingress_health() {
        let ing = |status: Value| {
            json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": {"name": "i"}, "status": status})
        };
        check(ing(json!({"loadBalancer": {"ingress": [{"ip": "192.0.2.7"}]}})), Status::Healthy, "192.0.2.7");
        check(ing(json!({"loadBalancer": {"ingress": [{}]}})), Status::Healthy, "assigned");
        check(ing(json!({"loadBalancer": {}})), Status::Progressing, "load balancer address");
        check(ing(json!(null)), Status::Progressing, "load balancer address");
    }

    // ----- PersistentVolumeClaim -------------------------------------------

    fn claim(phase: Value) -> Value {
        json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": {"name": "data"}, "spec": {"volumeName": "pv-1"},
            "status": {"phase": phase}})
    }

    #[test]
    fn pvc_health() {
        check(claim(json!("Bound")), Status::Healthy, "bound to volume pv-1");
        check(claim(json!("Pending")), Status::Progressing, "pending");
        check(claim(json!("Lost")), Status::Degraded, "lost its volume pv-1");
        check(claim(json!("Weird")), Status::Unknown, "\"Weird\"");
        check(json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim"}), Status::Progressing, "no status");
    }

    // ----- Namespace --------------------------------------------------------

    #[test]
    fn namespace_health() {
        let ns = |status: Value| {
            json!({"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": "team"}, "status": status})
        };
        check(ns(json!({"phase": "Active"})), Status::Healthy, "active");
        check(ns(json!({"phase": "Terminating"})), Status::Progressing, "terminating");
        check(ns(json!(null)), Status::Healthy, "no status");
        check(json!({"apiVersion": "v1", "kind": "Namespace"}), Status::Healthy, "assumed usable");
        check(ns(json!({"phase": "Odd"})), Status::Unknown, "\"Odd\"");
    }

    // ----- Job --------------------------------------------------------------

    fn job(spec: Value, status: Value) -> Value {
        json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j"},
            "spec": spec, "status": status})
    }

    #[test]
    fn job_complete_is_healthy() {
        check(
            job(
                json!({}),
                json!({"succeeded": 1, "conditions": [
                    {"type": "SuccessCriteriaMet", "status": "True"},
                    {"type": "Complete", "status": "True"}]}),
            ),
            Status::Healthy,
            "job completed: 1 succeeded",
        );
        check(
            job(
                json!({}),
                json!({"succeeded": 2, "conditions": [
                {"type": "SuccessCriteriaMet", "status": "True", "message": "criteria met"}]}),
            ),
            Status::Healthy,
            "criteria met",
        );
    }

    #[test]
    fn job_running_is_progressing() {
        check(
            job(json!({}), json!({"active": 2, "succeeded": 1})),
            Status::Progressing,
            "2 active, 1 succeeded, 0 failed",
        );
        check(job(json!({}), json!(null)), Status::Progressing, "job is running");
    }

    #[test]
    fn job_failed_is_degraded() {
        check(
            job(
                json!({}),
                json!({"failed": 6, "conditions": [{"type": "Failed", "status": "True",
                    "reason": "BackoffLimitExceeded",
                    "message": "Job has reached the specified backoff limit"}]}),
            ),
            Status::Degraded,
            "job failed: BackoffLimitExceeded: Job has reached the specified backoff limit",
        );
        check(
            job(
                json!({}),
                json!({"conditions": [{"type": "FailureTarget", "status": "True",
                    "reason": "DeadlineExceeded"}]}),
            ),
            Status::Degraded,
            "DeadlineExceeded",
        );
    }

    #[test]
    fn job_suspended() {
        check(job(json!({"suspend": true}), json!({})), Status::Suspended, "suspended");
        check(
            job(
                json!({}),
                json!({"conditions": [{"type": "Suspended", "status": "True",
                    "reason": "JobSuspended", "message": "Job suspended"}]}),
            ),
            Status::Suspended,
            "job is suspended: JobSuspended",
        );
        // A finished job stays finished even if marked suspended.
        check(
            job(json!({"suspend": true}), json!({"conditions": [{"type": "Complete", "status": "True"}]})),
            Status::Healthy,
            "completed",
        );
    }

    // ----- HorizontalPodAutoscaler -----------------------------------------

    fn hpa_v2(status: Value) -> Value {
        json!({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "h"}, "status": status})
    }

    fn hpa_v1(conditions: &str) -> Value {
        json!({"apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "h", "annotations": {HPA_CONDITIONS_ANNOTATION: conditions}},
            "status": {"currentReplicas": 2, "desiredReplicas": 2}})
    }

    #[test]
    fn hpa_v2_healthy() {
        check(
            hpa_v2(json!({"currentReplicas": 3, "desiredReplicas": 4, "conditions": [
                {"type": "AbleToScale", "status": "True", "reason": "SucceededRescale"},
                {"type": "ScalingActive", "status": "True", "reason": "ValidMetricFound"},
                {"type": "ScalingLimited", "status": "False", "reason": "DesiredWithinRange"}]})),
            Status::Healthy,
            "3 current, 4 desired replicas",
        );
        check(
            hpa_v2(json!({"currentReplicas": 10, "desiredReplicas": 10, "conditions": [
                {"type": "AbleToScale", "status": "True", "reason": "ReadyForNewScale"},
                {"type": "ScalingLimited", "status": "True", "reason": "TooManyReplicas"}]})),
            Status::Healthy,
            "limited: TooManyReplicas",
        );
    }

    #[test]
    fn hpa_v2_failing_condition_is_degraded() {
        check(
            hpa_v2(json!({"conditions": [
                {"type": "AbleToScale", "status": "True", "reason": "SucceededGetScale"},
                {"type": "ScalingActive", "status": "False", "reason": "FailedGetResourceMetric",
                 "message": "unable to get metrics for resource cpu"}]})),
            Status::Degraded,
            "ScalingActive is False: FailedGetResourceMetric: unable to get metrics for resource cpu",
        );
        check(
            hpa_v2(json!({"conditions": [
                {"type": "ScalingActive", "status": "False", "reason": "InvalidSelector"}]})),
            Status::Degraded,
            "InvalidSelector",
        );
        check(
            hpa_v2(json!({"conditions": [
                {"type": "AbleToScale", "status": "False", "reason": "FailedGetScale",
                 "message": "deployments/scale \"x\" not found"}]})),
            Status::Degraded,
            "not found",
        );
        // Scaling disabled on purpose (target at zero) is not a failure.
        check(
            hpa_v2(json!({"conditions": [
                {"type": "ScalingActive", "status": "False", "reason": "ScalingDisabled"}]})),
            Status::Healthy,
            "autoscaling",
        );
    }

    #[test]
    fn hpa_without_conditions_is_progressing() {
        check(hpa_v2(json!({})), Status::Progressing, "waiting for the autoscaler");
        check(
            json!({"apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler"}),
            Status::Progressing,
            "waiting for the autoscaler",
        );
        check(hpa_v1("[]"), Status::Progressing, "waiting for the autoscaler");
    }

    #[test]
    fn hpa_v1_reads_the_annotation() {
        check(
            hpa_v1(
                r#"[{"type":"AbleToScale","status":"True","reason":"SucceededRescale"},
                {"type":"ScalingActive","status":"True","reason":"ValidMetricFound"}]"#,
            ),
            Status::Healthy,
            "2 current, 2 desired",
        );
        check(
            hpa_v1(
                r#"[{"type":"AbleToScale","status":"True","reason":"SucceededGetScale"},
                {"type":"ScalingActive","status":"False","reason":"FailedGetResourceMetric",
                 "message":"missing request for cpu"}]"#,
            ),
            Status::Degraded,
            "missing request for cpu",
        );
        check(hpa_v1("not json ["), Status::Unknown, "cannot parse");
        // Valid JSON of the wrong shape: no usable conditions.
        check(hpa_v1(r#"{"type":"AbleToScale"}"#), Status::Progressing, "waiting");
    }

    // ----- APIService -------------------------------------------------------

    fn apisvc(status: Value) -> Value {
        json!({"apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService",
            "metadata": {"name": "v1beta1.metrics.k8s.io"}, "status": status})
    }

    #[test]
    fn apiservice_health() {
        check(
            apisvc(json!({"conditions": [{"type": "Available", "status": "True",
                "reason": "Passed", "message": "all checks passed"}]})),
            Status::Healthy,
            "available: Passed: all checks passed",
        );
        check(
            apisvc(json!({"conditions": [{"type": "Available", "status": "False",
                "reason": "MissingEndpoints", "message": "endpoints for service/metrics-server have no addresses"}]})),
            Status::Progressing,
            "not available: MissingEndpoints: endpoints for service/metrics-server",
        );
        check(apisvc(json!({})), Status::Progressing, "waiting for the Available condition");
    }

    // ----- CustomResourceDefinition ----------------------------------------

    fn crd(conditions: Value) -> Value {
        json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": "widgets.example.com"}, "status": {"conditions": conditions}})
    }

    #[test]
    fn crd_health() {
        check(
            crd(json!([{"type": "NamesAccepted", "status": "True"},
                {"type": "Established", "status": "True"}])),
            Status::Healthy,
            "established",
        );
        check(
            crd(json!([{"type": "NamesAccepted", "status": "True"},
                {"type": "Established", "status": "False", "reason": "Installing",
                 "message": "the initial names have been accepted"}])),
            Status::Progressing,
            "not established yet: Installing",
        );
        check(crd(json!([])), Status::Progressing, "waiting for the Established condition");
        check(
            crd(json!([{"type": "NamesAccepted", "status": "False",
                "reason": "MultipleNamesConflict", "message": "\"widget\" is already in use"},
                {"type": "Established", "status": "False"}])),
            Status::Degraded,
            "names not accepted: MultipleNamesConflict",
        );
        check(
            crd(json!([{"type": "Established", "status": "True"},
                {"type": "NonStructuralSchema", "status": "True", "message": "spec.x: Required"}])),
            Status::Degraded,
            "schema is not structural",
        );
        check(
            crd(json!([{"type": "Established", "status": "True"},
                {"type": "Terminating", "status": "True", "reason": "InstanceDeletionInProgress"}])),
            Status::Progressing,
            "being terminated: InstanceDeletionInProgress",
        );
    }

    // ----- malformed input --------------------------------------------------

    #[test]
    fn malformed_status_and_fields_do_not_panic() {
        // status a string
        check(
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "status": "broken"}),
            Status::Progressing,
            "0 of 1 replicas updated",
        );
        // replicas a string counts as absent (default 1)
        check(
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "spec": {"replicas": "3"},
                "status": {"replicas": 1, "updatedReplicas": 1, "availableReplicas": 1}}),
            Status::Healthy,
            "1 of 1",
        );
        // conditions not a list
        check(
            json!({"apiVersion": "batch/v1", "kind": "Job",
                "status": {"conditions": {"type": "Complete", "status": "True"}}}),
            Status::Progressing,
            "job is running",
        );
        check(
            json!({"apiVersion": "apps/v1", "kind": "ReplicaSet", "spec": {"replicas": 1},
                "status": {"availableReplicas": 1, "conditions": ["ReplicaFailure", 3, null]}}),
            Status::Healthy,
            "1 of 1",
        );
        // no metadata
        check(
            json!({"apiVersion": "v1", "kind": "Pod", "status": {"phase": "Running",
                "containerStatuses": [{"ready": true}]}}),
            Status::Healthy,
            "1 of 1 containers ready",
        );
        // metadata of the wrong type
        check(
            json!({"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": "x",
                "status": {"desiredNumberScheduled": 1, "updatedNumberScheduled": 1,
                    "numberAvailable": 1}}),
            Status::Healthy,
            "1 of 1 pods",
        );
        // generation a string: the check is skipped
        check(
            json!({"apiVersion": "apps/v1", "kind": "StatefulSet",
                "metadata": {"generation": "2"}, "spec": {"replicas": 1},
                "status": {"readyReplicas": 1}}),
            Status::Healthy,
            "1 of 1 pods ready",
        );
        // floats and extreme numbers
        check(
            json!({"apiVersion": "apps/v1", "kind": "Deployment",
                "spec": {"replicas": 2.0},
                "status": {"replicas": 2, "updatedReplicas": 2, "availableReplicas": 1.5}}),
            Status::Progressing,
            "0 of 2 updated replicas are available",
        );
        check(
            json!({"apiVersion": "apps/v1", "kind": "StatefulSet",
                "spec": {"replicas": i64::MIN,
                    "updateStrategy": {"rollingUpdate": {"partition": i64::MAX}}},
                "status": {"readyReplicas": u64::MAX}}),
            Status::Healthy,
            "partition",
        );
        check(
            json!({"apiVersion": "apps/v1", "kind": "Deployment",
                "spec": {"replicas": i64::MIN},
                "status": {"replicas": i64::MAX, "updatedReplicas": i64::MIN}}),
            Status::Progressing,
            "old replicas pending termination",
        );
    }

    /// Every kind's fixtures, for the systematic robustness test below.
    fn fixtures() -> Vec<Value> {
        vec![
            deployment(
                json!({"replicas": 3, "paused": false}),
                json!({"observedGeneration": 1, "replicas": 3, "updatedReplicas": 3,
                    "availableReplicas": 3, "conditions": [{"type": "Progressing",
                    "status": "True", "reason": "NewReplicaSetAvailable"}]}),
                1,
            ),
            sts(
                json!({"replicas": 3, "updateStrategy": {"type": "RollingUpdate",
                    "rollingUpdate": {"partition": 1}}}),
                json!({"observedGeneration": 1, "readyReplicas": 3, "updatedReplicas": 2,
                    "currentRevision": "a", "updateRevision": "b"}),
            ),
            ds(
                "OnDelete",
                json!({"observedGeneration": 2, "desiredNumberScheduled": 3,
                "updatedNumberScheduled": 3, "numberAvailable": 3}),
            ),
            rs(
                json!(2),
                json!({"observedGeneration": 1, "availableReplicas": 2,
                "conditions": [{"type": "ReplicaFailure", "status": "True"}]}),
            ),
            pod(
                json!({"restartPolicy": "Always"}),
                json!({"phase": "Running", "reason": "r", "message": "m",
                    "conditions": [{"type": "Ready", "status": "False"}],
                    "initContainerStatuses": [{"name": "i", "state": {"terminated": {"exitCode": 1}}}],
                    "containerStatuses": [{"name": "a", "ready": false,
                        "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "m"}},
                        "lastState": {"terminated": {"exitCode": 1, "reason": "Error"}}}]}),
            ),
            svc(json!({"type": "LoadBalancer"}), json!({"loadBalancer": {"ingress": [{"ip": "1.2.3.4"}]}})),
            claim(json!("Bound")),
            json!({"apiVersion": "v1", "kind": "Namespace", "status": {"phase": "Active"}}),
            job(
                json!({"suspend": false}),
                json!({"active": 1, "conditions": [
                {"type": "Failed", "status": "True", "reason": "r", "message": "m"}]}),
            ),
            json!({"apiVersion": "extensions/v1beta1", "kind": "Ingress",
                "status": {"loadBalancer": {"ingress": [{"hostname": "h"}]}}}),
            hpa_v2(json!({"currentReplicas": 1, "conditions": [
                {"type": "ScalingActive", "status": "False", "reason": "FailedGetResourceMetric"}]})),
            hpa_v1(r#"[{"type":"ScalingActive","status":"False","reason":"FailedGetResourceMetric"}]"#),
            apisvc(json!({"conditions": [{"type": "Available", "status": "True"}]})),
            crd(json!([{"type": "Established", "status": "True"}])),
        ]
    }

    fn paths(v: &Value, prefix: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
        out.push(prefix.clone());
        match v {
            Value::Object(map) => {
                for (k, child) in map {
                    prefix.push(k.clone());
                    paths(child, prefix, out);
                    prefix.pop();
                }
            }
            Value::Array(items) => {
                for (i, child) in items.iter().enumerate() {
                    prefix.push(i.to_string());
                    paths(child, prefix, out);
                    prefix.pop();
                }
            }
            _ => {}
        }
    }

    fn pointer(path: &[String]) -> String {
        path.iter().map(|p| format!("/{p}")).collect()
    }

    #[test]
    fn any_field_of_any_type_is_assessed_without_panicking() {
        let replacements = [
            json!(null),
            json!(true),
            json!(-1),
            json!(0),
            json!(i64::MAX),
            json!(i64::MIN),
            json!(u64::MAX),
            json!(1.5),
            json!(-1e300),
            json!(""),
            json!("Running"),
            json!("True"),
            json!([]),
            json!([null, "x", 1, {}]),
            json!({}),
            json!({"type": "Complete", "status": "True"}),
        ];
        let mut count = 0;
        for fixture in fixtures() {
            let original = run(&fixture);
            assert_ne!(original.status, Status::Missing);
            let mut all = Vec::new();
            paths(&fixture, &mut Vec::new(), &mut all);
            for path in all {
                for replacement in &replacements {
                    let mut v = fixture.clone();
                    if path.is_empty() {
                        v = replacement.clone();
                    } else if let Some(slot) = v.pointer_mut(&pointer(&path)) {
                        *slot = replacement.clone();
                    }
                    let kind_changed =
                        matches!(path.first().map(String::as_str), None | Some("apiVersion" | "kind"));
                    match assess_both_ways(&v) {
                        Some(h) => assert_ne!(h.status, Status::Missing, "{v}"),
                        None => assert!(kind_changed, "lost the kind for {v}"),
                    }
                    count += 1;
                }
            }
        }
        assert!(count > 1000, "only {count} variants checked");
    }

    #[test]
    fn missing_is_never_produced() {
        for fixture in fixtures() {
            assert_ne!(run(&fixture).status, Status::Missing);
        }
        // The variant exists for the host.
        assert_ne!(Status::Missing, Status::Unknown);
    }
}
