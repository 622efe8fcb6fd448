//! Policy decisions: what a policy says about an object before it is applied.

use serde::{Deserialize, Serialize};

use crate::spec::Enforcement;
use crate::{Object, ObjectRef};

/// What would happen to a reviewed object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Operation {
    /// The object is new.
    Create,
    /// The object replaces a live one.
    Update,
    /// The object would be deleted (pruned).
    Delete,
}

impl Operation {
    /// `CREATE`, `UPDATE` or `DELETE`, as in an AdmissionReview.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Create => "CREATE",
            Operation::Update => "UPDATE",
            Operation::Delete => "DELETE",
        }
    }

    /// The operation named `CREATE`, `UPDATE` or `DELETE`.
    #[must_use]
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "CREATE" => Some(Operation::Create),
            "UPDATE" => Some(Operation::Update),
            "DELETE" => Some(Operation::Delete),
            _ => None,
        }
    }
}

/// One object to judge.
#[derive(Debug, Clone, PartialEq)]
pub struct Review {
    /// The object as it would be applied.
    pub object: Object,
    /// The live object it replaces, when there is one.
    pub old_object: Option<Object>,
    /// What would happen to it.
    pub operation: Operation,
}

/// One thing wrong with one object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Violation {
    /// What is wrong, for a person.
    pub message: String,
    /// The object at fault; the reviewed object when `None`.
    pub object: Option<ObjectRef>,
}

impl Violation {
    /// A violation of the reviewed object.
    pub fn new(message: impl Into<String>) -> Self {
        Self { message: message.into(), object: None }
    }
}

/// The verdict on one review.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    /// Whether the object passes.
    pub allowed: bool,
    /// Why it does not (empty when allowed).
    pub violations: Vec<Violation>,
}

/// What became of one policy's verdict on one object, after enforcement and waivers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum PolicyOutcome {
    /// The policy found nothing wrong.
    Allowed,
    /// Violations under `deny`: the sync is refused.
    Denied,
    /// Violations under `warn`: recorded, the sync goes on.
    Warned,
    /// Violations under `dryrun`: only reported.
    DryRun,
    /// Violations covered by an unexpired waiver.
    Waived,
    /// The policy failed to evaluate; it refuses the sync when its enforcement is `deny`
    /// (fails closed).
    Error,
}

/// The waiver that covered a decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WaiverUse {
    /// The waiver's name in the waivers file.
    pub name: String,
    /// Why it was granted.
    pub justification: String,
    /// When it stops applying (RFC 3339, UTC).
    pub expires: String,
}

/// One policy's verdict on one object (or on the whole set), for the sync record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyDecision {
    /// The policy's id (a Rego package, `ConstraintKind/name`, a wasm file and entrypoint, or
    /// a plugin name).
    pub policy: String,
    /// The engine that ran it: `rego`, `gatekeeper`, `opa-wasm` or `plugin`.
    pub engine: String,
    /// The effective enforcement: the weaker of the app's and the policy's own.
    pub enforcement: Enforcement,
    /// The object judged; `None` for a verdict on the whole set.
    pub object: Option<ObjectRef>,
    /// What became of it.
    pub outcome: PolicyOutcome,
    /// The policy's messages (or the evaluation error), empty when allowed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub messages: Vec<String>,
    /// The waiver used, when one applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiver: Option<WaiverUse>,
}

impl PolicyDecision {
    /// Whether this decision refuses the sync: denied, or an error under `deny`.
    #[must_use]
    pub fn blocks(&self) -> bool {
        match self.outcome {
            PolicyOutcome::Denied => true,
            PolicyOutcome::Error => self.enforcement == Enforcement::Deny,
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_round_trip_their_names() {
        for op in [Operation::Create, Operation::Update, Operation::Delete] {
            assert_eq!(Operation::parse(op.as_str()), Some(op));
        }
        assert_eq!(Operation::parse("PATCH"), None);
    }

    #[test]
    fn errors_block_only_under_deny() {
        let mut d = PolicyDecision {
            policy: "p".into(),
            engine: "rego".into(),
            enforcement: Enforcement::Deny,
            object: None,
            outcome: PolicyOutcome::Error,
            messages: vec!["boom".into()],
            waiver: None,
        };
        assert!(d.blocks());
        d.enforcement = Enforcement::Warn;
        assert!(!d.blocks());
        d.outcome = PolicyOutcome::Waived;
        d.enforcement = Enforcement::Deny;
        assert!(!d.blocks());
        d.outcome = PolicyOutcome::Denied;
        assert!(d.blocks());
        let json = serde_json::to_value(&d).unwrap_or_default();
        assert_eq!(json["outcome"], "denied");
        assert_eq!(json["enforcement"], "deny");
    }
}
