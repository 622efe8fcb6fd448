//! Offline Rekor evidence for gitsign signatures: the transparency-log entry gitsign embeds in
//! the CMS signature (unsigned attribute `1.3.6.1.4.1.57264.3.1`, a protobuf
//! `dev.sigstore.rekor.v1.TransparencyLogEntry`), checked against the configured Rekor public
//! keys by its signed entry timestamp (SET).
//!
//! The entry's body is not stored in the signature; like gitsign, we rebuild the canonical
//! `hashedrekord` v0.0.1 body from the signature itself (SHA-256 of the signed attributes, the
//! signature, the leaf certificate as PEM), so a SET only verifies for this very signature.
//! What is not checked: the Merkle inclusion proof and checkpoint (the SET is the log's signed
//! promise of inclusion, and what gives the integrated time).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use der::Decode;
use driftless_core::spec::RekorSpec;
use prost::Message;
use sha2::{Digest, Sha256};

use crate::VerifyError;

/// The fields of `dev.sigstore.rekor.v1.TransparencyLogEntry` this check needs (protobuf field
/// numbers as in sigstore's protobuf-specs); the others are skipped when decoding.
#[derive(Clone, PartialEq, Message)]
pub(crate) struct TransparencyLogEntry {
    /// `log_index`.
    #[prost(int64, tag = "1")]
    pub log_index: i64,
    /// `log_id`.
    #[prost(message, optional, tag = "2")]
    pub log_id: Option<LogId>,
    /// `integrated_time`, seconds since the epoch.
    #[prost(int64, tag = "4")]
    pub integrated_time: i64,
    /// `inclusion_promise`.
    #[prost(message, optional, tag = "5")]
    pub inclusion_promise: Option<InclusionPromise>,
}

/// `dev.sigstore.common.v1.LogId`.
#[derive(Clone, PartialEq, Message)]
pub(crate) struct LogId {
    /// SHA-256 of the log's public key (DER SubjectPublicKeyInfo).
    #[prost(bytes = "vec", tag = "1")]
    pub key_id: Vec<u8>,
}

/// `dev.sigstore.rekor.v1.InclusionPromise`.
#[derive(Clone, PartialEq, Message)]
pub(crate) struct InclusionPromise {
    /// The SET: the log's signature over the canonical entry summary.
    #[prost(bytes = "vec", tag = "1")]
    pub signed_entry_timestamp: Vec<u8>,
}

/// One trusted Rekor key.
struct LogKey {
    /// SHA-256 of the SubjectPublicKeyInfo: the log id.
    id: [u8; 32],
    alg: &'static ring::signature::EcdsaVerificationAlgorithm,
    point: Vec<u8>,
}

/// The configured Rekor keys of one gitsign trust entry.
pub(crate) struct RekorKeys {
    keys: Vec<LogKey>,
}

const EC_PUBLIC_KEY: der::asn1::ObjectIdentifier =
    der::asn1::ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const P256: der::asn1::ObjectIdentifier = der::asn1::ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const P384: der::asn1::ObjectIdentifier = der::asn1::ObjectIdentifier::new_unwrap("1.3.132.0.34");

/// Reads `rekor.publicKeys`: one or more PEM `PUBLIC KEY` blocks (ECDSA P-256 or P-384, as
/// Rekor uses).
pub(crate) fn parse_keys(at: &str, spec: &RekorSpec) -> Result<RekorKeys, VerifyError> {
    const BEGIN: &str = "-----BEGIN ";
    let text = &spec.public_keys;
    let mut keys = Vec::new();
    let starts: Vec<usize> = text.match_indices(BEGIN).map(|(i, _)| i).collect();
    for (n, &start) in starts.iter().enumerate() {
        let end = starts.get(n + 1).copied().unwrap_or(text.len());
        let block = &text[start..end];
        let here = format!("{at} key {}", n + 1);
        let (label, der) = pem_rfc7468::decode_vec(block.trim().as_bytes())
            .map_err(|e| VerifyError::trust(&here, format!("cannot read the PEM block: {e}")))?;
        if label != "PUBLIC KEY" {
            return Err(VerifyError::trust(&here, format!("expected a PUBLIC KEY block, found {label:?}")));
        }
        let spki = spki::SubjectPublicKeyInfoRef::from_der(&der)
            .map_err(|e| VerifyError::trust(&here, format!("not a public key: {e}")))?;
        let curve = spki.algorithm.parameters_oid().ok();
        let alg: &'static ring::signature::EcdsaVerificationAlgorithm = match (spki.algorithm.oid, curve) {
            (EC_PUBLIC_KEY, Some(P256)) => &ring::signature::ECDSA_P256_SHA256_ASN1,
            (EC_PUBLIC_KEY, Some(P384)) => &ring::signature::ECDSA_P384_SHA384_ASN1,
            (oid, _) => {
                return Err(VerifyError::trust(
                    &here,
                    format!("unsupported key type {oid} (Rekor keys are ECDSA P-256 or P-384)"),
                ));
            }
        };
        let point = spki
            .subject_public_key
            .as_bytes()
            .ok_or_else(|| VerifyError::trust(&here, "the key's bit string is not whole bytes"))?
            .to_vec();
        keys.push(LogKey { id: Sha256::digest(&der).into(), alg, point });
    }
    if keys.is_empty() {
        return Err(VerifyError::trust(at, "no `-----BEGIN PUBLIC KEY-----` block found"));
    }
    Ok(RekorKeys { keys })
}

/// The pieces of a gitsign signature the log entry was made for.
pub(crate) struct Signed<'a> {
    /// DER of the signed attributes, SET-tagged: the "message" gitsign logs.
    pub signed_attrs: &'a [u8],
    /// The signature over them.
    pub signature: &'a [u8],
    /// The leaf certificate, DER.
    pub leaf_der: &'a [u8],
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Go's `pem.EncodeToMemory` for a certificate: 64-column lines, a final newline.
fn certificate_pem(der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let mut out = String::from("-----BEGIN CERTIFICATE-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str("-----END CERTIFICATE-----\n");
    out
}

/// The canonical (RFC 8785) JSON of the `hashedrekord` v0.0.1 entry for this signature. All
/// values are hex or base64, so no escaping is needed.
pub(crate) fn hashedrekord_body(signed: &Signed<'_>) -> String {
    format!(
        r#"{{"apiVersion":"0.0.1","kind":"hashedrekord","spec":{{"data":{{"hash":{{"algorithm":"sha256","value":"{}"}}}},"signature":{{"content":"{}","publicKey":{{"content":"{}"}}}}}}}}"#,
        hex(&Sha256::digest(signed.signed_attrs)),
        STANDARD.encode(signed.signature),
        STANDARD.encode(certificate_pem(signed.leaf_der)),
    )
}

/// The canonical JSON the SET signs.
pub(crate) fn set_payload(body: &str, integrated_time: i64, log_id: &[u8], log_index: i64) -> String {
    format!(
        r#"{{"body":"{}","integratedTime":{integrated_time},"logID":"{}","logIndex":{log_index}}}"#,
        STANDARD.encode(body),
        hex(log_id)
    )
}

impl RekorKeys {
    /// Checks the entry's SET; returns the integrated time it proves.
    pub(crate) fn verify(&self, entry_proto: &[u8], signed: &Signed<'_>) -> Result<i64, String> {
        let entry = TransparencyLogEntry::decode(entry_proto)
            .map_err(|e| format!("the embedded Rekor entry is not a TransparencyLogEntry: {e}"))?;
        let log_id = entry.log_id.as_ref().map(|l| l.key_id.as_slice()).unwrap_or_default();
        let key = self.keys.iter().find(|k| k.id.as_slice() == log_id).ok_or_else(|| {
            format!("the Rekor entry is from log {}, not one of rekor.publicKeys", hex(log_id))
        })?;
        let set = entry
            .inclusion_promise
            .as_ref()
            .map(|p| p.signed_entry_timestamp.as_slice())
            .filter(|s| !s.is_empty())
            .ok_or("the Rekor entry has no signed entry timestamp (inclusion promise)")?;
        let body = hashedrekord_body(signed);
        let payload = set_payload(&body, entry.integrated_time, log_id, entry.log_index);
        ring::signature::UnparsedPublicKey::new(key.alg, &key.point)
            .verify(payload.as_bytes(), set)
            .map_err(|_| {
                "the Rekor signed entry timestamp does not verify for this signature (a different \
                 signature, certificate or log entry)"
                    .to_string()
            })?;
        Ok(entry.integrated_time)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries_are_canonical_json() {
        let signed = Signed { signed_attrs: b"attrs", signature: b"sig", leaf_der: b"cert" };
        let body = hashedrekord_body(&signed);
        let parsed: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        assert_eq!(parsed["spec"]["signature"]["content"], "c2ln");
        assert!(body.starts_with(r#"{"apiVersion":"0.0.1","kind":"hashedrekord","spec":{"data":{"hash":{"algorithm":"sha256","value":""#));
        assert_eq!(
            certificate_pem(&[0u8; 60]),
            "-----BEGIN CERTIFICATE-----\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\nAAAAAAAAAAAAAAAA\n-----END CERTIFICATE-----\n"
        );
        assert_eq!(
            set_payload("{}", 5, &[0xab, 0x01], 7),
            r#"{"body":"e30=","integratedTime":5,"logID":"ab01","logIndex":7}"#
        );
    }
}
