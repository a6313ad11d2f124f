//! Which files of a build the workbench reads, found in its state file.
//!
//! The files are found by name among the outs the build recorded
//! (`cases.csv`, `sqlite.db`, `alerts.csv`, `entity_resolution_edges.csv`,
//! `detections/*.csv`), so a pipeline that renames folders still works. The
//! same lookup runs at start-up and whenever the state file changes (a new
//! build while the workbench is serving).

use std::path::{Path, PathBuf};

use crate::record::{BuildState, StateDb};

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

/// Which build the state database holds: a change means a new build.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    pub generation: i64,
}

impl Stamp {
    /// The state database's generation now (None: no database).
    pub fn of(state_file: &Path) -> Option<Stamp> {
        let db = StateDb::open_existing(state_file)?;
        Some(Stamp {
            generation: db.generation(),
        })
    }
}

impl Sources {
    /// The files of the build recorded in `state_file` under `root`; the
    /// error names the required file that no out provides.
    pub fn discover(root: &Path, state_file: &Path) -> Result<Sources, String> {
        // Before reading: a build that lands meanwhile changes it again.
        let stamp = Stamp::of(state_file);
        let records = BuildState::open(state_file).records();
        let mut build = blake3::Hasher::new();
        for r in &records {
            build.update(r.stage.as_bytes());
            build.update(b"\0");
            build.update(r.key.as_bytes());
            build.update(b"\n");
        }
        let build = build.finalize().to_hex()[..16].to_string();
        let outs: Vec<PathBuf> = records
            .iter()
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
