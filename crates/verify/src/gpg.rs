//! OpenPGP signatures (git's default `gpg.format=openpgp`) against armored public keys.
//!
//! Keys are read once: for every primary key and signing subkey we work out, from its
//! cryptographically checked self-signatures, when it was created, when it expires and whether
//! it is revoked. A signature is then accepted when it verifies with a trusted key, the key is
//! not revoked (for any reason, at any time), and the signature's creation time lies within the
//! key's validity. A key that expired *after* the signature was made still verifies it: see
//! `docs/verify.md` for why, and what that means for a stolen key.

use std::collections::HashMap;
use std::sync::Arc;

use pgp::composed::{Deserializable, DetachedSignature, SignedPublicKey};
use pgp::packet::{Signature, SignatureType};
use pgp::types::{KeyDetails, Tag};

use crate::object::Split;
use crate::{Refusal, SignatureKind, SignerIdentity, Verified, VerifyError, fmt_time};

/// A key that may make signatures: a primary key or one of its subkeys.
struct Candidate {
    trust_index: usize,
    cert: Arc<SignedPublicKey>,
    /// `None` for the primary key, else the subkey's index.
    subkey: Option<usize>,
    primary_fingerprint: String,
    fingerprint: String,
    user_id: Option<String>,
    created: i64,
    expires: Option<i64>,
    revoked: Option<String>,
}

/// All trusted OpenPGP keys, indexed by key id.
pub(crate) struct GpgTrust {
    candidates: Vec<Candidate>,
    by_key_id: HashMap<[u8; 8], Vec<usize>>,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

fn key_id_bytes(id: &pgp::types::KeyId) -> [u8; 8] {
    let mut out = [0u8; 8];
    let src: &[u8] = id.as_ref();
    if src.len() == 8 {
        out.copy_from_slice(src);
    }
    out
}

/// The newest of the given signatures, by creation time.
fn newest<'a>(sigs: impl Iterator<Item = &'a Signature>) -> Option<&'a Signature> {
    sigs.max_by_key(|s| s.created().map_or(0, |t| t.as_secs()))
}

fn revocation_reason(sig: &Signature) -> String {
    let code = sig.revocation_reason_code().map(|c| format!("{c:?}"));
    let text = sig.revocation_reason_string().map(|b| String::from_utf8_lossy(b).into_owned());
    match (code, text) {
        (Some(c), Some(t)) if !t.is_empty() => format!(": {c} ({t})"),
        (Some(c), _) => format!(": {c}"),
        (None, Some(t)) if !t.is_empty() => format!(": {t}"),
        _ => String::new(),
    }
}

fn expiry(created: i64, sig: Option<&Signature>) -> Option<i64> {
    let secs = sig?.key_expiration_time()?.as_secs();
    (secs != 0).then(|| created + i64::from(secs))
}

/// Splits the configured text into armored public key blocks.
fn blocks(text: &str) -> Vec<&str> {
    const BEGIN: &str = "-----BEGIN PGP PUBLIC KEY BLOCK-----";
    const END: &str = "-----END PGP PUBLIC KEY BLOCK-----";
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(BEGIN) {
        let after = &rest[start..];
        match after.find(END) {
            Some(end) => {
                out.push(&after[..end + END.len()]);
                rest = &after[end + END.len()..];
            }
            None => {
                out.push(after);
                break;
            }
        }
    }
    out
}

/// Parses the armored keys of one trust entry; errors name `trust[i].gpg.publicKeys block n`.
pub(crate) fn parse_keys(trust_index: usize, text: &str) -> Result<Vec<CandidateSet>, VerifyError> {
    let found = blocks(text);
    if found.is_empty() {
        return Err(VerifyError::trust(
            format!("trust[{trust_index}].gpg.publicKeys"),
            "no `-----BEGIN PGP PUBLIC KEY BLOCK-----` found",
        ));
    }
    let mut out = Vec::new();
    for (n, block) in found.into_iter().enumerate() {
        let at = format!("trust[{trust_index}].gpg.publicKeys block {}", n + 1);
        let (keys, _) = SignedPublicKey::from_string_many(block)
            .map_err(|e| VerifyError::trust(at.clone(), format!("cannot read the key block: {e}")))?;
        let mut any = false;
        for key in keys {
            let key = key.map_err(|e| VerifyError::trust(at.clone(), format!("cannot read a key: {e}")))?;
            any = true;
            out.push(CandidateSet::of(trust_index, &at, key)?);
        }
        if !any {
            return Err(VerifyError::trust(at, "the block holds no public key"));
        }
    }
    Ok(out)
}

/// The signing candidates of one certificate.
pub(crate) struct CandidateSet(Vec<Candidate>);

impl CandidateSet {
    fn of(trust_index: usize, at: &str, key: SignedPublicKey) -> Result<CandidateSet, VerifyError> {
        let primary = &key.primary_key;
        let primary_fingerprint = hex(key.fingerprint().as_bytes());
        let created = i64::from(key.created_at().as_secs());

        // Self-certifications over user ids (and direct-key signatures) that really are by the
        // primary key; forged ones are ignored.
        let mut user_id = None;
        let mut self_sigs: Vec<&Signature> = Vec::new();
        for user in &key.details.users {
            let valid: Vec<&Signature> = user
                .signatures
                .iter()
                .filter(|s| s.is_certification() && s.typ() != Some(SignatureType::CertRevocation))
                .filter(|s| s.verify_certification(primary, Tag::UserId, &user.id).is_ok())
                .collect();
            if !valid.is_empty() && user_id.is_none() {
                user_id = Some(String::from_utf8_lossy(user.id.id()).into_owned());
            }
            self_sigs.extend(valid);
        }
        self_sigs.extend(key.details.direct_signatures.iter().filter(|s| s.verify_key(primary).is_ok()));
        if self_sigs.is_empty() {
            return Err(VerifyError::trust(
                at,
                format!("key {primary_fingerprint} has no valid self-signature (user id binding)"),
            ));
        }
        let primary_expires = expiry(created, newest(self_sigs.iter().copied()));
        let primary_revoked = key
            .details
            .revocation_signatures
            .iter()
            .find(|s| s.verify_key(primary).is_ok())
            .map(revocation_reason);

        let cert = Arc::new(key.clone());
        let mut set = vec![Candidate {
            trust_index,
            cert: cert.clone(),
            subkey: None,
            primary_fingerprint: primary_fingerprint.clone(),
            fingerprint: primary_fingerprint.clone(),
            user_id: user_id.clone(),
            created,
            expires: primary_expires,
            revoked: primary_revoked.clone(),
        }];
        for (i, sub) in key.public_subkeys.iter().enumerate() {
            let bindings = sub
                .signatures
                .iter()
                .filter(|s| s.typ() == Some(SignatureType::SubkeyBinding))
                .filter(|s| s.verify_subkey_binding(primary, &sub.key).is_ok());
            let Some(binding) = newest(bindings) else { continue };
            if !binding.key_flags().sign() {
                continue;
            }
            // A signing subkey must sign its primary back, or anyone could claim it.
            let backed = binding
                .embedded_signature()
                .is_some_and(|b| b.verify_primary_key_binding(&sub.key, primary).is_ok());
            if !backed {
                continue;
            }
            let sub_created = i64::from(sub.key.created_at().as_secs());
            let sub_expires = expiry(sub_created, Some(binding));
            let expires = match (primary_expires, sub_expires) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            let sub_revoked = sub
                .signatures
                .iter()
                .filter(|s| s.typ() == Some(SignatureType::SubkeyRevocation))
                .find(|s| s.verify_subkey_binding(primary, &sub.key).is_ok())
                .map(revocation_reason);
            set.push(Candidate {
                trust_index,
                cert: cert.clone(),
                subkey: Some(i),
                primary_fingerprint: primary_fingerprint.clone(),
                fingerprint: hex(sub.key.fingerprint().as_bytes()),
                user_id: user_id.clone(),
                created: sub_created,
                expires,
                revoked: primary_revoked.clone().or(sub_revoked),
            });
        }
        Ok(CandidateSet(set))
    }
}

impl GpgTrust {
    pub(crate) fn new(sets: Vec<CandidateSet>) -> GpgTrust {
        let candidates: Vec<Candidate> = sets.into_iter().flat_map(|s| s.0).collect();
        let mut by_key_id: HashMap<[u8; 8], Vec<usize>> = HashMap::new();
        for (i, c) in candidates.iter().enumerate() {
            let id = match c.subkey {
                None => c.cert.legacy_key_id(),
                Some(s) => c.cert.public_subkeys[s].key.legacy_key_id(),
            };
            by_key_id.entry(key_id_bytes(&id)).or_default().push(i);
        }
        GpgTrust { candidates, by_key_id }
    }

    pub(crate) fn verify(&self, split: &Split<'_>) -> Result<Verified, Refusal> {
        let text = std::str::from_utf8(&split.signature).map_err(|_| Refusal::Malformed {
            kind: SignatureKind::Gpg,
            message: "the armored signature is not UTF-8".into(),
        })?;
        let (detached, _) = DetachedSignature::from_string(text)
            .map_err(|e| Refusal::Malformed { kind: SignatureKind::Gpg, message: e.to_string() })?;
        let sig = &detached.signature;
        if !matches!(sig.typ(), Some(SignatureType::Binary | SignatureType::Text)) {
            return Err(Refusal::Malformed {
                kind: SignatureKind::Gpg,
                message: format!("a {:?} signature is not a signature over data", sig.typ()),
            });
        }
        let issuer_fprs: Vec<String> = sig.issuer_fingerprint().iter().map(|f| hex(f.as_bytes())).collect();
        let mut ids: Vec<[u8; 8]> = sig.issuer_key_id().iter().map(|id| key_id_bytes(id)).collect();
        // v4 fingerprints end in the key id; v6 start with it.
        for f in sig.issuer_fingerprint() {
            let b = f.as_bytes();
            if b.len() == 20 {
                ids.push(key_id_bytes(&pgp::types::KeyId::from(
                    <[u8; 8]>::try_from(&b[12..]).unwrap_or([0; 8]),
                )));
            } else if b.len() >= 8 {
                ids.push(key_id_bytes(&pgp::types::KeyId::from(
                    <[u8; 8]>::try_from(&b[..8]).unwrap_or([0; 8]),
                )));
            }
        }
        let named = issuer_fprs
            .first()
            .cloned()
            .or_else(|| ids.first().map(|id| hex(id)))
            .unwrap_or_else(|| "(none named)".into());
        let candidates: Vec<&Candidate> = {
            let mut seen = Vec::new();
            for id in &ids {
                for &i in self.by_key_id.get(id).into_iter().flatten() {
                    if !seen.contains(&i) {
                        seen.push(i);
                    }
                }
            }
            seen.into_iter()
                .map(|i| &self.candidates[i])
                .filter(|c| issuer_fprs.is_empty() || issuer_fprs.contains(&c.fingerprint))
                .collect()
        };
        if candidates.is_empty() {
            return Err(Refusal::UnknownKey { fingerprint: named });
        }
        let mut refusal = None;
        for c in candidates {
            let checked = match c.subkey {
                None => sig.verify(&c.cert.primary_key, &*split.payload),
                Some(s) => sig.verify(&c.cert.public_subkeys[s].key, &*split.payload),
            };
            if let Err(e) = checked {
                refusal.get_or_insert(Refusal::BadSignature {
                    fingerprint: c.fingerprint.clone(),
                    message: e.to_string(),
                });
                continue;
            }
            if let Some(reason) = &c.revoked {
                return Err(Refusal::Revoked { fingerprint: c.fingerprint.clone(), reason: reason.clone() });
            }
            let Some(signed) = sig.created().map(|t| i64::from(t.as_secs())) else {
                return Err(Refusal::Malformed {
                    kind: SignatureKind::Gpg,
                    message: "the signature has no creation time".into(),
                });
            };
            if signed < c.created {
                return Err(Refusal::NotYetValid {
                    fingerprint: c.fingerprint.clone(),
                    detail: format!("key created {}, signed at {}", fmt_time(c.created), fmt_time(signed)),
                });
            }
            if let Some(exp) = c.expires
                && signed >= exp
            {
                return Err(Refusal::Expired {
                    fingerprint: c.fingerprint.clone(),
                    detail: format!("key expired {}, signed at {}", fmt_time(exp), fmt_time(signed)),
                });
            }
            let signing_key = (c.fingerprint != c.primary_fingerprint).then(|| c.fingerprint.clone());
            let who = c.user_id.as_deref().unwrap_or("(no user id)");
            return Ok(Verified {
                signer: SignerIdentity {
                    kind: SignatureKind::Gpg,
                    fingerprint: Some(c.primary_fingerprint.clone()),
                    signing_key,
                    subject: None,
                    issuer: None,
                    identity: c.user_id.clone(),
                    signed_at: u64::try_from(signed).ok(),
                    signed_at_proven: false,
                },
                trust_index: c.trust_index,
                details: format!(
                    "good OpenPGP signature by {} ({who}), key {}",
                    c.primary_fingerprint, c.fingerprint
                ),
            });
        }
        Err(refusal.unwrap_or(Refusal::UnknownKey { fingerprint: named }))
    }
}
