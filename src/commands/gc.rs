//! `tnsflow gc`: drop cache entries that no stage's last run uses.

use std::path::Path;

use super::{emit, load_plan};
use crate::record::{self, BuildState, Store};
use crate::schedule::WorkspaceLock;
use crate::Error;

pub fn gc(file: &Path, quiet: bool) -> Result<(), Error> {
    let (plan, layout) = load_plan(file, &[])?;
    let _lock = WorkspaceLock::acquire(&layout.lock_file(), "tnsflow gc")?;
    let mut state = BuildState::load(&layout.state_file());
    state.retain(|name| plan.pipeline.index_of(name).is_some());
    state.save(&layout.state_file())?;
    let store = Store::open(&layout)?;
    let report = record::gc(&store, &state);
    if !quiet {
        emit(&format!(
            "removed {} run records and {} blobs ({:.1} MiB)\n",
            report.runs_removed,
            report.blobs_removed,
            report.bytes_freed as f64 / (1024.0 * 1024.0)
        ));
    }
    Ok(())
}
