//! The sync record: what one run of the pipeline decided and did, stage by stage — for the
//! CLI, the ledger and auditors. It holds references, decisions and diffs (Secret values
//! already redacted by the plan), never object contents.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use driftless_core::ObjectRef;
use driftless_core::health::HealthStatus;
use driftless_core::plan::{Action, Plan, PlanSummary};
use driftless_core::verify::SignerIdentity;
use serde::Serialize;

use crate::health::ObjectHealth;
use crate::verify::VerifyReport;

/// A stage of the pipeline, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Stage {
    /// Fetch, resolve the revision, read the app's last synced state.
    Source,
    /// Gate 1: signatures and history.
    Verify,
    /// The renderer plugin.
    Render,
    /// Secret backends (not built yet: objects pass through).
    Secrets,
    /// Gate 2: policies.
    Policy,
    /// Server-side-apply dry-run against live state.
    Plan,
    /// Hooks, ordered apply, prune, the app's state.
    Apply,
    /// Health of what was applied.
    Health,
    /// The ledger.
    Record,
}

impl Stage {
    /// Its name, as in JSON.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Source => "source",
            Stage::Verify => "verify",
            Stage::Render => "render",
            Stage::Secrets => "secrets",
            Stage::Policy => "policy",
            Stage::Plan => "plan",
            Stage::Apply => "apply",
            Stage::Health => "health",
            Stage::Record => "record",
        }
    }
}

impl std::fmt::Display for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which gate refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Gate {
    /// Signature or history verification (of the app's source or of a policy source).
    Verify,
    /// A policy denied.
    Policy,
}

impl Gate {
    /// Its name, as in JSON.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Gate::Verify => "verify",
            Gate::Policy => "policy",
        }
    }
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Outcome {
    /// `plan`: the gated plan was made; nothing was written.
    Planned,
    /// Changes were applied and everything is healthy.
    Synced,
    /// Nothing differed from Git; nothing was written (but the synced revision).
    Unchanged,
    /// Applied, but not healthy within `health.timeout`.
    Unhealthy,
    /// A gate refused; nothing was written.
    Refused,
    /// A stage failed; see `failedStage` and `applied` for what was written before.
    Failed,
    /// `sync.suspend` is set: nothing was done.
    Suspended,
}

impl Outcome {
    /// Its name, as in JSON.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Planned => "planned",
            Outcome::Synced => "synced",
            Outcome::Unchanged => "unchanged",
            Outcome::Unhealthy => "unhealthy",
            Outcome::Refused => "refused",
            Outcome::Failed => "failed",
            Outcome::Suspended => "suspended",
        }
    }
}

/// What kind of failure a failed run had, for exit codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum FailureKind {
    /// The input is at fault: the spec, the repository's content, an object the API server
    /// rejects.
    Input,
    /// Something outside the input: Git or the API server unreachable, a plugin trapped.
    Runtime,
}

/// What started a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Trigger {
    /// A command.
    Manual,
    /// The polling interval.
    Interval,
    /// A live change to an applied object.
    Drift,
    /// A retry after a failure.
    Retry,
}

/// How long a stage took.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StageTiming {
    /// The stage.
    pub stage: Stage,
    /// Milliseconds, to 0.01.
    pub ms: f64,
}

/// The policy gate's decisions.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyRecord {
    /// Counts.
    pub summary: driftless_policy::Summary,
    /// Every decision: policy, object, outcome, messages, waiver used.
    pub decisions: Vec<driftless_core::policy::PolicyDecision>,
    /// Waivers found expired (they no longer apply).
    pub expired_waivers: Vec<driftless_policy::ExpiredWaiver>,
    /// Where the policies came from: `path` in the app's repository, or `url@commit:path`.
    pub sources: Vec<String>,
}

/// The plan, as recorded.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PlanRecord {
    /// Counts.
    pub summary: PlanSummary,
    /// Every change (and skipped object), with diffs.
    #[serde(flatten)]
    pub plan: Plan,
}

/// A hook Job's run.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HookRecord {
    /// The Job.
    pub object: ObjectRef,
    /// `PreSync` or `PostSync`.
    pub phase: String,
    /// Whether it completed.
    pub succeeded: bool,
    /// Its condition's message.
    pub message: String,
}

/// The health stage's findings.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HealthRecord {
    /// Every object with a health check is Healthy or Suspended.
    pub healthy: bool,
    /// Each assessed object's last status (kinds no plugin handles are left out).
    pub objects: Vec<ObjectHealth>,
}

/// One run of the pipeline for one app.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncRecord {
    /// The Application's name.
    pub app: String,
    /// `plan` or `sync`.
    pub run: &'static str,
    /// What started it.
    pub trigger: Trigger,
    /// The repository (credentials removed).
    pub repo_url: String,
    /// The revision as asked for.
    pub revision: String,
    /// The commit it resolved to.
    pub commit: Option<String>,
    /// The last synced commit before this run (from the cluster).
    pub previous_commit: Option<String>,
    /// RFC 3339, UTC.
    pub started_at: String,
    /// RFC 3339, UTC.
    pub finished_at: String,
    /// How it ended.
    pub outcome: Outcome,
    /// The gate that refused.
    pub gate: Option<Gate>,
    /// The stage that failed.
    pub failed_stage: Option<Stage>,
    /// Whether the failure is the input's or the environment's.
    pub failure: Option<FailureKind>,
    /// Why it was refused or failed, in words.
    pub reason: Option<String>,
    /// Warnings: audit-mode verification failures, policy warnings, expired waivers.
    pub warnings: Vec<String>,
    /// Who signed the revision.
    pub signer: Option<SignerIdentity>,
    /// Gate 1's report.
    pub verification: Option<VerifyReport>,
    /// The renderer that rendered, and how many objects.
    pub rendered: Option<RenderedRecord>,
    /// Gate 2's decisions; `None` when the app has no policies.
    pub policy: Option<PolicyRecord>,
    /// The plan.
    pub plan: Option<PlanRecord>,
    /// Hook Jobs run.
    pub hooks: Vec<HookRecord>,
    /// Objects written, in order (also when a later write failed).
    pub applied: Vec<ObjectRef>,
    /// Objects pruned.
    pub deleted: Vec<ObjectRef>,
    /// Health after apply.
    pub health: Option<HealthRecord>,
    /// Time per stage, in order.
    pub timings: Vec<StageTiming>,
}

/// What the render stage produced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RenderedRecord {
    /// The renderer plugin.
    pub plugin: String,
    /// The app's path in the repository.
    pub path: String,
    /// Objects rendered (hooks included).
    pub objects: usize,
}

impl SyncRecord {
    /// A record of a run that has just started: outcome `failed` until the run says otherwise,
    /// the repository URL without credentials, `startedAt` now.
    #[must_use]
    pub fn new(app: &str, run: &'static str, trigger: Trigger, repo_url: &str, revision: &str) -> Self {
        Self {
            app: app.to_owned(),
            run,
            trigger,
            repo_url: driftless_source::redact_url(repo_url),
            revision: revision.to_owned(),
            commit: None,
            previous_commit: None,
            started_at: now_rfc3339(),
            finished_at: String::new(),
            outcome: Outcome::Failed,
            gate: None,
            failed_stage: None,
            failure: None,
            reason: None,
            warnings: Vec::new(),
            signer: None,
            verification: None,
            rendered: None,
            policy: None,
            plan: None,
            hooks: Vec::new(),
            applied: Vec::new(),
            deleted: Vec::new(),
            health: None,
            timings: Vec::new(),
        }
    }

    /// Whether the run did what was asked: planned, synced (healthy) or found nothing to do.
    #[must_use]
    pub fn succeeded(&self) -> bool {
        matches!(self.outcome, Outcome::Planned | Outcome::Synced | Outcome::Unchanged | Outcome::Suspended)
    }

    /// The total time of the stages, in milliseconds.
    #[must_use]
    pub fn total_ms(&self) -> f64 {
        self.timings.iter().map(|t| t.ms).sum()
    }

    /// The outcome for people, with its reason.
    #[must_use]
    pub fn outcome_text(&self) -> String {
        match self.outcome {
            Outcome::Planned => "planned (nothing written)".to_owned(),
            Outcome::Synced => "synced".to_owned(),
            Outcome::Unchanged => "unchanged (in sync with Git)".to_owned(),
            Outcome::Unhealthy => {
                format!("applied but unhealthy: {}", self.reason.as_deref().unwrap_or(""))
            }
            Outcome::Suspended => "suspended (sync.suspend)".to_owned(),
            Outcome::Refused => format!(
                "REFUSED by the {} gate, nothing written: {}",
                self.gate.map_or("?", Gate::as_str),
                self.reason.as_deref().unwrap_or("")
            ),
            Outcome::Failed => format!(
                "FAILED at {}: {}{}",
                self.failed_stage.map_or_else(|| "?".to_owned(), |s| s.to_string()),
                self.reason.as_deref().unwrap_or(""),
                if self.applied.is_empty() {
                    " (nothing written)".to_owned()
                } else {
                    format!(" (applied before the failure: {})", self.applied.len())
                }
            ),
        }
    }

    /// One line for a Kubernetes Event or a notification: the revision, the commit, what was
    /// written and the outcome.
    #[must_use]
    pub fn summary(&self) -> String {
        let commit =
            self.commit.as_deref().map_or_else(String::new, |c| format!(" ({})", &c[..c.len().min(12)]));
        let writes = if self.applied.is_empty() && self.deleted.is_empty() {
            String::new()
        } else {
            format!("; {} applied, {} deleted", self.applied.len(), self.deleted.len())
        };
        format!("{}{commit}: {}{writes}", self.revision, self.outcome_text())
    }

    /// The record for people: one line per stage that ran, the plan with its diffs, the outcome.
    pub fn text(&self) -> String {
        let record = self;
        let mut out = String::new();
        let commit = record.commit.as_deref().map_or("?", |c| c.get(..12).unwrap_or(c));
        let _ = writeln!(
            out,
            "{} {}: {} at {commit} ({:?})",
            record.run, record.app, record.revision, record.trigger
        );
        if let Some(v) = &record.verification {
            let status = match (v.verified, v.passed) {
                (true, _) => "verified".to_owned(),
                (false, true) => {
                    format!("not verified, not enforced ({})", v.reason.as_deref().unwrap_or(""))
                }
                (false, false) => format!("REFUSED: {}", v.reason.as_deref().unwrap_or("")),
            };
            let signer =
                record.signer.as_ref().map(|s| format!(", signer {}", s.describe())).unwrap_or_default();
            let _ = writeln!(out, "  verify   {status}{signer}");
        }
        if let Some(r) = &record.rendered {
            let _ = writeln!(out, "  render   {} objects from {} ({})", r.objects, r.path, r.plugin);
        }
        if let Some(p) = &record.policy {
            let s = &p.summary;
            let _ = writeln!(
                out,
                "  policy   {} decisions: {} denied, {} warned, {} waived, {} errors",
                s.decisions, s.denied, s.warned, s.waived, s.errors
            );
            for d in
                p.decisions.iter().filter(|d| d.outcome != driftless_core::policy::PolicyOutcome::Allowed)
            {
                let object = d.object.as_ref().map_or_else(|| "(whole set)".to_owned(), ToString::to_string);
                let _ = writeln!(
                    out,
                    "           {:?} {} {object}: {}",
                    d.outcome,
                    d.policy,
                    d.messages.join("; ")
                );
            }
        }
        if let Some(p) = &record.plan {
            let s = &p.summary;
            let _ = writeln!(
                out,
                "  plan     {} to create, {} to update, {} to delete, {} unchanged",
                s.creates, s.updates, s.deletes, s.unchanged
            );
            for change in &p.plan.changes {
                let sign = match change.action {
                    Action::Create => "+",
                    Action::Update => "~",
                    Action::Delete => "-",
                    Action::Unchanged => continue,
                };
                let note = change.note.as_deref().map(|n| format!("  ({n})")).unwrap_or_default();
                let _ = writeln!(out, "    {sign} {}{note}", change.object);
                if change.action == Action::Update
                    && let Some(diff) = &change.diff
                {
                    for line in diff.lines() {
                        let _ = writeln!(out, "        {line}");
                    }
                }
            }
            for skipped in &p.plan.skipped {
                let note = skipped.note.as_deref().unwrap_or("skipped");
                let _ = writeln!(out, "    = {} ({note})", skipped.object);
            }
        }
        for hook in &record.hooks {
            let _ = writeln!(
                out,
                "  hook     {} {}: {}{}",
                hook.phase,
                hook.object,
                if hook.succeeded { "succeeded" } else { "FAILED" },
                if hook.message.is_empty() { String::new() } else { format!(" ({})", hook.message) }
            );
        }
        if record.run == "sync" && (record.plan.is_some() || !record.applied.is_empty()) {
            let _ =
                writeln!(out, "  apply    {} applied, {} pruned", record.applied.len(), record.deleted.len());
        }
        if let Some(h) = &record.health {
            let unhealthy: Vec<String> = h
                .objects
                .iter()
                .filter(|o| !matches!(o.status, None | Some(HealthStatus::Healthy | HealthStatus::Suspended)))
                .map(|o| {
                    format!(
                        "{} {}: {}",
                        o.object,
                        o.status.map(|s| s.to_string()).unwrap_or_default(),
                        o.message.as_deref().unwrap_or("")
                    )
                })
                .collect();
            if h.healthy {
                let _ = writeln!(out, "  health   healthy ({} objects checked)", h.objects.len());
            } else {
                let _ = writeln!(out, "  health   NOT healthy:");
                for line in unhealthy {
                    let _ = writeln!(out, "           {line}");
                }
            }
        }
        for warning in &record.warnings {
            let _ = writeln!(out, "  warning  {warning}");
        }
        let outcome = record.outcome_text();
        let _ = writeln!(out, "  outcome  {outcome} in {:.0} ms", record.total_ms());
        out
    }
}

/// An append-only file of sync records, one JSON object per line.
#[derive(Debug, Clone)]
pub struct Ledger {
    path: PathBuf,
}

/// The ledger could not be written.
#[derive(Debug, thiserror::Error)]
#[error("ledger {}: {source}", path.display())]
pub struct LedgerError {
    /// The file.
    pub path: PathBuf,
    /// Why.
    pub source: std::io::Error,
}

impl Ledger {
    /// A ledger at `path` (created on the first append).
    #[must_use]
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    /// Its file.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Append one record as one line, written with a single `write` so concurrent writers
    /// never interleave within a line.
    ///
    /// # Errors
    /// [`LedgerError`] when the file cannot be opened or written.
    pub fn append(&self, record: &SyncRecord) -> Result<(), LedgerError> {
        let err = |source| LedgerError { path: self.path.clone(), source };
        let mut line = serde_json::to_vec(record).map_err(|e| err(std::io::Error::other(e)))?;
        line.push(b'\n');
        let mut file = std::fs::OpenOptions::new().create(true).append(true).open(&self.path).map_err(err)?;
        file.write_all(&line).map_err(err)?;
        file.sync_data().map_err(err)
    }
}

/// The time, RFC 3339 in UTC to the second.
pub(crate) fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}
