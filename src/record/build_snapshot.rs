//! `BuildSnapshot`: what the last fully successful build looked at, so that
//! the next build stops after one stat per file when nothing changed (as
//! ninja's does), and otherwise knows *which* paths changed, so only the
//! stages that read them are checked again.
//!
//! It is the request (tool version, pipeline file bytes, `--set` args,
//! targets) in `state.db`'s `meta` table plus, on the `files` row of every
//! file and folder the build's stages read or wrote, the hash it had then
//! (`snap`). A path counts as changed when its hash now differs: the stat
//! cache's hash is trusted when the stat is unchanged and not racy, else the
//! file is hashed again, one at a time (git's rule for racy index entries);
//! a folder's hash is that of its listing. Folders are included because adding a file to a folder dep or a
//! glob changes the folder.

use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use super::file_row::{upsert, Snap, DIR_HASH};
use super::state_db::{delete_meta, meta, set_meta};
use super::{FileRow, StateDb};
use crate::content_hash;
use crate::file_stat::{now_ns, FileStat};
use crate::RecordResult;

/// What the snapshot says about a request.
#[derive(Debug, PartialEq)]
pub enum Verdict {
    /// Nothing changed: every one of this many stages is up to date.
    UpToDate(usize),
    /// These paths changed (content, presence or listing) since the snapshot.
    Changed(Vec<PathBuf>),
    /// No snapshot for this request: check everything.
    Unknown,
}

/// Which rows a save replaces.
pub enum Scope<'a> {
    /// The whole snapshot (a build that checked every stage) of the
    /// workspace at this root. Rows outside the root that the new snapshot
    /// does not hold go too: a moved or copied workspace's old paths, which
    /// nothing would read again.
    Full(&'a Path),
    /// Only these changed paths leave it (their readers' paths are re-added).
    Changed(&'a [PathBuf]),
}

pub struct BuildSnapshot;

impl BuildSnapshot {
    /// Checks the snapshot of `request` against the disk. Returns the verdict
    /// and every `files` row (re-validated ones refreshed), for the stat cache.
    pub fn check(db: &StateDb, request: &str) -> (Verdict, Vec<FileRow>) {
        let (verdict, rows, _) = BuildSnapshot::check_knowing(db, request);
        (verdict, rows)
    }

    /// `check`, also saying, row by row, which paths of the snapshot were
    /// found unchanged (what planning would otherwise stat). Rows are sorted
    /// by path bytes.
    pub fn check_knowing(db: &StateDb, request: &str) -> (Verdict, Vec<FileRow>, Vec<bool>) {
        let rows = FileRow::load_with_snap(db);
        let stages = {
            let conn = db.conn();
            (meta(&conn, "snapshot.request").as_deref() == Some(request.as_bytes()))
                .then(|| meta(&conn, "snapshot.stages"))
                .flatten()
                .and_then(|v| String::from_utf8(v).ok()?.parse::<usize>().ok())
        };
        let Some(stages) = stages else {
            let unchanged = vec![false; rows.len()];
            let rows = rows.into_iter().map(|(r, _)| r).collect();
            return (Verdict::Unknown, rows, unchanged);
        };
        let now = now_ns();
        let looked: Vec<(FileRow, bool, Option<Refresh>, bool)> = rows
            .into_par_iter()
            .map(|(row, snap)| {
                let expected = match &snap {
                    Snap::Absent => return (row, false, None, false),
                    Snap::SameAsHash => row.hash.as_deref(),
                    Snap::Other(hash) => Some(hash.as_str()),
                };
                let (hash, refresh) = look(&row);
                let changed = expected.is_none() || hash.as_deref() != expected;
                (row, changed, refresh, true)
            })
            .collect();
        let mut changed = Vec::new();
        let mut refreshed = Vec::new();
        let mut unchanged = Vec::with_capacity(looked.len());
        let mut all = Vec::with_capacity(looked.len());
        for (mut row, is_changed, refresh, in_snapshot) in looked {
            if is_changed {
                changed.push(row.path.clone());
            }
            unchanged.push(in_snapshot && !is_changed);
            if let Some((stat, hash)) = refresh {
                row.stat = stat;
                row.hash = Some(hash);
                row.checked_ns = now;
                refreshed.push(row.clone());
            }
            all.push(row);
        }
        // Re-validated rows are worth keeping whatever the verdict: the next
        // command then trusts them without hashing.
        let _ = FileRow::save(db, &refreshed, []);
        let verdict = if changed.is_empty() {
            Verdict::UpToDate(stages)
        } else {
            changed.sort();
            Verdict::Changed(changed)
        };
        (verdict, all, unchanged)
    }

    /// Drops the snapshot (a build is starting; only its success makes a new one).
    pub fn invalidate(db: &StateDb) -> RecordResult<()> {
        delete_meta(&db.conn(), "snapshot.request").map_err(|e| db.error(e))
    }

    /// Records what a fully successful build of `request` covered: `rows`
    /// join the snapshot, and `scope` says which rows leave it first. The
    /// rows come in chunks, each written as it comes, so that a big graph's
    /// rows (200,000 at 100,000 stages) are never all in memory; a `None`
    /// chunk abandons the snapshot, nothing written. Returns whether it was saved.
    pub fn save(
        db: &StateDb,
        request: &str,
        stages: usize,
        scope: Scope<'_>,
        chunks: impl IntoIterator<Item = Option<Vec<FileRow>>>,
    ) -> RecordResult<bool> {
        let mut conn = db.conn();
        let written = (|| {
            let tx = conn.transaction()?;
            match scope {
                Scope::Full(_) => {
                    tx.execute("UPDATE files SET snap = NULL WHERE snap IS NOT NULL", [])?;
                }
                Scope::Changed(paths) => {
                    let mut unset =
                        tx.prepare_cached("UPDATE files SET snap = NULL WHERE path = ?1")?;
                    for path in paths {
                        unset.execute([path.as_os_str().as_bytes()])?;
                    }
                }
            }
            for chunk in chunks {
                let Some(rows) = chunk else {
                    return Ok(false); // the transaction rolls back
                };
                upsert(&tx, &rows, true)?;
            }
            if let Scope::Full(root) = scope {
                // Paths under the root sort between `root/` and `root0`
                // (`/` and `0` for the root `/`).
                let root = root.as_os_str().as_bytes();
                let base = root.strip_suffix(b"/").unwrap_or(root);
                let under = [base, b"/"].concat();
                let past = [base, b"0"].concat();
                tx.execute(
                    "DELETE FROM files WHERE snap IS NULL AND (path < ?1 OR path >= ?2)",
                    rusqlite::params![under, past],
                )?;
            }
            set_meta(&tx, "snapshot.request", request.as_bytes())?;
            set_meta(&tx, "snapshot.stages", stages.to_string().as_bytes())?;
            tx.commit().map(|()| true)
        })();
        written.map_err(|e| db.error(e))
    }

    /// Re-hashes the file rows that were racy when hashed (an out is hashed
    /// the moment it is written) but are old enough now to be trusted, so
    /// that the next no-op does not have to: a cold build's first no-op used
    /// to re-read every out. Returns false when one changed since it was
    /// hashed (the snapshot must then not be saved).
    pub fn settle(rows: &mut [FileRow]) -> bool {
        let now = now_ns();
        rows.par_iter_mut()
            .filter(|row| {
                let is_file = row
                    .hash
                    .as_deref()
                    .is_some_and(|h| !h.starts_with(DIR_HASH));
                is_file && row.stat.is_racy(row.checked_ns) && !row.stat.is_racy(now)
            })
            .all(|row| {
                let same = FileStat::read(&row.path) == Some(row.stat)
                    && content_hash::of_file(&row.path).ok() == row.hash;
                row.checked_ns = now;
                same
            })
    }

    /// The snapshot row of a folder as it is now.
    pub fn dir_row(path: &Path) -> Option<FileRow> {
        let stat = FileStat::read(path)?;
        Some(FileRow {
            path: path.to_path_buf(),
            stat,
            hash: Some(listing_hash(path)?),
            checked_ns: now_ns(),
        })
    }
}

/// A path's new stat and hash, when it had to be read again.
type Refresh = (FileStat, String);

/// The path's hash now (None: gone or unreadable), reading it only when its
/// stat changed or is racy; then also the row's new values.
fn look(row: &FileRow) -> (Option<String>, Option<Refresh>) {
    let Some(stat) = FileStat::read(&row.path) else {
        return (None, None);
    };
    if stat == row.stat && !stat.is_racy(row.checked_ns) {
        return (row.hash.clone(), None);
    }
    let is_dir = row.hash.as_deref().is_some_and(|h| h.starts_with(DIR_HASH));
    let current = if is_dir {
        listing_hash(&row.path)
    } else {
        crate::disk::regular_file(&row.path)
            .ok()
            .and_then(|_| content_hash::of_file(&row.path).ok())
    };
    match current {
        Some(hash) => (Some(hash.clone()), Some((stat, hash))),
        None => (None, None),
    }
}

/// A folder's names and entry types, hashed (`dir:` + hex).
fn listing_hash(path: &Path) -> Option<String> {
    let mut names: Vec<(Vec<u8>, bool)> = std::fs::read_dir(path)
        .ok()?
        .flatten()
        .map(|e| {
            let is_dir = e.file_type().is_ok_and(|t| t.is_dir());
            (e.file_name().as_bytes().to_vec(), is_dir)
        })
        .collect();
    names.sort();
    let mut h = blake3::Hasher::new();
    for (name, is_dir) in names {
        h.update(&name);
        h.update(if is_dir { b"/\0" } else { b"\0" });
    }
    Some(format!("{DIR_HASH}{}", h.finalize().to_hex()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(path: &Path) -> FileRow {
        let bytes = std::fs::read(path).unwrap();
        FileRow {
            path: path.to_path_buf(),
            stat: FileStat::read(path).unwrap(),
            hash: Some(content_hash::of_bytes(&bytes)),
            checked_ns: now_ns(),
        }
    }

    /// A chunk that comes as None (a path changed during the build)
    /// abandons the whole snapshot: the rows of the chunks before it are not
    /// written and the snapshot stays unset.
    #[test]
    fn an_abandoned_snapshot_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let db = StateDb::open(&dir.path().join("state.db")).unwrap();
        let [a, b] = ["a", "b"].map(|n| dir.path().join(n));
        std::fs::write(&a, b"a").unwrap();
        std::fs::write(&b, b"b").unwrap();
        let chunks = [Some(vec![row(&a)]), None, Some(vec![row(&b)])];
        let saved = BuildSnapshot::save(&db, "req", 2, Scope::Full(dir.path()), chunks);
        assert!(!saved.unwrap());
        assert!(FileRow::load_all(&db).is_empty());
        assert_eq!(BuildSnapshot::check(&db, "req").0, Verdict::Unknown);

        let chunks = [Some(vec![row(&a)]), Some(vec![row(&b)])];
        let saved = BuildSnapshot::save(&db, "req", 2, Scope::Full(dir.path()), chunks);
        assert!(saved.unwrap());
        assert_eq!(FileRow::load_all(&db).len(), 2);
        assert_eq!(BuildSnapshot::check(&db, "req").0, Verdict::UpToDate(2));
    }

    /// A full save forgets the rows outside the workspace that it does not
    /// hold (a moved workspace's old paths), and keeps the others.
    #[test]
    fn full_save_forgets_rows_outside_the_workspace() {
        let dir = tempfile::tempdir().unwrap();
        let (old, new) = (dir.path().join("old"), dir.path().join("new"));
        for folder in [&old, &new] {
            std::fs::create_dir_all(folder).unwrap();
            std::fs::write(folder.join("a.txt"), "a").unwrap();
            std::fs::write(folder.join("b.txt"), "b").unwrap();
        }
        std::fs::write(dir.path().join("new0.txt"), "sorts just past new/").unwrap();
        let db = StateDb::open(&dir.path().join("state.db")).unwrap();
        let stale = [old.join("a.txt"), dir.path().join("new0.txt")].map(|p| row(&p));
        FileRow::save(&db, &stale, []).unwrap();
        FileRow::save(&db, &[row(&new.join("b.txt"))], []).unwrap();
        BuildSnapshot::save(
            &db,
            "req",
            1,
            Scope::Full(&new),
            [Some(vec![row(&new.join("a.txt"))])],
        )
        .unwrap();
        let paths: Vec<PathBuf> = FileRow::load_all(&db).into_iter().map(|r| r.path).collect();
        assert_eq!(paths, [new.join("a.txt"), new.join("b.txt")]);
    }

    /// A snapshot holds for the same request; a racy file is re-hashed (not
    /// changed if its bytes are the same); an edit is reported by path.
    #[test]
    fn holds_for_same_request_and_names_changes() {
        let dir = tempfile::tempdir().unwrap();
        let db = StateDb::open(&dir.path().join("state.db")).unwrap();
        let file = dir.path().join("a");
        std::fs::write(&file, b"x").unwrap();
        BuildSnapshot::save(
            &db,
            "req",
            3,
            Scope::Full(dir.path()),
            [Some(vec![row(&file)])],
        )
        .unwrap();
        // Racy (written just now) but unchanged: still up to date.
        assert_eq!(BuildSnapshot::check(&db, "req").0, Verdict::UpToDate(3));
        assert_eq!(BuildSnapshot::check(&db, "other").0, Verdict::Unknown);
        std::fs::write(&file, b"y").unwrap();
        assert_eq!(
            BuildSnapshot::check(&db, "req").0,
            Verdict::Changed(vec![file.clone()])
        );
        BuildSnapshot::invalidate(&db).unwrap();
        assert_eq!(BuildSnapshot::check(&db, "req").0, Verdict::Unknown);
    }

    /// A row hashed the moment its file was written is re-verified once the
    /// file is old enough (then trusted without a read); a file whose bytes
    /// changed without its stat changing (same size, mtime put back) makes
    /// the snapshot unsaveable.
    #[test]
    fn settle_reverifies_racy_rows() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("out.txt");
        std::fs::write(&file, b"one").unwrap();
        let old = std::time::SystemTime::now() - std::time::Duration::from_secs(60);
        let set_old = |f: &Path| {
            std::fs::File::options()
                .write(true)
                .open(f)
                .unwrap()
                .set_modified(old)
                .unwrap()
        };
        set_old(&file);
        let mut racy = row(&file);
        racy.checked_ns = racy.stat.mtime_ns; // hashed as it was written
        let mut rows = vec![racy.clone()];
        assert!(BuildSnapshot::settle(&mut rows));
        assert!(
            !rows[0].stat.is_racy(rows[0].checked_ns),
            "trusted from now on"
        );

        std::fs::write(&file, b"two").unwrap();
        set_old(&file);
        let mut changed = racy.clone();
        changed.stat = FileStat::read(&file).unwrap();
        changed.checked_ns = changed.stat.mtime_ns;
        assert!(!BuildSnapshot::settle(&mut [changed]));
    }

    /// A folder counts as changed when its listing does, not when only its stat does.
    #[test]
    fn folders_compare_by_listing() {
        let dir = tempfile::tempdir().unwrap();
        let db = StateDb::open(&dir.path().join("state.db")).unwrap();
        let folder = dir.path().join("sql");
        std::fs::create_dir(&folder).unwrap();
        std::fs::write(folder.join("a.sql"), b"select 1").unwrap();
        let dir_row = BuildSnapshot::dir_row(&folder).unwrap();
        BuildSnapshot::save(
            &db,
            "req",
            1,
            Scope::Full(dir.path()),
            [Some(vec![dir_row])],
        )
        .unwrap();
        assert_eq!(BuildSnapshot::check(&db, "req").0, Verdict::UpToDate(1));
        std::fs::write(folder.join("b.sql"), b"select 2").unwrap();
        assert_eq!(
            BuildSnapshot::check(&db, "req").0,
            Verdict::Changed(vec![folder.clone()])
        );
    }
}
