//! Benchmark of the sandbox with kube-rs as the client, both in this process:
//! N ConfigMaps created by server-side apply (32 in flight), one full list and a paged list,
//! and a watch fan-out (W watchers, each receiving all N ADDED events). Prints timings and
//! the process's RSS. Run with
//! `cargo run --release -p driftless-sandbox --example bench -- [N] [W]` (defaults 10000, 10).
//! With `BENCH_KUBECONFIG=FILE` it talks to a sandbox already running elsewhere (e.g. the
//! `serve` example), so the server's RSS can be read apart from the client's.

use std::time::{Duration, Instant};

use driftless_sandbox::{Sandbox, SandboxConfig};
use futures_util::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use serde_json::json;

fn rss_kib() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(10_000);
    let watchers: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(10);
    let dir = tempfile::tempdir()?;
    let (sandbox, kubeconfig) = match std::env::var_os("BENCH_KUBECONFIG") {
        Some(path) => (None, std::path::PathBuf::from(path)),
        None => {
            let s = Sandbox::start(SandboxConfig::new(dir.path().join("kubeconfig"))).await?;
            let path = s.kubeconfig_path().to_owned();
            (Some(s), path)
        }
    };
    let kc = Kubeconfig::read_from(&kubeconfig)?;
    let client = Client::try_from(Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default()).await?)?;
    let (rss0, _) = rss_kib();

    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": "bench"}}))?;
    let created = Api::<Namespace>::all(client.clone()).create(&PostParams::default(), &ns).await?;
    let rv = created.metadata.resource_version.unwrap_or_default();
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "bench");

    let mut handles = Vec::new();
    for _ in 0..watchers {
        let api = api.clone();
        let rv = rv.clone();
        handles.push(tokio::spawn(async move {
            let mut stream = api.watch(&WatchParams::default().timeout(600), &rv).await?.boxed();
            let mut seen = 0usize;
            while seen < n {
                match tokio::time::timeout(Duration::from_secs(300), stream.try_next()).await {
                    Ok(Ok(Some(WatchEvent::Added(_)))) => seen += 1,
                    Ok(Ok(Some(_))) => {}
                    other => return Err(format!("watch ended after {seen} events: {other:?}").into()),
                }
            }
            Ok::<Instant, Box<dyn std::error::Error + Send + Sync>>(Instant::now())
        }));
    }

    let start = Instant::now();
    let pp = PatchParams::apply("bench");
    let results: Vec<Result<ConfigMap, kube::Error>> = futures_util::stream::iter(0..n)
        .map(|i| {
            let api = api.clone();
            let pp = pp.clone();
            async move {
                let cm = json!({"apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"name": format!("cm-{i:05}"), "labels": {"app": "bench", "shard": (i % 10).to_string()}},
                    "data": {"index": i.to_string(), "payload": "x".repeat(64)}});
                api.patch(&format!("cm-{i:05}"), &pp, &Patch::Apply(&cm)).await
            }
        })
        .buffer_unordered(32)
        .collect()
        .await;
    let apply_time = start.elapsed();
    let failures = results.iter().filter(|r| r.is_err()).count();

    let t = Instant::now();
    let all = api.list(&ListParams::default()).await?;
    let list_time = t.elapsed();
    let t = Instant::now();
    let mut paged = 0usize;
    let mut lp = ListParams::default().limit(500);
    loop {
        let page = api.list(&lp).await?;
        paged += page.items.len();
        match page.metadata.continue_.filter(|c| !c.is_empty()) {
            Some(c) => lp = ListParams::default().limit(500).continue_token(&c),
            None => break,
        }
    }
    let paged_time = t.elapsed();
    let t = Instant::now();
    let shard = api.list(&ListParams::default().labels("shard=3")).await?;
    let selector_time = t.elapsed();

    let mut last = start;
    for h in handles {
        let done = h.await?.map_err(|e| e.to_string())?;
        last = last.max(done);
    }
    let fanout_time = last.duration_since(start);
    let (rss, hwm) = rss_kib();

    println!("objects: {n} ({failures} failed), watchers: {watchers}");
    println!(
        "server-side apply: {:.2} s ({:.0} objects/s, 32 in flight)",
        apply_time.as_secs_f64(),
        n as f64 / apply_time.as_secs_f64()
    );
    println!("list all ({} items): {:.0} ms", all.items.len(), list_time.as_secs_f64() * 1e3);
    println!("paged list, limit 500 ({paged} items): {:.0} ms", paged_time.as_secs_f64() * 1e3);
    println!(
        "label-selected list ({} items): {:.0} ms",
        shard.items.len(),
        selector_time.as_secs_f64() * 1e3
    );
    println!(
        "watch fan-out: all {watchers} watchers had all {n} events {:.2} s after the first apply ({} events delivered)",
        fanout_time.as_secs_f64(),
        n * watchers
    );
    let what = if sandbox.is_some() { "client and server in one process" } else { "client only" };
    println!("RSS ({what}): {} MiB before, {} MiB after, peak {} MiB", rss0 / 1024, rss / 1024, hwm / 1024);
    if let Some(s) = sandbox {
        s.shutdown().await?;
    }
    Ok(())
}
