//! `driftless plan` and `driftless sync` end to end, as a user runs them: a Git repository
//! served by a real `git daemon` on loopback, commits signed with `ssh-keygen` keys, the
//! sandbox cluster as a separate `driftless sandbox` process, the `driftless` binary, and
//! `kubectl` confirming what is in the cluster. Skips loudly without git, ssh-keygen or kubectl.

// Fixture helpers outside #[test] functions: a failed setup step fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{git_in, run};

const BIN: &str = env!("CARGO_BIN_EXE_driftless");

fn have(program: &str, arg: &str) -> bool {
    Command::new(program).arg(arg).stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok()
}

fn missing_tools() -> Option<&'static str> {
    [("git", "--version"), ("ssh-keygen", "-?"), ("kubectl", "version")]
        .into_iter()
        .find(|(p, a)| {
            if *p == "ssh-keygen" {
                // ssh-keygen -? exits non-zero but runs.
                Command::new(p).arg(a).stdout(Stdio::null()).stderr(Stdio::null()).status().is_err()
            } else {
                !have(p, a)
            }
        })
        .map(|(p, _)| p)
}

macro_rules! require_tools {
    () => {
        if let Some(tool) = missing_tools() {
            eprintln!(
                "SKIPPED: `{tool}` is not installed; this end-to-end test needs git, ssh-keygen and kubectl"
            );
            return;
        }
    };
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn wait_for_port(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(SocketAddr::from(([127, 0, 0, 1], port))).is_err() {
        assert!(Instant::now() < deadline, "nothing listens on port {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A child process killed when dropped.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

struct Fixture {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    repo: PathBuf,
    key: PathBuf,
    kubeconfig: PathBuf,
    repo_url: String,
    allowed_signers: String,
    _daemon: Process,
    _sandbox: Process,
}

const NAMESPACE: &str = "apiVersion: v1\nkind: Namespace\nmetadata: {name: web}\n";
const DEPLOYMENT: &str = "apiVersion: apps/v1
kind: Deployment
metadata: {name: web, labels: {app: web}}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: registry.example/web:1.0
        resources:
          requests: {cpu: 10m, memory: 16Mi}
          limits: {memory: 32Mi}
";
const CONFIGMAP: &str =
    "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\ndata: {mode: production}\n";
const SERVICE: &str = "apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{port: 80}]
";

impl Fixture {
    fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_owned();
        let repo = dir.join("git/app");
        std::fs::create_dir_all(&repo).unwrap();
        let key = dir.join("id_ed25519");
        run(Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-C", "me@example.com", "-f"])
            .arg(&key));
        let public = std::fs::read_to_string(key.with_extension("pub")).unwrap();
        let allowed_signers =
            format!("me@example.com {}", public.split_whitespace().take(2).collect::<Vec<_>>().join(" "));

        // git daemon over the repository's parent.
        let port = free_port();
        let exec_path = String::from_utf8(run(Command::new("git").arg("--exec-path")).stdout).unwrap();
        let daemon = Command::new(Path::new(exec_path.trim()).join("git-daemon"))
            .args(["--reuseaddr", "--export-all", "--listen=127.0.0.1"])
            .arg(format!("--port={port}"))
            .arg(format!("--base-path={}", dir.join("git").display()))
            .arg(dir.join("git"))
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let daemon = Process(daemon);
        wait_for_port(port);

        // The sandbox cluster, as its own process, with a controller that marks workloads ready.
        let kubeconfig = dir.join("kubeconfig");
        let mut sandbox = Command::new(BIN)
            .args(["sandbox", "--port", "0", "--ready-after", "300ms", "--kubeconfig-out"])
            .arg(&kubeconfig)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(sandbox.stdout.take().unwrap()).read_line(&mut line).unwrap();
        assert!(line.starts_with("ready "), "sandbox: {line:?}");
        let sandbox = Process(sandbox);

        let fixture = Fixture {
            repo_url: format!("git://127.0.0.1:{port}/app"),
            _tmp: tmp,
            dir,
            repo,
            key,
            kubeconfig,
            allowed_signers,
            _daemon: daemon,
            _sandbox: sandbox,
        };
        fixture.git(&["init", "-q", "-b", "main"]);
        let policies = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../policies");
        for (from, to) in [
            ("lib/kubernetes.rego", "policies/lib/kubernetes.rego"),
            ("no_latest_tag/policy.rego", "policies/no_latest_tag/policy.rego"),
        ] {
            fixture.write(to, &std::fs::read_to_string(policies.join(from)).unwrap());
        }
        fixture.write("apps/web/namespace.yaml", NAMESPACE);
        fixture.write("apps/web/deployment.yaml", DEPLOYMENT);
        fixture.write("apps/web/configmap.yaml", CONFIGMAP);
        fixture.write("apps/web/service.yaml", SERVICE);
        fixture
    }

    fn git(&self, args: &[&str]) -> String {
        git_in(&self.repo, args)
    }

    fn write(&self, path: &str, text: &str) {
        let path = self.repo.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    /// Commit everything, signed with the trusted key (or not); returns the commit id.
    fn commit(&self, message: &str, signed: bool) -> String {
        self.git(&["add", "-A"]);
        if signed {
            let signing = format!("user.signingkey={}", self.key.display());
            self.git(&["-c", &signing, "commit", "-q", "-S", "-m", message]);
        } else {
            self.git(&["commit", "-q", "-m", message]);
        }
        self.git(&["rev-parse", "HEAD"])
    }

    /// The Application file, with `extra_verify` lines added to spec.verify.
    fn app(&self, extra_verify: &str) -> PathBuf {
        let path = self.dir.join("app.yaml");
        std::fs::write(&path, self.app_yaml("web", extra_verify)).unwrap();
        path
    }

    /// The Application `name` (its files at `apps/NAME`, its namespace `NAME`), with
    /// `extra_verify` lines added to spec.verify.
    fn app_yaml(&self, name: &str, extra_verify: &str) -> String {
        format!(
            "apiVersion: driftless.dev/v1alpha1
kind: Application
metadata: {{name: {name}}}
spec:
  source: {{repoURL: \"{}\", revision: main, path: apps/{name}}}
  verify:
    mode: enforce
    trust:
    - ssh: {{allowedSigners: \"{}\"}}
{extra_verify}  policy:
    sources: [{{path: policies}}]
  destination: {{namespace: {name}}}
  sync:
    automated: {{prune: true, selfHeal: true}}
    interval: 1h
  health: {{timeout: 30s}}
",
            self.repo_url, self.allowed_signers
        )
    }

    fn driftless(&self, args: &[&str], app: &Path) -> (i32, Vec<Value>, String) {
        let out = Command::new(BIN)
            .args(args)
            .arg("-f")
            .arg(app)
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .args(["--output", "json", "--cache-dir"])
            .arg(self.dir.join("cache"))
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let records =
            stdout.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"))).collect();
        (out.status.code().unwrap_or(-1), records, String::from_utf8_lossy(&out.stderr).into_owned())
    }

    fn kubectl(&self, args: &[&str]) -> (bool, String) {
        let out = Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .arg("--cache-dir")
            .arg(self.dir.join("kube-cache"))
            .args(args)
            .output()
            .unwrap();
        let text =
            format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        (out.status.success(), text)
    }

    fn get(&self, args: &[&str]) -> Option<Value> {
        let mut all = vec!["get"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["-o", "json"]);
        let (ok, text) = self.kubectl(&all);
        ok.then(|| serde_json::from_str(&text).unwrap())
    }

    fn replicas(&self) -> i64 {
        self.get(&["deployment", "web", "-n", "web"]).unwrap()["spec"]["replicas"].as_i64().unwrap()
    }
}

fn one(records: &[Value]) -> &Value {
    assert_eq!(records.len(), 1, "{records:#?}");
    &records[0]
}

#[test]
fn plan_then_sync_then_heal_prune_and_refuse() {
    require_tools!();
    let f = Fixture::new();
    let first = f.commit("web app", true);
    let app = f.app("");

    // plan: the whole gated plan, nothing written.
    let (code, records, stderr) = f.driftless(&["plan"], &app);
    assert_eq!(code, 0, "{stderr}");
    let plan = one(&records);
    assert_eq!(plan["outcome"], "planned");
    assert_eq!(plan["commit"], first.as_str());
    assert_eq!(plan["verification"]["verified"], true);
    assert_eq!(plan["signer"]["kind"], "ssh");
    assert_eq!(plan["plan"]["summary"]["creates"], 4, "{plan:#}");
    assert!(f.get(&["namespace", "web"]).is_none(), "plan wrote the namespace");

    // sync: everything applied, labelled, healthy; the state lives in the cluster.
    let (code, records, stderr) = f.driftless(&["sync"], &app);
    assert_eq!(code, 0, "{stderr}\n{records:#?}");
    let sync = one(&records);
    assert_eq!(sync["outcome"], "synced", "{sync:#}");
    assert_eq!(sync["applied"].as_array().unwrap().len(), 4);
    assert_eq!(sync["health"]["healthy"], true);
    assert_eq!(f.replicas(), 2);
    let deployment = f.get(&["deployment", "web", "-n", "web"]).unwrap();
    assert_eq!(deployment["metadata"]["labels"]["driftless.dev/app"], "web");
    assert!(f.get(&["configmap", "settings", "-n", "web"]).is_some());
    let state = f.get(&["configmap", "driftless-web", "-n", "driftless-system"]).unwrap();
    assert_eq!(state["data"]["revision"], first.as_str());

    // A revision expression that leads nowhere is bad input (exit 2), named, nothing written.
    let (code, records, _) = f.driftless(&["plan", "--revision", "main~9"], &app);
    assert_eq!(code, 2);
    let bad = one(&records);
    assert_eq!(bad["outcome"], "failed");
    assert_eq!(bad["failedStage"], "source");
    assert!(bad["reason"].as_str().unwrap().contains("main~9"), "{bad:#}");

    // A second sync changes nothing.
    let (code, records, _) = f.driftless(&["sync"], &app);
    assert_eq!(code, 0);
    assert_eq!(one(&records)["outcome"], "unchanged");

    // Drift by kubectl, healed by the next sync; a hand-made object is left alone.
    assert!(f.kubectl(&["scale", "deployment/web", "-n", "web", "--replicas=5"]).0);
    assert!(f.kubectl(&["create", "configmap", "handmade", "-n", "web", "--from-literal=a=b"]).0);
    assert_eq!(f.replicas(), 5);
    let (code, records, stderr) = f.driftless(&["plan"], &app);
    assert_eq!(code, 0, "{stderr}");
    let drift = one(&records);
    assert_eq!(drift["plan"]["summary"]["updates"], 1, "{drift:#}");
    let (code, records, stderr) = f.driftless(&["sync"], &app);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(one(&records)["outcome"], "synced");
    assert_eq!(f.replicas(), 2);

    // Removing a file prunes its object, and nothing else.
    std::fs::remove_file(f.repo.join("apps/web/configmap.yaml")).unwrap();
    let second = f.commit("drop the settings", true);
    let (code, records, stderr) = f.driftless(&["sync"], &app);
    assert_eq!(code, 0, "{stderr}");
    let pruned = one(&records);
    assert_eq!(pruned["commit"], second.as_str());
    assert_eq!(pruned["deleted"].as_array().unwrap().len(), 1, "{pruned:#}");
    assert_eq!(pruned["deleted"][0]["name"], "settings");
    assert!(f.get(&["configmap", "settings", "-n", "web"]).is_none(), "settings not pruned");
    assert!(f.get(&["configmap", "handmade", "-n", "web"]).is_some(), "a hand-made object was pruned");

    // An unsigned commit is refused by the verify gate; nothing changes.
    f.write("apps/web/deployment.yaml", &DEPLOYMENT.replace("replicas: 2", "replicas: 4"));
    let unsigned = f.commit("unsigned scale", false);
    let (code, records, _) = f.driftless(&["sync"], &app);
    assert_eq!(code, 1);
    let refused = one(&records);
    assert_eq!(refused["outcome"], "refused");
    assert_eq!(refused["gate"], "verify");
    assert_eq!(refused["verification"]["code"], "unsigned", "{refused:#}");
    assert_eq!(refused["commit"], unsigned.as_str());
    assert_eq!(f.replicas(), 2);

    // A signed commit that breaks a policy is refused by the policy gate; nothing changes.
    f.git(&["reset", "-q", "--hard", &second]);
    f.write(
        "apps/web/deployment.yaml",
        &DEPLOYMENT.replace("web:1.0", "web:latest").replace("replicas: 2", "replicas: 4"),
    );
    f.commit("latest image", true);
    let (code, records, _) = f.driftless(&["sync"], &app);
    assert_eq!(code, 1);
    let denied = one(&records);
    assert_eq!(denied["outcome"], "refused");
    assert_eq!(denied["gate"], "policy");
    assert!(denied["reason"].as_str().unwrap().contains(":latest"), "{denied:#}");
    assert_eq!(f.replicas(), 2);
    let image = f.get(&["deployment", "web", "-n", "web"]).unwrap()["spec"]["template"]["spec"]["containers"]
        [0]["image"]
        .clone();
    assert_eq!(image, "registry.example/web:1.0");

    // Rolling back to the first commit rewinds history: refused unless allowed.
    let (code, records, _) = f.driftless(&["sync", "--revision", &first], &app);
    assert_eq!(code, 1);
    assert_eq!(one(&records)["verification"]["code"], "notDescendant");
    let rewind = f.app("    allowHistoryRewrite: true\n");
    let (code, records, stderr) = f.driftless(&["sync", "--revision", &first], &rewind);
    assert_eq!(code, 0, "{stderr}\n{records:#?}");
    assert_eq!(one(&records)["commit"], first.as_str());
    assert!(
        f.get(&["configmap", "settings", "-n", "web"]).is_some(),
        "the rollback did not restore settings"
    );
}

/// The reasons of the Events about app `app`, oldest first.
fn event_reasons(f: &Fixture, app: &str) -> Vec<String> {
    let events = f.get(&["events", "-n", "driftless-system"]).unwrap();
    let subject = format!("driftless-{app}");
    let mut events: Vec<&Value> = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["involvedObject"]["name"] == subject.as_str())
        .collect();
    events.sort_by_key(|e| e["metadata"]["name"].as_str().unwrap_or_default().to_owned());
    events.iter().map(|e| e["reason"].as_str().unwrap().to_owned()).collect()
}

#[test]
fn several_apps_sync_together_each_through_its_gates_with_events() {
    require_tools!();
    let f = Fixture::new();
    f.write("apps/shop/namespace.yaml", &NAMESPACE.replace("name: web", "name: shop"));
    f.write("apps/shop/configmap.yaml", CONFIGMAP);
    f.write("apps/shop/deployment.yaml", DEPLOYMENT);
    // Policies see objects in the namespace they are applied to (the ConfigMaps in Git have
    // none; the app's destination gives it).
    f.write(
        "policies/namespaced/policy.rego",
        "package namespaced\nimport rego.v1\n\ndeny contains msg if {\n  input.kind == \"ConfigMap\"\n  \
         not input.metadata.namespace in {\"web\", \"shop\"}\n  msg := \"a ConfigMap outside the app namespaces\"\n}\n",
    );
    f.commit("web and shop", true);
    let apps = f.dir.join("apps");
    std::fs::create_dir_all(&apps).unwrap();
    std::fs::write(apps.join("web.yaml"), f.app_yaml("web", "")).unwrap();
    std::fs::write(apps.join("shop.yml"), f.app_yaml("shop", "")).unwrap();
    std::fs::write(apps.join("README.md"), "not an Application").unwrap();

    // A directory of Applications: both synced in one process, a record each.
    let (code, records, stderr) = f.driftless(&["sync", "--parallel", "2"], &apps);
    assert_eq!(code, 0, "{stderr}\n{records:#?}");
    let mut outcomes: Vec<(String, String)> = records
        .iter()
        .map(|r| (r["app"].as_str().unwrap().to_owned(), r["outcome"].as_str().unwrap().to_owned()))
        .collect();
    outcomes.sort();
    assert_eq!(outcomes, [("shop".into(), "synced".into()), ("web".into(), "synced".into())]);
    assert!(stderr.contains("2 apps: 2 synced"), "{stderr}");
    assert_eq!(
        f.get(&["deployment", "web", "-n", "shop"]).unwrap()["metadata"]["labels"]["driftless.dev/app"],
        "shop"
    );
    assert_eq!(event_reasons(&f, "web"), ["Synced"]);
    assert_eq!(event_reasons(&f, "shop"), ["Synced"]);

    // One app's change breaks a policy: that app is refused, the other is unchanged, the exit
    // code is the refusal's, and a Warning Event says why.
    f.write("apps/shop/deployment.yaml", &DEPLOYMENT.replace("web:1.0", "web:latest"));
    f.commit("shop on latest", true);
    let (code, records, stderr) = f.driftless(&["sync"], &apps);
    assert_eq!(code, 1, "{stderr}");
    let by_app = |name: &str| records.iter().find(|r| r["app"] == name).unwrap().clone();
    assert_eq!(by_app("web")["outcome"], "unchanged");
    assert_eq!(by_app("shop")["outcome"], "refused");
    assert!(stderr.contains("2 apps: 1 refused, 1 unchanged"), "{stderr}");
    assert!(stderr.contains("shop") && stderr.contains(":latest"), "{stderr}");
    assert_eq!(event_reasons(&f, "shop"), ["Synced", "SyncRefused"]);
    assert_eq!(event_reasons(&f, "web"), ["Synced"], "an unchanged sync adds no Event");
    let events = f.get(&["events", "-n", "driftless-system"]).unwrap();
    let refusal = events["items"].as_array().unwrap().iter().find(|e| e["reason"] == "SyncRefused").unwrap();
    assert_eq!(refusal["type"], "Warning");
    assert!(refusal["message"].as_str().unwrap().contains("policy"), "{refusal:#}");

    // Bad input: the same name twice (named with both files), --revision with several apps.
    let twice = f.dir.join("twice.yaml");
    std::fs::write(&twice, format!("{}---\n{}", f.app_yaml("web", ""), f.app_yaml("web", ""))).unwrap();
    let (code, records, stderr) = f.driftless(&["plan"], &twice);
    assert_eq!((code, records.len()), (2, 0), "{stderr}");
    assert!(stderr.contains("\"web\" is defined twice"), "{stderr}");
    let (code, _, stderr) = f.driftless(&["plan", "--revision", "main"], &apps);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("--revision needs exactly one Application"), "{stderr}");
}

#[test]
fn watch_heals_drift_through_the_gates() {
    require_tools!();
    let f = Fixture::new();
    f.commit("web app", true);
    let app = f.app("");
    let mut child = Command::new(BIN)
        .args(["sync", "--watch", "--max-runs", "2", "-f"])
        .arg(&app)
        .arg("--kubeconfig")
        .arg(&f.kubeconfig)
        .args(["--output", "json", "--cache-dir"])
        .arg(f.dir.join("cache"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut child = Process(child);
    let first: Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    assert_eq!(first["outcome"], "synced", "{first:#}");
    assert_eq!(first["trigger"], "manual");
    // Let the watch start, then change the Deployment behind driftless's back.
    std::thread::sleep(Duration::from_millis(1500));
    assert!(f.kubectl(&["scale", "deployment/web", "-n", "web", "--replicas=7"]).0);
    let second = read_line_within(&mut lines, &mut child, Duration::from_secs(60));
    assert_eq!(second["trigger"], "drift", "{second:#}");
    assert_eq!(second["outcome"], "synced", "{second:#}");
    assert_eq!(f.replicas(), 2);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = child.0.try_wait().unwrap() {
            assert!(status.success(), "{status:?}");
            break;
        }
        assert!(Instant::now() < deadline, "sync --watch --max-runs 2 did not stop");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The next record on the watch's stdout; kills the process if none comes within `limit`.
fn read_line_within(
    lines: &mut std::io::Lines<BufReader<ChildStdout>>,
    child: &mut Process,
    limit: Duration,
) -> Value {
    let (tx, rx) = std::sync::mpsc::channel();
    let line = std::thread::scope(|s| {
        s.spawn(|| {
            let _ = tx.send(lines.next());
        });
        let line = rx.recv_timeout(limit);
        if line.is_err() {
            // Unblocks the reader: its stdout closes.
            let _ = child.0.kill();
        }
        line
    });
    let line = line.expect("no record in time").expect("stdout closed").unwrap();
    serde_json::from_str(&line).unwrap()
}

#[test]
fn the_demo_runs_and_records_every_run() {
    if !have("git", "--version") {
        eprintln!("SKIPPED: `git` is not installed; the demo needs it");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let out = Command::new(BIN).args(["demo", "--dir"]).arg(tmp.path()).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("healed: deployment/frontend is back to 3 replicas"), "{stdout}");
    assert!(stdout.contains("REFUSED by the verify gate"), "{stdout}");
    assert!(stdout.contains("REFUSED by the policy gate"), "{stdout}");
    let ledger = std::fs::read_to_string(tmp.path().join("ledger.jsonl")).unwrap();
    let outcomes: Vec<String> = ledger
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["outcome"].as_str().unwrap().to_owned())
        .collect();
    // plan, sync, the loop's first run, the heal, and the two refusals.
    assert_eq!(outcomes, ["planned", "synced", "unchanged", "synced", "refused", "refused"], "{ledger}");
}
