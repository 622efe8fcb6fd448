//! Secret backends: references in, secret values out.
//!
//! Implement [`SecretBackend`] and call [`export_secret_backend!`](crate::export_secret_backend)
//! once. Reach your store with [`crate::http`]; declare every host you reach in
//! [`SecretBackend::hosts`], or the host refuses the plugin (when the operator has not granted
//! it) or the request (when you did not declare it).

use serde_json::{Map, Value};

use crate::bindings::secrets::exports::driftless::plugin::secrets as wit;

/// A reference to one secret, in the backend's own scheme.
#[derive(Debug, Clone, PartialEq)]
pub struct Reference {
    /// Where the value is, e.g. `vault://kv/app#password`.
    pub uri: String,
    /// Backend parameters.
    pub params: Map<String, Value>,
}

impl Reference {
    /// A reference without parameters.
    pub fn new(uri: &str) -> Self {
        Self { uri: uri.to_owned(), params: Map::new() }
    }
}

/// A secret backend.
pub trait SecretBackend {
    /// The plugin's name: lowercase letters, digits and `-`.
    const NAME: &'static str;

    /// The hosts (`host` or `host:port`) this backend sends HTTP requests to. Each becomes an
    /// `outbound-http` capability the operator must grant.
    fn hosts() -> Vec<String> {
        Vec::new()
    }

    /// Resolve one reference to its value. An error message must not contain the secret.
    ///
    /// # Errors
    /// Why the reference cannot be resolved, for a person.
    fn resolve(reference: &Reference) -> Result<Vec<u8>, String>;
}

#[doc(hidden)]
pub fn __capabilities<B: SecretBackend>() -> Vec<crate::bindings::types::Capability> {
    B::hosts().into_iter().map(crate::bindings::types::Capability::OutboundHttp).collect()
}

#[doc(hidden)]
pub fn __resolve<B: SecretBackend>(
    references: Vec<wit::SecretReference>,
) -> Vec<Result<wit::SecretValue, String>> {
    references
        .into_iter()
        .map(|r| {
            let params = match r.params.trim() {
                "" => Map::new(),
                text => serde_json::from_str::<Map<String, Value>>(text)
                    .map_err(|e| format!("reference parameters: {e}"))?,
            };
            B::resolve(&Reference { uri: r.uri, params }).map(|value| wit::SecretValue { value })
        })
        .collect()
}

/// Export a [`SecretBackend`] as the plugin's implementation of the `secret-backend` world.
///
/// Its version is the plugin crate's `CARGO_PKG_VERSION`. Outside WebAssembly the macro
/// expands to nothing, so the plugin's own unit tests run natively.
#[macro_export]
macro_rules! export_secret_backend {
    ($backend:ty) => {
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            use __bindings::exports::driftless::plugin::secrets as __wit;
            use $crate::bindings::secrets as __bindings;
            struct __DriftlessSecrets;
            impl __bindings::Guest for __DriftlessSecrets {
                fn metadata() -> $crate::bindings::types::PluginMetadata {
                    $crate::__metadata(
                        <$backend as $crate::secrets::SecretBackend>::NAME,
                        env!("CARGO_PKG_VERSION"),
                        $crate::PluginKind::SecretBackend,
                        $crate::secrets::__capabilities::<$backend>(),
                    )
                }
            }
            impl __wit::Guest for __DriftlessSecrets {
                fn resolve(
                    references: ::std::vec::Vec<__wit::SecretReference>,
                ) -> ::std::vec::Vec<::std::result::Result<__wit::SecretValue, ::std::string::String>> {
                    $crate::secrets::__resolve::<$backend>(references)
                }
            }
    __bindings::__export_secret_backend_world!(__DriftlessSecrets with_types_in $crate::bindings::secrets);
        };
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Echo;

    impl SecretBackend for Echo {
        const NAME: &'static str = "echo";

        fn hosts() -> Vec<String> {
            vec!["vault.example:8200".into()]
        }

        fn resolve(reference: &Reference) -> Result<Vec<u8>, String> {
            match reference.params.get("fail") {
                Some(_) => Err(format!("cannot resolve {}", reference.uri)),
                None => Ok(reference.uri.as_bytes().to_vec()),
            }
        }
    }

    #[test]
    fn resolves_each_reference_in_order_with_params() {
        let refs = vec![
            wit::SecretReference { uri: "a".into(), params: String::new() },
            wit::SecretReference { uri: "b".into(), params: r#"{"fail": true}"#.into() },
            wit::SecretReference { uri: "c".into(), params: "not json".into() },
        ];
        let out = __resolve::<Echo>(refs);
        assert_eq!(out.len(), 3);
        assert_eq!(out[0].as_ref().map(|v| v.value.clone()), Ok(b"a".to_vec()));
        assert_eq!(out[1].as_ref().map(|_| ()), Err(&"cannot resolve b".to_owned()));
        assert!(out[2].as_ref().is_err_and(|e| e.starts_with("reference parameters:")));
        let caps = __capabilities::<Echo>();
        assert!(
            matches!(caps.as_slice(), [crate::bindings::types::Capability::OutboundHttp(h)] if h == "vault.example:8200")
        );
    }
}
