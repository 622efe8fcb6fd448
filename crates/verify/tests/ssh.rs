//! SSH-signed commits and tags made by `git` + `ssh-keygen`, checked against `git verify-commit`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::OnceLock;

use common::*;
use driftless_verify::{Refusal, SignatureKind, Verifier};

struct Keys {
    alice: SshKey,
    mallory: SshKey,
    ecdsa: SshKey,
    rsa: SshKey,
}

fn keys() -> Option<&'static Keys> {
    static KEYS: OnceLock<Option<Keys>> = OnceLock::new();
    KEYS.get_or_init(|| {
        have(&["git", "ssh-keygen"]).then(|| Keys {
            alice: ssh_key("alice", "ed25519"),
            mallory: ssh_key("mallory", "ed25519"),
            ecdsa: ssh_key("ecdsa", "ecdsa"),
            rsa: ssh_key("rsa", "rsa"),
        })
    })
    .as_ref()
}

fn verifier(allowed: &str) -> Verifier {
    Verifier::new(&[ssh_trust(allowed)]).expect("trust parses")
}

#[test]
fn a_trusted_key_verifies_and_git_agrees() {
    let Some(k) = keys() else { return };
    let allowed = format!("alice@example.com {}\n", k.alice.public);
    let signed = commit(Some(&ssh_signing(&k.alice)), "hello", None);
    let v = verifier(&allowed).verify_commit(&signed.raw, now()).expect("verified");
    assert_eq!(v.signer.kind, SignatureKind::Ssh);
    assert_eq!(v.signer.identity.as_deref(), Some("alice@example.com"));
    let fp = v.signer.fingerprint.clone().unwrap();
    assert!(fp.starts_with("SHA256:"), "{fp}");
    let keygen_fp =
        run(std::process::Command::new("ssh-keygen").arg("-lf").arg(k.alice.private.with_extension("pub")))
            .stdout;
    assert!(String::from_utf8_lossy(&keygen_fp).contains(&fp), "ssh-keygen disagrees on {fp}");
    assert!(!v.signer.signed_at_proven);
    assert!(git_verifies(&signed, "commit", &ssh_oracle(&allowed)));
}

#[test]
fn ecdsa_and_rsa_keys_verify() {
    let Some(k) = keys() else { return };
    for key in [&k.ecdsa, &k.rsa] {
        let allowed = format!("ops@example.com {}\n", key.public);
        let signed = commit(Some(&ssh_signing(key)), "hello", None);
        let v = verifier(&allowed).verify_commit(&signed.raw, now());
        assert!(v.is_ok(), "{}: {v:?}", key.public);
        assert!(git_verifies(&signed, "commit", &ssh_oracle(&allowed)));
    }
}

#[test]
fn tampered_content_is_refused_and_git_agrees() {
    let Some(k) = keys() else { return };
    let allowed = format!("alice@example.com {}\n", k.alice.public);
    let signed = commit(Some(&ssh_signing(&k.alice)), "deploy v1", None);
    let forged = tamper(&signed.raw, "deploy v1", "deploy v2");
    let err = verifier(&allowed).verify_commit(&forged, now()).unwrap_err();
    assert!(matches!(err, Refusal::BadSignature { .. }), "{err}");

    // A valid signature of another commit, grafted onto this one.
    let other = commit(Some(&ssh_signing(&k.alice)), "other", None);
    let sig_start = |raw: &[u8]| {
        let t = String::from_utf8(raw.to_vec()).unwrap();
        let s = t.find("gpgsig ").unwrap();
        let e = t[s..].find("\n\n").unwrap() + s;
        (t[..s].to_string(), t[s..e].to_string(), t[e..].to_string())
    };
    let (head, _, tail) = sig_start(&signed.raw);
    let (_, other_sig, _) = sig_start(&other.raw);
    let grafted = format!("{head}{other_sig}{tail}");
    let err = verifier(&allowed).verify_commit(grafted.as_bytes(), now()).unwrap_err();
    assert!(matches!(err, Refusal::BadSignature { .. }), "{err}");
}

#[test]
fn unknown_key_and_unsigned_are_refused() {
    let Some(k) = keys() else { return };
    let allowed = format!("alice@example.com {}\n", k.alice.public);
    let by_mallory = commit(Some(&ssh_signing(&k.mallory)), "evil", None);
    let err = verifier(&allowed).verify_commit(&by_mallory.raw, now()).unwrap_err();
    let Refusal::UnknownKey { fingerprint } = &err else { panic!("{err}") };
    assert!(fingerprint.starts_with("SHA256:"));
    assert!(!git_verifies(&by_mallory, "commit", &ssh_oracle(&allowed)));

    let unsigned = commit(None, "plain", None);
    assert_eq!(
        verifier(&allowed).verify_commit(&unsigned.raw, now()).unwrap_err(),
        Refusal::Unsigned("commit")
    );

    // SSH-signed, but only OpenPGP keys are trusted for SSH? No: no SSH trust at all.
    let gpg_only = Verifier::new(&[]).unwrap();
    let err = gpg_only.verify_commit(&by_mallory.raw, now()).unwrap_err();
    assert_eq!(err, Refusal::NoTrustForKind(SignatureKind::Ssh));
}

#[test]
fn namespaces_option_is_honoured() {
    let Some(k) = keys() else { return };
    let signed = commit(Some(&ssh_signing(&k.alice)), "hello", None);
    for (opts, ok) in [
        ("namespaces=\"git\"", true),
        ("namespaces=\"file,g*\"", true),
        ("namespaces=\"file\"", false),
        ("namespaces=\"*,!git\"", false),
    ] {
        let allowed = format!("alice@example.com {opts} {}\n", k.alice.public);
        let got = verifier(&allowed).verify_commit(&signed.raw, now());
        assert_eq!(got.is_ok(), ok, "{opts}: {got:?}");
        if !ok {
            assert!(matches!(got, Err(Refusal::WrongNamespace(_))), "{opts}: {got:?}");
        }
        assert_eq!(git_verifies(&signed, "commit", &ssh_oracle(&allowed)), ok, "git on {opts}");
    }
}

#[test]
fn a_signature_for_another_namespace_is_refused() {
    let Some(k) = keys() else { return };
    // Sign the commit's payload with `-n file` instead of `-n git`, and graft it on.
    let signed = commit(Some(&ssh_signing(&k.alice)), "hello", None);
    let text = String::from_utf8(signed.raw.clone()).unwrap();
    let s = text.find("gpgsig ").unwrap();
    let e = text[s..].find("\n\n").unwrap() + s;
    let payload = format!("{}{}", &text[..s], &text[e + 1..]);
    let file = root().join("payload-ns");
    std::fs::write(&file, &payload).unwrap();
    run(std::process::Command::new("ssh-keygen")
        .args(["-q", "-Y", "sign", "-n", "file", "-f"])
        .arg(&k.alice.private)
        .arg(&file));
    let sig = std::fs::read_to_string(file.with_extension("sig"))
        .unwrap_or_else(|_| std::fs::read_to_string(format!("{}.sig", file.display())).unwrap());
    let header: String = sig
        .trim_end()
        .lines()
        .enumerate()
        .map(|(i, l)| if i == 0 { format!("gpgsig {l}\n") } else { format!(" {l}\n") })
        .collect();
    let grafted = format!("{}{}{}", &text[..s], header, &text[e + 1..]);
    let allowed = format!("alice@example.com {}\n", k.alice.public);
    let err = verifier(&allowed).verify_commit(grafted.as_bytes(), now()).unwrap_err();
    assert!(matches!(err, Refusal::WrongNamespace(ref m) if m.contains("\"file\"")), "{err}");
}

#[test]
fn validity_window_is_checked_at_the_committer_time_like_git() {
    let Some(k) = keys() else { return };
    // Committed on 2020-01-01T01:00Z.
    let signed = commit(Some(&ssh_signing(&k.alice)), "hello", Some(T0 + HOUR));
    for (opts, expect) in [
        ("valid-after=\"20191231\"", "ok"),
        ("valid-after=\"20200101\",valid-before=\"20200102\"", "ok"),
        ("valid-after=\"20200102\"", "notYetValid"),
        ("valid-before=\"202001010030Z\"", "expired"),
    ] {
        let allowed = format!("alice@example.com {opts} {}\n", k.alice.public);
        let got = verifier(&allowed).verify_commit(&signed.raw, now());
        let code = got.as_ref().map_or_else(|e| e.code(), |_| "ok");
        assert_eq!(code, expect, "{opts}: {got:?}");
        assert_eq!(git_verifies(&signed, "commit", &ssh_oracle(&allowed)), expect == "ok", "git on {opts}");
    }
}

#[test]
fn a_later_line_for_the_same_key_can_allow_it() {
    let Some(k) = keys() else { return };
    let signed = commit(Some(&ssh_signing(&k.alice)), "hello", Some(T0 + HOUR));
    let allowed = format!(
        "old@example.com valid-before=\"20190101\" {0}\nnew@example.com valid-after=\"20191201\" {0}\n",
        k.alice.public
    );
    let v = verifier(&allowed).verify_commit(&signed.raw, now()).unwrap();
    assert_eq!(v.signer.identity.as_deref(), Some("new@example.com"));
    assert_eq!(v.signer.signed_at, Some((T0 + HOUR) as u64));
}

#[test]
fn signed_tags_verify() {
    let Some(k) = keys() else { return };
    let allowed = format!("alice@example.com {}\n", k.alice.public);
    let signed = tag(&ssh_signing(&k.alice), "release 1");
    let v = verifier(&allowed).verify_tag(&signed.raw, now()).expect("verified");
    assert_eq!(v.signer.identity.as_deref(), Some("alice@example.com"));
    assert!(git_verifies(&signed, "tag", &ssh_oracle(&allowed)));
    let forged = tamper(&signed.raw, "release 1", "release 2");
    assert!(matches!(verifier(&allowed).verify_tag(&forged, now()), Err(Refusal::BadSignature { .. })));
    // An unsigned commit's bytes are not a signed tag.
    let unsigned = commit(None, "plain", None);
    assert_eq!(verifier(&allowed).verify_tag(&unsigned.raw, now()).unwrap_err(), Refusal::Unsigned("tag"));
}

#[test]
fn garbage_never_panics() {
    let Some(k) = keys() else { return };
    let v = verifier(&format!("a@x {}\n", k.alice.public));
    for raw in [
        &b""[..],
        b"\n\n\n",
        b"tree x\ngpgsig -----BEGIN SSH SIGNATURE-----\n AAAA\n -----END SSH SIGNATURE-----\n\nmsg",
        b"tree x\ngpgsig -----BEGIN SSH SIGNATURE-----\n",
        b"\xff\xfe\x00gpgsig \xff",
    ] {
        assert!(v.verify_commit(raw, now()).is_err());
        assert!(v.verify_tag(raw, now()).is_err());
    }
}

#[test]
fn the_documented_application_yaml_trusts_your_own_key() {
    let Some(k) = keys() else { return };
    // The form docs/verify.md shows, read through the Application spec as the engine does.
    let yaml = format!(
        "apiVersion: driftless.dev/v1alpha1\nkind: Application\nmetadata: {{name: a}}\nspec:\n  \
         source: {{repoURL: ./repo}}\n  verify:\n    mode: enforce\n    trust:\n    - ssh:\n        \
         allowedSigners: |\n          you@example.com namespaces=\"git\" {}\n",
        k.alice.public
    );
    let app = driftless_core::Application::from_yaml(&yaml).expect("the documented form parses");
    let verifier = Verifier::new(&app.spec.verify.trust).unwrap();
    let signed = commit(Some(&ssh_signing(&k.alice)), "mine", None);
    let v = verifier.verify_commit(&signed.raw, now()).unwrap();
    assert_eq!(v.signer.identity.as_deref(), Some("you@example.com"));
    assert_eq!(v.trust_index, 0);
}
