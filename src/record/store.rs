//! `Store`: content-addressed blobs and run records by stage key.
//!
//! Layout (under `.tnsflow/v2/`, or `$TNSFLOW_CACHE_DIR/v2/` when shared):
//!
//! ```text
//! blobs/ab/cdef...   an output's bytes, named by their blake3 hash
//! runs.db            every RunRecord by stage key (SQLite, one row per run),
//!                    and the outputs of at most INLINE_MAX bytes by hash
//! keys.lock          per-key locks (byte-range locks on one file)
//! tmp/<area>/        partial files of one live process (see `TempArea`)
//! roots/<hash>       the workspaces sharing this store, for gc
//! ```
//!
//! Run records share one SQLite file rather than one file each: 100,000
//! stages made 100,000 files (the inode flood Snakemake users know), and a
//! lookup by key is one B-tree probe. Small outputs live there too: a file
//! per blob cost an inode each, and allocating (and, for the next cold build,
//! freeing) 100,000 inodes was most of a cold 100,000-stage build's kernel
//! time. Several builds write it at once (a
//! sweep's points): WAL mode and a busy timeout make them take turns.
//!
//! Outputs in the workspace are copies of their blob (reflinks where the
//! filesystem can), never hard links: an out edited in place must not edit the
//! cache. A blob is verified against its name before it is restored; a corrupt one is
//! deleted and treated as a miss. Concurrent writers are safe: every write is a
//! rename of a complete file, and two writers of one name write the same bytes.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use rusqlite::{Connection, OptionalExtension};

use super::state_db::{while_busy, PAGE_CACHE_KIB};
use super::{RecordError, RunRecord};
use crate::disk::Disk;
use crate::layout::Layout;
use crate::{content_hash, RecordResult};

/// Outputs up to this many bytes are kept as rows of runs.db, not as files
/// (one ext4 block: a smaller file still costs an inode and a block).
const INLINE_MAX: u64 = 4096;

/// Outputs from this many bytes are copied into the store after their
/// stage's consumers have started (see `Store::put`). 64 KiB in unit tests,
/// so that the builder's fault-injection tests take that path with small files.
pub const DEFERRED_MIN: u64 = if cfg!(test) { 64 << 10 } else { 8 << 20 };

#[derive(Debug, Clone)]
pub struct Store {
    blobs: PathBuf,
    runs: PathBuf,
    tmp: PathBuf,
    key_locks: PathBuf,
    /// The run database, opened on first use (None: absent and not creatable).
    db: Arc<OnceLock<Result<Mutex<Connection>, String>>>,
    create: bool,
}

/// What `Store::put` did with a file.
#[derive(Debug)]
pub enum Stored {
    /// The blob is in the store, named by this hash.
    Whole(String),
    /// The file hashes to `hash`; room for its blob is taken at `partial`,
    /// and `Store::fill` copies the bytes in.
    Reserved { hash: String, partial: PathBuf },
}

impl Stored {
    pub fn hash(&self) -> &str {
        match self {
            Stored::Whole(hash) | Stored::Reserved { hash, .. } => hash,
        }
    }
}

/// Why `Store::put` failed: reading the file, or storing its copy.
#[derive(Debug)]
pub enum PutError {
    Read(io::Error),
    Store(io::Error),
}

impl Store {
    /// The store of a workspace, for reading only: creates nothing.
    pub fn at(layout: &Layout) -> Store {
        Store {
            blobs: layout.blobs_dir(),
            runs: layout.runs_db_file(),
            tmp: layout.cache_tmp_dir(),
            key_locks: layout.key_lock_file(),
            db: Arc::default(),
            create: false,
        }
    }

    /// The store of a workspace, created if needed, for building.
    pub fn open(layout: &Layout) -> RecordResult<Store> {
        let mut store = Store::at(layout);
        store.create = true;
        for dir in [&store.blobs, &store.tmp] {
            std::fs::create_dir_all(dir).map_err(|source| RecordError::Write {
                path: dir.clone(),
                source,
            })?;
        }
        // runs.db is opened on first use: a build after a one-file edit may
        // never need it.
        Ok(store)
    }

    /// The run database; created on first use by a store opened for building.
    fn runs_db(&self) -> RecordResult<&Mutex<Connection>> {
        let db = self.db.get_or_init(|| {
            if !self.create && !self.runs.is_file() {
                return Err("no run records yet".to_string());
            }
            open_runs_db(&self.runs)
                .map(Mutex::new)
                .map_err(|e| super::error::database_message(&self.runs, &e))
        });
        db.as_ref().map_err(|message| RecordError::Database {
            path: self.runs.clone(),
            message: message.clone(),
        })
    }

    fn db_error(&self, source: rusqlite::Error) -> RecordError {
        RecordError::database(&self.runs, &source)
    }

    fn blob_path(&self, hash: &str) -> PathBuf {
        self.blobs.join(&hash[..2]).join(&hash[2..])
    }

    #[cfg(test)]
    pub fn has_blob(&self, hash: &str) -> bool {
        self.inline_blob(hash).is_some() || self.blob_path(hash).is_file()
    }

    /// The bytes of a blob kept in runs.db, if it is one.
    fn inline_blob(&self, hash: &str) -> Option<Vec<u8>> {
        let db = self.runs_db().ok()?.lock().expect("runs db lock");
        db.prepare_cached("SELECT bytes FROM blobs WHERE hash = ?1")
            .and_then(|mut s| s.query_row([hash], |r| r.get(0)).optional())
            .ok()
            .flatten()
    }

    /// Keeps a small output's bytes in runs.db; they must be what `hash`
    /// names (a file that changed after it was hashed is refused).
    fn put_inline(&self, hash: &str, bytes: &[u8]) -> io::Result<()> {
        let db = self.runs_db().map_err(io::Error::other)?;
        let db = db.lock().expect("runs db lock");
        db.prepare_cached("INSERT OR IGNORE INTO blobs(hash, bytes) VALUES (?1, ?2)")
            .and_then(|mut s| s.execute(rusqlite::params![hash, bytes]))
            .map(drop)
            .map_err(io::Error::other)
    }

    fn remove_inline_blob(&self, hash: &str) {
        if let Ok(db) = self.runs_db() {
            let db = db.lock().expect("runs db lock");
            let _ = db.execute("DELETE FROM blobs WHERE hash = ?1", [hash]);
        }
    }

    /// Hashes a finished file and stores a copy under that hash (nothing if
    /// the blob is already there). A small file is read once, and the bytes
    /// hashed are the bytes stored, as a row of runs.db. A bigger one is
    /// hashed in place and copied through `tmp` (a temp area on the store's
    /// filesystem) and a rename, so a blob is complete or absent. From
    /// `DEFERRED_MIN` bytes, unless the filesystem shares extents, only the
    /// room for the copy is taken here (`Stored::Reserved`): copying 1.4 GB
    /// takes a second, and the stages reading the file need not wait for it
    /// (`fill` makes the copy). Workspace files never share bytes with a
    /// blob: editing an out in place cannot corrupt the cache.
    pub fn put(&self, disk: &dyn Disk, file: &Path, tmp: &Path) -> Result<Stored, PutError> {
        let size = std::fs::metadata(file).map_err(PutError::Read)?.len();
        if size <= INLINE_MAX {
            let bytes = std::fs::read(file).map_err(PutError::Read)?;
            let hash = content_hash::of_bytes(&bytes);
            self.put_inline(&hash, &bytes).map_err(PutError::Store)?;
            return Ok(Stored::Whole(hash));
        }
        let hash = content_hash::of_file(file).map_err(PutError::Read)?;
        let blob = self.blob_path(&hash);
        if blob.is_file() {
            return Ok(Stored::Whole(hash));
        }
        let stored = (|| {
            disk.create_dir_all(blob.parent().expect("blob paths have a parent"))?;
            let partial = tmp.join(unique_name("blob"));
            if disk.reserve_copy(file, &partial)? {
                disk.rename(&partial, &blob).inspect_err(|_| {
                    let _ = std::fs::remove_file(&partial);
                })?;
                return Ok(None);
            }
            if size >= DEFERRED_MIN {
                return Ok(Some(partial));
            }
            match self.fill(disk, file, &partial, &hash)? {
                true => Ok(None),
                false => Err(io::Error::other("it changed while it was being copied")),
            }
        })();
        match stored.map_err(PutError::Store)? {
            Some(partial) => Ok(Stored::Reserved { hash, partial }),
            None => Ok(Stored::Whole(hash)),
        }
    }

    /// Copies `file` into the room `put` reserved at `partial` and files it
    /// as the blob `hash`. Stores nothing and returns false when `file` no
    /// longer holds those bytes (it changed after it was hashed).
    pub fn fill(
        &self,
        disk: &dyn Disk,
        file: &Path,
        partial: &Path,
        hash: &str,
    ) -> io::Result<bool> {
        let filed = match disk.fill(file, partial) {
            Ok(copied) if copied == hash => {
                disk.rename(partial, &self.blob_path(hash)).map(|()| true)
            }
            Ok(_) => Ok(false),
            Err(e) => Err(e),
        };
        if !matches!(filed, Ok(true)) {
            let _ = std::fs::remove_file(partial);
        }
        filed
    }

    /// Copies the blob `hash` to `to` (a new file) after checking it. Returns
    /// false when the blob is missing or corrupt (a corrupt blob is deleted, so
    /// the stage simply runs again).
    pub fn copy_out(&self, disk: &dyn Disk, hash: &str, to: &Path) -> io::Result<bool> {
        if let Some(bytes) = self.inline_blob(hash) {
            if content_hash::of_bytes(&bytes) != hash {
                self.remove_inline_blob(hash);
                return Ok(false);
            }
            disk.create(to, &bytes)?;
            return Ok(true);
        }
        let blob = self.blob_path(hash);
        match content_hash::of_file(&blob) {
            Ok(actual) if actual == hash => {}
            Ok(_) => {
                let _ = std::fs::remove_file(&blob);
                return Ok(false);
            }
            Err(_) => return Ok(false),
        }
        disk.copy(&blob, to)?;
        Ok(true)
    }

    /// Whether the blob exists and holds the bytes its name says (what a
    /// restore will find), so that `status` and `build` decide alike.
    pub fn has_valid_blob(&self, hash: &str) -> bool {
        match self.inline_blob(hash) {
            Some(bytes) => content_hash::of_bytes(&bytes) == hash,
            None => content_hash::of_file(&self.blob_path(hash)).is_ok_and(|actual| actual == hash),
        }
    }

    /// Waits until no other process is computing `key`, then holds it until
    /// the returned file is dropped. Builds sharing one cache (a sweep's points)
    /// thereby compute each key once: the second finds the first's run record.
    /// One file holds every key's lock as a one-byte range (open file
    /// description locks, so two threads of one build exclude each other too);
    /// keys share 65,536 ranges by their first four hex digits, and two keys of
    /// one range merely take turns.
    pub fn lock_key(&self, key: &str) -> io::Result<std::fs::File> {
        let stripe = key
            .get(..4)
            .and_then(|s| i64::from_str_radix(s, 16).ok())
            .unwrap_or(0);
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&self.key_locks)?;
        let lock = nix::libc::flock {
            l_type: nix::libc::F_WRLCK as i16,
            l_whence: nix::libc::SEEK_SET as i16,
            l_start: stripe,
            l_len: 1,
            l_pid: 0,
        };
        loop {
            match nix::fcntl::fcntl(&file, nix::fcntl::FcntlArg::F_OFD_SETLKW(&lock)) {
                Ok(_) => return Ok(file),
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }

    pub fn load_run(&self, key: &str) -> Option<RunRecord> {
        let db = self.runs_db().ok()?.lock().expect("runs db lock");
        let json: String = db
            .prepare_cached("SELECT record FROM runs WHERE key = ?1")
            .and_then(|mut s| s.query_row([key], |r| r.get(0)).optional())
            .ok()
            .flatten()?;
        serde_json::from_str::<RunRecord>(&json)
            .ok()
            .filter(|r| r.key == key)
    }

    pub fn save_run(&self, record: &RunRecord) -> RecordResult<()> {
        let json = serde_json::to_string(record).expect("records serialize");
        let db = self.runs_db()?.lock().expect("runs db lock");
        db.prepare_cached("INSERT OR REPLACE INTO runs(key, record) VALUES (?1, ?2)")
            .and_then(|mut s| s.execute([&record.key, &json]))
            .map(drop)
            .map_err(|e| self.db_error(e))
    }

    /// Every blob kept as a file, for gc.
    pub(super) fn blob_files(&self) -> Vec<(String, PathBuf)> {
        files_two_levels(&self.blobs)
    }

    /// Deletes every run record whose key `keep` refuses; returns how many
    /// went.
    pub(super) fn remove_runs(&self, keep: impl Fn(&str) -> bool) -> RecordResult<usize> {
        self.remove_rows("runs", "key", "record", keep)
            .map(|(count, _)| count)
    }

    /// Deletes every blob kept in runs.db whose hash `keep` refuses; returns
    /// how many went and their bytes.
    pub(super) fn remove_inline_blobs(
        &self,
        keep: impl Fn(&str) -> bool,
    ) -> RecordResult<(usize, u64)> {
        self.remove_rows("blobs", "hash", "bytes", keep)
    }

    /// Deletes the rows of `table` whose `key` column `keep` refuses, then
    /// compacts the file (the periodic recompaction of an append-only log);
    /// returns how many went and the length of their `value`s.
    fn remove_rows(
        &self,
        table: &str,
        key: &str,
        value: &str,
        keep: impl Fn(&str) -> bool,
    ) -> RecordResult<(usize, u64)> {
        let Ok(db) = self.runs_db() else {
            return Ok((0, 0));
        };
        let mut db = db.lock().expect("runs db lock");
        let removed = (|| {
            let rows: Vec<(String, i64)> = db
                .prepare(&format!("SELECT {key}, length({value}) FROM {table}"))?
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<_>>()?;
            let tx = db.transaction()?;
            let (mut count, mut bytes) = (0, 0);
            {
                let mut delete = tx.prepare(&format!("DELETE FROM {table} WHERE {key} = ?1"))?;
                for (row, size) in rows.iter().filter(|(k, _)| !keep(k)) {
                    count += delete.execute([row])?;
                    bytes += *size as u64;
                }
            }
            tx.commit()?;
            if count > 0 {
                db.execute_batch("VACUUM")?;
            }
            Ok((count, bytes))
        })();
        removed.map_err(|e| self.db_error(e))
    }
}

/// Opens (creating it) the run database; a damaged one is started afresh
/// (it is a cache: losing it means recomputing).
fn open_runs_db(path: &Path) -> rusqlite::Result<Connection> {
    super::state_db::open_afresh_if_damaged(path, || open_runs_db_once(path))
}

fn open_runs_db_once(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(std::time::Duration::from_secs(600))?;
    while_busy(|| conn.pragma_update(None, "journal_mode", "WAL"))?;
    conn.pragma_update(None, "synchronous", "OFF")?;
    conn.pragma_update(None, "cache_size", -PAGE_CACHE_KIB)?;
    while_busy(|| {
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS runs(key TEXT PRIMARY KEY, record TEXT NOT NULL) WITHOUT ROWID;
             CREATE TABLE IF NOT EXISTS blobs(hash TEXT PRIMARY KEY, bytes BLOB NOT NULL);",
        )
    })?;
    Ok(conn)
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

/// The pid that made a temporary file named by `unique_name`, if it is one.
pub fn temp_file_owner(name: &str) -> Option<u32> {
    let rest = name.strip_prefix('.')?.strip_suffix(".tmp")?;
    let mut parts = rest.rsplitn(3, '.');
    let _counter: u64 = parts.next()?.parse().ok()?;
    parts.next()?.parse().ok()
}

fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    format!(
        ".{prefix}.{}.{}.tmp",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// Writes `bytes` to `path` through a temporary file and a rename. The file is
/// created with the process's umask like any other output (tempfile's 0600
/// would make a published manifest unreadable to the rest of the team).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    use std::io::Write;
    write_atomic_with(path, |file| file.write_all(bytes))
}

/// `write_atomic`, with `write` filling the file (so that a big one is
/// streamed, not built in memory first).
pub fn write_atomic_with(
    path: &Path,
    write: impl FnOnce(&mut std::io::BufWriter<std::fs::File>) -> io::Result<()>,
) -> io::Result<()> {
    use std::io::Write;
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let tmp = dir.join(unique_name(&name));
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp)
        .and_then(|file| {
            let mut file = std::io::BufWriter::new(file);
            write(&mut file)?;
            file.flush()
        })
        .and_then(|()| std::fs::rename(&tmp, path));
    written.inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

/// Deletes the temporary files in `folder` whose process is dead (a build
/// killed between writing one and renaming it).
pub fn remove_dead_temp_files(folder: &Path) {
    let Ok(entries) = std::fs::read_dir(folder) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(temp_file_owner) else {
            continue;
        };
        let alive = pid == std::process::id() || Path::new(&format!("/proc/{pid}")).exists();
        if !alive {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The run database keeps its page cache as small as the state database's.
    #[test]
    fn the_run_database_keeps_a_small_page_cache() {
        let dir = tempfile::tempdir().unwrap();
        let conn = open_runs_db(&dir.path().join("runs.db")).unwrap();
        let cache: i64 = conn
            .pragma_query_value(None, "cache_size", |r| r.get(0))
            .unwrap();
        assert_eq!(cache, -PAGE_CACHE_KIB);
    }

    /// Processes that open a new run database at once (the points of a
    /// sweep sharing a cache) all get it: switching it to WAL and creating
    /// its table can fail with "database is locked" without SQLite's busy
    /// handler being asked, and once failed a sweep point.
    #[test]
    fn many_open_a_new_run_database_at_once() {
        for _ in 0..20 {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("runs.db");
            let start = std::sync::Barrier::new(8);
            std::thread::scope(|scope| {
                let opened: Vec<_> = (0..8)
                    .map(|_| {
                        scope.spawn(|| {
                            start.wait();
                            open_runs_db(&path).map(drop)
                        })
                    })
                    .collect();
                for handle in opened {
                    handle.join().unwrap().expect("opened");
                }
            });
        }
    }

    fn store(dir: &Path) -> Store {
        Store::open(&Layout::new(dir)).unwrap()
    }

    /// Stored files come back as copies (never links to the blob); a corrupt
    /// blob is a miss and is deleted. Small outs are rows of runs.db, bigger
    /// ones files.
    #[test]
    fn stores_copies_out_and_detects_corruption() {
        use crate::disk::RealDisk;
        use std::os::unix::fs::MetadataExt;
        for size in [
            5,
            INLINE_MAX as usize,
            INLINE_MAX as usize + 1,
            DEFERRED_MIN as usize - 1,
        ] {
            let dir = tempfile::tempdir().unwrap();
            let store = store(dir.path());
            let tmp = dir.path().join("tmp");
            std::fs::create_dir_all(&tmp).unwrap();
            let file = dir.path().join("a.txt");
            let bytes: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
            std::fs::write(&file, &bytes).unwrap();
            let hash = store
                .put(&RealDisk, &file, &tmp)
                .unwrap()
                .hash()
                .to_string();
            assert_eq!(hash, content_hash::of_bytes(&bytes));
            assert!(store.has_valid_blob(&hash));
            let blob = store.blob_path(&hash);
            let inline = size as u64 <= INLINE_MAX;
            assert_eq!(blob.is_file(), !inline, "{size} bytes");
            assert_eq!(store.inline_blob(&hash).is_some(), inline, "{size} bytes");

            let out = dir.path().join("out.txt");
            assert!(store.copy_out(&RealDisk, &hash, &out).unwrap());
            assert_eq!(std::fs::read(&out).unwrap(), bytes);
            if !inline {
                assert_ne!(
                    std::fs::metadata(&out).unwrap().ino(),
                    std::fs::metadata(&blob).unwrap().ino()
                );
            }
            // Editing the workspace copy in place leaves the blob intact.
            std::fs::write(&out, b"HELLO").unwrap();
            assert!(store.has_valid_blob(&hash));

            if inline {
                let db = store.runs_db().unwrap().lock().unwrap();
                db.execute("UPDATE blobs SET bytes = x'00'", []).unwrap();
            } else {
                std::fs::write(&blob, b"corrupt").unwrap();
            }
            assert!(!store.has_valid_blob(&hash));
            assert!(!store
                .copy_out(&RealDisk, &hash, &dir.path().join("again"))
                .unwrap());
            assert!(!store.has_blob(&hash), "{size} bytes");
        }
    }

    /// The hash `put` returns names the bytes it stored (read once for a
    /// small file), and an out rewritten afterwards leaves that blob whole.
    #[test]
    fn put_stores_the_bytes_its_hash_names() {
        use crate::disk::RealDisk;
        let dir = tempfile::tempdir().unwrap();
        let store = store(dir.path());
        let file = dir.path().join("a.txt");
        std::fs::write(&file, b"before").unwrap();
        let hash = store
            .put(&RealDisk, &file, dir.path())
            .unwrap()
            .hash()
            .to_string();
        assert_eq!(hash, content_hash::of_bytes(b"before"));
        std::fs::write(&file, b"after").unwrap();
        assert!(store.has_valid_blob(&hash));
        assert_eq!(store.inline_blob(&hash).as_deref(), Some(&b"before"[..]));
        let missing = dir.path().join("missing.txt");
        assert!(matches!(
            store.put(&RealDisk, &missing, dir.path()),
            Err(PutError::Read(_))
        ));
    }

    /// A big file's copy is made after `put`, by `fill`: until then its blob
    /// is absent, not partial; after, it holds the bytes `put` hashed. A file
    /// changed in between is not stored under the old hash, and its room is
    /// given back.
    #[test]
    fn a_big_file_is_copied_by_fill_and_only_if_unchanged() {
        use crate::disk::RealDisk;
        let dir = tempfile::tempdir().unwrap();
        let store = store(dir.path());
        let tmp = dir.path().join("tmp");
        std::fs::create_dir_all(&tmp).unwrap();
        let file = dir.path().join("big file #1.csv");
        let bytes: Vec<u8> = (0..DEFERRED_MIN as usize + 12_345)
            .map(|i| (i * 7 % 251) as u8)
            .collect();
        for changed in [false, true] {
            std::fs::write(&file, &bytes).unwrap();
            let (hash, partial) = match store.put(&RealDisk, &file, &tmp).unwrap() {
                Stored::Reserved { hash, partial } => (hash, partial),
                // A filesystem that shares extents: the copy is whole at once.
                Stored::Whole(hash) => {
                    assert!(store.has_valid_blob(&hash));
                    std::fs::remove_file(store.blob_path(&hash)).unwrap();
                    continue;
                }
            };
            assert_eq!(hash, content_hash::of_bytes(&bytes));
            assert!(!store.has_valid_blob(&hash), "no blob before fill");
            if changed {
                std::fs::write(&file, b"rewritten after it was hashed").unwrap();
            }
            assert_eq!(
                store.fill(&RealDisk, &file, &partial, &hash).unwrap(),
                !changed
            );
            assert_eq!(store.has_valid_blob(&hash), !changed);
            assert!(!partial.exists(), "the reserved room is a blob or gone");
            if !changed {
                let out = dir.path().join("restored");
                assert!(store.copy_out(&RealDisk, &hash, &out).unwrap());
                assert!(std::fs::read(&out).unwrap() == bytes);
                std::fs::remove_file(store.blob_path(&hash)).unwrap();
            }
        }
        assert_eq!(std::fs::read_dir(&tmp).unwrap().count(), 0);
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
