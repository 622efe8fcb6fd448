//! Fetching into the clone cache, under a deadline and a per-repository lock.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, mpsc};
use std::time::{Duration, Instant};

use gix::remote::Direction;
use gix::remote::fetch::Tags;

use crate::auth::redact_url;
use crate::error::describe;
use crate::repo::RemoteRefs;
use crate::{Auth, Repo, Source, SourceError};

/// How long connecting to a git daemon may take, at most (the fetch's deadline may be shorter).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// What the clone mirrors: branches and tags under their own names, and the remote's HEAD.
const REFSPECS: [&str; 2] = ["+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"];

/// The last successful fetch of each repository (by clone directory), with when it started,
/// and how many fetches ran.
#[derive(Default)]
pub(crate) struct Recent {
    last: Mutex<HashMap<PathBuf, (Instant, RemoteRefs)>>,
    count: AtomicU64,
}

impl std::fmt::Debug for Recent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recent").field("count", &self.count()).finish_non_exhaustive()
    }
}

impl Recent {
    pub(crate) fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    /// The refs of a fetch of `dir` that started at or after `called`, if one succeeded.
    fn since(&self, dir: &Path, called: Instant) -> Option<RemoteRefs> {
        let last = self.last.lock().unwrap_or_else(PoisonError::into_inner);
        last.get(dir).filter(|(started, _)| *started >= called).map(|(_, refs)| refs.clone())
    }

    fn remember(&self, dir: &Path, started: Instant, refs: &RemoteRefs) {
        let mut last = self.last.lock().unwrap_or_else(PoisonError::into_inner);
        last.insert(dir.to_owned(), (started, refs.clone()));
    }
}

pub(crate) fn fetch(source: &Source, url: &str, auth: &Auth) -> Result<Repo, SourceError> {
    let called = Instant::now();
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
        let (dir, auth, shown, interrupt, recent) =
            (dir.clone(), auth.clone(), shown.clone(), Arc::clone(&interrupt), Arc::clone(&source.recent));
        let timeout = source.timeout();
        move || {
            let fetch =
                Fetch { url: gix_url, auth: &auth, shown: &shown, deadline, timeout, interrupt: &interrupt };
            let result = locked_fetch(&dir, fetch, &recent, called);
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

/// What one fetch needs.
struct Fetch<'a> {
    url: gix::Url,
    auth: &'a Auth,
    shown: &'a str,
    deadline: Instant,
    timeout: Duration,
    interrupt: &'a AtomicBool,
}

/// Fetch under the repository's lock; a concurrent fetch of the same URL waits its turn, and
/// takes the result of a fetch that started after `called` instead of running its own.
fn locked_fetch(
    dir: &Path,
    fetch: Fetch<'_>,
    recent: &Recent,
    called: Instant,
) -> Result<RemoteRefs, SourceError> {
    let lock_path = dir.with_extension("lock");
    let lock = File::create(&lock_path).map_err(SourceError::io(&lock_path))?;
    loop {
        match lock.try_lock() {
            Ok(()) => break,
            Err(std::fs::TryLockError::WouldBlock) if Instant::now() < fetch.deadline => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(SourceError::Timeout { url: fetch.shown.to_owned(), timeout: fetch.timeout });
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(SourceError::io(&lock_path)(e)),
        }
    }
    if let Some(refs) = recent.since(dir, called) {
        let _ = lock.unlock();
        return Ok(refs);
    }
    let started = Instant::now();
    recent.count.fetch_add(1, Ordering::Relaxed);
    let result = fetch_into(dir, fetch.url, fetch.auth, fetch.shown, fetch.timeout, fetch.interrupt);
    if let Ok(refs) = &result {
        recent.remember(dir, started, refs);
    }
    let _ = lock.unlock();
    result
}

/// One fetch: where from, as whom, and within what.
struct Job<'a> {
    url: gix::Url,
    auth: &'a Auth,
    timeout: Duration,
    interrupt: &'a AtomicBool,
    /// Where ssh's stderr goes (ssh URLs only).
    ssh_stderr: Option<PathBuf>,
}

fn fetch_into(
    dir: &Path,
    url: gix::Url,
    auth: &Auth,
    shown: &str,
    timeout: Duration,
    interrupt: &AtomicBool,
) -> Result<RemoteRefs, SourceError> {
    // ssh writes its reasons (host key, permission denied, the remote's `fatal:`) here; the file
    // is per repository and we hold its lock.
    let ssh_stderr = (url.scheme == gix::url::Scheme::Ssh).then(|| dir.with_extension("ssh-stderr"));
    if let Some(file) = &ssh_stderr {
        File::create(file).map_err(SourceError::io(file))?;
    }
    let job = Job { url, auth, timeout, interrupt, ssh_stderr };
    let fail = |e: gix::Error| {
        let mut reason = describe(&e);
        if let Some(said) = job.ssh_stderr.as_deref().and_then(ssh_said) {
            reason = format!("ssh: {said} ({reason})");
        }
        SourceError::Fetch { url: shown.to_owned(), reason }
    };
    let created = !dir.join("HEAD").is_file();
    let result = if created {
        // A clone is made aside and moved in place once complete, so a failed first fetch
        // leaves nothing behind.
        let staging = staging_dir(dir);
        gix::init_bare(&staging)
            .map_err(|e| SourceError::Repository { url: shown.to_owned(), reason: describe(&e) })?;
        match fetch_with_gix(&staging, &job).map_err(fail) {
            Ok(refs) => std::fs::rename(&staging, dir).map(|()| refs).map_err(SourceError::io(dir)),
            Err(e) => {
                let _ = std::fs::remove_dir_all(&staging);
                Err(e)
            }
        }
    } else {
        fetch_with_gix(dir, &job).map_err(fail)
    };
    if let Some(file) = &job.ssh_stderr {
        let _ = std::fs::remove_file(file);
    }
    result
}

/// What ssh printed on stderr, on one line, credentials removed; `None` when it said nothing.
fn ssh_said(file: &Path) -> Option<String> {
    /// ssh ends with its reason, after advice (the changed-host-key banner is 20 lines): the
    /// last lines are the reason and the file at fault, not a whole debug log.
    const MAX_LINES: usize = 5;
    let text = std::fs::read(file).ok()?;
    let text = String::from_utf8_lossy(&text);
    // Not the `@@@@` frame around ssh's changed-host-key warning.
    let lines: Vec<&str> =
        text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.bytes().all(|b| b == b'@')).collect();
    if lines.is_empty() {
        return None;
    }
    let start = lines.len().saturating_sub(MAX_LINES);
    Some(crate::auth::redact_text(&lines[start..].join(" ")))
}

fn staging_dir(dir: &Path) -> PathBuf {
    let mut name = dir.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".tmp-{}", std::process::id()));
    dir.with_file_name(name)
}

fn fetch_with_gix(dir: &Path, job: &Job<'_>) -> gix::Result<RemoteRefs> {
    // Isolated: no global or system git config and no GIT_* environment can change where or
    // how we fetch; only what driftless sets applies.
    let mut overrides = Vec::new();
    if let Some(stderr_file) = &job.ssh_stderr {
        let command = job.auth.ssh_command(job.timeout.as_secs().clamp(1, 60), stderr_file);
        overrides.push(format!("core.sshCommand={command}"));
        // It is OpenSSH: no `ssh -G` probe to find out.
        overrides.push("ssh.variant=ssh".to_owned());
    }
    let options = gix::open::Options::isolated().config_overrides(overrides);
    let repo = gix::open_opts(dir, options)?;
    let remote = repo
        .remote_at(job.url.clone())?
        .with_refspecs(REFSPECS, Direction::Fetch)?
        .with_fetch_tags(Tags::None);
    let connection = match git_daemon_transport(&job.url, job.timeout)? {
        Some(transport) => remote.to_connection_with_transport(transport),
        None => remote.connect(Direction::Fetch)?,
    };
    let account = job.auth.http_account();
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
        .receive(gix::progress::Discard, job.interrupt)?;
    Ok(RemoteRefs::from_handshake(&outcome.ref_map.remote_refs))
}

/// The git:// transport on a socket we set up: gix's own leaves Nagle's algorithm on and writes
/// a request as many small packets, so the last of them waits for the server's delayed ACK
/// (about 40 ms on Linux, on every round trip: most of a no-change fetch). `TCP_NODELAY` sends
/// them at once. Reads and writes time out, so a hung daemon also ends the fetch thread.
fn git_daemon_transport(
    url: &gix::Url,
    timeout: Duration,
) -> gix::Result<Option<Box<dyn gix::protocol::transport::client::blocking_io::Transport + Send>>> {
    use std::net::{TcpStream, ToSocketAddrs};

    use gix::protocol::transport::client::git::{ConnectMode, blocking_io::Connection};

    if url.scheme != gix::url::Scheme::Git {
        return Ok(None);
    }
    let Some(host) = url.host() else { return Ok(None) };
    let port = url.port.unwrap_or(9418);
    let io = |what: &str, e: std::io::Error| {
        gix::Error::from_error(std::io::Error::new(e.kind(), format!("{what} {host}:{port}: {e}")))
    };
    let mut last_error = None;
    let mut stream = None;
    for addr in (host, port).to_socket_addrs().map_err(|e| io("cannot resolve", e))? {
        match TcpStream::connect_timeout(&addr, timeout.min(CONNECT_TIMEOUT)) {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(e) => last_error = Some(e),
        }
    }
    let Some(stream) = stream else {
        let e = last_error.unwrap_or_else(|| std::io::Error::other("no address"));
        return Err(io("cannot connect to", e));
    };
    let configure = |s: &TcpStream| -> std::io::Result<()> {
        s.set_nodelay(true)?;
        s.set_read_timeout(Some(timeout))?;
        s.set_write_timeout(Some(timeout))
    };
    configure(&stream).map_err(|e| io("cannot configure the connection to", e))?;
    let writer = stream.try_clone().map_err(|e| io("cannot configure the connection to", e))?;
    let connection = Connection::new(
        stream,
        writer,
        gix::protocol::transport::Protocol::V2,
        url.path.clone(),
        Some((host.to_owned(), url.port)),
        ConnectMode::Daemon,
        false,
    );
    Ok(Some(Box::new(connection)))
}
