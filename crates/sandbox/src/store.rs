//! The object store: objects by resource type, namespace and name; the resource version
//! counter; the recent event history that watches resume from; snapshots for `--state`.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use serde_json::{Value, json};
use tokio::sync::broadcast;

use crate::registry::{Registry, types_of_crd};

/// How many events are kept for watches that resume from a resourceVersion.
pub const HISTORY: usize = 20_000;
/// How many events a slow watcher may fall behind before its watch is closed.
pub const WATCH_BUFFER: usize = 20_000;

/// What happened to an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    /// Created.
    Added,
    /// Changed.
    Modified,
    /// Removed.
    Deleted,
}

impl EventType {
    /// The wire name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Added => "ADDED",
            Self::Modified => "MODIFIED",
            Self::Deleted => "DELETED",
        }
    }
}

/// One change, as watches see it.
#[derive(Debug, Clone)]
pub struct Event {
    /// The resourceVersion the change produced.
    pub rv: u64,
    /// What happened.
    pub kind: EventType,
    /// The storage key of the object's type (`plural.group`).
    pub type_key: String,
    /// The object after the change (before it, for deletions, with the new resourceVersion).
    pub object: Value,
    /// For changes, the labels the object had before (so a label-selected watch sees an
    /// object leave or enter its selection).
    pub prev_labels: Option<Value>,
}

/// Namespace and name.
pub type ObjKey = (String, String);

/// All state, behind one lock.
#[derive(Debug)]
pub struct State {
    /// The last resourceVersion handed out.
    pub rv: u64,
    /// Served resource types.
    pub registry: Registry,
    /// Objects by type key, then by (namespace, name).
    pub objects: BTreeMap<String, BTreeMap<ObjKey, Value>>,
    history: VecDeque<Arc<Event>>,
    tx: broadcast::Sender<Arc<Event>>,
    /// Set on every change; cleared by the persister.
    pub dirty: bool,
}

impl State {
    /// An empty store with the built-in types.
    #[must_use]
    pub fn new() -> Self {
        let (tx, _) = broadcast::channel(WATCH_BUFFER);
        Self {
            rv: 1,
            registry: Registry::with_builtins(),
            objects: BTreeMap::new(),
            history: VecDeque::new(),
            tx,
            dirty: false,
        }
    }

    /// Look an object up.
    #[must_use]
    pub fn get(&self, type_key: &str, ns: &str, name: &str) -> Option<&Value> {
        self.objects.get(type_key)?.get(&(ns.to_owned(), name.to_owned()))
    }

    /// Objects of a type, in (namespace, name) order.
    pub fn iter_type<'a>(&'a self, type_key: &str) -> impl Iterator<Item = (&'a ObjKey, &'a Value)> + 'a {
        self.objects.get(type_key).into_iter().flat_map(|m| m.iter())
    }

    /// Whether namespace `ns` exists; its phase if so.
    #[must_use]
    pub fn namespace_phase(&self, ns: &str) -> Option<&str> {
        self.get("namespaces.", "", ns)
            .map(|n| n.pointer("/status/phase").and_then(Value::as_str).unwrap_or("Active"))
    }

    fn emit(&mut self, kind: EventType, type_key: &str, object: Value, prev_labels: Option<Value>) {
        let event = Arc::new(Event { rv: self.rv, kind, type_key: type_key.to_owned(), object, prev_labels });
        if self.history.len() >= HISTORY {
            self.history.pop_front();
        }
        self.history.push_back(Arc::clone(&event));
        // No receivers is fine.
        let _ = self.tx.send(event);
        self.dirty = true;
    }

    /// Store an object (created or changed), giving it the next resourceVersion.
    pub fn put(&mut self, type_key: &str, ns: &str, name: &str, mut object: Value) -> Value {
        self.rv += 1;
        object["metadata"]["resourceVersion"] = json!(self.rv.to_string());
        let key = (ns.to_owned(), name.to_owned());
        let previous = self.objects.entry(type_key.to_owned()).or_default().insert(key, object.clone());
        match previous {
            Some(old) => {
                let labels = old.pointer("/metadata/labels").cloned().unwrap_or(Value::Null);
                self.emit(EventType::Modified, type_key, object.clone(), Some(labels));
            }
            None => self.emit(EventType::Added, type_key, object.clone(), None),
        }
        object
    }

    /// Remove an object; returns it with the deletion's resourceVersion.
    pub fn remove(&mut self, type_key: &str, ns: &str, name: &str) -> Option<Value> {
        let mut object = self.objects.get_mut(type_key)?.remove(&(ns.to_owned(), name.to_owned()))?;
        self.rv += 1;
        object["metadata"]["resourceVersion"] = json!(self.rv.to_string());
        self.emit(EventType::Deleted, type_key, object.clone(), None);
        Some(object)
    }

    /// Subscribe to changes after the current resourceVersion.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.tx.subscribe()
    }

    /// Events after `rv`, or `None` when `rv` is older than the history kept.
    #[must_use]
    pub fn events_since(&self, rv: u64) -> Option<Vec<Arc<Event>>> {
        let oldest = self.history.front().map_or(self.rv + 1, |e| e.rv);
        if rv + 1 < oldest && rv < self.rv {
            return None;
        }
        Some(self.history.iter().filter(|e| e.rv > rv).cloned().collect())
    }

    /// Everything, for `--state`.
    #[must_use]
    pub fn snapshot(&self) -> Value {
        let objects: Vec<Value> = self
            .objects
            .iter()
            .flat_map(|(k, m)| m.values().map(move |o| json!({"type": k, "object": o})))
            .collect();
        json!({"resourceVersion": self.rv, "objects": objects})
    }

    /// Restore a snapshot written by [`State::snapshot`]; CRDs in it re-register their types.
    ///
    /// # Errors
    /// A message when the snapshot is malformed.
    pub fn restore(snapshot: &Value) -> Result<Self, String> {
        let mut state = Self::new();
        state.rv =
            snapshot.get("resourceVersion").and_then(Value::as_u64).ok_or("missing resourceVersion")?;
        let objects = snapshot.get("objects").and_then(Value::as_array).ok_or("missing objects")?;
        for entry in objects {
            let type_key = entry.get("type").and_then(Value::as_str).ok_or("an object lacks its type")?;
            let object = entry.get("object").ok_or("an entry lacks its object")?;
            let ns = object.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or_default();
            let name =
                object.pointer("/metadata/name").and_then(Value::as_str).ok_or("an object lacks its name")?;
            if type_key == "customresourcedefinitions.apiextensions.k8s.io" {
                let types = types_of_crd(object).map_err(|e| e.to_string())?;
                if let (Some(g), Some(p)) = (
                    object.pointer("/spec/group").and_then(Value::as_str),
                    object.pointer("/spec/names/plural").and_then(Value::as_str),
                ) {
                    state.registry.set_crd(g, p, types);
                }
            }
            state
                .objects
                .entry(type_key.to_owned())
                .or_default()
                .insert((ns.to_owned(), name.to_owned()), object.clone());
        }
        Ok(state)
    }
}

impl Default for State {
    fn default() -> Self {
        Self::new()
    }
}
