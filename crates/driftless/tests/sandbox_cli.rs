//! `driftless sandbox`, run as a process: the ready line, the kubeconfig it writes used by
//! real kubectl, the state file across a restart, SIGTERM, and exit codes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn spawn(args: &[&str], cwd: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_driftless"))
        .arg("sandbox")
        .args(args)
        .current_dir(cwd)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run driftless sandbox")
}

/// Read the `ready <url> <kubeconfig>` line (bounded by the process's own lifetime: a
/// process that exits closes stdout).
fn ready_line(child: &mut Child) -> (String, String) {
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let parts: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(parts.len(), 3, "ready line: {line:?}");
    assert_eq!(parts[0], "ready");
    (parts[1].to_owned(), parts[2].to_owned())
}

fn wait(child: &mut Child, timeout: Duration) -> Option<i32> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status.code();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn terminate(child: &mut Child) -> Option<i32> {
    let status = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status().unwrap();
    assert!(status.success());
    wait(child, Duration::from_secs(20))
}

fn kubectl(kubeconfig: &str, cache: &Path, args: &[&str]) -> Option<(bool, String)> {
    let out = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .arg("--cache-dir")
        .arg(cache)
        .arg("--request-timeout=20s")
        .args(args)
        .env_remove("KUBECONFIG")
        .output()
        .ok()?;
    Some((out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned()))
}

#[test]
fn sandbox_serves_kubectl_with_its_kubeconfig_and_keeps_state() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = spawn(&["--state", "state.json"], dir.path());
    let (url, kubeconfig) = ready_line(&mut child);
    assert!(url.starts_with("https://127.0.0.1:"), "{url}");
    assert_eq!(kubeconfig, "./driftless-sandbox.kubeconfig");
    let kubeconfig = dir.path().join(kubeconfig).to_string_lossy().into_owned();
    let cache = dir.path().join("cache");
    let Some((ok, out)) =
        kubectl(&kubeconfig, &cache, &["create", "configmap", "kept", "--from-literal=a=b"])
    else {
        eprintln!("SKIPPED: kubectl is not on PATH; the sandbox CLI test needs it");
        terminate(&mut child);
        return;
    };
    assert!(ok, "{out}");
    assert_eq!(terminate(&mut child), Some(0));
    assert!(dir.path().join("state.json").exists());

    let mut child = spawn(&["--state", "state.json", "--kubeconfig-out", "k2"], dir.path());
    let (_, kubeconfig) = ready_line(&mut child);
    assert_eq!(kubeconfig, "k2");
    let kubeconfig = dir.path().join(kubeconfig).to_string_lossy().into_owned();
    let (ok, out) = kubectl(
        &kubeconfig,
        &dir.path().join("cache2"),
        &["get", "configmap", "kept", "-o", "jsonpath={.data.a}"],
    )
    .unwrap();
    assert!(ok && out == "b", "after a restart: {out}");
    assert_eq!(terminate(&mut child), Some(0));
}

#[test]
fn sandbox_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let mut child = spawn(&["--port", &port], dir.path());
    assert_eq!(wait(&mut child, Duration::from_secs(20)), Some(3), "a port in use is a runtime failure");

    std::fs::write(dir.path().join("bad.json"), "{not json").unwrap();
    let mut child = spawn(&["--state", "bad.json"], dir.path());
    assert_eq!(
        wait(&mut child, Duration::from_secs(20)),
        Some(2),
        "a malformed state file is an input error"
    );

    let mut child = spawn(&["--port", "not-a-port"], dir.path());
    assert_eq!(wait(&mut child, Duration::from_secs(20)), Some(2));
}
