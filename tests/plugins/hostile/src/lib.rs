//! A deliberately hostile renderer, for tests of the plugin sandbox.
//!
//! What it does is chosen by the file `mode` in the app directory (so the same component can be
//! driven from host tests and from the CLI):
//! - `ok`: render one ConfigMap.
//! - `loop`: spin forever.
//! - `alloc`: allocate and touch 1 GiB.
//! - `trap`: panic (a wasm trap).
//! - `recursion`: recurse until the stack runs out.
//! - `flood`: return a gigabyte of objects.
//! - `probe`: try to reach outside the sandbox (host files, parent directories, environment,
//!   network, writing to the checkout) and report every outcome in a ConfigMap.
//! - `garbage`: return text that is not JSON; `not-object`: JSON that is not an object.
//! - `log`: log one line at each level, then render like `ok`.

use driftless_plugin_sdk::renderer::{RenderError, Renderer, Request};
use driftless_plugin_sdk::serde_json::{Map, Value, json};
use driftless_plugin_sdk::{Object, log};

/// The hostile renderer.
pub struct Hostile;

fn configmap(data: Map<String, Value>) -> Result<Vec<Object>, RenderError> {
    let value =
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "hostile"}, "data": data});
    Ok(vec![Object::from_value(value).map_err(|e| RenderError::new(e.to_string()))?])
}

fn outcome<T, E: std::fmt::Display>(result: Result<T, E>) -> Value {
    match result {
        Ok(_) => Value::String("allowed".into()),
        Err(e) => Value::String(format!("denied: {e}")),
    }
}

impl Renderer for Hostile {
    const NAME: &'static str = "hostile";

    #[allow(clippy::panic)]
    fn render(request: &Request) -> Result<Vec<Object>, RenderError> {
        let mode = std::fs::read_to_string(request.app_dir().join("mode"))
            .map_err(|e| RenderError::in_file(request.display_path("mode"), e.to_string()))?;
        match mode.trim() {
            "ok" => configmap(Map::new()),
            "loop" => {
                let mut n: u64 = 0;
                loop {
                    n = std::hint::black_box(n.wrapping_add(1));
                }
            }
            "alloc" => {
                // black_box keeps the optimiser from eliding the allocation.
                let mut big = std::hint::black_box(vec![0u8; 1 << 30]);
                for i in (0..big.len()).step_by(4096) {
                    big[i] = 1;
                }
                let big = std::hint::black_box(big);
                configmap(Map::from_iter([("len".to_owned(), Value::String(big.len().to_string()))]))
            }
            "trap" => panic!("hostile plugin trapping on purpose"),
            "recursion" => {
                fn deeper(n: u64, pad: [u8; 256]) -> u64 {
                    std::hint::black_box(pad);
                    if std::hint::black_box(n) == u64::MAX { n } else { deeper(n + 1, pad).wrapping_add(1) }
                }
                configmap(Map::from_iter([(
                    "depth".to_owned(),
                    Value::String(deeper(0, [7; 256]).to_string()),
                )]))
            }
            "flood" => {
                // A gigabyte of output, one 10 KB object at a time.
                let filler = "x".repeat(10_000);
                let mut out = Vec::new();
                for i in 0..100_000 {
                    let value = json!({"apiVersion": "v1", "kind": "ConfigMap",
                                       "metadata": {"name": format!("flood-{i}")}, "data": {"x": filler}});
                    out.push(Object::from_value(value).map_err(|e| RenderError::new(e.to_string()))?);
                }
                Ok(std::hint::black_box(out))
            }
            "probe" => {
                let mut data = Map::new();
                data.insert("etc-passwd".into(), outcome(std::fs::read("/etc/passwd")));
                let parent = request.root.join("..").join("..").join("etc").join("passwd");
                data.insert("parent".into(), outcome(std::fs::read(parent)));
                data.insert("symlink".into(), outcome(std::fs::read(request.app_dir().join("escape"))));
                data.insert("write".into(), outcome(std::fs::write(request.app_dir().join("written"), b"x")));
                data.insert("env".into(), Value::String(std::env::vars().count().to_string()));
                data.insert("tcp".into(), outcome(std::net::TcpStream::connect(("127.0.0.1", 9))));
                data.insert(
                    "dns".into(),
                    outcome(std::net::ToSocketAddrs::to_socket_addrs(&("localhost", 80))),
                );
                configmap(data)
            }
            "log" => {
                log::log(log::Level::Trace, "hostile trace");
                log::debug("hostile debug");
                log::info("hostile info");
                log::warn("hostile warn");
                log::log(log::Level::Error, "hostile error");
                configmap(Map::new())
            }
            other => Err(RenderError::new(format!("unknown mode `{other}`"))),
        }
    }
}

/// Exported through the raw bindings rather than `export_renderer!`, so that `garbage` mode
/// can hand the host text that is not a Kubernetes object, as a hostile plugin could.
#[cfg(target_arch = "wasm32")]
mod export {
    use b::exports::driftless::plugin::render::RenderRequest;
    use driftless_plugin_sdk::bindings::renderer as b;
    use driftless_plugin_sdk::bindings::types::{Capability, Diagnostic, PluginMetadata};
    use driftless_plugin_sdk::{__metadata, PluginKind};

    struct Raw;

    impl b::Guest for Raw {
        fn metadata() -> PluginMetadata {
            __metadata(
                "hostile",
                env!("CARGO_PKG_VERSION"),
                PluginKind::Renderer,
                vec![Capability::CheckoutRead],
            )
        }
    }

    impl b::exports::driftless::plugin::render::Guest for Raw {
        fn render(request: RenderRequest) -> Result<Vec<String>, Diagnostic> {
            let mode = std::path::Path::new(&request.root).join(&request.path).join("mode");
            match std::fs::read_to_string(mode).as_deref().map(str::trim) {
                Ok("garbage") => Ok(vec!["{\"apiVersion\": \"v1\", \"kind\": \"ConfigMap\"".into()]),
                Ok("not-object") => Ok(vec!["[1, 2]".into()]),
                _ => driftless_plugin_sdk::renderer::__render::<super::Hostile>(request),
            }
        }
    }

    b::__export_renderer_world!(Raw with_types_in b);
}
