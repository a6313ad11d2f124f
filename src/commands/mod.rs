//! One file per subcommand; the only place where the layers meet.

pub(crate) mod build;
mod dag;
mod gc;
mod publish;
mod reviews;
mod serve;
mod snapshot_paths;
mod status;
mod sweep;
mod verify;

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::cli::{Cli, Command};
use crate::layout::{Layout, DEFAULT_PIPELINE};
use crate::parse::{ConfigError, Override, Pipeline, Source};
use crate::plan::{plan_cache, DeadOut, Plan, StatCache};
use crate::record::{BuildSnapshot, BuildState, FileRow, StateDb, Verdict};
use crate::Error;

pub fn dispatch(cli: Cli) -> Result<(), Error> {
    let file = cli.file.unwrap_or_else(|| PathBuf::from(DEFAULT_PIPELINE));
    match cli.command {
        Command::Build(args) => build::build(&file, cli.quiet, args),
        Command::Status(args) => status::status(&file, args),
        Command::Dag(args) => dag::dag(&file, args),
        Command::Sweep(args) => sweep::sweep(&file, cli.quiet, args),
        Command::Publish(args) => publish::publish(&file, cli.quiet, args),
        Command::Verify(args) => verify::verify(args),
        Command::Gc => gc::gc(&file, cli.quiet),
        Command::Serve(args) => serve::serve(&file, args),
        Command::Reviews(command) => reviews::reviews(&file, command),
    }
}

/// The pipeline with `--set` applied, planned against the disk.
pub(crate) fn load_plan(file: &Path, overrides: &[Override]) -> Result<(Plan, Layout), Error> {
    let mut pipeline = Pipeline::load(file)?;
    pipeline.apply_overrides(overrides)?;
    let layout = Layout::new(&pipeline.root);
    Ok((Plan::build(pipeline, crate::stages::registry())?, layout))
}

/// What the no-op snapshot says about `request`, and the stat cache over
/// the rows it read (which knows the paths the snapshot found unchanged).
pub(crate) fn snapshot_verdict(
    db: Option<&StateDb>,
    request: Option<&str>,
) -> (Verdict, StatCache) {
    match (db, request) {
        (Some(db), Some(request)) => {
            let (verdict, rows, unchanged) = BuildSnapshot::check_knowing(db, request);
            (verdict, StatCache::from_checked(rows, unchanged))
        }
        (Some(db), None) => (
            Verdict::Unknown,
            StatCache::from_rows(FileRow::load_all(db)),
        ),
        (None, _) => (Verdict::Unknown, StatCache::default()),
    }
}

/// A plan and where its pipeline came from.
pub(crate) struct Planned {
    pub plan: Plan,
    pub layout: Layout,
    /// Taken from `state.db` (same file and overrides as the snapshot's
    /// build, and still true of the disk), so the snapshot's stages are this plan's.
    pub from_cache: bool,
    /// The plan key, to keep a fresh plan under.
    pub key: String,
}

/// The pipeline with `--set` applied, planned against the disk; parsed and
/// planned afresh only when `state.db` does not hold a plan for this key that
/// the snapshot's verdict proves still holds.
pub(crate) fn plan_for(
    file: &Path,
    overrides: &[Override],
    verdict: &Verdict,
    stats: &StatCache,
) -> Result<Planned, Error> {
    let text = std::fs::read_to_string(file).map_err(|source| ConfigError::Read {
        path: file.to_path_buf(),
        source,
    })?;
    let key = plan_cache::plan_key(file, text.as_bytes(), overrides);
    let name = file.display().to_string();
    // One copy of the text (17 MB at 100,000 stages): shared with the kept
    // pipeline's source, taken back for parsing when there is none.
    let source = Source::new(name.clone(), text);
    let registry = crate::stages::registry();
    let root = crate::layout::workspace_root(file).map_err(|source| ConfigError::Read {
        path: file.to_path_buf(),
        source,
    })?;
    let plan_file = Layout::new(&root).plan_file();
    // Only with a snapshot's verdict: it names what changed since the plan was made.
    let kept = match verdict {
        Verdict::UpToDate(_) => plan_cache::load(&plan_file, &key, source.clone(), registry),
        Verdict::Changed(paths) => plan_cache::load(&plan_file, &key, source.clone(), registry)
            .filter(|plan| plan_cache::holds_after(plan, paths)),
        Verdict::Unknown => None,
    };
    let from_cache = kept.is_some();
    let plan = match kept {
        Some(plan) => {
            crate::trace::phase("plan from plan.bin");
            plan
        }
        None => {
            let text = std::sync::Arc::try_unwrap(source.text).unwrap_or_else(|t| (*t).clone());
            let mut pipeline = Pipeline::parse(&name, &root, text)?;
            pipeline.apply_overrides(overrides)?;
            crate::trace::phase("pipeline parsed");
            let known = |p: &Path| stats.known(p);
            Plan::build_knowing(pipeline, registry, &known)?
        }
    };
    let layout = Layout::new(&plan.pipeline.root);
    Ok(Planned {
        plan,
        layout,
        from_cache,
        key,
    })
}

impl Planned {
    /// The outs stages no longer declared left behind (`plan::dead_outs`);
    /// none with a kept plan, which declares the last build's stages.
    pub fn dead_outs(&self, state: &BuildState, stats: &StatCache) -> Vec<DeadOut> {
        match self.from_cache {
            true => Vec::new(),
            false => crate::plan::dead_outs(&self.plan, state, stats, self.layout.root()),
        }
    }
}

/// Writes a line to stderr. An unwritable stderr (`2>/dev/full`, a closed
/// pipe) must not turn a clean exit code into a panic, as `eprintln!` would.
pub fn note(line: &str) {
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// Writes to stdout; a closed pipe (`tnsflow status | head`) ends quietly.
pub(crate) fn emit(text: &str) {
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
    }
}
