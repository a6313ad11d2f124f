//! Which files of a build the workbench reads, found in its state file.
//!
//! The files are found by name among the outs the build recorded
//! (`cases.csv`, `sqlite.db`, `alerts.csv`, `entity_resolution_edges.csv`,
//! `detections/*.csv`), so a pipeline that renames folders still works. The
//! same lookup runs at start-up and whenever the state file changes (a new
//! build while the workbench is serving).

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::record::BuildState;

/// Where a build put the files the workbench reads.
#[derive(Debug, Clone)]
pub struct Sources {
    pub cases: PathBuf,
    pub db: PathBuf,
    pub alerts: Option<PathBuf>,
    pub edges: Option<PathBuf>,
    pub detections: Vec<PathBuf>,
    /// The build: a hash of its state file, stored with every review.
    pub build: String,
    /// The state file when it was read, to notice the next build.
    pub stamp: Option<Stamp>,
}

/// What the state file looked like: a change means a new build.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    pub modified: Option<SystemTime>,
    pub len: u64,
}

impl Stamp {
    /// The state file's modification time and size now (None: no file).
    pub fn of(state_file: &Path) -> Option<Stamp> {
        let meta = std::fs::metadata(state_file).ok()?;
        Some(Stamp {
            modified: meta.modified().ok(),
            len: meta.len(),
        })
    }
}

impl Sources {
    /// The files of the build recorded in `state_file` under `root`; the
    /// error names the required file that no out provides.
    pub fn discover(root: &Path, state_file: &Path) -> Result<Sources, String> {
        // Before reading: a build that lands meanwhile changes it again.
        let stamp = Stamp::of(state_file);
        let bytes = std::fs::read(state_file).unwrap_or_default();
        let build = blake3::hash(&bytes).to_hex()[..16].to_string();
        let state = BuildState::load(state_file);
        let outs: Vec<PathBuf> = state
            .records()
            .flat_map(|r| r.outs.keys())
            .map(|out| root.join(out))
            .filter(|path| path.is_file())
            .collect();
        let named = |name: &str| {
            outs.iter()
                .find(|p| p.file_name() == Some(name.as_ref()))
                .cloned()
        };
        let required = |name: &str| {
            named(name).ok_or_else(|| {
                format!(
                    "no `{name}` among the outs of the last build in `{}`; run `tnsflow build` first",
                    root.display()
                )
            })
        };
        let mut detections: Vec<PathBuf> = outs
            .iter()
            .filter(|p| {
                p.extension().is_some_and(|e| e == "csv")
                    && p.parent()
                        .and_then(Path::file_name)
                        .is_some_and(|d| d == "detections")
            })
            .cloned()
            .collect();
        detections.sort();
        Ok(Sources {
            cases: required("cases.csv")?,
            db: required("sqlite.db")?,
            alerts: named("alerts.csv"),
            edges: named("entity_resolution_edges.csv"),
            detections,
            build,
            stamp,
        })
    }
}
