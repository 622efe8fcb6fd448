//! A cached clone: resolving revisions, reading raw objects, walking history.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use gix::ObjectId;
use gix::objs::Kind;

use crate::SourceError;
use crate::auth::redact_url;
use crate::checkout::{self, Checkout};
use crate::error::describe;

/// The file in the clone that remembers the remote's HEAD target, for offline resolution.
const REMOTE_HEAD_FILE: &str = "driftless-remote-head";

/// The refs a server advertised in the fetch that just happened: the truth about what exists
/// upstream (a branch deleted there no longer resolves, even if the clone still has it).
#[derive(Debug, Clone, Default)]
pub(crate) struct RemoteRefs {
    /// Full ref name → (object the ref points to, peeled commit-ish).
    refs: BTreeMap<String, ObjectId>,
    /// What HEAD points to: (target ref name if symbolic, object).
    head: Option<(Option<String>, ObjectId)>,
}

impl RemoteRefs {
    pub(crate) fn from_handshake(refs: &[gix::protocol::handshake::Ref]) -> Self {
        use gix::protocol::handshake::Ref;
        let mut out = RemoteRefs::default();
        for r in refs {
            match r {
                Ref::Peeled { full_ref_name, tag, .. } => {
                    out.refs.insert(full_ref_name.to_string(), *tag);
                }
                Ref::Direct { full_ref_name, object } if full_ref_name == "HEAD" => {
                    out.head = Some((None, *object));
                }
                Ref::Direct { full_ref_name, object } => {
                    out.refs.insert(full_ref_name.to_string(), *object);
                }
                Ref::Symbolic { full_ref_name, target, tag, object } if full_ref_name == "HEAD" => {
                    out.head = Some((Some(target.to_string()), tag.unwrap_or(*object)));
                }
                Ref::Symbolic { full_ref_name, tag, object, .. } => {
                    out.refs.insert(full_ref_name.to_string(), tag.unwrap_or(*object));
                }
                Ref::Unborn { .. } => {}
            }
        }
        out
    }
}

/// How a revision was named.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub enum RevisionKind {
    /// The remote's default branch (`HEAD`).
    Head,
    /// A branch.
    Branch,
    /// A tag (lightweight or annotated).
    Tag,
    /// A full or short commit id.
    Commit,
    /// One of the above with git's `~N`, `^N` or `^{kind}` suffixes (`main~1`).
    Expression,
}

/// A revision resolved to a commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The revision as asked for.
    pub revision: String,
    /// What kind of name it was.
    pub kind: RevisionKind,
    /// The full ref name (`refs/heads/main`), when it named a ref (not for an expression).
    pub ref_name: Option<String>,
    /// The commit.
    pub commit: ObjectId,
    /// The annotated tag object, when the revision is an annotated tag.
    pub tag: Option<ObjectId>,
}

/// A clone in the cache.
pub struct Repo {
    repo: gix::Repository,
    url: String,
    remote: Option<RemoteRefs>,
    checkouts: PathBuf,
}

impl std::fmt::Debug for Repo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Repo").field("url", &self.url).field("path", &self.repo.path()).finish()
    }
}

impl Repo {
    pub(crate) fn open(
        path: &Path,
        url: &str,
        remote: Option<RemoteRefs>,
        checkouts: &Path,
    ) -> Result<Self, SourceError> {
        let url = redact_url(url);
        let repo = gix::open_opts(path, gix::open::Options::isolated())
            .map_err(|e| SourceError::Repository { url: url.clone(), reason: describe(&e) })?;
        if let Some((Some(target), _)) = remote.as_ref().and_then(|r| r.head.as_ref()) {
            let file = path.join(REMOTE_HEAD_FILE);
            std::fs::write(&file, target).map_err(SourceError::io(file))?;
        }
        Ok(Self { repo, url, remote, checkouts: checkouts.to_owned() })
    }

    /// The URL, credentials removed.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Whether this handle comes from a fetch that just happened (not the offline fallback).
    pub fn is_fresh(&self) -> bool {
        self.remote.is_some()
    }

    fn error(&self, e: &gix::Error) -> SourceError {
        SourceError::Repository { url: self.url.clone(), reason: describe(e) }
    }

    /// Resolve `revision`: `HEAD` (the remote's default branch), a full ref name, a tag, a
    /// branch (a tag wins over a branch of the same name, as in git), or a full or short
    /// commit id; or one of those followed by git's `~N`, `^N` and `^{kind}` suffixes
    /// (`main~1`, `v1.0^{commit}`, `HEAD^2`). The name before the first `~` or `^` is resolved
    /// as above, against the refs the server just advertised, so an expression never sees a
    /// branch deleted upstream.
    ///
    /// # Errors
    /// [`SourceError::UnknownRevision`], [`SourceError::AmbiguousRevision`],
    /// [`SourceError::NotACommit`], [`SourceError::BadRevision`] for an expression that is not
    /// supported (reflog `@{...}`, ranges, `:path`) or leads nowhere (`main~99` past the root).
    pub fn resolve(&self, revision: &str) -> Result<Resolved, SourceError> {
        let revision = revision.trim();
        let bad = |reason: &str| SourceError::BadRevision {
            url: self.url.clone(),
            revision: revision.to_owned(),
            reason: reason.to_owned(),
        };
        if revision.contains("@{") {
            return Err(bad(
                "reflog expressions (`@{...}`) are not supported: the clone cache keeps no reflog",
            ));
        }
        if revision.contains("..") {
            return Err(bad("a range names several commits, not one"));
        }
        // Ref names cannot hold `~`, `^` or `:`, so the name ends at the first of them.
        let (kind, ref_name, target) = match revision.find(['~', '^', ':']) {
            None => self.resolve_name(revision)?,
            Some(0) => return Err(bad("an expression starts with a branch, a tag or a commit id")),
            Some(at) if revision.as_bytes()[at] == b':' => {
                return Err(bad("`:path` names a file, not a commit"));
            }
            Some(at) => {
                let (name, suffix) = revision.split_at(at);
                let (_, _, base) = self.resolve_name(name)?;
                // Parsed by gix from the base's full id, so only the suffix is interpreted.
                let spec = format!("{base}{suffix}");
                let id = self.repo.rev_parse_single(spec.as_str()).map_err(|e| bad(&describe(&e)))?;
                (RevisionKind::Expression, None, id.detach())
            }
        };
        let object = self.repo.find_object(target).map_err(|e| self.error(&e))?;
        let tag = (object.kind == Kind::Tag).then_some(target);
        let object_kind = object.kind;
        let commit = object.peel_to_kind(Kind::Commit).map_err(|_| SourceError::NotACommit {
            url: self.url.clone(),
            revision: revision.to_owned(),
            kind: match object_kind {
                Kind::Tag => "tag of a non-commit".into(),
                other => other.to_string(),
            },
        })?;
        Ok(Resolved { revision: revision.to_owned(), kind, ref_name, commit: commit.id, tag })
    }

    /// A plain name: `HEAD`, a full ref name, a tag, a branch, or a full or short commit id.
    fn resolve_name(&self, revision: &str) -> Result<(RevisionKind, Option<String>, ObjectId), SourceError> {
        let unknown =
            || SourceError::UnknownRevision { url: self.url.clone(), revision: revision.to_owned() };
        if revision.is_empty() {
            return Err(unknown());
        }
        let named = if revision == "HEAD" {
            self.head_ref()?.map(|(name, id)| (RevisionKind::Head, name, id))
        } else {
            let candidates = [
                (RevisionKind::Branch, revision.strip_prefix("refs/heads/").map(|_| revision.to_owned())),
                (RevisionKind::Tag, revision.strip_prefix("refs/tags/").map(|_| revision.to_owned())),
                (RevisionKind::Tag, Some(format!("refs/tags/{revision}"))),
                (RevisionKind::Branch, Some(format!("refs/heads/{revision}"))),
            ];
            let mut found = None;
            for (kind, name) in candidates {
                let Some(name) = name else { continue };
                if let Some(id) = self.find_ref(&name)? {
                    found = Some((kind, Some(name), id));
                    break;
                }
            }
            found
        };
        match named {
            Some(found) => Ok(found),
            None if is_hex_id(revision) => Ok((RevisionKind::Commit, None, self.find_commit_id(revision)?)),
            None => Err(unknown()),
        }
    }

    fn head_ref(&self) -> Result<Option<(Option<String>, ObjectId)>, SourceError> {
        if let Some(remote) = &self.remote {
            return Ok(remote.head.clone());
        }
        let Ok(target) = std::fs::read_to_string(self.repo.path().join(REMOTE_HEAD_FILE)) else {
            return Ok(None);
        };
        Ok(self.find_ref(target.trim())?.map(|id| (Some(target.trim().to_owned()), id)))
    }

    /// The object a ref points to: from the fresh advertisement when there is one, else from
    /// the clone.
    fn find_ref(&self, name: &str) -> Result<Option<ObjectId>, SourceError> {
        if let Some(remote) = &self.remote {
            return Ok(remote.refs.get(name).copied());
        }
        match self.repo.try_find_reference(name) {
            Ok(Some(mut r)) => Ok(Some(r.peel_to_id().map_err(|e| self.error(&e))?.detach())),
            Ok(None) => Ok(None),
            Err(e) => Err(self.error(&e)),
        }
    }

    fn find_commit_id(&self, hex: &str) -> Result<ObjectId, SourceError> {
        let prefix = gix::hash::Prefix::from_hex(hex)
            .map_err(|_| SourceError::UnknownRevision { url: self.url.clone(), revision: hex.to_owned() })?;
        match self.repo.objects.lookup_prefix(prefix, None) {
            Ok(Some(Ok(id))) => Ok(id),
            Ok(Some(Err(()))) => {
                Err(SourceError::AmbiguousRevision { url: self.url.clone(), revision: hex.to_owned() })
            }
            Ok(None) => Err(SourceError::UnknownRevision { url: self.url.clone(), revision: hex.to_owned() }),
            Err(e) => Err(SourceError::Repository { url: self.url.clone(), reason: describe(&e) }),
        }
    }

    /// The raw content of a commit or tag object, exactly as `git cat-file commit|tag` prints
    /// it: what signatures are made over.
    ///
    /// # Errors
    /// [`SourceError::Repository`] when the object is missing.
    pub fn raw_object(&self, id: ObjectId) -> Result<Vec<u8>, SourceError> {
        let object = self.repo.find_object(id).map_err(|e| self.error(&e))?;
        Ok(object.data.clone())
    }

    /// Whether `ancestor` is `descendant` or one of its ancestors.
    ///
    /// # Errors
    /// [`SourceError::Repository`] when history cannot be read.
    pub fn is_ancestor(&self, ancestor: ObjectId, descendant: ObjectId) -> Result<bool, SourceError> {
        if ancestor == descendant {
            return Ok(true);
        }
        if self.repo.find_object(ancestor).is_err() {
            // Not even in the clone: certainly not in the new revision's history.
            return Ok(false);
        }
        let base = self.repo.merge_base(ancestor, descendant).map_err(|e| self.error(&e))?;
        Ok(base.is_some_and(|b| b.detach() == ancestor))
    }

    /// The commits reachable from `tip` and not from `since`, newest first (`since..tip`).
    ///
    /// # Errors
    /// [`SourceError::Repository`] when history cannot be read.
    pub fn commits_between(&self, since: ObjectId, tip: ObjectId) -> Result<Vec<ObjectId>, SourceError> {
        let walk = self.repo.rev_walk([tip]).with_hidden([since]).all().map_err(|e| self.error(&e))?;
        let mut out = Vec::new();
        for info in walk {
            let info = info.map_err(|e| self.error(&e))?;
            out.push(info.id);
        }
        Ok(out)
    }

    /// Check `commit` out as a read-only directory, once per commit: later calls return the
    /// same directory.
    ///
    /// # Errors
    /// [`SourceError::Io`] when the cache cannot be written, [`SourceError::Repository`] when
    /// objects are missing.
    pub fn checkout(&self, commit: ObjectId) -> Result<Checkout, SourceError> {
        checkout::checkout(&self.repo, &self.url, commit, &self.checkouts)
    }
}

fn is_hex_id(s: &str) -> bool {
    (4..=40).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commit_ids_are_four_to_forty_hex_digits() {
        assert!(is_hex_id("abcd") && is_hex_id("0123456789abcdef0123456789abcdef01234567"));
        assert!(!is_hex_id("abc") && !is_hex_id("main") && !is_hex_id("v1.0"));
        assert!(!is_hex_id(&"a".repeat(41)));
    }
}
