//! `Store`: content-addressed blobs and run records by stage key.
//!
//! Layout (under `.tnsflow/v1/`, or `$TNSFLOW_CACHE_DIR/v1/` when shared):
//!
//! ```text
//! blobs/ab/cdef...   an output's bytes, named by their blake3 hash
//! runs/12/3456....json  a RunRecord, named by its stage key
//! tmp/               partial files, renamed into place when complete
//! ```
//!
//! Outputs in the workspace are hard links to their blob (a copy where links
//! are impossible), so keeping every output costs no extra space or time. A
//! blob is verified against its name before it is restored; a corrupt one is
//! deleted and treated as a miss. Concurrent writers are safe: every write is a
//! rename of a complete file, and two writers of one name write the same bytes.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::{RecordError, RunRecord};
use crate::layout::Layout;
use crate::{content_hash, RecordResult};

#[derive(Debug, Clone)]
pub struct Store {
    blobs: PathBuf,
    runs: PathBuf,
    tmp: PathBuf,
    locks: PathBuf,
}

impl Store {
    /// The store of a workspace, for reading only: creates nothing.
    pub fn at(layout: &Layout) -> Store {
        Store {
            blobs: layout.blobs_dir(),
            runs: layout.runs_dir(),
            tmp: layout.cache_tmp_dir(),
            locks: layout.key_locks_dir(),
        }
    }

    /// The store of a workspace, created if needed, for building.
    pub fn open(layout: &Layout) -> RecordResult<Store> {
        let store = Store::at(layout);
        for dir in [&store.blobs, &store.runs, &store.tmp, &store.locks] {
            std::fs::create_dir_all(dir).map_err(|source| RecordError::Write {
                path: dir.clone(),
                source,
            })?;
        }
        Ok(store)
    }

    fn blob_path(&self, hash: &str) -> PathBuf {
        self.blobs.join(&hash[..2]).join(&hash[2..])
    }

    fn run_path(&self, key: &str) -> PathBuf {
        self.runs
            .join(&key[..2])
            .join(format!("{}.json", &key[2..]))
    }

    pub fn has_blob(&self, hash: &str) -> bool {
        self.blob_path(hash).is_file()
    }

    /// Stores a finished file under its hash and makes `dest` a link to it.
    pub fn publish(&self, staged: &Path, hash: &str, dest: &Path) -> io::Result<()> {
        let blob = self.blob_path(hash);
        if blob.is_file() {
            std::fs::remove_file(staged)?;
        } else {
            std::fs::create_dir_all(blob.parent().expect("blob paths have a parent"))?;
            if std::fs::rename(staged, &blob).is_err() {
                // Another filesystem (a shared cache): copy, then rename.
                let tmp = self.tmp_name();
                std::fs::copy(staged, &tmp)?;
                std::fs::rename(&tmp, &blob)?;
                std::fs::remove_file(staged)?;
            }
        }
        link_or_copy(&blob, dest)
    }

    /// Stores a file a command wrote in place, leaving it where it is.
    pub fn adopt(&self, path: &Path, hash: &str) -> io::Result<()> {
        let blob = self.blob_path(hash);
        if blob.is_file() {
            return Ok(());
        }
        std::fs::create_dir_all(blob.parent().expect("blob paths have a parent"))?;
        let tmp = self.tmp_name();
        if std::fs::hard_link(path, &tmp).is_err() {
            std::fs::copy(path, &tmp)?;
        }
        std::fs::rename(&tmp, &blob)
    }

    /// Makes `dest` hold the blob `hash`. Returns false when the blob is missing
    /// or corrupt (a corrupt blob is deleted, so the stage simply runs again).
    pub fn restore(&self, hash: &str, dest: &Path) -> io::Result<bool> {
        let blob = self.blob_path(hash);
        match content_hash::of_file(&blob) {
            Ok(actual) if actual == hash => {}
            Ok(_) => {
                let _ = std::fs::remove_file(&blob);
                return Ok(false);
            }
            Err(_) => return Ok(false),
        }
        link_or_copy(&blob, dest)?;
        Ok(true)
    }

    /// Waits until no other process is computing `key`, then holds it until
    /// the returned file is dropped. Builds sharing one cache (a sweep's points)
    /// thereby compute each key once: the second finds the first's run record.
    pub fn lock_key(&self, key: &str) -> io::Result<std::fs::File> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(self.locks.join(format!("{key}.lock")))?;
        file.lock()?;
        Ok(file)
    }

    pub fn load_run(&self, key: &str) -> Option<RunRecord> {
        let bytes = std::fs::read(self.run_path(key)).ok()?;
        serde_json::from_slice::<RunRecord>(&bytes)
            .ok()
            .filter(|r| r.key == key)
    }

    pub fn save_run(&self, record: &RunRecord) -> RecordResult<()> {
        let path = self.run_path(&record.key);
        let bytes = serde_json::to_vec_pretty(record).expect("records serialize");
        write_atomic(&path, &bytes).map_err(|source| RecordError::Write { path, source })
    }

    /// Every run record, for gc.
    pub(super) fn run_files(&self) -> Vec<(String, PathBuf)> {
        files_two_levels(&self.runs)
            .into_iter()
            .map(|(name, path)| (name.trim_end_matches(".json").to_string(), path))
            .collect()
    }

    /// Every blob, for gc.
    pub(super) fn blob_files(&self) -> Vec<(String, PathBuf)> {
        files_two_levels(&self.blobs)
    }

    fn tmp_name(&self) -> PathBuf {
        self.tmp.join(unique_name("blob"))
    }
}

/// `(prefix + name, path)` of every file in `dir/xx/name`.
fn files_two_levels(dir: &Path) -> Vec<(String, PathBuf)> {
    let mut files = Vec::new();
    let Ok(shards) = std::fs::read_dir(dir) else {
        return files;
    };
    for shard in shards.flatten() {
        let prefix = shard.file_name().to_string_lossy().into_owned();
        let Ok(entries) = std::fs::read_dir(shard.path()) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            files.push((format!("{prefix}{name}"), entry.path()));
        }
    }
    files
}

fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    format!(
        ".{prefix}.{}.{}.tmp",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// Makes `dest` a hard link to `src` (a copy across filesystems), atomically.
fn link_or_copy(src: &Path, dest: &Path) -> io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    if let (Ok(a), Ok(b)) = (std::fs::metadata(src), std::fs::metadata(dest)) {
        // rename() between two links of one file is a no-op that keeps both names.
        if a.ino() == b.ino() && a.dev() == b.dev() {
            return Ok(());
        }
    }
    let dir = dest.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let name = dest.file_name().unwrap_or_default().to_string_lossy();
    let tmp = dir.join(unique_name(&name));
    if std::fs::hard_link(src, &tmp).is_err() {
        std::fs::copy(src, &tmp)?;
    }
    std::fs::rename(&tmp, dest).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

/// Writes `bytes` to `path` through a temporary file and a rename. The file is
/// created with the process's umask like any other output (tempfile's 0600
/// would make a published manifest unreadable to the rest of the team).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    use std::io::Write;
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let tmp = dir.join(unique_name(&name));
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp)
        .and_then(|mut file| file.write_all(bytes))
        .and_then(|()| std::fs::rename(&tmp, path));
    written.inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(dir: &Path) -> Store {
        Store::open(&Layout::new(dir)).unwrap()
    }

    /// Published outputs come back from the store; a corrupt blob is a miss.
    #[test]
    fn publishes_restores_and_detects_corruption() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(dir.path());
        let staged = dir.path().join("staged");
        std::fs::write(&staged, b"hello").unwrap();
        let hash = content_hash::of_bytes(b"hello");
        let dest = dir.path().join("out/a.txt");
        store.publish(&staged, &hash, &dest).unwrap();
        assert_eq!(std::fs::read(&dest).unwrap(), b"hello");

        std::fs::remove_file(&dest).unwrap();
        assert!(store.restore(&hash, &dest).unwrap());
        assert_eq!(std::fs::read(&dest).unwrap(), b"hello");
        // Restoring onto itself keeps the file.
        assert!(store.restore(&hash, &dest).unwrap());
        assert!(dest.is_file());

        std::fs::remove_file(&dest).unwrap();
        std::fs::write(store.blob_path(&hash), b"corrupt").unwrap();
        assert!(!store.restore(&hash, &dest).unwrap());
        assert!(!store.has_blob(&hash));
    }

    /// Atomic writes honour the umask (0644 under 022), not tempfile's 0600.
    #[test]
    fn write_atomic_uses_the_umask() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("manifest.json");
        write_atomic(&path, b"{}").unwrap();
        let probe = dir.path().join("probe");
        std::fs::write(&probe, b"").unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), mode(&probe));
        assert_eq!(std::fs::read(&path).unwrap(), b"{}");
        let leftovers = std::fs::read_dir(dir.path()).unwrap().count();
        assert_eq!(leftovers, 2, "no temporary file is left behind");
    }
}
