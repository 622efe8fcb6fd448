//! OpenPGP-signed commits and tags made by `git` + `gpg` (a temporary GNUPGHOME), checked
//! against `git verify-commit` where git has an opinion.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::OnceLock;

use common::*;
use driftless_verify::{Refusal, SignatureKind, Verifier};

struct Keys {
    /// Primary key signs.
    alice: String,
    /// Primary key certifies only; a subkey signs.
    bob: String,
    /// Not trusted.
    mallory: String,
    /// Revoked after signing `revoked_commit`.
    revoked: String,
    revoked_commit: Vec<u8>,
    /// Created at T0; signed at T0+1h (`early`) and T0+2d (`late`); expiry set to T0+36h.
    expiring: String,
    early: Signed,
    late: Signed,
    /// Signed by alice, bob (subkey) and mallory; a tag by alice. All signing happens in
    /// `keys()`, after which the gpg-agent is stopped.
    by_alice: Signed,
    by_bob: Signed,
    by_mallory: Signed,
    tag_by_alice: Signed,
}

fn keys() -> Option<&'static Keys> {
    static KEYS: OnceLock<Option<Keys>> = OnceLock::new();
    KEYS.get_or_init(|| {
        if !have(&["git", "gpg"]) {
            return None;
        }
        let alice = gpg_key("Alice <alice@example.com>", "sign", None);
        let bob = gpg_key("Bob <bob@example.com>", "cert", None);
        gpg(None, &["--quick-add-key", &bob, "ed25519", "sign", "never"]);
        let mallory = gpg_key("Mallory <mallory@example.com>", "sign", None);

        let revoked = gpg_key("Rev <rev@example.com>", "sign", None);
        let revoked_commit = commit(Some(&gpg_signing(&revoked, None)), "before revocation", None).raw;
        let (home, _) = gnupg();
        let cert =
            std::fs::read_to_string(home.join("openpgp-revocs.d").join(format!("{revoked}.rev"))).unwrap();
        // gpg stores the certificate with its armor line escaped by a leading colon.
        let cert =
            cert.replace(":-----BEGIN PGP PUBLIC KEY BLOCK-----", "-----BEGIN PGP PUBLIC KEY BLOCK-----");
        let rev_file = root().join("revocation.asc");
        std::fs::write(&rev_file, cert).unwrap();
        gpg(None, &["--import", rev_file.to_str().unwrap()]);

        let expiring = gpg_key("Exp <exp@example.com>", "sign", Some(T0));
        let early = commit(Some(&gpg_signing(&expiring, Some(T0 + HOUR))), "early", Some(T0 + HOUR));
        let late = commit(Some(&gpg_signing(&expiring, Some(T0 + 2 * DAY))), "late", Some(T0 + 2 * DAY));
        gpg(Some(T0 + 12 * HOUR), &["--quick-set-expire", &expiring, "1d"]);
        let by_alice = commit(Some(&gpg_signing(&alice, None)), "deploy v1", None);
        let by_bob = commit(Some(&gpg_signing(&bob, None)), "hello", None);
        let by_mallory = commit(Some(&gpg_signing(&mallory, None)), "evil", None);
        let tag_by_alice = tag(&gpg_signing(&alice, None), "release 1");
        stop_gpg_agent();
        Some(Keys {
            alice,
            bob,
            mallory,
            revoked,
            revoked_commit,
            expiring,
            early,
            late,
            by_alice,
            by_bob,
            by_mallory,
            tag_by_alice,
        })
    })
    .as_ref()
}

fn verifier(fprs: &[&str]) -> Verifier {
    let armored: String = fprs.iter().map(|f| gpg_export(f)).collect();
    Verifier::new(&[gpg_trust(&armored)]).expect("keys parse")
}

/// git trusts whatever is in the GnuPG home; this is the oracle for the cryptography only.
fn git_oracle() -> Signing {
    let (_, wrapper) = gnupg();
    Signing { config: vec![("gpg.program".into(), wrapper.display().to_string())], env: vec![] }
}

#[test]
fn a_trusted_primary_key_verifies_and_git_agrees() {
    let Some(k) = keys() else { return };
    let signed = &k.by_alice;
    let v = verifier(&[&k.mallory, &k.alice]).verify_commit(&signed.raw, now()).expect("verified");
    assert_eq!(v.signer.kind, SignatureKind::Gpg);
    assert_eq!(v.signer.fingerprint.as_deref(), Some(k.alice.as_str()));
    assert_eq!(v.signer.signing_key, None);
    assert_eq!(v.signer.identity.as_deref(), Some("Alice <alice@example.com>"));
    assert!(v.signer.signed_at.is_some());
    assert!(git_verifies(signed, "commit", &git_oracle()));
}

#[test]
fn a_signing_subkey_verifies_and_is_named() {
    let Some(k) = keys() else { return };
    let signed = &k.by_bob;
    let v = verifier(&[&k.bob]).verify_commit(&signed.raw, now()).expect("verified");
    assert_eq!(v.signer.fingerprint.as_deref(), Some(k.bob.as_str()));
    let sub = v.signer.signing_key.clone().expect("subkey named");
    assert_ne!(sub, k.bob);
    let listing = String::from_utf8(gpg(None, &["--with-colons", "--list-keys", &k.bob]).stdout).unwrap();
    assert!(listing.contains(&sub), "gpg does not list subkey {sub}");
    assert!(git_verifies(signed, "commit", &git_oracle()));
}

#[test]
fn tampered_unknown_and_unsigned_are_refused() {
    let Some(k) = keys() else { return };
    let v = verifier(&[&k.alice]);
    let signed = &k.by_alice;
    let forged = tamper(&signed.raw, "deploy v1", "deploy v2");
    assert!(matches!(v.verify_commit(&forged, now()), Err(Refusal::BadSignature { .. })));

    // Alice's valid signature of another commit, grafted onto this one.
    let text = |raw: &[u8]| String::from_utf8(raw.to_vec()).unwrap();
    let (ours, theirs) = (text(&signed.raw), text(&k.by_bob.raw));
    let span = |t: &str| {
        let s = t.find("gpgsig ").unwrap();
        (s, t[s..].find("\n\n").unwrap() + s)
    };
    let ((s1, e1), (s2, e2)) = (span(&ours), span(&theirs));
    let grafted = format!("{}{}{}", &ours[..s1], &theirs[s2..e2], &ours[e1..]);
    let other = verifier(&[&k.alice, &k.bob]).verify_commit(grafted.as_bytes(), now()).unwrap_err();
    assert!(matches!(other, Refusal::BadSignature { .. }), "{other}");

    let by_mallory = &k.by_mallory;
    let err = v.verify_commit(&by_mallory.raw, now()).unwrap_err();
    assert_eq!(err, Refusal::UnknownKey { fingerprint: k.mallory.clone() });

    let unsigned = commit(None, "plain", None);
    assert_eq!(v.verify_commit(&unsigned.raw, now()).unwrap_err(), Refusal::Unsigned("commit"));

    let ssh_only = Verifier::new(&[]).unwrap();
    assert_eq!(
        ssh_only.verify_commit(&signed.raw, now()).unwrap_err(),
        Refusal::NoTrustForKind(SignatureKind::Gpg)
    );
}

#[test]
fn a_revoked_key_is_refused_even_for_old_signatures() {
    let Some(k) = keys() else { return };
    let err = verifier(&[&k.revoked]).verify_commit(&k.revoked_commit, now()).unwrap_err();
    let Refusal::Revoked { fingerprint, .. } = &err else { panic!("{err}") };
    assert_eq!(fingerprint, &k.revoked);
}

#[test]
fn a_key_that_expired_after_signing_still_verifies_older_signatures() {
    let Some(k) = keys() else { return };
    let v = verifier(&[&k.expiring]);
    let ok = v.verify_commit(&k.early.raw, now()).expect("signed while valid");
    assert_eq!(ok.signer.signed_at, Some((T0 + HOUR) as u64));
    let err = v.verify_commit(&k.late.raw, now()).unwrap_err();
    let Refusal::Expired { fingerprint, detail } = &err else { panic!("{err}") };
    assert_eq!(fingerprint, &k.expiring);
    assert!(detail.contains("2020-01-02T12:00:00Z"), "{detail}");
    // git differs on purpose (docs/verify.md): it refuses both, whatever the signing time.
    assert!(!git_verifies(&k.early, "commit", &git_oracle()));
    assert!(!git_verifies(&k.late, "commit", &git_oracle()));
}

#[test]
fn signed_tags_verify() {
    let Some(k) = keys() else { return };
    let signed = &k.tag_by_alice;
    let v = verifier(&[&k.alice]);
    assert!(v.verify_tag(&signed.raw, now()).is_ok());
    assert!(git_verifies(signed, "tag", &git_oracle()));
    let forged = tamper(&signed.raw, "release 1", "release 2");
    assert!(matches!(v.verify_tag(&forged, now()), Err(Refusal::BadSignature { .. })));
}

#[test]
fn bad_key_text_names_the_entry_and_block() {
    let Some(k) = keys() else { return };
    let good = gpg_export(&k.alice);
    let broken =
        "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nnot base64 at all!!\n-----END PGP PUBLIC KEY BLOCK-----\n";
    let err =
        Verifier::new(&[ssh_trust("# nothing\n"), gpg_trust(&format!("{good}{broken}"))]).err().unwrap();
    assert!(err.to_string().starts_with("trust[0].ssh.allowedSigners"), "{err}");
    let err = Verifier::new(&[gpg_trust(&format!("{good}{broken}"))]).err().unwrap();
    assert!(err.to_string().starts_with("trust[0].gpg.publicKeys block 2: "), "{err}");
    let err = Verifier::new(&[gpg_trust("just text")]).err().unwrap();
    assert!(err.to_string().contains("no `-----BEGIN PGP PUBLIC KEY BLOCK-----`"), "{err}");
}
