//! The Source stage against real Git servers on loopback: local paths, file://, git daemon and
//! smart HTTP (git http-backend), with revisions, checkouts, auth, dead and hung servers.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use driftless_core::Secret;
use driftless_source::{Auth, RevisionKind, Source, SourceError};
use support::{GitDaemon, HttpServer, SilentServer, commit_file, dead_addr, git, init_repo};

fn source(cache: &Path) -> Source {
    Source::new(cache.join("cache")).with_timeout(Duration::from_secs(20))
}

#[test]
fn a_local_work_tree_resolves_every_kind_of_revision_and_checks_out_read_only() {
    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path().join("work");
    let first = init_repo(&work);
    git(&work, &["tag", "-a", "v1.0", "-m", "release 1.0"]);
    git(&work, &["tag", "light"]);
    let second = commit_file(&work, "apps/web/deploy.yaml", "changed: true\n", "second");
    git(&work, &["branch", "feature", &first]);

    let repo = source(tmp.path()).fetch(&work.to_string_lossy(), &Auth::default()).unwrap();
    assert!(repo.is_fresh());

    let head = repo.resolve("HEAD").unwrap();
    assert_eq!((head.kind, head.commit.to_string()), (RevisionKind::Head, second.clone()));
    assert_eq!(head.ref_name.as_deref(), Some("refs/heads/main"));
    let main = repo.resolve("main").unwrap();
    assert_eq!((main.kind, main.commit.to_string()), (RevisionKind::Branch, second.clone()));
    let feature = repo.resolve("refs/heads/feature").unwrap();
    assert_eq!(feature.commit.to_string(), first);

    let tag = repo.resolve("v1.0").unwrap();
    assert_eq!((tag.kind, tag.commit.to_string()), (RevisionKind::Tag, first.clone()));
    let tag_object = tag.tag.expect("an annotated tag has a tag object");
    assert!(String::from_utf8_lossy(&repo.raw_object(tag_object).unwrap()).contains("release 1.0"));
    let light = repo.resolve("light").unwrap();
    assert_eq!((light.commit.to_string(), light.tag), (first.clone(), None));

    let short = repo.resolve(&first[..7]).unwrap();
    assert_eq!((short.kind, short.commit.to_string()), (RevisionKind::Commit, first.clone()));
    assert_eq!(repo.resolve(&second).unwrap().commit.to_string(), second);

    let raw = String::from_utf8(repo.raw_object(head.commit).unwrap()).unwrap();
    assert_eq!(raw.trim_end(), git(&work, &["cat-file", "commit", &second]));

    let checkout = repo.checkout(head.commit).unwrap();
    let app = checkout.app_dir("apps/web").unwrap();
    assert_eq!(std::fs::read_to_string(app.join("deploy.yaml")).unwrap(), "changed: true\n");
    let mode = std::fs::metadata(app.join("deploy.yaml")).unwrap().permissions().mode();
    assert_eq!(mode & 0o222, 0, "checked-out files are read-only, mode {mode:o}");
    let mode = std::fs::metadata(&app).unwrap().permissions().mode();
    assert_eq!(mode & 0o222, 0, "checkout directories are read-only, mode {mode:o}");
    // The same commit is checked out once.
    assert_eq!(repo.checkout(head.commit).unwrap(), checkout);
    let old = repo.checkout(first.parse().unwrap()).unwrap();
    assert!(
        std::fs::read_to_string(old.app_dir("apps/web").unwrap().join("deploy.yaml"))
            .unwrap()
            .contains("ConfigMap")
    );
}

#[test]
fn bad_revisions_and_app_paths_are_refused_by_name() {
    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path().join("work");
    init_repo(&work);
    let repo = source(tmp.path()).fetch(&format!("file://{}", work.display()), &Auth::default()).unwrap();

    let err = repo.resolve("no-such-branch").unwrap_err();
    assert!(matches!(err, SourceError::UnknownRevision { .. }), "{err}");
    assert!(err.to_string().contains("no-such-branch"), "{err}");
    assert!(matches!(repo.resolve("deadbeef").unwrap_err(), SourceError::UnknownRevision { .. }));

    let checkout = repo.checkout(repo.resolve("main").unwrap().commit).unwrap();
    for (path, reason) in [
        ("../..", "leaves"),
        ("/etc", "absolute"),
        ("apps/nope", "does not exist"),
        ("README.md", "not a directory"),
    ] {
        let err = checkout.app_dir(path).unwrap_err();
        assert!(err.to_string().contains(reason), "{path}: {err}");
    }
}

#[test]
fn callers_waiting_on_a_fetch_share_the_next_one_and_never_see_an_older_remote() {
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path().join("srv");
    let work = base.join("app");
    let first = init_repo(&work);
    let daemon = GitDaemon::start(&base);
    let src = source(tmp.path());
    let url = daemon.url("app");
    src.fetch(&url, &Auth::default()).unwrap();
    assert_eq!(src.network_fetches(), 1);

    // A commit made before the callers call: every one of them must see it.
    let second = commit_file(&work, "apps/web/extra.yaml", "a: 1\n", "second");
    let callers = 8;
    let barrier = std::sync::Barrier::new(callers);
    let commits: Vec<String> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..callers)
            .map(|_| {
                let (src, url, barrier) = (src.clone(), url.clone(), &barrier);
                scope.spawn(move || {
                    barrier.wait();
                    let repo = src.fetch(&url, &Auth::default()).unwrap();
                    repo.resolve("main").unwrap().commit.to_string()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(
        commits.iter().all(|c| *c == second),
        "a caller saw an older remote: {commits:?} (first {first})"
    );
    let shared = src.network_fetches() - 1;
    assert!(
        (1..callers as u64).contains(&shared),
        "{callers} concurrent callers ran {shared} fetches: they should share (one running, the rest one more)"
    );

    // A caller after the last fetch finished fetches again: a new commit is seen.
    let before = src.network_fetches();
    let third = commit_file(&work, "apps/web/more.yaml", "b: 2\n", "third");
    let repo = src.fetch(&url, &Auth::default()).unwrap();
    assert_eq!(repo.resolve("main").unwrap().commit.to_string(), third);
    assert_eq!(src.network_fetches(), before + 1);
}

#[test]
fn apps_checking_out_the_same_commit_at_once_all_get_it_and_no_staging_is_left() {
    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path().join("work");
    init_repo(&work);
    // Enough files that checkouts overlap.
    for i in 0..400 {
        support::write(&work, &format!("apps/web/file-{i}.yaml"), &format!("n: {i}\n"));
    }
    git(&work, &["add", "."]);
    git(&work, &["commit", "-qm", "many files"]);
    let (src, url) = (source(tmp.path()), work.to_string_lossy().into_owned());
    let head = src.fetch(&url, &Auth::default()).unwrap().resolve("HEAD").unwrap().commit;
    let callers = 8;
    let barrier = std::sync::Barrier::new(callers);
    let roots: Vec<_> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..callers)
            .map(|_| {
                let (src, url, barrier) = (src.clone(), &url, &barrier);
                scope.spawn(move || {
                    let repo = src.fetch(url, &Auth::default()).unwrap();
                    barrier.wait();
                    let checkout = repo.checkout(head).unwrap();
                    assert!(checkout.app_dir("apps/web").unwrap().is_dir());
                    checkout
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(roots.iter().all(|c| *c == roots[0]), "{roots:?}");
    let checkouts = roots[0].root.parent().unwrap();
    let left: Vec<_> = std::fs::read_dir(checkouts)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".tmp"))
        .collect();
    assert!(left.is_empty(), "staging directories left in {}: {left:?}", checkouts.display());
}

#[test]
fn staging_left_by_a_process_that_died_mid_checkout_is_swept_by_the_next_checkout() {
    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path().join("work");
    init_repo(&work);
    commit_file(&work, "apps/web/a.yaml", "a: 1\n", "first");
    let (src, url) = (source(tmp.path()), work.to_string_lossy().into_owned());
    let repo = src.fetch(&url, &Auth::default()).unwrap();
    let first = repo.checkout(repo.resolve("HEAD").unwrap().commit).unwrap();
    let checkouts = first.root.parent().unwrap().to_owned();
    // What a killed process leaves: a staging directory two hours old; and one being written
    // right now by another process, which must stay.
    let stale = checkouts.join(".tmp-0123abcd-dead");
    let live = checkouts.join(".tmp-0123abcd-live");
    for dir in [&stale, &live] {
        std::fs::create_dir_all(dir.join("apps")).unwrap();
        std::fs::write(dir.join("apps/x.yaml"), "x: 1\n").unwrap();
    }
    std::fs::set_permissions(stale.join("apps"), std::fs::Permissions::from_mode(0o555)).unwrap();
    let two_hours_ago = std::time::SystemTime::now() - Duration::from_secs(2 * 3600);
    std::fs::File::open(&stale).unwrap().set_modified(two_hours_ago).unwrap();

    commit_file(&work, "apps/web/b.yaml", "b: 1\n", "second");
    let repo = src.fetch(&url, &Auth::default()).unwrap();
    repo.checkout(repo.resolve("HEAD").unwrap().commit).unwrap();
    assert!(!stale.exists(), "the stale staging directory is still there");
    assert!(live.join("apps/x.yaml").is_file(), "a live staging directory was removed");
}

#[test]
fn git_daemon_fetches_new_commits_force_pushes_and_deleted_branches() {
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path().join("srv");
    let work = base.join("app");
    let first = init_repo(&work);
    git(&work, &["branch", "doomed"]);
    let daemon = GitDaemon::start(&base);
    let src = source(tmp.path());
    let url = daemon.url("app");

    let repo = src.fetch(&url, &Auth::default()).unwrap();
    assert_eq!(repo.resolve("main").unwrap().commit.to_string(), first);
    assert!(repo.resolve("doomed").is_ok());

    let second = commit_file(&work, "apps/web/extra.yaml", "a: 1\n", "second");
    git(&work, &["branch", "-D", "doomed"]);
    let repo = src.fetch(&url, &Auth::default()).unwrap();
    let main = repo.resolve("main").unwrap();
    assert_eq!(main.commit.to_string(), second);
    assert!(repo.is_ancestor(first.parse().unwrap(), main.commit).unwrap());
    assert_eq!(repo.commits_between(first.parse().unwrap(), main.commit).unwrap(), vec![main.commit]);
    let err = repo.resolve("doomed").unwrap_err();
    assert!(matches!(err, SourceError::UnknownRevision { .. }), "a branch deleted upstream is gone: {err}");

    // History rewritten upstream: the fetch follows, and the old tip is no ancestor.
    git(&work, &["reset", "-q", "--hard", &first]);
    let rewritten = commit_file(&work, "apps/web/other.yaml", "b: 2\n", "rewritten");
    let repo = src.fetch(&url, &Auth::default()).unwrap();
    let main = repo.resolve("main").unwrap();
    assert_eq!(main.commit.to_string(), rewritten);
    assert!(!repo.is_ancestor(second.parse().unwrap(), main.commit).unwrap());

    // Nothing new: the fetch succeeds and changes nothing.
    let again = src.fetch(&url, &Auth::default()).unwrap();
    assert_eq!(again.resolve("main").unwrap().commit, main.commit);
}

#[test]
fn smart_http_fetches_and_refuses_to_send_credentials_in_clear_text() {
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path().join("srv");
    let first = init_repo(&base.join("app"));
    let open = HttpServer::start(&base, None);
    let src = source(tmp.path());
    let repo = src.fetch(&open.url("app"), &Auth::default()).unwrap();
    assert_eq!(repo.resolve("HEAD").unwrap().commit.to_string(), first);

    let guarded = HttpServer::start(&base, Some(("alice", "hunter2-token")));
    let err = src.fetch(&guarded.url("app"), &Auth::default()).unwrap_err();
    assert!(matches!(err, SourceError::Fetch { .. }), "{err}");
    let auth = Auth {
        username: Some("alice".into()),
        password: Some(Secret::new("hunter2-token".into())),
        ssh: None,
    };
    let err = src.fetch(&guarded.url("app"), &auth).unwrap_err();
    assert!(err.to_string().contains("clear text"), "{err}");
    assert!(!err.to_string().contains("hunter2"), "{err}");
}

#[test]
fn a_dead_server_is_a_clear_error_and_the_last_good_clone_stays_usable() {
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path().join("srv");
    let first = init_repo(&base.join("app"));
    let src = source(tmp.path());
    let url;
    {
        let daemon = GitDaemon::start(&base);
        url = daemon.url("app");
        src.fetch(&url, &Auth::default()).unwrap();
    } // the server is gone

    let started = Instant::now();
    let err = src.fetch(&url, &Auth::default()).unwrap_err();
    assert!(err.is_unreachable(), "{err}");
    assert!(err.to_string().contains("127.0.0.1"), "the error names the server: {err}");
    assert!(started.elapsed() < Duration::from_secs(15));

    let cached = src.open_cached(&url).unwrap();
    assert!(!cached.is_fresh());
    let head = cached.resolve("HEAD").unwrap();
    assert_eq!(head.commit.to_string(), first);
    assert!(cached.checkout(head.commit).unwrap().app_dir("apps/web").is_ok());

    let never = format!("git://{}/app", dead_addr());
    let err = src.fetch(&never, &Auth::default()).unwrap_err();
    assert!(err.is_unreachable(), "{err}");
    assert!(matches!(src.open_cached(&never).unwrap_err(), SourceError::NotCached { .. }));
    assert!(
        !src.dir()
            .join("repos")
            .read_dir()
            .unwrap()
            .any(|e| { e.unwrap().file_name().to_string_lossy().contains(".tmp-") }),
        "a failed first fetch leaves no half-made clone"
    );
}

#[test]
fn a_hung_server_is_cut_off_at_the_deadline() {
    let tmp = tempfile::tempdir().unwrap();
    let server = SilentServer::start();
    let src = Source::new(tmp.path().join("cache")).with_timeout(Duration::from_secs(1));
    for url in [format!("git://{}/app", server.addr), format!("http://{}/app", server.addr)] {
        let started = Instant::now();
        let err = src.fetch(&url, &Auth::default()).unwrap_err();
        let took = started.elapsed();
        assert!(matches!(err, SourceError::Timeout { .. }), "{url}: {err}");
        assert!(took < Duration::from_secs(5), "{url}: took {took:?}");
    }
}

#[test]
fn malformed_urls_and_missing_paths_are_refused_before_any_network() {
    let tmp = tempfile::tempdir().unwrap();
    let src = source(tmp.path());
    for url in ["", "/no/such/dir", "file:///no/such/dir"] {
        let err = src.fetch(url, &Auth::default()).unwrap_err();
        assert!(matches!(err, SourceError::Url { .. }), "{url:?}: {err}");
    }
}
