//! Helpers shared by the CLI tests that drive real `git` repositories.

use std::path::Path;
use std::process::{Command, Output};

/// Run `cmd`; fail the test with its stderr when it fails.
pub fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{cmd:?}: {}", String::from_utf8_lossy(&out.stderr));
    out
}

/// `git ARGS` in `repo` as a fixed identity, SSH signing format, no system or global config;
/// returns its trimmed stdout.
pub fn git_in(repo: &Path, args: &[&str]) -> String {
    let out = run(Command::new("git")
        .args(["-c", "user.name=Me", "-c", "user.email=me@example.com", "-c", "gpg.format=ssh"])
        .args(args)
        .current_dir(repo)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null"));
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}
