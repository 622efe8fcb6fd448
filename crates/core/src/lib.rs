//! Shared types of driftless: Kubernetes [`Object`]s, [`ObjectRef`]s and
//! [`GroupVersionKind`]s, the [`Application`] spec, health and policy decisions, signature verdicts, and the errors
//! reading them.
//!
//! This crate does no I/O; it is used by the host crates and by plugins compiled to
//! WebAssembly alike. Main entry points: [`Object::from_value`] and [`Application::from_yaml`].

pub mod health;
pub mod manifest;
pub mod object;
pub mod plan;
pub mod policy;
pub mod secret;
pub mod spec;
pub mod verify;

pub use object::{GroupVersionKind, Object, ObjectError, ObjectRef};
pub use plan::{Action, Change, Plan, PlanSummary};
pub use secret::Secret;
pub use spec::{AppSpec, Application, SpecError};
pub use verify::{SignatureKind, SignatureVerdict, SignedObjectKind, SignerIdentity};
