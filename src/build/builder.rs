//! `Builder`: brings one stage at a time up to date for the scheduler.
//!
//! For each stage, once its deps are done: compute its key from the disk, then
//! keep it (fresh), restore its outs from the store, or run it and publish
//! its outs. Both restoring and running end in one `Publication`, so a stage's
//! outs change all together or not at all, and a file tnsflow did not produce
//! is never deleted. The order of a run is: outs staged and checked, blobs
//! stored, run record saved, then the outs swapped in; a failure anywhere
//! before the swap leaves the workspace untouched, a failure during it rolls
//! back, and a kill is rolled back by the next build (`recovery`). An out of
//! `DEFERRED_MIN` bytes or more only has room for its blob taken before the
//! swap; its bytes are copied, and then the run recorded, after the
//! scheduler has told its consumers it finished (`archive`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::Sender;
use std::sync::Mutex;
use std::time::Instant;

use super::runner::{file_name, RunContext, StageRunner};
use crate::disk::{regular_file, Disk, RealDisk};
use crate::execute::{has_journal, interrupt, recover, Publication, StageError};
use crate::layout::Layout;
use crate::plan::{check, Check, Plan, PlannedStage, StatCache};
use crate::record::{BuildState, PutError, RunRecord, Store, Stored, TempArea};
use crate::schedule::{Event, Executor, Outcome};
use crate::StageResult;

/// Where a build keeps its temporary files: one area in the workspace (staging)
/// and one in the store (blob copies); the same root when the store is local.
pub struct Areas {
    pub local: TempArea,
    pub cache: TempArea,
}

impl Areas {
    pub fn create(layout: &Layout) -> std::io::Result<Areas> {
        Ok(Areas {
            local: TempArea::create(&layout.tmp_dir())?,
            cache: TempArea::create(&layout.cache_tmp_dir())?,
        })
    }

    /// Ends the build's use of its temp areas. A publication whose rollback
    /// could not finish is rolled back now; if even that fails, the area is
    /// left in place (its lock goes with the process) for the next build's
    /// recovery, rather than deleting the old outs it holds.
    pub fn close(self) {
        let unfinished: Vec<PathBuf> = std::fs::read_dir(self.local.dir())
            .map(|d| {
                d.flatten()
                    .map(|e| e.path())
                    .filter(|p| has_journal(p))
                    .collect()
            })
            .unwrap_or_default();
        let settled = unfinished
            .iter()
            .all(|staging| recover(&RealDisk, staging).is_ok());
        if !settled {
            std::mem::forget(self.local);
        }
    }
}

pub struct Builder<'a> {
    pub plan: &'a Plan,
    pub layout: &'a Layout,
    pub store: &'a Store,
    pub stats: &'a StatCache,
    /// The state as it was when the build started (read-only during the build).
    pub state: &'a BuildState,
    pub forced: &'a [usize],
    /// Stages no change can have reached (see `plan::untouched`): up to
    /// date without a check.
    pub settled: &'a [bool],
    pub disk: &'a dyn Disk,
    pub runner: &'a dyn StageRunner,
    pub areas: &'a Areas,
    /// Runs that are now the stage's last good run, not yet written to
    /// `state.db` (see `keep`).
    records: Mutex<BTreeMap<usize, RunRecord>>,
    errors: Mutex<BTreeMap<usize, StageError>>,
    /// Runs whose outs are still to be copied into the store, by stage index.
    archives: Mutex<BTreeMap<usize, Archive>>,
    warnings: Mutex<Vec<String>>,
}

/// How many new last good runs a build holds before writing them to
/// `state.db`: holding every one was 11 MB at 10,000 stages.
const WRITE_RUNS_EVERY: usize = 256;

/// What a build did, stage by stage.
#[derive(Debug, Default)]
pub struct BuildReport {
    /// New last good runs not written to `state.db` yet, by stage index.
    pub records: BTreeMap<usize, RunRecord>,
    /// Why each failed stage failed.
    pub errors: BTreeMap<usize, StageError>,
    /// What went wrong that failed no stage (a copy the store could not keep).
    pub warnings: Vec<String>,
}

impl<'a> Builder<'a> {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        plan: &'a Plan,
        layout: &'a Layout,
        store: &'a Store,
        stats: &'a StatCache,
        state: &'a BuildState,
        forced: &'a [usize],
        settled: &'a [bool],
        disk: &'a dyn Disk,
        runner: &'a dyn StageRunner,
        areas: &'a Areas,
    ) -> Builder<'a> {
        Builder {
            plan,
            layout,
            store,
            stats,
            state,
            forced,
            settled,
            disk,
            runner,
            areas,
            records: Mutex::new(BTreeMap::new()),
            errors: Mutex::new(BTreeMap::new()),
            archives: Mutex::new(BTreeMap::new()),
            warnings: Mutex::new(Vec::new()),
        }
    }

    /// What the build did. Copies into the store that never got a worker
    /// (the build stopped first) are given up: their room is freed.
    pub fn into_report(self) -> BuildReport {
        for (_, archive) in self.archives.into_inner().expect("archives lock") {
            archive.ran.abandon();
        }
        BuildReport {
            records: self.records.into_inner().expect("records lock"),
            errors: self.errors.into_inner().expect("errors lock"),
            warnings: self.warnings.into_inner().expect("warnings lock"),
        }
    }
}

impl Executor for Builder<'_> {
    fn check(&self, i: usize) -> Option<Outcome> {
        if self.forced.contains(&i) {
            return None;
        }
        if self.settled.get(i) == Some(&true) {
            return Some(Outcome::UpToDate);
        }
        let stage = &self.plan.stages[i];
        let root = self.layout.root();
        let current = stage.current(root, self.stats).ok()?;
        let last = self.state.get(stage.name());
        match check(root, &current, last.as_ref(), self.store, self.stats) {
            Check::Fresh(run) => {
                self.keep(i, run, last.as_ref());
                Some(Outcome::UpToDate)
            }
            _ => None,
        }
    }

    fn has_work_after(&self, i: usize) -> bool {
        self.archives
            .lock()
            .expect("archives lock")
            .contains_key(&i)
    }

    fn after_finished(&self, i: usize) {
        let archive = self.archives.lock().expect("archives lock").remove(&i);
        if let Some(archive) = archive {
            self.archive(archive);
        }
    }

    fn execute(&self, i: usize, events: &Sender<Event>) -> Outcome {
        match self.bring_up_to_date(i, events) {
            Ok(outcome) => outcome,
            Err(error) => {
                self.errors.lock().expect("errors lock").insert(i, error);
                Outcome::Failed
            }
        }
    }
}

impl Builder<'_> {
    fn bring_up_to_date(&self, i: usize, events: &Sender<Event>) -> StageResult<Outcome> {
        if interrupt::requested() {
            return Err(StageError::Interrupted);
        }
        let stage = &self.plan.stages[i];
        let root = self.layout.root();
        let current = stage.current(root, self.stats)?;
        let last = self.state.get(stage.name());
        let last = last.as_ref();
        let verdict = if self.forced.contains(&i) {
            Check::Run(Vec::new())
        } else {
            check(root, &current, last, self.store, self.stats)
        };
        match verdict {
            Check::Fresh(run) => {
                self.keep(i, run, last);
                return Ok(Outcome::UpToDate);
            }
            Check::Restore(run, _) if self.restore(stage, &run)? => {
                self.keep(i, run, last);
                return Ok(Outcome::Restored);
            }
            Check::Restore(..) | Check::Run(_) => {}
        }
        let key_lock = self
            .store
            .lock_key(&current.key)
            .map_err(|source| StageError::LockKey {
                key: current.key.clone(),
                source,
            })?;
        // Another build sharing the cache may have run this key while we waited.
        if !self.forced.contains(&i) {
            if let Some(run) = self.store.load_run(&current.key) {
                if self.restore(stage, &run)? {
                    self.keep(i, run, last);
                    return Ok(Outcome::Restored);
                }
            }
        }
        let _ = events.send(Event::Started(i));
        interrupt::running(stage.name(), true);
        let started = Instant::now();
        let result = self.run(stage, current, started);
        interrupt::running(stage.name(), false);
        let ran = result?;
        let record = ran.record.clone();
        if !ran.copies.is_empty() {
            // The key stays locked until the run is recorded: a build sharing
            // the cache then finds the record rather than running it again.
            let archive = Archive {
                ran,
                _key_lock: key_lock,
            };
            self.archives
                .lock()
                .expect("archives lock")
                .insert(i, archive);
        }
        self.keep(i, record, None);
        Ok(Outcome::Ran)
    }

    /// Copies a stage's big outs into the store once its consumers have
    /// been told it finished (they read the outs, not the copies), then
    /// saves its run record, which only ever names blobs that exist. An out
    /// that changed since it was hashed is not stored and the run is not
    /// recorded: a build that needs it back runs the stage again. So is a
    /// copy the disk refused, with a warning: the outs themselves are good.
    fn archive(&self, archive: Archive) {
        let Ran { record, copies } = &archive.ran;
        let mut whole = true;
        for copy in copies {
            if !whole || interrupt::requested() {
                let _ = std::fs::remove_file(&copy.partial);
                whole = false;
                continue;
            }
            match self
                .store
                .fill(self.disk, &copy.out, &copy.partial, &copy.hash)
            {
                Ok(filed) => whole = filed,
                Err(source) => {
                    whole = false;
                    self.warn(format!(
                        "cannot store `{}` in the cache `{}`: {source}; it is built, but a build that needs it back will run `{}` again",
                        copy.out.display(),
                        self.layout.blobs_dir().display(),
                        record.stage
                    ));
                }
            }
        }
        if whole {
            if let Err(e) = self.store.save_run(record) {
                self.warn(format!(
                    "cannot record the run of `{}` in the cache: {e}; a build that needs its outs back will run it again",
                    record.stage
                ));
            }
        }
    }

    fn warn(&self, warning: String) {
        self.warnings.lock().expect("warnings lock").push(warning);
    }

    /// Makes `run` the stage's last good run (renamed stages keep their own name).
    fn keep(&self, i: usize, mut run: RunRecord, last: Option<&RunRecord>) {
        if last == Some(&run) {
            return;
        }
        run.stage = self.plan.stages[i].name().to_string();
        let mut records = self.records.lock().expect("records lock");
        records.insert(i, run);
        // Written as the build goes. One that cannot be written stays here,
        // and the build's last save says why.
        if records.len() >= WRITE_RUNS_EVERY && self.state.write_runs(records.values()).is_ok() {
            records.clear();
        }
    }

    fn dests(&self, stage: &PlannedStage) -> Vec<PathBuf> {
        let root = self.layout.root();
        stage.decl.outs.iter().map(|o| root.join(o)).collect()
    }

    /// Puts a cached run's outs in place, all or none; false if a blob is
    /// missing or corrupt (the stage then runs).
    fn restore(&self, stage: &PlannedStage, run: &RunRecord) -> StageResult<bool> {
        let staging = Staging::create(self.areas.local.dir(), stage.name(), true)?;
        let mut staged = Vec::new();
        let mut hashes = Vec::new();
        for (n, out) in stage.decl.outs.iter().enumerate() {
            let Some(hash) = run.outs.get(out) else {
                return Ok(false);
            };
            let to = staging.new_dir().join(n.to_string());
            match self.store.copy_out(self.disk, hash, &to) {
                Ok(true) => {}
                Ok(false) | Err(_) => return Ok(false),
            }
            staged.push(to);
            hashes.push(hash.clone());
        }
        self.swap_in(stage, &staging, &staged, &hashes)?;
        Ok(true)
    }

    /// Runs a stage, stores its outs and publishes them; returns its record
    /// and the copies into the store still to make.
    fn run(&self, stage: &PlannedStage, current: RunRecord, started: Instant) -> StageResult<Ran> {
        let in_place = self.runner.in_place(stage);
        let staging = Staging::create(self.areas.local.dir(), stage.name(), !in_place)?;
        let log = staging.dir().join("log");
        let ctx = RunContext {
            root: self.layout.root(),
            out_dir: staging.new_dir(),
            log: &log,
            scratch: self.areas.local.dir(),
            run_id: self.areas.local.id(),
        };
        if in_place {
            let result = self.run_in_place(stage, current, started, &staging, &ctx);
            self.keep_log(stage, &log);
            return result;
        }
        self.runner.run(stage, &ctx)?;
        self.deps_unchanged(stage, &current)?;
        let staged: Vec<PathBuf> = stage
            .decl
            .outs
            .iter()
            .map(|out| staging.new_dir().join(file_name(out)))
            .collect();
        let stored = self.hash_and_store(stage, &staged)?;
        let hashes: Vec<String> = stored.iter().map(|s| s.hash().to_string()).collect();
        let ran = self.record(stage, current, stored, started)?;
        if let Err(e) = self.swap_in(stage, &staging, &staged, &hashes) {
            ran.abandon();
            return Err(e);
        }
        Ok(ran)
    }

    /// A command writes its outs at their paths: the old ones are moved aside
    /// first and come back if anything fails.
    fn run_in_place(
        &self,
        stage: &PlannedStage,
        current: RunRecord,
        started: Instant,
        staging: &Staging,
        ctx: &RunContext,
    ) -> StageResult<Ran> {
        let dests = self.dests(stage);
        let _publishing = interrupt::publishing();
        let mut publication = Publication::begin(self.disk, staging.dir(), dests.clone())?;
        let result = publication
            .move_aside()
            .map_err(StageError::from)
            .and_then(|()| {
                let ran = self.runner.run(stage, ctx);
                publication.written_in_place();
                ran
            })
            .and_then(|()| self.deps_unchanged(stage, &current))
            .and_then(|()| self.hash_and_store(stage, &dests))
            .and_then(|stored| {
                if interrupt::requested() {
                    remove_reserved(&stored);
                    return Err(StageError::Interrupted);
                }
                let hashes: Vec<String> = stored.iter().map(|s| s.hash().to_string()).collect();
                Ok((self.record(stage, current, stored, started)?, hashes))
            });
        match result {
            Ok((ran, hashes)) => {
                if let Err(e) = publication.commit() {
                    ran.abandon();
                    return Err(e.into());
                }
                for (dest, hash) in dests.iter().zip(&hashes) {
                    self.stats.record(dest, hash);
                }
                Ok(ran)
            }
            Err(e) => {
                publication.roll_back();
                Err(e)
            }
        }
    }

    /// Fails the run when a dep changed while it ran: its outs would be
    /// recorded, and restored, under the key of inputs it may not have read.
    fn deps_unchanged(&self, stage: &PlannedStage, current: &RunRecord) -> StageResult<()> {
        match stage.changed_dep(self.layout.root(), self.stats, current) {
            Some(dep) => Err(StageError::DepChanged { dep }),
            None => Ok(()),
        }
    }

    /// A command's output goes to `logs/STAGE.log` when there is any; an
    /// empty log is no file at all (100,000 silent commands made 100,000
    /// empty files).
    fn keep_log(&self, stage: &PlannedStage, log: &Path) {
        let kept = self.layout.logs_dir().join(format!("{}.log", stage.name()));
        let has_output = std::fs::metadata(log).is_ok_and(|m| m.len() > 0);
        if has_output {
            let _ = std::fs::create_dir_all(self.layout.logs_dir());
            let _ = std::fs::rename(log, &kept);
        } else {
            let _ = std::fs::remove_file(&kept);
        }
    }

    /// Checks each staged out is a regular file, hashes it and stores a copy
    /// (or takes the room for one, see `Store::put`).
    fn hash_and_store(&self, stage: &PlannedStage, files: &[PathBuf]) -> StageResult<Vec<Stored>> {
        let mut stored = Vec::with_capacity(files.len());
        let result = self.hash_and_store_each(stage, files, &mut stored);
        if result.is_err() {
            remove_reserved(&stored);
        }
        result.map(|()| stored)
    }

    fn hash_and_store_each(
        &self,
        stage: &PlannedStage,
        files: &[PathBuf],
        stored: &mut Vec<Stored>,
    ) -> StageResult<()> {
        for (file, out) in files.iter().zip(&stage.decl.outs) {
            match regular_file(file) {
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    return Err(StageError::MissingOut { out: out.clone() })
                }
                Err(e) => {
                    return Err(StageError::NotAFile {
                        path: out.into(),
                        problem: e.to_string(),
                    })
                }
            }
            let put = self
                .store
                .put(self.disk, file, self.areas.cache.dir())
                .map_err(|e| match e {
                    PutError::Read(source) => StageError::Read {
                        path: file.clone(),
                        source,
                    },
                    PutError::Store(source) => StageError::Store {
                        out: out.clone(),
                        store: self.layout.blobs_dir(),
                        source,
                    },
                })?;
            stored.push(put);
        }
        Ok(())
    }

    /// The stage's run record, saved in the store now if every out is
    /// stored (before any out is swapped in: a record only ever names blobs
    /// that exist), else by `archive` once the copies are made.
    fn record(
        &self,
        stage: &PlannedStage,
        current: RunRecord,
        stored: Vec<Stored>,
        started: Instant,
    ) -> StageResult<Ran> {
        let record = RunRecord {
            outs: stage
                .decl
                .outs
                .iter()
                .cloned()
                .zip(stored.iter().map(|s| s.hash().to_string()))
                .collect(),
            millis: started.elapsed().as_millis() as u64,
            ..current
        };
        let copies: Vec<Copy> = self
            .dests(stage)
            .into_iter()
            .zip(stored)
            .filter_map(|(out, stored)| match stored {
                Stored::Reserved { hash, partial } => Some(Copy { out, partial, hash }),
                Stored::Whole(_) => None,
            })
            .collect();
        if copies.is_empty() {
            self.store.save_run(&record)?;
        }
        Ok(Ran { record, copies })
    }

    /// Swaps staged files in as the stage's outs, all or none.
    fn swap_in(
        &self,
        stage: &PlannedStage,
        staging: &Staging,
        staged: &[PathBuf],
        hashes: &[String],
    ) -> StageResult<()> {
        let dests = self.dests(stage);
        let _publishing = interrupt::publishing();
        if interrupt::requested() {
            return Err(StageError::Interrupted);
        }
        let mut publication = Publication::begin(self.disk, staging.dir(), dests.clone())?;
        let swapped = publication
            .move_aside()
            .and_then(|()| publication.install(staged));
        if let Err(e) = swapped {
            publication.roll_back();
            return Err(e.into());
        }
        publication.commit()?;
        for (dest, hash) in dests.iter().zip(hashes) {
            self.stats.record(dest, hash);
        }
        Ok(())
    }
}

/// A stage that ran: its record, and the copies of its outs into the store
/// still to make (see `Builder::archive`).
struct Ran {
    record: RunRecord,
    copies: Vec<Copy>,
}

impl Ran {
    /// Gives back the room taken for copies that will not be made.
    fn abandon(self) {
        for copy in self.copies {
            let _ = std::fs::remove_file(copy.partial);
        }
    }
}

/// An out to copy into the room reserved for its blob.
struct Copy {
    /// The out, in the workspace.
    out: PathBuf,
    partial: PathBuf,
    hash: String,
}

/// A run waiting for its copies, and then for its record, its key locked.
struct Archive {
    ran: Ran,
    _key_lock: std::fs::File,
}

fn remove_reserved(stored: &[Stored]) {
    for s in stored {
        if let Stored::Reserved { partial, .. } = s {
            let _ = std::fs::remove_file(partial);
        }
    }
}

/// One stage's staging folder in the build's temp area: `new/` receives the
/// staged outs; a `Publication` keeps its journal and the old outs beside it.
/// Removed on drop unless a journal is left (a rollback that could not finish:
/// the next build completes it).
struct Staging {
    dir: PathBuf,
    new: PathBuf,
}

impl Staging {
    /// `staged`: whether outs will be staged in `new/`. A command writing in
    /// place gets no folder at all until something needs one (its log, a
    /// journal): each folder made costs time, and a cold build of 100,000
    /// commands made and removed 100,000 of them.
    fn create(area: &Path, stage: &str, staged: bool) -> StageResult<Staging> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let safe: String = stage
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let dir = area.join(format!(
            "{safe}-{}",
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let new = dir.join("new");
        if staged {
            std::fs::create_dir_all(&new).map_err(|source| StageError::Write {
                path: dir.clone(),
                source,
            })?;
        }
        Ok(Staging { dir, new })
    }

    fn dir(&self) -> &Path {
        &self.dir
    }

    fn new_dir(&self) -> &Path {
        &self.new
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        // (A command's folder may never have been made: then nothing to do.)
        if !has_journal(&self.dir) {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}
