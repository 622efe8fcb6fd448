//! Verifying 1,000 signed commits (target: < 1 s each kind), made by real `git` with
//! `ssh-keygen` and `gpg`. Setup (signing) is not measured.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/common/mod.rs"]
mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use common::*;
use criterion::{Criterion, criterion_group, criterion_main};
use driftless_verify::Verifier;

const COMMITS: usize = 1_000;

/// `COMMITS` signed commits in one repository, as raw objects.
fn signed_history(signing: &Signing) -> Vec<Vec<u8>> {
    let repo = commit(None, "root", None).repo;
    let mut cmd = git(&repo);
    signing.apply(&mut cmd);
    // One shell loop is much faster than one process spawn per commit from here.
    let script = format!(
        "i=0; while [ $i -lt {COMMITS} ]; do git \"$@\" commit -q --allow-empty -S -m \"commit $i\" || exit 1; i=$((i+1)); done"
    );
    let mut args = vec!["-c".to_string(), script, "sh".to_string()];
    for (k, v) in &signing.config {
        args.push("-c".into());
        args.push(format!("{k}={v}"));
    }
    let mut sh = Command::new("sh");
    sh.current_dir(&repo).args(&args);
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => sh.env(k, v),
            None => sh.env_remove(k),
        };
    }
    run(&mut sh);
    let ids = run(git(&repo).args(["rev-list", "--max-count", &COMMITS.to_string(), "HEAD"])).stdout;
    let mut child = git(&repo)
        .args(["cat-file", "--batch"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&ids).unwrap();
    let out = child.wait_with_output().unwrap().stdout;
    let mut objects = Vec::new();
    let mut rest = &out[..];
    while let Some(nl) = rest.iter().position(|&b| b == b'\n') {
        let header = std::str::from_utf8(&rest[..nl]).unwrap();
        let size: usize = header.rsplit(' ').next().unwrap().parse().unwrap();
        objects.push(rest[nl + 1..nl + 1 + size].to_vec());
        rest = &rest[nl + 1 + size + 1..];
    }
    assert_eq!(objects.len(), COMMITS);
    objects
}

fn bench(c: &mut Criterion) {
    if !have(&["git", "ssh-keygen", "gpg"]) {
        return;
    }
    let mut group = c.benchmark_group("verify");
    group.sample_size(10);

    let key = ssh_key("bench", "ed25519");
    let ssh = Verifier::new(&[ssh_trust(&format!("bench@example.com {}\n", key.public))]).unwrap();
    let commits = signed_history(&ssh_signing(&key));
    let at = now();
    group.bench_function("ssh-ed25519: 1,000 commits", |b| {
        b.iter(|| {
            for raw in &commits {
                ssh.verify_commit(raw, at).unwrap();
            }
        })
    });

    let fpr = gpg_key("Bench <bench@example.com>", "sign", None);
    let gpg = Verifier::new(&[gpg_trust(&gpg_export(&fpr))]).unwrap();
    let commits = signed_history(&gpg_signing(&fpr, None));
    group.bench_function("gpg-ed25519: 1,000 commits", |b| {
        b.iter(|| {
            for raw in &commits {
                gpg.verify_commit(raw, at).unwrap();
            }
        })
    });

    stop_gpg_agent();

    // gitsign: one certificate for all commits (gitsign's credential cache does this within a
    // certificate's ten minutes), so the chain is verified once and then cached.
    if have(&["openssl"]) {
        let root = ca("bench root", None);
        let l = leaf(
            &root,
            email(),
            IssuerExt::Current(ISSUER),
            time::Duration::minutes(-5),
            time::Duration::minutes(60),
        );
        let trust = driftless_core::spec::TrustSource::Gitsign(driftless_core::spec::GitsignTrust {
            identity: Some(EMAIL.into()),
            identity_regexp: None,
            issuer: ISSUER.into(),
            fulcio_roots: root.pem.clone(),
            require_tlog: false,
            rekor: None,
        });
        let commits = signed_history(&x509_signing(&l, None));
        group.bench_function("gitsign-p256: 1,000 commits, one certificate", |b| {
            b.iter(|| {
                let v = Verifier::new(std::slice::from_ref(&trust)).unwrap();
                for raw in &commits {
                    v.verify_commit(raw, at).unwrap();
                }
            })
        });

        // The same commits with Rekor evidence, required.
        let log = rekor_log();
        let logged_at = at.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
        let logged: Vec<Vec<u8>> = commits.iter().map(|raw| with_tlog_entry(raw, &log, logged_at)).collect();
        let mut with_tlog = trust.clone();
        if let driftless_core::spec::TrustSource::Gitsign(g) = &mut with_tlog {
            g.require_tlog = true;
            g.rekor = Some(driftless_core::spec::RekorSpec { public_keys: log.pem.clone(), url: None });
        }
        group.bench_function("gitsign-p256 + Rekor SET (required): 1,000 commits", |b| {
            b.iter(|| {
                let v = Verifier::new(std::slice::from_ref(&with_tlog)).unwrap();
                for raw in &logged {
                    assert!(v.verify_commit(raw, at).unwrap().signer.signed_at_proven);
                }
            })
        });
    }

    let armored = gpg_export(&fpr);
    group.bench_function("gpg: parse the trust (1 key)", |b| {
        b.iter(|| Verifier::new(&[gpg_trust(&armored)]).unwrap())
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
