//! The driftless pipeline. So far its verify stage — gate 1: the resolved revision's
//! signatures and history against `spec.verify` ([`verify::verify_revision`]) — its render stage — a directory in a checkout, through a
//! renderer plugin in the sandbox, to Kubernetes objects ([`render::render`]) — and its health
//! stage — live objects through the health plugins ([`health::assess`]).
//!
//! Source, verify, policy, plan, apply and record stages join them as they are built.

pub mod health;
pub mod render;
pub mod verify;

pub use render::{RenderError, RenderRequest, Rendered, render};
