//! `FileRow`: one row of `state.db`'s `files` table: a path's stat when it
//! was last checked, its content hash (a folder's is the hash of its
//! listing, prefixed `dir:`), and the hash the no-op snapshot recorded.

use std::borrow::Cow;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use super::StateDb;
use crate::file_stat::FileStat;
use crate::RecordResult;

#[derive(Debug, Clone, PartialEq)]
pub struct FileRow {
    pub path: PathBuf,
    pub stat: FileStat,
    pub hash: Option<String>,
    /// When the hash was taken (the racy rule compares the mtime with it).
    pub checked_ns: i64,
}

/// A row to write, borrowed from whoever holds it (the stat cache keeps
/// hashes as bytes, so its rows bring their hex text along).
#[derive(Debug, Clone)]
pub struct FileRowRef<'a> {
    pub path: &'a Path,
    pub stat: FileStat,
    pub hash: Option<Cow<'a, str>>,
    pub checked_ns: i64,
}

impl<'a> From<&'a FileRow> for FileRowRef<'a> {
    fn from(row: &'a FileRow) -> Self {
        FileRowRef {
            path: &row.path,
            stat: row.stat,
            hash: row.hash.as_deref().map(Cow::Borrowed),
            checked_ns: row.checked_ns,
        }
    }
}

/// What the no-op snapshot recorded for a row's path.
#[derive(Debug, Clone, PartialEq)]
pub enum Snap {
    /// Not in the snapshot.
    Absent,
    /// The row's own hash.
    SameAsHash,
    /// Another hash (the stat cache learned a newer one since).
    Other(String),
}

/// The prefix of a folder's listing hash.
pub const DIR_HASH: &str = "dir:";

impl FileRow {
    /// Every row, sorted by path bytes, with what the snapshot recorded.
    pub fn load_with_snap(db: &StateDb) -> Vec<(FileRow, Snap)> {
        let conn = db.conn();
        // The snapshot's hash is fetched only when it differs from the row's
        // (rare): one string fewer to allocate per row.
        let Ok(mut s) = conn.prepare(
            "SELECT path, size, mtime, ctime, ino, hash, checked, snap IS NOT NULL,
                    CASE WHEN snap IS hash THEN NULL ELSE snap END
             FROM files ORDER BY path",
        ) else {
            return Vec::new();
        };
        let rows = s.query_map([], |r| {
            Ok((
                FileRow {
                    path: PathBuf::from(std::ffi::OsString::from_vec(r.get::<_, Vec<u8>>(0)?)),
                    stat: FileStat {
                        size: r.get::<_, i64>(1)? as u64,
                        mtime_ns: r.get::<_, i64>(2)?,
                        ctime_ns: r.get::<_, i64>(3)?,
                        ino: r.get::<_, i64>(4)? as u64,
                    },
                    hash: r.get(5)?,
                    checked_ns: r.get::<_, i64>(6)?,
                },
                match (r.get::<_, bool>(7)?, r.get::<_, Option<String>>(8)?) {
                    (false, _) => Snap::Absent,
                    (true, None) => Snap::SameAsHash,
                    (true, Some(other)) => Snap::Other(other),
                },
            ))
        });
        rows.map(|rows| rows.flatten().collect())
            .unwrap_or_default()
    }

    pub fn load_all(db: &StateDb) -> Vec<FileRow> {
        FileRow::load_with_snap(db)
            .into_iter()
            .map(|(row, _)| row)
            .collect()
    }

    /// Upserts `rows` (keeping their snapshot flag) and deletes `gone`, in one transaction.
    pub fn save<'a, 'g>(
        db: &StateDb,
        rows: impl IntoIterator<Item = impl Into<FileRowRef<'a>>>,
        gone: impl IntoIterator<Item = &'g Path>,
    ) -> RecordResult<()> {
        let mut rows = rows.into_iter().peekable();
        let mut gone = gone.into_iter().peekable();
        if rows.peek().is_none() && gone.peek().is_none() {
            return Ok(());
        }
        let mut conn = db.conn();
        let written = (|| {
            let tx = conn.transaction()?;
            upsert(&tx, rows, false)?;
            // A row the snapshot holds stays: its path going is a change the
            // next build must see.
            let mut delete =
                tx.prepare_cached("DELETE FROM files WHERE path = ?1 AND snap IS NULL")?;
            for path in gone {
                delete.execute([path.as_os_str().as_bytes()])?;
            }
            drop(delete);
            tx.commit()
        })();
        written.map_err(|e| db.error(e))
    }
}

/// Writes rows; with `snap` their hash also becomes the snapshot's, else
/// the snapshot's hash is kept (the stat cache learning a new hash must not
/// hide a change from the snapshot).
pub fn upsert<'a>(
    conn: &rusqlite::Connection,
    rows: impl IntoIterator<Item = impl Into<FileRowRef<'a>>>,
    snap: bool,
) -> rusqlite::Result<()> {
    let keep_snap = "INSERT INTO files(path, size, mtime, ctime, ino, hash, checked, snap)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, NULL)
             ON CONFLICT(path) DO UPDATE SET size = excluded.size, mtime = excluded.mtime,
               ctime = excluded.ctime, ino = excluded.ino, hash = excluded.hash,
               checked = excluded.checked";
    let set_snap = "INSERT INTO files(path, size, mtime, ctime, ino, hash, checked, snap)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?6)
             ON CONFLICT(path) DO UPDATE SET size = excluded.size, mtime = excluded.mtime,
               ctime = excluded.ctime, ino = excluded.ino, hash = excluded.hash,
               checked = excluded.checked, snap = excluded.snap";
    let mut put = conn.prepare_cached(if snap { set_snap } else { keep_snap })?;
    for row in rows {
        let row: FileRowRef = row.into();
        put.execute(rusqlite::params![
            row.path.as_os_str().as_bytes(),
            row.stat.size as i64,
            row.stat.mtime_ns,
            row.stat.ctime_ns,
            row.stat.ino as i64,
            row.hash.as_deref(),
            row.checked_ns,
        ])?;
    }
    Ok(())
}
