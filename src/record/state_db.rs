//! `StateDb`: a workspace's build state in one SQLite file (`.tnsflow/v2/state.db`).
//!
//! Three tables, each written row by row as things change, never rewritten
//! whole (a 100,000-stage graph rewrote 100 MB of JSON per build before):
//!
//! - `runs`:  the last successful run of each stage (what `status` explains);
//! - `files`: the stat cache, `(size, mtime, ctime, inode) -> hash`, plus, in
//!   `snap`, the hash each path had when the last fully successful build
//!   looked at it (the no-op snapshot);
//! - `meta`:  small named values: the no-op snapshot's request, the parsed
//!   pipeline of the last plan, a generation counter the workbench watches.
//!
//! WAL mode: `status` and the workbench read while a build writes; a killed
//! writer's transaction is rolled back by SQLite. Nothing is fsynced
//! (`synchronous=OFF`, as for every other file tnsflow writes): a kill loses
//! nothing, a power cut may lose or damage the bookkeeping, and a database
//! that no longer opens is started afresh, which only means rebuilding.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use rusqlite::{Connection, OpenFlags, OptionalExtension};

use super::RecordError;
use crate::RecordResult;

/// Bumped when a table changes shape: an older file is emptied and rebuilt.
const FORMAT: i64 = 3;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta(name TEXT PRIMARY KEY, value BLOB) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS runs(stage TEXT PRIMARY KEY, record TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS files(
    path BLOB PRIMARY KEY,
    size INTEGER NOT NULL,
    mtime INTEGER NOT NULL,
    ctime INTEGER NOT NULL,
    ino INTEGER NOT NULL,
    hash TEXT,
    checked INTEGER NOT NULL,
    snap TEXT
) WITHOUT ROWID;
";

#[derive(Debug)]
pub struct StateDb {
    path: PathBuf,
    conn: Mutex<Connection>,
}

impl StateDb {
    /// Opens (creating it if needed) the state database at `path`.
    pub fn open(path: &Path) -> RecordResult<StateDb> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|source| RecordError::Write {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        let db = open_afresh_if_damaged(path, || {
            Connection::open(path).and_then(|conn| prepare(conn, true))
        })
        .map_err(|source| RecordError::database(path, &source))?;
        Ok(StateDb {
            path: path.to_path_buf(),
            conn: Mutex::new(db),
        })
    }

    /// Opens an existing state database for reading; None when there is none
    /// (a workspace never built) or it cannot be read.
    pub fn open_existing(path: &Path) -> Option<StateDb> {
        if !path.is_file() {
            return None;
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags)
            .or_else(|_| {
                Connection::open_with_flags(
                    path,
                    OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )
            })
            .ok()?;
        let conn = prepare(conn, false).ok()?;
        Some(StateDb {
            path: path.to_path_buf(),
            conn: Mutex::new(conn),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn conn(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().expect("state db lock")
    }

    /// A database error, naming the file (and its disk when that is full).
    pub fn error(&self, source: rusqlite::Error) -> RecordError {
        RecordError::database(&self.path, &source)
    }

    pub fn meta(&self, name: &str) -> Option<Vec<u8>> {
        meta(&self.conn(), name)
    }

    /// Increments the generation counter (a new build's results are in).
    pub fn generation(&self) -> i64 {
        meta(&self.conn(), "generation")
            .and_then(|v| String::from_utf8(v).ok())
            .and_then(|s| s.parse().ok())
            .unwrap_or(0)
    }
}

pub fn meta(conn: &Connection, name: &str) -> Option<Vec<u8>> {
    conn.prepare_cached("SELECT value FROM meta WHERE name = ?1")
        .and_then(|mut s| s.query_row([name], |r| r.get::<_, Vec<u8>>(0)).optional())
        .ok()
        .flatten()
}

pub fn set_meta(conn: &Connection, name: &str, value: &[u8]) -> rusqlite::Result<()> {
    conn.prepare_cached("INSERT OR REPLACE INTO meta(name, value) VALUES (?1, ?2)")?
        .execute(rusqlite::params![name, value])?;
    Ok(())
}

pub fn delete_meta(conn: &Connection, name: &str) -> rusqlite::Result<()> {
    conn.prepare_cached("DELETE FROM meta WHERE name = ?1")?
        .execute([name])?;
    Ok(())
}

/// Opens a database with `open`; one that is not a database any more (a
/// power cut, a stray write) is deleted with its WAL files and opened again
/// empty: it holds bookkeeping, and losing it only means rebuilding.
pub fn open_afresh_if_damaged(
    path: &Path,
    open: impl Fn() -> rusqlite::Result<Connection>,
) -> rusqlite::Result<Connection> {
    open().or_else(|e| {
        let damaged = matches!(
            e.sqlite_error_code(),
            Some(rusqlite::ErrorCode::DatabaseCorrupt | rusqlite::ErrorCode::NotADatabase)
        );
        if !damaged {
            return Err(e);
        }
        for suffix in ["", "-wal", "-shm"] {
            let mut file = path.as_os_str().to_owned();
            file.push(suffix);
            let _ = std::fs::remove_file(file);
        }
        open()
    })
}

/// Runs `step` again while SQLite says the database is busy, for up to a
/// minute. Switching a new file to WAL or creating its tables takes a write
/// lock, and when several processes open the file at once SQLite can answer
/// "database is locked" without asking the busy handler (a lock upgrade that
/// could deadlock); that once failed a sweep point.
pub fn while_busy<T>(mut step: impl FnMut() -> rusqlite::Result<T>) -> rusqlite::Result<T> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        match step() {
            Err(e)
                if e.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseBusy)
                    && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            done => return done,
        }
    }
}

/// The page cache of a connection to `state.db` or the run database, in KiB
/// (SQLite's default is 2,000): the two held 6 MB of a cold 10,000-stage
/// build's 41 MB peak, and a smaller cache cost no time at 10,000 or
/// 100,000 stages (their writes are appends and their reads scans or single
/// lookups; the OS caches the file anyway).
pub(crate) const PAGE_CACHE_KIB: i64 = 256;

fn prepare(conn: Connection, create: bool) -> rusqlite::Result<Connection> {
    conn.busy_timeout(std::time::Duration::from_secs(60))?;
    // Per connection: one opened to read also writes (the stat cache, run
    // records), and must not fsync every commit (state is bookkeeping; a
    // damaged file is started afresh).
    conn.pragma_update(None, "synchronous", "OFF")?;
    conn.pragma_update(None, "cache_size", -PAGE_CACHE_KIB)?;
    if !create {
        return Ok(conn);
    }
    while_busy(|| conn.pragma_update(None, "journal_mode", "WAL"))?;
    let format: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if format != FORMAT {
        // Two commands may create the file at once: one does it, the other waits.
        while_busy(|| conn.execute_batch("BEGIN IMMEDIATE"))?;
        let format: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        if format != FORMAT {
            conn.execute_batch(
                "DROP TABLE IF EXISTS meta; DROP TABLE IF EXISTS runs; DROP TABLE IF EXISTS files;",
            )?;
            conn.execute_batch(SCHEMA)?;
            conn.pragma_update(None, "user_version", FORMAT)?;
        }
        conn.execute_batch("COMMIT")?;
    }
    Ok(conn)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Both ways of opening the state database keep its page cache small.
    #[test]
    fn the_state_database_keeps_a_small_page_cache() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        let cache = |db: &StateDb| -> i64 {
            db.conn()
                .pragma_query_value(None, "cache_size", |r| r.get(0))
                .unwrap()
        };
        assert_eq!(cache(&StateDb::open(&path).unwrap()), -PAGE_CACHE_KIB);
        assert_eq!(
            cache(&StateDb::open_existing(&path).unwrap()),
            -PAGE_CACHE_KIB
        );
    }
}
