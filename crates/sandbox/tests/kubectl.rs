//! Real `kubectl` as the client of the sandbox, with the kubeconfig it writes. Each test runs
//! its own sandbox and gives kubectl its own `--cache-dir`. Tests skip loudly when kubectl
//! is not on PATH.

use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use driftless_sandbox::{RunningSandbox, Sandbox, SandboxConfig};

const TIMEOUT: Duration = Duration::from_secs(30);

fn have_kubectl() -> bool {
    let ok = Command::new("kubectl")
        .args(["version", "--client"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!("SKIPPED: kubectl is not on PATH; install kubectl v1.32 to run the kubectl tests");
    }
    ok
}

struct Env {
    dir: tempfile::TempDir,
    runtime: tokio::runtime::Runtime,
    sandbox: Option<RunningSandbox>,
}

struct Out {
    ok: bool,
    stdout: String,
    stderr: String,
}

impl Env {
    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        let runtime = tokio::runtime::Runtime::new().unwrap_or_else(|e| panic!("runtime: {e}"));
        let config = SandboxConfig::new(dir.path().join("kubeconfig"));
        let sandbox = runtime.block_on(Sandbox::start(config)).unwrap_or_else(|e| panic!("start: {e}"));
        Self { dir, runtime, sandbox: Some(sandbox) }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, text).unwrap_or_else(|e| panic!("write {name}: {e}"));
        p
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new("kubectl");
        let kubeconfig = self.sandbox.as_ref().map(|s| s.kubeconfig_path().to_owned()).unwrap_or_default();
        cmd.arg("--kubeconfig").arg(kubeconfig).arg("--cache-dir").arg(self.path("kube-cache"));
        cmd.args(args)
            .env_remove("KUBECONFIG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    }

    fn run_cmd(&self, mut cmd: Command, timeout: Duration) -> Out {
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("spawn kubectl: {e}"));
        let mut stdout = child.stdout.take();
        let mut stderr = child.stderr.take();
        let out_reader = std::thread::spawn(move || {
            let mut s = String::new();
            if let Some(o) = stdout.as_mut() {
                let _ = o.read_to_string(&mut s);
            }
            s
        });
        let err_reader = std::thread::spawn(move || {
            let mut s = String::new();
            if let Some(e) = stderr.as_mut() {
                let _ = e.read_to_string(&mut s);
            }
            s
        });
        let deadline = Instant::now() + timeout;
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break Some(status),
                Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
                _ => {
                    let _ = child.kill();
                    let _ = child.wait();
                    break None;
                }
            }
        };
        let stdout = out_reader.join().unwrap_or_default();
        let stderr = err_reader.join().unwrap_or_default();
        Out { ok: status.is_some_and(|s| s.success()), stdout, stderr }
    }

    fn run(&self, args: &[&str]) -> Out {
        self.run_cmd(self.command(args), TIMEOUT)
    }

    /// Run and require success; returns stdout.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(out.ok, "kubectl {} failed:\nstdout: {}\nstderr: {}", args.join(" "), out.stdout, out.stderr);
        out.stdout
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        if let Some(s) = self.sandbox.take() {
            let _ = self.runtime.block_on(s.shutdown());
        }
    }
}

const DEPLOY: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: default
  labels: {app: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: nginx:1.25
";

fn file(env: &Env, name: &str, text: &str) -> String {
    env.write(name, text).to_string_lossy().into_owned()
}

#[test]
fn kubectl_version_and_api_resources() {
    if !have_kubectl() {
        return;
    }
    let env = Env::start();
    let v = env.ok(&["version"]);
    assert!(v.contains("Server Version: v1.32"), "{v}");
    let r = env.ok(&["api-resources"]);
    for needle in ["deployments", "customresourcedefinitions", "clusterrolebindings", "ingresses", "cronjobs"]
    {
        assert!(r.contains(needle), "api-resources lacks {needle}:\n{r}");
    }
    // Aggregated discovery: a fresh cache needs /api and /apis only, no per-group lists.
    let verbose =
        env.run(&["api-resources", "-v=6", "--cache-dir", &env.path("fresh-cache").to_string_lossy()]);
    assert!(verbose.ok, "{}", verbose.stderr);
    assert!(verbose.stderr.contains("/apis?"), "{}", verbose.stderr);
    assert!(
        !verbose.stderr.contains("/apis/apps/v1?"),
        "per-group discovery was needed:\n{}",
        verbose.stderr
    );
    let namespaced = env.ok(&["api-resources", "--namespaced=false", "-o", "name"]);
    assert!(namespaced.lines().any(|l| l == "namespaces"), "{namespaced}");
    assert!(!namespaced.lines().any(|l| l == "configmaps"), "{namespaced}");
}

#[test]
fn kubectl_create_namespace_then_deleting_it_removes_its_contents() {
    if !have_kubectl() {
        return;
    }
    let env = Env::start();
    assert!(env.ok(&["create", "namespace", "team"]).contains("namespace/team created"));
    env.ok(&["create", "configmap", "c1", "-n", "team", "--from-literal=a=b"]);
    let d = file(&env, "d.yaml", &DEPLOY.replace("namespace: default", "namespace: team"));
    env.ok(&["apply", "--server-side", "-f", &d]);
    let all = env.ok(&["get", "deploy,cm", "-n", "team", "-o", "name"]);
    assert!(all.contains("deployment.apps/web") && all.contains("configmap/c1"), "{all}");
    env.ok(&["delete", "namespace", "team", "--timeout=20s"]);
    let ns = env.run(&["get", "namespace", "team"]);
    assert!(!ns.ok && ns.stderr.contains("NotFound"), "{}", ns.stderr);
    let left = env.ok(&["get", "cm,deploy", "-A", "-o", "name"]);
    assert!(!left.contains("c1") && !left.contains("web"), "{left}");
    let missing = env.run(&["create", "configmap", "c2", "-n", "team", "--from-literal=a=b"]);
    assert!(!missing.ok && missing.stderr.contains("not found"), "{}", missing.stderr);
}

#[test]
fn kubectl_server_side_apply_conflict_then_force_conflicts_wins() {
    if !have_kubectl() {
        return;
    }
    let env = Env::start();
    let d = file(&env, "d.yaml", DEPLOY);
    assert!(env.ok(&["apply", "--server-side", "-f", &d]).contains("serverside-applied"));
    let d5 = file(&env, "d5.yaml", &DEPLOY.replace("replicas: 2", "replicas: 5"));
    let refused = env.run(&["apply", "--server-side", "--field-manager=other", "-f", &d5]);
    assert!(!refused.ok, "a conflicting apply must fail");
    assert!(
        refused.stderr.contains("conflict with \"kubectl\"") && refused.stderr.contains(".spec.replicas"),
        "{}",
        refused.stderr
    );
    assert_eq!(env.ok(&["get", "deploy", "web", "-o", "jsonpath={.spec.replicas}"]), "2");
    env.ok(&["apply", "--server-side", "--field-manager=other", "--force-conflicts", "-f", &d5]);
    assert_eq!(env.ok(&["get", "deploy", "web", "-o", "jsonpath={.spec.replicas}"]), "5");
    let managers = env.ok(&[
        "get",
        "deploy",
        "web",
        "--show-managed-fields",
        "-o",
        "jsonpath={.metadata.managedFields[*].manager}",
    ]);
    assert!(managers.contains("other") && managers.contains("kubectl"), "{managers}");
}

#[test]
fn kubectl_diff_server_side() {
    if !have_kubectl() {
        return;
    }
    let env = Env::start();
    let d = file(&env, "d.yaml", DEPLOY);
    let new = env.run(&["diff", "--server-side", "-f", &d]);
    assert!(new.stdout.contains("+  name: web"), "diff of a new object:\n{}\n{}", new.stdout, new.stderr);
    assert!(env.run(&["get", "deploy", "web"]).stderr.contains("NotFound"), "diff must not create");
    env.ok(&["apply", "--server-side", "-f", &d]);
    let same = env.run(&["diff", "--server-side", "-f", &d]);
    assert!(same.ok && same.stdout.is_empty(), "no difference expected:\n{}\n{}", same.stdout, same.stderr);
    let d3 = file(&env, "d3.yaml", &DEPLOY.replace("nginx:1.25", "nginx:1.27"));
    let changed = env.run(&["diff", "--server-side", "-f", &d3]);
    let lines: Vec<&str> = changed.stdout.lines().collect();
    assert!(
        lines.iter().any(|l| l.starts_with('-') && l.contains("image: nginx:1.25")),
        "{}\n{}",
        changed.stdout,
        changed.stderr
    );
    assert!(
        lines.iter().any(|l| l.starts_with('+') && l.contains("image: nginx:1.27")),
        "{}\n{}",
        changed.stdout,
        changed.stderr
    );
    assert!(!lines.iter().any(|l| l.starts_with('+') && l.contains("replicas")), "{}", changed.stdout);
    assert_eq!(
        env.ok(&["get", "deploy", "web", "-o", "jsonpath={.spec.template.spec.containers[0].image}"]),
        "nginx:1.25"
    );
}

#[test]
fn kubectl_label_and_select() {
    if !have_kubectl() {
        return;
    }
    let env = Env::start();
    env.ok(&["create", "configmap", "a", "--from-literal=k=v"]);
    env.ok(&["create", "configmap", "b", "--from-literal=k=v"]);
    assert!(env.ok(&["label", "configmap", "a", "tier=front"]).contains("labeled"));
    let sel = env.ok(&["get", "cm", "-l", "tier=front", "-o", "name"]);
    assert_eq!(sel.trim(), "configmap/a");
    let table = env.ok(&["get", "cm", "-l", "tier!=front"]);
    assert!(table.starts_with("NAME") && table.contains("\nb ") && !table.contains("\na "), "{table}");
    env.ok(&["label", "configmap", "a", "tier-"]);
    assert!(env.ok(&["get", "cm", "-l", "tier", "-o", "name"]).is_empty());
}

#[test]
fn kubectl_get_watch_sees_an_update() {
    if !have_kubectl() {
        return;
    }
    let env = Env::start();
    env.ok(&["create", "configmap", "watched", "--from-literal=k=v"]);
    let mut watch =
        env.command(&["get", "configmap", "watched", "-w", "--output-watch-events", "--request-timeout=20s"]);
    watch.stdout(Stdio::piped());
    let watched = std::thread::scope(|scope| {
        let watcher = scope.spawn(|| env.run_cmd(watch, Duration::from_secs(6)));
        std::thread::sleep(Duration::from_millis(1500));
        env.ok(&["label", "configmap", "watched", "changed=yes"]);
        watcher.join().unwrap_or_else(|_| panic!("watcher thread"))
    });
    let out = watched.stdout;
    let rows: Vec<&str> = out.lines().collect();
    assert!(rows.first().is_some_and(|h| h.starts_with("EVENT") && h.contains("NAME")), "{out}");
    assert!(
        rows.iter().any(|r| r.starts_with("ADDED") && r.contains("watched")),
        "{out}\n{}",
        watched.stderr
    );
    assert!(
        rows.iter().any(|r| r.starts_with("MODIFIED") && r.contains("watched")),
        "{out}\n{}",
        watched.stderr
    );
}

#[test]
fn kubectl_scale() {
    if !have_kubectl() {
        return;
    }
    let env = Env::start();
    let d = file(&env, "d.yaml", DEPLOY);
    env.ok(&["apply", "--server-side", "-f", &d]);
    assert!(env.ok(&["scale", "deployment", "web", "--replicas=4"]).contains("scaled"));
    assert_eq!(env.ok(&["get", "deploy", "web", "-o", "jsonpath={.spec.replicas}"]), "4");
    let wrong = env.run(&["scale", "deployment", "web", "--current-replicas=1", "--replicas=2"]);
    assert!(!wrong.ok, "a failed precondition must fail");
    assert_eq!(env.ok(&["get", "deploy", "web", "-o", "jsonpath={.spec.replicas}"]), "4");
}

#[test]
fn kubectl_edit_with_an_editor_stand_in() {
    if !have_kubectl() {
        return;
    }
    let env = Env::start();
    let d = file(&env, "d.yaml", DEPLOY);
    env.ok(&["apply", "--server-side", "-f", &d]);
    let editor = env.write("editor.sh", "#!/bin/sh\nsed -i 's/nginx:1.25/nginx:1.26/' \"$1\"\n");
    let mut perms = std::fs::metadata(&editor).map(|m| m.permissions()).unwrap_or_else(|e| panic!("{e}"));
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
    std::fs::set_permissions(&editor, perms).unwrap_or_else(|e| panic!("{e}"));
    let mut cmd = env.command(&["edit", "deployment", "web"]);
    cmd.env("KUBE_EDITOR", &editor).env("EDITOR", &editor);
    let out = env.run_cmd(cmd, TIMEOUT);
    assert!(out.ok && out.stdout.contains("edited"), "{}\n{}", out.stdout, out.stderr);
    assert_eq!(
        env.ok(&["get", "deploy", "web", "-o", "jsonpath={.spec.template.spec.containers[0].image}"]),
        "nginx:1.26"
    );
    assert_eq!(env.ok(&["get", "deploy", "web", "-o", "jsonpath={.metadata.generation}"]), "2");
}

const CRD: &str = "apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget, shortNames: [wd]}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}
";

#[test]
fn kubectl_crd_then_its_custom_resources() {
    if !have_kubectl() {
        return;
    }
    let env = Env::start();
    let crd = file(&env, "crd.yaml", CRD);
    env.ok(&["apply", "-f", &crd]);
    env.ok(&["wait", "--for=condition=Established", "crd/widgets.example.com", "--timeout=20s"]);
    let w = file(
        &env,
        "w.yaml",
        "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w1}\nspec: {size: 3}\n",
    );
    assert!(env.ok(&["apply", "-f", &w]).contains("widget.example.com/w1 created"));
    assert!(env.ok(&["apply", "--server-side", "-f", &w]).contains("serverside-applied"));
    assert!(env.ok(&["get", "wd"]).contains("w1"));
    let w2 = file(
        &env,
        "w2.yaml",
        "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w1}\nspec: {size: 4}\n",
    );
    env.ok(&["apply", "-f", &w2]);
    assert_eq!(env.ok(&["get", "widget", "w1", "-o", "jsonpath={.spec.size}"]), "4");
    env.ok(&["delete", "crd", "widgets.example.com"]);
    let gone = env.run(&["get", "widgets"]);
    assert!(!gone.ok, "custom resources go with their CRD: {}", gone.stdout);
}

#[test]
fn kubectl_delete() {
    if !have_kubectl() {
        return;
    }
    let env = Env::start();
    let d = file(&env, "d.yaml", DEPLOY);
    env.ok(&["apply", "-f", &d]);
    env.ok(&["create", "configmap", "c", "--from-literal=a=b"]);
    assert!(env.ok(&["delete", "-f", &d]).contains("deleted"));
    assert!(env.ok(&["delete", "configmap", "c"]).contains("deleted"));
    assert!(env.ok(&["get", "deploy,cm", "-o", "name"]).is_empty());
    let missing = env.run(&["delete", "configmap", "c"]);
    assert!(!missing.ok && missing.stderr.contains("NotFound"), "{}", missing.stderr);
}

#[test]
fn kubectl_client_side_apply_and_dry_run_server() {
    if !have_kubectl() {
        return;
    }
    let env = Env::start();
    let d = file(&env, "d.yaml", DEPLOY);
    assert!(env.ok(&["apply", "-f", &d]).contains("created"));
    let d3 = file(&env, "d3.yaml", &DEPLOY.replace("replicas: 2", "replicas: 3"));
    assert!(env.ok(&["apply", "-f", &d3, "--dry-run=server"]).contains("configured"));
    assert_eq!(env.ok(&["get", "deploy", "web", "-o", "jsonpath={.spec.replicas}"]), "2");
    assert!(env.ok(&["apply", "-f", &d3]).contains("configured"));
    assert_eq!(env.ok(&["get", "deploy", "web", "-o", "jsonpath={.spec.replicas}"]), "3");
}

#[test]
fn kubectl_strict_field_validation_refuses_unknown_top_level_fields() {
    if !have_kubectl() {
        return;
    }
    let env = Env::start();
    let typo = file(&env, "typo.yaml", &DEPLOY.replace("spec:\n  replicas", "specs:\n  replicas"));
    let out = env.run(&["apply", "-f", &typo]);
    assert!(!out.ok && out.stderr.contains("unknown field \"specs\""), "{}\n{}", out.stdout, out.stderr);
    assert!(env.run(&["get", "deploy", "web"]).stderr.contains("NotFound"));
    let ok = env.run(&["apply", "-f", &typo, "--validate=false"]);
    assert!(ok.ok, "validation off accepts it: {}", ok.stderr);
}

#[test]
fn kubectl_rollout_status_with_the_simulated_controller() {
    if !have_kubectl() {
        return;
    }
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let runtime = tokio::runtime::Runtime::new().unwrap_or_else(|e| panic!("runtime: {e}"));
    let mut config = SandboxConfig::new(dir.path().join("kubeconfig"));
    config.ready_after = Some(Duration::from_millis(300));
    let sandbox = runtime.block_on(Sandbox::start(config)).unwrap_or_else(|e| panic!("start: {e}"));
    let env = Env { dir, runtime, sandbox: Some(sandbox) };
    let d = file(&env, "d.yaml", DEPLOY);
    env.ok(&["apply", "--server-side", "-f", &d]);
    let out = env.ok(&["rollout", "status", "deployment/web", "--timeout=20s"]);
    assert!(out.contains("successfully rolled out"), "{out}");
    assert_eq!(env.ok(&["get", "deploy", "web", "-o", "jsonpath={.status.readyReplicas}"]), "2");
}

#[test]
fn kubectl_create_deployment_sends_protobuf_that_is_understood() {
    if !have_kubectl() {
        return;
    }
    let env = Env::start();
    let out = env.ok(&[
        "create",
        "deployment",
        "x",
        "--image=nginx:1.25",
        "--replicas=3",
        "--port=8080",
        "--",
        "run",
        "--fast",
    ]);
    assert!(out.contains("deployment.apps/x created"), "{out}");
    let get = |path: &str| env.ok(&["get", "deploy", "x", "-o", &format!("jsonpath={{{path}}}")]);
    assert_eq!(get(".spec.replicas"), "3");
    assert_eq!(get(".spec.selector.matchLabels.app"), "x");
    assert_eq!(get(".spec.template.metadata.labels.app"), "x");
    assert_eq!(get(".spec.template.spec.containers[0].image"), "nginx:1.25");
    assert_eq!(get(".spec.template.spec.containers[0].ports[0].containerPort"), "8080");
    assert_eq!(get(".spec.template.spec.containers[0].command"), "[\"run\",\"--fast\"]");
    let job = env.run(&["create", "job", "j", "--image=busybox"]);
    assert!(!job.ok && job.stderr.contains("protobuf bodies are supported for"), "{}", job.stderr);
}

#[test]
fn kubectl_raw_bad_input_gets_a_status_and_changes_nothing() {
    if !have_kubectl() {
        return;
    }
    let env = Env::start();
    let path = "/api/v1/namespaces/default/configmaps";
    for (name, body) in [
        ("meta.json", r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":"oops"}"#),
        ("list.json", "[1,2]"),
        ("kind.json", r#"{"apiVersion":"v1","kind":"Secret","metadata":{"name":"x"}}"#),
        ("name.json", r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"Bad_Name"}}"#),
        ("notjson.json", "{not json"),
    ] {
        let f = file(&env, name, body);
        let out = env.run(&["create", "--raw", path, "-f", &f]);
        assert!(!out.ok, "{name} must be refused");
        assert!(
            out.stderr.contains("BadRequest")
                || out.stderr.contains("Invalid")
                || out.stderr.contains("is invalid"),
            "{name}: {}",
            out.stderr
        );
    }
    let bad_selector =
        env.run(&["get", "--raw", "/api/v1/namespaces/default/configmaps?labelSelector=a%20b"]);
    assert!(!bad_selector.ok && bad_selector.stderr.contains("BadRequest"), "{}", bad_selector.stderr);
    let unknown = env.run(&["get", "--raw", "/apis/nope.example.com/v1/things"]);
    assert!(!unknown.ok && unknown.stderr.contains("NotFound"), "{}", unknown.stderr);
    assert!(env.ok(&["get", "cm", "-o", "name"]).is_empty(), "nothing was created");
}

#[test]
fn kubectl_moves_client_side_apply_ownership_to_server_side_apply() {
    if !have_kubectl() {
        return;
    }
    let env = Env::start();
    let d = file(&env, "d.yaml", DEPLOY);
    env.ok(&["apply", "-f", &d]);
    let d6 = file(&env, "d6.yaml", &DEPLOY.replace("replicas: 2", "replicas: 6"));
    let refused = env.run(&["apply", "--server-side", "-f", &d6]);
    assert!(!refused.ok && refused.stderr.contains("kubectl-client-side-apply"), "{}", refused.stderr);
    // The same configuration applies cleanly; kubectl then rewrites managedFields so that its
    // server-side apply manager owns what client-side apply owned.
    env.ok(&["apply", "--server-side", "-f", &d]);
    let managers = env.ok(&[
        "get",
        "deploy",
        "web",
        "--show-managed-fields",
        "-o",
        "jsonpath={.metadata.managedFields[*].manager}",
    ]);
    assert!(!managers.contains("kubectl-client-side-apply"), "{managers}");
    env.ok(&["apply", "--server-side", "-f", &d6]);
    assert_eq!(env.ok(&["get", "deploy", "web", "-o", "jsonpath={.spec.replicas}"]), "6");
}
