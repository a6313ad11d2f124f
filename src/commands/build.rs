//! `tnsflow build`: bring stages up to date.
//!
//! Wiring only: the no-op fast path, the workspace lock, recovery from a
//! killed build, then `build::Builder` under the scheduler, and the state and
//! summary line at the end. Run records are saved as each stage succeeds, so
//! a killed build loses at most the stages that were running.

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;

use super::snapshot_paths::snapshot_paths;
use super::{emit, note, plan_for, snapshot_verdict};
use crate::build::{recover_dead_builds, Areas, Builder, RealRunner};
use crate::cli::BuildArgs;
use crate::disk::RealDisk;
use crate::execute::interrupt;
use crate::layout::{workspace_root, Layout};
use crate::parse::Override;
use crate::plan::{assess, check_out_paths, plan_cache, untouched, Plan, StatCache};
use crate::record::{
    store_users, BuildSnapshot, BuildState, RecordError, Scope, StateDb, Store, TempArea, Verdict,
};
use crate::schedule::{self, Event, Options, Outcome, Progress, WorkspaceLock};
use crate::Error;

pub fn build(file: &Path, quiet: bool, args: BuildArgs) -> Result<(), Error> {
    build_holding_lock(file, quiet, args).map(drop)
}

/// `build`, returning the workspace lock it took (none for a dry run), for
/// a command that goes on reading the outs (`publish`): no other build may
/// change them meanwhile.
pub fn build_holding_lock(
    file: &Path,
    quiet: bool,
    args: BuildArgs,
) -> Result<Option<WorkspaceLock>, Error> {
    crate::trace::phase("started");
    let request = (!args.dry_run && args.force.is_empty())
        .then(|| request_key(file, &args.run.set, &args.stages))
        .flatten();
    // A workspace built before is checked under its lock; a first build
    // creates its state only after planning, so a config error writes nothing.
    let here = Layout::new(&workspace_root(file)?);
    let state_file = here.state_file();
    let mut lock = None;
    let mut db = None;
    if state_file.is_file() {
        if args.dry_run {
            db = StateDb::open_existing(&state_file).map(Arc::new);
        } else {
            lock = Some(WorkspaceLock::acquire(&here.lock_file(), &command_line())?);
            // Opened for writing: a database a killed build left half-created
            // gets its tables now.
            db = Some(Arc::new(StateDb::open(&state_file)?));
        }
    }
    let (verdict, stats) = snapshot_verdict(db.as_deref(), request.as_deref());
    crate::trace::phase("snapshot checked");
    // A killed build's temp area is recovered by the full path, never skipped.
    let leftovers = || {
        [here.tmp_dir(), here.cache_tmp_dir()]
            .iter()
            .any(|d| TempArea::any_in(d))
    };
    if let (Verdict::UpToDate(stages), false) = (&verdict, leftovers()) {
        emit(&format!(
            "0 ran, {stages} up to date, 0 restored from cache, 0 failed\n"
        ));
        return Ok(lock);
    }

    let mut planned = plan_for(file, &args.run.set, &verdict, &stats)?;
    check_out_paths(&planned.plan, file)?;
    if !quiet {
        for warning in &planned.plan.warnings {
            note(&format!("warning: {warning}"));
        }
    }
    // Once planned, a build reports nothing with a span into pipeline.yaml:
    // its text (17 MB at 100,000 stages) goes before any stage runs.
    planned.plan.pipeline.source.text = Default::default();
    crate::trace::phase("planned");
    let (plan, layout) = (&planned.plan, &planned.layout);
    let mut selected = if args.stages.is_empty() {
        (0..plan.stages.len()).collect()
    } else {
        plan.select(&args.stages)?
    };
    let forced = plan.select(&args.force)?;
    selected.extend(&forced);
    let mask = plan.with_upstream(&selected);
    // Only a kept plan has the snapshot's stages; a parsed one is checked whole.
    let settled = match &verdict {
        Verdict::Changed(paths) if planned.from_cache => untouched(plan, paths),
        _ => vec![false; plan.stages.len()],
    };
    trace_settled(&settled);

    if args.dry_run {
        let state = BuildState::load(db);
        let dead = planned.dead_outs(&state, &stats);
        let statuses = assess(
            plan, layout, &stats, &state, &mask, &forced, &settled, &dead,
        );
        let mut text = String::new();
        for s in statuses.iter().filter(|s| s.state == "stale") {
            text.push_str(&s.stage);
            text.push('\n');
        }
        emit(&text);
        return Ok(None);
    }

    let lock = match lock {
        Some(lock) => lock,
        None => WorkspaceLock::acquire(&layout.lock_file(), &command_line())?,
    };
    let db = match db {
        Some(db) => db,
        None => Arc::new(StateDb::open(&layout.state_file())?),
    };
    BuildSnapshot::invalidate(&db)?;
    crate::trace::phase("snapshot invalidated");
    if !planned.from_cache {
        plan_cache::save(&layout.plan_file(), &planned.key, plan);
    }
    let store = Store::open(layout)?;
    let _building = store_users::start_building(layout).map_err(|source| RecordError::Write {
        path: layout.gc_lock_file(),
        source,
    })?;
    let recovered = recover_dead_builds(
        layout,
        plan,
        &settled,
        match &verdict {
            Verdict::Changed(paths) => paths,
            _ => &[],
        },
    );
    if recovered.dead_builds > 0 && !quiet {
        note(&format!(
            "recovered from {} interrupted build(s): {} orphaned process(es) stopped, {} out(s) put back",
            recovered.dead_builds, recovered.orphans_killed, recovered.outs_restored
        ));
    }
    let areas = Areas::create(layout).map_err(|source| RecordError::Write {
        path: layout.tmp_dir(),
        source,
    })?;
    interrupt::clean_up_on_interrupt(areas.local.dir().to_path_buf());
    interrupt::clean_up_on_interrupt(areas.cache.dir().to_path_buf());
    interrupt::clean_up_on_interrupt(layout.lock_file());
    interrupt::install();
    crate::trace::phase("store opened, recovered");

    let mut state = BuildState::load(Some(db.clone()));
    // Before any stage reads them (see `plan::dead_outs`).
    let dead = planned.dead_outs(&state, &stats);
    let removed: Vec<&str> = dead
        .iter()
        .filter(|d| std::fs::remove_file(layout.root().join(&d.path)).is_ok())
        .map(|d| d.path.as_str())
        .collect();
    if !removed.is_empty() && !quiet {
        note(&format!(
            "removed {} out(s) of stages the pipeline no longer declares: {}",
            removed.len(),
            removed.join(", ")
        ));
    }
    let builder = Builder::new(
        plan,
        layout,
        &store,
        &stats,
        &state,
        &forced,
        &settled,
        &RealDisk,
        &RealRunner,
        &areas,
    );
    let names: Vec<&str> = plan.stages.iter().map(|s| s.name()).collect();
    let mut progress = Progress::new(mask.iter().filter(|m| **m).count(), quiet);
    let outcomes = schedule::run(
        &plan.graph,
        &mask,
        Options {
            jobs: args.run.jobs(),
            keep_going: args.keep_going,
        },
        &builder,
        |event| match event {
            Event::Started(i) => progress.started(*i, &names),
            Event::Finished(i, outcome) => progress.finished(*i, names[*i], *outcome, &names),
        },
    );
    interrupt::yield_to_handler();
    progress.finish();
    let report = builder.into_report();
    crate::trace::phase("stages done");

    for record in report.records.into_values() {
        state.insert(record);
    }
    if !planned.from_cache {
        let known: HashSet<&str> = names.iter().copied().collect();
        state.retain(|name| known.contains(name));
    }
    // The summary line comes whatever happens to the state: it says what
    // ran, and the error below says what could not be recorded.
    let saved = state.save().and_then(|()| stats.save(&db));
    crate::trace::phase("state saved");

    for (i, error) in &report.errors {
        note(&format!("error: stage `{}` failed: {error}", names[*i]));
    }
    for warning in &report.warnings {
        note(&format!("warning: {warning}"));
    }
    let skipped: Vec<&str> = (0..plan.stages.len())
        .filter(|&i| mask[i] && outcomes[i].is_none())
        .map(|i| names[i])
        .collect();
    if !skipped.is_empty() && !quiet {
        note(&format!(
            "not run because of a failure: {}",
            skipped.join(", ")
        ));
    }
    let count = |o: Outcome| outcomes.iter().filter(|x| **x == Some(o)).count();
    let failed = count(Outcome::Failed);
    if let (Some(request), 0, true, true) = (&request, failed, skipped.is_empty(), saved.is_ok()) {
        save_snapshot(&db, request, plan, &mask, &settled, &verdict, &stats);
    }
    crate::trace::phase("snapshot saved");
    emit(&format!(
        "{} ran, {} up to date, {} restored from cache, {} failed\n",
        count(Outcome::Ran),
        count(Outcome::UpToDate),
        count(Outcome::Restored),
        failed
    ));
    areas.close();
    saved?;
    if failed > 0 {
        return Err(Error::StagesFailed { failed });
    }
    Ok(Some(lock))
}

/// Records what this fully successful build covered: after a build that
/// checked every stage, all their paths; after one that checked only the
/// stages an edit reached, the changed paths leave and those stages' paths
/// come in. Nothing is saved when a path changed during the build.
fn save_snapshot(
    db: &StateDb,
    request: &str,
    plan: &Plan,
    mask: &[bool],
    settled: &[bool],
    verdict: &Verdict,
    stats: &StatCache,
) {
    let checked: Vec<bool> = mask.iter().zip(settled).map(|(m, s)| *m && !s).collect();
    let Some(paths) = snapshot_paths(plan, &checked) else {
        return;
    };
    let root = plan.pipeline.root.as_path();
    let scope = match verdict {
        Verdict::Changed(changed) if settled.iter().any(|s| *s) => Scope::Changed(changed),
        _ => Scope::Full(root),
    };
    let stages = mask.iter().filter(|m| **m).count();
    // Rows are made, settled and written a chunk at a time; each path is
    // joined to the root as its row is made, and moves into it.
    const CHUNK: usize = 4096;
    let mut paths = paths.into_iter().peekable();
    let mut abandoned = None;
    let chunks = std::iter::from_fn(|| {
        paths.peek()?;
        let mut rows = Vec::with_capacity(CHUNK);
        for path in paths.by_ref().take(CHUNK) {
            match stats.snapshot_row(path.into_path(root)) {
                Ok(row) => rows.push(row),
                Err(path) => {
                    abandoned = Some(format!(
                        "no snapshot: `{}` changed during the build",
                        path.display()
                    ));
                    return Some(None);
                }
            }
        }
        if !BuildSnapshot::settle(&mut rows) {
            abandoned = Some("no snapshot: an out changed after it was hashed".into());
            return Some(None);
        }
        Some(Some(rows))
    });
    let _ = BuildSnapshot::save(db, request, stages, scope, chunks);
    if let Some(why) = abandoned {
        crate::trace::phase(&why);
    }
}

/// `TNSFLOW_TRACE`: how much of the graph an edit let the command skip.
pub(crate) fn trace_settled(settled: &[bool]) {
    crate::trace::phase(&format!(
        "{} of {} stages settled without a check",
        settled.iter().filter(|s| **s).count(),
        settled.len()
    ));
}

fn command_line() -> String {
    std::env::args().collect::<Vec<_>>().join(" ")
}

/// What a build's result depends on besides the files: the tool and its
/// builtins' versions, the pipeline file's bytes, the overrides and the
/// targets. None when the file is unreadable (the full path then reports it).
pub(crate) fn request_key(
    file: &Path,
    overrides: &[Override],
    targets: &[String],
) -> Option<String> {
    let versions = crate::stages::registry().versions();
    request_key_for(&versions, file, overrides, targets)
}

/// `request_key` with the builtins' `versions` given.
fn request_key_for(
    versions: &str,
    file: &Path,
    overrides: &[Override],
    targets: &[String],
) -> Option<String> {
    let bytes = std::fs::read(file).ok()?;
    let mut h = blake3::Hasher::new();
    h.update(env!("CARGO_PKG_VERSION").as_bytes());
    h.update(b"\0");
    // A builtin's version is in its stages' keys: a tnsflow whose builtin
    // changed (same release number) must not take the last build's
    // "nothing changed" for its own.
    h.update(versions.as_bytes());
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
    // Overrides in their parsed form: the key follows what the build means,
    // not how the value was typed (`--set seed=17` and `--set 'seed= 17'`).
    let sets = overrides.iter().map(|o| {
        format!(
            "{}={}",
            o.key,
            serde_json::to_string(&o.value).unwrap_or_default()
        )
    });
    for part in sets
        .chain(["--".to_string()])
        .chain(targets.iter().cloned())
    {
        h.update(b"\0");
        h.update(part.as_bytes());
    }
    Some(h.finalize().to_hex().to_string())
}

#[cfg(test)]
mod request_key_tests {
    use super::*;

    /// A builtin's new version is a new request: the no-op snapshot of a
    /// build by a tnsflow whose `review_queue` was version 3 does not make
    /// one whose is 4 call every stage up to date (the old key held only
    /// the release number, so `build` and `status` said fresh while
    /// `build review_queue` ran it). The shipped registry is in the key.
    #[test]
    fn builtin_versions_are_in_the_request_key() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pipeline.yaml");
        std::fs::write(&file, "stages: {}\n").unwrap();
        let key = |versions: &str| request_key_for(versions, &file, &[], &[]).unwrap();
        assert_ne!(key("review_queue=3"), key("review_queue=4"));
        assert_eq!(key("review_queue=4"), key("review_queue=4"));
        let shipped = crate::stages::registry().versions();
        assert!(shipped.contains("load=") && shipped.contains(" review_queue="));
        assert_eq!(request_key(&file, &[], &[]).unwrap(), key(&shipped));
    }
}
