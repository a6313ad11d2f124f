//! `FileStat`: the (size, mtime, ctime, inode) that says a file has not
//! changed since it was last looked at, without reading it. ctime is there
//! because mtime can be set back (`touch -r`, an editor keeping it): a
//! same-size edit that restores the mtime still moves the ctime.

use serde::{Deserialize, Serialize};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

/// Entries this close to the moment they were recorded are "racy": the file
/// could be rewritten again within the same timestamp tick without its stat
/// changing, so they are not trusted (git's racy-clean rule).
pub const RACY_WINDOW_NS: i64 = 2_000_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileStat {
    pub size: u64,
    pub mtime_ns: i64,
    /// 0 in entries saved by older versions: they never match, so are rehashed.
    #[serde(default)]
    pub ctime_ns: i64,
    pub ino: u64,
}

impl FileStat {
    pub fn of(meta: &std::fs::Metadata) -> FileStat {
        FileStat {
            size: meta.len(),
            mtime_ns: nanos(meta.mtime(), meta.mtime_nsec()),
            ctime_ns: nanos(meta.ctime(), meta.ctime_nsec()),
            ino: meta.ino(),
        }
    }

    /// The stat of `path`, following symlinks; None when it cannot be read.
    pub fn read(path: &Path) -> Option<FileStat> {
        std::fs::metadata(path).ok().map(|m| FileStat::of(&m))
    }

    /// Whether this stat was taken too close to `recorded_at_ns` to be trusted.
    pub fn is_racy(&self, recorded_at_ns: i64) -> bool {
        self.mtime_ns.saturating_add(RACY_WINDOW_NS) >= recorded_at_ns
    }
}

/// A timestamp in nanoseconds: 64 bits reach the year 2262; a stranger
/// mtime (`touch -d 3000-01-01`) saturates rather than wraps.
fn nanos(secs: i64, nsec: i64) -> i64 {
    secs.saturating_mul(1_000_000_000).saturating_add(nsec)
}

/// Nanoseconds since the epoch (for racy checks only; never inside a stage).
pub fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}
