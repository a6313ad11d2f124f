//! `tnsflow sweep`: build the pipeline at every point of a param grid.
//!
//! A sweep lives in `sweeps/` or, with `--name NAME`, in `sweeps/NAME/`, so
//! several sweeps stay side by side. Each point gets its own workspace,
//! `point-NNN/` there, numbered once by `points.csv` (`PointIndex`): a copy of the
//! pipeline file and symlinks to everything else at the workspace root except
//! the folders the pipeline writes into. Every point builds with this
//! workspace's cache (`TNSFLOW_CACHE_DIR`), so points that agree on a stage's
//! inputs compute it once: the others restore it, and per-key locks in the
//! store make that hold even for points running at the same time. Running
//! the same sweep again is a no-op per point. Points build on local threads,
//! or with `--slurm` as the tasks of one Slurm array job (`slurm`).
//!
//! Growing a finished grid builds only the new points: the old ones keep
//! their folders and their builds are no-ops. Each point's note ends with
//! its build's summary line, which says so.
//!
//! The result is `summary.csv` (also printed) and `report.html`: one row per point with
//! its params, its status and the figures of the metrics exports.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::Instant;

mod experiment_table;
mod point_index;
mod show;
mod slurm;
mod spread;
mod summary;
mod sweep_report;

use super::emit;
use crate::cli::{SweepArgs, SweepCommand};
use crate::layout::{Layout, CACHE_DIR_ENV, STATE_DIR};
use crate::parse::{display_value, Override, Pipeline, SweepGrid};
use crate::plan::Plan;
use crate::record::{write_atomic, RecordError};
use crate::Error;
use point_index::{point_name, PointIndex};
use slurm::SlurmSweep;
use summary::{PointFigures, SweepSummary, SUMMARY_FILE};

const SWEEPS_DIR: &str = "sweeps";
const DEFAULT_METRICS: &[&str] = &["model_eval.csv", "executive_summary.csv"];

pub fn sweep(file: &Path, quiet: bool, args: SweepArgs) -> Result<(), Error> {
    if let Some(SweepCommand::Show(show)) = &args.command {
        return show::show(file, quiet, show);
    }
    let grid = SweepGrid::parse(&args.set)?;
    let pipeline = Pipeline::load(file)?;
    // Every point must plan before any runs: a bad value fails the sweep with code 2.
    for point in &grid.points {
        let mut p = pipeline.clone();
        p.apply_overrides(point)?;
        Plan::build(p, crate::stages::registry())?;
    }
    let root = pipeline.root.clone();
    let layout = Layout::new(&root);
    let file_name = file
        .file_name()
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("pipeline.yaml"));
    let out_tops: HashSet<String> = pipeline
        .stages
        .iter()
        .flat_map(|s| s.outs.iter())
        .filter_map(|o| o.split('/').next().map(str::to_string))
        .collect();
    // `--metrics`, else the pipeline's `metrics:` list, else today's default.
    let metrics: Vec<String> = if !args.metrics.is_empty() {
        args.metrics.clone()
    } else if let Some(listed) = &pipeline.metrics {
        listed.clone()
    } else {
        let mut outs: Vec<String> = pipeline
            .stages
            .iter()
            .flat_map(|s| s.outs.iter().cloned())
            .collect();
        outs.retain(|o| {
            DEFAULT_METRICS
                .iter()
                .any(|m| o.rsplit('/').next() == Some(m))
        });
        outs.sort();
        outs
    };

    let sweeps = sweep_dir(&root, args.name.as_deref())?;
    std::fs::create_dir_all(&sweeps)?;
    let mut index = PointIndex::load(&sweeps)?;
    let numbers = index.assign(&grid.points);
    index.save()?;
    let mut dirs = Vec::new();
    for &n in &numbers {
        let dir = sweeps.join(point_name(n));
        prepare_point(&root, &dir, &file_name, &pipeline.source.text, &out_tops)?;
        dirs.push(dir);
    }

    let results = if args.slurm {
        slurm::run(&SlurmSweep {
            sweeps: &sweeps,
            dirs: &dirs,
            numbers: &numbers,
            file_name: &file_name,
            points: &grid.points,
            cache: &layout.cache_root(),
            throttle: args.parallel_points,
            sbatch_args: &args.sbatch_args,
            quiet,
        })?
    } else {
        run_locally(
            &dirs,
            &numbers,
            &file_name,
            &grid.points,
            args.parallel_points,
            &layout.cache_root(),
            quiet,
        )?
    };

    let points = numbers
        .iter()
        .zip(&grid.points)
        .zip(&dirs)
        .zip(&results)
        .map(|(((&n, point), dir), result)| PointFigures {
            point: point_name(n),
            params: point.iter().map(|o| display_value(&o.value)).collect(),
            status: result.status.clone(),
            figures: metrics
                .iter()
                .flat_map(|m| summary::read_metrics(&dir.join(m)))
                .collect(),
        })
        .collect();
    let summary = SweepSummary::new(grid.keys.clone(), points);
    let table = summary.to_csv()?;
    let summary_file = sweeps.join(SUMMARY_FILE);
    write_atomic(&summary_file, &table).map_err(RecordError::writing(&summary_file))?;
    let experiments = experiment_table::ExperimentTable::new(&summary, &[], "")?;
    show::write_report(&sweeps, &experiments, args.name.as_deref())?;
    emit(&String::from_utf8_lossy(&table));

    let failed = results.iter().filter(|r| r.status != "ok").count();
    if failed > 0 {
        crate::commands::note(&format!(
            "{failed} of {} points failed; their logs are in {}/point-NNN.log",
            grid.points.len(),
            sweeps.display()
        ));
        return Err(Error::StagesFailed { failed });
    }
    Ok(())
}

/// `sweeps/` for the default sweep (the layout from before names), else
/// `sweeps/NAME/`. A name may not look like a point's folder or file.
fn sweep_dir(root: &Path, name: Option<&str>) -> Result<PathBuf, Error> {
    let sweeps = root.join(SWEEPS_DIR);
    let Some(name) = name else {
        return Ok(sweeps);
    };
    let is_plain = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if !is_plain || name.starts_with("point-") {
        return Err(Error::Usage(format!(
            "--name {name:?}: expected letters, digits, `_` or `-`, not starting with `point-` (it names the folder sweeps/NAME/)"
        )));
    }
    Ok(sweeps.join(name))
}

/// How one point's build ended: `ok` or `failed (...)`.
struct PointResult {
    status: String,
}

/// The last `N ran, N up to date, ...` line of a point's log: what its
/// build did, so a rerun shows which points were no-ops.
fn build_summary(log: &Path) -> Option<String> {
    let text = std::fs::read_to_string(log).ok()?;
    text.lines()
        .rev()
        .find(|l| l.contains(" ran, ") && l.contains(" up to date, "))
        .map(str::to_string)
}

/// Builds the points on this machine, `jobs` at a time (default: one per
/// core), splitting the cores between them.
fn run_locally(
    dirs: &[PathBuf],
    numbers: &[usize],
    file_name: &Path,
    points: &[Vec<Override>],
    jobs: Option<u32>,
    cache: &Path,
    quiet: bool,
) -> Result<Vec<PointResult>, Error> {
    let cores = crate::cli::cores();
    let parallel = jobs
        .map(|j| j as usize)
        .unwrap_or(cores)
        .min(points.len())
        .max(1);
    let build_jobs = (cores / parallel).max(1);
    let exe = std::env::current_exe()?;
    let next = Mutex::new(0usize);
    let results: Mutex<BTreeMap<usize, PointResult>> = Mutex::new(BTreeMap::new());
    std::thread::scope(|scope| {
        for _ in 0..parallel {
            scope.spawn(|| loop {
                let n = {
                    let mut next = next.lock().expect("point counter");
                    let n = *next;
                    *next += 1;
                    n
                };
                let Some(point) = points.get(n) else {
                    break;
                };
                let started = Instant::now();
                let result = build_point(&exe, &dirs[n], file_name, point, build_jobs, cache);
                if !quiet {
                    let build = build_summary(&dirs[n].with_extension("log"))
                        .map(|s| format!("{s}; "))
                        .unwrap_or_default();
                    crate::commands::note(&format!(
                        "{} {}: {} ({build}{:.1}s)",
                        point_name(numbers[n]),
                        describe(point),
                        result.status,
                        started.elapsed().as_secs_f64()
                    ));
                }
                results.lock().expect("results").insert(n, result);
            });
        }
    });
    Ok(results
        .into_inner()
        .expect("results")
        .into_values()
        .collect())
}

/// The point's params as `key=value ...`.
fn describe(point: &[Override]) -> String {
    point
        .iter()
        .map(|o| format!("{}={}", o.key, display_value(&o.value)))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A point's workspace: the pipeline file, plus symlinks to every input at the root.
fn prepare_point(
    root: &Path,
    dir: &Path,
    file_name: &Path,
    text: &str,
    out_tops: &HashSet<String>,
) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let pipeline = dir.join(file_name);
    if std::fs::read_to_string(&pipeline).ok().as_deref() != Some(text) {
        write_atomic(&pipeline, text.as_bytes())?;
    }
    for entry in std::fs::read_dir(root)? {
        let entry = entry?;
        let name = entry.file_name();
        let name_str = name.to_string_lossy();
        if name_str == STATE_DIR
            || name_str == SWEEPS_DIR
            || Path::new(&name) == file_name
            || out_tops.contains(name_str.as_ref())
        {
            continue;
        }
        let link = dir.join(&name);
        if std::fs::symlink_metadata(&link).is_err() {
            std::os::unix::fs::symlink(entry.path(), &link)?;
        }
    }
    Ok(())
}

fn build_point(
    exe: &Path,
    dir: &Path,
    file_name: &Path,
    point: &[Override],
    jobs: usize,
    cache: &Path,
) -> PointResult {
    let mut cmd = Command::new(exe);
    cmd.arg("-f")
        .arg(dir.join(file_name))
        .arg("build")
        .arg("-q")
        .arg("-j")
        .arg(jobs.to_string());
    for o in point {
        cmd.arg("--set")
            .arg(format!("{}={}", o.key, display_value(&o.value)));
    }
    if std::env::var_os(CACHE_DIR_ENV).is_none() {
        cmd.env(CACHE_DIR_ENV, cache);
    }
    let log = dir.with_extension("log");
    let status = match cmd.output() {
        Ok(out) => {
            let mut text = out.stdout;
            text.extend_from_slice(&out.stderr);
            let _ = std::fs::write(&log, text);
            if out.status.success() {
                "ok".to_string()
            } else {
                format!("failed (exit code {})", out.status.code().unwrap_or(-1))
            }
        }
        Err(e) => format!("failed to start: {e}"),
    };
    PointResult { status }
}
