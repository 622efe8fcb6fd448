//! Selecting resources: patch targets, replacement sources and targets.

use regex::Regex;
use serde_json::{Map, Value};

use crate::kustomization::Selector;
use crate::res::Res;

/// A compiled [`Selector`].
pub(crate) struct Select<'a> {
    sel: &'a Selector,
    name: Option<Regex>,
    namespace: Option<Regex>,
    labels: Option<Vec<Requirement>>,
    annotations: Option<Vec<Requirement>>,
}

fn anchored(pattern: &str, what: &str) -> Result<Regex, String> {
    Regex::new(&format!("^(?:{pattern})$"))
        .map_err(|e| format!("target {what} {pattern:?} is not a valid regular expression: {e}"))
}

impl<'a> Select<'a> {
    pub(crate) fn new(sel: &'a Selector) -> Result<Self, String> {
        Ok(Self {
            sel,
            name: sel.name.as_deref().map(|p| anchored(p, "name")).transpose()?,
            namespace: sel.namespace.as_deref().map(|p| anchored(p, "namespace")).transpose()?,
            labels: sel.label_selector.as_deref().map(parse_selector).transpose()?,
            annotations: sel.annotation_selector.as_deref().map(parse_selector).transpose()?,
        })
    }

    /// Whether `res` is selected: every set field must match; name and namespace may match
    /// the current or the original values (as kustomize selects).
    pub(crate) fn matches(&self, res: &Res) -> bool {
        let eq =
            |want: &Option<String>, have: &str| want.as_deref().is_none_or(|w| w.is_empty() || w == have);
        eq(&self.sel.group, res.group())
            && eq(&self.sel.version, res.version())
            && eq(&self.sel.kind, res.kind())
            && self.name.as_ref().is_none_or(|r| r.is_match(res.name()) || r.is_match(res.original().1))
            && self.namespace.as_ref().is_none_or(|r| {
                let effective = |ns: &str| {
                    if ns.is_empty() && res.namespaced() { "default".to_owned() } else { ns.to_owned() }
                };
                r.is_match(&effective(res.namespace())) || r.is_match(&effective(res.original().0))
            })
            && self.labels.as_ref().is_none_or(|reqs| reqs.iter().all(|r| r.matches(res.meta_map("labels"))))
            && self
                .annotations
                .as_ref()
                .is_none_or(|reqs| reqs.iter().all(|r| r.matches(res.meta_map("annotations"))))
    }
}

/// One requirement of a Kubernetes label selector.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Requirement {
    Equals(String, String),
    NotEquals(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    NotExists(String),
}

impl Requirement {
    fn matches(&self, map: Option<&Map<String, Value>>) -> bool {
        let get = |k: &str| map.and_then(|m| m.get(k)).and_then(Value::as_str);
        match self {
            Requirement::Equals(k, v) => get(k) == Some(v),
            Requirement::NotEquals(k, v) => get(k) != Some(v),
            Requirement::In(k, vs) => get(k).is_some_and(|x| vs.iter().any(|v| v == x)),
            Requirement::NotIn(k, vs) => get(k).is_none_or(|x| !vs.iter().any(|v| v == x)),
            Requirement::Exists(k) => get(k).is_some(),
            Requirement::NotExists(k) => get(k).is_none(),
        }
    }
}

/// Split at commas outside parentheses.
fn split_top(text: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0usize, 0usize);
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

fn parse_selector(text: &str) -> Result<Vec<Requirement>, String> {
    let bad = || format!("invalid label selector {text:?}");
    let mut out = Vec::new();
    for part in split_top(text) {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        let set = |rest: &str| -> Result<Vec<String>, String> {
            let inner = rest.trim().strip_prefix('(').and_then(|r| r.strip_suffix(')')).ok_or_else(bad)?;
            Ok(inner.split(',').map(|v| v.trim().to_owned()).filter(|v| !v.is_empty()).collect())
        };
        if let Some((k, v)) = part.split_once("!=") {
            out.push(Requirement::NotEquals(k.trim().into(), v.trim().into()));
        } else if let Some((k, v)) = part.split_once("==").or_else(|| part.split_once('=')) {
            out.push(Requirement::Equals(k.trim().into(), v.trim().into()));
        } else if let Some((k, rest)) = part.split_once(" notin ") {
            out.push(Requirement::NotIn(k.trim().into(), set(rest)?));
        } else if let Some((k, rest)) = part.split_once(" in ") {
            out.push(Requirement::In(k.trim().into(), set(rest)?));
        } else if let Some(k) = part.strip_prefix('!') {
            out.push(Requirement::NotExists(k.trim().into()));
        } else if part.chars().all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c)) {
            out.push(Requirement::Exists(part.into()));
        } else {
            return Err(bad());
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    #[test]
    fn label_selectors() {
        let labels = json!({"app": "web", "tier": "fe"});
        let m = labels.as_object();
        let ok = |s: &str| parse_selector(s).unwrap().iter().all(|r| r.matches(m));
        assert!(ok("app=web,tier in (fe, be)"));
        assert!(ok("app==web,!missing,tier"));
        assert!(!ok("app!=web"));
        assert!(ok("tier notin (be)"));
        assert!(!ok("app in (x)"));
        assert!(parse_selector("app in x").is_err());
    }
}
