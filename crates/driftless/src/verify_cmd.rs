//! `driftless verify`: fetch a repository, resolve a revision and run the signature gate on it.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::SystemTime;

use driftless_core::spec::{VerifyMode, VerifySpec};
use driftless_engine::verify::{VerifyGateError, VerifyReport, VerifyRequest, verify_revision};
use driftless_plugin_host::ErrorClass;
use driftless_source::SourceError;

use crate::commands::Output;
use crate::git_args::GitArgs;
use crate::{Failure, write_stdout};

#[derive(Debug, clap::Args)]
pub(crate) struct VerifyArgs {
    /// The repository: a URL (https://, git://, ssh://, file://, user@host:path) or a local
    /// directory.
    #[arg(long, value_name = "URL|DIR")]
    repo: String,
    /// The revision: a branch, a tag, or a full or short commit id, optionally with git's
    /// `~N`, `^N`, `^{commit}` suffixes (`main~1`).
    #[arg(long, value_name = "REV", default_value = "HEAD")]
    rev: String,
    /// The trust file: a verify section (mode, target, trust, requireSignedHistory,
    /// allowHistoryRewrite) in YAML.
    #[arg(long, value_name = "FILE")]
    trust: PathBuf,
    /// The last synced revision: the new one must descend from it (unless
    /// allowHistoryRewrite), and with requireSignedHistory every commit after it must be signed.
    #[arg(long, value_name = "REV")]
    since: Option<String>,
    /// Output format.
    #[arg(long, short, value_enum, default_value_t = Output::Text)]
    output: Output,
    #[command(flatten)]
    git: GitArgs,
}

pub(crate) fn run_verify(args: &VerifyArgs) -> Result<(), Failure> {
    let input = |e: anyhow::Error| Failure::new(ErrorClass::Input, e);
    let text = std::fs::read_to_string(&args.trust).map_err(|e| {
        input(anyhow::Error::new(e).context(format!("read trust file {}", args.trust.display())))
    })?;
    let spec = VerifySpec::from_yaml(&text)
        .map_err(|e| input(anyhow::Error::new(e).context(format!("trust file {}", args.trust.display()))))?;

    let source = args.git.source();
    let repo = source.fetch(&args.repo, &args.git.auth()).map_err(source_failure)?;
    let resolved = repo.resolve(&args.rev).map_err(source_failure)?;
    let since = match &args.since {
        Some(rev) => Some(repo.resolve(rev).map_err(source_failure)?.commit),
        None => None,
    };
    let request =
        VerifyRequest { repo: &repo, resolved: &resolved, since, spec: &spec, now: SystemTime::now() };
    let report = verify_revision(&request).map_err(|e| match e {
        VerifyGateError::Trust(_) => {
            input(anyhow::Error::new(e).context(format!("trust file {}", args.trust.display())))
        }
        VerifyGateError::Source(e) => source_failure(e),
    })?;

    let text = match args.output {
        Output::Json => {
            let mut text =
                serde_json::to_string_pretty(&report).map_err(|e| Failure::new(ErrorClass::Runtime, e))?;
            text.push('\n');
            text
        }
        Output::Text => render_text(&report),
    };
    write_stdout(&text)?;
    if report.passed {
        Ok(())
    } else {
        Err(Failure::refused(anyhow::anyhow!(
            "verification refused {}: {}",
            report.revision,
            report.reason.as_deref().unwrap_or("refused")
        )))
    }
}

/// Input errors (a bad URL or revision) exit 2; an unreachable server or unreadable cache 3.
pub(crate) fn source_failure(e: SourceError) -> Failure {
    let class = if e.is_input() { ErrorClass::Input } else { ErrorClass::Runtime };
    Failure::new(class, e)
}

fn render_text(report: &VerifyReport) -> String {
    let mut out = String::new();
    let short = &report.commit[..report.commit.len().min(12)];
    match (report.verified, report.passed, report.mode) {
        (_, _, VerifyMode::Off) => {
            let _ = writeln!(out, "not verified: {} at {short}: verification is off", report.revision);
        }
        (true, _, _) => {
            let _ = writeln!(out, "verified: {} at {short}", report.revision);
        }
        (false, true, _) => {
            let _ = writeln!(
                out,
                "warning: {} at {short} failed verification (audit mode, not enforced): {}",
                report.revision,
                report.reason.as_deref().unwrap_or_default()
            );
        }
        (false, false, _) => {
            let _ = writeln!(
                out,
                "refused: {} at {short}: {}",
                report.revision,
                report.reason.as_deref().unwrap_or_default()
            );
        }
    }
    if let Some(signer) = &report.signer {
        let _ = writeln!(out, "signer: {}", signer.describe());
        if signer.signed_at.is_some() && !signer.signed_at_proven {
            let _ = writeln!(out, "signing time: claimed by the signer, not proven by a transparency log");
        }
    }
    if let Some(history) = &report.history {
        let _ = writeln!(
            out,
            "history: {} {} {}{}",
            report.commit.get(..12).unwrap_or(&report.commit),
            if history.descends { "descends from" } else { "does NOT descend from" },
            history.since.get(..12).unwrap_or(&history.since),
            if history.commits_checked > 0 {
                format!(", {} earlier commit(s) checked", history.commits_checked)
            } else {
                String::new()
            }
        );
    }
    out
}
