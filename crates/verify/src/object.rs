//! Splitting a raw commit or tag into the signed payload and the signature, as git does.

use std::borrow::Cow;

/// The signature format, recognised from its armor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Armor {
    Pgp,
    Ssh,
    Cms,
}

impl Armor {
    fn of(line: &[u8]) -> Option<Armor> {
        const KNOWN: [(&[u8], Armor); 4] = [
            (b"-----BEGIN PGP SIGNATURE-----", Armor::Pgp),
            (b"-----BEGIN PGP MESSAGE-----", Armor::Pgp),
            (b"-----BEGIN SSH SIGNATURE-----", Armor::Ssh),
            (b"-----BEGIN SIGNED MESSAGE-----", Armor::Cms),
        ];
        KNOWN.iter().find(|(marker, _)| line.starts_with(marker)).map(|(_, a)| *a)
    }
}

/// A signed object taken apart.
#[derive(Debug)]
pub(crate) struct Split<'a> {
    /// What git hands the signing program: the object without its signature.
    pub payload: Cow<'a, [u8]>,
    /// The armored signature.
    pub signature: Vec<u8>,
    pub armor: Armor,
    /// The committer's (or tagger's) timestamp, seconds since the epoch, when present.
    pub timestamp: Option<i64>,
}

/// The outcome of splitting: unsigned, signed in a format we can read, or signed in one we
/// cannot.
#[derive(Debug)]
pub(crate) enum Parsed<'a> {
    Unsigned,
    Unrecognised,
    Signed(Split<'a>),
}

/// Header lines of an object: everything before the first empty line.
fn header_end(raw: &[u8]) -> usize {
    let mut pos = 0;
    while pos < raw.len() {
        let end = raw[pos..].iter().position(|&b| b == b'\n').map_or(raw.len(), |i| pos + i + 1);
        if &raw[pos..end] == b"\n" {
            return pos;
        }
        pos = end;
    }
    raw.len()
}

/// `committer NAME <EMAIL> 1700000000 +0000` → 1700000000 (likewise `tagger`).
fn header_time(headers: &[u8], field: &[u8]) -> Option<i64> {
    headers.split(|&b| b == b'\n').find_map(|line| {
        let rest = line.strip_prefix(field)?.strip_prefix(b" ")?;
        let close = rest.iter().rposition(|&b| b == b'>')?;
        let tail = std::str::from_utf8(&rest[close + 1..]).ok()?;
        tail.split_whitespace().next()?.parse().ok()
    })
}

/// A commit: the signature is the `gpgsig` header with its continuation lines (each starting
/// with one space); the payload is the commit without that header.
pub(crate) fn split_commit(raw: &[u8]) -> Parsed<'_> {
    let hend = header_end(raw);
    let headers = &raw[..hend];
    let timestamp = header_time(headers, b"committer");
    let mut payload = Vec::with_capacity(raw.len());
    let mut signature: Option<Vec<u8>> = None;
    let mut in_sig = false;
    let mut pos = 0;
    while pos < hend {
        let end = headers[pos..].iter().position(|&b| b == b'\n').map_or(hend, |i| pos + i + 1);
        let line = &headers[pos..end];
        if in_sig && line.first() == Some(&b' ') {
            if let Some(sig) = signature.as_mut() {
                sig.extend_from_slice(&line[1..]);
            }
        } else if let Some(rest) = line.strip_prefix(b"gpgsig ").filter(|_| signature.is_none()) {
            signature = Some(rest.to_vec());
            in_sig = true;
        } else {
            in_sig = false;
            payload.extend_from_slice(line);
        }
        pos = end;
    }
    let Some(signature) = signature else { return Parsed::Unsigned };
    payload.extend_from_slice(&raw[hend..]);
    match Armor::of(&signature) {
        Some(armor) => Parsed::Signed(Split { payload: Cow::Owned(payload), signature, armor, timestamp }),
        None => Parsed::Unrecognised,
    }
}

/// An annotated tag: the signature is the last armored block in the message, to the end.
pub(crate) fn split_tag(raw: &[u8]) -> Parsed<'_> {
    let hend = header_end(raw);
    let timestamp = header_time(&raw[..hend], b"tagger");
    let mut found = None;
    let mut pos = hend;
    while pos < raw.len() {
        let end = raw[pos..].iter().position(|&b| b == b'\n').map_or(raw.len(), |i| pos + i + 1);
        if let Some(armor) = Armor::of(&raw[pos..end]) {
            found = Some((pos, armor));
        }
        pos = end;
    }
    match found {
        None => Parsed::Unsigned,
        Some((at, armor)) => Parsed::Signed(Split {
            payload: Cow::Borrowed(&raw[..at]),
            signature: raw[at..].to_vec(),
            armor,
            timestamp,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const COMMIT: &[u8] = b"tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\n\
author A <a@x> 1700000000 +0000\n\
committer C <c@x> 1700000100 +0100\n\
gpgsig -----BEGIN SSH SIGNATURE-----\n \
U1NIU0lH\n \n \
-----END SSH SIGNATURE-----\n\
\n\
message\n\ngpgsig not a header\n";

    #[test]
    fn commit_payload_drops_only_the_gpgsig_header() {
        let Parsed::Signed(split) = split_commit(COMMIT) else { panic!("not split") };
        assert_eq!(
            &*split.payload,
            &b"tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\nauthor A <a@x> 1700000000 +0000\n\
committer C <c@x> 1700000100 +0100\n\nmessage\n\ngpgsig not a header\n"[..]
        );
        assert_eq!(
            split.signature,
            b"-----BEGIN SSH SIGNATURE-----\nU1NIU0lH\n\n-----END SSH SIGNATURE-----\n"
        );
        assert_eq!(split.armor, Armor::Ssh);
        assert_eq!(split.timestamp, Some(1700000100));
    }

    #[test]
    fn unsigned_and_unknown_commits() {
        assert!(matches!(split_commit(b"tree x\ncommitter C <c@x> 1 +0000\n\nmsg\n"), Parsed::Unsigned));
        assert!(matches!(split_commit(b"tree x\ngpgsig garbage\n\nmsg\n"), Parsed::Unrecognised));
        assert!(matches!(split_commit(b""), Parsed::Unsigned));
    }

    #[test]
    fn tag_signature_is_the_last_armored_block() {
        let raw = b"object abc\ntype commit\ntag v1\ntagger T <t@x> 1700000200 +0000\n\nrelease\n\
-----BEGIN PGP SIGNATURE-----\nquoted\n-----END PGP SIGNATURE-----\n\
-----BEGIN SSH SIGNATURE-----\nAAA\n-----END SSH SIGNATURE-----\n";
        let Parsed::Signed(split) = split_tag(raw) else { panic!("not split") };
        assert_eq!(split.armor, Armor::Ssh);
        assert!(split.payload.ends_with(b"-----END PGP SIGNATURE-----\n"));
        assert_eq!(split.timestamp, Some(1700000200));
        assert!(matches!(split_tag(b"object abc\ntag v1\n\nno signature\n"), Parsed::Unsigned));
    }
}
