//! What a killed build left behind, put right before the next one starts.
//!
//! Run under the workspace lock, before any stage is checked: for every temp
//! area whose owner is dead (see `TempArea`), kill the processes it started
//! that are still running, roll back its unfinished publications (the old outs
//! go back in place), and remove the temporary files it left beside
//! `.tnsflow/` files and outs. After this, the workspace holds only complete
//! files, each either recorded or simply stale.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::disk::RealDisk;
use crate::execute::{children, recover};
use crate::layout::Layout;
use crate::plan::Plan;
use crate::record::{remove_dead_temp_files, TempArea};

/// What recovery did, for a note on stderr.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Recovered {
    /// Processes (by pid) whose build died.
    pub dead_builds: usize,
    /// Processes those builds started that were still running.
    pub orphans_killed: usize,
    pub outs_restored: usize,
}

/// `settled` stages (no change reaches them) keep their out folders
/// unlisted unless a dead build is found; `changed` folders are swept too
/// (a leftover there is what changed their listing).
pub fn recover_dead_builds(
    layout: &Layout,
    plan: &Plan,
    settled: &[bool],
    changed: &[PathBuf],
) -> Recovered {
    let mut report = Recovered::default();
    let mut dead_pids = BTreeSet::new();
    let mut roots = vec![layout.tmp_dir()];
    if layout.cache_tmp_dir() != layout.tmp_dir() {
        roots.push(layout.cache_tmp_dir());
    }
    for root in &roots {
        TempArea::sweep_dead(root, |id, area| {
            dead_pids.insert(id.split('-').next().unwrap_or(id).to_string());
            report.orphans_killed += children::kill_orphans(id);
            for staging in subfolders(area) {
                report.outs_restored += recover(&RealDisk, &staging).unwrap_or(0);
            }
        });
    }
    report.dead_builds = dead_pids.len();
    // Temporary files of dead processes beside state files and outs (older
    // tnsflow versions staged outs next to them). Only the out folders of
    // stages a change reaches, unless a build died: listing every out folder
    // of 100,000 stages is what a build after a one-file edit must not do.
    let mut folders: BTreeSet<PathBuf> = BTreeSet::new();
    folders.insert(layout.local_dir());
    folders.insert(layout.roots_dir());
    folders.extend(changed.iter().filter(|p| p.is_dir()).cloned());
    let everything = report.dead_builds > 0;
    for (i, stage) in plan.stages.iter().enumerate() {
        if settled[i] && !everything {
            continue;
        }
        for out in &stage.decl.outs {
            if let Some(dir) = layout.root().join(out).parent() {
                folders.insert(dir.to_path_buf());
            }
        }
    }
    for folder in &folders {
        remove_dead_temp_files(folder);
    }
    report
}

fn subfolders(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.is_dir())
                .collect()
        })
        .unwrap_or_default()
}
