//! sigstore gitsign: a detached CMS (PKCS #7) signature, PEM-armored as `SIGNED MESSAGE`, by a
//! short-lived Fulcio certificate.
//!
//! Checked, in order: the CMS structure; the `messageDigest` signed attribute against the
//! payload; the signature over the signed attributes with the leaf's key; the leaf's chain to a
//! configured Fulcio root (code-signing usage) at the CMS `signingTime`; the SAN identity (exact
//! or a regular expression over the whole SAN); the Fulcio OIDC-issuer extension; and
//! transparency-log evidence (the Rekor entry gitsign embeds, see [`crate::rekor`]), required
//! with `requireTlog`.

use std::collections::HashMap;
use std::sync::Mutex;

use cms::cert::CertificateChoices;
use cms::content_info::ContentInfo;
use cms::signed_data::{SignedData, SignerIdentifier, SignerInfo};
use der::asn1::{ObjectIdentifier, OctetStringRef, Utf8StringRef};
use der::{Decode, Encode};
use driftless_core::spec::GitsignTrust;
use regex::Regex;
use rustls_pki_types::{CertificateDer, TrustAnchor, UnixTime};
use sha2::{Digest, Sha256, Sha384, Sha512};
use webpki::{EndEntityCert, KeyUsage};
use x509_cert::Certificate;
use x509_cert::ext::pkix::SubjectAltName;
use x509_cert::ext::pkix::name::GeneralName;

use crate::object::Split;
use crate::{Refusal, SignatureKind, SignerIdentity, Verified, VerifyError, fmt_time};

const ID_SIGNED_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.2");
const MESSAGE_DIGEST: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.4");
const SIGNING_TIME: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.5");
const SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
const SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.2");
const SHA512: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.3");
const SAN: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.17");
/// Fulcio's OIDC issuer, current form (a DER UTF8String).
const FULCIO_ISSUER_V2: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.8");
/// Fulcio's OIDC issuer, legacy form (the raw string as the extension value).
const FULCIO_ISSUER_V1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.1");
/// gitsign's Rekor `TransparencyLogEntry` (protobuf), carried as an unsigned CMS attribute.
const REKOR_TLOG_ENTRY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.3.1");
/// id-kp-codeSigning (1.3.6.1.5.5.7.3.3), DER value bytes, as webpki wants it.
const EKU_CODE_SIGNING: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x03];
/// Cached chain verdicts kept at most; a full cache is cleared (gitsign leaves live minutes, so
/// old entries are worthless anyway).
const CACHE_LIMIT: usize = 4096;

fn malformed(message: impl Into<String>) -> Refusal {
    Refusal::Malformed { kind: SignatureKind::Gitsign, message: message.into() }
}

/// How the certificate identity is matched.
enum IdentityMatch {
    Exact(String),
    Pattern(Regex, String),
}

impl IdentityMatch {
    fn matches(&self, san: &str) -> bool {
        match self {
            IdentityMatch::Exact(s) => s == san,
            IdentityMatch::Pattern(re, _) => re.is_match(san),
        }
    }

    fn describe(&self) -> String {
        match self {
            IdentityMatch::Exact(s) => format!("{s:?}"),
            IdentityMatch::Pattern(_, p) => format!("pattern {p:?}"),
        }
    }
}

/// A leaf whose chain verified: the window in which its whole chain is valid.
type ChainVerdict = Result<(i64, i64), String>;

/// One `gitsign` trust entry.
pub(crate) struct GitsignEntry {
    index: usize,
    identity: IdentityMatch,
    issuer: String,
    require_tlog: bool,
    rekor: Option<crate::rekor::RekorKeys>,
    anchors: Vec<TrustAnchor<'static>>,
    intermediates: Vec<CertificateDer<'static>>,
    chain_cache: Mutex<HashMap<[u8; 32], ChainVerdict>>,
}

/// Reads PEM certificates: self-signed ones become trust anchors, the others intermediates.
fn read_roots(
    at: &str,
    pem: &str,
) -> Result<(Vec<TrustAnchor<'static>>, Vec<CertificateDer<'static>>), VerifyError> {
    let certs = Certificate::load_pem_chain(pem.as_bytes())
        .map_err(|e| VerifyError::trust(at, format!("cannot read the PEM certificates: {e}")))?;
    let mut anchors = Vec::new();
    let mut intermediates = Vec::new();
    for (n, cert) in certs.iter().enumerate() {
        let der = cert.to_der().map_err(|e| VerifyError::trust(at, format!("certificate {}: {e}", n + 1)))?;
        let der = CertificateDer::from(der);
        if cert.tbs_certificate.subject == cert.tbs_certificate.issuer {
            let anchor = webpki::anchor_from_trusted_cert(&der)
                .map_err(|e| {
                    VerifyError::trust(at, format!("certificate {}: not a usable root: {e:?}", n + 1))
                })?
                .to_owned();
            anchors.push(anchor);
        } else {
            intermediates.push(der);
        }
    }
    if anchors.is_empty() {
        return Err(VerifyError::trust(at, "no self-signed root certificate among the PEM certificates"));
    }
    Ok((anchors, intermediates))
}

pub(crate) fn parse(index: usize, spec: &GitsignTrust) -> Result<GitsignEntry, VerifyError> {
    let at = |field: &str| format!("trust[{index}].gitsign.{field}");
    let identity = match (spec.identity.as_deref(), spec.identity_regexp.as_deref()) {
        (Some(id), None) if !id.trim().is_empty() => IdentityMatch::Exact(id.to_string()),
        (None, Some(p)) if !p.trim().is_empty() => {
            let re = Regex::new(&format!("^(?:{p})$")).map_err(|e| {
                VerifyError::trust(at("identityRegexp"), format!("not a regular expression: {e}"))
            })?;
            IdentityMatch::Pattern(re, p.to_string())
        }
        _ => {
            return Err(VerifyError::trust(
                format!("trust[{index}].gitsign"),
                "exactly one of `identity` and `identityRegexp` is needed",
            ));
        }
    };
    if spec.issuer.trim().is_empty() {
        return Err(VerifyError::trust(at("issuer"), "must not be empty"));
    }
    let (anchors, intermediates) = read_roots(&at("fulcioRoots"), &spec.fulcio_roots)?;
    let rekor =
        spec.rekor.as_ref().map(|r| crate::rekor::parse_keys(&at("rekor.publicKeys"), r)).transpose()?;
    if spec.require_tlog && rekor.is_none() {
        return Err(VerifyError::trust(
            at("rekor"),
            "needed when `requireTlog` is true (the default): the Rekor public key(s) to check \
             transparency-log evidence with",
        ));
    }
    Ok(GitsignEntry {
        index,
        identity,
        issuer: spec.issuer.clone(),
        require_tlog: spec.require_tlog,
        rekor,
        anchors,
        intermediates,
        chain_cache: Mutex::new(HashMap::new()),
    })
}

/// The parts of a CMS signature every trust entry looks at, parsed once per object.
pub(crate) struct Parsed {
    leaf: Certificate,
    leaf_der: Vec<u8>,
    leaf_sha256: [u8; 32],
    extra_certs: Vec<CertificateDer<'static>>,
    signing_time: i64,
    /// DER of the signed attributes (what the signature covers, and what gitsign logs).
    signed_attrs: Vec<u8>,
    /// The signature value.
    signature: Vec<u8>,
    /// The embedded Rekor `TransparencyLogEntry` (protobuf), when there is one.
    tlog_entry: Option<Vec<u8>>,
}

fn signer_matches(sid: &SignerIdentifier, cert: &Certificate) -> bool {
    match sid {
        SignerIdentifier::IssuerAndSerialNumber(ias) => {
            ias.issuer == cert.tbs_certificate.issuer
                && ias.serial_number == cert.tbs_certificate.serial_number
        }
        SignerIdentifier::SubjectKeyIdentifier(ski) => cert
            .tbs_certificate
            .extensions
            .iter()
            .flatten()
            .filter(|e| e.extn_id == ObjectIdentifier::new_unwrap("2.5.29.14"))
            .any(|e| {
                OctetStringRef::from_der(e.extn_value.as_bytes())
                    .is_ok_and(|o| o.as_bytes() == ski.0.as_bytes())
            }),
    }
}

fn time_of(t: &x509_cert::time::Time) -> i64 {
    i64::try_from(t.to_unix_duration().as_secs()).unwrap_or(i64::MAX)
}

/// Parses the CMS structure and checks what does not depend on a trust entry: the content
/// digest and the signature by the leaf's key.
pub(crate) fn check_signature(split: &Split<'_>) -> Result<Parsed, Refusal> {
    let (label, der) =
        pem_rfc7468::decode_vec(&split.signature).map_err(|e| malformed(format!("PEM: {e}")))?;
    if label != "SIGNED MESSAGE" {
        return Err(malformed(format!("unexpected PEM label {label:?}")));
    }
    let ci = ContentInfo::from_der(&der).map_err(|e| malformed(format!("CMS ContentInfo: {e}")))?;
    if ci.content_type != ID_SIGNED_DATA {
        return Err(malformed(format!("content type {} is not signed-data", ci.content_type)));
    }
    let sd: SignedData = ci.content.decode_as().map_err(|e| malformed(format!("CMS SignedData: {e}")))?;
    if sd.encap_content_info.econtent.is_some() {
        return Err(malformed("the signature is not detached (it embeds content)"));
    }
    let mut infos = sd.signer_infos.0.iter();
    let (Some(info), None) = (infos.next(), infos.next()) else {
        return Err(malformed("expected exactly one signer"));
    };
    let certs: Vec<&Certificate> = sd
        .certificates
        .as_ref()
        .map(|set| {
            set.0
                .iter()
                .filter_map(|c| match c {
                    CertificateChoices::Certificate(c) => Some(c),
                    CertificateChoices::Other(_) => None,
                })
                .collect()
        })
        .unwrap_or_default();
    let leaf = certs
        .iter()
        .find(|c| signer_matches(&info.sid, c))
        .ok_or_else(|| malformed("the signer's certificate is not in the signature"))?;
    let leaf_der = leaf.to_der().map_err(|e| malformed(format!("certificate: {e}")))?;
    let extra_certs = certs
        .iter()
        .filter(|c| !std::ptr::eq(**c, *leaf))
        .filter_map(|c| c.to_der().ok())
        .map(CertificateDer::from)
        .collect();
    let fingerprint = hex(&Sha256::digest(&leaf_der));

    let (signed_attrs, signing_time) = check_attributes(info, &split.payload)?;
    let leaf_cert_der = CertificateDer::from(leaf_der.as_slice());
    let ee = EndEntityCert::try_from(&leaf_cert_der)
        .map_err(|e| malformed(format!("the signer's certificate: {e:?}")))?;
    verify_signed_attrs(&ee, info, &signed_attrs)
        .map_err(|message| Refusal::BadSignature { fingerprint: fingerprint.clone(), message })?;
    Ok(Parsed {
        leaf: (*leaf).clone(),
        leaf_sha256: Sha256::digest(&leaf_der).into(),
        leaf_der,
        extra_certs,
        signing_time,
        signature: info.signature.as_bytes().to_vec(),
        tlog_entry: tlog_entry(info)?,
        signed_attrs,
    })
}

/// The Rekor entry in the unsigned attributes: one attribute, one OCTET STRING value.
fn tlog_entry(info: &SignerInfo) -> Result<Option<Vec<u8>>, Refusal> {
    let Some(attrs) = &info.unsigned_attrs else { return Ok(None) };
    let mut found = attrs.iter().filter(|a| a.oid == REKOR_TLOG_ENTRY);
    match (found.next(), found.next()) {
        (None, _) => Ok(None),
        (Some(a), None) if a.values.len() == 1 => a
            .values
            .get(0)
            .map(|v| v.decode_as::<OctetStringRef<'_>>().map(|o| o.as_bytes().to_vec()))
            .transpose()
            .map_err(|e| malformed(format!("the Rekor entry attribute: {e}"))),
        _ => Err(malformed("expected at most one Rekor entry attribute with one value")),
    }
}

/// Checks `messageDigest` against the payload; returns the DER of the signed attributes (the
/// bytes the signature covers) and the `signingTime`.
fn check_attributes(info: &SignerInfo, payload: &[u8]) -> Result<(Vec<u8>, i64), Refusal> {
    let attrs = info.signed_attrs.as_ref().ok_or_else(|| malformed("no signed attributes"))?;
    let one = |oid: ObjectIdentifier, name: &str| {
        let mut found = attrs.iter().filter(|a| a.oid == oid);
        match (found.next(), found.next()) {
            (Some(a), None) if a.values.len() == 1 => Ok(a.values.get(0)),
            _ => Err(malformed(format!("expected exactly one {name} attribute"))),
        }
    };
    let digest_value = one(MESSAGE_DIGEST, "messageDigest")?
        .ok_or_else(|| malformed("empty messageDigest"))?
        .decode_as::<OctetStringRef<'_>>()
        .map_err(|e| malformed(format!("messageDigest: {e}")))?;
    let computed: Vec<u8> = match info.digest_alg.oid {
        SHA256 => Sha256::digest(payload).to_vec(),
        SHA384 => Sha384::digest(payload).to_vec(),
        SHA512 => Sha512::digest(payload).to_vec(),
        other => return Err(malformed(format!("unsupported digest algorithm {other}"))),
    };
    let fingerprint = "(signer certificate)".to_string();
    if computed != digest_value.as_bytes() {
        return Err(Refusal::BadSignature {
            fingerprint,
            message: "the content does not match the signed digest (the commit was changed after signing)"
                .into(),
        });
    }
    let time = one(SIGNING_TIME, "signingTime")?
        .ok_or_else(|| malformed("empty signingTime"))?
        .to_der()
        .and_then(|der| x509_cert::time::Time::from_der(&der))
        .map_err(|e| malformed(format!("signingTime: {e}")))?;
    let der = attrs.to_der().map_err(|e| malformed(format!("signed attributes: {e}")))?;
    Ok((der, time_of(&time)))
}

fn verify_signed_attrs(ee: &EndEntityCert<'_>, info: &SignerInfo, signed: &[u8]) -> Result<(), String> {
    use webpki::ring as alg;
    let candidates: &[&dyn rustls_pki_types::SignatureVerificationAlgorithm] = match info.digest_alg.oid {
        SHA256 => &[alg::ECDSA_P256_SHA256, alg::ECDSA_P384_SHA256, alg::RSA_PKCS1_2048_8192_SHA256],
        SHA384 => &[alg::ECDSA_P384_SHA384, alg::ECDSA_P256_SHA384, alg::RSA_PKCS1_2048_8192_SHA384],
        SHA512 => &[alg::RSA_PKCS1_2048_8192_SHA512, alg::ED25519],
        other => return Err(format!("unsupported digest algorithm {other}")),
    };
    let sig = info.signature.as_bytes();
    let mut last = String::from("no algorithm fits the certificate's key");
    for a in candidates {
        match ee.verify_signature(*a, signed, sig) {
            Ok(()) => return Ok(()),
            Err(webpki::Error::UnsupportedSignatureAlgorithmForPublicKeyContext(_)) => continue,
            Err(e) => last = format!("{e:?}"),
        }
    }
    Err(last)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn sans(cert: &Certificate) -> Vec<String> {
    let mut out = Vec::new();
    for ext in cert.tbs_certificate.extensions.iter().flatten().filter(|e| e.extn_id == SAN) {
        if let Ok(san) = SubjectAltName::from_der(ext.extn_value.as_bytes()) {
            for name in san.0 {
                match name {
                    GeneralName::Rfc822Name(s) => out.push(s.to_string()),
                    GeneralName::UniformResourceIdentifier(s) => out.push(s.to_string()),
                    _ => {}
                }
            }
        }
    }
    out
}

fn oidc_issuer(cert: &Certificate) -> Option<String> {
    let exts: Vec<_> = cert.tbs_certificate.extensions.iter().flatten().collect();
    if let Some(e) = exts.iter().find(|e| e.extn_id == FULCIO_ISSUER_V2) {
        return Utf8StringRef::from_der(e.extn_value.as_bytes()).ok().map(|s| s.as_str().to_string());
    }
    let e = exts.iter().find(|e| e.extn_id == FULCIO_ISSUER_V1)?;
    std::str::from_utf8(e.extn_value.as_bytes()).ok().map(str::to_string)
}

fn has_code_signing(cert: &Certificate) -> bool {
    const EKU: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.37");
    const CODE_SIGNING: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.3");
    cert.tbs_certificate.extensions.iter().flatten().filter(|e| e.extn_id == EKU).any(|e| {
        x509_cert::ext::pkix::ExtendedKeyUsage::from_der(e.extn_value.as_bytes())
            .is_ok_and(|eku| eku.0.contains(&CODE_SIGNING))
    })
}

fn validity(der: &[u8]) -> Option<(i64, i64)> {
    let c = Certificate::from_der(der).ok()?;
    let v = &c.tbs_certificate.validity;
    Some((time_of(&v.not_before), time_of(&v.not_after)))
}

impl GitsignEntry {
    /// Verifies the chain at `time` (cached per leaf: the chain's validity window is stored, so
    /// another signing time by the same certificate only costs a comparison).
    fn chain(&self, parsed: &Parsed) -> ChainVerdict {
        let t = parsed.signing_time;
        if let Ok(cache) = self.chain_cache.lock()
            && let Some(verdict) = cache.get(&parsed.leaf_sha256)
        {
            return match verdict {
                Ok((from, to)) if (*from..=*to).contains(&t) => Ok((*from, *to)),
                Ok((from, to)) => Err(outside(t, *from, *to)),
                Err(e) => Err(e.clone()),
            };
        }
        let verdict = self.chain_uncached(parsed);
        if let Ok(mut cache) = self.chain_cache.lock() {
            if cache.len() >= CACHE_LIMIT {
                cache.clear();
            }
            // Only successes are cached: a failure may depend on the time (an expired
            // intermediate), and failing objects need not be fast.
            if let Ok(window) = &verdict {
                cache.insert(parsed.leaf_sha256, Ok(*window));
            }
        }
        verdict
    }

    fn chain_uncached(&self, parsed: &Parsed) -> ChainVerdict {
        let leaf_der = CertificateDer::from(parsed.leaf_der.as_slice());
        let ee =
            EndEntityCert::try_from(&leaf_der).map_err(|e| format!("the signer's certificate: {e:?}"))?;
        let mut intermediates = self.intermediates.clone();
        intermediates.extend(parsed.extra_certs.iter().cloned());
        let Some((lfrom, lto)) = validity(&parsed.leaf_der) else {
            return Err("the signer's certificate has no readable validity".into());
        };
        let t = parsed.signing_time;
        if !(lfrom..=lto).contains(&t) {
            return Err(outside(t, lfrom, lto));
        }
        let time = UnixTime::since_unix_epoch(std::time::Duration::from_secs(u64::try_from(t).unwrap_or(0)));
        let path = ee
            .verify_for_usage(
                webpki::ALL_VERIFICATION_ALGS,
                &self.anchors,
                &intermediates,
                time,
                // Intermediates without the extension are fine (RFC 5280); the leaf's own
                // code-signing usage is required below.
                KeyUsage::required_if_present(EKU_CODE_SIGNING),
                None,
                None,
            )
            .map_err(|e| format!("the certificate does not chain to a configured Fulcio root for code signing at the signing time: {e:?}"))?;
        if !has_code_signing(&parsed.leaf) {
            return Err("the signer's certificate is not for code signing (extended key usage)".into());
        }
        let mut window = (lfrom, lto);
        for cert in path.intermediate_certificates() {
            if let Some((from, to)) = validity(cert.der().as_ref()) {
                window = (window.0.max(from), window.1.min(to));
            }
        }
        Ok(window)
    }

    pub(crate) fn verify(&self, parsed: &Parsed) -> Result<Verified, Refusal> {
        let fingerprint = hex(&parsed.leaf_sha256);
        let window = self.chain(parsed).map_err(|e| {
            if e.starts_with("signing time") {
                let (from, _) = validity(&parsed.leaf_der).unwrap_or((0, 0));
                if parsed.signing_time < from {
                    Refusal::NotYetValid { fingerprint: fingerprint.clone(), detail: e }
                } else {
                    Refusal::Expired { fingerprint: fingerprint.clone(), detail: e }
                }
            } else {
                Refusal::UntrustedChain(format!("trust[{}].gitsign: {e}", self.index))
            }
        })?;
        let sans = sans(&parsed.leaf);
        let Some(identity) = sans.iter().find(|s| self.identity.matches(s)) else {
            return Err(Refusal::IdentityMismatch {
                found: if sans.is_empty() { "none".into() } else { sans.join(", ") },
                expected: self.identity.describe(),
            });
        };
        let issuer = oidc_issuer(&parsed.leaf);
        if issuer.as_deref() != Some(self.issuer.as_str()) {
            return Err(Refusal::IssuerMismatch {
                found: issuer.unwrap_or_else(|| "none".into()),
                expected: self.issuer.clone(),
            });
        }
        // Transparency-log evidence: checked whenever Rekor keys are configured and the
        // signature carries an entry; required with `requireTlog`.
        let proven = match (&self.rekor, &parsed.tlog_entry) {
            (Some(keys), Some(entry)) => {
                let signed = crate::rekor::Signed {
                    signed_attrs: &parsed.signed_attrs,
                    signature: &parsed.signature,
                    leaf_der: &parsed.leaf_der,
                };
                let at = keys
                    .verify(entry, &signed)
                    .map_err(|e| Refusal::NoTlogEvidence(format!("trust[{}].gitsign: {e}", self.index)))?;
                if !(window.0..=window.1).contains(&at) {
                    return Err(Refusal::NoTlogEvidence(format!(
                        "trust[{}].gitsign: the log recorded the signature at {}, outside the certificate's validity {} .. {}",
                        self.index,
                        fmt_time(at),
                        fmt_time(window.0),
                        fmt_time(window.1)
                    )));
                }
                Some(at)
            }
            _ => None,
        };
        if self.require_tlog && proven.is_none() {
            let why = if parsed.tlog_entry.is_some() {
                "no Rekor keys to check the signature's log entry with"
            } else {
                "the signature carries no Rekor log entry"
            };
            return Err(Refusal::NoTlogEvidence(format!(
                "trust[{}].gitsign requires Rekor evidence (requireTlog: true): {why}; set \
                 requireTlog: false to accept gitsign signatures whose signing time is only the \
                 signer's claim",
                self.index
            )));
        }
        let signed_at = proven.unwrap_or(parsed.signing_time);
        Ok(Verified {
            signer: SignerIdentity {
                kind: SignatureKind::Gitsign,
                fingerprint: Some(fingerprint.clone()),
                signing_key: None,
                // Fulcio leaves have an empty subject.
                subject: Some(parsed.leaf.tbs_certificate.subject.to_string()).filter(|s| !s.is_empty()),
                issuer: Some(self.issuer.clone()),
                identity: Some(identity.clone()),
                signed_at: u64::try_from(signed_at).ok(),
                signed_at_proven: proven.is_some(),
            },
            trust_index: self.index,
            details: format!(
                "good gitsign signature by {identity} (issuer {}), certificate {fingerprint}; {}",
                self.issuer,
                match proven {
                    Some(t) => format!("logged in Rekor at {}", fmt_time(t)),
                    None => format!(
                        "signing time {} unproven (no transparency-log evidence)",
                        fmt_time(parsed.signing_time)
                    ),
                }
            ),
        })
    }
}

fn outside(t: i64, from: i64, to: i64) -> String {
    format!(
        "signing time {} is outside the certificate's validity {} .. {}",
        fmt_time(t),
        fmt_time(from),
        fmt_time(to)
    )
}
