//! `driftless verify` as a user runs it: a local repository whose commits are signed with an
//! SSH key made by `ssh-keygen`, a trust file with that key, and every exit code.

// Fixture helpers outside #[test] functions: a failed setup step fails the test.
#![allow(clippy::unwrap_used, clippy::panic)]

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use support::{git_in, run};

struct Fixture {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    repo: PathBuf,
    key: PathBuf,
    other_key: PathBuf,
    cache: PathBuf,
}

impl Fixture {
    fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_owned();
        let repo = dir.join("repo");
        std::fs::create_dir_all(&repo).unwrap();
        let (key, other_key) = (dir.join("id_ed25519"), dir.join("other_ed25519"));
        for k in [&key, &other_key] {
            run(Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-C", "me@example.com", "-f"])
                .arg(k));
        }
        let fixture = Fixture { cache: dir.join("cache"), _tmp: tmp, dir, repo, key, other_key };
        fixture.git(&["init", "-q", "-b", "main"]);
        fixture
    }

    fn git(&self, args: &[&str]) -> String {
        git_in(&self.repo, args)
    }

    /// Commit a file change, signed with `key` (or unsigned); returns the commit id.
    fn commit(&self, name: &str, key: Option<&Path>) -> String {
        std::fs::write(self.repo.join(name), name).unwrap();
        self.git(&["add", "."]);
        match key {
            Some(key) => {
                let signing = format!("user.signingkey={}", key.display());
                self.git(&["-c", &signing, "commit", "-q", "-S", "-m", name]);
            }
            None => {
                self.git(&["commit", "-q", "-m", name]);
            }
        }
        self.git(&["rev-parse", "HEAD"])
    }

    /// A trust file trusting `key` for me@example.com, with extra YAML lines.
    fn trust(&self, key: &Path, extra: &str) -> PathBuf {
        let public = std::fs::read_to_string(key.with_extension("pub")).unwrap();
        let line =
            format!("me@example.com {}", public.split_whitespace().take(2).collect::<Vec<_>>().join(" "));
        let path = self.dir.join("trust.yaml");
        std::fs::write(&path, format!("{extra}trust:\n- ssh:\n    allowedSigners: \"{line}\"\n")).unwrap();
        path
    }

    fn verify(&self, trust: &Path, args: &[&str]) -> (i32, serde_json::Value, String) {
        let out = Command::new(env!("CARGO_BIN_EXE_driftless"))
            .arg("verify")
            .arg("--repo")
            .arg(&self.repo)
            .arg("--trust")
            .arg(trust)
            .arg("--cache-dir")
            .arg(&self.cache)
            .args(["--output", "json"])
            .args(args)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let json = serde_json::from_str(&stdout).unwrap_or(serde_json::Value::Null);
        (out.status.code().unwrap_or(-1), json, String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

fn fingerprint(key: &Path) -> String {
    let out = run(Command::new("ssh-keygen").arg("-lf").arg(key.with_extension("pub")));
    String::from_utf8(out.stdout).unwrap().split_whitespace().nth(1).unwrap().to_owned()
}

#[test]
fn a_commit_signed_with_my_ssh_key_is_verified_and_names_the_signer() {
    let f = Fixture::new();
    let commit = f.commit("a.yaml", Some(&f.key));
    let trust = f.trust(&f.key, "");
    let (code, json, stderr) = f.verify(&trust, &["--rev", "main"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(json["verified"], true);
    assert_eq!(json["mode"], "enforce");
    assert_eq!(json["revision"], "main");
    assert_eq!(json["commit"], commit.as_str());
    assert_eq!(json["signer"]["kind"], "ssh");
    assert_eq!(json["signer"]["fingerprint"], fingerprint(&f.key).as_str());
    assert!(json["reason"].is_null());

    // Text output for people.
    let out = Command::new(env!("CARGO_BIN_EXE_driftless"))
        .args(["verify", "--rev", &commit[..8], "--repo"])
        .arg(&f.repo)
        .arg("--trust")
        .arg(&trust)
        .arg("--cache-dir")
        .arg(&f.cache)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && text.starts_with("verified:") && text.contains("signer: ssh"), "{text}");

    // A revision expression: the parent of the new tip, as `git rev-parse main~1` names it.
    let next = f.commit("b.yaml", Some(&f.key));
    let (code, json, stderr) = f.verify(&trust, &["--rev", "main~1"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!((json["revision"].as_str(), json["commit"].as_str()), (Some("main~1"), Some(commit.as_str())));
    let (code, json, stderr) = f.verify(&trust, &["--rev", "HEAD^{commit}"]);
    assert_eq!((code, json["commit"].as_str()), (0, Some(next.as_str())), "{stderr}");
}

#[test]
fn unsigned_untrusted_and_rewritten_revisions_are_refused_with_the_reason() {
    let f = Fixture::new();
    let signed = f.commit("a.yaml", Some(&f.key));
    let trust = f.trust(&f.key, "");

    f.commit("b.yaml", None);
    let (code, json, stderr) = f.verify(&trust, &["--rev", "main"]);
    assert_eq!((code, json["verified"].as_bool()), (1, Some(false)), "{stderr}");
    assert_eq!(json["code"], "unsigned");
    assert!(stderr.contains("unsigned"), "{stderr}");

    f.commit("c.yaml", Some(&f.other_key));
    let (code, json, _) = f.verify(&trust, &["--rev", "main"]);
    assert_eq!((code, json["code"].as_str()), (1, Some("unknownKey")), "{json}");

    // The same in audit mode: reported, not enforced.
    let audit = f.trust(&f.key, "mode: audit\n");
    let (code, json, _) = f.verify(&audit, &["--rev", "main"]);
    assert_eq!((code, json["verified"].as_bool(), json["passed"].as_bool()), (0, Some(false), Some(true)));

    // A force push: the new tip does not descend from the last synced commit.
    let trust = f.trust(&f.key, "");
    let old_main = f.git(&["rev-parse", "main"]);
    f.git(&["reset", "-q", "--hard", &signed]);
    let unsigned = f.commit("u.yaml", None);
    let rewritten = f.commit("d.yaml", Some(&f.key));
    let (code, json, _) = f.verify(&trust, &["--rev", "main", "--since", &old_main]);
    assert_eq!((code, json["code"].as_str()), (1, Some("notDescendant")), "{json}");
    assert!(json["reason"].as_str().unwrap().contains("force push"), "{json}");
    assert_eq!(json["commit"], rewritten.as_str());
    let allow = f.trust(&f.key, "allowHistoryRewrite: true\n");
    let (code, _, stderr) = f.verify(&allow, &["--rev", "main", "--since", &old_main]);
    assert_eq!(code, 0, "{stderr}");
    // An allowed rewrite still needs its new commits signed when the history must be.
    let strict = f.trust(&f.key, "allowHistoryRewrite: true\nrequireSignedHistory: true\n");
    let (code, json, _) = f.verify(&strict, &["--rev", "main", "--since", &old_main]);
    assert_eq!((code, json["code"].as_str()), (1, Some("unsignedHistory")), "{json}");
    assert!(json["reason"].as_str().unwrap().contains(&unsigned), "{json}");
}

#[test]
fn signed_history_needs_every_commit_since_the_last_synced_one_signed() {
    let f = Fixture::new();
    let base = f.commit("a.yaml", Some(&f.key));
    let unsigned = f.commit("b.yaml", None);
    f.commit("c.yaml", Some(&f.key));
    let lax = f.trust(&f.key, "");
    let (code, json, _) = f.verify(&lax, &["--rev", "main", "--since", &base]);
    assert_eq!((code, json["history"]["descends"].as_bool()), (0, Some(true)), "{json}");

    let strict = f.trust(&f.key, "requireSignedHistory: true\n");
    let (code, json, _) = f.verify(&strict, &["--rev", "main", "--since", &base]);
    assert_eq!((code, json["code"].as_str()), (1, Some("unsignedHistory")), "{json}");
    assert!(json["reason"].as_str().unwrap().contains(&unsigned), "names the unsigned commit: {json}");
}

#[test]
fn signed_annotated_tags_verify_and_a_lightweight_tag_cannot_be_the_target() {
    let f = Fixture::new();
    f.commit("a.yaml", Some(&f.key));
    let signing = format!("user.signingkey={}", f.key.display());
    f.git(&["-c", &signing, "tag", "-s", "-m", "release", "v1.0"]);
    f.git(&["tag", "light"]);
    let trust = f.trust(&f.key, "target: tagAndCommit\n");
    let (code, json, stderr) = f.verify(&trust, &["--rev", "v1.0"]);
    assert_eq!(code, 0, "{stderr} {json}");
    assert_eq!(json["verdicts"].as_array().map(Vec::len), Some(2), "{json}");
    let (code, json, _) = f.verify(&trust, &["--rev", "light"]);
    assert_eq!((code, json["code"].as_str()), (1, Some("notAnnotatedTag")), "{json}");
}

#[test]
fn bad_input_exits_2_and_an_unreachable_repository_exits_3() {
    let f = Fixture::new();
    f.commit("a.yaml", Some(&f.key));
    let trust = f.trust(&f.key, "");
    let (code, _, stderr) = f.verify(&trust, &["--rev", "no-such-branch"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("no-such-branch"), "{stderr}");
    for (rev, words) in [("main~5", "main~5"), ("main@{1}", "reflog"), ("no-such~1", "no-such")] {
        let (code, _, stderr) = f.verify(&trust, &["--rev", rev]);
        assert_eq!(code, 2, "{rev}: {stderr}");
        assert!(stderr.contains(words), "{rev}: {stderr}");
    }

    let bad = f.dir.join("bad-trust.yaml");
    std::fs::write(
        &bad,
        "mode: enforce\ntrust:\n- ssh: {allowedSigners: \"me@example.com ssh-ed25519 !!!\"}\n",
    )
    .unwrap();
    let (code, _, stderr) = f.verify(&bad, &[]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("bad-trust.yaml") && stderr.contains("trust[0]"), "{stderr}");

    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let out = Command::new(env!("CARGO_BIN_EXE_driftless"))
        .args(["verify", "--repo", &format!("git://127.0.0.1:{port}/nothing"), "--timeout", "5s", "--trust"])
        .arg(&trust)
        .arg("--cache-dir")
        .arg(&f.cache)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stderr));
}
