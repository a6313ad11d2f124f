//! `BuildState`: the last successful run of every stage in this workspace,
//! the `runs` table of `state.db`.
//!
//! Read one stage at a time (a build that knows most stages are untouched
//! reads only the others) and written one row per changed stage, so a build
//! costs what it changed, not the size of the graph. A missing or unreadable
//! database means "no state": more rebuilding, never a wrong result, because
//! run records are checked against the outputs anyway.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::state_db::{set_meta, StateDb};
use super::RunRecord;
use crate::RecordResult;

#[derive(Debug, Default)]
pub struct BuildState {
    db: Option<Arc<StateDb>>,
    /// Runs recorded by this command, written by `save`.
    pending: BTreeMap<String, RunRecord>,
    /// Stages to forget, written by `save`.
    forgotten: Vec<String>,
}

impl BuildState {
    /// The state of the workspace whose `state.db` is at `path` (empty if none).
    pub fn open(path: &std::path::Path) -> BuildState {
        BuildState::load(StateDb::open_existing(path).map(Arc::new))
    }

    pub fn load(db: Option<Arc<StateDb>>) -> BuildState {
        BuildState {
            db,
            ..BuildState::default()
        }
    }

    /// The stage's last good run: one recorded by this command, else the stored one.
    pub fn get(&self, stage: &str) -> Option<RunRecord> {
        if let Some(record) = self.pending.get(stage) {
            return Some(record.clone());
        }
        let db = self.db.as_ref()?;
        let conn = db.conn();
        let json: String = conn
            .prepare_cached("SELECT record FROM runs WHERE stage = ?1")
            .and_then(|mut s| s.query_row([stage], |r| r.get(0)))
            .ok()?;
        serde_json::from_str(&json).ok()
    }

    pub fn insert(&mut self, record: RunRecord) {
        self.pending.insert(record.stage.clone(), record);
    }

    /// Every stored run (gc, publish, the workbench), pending ones included.
    pub fn records(&self) -> Vec<RunRecord> {
        let mut all: BTreeMap<String, RunRecord> = BTreeMap::new();
        if let Some(db) = &self.db {
            let conn = db.conn();
            let stored: Vec<(String, String)> = conn
                .prepare("SELECT stage, record FROM runs ORDER BY stage")
                .and_then(|mut s| s.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect())
                .unwrap_or_default();
            for (stage, json) in stored {
                if let Ok(record) = serde_json::from_str(&json) {
                    all.insert(stage, record);
                }
            }
        }
        all.extend(self.pending.clone());
        all.retain(|stage, _| !self.forgotten.contains(stage));
        all.into_values().collect()
    }

    /// The stored runs of stages `keep` rejects: the last runs of stages the
    /// pipeline no longer declares. Only their records are read.
    pub fn dead(&self, keep: impl Fn(&str) -> bool) -> Vec<RunRecord> {
        self.stored_names()
            .iter()
            .filter(|name| !keep(name))
            .filter_map(|name| self.get(name))
            .collect()
    }

    /// The stages with a stored run.
    fn stored_names(&self) -> Vec<String> {
        let Some(db) = &self.db else {
            return Vec::new();
        };
        db.conn()
            .prepare("SELECT stage FROM runs")
            .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
            .unwrap_or_default()
    }

    /// Forgets stages the pipeline no longer declares.
    pub fn retain(&mut self, keep: impl Fn(&str) -> bool) {
        self.pending.retain(|name, _| keep(name));
        let names = self.stored_names();
        self.forgotten
            .extend(names.into_iter().filter(|n| !keep(n)));
    }

    /// Writes `runs` now, in one transaction, as a build goes: a build keeps
    /// only the runs it has not written yet (ninja appends to its log as each
    /// edge finishes). A run is written after its outs are in place, so one
    /// a killed build wrote is true of the disk. The generation is left for
    /// `save` to bump.
    pub fn write_runs<'r>(
        &self,
        runs: impl IntoIterator<Item = &'r RunRecord>,
    ) -> RecordResult<()> {
        let Some(db) = &self.db else { return Ok(()) };
        let mut conn = db.conn();
        let written = (|| {
            let tx = conn.transaction()?;
            put_runs(&tx, runs)?;
            tx.commit()
        })();
        written.map_err(|e| db.error(e))
    }

    /// Writes the pending runs and forgotten stages in one transaction, and
    /// bumps the generation the workbench watches when anything changed.
    pub fn save(&mut self) -> RecordResult<()> {
        if self.pending.is_empty() && self.forgotten.is_empty() {
            return Ok(());
        }
        let Some(db) = &self.db else { return Ok(()) };
        let generation = db.generation() + 1;
        let mut conn = db.conn();
        let written = (|| {
            let tx = conn.transaction()?;
            put_runs(&tx, self.pending.values())?;
            {
                let mut forget = tx.prepare_cached("DELETE FROM runs WHERE stage = ?1")?;
                for stage in &self.forgotten {
                    forget.execute([stage])?;
                }
            }
            set_meta(&tx, "generation", generation.to_string().as_bytes())?;
            tx.commit()
        })();
        written.map_err(|e| db.error(e))?;
        self.pending.clear();
        self.forgotten.clear();
        Ok(())
    }
}

fn put_runs<'r>(
    tx: &rusqlite::Transaction,
    runs: impl IntoIterator<Item = &'r RunRecord>,
) -> rusqlite::Result<()> {
    let mut put =
        tx.prepare_cached("INSERT OR REPLACE INTO runs(stage, record) VALUES (?1, ?2)")?;
    for record in runs {
        let json = serde_json::to_string(record).expect("records serialize");
        put.execute([&record.stage, &json])?;
    }
    Ok(())
}
