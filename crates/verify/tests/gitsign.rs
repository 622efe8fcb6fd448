//! gitsign-format (x509 CMS, `SIGNED MESSAGE`) commits made by `git` with `gpg.format=x509` and
//! `openssl cms` as the signing program, by certificates from a test CA made with rcgen that
//! carry Fulcio's OIDC-issuer extension. `openssl cms -verify` is the oracle for the valid case.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Command;
use std::sync::OnceLock;

use common::*;
use driftless_core::spec::{GitsignTrust, RekorSpec, TrustSource};
use driftless_verify::{Refusal, SignatureKind, Verifier, VerifyError};
use time::Duration;

struct Pki {
    root: Ca,
    intermediate: Ca,
    other_root: Ca,
    log: RekorLog,
    other_log: RekorLog,
}

fn pki() -> Option<&'static Pki> {
    static PKI: OnceLock<Option<Pki>> = OnceLock::new();
    PKI.get_or_init(|| {
        have(&["git", "openssl"]).then(|| {
            let root = ca("test fulcio root", None);
            let intermediate = ca("test fulcio intermediate", Some(&root));
            Pki {
                other_root: ca("someone else's root", None),
                root,
                intermediate,
                log: rekor_log(),
                other_log: rekor_log(),
            }
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
        rekor: require_tlog.then(|| RekorSpec { public_keys: pki().unwrap().log.pem.clone(), url: None }),
    })
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
    assert_eq!(v.signer.subject, None, "Fulcio-style leaves have an empty subject");
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
    assert!(
        matches!(err, Refusal::NoTlogEvidence(ref m) if m.contains("requireTlog") && m.contains("carries no Rekor log entry")),
        "{err}"
    );
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
    let with_rekor = |public_keys: &str, require_tlog: bool| {
        let mut t = trust(&p.root.pem, Some(EMAIL), None, true);
        if let TrustSource::Gitsign(g) = &mut t {
            g.require_tlog = require_tlog;
            g.rekor =
                (!public_keys.is_empty()).then(|| RekorSpec { public_keys: public_keys.into(), url: None });
        }
        Verifier::new(&[t])
    };
    let err = msg(with_rekor("", true));
    assert!(err.starts_with("trust[0].gitsign.rekor: needed when `requireTlog` is true"), "{err}");
    let err = msg(with_rekor("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", false));
    assert!(err.starts_with("trust[0].gitsign.rekor.publicKeys key 1: "), "{err}");
    let err = msg(with_rekor(&p.root.pem, true));
    assert!(err.contains("expected a PUBLIC KEY block"), "{err}");
    assert!(with_rekor(&p.log.pem, true).is_ok());
}

#[test]
fn signed_tags_verify() {
    let Some(p) = pki() else { return };
    let signed = tag(&x509_signing(&fresh(p, IssuerExt::Current(ISSUER)), None), "release 1");
    assert!(String::from_utf8_lossy(&signed.raw).contains("-----BEGIN SIGNED MESSAGE-----"));
    let v = Verifier::new(&[trust(&p.root.pem, Some(EMAIL), None, false)]).unwrap();
    assert_eq!(v.verify_tag(&signed.raw, now()).unwrap().signer.identity.as_deref(), Some(EMAIL));
    let forged = tamper(&signed.raw, "release 1", "release 2");
    assert_eq!(v.verify_tag(&forged, now()).unwrap_err().code(), "badSignature");
}

fn unix_now() -> i64 {
    now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

#[test]
fn rekor_evidence_proves_the_signing_time() {
    let Some(p) = pki() else { return };
    let signed = commit(Some(&x509_signing(&fresh(p, IssuerExt::Current(ISSUER)), None)), "logged", None);
    let logged_at = unix_now() - 30;
    let with_entry = with_tlog_entry(&signed.raw, &p.log, logged_at);
    let v =
        verify(&[trust(&p.root.pem, Some(EMAIL), None, true)], &with_entry).expect("verified with evidence");
    assert!(v.signer.signed_at_proven);
    assert_eq!(v.signer.signed_at, Some(logged_at as u64));
    assert!(v.details.contains("logged in Rekor"), "{}", v.details);

    // Evidence is checked whenever Rekor keys are configured, even without requireTlog.
    let mut relaxed = trust(&p.root.pem, Some(EMAIL), None, true);
    if let TrustSource::Gitsign(g) = &mut relaxed {
        g.require_tlog = false;
    }
    assert!(verify(std::slice::from_ref(&relaxed), &with_entry).unwrap().signer.signed_at_proven);
    // The entry is an unsigned attribute: the commit's own signature still verifies without it.
    assert!(verify(&[trust(&p.root.pem, Some(EMAIL), None, false)], &with_entry).is_ok());
}

#[test]
fn rekor_evidence_from_another_log_or_for_another_signature_is_refused() {
    let Some(p) = pki() else { return };
    let leaf = fresh(p, IssuerExt::Current(ISSUER));
    let signed = commit(Some(&x509_signing(&leaf, None)), "one", None);
    let t = unix_now() - 30;
    let trusted = [trust(&p.root.pem, Some(EMAIL), None, true)];

    let other_log = with_tlog_entry(&signed.raw, &p.other_log, t);
    let err = verify(&trusted, &other_log).unwrap_err();
    assert!(
        matches!(err, Refusal::NoTlogEvidence(ref m) if m.contains("not one of rekor.publicKeys")),
        "{err}"
    );

    // The log entry of another commit's signature (same certificate), moved onto this one.
    let other = with_tlog_entry(&commit(Some(&x509_signing(&leaf, None)), "two", None).raw, &p.log, t);
    let (_, other_sig, _) = take_signature(&other);
    let (ours_before, ours_sig, ours_after) = take_signature(&signed.raw);
    let moved = graft_unsigned_attrs(&ours_sig, &other_sig);
    let err = verify(&trusted, &put_signature(&ours_before, &moved, &ours_after)).unwrap_err();
    assert!(matches!(err, Refusal::NoTlogEvidence(ref m) if m.contains("does not verify")), "{err}");

    // Logged outside the certificate's ten-minute life.
    let late = with_tlog_entry(&signed.raw, &p.log, t + 3600);
    let err = verify(&trusted, &late).unwrap_err();
    assert!(matches!(err, Refusal::NoTlogEvidence(ref m) if m.contains("outside the certificate")), "{err}");
}

/// `ours` with the unsigned attributes of `theirs`.
fn graft_unsigned_attrs(ours: &str, theirs: &str) -> String {
    use cms::content_info::ContentInfo;
    use cms::signed_data::{SignedData, SignerInfos};
    use der::asn1::{Any, SetOfVec};
    use der::{Decode, Encode};
    let decode = |armored: &str| {
        let (_, der) = pem_rfc7468::decode_vec(armored.as_bytes()).unwrap();
        let ci = ContentInfo::from_der(&der).unwrap();
        let sd: SignedData = ci.content.decode_as().unwrap();
        (ci.content_type, sd)
    };
    let (ct, mut sd) = decode(ours);
    let (_, donor) = decode(theirs);
    let mut infos = sd.signer_infos.0.clone().into_vec();
    infos[0].unsigned_attrs = donor.signer_infos.0.iter().next().unwrap().unsigned_attrs.clone();
    sd.signer_infos = SignerInfos(SetOfVec::try_from(infos).unwrap());
    let ci = ContentInfo { content_type: ct, content: Any::encode_from(&sd).unwrap() };
    pem_rfc7468::encode_string("SIGNED MESSAGE", pem_rfc7468::LineEnding::LF, &ci.to_der().unwrap()).unwrap()
}
