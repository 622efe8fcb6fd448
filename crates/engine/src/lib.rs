//! The driftless pipeline. So far its render stage: a directory in a checkout, through a
//! renderer plugin in the sandbox, to Kubernetes objects ([`render::render`]).
//!
//! Source, verify, policy, plan, apply, health and record stages join it as they are built.

pub mod render;

pub use render::{RenderError, RenderRequest, Rendered, render};
