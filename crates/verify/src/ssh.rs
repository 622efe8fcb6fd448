//! SSH signatures (SSHSIG, git's `gpg.format=ssh`) against git's `allowed_signers` format.
//!
//! What git does, and so what we do: git asks `ssh-keygen -Y find-principals` which lines of
//! the allowed-signers file hold the signing key (at the commit's committer time), then
//! `ssh-keygen -Y verify -n git`. The committer's e-mail is not compared with the principals;
//! the principals of the matching line are reported as the signer's identity.

use std::collections::HashMap;
use std::time::SystemTime;

use ssh_key::{HashAlg, PublicKey, SshSig, public::KeyData};

use crate::object::Split;
use crate::{Refusal, SignatureKind, SignerIdentity, Verified, VerifyError, fmt_time, unix};

/// The namespace git signs in.
const GIT_NAMESPACE: &str = "git";

/// One line of `allowed_signers`.
#[derive(Debug)]
pub(crate) struct Entry {
    trust_index: usize,
    line: usize,
    principals: String,
    key: PublicKey,
    namespaces: Option<Vec<String>>,
    valid_after: Option<i64>,
    valid_before: Option<i64>,
}

/// All SSH trust entries, indexed by key.
pub(crate) struct SshTrust {
    entries: Vec<Entry>,
    by_key: HashMap<KeyData, Vec<usize>>,
}

impl SshTrust {
    pub(crate) fn new(entries: Vec<Entry>) -> SshTrust {
        let mut by_key: HashMap<KeyData, Vec<usize>> = HashMap::new();
        for (i, e) in entries.iter().enumerate() {
            by_key.entry(e.key.key_data().clone()).or_default().push(i);
        }
        SshTrust { entries, by_key }
    }

    pub(crate) fn verify(&self, split: &Split<'_>, now: SystemTime) -> Result<Verified, Refusal> {
        let sig = SshSig::from_pem(&split.signature)
            .map_err(|e| Refusal::Malformed { kind: SignatureKind::Ssh, message: e.to_string() })?;
        let fingerprint = sig.public_key().fingerprint(HashAlg::Sha256).to_string();
        let Some(candidates) = self.by_key.get(sig.public_key()) else {
            return Err(Refusal::UnknownKey { fingerprint });
        };
        if sig.namespace() != GIT_NAMESPACE {
            return Err(Refusal::WrongNamespace(format!(
                "the signature was made for namespace {:?}, git signatures use \"git\"",
                sig.namespace()
            )));
        }
        // Same key, so any candidate's key checks the signature.
        let key = &self.entries[candidates[0]].key;
        key.verify(GIT_NAMESPACE, &split.payload, &sig).map_err(|e| Refusal::BadSignature {
            fingerprint: fingerprint.clone(),
            message: e.to_string(),
        })?;

        // Like git (`-Overify-time`), validity windows are checked at the committer's time.
        let at = split.timestamp.unwrap_or(unix(now) as i64);
        let mut refusal = None;
        for &i in candidates {
            let e = &self.entries[i];
            if let Some(ns) = &e.namespaces
                && !list_matches(ns, GIT_NAMESPACE)
            {
                refusal.get_or_insert(Refusal::WrongNamespace(format!(
                    "{} allows namespaces {:?}, not \"git\"",
                    e.location(),
                    ns.join(",")
                )));
                continue;
            }
            if let Some(after) = e.valid_after
                && at < after
            {
                refusal.get_or_insert(Refusal::NotYetValid {
                    fingerprint: fingerprint.clone(),
                    detail: format!(
                        "{} valid-after {}, signed at {}",
                        e.location(),
                        fmt_time(after),
                        fmt_time(at)
                    ),
                });
                continue;
            }
            if let Some(before) = e.valid_before
                && at > before
            {
                refusal.get_or_insert(Refusal::Expired {
                    fingerprint: fingerprint.clone(),
                    detail: format!(
                        "{} valid-before {}, signed at {}",
                        e.location(),
                        fmt_time(before),
                        fmt_time(at)
                    ),
                });
                continue;
            }
            return Ok(Verified {
                signer: SignerIdentity {
                    kind: SignatureKind::Ssh,
                    fingerprint: Some(fingerprint.clone()),
                    signing_key: None,
                    subject: None,
                    issuer: None,
                    identity: Some(e.principals.clone()),
                    signed_at: split.timestamp.and_then(|t| u64::try_from(t).ok()),
                    signed_at_proven: false,
                },
                trust_index: e.trust_index,
                details: format!("good SSH signature by {fingerprint} (principals {})", e.principals),
            });
        }
        Err(refusal.unwrap_or(Refusal::UnknownKey { fingerprint }))
    }
}

impl Entry {
    fn location(&self) -> String {
        format!("trust[{}].ssh.allowedSigners line {}", self.trust_index, self.line)
    }
}

/// OpenSSH's `match_pattern`: `*` any run, `?` one character.
fn pattern_matches(pattern: &str, s: &str) -> bool {
    fn rec(p: &[u8], s: &[u8]) -> bool {
        match p.split_first() {
            None => s.is_empty(),
            Some((b'*', rest)) => (0..=s.len()).any(|i| rec(rest, &s[i..])),
            Some((b'?', rest)) => !s.is_empty() && rec(rest, &s[1..]),
            Some((c, rest)) => s.first() == Some(c) && rec(rest, &s[1..]),
        }
    }
    rec(pattern.as_bytes(), s.as_bytes())
}

/// OpenSSH's `match_pattern_list`: any matching `!pattern` excludes, else any pattern includes.
fn list_matches(patterns: &[String], s: &str) -> bool {
    let mut matched = false;
    for p in patterns {
        match p.strip_prefix('!') {
            Some(neg) if pattern_matches(neg, s) => return false,
            Some(_) => {}
            None => matched |= pattern_matches(p, s),
        }
    }
    matched
}

/// Key types ssh-keygen accepts at the start of the key field.
fn looks_like_key(token: &str) -> bool {
    token.starts_with("ssh-") || token.starts_with("ecdsa-sha2-") || token.starts_with("sk-")
}

/// Splits off one whitespace-delimited token, honouring one leading `"..."` quote.
fn next_token(s: &str) -> Option<(&str, &str)> {
    let s = s.trim_start();
    if s.is_empty() {
        return None;
    }
    if let Some(rest) = s.strip_prefix('"') {
        let close = rest.find('"')?;
        return Some((&rest[..close], &rest[close + 1..]));
    }
    let end = s.find(char::is_whitespace).unwrap_or(s.len());
    Some((&s[..end], &s[end..]))
}

/// Splits the options field at the first whitespace outside quotes.
fn split_options(s: &str) -> (&str, &str) {
    let mut quoted = false;
    for (i, c) in s.char_indices() {
        match c {
            '"' => quoted = !quoted,
            c if c.is_whitespace() && !quoted => return (&s[..i], &s[i..]),
            _ => {}
        }
    }
    (s, "")
}

/// Splits options at commas outside quotes.
fn split_commas(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut quoted = false;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

/// `YYYYMMDD[HHMM[SS]][Z]`, as ssh-keygen reads `valid-after`/`valid-before`. ssh-keygen reads
/// a time without `Z` as local time; driftless runs in containers and clusters whose local
/// zone is UTC, and reads every time as UTC so a trust file means the same everywhere.
fn parse_ssh_time(value: &str) -> Result<i64, String> {
    let digits = value.strip_suffix(['Z', 'z']).unwrap_or(value);
    if !digits.bytes().all(|b| b.is_ascii_digit()) || ![8, 12, 14].contains(&digits.len()) {
        return Err(format!("time {value:?} is not YYYYMMDD[HHMM[SS]][Z]"));
    }
    let part = |r: std::ops::Range<usize>| digits.get(r).unwrap_or("00");
    let text = format!(
        "{}-{}-{}T{}:{}:{}Z",
        part(0..4),
        part(4..6),
        part(6..8),
        part(8..10),
        part(10..12),
        part(12..14)
    );
    let t = humantime::parse_rfc3339(&text).map_err(|e| format!("time {value:?}: {e}"))?;
    i64::try_from(unix(t)).map_err(|e| format!("time {value:?}: {e}"))
}

/// Parses `allowed_signers` text; errors name `trust[i].ssh.allowedSigners line n`.
pub(crate) fn parse_allowed_signers(trust_index: usize, text: &str) -> Result<Vec<Entry>, VerifyError> {
    let mut out = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let line_no = n + 1;
        let at = || format!("trust[{trust_index}].ssh.allowedSigners line {line_no}");
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (principals, rest) =
            next_token(line).ok_or_else(|| VerifyError::trust(at(), "missing principals"))?;
        if principals.is_empty() {
            return Err(VerifyError::trust(at(), "empty principals"));
        }
        let rest = rest.trim_start();
        let first = rest.split_whitespace().next().ok_or_else(|| VerifyError::trust(at(), "missing key"))?;
        let (options, key_text) = if looks_like_key(first) { ("", rest) } else { split_options(rest) };
        let key_text = key_text.trim();
        if key_text.is_empty() {
            return Err(VerifyError::trust(at(), "missing key after the options"));
        }
        let key = PublicKey::from_openssh(key_text).map_err(|e| {
            let kind = key_text.split_whitespace().next().unwrap_or("");
            VerifyError::trust(at(), format!("cannot read the {kind} public key: {e}"))
        })?;
        let mut entry = Entry {
            trust_index,
            line: line_no,
            principals: principals.to_string(),
            key,
            namespaces: None,
            valid_after: None,
            valid_before: None,
        };
        for opt in split_commas(options).into_iter().filter(|o| !o.is_empty()) {
            let (name, value) = match opt.split_once('=') {
                Some((n, v)) => (n, Some(v.trim_matches('"'))),
                None => (opt, None),
            };
            match (name.to_ascii_lowercase().as_str(), value) {
                ("cert-authority", None) => {
                    return Err(VerifyError::trust(
                        at(),
                        "`cert-authority` (SSH certificates) is not supported; list the signing keys themselves",
                    ));
                }
                ("namespaces", Some(v)) => {
                    entry.namespaces = Some(v.split(',').map(str::to_string).collect());
                }
                ("valid-after", Some(v)) => {
                    entry.valid_after = Some(parse_ssh_time(v).map_err(|e| VerifyError::trust(at(), e))?);
                }
                ("valid-before", Some(v)) => {
                    entry.valid_before = Some(parse_ssh_time(v).map_err(|e| VerifyError::trust(at(), e))?);
                }
                _ => return Err(VerifyError::trust(at(), format!("unknown option {opt:?}"))),
            }
        }
        if let (Some(a), Some(b)) = (entry.valid_after, entry.valid_before)
            && b < a
        {
            return Err(VerifyError::trust(at(), "valid-before is earlier than valid-after"));
        }
        out.push(entry);
    }
    if out.is_empty() {
        return Err(VerifyError::trust(
            format!("trust[{trust_index}].ssh.allowedSigners"),
            "no signers listed",
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICWxuiOkRIY4Kw4YYINJb2Cqyosq6LVdId7CWV/4LTUR comment";

    #[test]
    fn lines_with_and_without_options() {
        let text = format!(
            "# comment\n\nalice@example.com {KEY}\n\"bob@x,carol@x\" namespaces=\"git,file\",valid-after=\"20240101\",valid-before=\"20250101Z\" {KEY}\n"
        );
        let entries = parse_allowed_signers(2, &text).expect("parses");
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0].principals, "alice@example.com");
        assert_eq!(entries[0].line, 3);
        assert!(entries[0].namespaces.is_none());
        assert_eq!(entries[1].principals, "bob@x,carol@x");
        assert_eq!(entries[1].namespaces.as_deref(), Some(&["git".to_string(), "file".to_string()][..]));
        assert_eq!(entries[1].valid_after, Some(1_704_067_200));
        assert_eq!(entries[1].valid_before, Some(1_735_689_600));
    }

    #[test]
    fn errors_name_the_line() {
        let bad = |text: &str| match parse_allowed_signers(1, text) {
            Err(e) => e.to_string(),
            Ok(_) => panic!("accepted {text:?}"),
        };
        assert!(
            bad(&format!("a@x {KEY}\n\nb@x foo=1 {KEY}"))
                .starts_with("trust[1].ssh.allowedSigners line 3: unknown option")
        );
        assert!(bad(&format!("a@x cert-authority {KEY}")).contains("line 1: `cert-authority`"));
        assert!(bad("a@x ssh-ed25519 !!!").contains("line 1: cannot read the ssh-ed25519 public key"));
        assert!(bad(&format!("a@x valid-after=\"2024\" {KEY}")).contains("is not YYYYMMDD"));
        assert!(
            bad(&format!("a@x valid-after=\"20250101\",valid-before=\"20240101\" {KEY}")).contains("earlier")
        );
        assert!(bad("# only a comment\n").contains("no signers listed"));
        assert!(bad("lonely@x").contains("line 1: missing key"));
    }

    #[test]
    fn patterns() {
        assert!(pattern_matches("git", "git"));
        assert!(pattern_matches("g*", "git"));
        assert!(pattern_matches("g?t", "git"));
        assert!(!pattern_matches("file", "git"));
        assert!(!pattern_matches("g?", "git"));
        let list = |l: &[&str]| l.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(list_matches(&list(&["file", "g*"]), "git"));
        assert!(!list_matches(&list(&["*", "!git"]), "git"));
        assert!(!list_matches(&list(&["file"]), "git"));
    }
}
