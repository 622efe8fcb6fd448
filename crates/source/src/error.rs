//! The errors of the Source stage. URLs in them never carry credentials.

use std::path::PathBuf;
use std::time::Duration;

/// What went wrong fetching, resolving or checking out.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The repository URL cannot be used.
    #[error("repository {url}: {reason}")]
    Url {
        /// The URL, credentials removed.
        url: String,
        /// Why.
        reason: String,
    },
    /// The server could not be reached, or refused, or sent something unusable.
    #[error("fetch {url}: {reason}")]
    Fetch {
        /// The URL, credentials removed.
        url: String,
        /// The cause, as gix and the transport report it.
        reason: String,
    },
    /// The fetch did not finish in time.
    #[error("fetch {url}: no answer within {}", humantime::format_duration(*.timeout))]
    Timeout {
        /// The URL, credentials removed.
        url: String,
        /// The deadline that passed.
        timeout: Duration,
    },
    /// `open_cached` for a repository that was never fetched.
    #[error("repository {url} is not in the clone cache (it was never fetched)")]
    NotCached {
        /// The URL, credentials removed.
        url: String,
    },
    /// The revision names nothing in the repository.
    #[error("revision {revision:?} not found in {url}: not a branch, a tag or a commit id it has")]
    UnknownRevision {
        /// The URL, credentials removed.
        url: String,
        /// The revision asked for.
        revision: String,
    },
    /// A short commit id matching several objects.
    #[error("revision {revision:?} in {url} is ambiguous: give more digits")]
    AmbiguousRevision {
        /// The URL, credentials removed.
        url: String,
        /// The revision asked for.
        revision: String,
    },
    /// A revision expression that is not supported or leads nowhere (`main~99` past the root).
    #[error("revision {revision:?} in {url}: {reason}")]
    BadRevision {
        /// The URL, credentials removed.
        url: String,
        /// The revision asked for.
        revision: String,
        /// Why.
        reason: String,
    },
    /// The revision resolves to something that is not a commit.
    #[error("revision {revision:?} in {url} is a {kind}, not a commit")]
    NotACommit {
        /// The URL, credentials removed.
        url: String,
        /// The revision asked for.
        revision: String,
        /// What it is instead.
        kind: String,
    },
    /// The app path is absent at the commit, or leaves the checkout.
    #[error("path {path:?} {reason} at commit {commit}")]
    BadPath {
        /// The app path as given.
        path: String,
        /// The commit checked out.
        commit: String,
        /// Why.
        reason: &'static str,
    },
    /// Reading the repository failed (a corrupt cache, a missing object).
    #[error("repository {url}: {reason}")]
    Repository {
        /// The URL, credentials removed.
        url: String,
        /// The cause.
        reason: String,
    },
    /// Writing the cache or a checkout failed.
    #[error("{}: {source}", .path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

impl SourceError {
    /// Whether the error is about reaching the server (retry later, keep the last good
    /// checkout) rather than about the input.
    pub fn is_unreachable(&self) -> bool {
        matches!(self, SourceError::Fetch { .. } | SourceError::Timeout { .. })
    }

    /// Whether the input is at fault (a bad URL, revision or path) rather than the server,
    /// the network or the cache.
    #[must_use]
    pub fn is_input(&self) -> bool {
        matches!(
            self,
            SourceError::Url { .. }
                | SourceError::UnknownRevision { .. }
                | SourceError::AmbiguousRevision { .. }
                | SourceError::BadRevision { .. }
                | SourceError::NotACommit { .. }
                | SourceError::BadPath { .. }
        )
    }

    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> SourceError {
        let path = path.into();
        move |source| SourceError::Io { path, source }
    }
}

/// The whole chain of a gix error on one line, credentials removed.
pub(crate) fn describe(error: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = Some(error);
    while let Some(e) = next {
        let text = crate::auth::redact_text(&e.to_string());
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        next = e.source();
    }
    parts.join(": ")
}
