//! The Verify stage, gate 1 of every sync: the resolved revision must carry a trusted
//! signature (on the commit, the annotated tag, or both, as `spec.verify.target` says), must
//! descend from the last synced commit unless history rewrites are allowed, and with
//! `requireSignedHistory` every commit since the last synced one must be signed too.
//!
//! In `enforce` mode a failure refuses the sync; in `audit` mode it is reported as a warning
//! and the sync goes on; `off` checks nothing. Signatures themselves are checked by
//! `driftless-verify`; this module decides what must be checked and what the outcome means.

use std::time::SystemTime;

use driftless_core::spec::{VerifyMode, VerifySpec, VerifyTarget};
use driftless_core::verify::{SignatureVerdict, SignedObjectKind, SignerIdentity};
use driftless_source::{ObjectId, Repo, Resolved, SourceError};
use driftless_verify::{Refusal, Verifier, VerifyError};
use serde::Serialize;

/// What the gate is asked to check.
#[derive(Debug)]
pub struct VerifyRequest<'a> {
    /// The fetched repository.
    pub repo: &'a Repo,
    /// The revision, resolved.
    pub resolved: &'a Resolved,
    /// The last synced commit (`--since`): the new one must descend from it.
    pub since: Option<ObjectId>,
    /// `spec.verify` (or the `--trust` file).
    pub spec: &'a VerifySpec,
    /// The current time, for objects that carry no time of their own.
    pub now: SystemTime,
}

/// The gate's outcome, as the sync record and `driftless verify --output json` carry it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VerifyReport {
    /// Every required signature verified and the history rules hold.
    pub verified: bool,
    /// Whether the sync may go on: verified, or a failure in `audit` mode, or `off`.
    pub passed: bool,
    /// The mode the gate ran in.
    pub mode: VerifyMode,
    /// What had to carry a signature.
    pub target: VerifyTarget,
    /// The revision as asked for.
    pub revision: String,
    /// The commit it resolved to.
    pub commit: String,
    /// The annotated tag object, when the revision is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    /// Who signed the target (the commit; the tag when the target is `tag`).
    pub signer: Option<SignerIdentity>,
    /// A stable code for the failure: a signature refusal code (`unsigned`, `unknownKey`,
    /// `badSignature`, `identityMismatch`, ...), `notDescendant`, `notAnnotatedTag` or
    /// `unsignedHistory`.
    pub code: Option<String>,
    /// The failure, in words.
    pub reason: Option<String>,
    /// The verdict on every object checked, target first.
    pub verdicts: Vec<SignatureVerdict>,
    /// The history check, when `since` was given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub history: Option<HistoryCheck>,
}

/// The history rule's findings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HistoryCheck {
    /// The last synced commit.
    pub since: String,
    /// Whether the new commit descends from it.
    pub descends: bool,
    /// Commits in `since..commit` whose signatures were checked (`requireSignedHistory`).
    pub commits_checked: usize,
}

/// The gate could not run: bad trust configuration or an unreadable repository.
#[derive(Debug, thiserror::Error)]
pub enum VerifyGateError {
    /// The trust configuration cannot be used.
    #[error("trust configuration: {0}")]
    Trust(#[from] VerifyError),
    /// The repository could not be read.
    #[error(transparent)]
    Source(#[from] SourceError),
}

/// Run the gate.
///
/// # Errors
/// [`VerifyGateError`] when the trust configuration is malformed or the repository cannot be
/// read; a refusal is not an error but a report with `passed: false`.
pub fn verify_revision(request: &VerifyRequest<'_>) -> Result<VerifyReport, VerifyGateError> {
    let VerifyRequest { repo, resolved, since, spec, now } = *request;
    let mut report = VerifyReport {
        verified: false,
        passed: true,
        mode: spec.mode,
        target: spec.target,
        revision: resolved.revision.clone(),
        commit: resolved.commit.to_string(),
        tag: resolved.tag.map(|t| t.to_string()),
        signer: None,
        code: None,
        reason: None,
        verdicts: Vec::new(),
        history: None,
    };
    if spec.mode == VerifyMode::Off {
        report.reason = Some("verification is off (`mode: off`)".into());
        return Ok(report);
    }
    let verifier = Verifier::new(&spec.trust)?;
    let mut failure: Option<(String, String)> = None;
    let mut fail = |code: &str, reason: String| {
        if failure.is_none() {
            failure = Some((code.to_owned(), reason));
        }
    };

    // The history rule first: a force push is named as such, whatever the signatures say.
    let mut descends = true;
    if let Some(since) = since {
        descends = repo.is_ancestor(since, resolved.commit)?;
        if !descends && !spec.allow_history_rewrite {
            fail(
                "notDescendant",
                format!(
                    "not a descendant: {} does not descend from the last synced commit {since} \
                     (history was rewritten, e.g. by a force push; set allowHistoryRewrite to accept)",
                    resolved.commit
                ),
            );
        }
    }

    // The target's signatures.
    let check_commit = matches!(spec.target, VerifyTarget::Commit | VerifyTarget::TagAndCommit);
    let check_tag = matches!(spec.target, VerifyTarget::Tag | VerifyTarget::TagAndCommit);
    if check_tag {
        match resolved.tag {
            Some(tag) => {
                let verdict = judge(&verifier, repo, SignedObjectKind::Tag, tag, now)?;
                if let Some(reason) = &verdict.reason {
                    fail(verdict.code.as_deref().unwrap_or("refused"), format!("tag {tag}: {reason}"));
                }
                report.signer = verdict.signer.clone();
                report.verdicts.push(verdict);
            }
            None => fail(
                "notAnnotatedTag",
                format!(
                    "target `{}` needs the revision to be an annotated tag; {:?} is not one",
                    target_name(spec.target),
                    resolved.revision
                ),
            ),
        }
    }
    if check_commit {
        let verdict = judge(&verifier, repo, SignedObjectKind::Commit, resolved.commit, now)?;
        if let Some(reason) = &verdict.reason {
            fail(
                verdict.code.as_deref().unwrap_or("refused"),
                format!("commit {}: {reason}", resolved.commit),
            );
        }
        report.signer = verdict.signer.clone().or(report.signer.take());
        report.verdicts.insert(0, verdict);
    }

    // Every commit since the last synced one, when the history must be signed.
    if let Some(since) = since {
        let mut checked = 0;
        // Also after an allowed rewrite: the commits reachable from the new revision and not
        // from the last synced one are exactly the ones nobody has vetted yet.
        if spec.require_signed_history {
            for id in repo.commits_between(since, resolved.commit)? {
                if id == resolved.commit && check_commit {
                    continue;
                }
                checked += 1;
                let verdict = judge(&verifier, repo, SignedObjectKind::Commit, id, now)?;
                if let Some(reason) = &verdict.reason {
                    fail("unsignedHistory", format!("commit {id} since the last synced {since}: {reason}"));
                }
                report.verdicts.push(verdict);
            }
        }
        report.history = Some(HistoryCheck { since: since.to_string(), descends, commits_checked: checked });
    }

    match failure {
        None => report.verified = true,
        Some((code, reason)) => {
            report.passed = spec.mode == VerifyMode::Audit;
            report.code = Some(code);
            report.reason = Some(reason);
        }
    }
    if report.passed && !report.verified {
        tracing::warn!(revision = %report.revision, reason = ?report.reason, "verification failed (audit mode): syncing anyway");
    }
    Ok(report)
}

fn target_name(target: VerifyTarget) -> &'static str {
    match target {
        VerifyTarget::Commit => "commit",
        VerifyTarget::Tag => "tag",
        VerifyTarget::TagAndCommit => "tagAndCommit",
    }
}

fn judge(
    verifier: &Verifier,
    repo: &Repo,
    object: SignedObjectKind,
    id: ObjectId,
    now: SystemTime,
) -> Result<SignatureVerdict, SourceError> {
    let raw = repo.raw_object(id)?;
    let result: Result<_, Refusal> = match object {
        SignedObjectKind::Commit => verifier.verify_commit(&raw, now),
        SignedObjectKind::Tag => verifier.verify_tag(&raw, now),
    };
    Ok(match result {
        Ok(verified) => SignatureVerdict {
            object,
            id: id.to_string(),
            verified: true,
            signer: Some(verified.signer),
            code: None,
            reason: None,
        },
        Err(refusal) => SignatureVerdict {
            object,
            id: id.to_string(),
            verified: false,
            signer: None,
            code: Some(refusal.code().to_owned()),
            reason: Some(refusal.to_string()),
        },
    })
}
