//! The `policy` commands: `eval`, `test` and `query`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use clap::{Subcommand, ValueEnum};
use driftless_core::spec::Enforcement;
use driftless_plugin_host::ErrorClass;
use driftless_policy::{Inventory, LoadOptions, PolicySet, load_reviews, load_waivers, output, run_tests};

use crate::{Failure, LimitArgs, parse_duration, write_stdout};

#[derive(Debug, Subcommand)]
pub(crate) enum PolicyCommand {
    /// Judge manifests with policies (Rego, Gatekeeper templates and constraints, OPA wasm,
    /// policy plugins). Exit 0 when the sync may go on, 1 when a policy denies, 2 on bad input.
    Eval(EvalArgs),
    /// Run the `test_*` rules of Rego policies, like `opa test`. Exit 1 when one fails.
    Test(TestArgs),
    /// Evaluate one entrypoint of an OPA-compiled wasm module (or bundle) and print OPA's raw
    /// result set (`[{"result": ...}]`, `[]` when undefined).
    Query(QueryArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum EvalOutput {
    Text,
    Json,
    Sarif,
    /// wg-policy PolicyReport objects (YAML).
    Policyreport,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum EnforcementArg {
    Deny,
    Warn,
    Dryrun,
}

#[derive(Debug, clap::Args)]
pub(crate) struct EvalArgs {
    /// Policy files or directories (searched recursively); repeatable.
    #[arg(long = "policies", visible_alias = "policy", value_name = "PATH", required = true, num_args = 1..)]
    policies: Vec<PathBuf>,
    /// Manifests to judge: a YAML/JSON file or a directory of them; repeatable.
    #[arg(long = "manifests", short = 'f', value_name = "FILE|DIR", required = true, num_args = 1..)]
    manifests: Vec<PathBuf>,
    /// Objects already in the cluster, for referential policies (Gatekeeper's data.inventory).
    #[arg(long, value_name = "FILE", num_args = 1..)]
    inventory: Vec<PathBuf>,
    /// The waivers file (kind: PolicyWaivers).
    #[arg(long, value_name = "FILE")]
    waivers: Option<PathBuf>,
    /// The app's enforcement; each policy's effective action is the weaker of this and its own.
    #[arg(long, value_enum, default_value_t = EnforcementArg::Deny)]
    enforcement: EnforcementArg,
    /// Read every Rego source file as v0.
    #[arg(long)]
    rego_v0: bool,
    /// Run every per-object Rego rule in regorus's interpreter. By default the policies that
    /// regorus's bytecode VM decides exactly as the interpreter run there (about five times
    /// faster); this is for comparing, and for when the VM is suspected.
    #[arg(long)]
    rego_interpreter: bool,
    /// Time limit of one policy on one object.
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = parse_duration)]
    policy_timeout: Duration,
    /// Output format.
    #[arg(long, short, value_enum, default_value_t = EvalOutput::Text)]
    output: EvalOutput,
    #[command(flatten)]
    limits: LimitArgs,
}

#[derive(Debug, clap::Args)]
pub(crate) struct TestArgs {
    /// Directories or files of Rego policies and their `*_test.rego` tests.
    #[arg(value_name = "PATH", required = true)]
    paths: Vec<PathBuf>,
    /// Read every Rego source file as v0.
    #[arg(long)]
    rego_v0: bool,
    /// Print every test, not only failures.
    #[arg(long, short)]
    verbose: bool,
    /// Output format.
    #[arg(long, short, value_enum, default_value_t = crate::commands::Output::Text)]
    output: crate::commands::Output,
}

#[derive(Debug, clap::Args)]
pub(crate) struct QueryArgs {
    /// The module (`policy.wasm`) or bundle (`.tar.gz`) built by `opa build -t wasm`.
    #[arg(long, value_name = "FILE")]
    wasm: PathBuf,
    /// The entrypoint, e.g. `kubernetes/deny`.
    #[arg(long, value_name = "NAME")]
    entrypoint: String,
    /// The input document (JSON or YAML).
    #[arg(long, value_name = "FILE")]
    input: PathBuf,
    /// A data document (JSON or YAML), merged over the bundle's.
    #[arg(long, value_name = "FILE")]
    data: Option<PathBuf>,
    /// Output format (the result set is JSON either way).
    #[arg(long, short, value_enum, default_value_t = crate::commands::Output::Json)]
    output: crate::commands::Output,
}

fn input_failure(e: impl Into<anyhow::Error>) -> Failure {
    Failure::new(ErrorClass::Input, e)
}

pub(crate) fn run_policy(command: &PolicyCommand) -> Result<(), Failure> {
    match command {
        PolicyCommand::Eval(args) => run_eval(args),
        PolicyCommand::Test(args) => run_test(args),
        PolicyCommand::Query(args) => run_query(args),
    }
}

fn needs_plugin_host(paths: &[PathBuf]) -> bool {
    fn walk(path: &Path) -> bool {
        if path.is_dir() {
            std::fs::read_dir(path)
                .map(|entries| entries.filter_map(Result::ok).any(|e| walk(&e.path())))
                .unwrap_or(false)
        } else {
            path.extension().is_some_and(|e| e == "wasm")
        }
    }
    paths.iter().any(|p| walk(p))
}

fn run_eval(args: &EvalArgs) -> Result<(), Failure> {
    let host = if needs_plugin_host(&args.policies) { Some(args.limits.host()?) } else { None };
    let options = LoadOptions {
        rego_v0: args.rego_v0,
        timeout: args.policy_timeout,
        plugin_host: host.as_ref(),
        opa_entrypoints: Vec::new(),
    };
    let enforcement = match args.enforcement {
        EnforcementArg::Deny => Enforcement::Deny,
        EnforcementArg::Warn => Enforcement::Warn,
        EnforcementArg::Dryrun => Enforcement::Dryrun,
    };
    let mut set = PolicySet::load(&args.policies, &options)
        .context("load policies")
        .map_err(input_failure)?
        .with_enforcement(enforcement)
        .with_rego_interpreter(args.rego_interpreter);
    if let Some(path) = &args.waivers {
        set = set.with_waivers(load_waivers(path).context("load waivers").map_err(input_failure)?);
    }
    let reviews = load_reviews(&args.manifests).context("load manifests").map_err(input_failure)?;
    let inventory = Inventory::load(&args.inventory).context("load inventory").map_err(input_failure)?;
    let report = set.evaluate_reviews(&reviews, &inventory, std::time::SystemTime::now());
    let text = match args.output {
        EvalOutput::Text => output::text(&report),
        EvalOutput::Json => pretty(&output::json(&report))?,
        EvalOutput::Sarif => pretty(&output::sarif(&report))?,
        EvalOutput::Policyreport => driftless_yaml::to_yaml_stream(output::policy_reports(&report).iter()),
    };
    write_stdout(&text)?;
    if report.denied() {
        let s = report.summary();
        return Err(Failure {
            code: 1,
            error: anyhow::anyhow!("policy denied the sync ({} denied, {} errors)", s.denied, s.errors),
        });
    }
    Ok(())
}

fn pretty(value: &serde_json::Value) -> Result<String, Failure> {
    let mut text = serde_json::to_string_pretty(value).map_err(|e| Failure::new(ErrorClass::Runtime, e))?;
    text.push('\n');
    Ok(text)
}

fn run_test(args: &TestArgs) -> Result<(), Failure> {
    let options = LoadOptions { rego_v0: args.rego_v0, ..LoadOptions::default() };
    let report = run_tests(&args.paths, &options).context("load policies").map_err(input_failure)?;
    let text = match args.output {
        crate::commands::Output::Json => {
            pretty(&serde_json::to_value(&report).map_err(|e| Failure::new(ErrorClass::Runtime, e))?)?
        }
        crate::commands::Output::Text => {
            let mut text = String::new();
            for case in &report.cases {
                if let Some(why) = &case.failure {
                    let _ = writeln!(text, "FAIL {} ({}): {why}", case.name, case.file.display());
                } else if args.verbose {
                    let _ = writeln!(text, "PASS {} ({} µs)", case.name, case.micros);
                }
            }
            let _ = writeln!(text, "{} passed, {} failed", report.passed(), report.failed());
            text
        }
    };
    write_stdout(&text)?;
    if report.failed() > 0 {
        return Err(Failure {
            code: 1,
            error: anyhow::anyhow!("{} of {} tests failed", report.failed(), report.cases.len()),
        });
    }
    if report.cases.is_empty() {
        return Err(Failure { code: 1, error: anyhow::anyhow!("no test_ rules found") });
    }
    Ok(())
}

fn read_document(path: &Path) -> Result<serde_json::Value, Failure> {
    let text =
        std::fs::read_to_string(path).with_context(|| path.display().to_string()).map_err(input_failure)?;
    let mut docs = driftless_yaml::parse_stream(&text)
        .with_context(|| path.display().to_string())
        .map_err(input_failure)?;
    if docs.len() != 1 {
        return Err(input_failure(anyhow::anyhow!(
            "{}: expected one document, found {}",
            path.display(),
            docs.len()
        )));
    }
    Ok(docs.remove(0).value)
}

fn run_query(args: &QueryArgs) -> Result<(), Failure> {
    let input = read_document(&args.input)?;
    let data = args.data.as_deref().map(read_document).transpose()?;
    let result = driftless_policy::opa_query(&args.wasm, &args.entrypoint, &input, data).map_err(|e| {
        // The module failing (trap, fuel) is a runtime failure (exit 3); the rest is input (2).
        let runtime = matches!(e, driftless_policy::PolicyError::WasmEvaluation { .. });
        let error = anyhow::Error::new(e).context("query");
        if runtime { Failure::new(ErrorClass::Runtime, error) } else { input_failure(error) }
    })?;
    let text = match args.output {
        crate::commands::Output::Json => pretty(&result)?,
        crate::commands::Output::Text => format!("{result}\n"),
    };
    write_stdout(&text)
}
