//! The sandbox cluster: an in-memory Kubernetes API server for tests, demos and local
//! development, spoken to over HTTPS by real `kubectl` and by kube-rs.
//!
//! [`Sandbox::start`] listens on 127.0.0.1 with a CA and serving certificate generated at
//! startup and a random bearer token, and writes a kubeconfig (CA embedded, token) that
//! `kubectl` and kube-rs use unchanged. It serves `/version`; discovery (`/api`, `/apis`,
//! group-version resource lists; aggregated discovery is answered with the legacy documents,
//! from which clients fall back); the built-in types (Namespace, ConfigMap, Secret, Service,
//! ServiceAccount, Pod, PersistentVolumeClaim, Event, Deployment, StatefulSet, DaemonSet,
//! ReplicaSet, Job, CronJob, Ingress, Role, RoleBinding, ClusterRole, ClusterRoleBinding,
//! CustomResourceDefinition) and the types CRDs add; create, get, list (label and field
//! selectors, limit/continue), update, patch (JSON patch, JSON merge patch, strategic merge
//! patch with the built-in list merge keys, server-side apply with `managedFields`, conflicts
//! and `force`), delete (finalizers, namespace deletion cascading), delete-collection, watch
//! (resourceVersion, bookmarks), `dryRun=All`, the status and scale subresources, optimistic
//! concurrency, uid/creationTimestamp/generation; `Table` responses for `kubectl get`;
//! minimal OpenAPI v3 documents so kubectl leaves field validation to the server.
//!
//! It does not: validate objects against schemas (unknown fields are kept), run controllers
//! (no pods are scheduled, no ReplicaSets made, no status written), garbage-collect by
//! ownerReferences, authorize (one token can do everything), serve protobuf, OpenAPI v2 or
//! `kubectl explain` schemas, convert between CRD versions (objects are stored once and
//! relabelled), or speak HTTP/2. It is a test and demo substrate, never a production target.

mod api;
mod controller;
mod error;
pub mod fields;
pub mod merge;
mod proto;
pub mod registry;
pub mod select;
mod store;
mod table;
mod util;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;

pub use error::ApiError;

/// The most connections served at once (each open watch holds one).
pub const MAX_CONNECTIONS: usize = 1024;

/// How the sandbox starts.
#[derive(Debug, Clone)]
pub struct SandboxConfig {
    /// Port on 127.0.0.1; 0 picks a free one.
    pub port: u16,
    /// Where the kubeconfig is written (atomically, once the server listens).
    pub kubeconfig_path: PathBuf,
    /// A file objects are kept in across restarts, if any.
    pub state_path: Option<PathBuf>,
    /// How often watches that allow bookmarks get one.
    pub bookmark_interval: Duration,
    /// Off by default. With a delay, a simulated controller marks Deployments, StatefulSets,
    /// ReplicaSets, DaemonSets and Jobs ready/complete that long after each change of their
    /// generation (it only writes status; nothing is scheduled).
    pub ready_after: Option<Duration>,
}

impl SandboxConfig {
    /// A free port, the kubeconfig at `kubeconfig_path`, no state file, bookmarks every 10 s,
    /// no simulated controller.
    #[must_use]
    pub fn new(kubeconfig_path: impl Into<PathBuf>) -> Self {
        Self {
            port: 0,
            kubeconfig_path: kubeconfig_path.into(),
            state_path: None,
            bookmark_interval: Duration::from_secs(10),
            ready_after: None,
        }
    }
}

/// Why the sandbox could not start or stop cleanly.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// The port could not be bound (in use, not permitted).
    #[error("cannot listen on 127.0.0.1:{port}")]
    Bind {
        /// The port asked for.
        port: u16,
        /// The cause.
        source: std::io::Error,
    },
    /// Generating the CA or serving certificate failed.
    #[error("cannot generate the TLS certificates: {0}")]
    Certificate(String),
    /// A file could not be written.
    #[error("cannot write {path}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The state file could not be read or is malformed.
    #[error("cannot load the state file {path}: {message}")]
    State {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

impl SandboxError {
    /// Whether the error is the user's input (a malformed state file) rather than a runtime
    /// failure (port in use, a file that cannot be written).
    #[must_use]
    pub fn is_input(&self) -> bool {
        matches!(self, Self::State { .. })
    }
}

/// Run a sandbox until Ctrl-C or SIGTERM: start it, call `ready` once it serves and the
/// kubeconfig is written, then wait, shut down and write the state file a last time. This is
/// what `driftless sandbox` runs.
///
/// # Errors
/// [`SandboxError`] from [`Sandbox::start`] or [`RunningSandbox::shutdown`].
pub async fn run_until_signal(
    config: SandboxConfig,
    ready: impl FnOnce(&RunningSandbox),
) -> Result<(), SandboxError> {
    let sandbox = Sandbox::start(config).await?;
    ready(&sandbox);
    wait_for_signal().await;
    sandbox.shutdown().await
}

#[cfg(unix)]
async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

#[cfg(not(unix))]
async fn wait_for_signal() {
    let _ = tokio::signal::ctrl_c().await;
}

/// The entry point.
#[derive(Debug)]
pub struct Sandbox;

/// A running sandbox; stop it with [`RunningSandbox::shutdown`] (dropping it also stops the
/// server, without the final state write).
#[derive(Debug)]
pub struct RunningSandbox {
    url: String,
    kubeconfig_path: PathBuf,
    ca_pem: String,
    token: String,
    shutdown_tx: watch::Sender<bool>,
    server: Option<tokio::task::JoinHandle<()>>,
    persister: Option<tokio::task::JoinHandle<Result<(), SandboxError>>>,
}

struct Tls {
    ca_pem: String,
    server: rustls::ServerConfig,
}

fn make_tls() -> Result<Tls, SandboxError> {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
        KeyUsagePurpose, SanType,
    };
    let err = |e: rcgen::Error| SandboxError::Certificate(e.to_string());
    let ca_key = KeyPair::generate().map_err(err)?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(err)?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages =
        vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    ca_params.distinguished_name.push(DnType::CommonName, "driftless-sandbox-ca");
    let ca_cert = ca_params.self_signed(&ca_key).map_err(err)?;
    let issuer = Issuer::new(ca_params, ca_key);

    let key = KeyPair::generate().map_err(err)?;
    let mut params = CertificateParams::new(vec!["localhost".to_owned()]).map_err(err)?;
    params.subject_alt_names.push(SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)));
    params.distinguished_name.push(DnType::CommonName, "driftless-sandbox");
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let cert = params.signed_by(&key, &issuer).map_err(err)?;

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let chain = vec![cert.der().clone(), ca_cert.der().clone()];
    let private = rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into());
    let mut server = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| SandboxError::Certificate(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, private)
        .map_err(|e| SandboxError::Certificate(e.to_string()))?;
    server.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Tls { ca_pem: ca_cert.pem(), server })
}

/// Write `contents` to `path` atomically: a temporary file beside it, then a rename.
fn write_atomic(path: &Path, contents: &[u8]) -> Result<(), SandboxError> {
    let werr = |source| SandboxError::Write { path: path.to_owned(), source };
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let file_name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = dir.join(format!(".{file_name}.{}.tmp", util::hex(&util::random_bytes::<6>())));
    std::fs::write(&tmp, contents).map_err(werr)?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        werr(e)
    })
}

fn kubeconfig(url: &str, ca_pem: &str, token: &str) -> String {
    let ca = base64::engine::general_purpose::STANDARD.encode(ca_pem);
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: driftless-sandbox\n  cluster:\n    server: {url}\n    certificate-authority-data: {ca}\nusers:\n- name: driftless-sandbox\n  user:\n    token: {token}\ncontexts:\n- name: driftless-sandbox\n  context:\n    cluster: driftless-sandbox\n    user: driftless-sandbox\n    namespace: default\ncurrent-context: driftless-sandbox\npreferences: {{}}\n"
    )
}

fn load_state(path: Option<&Path>) -> Result<store::State, SandboxError> {
    let mut state = match path {
        Some(p) if p.exists() => {
            let serr = |message: String| SandboxError::State { path: p.to_owned(), message };
            let text = std::fs::read(p).map_err(|e| serr(e.to_string()))?;
            let value: serde_json::Value = serde_json::from_slice(&text).map_err(|e| serr(e.to_string()))?;
            store::State::restore(&value).map_err(serr)?
        }
        _ => store::State::new(),
    };
    for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        if state.get("namespaces.", "", ns).is_none() {
            let now = util::rfc3339(util::now_secs());
            state.put(
                "namespaces.",
                "",
                ns,
                serde_json::json!({"apiVersion": "v1", "kind": "Namespace",
                    "metadata": {"name": ns, "uid": util::uuid(), "creationTimestamp": now, "generation": 1,
                                 "labels": {"kubernetes.io/metadata.name": ns}},
                    "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}}),
            );
        }
    }
    Ok(state)
}

async fn persist_loop(
    shared: Arc<api::Shared>,
    path: PathBuf,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), SandboxError> {
    loop {
        let stop = tokio::select! {
            () = shared.changed.notified() => false,
            _ = shutdown.changed() => true,
        };
        if !stop {
            // Coalesce bursts of writes into one file write.
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let snapshot = {
            let mut state = shared.lock();
            if state.dirty {
                state.dirty = false;
                Some(state.snapshot())
            } else {
                None
            }
        };
        if let Some(s) = snapshot {
            let bytes = serde_json::to_vec(&s).unwrap_or_default();
            let p = path.clone();
            tokio::task::spawn_blocking(move || write_atomic(&p, &bytes)).await.map_err(|e| {
                SandboxError::Write { path: path.clone(), source: std::io::Error::other(e) }
            })??;
        }
        if stop || *shutdown.borrow() {
            return Ok(());
        }
    }
}

impl Sandbox {
    /// Start a sandbox: bind, generate certificates and token, load the state file, write
    /// the kubeconfig, and serve in the background on the current tokio runtime.
    ///
    /// # Errors
    /// [`SandboxError`] when the port cannot be bound, certificates cannot be made, the
    /// state file is unreadable or the kubeconfig cannot be written.
    pub async fn start(config: SandboxConfig) -> Result<RunningSandbox, SandboxError> {
        let state = load_state(config.state_path.as_deref())?;
        let tls = make_tls()?;
        let token = util::hex(&util::random_bytes::<24>());
        let listener = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, config.port)))
            .await
            .map_err(|source| SandboxError::Bind { port: config.port, source })?;
        let port =
            listener.local_addr().map_err(|source| SandboxError::Bind { port: config.port, source })?.port();
        let url = format!("https://127.0.0.1:{port}");
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let shared = Arc::new(api::Shared {
            state: Mutex::new(state),
            token: token.clone(),
            bookmark_interval: config.bookmark_interval,
            changed: Notify::new(),
            shutdown: shutdown_rx.clone(),
        });
        let persister = config.state_path.clone().map(|p| {
            shared.lock().dirty = true;
            shared.changed.notify_one();
            tokio::spawn(persist_loop(Arc::clone(&shared), p, shutdown_rx.clone()))
        });
        if let Some(delay) = config.ready_after {
            tokio::spawn(controller::run(Arc::clone(&shared), delay, shutdown_rx.clone()));
        }
        let router = axum::Router::new().fallback(api::handle).with_state(Arc::clone(&shared));
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls.server));
        let mut stop = shutdown_rx.clone();
        let server = tokio::spawn(async move {
            let mut conns = JoinSet::new();
            loop {
                tokio::select! {
                    _ = stop.changed() => break,
                    Some(_) = conns.join_next(), if !conns.is_empty() => {}
                    accepted = listener.accept() => {
                        let Ok((tcp, _)) = accepted else { continue };
                        if conns.len() >= MAX_CONNECTIONS {
                            // Refuse rather than queue: a client retries, memory stays bounded.
                            drop(tcp);
                            continue;
                        }
                        let acceptor = acceptor.clone();
                        let service = TowerToHyperService::new(router.clone());
                        conns.spawn(async move {
                            let Ok(Ok(tls)) = tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await else { return };
                            let _ = hyper::server::conn::http1::Builder::new()
                                .timer(hyper_util::rt::TokioTimer::new())
                                .header_read_timeout(Duration::from_secs(30))
                                .serve_connection(TokioIo::new(tls), service)
                                .await;
                        });
                    }
                }
            }
            conns.shutdown().await;
        });
        write_atomic(&config.kubeconfig_path, kubeconfig(&url, &tls.ca_pem, &token).as_bytes())?;
        Ok(RunningSandbox {
            url,
            kubeconfig_path: config.kubeconfig_path,
            ca_pem: tls.ca_pem,
            token,
            shutdown_tx,
            server: Some(server),
            persister,
        })
    }
}

impl RunningSandbox {
    /// The server URL, `https://127.0.0.1:<port>`.
    #[must_use]
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The kubeconfig written for this server.
    #[must_use]
    pub fn kubeconfig_path(&self) -> &Path {
        &self.kubeconfig_path
    }

    /// The CA certificate (PEM) that signed the serving certificate.
    #[must_use]
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// The bearer token clients must present.
    #[must_use]
    pub fn token(&self) -> &str {
        &self.token
    }

    /// Stop serving (open watches end), and write the state file one last time.
    ///
    /// # Errors
    /// [`SandboxError::Write`] when the final state write fails.
    pub async fn shutdown(mut self) -> Result<(), SandboxError> {
        let _ = self.shutdown_tx.send(true);
        if let Some(s) = self.server.take() {
            let _ = tokio::time::timeout(Duration::from_secs(10), s).await;
        }
        if let Some(p) = self.persister.take() {
            match tokio::time::timeout(Duration::from_secs(30), p).await {
                Ok(Ok(result)) => result?,
                Ok(Err(e)) => {
                    return Err(SandboxError::Write {
                        path: PathBuf::new(),
                        source: std::io::Error::other(e),
                    });
                }
                Err(_) => {}
            }
        }
        Ok(())
    }
}

impl Drop for RunningSandbox {
    fn drop(&mut self) {
        let _ = self.shutdown_tx.send(true);
        if let Some(s) = self.server.take() {
            s.abort();
        }
    }
}
