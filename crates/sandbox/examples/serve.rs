//! Run a sandbox until Ctrl-C: `cargo run -p driftless-sandbox --example serve -- KUBECONFIG`.

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args().nth(1).unwrap_or_else(|| "driftless-sandbox.kubeconfig".into());
    let sandbox = driftless_sandbox::Sandbox::start(driftless_sandbox::SandboxConfig::new(path)).await?;
    println!("ready {} {}", sandbox.url(), sandbox.kubeconfig_path().display());
    tokio::signal::ctrl_c().await?;
    sandbox.shutdown().await?;
    Ok(())
}
