//! Integration tests: `tnsflow sweep` over a param grid with a shared cache.

use crate::common::*;

/// Two stages; `base` fails for size 9 (the Slurm test's failing point).
pub const PIPELINE: &str = r#"
params:
  seed: 1
  size: 1
stages:
  base:
    cmd: "echo ran >> counter/base.log && test ${size} -lt 9 && seq ${size} > out/base.txt"
    params: [size]
    outs: [out/base.txt]
  score:
    cmd: "echo ran >> counter/score.log && printf 'seed,lines\n%s,%s\n' ${seed} $(wc -l < out/base.txt) > out/model_eval.csv"
    deps: [out/base.txt]
    params: [seed]
    outs: [out/model_eval.csv]
"#;

/// The summary of `--set seed=1..3 --set size=1,2`, printed and written,
/// and `base` computed once per size through the shared cache.
pub fn assert_six_points_built_sharing_base(ws: &Workspace, stdout: &[u8]) {
    let expected = "point,seed,size,status,model_eval.seed,model_eval.lines\n\
        point-000,1,1,ok,1,1\npoint-001,1,2,ok,1,2\npoint-002,2,1,ok,2,1\n\
        point-003,2,2,ok,2,2\npoint-004,3,1,ok,3,1\npoint-005,3,2,ok,3,2\n";
    assert_eq!(String::from_utf8_lossy(stdout), expected);
    assert_eq!(ws.read("sweeps/summary.csv"), expected);
    assert_eq!(lines(ws, "counter/base.log"), 2, "base ran once per size");
    assert_eq!(lines(ws, "counter/score.log"), 6);
}

/// Every point builds in its own folder; points that agree on a stage's inputs
/// compute it once; the summary has one row per point; a rerun is a no-op.
#[test]
fn sweep_shares_stages_and_summarizes() {
    let ws = Workspace::new()
        .pipeline(PIPELINE)
        .file("counter/.keep", "");
    let out = ws
        .tnsflow([
            "sweep",
            "--set",
            "seed=1..3",
            "--set",
            "size=1,2",
            "-j",
            "2",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_six_points_built_sharing_base(&ws, &out.stdout);
    assert_eq!(ws.read("sweeps/point-005/out/base.txt"), "1\n2\n");

    let again = ws
        .tnsflow(["sweep", "--set", "seed=1..3", "--set", "size=1,2"])
        .output()
        .unwrap();
    assert!(again.status.success());
    assert_eq!(lines(&ws, "counter/base.log"), 2);
    assert_eq!(lines(&ws, "counter/score.log"), 6);
}

/// A bad value anywhere in the grid fails before any point runs.
#[test]
fn sweep_validates_every_point_first() {
    let ws = Workspace::new()
        .pipeline(PIPELINE)
        .file("counter/.keep", "");
    let out = ws.tnsflow(["sweep", "--set", "seed=1,x"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("param `seed` = x (from --set) has the wrong type"));
    assert!(!ws.exists("sweeps"));
    let out = ws
        .tnsflow(["sweep", "--set", "seed=5..1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}
