//! The render stage on real Git work trees made with `git`: the default render root is the top
//! of the work tree (a `.git` directory, or a `.git` file for linked worktrees), and errors name
//! files relative to it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;

use driftless_e2e::write_files;
use driftless_engine::render::{RenderRequest, render};
use driftless_plugin_host::{ErrorClass, Limits, PluginHost};

fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .args(["-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "init.defaultBranch=main"])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run git");
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

fn have_git() -> bool {
    let ok = Command::new("git").arg("--version").output().is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!("SKIPPED: git is not installed");
    }
    ok
}

fn request(path: &Path) -> RenderRequest {
    RenderRequest { path: path.to_path_buf(), root: None, plugin: None, params: Default::default() }
}

fn render_with_defaults(
    request: &RenderRequest,
) -> Result<driftless_engine::Rendered, driftless_engine::RenderError> {
    render(&PluginHost::new(Limits::default()).unwrap(), request)
}

#[test]
fn renders_inside_a_repository_and_a_linked_worktree() {
    if !have_git() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    std::fs::create_dir(&repo).unwrap();
    git(&repo, &["init", "-q"]);
    write_files(
        &repo,
        &[
            ("apps/web/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: web}\n"),
            ("apps/web/svc.yaml", "apiVersion: v1\nkind: Service\nmetadata: {name: web}\n"),
        ],
    );
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "-qm", "app"]);

    let rendered = render_with_defaults(&request(&repo.join("apps/web"))).unwrap();
    assert_eq!(rendered.root, repo.canonicalize().unwrap());
    assert_eq!(rendered.path, "apps/web");
    assert_eq!(rendered.plugin, "manifests");
    let kinds: Vec<_> = rendered.objects.iter().map(|o| o.kind().to_owned()).collect();
    assert_eq!(kinds, ["ConfigMap", "Service"]);

    // A linked worktree has a `.git` file, not a directory.
    git(&repo, &["worktree", "add", "-q", "../linked"]);
    let linked = dir.path().join("linked");
    assert!(linked.join(".git").is_file());
    write_files(&linked, &[("apps/web/bad.yaml", "kind: Service\n")]);
    let err = render_with_defaults(&request(&linked.join("apps/web"))).unwrap_err();
    assert_eq!(err.class(), ErrorClass::Input);
    assert_eq!(
        err.to_string(),
        "apps/web/bad.yaml line 1: not a Kubernetes object: `apiVersion` is missing or not a non-empty string"
    );
}

#[test]
fn outside_a_repository_the_root_is_the_directory_itself() {
    let dir = tempfile::tempdir().unwrap();
    write_files(dir.path(), &[("app/x.yaml", "apiVersion: v1\nkind: Namespace\nmetadata: {name: x}\n")]);
    let rendered = render_with_defaults(&request(&dir.path().join("app"))).unwrap();
    assert_eq!(rendered.path, ".");
    assert_eq!(rendered.root, dir.path().join("app").canonicalize().unwrap());
}
