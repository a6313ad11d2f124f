//! `StatCache`: (size, mtime, ctime, inode) -> content hash, so that a no-op
//! build never rehashes unchanged files, as git's index and DVC's state do.
//! Its rows are the `files` table of `state.db`; a save writes only the rows
//! that changed.
//!
//! Racy entries: a file modified within `RACY_WINDOW` before it was hashed
//! could be rewritten again in the same timestamp tick without its stat
//! changing, so such an entry is not trusted and the file is hashed again
//! next time (git's "racy clean" rule), one file at a time. Hashing happens
//! outside the lock, so workers hash big files in parallel.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::content_hash;
use crate::file_stat::{now_ns, FileStat};
use crate::record::{FileRow, StateDb, DIR_HASH};

#[derive(Debug, Clone)]
struct Entry {
    stat: FileStat,
    hash: String,
    checked_ns: i128,
}

#[derive(Debug, Default)]
pub struct StatCache {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    entries: HashMap<PathBuf, Entry>,
    /// Rows to write back: hashed or re-validated by this command.
    changed: HashSet<PathBuf>,
    /// Rows of files found missing, to delete.
    gone: HashSet<PathBuf>,
    /// Files already checked by this process: a stage's out is checked again
    /// as its consumers' dep, and one stat is enough. Files tnsflow writes
    /// update this through `record`.
    verified: HashMap<PathBuf, String>,
}

impl StatCache {
    /// Every file row of the state database (none without one).
    pub fn load(db: Option<&StateDb>) -> StatCache {
        StatCache::from_rows(db.map(FileRow::load_all).unwrap_or_default())
    }

    /// A cache over rows already read (the no-op check reads them first).
    pub fn from_rows(rows: Vec<FileRow>) -> StatCache {
        let entries = rows
            .into_iter()
            .filter_map(|row| {
                let hash = row.hash.filter(|h| !h.starts_with(DIR_HASH))?;
                Some((
                    row.path,
                    Entry {
                        stat: row.stat,
                        hash,
                        checked_ns: row.checked_ns,
                    },
                ))
            })
            .collect();
        StatCache {
            inner: Mutex::new(Inner {
                entries,
                ..Inner::default()
            }),
        }
    }

    /// Writes the rows this command hashed or found gone.
    pub fn save(&self, db: &StateDb) -> crate::RecordResult<()> {
        let mut inner = self.inner.lock().expect("stat cache lock");
        let rows: Vec<FileRow> = inner
            .changed
            .iter()
            .filter_map(|path| {
                let e = inner.entries.get(path)?;
                Some(FileRow {
                    path: path.clone(),
                    stat: e.stat,
                    hash: Some(e.hash.clone()),
                    checked_ns: e.checked_ns,
                })
            })
            .collect();
        let gone: Vec<PathBuf> = inner.gone.iter().cloned().collect();
        FileRow::save(db, &rows, &gone)?;
        inner.changed.clear();
        inner.gone.clear();
        Ok(())
    }

    /// The hash this process verified for a file, if it did.
    pub fn verified(&self, path: &Path) -> Option<String> {
        self.inner
            .lock()
            .expect("stat cache lock")
            .verified
            .get(path)
            .cloned()
    }

    /// The snapshot row of a path this command checked, as it is now: a
    /// folder's listing, or a file's hash when its stat is still the one that
    /// was hashed. None when the file changed since (or was never checked):
    /// the snapshot must then not be saved.
    pub fn snapshot_row(&self, path: &Path) -> Option<FileRow> {
        let meta = std::fs::metadata(path).ok()?;
        if meta.is_dir() {
            return crate::record::BuildSnapshot::dir_row(path);
        }
        let stat = FileStat::of(&meta);
        let inner = self.inner.lock().expect("stat cache lock");
        let entry = inner.entries.get(path).filter(|e| e.stat == stat)?;
        Some(FileRow {
            path: path.to_path_buf(),
            stat,
            hash: Some(entry.hash.clone()),
            checked_ns: entry.checked_ns,
        })
    }

    /// The content hash of a file, or None when it does not exist.
    pub fn hash(&self, path: &Path) -> std::io::Result<Option<String>> {
        if let Some(hash) = self.verified(path) {
            return Ok(Some(hash));
        }
        // Only regular files are read: opening a FIFO would block forever.
        let meta = match crate::disk::regular_file(path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut inner = self.inner.lock().expect("stat cache lock");
                if inner.entries.remove(path).is_some() {
                    inner.gone.insert(path.to_path_buf());
                }
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        let stat = FileStat::of(&meta);
        {
            let mut inner = self.inner.lock().expect("stat cache lock");
            if let Some(entry) = inner.entries.get(path) {
                if entry.stat == stat && !stat.is_racy(entry.checked_ns) {
                    let hash = entry.hash.clone();
                    inner.verified.insert(path.to_path_buf(), hash.clone());
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
        inner.gone.remove(path);
        inner.changed.insert(path.to_path_buf());
        inner.entries.insert(
            path.to_path_buf(),
            Entry {
                stat,
                hash: hash.to_string(),
                checked_ns: now_ns(),
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A rewritten file gets its new hash, also across a save and reload;
    /// a missing file has none; a save writes only what changed.
    #[test]
    fn detects_changes_and_racy_entries() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a");
        let db = StateDb::open(&dir.path().join("state.db")).unwrap();
        std::fs::write(&file, b"one").unwrap();
        let cache = StatCache::load(Some(&db));
        let first = cache.hash(&file).unwrap().unwrap();
        cache.save(&db).unwrap();
        // Same size, written within the racy window: must still be rehashed.
        std::fs::write(&file, b"two").unwrap();
        let reloaded = StatCache::load(Some(&db));
        let second = reloaded.hash(&file).unwrap().unwrap();
        assert_ne!(first, second);
        assert_eq!(second, crate::content_hash::of_bytes(b"two"));
        assert_eq!(reloaded.hash(&dir.path().join("missing")).unwrap(), None);
        reloaded.save(&db).unwrap();
        std::fs::remove_file(&file).unwrap();
        let third = StatCache::load(Some(&db));
        assert_eq!(third.hash(&file).unwrap(), None);
        third.save(&db).unwrap();
        assert!(
            FileRow::load_all(&db).is_empty(),
            "a gone file's row is deleted"
        );
    }
}
