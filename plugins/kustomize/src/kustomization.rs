//! The `kustomization.yaml` file: its fields, read strictly (an unknown field is an error).

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use crate::error::{Error, field};

/// A kustomization (or a component: `kind: Component`).
// Some fields are read only to accept them (apiVersion, metadata, ...).
#[allow(dead_code)]
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct Kustomization {
    pub api_version: Option<String>,
    pub kind: Option<String>,
    pub metadata: Option<Value>,
    #[serde(default)]
    pub resources: Vec<String>,
    #[serde(default)]
    pub bases: Vec<String>,
    #[serde(default)]
    pub components: Vec<String>,
    pub namespace: Option<String>,
    pub name_prefix: Option<String>,
    pub name_suffix: Option<String>,
    #[serde(default)]
    pub common_labels: BTreeMap<String, String>,
    #[serde(default)]
    pub labels: Vec<Label>,
    #[serde(default)]
    pub common_annotations: BTreeMap<String, String>,
    #[serde(default)]
    pub images: Vec<Image>,
    #[serde(default)]
    pub replicas: Vec<Replica>,
    #[serde(default)]
    pub patches: Vec<Patch>,
    #[serde(default)]
    pub patches_strategic_merge: Vec<String>,
    #[serde(default, rename = "patchesJson6902")]
    pub patches_json6902: Vec<Json6902>,
    #[serde(default)]
    pub config_map_generator: Vec<Generator>,
    #[serde(default)]
    pub secret_generator: Vec<Generator>,
    pub generator_options: Option<GeneratorOptions>,
    #[serde(default)]
    pub replacements: Vec<Replacement>,
    #[serde(default)]
    pub vars: Vec<Var>,
    #[serde(default)]
    pub build_metadata: Vec<String>,
    pub sort_options: Option<SortOptions>,
    // Refused when present: they need plugins, schemas or programs this renderer does not run.
    pub configurations: Option<Value>,
    pub crds: Option<Value>,
    pub generators: Option<Value>,
    pub transformers: Option<Value>,
    pub validators: Option<Value>,
    pub openapi: Option<Value>,
    pub helm_charts: Option<Value>,
    pub helm_globals: Option<Value>,
    pub helm_chart_inflation_generator: Option<Value>,
    pub inventory: Option<Value>,
    pub images_transformer: Option<Value>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct Label {
    #[serde(default)]
    pub pairs: BTreeMap<String, String>,
    #[serde(default)]
    pub include_selectors: bool,
    #[serde(default)]
    pub include_templates: bool,
    pub fields: Option<Value>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct Image {
    pub name: String,
    pub new_name: Option<String>,
    pub new_tag: Option<Value>,
    pub digest: Option<String>,
    pub tag_suffix: Option<String>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct Replica {
    pub name: String,
    pub count: i64,
}

/// Which objects a patch (or a replacement) applies to. `name` and `namespace` are regular
/// expressions matched against the whole value.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct Selector {
    pub group: Option<String>,
    pub version: Option<String>,
    pub kind: Option<String>,
    pub name: Option<String>,
    pub namespace: Option<String>,
    pub label_selector: Option<String>,
    pub annotation_selector: Option<String>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct PatchOptions {
    #[serde(default)]
    pub allow_name_change: bool,
    #[serde(default)]
    pub allow_kind_change: bool,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct Patch {
    pub path: Option<String>,
    pub patch: Option<String>,
    pub target: Option<Selector>,
    #[serde(default)]
    pub options: PatchOptions,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct Json6902 {
    pub target: Selector,
    pub path: Option<String>,
    pub patch: Option<String>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct GeneratorOptions {
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    pub disable_name_suffix_hash: Option<bool>,
    pub immutable: Option<bool>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct Generator {
    pub name: Option<String>,
    pub namespace: Option<String>,
    pub behavior: Option<String>,
    #[serde(default)]
    pub literals: Vec<String>,
    #[serde(default)]
    pub files: Vec<String>,
    #[serde(default)]
    pub envs: Vec<String>,
    pub env: Option<String>,
    pub options: Option<GeneratorOptions>,
    #[serde(rename = "type")]
    pub type_: Option<String>,
}

#[allow(dead_code)]
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct FieldOptions {
    pub delimiter: Option<String>,
    #[serde(default)]
    pub index: i64,
    #[serde(default)]
    pub create: bool,
    pub encoding: Option<String>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct ReplacementSource {
    pub group: Option<String>,
    pub version: Option<String>,
    pub kind: Option<String>,
    pub name: Option<String>,
    pub namespace: Option<String>,
    pub field_path: Option<String>,
    pub options: Option<FieldOptions>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct ReplacementTarget {
    pub select: Option<Selector>,
    #[serde(default)]
    pub reject: Vec<Selector>,
    #[serde(default)]
    pub field_paths: Vec<String>,
    pub options: Option<FieldOptions>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct Replacement {
    pub path: Option<String>,
    pub source: Option<ReplacementSource>,
    #[serde(default)]
    pub targets: Vec<ReplacementTarget>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct VarObjRef {
    pub kind: String,
    pub name: String,
    pub api_version: Option<String>,
    pub group: Option<String>,
    pub version: Option<String>,
    pub namespace: Option<String>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct VarFieldRef {
    pub field_path: Option<String>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct Var {
    pub name: String,
    pub objref: VarObjRef,
    pub fieldref: Option<VarFieldRef>,
}

#[allow(dead_code)]
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct SortOptions {
    pub order: Option<String>,
    pub legacy_sort_options: Option<Value>,
}

/// Drop `null` fields at any depth of mappings (`resources:` with nothing after it), as
/// kustomize reads them: absent.
fn drop_nulls(value: &mut Value) {
    if let Value::Object(map) = value {
        map.retain(|_, v| !v.is_null());
        map.values_mut().for_each(drop_nulls);
    } else if let Value::Array(items) = value {
        items.iter_mut().for_each(drop_nulls);
    }
}

impl Kustomization {
    /// Parse the kustomization file `file` (its text already read).
    pub(crate) fn parse(file: &str, text: &str) -> Result<Self, Error> {
        let docs = driftless_yaml::parse_stream(text).map_err(|e| Error::Parse {
            file: file.to_owned(),
            line: Some(e.line),
            message: format!("invalid YAML: {} (column {})", e.message, e.column),
        })?;
        let mut docs: Vec<_> = docs.into_iter().filter(|d| !d.value.is_null()).collect();
        if docs.len() > 1 {
            return Err(field(file, "holds more than one YAML document"));
        }
        let mut value = docs.pop().map_or(Value::Object(serde_json::Map::new()), |d| d.value);
        if !value.is_object() {
            return Err(field(file, "a kustomization must be a mapping"));
        }
        drop_nulls(&mut value);
        let k: Kustomization = serde_json::from_value(value).map_err(|e| field(file, e.to_string()))?;
        k.check(file)?;
        Ok(k)
    }

    fn check(&self, file: &str) -> Result<(), Error> {
        let unsupported = [
            ("configurations", &self.configurations),
            ("crds", &self.crds),
            ("generators", &self.generators),
            ("transformers", &self.transformers),
            ("validators", &self.validators),
            ("openapi", &self.openapi),
            ("helmCharts", &self.helm_charts),
            ("helmGlobals", &self.helm_globals),
            ("helmChartInflationGenerator", &self.helm_chart_inflation_generator),
            ("inventory", &self.inventory),
            ("imagesTransformer", &self.images_transformer),
        ];
        for (name, value) in unsupported {
            if value.is_some() {
                return Err(Error::Unsupported { file: file.to_owned(), field: name.to_owned() });
            }
        }
        if self.labels.iter().any(|l| l.fields.is_some()) {
            return Err(Error::Unsupported { file: file.to_owned(), field: "labels[].fields".into() });
        }
        if let Some(kind) = &self.kind
            && kind != "Kustomization"
            && kind != "Component"
        {
            return Err(field(file, format!("kind must be Kustomization or Component, found {kind:?}")));
        }
        for option in &self.build_metadata {
            if option == "transformerAnnotations" {
                return Err(Error::Unsupported {
                    file: file.to_owned(),
                    field: "buildMetadata: [transformerAnnotations]".into(),
                });
            }
            if !matches!(option.as_str(), "managedByLabel" | "originAnnotations") {
                return Err(field(
                    file,
                    format!(
                        "buildMetadata: unknown option {option:?} (expected managedByLabel or originAnnotations)"
                    ),
                ));
            }
        }
        if let Some(order) = self.sort_options.as_ref().and_then(|s| s.order.as_deref())
            && order != "legacy"
            && order != "fifo"
        {
            return Err(field(file, format!("sortOptions.order must be legacy or fifo, found {order:?}")));
        }
        Ok(())
    }

    /// Whether this is a component.
    pub(crate) fn is_component(&self) -> bool {
        self.kind.as_deref() == Some("Component")
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn unknown_fields_and_bad_types_are_errors() {
        let err = Kustomization::parse("k.yaml", "resource: [a.yaml]\n").unwrap_err();
        assert!(err.to_string().starts_with("k.yaml: unknown field `resource`"), "{err}");
        let err = Kustomization::parse("k.yaml", "resources: a.yaml\n").unwrap_err();
        assert!(err.to_string().contains("expected a sequence"), "{err}");
        let err = Kustomization::parse("k.yaml", "helmCharts: []\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "k.yaml: `helmCharts` is not supported by the driftless kustomize renderer"
        );
        let k = Kustomization::parse("k.yaml", "resources:\nnamespace: x\n").unwrap();
        assert!(k.resources.is_empty());
        assert_eq!(k.namespace.as_deref(), Some("x"));
    }
}
