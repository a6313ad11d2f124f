//! `StatCache`: (size, mtime, inode) -> content hash, so that a no-op build
//! never rehashes unchanged files, as git's index and DVC's state do.
//!
//! Racy entries: a file written within `RACY_WINDOW` before the cache was saved
//! could be rewritten again in the same timestamp tick without its stat
//! changing, so such entries are not trusted and are hashed again next time
//! (git's "racy clean" rule). Hashing happens outside the lock, so workers hash
//! big files in parallel.

use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::content_hash;
use crate::file_stat::{now_ns, FileStat};
use crate::record::write_atomic;

const FORMAT: u32 = 1;

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Entry {
    stat: FileStat,
    hash: String,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct OnDisk {
    format: u32,
    saved_at_ns: i128,
    entries: HashMap<PathBuf, Entry>,
}

#[derive(Debug, Default)]
pub struct StatCache {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    disk: OnDisk,
    dirty: bool,
    /// Files already checked by this process: a stage's out is checked again
    /// as its consumers' dep, and one stat is enough. Files tnsflow writes
    /// update this through `record`.
    verified: HashMap<PathBuf, String>,
}

impl StatCache {
    pub fn load(path: &Path) -> StatCache {
        let disk = std::fs::read(path)
            .ok()
            .and_then(|b| serde_json::from_slice::<OnDisk>(&b).ok())
            .filter(|d| d.format == FORMAT)
            .unwrap_or_default();
        StatCache {
            inner: Mutex::new(Inner {
                disk,
                ..Inner::default()
            }),
        }
    }

    /// Saves when anything changed since load.
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        let mut inner = self.inner.lock().expect("stat cache lock");
        if !inner.dirty {
            return Ok(());
        }
        inner.disk.format = FORMAT;
        inner.disk.saved_at_ns = now_ns();
        // Forget files that are gone, so the cache does not grow without bound.
        inner.disk.entries.retain(|p, _| p.exists());
        let bytes = serde_json::to_vec(&inner.disk).expect("stat cache serializes");
        write_atomic(path, &bytes)?;
        inner.dirty = false;
        Ok(())
    }

    /// The content hash of a file, or None when it does not exist.
    pub fn hash(&self, path: &Path) -> std::io::Result<Option<String>> {
        if let Some(hash) = self
            .inner
            .lock()
            .expect("stat cache lock")
            .verified
            .get(path)
        {
            return Ok(Some(hash.clone()));
        }
        // Only regular files are read: opening a FIFO would block forever.
        let meta = match crate::disk::regular_file(path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let stat = FileStat::of(&meta);
        {
            let inner = self.inner.lock().expect("stat cache lock");
            if let Some(entry) = inner.disk.entries.get(path) {
                let racy = stat.is_racy(inner.disk.saved_at_ns);
                if entry.stat == stat && !racy {
                    let hash = entry.hash.clone();
                    drop(inner);
                    self.inner
                        .lock()
                        .expect("stat cache lock")
                        .verified
                        .insert(path.to_path_buf(), hash.clone());
                    return Ok(Some(hash));
                }
            }
        }
        let hash = content_hash::of_file(path)?;
        self.remember(path, stat, &hash);
        Ok(Some(hash))
    }

    /// Records the hash of a file tnsflow has just written (saves a rehash).
    pub fn record(&self, path: &Path, hash: &str) {
        if let Ok(meta) = std::fs::metadata(path) {
            self.remember(path, FileStat::of(&meta), hash);
        }
    }

    fn remember(&self, path: &Path, stat: FileStat, hash: &str) {
        let mut inner = self.inner.lock().expect("stat cache lock");
        inner.verified.insert(path.to_path_buf(), hash.to_string());
        let changed = inner
            .disk
            .entries
            .get(path)
            .is_none_or(|e| e.stat != stat || e.hash != hash);
        // A racy entry is re-validated every time, so saving refreshes its window.
        inner.dirty = true;
        if changed {
            inner.disk.entries.insert(
                path.to_path_buf(),
                Entry {
                    stat,
                    hash: hash.to_string(),
                },
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A rewritten file gets its new hash, also across a save and reload;
    /// a missing file has none.
    #[test]
    fn detects_changes_and_racy_entries() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a");
        let cache_file = dir.path().join("c.json");
        std::fs::write(&file, b"one").unwrap();
        let cache = StatCache::load(&cache_file);
        let first = cache.hash(&file).unwrap().unwrap();
        cache.save(&cache_file).unwrap();
        // Same size, written within the racy window: must still be rehashed.
        std::fs::write(&file, b"two").unwrap();
        let reloaded = StatCache::load(&cache_file);
        let second = reloaded.hash(&file).unwrap().unwrap();
        assert_ne!(first, second);
        assert_eq!(second, crate::content_hash::of_bytes(b"two"));
        assert_eq!(reloaded.hash(&dir.path().join("missing")).unwrap(), None);
    }
}
