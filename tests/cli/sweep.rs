//! Integration tests: `tnsflow sweep` over a param grid with a shared cache.

use crate::common::*;
use insta::assert_snapshot;

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
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(
            "`--set seed=5..1` is not a valid sweep axis: LO (5) must not exceed HI (1) in KEY=LO..HI"
        ),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A grid whose points repeat is refused before anything is written: two
/// points with the same params would share one `point-NNN` folder and build
/// it at the same time (`seed=1,1` listed point-000 twice, one build failing
/// on the other's lock), and a key swept twice made a summary with two
/// `seed` columns whose points all built the last value.
#[test]
fn a_grid_whose_points_repeat_is_refused() {
    let ws = Workspace::new()
        .pipeline(PIPELINE)
        .file("counter/.keep", "");
    for (args, message) in [
        (
            &["--set", "seed=1,2,1"][..],
            "`--set seed=1,2,1` is not a valid sweep axis: it gives 1 twice",
        ),
        (
            &["--set", "seed=1..2", "--set", "size=1", "--set", "seed=3"],
            "`--set seed=...` is swept twice (also as `--set seed=...`)",
        ),
    ] {
        let out = ws.tnsflow(["sweep"]).args(args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(message), "{args:?}: {stderr}");
        assert!(!ws.exists("sweeps"), "{args:?}");
    }
}

/// The note `tnsflow sweep` prints for one point, without its timing.
fn point_note(stderr: &str, point: &str) -> String {
    let line = stderr
        .lines()
        .find(|l| l.starts_with(&format!("{point} ")))
        .unwrap_or_else(|| panic!("no note for {point} in:\n{stderr}"));
    line.rsplit_once("; ")
        .map_or(line, |(head, _)| head)
        .to_string()
}

/// `--name` keeps each sweep in its own folder under `sweeps/`, side by side.
#[test]
fn named_sweeps_live_side_by_side() {
    let ws = Workspace::new()
        .pipeline(PIPELINE)
        .file("counter/.keep", "");
    for (name, set) in [("seeds", "seed=1..2"), ("sizes", "size=1,2")] {
        let out = ws
            .tnsflow(["sweep", "--name", name, "--set", set])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_eq!(
        ws.read("sweeps/seeds/summary.csv"),
        "point,seed,status,model_eval.seed,model_eval.lines\n\
         point-000,1,ok,1,1\npoint-001,2,ok,2,1\n"
    );
    assert_eq!(
        ws.read("sweeps/sizes/summary.csv"),
        "point,size,status,model_eval.seed,model_eval.lines\n\
         point-000,1,ok,1,1\npoint-001,2,ok,1,2\n"
    );
    assert_eq!(ws.read("sweeps/sizes/point-001/out/base.txt"), "1\n2\n");
    assert!(
        !ws.exists("sweeps/summary.csv"),
        "the default sweep is untouched"
    );

    let out = ws
        .tnsflow(["sweep", "--name", "point-1", "--set", "seed=1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--name \"point-1\": expected"));
}

/// Growing a finished grid from seeds 1..4 to 1..6 builds only points 5 and 6:
/// the old points' builds run nothing, and each new one runs its seed's stage.
#[test]
fn extending_a_grid_builds_only_the_new_points() {
    let ws = Workspace::new()
        .pipeline(PIPELINE)
        .file("counter/.keep", "");
    let first = ws
        .tnsflow(["sweep", "--name", "grow", "--set", "seed=1..4"])
        .output()
        .unwrap();
    assert!(first.status.success());
    assert_eq!(lines(&ws, "counter/score.log"), 4);

    let out = ws
        .tnsflow(["sweep", "--name", "grow", "--set", "seed=1..6"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    for n in 0..4 {
        assert_eq!(
            point_note(&stderr, &format!("point-{n:03}")),
            format!(
                "point-{n:03} seed={}: ok (0 ran, 2 up to date, 0 restored from cache, 0 failed",
                n + 1
            )
        );
    }
    for n in 4..6 {
        assert_eq!(
            point_note(&stderr, &format!("point-{n:03}")),
            format!(
                "point-{n:03} seed={}: ok (1 ran, 0 up to date, 1 restored from cache, 0 failed",
                n + 1
            )
        );
    }
    assert_eq!(
        lines(&ws, "counter/score.log"),
        6,
        "score ran for seeds 5 and 6 only"
    );
    assert_eq!(lines(&ws, "counter/base.log"), 1);
    assert_eq!(
        ws.read("sweeps/grow/points.csv"),
        "point,params\npoint-000,seed=1\npoint-001,seed=2\npoint-002,seed=3\n\
         point-003,seed=4\npoint-004,seed=5\npoint-005,seed=6\n"
    );
}

/// Three params and two metrics exports, the executive summary repeating
/// one of model_eval.csv's figures as the real one does.
const SHOW_PIPELINE: &str = r#"
params:
  seed: 1
  size: 1
  rate: 0.5
stages:
  base:
    cmd: "seq ${size} > out/base.txt"
    params: [size]
    outs: [out/base.txt]
  score:
    cmd: "printf 'seed,lines\n%s,%s\n' ${seed} $(wc -l < out/base.txt) > out/model_eval.csv && printf 'section,metric,value\nmodel,lines,%s\nqueue,rows,%s\n' $(wc -l < out/base.txt) $((${seed} * 10)) > out/executive_summary.csv"
    deps: [out/base.txt]
    params: [seed, rate]
    outs: [out/model_eval.csv, out/executive_summary.csv]
"#;

/// `sweep show` on a 4-point sweep: only the params that vary, the chosen
/// metrics, rows sorted by the params; the summary has each figure once.
#[test]
fn sweep_show_prints_the_experiment_table() {
    let ws = Workspace::new().pipeline(SHOW_PIPELINE);
    let out = ws
        .tnsflow([
            "sweep", "--name", "exp", "--set", "seed=2,1", "--set", "size=1,2", "--set", "rate=0.5",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        ws.read("sweeps/exp/summary.csv"),
        "point,seed,size,rate,status,model.lines,queue.rows,model_eval.seed\n\
         point-000,2,1,0.5,ok,1,20,2\npoint-001,2,2,0.5,ok,2,20,2\n\
         point-002,1,1,0.5,ok,1,10,1\npoint-003,1,2,0.5,ok,2,10,1\n",
        "model_eval.lines repeats model.lines: one column"
    );

    let show = ws
        .tnsflow([
            "sweep",
            "show",
            "exp",
            "--metric",
            "model",
            "--metric",
            "model_eval.seed",
        ])
        .output()
        .unwrap();
    assert!(
        show.status.success(),
        "{}",
        String::from_utf8_lossy(&show.stderr)
    );
    assert_snapshot!("sweep_show", String::from_utf8_lossy(&show.stdout));

    // The report: each chosen metric's mean and spread over the seeds of
    // each size, drawn inline; nothing to fetch.
    let html = ws.read("sweeps/exp/report.html");
    assert!(html.contains("<h2>model.lines</h2>") && html.contains("<h2>model_eval.seed</h2>"));
    assert!(
        !html.contains("<h2>queue.rows</h2>"),
        "only the chosen metrics"
    );
    assert_eq!(html.matches("<svg").count(), 2);
    assert!(
        html.contains("<td>size=1</td><td>2</td><td>1.5</td><td>0.7071</td><td>1</td><td>2</td>"),
        "model_eval.seed over seeds 1 and 2 at size=1: {html}"
    );
    let offline = html.replace("xmlns=\"http://www.w3.org/2000/svg\"", "");
    for fetch in [
        "http:", "https:", "src=", "href=", "url(", "<script", "<link", "@import",
    ] {
        assert!(
            !offline.contains(fetch),
            "report.html must not fetch: found {fetch}"
        );
    }

    let missing = ws.tnsflow(["sweep", "show", "nope"]).output().unwrap();
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains(
        "summary.csv does not exist; run `tnsflow sweep --name nope --set KEY=VALUES` first"
    ));
    let unknown = ws
        .tnsflow(["sweep", "show", "exp", "--metric", "f1"])
        .output()
        .unwrap();
    assert_eq!(unknown.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&unknown.stderr)
        .contains("has no such column; expected one of: model.lines, queue.rows, model_eval.seed"));
}

/// A top-level `metrics:` list chooses the exports a sweep summarizes; an
/// entry no stage writes is a config error pointing at it.
#[test]
fn pipeline_metrics_choose_the_summary_columns() {
    let ws = Workspace::new().pipeline(&format!(
        "{SHOW_PIPELINE}metrics: [out/executive_summary.csv]\n"
    ));
    let out = ws.tnsflow(["sweep", "--set", "seed=1,2"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        ws.read("sweeps/summary.csv"),
        "point,seed,status,model.lines,queue.rows\npoint-000,1,ok,1,10\npoint-001,2,ok,1,20\n"
    );

    ws.write(
        "pipeline.yaml",
        &format!("{SHOW_PIPELINE}metrics: [out/model_evl.csv]\n"),
    );
    let out = ws.tnsflow(["sweep", "--set", "seed=1,2"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("`metrics` lists `out/model_evl.csv`, which no stage writes")
            && stderr.contains("did you mean `out/model_eval.csv`?")
            && stderr.contains("listed here"),
        "{stderr}"
    );
}

/// A summary the sweep cannot write is named: a folder in the way of
/// `sweeps/summary.csv` fails the sweep (exit 1) with the file's path and
/// the reason, not a bare "Is a directory". Before: "error: Is a directory
/// (os error 21)".
#[test]
fn an_unwritable_summary_is_named() {
    let ws = Workspace::new()
        .pipeline(PIPELINE)
        .file("counter/.keep", "")
        .file("sweeps/summary.csv/in-the-way", "");
    let out = ws
        .tnsflow(["sweep", "--set", "seed=1..2"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let summary = std::path::Path::new("sweeps").join("summary.csv");
    assert!(
        stderr.contains("cannot write `") && stderr.contains(&format!("{}`: ", summary.display())),
        "{stderr}"
    );
    assert_eq!(ws.read("sweeps/summary.csv/in-the-way"), "");
}
