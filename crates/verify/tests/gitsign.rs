//! gitsign-format (x509 CMS, `SIGNED MESSAGE`) commits made by `git` with `gpg.format=x509` and
//! `openssl cms` as the signing program, by certificates from a test CA made with rcgen that
//! carry Fulcio's OIDC-issuer extension. `openssl cms -verify` is the oracle for the valid case.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::*;
use driftless_core::spec::{GitsignTrust, RekorSpec, TrustSource};
use driftless_verify::{Refusal, SignatureKind, Verifier, VerifyError};
use rcgen::{
    BasicConstraints, CertificateParams, CustomExtension, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
    KeyPair, KeyUsagePurpose, SanType,
};
use time::{Duration, OffsetDateTime};

const ISSUER: &str = "https://oauth2.sigstore.dev/auth";
const EMAIL: &str = "signer@example.com";

struct Ca {
    params: CertificateParams,
    key: KeyPair,
    pem: String,
}

fn ca(name: &str, parent: Option<&Ca>) -> Ca {
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
enum IssuerExt<'a> {
    Current(&'a str),
    Legacy(&'a str),
    None,
}

struct Leaf {
    cert: PathBuf,
    key: PathBuf,
}

/// A Fulcio-like leaf: empty subject, SAN critical, code signing, valid from `from` to `to`
/// (relative to now).
fn leaf(issuer: &Ca, san: SanType, ext: IssuerExt<'_>, from: Duration, to: Duration) -> Leaf {
    leaf_for(issuer, san, ext, from, to, ExtendedKeyUsagePurpose::CodeSigning)
}

fn leaf_for(
    issuer: &Ca,
    san: SanType,
    ext: IssuerExt<'_>,
    from: Duration,
    to: Duration,
    usage: ExtendedKeyUsagePurpose,
) -> Leaf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
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
fn signer_program() -> &'static PathBuf {
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

fn x509_signing(leaf: &Leaf, chain: Option<&str>) -> Signing {
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

struct Pki {
    root: Ca,
    intermediate: Ca,
    other_root: Ca,
}

fn pki() -> Option<&'static Pki> {
    static PKI: OnceLock<Option<Pki>> = OnceLock::new();
    PKI.get_or_init(|| {
        have(&["git", "openssl"]).then(|| {
            let root = ca("test fulcio root", None);
            let intermediate = ca("test fulcio intermediate", Some(&root));
            Pki { other_root: ca("someone else's root", None), root, intermediate }
        })
    })
    .as_ref()
}

fn trust(roots: &str, identity: Option<&str>, regexp: Option<&str>, require_tlog: bool) -> TrustSource {
    TrustSource::Gitsign(GitsignTrust {
        identity: identity.map(str::to_string),
        identity_regexp: regexp.map(str::to_string),
        issuer: ISSUER.into(),
        fulcio_roots: roots.into(),
        require_tlog,
        rekor: require_tlog.then(|| RekorSpec { public_keys: "unused".into(), url: None }),
    })
}

fn email() -> SanType {
    SanType::Rfc822Name(EMAIL.try_into().unwrap())
}

fn fresh(p: &Pki, ext: IssuerExt<'_>) -> Leaf {
    leaf(&p.root, email(), ext, Duration::minutes(-5), Duration::minutes(10))
}

fn verify(trust: &[TrustSource], raw: &[u8]) -> Result<driftless_verify::Verified, Refusal> {
    Verifier::new(trust).expect("trust parses").verify_commit(raw, now())
}

#[test]
fn a_fulcio_style_signature_verifies_and_openssl_agrees() {
    let Some(p) = pki() else { return };
    let signed = commit(Some(&x509_signing(&fresh(p, IssuerExt::Current(ISSUER)), None)), "hello", None);
    assert!(String::from_utf8_lossy(&signed.raw).contains("gpgsig -----BEGIN SIGNED MESSAGE-----"));
    let v = verify(&[trust(&p.root.pem, Some(EMAIL), None, false)], &signed.raw).expect("verified");
    assert_eq!(v.signer.kind, SignatureKind::Gitsign);
    assert_eq!(v.signer.identity.as_deref(), Some(EMAIL));
    assert_eq!(v.signer.issuer.as_deref(), Some(ISSUER));
    assert_eq!(v.signer.fingerprint.as_ref().map(String::len), Some(64));
    assert!(!v.signer.signed_at_proven);
    let age = now().duration_since(v.signed_at().unwrap()).unwrap_or_default();
    assert!(age.as_secs() < 600, "signing time {:?} is not recent", v.signed_at());

    // The oracle: openssl checks the same detached signature over the same payload.
    let text = String::from_utf8(signed.raw.clone()).unwrap();
    let s = text.find("gpgsig ").unwrap();
    let e = text[s..].find("\n\n").unwrap() + s;
    let payload: String = format!("{}{}", &text[..s], &text[e + 1..]);
    let sig: String =
        text[s + 7..e + 1].lines().map(|l| format!("{}\n", l.strip_prefix(' ').unwrap_or(l))).collect();
    let dir = root().join("oracle");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("payload"), payload).unwrap();
    std::fs::write(dir.join("sig.pem"), sig.replace("SIGNED MESSAGE", "CMS")).unwrap();
    std::fs::write(dir.join("ca.pem"), &p.root.pem).unwrap();
    let out = Command::new("openssl")
        .args(["cms", "-verify", "-binary", "-inform", "PEM", "-purpose", "any", "-out", "/dev/null"])
        .arg("-in")
        .arg(dir.join("sig.pem"))
        .arg("-content")
        .arg(dir.join("payload"))
        .arg("-CAfile")
        .arg(dir.join("ca.pem"))
        .output()
        .unwrap();
    assert!(out.status.success(), "openssl disagrees: {}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn identity_by_regexp_matches_the_whole_san() {
    let Some(p) = pki() else { return };
    let signed = commit(Some(&x509_signing(&fresh(p, IssuerExt::Current(ISSUER)), None)), "hello", None);
    assert!(verify(&[trust(&p.root.pem, None, Some(r".*@example\.com"), false)], &signed.raw).is_ok());
    let err = verify(&[trust(&p.root.pem, None, Some("signer"), false)], &signed.raw).unwrap_err();
    assert!(matches!(err, Refusal::IdentityMismatch { ref found, .. } if found == EMAIL), "{err}");
    let err = verify(&[trust(&p.root.pem, Some("other@example.com"), None, false)], &signed.raw).unwrap_err();
    assert_eq!(err.code(), "identityMismatch");
}

#[test]
fn a_uri_identity_and_the_legacy_issuer_extension_verify() {
    let Some(p) = pki() else { return };
    let uri = "https://github.com/org/repo/.github/workflows/release.yml@refs/heads/main";
    let l = leaf(
        &p.root,
        SanType::URI(uri.try_into().unwrap()),
        IssuerExt::Legacy(ISSUER),
        Duration::minutes(-5),
        Duration::minutes(10),
    );
    let signed = commit(Some(&x509_signing(&l, None)), "hello", None);
    let v = verify(&[trust(&p.root.pem, None, Some(r"https://github\.com/org/repo/.*"), false)], &signed.raw)
        .unwrap();
    assert_eq!(v.signer.identity.as_deref(), Some(uri));
}

#[test]
fn wrong_or_missing_issuer_is_refused() {
    let Some(p) = pki() else { return };
    let other =
        commit(Some(&x509_signing(&fresh(p, IssuerExt::Current("https://evil.example")), None)), "x", None);
    let err = verify(&[trust(&p.root.pem, Some(EMAIL), None, false)], &other.raw).unwrap_err();
    assert_eq!(
        err,
        Refusal::IssuerMismatch { found: "https://evil.example".into(), expected: ISSUER.into() }
    );
    let none = commit(Some(&x509_signing(&fresh(p, IssuerExt::None), None)), "x", None);
    let err = verify(&[trust(&p.root.pem, Some(EMAIL), None, false)], &none.raw).unwrap_err();
    assert!(matches!(err, Refusal::IssuerMismatch { ref found, .. } if found == "none"), "{err}");
}

#[test]
fn tampered_content_is_refused() {
    let Some(p) = pki() else { return };
    let signed = commit(Some(&x509_signing(&fresh(p, IssuerExt::Current(ISSUER)), None)), "deploy v1", None);
    let forged = tamper(&signed.raw, "deploy v1", "deploy v2");
    let err = verify(&[trust(&p.root.pem, Some(EMAIL), None, false)], &forged).unwrap_err();
    assert!(matches!(err, Refusal::BadSignature { .. }), "{err}");
}

#[test]
fn an_untrusted_root_is_refused() {
    let Some(p) = pki() else { return };
    let signed = commit(Some(&x509_signing(&fresh(p, IssuerExt::Current(ISSUER)), None)), "hello", None);
    let err = verify(&[trust(&p.other_root.pem, Some(EMAIL), None, false)], &signed.raw).unwrap_err();
    assert_eq!(err.code(), "untrustedChain", "{err}");
}

#[test]
fn a_leaf_not_for_code_signing_is_refused() {
    let Some(p) = pki() else { return };
    let tls = leaf_for(
        &p.root,
        email(),
        IssuerExt::Current(ISSUER),
        Duration::minutes(-5),
        Duration::minutes(10),
        ExtendedKeyUsagePurpose::ServerAuth,
    );
    let signed = commit(Some(&x509_signing(&tls, None)), "hello", None);
    let err = verify(&[trust(&p.root.pem, Some(EMAIL), None, false)], &signed.raw).unwrap_err();
    assert!(matches!(err, Refusal::UntrustedChain(ref m) if m.contains("code signing")), "{err}");
}

#[test]
fn intermediates_come_from_the_trust_entry_or_the_signature() {
    let Some(p) = pki() else { return };
    let l = leaf(
        &p.intermediate,
        email(),
        IssuerExt::Current(ISSUER),
        Duration::minutes(-5),
        Duration::minutes(10),
    );
    let bare = commit(Some(&x509_signing(&l, None)), "hello", None);
    let with_chain = commit(Some(&x509_signing(&l, Some(&p.intermediate.pem))), "hello", None);
    let roots_and_intermediate = format!("{}{}", p.root.pem, p.intermediate.pem);
    let got = verify(&[trust(&roots_and_intermediate, Some(EMAIL), None, false)], &bare.raw);
    assert!(got.is_ok(), "{got:?}");
    assert!(verify(&[trust(&p.root.pem, Some(EMAIL), None, false)], &with_chain.raw).is_ok());
    let err = verify(&[trust(&p.root.pem, Some(EMAIL), None, false)], &bare.raw).unwrap_err();
    assert_eq!(err.code(), "untrustedChain", "{err}");
}

#[test]
fn signing_time_outside_the_leaf_validity_is_refused() {
    let Some(p) = pki() else { return };
    let expired =
        leaf(&p.root, email(), IssuerExt::Current(ISSUER), Duration::hours(-2), Duration::hours(-1));
    let signed = commit(Some(&x509_signing(&expired, None)), "late", None);
    let err = verify(&[trust(&p.root.pem, Some(EMAIL), None, false)], &signed.raw).unwrap_err();
    assert_eq!(err.code(), "expired", "{err}");
    let future = leaf(&p.root, email(), IssuerExt::Current(ISSUER), Duration::hours(1), Duration::hours(2));
    let signed = commit(Some(&x509_signing(&future, None)), "early", None);
    let err = verify(&[trust(&p.root.pem, Some(EMAIL), None, false)], &signed.raw).unwrap_err();
    assert_eq!(err.code(), "notYetValid", "{err}");
}

#[test]
fn require_tlog_refuses_without_rekor_evidence() {
    let Some(p) = pki() else { return };
    let signed = commit(Some(&x509_signing(&fresh(p, IssuerExt::Current(ISSUER)), None)), "hello", None);
    let err = verify(&[trust(&p.root.pem, Some(EMAIL), None, true)], &signed.raw).unwrap_err();
    assert!(matches!(err, Refusal::NoTlogEvidence(ref m) if m.contains("requireTlog")), "{err}");
    // A second entry that does not require the log accepts it; the refusal ranks lower.
    let ok = verify(
        &[trust(&p.root.pem, Some(EMAIL), None, true), trust(&p.root.pem, Some(EMAIL), None, false)],
        &signed.raw,
    );
    assert_eq!(ok.unwrap().trust_index, 1);
}

#[test]
fn the_same_certificate_verifies_again_from_the_cache() {
    let Some(p) = pki() else { return };
    let l = fresh(p, IssuerExt::Current(ISSUER));
    let a = commit(Some(&x509_signing(&l, None)), "one", None);
    let b = commit(Some(&x509_signing(&l, None)), "two", None);
    let v = Verifier::new(&[trust(&p.root.pem, Some(EMAIL), None, false)]).unwrap();
    assert!(v.verify_commit(&a.raw, now()).is_ok());
    assert!(v.verify_commit(&b.raw, now()).is_ok());
    // A cached chain does not make a tampered object pass.
    assert!(v.verify_commit(&tamper(&b.raw, "two", "three"), now()).is_err());
}

#[test]
fn bad_trust_entries_name_the_field() {
    let Some(p) = pki() else { return };
    let msg = |r: Result<Verifier, VerifyError>| r.err().unwrap().to_string();
    let err = msg(Verifier::new(&[trust(&p.root.pem, None, Some("("), false)]));
    assert!(err.starts_with("trust[0].gitsign.identityRegexp: "), "{err}");
    let err = msg(Verifier::new(&[ssh_trust("# x\n")]));
    assert!(err.contains("no signers"), "{err}");
    let err = msg(Verifier::new(&[trust("not pem", Some(EMAIL), None, false)]));
    assert!(err.starts_with("trust[0].gitsign.fulcioRoots: "), "{err}");
    let err = msg(Verifier::new(&[trust(&p.intermediate.pem, Some(EMAIL), None, false)]));
    assert!(err.contains("no self-signed root"), "{err}");
}
