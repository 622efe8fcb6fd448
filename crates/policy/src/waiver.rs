//! Waivers: exceptions to policies, declared in Git, each with a justification and an expiry.
//!
//! ```yaml
//! apiVersion: driftless.dev/v1alpha1
//! kind: PolicyWaivers
//! waivers:
//!   - name: legacy-cron-latest
//!     policy: kubernetes.no_latest_tag     # a policy id, or a prefix ending in `*`
//!     selector:                            # every field optional; all must match
//!       kinds: [CronJob]
//!       namespaces: [batch]
//!       names: [legacy-*]
//!       labels: {team: data}
//!     justification: vendor image has no tags; ticket OPS-123
//!     expires: 2026-12-31                  # a date (valid through that day, UTC) or RFC 3339
//! ```

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, SystemTime};

use driftless_core::ObjectRef;
use driftless_core::policy::WaiverUse;
use serde::{Deserialize, Serialize};

use crate::PolicyError;

/// The `kind` of a waivers file.
pub const WAIVERS_KIND: &str = "PolicyWaivers";

/// Which objects a waiver covers. Every field is optional; all given must match.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WaiverSelector {
    /// Kinds (exact).
    #[serde(default)]
    pub kinds: Vec<String>,
    /// Namespaces (a trailing or leading `*` globs).
    #[serde(default)]
    pub namespaces: Vec<String>,
    /// Names (a trailing or leading `*` globs).
    #[serde(default)]
    pub names: Vec<String>,
    /// Labels the object must carry.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawWaiver {
    name: String,
    policy: String,
    #[serde(default)]
    selector: WaiverSelector,
    justification: String,
    expires: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawFile {
    #[serde(rename = "apiVersion")]
    _api_version: String,
    kind: String,
    #[serde(default)]
    metadata: Option<serde_json::Value>,
    #[serde(default)]
    waivers: Vec<RawWaiver>,
}

/// One waiver.
#[derive(Debug, Clone, PartialEq)]
pub struct Waiver {
    /// Its name, unique in the file.
    pub name: String,
    /// The policy id it waives, or a prefix ending in `*`.
    pub policy: String,
    /// The objects it covers.
    pub selector: WaiverSelector,
    /// Why it was granted.
    pub justification: String,
    /// When it stops applying.
    pub expires: SystemTime,
}

/// A waiver that has expired, for the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExpiredWaiver {
    /// Its name.
    pub name: String,
    /// The policy it waived.
    pub policy: String,
    /// When it expired (RFC 3339).
    pub expired: String,
}

fn glob(pattern: &str, text: &str) -> bool {
    match (pattern.strip_suffix('*'), pattern.strip_prefix('*')) {
        _ if pattern == "*" => true,
        (Some(prefix), _) => text.starts_with(prefix),
        (_, Some(suffix)) => text.ends_with(suffix),
        _ => pattern == text,
    }
}

impl Waiver {
    /// Whether the waiver covers `policy`'s verdict on `object` (with `labels`).
    pub fn covers<'a>(
        &self,
        policy: &str,
        object: &ObjectRef,
        label: impl Fn(&str) -> Option<&'a str>,
    ) -> bool {
        let s = &self.selector;
        glob(&self.policy, policy)
            && (s.kinds.is_empty() || s.kinds.contains(&object.kind))
            && (s.namespaces.is_empty()
                || object.namespace.as_deref().is_some_and(|ns| s.namespaces.iter().any(|p| glob(p, ns))))
            && (s.names.is_empty() || s.names.iter().any(|p| glob(p, &object.name)))
            && s.labels.iter().all(|(k, v)| label(k) == Some(v.as_str()))
    }

    /// Whether it applies at `now`.
    #[must_use]
    pub fn is_active(&self, now: SystemTime) -> bool {
        now < self.expires
    }

    /// The record of its use.
    #[must_use]
    pub fn usage(&self) -> WaiverUse {
        WaiverUse {
            name: self.name.clone(),
            justification: self.justification.clone(),
            expires: humantime::format_rfc3339_seconds(self.expires).to_string(),
        }
    }

    /// The record of its expiry.
    #[must_use]
    pub fn expired(&self) -> ExpiredWaiver {
        ExpiredWaiver {
            name: self.name.clone(),
            policy: self.policy.clone(),
            expired: humantime::format_rfc3339_seconds(self.expires).to_string(),
        }
    }
}

/// A date (`2026-12-31`, valid through the end of that day, UTC) or an RFC 3339 time.
fn parse_expiry(text: &str) -> Option<SystemTime> {
    let is_date = text.len() == 10 && text.as_bytes().get(4) == Some(&b'-');
    if is_date {
        let start = humantime::parse_rfc3339(&format!("{text}T00:00:00Z")).ok()?;
        return start.checked_add(Duration::from_secs(86_400));
    }
    humantime::parse_rfc3339_weak(text).ok()
}

/// Reads a waivers file's text. `path` is for messages.
pub fn parse_waivers(path: &Path, text: &str) -> Result<Vec<Waiver>, PolicyError> {
    let docs = driftless_yaml::parse_stream(text)
        .map_err(|e| PolicyError::Parse { path: path.to_owned(), message: e.to_string() })?;
    let mut out: Vec<Waiver> = Vec::new();
    for (d, doc) in docs.into_iter().enumerate() {
        let document = format!("document {} (line {})", d + 1, doc.line);
        let raw: RawFile = serde_path_to_error::deserialize(&doc.value).map_err(|e| {
            PolicyError::invalid(path, &document, e.path().to_string(), e.inner().to_string())
        })?;
        let _ = raw.metadata;
        if raw.kind != WAIVERS_KIND {
            return Err(PolicyError::invalid(
                path,
                &document,
                "kind",
                format!("{:?}, expected {WAIVERS_KIND}", raw.kind),
            ));
        }
        for (i, w) in raw.waivers.into_iter().enumerate() {
            let field = |f: &str| format!("waivers[{i}].{f}");
            if w.name.trim().is_empty() {
                return Err(PolicyError::invalid(path, &document, field("name"), "must not be empty"));
            }
            if out.iter().any(|o| o.name == w.name) {
                return Err(PolicyError::invalid(
                    path,
                    &document,
                    field("name"),
                    format!("{} is repeated", w.name),
                ));
            }
            if w.policy.trim().is_empty() {
                return Err(PolicyError::invalid(path, &document, field("policy"), "must not be empty"));
            }
            if w.justification.trim().is_empty() {
                return Err(PolicyError::invalid(
                    path,
                    &document,
                    field("justification"),
                    "must not be empty",
                ));
            }
            let expires = parse_expiry(w.expires.trim()).ok_or_else(|| {
                PolicyError::invalid(
                    path,
                    &document,
                    field("expires"),
                    format!("{:?} is not a date (2026-12-31) or an RFC 3339 time", w.expires),
                )
            })?;
            out.push(Waiver {
                name: w.name,
                policy: w.policy,
                selector: w.selector,
                justification: w.justification,
                expires,
            });
        }
    }
    Ok(out)
}

/// Reads a waivers file.
pub fn load_waivers(path: &Path) -> Result<Vec<Waiver>, PolicyError> {
    let text = std::fs::read_to_string(path).map_err(|e| PolicyError::io(path, e))?;
    parse_waivers(path, &text)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const FILE: &str = "apiVersion: driftless.dev/v1alpha1\nkind: PolicyWaivers\nwaivers:\n\
        - name: w1\n  policy: k8s.no_latest\n  selector: {kinds: [Deployment], namespaces: [shop], names: [legacy-*]}\n  \
        justification: vendor image\n  expires: 2026-12-31\n";

    fn r(kind: &str, ns: &str, name: &str) -> ObjectRef {
        ObjectRef {
            api_version: "apps/v1".into(),
            kind: kind.into(),
            namespace: Some(ns.into()),
            name: name.into(),
        }
    }

    #[test]
    fn a_waiver_covers_what_its_selector_names_until_it_expires() {
        let w = parse_waivers(Path::new("w.yaml"), FILE).unwrap().remove(0);
        assert!(w.covers("k8s.no_latest", &r("Deployment", "shop", "legacy-api"), |_| None));
        assert!(!w.covers("k8s.other", &r("Deployment", "shop", "legacy-api"), |_| None));
        assert!(!w.covers("k8s.no_latest", &r("Deployment", "shop", "api"), |_| None));
        assert!(!w.covers("k8s.no_latest", &r("StatefulSet", "shop", "legacy-api"), |_| None));
        let last_day = humantime::parse_rfc3339("2026-12-31T23:59:59Z").unwrap();
        let next_day = humantime::parse_rfc3339("2027-01-01T00:00:00Z").unwrap();
        assert!(w.is_active(last_day));
        assert!(!w.is_active(next_day));
        assert_eq!(w.usage().expires, "2027-01-01T00:00:00Z");
    }

    #[test]
    fn bad_waivers_name_the_field() {
        for (from, to, field) in [
            ("justification: vendor image", "justification: ' '", "waivers[0].justification"),
            ("expires: 2026-12-31", "expires: next year", "waivers[0].expires"),
            ("kind: PolicyWaivers", "kind: Waivers", "kind"),
            ("  policy: k8s.no_latest\n", "", "waivers[0]"),
            ("names: [legacy-*]", "name: [legacy-*]", "waivers[0].selector"),
        ] {
            let text = FILE.replace(from, to);
            let err = parse_waivers(Path::new("w.yaml"), &text).unwrap_err().to_string();
            assert!(err.starts_with("w.yaml: document 1 (line 1): "), "{err}");
            assert!(err.contains(field), "{field} not in {err}");
        }
    }
}
