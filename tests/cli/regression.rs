//! Regression tests, named after the issue that found them.

use crate::common::*;

/// `outs: [out/${stem}.csv]`, as SPEC section 3 writes it, is not plain YAML
/// (`{` is reserved in flow lists); tnsflow must accept it anyway.
/// See: issue 3 (the pipeline.yaml contract).
#[test]
fn issue_3_placeholder_in_flow_list() {
    let ws = Workspace::new()
        .pipeline(
            r#"
params:
  n: 2
stages:
  copy:
    foreach: in/*.txt
    cmd: "head -n ${n} ${item} > out/${stem}.txt"
    deps: [${item}]
    params: [n]
    outs: [out/${stem}.txt]
"#,
        )
        .file("in/a.txt", "1\n2\n3\n")
        .file("in/b.txt", "x\n");
    assert_eq!(ws.build(&[]), counts(2, 0, 0, 0));
    assert_eq!(ws.read("out/a.txt"), "1\n2\n");
    assert_eq!(ws.read("out/b.txt"), "x\n");
}

/// Errors inside a declaration that uses `${...}` still point at the right column.
/// See: issue 3.
#[test]
fn issue_3_spans_survive_placeholders() {
    let ws = Workspace::new()
        .pipeline("stages:\n  copy:\n    foreach: in/*.txt\n    cmd: \"cat ${item} > out/${stem}.txt\"\n    deps: [${item}, nope.txt]\n    outs: [out/${stem}.txt]\n")
        .file("in/a.txt", "1\n");
    let out = ws.tnsflow(["build"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("stage `copy@a` reads `nope.txt`"),
        "{stderr}"
    );
    assert!(stderr.contains("[pipeline.yaml:5:21]"), "{stderr}");
}

/// A `cmd` stage in front of `enforcement` that writes `review_queue_dedup.csv`.
fn queue_before_enforcement(csv: &str) -> Workspace {
    Workspace::new()
        .pipeline(
            r#"
stages:
  queue:
    cmd: "mkdir -p out && cp queue.csv out/review_queue_dedup.csv"
    deps: [queue.csv]
    outs: [out/review_queue_dedup.csv]
  enforcement:
    builtin: enforcement
    deps: [out/review_queue_dedup.csv]
    outs: [out/enforcement_actions.csv]
"#,
        )
        .file("queue.csv", csv)
}

const QUEUE_HEADER: &str = "day,user_id,risk_score,uncertainty,block_rate,n_chat,recent_prompts\n";

/// A risk_score that is not a number fails `enforcement` naming the file, line
/// and column; it used to be read as 0 and the row allowed (exit 0).
/// See: issue 14 (one CSV policy).
#[test]
fn issue_14_an_unparsable_float_between_stages_fails_naming_file_line_and_column() {
    let ws = queue_before_enforcement(&format!(
        "{QUEUE_HEADER}2026-01-01,u1,0.95,0.1,0.2,100,hello\n2026-01-02,u2,abc,0.1,0.2,100,hi\n"
    ));
    let out = ws.tnsflow(["build"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(
            "out/review_queue_dedup.csv` line 3: column `risk_score` is `abc`, expected a number"
        ),
        "{stderr}"
    );
    assert!(!ws.exists("out/enforcement_actions.csv"));
}

/// A record with too few fields names the file and its line, not just
/// "CSV: found record with 3 fields". See: issue 14 (errors name their file).
#[test]
fn issue_14_a_corrupt_csv_between_stages_names_the_file_and_line() {
    let ws = queue_before_enforcement(&format!(
        "{QUEUE_HEADER}2026-01-01,u1,0.95,0.1,0.2,100,hello\n2026-01-02,u2,0.5\n"
    ));
    let out = ws.tnsflow(["build"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("out/review_queue_dedup.csv`: CSV error: record 2 (line: 3, byte: 105): found record with 3 fields"),
        "{stderr}"
    );
}

/// A sweep's point parallelism has its own flag, `--parallel-points`; `-j` and
/// `--jobs`, which meant the same before, still work. See: issue 14 (one set
/// of run flags).
#[test]
fn issue_14_sweep_points_at_once_have_their_own_flag() {
    let ws = Workspace::new().pipeline(
        "params:\n  seed: 1\nstages:\n  a:\n    cmd: \"echo ${seed} > out/a.txt\"\n    params: [seed]\n    outs: [out/a.txt]\n",
    );
    for flag in ["--parallel-points", "--jobs", "-j"] {
        let out = ws
            .tnsflow(["sweep", "--set", "seed=1..2", flag, "2"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{flag}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "point,seed,status\npoint-000,1,ok\npoint-001,2,ok\n",
            "{flag}"
        );
    }
    let help = ws.tnsflow(["sweep", "--help"]).output().unwrap();
    assert!(String::from_utf8_lossy(&help.stdout).contains("-j, --parallel-points <N>"));
}
