//! Revision expressions (`main~1`, `v1.0^{commit}`, `HEAD^2`) against `git rev-parse` as the
//! oracle, the priority of names over ids, and the expressions that are refused.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // fixture helpers

mod support;

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use driftless_source::{Auth, Repo, RevisionKind, Source, SourceError};
use support::{commit_file, git, init_repo};

fn fetch(tmp: &Path, work: &Path) -> Repo {
    let source = Source::new(tmp.join("cache")).with_timeout(Duration::from_secs(20));
    source.fetch(&work.to_string_lossy(), &Auth::default()).unwrap()
}

#[test]
fn expressions_resolve_as_git_rev_parse_does() {
    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path().join("work");
    let first = init_repo(&work);
    let second = commit_file(&work, "a.yaml", "a: 2\n", "second");
    git(&work, &["tag", "-a", "v1.0", "-m", "release 1.0"]);
    git(&work, &["checkout", "-q", "-b", "side"]);
    let side = commit_file(&work, "b.yaml", "b: 1\n", "side");
    git(&work, &["checkout", "-q", "main"]);
    commit_file(&work, "a.yaml", "a: 3\n", "third");
    git(&work, &["merge", "-q", "--no-ff", "-m", "merge side", "side"]);
    let merge = git(&work, &["rev-parse", "HEAD"]);
    // A branch whose name is also the short id of another commit: the name wins, as in git.
    let decoy = first[..8].to_owned();
    git(&work, &["branch", &decoy, &side]);

    let repo = fetch(tmp.path(), &work);
    for expr in [
        "main~1",
        "main~2",
        "main^",
        "main^^",
        "main^2",
        "HEAD~1",
        "HEAD^2~1",
        "v1.0^{commit}",
        "v1.0^{}",
        "v1.0~1",
        "v1.0^0",
        "refs/heads/side~1",
        &format!("{}~1", &merge[..7]),
        &format!("{merge}^2"),
        &format!("{decoy}~1"),
    ] {
        let resolved = repo.resolve(expr).unwrap_or_else(|e| panic!("{expr}: {e}"));
        let expected = git(&work, &["rev-parse", "--verify", "--quiet", &format!("{expr}^{{commit}}")]);
        assert_eq!(resolved.commit.to_string(), expected, "{expr}");
        assert_eq!(resolved.kind, RevisionKind::Expression, "{expr}");
        assert_eq!((resolved.ref_name.as_deref(), resolved.tag), (None, None), "{expr}");
        assert_eq!(resolved.revision, expr);
    }
    assert_eq!(repo.resolve("main~1").unwrap().commit.to_string(), git(&work, &["rev-parse", "main^1"]));
    assert_eq!(repo.resolve("v1.0^{commit}").unwrap().commit.to_string(), second);

    // Plain names keep their kinds, and the decoy branch beats the commit id it spells.
    let named = repo.resolve(&decoy).unwrap();
    assert_eq!((named.kind, named.commit.to_string()), (RevisionKind::Branch, side.clone()));
    assert_eq!(repo.resolve("v1.0").unwrap().kind, RevisionKind::Tag);
    assert_eq!(repo.resolve(&first[..7]).unwrap().kind, RevisionKind::Commit);

    // `^{tag}` keeps the annotated tag, which is what a tag signature is checked on.
    let tag = repo.resolve("v1.0^{tag}").unwrap();
    assert_eq!(tag.commit.to_string(), second);
    assert_eq!(tag.tag.map(|t| t.to_string()), Some(git(&work, &["rev-parse", "v1.0"])));
}

#[test]
fn expressions_that_lead_nowhere_or_are_not_supported_are_refused_by_name() {
    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path().join("work");
    init_repo(&work);
    commit_file(&work, "a.yaml", "a: 2\n", "second");
    git(&work, &["branch", "doomed"]);
    let repo = fetch(tmp.path(), &work);

    for (expr, words) in [
        ("main~5", "main~5"),
        ("main^3", "main^3"),
        ("main@{1}", "reflog"),
        ("HEAD@{yesterday}", "reflog"),
        ("main..doomed", "range"),
        ("main:README.md", "`:path`"),
        ("^main", "starts with"),
    ] {
        let err = repo.resolve(expr).unwrap_err();
        assert!(matches!(err, SourceError::BadRevision { .. }), "{expr}: {err}");
        let text = err.to_string();
        assert!(text.contains(words) && text.contains(expr), "{expr}: {text}");
    }
    let err = repo.resolve("no-such~1").unwrap_err();
    assert!(matches!(err, SourceError::UnknownRevision { .. }), "{err}");
    let err = repo.resolve("main^{tree}").unwrap_err();
    assert!(matches!(&err, SourceError::NotACommit { kind, .. } if kind == "tree"), "{err}");

    // An expression sees the refs the server advertised: a branch deleted upstream is gone.
    assert!(repo.resolve("doomed~1").is_ok());
    git(&work, &["branch", "-D", "doomed"]);
    let repo = fetch(tmp.path(), &work);
    let err = repo.resolve("doomed~1").unwrap_err();
    assert!(matches!(err, SourceError::UnknownRevision { .. }), "{err}");
}

#[test]
fn an_ambiguous_short_id_is_refused_alone_and_in_an_expression() {
    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path().join("work");
    init_repo(&work);
    // Enough objects that two share their first four hex digits (the content is fixed, so
    // the ids are too; 1,000 blobs make a collision all but certain).
    for n in 0..1000 {
        support::write(&work, &format!("many/f{n}.txt"), &format!("file {n}\n"));
    }
    git(&work, &["add", "."]);
    git(&work, &["commit", "-qm", "many"]);
    let ids = git(&work, &["cat-file", "--batch-all-objects", "--batch-check=%(objectname)"]);
    let mut by_prefix: HashMap<&str, usize> = HashMap::new();
    for id in ids.lines() {
        *by_prefix.entry(&id[..4]).or_default() += 1;
    }
    let mut shared: Vec<&str> = by_prefix.into_iter().filter(|(_, n)| *n > 1).map(|(p, _)| p).collect();
    shared.sort_unstable();
    let prefix = shared.first().copied().expect("1,000 objects with no shared 4-digit prefix");

    let repo = fetch(tmp.path(), &work);
    for expr in [prefix.to_owned(), format!("{prefix}~1"), format!("{prefix}^{{commit}}")] {
        let err = repo.resolve(&expr).unwrap_err();
        assert!(matches!(err, SourceError::AmbiguousRevision { .. }), "{expr}: {err}");
        assert!(err.to_string().contains("ambiguous"), "{err}");
    }
}
