//! The `Application` spec (`driftless.dev/v1alpha1`), read by the CLI from a YAML file and by
//! the controller from a custom resource.
//!
//! Parsing is strict: unknown fields are errors (a typo must not silently turn a gate off), and
//! every error names the field path at fault, e.g. `spec.verify.mode`.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

/// The API group and version of driftless resources.
pub const API_VERSION: &str = "driftless.dev/v1alpha1";

/// An Application spec that could not be read or is invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    /// The YAML is malformed.
    #[error("line {line}: {message}")]
    Syntax {
        /// 1-based line of the fault.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// A field is missing, unknown, of the wrong type or has an invalid value.
    #[error("{path}: {message}")]
    Invalid {
        /// The field path, e.g. `spec.verify.trust[0].gitsign.issuer`.
        path: String,
        /// What is wrong.
        message: String,
    },
}

impl SpecError {
    fn invalid(path: impl Into<String>, message: impl Into<String>) -> Self {
        SpecError::Invalid { path: path.into(), message: message.into() }
    }
}

/// An `Application`: which repository and path to render, how to verify and police it, and
/// where to apply it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Application {
    /// Always `driftless.dev/v1alpha1`.
    pub api_version: String,
    /// Always `Application`.
    pub kind: String,
    /// Name (and, in-cluster, namespace) of the application.
    pub metadata: AppMetadata,
    /// What to sync, and how.
    pub spec: AppSpec,
    /// Status written by the controller in-cluster; ignored when read from a file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<Value>,
}

/// The metadata of an [`Application`]: its name, plus whatever Kubernetes adds in-cluster.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppMetadata {
    /// The application's name: a DNS-1123 label.
    pub name: String,
    /// The namespace of the Application resource (in-cluster only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Labels of the Application resource.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub labels: Map<String, Value>,
    /// Annotations of the Application resource.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub annotations: Map<String, Value>,
    /// Other metadata Kubernetes sets (uid, resourceVersion, ...), kept as is.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// `spec` of an [`Application`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AppSpec {
    /// Where the manifests come from.
    pub source: SourceSpec,
    /// Gate 1: commit-signature verification.
    #[serde(default)]
    pub verify: VerifySpec,
    /// How the checkout becomes objects.
    #[serde(default)]
    pub render: RenderSpec,
    /// Gate 2: policy evaluation.
    #[serde(default)]
    pub policy: PolicySpec,
    /// Where objects go.
    #[serde(default)]
    pub destination: DestinationSpec,
    /// When and how to sync.
    #[serde(default)]
    pub sync: SyncSpec,
    /// How long to wait for health.
    #[serde(default)]
    pub health: HealthSpec,
}

/// `spec.source`: a Git repository, a revision and a path in it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SourceSpec {
    /// Repository URL (`https://`, `ssh://`, `git://`, `file://`) or local path.
    #[serde(rename = "repoURL")]
    pub repo_url: String,
    /// Branch, tag, or full or short commit id.
    #[serde(default = "default_revision")]
    pub revision: String,
    /// The application's directory inside the repository, relative, `/`-separated.
    #[serde(default = "default_path")]
    pub path: String,
}

fn default_revision() -> String {
    "HEAD".into()
}

fn default_path() -> String {
    ".".into()
}

/// What to do when verification fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum VerifyMode {
    /// Refuse to sync (the default: fail closed).
    #[default]
    Enforce,
    /// Record the failure and sync anyway.
    Audit,
    /// Do not verify.
    Off,
}

/// What must carry a trusted signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum VerifyTarget {
    /// The resolved commit.
    #[default]
    Commit,
    /// The annotated tag the revision names.
    Tag,
    /// Both the tag and the commit it points to.
    TagAndCommit,
}

/// `spec.verify` (also the `--trust` file of `driftless verify`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VerifySpec {
    /// Enforce, audit or off.
    #[serde(default)]
    pub mode: VerifyMode,
    /// Commit, tag or both.
    #[serde(default)]
    pub target: VerifyTarget,
    /// Trusted signers; a signature from any of them is accepted.
    #[serde(default)]
    pub trust: Vec<TrustSource>,
    /// Every commit since the last synced one must be signed by a trusted signer.
    #[serde(default)]
    pub require_signed_history: bool,
    /// Allow a new revision that does not descend from the last synced one.
    #[serde(default)]
    pub allow_history_rewrite: bool,
}

/// One kind of trusted signer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum TrustSource {
    /// OpenPGP public keys.
    Gpg(GpgTrust),
    /// SSH keys in git's `allowed_signers` format.
    Ssh(SshTrust),
    /// sigstore gitsign: Fulcio-issued certificates for an identity and issuer.
    Gitsign(GitsignTrust),
}

/// Trusted OpenPGP keys.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GpgTrust {
    /// One or more ASCII-armored public key blocks, as one string.
    pub public_keys: String,
}

/// Trusted SSH keys.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SshTrust {
    /// Lines in git's `allowed_signers` format.
    pub allowed_signers: String,
}

/// Trusted gitsign (sigstore keyless) signers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GitsignTrust {
    /// The certificate identity (e-mail or URI SAN), exactly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<String>,
    /// The certificate identity, as a regular expression matched against the whole SAN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity_regexp: Option<String>,
    /// The OIDC issuer recorded in the certificate.
    pub issuer: String,
    /// PEM certificates of the Fulcio root(s) and intermediates.
    pub fulcio_roots: String,
    /// Require transparency-log (Rekor) evidence of the signing time.
    #[serde(default = "default_true")]
    pub require_tlog: bool,
    /// Rekor verification settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rekor: Option<RekorSpec>,
}

fn default_true() -> bool {
    true
}

/// How to check transparency-log evidence, offline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RekorSpec {
    /// PEM public key(s) of the Rekor log.
    pub public_keys: String,
    /// The log's URL, for records only; verification is offline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// `spec.render`: which renderer plugin, with which parameters.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RenderSpec {
    /// A built-in renderer's name or a path to a `.wasm` component; detected when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugin: Option<String>,
    /// Parameters passed to the renderer as a JSON object.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub params: Map<String, Value>,
}

/// What a policy violation does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Enforcement {
    /// Only report (weakest).
    Dryrun,
    /// Record a warning, sync anyway.
    Warn,
    /// Refuse the sync (strongest, the default).
    #[default]
    Deny,
}

impl Enforcement {
    /// The weaker of two enforcement actions: the effective action of a policy.
    #[must_use]
    pub fn weaker(self, other: Self) -> Self {
        self.min(other)
    }
}

/// `spec.policy`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PolicySpec {
    /// Where the policies are: paths in the app's repository or other repositories.
    #[serde(default)]
    pub sources: Vec<PolicySource>,
    /// The app-wide enforcement action.
    #[serde(default)]
    pub enforcement: Enforcement,
    /// Path (in the app's repository) of the waivers file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waivers: Option<String>,
}

/// One place policies come from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PolicySource {
    /// Another repository (verified like the app's source); the app's own when unset.
    #[serde(rename = "repoURL", default, skip_serializing_if = "Option::is_none")]
    pub repo_url: Option<String>,
    /// Revision in that repository.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    /// Path of the policies in the repository.
    pub path: String,
}

/// `spec.destination`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DestinationSpec {
    /// Namespace for namespaced objects that name none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// `spec.sync`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SyncSpec {
    /// Sync automatically; manual when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub automated: Option<AutomatedSync>,
    /// How often to poll the source.
    #[serde(default = "default_interval")]
    pub interval: Interval,
    /// Stop reconciling.
    #[serde(default)]
    pub suspend: bool,
    /// Differences to ignore when planning.
    #[serde(default)]
    pub ignore_differences: Vec<IgnoreDifference>,
}

impl Default for SyncSpec {
    fn default() -> Self {
        Self { automated: None, interval: default_interval(), suspend: false, ignore_differences: Vec::new() }
    }
}

fn default_interval() -> Interval {
    Interval(Duration::from_secs(180))
}

/// `spec.sync.automated`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AutomatedSync {
    /// Delete objects this app owns that are no longer in Git.
    #[serde(default)]
    pub prune: bool,
    /// Revert live changes that differ from Git.
    #[serde(default)]
    pub self_heal: bool,
}

/// One rule of `spec.sync.ignoreDifferences`, as in Argo CD.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IgnoreDifference {
    /// API group of the objects (`""` for core).
    #[serde(default)]
    pub group: String,
    /// Kind of the objects.
    pub kind: String,
    /// Only the object with this name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Only objects in this namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// JSON pointers (RFC 6901) of the fields to ignore.
    #[serde(default)]
    pub json_pointers: Vec<String>,
    /// Ignore fields owned by these field managers.
    #[serde(default)]
    pub managed_fields_managers: Vec<String>,
}

/// `spec.health`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HealthSpec {
    /// How long to wait for applied objects to become healthy.
    #[serde(default = "default_health_timeout")]
    pub timeout: Interval,
}

impl Default for HealthSpec {
    fn default() -> Self {
        Self { timeout: default_health_timeout() }
    }
}

fn default_health_timeout() -> Interval {
    Interval(Duration::from_secs(300))
}

/// A duration written as in Kubernetes and Go: `90s`, `3m`, `1h30m`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Interval(pub Duration);

impl fmt::Display for Interval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", humantime::format_duration(self.0))
    }
}

impl Serialize for Interval {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_string().replace(' ', ""))
    }
}

impl<'de> Deserialize<'de> for Interval {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        let duration = humantime::parse_duration(&text).map_err(|e| {
            serde::de::Error::custom(format!("invalid duration `{text}` ({e}); use e.g. 30s, 3m, 1h30m"))
        })?;
        if duration.is_zero() {
            return Err(serde::de::Error::custom("duration must be greater than zero"));
        }
        Ok(Interval(duration))
    }
}

impl VerifySpec {
    /// Read and validate a verify section (the `--trust` file of `driftless verify`) from YAML
    /// or JSON text.
    ///
    /// # Errors
    /// [`SpecError::Syntax`] for malformed YAML or not exactly one document;
    /// [`SpecError::Invalid`] naming the field path for everything else.
    pub fn from_yaml(text: &str) -> Result<Self, SpecError> {
        let value = single_document(text, "verify section")?;
        let spec: VerifySpec = serde_path_to_error::deserialize(value).map_err(|e| {
            let path = e.path().to_string();
            let path = if path == "." { "(document)".to_owned() } else { path };
            SpecError::invalid(path, e.into_inner().to_string())
        })?;
        spec.validate_at("")?;
        Ok(spec)
    }

    /// Check what serde cannot, with field paths under `at` (`spec.verify` in an Application,
    /// empty for a trust file).
    ///
    /// # Errors
    /// [`SpecError::Invalid`] naming the first field at fault.
    pub fn validate_at(&self, at: &str) -> Result<(), SpecError> {
        let field = |rest: &str| if at.is_empty() { rest.to_owned() } else { format!("{at}.{rest}") };
        if self.mode != VerifyMode::Off && self.trust.is_empty() {
            return Err(SpecError::invalid(
                field("trust"),
                format!("at least one trusted signer is needed unless `{}` is `off`", field("mode")),
            ));
        }
        for (i, source) in self.trust.iter().enumerate() {
            match source {
                TrustSource::Gpg(g) if g.public_keys.trim().is_empty() => {
                    return Err(SpecError::invalid(
                        field(&format!("trust[{i}].gpg.publicKeys")),
                        "must not be empty",
                    ));
                }
                TrustSource::Ssh(s) if s.allowed_signers.trim().is_empty() => {
                    return Err(SpecError::invalid(
                        field(&format!("trust[{i}].ssh.allowedSigners")),
                        "must not be empty",
                    ));
                }
                TrustSource::Gitsign(g) => {
                    let at = field(&format!("trust[{i}].gitsign"));
                    let set = |o: &Option<String>| o.as_deref().is_some_and(|s| !s.trim().is_empty());
                    if set(&g.identity) == set(&g.identity_regexp) {
                        return Err(SpecError::invalid(
                            at,
                            "exactly one of `identity` and `identityRegexp` is needed",
                        ));
                    }
                    if g.issuer.trim().is_empty() {
                        return Err(SpecError::invalid(format!("{at}.issuer"), "must not be empty"));
                    }
                    if g.fulcio_roots.trim().is_empty() {
                        return Err(SpecError::invalid(format!("{at}.fulcioRoots"), "must not be empty"));
                    }
                    if g.require_tlog && g.rekor.is_none() {
                        return Err(SpecError::invalid(
                            format!("{at}.rekor"),
                            "needed when `requireTlog` is true (the default): the Rekor public \
                             key to check transparency-log evidence with",
                        ));
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }
}

/// The one non-empty document of a YAML stream.
fn single_document(text: &str, what: &str) -> Result<Value, SpecError> {
    let docs = driftless_yaml::parse_stream(text)
        .map_err(|e| SpecError::Syntax { line: e.line, message: e.message })?;
    let mut docs = docs.into_iter().filter(|d| !d.value.is_null());
    match (docs.next(), docs.next()) {
        (Some(doc), None) => Ok(doc.value),
        _ => Err(SpecError::Syntax { line: 1, message: format!("expected exactly one {what} document") }),
    }
}

impl Application {
    /// Read and validate an Application from YAML (or JSON) text.
    ///
    /// # Errors
    /// [`SpecError::Syntax`] for malformed YAML or a stream that is not exactly one document;
    /// [`SpecError::Invalid`] naming the field path for everything else.
    pub fn from_yaml(text: &str) -> Result<Self, SpecError> {
        Self::from_value(single_document(text, "Application")?)
    }

    /// Read every Application of a YAML stream (one or more documents, empty ones skipped), in
    /// order.
    ///
    /// # Errors
    /// [`SpecError::Syntax`] for malformed YAML or a stream without any document;
    /// [`SpecError::Invalid`] naming the document (by the line it starts on) and the field path
    /// at fault.
    pub fn from_yaml_stream(text: &str) -> Result<Vec<Self>, SpecError> {
        let docs = driftless_yaml::parse_stream(text)
            .map_err(|e| SpecError::Syntax { line: e.line, message: e.message })?;
        let apps = docs
            .into_iter()
            .filter(|d| !d.value.is_null())
            .map(|d| {
                Self::from_value(d.value).map_err(|e| match e {
                    SpecError::Invalid { path, message } => {
                        SpecError::Invalid { path: format!("document at line {}: {path}", d.line), message }
                    }
                    syntax @ SpecError::Syntax { .. } => syntax,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        if apps.is_empty() {
            return Err(SpecError::Syntax { line: 1, message: "no Application document".into() });
        }
        Ok(apps)
    }

    /// Read and validate an Application from a JSON value.
    ///
    /// # Errors
    /// [`SpecError::Invalid`] naming the field path at fault.
    pub fn from_value(value: Value) -> Result<Self, SpecError> {
        let app: Application = serde_path_to_error::deserialize(value).map_err(|e| {
            let path = e.path().to_string();
            let path = if path == "." { "(document)".to_owned() } else { path };
            SpecError::invalid(path, e.into_inner().to_string())
        })?;
        app.validate()?;
        Ok(app)
    }

    /// Check what serde cannot: names, paths, and combinations of fields.
    ///
    /// # Errors
    /// [`SpecError::Invalid`] naming the first field at fault.
    pub fn validate(&self) -> Result<(), SpecError> {
        if self.api_version != API_VERSION {
            return Err(SpecError::invalid(
                "apiVersion",
                format!("expected `{API_VERSION}`, found `{}`", self.api_version),
            ));
        }
        if self.kind != "Application" {
            return Err(SpecError::invalid("kind", format!("expected `Application`, found `{}`", self.kind)));
        }
        // The app's state lives in ConfigMap `driftless-<name>`: the name must fit in it.
        check_dns_label("metadata.name", &self.metadata.name, 63 - "driftless-".len())?;
        self.spec.validate()
    }
}

impl AppSpec {
    /// Check what serde cannot, with paths rooted at `spec`.
    ///
    /// # Errors
    /// [`SpecError::Invalid`] naming the first field at fault.
    pub fn validate(&self) -> Result<(), SpecError> {
        if self.source.repo_url.trim().is_empty() {
            return Err(SpecError::invalid("spec.source.repoURL", "must not be empty"));
        }
        if self.source.revision.trim().is_empty() {
            return Err(SpecError::invalid("spec.source.revision", "must not be empty"));
        }
        check_relative_path("spec.source.path", &self.source.path)?;

        self.verify.validate_at("spec.verify")?;

        if let Some(plugin) = &self.render.plugin
            && plugin.trim().is_empty()
        {
            return Err(SpecError::invalid("spec.render.plugin", "must not be empty when set"));
        }
        for (i, source) in self.policy.sources.iter().enumerate() {
            check_relative_path(&format!("spec.policy.sources[{i}].path"), &source.path)?;
            if source.revision.is_some() && source.repo_url.is_none() {
                return Err(SpecError::invalid(
                    format!("spec.policy.sources[{i}].revision"),
                    "only allowed with `repoURL` (policies in the app's repository are read at \
                     the app's revision)",
                ));
            }
        }
        if let Some(waivers) = &self.policy.waivers {
            check_relative_path("spec.policy.waivers", waivers)?;
        }
        if let Some(ns) = &self.destination.namespace {
            check_dns_label("spec.destination.namespace", ns, 63)?;
        }
        for (i, rule) in self.sync.ignore_differences.iter().enumerate() {
            if rule.kind.trim().is_empty() {
                return Err(SpecError::invalid(
                    format!("spec.sync.ignoreDifferences[{i}].kind"),
                    "must not be empty",
                ));
            }
            for (j, pointer) in rule.json_pointers.iter().enumerate() {
                if !pointer.starts_with('/') {
                    return Err(SpecError::invalid(
                        format!("spec.sync.ignoreDifferences[{i}].jsonPointers[{j}]"),
                        format!("`{pointer}` is not a JSON pointer (it must start with `/`)"),
                    ));
                }
            }
        }
        Ok(())
    }
}

fn check_dns_label(path: &str, value: &str, max: usize) -> Result<(), SpecError> {
    let ok = !value.is_empty()
        && value.len() <= max
        && value.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !value.starts_with('-')
        && !value.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(SpecError::invalid(
            path,
            format!(
                "`{value}` is not a valid name: lowercase letters, digits and `-`, starting and \
                 ending with a letter or digit, at most {max} characters"
            ),
        ))
    }
}

fn check_relative_path(path: &str, value: &str) -> Result<(), SpecError> {
    if value.is_empty() {
        return Err(SpecError::invalid(path, "must not be empty (use `.` for the top)"));
    }
    if value.starts_with('/') || value.contains('\\') {
        return Err(SpecError::invalid(
            path,
            format!("`{value}` must be a relative path with `/` separators"),
        ));
    }
    if value.split('/').any(|part| part == "..") {
        return Err(SpecError::invalid(path, format!("`{value}` must not contain `..`")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const FULL: &str = r#"
apiVersion: driftless.dev/v1alpha1
kind: Application
metadata: {name: guestbook}
spec:
  source: {repoURL: "https://git.example/apps.git", revision: main, path: apps/guestbook/prod}
  verify:
    mode: enforce
    target: tagAndCommit
    trust:
    - gpg: {publicKeys: "-----BEGIN PGP PUBLIC KEY BLOCK-----"}
    - ssh: {allowedSigners: "dev@example.com ssh-ed25519 AAAA"}
    - gitsign: {identity: dev@example.com, issuer: "https://accounts.example", fulcioRoots: PEM,
                requireTlog: true, rekor: {publicKeys: PEM}}
    requireSignedHistory: true
  render: {plugin: kustomize, params: {enableHelm: false}}
  policy:
    sources: [{path: policies/}, {repoURL: "https://git.example/pol.git", revision: v1, path: lib}]
    enforcement: warn
    waivers: policies/waivers.yaml
  destination: {namespace: guestbook}
  sync:
    automated: {prune: true, selfHeal: true}
    interval: 1h30m
    ignoreDifferences: [{group: apps, kind: Deployment, jsonPointers: [/spec/replicas]}]
  health: {timeout: 90s}
"#;

    fn with(edit: &str, replacement: &str) -> Result<Application, SpecError> {
        assert!(FULL.contains(edit), "test edit `{edit}` not found");
        Application::from_yaml(&FULL.replacen(edit, replacement, 1))
    }

    fn invalid_path(result: Result<Application, SpecError>) -> String {
        match result.unwrap_err() {
            SpecError::Invalid { path, .. } => path,
            other => panic!("expected an invalid field, got {other}"),
        }
    }

    #[test]
    fn a_stream_holds_several_apps_and_a_bad_one_is_named_by_its_line() {
        let second = FULL.replace("name: guestbook", "name: shop");
        let apps = Application::from_yaml_stream(&format!("{FULL}---\n---{second}")).unwrap();
        let names: Vec<&str> = apps.iter().map(|a| a.metadata.name.as_str()).collect();
        assert_eq!(names, ["guestbook", "shop"]);

        let bad = second.replace("revision: main", "revision: 7");
        let lines_before = FULL.lines().count();
        match Application::from_yaml_stream(&format!("{FULL}---{bad}")).unwrap_err() {
            SpecError::Invalid { path, .. } => {
                assert!(path.starts_with("document at line "), "{path}");
                let line: usize =
                    path["document at line ".len()..].split(':').next().unwrap().parse().unwrap();
                assert!(line > lines_before, "{path} should point into the second document");
            }
            other => panic!("expected an invalid field, got {other}"),
        }
        assert!(matches!(Application::from_yaml_stream("---\n"), Err(SpecError::Syntax { .. })));
    }

    #[test]
    fn a_full_spec_parses() {
        let app = Application::from_yaml(FULL).unwrap();
        assert_eq!(app.metadata.name, "guestbook");
        let spec = &app.spec;
        assert_eq!(spec.source.path, "apps/guestbook/prod");
        assert_eq!(spec.verify.mode, VerifyMode::Enforce);
        assert_eq!(spec.verify.target, VerifyTarget::TagAndCommit);
        assert_eq!(spec.verify.trust.len(), 3);
        assert!(matches!(&spec.verify.trust[2], TrustSource::Gitsign(g) if g.require_tlog));
        assert!(spec.verify.require_signed_history);
        assert!(!spec.verify.allow_history_rewrite);
        assert_eq!(spec.render.plugin.as_deref(), Some("kustomize"));
        assert_eq!(spec.policy.enforcement, Enforcement::Warn);
        assert_eq!(spec.policy.sources[1].revision.as_deref(), Some("v1"));
        assert_eq!(spec.sync.interval, Interval(Duration::from_secs(5400)));
        assert_eq!(spec.sync.automated, Some(AutomatedSync { prune: true, self_heal: true }));
        assert_eq!(spec.sync.ignore_differences[0].json_pointers, ["/spec/replicas"]);
        assert_eq!(spec.health.timeout, Interval(Duration::from_secs(90)));
        // Round trip through JSON keeps everything.
        let again = Application::from_value(serde_json::to_value(&app).unwrap()).unwrap();
        assert_eq!(again, app);
    }

    #[test]
    fn defaults_fail_closed() {
        let app = Application::from_yaml(
            "apiVersion: driftless.dev/v1alpha1\nkind: Application\nmetadata: {name: a}\n\
             spec:\n  source: {repoURL: ./repo}\n  verify: {mode: \"off\"}\n",
        )
        .unwrap();
        assert_eq!(app.spec.source.revision, "HEAD");
        assert_eq!(app.spec.source.path, ".");
        assert_eq!(app.spec.policy.enforcement, Enforcement::Deny);
        assert_eq!(app.spec.sync.interval, Interval(Duration::from_secs(180)));
        assert_eq!(app.spec.health.timeout, Interval(Duration::from_secs(300)));
        assert!(app.spec.sync.automated.is_none());
        // Without a verify section the mode is enforce, which needs trusted signers.
        let err = Application::from_yaml(
            "apiVersion: driftless.dev/v1alpha1\nkind: Application\nmetadata: {name: a}\n\
             spec:\n  source: {repoURL: ./repo}\n",
        )
        .unwrap_err();
        assert!(err.to_string().starts_with("spec.verify.trust: "), "{err}");
    }

    #[test]
    fn invalid_specs_name_the_field() {
        let cases: &[(&str, &str, &str)] = &[
            ("mode: enforce", "mode: enforced", "spec.verify.mode"),
            ("target: tagAndCommit", "targets: tag", "spec.verify.targets"),
            ("{name: guestbook}", "{name: Guest_Book}", "metadata.name"),
            ("kind: Application", "kind: App", "kind"),
            ("path: apps/guestbook/prod", "path: ../escape", "spec.source.path"),
            ("path: apps/guestbook/prod", "path: /abs", "spec.source.path"),
            ("repoURL: \"https://git.example/apps.git\"", "repoURL: \"\"", "spec.source.repoURL"),
            ("interval: 1h30m", "interval: soon", "spec.sync.interval"),
            ("interval: 1h30m", "interval: 0s", "spec.sync.interval"),
            ("timeout: 90s", "timeout: 5", "spec.health.timeout"),
            ("identity: dev@example.com, ", "", "spec.verify.trust[2].gitsign"),
            (
                "identity: dev@example.com,",
                "identity: dev@example.com, identityRegexp: '.*',",
                "spec.verify.trust[2].gitsign",
            ),
            ("issuer: \"https://accounts.example\"", "issuer: \"\"", "spec.verify.trust[2].gitsign.issuer"),
            (", rekor: {publicKeys: PEM}", "", "spec.verify.trust[2].gitsign.rekor"),
            (
                "- ssh: {allowedSigners: \"dev@example.com ssh-ed25519 AAAA\"}",
                "- ssh: {}",
                "spec.verify.trust[1].ssh",
            ),
            ("- gpg: {", "- pgp: {", "spec.verify.trust[0]"),
            ("enforcement: warn", "enforcement: block", "spec.policy.enforcement"),
            ("[/spec/replicas]", "[spec/replicas]", "spec.sync.ignoreDifferences[0].jsonPointers[0]"),
            ("{namespace: guestbook}", "{namespace: Guest}", "spec.destination.namespace"),
            ("{path: policies/}", "{path: policies/, revision: v2}", "spec.policy.sources[0].revision"),
            ("selfHeal: true", "selfHeal: yes", "spec.sync.automated.selfHeal"),
            ("health: {timeout: 90s}", "healthz: {}", "spec.healthz"),
        ];
        for (edit, replacement, path) in cases {
            assert_eq!(&invalid_path(with(edit, replacement)), path, "edit {edit} -> {replacement}");
        }
    }

    #[test]
    fn malformed_yaml_is_a_syntax_error_with_a_line() {
        let err = Application::from_yaml("apiVersion: x\nkind: [\n").unwrap_err();
        assert!(matches!(err, SpecError::Syntax { line, .. } if line >= 2), "{err}");
        let err = Application::from_yaml("a: 1\n---\nb: 2\n").unwrap_err();
        assert!(err.to_string().contains("exactly one"), "{err}");
    }

    #[test]
    fn a_trust_file_is_a_verify_section_with_paths_from_its_top() {
        let spec =
            VerifySpec::from_yaml("trust:\n- ssh: {allowedSigners: \"me@example.com ssh-ed25519 AAAA\"}\n")
                .unwrap();
        assert_eq!((spec.mode, spec.target), (VerifyMode::Enforce, VerifyTarget::Commit));
        let err = VerifySpec::from_yaml("mode: enforce\n").unwrap_err();
        assert!(err.to_string().contains("trust") && err.to_string().contains("`mode`"), "{err}");
        let err = VerifySpec::from_yaml("trust:\n- ssh: {allowedSigners: \" \"}\n").unwrap_err();
        assert!(err.to_string().contains("trust[0].ssh.allowedSigners"), "{err}");
        let err = VerifySpec::from_yaml("mode: sometimes\ntrust: []\n").unwrap_err();
        assert!(err.to_string().contains("mode"), "{err}");
        assert!(VerifySpec::from_yaml("a: [\n").is_err());
    }

    #[test]
    fn enforcement_weaker_of_two() {
        assert_eq!(Enforcement::Deny.weaker(Enforcement::Warn), Enforcement::Warn);
        assert_eq!(Enforcement::Dryrun.weaker(Enforcement::Deny), Enforcement::Dryrun);
        assert_eq!(Enforcement::Deny.weaker(Enforcement::Deny), Enforcement::Deny);
    }
}
