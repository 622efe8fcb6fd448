//! Read-only checkouts, one directory per commit, written aside and moved in place whole.

use std::path::{Component, Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use gix::ObjectId;

use crate::SourceError;
use crate::error::describe;

/// A commit checked out read-only. Every app of the repository at that commit shares it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkout {
    /// The checkout's top directory (the repository root at the commit).
    pub root: PathBuf,
    /// The commit it holds.
    pub commit: ObjectId,
}

impl Checkout {
    /// The directory of `app_path` (relative, `/`-separated) inside the checkout.
    ///
    /// # Errors
    /// [`SourceError::BadPath`] when the path is absolute, climbs out with `..`, or does not
    /// exist at this commit.
    pub fn app_dir(&self, app_path: &str) -> Result<PathBuf, SourceError> {
        let bad = |reason| SourceError::BadPath {
            path: app_path.to_owned(),
            commit: self.commit.to_string(),
            reason,
        };
        let relative = Path::new(app_path);
        for part in relative.components() {
            match part {
                Component::Normal(_) | Component::CurDir => {}
                Component::ParentDir => return Err(bad("leaves the repository (`..`)")),
                Component::RootDir | Component::Prefix(_) => return Err(bad("is absolute")),
            }
        }
        let dir = self.root.join(relative);
        // A symlink inside the repository must not lead out of it either.
        let real = dir.canonicalize().map_err(|_| bad("does not exist"))?;
        let root = self.root.canonicalize().map_err(SourceError::io(&self.root))?;
        if !real.starts_with(&root) {
            return Err(bad("leaves the repository (symlink)"));
        }
        if !real.is_dir() {
            return Err(bad("is not a directory"));
        }
        Ok(dir)
    }
}

impl Checkout {
    /// A regular file (not a directory, not a symlink) at `path` (relative, `/`-separated) in
    /// the checkout, checked like [`Checkout::app_dir`] for ways out.
    ///
    /// # Errors
    /// [`SourceError::BadPath`] when the path leaves the repository, does not exist at this
    /// commit, or is not a regular file.
    pub fn file(&self, path: &str) -> Result<PathBuf, SourceError> {
        let bad =
            |reason| SourceError::BadPath { path: path.to_owned(), commit: self.commit.to_string(), reason };
        let relative = Path::new(path);
        let name = relative.file_name().ok_or_else(|| bad("names no file"))?;
        let parent = relative.parent().and_then(Path::to_str).filter(|p| !p.is_empty()).unwrap_or(".");
        // Errors about the directory name the file asked for.
        let dir = self.app_dir(parent).map_err(|e| match e {
            SourceError::BadPath { reason, .. } => bad(reason),
            other => other,
        })?;
        let file = dir.join(name);
        let meta = std::fs::symlink_metadata(&file).map_err(|_| bad("does not exist"))?;
        if !meta.is_file() {
            return Err(bad("is not a regular file"));
        }
        Ok(file)
    }
}

pub(crate) fn checkout(
    repo: &gix::Repository,
    url: &str,
    commit: ObjectId,
    checkouts: &Path,
) -> Result<Checkout, SourceError> {
    let root = checkouts.join(commit.to_string());
    if root.is_dir() {
        return Ok(Checkout { root, commit });
    }
    let fail = |e: gix::Error| SourceError::Repository { url: url.to_owned(), reason: describe(&e) };
    let tree = repo.find_commit(commit).map_err(&fail)?.tree_id().map_err(fail)?;

    std::fs::create_dir_all(checkouts).map_err(SourceError::io(checkouts))?;
    sweep_stale_staging(checkouts);
    // A staging directory of its own: other apps of this process, or other processes, may be
    // checking out the same commit at the same time.
    let staging = tempfile::Builder::new()
        .prefix(&format!(".tmp-{commit}-"))
        .tempdir_in(checkouts)
        .map_err(SourceError::io(checkouts))?
        .keep();
    let written = (|| -> Result<(), String> {
        let mut index = repo.index_from_tree(&tree).map_err(|e| describe(&e))?;
        let mut options = repo
            .checkout_options(gix::worktree::stack::state::attributes::Source::IdMapping)
            .map_err(|e| describe(&e))?;
        options.destination_is_initially_empty = true;
        let objects = repo.objects.clone().into_arc().map_err(|e| describe(&e))?;
        let interrupt = AtomicBool::new(false);
        gix::worktree::state::checkout(
            &mut index,
            &staging,
            objects,
            &gix::progress::Discard,
            &gix::progress::Discard,
            &interrupt,
            options,
        )
        .map_err(|e| describe(&e))?;
        Ok(())
    })();
    if let Err(reason) = written {
        let _ = remove_tree(&staging);
        return Err(SourceError::Repository { url: url.to_owned(), reason });
    }
    if let Err(e) = make_read_only(&staging) {
        let _ = remove_tree(&staging);
        return Err(SourceError::io(&staging)(e));
    }
    match std::fs::rename(&staging, &root) {
        Ok(()) => Ok(Checkout { root, commit }),
        // Another app or process checked out the same commit meanwhile: theirs is as good as ours.
        Err(_) if root.is_dir() => {
            let _ = remove_tree(&staging);
            Ok(Checkout { root, commit })
        }
        Err(e) => Err(SourceError::io(&root)(e)),
    }
}

/// How old a staging directory must be for a later checkout to remove it as left behind by a
/// process that died while checking out: a checkout takes seconds, a live one is never this old.
const STALE_STAGING: Duration = Duration::from_secs(60 * 60);

/// Removes staging directories (`.tmp-<commit>-*`) older than [`STALE_STAGING`]: what a
/// process killed in the middle of a checkout leaves behind.
fn sweep_stale_staging(checkouts: &Path) {
    let Ok(entries) = std::fs::read_dir(checkouts) else { return };
    for entry in entries.flatten() {
        if !entry.file_name().to_string_lossy().starts_with(".tmp-") {
            continue;
        }
        let age = entry.metadata().and_then(|m| m.modified()).ok().and_then(|t| t.elapsed().ok());
        if age.is_none_or(|age| age < STALE_STAGING) {
            continue;
        }
        let dir = entry.path();
        match remove_tree(&dir) {
            Ok(()) => {
                tracing::info!(dir = %dir.display(), "removed a checkout staging directory left behind")
            }
            Err(e) => {
                tracing::warn!(dir = %dir.display(), error = %e, "cannot remove a stale checkout staging directory")
            }
        }
    }
}

/// Files 0444 and directories 0555: nothing in the checkout changes after it is made.
fn make_read_only(dir: &Path) -> std::io::Result<()> {
    set_tree_mode(dir, 0o555, 0o444)
}

/// Remove a checkout (they are read-only, so make them writable first).
pub(crate) fn remove_tree(dir: &Path) -> std::io::Result<()> {
    set_tree_mode(dir, 0o755, 0o644)?;
    std::fs::remove_dir_all(dir)
}

#[cfg(unix)]
fn set_tree_mode(dir: &Path, dir_mode: u32, file_mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    // Children first while the directory is still writable; the directory itself last.
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))?;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        if kind.is_dir() {
            set_tree_mode(&entry.path(), dir_mode, file_mode)?;
        } else if kind.is_file() {
            std::fs::set_permissions(entry.path(), std::fs::Permissions::from_mode(file_mode))?;
        }
    }
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(dir_mode))
}

#[cfg(not(unix))]
fn set_tree_mode(_dir: &Path, _dir_mode: u32, _file_mode: u32) -> std::io::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn files_are_regular_files_inside_the_checkout() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        std::fs::create_dir_all(root.join("policies")).unwrap();
        std::fs::write(root.join("policies/waivers.yaml"), "[]").unwrap();
        std::fs::write(dir.path().join("outside.yaml"), "[]").unwrap();
        std::os::unix::fs::symlink(dir.path().join("outside.yaml"), root.join("link.yaml")).unwrap();
        let checkout = Checkout { root: root.clone(), commit: ObjectId::null(gix::hash::Kind::Sha1) };

        assert_eq!(checkout.file("policies/waivers.yaml").unwrap(), root.join("policies/waivers.yaml"));
        for (path, reason) in [
            ("policies", "is not a regular file"),
            ("link.yaml", "is not a regular file"),
            ("missing.yaml", "does not exist"),
            ("../outside.yaml", "leaves the repository"),
            ("/etc/passwd", "is absolute"),
        ] {
            let error = checkout.file(path).unwrap_err().to_string();
            assert!(error.contains(reason), "{path}: {error}");
            assert!(error.contains(path.trim_start_matches('/')) || error.contains(path), "{path}: {error}");
        }
    }
}
