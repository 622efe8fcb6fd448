//! `driftless verify`: fetch a repository, resolve a revision and run the signature gate on it.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use driftless_core::Secret;
use driftless_core::spec::{VerifyMode, VerifySpec};
use driftless_core::verify::SignerIdentity;
use driftless_engine::verify::{VerifyGateError, VerifyReport, VerifyRequest, verify_revision};
use driftless_plugin_host::ErrorClass;
use driftless_source::{Auth, Source, SourceError, SshAuth};

use crate::commands::Output;
use crate::{Failure, parse_duration, write_stdout};

/// The environment variable holding the HTTP(S) password or token (never a flag: flags show
/// in the process list).
const PASSWORD_ENV: &str = "DRIFTLESS_GIT_PASSWORD";

#[derive(Debug, clap::Args)]
pub(crate) struct VerifyArgs {
    /// The repository: a URL (https://, git://, ssh://, file://, user@host:path) or a local
    /// directory.
    #[arg(long, value_name = "URL|DIR")]
    repo: String,
    /// The revision: a branch, a tag, or a full or short commit id.
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
    /// The clone cache [default: $DRIFTLESS_CACHE_DIR/git, else ~/.cache/driftless/git].
    #[arg(long, value_name = "DIR")]
    cache_dir: Option<PathBuf>,
    /// Deadline of the fetch, e.g. 30s.
    #[arg(long, value_name = "DURATION", default_value = "120s", value_parser = parse_duration)]
    timeout: Duration,
    /// HTTP(S) user name; the password or token is read from $DRIFTLESS_GIT_PASSWORD.
    #[arg(long, value_name = "NAME")]
    username: Option<String>,
    /// SSH private key for ssh:// and user@host:path repositories.
    #[arg(long, value_name = "FILE")]
    ssh_key: Option<PathBuf>,
    /// known_hosts file the SSH server's key must be in [default: ssh's own].
    #[arg(long, value_name = "FILE", requires = "ssh_key")]
    known_hosts: Option<PathBuf>,
}

pub(crate) fn run_verify(args: &VerifyArgs) -> Result<(), Failure> {
    let input = |e: anyhow::Error| Failure::new(ErrorClass::Input, e);
    let text = std::fs::read_to_string(&args.trust).map_err(|e| {
        input(anyhow::Error::new(e).context(format!("read trust file {}", args.trust.display())))
    })?;
    let spec = VerifySpec::from_yaml(&text)
        .map_err(|e| input(anyhow::Error::new(e).context(format!("trust file {}", args.trust.display()))))?;

    let auth = Auth {
        username: args.username.clone(),
        password: std::env::var(PASSWORD_ENV).ok().filter(|p| !p.is_empty()).map(Secret::new),
        ssh: args
            .ssh_key
            .clone()
            .map(|private_key| SshAuth { private_key, known_hosts: args.known_hosts.clone() }),
    };
    let source =
        Source::new(args.cache_dir.clone().unwrap_or_else(Source::default_dir)).with_timeout(args.timeout);
    let repo = source.fetch(&args.repo, &auth).map_err(source_failure)?;
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
fn source_failure(e: SourceError) -> Failure {
    let class = match e {
        SourceError::Url { .. }
        | SourceError::UnknownRevision { .. }
        | SourceError::AmbiguousRevision { .. }
        | SourceError::NotACommit { .. }
        | SourceError::BadPath { .. } => ErrorClass::Input,
        _ => ErrorClass::Runtime,
    };
    Failure::new(class, e)
}

fn describe_signer(signer: &SignerIdentity) -> String {
    let mut text = format!("{}", signer.kind);
    for part in [&signer.fingerprint, &signer.identity, &signer.subject].into_iter().flatten() {
        let _ = write!(text, " {part}");
    }
    if let Some(issuer) = &signer.issuer {
        let _ = write!(text, " (issuer {issuer})");
    }
    text
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
        let _ = writeln!(out, "signer: {}", describe_signer(signer));
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
