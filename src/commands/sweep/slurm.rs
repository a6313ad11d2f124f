//! Sweep points as one Slurm array job: one task per point.
//!
//! The points' workspaces are prepared on this machine as for a local sweep;
//! the job script (`sweeps/slurm-job.sh`) maps `SLURM_ARRAY_TASK_ID` to a
//! point and runs this very binary's `build` there, with the workspace's
//! cache as `TNSFLOW_CACHE_DIR`. So the workspace and the cache must be on a
//! filesystem every node mounts at the same path; concurrent tasks share the
//! cache safely through its per-key locks and atomic renames. `sbatch --wait`
//! blocks until the array ends; each task leaves its exit code in
//! `sweeps/point-NNN.exit` (its output in `point-NNN.log`), which is how a
//! failed point is told from one Slurm never ran.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::{describe, PointResult};
use crate::parse::{display_value, Override};
use crate::record::{write_atomic, RecordError};
use crate::Error;

/// The job script, beside the points.
pub const JOB_SCRIPT: &str = "slurm-job.sh";

pub struct SlurmSweep<'a> {
    pub sweeps: &'a Path,
    pub dirs: &'a [PathBuf],
    /// Each point's number (`point-NNN`), also its array task id.
    pub numbers: &'a [usize],
    pub file_name: &'a Path,
    pub points: &'a [Vec<Override>],
    /// `TNSFLOW_CACHE_DIR` for every task.
    pub cache: &'a Path,
    /// At most this many tasks at once (`--array=0-N%T`).
    pub throttle: Option<u32>,
    /// Extra sbatch options, passed as given.
    pub sbatch_args: &'a [String],
    pub quiet: bool,
}

/// Submits the array job, waits for it, and reads each point's exit code.
pub fn run(sweep: &SlurmSweep) -> Result<Vec<PointResult>, Error> {
    let exe = std::env::current_exe()?;
    let script_path = sweep.sweeps.join(JOB_SCRIPT);
    write_atomic(&script_path, job_script(sweep, &exe)?.as_bytes())
        .map_err(RecordError::writing(&script_path))?;
    for &n in sweep.numbers {
        // A code left by an earlier sweep must not stand for this one.
        match std::fs::remove_file(exit_file(sweep.sweeps, n)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
            _ => {}
        }
    }

    // Task ids are the point numbers, so a grown grid's old points keep
    // their logs and exit files.
    let ids = array_ids(sweep.numbers);
    let array = match sweep.throttle {
        Some(t) => format!("--array={ids}%{t}"),
        None => format!("--array={ids}"),
    };
    let mut child = Command::new("sbatch")
        .args(["--parsable", "--wait", "--job-name=tnsflow-sweep", &array])
        .arg(output_option(sweep.sweeps))
        .args(sweep.sbatch_args)
        .arg(&script_path)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| {
            Error::Usage(format!(
                "`--slurm` runs `sbatch`, which could not be started ({e}); is Slurm installed and on PATH?"
            ))
        })?;
    // `--parsable` prints the job id as soon as the job is queued.
    let mut job_id = String::new();
    if let Some(stdout) = child.stdout.take() {
        BufReader::new(stdout).read_line(&mut job_id)?;
    }
    let job_id = job_id
        .trim()
        .split(';')
        .next()
        .unwrap_or_default()
        .to_string();
    if !job_id.is_empty() && !sweep.quiet {
        crate::commands::note(&format!(
            "submitted Slurm array job {job_id}: {} task(s); waiting for it to end",
            sweep.points.len()
        ));
    }
    let output = child.wait_with_output()?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    if job_id.is_empty() {
        return Err(Error::Usage(format!(
            "sbatch refused the sweep's job ({}): {}",
            output.status,
            stderr.trim()
        )));
    }

    let results: Vec<PointResult> = sweep
        .numbers
        .iter()
        .map(|&n| PointResult {
            status: match std::fs::read_to_string(exit_file(sweep.sweeps, n)) {
                Ok(code) if code.trim() == "0" => "ok".to_string(),
                Ok(code) => format!("failed (exit code {})", code.trim()),
                Err(_) => format!(
                    "failed (Slurm task {job_id}_{n} left no exit code; see point-{n:03}.log)"
                ),
            },
        })
        .collect();
    if !sweep.quiet {
        for ((&n, point), result) in sweep.numbers.iter().zip(sweep.points).zip(&results) {
            let build = super::build_summary(&sweep.sweeps.join(format!("point-{n:03}.log")))
                .map(|s| format!(" ({s})"))
                .unwrap_or_default();
            crate::commands::note(&format!(
                "point-{n:03} {}: {}{build}",
                describe(point),
                result.status
            ));
        }
    }
    Ok(results)
}

/// `0-3,7,9-10`: the numbers as Slurm's `--array` ranges.
fn array_ids(numbers: &[usize]) -> String {
    let mut sorted = numbers.to_vec();
    sorted.sort_unstable();
    let mut ranges: Vec<(usize, usize)> = Vec::new();
    for n in sorted {
        match ranges.last_mut() {
            Some((_, hi)) if *hi + 1 == n => *hi = n,
            _ => ranges.push((n, n)),
        }
    }
    ranges
        .iter()
        .map(|&(lo, hi)| {
            if lo == hi {
                lo.to_string()
            } else {
                format!("{lo}-{hi}")
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

fn exit_file(sweeps: &Path, n: usize) -> PathBuf {
    sweeps.join(format!("point-{n:03}.exit"))
}

/// `--output=SWEEPS/point-%3a.log`, one log per task. sbatch reads `%` in
/// the path as a field (`%a` is the task id, `%j` the job id), so a `%` of
/// the workspace path is written `%%` (issue 10: a folder `ws%a` must not
/// send the logs to `ws0/`).
fn output_option(sweeps: &Path) -> String {
    let dir = sweeps.to_string_lossy().replace('%', "%%");
    format!("--output={dir}/point-%3a.log")
}

fn quote(text: &str) -> Result<String, Error> {
    shlex::try_quote(text).map(|q| q.into_owned()).map_err(|_| {
        Error::Usage(format!(
            "cannot pass {text:?} to a Slurm job: it holds a NUL"
        ))
    })
}

fn quote_path(path: &Path) -> Result<String, Error> {
    quote(&path.to_string_lossy())
}

/// A POSIX sh script: a `case` from task id to point, then the build.
fn job_script(sweep: &SlurmSweep, exe: &Path) -> Result<String, Error> {
    let mut points = String::new();
    for ((dir, point), &n) in sweep.dirs.iter().zip(sweep.points).zip(sweep.numbers) {
        let mut sets = Vec::new();
        for o in point {
            sets.push("--set".to_string());
            sets.push(quote(&format!("{}={}", o.key, display_value(&o.value)))?);
        }
        points.push_str(&format!(
            "  {n}) pipeline={}; exit_file={}; set -- {} ;;\n",
            quote_path(&dir.join(sweep.file_name))?,
            quote_path(&exit_file(sweep.sweeps, n))?,
            sets.join(" ")
        ));
    }
    Ok(format!(
        r#"#!/bin/sh
# Written by `tnsflow sweep --slurm`: one array task per grid point.
export {cache_env}={cache}
case "$SLURM_ARRAY_TASK_ID" in
{points}  *) echo "no sweep point for task $SLURM_ARRAY_TASK_ID" >&2; exit 2 ;;
esac
{exe} -f "$pipeline" build -q -j "${{SLURM_CPUS_PER_TASK:-1}}" "$@"
code=$?
echo "$code" > "$exit_file.tmp" && mv "$exit_file.tmp" "$exit_file"
exit "$code"
"#,
        cache_env = crate::layout::CACHE_DIR_ENV,
        cache = quote_path(sweep.cache)?,
        exe = quote_path(exe)?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_yaml::Value;
    use std::os::unix::fs::PermissionsExt;

    /// Runs the script as Slurm would, for task 1, with a stand-in binary
    /// that records its arguments and environment and exits 3.
    #[test]
    fn the_job_script_runs_its_tasks_point_with_every_value_quoted() {
        let tmp = tempfile::tempdir().unwrap();
        let sweeps = tmp.path().join("my sweeps");
        std::fs::create_dir_all(&sweeps).unwrap();
        let exe = tmp.path().join("fake tnsflow");
        std::fs::write(
            &exe,
            "#!/bin/sh\nprintf '%s\\n' \"$TNSFLOW_CACHE_DIR\" \"$@\" > \"$(dirname \"$0\")/args\"\nexit 3\n",
        )
        .unwrap();
        std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
        let dirs = vec![sweeps.join("point-000"), sweeps.join("point-001")];
        let points = vec![
            vec![Override {
                key: "seed".into(),
                value: Value::from(1),
            }],
            vec![Override {
                key: "label".into(),
                value: Value::from("it's $HOME `x`"),
            }],
        ];
        let sweep = SlurmSweep {
            sweeps: &sweeps,
            dirs: &dirs,
            numbers: &[0, 1],
            file_name: Path::new("pipeline.yaml"),
            points: &points,
            cache: Path::new("/shared/the cache"),
            throttle: None,
            sbatch_args: &[],
            quiet: true,
        };
        let script = sweeps.join(JOB_SCRIPT);
        std::fs::write(&script, job_script(&sweep, &exe).unwrap()).unwrap();
        let status = Command::new("sh")
            .arg(&script)
            .env("SLURM_ARRAY_TASK_ID", "1")
            .env_remove("SLURM_CPUS_PER_TASK")
            .status()
            .unwrap();
        assert_eq!(status.code(), Some(3));
        let pipeline = dirs[1].join("pipeline.yaml");
        let expected = [
            "/shared/the cache",
            "-f",
            pipeline.to_str().unwrap(),
            "build",
            "-q",
            "-j",
            "1",
            "--set",
            "label=it's $HOME `x`",
        ];
        let args = std::fs::read_to_string(tmp.path().join("args")).unwrap();
        assert_eq!(args.lines().collect::<Vec<_>>(), expected);
        assert_eq!(
            std::fs::read_to_string(exit_file(&sweeps, 1)).unwrap(),
            "3\n"
        );
        assert!(!exit_file(&sweeps, 0).exists());

        let status = Command::new("sh")
            .arg(&script)
            .env("SLURM_ARRAY_TASK_ID", "7")
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert_eq!(status.code(), Some(2), "a task id with no point");
    }

    /// Point numbers become compact `--array` ranges.
    #[test]
    fn array_ids_are_ranges() {
        assert_eq!(array_ids(&[0, 1, 2, 3]), "0-3");
        assert_eq!(array_ids(&[5, 0, 1, 9, 4]), "0-1,4-5,9");
    }
}
