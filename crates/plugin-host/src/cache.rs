//! Compiled components, kept in memory per content hash and on disk as precompiled artifacts
//! keyed by content hash and the engine's compatibility hash, so a restart does not pay for
//! compilation again.
//!
//! A cache file is `MAGIC`, the SHA-256 of the artifact, then the artifact. The digest is
//! checked before the artifact is handed to wasmtime, so a truncated or corrupt entry is
//! detected and rebuilt. It does not make a hostile cache safe: loading a precompiled artifact
//! runs its machine code, so the cache directory must be writable by this user only — the host
//! creates it with mode 0700 and refuses a directory that others can write to.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

const MAGIC: &[u8; 8] = b"DLPCACH1";

/// A content hash, hex-encoded SHA-256.
pub(crate) fn content_hash(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// How a component was obtained, for logs and benchmarks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheOutcome {
    /// Already compiled by this host.
    Memory,
    /// Loaded from a precompiled artifact on disk.
    Disk,
    /// Compiled now.
    Compiled,
}

pub(crate) struct ComponentCache {
    memory: Mutex<HashMap<String, Component>>,
    disk: Option<PathBuf>,
    compat: String,
}

impl ComponentCache {
    /// A cache, on disk under `dir` when given (created 0700). A directory that cannot be
    /// used safely is ignored with a warning: the cache is an optimisation.
    pub(crate) fn new(engine: &Engine, dir: Option<&Path>) -> Self {
        let mut hasher = DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        let compat = format!("{:016x}", hasher.finish());
        let disk = dir.and_then(|dir| match prepare_dir(dir) {
            Ok(()) => Some(dir.to_path_buf()),
            Err(reason) => {
                tracing::warn!(dir = %dir.display(), "not using the plugin cache: {reason}");
                None
            }
        });
        Self { memory: Mutex::new(HashMap::new()), disk, compat }
    }

    /// The compiled component for `wasm` (whose hash is `hash`).
    pub(crate) fn get(
        &self,
        engine: &Engine,
        hash: &str,
        wasm: &[u8],
    ) -> wasmtime::Result<(Component, CacheOutcome)> {
        if let Some(component) = self.memory.lock().ok().and_then(|m| m.get(hash).cloned()) {
            return Ok((component, CacheOutcome::Memory));
        }
        let file = self.disk.as_ref().map(|dir| dir.join(format!("{hash}-{}.cwasm", self.compat)));
        let from_disk = file.as_deref().and_then(|file| load(engine, file));
        let (component, outcome) = match from_disk {
            Some(component) => (component, CacheOutcome::Disk),
            None => {
                let component = Component::new(engine, wasm)?;
                if let Some(file) = &file
                    && let Err(e) = store(&component, file)
                {
                    tracing::warn!(file = %file.display(), "could not write the plugin cache: {e}");
                }
                (component, CacheOutcome::Compiled)
            }
        };
        if let Ok(mut memory) = self.memory.lock() {
            memory.insert(hash.to_owned(), component.clone());
        }
        Ok((component, outcome))
    }
}

#[cfg(unix)]
fn prepare_dir(dir: &Path) -> Result<(), String> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(|e| e.to_string())?;
    let meta = std::fs::metadata(dir).map_err(|e| e.to_string())?;
    // This user owns what it creates: compare the directory's owner with a fresh file's.
    let probe = tempfile::NamedTempFile::new_in(dir).map_err(|e| e.to_string())?;
    let me = probe.as_file().metadata().map_err(|e| e.to_string())?.uid();
    if meta.uid() != me {
        return Err(format!("it belongs to uid {}, not to this user (uid {me})", meta.uid()));
    }
    if meta.permissions().mode() & 0o022 != 0 {
        return Err("other users can write to it".into());
    }
    Ok(())
}

#[cfg(not(unix))]
fn prepare_dir(dir: &Path) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())
}

/// A component from a cache file, or `None` when the file is absent, corrupt, or was made by an
/// incompatible engine (each case is logged; the caller recompiles).
fn load(engine: &Engine, file: &Path) -> Option<Component> {
    let bytes = std::fs::read(file).ok()?;
    let valid = bytes.len() > MAGIC.len() + 32
        && &bytes[..MAGIC.len()] == MAGIC
        && Sha256::digest(&bytes[MAGIC.len() + 32..]).as_slice() == &bytes[MAGIC.len()..MAGIC.len() + 32];
    if !valid {
        tracing::warn!(file = %file.display(), "corrupt plugin cache entry; recompiling");
        return None;
    }
    let artifact = &bytes[MAGIC.len() + 32..];
    // SAFETY: `Component::deserialize` runs the artifact's machine code, so it must come from a
    // trusted source. It does: this host wrote it (with `Engine::precompile`-equivalent
    // `Component::serialize`) into a directory only this user can write (checked in
    // `prepare_dir`), and its digest was just verified, so it is the artifact we wrote.
    #[allow(unsafe_code)]
    let component = unsafe { Component::deserialize(engine, artifact) };
    match component {
        Ok(component) => Some(component),
        Err(e) => {
            tracing::warn!(file = %file.display(), "unusable plugin cache entry ({e}); recompiling");
            None
        }
    }
}

/// Write a cache file atomically: a temporary file in the same directory, renamed.
fn store(component: &Component, file: &Path) -> Result<(), String> {
    let artifact = component.serialize().map_err(|e| e.to_string())?;
    let dir = file.parent().ok_or("no parent directory")?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| e.to_string())?;
    tmp.write_all(MAGIC)
        .and_then(|()| tmp.write_all(&Sha256::digest(&artifact)))
        .and_then(|()| tmp.write_all(&artifact))
        .and_then(|()| tmp.as_file().sync_all())
        .map_err(|e| e.to_string())?;
    tmp.persist(file).map_err(|e| e.to_string())?;
    Ok(())
}

/// Shared handle.
pub(crate) type SharedCache = Arc<ComponentCache>;
