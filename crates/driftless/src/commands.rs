//! The `health` and `plugin` commands: argument types, calls into the library crates, output.

use std::fmt::Write as _;
use std::path::PathBuf;

use clap::{Subcommand, ValueEnum};
use driftless_core::manifest::{Format, parse_objects};
use driftless_engine::health::{HealthError, ObjectHealth, assess, load_plugins};
use driftless_plugin_host::scaffold::{ScaffoldError, scaffold};
use driftless_plugin_host::{ErrorClass, Limits, PluginError, PluginHost, PluginKind};

use crate::{Failure, LimitArgs, write_stdout};

/// Output for people or machines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Output {
    Text,
    Json,
}

#[derive(Debug, clap::Args)]
pub(crate) struct HealthArgs {
    /// A YAML or JSON file of objects, with their `status` as a cluster reports it.
    #[arg(long, value_name = "FILE")]
    manifests: PathBuf,
    /// A health plugin component to consult before the built-in ones; repeatable, first wins.
    #[arg(long = "plugin", value_name = "FILE.wasm")]
    plugins: Vec<PathBuf>,
    /// Output format.
    #[arg(long, short, value_enum, default_value_t = Output::Text)]
    output: Output,
    #[command(flatten)]
    limits: LimitArgs,
}

/// Plugin kinds, as `plugin new` takes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum NewKind {
    Renderer,
    Health,
    Secret,
    Policy,
}

#[derive(Debug, Subcommand)]
pub(crate) enum PluginCommand {
    /// Create a new plugin crate that depends on the SDK by path and builds with
    /// `cargo build --release --target wasm32-wasip2`.
    New {
        /// The plugin's name (and crate name): lowercase letters, digits and `-`.
        name: String,
        /// What kind of plugin.
        #[arg(long, value_enum)]
        kind: NewKind,
        /// Where to create it [default: ./NAME].
        #[arg(long, value_name = "DIR")]
        path: Option<PathBuf>,
        /// The SDK crate to depend on [default: the SDK of the source tree this binary was
        /// built from].
        #[arg(long, value_name = "DIR")]
        sdk: Option<PathBuf>,
    },
    /// Show what a plugin component is: kind, version, contract, capabilities, imports,
    /// exports and content hash. Nothing in it runs but its `metadata` function, sandboxed.
    Inspect {
        /// The component.
        #[arg(value_name = "FILE.wasm")]
        file: PathBuf,
        /// Output format.
        #[arg(long, short, value_enum, default_value_t = Output::Text)]
        output: Output,
    },
}

fn plugin_failure(e: PluginError) -> Failure {
    Failure::new(e.class(), e)
}

pub(crate) fn run_health(args: &HealthArgs) -> Result<(), Failure> {
    let input = |e: anyhow::Error| Failure::new(ErrorClass::Input, e);
    let file = args.manifests.display().to_string();
    let text = std::fs::read_to_string(&args.manifests)
        .map_err(|e| input(anyhow::Error::new(e).context(file.clone())))?;
    let objects = parse_objects(&text, Format::of_file(&file))
        .map_err(|e| input(anyhow::Error::new(e).context(file.clone())))?;
    let host = args.limits.host()?;
    let to_failure = |e: HealthError| match e {
        HealthError::Plugin(e) => plugin_failure(e),
        other => input(other.into()),
    };
    let plugins = load_plugins(&host, &args.plugins).map_err(to_failure)?;
    let health = assess(&plugins, &objects).map_err(to_failure)?;
    let out = match args.output {
        Output::Json => {
            let mut text =
                serde_json::to_string_pretty(&health).map_err(|e| Failure::new(ErrorClass::Runtime, e))?;
            text.push('\n');
            text
        }
        Output::Text => health_table(&health),
    };
    write_stdout(&out)
}

fn health_table(health: &[ObjectHealth]) -> String {
    let rows: Vec<[String; 3]> = health
        .iter()
        .map(|h| {
            [
                h.object.to_string(),
                h.status.map_or_else(|| "-".to_owned(), |s| s.to_string()),
                h.message.clone().unwrap_or_else(|| "no health plugin handles this kind".to_owned()),
            ]
        })
        .collect();
    let width = |i: usize| rows.iter().map(|r| r[i].len()).chain([6]).max().unwrap_or(6);
    let (w0, w1) = (width(0), width(1));
    let mut out = format!("{:w0$}  {:w1$}  MESSAGE\n", "OBJECT", "STATUS");
    for [object, status, message] in rows {
        let _ = writeln!(out, "{object:w0$}  {status:w1$}  {message}");
    }
    out
}

pub(crate) fn run_plugin(command: &PluginCommand) -> Result<(), Failure> {
    match command {
        PluginCommand::New { name, kind, path, sdk } => {
            let kind = match kind {
                NewKind::Renderer => PluginKind::Renderer,
                NewKind::Health => PluginKind::Health,
                NewKind::Secret => PluginKind::SecretBackend,
                NewKind::Policy => PluginKind::Policy,
            };
            let dir = path.clone().unwrap_or_else(|| PathBuf::from(name));
            let sdk = sdk
                .clone()
                .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../sdk/rust")));
            let files = scaffold(name, kind, &dir, &sdk).map_err(|e| {
                let class = if matches!(e, ScaffoldError::Io { .. }) {
                    ErrorClass::Runtime
                } else {
                    ErrorClass::Input
                };
                Failure::new(class, e)
            })?;
            let mut out = format!("created {kind} plugin `{name}` in {}:\n", dir.display());
            for file in files {
                let _ = writeln!(out, "  {}", file.display());
            }
            let _ = writeln!(
                out,
                "next: cd {} && cargo test && cargo build --release --target wasm32-wasip2",
                dir.display()
            );
            write_stdout(&out)
        }
        PluginCommand::Inspect { file, output } => {
            let label = file.display().to_string();
            let wasm = std::fs::read(file)
                .map_err(|e| Failure::new(ErrorClass::Input, anyhow::Error::new(e).context(label.clone())))?;
            let host = PluginHost::new(Limits::default()).map_err(plugin_failure)?;
            let inspection = host.inspect(&label, &wasm).map_err(plugin_failure)?;
            let text = match output {
                Output::Json => {
                    let mut value = serde_json::to_value(&inspection)
                        .map_err(|e| Failure::new(ErrorClass::Runtime, e))?;
                    if let (Some(m), Some(obj)) = (&inspection.metadata, value.as_object_mut()) {
                        obj.insert("name".into(), m.name.clone().into());
                        obj.insert("kind".into(), m.kind.to_string().into());
                        obj.insert("version".into(), m.version.clone().into());
                        obj.insert("contract".into(), m.contract.clone().into());
                        obj.insert(
                            "capabilities".into(),
                            m.capabilities.iter().map(ToString::to_string).collect::<Vec<_>>().into(),
                        );
                    }
                    let mut text = serde_json::to_string_pretty(&value)
                        .map_err(|e| Failure::new(ErrorClass::Runtime, e))?;
                    text.push('\n');
                    text
                }
                Output::Text => {
                    let mut out = format!(
                        "file:         {label}\nsha256:       {}\nsize:         {} bytes\n",
                        inspection.content_hash, inspection.size
                    );
                    match (&inspection.metadata, &inspection.metadata_error) {
                        (Some(m), _) => {
                            let caps = m.capabilities.iter().map(ToString::to_string).collect::<Vec<_>>();
                            let _ = write!(
                                out,
                                "name:         {}\nkind:         {}\nversion:      {}\ncontract:     {}\ncapabilities: {}\n",
                                m.name,
                                m.kind,
                                m.version,
                                m.contract,
                                if caps.is_empty() { "none".to_owned() } else { caps.join(", ") }
                            );
                        }
                        (None, Some(e)) => {
                            let _ = writeln!(out, "metadata:     unreadable: {e}");
                        }
                        (None, None) => {}
                    }
                    out.push_str("imports:\n");
                    for name in &inspection.imports {
                        let _ = writeln!(out, "  {name}");
                    }
                    out.push_str("exports:\n");
                    for name in &inspection.exports {
                        let _ = writeln!(out, "  {name}");
                    }
                    out
                }
            };
            write_stdout(&text)
        }
    }
}
