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
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::content_hash;
use crate::file_stat::{now_ns, FileStat};
use crate::record::{FileRow, FileRowRef, StateDb, DIR_HASH};

/// A file's stat and hash. The hash is kept as its 32 bytes, not 64 hex
/// digits on the heap: a cold 100,000-stage build holds 200,000 entries.
#[derive(Debug, Clone, Copy)]
struct Entry {
    stat: FileStat,
    hash: blake3::Hash,
    checked_ns: i64,
}

impl Entry {
    fn hex(&self) -> String {
        self.hash.to_hex().to_string()
    }
}

/// The rows as read, sorted by path bytes (SQLite's key order): looked up by
/// binary search, so that loading 100,000 rows builds no hash table.
#[derive(Debug, Default)]
struct Base {
    rows: Vec<FileRow>,
    /// Row by row: in the snapshot and found unchanged by this command.
    unchanged: Vec<bool>,
}

impl Base {
    fn find(&self, path: &Path) -> Option<usize> {
        let key = path.as_os_str().as_bytes();
        self.rows
            .binary_search_by(|r| r.path.as_os_str().as_bytes().cmp(key))
            .ok()
    }

    /// A file's entry (never a folder's listing row).
    fn entry(&self, path: &Path) -> Option<Entry> {
        let row = &self.rows[self.find(path)?];
        let hash = row.hash.as_deref().filter(|h| !h.starts_with(DIR_HASH))?;
        Some(Entry {
            stat: row.stat,
            hash: blake3::Hash::from_hex(hash).ok()?,
            checked_ns: row.checked_ns,
        })
    }
}

#[derive(Debug, Default)]
pub struct StatCache {
    base: Base,
    inner: Mutex<Inner>,
}

// One path is kept once: a cold 100,000-stage build hashes 200,000 files,
// and three maps keyed by path (fresh, unsaved, verified) held three copies
// of each path and two of each hash.
#[derive(Debug, Default)]
struct Inner {
    /// Entries hashed by this command (they win over `base`). Each is also
    /// verified: a stage's out is checked again as its consumers' dep, and
    /// one stat is enough. Files tnsflow writes arrive through `record`.
    fresh: HashMap<PathBuf, Fresh>,
    /// Rows of `base` this command found unchanged (verified), by index.
    verified_base: Vec<bool>,
    /// Rows of files found missing, to delete.
    gone: HashSet<PathBuf>,
}

#[derive(Debug)]
struct Fresh {
    entry: Entry,
    /// Written back to the state database already.
    saved: bool,
}

impl StatCache {
    /// Every file row of the state database (none without one).
    pub fn load(db: Option<&StateDb>) -> StatCache {
        StatCache::from_rows(db.map(FileRow::load_all).unwrap_or_default())
    }

    /// A cache over rows already read (sorted by path bytes, as SQLite returns them).
    pub fn from_rows(rows: Vec<FileRow>) -> StatCache {
        let unchanged = vec![false; rows.len()];
        StatCache::from_checked(rows, unchanged)
    }

    /// A cache over rows the no-op snapshot just checked; `unchanged` says,
    /// row by row, which it found unchanged (see `known`).
    pub fn from_checked(mut rows: Vec<FileRow>, mut unchanged: Vec<bool>) -> StatCache {
        let sorted = rows
            .windows(2)
            .all(|w| w[0].path.as_os_str().as_bytes() < w[1].path.as_os_str().as_bytes());
        if !sorted {
            let mut paired: Vec<(FileRow, bool)> = rows.into_iter().zip(unchanged).collect();
            paired.sort_by(|a, b| {
                a.0.path
                    .as_os_str()
                    .as_bytes()
                    .cmp(b.0.path.as_os_str().as_bytes())
            });
            paired.dedup_by(|a, b| a.0.path == b.0.path);
            (rows, unchanged) = paired.into_iter().unzip();
        }
        StatCache {
            inner: Mutex::new(Inner {
                verified_base: vec![false; rows.len()],
                ..Inner::default()
            }),
            base: Base { rows, unchanged },
        }
    }

    /// Whether a path is known to exist unchanged (`Some(is_folder)`),
    /// because the no-op snapshot just checked it; planning then need not stat it.
    pub fn known(&self, path: &Path) -> Option<bool> {
        let i = self.base.find(path)?;
        self.base.unchanged[i].then(|| {
            self.base.rows[i]
                .hash
                .as_deref()
                .is_some_and(|h| h.starts_with(DIR_HASH))
        })
    }

    fn entry(&self, inner: &Inner, path: &Path) -> Option<Entry> {
        match inner.fresh.get(path) {
            Some(fresh) => Some(fresh.entry),
            None if inner.gone.contains(path) => None,
            None => self.base.entry(path),
        }
    }

    /// Writes the rows this command hashed or found gone.
    pub fn save(&self, db: &StateDb) -> crate::RecordResult<()> {
        let mut inner = self.inner.lock().expect("stat cache lock");
        let rows = inner
            .fresh
            .iter()
            .filter(|(_, f)| !f.saved)
            .map(|(path, f)| FileRowRef {
                path,
                stat: f.entry.stat,
                hash: Some(f.entry.hex().into()),
                checked_ns: f.entry.checked_ns,
            });
        FileRow::save(db, rows, inner.gone.iter().map(PathBuf::as_path))?;
        // What was hashed stays known (the snapshot is made from it after this).
        for fresh in inner.fresh.values_mut() {
            fresh.saved = true;
        }
        Ok(())
    }

    /// The hash this process verified for a file, if it did.
    pub fn verified(&self, path: &Path) -> Option<String> {
        let inner = self.inner.lock().expect("stat cache lock");
        if let Some(fresh) = inner.fresh.get(path) {
            return Some(fresh.entry.hex());
        }
        let i = self.base.find(path)?;
        inner.verified_base[i].then(|| self.base.rows[i].hash.clone())?
    }

    /// The snapshot row of a path this command checked, as it is now: a
    /// folder's listing, or a file's hash when its stat is still the one that
    /// was hashed. The path back when the file changed since (or was never
    /// checked): the snapshot must then not be saved.
    pub fn snapshot_row(&self, path: PathBuf) -> Result<FileRow, PathBuf> {
        let Ok(meta) = std::fs::metadata(&path) else {
            return Err(path);
        };
        if meta.is_dir() {
            return crate::record::BuildSnapshot::dir_row(&path).ok_or(path);
        }
        let stat = FileStat::of(&meta);
        let inner = self.inner.lock().expect("stat cache lock");
        let Some(entry) = self.entry(&inner, &path).filter(|e| e.stat == stat) else {
            return Err(path);
        };
        Ok(FileRow {
            path,
            stat,
            hash: Some(entry.hex()),
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
                let had = inner.fresh.remove(path).is_some() || self.base.find(path).is_some();
                if had {
                    inner.gone.insert(path.to_path_buf());
                }
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        let stat = FileStat::of(&meta);
        {
            let mut inner = self.inner.lock().expect("stat cache lock");
            if let Some(entry) = self.entry(&inner, path) {
                if entry.stat == stat && !stat.is_racy(entry.checked_ns) {
                    // Not fresh (a fresh entry is verified already): a base row.
                    if let Some(i) = self.base.find(path) {
                        inner.verified_base[i] = true;
                    }
                    return Ok(Some(entry.hex()));
                }
            }
        }
        let hash = content_hash::of_file(path)?;
        self.remember(path, stat, &hash);
        Ok(Some(hash))
    }

    /// Whether `path` still has the stat it was hashed (or found unchanged)
    /// with. False when it changed, went, or was never hashed.
    pub fn unchanged(&self, path: &Path) -> bool {
        let Ok(meta) = std::fs::metadata(path) else {
            return false;
        };
        let stat = FileStat::of(&meta);
        let inner = self.inner.lock().expect("stat cache lock");
        self.entry(&inner, path).is_some_and(|e| e.stat == stat)
    }

    /// Records the hash of a file tnsflow has just written (saves a rehash).
    pub fn record(&self, path: &Path, hash: &str) {
        if let Ok(meta) = std::fs::metadata(path) {
            self.remember(path, FileStat::of(&meta), hash);
        }
    }

    fn remember(&self, path: &Path, stat: FileStat, hash: &str) {
        let mut inner = self.inner.lock().expect("stat cache lock");
        inner.gone.remove(path);
        // Every hash tnsflow makes is blake3 hex; anything else is simply
        // not cached (the file is hashed again when next asked).
        let Ok(hash) = blake3::Hash::from_hex(hash) else {
            return;
        };
        let entry = Entry {
            stat,
            hash,
            checked_ns: now_ns(),
        };
        let fresh = Fresh {
            entry,
            saved: false,
        };
        match inner.fresh.get_mut(path) {
            Some(known) => *known = fresh,
            None => {
                inner.fresh.insert(path.to_path_buf(), fresh);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An entry per file a build checks (200,000 in a 100,000-stage build):
    /// 64-bit nanoseconds keep it at 80 bytes (112 with 128-bit ones).
    #[test]
    fn a_fresh_entry_is_80_bytes() {
        assert_eq!(std::mem::size_of::<Fresh>(), 80);
    }

    /// A file dated past what 64-bit nanoseconds hold (the year 2262) gets
    /// a stat, hashed and cached like any other, rather than an overflow.
    #[test]
    fn a_far_future_mtime_is_cached() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("from the future");
        std::fs::write(&file, b"x").unwrap();
        let year_3000 = std::time::UNIX_EPOCH + std::time::Duration::from_secs(32_503_680_000);
        std::fs::File::options()
            .write(true)
            .open(&file)
            .unwrap()
            .set_modified(year_3000)
            .unwrap();
        let stat = FileStat::read(&file).unwrap();
        assert_eq!(stat.mtime_ns, i64::MAX);
        let cache = StatCache::default();
        let hash = cache.hash(&file).unwrap().unwrap();
        assert_eq!(hash, content_hash::of_file(&file).unwrap());
        assert_eq!(cache.verified(&file), Some(hash));
    }

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
