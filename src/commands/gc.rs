//! `tnsflow gc`: drop cache entries that no stage's last run uses.

use std::path::Path;

use super::{emit, load_plan};
use std::collections::HashSet;

use crate::layout::Layout;
use crate::record::{self, store_users, BuildState, Store};
use crate::schedule::{LockError, WorkspaceLock};
use crate::Error;

pub fn gc(file: &Path, quiet: bool) -> Result<(), Error> {
    let (plan, layout) = load_plan(file, &[])?;
    let _lock = WorkspaceLock::acquire(&layout.lock_file(), "tnsflow gc")?;
    let lock_error = |source| LockError::Io {
        path: layout.gc_lock_file(),
        source,
    };
    let Some(_store_to_itself) = store_users::try_exclusive(&layout).map_err(lock_error)? else {
        return Err(LockError::Held {
            holder: "a build in a workspace sharing this cache".into(),
            path: layout.gc_lock_file(),
        }
        .into());
    };
    let mut state = BuildState::open(&layout.state_file());
    let known: HashSet<&str> = plan.stages.iter().map(|s| s.name()).collect();
    state.retain(|name| known.contains(name));
    state.save()?;
    let store = Store::open(&layout)?;
    // Every other workspace sharing the store (sweep points, other checkouts)
    // keeps what its last build uses.
    let mut states = vec![state];
    for root in store_users::registered_roots(&layout) {
        if root != layout.root() {
            states.push(BuildState::open(&Layout::new(&root).state_file()));
        }
    }
    let report = record::gc(&store, &states)?;
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
