//! The HTTP API: routing of Kubernetes paths, the verbs, discovery, OpenAPI and tables.

use std::collections::HashMap;
use std::convert::Infallible;
use std::ops::Bound;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Query, Request, State as AxState};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use tokio::sync::{Notify, broadcast, watch};

use crate::error::ApiError;
use crate::fields::{self, Scope, Writer};
use crate::merge::strategic_merge;
use crate::registry::{ResourceType, types_of_crd};
use crate::select::{FieldSelector, LabelSelector};
use crate::store::{Event, EventType, State};
use crate::table;
use crate::util;

/// The media type of aggregated discovery responses.
const AGGREGATED_V2: &str = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";

/// The largest request body accepted (Kubernetes' own limit is 3 MiB per object).
pub const MAX_BODY: usize = 3 << 20;
/// The most objects the store holds (memory stays bounded; ~17 KiB each at the benchmark's
/// object size, history included).
pub const MAX_OBJECTS: usize = 100_000;
/// The longest a watch stays open.
pub const MAX_WATCH: Duration = Duration::from_secs(3600);

/// What every request handler shares.
#[derive(Debug)]
pub struct Shared {
    /// The store.
    pub state: Mutex<State>,
    /// The bearer token clients must present.
    pub token: String,
    /// How often watches that ask for bookmarks get one.
    pub bookmark_interval: Duration,
    /// Woken after every change, for the persister.
    pub changed: Notify,
    /// Flips to true on shutdown; open watches end.
    pub shutdown: watch::Receiver<bool>,
}

impl Shared {
    /// Lock the store. A panic while holding the lock cannot leave it half-written (every
    /// operation computes its result before it stores it), so a poisoned lock is taken over.
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// A JSON response.
pub fn json_response(code: StatusCode, value: &Value) -> Response {
    let body = serde_json::to_vec(value).unwrap_or_default();
    (code, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

type ApiResult = Result<Response, ApiError>;
type Params = HashMap<String, String>;

fn ok(value: &Value) -> ApiResult {
    Ok(json_response(StatusCode::OK, value))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The one handler behind every path.
pub async fn handle(AxState(shared): AxState<Arc<Shared>>, req: Request) -> Response {
    let authorized = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|t| constant_time_eq(t.trim().as_bytes(), shared.token.as_bytes()));
    if !authorized {
        return ApiError::new(401, "Unauthorized", "Unauthorized").into_response();
    }
    let (parts, body) = req.into_parts();
    let params: Params = Query::<Params>::try_from_uri(&parts.uri).map(|q| q.0).unwrap_or_default();
    let body = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(_) => {
            return ApiError::new(
                413,
                "RequestEntityTooLarge",
                format!("request body larger than {MAX_BODY} bytes"),
            )
            .into_response();
        }
    };
    let path = parts.uri.path().to_owned();
    let req = Req { method: parts.method, headers: parts.headers, params, body };
    match route(&shared, &path, req) {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

struct Req {
    method: Method,
    headers: HeaderMap,
    params: Params,
    body: Bytes,
}

impl Req {
    fn param(&self, k: &str) -> Option<&str> {
        self.params.get(k).map(String::as_str).filter(|s| !s.is_empty())
    }

    fn accept(&self) -> &str {
        self.headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or_default()
    }

    /// Whether the client accepts aggregated discovery v2 (kubectl 1.32 asks for it first).
    fn wants_aggregated(&self) -> bool {
        self.accept().split(',').any(|m| {
            let params: Vec<&str> = m.split(';').map(str::trim).collect();
            params.contains(&"g=apidiscovery.k8s.io")
                && params.contains(&"v=v2")
                && params.contains(&"as=APIGroupDiscoveryList")
        })
    }

    fn wants_table(&self) -> bool {
        self.accept().split(',').next().is_some_and(|first| first.contains("as=Table"))
    }

    fn content_type(&self) -> &str {
        self.headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default()
    }

    fn dry_run(&self) -> Result<bool, ApiError> {
        match self.params.get("dryRun").map(String::as_str) {
            None | Some("") => Ok(false),
            Some("All") => Ok(true),
            Some(other) => {
                Err(ApiError::bad_request(format!("unsupported dryRun value {other:?} (only All)")))
            }
        }
    }

    fn manager(&self) -> String {
        if let Some(m) = self.param("fieldManager") {
            return m.to_owned();
        }
        let ua = self.headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or("unknown");
        ua.split('/').next().unwrap_or("unknown").to_owned()
    }

    fn json_body(&self) -> Result<Value, ApiError> {
        if self.body.is_empty() {
            return Err(ApiError::bad_request("the request body is empty"));
        }
        if self.content_type().starts_with("application/vnd.kubernetes.protobuf") {
            return crate::proto::decode(&self.body)
                .map_err(|e| ApiError::new(415, "UnsupportedMediaType", e.0));
        }
        let v: Value = serde_json::from_slice(&self.body)
            .map_err(|e| ApiError::bad_request(format!("the request body is not valid JSON: {e}")))?;
        if !v.is_object() {
            return Err(ApiError::bad_request("the request body must be a JSON object"));
        }
        Ok(v)
    }
}

fn route(shared: &Arc<Shared>, path: &str, req: Req) -> ApiResult {
    let segs: Vec<&str> = path.trim_matches('/').split('/').filter(|s| !s.is_empty()).collect();
    if req.method != Method::GET && !matches!(segs.first(), Some(&"api" | &"apis")) {
        return Err(ApiError::new(
            405,
            "MethodNotAllowed",
            format!("{} is not allowed on {path}", req.method),
        ));
    }
    match segs.as_slice() {
        ["version"] => ok(&json!({
            "major": "1", "minor": "32", "gitVersion": "v1.32.0-driftless-sandbox",
            "gitCommit": "0000000000000000000000000000000000000000", "gitTreeState": "clean",
            "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.23", "compiler": "gc",
            "platform": "linux/amd64"
        })),
        ["healthz" | "livez" | "readyz"] => Ok((StatusCode::OK, "ok").into_response()),
        ["api" | "apis"] if req.wants_aggregated() => {
            let doc = shared.lock().registry.aggregated_discovery(segs[0] == "api");
            let body = serde_json::to_vec(&doc).unwrap_or_default();
            Ok((StatusCode::OK, [(header::CONTENT_TYPE, AGGREGATED_V2)], body).into_response())
        }
        ["api"] => ok(&json!({"kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}]})),
        ["apis"] => ok(&shared.lock().registry.api_group_list()),
        ["api", v] => shared
            .lock()
            .registry
            .api_resource_list("", v)
            .map_or_else(|| Err(ApiError::no_route(path)), |d| ok(&d)),
        ["apis", g] => {
            shared.lock().registry.api_group(g).map_or_else(|| Err(ApiError::no_route(path)), |d| ok(&d))
        }
        ["apis", g, v] => shared
            .lock()
            .registry
            .api_resource_list(g, v)
            .map_or_else(|| Err(ApiError::no_route(path)), |d| ok(&d)),
        ["openapi", "v3"] => ok(&shared.lock().registry.openapi_v3_index()),
        ["openapi", "v3", "api", v] => shared
            .lock()
            .registry
            .openapi_v3_document("", v)
            .map_or_else(|| Err(ApiError::no_route(path)), |d| ok(&d)),
        ["openapi", "v3", "apis", g, v] => shared
            .lock()
            .registry
            .openapi_v3_document(g, v)
            .map_or_else(|| Err(ApiError::no_route(path)), |d| ok(&d)),
        ["api", v, rest @ ..] => resource(shared, "", v, rest, path, req),
        ["apis", g, v, rest @ ..] => resource(shared, g, v, rest, path, req),
        _ => Err(ApiError::no_route(path)),
    }
}

/// A request for objects of one resource type.
struct Target {
    rt: ResourceType,
    /// The namespace in the path, if any.
    ns: Option<String>,
    name: Option<String>,
    sub: Option<String>,
}

impl Target {
    fn ns(&self) -> &str {
        self.ns.as_deref().unwrap_or_default()
    }

    fn name(&self) -> &str {
        self.name.as_deref().unwrap_or_default()
    }
}

fn parse_target(
    state: &State,
    group: &str,
    version: &str,
    rest: &[&str],
    path: &str,
) -> Result<Target, ApiError> {
    let find = |plural: &str| {
        state.registry.find(group, version, plural).cloned().ok_or_else(|| ApiError::no_route(path))
    };
    let (rt, ns, tail) = match rest {
        ["namespaces", ns, plural, tail @ ..]
            if state.registry.find(group, version, plural).is_some_and(|t| t.namespaced) =>
        {
            (find(plural)?, Some((*ns).to_owned()), tail)
        }
        [plural, tail @ ..] => (find(plural)?, None, tail),
        [] => return Err(ApiError::no_route(path)),
    };
    let (name, sub) = match tail {
        [] => (None, None),
        [name] => (Some((*name).to_owned()), None),
        [name, sub] => (Some((*name).to_owned()), Some((*sub).to_owned())),
        _ => return Err(ApiError::no_route(path)),
    };
    if rt.namespaced && ns.is_none() && name.is_some() {
        return Err(ApiError::no_route(path));
    }
    if let Some(s) = &sub {
        let served = (s == "status" && rt.status) || (s == "scale" && rt.scale.is_some());
        if !served {
            return Err(ApiError::no_route(path));
        }
    }
    Ok(Target { rt, ns, name, sub })
}

fn resource(
    shared: &Arc<Shared>,
    group: &str,
    version: &str,
    rest: &[&str],
    path: &str,
    req: Req,
) -> ApiResult {
    let target = {
        let state = shared.lock();
        parse_target(&state, group, version, rest, path)?
    };
    let method = req.method.clone();
    let result = match (&method, target.name.is_some()) {
        (&Method::GET, true) => get(shared, &target, &req),
        (&Method::GET, false) if matches!(req.param("watch"), Some("true" | "1")) => {
            return watch(shared, &target, &req);
        }
        (&Method::GET, false) => list(shared, &target, &req),
        (&Method::POST, false) => create(shared, &target, &req),
        (&Method::PUT, true) => update(shared, &target, &req),
        (&Method::PATCH, true) => patch(shared, &target, &req),
        (&Method::DELETE, true) => delete(shared, &target, &req),
        (&Method::DELETE, false) => delete_collection(shared, &target, &req),
        _ => Err(ApiError::new(405, "MethodNotAllowed", format!("{method} is not allowed on {path}"))),
    };
    if matches!(method, Method::POST | Method::PUT | Method::PATCH | Method::DELETE) {
        shared.changed.notify_one();
    }
    result
}

/// Rewrite `apiVersion` to the version asked for (CRD versions share storage).
fn served(rt: &ResourceType, mut object: Value) -> Value {
    if let Value::Object(m) = &mut object {
        m.insert("apiVersion".into(), json!(rt.api_version()));
    }
    object
}

fn respond_object(req: &Req, rt: &ResourceType, code: StatusCode, object: Value) -> ApiResult {
    if req.wants_table() {
        return Ok(json_response(code, &table::table(rt, &[object], None, req.param("includeObject"))));
    }
    Ok(json_response(code, &served(rt, object)))
}

fn get(shared: &Arc<Shared>, t: &Target, req: &Req) -> ApiResult {
    let state = shared.lock();
    let object = state
        .get(&t.rt.key(), t.ns(), t.name())
        .cloned()
        .ok_or_else(|| ApiError::not_found(&t.rt, t.name()))?;
    drop(state);
    if t.sub.as_deref() == Some("scale") {
        return ok(&scale_view(&t.rt, &object));
    }
    respond_object(req, &t.rt, StatusCode::OK, object)
}

fn selectors(req: &Req) -> Result<(LabelSelector, FieldSelector), ApiError> {
    let labels = LabelSelector::parse(req.param("labelSelector").unwrap_or_default())
        .map_err(|e| ApiError::bad_request(format!("invalid labelSelector: {e}")))?;
    let fields = FieldSelector::parse(req.param("fieldSelector").unwrap_or_default())
        .map_err(|e| ApiError::bad_request(format!("invalid fieldSelector: {e}")))?;
    Ok((labels, fields))
}

fn matching(
    state: &State,
    t: &Target,
    labels: &LabelSelector,
    fields: &FieldSelector,
) -> Vec<((String, String), Value)> {
    state
        .iter_type(&t.rt.key())
        .filter(|((ns, _), o)| {
            t.ns.as_deref().is_none_or(|want| want == ns) && labels.matches(o) && fields.matches(o)
        })
        .map(|(k, o)| (k.clone(), o.clone()))
        .collect()
}

fn list(shared: &Arc<Shared>, t: &Target, req: &Req) -> ApiResult {
    let (labels, fields) = selectors(req)?;
    let limit = match req.param("limit") {
        None => None,
        Some(l) => match l.parse::<usize>() {
            Ok(0) => None,
            Ok(n) => Some(n),
            Err(_) => return Err(ApiError::bad_request(format!("invalid limit {l:?}"))),
        },
    };
    let after = match req.param("continue") {
        None => None,
        Some(c) => {
            let decoded = util::unhex(c).and_then(|b| String::from_utf8(b).ok());
            let Some((ns, name)) = decoded.as_deref().and_then(|d| d.split_once('\u{0}')) else {
                return Err(ApiError::bad_request("invalid continue token"));
            };
            Some((ns.to_owned(), name.to_owned()))
        }
    };
    // Walk the type's objects in key order from the continue point, cloning only the page.
    let (rv, items, remaining) = {
        let state = shared.lock();
        let start = match (&after, &t.ns) {
            (Some(a), Some(ns)) if a.0 < *ns => Bound::Included((ns.clone(), String::new())),
            (Some(a), _) => Bound::Excluded(a.clone()),
            (None, Some(ns)) => Bound::Included((ns.clone(), String::new())),
            (None, None) => Bound::Unbounded,
        };
        let mut items: Vec<((String, String), Value)> = Vec::new();
        let mut remaining = 0usize;
        if let Some(objs) = state.objects.get(&t.rt.key()) {
            for ((ns, name), o) in objs.range((start, Bound::Unbounded)) {
                if t.ns.as_deref().is_some_and(|want| want != ns) {
                    break;
                }
                if !(labels.matches(o) && fields.matches(o)) {
                    continue;
                }
                if limit.is_some_and(|n| items.len() >= n) {
                    remaining += 1;
                } else {
                    items.push(((ns.clone(), name.clone()), o.clone()));
                }
            }
        }
        (state.rv, items, remaining)
    };
    let mut meta = json!({"resourceVersion": rv.to_string()});
    if remaining > 0
        && let Some(((ns, name), _)) = items.last()
    {
        meta["continue"] = json!(util::hex(format!("{ns}\u{0}{name}").as_bytes()));
        meta["remainingItemCount"] = json!(remaining);
    }
    let objects: Vec<Value> = items.into_iter().map(|(_, o)| served(&t.rt, o)).collect();
    if req.wants_table() {
        return ok(&table::table(&t.rt, &objects, Some(meta), req.param("includeObject")));
    }
    ok(&json!({
        "kind": format!("{}List", t.rt.kind),
        "apiVersion": t.rt.api_version(),
        "metadata": meta,
        "items": objects,
    }))
}

fn check_namespace(state: &State, t: &Target, creating: bool) -> Result<(), ApiError> {
    if !t.rt.namespaced {
        return Ok(());
    }
    match state.namespace_phase(t.ns()) {
        None => Err(ApiError::namespace_not_found(t.ns())),
        Some("Terminating") if creating => Err(ApiError::new(
            403,
            "Forbidden",
            format!(
                "{} \"{}\" is forbidden: unable to create new content in namespace {} because it is being terminated",
                t.rt.plural,
                t.name(),
                t.ns()
            ),
        )),
        Some(_) => Ok(()),
    }
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric())
}

/// Check the body's apiVersion, kind, name and namespace against the request; fill in what
/// is missing.
fn check_identity(t: &Target, object: &mut Value, name_from_url: Option<&str>) -> Result<String, ApiError> {
    let Value::Object(map) = object else { return Err(ApiError::bad_request("the body must be an object")) };
    let av = t.rt.api_version();
    match map.get("apiVersion").and_then(Value::as_str) {
        None => {
            map.insert("apiVersion".into(), json!(av));
        }
        Some(v) if v == av || (t.rt.custom && v.starts_with(&format!("{}/", t.rt.group))) => {}
        Some(v) => {
            return Err(ApiError::bad_request(format!(
                "the API version in the data ({v}) does not match the expected API version ({av})"
            )));
        }
    }
    match map.get("kind").and_then(Value::as_str) {
        None => {
            map.insert("kind".into(), json!(t.rt.kind));
        }
        Some(k) if k == t.rt.kind => {}
        Some(k) => {
            return Err(ApiError::bad_request(format!(
                "the kind in the data ({k}) does not match the expected kind ({})",
                t.rt.kind
            )));
        }
    }
    let meta = map.entry("metadata").or_insert_with(|| json!({}));
    let Value::Object(meta) = meta else { return Err(ApiError::bad_request("metadata must be an object")) };
    if let Some(ns) = meta.get("namespace").and_then(Value::as_str)
        && t.rt.namespaced
        && !ns.is_empty()
        && ns != t.ns()
    {
        return Err(ApiError::bad_request(
            "the namespace of the provided object does not match the namespace sent on the request",
        ));
    }
    if t.rt.namespaced {
        meta.insert("namespace".into(), json!(t.ns()));
    } else {
        meta.remove("namespace");
    }
    let mut name = meta.get("name").and_then(Value::as_str).unwrap_or_default().to_owned();
    if name.is_empty() {
        if let Some(url) = name_from_url {
            name = url.to_owned();
        } else if let Some(prefix) = meta.get("generateName").and_then(Value::as_str) {
            let suffix: String = util::random_bytes::<5>()
                .iter()
                .map(|b| char::from(b"bcdfghjklmnpqrstvwxz2456789"[usize::from(*b) % 27]))
                .collect();
            name = format!("{prefix}{suffix}");
        }
        meta.insert("name".into(), json!(name));
    }
    if let Some(url) = name_from_url
        && url != name
    {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({name}) does not match the name on the URL ({url})"
        )));
    }
    if !valid_name(&name) {
        return Err(ApiError::invalid(
            &t.rt,
            &name,
            format!(
                "metadata.name: Invalid value: {name:?}: a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.'"
            ),
        ));
    }
    Ok(name)
}

const META_FIELDS: [&str; 15] = [
    "name",
    "generateName",
    "namespace",
    "selfLink",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "labels",
    "annotations",
    "ownerReferences",
    "finalizers",
    "managedFields",
];

/// The top-level fields a built-in kind has besides apiVersion, kind and metadata; `None`
/// for kinds not checked (custom resources, Event).
fn top_level_fields(rt: &ResourceType) -> Option<&'static [&'static str]> {
    if rt.custom {
        return None;
    }
    Some(match rt.kind.as_str() {
        "ConfigMap" => &["data", "binaryData", "immutable"],
        "Secret" => &["data", "stringData", "type", "immutable"],
        "ServiceAccount" => &["secrets", "imagePullSecrets", "automountServiceAccountToken"],
        "Role" => &["rules"],
        "ClusterRole" => &["rules", "aggregationRule"],
        "RoleBinding" | "ClusterRoleBinding" => &["subjects", "roleRef"],
        "Event" => return None,
        _ => &["spec", "status"],
    })
}

/// `fieldValidation=Strict`: unknown top-level and metadata fields of built-in kinds are a
/// 400, as a real server answers. Deeper fields are not checked (no schemas are served).
fn strict_fields(req: &Req, rt: &ResourceType, object: &Value) -> Result<(), ApiError> {
    if req.param("fieldValidation") != Some("Strict") {
        return Ok(());
    }
    let Some(allowed) = top_level_fields(rt) else { return Ok(()) };
    let Value::Object(map) = object else { return Ok(()) };
    let mut unknown: Vec<String> = map
        .keys()
        .filter(|k| {
            !matches!(k.as_str(), "apiVersion" | "kind" | "metadata") && !allowed.contains(&k.as_str())
        })
        .map(|k| format!("unknown field \"{k}\""))
        .collect();
    if let Some(Value::Object(meta)) = map.get("metadata") {
        unknown.extend(
            meta.keys()
                .filter(|k| !META_FIELDS.contains(&k.as_str()))
                .map(|k| format!("unknown field \"metadata.{k}\"")),
        );
    }
    if unknown.is_empty() {
        return Ok(());
    }
    Err(ApiError::bad_request(format!(
        "{kind} in version \"{v}\" cannot be handled as a {kind}: strict decoding error: {}",
        unknown.join(", "),
        kind = rt.kind,
        v = rt.version
    )))
}

/// Kind-specific defaults and checks on a new or changed object.
fn normalize(rt: &ResourceType, object: &mut Value, name: &str) -> Result<(), ApiError> {
    match (rt.group.as_str(), rt.kind.as_str()) {
        ("", "Namespace") if object.pointer("/status/phase").is_none() => {
            object["status"] = json!({"phase": "Active"});
        }
        ("", "Secret") => {
            if let Some(Value::Object(sd)) = object.as_object_mut().and_then(|m| m.remove("stringData")) {
                use base64::Engine as _;
                if !object.get("data").is_some_and(Value::is_object) {
                    object["data"] = json!({});
                }
                for (k, v) in sd {
                    let text = v.as_str().unwrap_or_default();
                    object["data"][k.as_str()] =
                        json!(base64::engine::general_purpose::STANDARD.encode(text));
                }
            }
            if object.get("type").and_then(Value::as_str).is_none_or(str::is_empty) {
                object["type"] = json!("Opaque");
            }
        }
        ("apps", "Deployment" | "StatefulSet" | "ReplicaSet")
            if object.pointer("/spec/replicas").is_none()
                && object.get("spec").is_some_and(Value::is_object) =>
        {
            object["spec"]["replicas"] = json!(1);
        }
        ("apiextensions.k8s.io", "CustomResourceDefinition") => {
            types_of_crd(object).map_err(|e| ApiError::invalid(rt, name, e.0))?;
            let names = object.pointer("/spec/names").cloned().unwrap_or(Value::Null);
            let now = util::rfc3339(util::now_secs());
            object["status"] = json!({
                "acceptedNames": names,
                "conditions": [
                    {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts", "message": "no conflicts found", "lastTransitionTime": now},
                    {"type": "Established", "status": "True", "reason": "InitialNamesAccepted", "message": "the initial names have been accepted", "lastTransitionTime": now}
                ],
                "storedVersions": object.pointer("/spec/versions").and_then(Value::as_array).map(|vs| vs.iter().filter(|v| v.get("storage").and_then(Value::as_bool) == Some(true)).filter_map(|v| v.get("name").cloned()).collect::<Vec<_>>()).unwrap_or_default(),
            });
        }
        _ => {}
    }
    Ok(())
}

fn strip_server_fields(object: &mut Value) {
    if let Some(Value::Object(meta)) = object.get_mut("metadata") {
        for k in [
            "uid",
            "resourceVersion",
            "creationTimestamp",
            "generation",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "selfLink",
        ] {
            meta.remove(k);
        }
    }
}

fn scope_for(rt: &ResourceType, sub: Option<&str>) -> Scope {
    match sub {
        Some("status") => Scope::StatusOnly,
        _ if rt.status => Scope::NoStatus,
        _ => Scope::All,
    }
}

/// Create a new object (also the create path of server-side apply).
fn create_object(
    state: &mut State,
    t: &Target,
    mut object: Value,
    manager: &str,
    dry_run: bool,
    apply: bool,
) -> Result<Value, ApiError> {
    let name = check_identity(t, &mut object, t.name.as_deref())?;
    let t = Target {
        name: Some(name.clone()),
        ..Target { rt: t.rt.clone(), ns: t.ns.clone(), name: None, sub: None }
    };
    check_namespace(state, &t, true)?;
    let key = t.rt.key();
    if state.get(&key, t.ns(), &name).is_some() {
        return Err(ApiError::already_exists(&t.rt, &name));
    }
    if state.objects.values().map(std::collections::BTreeMap::len).sum::<usize>() >= MAX_OBJECTS {
        return Err(ApiError::new(
            507,
            "InsufficientStorage",
            format!("the sandbox holds its maximum of {MAX_OBJECTS} objects; delete some first"),
        ));
    }
    if !apply {
        strip_server_fields(&mut object);
        if let Some(Value::Object(meta)) = object.get_mut("metadata") {
            meta.remove("managedFields");
        }
    }
    if t.rt.status
        && t.rt.kind != "Namespace"
        && let Value::Object(m) = &mut object
    {
        m.remove("status");
    }
    normalize(&t.rt, &mut object, &name)?;
    let now = util::rfc3339(util::now_secs());
    object["metadata"]["uid"] = json!(util::uuid());
    object["metadata"]["creationTimestamp"] = json!(now);
    object["metadata"]["generation"] = json!(1);
    if !apply {
        let w = Writer {
            manager,
            api_version: &t.rt.api_version(),
            subresource: None,
            custom: t.rt.custom,
            scope: scope_for(&t.rt, None),
            time: &now,
        };
        fields::record_update(None, &mut object, &w);
    }
    if dry_run {
        return Ok(object);
    }
    let stored = state.put(&key, t.ns(), &name, object);
    after_write(state, &t.rt, &stored);
    Ok(stored)
}

/// Side effects of a stored write: CRDs (un)register their types.
fn after_write(state: &mut State, rt: &ResourceType, object: &Value) {
    if rt.key() == "customresourcedefinitions.apiextensions.k8s.io"
        && object.pointer("/metadata/deletionTimestamp").is_none()
        && let (Ok(types), Some(g), Some(p)) = (
            types_of_crd(object),
            object.pointer("/spec/group").and_then(Value::as_str),
            object.pointer("/spec/names/plural").and_then(Value::as_str),
        )
    {
        state.registry.set_crd(g, p, types);
    }
}

fn create(shared: &Arc<Shared>, t: &Target, req: &Req) -> ApiResult {
    let object = req.json_body()?;
    strict_fields(req, &t.rt, &object)?;
    let dry_run = req.dry_run()?;
    let mut state = shared.lock();
    let stored = create_object(&mut state, t, object, &req.manager(), dry_run, false)?;
    drop(state);
    respond_object(req, &t.rt, StatusCode::CREATED, stored)
}

fn without_volatile(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(Value::Object(meta)) = v.get_mut("metadata") {
        meta.remove("resourceVersion");
        if let Some(Value::Array(mf)) = meta.get_mut("managedFields") {
            for e in mf {
                if let Value::Object(e) = e {
                    e.remove("time");
                }
            }
        }
    }
    v
}

fn spec_part(v: &Value) -> Value {
    let mut v = v.clone();
    if let Value::Object(m) = &mut v {
        m.remove("metadata");
        m.remove("status");
    }
    v
}

/// Store a changed object: keep server-owned metadata, bump generation on spec changes,
/// record field ownership (unless `applied`), finish a deletion whose finalizers are gone.
#[allow(clippy::too_many_arguments)]
fn write_existing(
    state: &mut State,
    t: &Target,
    existing: &Value,
    mut new: Value,
    manager: &str,
    dry_run: bool,
    applied: bool,
) -> Result<Value, ApiError> {
    let name = t.name().to_owned();
    let sub = t.sub.as_deref();
    for k in ["uid", "creationTimestamp", "generation", "deletionTimestamp", "deletionGracePeriodSeconds"] {
        match existing.pointer(&format!("/metadata/{k}")) {
            Some(v) => new["metadata"][k] = v.clone(),
            None => {
                if let Some(Value::Object(m)) = new.get_mut("metadata") {
                    m.remove(k);
                }
            }
        }
    }
    new["metadata"]["name"] = json!(name);
    if t.rt.namespaced {
        new["metadata"]["namespace"] = json!(t.ns());
    }
    new["apiVersion"] = existing.get("apiVersion").cloned().unwrap_or_else(|| json!(t.rt.api_version()));
    new["kind"] = json!(t.rt.kind);
    // The main resource cannot change status, and the status subresource only status.
    if sub == Some("status") {
        let status = new.get("status").cloned();
        new = existing.clone();
        match status {
            Some(s) => new["status"] = s,
            None => {
                if let Value::Object(m) = &mut new {
                    m.remove("status");
                }
            }
        }
    } else if t.rt.status {
        match existing.get("status") {
            Some(s) => new["status"] = s.clone(),
            None => {
                if let Value::Object(m) = &mut new {
                    m.remove("status");
                }
            }
        }
    }
    if sub != Some("status") {
        normalize(&t.rt, &mut new, &name)?;
    }
    if t.rt.kind == "Namespace"
        && existing.pointer("/status/phase").and_then(Value::as_str) == Some("Terminating")
    {
        new["status"]["phase"] = json!("Terminating");
    }
    if existing.pointer("/metadata/deletionTimestamp").is_some() {
        let old: Vec<Value> =
            existing.pointer("/metadata/finalizers").and_then(Value::as_array).cloned().unwrap_or_default();
        let added = new
            .pointer("/metadata/finalizers")
            .and_then(Value::as_array)
            .is_some_and(|f| f.iter().any(|x| !old.contains(x)));
        if added {
            return Err(ApiError::invalid(
                &t.rt,
                &name,
                "metadata.finalizers: Forbidden: no new finalizers can be added if the object is being deleted",
            ));
        }
    }
    let generation = existing.pointer("/metadata/generation").and_then(Value::as_i64).unwrap_or(1);
    if spec_part(existing) != spec_part(&new) {
        new["metadata"]["generation"] = json!(generation + 1);
    }
    let now = util::rfc3339(util::now_secs());
    // A client may rewrite managedFields on purpose (kubectl moves client-side-apply
    // ownership to its server-side apply manager this way); then they are kept as sent.
    // Otherwise ownership is derived from what the write changed.
    let sent = new.pointer("/metadata/managedFields").filter(|m| m.as_array().is_some_and(|a| !a.is_empty()));
    let rewritten = sent.is_some_and(|m| Some(m) != existing.pointer("/metadata/managedFields"));
    if rewritten {
        let entries = fields::read_entries(&new);
        if entries.is_empty() {
            return Err(ApiError::invalid(
                &t.rt,
                &name,
                "metadata.managedFields: Invalid value: no valid entries",
            ));
        }
        fields::write_entries(&mut new, &entries);
    } else if !applied {
        if let Some(mf) = existing.pointer("/metadata/managedFields") {
            new["metadata"]["managedFields"] = mf.clone();
        } else if let Some(Value::Object(m)) = new.get_mut("metadata") {
            m.remove("managedFields");
        }
        let w = Writer {
            manager,
            api_version: &t.rt.api_version(),
            subresource: sub,
            custom: t.rt.custom,
            scope: scope_for(&t.rt, sub),
            time: &now,
        };
        fields::record_update(Some(existing), &mut new, &w);
    }
    new["metadata"]["resourceVersion"] =
        existing.pointer("/metadata/resourceVersion").cloned().unwrap_or(Value::Null);
    let finalizers_empty =
        new.pointer("/metadata/finalizers").and_then(Value::as_array).is_none_or(Vec::is_empty);
    let finishing =
        new.pointer("/metadata/deletionTimestamp").is_some() && finalizers_empty && t.rt.kind != "Namespace";
    if dry_run {
        return Ok(new);
    }
    if finishing {
        state.put(&t.rt.key(), t.ns(), &name, new);
        return finish_delete(state, &t.rt, t.ns(), &name).ok_or_else(|| ApiError::not_found(&t.rt, &name));
    }
    if without_volatile(existing) == without_volatile(&new) {
        return Ok(existing.clone());
    }
    let stored = state.put(&t.rt.key(), t.ns(), &name, new);
    after_write(state, &t.rt, &stored);
    Ok(stored)
}

fn check_rv(t: &Target, existing: &Value, new: &Value) -> Result<(), ApiError> {
    let want = new.pointer("/metadata/resourceVersion").and_then(Value::as_str).filter(|s| !s.is_empty());
    let have = existing.pointer("/metadata/resourceVersion").and_then(Value::as_str);
    match want {
        Some(w) if Some(w) != have => Err(ApiError::stale(&t.rt, t.name())),
        _ => Ok(()),
    }
}

fn update(shared: &Arc<Shared>, t: &Target, req: &Req) -> ApiResult {
    let mut body = req.json_body()?;
    let dry_run = req.dry_run()?;
    let mut state = shared.lock();
    check_namespace(&state, t, false)?;
    let existing = state
        .get(&t.rt.key(), t.ns(), t.name())
        .cloned()
        .ok_or_else(|| ApiError::not_found(&t.rt, t.name()))?;
    let new = if t.sub.as_deref() == Some("scale") {
        check_rv(t, &existing, &body)?;
        scale_apply(&t.rt, &existing, &body)?
    } else {
        strict_fields(req, &t.rt, &body)?;
        check_identity(t, &mut body, t.name.as_deref())?;
        check_rv(t, &existing, &body)?;
        body
    };
    let stored = write_existing(&mut state, t, &existing, new, &req.manager(), dry_run, false)?;
    drop(state);
    if t.sub.as_deref() == Some("scale") {
        return ok(&scale_view(&t.rt, &stored));
    }
    respond_object(req, &t.rt, StatusCode::OK, stored)
}

fn apply_body(req: &Req) -> Result<Value, ApiError> {
    let text =
        std::str::from_utf8(&req.body).map_err(|_| ApiError::bad_request("the apply patch is not UTF-8"))?;
    let value = match serde_json::from_str::<Value>(text) {
        Ok(v) => v,
        Err(_) => {
            let docs = driftless_yaml::parse_stream(text)
                .map_err(|e| ApiError::bad_request(format!("the apply patch is not valid YAML: {e}")))?;
            match docs.as_slice() {
                [doc] => doc.value.clone(),
                _ => return Err(ApiError::bad_request("the apply patch must be exactly one document")),
            }
        }
    };
    if !value.is_object() {
        return Err(ApiError::bad_request("the apply patch must be an object"));
    }
    Ok(value)
}

fn patch(shared: &Arc<Shared>, t: &Target, req: &Req) -> ApiResult {
    let dry_run = req.dry_run()?;
    let ctype = req.content_type().split(';').next().unwrap_or_default().trim().to_owned();
    let manager = req.manager();
    let is_apply = ctype == "application/apply-patch+yaml";
    if is_apply && req.param("fieldManager").is_none() {
        return Err(ApiError::bad_request("PATCH with apply requires the fieldManager parameter"));
    }
    let force = matches!(req.param("force"), Some("true" | "1"));
    let mut state = shared.lock();
    check_namespace(&state, t, false)?;
    let existing = state.get(&t.rt.key(), t.ns(), t.name()).cloned();
    let scale = t.sub.as_deref() == Some("scale");
    if is_apply {
        let mut config = apply_body(req)?;
        let sub = t.sub.as_deref();
        if !scale {
            strict_fields(req, &t.rt, &config)?;
            check_identity(t, &mut config, t.name.as_deref())?;
        }
        strip_server_fields(&mut config);
        if let Some(Value::Object(m)) = config.get_mut("metadata") {
            m.remove("managedFields");
        }
        let now = util::rfc3339(util::now_secs());
        let av = t.rt.api_version();
        let w = Writer {
            manager: &manager,
            api_version: &av,
            subresource: sub,
            custom: t.rt.custom,
            scope: scope_for(&t.rt, sub),
            time: &now,
        };
        let Some(existing) = existing else {
            if sub.is_some() {
                return Err(ApiError::not_found(&t.rt, t.name()));
            }
            check_namespace(&state, t, true)?;
            let object =
                fields::apply(None, &config, &w, force).map_err(|c| conflict_error(&t.rt, t.name(), &c))?;
            let stored = create_object(&mut state, t, object, &manager, dry_run, true)?;
            drop(state);
            return respond_object(req, &t.rt, StatusCode::CREATED, stored);
        };
        let base = if scale { scale_view(&t.rt, &existing) } else { existing.clone() };
        let merged = fields::apply(Some(&base), &config, &w, force)
            .map_err(|c| conflict_error(&t.rt, t.name(), &c))?;
        let new = if scale {
            let mut n = scale_apply(&t.rt, &existing, &merged)?;
            n["metadata"]["managedFields"] =
                merged.pointer("/metadata/managedFields").cloned().unwrap_or(Value::Null);
            n
        } else {
            merged
        };
        let stored = write_existing(&mut state, t, &existing, new, &manager, dry_run, true)?;
        drop(state);
        if scale {
            return ok(&scale_view(&t.rt, &stored));
        }
        return respond_object(req, &t.rt, StatusCode::OK, stored);
    }
    let existing = existing.ok_or_else(|| ApiError::not_found(&t.rt, t.name()))?;
    let mut doc = if scale { scale_view(&t.rt, &existing) } else { existing.clone() };
    match ctype.as_str() {
        "application/json-patch+json" => {
            let ops: json_patch::Patch = serde_json::from_slice(&req.body)
                .map_err(|e| ApiError::bad_request(format!("invalid JSON patch: {e}")))?;
            json_patch::patch(&mut doc, &ops).map_err(|e| {
                ApiError::new(422, "Invalid", format!("the JSON patch cannot be applied: {e}"))
            })?;
        }
        "application/merge-patch+json" => {
            let p = req.json_body()?;
            json_patch::merge(&mut doc, &p);
        }
        "application/strategic-merge-patch+json" => {
            if t.rt.custom {
                return Err(ApiError::new(
                    415,
                    "UnsupportedMediaType",
                    "strategic merge patch is not supported for custom resources; use a JSON merge patch",
                ));
            }
            let p = req.json_body()?;
            strategic_merge(&mut doc, &p, false).map_err(|e| ApiError::bad_request(e.to_string()))?;
        }
        other => {
            return Err(ApiError::new(
                415,
                "UnsupportedMediaType",
                format!(
                    "the body of the request was in an unknown format ({other}); accepted: application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json, application/apply-patch+yaml"
                ),
            ));
        }
    }
    if !doc.is_object() {
        return Err(ApiError::bad_request("the patched object is not an object"));
    }
    check_rv(t, &existing, &doc)?;
    let new = if scale {
        scale_apply(&t.rt, &existing, &doc)?
    } else {
        strict_fields(req, &t.rt, &doc)?;
        check_identity(t, &mut doc, t.name.as_deref())?;
        doc
    };
    let stored = write_existing(&mut state, t, &existing, new, &manager, dry_run, false)?;
    drop(state);
    if scale {
        return ok(&scale_view(&t.rt, &stored));
    }
    respond_object(req, &t.rt, StatusCode::OK, stored)
}

fn conflict_error(rt: &ResourceType, name: &str, conflicts: &[fields::Conflict]) -> ApiError {
    let n = conflicts.len();
    let lines: Vec<String> =
        conflicts.iter().map(|c| format!("conflict with \"{}\": {}", c.manager, c.field)).collect();
    let message = if n == 1 {
        format!("Apply failed with 1 conflict: {}", lines.join(""))
    } else {
        format!("Apply failed with {n} conflicts: {}", lines.join("\n"))
    };
    let causes: Vec<Value> = conflicts
        .iter()
        .map(|c| json!({"reason": "FieldManagerConflict", "message": format!("conflict with \"{}\"", c.manager), "field": c.field}))
        .collect();
    ApiError {
        code: 409,
        reason: "Conflict",
        message,
        details: Some(json!({"name": name, "group": rt.group, "kind": rt.plural, "causes": causes})),
    }
}

fn scale_view(rt: &ResourceType, object: &Value) -> Value {
    let paths = rt.scale.clone().unwrap_or_else(|| crate::registry::ScalePaths {
        spec_replicas: ".spec.replicas".into(),
        status_replicas: ".status.replicas".into(),
        label_selector: None,
    });
    let spec = util::get_dotted(object, &paths.spec_replicas).cloned().unwrap_or(json!(0));
    let status = util::get_dotted(object, &paths.status_replicas).cloned().unwrap_or(json!(0));
    let selector =
        paths.label_selector.as_deref().and_then(|p| util::get_dotted(object, p)).map(|s| match s {
            Value::String(text) => text.clone(),
            other => LabelSelector::from_object(other).to_text(),
        });
    let meta = object.get("metadata").cloned().unwrap_or_else(|| json!({}));
    let mut m = Map::new();
    for k in ["name", "namespace", "uid", "resourceVersion", "creationTimestamp"] {
        if let Some(v) = meta.get(k) {
            m.insert(k.into(), v.clone());
        }
    }
    let mut st = json!({"replicas": status});
    if let Some(s) = selector {
        st["selector"] = json!(s);
    }
    json!({"kind": "Scale", "apiVersion": "autoscaling/v1", "metadata": m, "spec": {"replicas": spec}, "status": st})
}

fn scale_apply(rt: &ResourceType, existing: &Value, scale: &Value) -> Result<Value, ApiError> {
    let name = existing.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default();
    let replicas = scale.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(0);
    if replicas < 0 {
        return Err(ApiError::invalid(
            rt,
            name,
            "spec.replicas: Invalid value: must be greater than or equal to 0",
        ));
    }
    let path = rt.scale.as_ref().map_or(".spec.replicas", |s| s.spec_replicas.as_str());
    let mut new = existing.clone();
    util::set_dotted(&mut new, path, json!(replicas));
    Ok(new)
}

/// Remove an object for good, with the namespace and CRD side effects.
fn finish_delete(state: &mut State, rt: &ResourceType, ns: &str, name: &str) -> Option<Value> {
    let removed = state.remove(&rt.key(), ns, name)?;
    if rt.key() == "customresourcedefinitions.apiextensions.k8s.io"
        && let (Some(g), Some(p)) = (
            removed.pointer("/spec/group").and_then(Value::as_str),
            removed.pointer("/spec/names/plural").and_then(Value::as_str),
        )
    {
        let key = format!("{p}.{g}");
        let names: Vec<(String, String)> = state.iter_type(&key).map(|(k, _)| k.clone()).collect();
        for (ons, oname) in names {
            state.remove(&key, &ons, &oname);
        }
        state.registry.remove_crd(g, p);
    }
    if !ns.is_empty() {
        finish_namespace(state, ns);
    }
    Some(removed)
}

/// A terminating namespace goes once nothing is left in it.
fn finish_namespace(state: &mut State, ns: &str) {
    if state.namespace_phase(ns) != Some("Terminating") {
        return;
    }
    let start = (ns.to_owned(), String::new());
    let empty = state
        .objects
        .values()
        .all(|objs| objs.range(start.clone()..).next().is_none_or(|((n, _), _)| n != ns));
    if empty {
        state.remove("namespaces.", "", ns);
    }
}

/// Start deleting an object: with finalizers it is marked, without it goes.
fn delete_object(state: &mut State, rt: &ResourceType, ns: &str, name: &str, dry_run: bool) -> Option<Value> {
    let existing = state.get(&rt.key(), ns, name)?.clone();
    let has_finalizers =
        existing.pointer("/metadata/finalizers").and_then(Value::as_array).is_some_and(|f| !f.is_empty());
    let is_ns = rt.key() == "namespaces.";
    if dry_run {
        return Some(existing);
    }
    if !has_finalizers && !is_ns {
        return finish_delete(state, rt, ns, name);
    }
    let mut marked = existing.clone();
    if marked.pointer("/metadata/deletionTimestamp").is_none() {
        marked["metadata"]["deletionTimestamp"] = json!(util::rfc3339(util::now_secs()));
        marked["metadata"]["deletionGracePeriodSeconds"] = json!(0);
    }
    if is_ns {
        marked["status"]["phase"] = json!("Terminating");
    }
    let stored = if without_volatile(&marked) == without_volatile(&existing) {
        existing
    } else {
        state.put(&rt.key(), ns, name, marked)
    };
    if is_ns {
        let contents: Vec<(ResourceType, String)> = state
            .objects
            .iter()
            .flat_map(|(key, objs)| {
                objs.keys().filter(|(n, _)| n == name).map(move |(_, o)| (key.clone(), o.clone()))
            })
            .filter_map(|(key, o)| {
                let t = state.registry.types().iter().find(|t| t.key() == key)?.clone();
                Some((t, o))
            })
            .collect();
        for (t, o) in contents {
            delete_object(state, &t, name, &o, false);
        }
        finish_namespace(state, name);
        return Some(state.get(&rt.key(), ns, name).cloned().unwrap_or(stored));
    }
    Some(stored)
}

fn delete(shared: &Arc<Shared>, t: &Target, req: &Req) -> ApiResult {
    let opts: Value = if req.body.is_empty() { json!({}) } else { req.json_body()? };
    let dry_run = req.dry_run()?
        || opts.get("dryRun").and_then(Value::as_array).is_some_and(|a| a.iter().any(|x| x == "All"));
    let mut state = shared.lock();
    check_namespace(&state, t, false)?;
    let existing = state
        .get(&t.rt.key(), t.ns(), t.name())
        .cloned()
        .ok_or_else(|| ApiError::not_found(&t.rt, t.name()))?;
    if let Some(pre) = opts.get("preconditions") {
        for (field, ptr) in [("uid", "/metadata/uid"), ("resourceVersion", "/metadata/resourceVersion")] {
            if let Some(want) = pre.get(field).and_then(Value::as_str)
                && existing.pointer(ptr).and_then(Value::as_str) != Some(want)
            {
                return Err(ApiError::stale(&t.rt, t.name()));
            }
        }
    }
    let result = delete_object(&mut state, &t.rt, t.ns(), t.name(), dry_run)
        .ok_or_else(|| ApiError::not_found(&t.rt, t.name()))?;
    drop(state);
    respond_object(req, &t.rt, StatusCode::OK, result)
}

fn delete_collection(shared: &Arc<Shared>, t: &Target, req: &Req) -> ApiResult {
    let (labels, fields) = selectors(req)?;
    let dry_run = req.dry_run()?;
    let mut state = shared.lock();
    if t.ns.is_some() {
        check_namespace(&state, t, false)?;
    }
    let victims = matching(&state, t, &labels, &fields);
    let mut items = Vec::new();
    for ((ns, name), _) in victims {
        if let Some(o) = delete_object(&mut state, &t.rt, &ns, &name, dry_run) {
            items.push(served(&t.rt, o));
        }
    }
    let rv = state.rv;
    drop(state);
    ok(&json!({"kind": format!("{}List", t.rt.kind), "apiVersion": t.rt.api_version(),
        "metadata": {"resourceVersion": rv.to_string()}, "items": items}))
}

/// What a watch sends: its filters and output form.
struct WatchSpec {
    rt: ResourceType,
    ns: Option<String>,
    labels: LabelSelector,
    fields: FieldSelector,
    table: bool,
    include: Option<String>,
    bookmarks: bool,
}

impl WatchSpec {
    /// The event type this watch sends for `e`, if any: an object whose labels change into
    /// or out of the selector is ADDED or DELETED, as a real server reports it.
    fn kind_for(&self, e: &Event) -> Option<&'static str> {
        let in_scope = e.type_key == self.rt.key()
            && self
                .ns
                .as_deref()
                .is_none_or(|ns| e.object.pointer("/metadata/namespace").and_then(Value::as_str) == Some(ns))
            && self.fields.matches(&e.object);
        if !in_scope {
            return None;
        }
        let now = self.labels.matches(&e.object);
        match (e.kind, &e.prev_labels) {
            (EventType::Modified, Some(prev)) => {
                let before = self.labels.matches(&json!({"metadata": {"labels": prev}}));
                match (before, now) {
                    (true, true) => Some("MODIFIED"),
                    (false, true) => Some("ADDED"),
                    (true, false) => Some("DELETED"),
                    (false, false) => None,
                }
            }
            (kind, _) => now.then_some(kind.as_str()),
        }
    }

    fn line(&self, kind: &str, object: &Value) -> Bytes {
        let object = if self.table && kind != "BOOKMARK" && kind != "ERROR" {
            table::table(&self.rt, std::slice::from_ref(object), None, self.include.as_deref())
        } else if kind == "ERROR" || kind == "BOOKMARK" {
            object.clone()
        } else {
            served(&self.rt, object.clone())
        };
        let mut text = serde_json::to_vec(&json!({"type": kind, "object": object})).unwrap_or_default();
        text.push(b'\n');
        Bytes::from(text)
    }

    fn bookmark(&self, rv: u64, initial_end: bool) -> Bytes {
        let mut meta = json!({"resourceVersion": rv.to_string()});
        if initial_end {
            meta["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        self.line(
            "BOOKMARK",
            &json!({"kind": self.rt.kind, "apiVersion": self.rt.api_version(), "metadata": meta}),
        )
    }
}

struct WatchState {
    spec: WatchSpec,
    backlog: std::collections::VecDeque<Bytes>,
    rx: broadcast::Receiver<Arc<Event>>,
    last_rv: u64,
    deadline: tokio::time::Instant,
    next_bookmark: tokio::time::Instant,
    interval: Duration,
    shutdown: watch::Receiver<bool>,
    done: bool,
}

fn gone(rv: &str) -> Value {
    ApiError::new(410, "Expired", format!("too old resource version: {rv}")).status()
}

fn watch(shared: &Arc<Shared>, t: &Target, req: &Req) -> ApiResult {
    let (labels, fields) = selectors(req)?;
    let timeout = req
        .param("timeoutSeconds")
        .and_then(|s| s.parse::<u64>().ok())
        .map_or(MAX_WATCH / 2, |s| Duration::from_secs(s).min(MAX_WATCH));
    let mut fields = fields;
    if let Some(name) = &t.name {
        fields =
            FieldSelector::parse(&format!("metadata.name={name}")).map_err(|e| ApiError::bad_request(e.0))?;
    }
    let spec = WatchSpec {
        rt: t.rt.clone(),
        ns: t.ns.clone(),
        labels,
        fields,
        table: req.wants_table(),
        include: req.param("includeObject").map(str::to_owned),
        bookmarks: matches!(req.param("allowWatchBookmarks"), Some("true" | "1")),
    };
    let send_initial = matches!(req.param("sendInitialEvents"), Some("true" | "1"));
    let rv_param = req.param("resourceVersion").unwrap_or_default().to_owned();
    let state = shared.lock();
    let rx = state.subscribe();
    let mut backlog = std::collections::VecDeque::new();
    let current = state.rv;
    let last_rv = if rv_param.is_empty() || rv_param == "0" || send_initial {
        for (_, o) in state.iter_type(&t.rt.key()) {
            let e = Event {
                rv: 0,
                kind: EventType::Added,
                type_key: t.rt.key(),
                object: o.clone(),
                prev_labels: None,
            };
            if spec.kind_for(&e).is_some() {
                backlog.push_back(spec.line("ADDED", o));
            }
        }
        if send_initial && spec.bookmarks {
            backlog.push_back(spec.bookmark(current, true));
        }
        current
    } else {
        let rv: u64 = rv_param
            .parse()
            .map_err(|_| ApiError::bad_request(format!("invalid resourceVersion {rv_param:?}")))?;
        match state.events_since(rv) {
            Some(events) => {
                for e in &events {
                    if let Some(kind) = spec.kind_for(e) {
                        backlog.push_back(spec.line(kind, &e.object));
                    }
                }
            }
            None => backlog.push_back(spec.line("ERROR", &gone(&rv_param))),
        }
        current.max(rv)
    };
    drop(state);
    let now = tokio::time::Instant::now();
    let ws = WatchState {
        spec,
        backlog,
        rx,
        last_rv,
        deadline: now + timeout,
        next_bookmark: now + shared.bookmark_interval,
        interval: shared.bookmark_interval,
        shutdown: shared.shutdown.clone(),
        done: false,
    };
    let stream = futures_util::stream::unfold(ws, |mut ws| async move {
        loop {
            if let Some(b) = ws.backlog.pop_front() {
                return Some((Ok::<Bytes, Infallible>(b), ws));
            }
            if ws.done || *ws.shutdown.borrow() {
                return None;
            }
            tokio::select! {
                received = ws.rx.recv() => match received {
                    Ok(e) => {
                        ws.last_rv = e.rv;
                        if let Some(kind) = ws.spec.kind_for(&e) {
                            ws.backlog.push_back(ws.spec.line(kind, &e.object));
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        ws.backlog.push_back(ws.spec.line("ERROR", &gone(&ws.last_rv.to_string())));
                        ws.done = true;
                    }
                    Err(broadcast::error::RecvError::Closed) => ws.done = true,
                },
                () = tokio::time::sleep_until(ws.next_bookmark) => {
                    ws.next_bookmark = tokio::time::Instant::now() + ws.interval;
                    if ws.spec.bookmarks {
                        ws.backlog.push_back(ws.spec.bookmark(ws.last_rv, false));
                    }
                }
                () = tokio::time::sleep_until(ws.deadline) => ws.done = true,
                _ = ws.shutdown.changed() => ws.done = true,
            }
        }
    });
    let mut resp = Response::new(Body::from_stream(stream));
    resp.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_static("application/json"));
    resp.headers_mut().insert(header::CACHE_CONTROL, header::HeaderValue::from_static("no-cache, private"));
    Ok(resp)
}
