//! `StoreUsers`: which workspaces share a store, and whether any is building.
//!
//! Every build registers its workspace root under `roots/` (one small file
//! per workspace, named by the hash of its path) and holds a shared lock on
//! `gc.lock` while it runs; `gc` takes that lock exclusively, so it never runs
//! beside a build of any workspace sharing the store, and keeps every
//! registered workspace's last runs, not only its own.

use std::fs::{File, OpenOptions, TryLockError};
use std::io;
use std::path::{Path, PathBuf};

use crate::layout::Layout;

/// Held by a build for its whole run.
#[derive(Debug)]
pub struct BuildingGuard {
    _file: File,
}

/// Held by gc: no build of any sharing workspace runs meanwhile.
#[derive(Debug)]
pub struct ExclusiveGuard {
    _file: File,
}

fn open_lock(layout: &Layout) -> io::Result<File> {
    let path = layout.gc_lock_file();
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
}

/// Registers this workspace and marks the store as in use (waits while gc runs).
pub fn start_building(layout: &Layout) -> io::Result<BuildingGuard> {
    register(layout)?;
    let file = open_lock(layout)?;
    file.lock_shared()?;
    Ok(BuildingGuard { _file: file })
}

/// The store to itself, or None when some build is using it.
pub fn try_exclusive(layout: &Layout) -> io::Result<Option<ExclusiveGuard>> {
    let file = open_lock(layout)?;
    match file.try_lock() {
        Ok(()) => Ok(Some(ExclusiveGuard { _file: file })),
        Err(TryLockError::WouldBlock) => Ok(None),
        Err(TryLockError::Error(e)) => Err(e),
    }
}

fn register(layout: &Layout) -> io::Result<()> {
    let root = layout.root().as_os_str().as_encoded_bytes();
    let name = blake3::hash(root).to_hex();
    let path = layout.roots_dir().join(&name[..32]);
    if path.is_file() {
        return Ok(());
    }
    super::write_atomic(&path, root)
}

/// Every registered workspace root that still exists; registrations of
/// workspaces that are gone are dropped.
pub fn registered_roots(layout: &Layout) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(layout.roots_dir()) else {
        return Vec::new();
    };
    let mut roots = Vec::new();
    for entry in entries.flatten() {
        let Ok(bytes) = std::fs::read(entry.path()) else {
            continue;
        };
        let root = PathBuf::from(String::from_utf8_lossy(&bytes).into_owned());
        if Path::new(&root).is_dir() {
            roots.push(root);
        } else {
            let _ = std::fs::remove_file(entry.path());
        }
    }
    roots.sort();
    roots
}
