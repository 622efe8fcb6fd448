//! Flags every command that fetches from Git shares: the clone cache, the fetch deadline and
//! credentials.

use std::path::PathBuf;
use std::time::Duration;

use driftless_core::Secret;
use driftless_source::{Auth, Source, SshAuth};

use crate::parse_duration;

/// The environment variable holding the HTTP(S) password or token (never a flag: flags show
/// in the process list).
pub(crate) const PASSWORD_ENV: &str = "DRIFTLESS_GIT_PASSWORD";

#[derive(Debug, clap::Args)]
pub(crate) struct GitArgs {
    /// The clone cache [default: $DRIFTLESS_CACHE_DIR/git, else ~/.cache/driftless/git].
    #[arg(long, value_name = "DIR")]
    cache_dir: Option<PathBuf>,
    /// Deadline of a fetch, e.g. 30s.
    #[arg(long, value_name = "DURATION", default_value = "120s", value_parser = parse_duration)]
    timeout: Duration,
    /// HTTP(S) user name; the password or token is read from $DRIFTLESS_GIT_PASSWORD.
    #[arg(long, value_name = "NAME")]
    username: Option<String>,
    /// SSH private key for ssh:// and user@host:path repositories.
    #[arg(long, value_name = "FILE")]
    ssh_key: Option<PathBuf>,
    /// known_hosts file the SSH server's key must be in [default: ssh's own].
    #[arg(long, value_name = "FILE", requires = "ssh_key")]
    known_hosts: Option<PathBuf>,
}

impl GitArgs {
    /// The credentials, the password from the environment.
    pub(crate) fn auth(&self) -> Auth {
        Auth {
            username: self.username.clone(),
            password: std::env::var(PASSWORD_ENV).ok().filter(|p| !p.is_empty()).map(Secret::new),
            ssh: self
                .ssh_key
                .clone()
                .map(|private_key| SshAuth { private_key, known_hosts: self.known_hosts.clone() }),
        }
    }

    /// The clone cache with the deadline.
    pub(crate) fn source(&self) -> Source {
        Source::new(self.cache_dir.clone().unwrap_or_else(Source::default_dir)).with_timeout(self.timeout)
    }
}
