//! `TempArea`: a folder under a `tmp/` root that belongs to one process.
//!
//! Temporary files (staging folders, blob copies) live in the area of the
//! process that made them, never in a folder another process cleans and never
//! next to the outs. The owner holds an exclusive lock on `owner` inside the
//! area for its whole life; the kernel drops it when the process dies, even by
//! SIGKILL. So any process can tell a dead owner's area from a live one without
//! trusting pids, and `sweep_dead` hands dead areas over for recovery and then
//! removes them. A build in one workspace thereby never touches the temporary
//! files of a sweep point sharing its cache, and the reverse.

use std::fs::{File, OpenOptions, TryLockError};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

const OWNER: &str = "owner";
/// Leftovers without an owner lock (an area killed while being created, a
/// temporary file of an older tnsflow) are removed once this old.
const ORPHAN_AGE: Duration = Duration::from_secs(60);

#[derive(Debug)]
pub struct TempArea {
    dir: PathBuf,
    id: String,
    _owner: File,
}

impl TempArea {
    /// Creates and locks a new area under `root`.
    pub fn create(root: &Path) -> io::Result<TempArea> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        std::fs::create_dir_all(root)?;
        // Held while the area is unnamed, so a sweeper never sees it half made.
        let _creating = creation_lock(root)?;
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let id = format!(
            "{}-{nanos:08x}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        // Locked before it gets its visible name, so nobody sees it unowned.
        let hidden = root.join(format!(".{id}.new"));
        std::fs::create_dir(&hidden)?;
        let owner = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(hidden.join(OWNER))?;
        owner.lock()?;
        let dir = root.join(&id);
        std::fs::rename(&hidden, &dir)?;
        Ok(TempArea {
            dir,
            id,
            _owner: owner,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Unique among live areas; marks the processes this one starts.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Whether `root` holds any area, live or dead (one directory listing).
    pub fn any_in(root: &Path) -> bool {
        std::fs::read_dir(root)
            .is_ok_and(|mut entries| entries.any(|e| e.is_ok_and(|e| e.file_name() != CREATE_LOCK)))
    }

    /// Hands every area under `root` whose owner is dead to `recover` (with
    /// its id), then removes it. Returns how many were removed.
    pub fn sweep_dead(root: &Path, mut recover: impl FnMut(&str, &Path)) -> usize {
        let Ok(_creating) = creation_lock(root) else {
            return 0;
        };
        let Ok(entries) = std::fs::read_dir(root) else {
            return 0;
        };
        let mut removed = 0;
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if name == CREATE_LOCK {
                continue;
            }
            // Areas are created under the creation lock, which is held here:
            // an area still without its final name was left by a dead creator.
            let state = if name.starts_with('.') {
                Owner::Unfinished
            } else {
                owner_state(&path)
            };
            let dead = match state {
                Owner::Unfinished => true,
                Owner::Alive => false,
                Owner::Dead(_lock) => {
                    recover(&name, &path);
                    true
                }
                Owner::None => is_old(&path),
            };
            if dead && remove_any(&path).is_ok() {
                removed += 1;
            }
        }
        removed
    }
}

impl Drop for TempArea {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Serializes creating areas with sweeping them (held briefly).
const CREATE_LOCK: &str = ".create.lock";

fn creation_lock(root: &Path) -> io::Result<File> {
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(root.join(CREATE_LOCK))?;
    file.lock()?;
    Ok(file)
}

enum Owner {
    /// Created but never named: its creator died in the middle.
    Unfinished,
    Alive,
    /// Holds the dead owner's lock while its area is recovered.
    Dead(#[allow(dead_code)] File),
    None,
}

fn owner_state(area: &Path) -> Owner {
    let Ok(file) = OpenOptions::new().write(true).open(area.join(OWNER)) else {
        return Owner::None;
    };
    match file.try_lock() {
        Ok(()) => Owner::Dead(file),
        Err(TryLockError::WouldBlock) => Owner::Alive,
        Err(TryLockError::Error(_)) => Owner::None,
    }
}

fn is_old(path: &Path) -> bool {
    std::fs::symlink_metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.elapsed().ok())
        .is_some_and(|age| age > ORPHAN_AGE)
}

fn remove_any(path: &Path) -> io::Result<()> {
    if std::fs::symlink_metadata(path)?.is_dir() {
        std::fs::remove_dir_all(path)
    } else {
        std::fs::remove_file(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A live area is left alone; a dropped one is gone; a dead owner's area
    /// (an owner file nobody locks, as after a SIGKILL) is recovered and removed.
    #[test]
    fn live_areas_survive_dead_ones_are_swept() {
        let root = tempfile::tempdir().unwrap();
        let live = TempArea::create(root.path()).unwrap();
        std::fs::write(live.dir().join("staged"), b"x").unwrap();
        // An area whose creator died before naming it.
        let unfinished = root.path().join(".456-new-0.new");
        std::fs::create_dir_all(&unfinished).unwrap();
        std::fs::write(unfinished.join(OWNER), b"").unwrap();
        let dead = root.path().join("123-dead-0");
        std::fs::create_dir_all(dead.join("stage-a")).unwrap();
        std::fs::write(dead.join(OWNER), b"").unwrap();

        let mut recovered = Vec::new();
        let removed = TempArea::sweep_dead(root.path(), |id, _| recovered.push(id.to_string()));
        assert_eq!((removed, recovered), (2, vec!["123-dead-0".to_string()]));
        assert!(!unfinished.exists());
        assert!(!dead.exists());
        assert!(
            live.dir().join("staged").is_file(),
            "a live area is untouched"
        );

        let live_dir = live.dir().to_path_buf();
        drop(live);
        assert!(!live_dir.exists(), "the owner removes its own area");
    }
}
