//! `BuildSnapshot`: what the last fully successful build looked at, so that a
//! no-op build can stop after one stat per file, as ninja's does.
//!
//! It holds a hash of the request (tool version, pipeline file bytes, `--set`
//! args, targets) and the stat of every file and folder the build's stages
//! read or wrote. If the request is the same and no stat changed, every stage
//! is up to date: nothing the keys depend on can have changed. Folders are
//! included because adding a file to a folder dep or a glob changes the
//! folder's mtime. Anything else (another request, a changed stat, a racy
//! entry) falls back to the full check, which rewrites the snapshot.
//!
//! This is the hot path of the most common command; it must not parse YAML or
//! JSON beyond this one file.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::write_atomic;
use crate::file_stat::{now_ns, FileStat};

const FORMAT: u32 = 1;

#[derive(Debug, Serialize, Deserialize)]
pub struct BuildSnapshot {
    format: u32,
    request: String,
    /// How many stages the build covered (all up to date).
    pub stages: usize,
    saved_at_ns: i128,
    entries: Vec<(PathBuf, FileStat)>,
}

impl BuildSnapshot {
    /// The number of stages, when the snapshot proves a build of `request` has
    /// nothing to do.
    pub fn up_to_date(path: &Path, request: &str) -> Option<usize> {
        let bytes = std::fs::read(path).ok()?;
        let snapshot: BuildSnapshot = serde_json::from_slice(&bytes).ok()?;
        if snapshot.format != FORMAT || snapshot.request != request {
            return None;
        }
        let unchanged = snapshot.entries.iter().all(|(p, stat)| {
            !stat.is_racy(snapshot.saved_at_ns) && FileStat::read(p).as_ref() == Some(stat)
        });
        unchanged.then_some(snapshot.stages)
    }

    /// Records the paths a successful build covered. Writes nothing when a
    /// path is missing or too recent to be trusted yet: the next no-op build
    /// then takes the full check and tries again.
    pub fn save(
        path: &Path,
        request: &str,
        stages: usize,
        paths: impl IntoIterator<Item = PathBuf>,
    ) {
        let _ = std::fs::remove_file(path);
        let now = now_ns();
        let mut entries = BTreeMap::new();
        for p in paths {
            match FileStat::read(&p) {
                Some(stat) if !stat.is_racy(now) => {
                    entries.insert(p, stat);
                }
                _ => return,
            }
        }
        let snapshot = BuildSnapshot {
            format: FORMAT,
            request: request.to_string(),
            stages,
            saved_at_ns: now,
            entries: entries.into_iter().collect(),
        };
        let bytes = serde_json::to_vec(&snapshot).expect("snapshot serializes");
        let _ = write_atomic(path, &bytes);
    }

    pub fn remove(path: &Path) {
        let _ = std::fs::remove_file(path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A snapshot holds only for the same request and unchanged stats, and is
    /// not written while a file is too recent to trust.
    #[test]
    fn holds_for_same_request_and_stats() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a");
        let snap = dir.path().join("snap.json");
        std::fs::write(&file, b"x").unwrap();
        BuildSnapshot::save(&snap, "req", 3, [file.clone()]);
        assert!(!snap.exists(), "a file written just now is racy");

        let old = std::time::SystemTime::now() - std::time::Duration::from_secs(60);
        std::fs::File::options()
            .write(true)
            .open(&file)
            .unwrap()
            .set_modified(old)
            .unwrap();
        BuildSnapshot::save(&snap, "req", 3, [file.clone()]);
        assert_eq!(BuildSnapshot::up_to_date(&snap, "req"), Some(3));
        assert_eq!(BuildSnapshot::up_to_date(&snap, "other"), None);
        std::fs::write(&file, b"y").unwrap();
        assert_eq!(BuildSnapshot::up_to_date(&snap, "req"), None);
    }
}
