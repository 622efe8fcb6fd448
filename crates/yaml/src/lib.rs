//! YAML for driftless: YAML streams in, JSON values out (with line numbers), and JSON values
//! back to YAML in the style `kubectl` prints.
//!
//! Kubernetes objects are JSON documents written as YAML. This crate reads a YAML stream into
//! [`Document`]s, each a [`serde_json::Value`] with the 1-based line where it starts, and writes
//! values back with [`to_yaml`]. It is pure (no I/O) so both the host and plugins compiled to
//! WebAssembly use it.
//!
//! Reading follows the YAML 1.2 core schema (`yes`/`on` are strings, as in `kubectl kustomize`)
//! and refuses what cannot become JSON or is likely a mistake: duplicate keys, `.nan`/`.inf`,
//! unresolved aliases, nesting deeper than [`MAX_DEPTH`] and alias expansion beyond
//! [`MAX_ALIAS_EXPANSION`] nodes (the "billion laughs").
//!
//! Entry points: [`parse_stream`] and [`to_yaml`] / [`to_yaml_stream`].

mod emit;
mod load;

pub use emit::{to_yaml, to_yaml_stream};
pub use load::{Document, MAX_ALIAS_EXPANSION, MAX_DEPTH, parse_stream};

/// A YAML stream that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line} column {column}: {message}")]
pub struct YamlError {
    /// 1-based line of the fault.
    pub line: usize,
    /// 1-based column of the fault.
    pub column: usize,
    /// What is wrong.
    pub message: String,
}
