//! `tnsflow sweep --slurm` against a real Slurm: a controller and a node
//! started on this machine (`scripts/slurm-localhost.sh`), munge included.
//! Without root or Slurm the cluster test is skipped locally and fails under CI.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::*;
use crate::sweep::{assert_six_points_built_sharing_base, PIPELINE};

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/slurm-localhost.sh")
}

/// A running one-node cluster, stopped when dropped.
struct Cluster {
    dir: tempfile::TempDir,
    conf: PathBuf,
}

impl Cluster {
    fn start() -> Option<Cluster> {
        let root = Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| o.stdout == b"0\n");
        // The names scripts/slurm-localhost.sh runs (it looks on PATH too).
        let missing: Vec<&str> = ["slurmctld", "slurmd", "sbatch", "munged"]
            .into_iter()
            .filter(|p| on_path(p).is_none())
            .collect();
        if !root || !missing.is_empty() {
            let why = match (root, missing.is_empty()) {
                (false, true) => "not running as root (slurmd runs jobs as their user)".to_string(),
                (true, false) => format!("{} not on PATH", missing.join(", ")),
                _ => format!("not root, and {} not on PATH", missing.join(", ")),
            };
            skip(&why, "apt-get install slurm-wlm munge, and run as root");
            return None;
        }
        let dir = tempfile::tempdir().expect("cluster dir");
        let out = Command::new(script())
            .arg("start")
            .arg(dir.path())
            .env("SLURMCTLD_PORT", free_port().to_string())
            .env("SLURMD_PORT", free_port().to_string())
            .output()
            .expect("run slurm-localhost.sh");
        assert!(
            out.status.success(),
            "the cluster did not start:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let conf = dir.path().join("slurm.conf");
        Some(Cluster { dir, conf })
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = Command::new(script())
            .arg("stop")
            .arg(self.dir.path())
            .status();
    }
}

/// Six points as six array tasks: the summary is the local sweep's, the
/// shared cache computes `base` once per size even with tasks running at
/// once, and a failing point is reported as failed, not lost.
#[test]
fn sweep_runs_as_a_slurm_array_job() {
    let Some(cluster) = Cluster::start() else {
        return;
    };
    let ws = Workspace::new()
        .pipeline(PIPELINE)
        .file("counter/.keep", "");
    let sweep = |sets: &[&str], extra: &[&str]| {
        let mut args = vec!["sweep", "--slurm"];
        args.extend(extra);
        for set in sets {
            args.extend(["--set", set]);
        }
        ws.tnsflow(args)
            .env("SLURM_CONF", &cluster.conf)
            .output()
            .unwrap()
    };

    let out = sweep(&["seed=1..3", "size=1,2"], &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("submitted Slurm array job"), "{stderr}");
    assert_six_points_built_sharing_base(&ws, &out.stdout);
    assert_eq!(ws.read("sweeps/point-003/out/base.txt"), "1\n2\n");
    assert_eq!(ws.read("sweeps/point-005.exit"), "0\n");
    assert!(ws
        .read("sweeps/slurm-job.sh")
        .contains("SLURM_ARRAY_TASK_ID"));

    // size=9 fails in `base`: those points fail, the others still finish.
    // The grid grows in the same folder, so (seed 1, size 2) keeps its number
    // 001 and (seed 1, size 9) gets the next free one, 006 (array task 6).
    // One task at a time (-j), and sbatch options passed through after ours:
    // this --output wins over the default log path.
    let custom = ws.join("slurm-logs/task-%a.log");
    let output = format!("--sbatch-arg=--output={}", custom.display());
    std::fs::create_dir_all(ws.join("slurm-logs")).unwrap();
    let out = sweep(&["seed=1", "size=2,9"], &["-j", "1", &output]);
    assert_eq!(out.status.code(), Some(1));
    let summary = ws.read("sweeps/summary.csv");
    assert!(summary.contains("point-001,1,2,ok,1,2\n"), "{summary}");
    assert!(
        summary.contains("point-006,1,9,failed (exit code 1)"),
        "{summary}"
    );
    assert!(
        ws.read("slurm-logs/task-6.log").contains("base"),
        "the task's log, where --sbatch-arg put it"
    );
}

/// Without sbatch, `--slurm` is a usage error that says what is missing.
#[test]
fn sweep_slurm_without_sbatch_is_a_usage_error() {
    let ws = Workspace::new()
        .pipeline(PIPELINE)
        .file("counter/.keep", "");
    let out = ws
        .tnsflow(["sweep", "--slurm", "--set", "seed=1,2"])
        .env("PATH", "/nonexistent")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("`--slurm` runs `sbatch`"), "{stderr}");
}
