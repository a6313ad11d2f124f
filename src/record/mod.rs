//! `.tnsflow/`: what earlier builds did and what they produced.
//!
//! - `Store`: content-addressed blobs plus run records by stage key (the action
//!   cache), possibly shared between workspaces;
//! - `StateDb`: the workspace's `state.db`, holding:
//! - `BuildState`: the last successful run of each stage in this workspace;
//! - `FileRow`s: the stat cache's rows;
//! - `BuildSnapshot`: the paths a fully successful build saw, for the no-op
//!   fast path and for finding the stages an edit touches;
//! - `Manifest`: what a published folder holds, reproducibly;
//! - `gc`: drops what the current state no longer references.
//!
//! Files are written to a temporary name and renamed into place, databases
//! in transactions, so a killed build leaves either the old state or the new. Knows nothing about
//! YAML or the scheduler.

mod build_snapshot;
mod build_state;
mod error;
mod file_row;
mod gc;
mod manifest;
mod run_record;
mod state_db;
mod store;
pub mod store_users;
mod temp_area;

pub use build_snapshot::{BuildSnapshot, Scope, Verdict};
pub use build_state::BuildState;
pub use error::RecordError;
pub use file_row::{FileRow, FileRowRef, DIR_HASH};
pub use gc::{gc, GcReport};
pub use manifest::{Manifest, ManifestFile, MANIFEST_FILE, PUBLISHING_FILE};
pub use run_record::RunRecord;
pub use state_db::{delete_meta, set_meta, StateDb};
pub use store::{
    remove_dead_temp_files, temp_file_owner, write_atomic, write_atomic_with, PutError, Store,
    Stored, DEFERRED_MIN,
};
pub use temp_area::TempArea;
