//! The policy library (`policies/`) on 1,000 objects, on one thread and on all cores, with
//! regorus's interpreter (the default) and with its bytecode VM (opt-in); and one policy ("no :latest tag")
//! expressed in each engine, on the same 1,000 objects.
//!
//! The `policy-cpu` group measures the same one-thread runs in CPU time of the whole process
//! (`/proc/self/stat`: user + system, threads that have ended included — the set evaluates on
//! threads of its own), which is what "on one core" means and what a machine shared with other
//! work inflates far less than wall time. Its resolution is one clock tick (10 ms) per sample
//! of about a second.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use criterion::measurement::{Measurement, ValueFormatter};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use driftless_core::Object;
use driftless_plugin_host::{Limits, PluginHost};
use driftless_policy::{Inventory, LoadOptions, PolicySet};
use serde_json::json;

/// 1,000 objects like a real app set: Deployments, Services, Pods, Ingresses, ConfigMaps.
fn objects() -> Vec<Object> {
    (0..1000)
        .map(|i| {
            let ns = format!("team-{}", i % 10);
            let image = if i % 13 == 0 { "nginx:latest".to_owned() } else { format!("registry.example.com/app-{i}:1.{i}") };
            let value = match i % 5 {
                0 | 1 => json!({"apiVersion": "apps/v1", "kind": "Deployment",
                    "metadata": {"name": format!("app-{i}"), "namespace": ns, "labels": {"app.kubernetes.io/name": "app", "team": "t"}},
                    "spec": {"replicas": 2, "template": {"metadata": {"labels": {"app": "a"}}, "spec": {
                        "securityContext": {"runAsNonRoot": true, "seccompProfile": {"type": "RuntimeDefault"}},
                        "containers": [{"name": "app", "image": image, "ports": [{"containerPort": 8080}],
                            "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}},
                            "readinessProbe": {"httpGet": {"path": "/healthz", "port": 8080}},
                            "securityContext": {"allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}}}]}}}}),
                2 => json!({"apiVersion": "v1", "kind": "Service",
                    "metadata": {"name": format!("svc-{i}"), "namespace": ns, "labels": {"app.kubernetes.io/name": "app", "team": "t"}},
                    "spec": {"type": "ClusterIP", "ports": [{"port": 80, "targetPort": 8080}]}}),
                3 => json!({"apiVersion": "v1", "kind": "Pod",
                    "metadata": {"name": format!("pod-{i}"), "namespace": ns, "labels": {"app.kubernetes.io/name": "app"}},
                    "spec": {"containers": [{"name": "c", "image": image}], "volumes": [{"name": "v", "emptyDir": {}}]}}),
                _ => json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
                    "metadata": {"name": format!("ing-{i}"), "namespace": ns},
                    "spec": {"tls": [{"hosts": [format!("h{i}.example.com")]}], "rules": [{"host": format!("h{i}.example.com")}]}}),
            };
            Object::from_value(value).unwrap()
        })
        .collect()
}

fn library() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../policies")
}

const NO_LATEST_REGO: &str = r#"package bench.no_latest

deny contains msg if {
	some c in input.spec.template.spec.containers
	endswith(c.image, ":latest")
	msg := sprintf("container %s uses image %s", [c.name, c.image])
}

deny contains msg if {
	some c in input.spec.containers
	endswith(c.image, ":latest")
	msg := sprintf("container %s uses image %s", [c.name, c.image])
}
"#;

const NO_LATEST_TEMPLATE: &str = r#"apiVersion: templates.gatekeeper.sh/v1
kind: ConstraintTemplate
metadata: {name: k8snolatest}
spec:
  crd: {spec: {names: {kind: K8sNoLatest}}}
  targets:
    - target: admission.k8s.gatekeeper.sh
      rego: |
        package k8snolatest
        violation[{"msg": msg}] {
          c := input.review.object.spec.template.spec.containers[_]
          endswith(c.image, ":latest")
          msg := sprintf("container %v uses image %v", [c.name, c.image])
        }
        violation[{"msg": msg}] {
          c := input.review.object.spec.containers[_]
          endswith(c.image, ":latest")
          msg := sprintf("container %v uses image %v", [c.name, c.image])
        }
---
apiVersion: constraints.gatekeeper.sh/v1beta1
kind: K8sNoLatest
metadata: {name: no-latest}
spec:
  match:
    kinds: [{apiGroups: ["", "apps"], kinds: ["Pod", "Deployment"]}]
"#;

/// A module to OPA's wasm ABI that denies inputs holding `:latest"` (as in tests/opa_wasm.rs).
const NO_LATEST_WAT: &str = include_str!("../tests/fixtures/opa/no_latest.wat");

fn bench(c: &mut Criterion) {
    let objects = objects();
    let inventory = Inventory::default();
    let mut group = c.benchmark_group("policy");
    group.sample_size(10).measurement_time(Duration::from_secs(10));

    let set = PolicySet::load(&[library()], &LoadOptions::default()).unwrap();
    let n = set.policies().len();
    let one = PolicySet::load(&[library()], &LoadOptions::default()).unwrap().with_threads(1);
    // The default: every library policy on the VM.
    assert_eq!(one.rego_vm_policies().len(), n);
    group.bench_function(format!("library {n} policies x 1000 objects, 1 thread"), |b| {
        b.iter(|| one.evaluate(&objects, &inventory))
    });
    group.bench_function(format!("library {n} policies x 1000 objects, all cores"), |b| {
        b.iter(|| set.evaluate(&objects, &inventory))
    });
    let interpreter = PolicySet::load(&[library()], &LoadOptions::default())
        .unwrap()
        .with_threads(1)
        .with_rego_interpreter(true);
    group.bench_function(format!("library {n} policies x 1000 objects, 1 thread, interpreter"), |b| {
        b.iter(|| interpreter.evaluate(&objects, &inventory))
    });

    let dir = tempfile::tempdir().unwrap();
    let rego = dir.path().join("rego");
    std::fs::create_dir(&rego).unwrap();
    std::fs::write(rego.join("p.rego"), NO_LATEST_REGO).unwrap();
    let gk = dir.path().join("gk");
    std::fs::create_dir(&gk).unwrap();
    std::fs::write(gk.join("p.yaml"), NO_LATEST_TEMPLATE).unwrap();
    let opa = dir.path().join("opa");
    std::fs::create_dir(&opa).unwrap();
    std::fs::write(opa.join("policy.wasm"), wat::parse_str(NO_LATEST_WAT).unwrap()).unwrap();
    let plugin = dir.path().join("plugin");
    std::fs::create_dir(&plugin).unwrap();
    std::fs::copy(driftless_e2e::NO_LATEST_PLUGIN, plugin.join("no-latest.wasm")).unwrap();
    let host = PluginHost::new(Limits { timeout: Duration::from_secs(10), ..Limits::default() }).unwrap();
    let options = LoadOptions { plugin_host: Some(&host), ..LoadOptions::default() };
    for (engine, path) in [("rego", rego), ("gatekeeper", gk), ("opa-wasm", opa), ("plugin", plugin)] {
        let set = PolicySet::load(&[path], &options).unwrap().with_threads(1);
        group.bench_function(format!("no-latest in {engine} x 1000 objects, 1 thread"), |b| {
            b.iter(|| set.evaluate(&objects, &inventory))
        });
    }
    group.finish();
}

/// CPU time of the process: what its threads spent on a core, whatever else the machine runs.
struct ProcessCpu;

/// User + system time of this process so far, in nanoseconds, from `/proc/self/stat` (in clock
/// ticks of 1/100 s, Linux's USER_HZ).
fn process_cpu_ns() -> u64 {
    let text = std::fs::read_to_string("/proc/self/stat").expect("Linux /proc/self/stat");
    // Fields after the command name (which is in parentheses and may hold spaces): utime is
    // field 14 of the line, the 12th after the name; stime the 13th.
    let after = text.rsplit_once(')').map(|(_, rest)| rest).expect("stat: (comm)");
    let fields: Vec<u64> =
        after.split_whitespace().skip(11).take(2).map(|f| f.parse().expect("stat: ticks")).collect();
    (fields[0] + fields[1]) * 10_000_000
}

impl Measurement for ProcessCpu {
    type Intermediate = u64;
    type Value = u64;
    fn start(&self) -> u64 {
        process_cpu_ns()
    }
    fn end(&self, start: u64) -> u64 {
        process_cpu_ns().saturating_sub(start)
    }
    fn add(&self, a: &u64, b: &u64) -> u64 {
        a + b
    }
    fn zero(&self) -> u64 {
        0
    }
    fn to_f64(&self, value: &u64) -> f64 {
        *value as f64
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        &CpuFormatter
    }
}

struct CpuFormatter;

impl ValueFormatter for CpuFormatter {
    fn scale_values(&self, _typical: f64, values: &mut [f64]) -> &'static str {
        values.iter_mut().for_each(|v| *v /= 1e6);
        "ms (CPU)"
    }
    fn scale_throughputs(&self, _typical: f64, _throughput: &Throughput, values: &mut [f64]) -> &'static str {
        values.iter_mut().for_each(|v| *v /= 1e6);
        "ms (CPU)"
    }
    fn scale_for_machines(&self, _values: &mut [f64]) -> &'static str {
        "ns"
    }
}

fn bench_cpu(c: &mut Criterion<ProcessCpu>) {
    let objects = objects();
    let inventory = Inventory::default();
    let mut group = c.benchmark_group("policy-cpu");
    group.sample_size(10).measurement_time(Duration::from_secs(10));
    let one = PolicySet::load(&[library()], &LoadOptions::default()).unwrap().with_threads(1);
    let n = one.policies().len();
    group.bench_function(format!("library {n} policies x 1000 objects, 1 thread"), |b| {
        b.iter(|| one.evaluate(&objects, &inventory))
    });
    let interpreter = one.with_rego_interpreter(true);
    group.bench_function(format!("library {n} policies x 1000 objects, 1 thread, interpreter"), |b| {
        b.iter(|| interpreter.evaluate(&objects, &inventory))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_group! {
    name = cpu;
    config = Criterion::default().with_measurement(ProcessCpu);
    targets = bench_cpu
}
criterion_main!(benches, cpu);
