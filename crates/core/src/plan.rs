//! The plan of a sync: what would be created, updated, deleted or left alone, with diffs.
//!
//! Produced by `driftless-cluster` and shown by the engine and the CLI; kept here so neither
//! needs to depend on kube.

use serde::{Deserialize, Serialize};

use crate::ObjectRef;

/// What a sync does to one object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// The object does not exist and is created.
    Create,
    /// The object exists and differs; it is updated (server-side apply).
    Update,
    /// The object is in the inventory but no longer desired; it is pruned.
    Delete,
    /// The object exists and matches; nothing is written.
    Unchanged,
}

/// One planned change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Change {
    /// The object.
    pub object: ObjectRef,
    /// What happens to it.
    pub action: Action,
    /// Its sync wave (`driftless.dev/sync-wave`, default 0).
    pub wave: i64,
    /// Unified diff live → desired of the normalised YAML, Secret values redacted; `None`
    /// for unchanged objects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diff: Option<String>,
    /// Why, or what it waits for, e.g. "waits for Namespace shop created in this sync".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Counts of a plan's changes per action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlanSummary {
    /// Objects created.
    pub creates: usize,
    /// Objects updated.
    pub updates: usize,
    /// Objects deleted (pruned).
    pub deletes: usize,
    /// Objects left alone because they match.
    pub unchanged: usize,
}

/// The plan of one sync.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    /// The changes, in the order they are carried out (deletes last).
    pub changes: Vec<Change>,
    /// Objects deliberately left alone (ignore annotation, prune disabled); never acted on.
    #[serde(default)]
    pub skipped: Vec<Change>,
}

impl Plan {
    /// Counts per action of [`Plan::changes`].
    #[must_use]
    pub fn summary(&self) -> PlanSummary {
        let mut s = PlanSummary::default();
        for c in &self.changes {
            match c.action {
                Action::Create => s.creates += 1,
                Action::Update => s.updates += 1,
                Action::Delete => s.deletes += 1,
                Action::Unchanged => s.unchanged += 1,
            }
        }
        s
    }

    /// Whether the sync writes nothing.
    #[must_use]
    pub fn is_noop(&self) -> bool {
        self.changes.iter().all(|c| c.action == Action::Unchanged)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn change(action: Action) -> Change {
        Change {
            object: ObjectRef {
                api_version: "v1".into(),
                kind: "ConfigMap".into(),
                namespace: Some("a".into()),
                name: "c".into(),
            },
            action,
            wave: 0,
            diff: None,
            note: None,
        }
    }

    #[test]
    fn summary_counts_and_noop() {
        let mut plan =
            Plan { changes: vec![change(Action::Unchanged), change(Action::Unchanged)], skipped: vec![] };
        assert!(plan.is_noop());
        plan.changes.push(change(Action::Create));
        plan.changes.push(change(Action::Delete));
        assert!(!plan.is_noop());
        assert_eq!(plan.summary(), PlanSummary { creates: 1, updates: 0, deletes: 1, unchanged: 2 });
        let json = serde_json::to_value(&plan.changes[2]).unwrap();
        assert_eq!(json["action"], "create");
        assert!(json.get("diff").is_none());
    }
}
