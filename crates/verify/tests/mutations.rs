//! Bad input never panics and never verifies: every single-byte change to a signed commit
//! outside the signature's armored body (the payload, the `gpgsig ` header name, the layout) is
//! refused; changes inside the armored body must not panic (a few may be absorbed by base64
//! padding bits or armor whitespace and still verify the unchanged payload).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use driftless_core::spec::{GitsignTrust, TrustSource};
use driftless_verify::Verifier;

/// Positions of the `gpgsig` header (start, end) in a raw commit.
fn signature_span(raw: &[u8]) -> (usize, usize) {
    let text = String::from_utf8(raw.to_vec()).unwrap();
    let s = text.find("gpgsig ").unwrap();
    let e = text[s..].find("\n\n").unwrap() + s;
    (s, e)
}

fn mutate_everywhere(name: &str, verifier: &Verifier, raw: &[u8]) {
    assert!(verifier.verify_commit(raw, now()).is_ok(), "{name}: the original must verify");
    let (sig_start, sig_end) = signature_span(raw);
    let mut payload_changes = 0;
    // Every payload byte, and a spread of signature bytes (bounded: at most ~600 per object).
    let step = ((sig_end - sig_start) / 300).max(1);
    let positions: Vec<usize> =
        (0..sig_start).chain((sig_start..sig_end).step_by(step)).chain(sig_end..raw.len()).collect();
    for i in positions {
        for replacement in [b'x', b'\n', 0xff] {
            if raw[i] == replacement {
                continue;
            }
            let mut bad = raw.to_vec();
            bad[i] = replacement;
            let got = verifier.verify_commit(&bad, now());
            let in_signature = (sig_start + "gpgsig ".len()..sig_end).contains(&i);
            assert!(
                in_signature || got.is_err(),
                "{name}: changing byte {i} to {replacement:#x} still verified:\n{}",
                String::from_utf8_lossy(&bad)
            );
            if !in_signature {
                payload_changes += 1;
            }
        }
        let _ = verifier.verify_tag(raw, now());
    }
    assert!(payload_changes > 100, "{name}: only {payload_changes} payload changes tried");
}

#[test]
fn ssh_commit_mutations() {
    if !have(&["git", "ssh-keygen"]) {
        return;
    }
    let key = ssh_key("m", "ed25519");
    let v = Verifier::new(&[ssh_trust(&format!("m@x {}\n", key.public))]).unwrap();
    let signed = commit(Some(&ssh_signing(&key)), "mutate me", None);
    mutate_everywhere("ssh", &v, &signed.raw);
}

#[test]
fn gpg_commit_mutations() {
    if !have(&["git", "gpg"]) {
        return;
    }
    let fpr = gpg_key("M <m@example.com>", "sign", None);
    let signed = commit(Some(&gpg_signing(&fpr, None)), "mutate me", None);
    stop_gpg_agent();
    let v = Verifier::new(&[gpg_trust(&gpg_export(&fpr))]).unwrap();
    mutate_everywhere("gpg", &v, &signed.raw);
}

#[test]
fn gitsign_commit_mutations() {
    if !have(&["git", "openssl"]) {
        return;
    }
    let root = ca("m root", None);
    let l = leaf(
        &root,
        email(),
        IssuerExt::Current(ISSUER),
        time::Duration::minutes(-5),
        time::Duration::minutes(10),
    );
    let signed = commit(Some(&x509_signing(&l, None)), "mutate me", None);
    let v = Verifier::new(&[TrustSource::Gitsign(GitsignTrust {
        identity: Some(EMAIL.into()),
        identity_regexp: None,
        issuer: ISSUER.into(),
        fulcio_roots: root.pem.clone(),
        require_tlog: false,
        rekor: None,
    })])
    .unwrap();
    mutate_everywhere("gitsign", &v, &signed.raw);
}
