//! `tnsflow gc`: drop run records and blobs that no workspace sharing the
//! store uses any more.
//!
//! Run records live in one SQLite file, compacted (VACUUM) when gc removed
//! any: the periodic recompaction of an append-only log.
//!
//! Kept: the run record of each stage's last successful run in every
//! registered workspace (see `store_users`), and the blobs their outs point to. Everything else goes, including the entries that would let a
//! build return to an older parameter set without recomputing. Runs only on
//! request, so it does not have to be fast.

use std::collections::HashSet;

use super::{BuildState, RunRecord, Store};
use crate::RecordResult;

#[derive(Debug, Default, PartialEq, Eq)]
pub struct GcReport {
    pub runs_removed: usize,
    pub blobs_removed: usize,
    pub bytes_freed: u64,
}

pub fn gc(store: &Store, states: &[BuildState]) -> RecordResult<GcReport> {
    let records: Vec<RunRecord> = states.iter().flat_map(BuildState::records).collect();
    let keys: HashSet<&str> = records.iter().map(|r| r.key.as_str()).collect();
    let blobs: HashSet<&str> = records
        .iter()
        .flat_map(|r| r.outs.values().map(String::as_str))
        .collect();
    let mut report = GcReport {
        runs_removed: store.remove_runs(|key| keys.contains(key))?,
        ..GcReport::default()
    };
    let (inline_removed, inline_bytes) = store.remove_inline_blobs(|hash| blobs.contains(hash))?;
    report.blobs_removed += inline_removed;
    report.bytes_freed += inline_bytes;
    for (hash, path) in store.blob_files() {
        if blobs.contains(hash.as_str()) {
            continue;
        }
        let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        if std::fs::remove_file(&path).is_ok() {
            report.blobs_removed += 1;
            report.bytes_freed += size;
        }
    }
    Ok(report)
}
