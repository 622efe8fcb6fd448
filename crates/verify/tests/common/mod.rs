//! Test fixtures made with the real tools: `git`, `ssh-keygen`, `gpg`, `openssl`. Keys are
//! generated once per test binary; each signed object lives in its own fresh repository.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::SystemTime;

use driftless_core::spec::{GpgTrust, SshTrust, TrustSource};

/// 2020-01-01T00:00:00Z, the epoch of the time-travelling tests.
pub const T0: i64 = 1_577_836_800;
pub const HOUR: i64 = 3600;
pub const DAY: i64 = 86_400;

pub fn now() -> SystemTime {
    SystemTime::now()
}

/// Whether all the given programs run; prints why a test is skipped otherwise.
pub fn have(tools: &[&str]) -> bool {
    for tool in tools {
        let ok = Command::new(tool).arg("--version").output().is_ok()
            || Command::new(tool).arg("-V").output().is_ok()
            || Command::new(tool).arg("version").output().is_ok();
        if !ok {
            eprintln!("SKIPPED: `{tool}` is not installed");
            return false;
        }
    }
    true
}

pub fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The scratch directory of this test binary: cargo's target tmp directory, emptied when the
/// binary starts (so nothing piles up, and a failing test's files can be inspected).
pub fn root() -> &'static Path {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| {
        let exe = std::env::current_exe().unwrap();
        let stem = exe.file_stem().unwrap().to_string_lossy().into_owned();
        // `gitsign-0123abcd` → `gitsign`: one directory per test binary across rebuilds.
        let name = stem.rsplit_once('-').map_or(stem.as_str(), |(n, _)| n).to_string();
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("verify-{name}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    })
}

/// A command for `git` isolated from the user's and system configuration.
pub fn git(dir: &Path) -> Command {
    let mut cmd = Command::new("git");
    cmd.current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("HOME", root())
        .env("GIT_AUTHOR_NAME", "Test Author")
        .env("GIT_AUTHOR_EMAIL", "author@example.com")
        .env("GIT_COMMITTER_NAME", "Test Committer")
        .env("GIT_COMMITTER_EMAIL", "committer@example.com")
        .env_remove("GNUPGHOME");
    cmd
}

/// How to sign a commit or tag: `git -c` settings and environment.
#[derive(Clone, Default)]
pub struct Signing {
    pub config: Vec<(String, String)>,
    pub env: Vec<(String, String)>,
}

impl Signing {
    pub fn apply(&self, cmd: &mut Command) {
        for (k, v) in &self.config {
            cmd.arg("-c").arg(format!("{k}={v}"));
        }
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
    }
}

/// One signed object in its own repository.
pub struct Signed {
    pub repo: PathBuf,
    pub raw: Vec<u8>,
}

fn fresh_repo() -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = root().join(format!("repo-{}", N.fetch_add(1, Ordering::SeqCst)));
    std::fs::create_dir_all(&dir).unwrap();
    run(git(&dir).args(["init", "-q"]));
    dir
}

/// A signed empty commit; `at` sets the author and committer time.
pub fn commit(signing: Option<&Signing>, message: &str, at: Option<i64>) -> Signed {
    let repo = fresh_repo();
    let mut cmd = git(&repo);
    if let Some(s) = signing {
        s.apply(&mut cmd);
    }
    cmd.args(["commit", "-q", "--allow-empty", "-m", message]);
    if signing.is_some() {
        cmd.arg("-S");
    }
    if let Some(t) = at {
        cmd.env("GIT_COMMITTER_DATE", format!("@{t} +0000")).env("GIT_AUTHOR_DATE", format!("@{t} +0000"));
    }
    run(&mut cmd);
    let raw = run(git(&repo).args(["cat-file", "commit", "HEAD"])).stdout;
    Signed { repo, raw }
}

/// A signed annotated tag `v1` on an unsigned commit.
pub fn tag(signing: &Signing, message: &str) -> Signed {
    let repo = fresh_repo();
    run(git(&repo).args(["commit", "-q", "--allow-empty", "-m", "tagged"]));
    let mut cmd = git(&repo);
    signing.apply(&mut cmd);
    run(cmd.args(["tag", "-s", "v1", "-m", message]));
    let raw = run(git(&repo).args(["cat-file", "tag", "v1"])).stdout;
    Signed { repo, raw }
}

/// `git verify-commit HEAD` (or `verify-tag v1`) with extra settings: the oracle.
pub fn git_verifies(signed: &Signed, what: &str, settings: &Signing) -> bool {
    let mut cmd = git(&signed.repo);
    settings.apply(&mut cmd);
    match what {
        "tag" => cmd.args(["verify-tag", "v1"]),
        _ => cmd.args(["verify-commit", "HEAD"]),
    };
    cmd.output().unwrap().status.success()
}

/// Replaces the first occurrence of `from` with `to` in a raw object.
pub fn tamper(raw: &[u8], from: &str, to: &str) -> Vec<u8> {
    let text = String::from_utf8(raw.to_vec()).unwrap();
    assert!(text.contains(from), "{from:?} not in the object");
    text.replacen(from, to, 1).into_bytes()
}

// ---------------------------------------------------------------- SSH

pub struct SshKey {
    pub private: PathBuf,
    pub public: String,
}

pub fn ssh_key(name: &str, kind: &str) -> SshKey {
    let dir = root().join("ssh");
    std::fs::create_dir_all(&dir).unwrap();
    let private = dir.join(name);
    let mut cmd = Command::new("ssh-keygen");
    cmd.args(["-q", "-N", "", "-C", name, "-t", kind, "-f"]).arg(&private);
    if kind == "rsa" {
        cmd.args(["-b", "2048"]);
    }
    run(&mut cmd);
    let public = std::fs::read_to_string(private.with_extension("pub")).unwrap().trim().to_string();
    SshKey { private, public }
}

pub fn ssh_signing(key: &SshKey) -> Signing {
    Signing {
        config: vec![
            ("gpg.format".into(), "ssh".into()),
            ("user.signingkey".into(), key.private.display().to_string()),
        ],
        env: vec![],
    }
}

/// git settings that make `git verify-commit` trust an allowed-signers text.
pub fn ssh_oracle(allowed_signers: &str) -> Signing {
    static N: AtomicUsize = AtomicUsize::new(0);
    let path = root().join(format!("allowed-signers-{}", N.fetch_add(1, Ordering::SeqCst)));
    std::fs::write(&path, allowed_signers).unwrap();
    Signing { config: vec![("gpg.ssh.allowedSignersFile".into(), path.display().to_string())], env: vec![] }
}

pub fn ssh_trust(allowed_signers: &str) -> TrustSource {
    TrustSource::Ssh(SshTrust { allowed_signers: allowed_signers.to_string() })
}

// ---------------------------------------------------------------- OpenPGP

/// A GnuPG home directory (one per test binary) and a `gpg` wrapper that fakes the clock from
/// `$DRIFTLESS_FAKETIME` (seconds since the epoch) when it is set.
pub fn gnupg() -> &'static (PathBuf, PathBuf) {
    static HOME: OnceLock<(PathBuf, PathBuf)> = OnceLock::new();
    HOME.get_or_init(|| {
        let home = root().join("gnupg");
        std::fs::create_dir_all(&home).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o700)).unwrap();
        }
        let wrapper = root().join("gpg-faked");
        std::fs::write(
            &wrapper,
            format!(
                "#!/bin/sh\nexport GNUPGHOME='{}'\nif [ -n \"$DRIFTLESS_FAKETIME\" ]; then\n  exec gpg --faked-system-time \"$DRIFTLESS_FAKETIME!\" \"$@\"\nfi\nexec gpg \"$@\"\n",
                home.display()
            ),
        )
        .unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        (home, wrapper)
    })
}

/// Runs gpg (through the wrapper) at an optional faked time.
pub fn gpg(at: Option<i64>, args: &[&str]) -> Output {
    let (_, wrapper) = gnupg();
    let mut cmd = Command::new(wrapper);
    cmd.args(["--batch", "--yes", "--quiet", "--passphrase", "", "--pinentry-mode", "loopback"]).args(args);
    if let Some(t) = at {
        cmd.env("DRIFTLESS_FAKETIME", t.to_string());
    }
    run(&mut cmd)
}

/// Generates a key for `uid` (ed25519) and returns its fingerprint. `usage` is gpg's
/// `--quick-gen-key` usage (`sign`, or `cert` to add a signing subkey after).
pub fn gpg_key(uid: &str, usage: &str, at: Option<i64>) -> String {
    gpg(at, &["--quick-gen-key", uid, "ed25519", usage, "never"]);
    let out = gpg(None, &["--with-colons", "--list-keys", uid]);
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("fpr:").map(|r| r.trim_matches(':').to_string()))
        .expect("fingerprint")
}

pub fn gpg_export(fpr: &str) -> String {
    String::from_utf8(gpg(None, &["--armor", "--export", fpr]).stdout).unwrap()
}

pub fn gpg_signing(fpr: &str, at: Option<i64>) -> Signing {
    let (_, wrapper) = gnupg();
    let mut env = vec![];
    if let Some(t) = at {
        env.push(("DRIFTLESS_FAKETIME".to_string(), t.to_string()));
    }
    Signing {
        config: vec![
            ("gpg.format".into(), "openpgp".into()),
            ("gpg.program".into(), wrapper.display().to_string()),
            ("user.signingkey".into(), fpr.to_string()),
        ],
        env,
    }
}

/// Stops the gpg-agent that signing started; call once all signing is done.
pub fn stop_gpg_agent() {
    let (home, _) = gnupg();
    let _ = Command::new("gpgconf").env("GNUPGHOME", home).args(["--kill", "gpg-agent"]).output();
}

pub fn gpg_trust(armored: &str) -> TrustSource {
    TrustSource::Gpg(GpgTrust { public_keys: armored.to_string() })
}

// ---------------------------------------------------------------- x509 (gitsign format)

use rcgen::{
    BasicConstraints, CertificateParams, CustomExtension, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose,
};
pub use rcgen::{ExtendedKeyUsagePurpose, SanType};
use time::{Duration, OffsetDateTime};

pub const ISSUER: &str = "https://oauth2.sigstore.dev/auth";
pub const EMAIL: &str = "signer@example.com";

pub struct Ca {
    pub params: CertificateParams,
    pub key: KeyPair,
    pub pem: String,
}

pub fn ca(name: &str, parent: Option<&Ca>) -> Ca {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name.push(DnType::CommonName, name);
    params.distinguished_name.push(DnType::OrganizationName, "sigstore.dev");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params.not_before = OffsetDateTime::now_utc() - Duration::days(365);
    params.not_after = OffsetDateTime::now_utc() + Duration::days(365);
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384).unwrap();
    let cert = match parent {
        None => params.self_signed(&key).unwrap(),
        Some(p) => params.signed_by(&key, &Issuer::from_params(&p.params, &p.key)).unwrap(),
    };
    Ca { pem: cert.pem(), params, key }
}

/// Which OIDC-issuer extension a leaf carries.
pub enum IssuerExt<'a> {
    Current(&'a str),
    Legacy(&'a str),
    None,
}

pub struct Leaf {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// A Fulcio-like leaf: empty subject, SAN critical, code signing, valid from `from` to `to`
/// (relative to now).
pub fn leaf(issuer: &Ca, san: SanType, ext: IssuerExt<'_>, from: Duration, to: Duration) -> Leaf {
    leaf_for(issuer, san, ext, from, to, ExtendedKeyUsagePurpose::CodeSigning)
}

pub fn leaf_for(
    issuer: &Ca,
    san: SanType,
    ext: IssuerExt<'_>,
    from: Duration,
    to: Duration,
    usage: ExtendedKeyUsagePurpose,
) -> Leaf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    // Fulcio leaves have an empty subject; the identity is only in the (then critical) SAN.
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.subject_alt_names = vec![san];
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![usage];
    params.not_before = OffsetDateTime::now_utc() + from;
    params.not_after = OffsetDateTime::now_utc() + to;
    match ext {
        IssuerExt::Current(s) => {
            let mut der = vec![0x0c, s.len() as u8];
            der.extend_from_slice(s.as_bytes());
            params
                .custom_extensions
                .push(CustomExtension::from_oid_content(&[1, 3, 6, 1, 4, 1, 57264, 1, 8], der));
        }
        IssuerExt::Legacy(s) => params
            .custom_extensions
            .push(CustomExtension::from_oid_content(&[1, 3, 6, 1, 4, 1, 57264, 1, 1], s.as_bytes().to_vec())),
        IssuerExt::None => {}
    }
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let cert = params.signed_by(&key, &Issuer::from_params(&issuer.params, &issuer.key)).unwrap();
    let n = N.fetch_add(1, Ordering::SeqCst);
    let dir = root().join("x509");
    std::fs::create_dir_all(&dir).unwrap();
    let (c, k) = (dir.join(format!("leaf-{n}.pem")), dir.join(format!("leaf-{n}.key")));
    std::fs::write(&c, cert.pem()).unwrap();
    std::fs::write(&k, key.serialize_pem()).unwrap();
    Leaf { cert: c, key: k }
}

/// The `gpg.x509.program` git calls: `openssl cms -sign`, armored like gitsign.
pub fn signer_program() -> &'static PathBuf {
    static P: OnceLock<PathBuf> = OnceLock::new();
    P.get_or_init(|| {
        let path = root().join("x509-sign");
        std::fs::write(
            &path,
            "#!/bin/sh\nset -e\npayload=$(mktemp)\ncat > \"$payload\"\nextra=\"\"\n\
             if [ -n \"$X509_CHAIN\" ]; then extra=\"-certfile $X509_CHAIN\"; fi\n\
             openssl cms -sign -binary -in \"$payload\" -signer \"$X509_LEAF\" -inkey \"$X509_KEY\" $extra \
             -outform PEM -nosmimecap | sed -e 's/BEGIN CMS/BEGIN SIGNED MESSAGE/' -e 's/END CMS/END SIGNED MESSAGE/'\n\
             rm -f \"$payload\"\necho '[GNUPG:] SIG_CREATED ' >&2\n",
        )
        .unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        path
    })
}

pub fn x509_signing(leaf: &Leaf, chain: Option<&str>) -> Signing {
    let mut env = vec![
        ("X509_LEAF".to_string(), leaf.cert.display().to_string()),
        ("X509_KEY".to_string(), leaf.key.display().to_string()),
    ];
    if let Some(pem) = chain {
        let path = leaf.cert.with_extension("chain");
        std::fs::write(&path, pem).unwrap();
        env.push(("X509_CHAIN".to_string(), path.display().to_string()));
    }
    Signing {
        config: vec![
            ("gpg.format".into(), "x509".into()),
            ("gpg.x509.program".into(), signer_program().display().to_string()),
            ("user.signingkey".into(), EMAIL.into()),
        ],
        env,
    }
}

pub fn email() -> SanType {
    SanType::Rfc822Name(EMAIL.try_into().unwrap())
}

// ---------------------------------------------------------------- Rekor evidence

/// A test transparency log: its signing key, public key PEM and log id.
pub struct RekorLog {
    pub key: KeyPair,
    pub pem: String,
    pub id: Vec<u8>,
}

pub fn rekor_log() -> RekorLog {
    use rcgen::PublicKeyData;
    use sha2::Digest;
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let id = sha2::Sha256::digest(key.subject_public_key_info()).to_vec();
    RekorLog { pem: key.public_key_pem(), key, id }
}

/// The protobuf `TransparencyLogEntry` fields gitsign stores, for building test evidence.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TestLogEntry {
    #[prost(int64, tag = "1")]
    pub log_index: i64,
    #[prost(message, optional, tag = "2")]
    pub log_id: Option<TestLogId>,
    #[prost(int64, tag = "4")]
    pub integrated_time: i64,
    #[prost(message, optional, tag = "5")]
    pub inclusion_promise: Option<TestPromise>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct TestLogId {
    #[prost(bytes = "vec", tag = "1")]
    pub key_id: Vec<u8>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct TestPromise {
    #[prost(bytes = "vec", tag = "1")]
    pub signed_entry_timestamp: Vec<u8>,
}

/// Splits a raw commit around its `gpgsig` header: (before, armored signature, after).
pub fn take_signature(raw: &[u8]) -> (String, String, String) {
    let text = String::from_utf8(raw.to_vec()).unwrap();
    let s = text.find("gpgsig ").unwrap();
    let e = text[s..].find("\n\n").unwrap() + s + 1;
    let armored: String =
        text[s + 7..e].lines().map(|l| format!("{}\n", l.strip_prefix(' ').unwrap_or(l))).collect();
    (text[..s].to_string(), armored, text[e..].to_string())
}

/// Puts an armored signature back as a `gpgsig` header.
pub fn put_signature(before: &str, armored: &str, after: &str) -> Vec<u8> {
    let header: String = armored
        .trim_end()
        .lines()
        .enumerate()
        .map(|(i, l)| if i == 0 { format!("gpgsig {l}\n") } else { format!(" {l}\n") })
        .collect();
    format!("{before}{header}{after}").into_bytes()
}

/// What gitsign logs for a signature, rebuilt the way Rekor and gitsign do (canonical
/// `hashedrekord` v0.0.1 JSON over the signed attributes, signature and PEM certificate).
fn hashedrekord(signed_attrs: &[u8], signature: &[u8], cert_der: &[u8]) -> String {
    use base64::Engine;
    use sha2::Digest;
    let b64 = base64::engine::general_purpose::STANDARD;
    let body = b64.encode(cert_der);
    let mut pem = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in body.as_bytes().chunks(64) {
        pem.push_str(std::str::from_utf8(line).unwrap());
        pem.push('\n');
    }
    pem.push_str("-----END CERTIFICATE-----\n");
    let value = serde_json::json!({
        "apiVersion": "0.0.1",
        "kind": "hashedrekord",
        "spec": {
            "data": {"hash": {"algorithm": "sha256", "value": hex(&sha2::Sha256::digest(signed_attrs))}},
            "signature": {"content": b64.encode(signature), "publicKey": {"content": b64.encode(pem)}}
        }
    });
    canonical(&value)
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// RFC 8785 for the values used here (ASCII strings, integers, objects): keys sorted, no
/// whitespace.
fn canonical(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let inner: Vec<String> = keys.iter().map(|k| format!("{:?}:{}", k, canonical(&m[*k]))).collect();
            format!("{{{}}}", inner.join(","))
        }
        other => other.to_string(),
    }
}

/// Adds a Rekor entry (gitsign's unsigned attribute) to a gitsign-format commit, as if `log`
/// had logged the signature at `integrated_time`.
pub fn with_tlog_entry(raw: &[u8], log: &RekorLog, integrated_time: i64) -> Vec<u8> {
    use base64::Engine;
    use cms::content_info::ContentInfo;
    use cms::signed_data::{SignedData, SignerInfos};
    use der::asn1::{Any, SetOfVec};
    use der::{Decode, Encode, Tag};
    use prost::Message;
    use rcgen::SigningKey;

    let (before, armored, after) = take_signature(raw);
    let (_, der) = pem_rfc7468::decode_vec(armored.as_bytes()).unwrap();
    let ci = ContentInfo::from_der(&der).unwrap();
    let mut sd: SignedData = ci.content.decode_as().unwrap();
    let mut infos = sd.signer_infos.0.clone().into_vec();
    let info = &mut infos[0];
    let cert = match sd.certificates.as_ref().unwrap().0.iter().next().unwrap() {
        cms::cert::CertificateChoices::Certificate(c) => c.to_der().unwrap(),
        cms::cert::CertificateChoices::Other(_) => panic!("no certificate"),
    };
    let body = hashedrekord(
        &info.signed_attrs.as_ref().unwrap().to_der().unwrap(),
        info.signature.as_bytes(),
        &cert,
    );
    let log_index = 4242;
    let payload = canonical(&serde_json::json!({
        "body": base64::engine::general_purpose::STANDARD.encode(body),
        "integratedTime": integrated_time,
        "logID": hex(&log.id),
        "logIndex": log_index,
    }));
    let set = log.key.sign(payload.as_bytes()).unwrap();
    let entry = TestLogEntry {
        log_index,
        log_id: Some(TestLogId { key_id: log.id.clone() }),
        integrated_time,
        inclusion_promise: Some(TestPromise { signed_entry_timestamp: set }),
    };
    let attr = x509_cert::attr::Attribute {
        oid: der::asn1::ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.3.1"),
        values: SetOfVec::try_from(vec![Any::new(Tag::OctetString, entry.encode_to_vec()).unwrap()]).unwrap(),
    };
    info.unsigned_attrs = Some(SetOfVec::try_from(vec![attr]).unwrap());
    sd.signer_infos = SignerInfos(SetOfVec::try_from(infos).unwrap());
    let ci = ContentInfo { content_type: ci.content_type, content: Any::encode_from(&sd).unwrap() };
    let pem =
        pem_rfc7468::encode_string("SIGNED MESSAGE", pem_rfc7468::LineEnding::LF, &ci.to_der().unwrap())
            .unwrap();
    put_signature(&before, &pem, &after)
}
