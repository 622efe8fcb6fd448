//! The driftless pipeline and its reconcile loop.
//!
//! One run for one app ([`sync::Syncer::run`]) goes Source → Verify → Render → Secrets →
//! Policy → Plan → Apply → Health → Record and returns a [`record::SyncRecord`]; the stages
//! are modules of their own where they are more than a call into another crate:
//! [`verify::verify_revision`] (gate 1: signatures and history), [`render::render`] (a renderer
//! plugin in the sandbox) and [`health::assess`] (the health plugins). The policy gate is
//! `driftless-policy`; plan and apply are `driftless-cluster`. [`reconcile::reconcile`] keeps
//! an app in sync: interval polling, drift watched, self-heal, backoff with jitter;
//! [`fleet`] runs and reconciles many apps on one shared [`sync::Syncer`].

pub mod fleet;
pub mod health;
pub mod reconcile;
pub mod record;
pub mod render;
pub mod sync;
pub mod verify;

pub use render::{RenderError, RenderRequest, Rendered, render};
