//! Fetching into the clone cache, under a deadline and a per-repository lock.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use gix::remote::Direction;
use gix::remote::fetch::Tags;

use crate::auth::redact_url;
use crate::error::describe;
use crate::repo::RemoteRefs;
use crate::{Auth, Repo, Source, SourceError};

/// What the clone mirrors: branches and tags under their own names, and the remote's HEAD.
const REFSPECS: [&str; 2] = ["+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"];

pub(crate) fn fetch(source: &Source, url: &str, auth: &Auth) -> Result<Repo, SourceError> {
    // reqwest is built without a default TLS provider (that would pull in aws-lc); ring is
    // the workspace's. Installing twice is harmless: the first one stays.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let shown = redact_url(url);
    let gix_url = to_gix_url(url).map_err(|reason| SourceError::Url { url: shown.clone(), reason })?;
    let dir = source.repo_dir(url);
    let checkouts = source.dir().join("checkouts");
    for d in [dir.parent(), Some(checkouts.as_path())].into_iter().flatten() {
        std::fs::create_dir_all(d).map_err(SourceError::io(d))?;
    }

    let deadline = Instant::now() + source.timeout();
    let interrupt = Arc::new(AtomicBool::new(false));
    let (tx, rx) = mpsc::channel();
    let job = {
        let (dir, auth, shown, interrupt) =
            (dir.clone(), auth.clone(), shown.clone(), Arc::clone(&interrupt));
        let timeout = source.timeout();
        move || {
            let result = locked_fetch(&dir, gix_url, &auth, &shown, deadline, timeout, &interrupt);
            // The caller may have given up already; then nobody listens.
            let _ = tx.send(result);
        }
    };
    std::thread::Builder::new().name("driftless-fetch".into()).spawn(job).map_err(|e| {
        SourceError::Fetch { url: shown.clone(), reason: format!("cannot start a thread: {e}") }
    })?;

    // A transport blocked on a socket does not see the interrupt flag; the caller does not wait
    // for it. The thread ends when the socket does (ssh and HTTP have their own timeouts).
    let remaining = deadline.saturating_duration_since(Instant::now());
    let refs = match rx.recv_timeout(remaining) {
        Ok(result) => result?,
        Err(_) => {
            interrupt.store(true, Ordering::Relaxed);
            return Err(SourceError::Timeout { url: shown, timeout: source.timeout() });
        }
    };
    Repo::open(&dir, url, Some(refs), &checkouts)
}

/// Parse a URL or a local path as git does.
fn to_gix_url(url: &str) -> Result<gix::Url, String> {
    if url.trim().is_empty() {
        return Err("empty URL".into());
    }
    let parsed = gix::url::parse(gix::bstr::BStr::new(url)).map_err(|e| describe(&e))?;
    if parsed.scheme == gix::url::Scheme::File && !Path::new(&parsed.path.to_string()).exists() {
        return Err("no such directory".into());
    }
    Ok(parsed)
}

/// Fetch under the repository's lock; a concurrent fetch of the same URL waits its turn.
fn locked_fetch(
    dir: &Path,
    url: gix::Url,
    auth: &Auth,
    shown: &str,
    deadline: Instant,
    timeout: Duration,
    interrupt: &AtomicBool,
) -> Result<RemoteRefs, SourceError> {
    let lock_path = dir.with_extension("lock");
    let lock = File::create(&lock_path).map_err(SourceError::io(&lock_path))?;
    loop {
        match lock.try_lock() {
            Ok(()) => break,
            Err(std::fs::TryLockError::WouldBlock) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(SourceError::Timeout { url: shown.to_owned(), timeout });
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(SourceError::io(&lock_path)(e)),
        }
    }
    let result = fetch_into(dir, url, auth, shown, timeout, interrupt);
    let _ = lock.unlock();
    result
}

fn fetch_into(
    dir: &Path,
    url: gix::Url,
    auth: &Auth,
    shown: &str,
    timeout: Duration,
    interrupt: &AtomicBool,
) -> Result<RemoteRefs, SourceError> {
    let fail = |e: gix::Error| SourceError::Fetch { url: shown.to_owned(), reason: describe(&e) };
    let created = !dir.join("HEAD").is_file();
    if created {
        // A clone is made aside and moved in place once complete, so a failed first fetch
        // leaves nothing behind.
        let staging = staging_dir(dir);
        gix::init_bare(&staging)
            .map_err(|e| SourceError::Repository { url: shown.to_owned(), reason: describe(&e) })?;
        let refs = fetch_with_gix(&staging, url, auth, timeout, interrupt).map_err(fail);
        match refs {
            Ok(refs) => {
                std::fs::rename(&staging, dir).map_err(SourceError::io(dir))?;
                Ok(refs)
            }
            Err(e) => {
                let _ = std::fs::remove_dir_all(&staging);
                Err(e)
            }
        }
    } else {
        fetch_with_gix(dir, url, auth, timeout, interrupt).map_err(fail)
    }
}

fn staging_dir(dir: &Path) -> PathBuf {
    let mut name = dir.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".tmp-{}", std::process::id()));
    dir.with_file_name(name)
}

fn fetch_with_gix(
    dir: &Path,
    url: gix::Url,
    auth: &Auth,
    timeout: Duration,
    interrupt: &AtomicBool,
) -> gix::Result<RemoteRefs> {
    // Isolated: no global or system git config and no GIT_* environment can change where or
    // how we fetch; only what driftless sets applies.
    let ssh_command = format!("core.sshCommand={}", auth.ssh_command(timeout.as_secs().clamp(1, 60)));
    let options = gix::open::Options::isolated().config_overrides([ssh_command]);
    let repo = gix::open_opts(dir, options)?;
    let remote = repo.remote_at(url)?.with_refspecs(REFSPECS, Direction::Fetch)?.with_fetch_tags(Tags::None);
    let connection = remote.connect(Direction::Fetch)?;
    let account = auth.http_account();
    let connection = connection.with_credentials(move |action| {
        use gix::credentials::helper::{Action, NextAction};
        use gix::credentials::protocol::Outcome;
        match (action, &account) {
            (Action::Get(ctx), Some((username, password))) => Ok(Some(Outcome {
                identity: gix::sec::identity::Account {
                    username: username.clone(),
                    password: password.clone(),
                    oauth_refresh_token: None,
                },
                next: NextAction::from(ctx),
            })),
            // No credentials configured: never prompt, never ask a helper.
            _ => Ok(None),
        }
    });
    let head = gix::refspec::parse("HEAD".into(), gix::refspec::parse::Operation::Fetch)?.to_owned();
    let options = gix::remote::ref_map::Options { extra_refspecs: vec![head], ..Default::default() };
    let outcome = connection
        .prepare_fetch(gix::progress::Discard, options)?
        .with_write_packed_refs_only(true)
        .receive(gix::progress::Discard, interrupt)?;
    Ok(RemoteRefs::from_handshake(&outcome.ref_map.remote_refs))
}
