//! The first-party plugins, compiled to WebAssembly components by this crate's build script
//! and embedded, so `cargo build` alone gives a binary that needs nothing beside it.
//!
//! Entry point: [`get`] (by name) and [`ALL`].

/// A plugin shipped inside the binary.
#[derive(Debug, Clone, Copy)]
pub struct BuiltinPlugin {
    /// The name users select it by (`--plugin manifests`, `render.plugin: manifests`).
    pub name: &'static str,
    /// What it does, for `--help` and listings.
    pub summary: &'static str,
    /// The component's bytes.
    pub wasm: &'static [u8],
}

/// Every built-in plugin.
pub const ALL: &[BuiltinPlugin] = &[BuiltinPlugin {
    name: "manifests",
    summary: "plain YAML/JSON manifests under the app path, recursively",
    wasm: include_bytes!(concat!(env!("OUT_DIR"), "/manifests.wasm")),
}];

/// The built-in plugin called `name`.
#[must_use]
pub fn get(name: &str) -> Option<&'static BuiltinPlugin> {
    ALL.iter().find(|p| p.name == name)
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
        assert!(get("manifests").is_some());
        assert!(get("nope").is_none());
    }
}
