//! `tnsflow build`: bring stages up to date.
//!
//! For each stage, once its deps are done: compute its key from the disk, then
//! keep it (fresh), restore its outs from the store, or run it into a staging
//! area and publish the outs. Records are written as each stage succeeds, so a
//! killed build loses at most the stages that were running.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::mpsc::Sender;
use std::sync::Mutex;
use std::time::Instant;

use super::status::assess;
use super::{emit, load_plan};
use crate::cli::BuildArgs;
use crate::content_hash;
use crate::execute::{
    panic_message, run_cmd, run_sql, StageContext, StageError, StageParams, Staging,
};
use crate::layout::{workspace_root, Layout};
use crate::parse::StageKind;
use crate::plan::{check, Check, InputKind, Plan, PlannedStage, StatCache};
use crate::record::{BuildSnapshot, BuildState, RunRecord, Store};
use crate::schedule::{self, Event, Executor, Options, Outcome, Progress, WorkspaceLock};
use crate::{Error, StageResult};

pub fn build(file: &Path, quiet: bool, args: BuildArgs) -> Result<(), Error> {
    let request = (!args.dry_run && args.force.is_empty())
        .then(|| request_key(file, &args))
        .flatten();
    if let Some(request) = &request {
        let layout = Layout::new(&workspace_root(file)?);
        if layout.snapshot_file().is_file() {
            let _lock = WorkspaceLock::acquire(&layout.lock_file(), &command_line())?;
            if let Some(stages) = BuildSnapshot::up_to_date(&layout.snapshot_file(), request) {
                emit(&format!(
                    "0 ran, {stages} up to date, 0 restored from cache, 0 failed\n"
                ));
                return Ok(());
            }
        }
    }

    let (plan, layout) = load_plan(file, &args.set)?;
    let mut selected = if args.stages.is_empty() {
        (0..plan.stages.len()).collect()
    } else {
        plan.pipeline.select(&args.stages)?
    };
    let forced = plan.pipeline.select(&args.force)?;
    selected.extend(&forced);
    let mask = plan.with_upstream(&selected);

    if args.dry_run {
        let stats = StatCache::load(&layout.stat_cache_file());
        let statuses = assess(&plan, &layout, &stats, &mask, &forced)?;
        let mut text = String::new();
        for s in statuses.iter().filter(|s| s.state == "stale") {
            text.push_str(&s.stage);
            text.push('\n');
        }
        emit(&text);
        return Ok(());
    }

    let _lock = WorkspaceLock::acquire(&layout.lock_file(), &command_line())?;
    BuildSnapshot::remove(&layout.snapshot_file());
    // Staging folders left by a killed build; nobody else can be using them now.
    let _ = std::fs::remove_dir_all(layout.tmp_dir());

    let store = Store::open(&layout)?;
    let stats = StatCache::load(&layout.stat_cache_file());
    let mut state = BuildState::load(&layout.state_file());
    let runner = Runner {
        plan: &plan,
        layout: &layout,
        store: &store,
        stats: &stats,
        state: &state,
        forced: &forced,
        records: Mutex::new(BTreeMap::new()),
        errors: Mutex::new(BTreeMap::new()),
    };
    let jobs = args.jobs.map(|j| j as usize).unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    });
    let names: Vec<&str> = plan.stages.iter().map(|s| s.name()).collect();
    let mut progress = Progress::new(mask.iter().filter(|m| **m).count(), quiet);
    let outcomes = schedule::run(
        &plan.graph,
        &mask,
        Options {
            jobs,
            keep_going: args.keep_going,
        },
        &runner,
        |event| match event {
            Event::Started(i) => progress.started(*i, &names),
            Event::Finished(i, outcome) => progress.finished(*i, names[*i], *outcome, &names),
        },
    );
    progress.finish();

    let Runner {
        records, errors, ..
    } = runner;
    let changed = !records.lock().expect("records lock").is_empty();
    for record in records.into_inner().expect("records lock").into_values() {
        state.insert(record);
    }
    state.retain(|name| plan.pipeline.index_of(name).is_some());
    if changed {
        state.save(&layout.state_file())?;
    }
    stats.save(&layout.stat_cache_file())?;

    for (i, message) in errors.into_inner().expect("errors lock") {
        eprintln!("error: stage `{}` failed: {message}", names[i]);
    }
    let skipped: Vec<&str> = (0..plan.stages.len())
        .filter(|&i| mask[i] && outcomes[i].is_none())
        .map(|i| names[i])
        .collect();
    if !skipped.is_empty() && !quiet {
        eprintln!("not run because of a failure: {}", skipped.join(", "));
    }
    let count = |o: Outcome| outcomes.iter().filter(|x| **x == Some(o)).count();
    let failed = count(Outcome::Failed);
    if let (Some(request), 0, true) = (&request, failed, skipped.is_empty()) {
        if let Some(paths) = snapshot_paths(&plan, &mask) {
            BuildSnapshot::save(
                &layout.snapshot_file(),
                request,
                mask.iter().filter(|m| **m).count(),
                paths,
            );
        }
    }
    emit(&format!(
        "{} ran, {} up to date, {} restored from cache, {} failed\n",
        count(Outcome::Ran),
        count(Outcome::UpToDate),
        count(Outcome::Restored),
        failed
    ));
    if failed > 0 {
        return Err(Error::StagesFailed { failed });
    }
    Ok(())
}

/// Checks and runs stages for the scheduler.
struct Runner<'a> {
    plan: &'a Plan,
    layout: &'a Layout,
    store: &'a Store,
    stats: &'a StatCache,
    /// The state as it was when the build started (read-only during the build).
    state: &'a BuildState,
    forced: &'a [usize],
    /// Runs that are now the stage's last good run.
    records: Mutex<BTreeMap<usize, RunRecord>>,
    errors: Mutex<BTreeMap<usize, String>>,
}

impl Executor for Runner<'_> {
    fn check(&self, i: usize) -> Option<Outcome> {
        if self.forced.contains(&i) {
            return None;
        }
        let stage = &self.plan.stages[i];
        let root = self.layout.root();
        let current = stage.current(root, self.stats).ok()?;
        let last = self.state.get(stage.name());
        match check(root, &current, last, self.store, self.stats) {
            Check::Fresh(run) => {
                self.keep(i, run, last);
                Some(Outcome::UpToDate)
            }
            _ => None,
        }
    }

    fn execute(&self, i: usize, events: &Sender<Event>) -> Outcome {
        match self.bring_up_to_date(i, events) {
            Ok(outcome) => outcome,
            Err(message) => {
                self.errors.lock().expect("errors lock").insert(i, message);
                Outcome::Failed
            }
        }
    }
}

impl Runner<'_> {
    fn bring_up_to_date(&self, i: usize, events: &Sender<Event>) -> Result<Outcome, String> {
        let stage = &self.plan.stages[i];
        let root = self.layout.root();
        let current = stage.current(root, self.stats)?;
        let last = self.state.get(stage.name());
        let verdict = if self.forced.contains(&i) {
            Check::Run(Vec::new())
        } else {
            check(root, &current, last, self.store, self.stats)
        };
        match verdict {
            Check::Fresh(run) => {
                self.keep(i, run, last);
                Ok(Outcome::UpToDate)
            }
            Check::Restore(run, _) if self.restore(&run) => {
                self.keep(i, run, last);
                Ok(Outcome::Restored)
            }
            Check::Restore(..) | Check::Run(_) => {
                let _key_lock = self
                    .store
                    .lock_key(&current.key)
                    .map_err(|e| format!("cannot lock the cache entry of this stage: {e}"))?;
                // Another build sharing the cache may have run this key while we waited.
                if !self.forced.contains(&i) {
                    if let Some(run) = self.store.load_run(&current.key) {
                        if self.restore(&run) {
                            self.keep(i, run, last);
                            return Ok(Outcome::Restored);
                        }
                    }
                }
                let _ = events.send(Event::Started(i));
                let started = Instant::now();
                let outs = self.run(stage, last).map_err(|e| e.to_string())?;
                let record = RunRecord {
                    outs,
                    millis: started.elapsed().as_millis() as u64,
                    ..current
                };
                self.store.save_run(&record).map_err(|e| e.to_string())?;
                self.keep(i, record, None);
                Ok(Outcome::Ran)
            }
        }
    }

    /// Makes `run` the stage's last good run (renamed stages keep their own name).
    fn keep(&self, i: usize, mut run: RunRecord, last: Option<&RunRecord>) {
        if last == Some(&run) {
            return;
        }
        run.stage = self.plan.stages[i].name().to_string();
        self.records.lock().expect("records lock").insert(i, run);
    }

    /// Puts a cached run's outs back in place; false if any blob is missing or corrupt.
    fn restore(&self, run: &RunRecord) -> bool {
        let root = self.layout.root();
        run.outs.iter().all(|(out, hash)| {
            let dest = root.join(out);
            let restored = self.store.restore(hash, &dest).unwrap_or(false);
            if restored {
                self.stats.record(&dest, hash);
            }
            restored
        })
    }

    /// Runs a stage and publishes its outs; returns their hashes.
    fn run(
        &self,
        stage: &PlannedStage,
        last: Option<&RunRecord>,
    ) -> StageResult<BTreeMap<String, String>> {
        let root = self.layout.root();
        let decl = &stage.decl;
        if let StageKind::Cmd { .. } = decl.kind {
            return self.run_cmd(stage, last);
        }
        let staging =
            Staging::create(&self.layout.tmp_dir(), decl.name.as_str()).map_err(|source| {
                StageError::Write {
                    path: self.layout.tmp_dir(),
                    source,
                }
            })?;
        match &decl.kind {
            StageKind::Builtin { .. } => {
                let builtin = stage.builtin.expect("planning resolved every builtin");
                let ctx = StageContext {
                    stage: decl.name.clone(),
                    root: root.to_path_buf(),
                    params: StageParams::new(stage.params.clone()),
                    deps: decl.deps.iter().map(|d| root.join(d)).collect(),
                    wanted: decl.outs.iter().map(|o| file_name(o).to_string()).collect(),
                    out_dir: staging.dir().to_path_buf(),
                };
                // A panic is a bug in tnsflow, but still only this stage's failure.
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| builtin.run(&ctx)))
                    .map_err(|payload| StageError::Panicked(panic_message(payload.as_ref())))??;
            }
            StageKind::Sql { sql, db } => {
                let out = staging.dir().join(file_name(&decl.outs[0]));
                run_sql(&root.join(sql), sql, &root.join(db), &out)?;
            }
            StageKind::Cmd { .. } => unreachable!("handled above"),
        }
        let mut outs = BTreeMap::new();
        for out in &decl.outs {
            let staged = staging.dir().join(file_name(out));
            if !staged.is_file() {
                return Err(StageError::MissingOut { out: out.clone() });
            }
            let hash = content_hash::of_file(&staged).map_err(|source| StageError::Read {
                path: staged.clone(),
                source,
            })?;
            let dest = root.join(out);
            self.store
                .publish(&staged, &hash, &dest)
                .map_err(|source| StageError::Write {
                    path: dest.clone(),
                    source,
                })?;
            self.stats.record(&dest, &hash);
            outs.insert(out.clone(), hash);
        }
        Ok(outs)
    }

    /// A command writes its outs in place. Old outs are unlinked first (their
    /// bytes stay in the store), and put back if the command fails, so a failed
    /// or half-written out is never left where the last good one was.
    fn run_cmd(
        &self,
        stage: &PlannedStage,
        last: Option<&RunRecord>,
    ) -> StageResult<BTreeMap<String, String>> {
        let root = self.layout.root();
        let decl = &stage.decl;
        let write_err = |path: &Path, source| StageError::Write {
            path: path.to_path_buf(),
            source,
        };
        for out in &decl.outs {
            let path = root.join(out);
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(write_err(&path, e)),
            }
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).map_err(|e| write_err(dir, e))?;
            }
        }
        let cmd = stage.cmd.as_deref().expect("cmd stages have a command");
        let log = self.layout.logs_dir().join(format!("{}.log", decl.name));
        if let Err(e) = run_cmd(root, &decl.name, cmd, &log) {
            for out in &decl.outs {
                let _ = std::fs::remove_file(root.join(out));
            }
            if let Some(last) = last {
                self.restore(last);
            }
            return Err(e);
        }
        let mut outs = BTreeMap::new();
        for out in &decl.outs {
            let path = root.join(out);
            if !path.is_file() {
                return Err(StageError::MissingOut { out: out.clone() });
            }
            let hash = content_hash::of_file(&path).map_err(|source| StageError::Read {
                path: path.clone(),
                source,
            })?;
            self.store
                .adopt(&path, &hash)
                .map_err(|e| write_err(&path, e))?;
            self.stats.record(&path, &hash);
            outs.insert(out.clone(), hash);
        }
        Ok(outs)
    }
}

fn command_line() -> String {
    std::env::args().collect::<Vec<_>>().join(" ")
}

/// What a build's result depends on besides the files: the tool, the pipeline
/// file's bytes, the overrides and the targets. None when the file is unreadable
/// (the full path then reports it).
fn request_key(file: &Path, args: &BuildArgs) -> Option<String> {
    let bytes = std::fs::read(file).ok()?;
    let mut h = blake3::Hasher::new();
    h.update(env!("CARGO_PKG_VERSION").as_bytes());
    h.update(b"\0");
    h.update(
        workspace_root(file)
            .ok()?
            .join(file.file_name()?)
            .as_os_str()
            .as_encoded_bytes(),
    );
    h.update(b"\0");
    h.update(&bytes);
    for part in args
        .set
        .iter()
        .chain([&"--".to_string()])
        .chain(&args.stages)
    {
        h.update(b"\0");
        h.update(part.as_bytes());
    }
    Some(h.finalize().to_hex().to_string())
}

/// Every file and folder the selected stages read or wrote, for the no-op
/// snapshot; None when a glob has wildcards above its last component (a new
/// match could then appear without any recorded folder changing).
fn snapshot_paths(plan: &Plan, mask: &[bool]) -> Option<Vec<std::path::PathBuf>> {
    let root = plan.pipeline.root.as_path();
    let mut paths = Vec::new();
    let glob_folder = |pattern: &str| -> Option<std::path::PathBuf> {
        let folder = Path::new(pattern).parent().unwrap_or(Path::new(""));
        if folder.to_string_lossy().contains(['*', '?', '[']) {
            return None;
        }
        Some(root.join(folder))
    };
    for (i, stage) in plan.stages.iter().enumerate().filter(|(i, _)| mask[*i]) {
        if let Some(pattern) = &stage.decl.foreach {
            paths.push(glob_folder(pattern)?);
        }
        for input in &plan.stages[i].inputs {
            match input.kind {
                InputKind::File => paths.push(input.absolute(root)),
                InputKind::Glob => {
                    paths.push(glob_folder(&input.path)?);
                    paths.extend(input.files(root).into_iter().map(|(_, abs)| abs));
                }
                InputKind::Dir => paths.extend(
                    walkdir::WalkDir::new(input.absolute(root))
                        .into_iter()
                        .filter_entry(|e| e.file_name() != crate::layout::STATE_DIR)
                        .filter_map(Result::ok)
                        .map(|e| e.into_path()),
                ),
            }
        }
        paths.extend(stage.decl.outs.iter().map(|o| root.join(o)));
    }
    Some(paths)
}

fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}
