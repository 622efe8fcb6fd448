//! Policy decisions: what a policy says about an object before it is applied.

use serde::{Deserialize, Serialize};

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
}
