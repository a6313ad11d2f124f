//! `tnsflow build`: bring stages up to date.
//!
//! Wiring only: the no-op fast path, the workspace lock, recovery from a
//! killed build, then `build::Builder` under the scheduler, and the state and
//! summary line at the end. Run records are saved as each stage succeeds, so
//! a killed build loses at most the stages that were running.

use std::collections::HashSet;
use std::path::Path;

use super::{emit, load_plan, note};
use crate::build::{recover_dead_builds, Areas, Builder, RealRunner};
use crate::cli::BuildArgs;
use crate::disk::RealDisk;
use crate::execute::interrupt;
use crate::layout::{workspace_root, Layout};
use crate::plan::{assess, InputKind, Plan, StatCache};
use crate::record::{store_users, BuildSnapshot, BuildState, RecordError, Store};
use crate::schedule::{self, Event, Options, Outcome, Progress, WorkspaceLock};
use crate::Error;

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

    let (plan, layout) = load_plan(file, &args.run.set)?;
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
        let statuses = assess(&plan, &layout, &stats, &mask, &forced);
        let mut text = String::new();
        for s in statuses.iter().filter(|s| s.state == "stale") {
            text.push_str(&s.stage);
            text.push('\n');
        }
        emit(&text);
        return Ok(());
    }

    let lock = WorkspaceLock::acquire(&layout.lock_file(), &command_line())?;
    BuildSnapshot::remove(&layout.snapshot_file());
    let store = Store::open(&layout)?;
    let _building = store_users::start_building(&layout).map_err(|source| RecordError::Write {
        path: layout.gc_lock_file(),
        source,
    })?;
    let recovered = recover_dead_builds(&layout, &plan, &store);
    if recovered.dead_builds > 0 && !quiet {
        note(&format!(
            "recovered from {} interrupted build(s): {} orphaned process(es) stopped, {} out(s) put back",
            recovered.dead_builds, recovered.orphans_killed, recovered.outs_restored
        ));
    }
    let areas = Areas::create(&layout).map_err(|source| RecordError::Write {
        path: layout.tmp_dir(),
        source,
    })?;
    interrupt::clean_up_on_interrupt(areas.local.dir().to_path_buf());
    interrupt::clean_up_on_interrupt(areas.cache.dir().to_path_buf());
    interrupt::clean_up_on_interrupt(layout.lock_file());
    interrupt::install();

    let stats = StatCache::load(&layout.stat_cache_file());
    let mut state = BuildState::load(&layout.state_file());
    let builder = Builder::new(
        &plan,
        &layout,
        &store,
        &stats,
        &state,
        &forced,
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

    let changed = !report.records.is_empty();
    for record in report.records.into_values() {
        state.insert(record);
    }
    let known: HashSet<&str> = names.iter().copied().collect();
    state.retain(|name| known.contains(name));
    // The summary line comes whatever happens to the state files: it says
    // what ran, and the error below says what could not be recorded.
    let saved = if changed {
        state.save(&layout.state_file())
    } else {
        Ok(())
    }
    .and_then(|()| {
        stats
            .save(&layout.stat_cache_file())
            .map_err(|source| RecordError::Write {
                path: layout.stat_cache_file(),
                source,
            })
    });

    for (i, error) in &report.errors {
        note(&format!("error: stage `{}` failed: {error}", names[*i]));
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
    areas.close();
    drop(lock);
    saved?;
    if failed > 0 {
        return Err(Error::StagesFailed { failed });
    }
    Ok(())
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
    // Overrides in their parsed form: the key follows what the build means,
    // not how the value was typed (`--set seed=17` and `--set 'seed= 17'`).
    let sets = args.run.set.iter().map(|o| {
        format!(
            "{}={}",
            o.key,
            serde_json::to_string(&o.value).unwrap_or_default()
        )
    });
    for part in sets.chain(["--".to_string()]).chain(args.stages.clone()) {
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
