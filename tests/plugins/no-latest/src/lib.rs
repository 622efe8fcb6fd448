//! A policy plugin written with the SDK: every container image must name a tag other than
//! `latest` (or a digest). Parameter `exempt`: a list of image prefixes that are allowed anyway.

use driftless_plugin_sdk::policy::{Context, Policy, Review, Violation};
use driftless_plugin_sdk::serde_json::Value;

/// The policy.
pub struct NoLatest;

fn pod_spec(object: &Value) -> Option<&Value> {
    match object["kind"].as_str()? {
        "Pod" => object.get("spec"),
        "CronJob" => object.pointer("/spec/jobTemplate/spec/template/spec"),
        _ => object.pointer("/spec/template/spec"),
    }
}

fn untagged_or_latest(image: &str) -> bool {
    if image.contains('@') {
        return false;
    }
    let name = image.rsplit('/').next().unwrap_or(image);
    match name.split_once(':') {
        None => true,
        Some((_, tag)) => tag == "latest",
    }
}

impl Policy for NoLatest {
    const NAME: &'static str = "no-latest";

    fn evaluate(review: &Review, context: &Context) -> Vec<Violation> {
        let exempt: Vec<&str> = context
            .params
            .get("exempt")
            .and_then(Value::as_array)
            .map_or_else(Vec::new, |a| a.iter().filter_map(Value::as_str).collect());
        let Some(spec) = pod_spec(review.object.as_value()) else { return Vec::new() };
        ["initContainers", "containers"]
            .iter()
            .filter_map(|field| spec.get(field).and_then(Value::as_array))
            .flatten()
            .filter_map(|c| Some((c["name"].as_str().unwrap_or("?"), c["image"].as_str()?)))
            .filter(|(_, image)| untagged_or_latest(image) && !exempt.iter().any(|p| image.starts_with(p)))
            .map(|(name, image)| {
                Violation::new(format!("container {name} uses image {image} without a pinned tag"))
            })
            .collect()
    }
}

driftless_plugin_sdk::export_policy!(NoLatest);

#[cfg(test)]
mod tests {
    use super::*;
    use driftless_plugin_sdk::Object;
    use driftless_plugin_sdk::policy::Operation;
    use driftless_plugin_sdk::serde_json::json;

    fn review(image: &str) -> Review {
        let object = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "w"},
                            "spec": {"template": {"spec": {"containers": [{"name": "c", "image": image}]}}}});
        Review { object: Object::from_value(object).unwrap(), old_object: None, operation: Operation::Create }
    }

    #[test]
    fn tags() {
        let ctx = Context::default();
        assert_eq!(NoLatest::evaluate(&review("nginx"), &ctx).len(), 1);
        assert_eq!(NoLatest::evaluate(&review("nginx:latest"), &ctx).len(), 1);
        assert!(NoLatest::evaluate(&review("registry:5000/nginx:1.25"), &ctx).is_empty());
        assert!(NoLatest::evaluate(&review("nginx@sha256:abc"), &ctx).is_empty());
        let exempt =
            Context { params: json!({"exempt": ["nginx"]}).as_object().unwrap().clone(), inventory: vec![] };
        assert!(NoLatest::evaluate(&review("nginx"), &exempt).is_empty());
    }
}
