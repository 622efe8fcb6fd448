//! The Source stage of driftless: fetch a Git repository with gix into a clone cache, resolve a
//! revision (branch, tag, full or short commit id, optionally with `~N`/`^N`/`^{kind}`
//! suffixes), and check a commit out as a read-only directory for the renderer.
//!
//! One bare clone per repository URL is shared by every app on that repository, so a fetch with
//! nothing new costs a handshake. Transports: local paths and `file://` (through
//! `git-upload-pack`, as git does), `git://`, smart HTTP(S) with basic or token auth, and SSH
//! (the `ssh` program with a key, `BatchMode` and a checked `known_hosts`). Every network step
//! runs under a deadline. A failed fetch changes nothing in the cache, so the last good
//! checkout stays usable ([`Source::open_cached`]).
//!
//! This crate does not verify signatures (`driftless-verify` does, on the raw objects that
//! [`Repo::raw_object`] returns). Main entry point: [`Source::fetch`].

mod auth;
mod checkout;
mod error;
mod fetch;
mod repo;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

pub use auth::{Auth, SshAuth, redact_url};
pub use checkout::Checkout;
pub use error::SourceError;
pub use gix::ObjectId;
pub use repo::{Repo, Resolved, RevisionKind};

/// The default deadline of one fetch (connect, negotiate, receive the pack).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);

/// The clone cache: where repositories and checkouts live, and how long a fetch may take.
///
/// Clones of a `Source` share its memory of recent fetches: callers that asked for the same
/// repository while a fetch of it was running share the next fetch (see [`Source::fetch`]).
#[derive(Debug, Clone)]
pub struct Source {
    dir: PathBuf,
    timeout: Duration,
    recent: Arc<fetch::Recent>,
}

impl Source {
    /// A cache rooted at `dir` (created on first use).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into(), timeout: DEFAULT_TIMEOUT, recent: Arc::default() }
    }

    /// How many fetches this `Source` (and its clones) actually ran, not counting callers that
    /// shared another caller's fetch.
    #[must_use]
    pub fn network_fetches(&self) -> u64 {
        self.recent.count()
    }

    /// Use `timeout` as the deadline of each fetch.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The default cache directory: `$DRIFTLESS_CACHE_DIR/git`, else
    /// `$XDG_CACHE_HOME/driftless/git`, else `~/.cache/driftless/git`.
    pub fn default_dir() -> PathBuf {
        let env = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from);
        if let Some(dir) = env("DRIFTLESS_CACHE_DIR") {
            return dir.join("git");
        }
        let base = env("XDG_CACHE_HOME")
            .or_else(|| env("HOME").map(|home| home.join(".cache")))
            .unwrap_or_else(std::env::temp_dir);
        base.join("driftless").join("git")
    }

    /// The cache directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Fetch `url` (a URL or a local path) into its cached clone, creating the clone on first
    /// use, and return it with the remote's refs as they were just advertised.
    ///
    /// Fetches of one repository run one at a time (a lock file in the cache). A caller gets
    /// the result of a fetch that started after it called, never an older one: callers that
    /// wait while a fetch runs share the next one instead of each running their own, so 200
    /// apps on one repository cost a couple of fetches, and nobody sees a stale remote.
    ///
    /// # Errors
    /// [`SourceError::Url`] for a URL that cannot be parsed, [`SourceError::Timeout`] when the
    /// deadline passes, [`SourceError::Fetch`] when the server cannot be reached or refuses;
    /// the cached clone is left as it was.
    pub fn fetch(&self, url: &str, auth: &Auth) -> Result<Repo, SourceError> {
        fetch::fetch(self, url, auth)
    }

    /// The cached clone of `url` as of its last successful fetch, without any network: the
    /// fallback when the server is down.
    ///
    /// # Errors
    /// [`SourceError::NotCached`] when `url` was never fetched.
    pub fn open_cached(&self, url: &str) -> Result<Repo, SourceError> {
        let path = self.repo_dir(url);
        if !path.join("HEAD").is_file() {
            return Err(SourceError::NotCached { url: auth::redact_url(url) });
        }
        Repo::open(&path, url, None, &self.dir.join("checkouts"))
    }

    pub(crate) fn repo_dir(&self, url: &str) -> PathBuf {
        self.dir.join("repos").join(cache_key(url))
    }

    pub(crate) fn timeout(&self) -> Duration {
        self.timeout
    }
}

/// A stable directory name for `url`: a hash, so a URL with credentials leaves no trace on disk.
fn cache_key(url: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(url.trim_end_matches('/').as_bytes());
    digest.iter().take(12).map(|b| format!("{b:02x}")).collect::<String>() + ".git"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_keys_are_stable_and_ignore_a_trailing_slash() {
        assert_eq!(cache_key("git://h/r"), cache_key("git://h/r/"));
        assert_ne!(cache_key("git://h/r"), cache_key("git://h/s"));
        assert!(!cache_key("https://u:token@h/r").contains("token"));
    }
}
