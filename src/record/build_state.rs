//! `BuildState`: the last successful run of every stage in this workspace.
//!
//! Loaded once at the start of a command and saved once at the end, in one
//! file, so that a no-op build reads one small file. A missing, corrupt or
//! differently versioned file means "no state": more rebuilding, never a wrong
//! result, because run records in the store are checked against outputs anyway.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

use super::{write_atomic, RecordError, RunRecord};
use crate::RecordResult;

const FORMAT: u32 = 1;

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct BuildState {
    format: u32,
    stages: BTreeMap<String, RunRecord>,
}

impl BuildState {
    pub fn load(path: &Path) -> BuildState {
        std::fs::read(path)
            .ok()
            .and_then(|bytes| serde_json::from_slice::<BuildState>(&bytes).ok())
            .filter(|s| s.format == FORMAT)
            .unwrap_or_default()
    }

    pub fn save(&mut self, path: &Path) -> RecordResult<()> {
        self.format = FORMAT;
        let bytes = serde_json::to_vec(self).expect("state serializes");
        write_atomic(path, &bytes).map_err(|source| RecordError::Write {
            path: path.to_path_buf(),
            source,
        })
    }

    pub fn get(&self, stage: &str) -> Option<&RunRecord> {
        self.stages.get(stage)
    }

    pub fn insert(&mut self, record: RunRecord) {
        self.stages.insert(record.stage.clone(), record);
    }

    pub fn records(&self) -> impl Iterator<Item = &RunRecord> {
        self.stages.values()
    }

    /// Forgets stages the pipeline no longer declares.
    pub fn retain(&mut self, keep: impl Fn(&str) -> bool) {
        self.stages.retain(|name, _| keep(name));
    }
}
