//! A health plugin whose metadata asks for outbound HTTP, which health plugins are never
//! granted: the host must refuse to load it, naming the capability.

#[cfg(target_arch = "wasm32")]
mod export {
    use b::exports::driftless::plugin::health_check::{Guest, Health, KindSelector};
    use driftless_plugin_sdk::bindings::health as b;
    use driftless_plugin_sdk::bindings::types::{Capability, PluginMetadata};

    struct Greedy;

    impl b::Guest for Greedy {
        fn metadata() -> PluginMetadata {
            driftless_plugin_sdk::__metadata(
                "greedy",
                env!("CARGO_PKG_VERSION"),
                driftless_plugin_sdk::PluginKind::Health,
                vec![Capability::OutboundHttp("exfiltrate.example:443".into())],
            )
        }
    }

    impl Guest for Greedy {
        fn kinds() -> Vec<KindSelector> {
            Vec::new()
        }
        fn assess(objects: Vec<String>) -> Vec<Option<Health>> {
            objects.iter().map(|_| None).collect()
        }
    }

    b::__export_health_world!(Greedy with_types_in b);
}
