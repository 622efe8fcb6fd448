//! Policy plugins: objects in, decisions out, before anything is applied.
//!
//! Implement [`Policy`] and call [`export_policy!`](crate::export_policy) once.

use serde_json::{Map, Value};

use crate::bindings::policy::exports::driftless::plugin::policy_check as wit;
use crate::bindings::types as wit_types;
use crate::{Object, ObjectRef};

pub use driftless_core::policy::{Operation, Review, Violation};

/// What every review of a batch shares.
#[derive(Debug, Clone, Default)]
pub struct Context {
    /// The policy's parameters.
    pub params: Map<String, Value>,
    /// The other objects of the sync, for policies that look across objects.
    pub inventory: Vec<Object>,
}

/// A policy.
pub trait Policy {
    /// The plugin's name: lowercase letters, digits and `-`.
    const NAME: &'static str;

    /// What is wrong with the reviewed object; empty when it passes.
    fn evaluate(review: &Review, context: &Context) -> Vec<Violation>;
}

fn parse_object(text: &str) -> Result<Object, String> {
    let value: Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    Object::from_value(value).map_err(|e| e.to_string())
}

fn deny(message: String) -> wit::Decision {
    wit::Decision { allowed: false, violations: vec![wit::Violation { message, object: None }] }
}

fn to_wit_ref(r: ObjectRef) -> wit_types::ObjectRef {
    wit_types::ObjectRef { api_version: r.api_version, kind: r.kind, namespace: r.namespace, name: r.name }
}

#[doc(hidden)]
pub fn __evaluate<P: Policy>(
    reviews: Vec<wit::Review>,
    params: String,
    inventory: Vec<String>,
) -> Vec<wit::Decision> {
    // Bad input fails closed: every review is denied, saying why.
    let params = match params.trim() {
        "" => Ok(Map::new()),
        text => {
            serde_json::from_str::<Map<String, Value>>(text).map_err(|e| format!("policy parameters: {e}"))
        }
    };
    let inventory: Result<Vec<Object>, String> =
        inventory.iter().map(|t| parse_object(t).map_err(|e| format!("inventory object: {e}"))).collect();
    let context = match (params, inventory) {
        (Ok(params), Ok(inventory)) => Context { params, inventory },
        (Err(e), _) | (_, Err(e)) => return reviews.iter().map(|_| deny(e.clone())).collect(),
    };
    reviews
        .into_iter()
        .map(|review| {
            let Some(operation) = Operation::parse(&review.operation) else {
                return deny(format!("unknown operation `{}`", review.operation));
            };
            let object = match parse_object(&review.object) {
                Ok(o) => o,
                Err(e) => return deny(format!("not a Kubernetes object: {e}")),
            };
            let old_object = match review.old_object.as_deref().map(parse_object).transpose() {
                Ok(o) => o,
                Err(e) => return deny(format!("old object is not a Kubernetes object: {e}")),
            };
            let reviewed = object.object_ref();
            let violations = P::evaluate(&Review { object, old_object, operation }, &context);
            wit::Decision {
                allowed: violations.is_empty(),
                violations: violations
                    .into_iter()
                    .map(|v| wit::Violation {
                        message: v.message,
                        object: Some(to_wit_ref(v.object.unwrap_or_else(|| reviewed.clone()))),
                    })
                    .collect(),
            }
        })
        .collect()
}

/// Export a [`Policy`] as the plugin's implementation of the `policy` world.
#[macro_export]
macro_rules! export_policy {
    ($policy:ty) => {
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            use __bindings::exports::driftless::plugin::policy_check as __wit;
            use $crate::bindings::policy as __bindings;
            struct __DriftlessPolicy;
            impl __bindings::Guest for __DriftlessPolicy {
                fn metadata() -> $crate::bindings::types::PluginMetadata {
                    $crate::__metadata(
                        <$policy as $crate::policy::Policy>::NAME,
                        env!("CARGO_PKG_VERSION"),
                        $crate::PluginKind::Policy,
                        ::std::vec::Vec::new(),
                    )
                }
            }
            impl __wit::Guest for __DriftlessPolicy {
                fn evaluate(
                    reviews: ::std::vec::Vec<__wit::Review>,
                    params: ::std::string::String,
                    inventory: ::std::vec::Vec<::std::string::String>,
                ) -> ::std::vec::Vec<__wit::Decision> {
                    $crate::policy::__evaluate::<$policy>(reviews, params, inventory)
                }
            }
    __bindings::__export_policy_world!(__DriftlessPolicy with_types_in $crate::bindings::policy);
        };
    };
}
