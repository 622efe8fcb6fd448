//! Smart HTTPS with basic and token auth against `git http-backend` behind TLS. The client
//! trusts the test CA through `SSL_CERT_FILE` (read by the platform verifier on Linux), which
//! must be set when the process starts: the test makes the certificates, then runs its second
//! half in a child process of this test binary with that variable set.

#![allow(clippy::unwrap_used)] // certificate setup helpers outside #[test] functions

mod support;

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use driftless_core::Secret;
use driftless_source::{Auth, Source, SourceError};
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, SanType};
use support::{HttpServer, init_repo};

const TLS_DIR: &str = "DRIFTLESS_TEST_TLS_DIR";

/// A test CA and a server certificate for 127.0.0.1, as PEM files in `dir`.
fn make_certificates(dir: &Path) {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    params.subject_alt_names.push(SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)));
    let cert = params.signed_by(&key, &issuer).unwrap();
    std::fs::write(dir.join("ca.pem"), ca_cert.pem()).unwrap();
    std::fs::write(dir.join("ca.der"), ca_cert.der()).unwrap();
    std::fs::write(dir.join("server.der"), cert.der()).unwrap();
    std::fs::write(dir.join("server.key"), key.serialize_der()).unwrap();
}

fn server_config(dir: &Path) -> Arc<rustls::ServerConfig> {
    let read = |name: &str| std::fs::read(dir.join(name)).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let private = rustls::pki_types::PrivateKeyDer::Pkcs8(read("server.key").into());
    let chain = vec![read("server.der").into(), read("ca.der").into()];
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, private)
        .unwrap();
    Arc::new(config)
}

#[test]
fn https_with_basic_and_token_auth() {
    let tmp = tempfile::tempdir().unwrap();
    make_certificates(tmp.path());
    let status = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "https_client_half", "--ignored", "--nocapture"])
        .env(TLS_DIR, tmp.path())
        .env("SSL_CERT_FILE", tmp.path().join("ca.pem"))
        .status()
        .unwrap();
    assert!(status.success(), "the HTTPS half failed: {status}");
}

/// No file name or content anywhere under `dir` contains `needle` (config, FETCH_HEAD, logs).
fn assert_no_file_mentions(dir: &Path, needle: &str) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        assert!(!path.to_string_lossy().contains(needle), "{}", path.display());
        if path.is_dir() {
            assert_no_file_mentions(&path, needle);
        } else {
            let content = std::fs::read(&path).unwrap();
            assert!(
                !content.windows(needle.len()).any(|w| w == needle.as_bytes()),
                "{} holds it",
                path.display()
            );
        }
    }
}

/// The half that runs with `SSL_CERT_FILE` set (see the module comment).
#[test]
#[ignore = "run by https_with_basic_and_token_auth in a child process"]
fn https_client_half() {
    let Some(tls_dir) = std::env::var_os(TLS_DIR) else {
        panic!("run through https_with_basic_and_token_auth, which sets {TLS_DIR}");
    };
    let tls_dir = Path::new(&tls_dir);
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path().join("srv");
    let first = init_repo(&base.join("app"));
    let server = HttpServer::start_tls(&base, Some(("alice", "hunter2-token")), server_config(tls_dir));
    let src = Source::new(tmp.path().join("cache")).with_timeout(Duration::from_secs(20));
    let url = server.https_url("app");

    // No credentials: a clear refusal, never a prompt.
    let err = src.fetch(&url, &Auth::default()).unwrap_err();
    assert!(matches!(err, SourceError::Fetch { .. }), "{err}");

    let wrong =
        Auth { username: Some("alice".into()), password: Some(Secret::new("nope-nope".into())), ssh: None };
    let err = src.fetch(&url, &wrong).unwrap_err();
    assert!(!err.to_string().contains("nope-nope"), "{err}");

    let auth = Auth {
        username: Some("alice".into()),
        password: Some(Secret::new("hunter2-token".into())),
        ssh: None,
    };
    let repo = src.fetch(&url, &auth).unwrap();
    assert_eq!(repo.resolve("HEAD").unwrap().commit.to_string(), first);
    assert!(!format!("{repo:?}").contains("hunter2"));

    // Credentials in the URL itself are used and never shown; the cache's names carry no URL.
    let with_user = url.replace("https://", "https://alice:hunter2-token@");
    let repo = src.fetch(&with_user, &Auth::default()).unwrap();
    assert!(!repo.url().contains("hunter2"), "{}", repo.url());
    assert_no_file_mentions(src.dir(), "hunter2");
}
