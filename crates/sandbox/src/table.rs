//! `Table` responses, which `kubectl get` asks for (`Accept: ...;as=Table;g=meta.k8s.io`).

use serde_json::{Value, json};

use crate::registry::ResourceType;
use crate::util;

fn col(name: &str, kind: &str, description: &str) -> Value {
    json!({"name": name, "type": kind, "format": if name == "Name" { "name" } else { "" }, "description": description, "priority": 0})
}

fn s(object: &Value, pointer: &str) -> String {
    match object.pointer(pointer) {
        Some(Value::String(t)) => t.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    }
}

fn n(object: &Value, pointer: &str) -> i64 {
    object.pointer(pointer).and_then(Value::as_i64).unwrap_or(0)
}

fn count(object: &Value, field: &str) -> usize {
    object.get(field).and_then(Value::as_object).map_or(0, serde_json::Map::len)
}

/// The columns and cells for one kind.
fn columns(rt: &ResourceType) -> Vec<Value> {
    let mut cols = vec![col("Name", "string", "Name of the object")];
    match (rt.group.as_str(), rt.kind.as_str()) {
        ("", "Namespace") => cols.push(col("Status", "string", "The phase of the namespace")),
        ("apps", "Deployment" | "StatefulSet" | "ReplicaSet") => {
            cols.push(col("Ready", "string", "Ready replicas of desired replicas"));
        }
        ("", "Pod") => cols.push(col("Status", "string", "The phase of the pod")),
        ("", "ConfigMap") => cols.push(col("Data", "integer", "Number of data keys")),
        ("", "Secret") => {
            cols.push(col("Type", "string", "The type of the secret"));
            cols.push(col("Data", "integer", "Number of data keys"));
        }
        ("", "Service") => cols.push(col("Type", "string", "The type of the service")),
        _ => {}
    }
    cols.push(col("Age", "string", "Time since creation"));
    cols
}

fn cells(rt: &ResourceType, o: &Value) -> Vec<Value> {
    let mut c = vec![json!(s(o, "/metadata/name"))];
    match (rt.group.as_str(), rt.kind.as_str()) {
        ("", "Namespace") => c.push(json!(s(o, "/status/phase"))),
        ("apps", "Deployment" | "StatefulSet" | "ReplicaSet") => {
            c.push(json!(format!("{}/{}", n(o, "/status/readyReplicas"), n(o, "/spec/replicas"))));
        }
        ("", "Pod") => {
            let phase = s(o, "/status/phase");
            c.push(json!(if phase.is_empty() { "Pending".to_owned() } else { phase }));
        }
        ("", "ConfigMap") => c.push(json!(count(o, "data") + count(o, "binaryData"))),
        ("", "Secret") => {
            c.push(json!(s(o, "/type")));
            c.push(json!(count(o, "data")));
        }
        ("", "Service") => {
            let t = s(o, "/spec/type");
            c.push(json!(if t.is_empty() { "ClusterIP".to_owned() } else { t }));
        }
        _ => {}
    }
    c.push(json!(util::age(o.pointer("/metadata/creationTimestamp").and_then(Value::as_str))));
    c
}

/// A `meta.k8s.io/v1` Table of `objects`. `include` is the `includeObject` parameter:
/// `None` leaves the object out, `Object` embeds it whole, anything else embeds its metadata.
#[must_use]
pub fn table(rt: &ResourceType, objects: &[Value], list_meta: Option<Value>, include: Option<&str>) -> Value {
    let rows: Vec<Value> = objects
        .iter()
        .map(|o| {
            let object = match include {
                Some("None") => Value::Null,
                Some("Object") => {
                    let mut o = o.clone();
                    o["apiVersion"] = json!(rt.api_version());
                    o
                }
                _ => json!({
                    "kind": "PartialObjectMetadata",
                    "apiVersion": "meta.k8s.io/v1",
                    "metadata": o.get("metadata").cloned().unwrap_or_else(|| json!({})),
                }),
            };
            json!({"cells": cells(rt, o), "object": object})
        })
        .collect();
    let meta = list_meta.unwrap_or_else(|| {
        let rv = objects
            .first()
            .and_then(|o| o.pointer("/metadata/resourceVersion"))
            .cloned()
            .unwrap_or(json!(""));
        json!({"resourceVersion": rv})
    });
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": meta,
        "columnDefinitions": columns(rt),
        "rows": rows,
    })
}
