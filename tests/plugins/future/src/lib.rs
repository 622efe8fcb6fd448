//! A health plugin that says it was built for contract 0.2.0: the host (0.1.x) must refuse to
//! load it, naming both versions.

#[cfg(target_arch = "wasm32")]
mod export {
    use b::exports::driftless::plugin::health_check::{Guest, Health, KindSelector};
    use driftless_plugin_sdk::bindings::health as b;
    use driftless_plugin_sdk::bindings::types::PluginMetadata;

    struct Future;

    impl b::Guest for Future {
        fn metadata() -> PluginMetadata {
            let mut metadata = driftless_plugin_sdk::__metadata(
                "future",
                env!("CARGO_PKG_VERSION"),
                driftless_plugin_sdk::PluginKind::Health,
                Vec::new(),
            );
            metadata.contract = "0.2.0".into();
            metadata
        }
    }

    impl Guest for Future {
        fn kinds() -> Vec<KindSelector> {
            Vec::new()
        }
        fn assess(objects: Vec<String>) -> Vec<Option<Health>> {
            objects.iter().map(|_| None).collect()
        }
    }

    b::__export_health_world!(Future with_types_in b);
}
