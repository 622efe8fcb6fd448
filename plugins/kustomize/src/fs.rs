//! The checkout, read through paths relative to the render root (`/`-separated, normalised,
//! `.` for the root itself), and kustomize's load restrictor.

use std::path::PathBuf;

use crate::error::Error;

/// Read-only access to the render root.
pub(crate) struct Fs {
    root: PathBuf,
}

/// How a path names something on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Entry {
    File,
    Dir,
    Missing,
}

/// The names kustomize looks for, in its order.
pub(crate) const KUSTOMIZATION_FILES: [&str; 3] =
    ["kustomization.yaml", "kustomization.yml", "Kustomization"];

impl Fs {
    pub(crate) fn new(root: PathBuf) -> Self {
        Self { root }
    }

    fn real(&self, rel: &str) -> PathBuf {
        if rel == "." { self.root.clone() } else { self.root.join(rel) }
    }

    pub(crate) fn entry(&self, rel: &str) -> Entry {
        match std::fs::metadata(self.real(rel)) {
            Ok(m) if m.is_dir() => Entry::Dir,
            Ok(_) => Entry::File,
            Err(_) => Entry::Missing,
        }
    }

    pub(crate) fn read(&self, rel: &str) -> Result<Vec<u8>, Error> {
        std::fs::read(self.real(rel)).map_err(|e| Error::Read { file: rel.to_owned(), reason: e.to_string() })
    }

    pub(crate) fn read_text(&self, rel: &str) -> Result<String, Error> {
        String::from_utf8(self.read(rel)?)
            .map_err(|_| Error::Read { file: rel.to_owned(), reason: "not valid UTF-8 text".into() })
    }

    /// The kustomization file of directory `dir`, if any.
    pub(crate) fn kustomization_file(&self, dir: &str) -> Option<String> {
        KUSTOMIZATION_FILES
            .iter()
            .map(|name| join_unchecked(dir, name))
            .find(|path| self.entry(path) == Entry::File)
    }
}

fn join_unchecked(dir: &str, name: &str) -> String {
    if dir == "." { name.to_owned() } else { format!("{dir}/{name}") }
}

/// `entry` (as written in a kustomization in `dir`) as a normalised path relative to the
/// render root; `None` when it leaves the root or is absolute.
pub(crate) fn join(dir: &str, entry: &str) -> Option<String> {
    if entry.starts_with('/') {
        return None;
    }
    let mut parts: Vec<&str> = if dir == "." { Vec::new() } else { dir.split('/').collect() };
    for part in entry.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            other => parts.push(other),
        }
    }
    Some(if parts.is_empty() { ".".to_owned() } else { parts.join("/") })
}

/// Whether `path` is `dir` or under it.
pub(crate) fn is_within(path: &str, dir: &str) -> bool {
    dir == "." || path == dir || path.strip_prefix(dir).is_some_and(|rest| rest.starts_with('/'))
}

/// The last component of a path.
pub(crate) fn base_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// Whether a resource entry is a remote base kustomize would fetch.
pub(crate) fn is_remote(entry: &str) -> bool {
    let lower = entry.to_ascii_lowercase();
    [
        "http://",
        "https://",
        "git::",
        "git@",
        "ssh://",
        "file://",
        "github.com/",
        "gitlab.com/",
        "bitbucket.org/",
    ]
    .iter()
    .any(|p| lower.starts_with(p))
        || lower.contains("?ref=")
        || lower.contains(".git//")
}

/// A file named by `entry` in the kustomization at `dir` (declared in `kfile`), checked
/// against the load restrictor: it must be under `dir`.
pub(crate) fn restricted_file(kfile: &str, dir: &str, entry: &str) -> Result<String, Error> {
    if is_remote(entry) {
        return Err(Error::Remote { file: kfile.to_owned(), entry: entry.to_owned() });
    }
    let restricted =
        || Error::Restricted { file: kfile.to_owned(), entry: entry.to_owned(), root: dir.to_owned() };
    let path = join(dir, entry).ok_or_else(restricted)?;
    if !is_within(&path, dir) {
        return Err(restricted());
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_normalise_and_stay_in_the_root() {
        assert_eq!(join("a/b", "../c/./d.yaml").as_deref(), Some("a/c/d.yaml"));
        assert_eq!(join(".", "x").as_deref(), Some("x"));
        assert_eq!(join("a", "..").as_deref(), Some("."));
        assert_eq!(join("a", "../.."), None);
        assert_eq!(join("a", "/etc/passwd"), None);
        assert!(is_within("a/b", "a") && is_within("a", "a") && !is_within("ab", "a") && is_within("x", "."));
        assert!(
            is_remote("https://github.com/x/y")
                && is_remote("github.com/x/y?ref=v1")
                && !is_remote("../base")
        );
        assert!(matches!(
            restricted_file("k/kustomization.yaml", "k", "../x.yaml"),
            Err(Error::Restricted { .. })
        ));
        assert_eq!(
            restricted_file("k/kustomization.yaml", "k", "sub/x.yaml").unwrap_or_default(),
            "k/sub/x.yaml"
        );
    }
}
