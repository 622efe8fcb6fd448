//! The outcome of commit and tag signature verification, as later stages and sync records see
//! it. Produced by `driftless-verify`; no I/O here.

use serde::{Deserialize, Serialize};

/// How an object was signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum SignatureKind {
    /// OpenPGP (`gpg`).
    Gpg,
    /// SSH (`SSHSIG`, git's `gpg.format=ssh`).
    Ssh,
    /// sigstore gitsign: an x509 CMS signature by a Fulcio certificate.
    Gitsign,
}

impl std::fmt::Display for SignatureKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SignatureKind::Gpg => "gpg",
            SignatureKind::Ssh => "ssh",
            SignatureKind::Gitsign => "gitsign",
        })
    }
}

/// Who signed an object, as far as the trusted configuration can tell.
///
/// Field use by kind:
/// - `gpg`: `fingerprint` = the primary key's fingerprint (hex), `signingKey` = the (sub)key that
///   made the signature, `identity` = the primary user id.
/// - `ssh`: `fingerprint` = `SHA256:...` of the key, `identity` = the `allowed_signers`
///   principals of the line that matched.
/// - `gitsign`: `fingerprint` = SHA-256 of the leaf certificate (hex), `subject` = the
///   certificate's subject, `identity` = its SAN (e-mail or URI), `issuer` = the OIDC issuer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SignerIdentity {
    /// How the object was signed.
    pub kind: SignatureKind,
    /// Key or certificate fingerprint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
    /// For OpenPGP, the fingerprint of the subkey that signed, when not the primary key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signing_key: Option<String>,
    /// Certificate subject (gitsign).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// OIDC issuer (gitsign).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    /// User id, principal or certificate identity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<String>,
    /// When the signature claims to have been made, in seconds since the Unix epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signed_at: Option<u64>,
    /// Whether `signedAt` is proven by a third party (a transparency log). OpenPGP and SSH
    /// signing times, and gitsign without Rekor evidence, are only the signer's claim.
    #[serde(default)]
    pub signed_at_proven: bool,
}

impl SignerIdentity {
    /// One line for people: kind, fingerprint, identity, subject, issuer.
    #[must_use]
    pub fn describe(&self) -> String {
        let mut text = self.kind.to_string();
        for part in [&self.fingerprint, &self.identity, &self.subject].into_iter().flatten() {
            text.push(' ');
            text.push_str(part);
        }
        if let Some(issuer) = &self.issuer {
            text.push_str(&format!(" (issuer {issuer})"));
        }
        text
    }
}

/// Which git object a verdict is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum SignedObjectKind {
    /// A commit.
    Commit,
    /// An annotated tag.
    Tag,
}

/// The verdict on one object, as a sync record holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SignatureVerdict {
    /// Commit or tag.
    pub object: SignedObjectKind,
    /// The object id (hex), as the source stage resolved it.
    pub id: String,
    /// Whether a trusted signer signed it.
    pub verified: bool,
    /// The signer, when verified.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signer: Option<SignerIdentity>,
    /// A stable code for the refusal (`unsigned`, `unknownKey`, `badSignature`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// The refusal, in words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts_serialise_in_camel_case_without_empty_fields() {
        let verdict = SignatureVerdict {
            object: SignedObjectKind::Commit,
            id: "abc".into(),
            verified: true,
            signer: Some(SignerIdentity {
                kind: SignatureKind::Ssh,
                fingerprint: Some("SHA256:x".into()),
                signing_key: None,
                subject: None,
                issuer: None,
                identity: Some("ops@example.com".into()),
                signed_at: Some(1),
                signed_at_proven: false,
            }),
            code: None,
            reason: None,
        };
        let json = serde_json::to_value(&verdict).unwrap_or_default();
        assert_eq!(
            json,
            serde_json::json!({
                "object": "commit", "id": "abc", "verified": true,
                "signer": {"kind": "ssh", "fingerprint": "SHA256:x", "identity": "ops@example.com",
                           "signedAt": 1, "signedAtProven": false}
            })
        );
        let back: SignatureVerdict = serde_json::from_value(json).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back, verdict);
    }
}
