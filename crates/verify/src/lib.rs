//! Signature verification of git commits and annotated tags against a trust configuration:
//! OpenPGP keys, SSH keys in git's `allowed_signers` format, and sigstore gitsign (x509 CMS
//! signatures by Fulcio certificates).
//!
//! The crate works on raw object bytes (what `git cat-file commit|tag` prints) and knows no git
//! plumbing: fetching, resolving revisions, history rules and the enforce/audit decision belong
//! to the caller. It does no I/O.
//!
//! Main entry point: [`Verifier::new`] parses the trust configuration once, then
//! [`Verifier::verify_commit`] and [`Verifier::verify_tag`] check objects cheaply.

mod gitsign;
mod gpg;
mod object;
mod rekor;
mod ssh;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use driftless_core::spec::TrustSource;
pub use driftless_core::verify::{SignatureKind, SignatureVerdict, SignedObjectKind, SignerIdentity};

use object::{Armor, Parsed, Split};

/// A trust configuration that cannot be used. Names the trust entry (and line or block) at
/// fault.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// A trust entry is malformed.
    #[error("{at}: {message}")]
    Trust {
        /// Where, e.g. `trust[1].ssh.allowedSigners line 3`.
        at: String,
        /// What is wrong.
        message: String,
    },
}

impl VerifyError {
    pub(crate) fn trust(at: impl Into<String>, message: impl Into<String>) -> Self {
        VerifyError::Trust { at: at.into(), message: message.into() }
    }
}

/// Why an object was not accepted. Each variant says what a person needs to act on it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The object carries no signature.
    #[error("unsigned: the {0} carries no signature")]
    Unsigned(&'static str),
    /// The signature is in a format this verifier does not read.
    #[error("unsupported signature format: {0}")]
    UnsupportedFormat(String),
    /// The signature is of a kind no trust entry covers.
    #[error("no trusted {0} signers are configured, and the object is signed with {0}")]
    NoTrustForKind(SignatureKind),
    /// The signature cannot be parsed.
    #[error("malformed {kind} signature: {message}")]
    Malformed {
        /// The signature kind.
        kind: SignatureKind,
        /// The parser's complaint.
        message: String,
    },
    /// The signing key is not among the trusted ones.
    #[error("unknown signer: key {fingerprint} is not trusted")]
    UnknownKey {
        /// Fingerprint or key id of the key that signed.
        fingerprint: String,
    },
    /// The signature does not match the content (tampered, or signed by another key).
    #[error("bad signature by key {fingerprint}: {message}")]
    BadSignature {
        /// The key the signature names.
        fingerprint: String,
        /// Why it does not verify.
        message: String,
    },
    /// The key was revoked.
    #[error("key {fingerprint} is revoked{reason}")]
    Revoked {
        /// The revoked key.
        fingerprint: String,
        /// `: <reason>` as the revocation states it, or empty.
        reason: String,
    },
    /// The key (or its trust entry) had expired when the signature was made.
    #[error("key {fingerprint} had expired when the signature was made ({detail})")]
    Expired {
        /// The key.
        fingerprint: String,
        /// Expiry and signing time.
        detail: String,
    },
    /// The key (or its trust entry) was not yet valid when the signature was made.
    #[error("key {fingerprint} was not yet valid when the signature was made ({detail})")]
    NotYetValid {
        /// The key.
        fingerprint: String,
        /// Validity start and signing time.
        detail: String,
    },
    /// An SSH signature made for another purpose than git, or a key not allowed for git.
    #[error("wrong namespace: {0}")]
    WrongNamespace(String),
    /// The gitsign certificate does not chain to a configured Fulcio root.
    #[error("untrusted certificate chain: {0}")]
    UntrustedChain(String),
    /// The gitsign certificate's identity does not match.
    #[error("identity mismatch: certificate identity {found:?} does not match {expected}")]
    IdentityMismatch {
        /// The certificate's SAN(s).
        found: String,
        /// The configured identity or pattern.
        expected: String,
    },
    /// The gitsign certificate's OIDC issuer does not match.
    #[error("issuer mismatch: certificate issuer {found:?}, expected {expected:?}")]
    IssuerMismatch {
        /// The certificate's issuer extension, or `none`.
        found: String,
        /// The configured issuer.
        expected: String,
    },
    /// Transparency-log evidence is required and missing or not checkable.
    #[error("no transparency-log evidence: {0}")]
    NoTlogEvidence(String),
}

impl Refusal {
    /// A stable machine-readable code (`unsigned`, `unknownKey`, `badSignature`, ...).
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::Unsigned(_) => "unsigned",
            Refusal::UnsupportedFormat(_) => "unsupportedFormat",
            Refusal::NoTrustForKind(_) => "noTrustForKind",
            Refusal::Malformed { .. } => "malformed",
            Refusal::UnknownKey { .. } => "unknownKey",
            Refusal::BadSignature { .. } => "badSignature",
            Refusal::Revoked { .. } => "revoked",
            Refusal::Expired { .. } => "expired",
            Refusal::NotYetValid { .. } => "notYetValid",
            Refusal::WrongNamespace(_) => "wrongNamespace",
            Refusal::UntrustedChain(_) => "untrustedChain",
            Refusal::IdentityMismatch { .. } => "identityMismatch",
            Refusal::IssuerMismatch { .. } => "issuerMismatch",
            Refusal::NoTlogEvidence(_) => "noTlogEvidence",
        }
    }

    /// How specific a refusal is, for choosing which one to report when several trust entries
    /// of one kind all refuse: "this key is unknown to entry 1" says less than "entry 2 knows
    /// the key and the signature is bad".
    fn rank(&self) -> u8 {
        match self {
            Refusal::UnknownKey { .. } | Refusal::UntrustedChain(_) => 0,
            Refusal::IdentityMismatch { .. } | Refusal::IssuerMismatch { .. } => 1,
            _ => 2,
        }
    }
}

/// A signature that verified against the trust configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// Who signed, for the sync record.
    pub signer: SignerIdentity,
    /// The index of the trust entry that accepted the signature.
    pub trust_index: usize,
    /// One line for people, e.g. `good SSH signature by SHA256:... (principal ops@example.com)`.
    pub details: String,
}

impl Verified {
    /// The signing time the signature claims (or, with `signer.signed_at_proven`, proves).
    pub fn signed_at(&self) -> Option<SystemTime> {
        self.signer.signed_at.map(|s| UNIX_EPOCH + Duration::from_secs(s))
    }
}

/// Parsed trust configuration. Build once with [`Verifier::new`]; verifying is then cheap and
/// `&self`, so one verifier can serve many threads.
pub struct Verifier {
    ssh: Option<ssh::SshTrust>,
    gpg: Option<gpg::GpgTrust>,
    gitsign: Vec<gitsign::GitsignEntry>,
}

impl Verifier {
    /// Parses every trust entry once. Errors name the entry, e.g.
    /// `trust[1].ssh.allowedSigners line 3: unknown option "foo"`.
    pub fn new(trust: &[TrustSource]) -> Result<Verifier, VerifyError> {
        let mut ssh_entries = Vec::new();
        let mut gpg_keys = Vec::new();
        let mut gitsign = Vec::new();
        for (index, source) in trust.iter().enumerate() {
            match source {
                TrustSource::Ssh(s) => {
                    ssh_entries.extend(ssh::parse_allowed_signers(index, &s.allowed_signers)?)
                }
                TrustSource::Gpg(g) => gpg_keys.extend(gpg::parse_keys(index, &g.public_keys)?),
                TrustSource::Gitsign(g) => gitsign.push(gitsign::parse(index, g)?),
            }
        }
        Ok(Verifier {
            ssh: (!ssh_entries.is_empty()).then(|| ssh::SshTrust::new(ssh_entries)),
            gpg: (!gpg_keys.is_empty()).then(|| gpg::GpgTrust::new(gpg_keys)),
            gitsign,
        })
    }

    /// Verifies a commit, given as `git cat-file commit <id>` prints it. The signed payload is
    /// the commit without its `gpgsig` header.
    ///
    /// Validity is judged at the time the signature claims (OpenPGP signature creation time,
    /// SSH: the committer time as git does, gitsign: the CMS signing time); `now` stands in only
    /// where an object carries no time of its own.
    pub fn verify_commit(&self, raw_commit: &[u8], now: SystemTime) -> Result<Verified, Refusal> {
        match object::split_commit(raw_commit) {
            Parsed::Unsigned => Err(Refusal::Unsigned("commit")),
            Parsed::Unrecognised => {
                Err(Refusal::UnsupportedFormat("the commit's gpgsig header has no known armor".into()))
            }
            Parsed::Signed(split) => self.verify_split(&split, now),
        }
    }

    /// Verifies an annotated tag, given as `git cat-file tag <id>` prints it. The signed payload
    /// is the tag without its trailing signature block.
    pub fn verify_tag(&self, raw_tag: &[u8], now: SystemTime) -> Result<Verified, Refusal> {
        match object::split_tag(raw_tag) {
            Parsed::Unsigned | Parsed::Unrecognised => Err(Refusal::Unsigned("tag")),
            Parsed::Signed(split) => self.verify_split(&split, now),
        }
    }

    fn verify_split(&self, split: &Split<'_>, now: SystemTime) -> Result<Verified, Refusal> {
        match split.armor {
            Armor::Ssh => match &self.ssh {
                Some(trust) => trust.verify(split, now),
                None => Err(Refusal::NoTrustForKind(SignatureKind::Ssh)),
            },
            Armor::Pgp => match &self.gpg {
                Some(trust) => trust.verify(split),
                None => Err(Refusal::NoTrustForKind(SignatureKind::Gpg)),
            },
            Armor::Cms => {
                if self.gitsign.is_empty() {
                    return Err(Refusal::NoTrustForKind(SignatureKind::Gitsign));
                }
                let parsed = gitsign::check_signature(split)?;
                let mut best: Option<Refusal> = None;
                for entry in &self.gitsign {
                    match entry.verify(&parsed) {
                        Ok(v) => return Ok(v),
                        Err(r) if best.as_ref().is_none_or(|b| r.rank() > b.rank()) => best = Some(r),
                        Err(_) => {}
                    }
                }
                Err(best.unwrap_or(Refusal::NoTrustForKind(SignatureKind::Gitsign)))
            }
        }
    }
}

/// Seconds since the epoch, saturating at 0 for times before it.
pub(crate) fn unix(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// `2024-01-02T03:04:05Z` for messages.
pub(crate) fn fmt_time(secs: i64) -> String {
    let t = if secs >= 0 {
        UNIX_EPOCH + Duration::from_secs(secs.unsigned_abs())
    } else {
        UNIX_EPOCH - Duration::from_secs(secs.unsigned_abs())
    };
    humantime::format_rfc3339_seconds(t).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_verifier_can_be_shared_between_threads() {
        fn shared<T: Send + Sync>() {}
        shared::<Verifier>();
    }

    #[test]
    fn times_print_as_rfc3339() {
        assert_eq!(fmt_time(0), "1970-01-01T00:00:00Z");
        assert_eq!(fmt_time(1_700_000_000), "2023-11-14T22:13:20Z");
    }
}
