//! `driftless plugin new`: a new plugin crate that depends on the SDK by path (never a copy
//! of the WIT), builds with `cargo build --release --target wasm32-wasip2`, and passes its own
//! test out of the box.

use std::path::{Path, PathBuf};

use crate::PluginKind;

/// A scaffold that could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ScaffoldError {
    /// The name is not usable as a crate and plugin name.
    #[error(
        "`{0}` is not a valid plugin name: use lowercase letters, digits and `-`, starting with a letter"
    )]
    InvalidName(String),
    /// The target directory exists and is not empty.
    #[error("{} already exists and is not empty", .0.display())]
    Exists(PathBuf),
    /// The SDK is not where it was expected.
    #[error("no driftless SDK at {} (give its directory with --sdk)", .0.display())]
    NoSdk(PathBuf),
    /// Writing failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// Write a new plugin crate called `name` of `kind` into `dir`, depending on the SDK at `sdk`.
/// Returns the files written.
///
/// # Errors
/// [`ScaffoldError`]; nothing is written unless the name, kind, directory and SDK are good.
pub fn scaffold(name: &str, kind: PluginKind, dir: &Path, sdk: &Path) -> Result<Vec<PathBuf>, ScaffoldError> {
    let valid = name.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.ends_with('-');
    if !valid {
        return Err(ScaffoldError::InvalidName(name.to_owned()));
    }
    let (source, compiled_test) = match kind {
        PluginKind::Renderer => (RENDERER, RENDERER_COMPILED),
        PluginKind::Health => (HEALTH, HEALTH_COMPILED),
        PluginKind::Policy => (POLICY, POLICY_COMPILED),
        PluginKind::SecretBackend => (SECRET, SECRET_COMPILED),
    };
    let sdk = sdk.canonicalize().map_err(|_| ScaffoldError::NoSdk(sdk.to_path_buf()))?;
    if !sdk.join("Cargo.toml").is_file() || !sdk.join("../wit").is_dir() {
        return Err(ScaffoldError::NoSdk(sdk));
    }
    if dir.exists() && std::fs::read_dir(dir).map(|mut d| d.next().is_some()).unwrap_or(true) {
        return Err(ScaffoldError::Exists(dir.to_path_buf()));
    }

    let type_name: String = name
        .split('-')
        .map(|part| {
            let mut chars = part.chars();
            chars.next().map(|c| c.to_ascii_uppercase().to_string() + chars.as_str()).unwrap_or_default()
        })
        .collect();
    let sdk_path = sdk.display().to_string().replace('\\', "/");
    let manifest = format!(
        "[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2024\"\npublish = false\n\n\
         [lib]\ncrate-type = [\"cdylib\", \"rlib\"]\n\n\
         [dependencies]\ndriftless-plugin-sdk = {{ path = \"{sdk_path}\" }}\n\n\
         [features]\n\
         # `cargo test --features host-tests` also builds the component and runs it in the real\n\
         # host (tests/compiled.rs). Off by default: it compiles wasmtime the first time.\n\
         host-tests = [\"driftless-plugin-sdk/host\"]\n\n\
         [[test]]\nname = \"compiled\"\nrequired-features = [\"host-tests\"]\n\n\
         # A workspace of its own, so the plugin builds wherever it is created.\n[workspace]\n"
    );
    let fill = |text: &str| text.replace("PLUGIN_NAME", name).replace("PluginType", &type_name);
    let lib = fill(source);
    let compiled_test = fill(compiled_test);
    let readme = format!(
        "# {name}\n\nA driftless {kind} plugin.\n\n```sh\ncargo test                                         # unit tests, natively\n\
         cargo test --features host-tests                   # also the component, in the real host\n\
         cargo build --release --target wasm32-wasip2       # the component\n```\n\n\
         The component is `target/wasm32-wasip2/release/{}.wasm`; check it with\n\
         `driftless plugin inspect` and use it with `--plugin`.\n",
        name.replace('-', "_")
    );
    let files = [
        (dir.join("Cargo.toml"), manifest),
        (dir.join("src/lib.rs"), lib),
        (dir.join("tests/compiled.rs"), compiled_test),
        (dir.join("README.md"), readme),
        (dir.join(".gitignore"), "/target\n".to_owned()),
    ];
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ScaffoldError::Io { path, source }
    };
    std::fs::create_dir_all(dir.join("src")).map_err(io(dir))?;
    std::fs::create_dir_all(dir.join("tests")).map_err(io(dir))?;
    for (path, text) in &files {
        std::fs::write(path, text).map_err(io(path))?;
    }
    Ok(files.into_iter().map(|(p, _)| p).collect())
}

const RENDERER: &str = r##"//! A driftless renderer plugin: the files of the app directory in, Kubernetes objects out.

use driftless_plugin_sdk::Object;
use driftless_plugin_sdk::renderer::{RenderError, Renderer, Request};
use driftless_plugin_sdk::serde_json::json;

/// The plugin.
pub struct PluginType;

impl Renderer for PluginType {
    const NAME: &'static str = "PLUGIN_NAME";

    fn render(request: &Request) -> Result<Vec<Object>, RenderError> {
        // Edit me: read files under `request.app_dir()` (read-only), return objects.
        let name = request.params.get("name").and_then(|v| v.as_str()).unwrap_or("PLUGIN_NAME");
        let object = json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": name},
            "data": {"rendered-from": request.path},
        });
        Ok(vec![Object::from_value(object).map_err(|e| RenderError::new(e.to_string()))?])
    }
}

driftless_plugin_sdk::export_renderer!(PluginType);

#[cfg(test)]
mod tests {
    use super::*;
    use driftless_plugin_sdk::testing;

    #[test]
    fn renders_a_configmap() {
        let checkout = testing::checkout(&[("app/placeholder.txt", "")]);
        let objects = PluginType::render(&checkout.request("app")).unwrap();
        assert_eq!(objects.len(), 1);
        assert_eq!(objects[0].kind(), "ConfigMap");
        assert_eq!(objects[0].name(), Some("PLUGIN_NAME"));
    }
}
"##;

const HEALTH: &str = r##"//! A driftless health plugin: the health of the kinds it declares.

use driftless_plugin_sdk::Object;
use driftless_plugin_sdk::health::{Health, HealthCheck, HealthStatus, KindSelector, Reads};

/// The plugin.
pub struct PluginType;

/// Edit me: the health of one object of a declared kind, from its `status`.
fn assess(object: &Object) -> Health {
    let ready = object.as_map().get("status").and_then(|s| s.get("ready")).and_then(|r| r.as_bool());
    match ready {
        Some(true) => Health::new(HealthStatus::Healthy, "ready"),
        Some(false) => Health::new(HealthStatus::Progressing, "not ready yet"),
        None => Health::new(HealthStatus::Progressing, "no status yet"),
    }
}

impl HealthCheck for PluginType {
    const NAME: &'static str = "PLUGIN_NAME";

    // Edit me: every field `assess` reads (JSON pointers). Only these are parsed; the rest of
    // each object is skipped, which makes large batches much cheaper. `Reads::All` reads all.
    const READS: Reads = Reads::Only(&["/status"]);

    fn kinds() -> Vec<KindSelector> {
        // Edit me: the (group, kind) pairs this plugin assesses.
        vec![KindSelector::new("example.com", "Widget")]
    }

    fn assess(object: &Object) -> Option<Health> {
        Some(assess(object))
    }
}

driftless_plugin_sdk::export_health!(PluginType);

#[cfg(test)]
mod tests {
    use super::*;
    use driftless_plugin_sdk::testing;

    #[test]
    fn ready_widgets_are_healthy() {
        // `testing::assess` parses the text as the compiled plugin does, keeping only READS.
        let widget = r#"{"apiVersion": "example.com/v1", "kind": "Widget",
            "metadata": {"name": "w"}, "status": {"ready": true}}"#;
        assert_eq!(testing::assess::<PluginType>(widget).map(|h| h.status), Some(HealthStatus::Healthy));
        let pending = r#"{"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}"#;
        assert_eq!(testing::assess::<PluginType>(pending).map(|h| h.status), Some(HealthStatus::Progressing));
    }
}
"##;

const POLICY: &str = r##"//! A driftless policy plugin: judges each object before anything is applied.

use driftless_plugin_sdk::policy::{Context, Policy, Review, Violation};

/// The plugin.
pub struct PluginType;

impl Policy for PluginType {
    const NAME: &'static str = "PLUGIN_NAME";

    fn evaluate(review: &Review, _context: &Context) -> Vec<Violation> {
        // Edit me: return what is wrong with `review.object`; empty when it passes.
        if review.object.label("owner").is_none() {
            return vec![Violation::new(format!("{} has no `owner` label", review.object.object_ref()))];
        }
        Vec::new()
    }
}

driftless_plugin_sdk::export_policy!(PluginType);

#[cfg(test)]
mod tests {
    use super::*;
    use driftless_plugin_sdk::testing;

    #[test]
    fn objects_need_an_owner() {
        let owned = testing::review(r#"{"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "a", "labels": {"owner": "team-a"}}}"#);
        assert!(PluginType::evaluate(&owned, &Default::default()).is_empty());
        let orphan = testing::review(r#"{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "b"}}"#);
        assert_eq!(PluginType::evaluate(&orphan, &Default::default()).len(), 1);
    }
}
"##;

const SECRET: &str = r##"//! A driftless secret backend: resolves `PLUGIN_NAME://NAME` references by fetching them over
//! HTTPS from one store. The operator must grant the store's host (`outbound-http`); the plugin
//! can reach nothing else.

use driftless_plugin_sdk::http::Request;
use driftless_plugin_sdk::secrets::{Reference, SecretBackend};

/// Edit me: the store's `host` or `host:port`.
const STORE: &str = "secrets.example.com";

/// The plugin.
pub struct PluginType;

/// Edit me: where the value of a reference is.
fn url(reference: &Reference) -> Result<String, String> {
    let name = reference.uri.strip_prefix("PLUGIN_NAME://").unwrap_or_default();
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_./".contains(&b)) {
        return Err(format!("`{}` is not a PLUGIN_NAME://NAME reference", reference.uri));
    }
    Ok(format!("https://{STORE}/v1/secrets/{name}"))
}

impl SecretBackend for PluginType {
    const NAME: &'static str = "PLUGIN_NAME";

    fn hosts() -> Vec<String> {
        vec![STORE.to_owned()]
    }

    fn resolve(reference: &Reference) -> Result<Vec<u8>, String> {
        // Never put the value in an error message.
        let response = Request::get(&url(reference)?).send().map_err(|e| e.to_string())?;
        if !response.is_success() {
            return Err(format!("{}: HTTP status {}", reference.uri, response.status));
        }
        Ok(response.body)
    }
}

driftless_plugin_sdk::export_secret_backend!(PluginType);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_map_to_the_store() {
        let url = url(&Reference::new("PLUGIN_NAME://app/db-password"));
        assert_eq!(url.as_deref(), Ok("https://secrets.example.com/v1/secrets/app/db-password"));
        let err = PluginType::resolve(&Reference::new("vault://elsewhere")).unwrap_err();
        assert!(err.contains("is not a PLUGIN_NAME://NAME reference"), "{err}");
        assert_eq!(PluginType::hosts(), ["secrets.example.com"]);
    }
}
"##;

const RENDERER_COMPILED: &str = r##"//! The compiled renderer in the real host: `cargo test --features host-tests`.

use driftless_plugin_sdk::serde_json::Map;
use driftless_plugin_sdk::testing::{self, compiled};

#[test]
fn the_component_renders_in_the_host() {
    let renderer = compiled::renderer(env!("CARGO_MANIFEST_DIR")).unwrap();
    assert_eq!(renderer.metadata().name, "PLUGIN_NAME");
    let checkout = testing::checkout(&[("app/placeholder.txt", "")]);
    let objects = renderer.render(checkout.root(), "app", &Map::new()).unwrap();
    assert_eq!(objects.len(), 1);
    assert_eq!(objects[0].kind(), "ConfigMap");
    assert_eq!(objects[0].as_value()["data"]["rendered-from"], "app");
}
"##;

const HEALTH_COMPILED: &str = r##"//! The compiled health plugin in the real host: `cargo test --features host-tests`.

use driftless_plugin_sdk::health::HealthStatus;
use driftless_plugin_sdk::testing::{compiled, object};

#[test]
fn the_component_assesses_in_the_host() {
    let plugin = compiled::health(env!("CARGO_MANIFEST_DIR")).unwrap();
    assert_eq!(plugin.metadata().name, "PLUGIN_NAME");
    let objects = [
        object(r#"{"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "a"}, "status": {"ready": true}}"#),
        object(r#"{"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "b"}}"#),
        object(r#"{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}"#),
    ];
    let answers = plugin.assess(&objects).unwrap();
    let statuses: Vec<_> = answers.iter().map(|h| h.as_ref().map(|h| h.status)).collect();
    // A ConfigMap is not a declared kind: the host does not even send it.
    assert_eq!(statuses, [Some(HealthStatus::Healthy), Some(HealthStatus::Progressing), None]);
}
"##;

const POLICY_COMPILED: &str = r##"//! The compiled policy in the real host: `cargo test --features host-tests`.

use driftless_plugin_sdk::serde_json::Map;
use driftless_plugin_sdk::testing::{compiled, review};

#[test]
fn the_component_judges_in_the_host() {
    let policy = compiled::policy(env!("CARGO_MANIFEST_DIR")).unwrap();
    assert_eq!(policy.metadata().name, "PLUGIN_NAME");
    let reviews = [
        review(r#"{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "labels": {"owner": "team-a"}}}"#),
        review(r#"{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "b"}}"#),
    ];
    let decisions = policy.evaluate(&reviews, &Map::new(), &[]).unwrap();
    assert!(decisions[0].allowed, "{decisions:?}");
    assert!(!decisions[1].allowed && decisions[1].violations[0].message.contains("no `owner` label"));
}
"##;

const SECRET_COMPILED: &str = r##"//! The compiled secret backend in the real host: `cargo test --features host-tests`. Nothing
//! here reaches the network; to test fetching, serve values on loopback and load the component
//! with `compiled::Loader` granted `127.0.0.1:PORT`.

use driftless_plugin_sdk::testing::compiled::{self, host::SecretReference};

#[test]
fn the_component_needs_its_host_granted() {
    let backend = compiled::secret_backend(env!("CARGO_MANIFEST_DIR"), &["secrets.example.com"]).unwrap();
    assert_eq!(backend.hosts(), ["secrets.example.com"]);
    let answers = backend.resolve(&[SecretReference::new("vault://elsewhere")]).unwrap();
    assert!(answers[0].as_ref().unwrap_err().contains("is not a PLUGIN_NAME://NAME reference"));

    let err = compiled::secret_backend(env!("CARGO_MANIFEST_DIR"), &[]).unwrap_err();
    assert!(err.to_string().contains("outbound-http(secrets.example.com)"), "{err}");
}
"##;

#[cfg(test)]
mod tests {
    use super::*;

    fn sdk() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../sdk/rust")
    }

    #[test]
    fn writes_a_crate_and_refuses_bad_input() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("my-check");
        let files = scaffold("my-check", PluginKind::Health, &target, &sdk()).unwrap();
        assert_eq!(files.len(), 5);
        let compiled = std::fs::read_to_string(target.join("tests/compiled.rs")).unwrap();
        assert!(compiled.contains("compiled::health(env!(\"CARGO_MANIFEST_DIR\"))"), "{compiled}");
        assert!(compiled.contains("\"my-check\"") && !compiled.contains("PLUGIN_NAME"));
        let lib = std::fs::read_to_string(target.join("src/lib.rs")).unwrap();
        assert!(
            lib.contains("pub struct MyCheck;") && lib.contains("const NAME: &'static str = \"my-check\";")
        );
        assert!(lib.contains("fn assess(object: &Object) -> Health {"));
        let manifest = std::fs::read_to_string(target.join("Cargo.toml")).unwrap();
        assert!(manifest.contains("driftless-plugin-sdk = { path = \""), "{manifest}");
        // The compiled-plugin test only runs with the feature, so a plain `cargo test` is fast.
        assert!(manifest.contains("host-tests = [\"driftless-plugin-sdk/host\"]"), "{manifest}");
        assert!(manifest.contains("name = \"compiled\"\nrequired-features = [\"host-tests\"]"), "{manifest}");
        assert!(!target.join("wit").exists());

        assert!(matches!(
            scaffold("my-check", PluginKind::Health, &target, &sdk()),
            Err(ScaffoldError::Exists(_))
        ));
        assert!(matches!(
            scaffold("Bad_Name", PluginKind::Health, &dir.path().join("x"), &sdk()),
            Err(ScaffoldError::InvalidName(_))
        ));
        scaffold("vault-kv", PluginKind::SecretBackend, &dir.path().join("s"), &sdk()).unwrap();
        let lib = std::fs::read_to_string(dir.path().join("s/src/lib.rs")).unwrap();
        assert!(lib.contains("pub struct VaultKv;") && lib.contains("export_secret_backend!(VaultKv)"));
        assert!(lib.contains("\"vault-kv://\"") && !lib.contains("PLUGIN_NAME"));
        assert!(matches!(
            scaffold("n", PluginKind::Policy, &dir.path().join("n"), dir.path()),
            Err(ScaffoldError::NoSdk(_))
        ));
        assert!(!dir.path().join("x").exists() && !dir.path().join("n").exists());
    }
}
