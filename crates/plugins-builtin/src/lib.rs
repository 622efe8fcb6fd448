//! The first-party plugins, compiled to WebAssembly components by this crate's build script
//! and embedded, so `cargo build` alone gives a binary that needs nothing beside it.
//!
//! Entry point: [`get`] (by name) and [`ALL`].

/// The kinds of built-in plugin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A renderer.
    Renderer,
    /// A health check.
    Health,
}

/// A plugin shipped inside the binary.
#[derive(Debug, Clone, Copy)]
pub struct BuiltinPlugin {
    /// The name users select it by (`--plugin manifests`, `render.plugin: manifests`).
    pub name: &'static str,
    /// Its kind.
    pub kind: Kind,
    /// What it does, for `--help` and listings.
    pub summary: &'static str,
    /// The component's bytes.
    pub wasm: &'static [u8],
}

/// Every built-in plugin.
pub const ALL: &[BuiltinPlugin] = &[
    BuiltinPlugin {
        name: "manifests",
        kind: Kind::Renderer,
        summary: "plain YAML/JSON manifests under the app path, recursively",
        wasm: include_bytes!(concat!(env!("OUT_DIR"), "/manifests.wasm")),
    },
    BuiltinPlugin {
        name: "kustomize",
        kind: Kind::Renderer,
        summary: "kustomizations, built as `kubectl kustomize` (v5.5) builds them",
        wasm: include_bytes!(concat!(env!("OUT_DIR"), "/kustomize.wasm")),
    },
    BuiltinPlugin {
        name: "health-core",
        kind: Kind::Health,
        summary: "Argo CD-style health of the built-in Kubernetes kinds",
        wasm: include_bytes!(concat!(env!("OUT_DIR"), "/health-core.wasm")),
    },
];

/// The built-in plugin called `name`.
#[must_use]
pub fn get(name: &str) -> Option<&'static BuiltinPlugin> {
    ALL.iter().find(|p| p.name == name)
}

/// The built-in plugins of one kind.
pub fn of_kind(kind: Kind) -> impl Iterator<Item = &'static BuiltinPlugin> {
    ALL.iter().filter(move |p| p.kind == kind)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_plugin_is_a_component() {
        for plugin in ALL {
            // Component binaries start with the wasm magic and the component-model layer.
            assert_eq!(&plugin.wasm[..4], b"\0asm", "{}", plugin.name);
            assert_eq!(&plugin.wasm[6..8], &[1, 0], "{} is a core module, not a component", plugin.name);
        }
        assert_eq!(get("manifests").map(|p| p.kind), Some(Kind::Renderer));
        assert_eq!(of_kind(Kind::Renderer).map(|p| p.name).collect::<Vec<_>>(), ["manifests", "kustomize"]);
        assert_eq!(of_kind(Kind::Health).map(|p| p.name).collect::<Vec<_>>(), ["health-core"]);
        assert!(get("nope").is_none());
    }
}
