//! The `driftless` command: parses arguments, calls the library crates, prints results and
//! maps failures to exit codes (0 success, 1 a gate or check refused (a policy denied), 2 usage or input error,
//! 3 a runtime failure outside the input).

use std::io::{self, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};
use driftless_engine::render::{RenderRequest, render};
use driftless_plugin_host::{ErrorClass, Limits, PluginHost};

mod commands;
mod git_args;
mod policy_cmd;
mod sync_cmd;
mod verify_cmd;

/// driftless: a GitOps reconciler for Kubernetes. Renders, verifies and polices what is in
/// Git before anything reaches a cluster; plugins run sandboxed as WebAssembly components.
#[derive(Debug, Parser)]
#[command(name = "driftless", version, about, long_about = None, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Render an application directory into Kubernetes objects, through a sandboxed renderer
    /// plugin.
    Render(RenderArgs),
    /// Assess the health of objects (with their status, as read from a cluster) through the
    /// health plugins.
    Health(commands::HealthArgs),
    /// Work with plugins.
    #[command(subcommand)]
    Plugin(commands::PluginCommand),
    /// Fetch a repository and check that a revision carries a trusted signature (OpenPGP, SSH
    /// or gitsign) and descends from the last synced one: gate 1 of every sync, on its own.
    /// Exit 0 verified (or audit mode), 1 refused, 2 bad input, 3 repository unreachable.
    Verify(verify_cmd::VerifyArgs),
    /// Policy gate: evaluate policies on manifests, run Rego unit tests, query OPA wasm.
    #[command(subcommand)]
    Policy(policy_cmd::PolicyCommand),
    /// Show what a sync would do: the gated plan (verify, render, policy, then a server-side
    /// dry-run against the cluster) with diffs. Writes nothing. Exit 0 planned, 1 a gate
    /// refused, 2 bad input, 3 cluster or Git unreachable.
    Plan(sync_cmd::AppArgs),
    /// Sync an Application: the gated pipeline from Git to the cluster (verify, render,
    /// policy, plan, apply in order, prune, health), once or with --watch. Exit 0 synced,
    /// 1 a gate refused or unhealthy, 2 bad input, 3 a runtime failure.
    Sync(sync_cmd::SyncArgs),
    /// The whole gated pipeline on the sandbox cluster, no cluster needed: a signed Git
    /// repository made from the bundled example, a sync, drift healed, an unsigned and a
    /// policy-violating commit refused.
    Demo(DemoArgs),
    /// Run the sandbox cluster: an in-memory Kubernetes API server on 127.0.0.1 for tests,
    /// demos and local development. Prints `ready <url> <kubeconfig>` once it serves.
    Sandbox(SandboxArgs),
}

#[derive(Debug, clap::Args)]
struct SandboxArgs {
    /// Port on 127.0.0.1; 0 picks a free one.
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Where to write the kubeconfig (atomically, once the server is ready).
    #[arg(long, value_name = "FILE", default_value = "./driftless-sandbox.kubeconfig")]
    kubeconfig_out: PathBuf,
    /// Keep objects in FILE across restarts.
    #[arg(long, value_name = "FILE")]
    state: Option<PathBuf>,
    /// Simulate a controller that marks workloads ready this long after each change, e.g.
    /// 2s (off by default).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    ready_after: Option<Duration>,
}

#[derive(Debug, clap::Args)]
struct DemoArgs {
    /// Keep the demo's repository, kubeconfig, ledger and caches in DIR [default: a temporary
    /// directory, removed afterwards].
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
struct RenderArgs {
    /// The application's directory.
    #[arg(long, value_name = "DIR")]
    path: PathBuf,
    /// The directory the renderer may read, containing --path [default: the top of the Git
    /// work tree holding --path, else --path].
    #[arg(long, value_name = "DIR")]
    root: Option<PathBuf>,
    /// The renderer: a built-in name (manifests, kustomize) or the path of a .wasm component
    /// [default: kustomize when --path holds a kustomization.yaml, kustomization.yml or
    /// Kustomization, else manifests].
    #[arg(long, value_name = "NAME|FILE.wasm")]
    plugin: Option<String>,
    /// Output format: a YAML stream, or a JSON array of objects.
    #[arg(long, short, value_enum, default_value_t = RenderOutput::Yaml)]
    output: RenderOutput,
    #[command(flatten)]
    limits: LimitArgs,
}

#[derive(Debug, clap::Args)]
pub(crate) struct LimitArgs {
    /// Wall-clock limit of one plugin call, e.g. 500ms, 2s.
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = parse_duration)]
    plugin_timeout: Duration,
    /// Memory limit of one plugin instance, in MiB.
    #[arg(long, value_name = "MIB", default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..=4096))]
    plugin_memory_mib: u32,
}

impl LimitArgs {
    fn limits(&self) -> Limits {
        Limits { timeout: self.plugin_timeout, memory: (self.plugin_memory_mib as usize) << 20 }
    }

    /// A plugin host under these limits, with the on-disk cache of compiled plugins.
    pub(crate) fn host(&self) -> Result<PluginHost, Failure> {
        PluginHost::with_cache(self.limits(), PluginHost::default_cache_dir().as_deref())
            .map_err(|e| Failure::new(ErrorClass::Runtime, e))
    }
}

pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    let duration = humantime::parse_duration(text).map_err(|e| format!("{e} (use e.g. 500ms, 2s)"))?;
    if duration.is_zero() {
        return Err("must be greater than zero".into());
    }
    Ok(duration)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum RenderOutput {
    Yaml,
    Json,
}

/// A failure, with the exit code it maps to.
pub(crate) struct Failure {
    code: u8,
    error: anyhow::Error,
}

impl Failure {
    pub(crate) fn new(class: ErrorClass, error: impl Into<anyhow::Error>) -> Self {
        let code = match class {
            ErrorClass::Input => 2,
            ErrorClass::Runtime => 3,
        };
        Self { code, error: error.into() }
    }

    /// A gate or check that refused (exit 1).
    pub(crate) fn refused(error: impl Into<anyhow::Error>) -> Self {
        Self { code: 1, error: error.into() }
    }
}

fn main() -> ExitCode {
    // regorus reports every parse and evaluation failure as an `anyhow` error, and with
    // RUST_BACKTRACE set (as on many machines) each one captured a backtrace: loading a policy
    // whose parse backtracks took 25x longer, evaluation ~16 % longer. Library errors go
    // without; panics keep theirs (RUST_BACKTRACE). RUST_LIB_BACKTRACE=1 brings them back.
    if std::env::var_os("RUST_LIB_BACKTRACE").is_none() {
        // SAFETY: the first statement of `main`: no other thread exists yet to read or write
        // the environment.
        #[allow(unsafe_code)]
        unsafe {
            std::env::set_var("RUST_LIB_BACKTRACE", "0");
        }
    }
    let cli = Cli::parse();
    init_tracing();
    let result = match cli.command {
        Command::Render(args) => run_render(&args),
        Command::Health(args) => commands::run_health(&args),
        Command::Plugin(command) => commands::run_plugin(&command),
        Command::Sandbox(args) => run_sandbox(args),
        Command::Verify(args) => verify_cmd::run_verify(&args),
        Command::Policy(command) => policy_cmd::run_policy(&command),
        Command::Plan(args) => sync_cmd::run_plan(&args),
        Command::Sync(args) => sync_cmd::run_sync(&args),
        Command::Demo(args) => run_demo(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("error: {:#}", failure.error);
            ExitCode::from(failure.code)
        }
    }
}

/// Logs go to stderr: readable on a terminal, JSON lines otherwise. `RUST_LOG` sets the
/// level (default: warnings).
fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(io::stderr);
    if io::stderr().is_terminal() {
        builder.init();
    } else {
        builder.json().init();
    }
}

fn run_sandbox(args: SandboxArgs) -> Result<(), Failure> {
    let mut config = driftless_sandbox::SandboxConfig::new(args.kubeconfig_out);
    config.port = args.port;
    config.state_path = args.state;
    config.ready_after = args.ready_after;
    let runtime = tokio::runtime::Runtime::new().map_err(|e| Failure::new(ErrorClass::Runtime, e))?;
    runtime
        .block_on(driftless_sandbox::run_until_signal(config, |s| {
            println!("ready {} {}", s.url(), s.kubeconfig_path().display());
            let _ = io::stdout().flush();
        }))
        .map_err(|e| {
            let class = if e.is_input() { ErrorClass::Input } else { ErrorClass::Runtime };
            Failure::new(class, anyhow::Error::new(e).context("sandbox"))
        })
}

fn run_demo(args: DemoArgs) -> Result<(), Failure> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::new(ErrorClass::Runtime, e))?;
    let mut stdout = io::stdout();
    runtime
        .block_on(driftless_demo::run(&mut stdout, driftless_demo::DemoOptions { dir: args.dir }))
        .map(|_| ())
        .map_err(|e| Failure::new(ErrorClass::Runtime, anyhow::Error::new(e).context("demo")))
}

fn run_render(args: &RenderArgs) -> Result<(), Failure> {
    let request = RenderRequest {
        path: args.path.clone(),
        root: args.root.clone(),
        plugin: args.plugin.clone(),
        params: serde_json::Map::new(),
    };
    let host = args.limits.host()?;
    let rendered = render(&host, &request).map_err(|e| {
        let class = e.class();
        Failure::new(class, anyhow::Error::new(e).context(format!("render {}", args.path.display())))
    })?;
    let text = match args.output {
        RenderOutput::Yaml => driftless_yaml::to_yaml_stream(rendered.objects.iter().map(|o| o.as_value())),
        RenderOutput::Json => {
            let mut text = serde_json::to_string_pretty(&rendered.objects)
                .map_err(|e| Failure::new(ErrorClass::Runtime, e))?;
            text.push('\n');
            text
        }
    };
    write_stdout(&text)
}

/// Write to stdout; a reader that went away (`| head`) is not an error.
pub(crate) fn write_stdout(text: &str) -> Result<(), Failure> {
    let mut stdout = io::stdout().lock();
    match stdout.write_all(text.as_bytes()).and_then(|()| stdout.flush()) {
        Err(e) if e.kind() != io::ErrorKind::BrokenPipe => {
            Err(Failure::new(ErrorClass::Runtime, anyhow::Error::new(e).context("write to stdout")))
        }
        _ => Ok(()),
    }
}
