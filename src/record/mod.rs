//! `.tnsflow/`: what earlier builds did and what they produced.
//!
//! - `Store`: content-addressed blobs plus run records by stage key (the action
//!   cache), possibly shared between workspaces;
//! - `BuildState`: the last successful run of each stage in this workspace;
//! - `BuildSnapshot`: the stats a fully successful build saw, for the no-op fast path;
//! - `Manifest`: what a published folder holds, reproducibly;
//! - `gc`: drops what the current state no longer references.
//!
//! Everything is written to a temporary name and renamed into place, so a
//! killed build leaves either the old file or the new one. Knows nothing about
//! YAML or the scheduler.

mod build_snapshot;
mod build_state;
mod error;
mod gc;
mod manifest;
mod run_record;
mod store;
pub mod store_users;
mod temp_area;

pub use build_snapshot::BuildSnapshot;
pub use build_state::BuildState;
pub use error::RecordError;
pub use gc::{gc, GcReport};
pub use manifest::{Manifest, ManifestFile, MANIFEST_FILE};
pub use run_record::RunRecord;
pub use store::{temp_file_owner, write_atomic, Store};
pub use temp_area::TempArea;
