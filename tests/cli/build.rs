//! Integration tests: `tnsflow build` and its incremental behaviour.

use crate::common::*;
use std::time::Duration;

/// a -> b -> c, plus d reading a param; every command is cheap and deterministic.
const CHAIN: &str = r#"
params:
  seed: 42
  label: x
stages:
  a:
    cmd: "tr a-z A-Z < in.txt > out/a.txt"
    deps: [in.txt]
    outs: [out/a.txt]
  b:
    cmd: "wc -l < out/a.txt > out/b.txt"
    deps: [out/a.txt]
    outs: [out/b.txt]
  c:
    cmd: "cat out/b.txt out/b.txt > out/c.txt"
    deps: [out/b.txt]
    outs: [out/c.txt]
  d:
    cmd: "echo ${seed} ${label} > out/d.txt"
    params: [seed, label]
    outs: [out/d.txt]
"#;

fn chain() -> Workspace {
    Workspace::new()
        .pipeline(CHAIN)
        .file("in.txt", "one\ntwo\n")
}

/// A cold build runs every stage; the next one runs nothing.
#[test]
fn cold_then_noop() {
    let ws = chain();
    assert_eq!(ws.build(&[]), counts(4, 0, 0, 0));
    assert_eq!(ws.read("out/c.txt"), "2\n2\n");
    assert_eq!(ws.build(&[]), counts(0, 4, 0, 0));
}

/// Editing one input reruns exactly its transitive consumers.
#[test]
fn edit_reruns_consumers_only() {
    let ws = chain();
    ws.build(&[]);
    ws.write("in.txt", "one\ntwo\nthree\n");
    let (line, names) = ws.build_ran(&[]);
    assert_eq!(line, counts(3, 1, 0, 0));
    assert_eq!(names, ["a", "b", "c"]);
    assert_eq!(ws.read("out/c.txt"), "3\n3\n");
}

/// Rewriting a file with identical bytes and a new mtime reruns nothing.
#[test]
fn same_bytes_new_mtime_reruns_nothing() {
    let ws = chain();
    ws.build(&[]);
    std::thread::sleep(Duration::from_millis(20));
    ws.write("in.txt", "one\ntwo\n");
    assert_eq!(ws.build(&[]), counts(0, 4, 0, 0));
}

/// A stage whose rerun writes identical output stops the rebuild there (early cutoff).
#[test]
fn early_cutoff() {
    let ws = chain();
    ws.build(&[]);
    // Same number of lines: `a` changes, `b` reruns and writes the same count.
    ws.write("in.txt", "uno\ndos\n");
    let (line, names) = ws.build_ran(&[]);
    assert_eq!(names, ["a", "b"]);
    assert_eq!(line, counts(2, 2, 0, 0));
}

/// Changing a param reruns its readers; changing it back restores from the cache.
#[test]
fn param_round_trip_restores_from_cache() {
    let ws = chain();
    ws.build(&[]);
    let (line, names) = ws.build_ran(&["--set", "seed=17"]);
    assert_eq!(
        (line.as_str(), names),
        (counts(1, 3, 0, 0).as_str(), vec!["d".to_string()])
    );
    assert_eq!(ws.read("out/d.txt"), "17 x\n");
    assert_eq!(ws.build(&[]), counts(0, 3, 1, 0));
    assert_eq!(ws.read("out/d.txt"), "42 x\n");
}

/// A stage listing a parent key may use its children in `cmd` (`params: [e]`
/// covers `${e.x}`), and changing a child, in the file or with `--set`,
/// reruns it.
#[test]
fn listed_parent_param_covers_its_children() {
    let ws = Workspace::new().pipeline(
        "params:\n  e:\n    x: 1\n    y: 2\nstages:\n  a:\n    cmd: \"echo ${e.x} > out/a.txt\"\n    params: [e]\n    outs: [out/a.txt]\n",
    );
    assert_eq!(ws.build(&[]), counts(1, 0, 0, 0));
    assert_eq!(ws.read("out/a.txt"), "1\n");
    assert_eq!(ws.build(&["--set", "e.x=5"]), counts(1, 0, 0, 0));
    assert_eq!(ws.read("out/a.txt"), "5\n");
    // A sibling the cmd does not use is still part of the listed sub-map.
    assert_eq!(ws.build(&["--set", "e.y=3"]), counts(1, 0, 0, 0));
    ws.write(
        "pipeline.yaml",
        &ws.read("pipeline.yaml").replace("x: 1", "x: 7"),
    );
    assert_eq!(ws.build(&[]), counts(1, 0, 0, 0));
    assert_eq!(ws.read("out/a.txt"), "7\n");
    assert_eq!(ws.build(&[]), counts(0, 1, 0, 0));
}

/// Deleting an output restores only its producer, from the cache.
#[test]
fn deleted_output_is_restored() {
    let ws = chain();
    ws.build(&[]);
    std::fs::remove_file(ws.join("out/b.txt")).unwrap();
    assert_eq!(ws.build(&[]), counts(0, 3, 1, 0));
    assert_eq!(ws.read("out/b.txt"), "2\n");
}

/// A modified output is put back; the stage does not trust it.
#[test]
fn modified_output_is_restored() {
    let ws = chain();
    ws.build(&[]);
    std::fs::remove_file(ws.join("out/a.txt")).unwrap();
    ws.write("out/a.txt", "tampered\n");
    assert_eq!(ws.build(&[]), counts(0, 3, 1, 0));
    assert_eq!(ws.read("out/a.txt"), "ONE\nTWO\n");
}

/// A corrupted cache entry is detected by its hash and the stage recomputed.
#[test]
fn corrupt_cache_entry_is_recomputed() {
    let ws = chain();
    ws.build(&[]);
    assert!(ws.corrupt_every_blob() > 0);
    std::fs::remove_file(ws.join("out/a.txt")).unwrap();
    let (line, names) = ws.build_ran(&[]);
    assert_eq!(names, ["a"]);
    assert_eq!(line, counts(1, 3, 0, 0));
    assert_eq!(ws.read("out/a.txt"), "ONE\nTWO\n");
}

/// A stage that half-writes its out and fails leaves the last good out, and the
/// next build does not trust anything it wrote.
#[test]
fn half_written_output_is_not_trusted() {
    let ws = Workspace::new().pipeline(
        r#"
params:
  fail: 0
stages:
  w:
    cmd: "echo partial > out/w.txt; test ${fail} = 0 && echo complete > out/w.txt"
    params: [fail]
    outs: [out/w.txt]
  r:
    cmd: "cat out/w.txt > out/r.txt"
    deps: [out/w.txt]
    outs: [out/r.txt]
"#,
    );
    ws.build(&[]);
    assert_eq!(ws.read("out/w.txt"), "complete\n");
    let failed = ws.tnsflow(["build", "--set", "fail=1"]).output().unwrap();
    assert_eq!(failed.status.code(), Some(1));
    assert_eq!(
        summary(&String::from_utf8_lossy(&failed.stdout)),
        counts(0, 0, 0, 1)
    );
    assert_eq!(
        ws.read("out/w.txt"),
        "complete\n",
        "the last good out is kept"
    );
    // The next build with the failing value still fails: nothing was trusted.
    let again = ws.tnsflow(["build", "--set", "fail=1"]).output().unwrap();
    assert_eq!(again.status.code(), Some(1));
    assert_eq!(ws.build(&[]), counts(0, 2, 0, 0));
}

/// A failed stage stops its consumers, names itself and shows its output's last lines.
#[test]
fn failure_names_stage_and_output() {
    let ws = Workspace::new().pipeline(
        r#"
stages:
  bad:
    cmd: "echo something went wrong >&2; exit 3"
    outs: [out/bad.txt]
  after:
    cmd: "cat out/bad.txt > out/after.txt"
    deps: [out/bad.txt]
    outs: [out/after.txt]
  other:
    cmd: "echo ok > out/other.txt"
    outs: [out/other.txt]
"#,
    );
    let out = ws.tnsflow(["build", "-j", "1"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("stage `bad` failed"), "{stderr}");
    assert!(stderr.contains("exit code 3"), "{stderr}");
    assert!(stderr.contains("something went wrong"), "{stderr}");
    assert!(!ws.exists("out/after.txt"));

    let kept = ws
        .tnsflow(["build", "-j", "1", "--keep-going"])
        .output()
        .unwrap();
    assert_eq!(kept.status.code(), Some(1));
    assert_eq!(
        summary(&String::from_utf8_lossy(&kept.stdout)),
        counts(1, 0, 0, 1)
    );
    assert!(ws.exists("out/other.txt"));
}

/// Without --keep-going, no new stage starts after a failure.
#[test]
fn failure_stops_the_build() {
    let ws = Workspace::new().pipeline(
        r#"
stages:
  bad:
    cmd: "exit 1"
    outs: [out/bad.txt]
  later:
    cmd: "echo ok > out/later.txt"
    outs: [out/later.txt]
"#,
    );
    let out = ws.tnsflow(["build", "-j", "1"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        summary(&String::from_utf8_lossy(&out.stdout)),
        counts(0, 0, 0, 1)
    );
    assert!(!ws.exists("out/later.txt"));
}

/// --dry-run prints the stages it would run, one per line, and runs none.
#[test]
fn dry_run_lists_without_running() {
    let ws = chain();
    let out = ws.tnsflow(["build", "--dry-run"]).output().unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout), "a\nb\nc\nd\n");
    assert!(!ws.exists("out/a.txt"));
    ws.build(&[]);
    let out = ws
        .tnsflow(["build", "--dry-run", "--set", "seed=1"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "d\n");
}

/// --force reruns one stage; its unchanged output spares its consumers.
#[test]
fn force_reruns_one_stage() {
    let ws = chain();
    ws.build(&[]);
    let (line, names) = ws.build_ran(&["--force", "a"]);
    assert_eq!(names, ["a"]);
    assert_eq!(line, counts(1, 3, 0, 0));
}

/// Naming a stage builds it and what it needs, nothing else.
#[test]
fn builds_named_stages_with_upstream() {
    let ws = chain();
    assert_eq!(ws.build(&["b"]), counts(2, 0, 0, 0));
    assert!(!ws.exists("out/c.txt") && !ws.exists("out/d.txt"));
}

/// foreach gives one stage per file, NAME@STEM; naming NAME builds them all;
/// an SQL stage writes its result set as CSV.
#[test]
fn foreach_and_sql_stages() {
    let ws = Workspace::new()
        .pipeline(
            r#"
stages:
  db:
    cmd: "python3 -c \"import sqlite3; c=sqlite3.connect('out/t.db'); c.execute('create table t(x, y)'); c.executemany('insert into t values (?, ?)', [(1, 'a'), (2, 'b,c')]); c.commit()\""
    outs: [out/t.db]
  q:
    foreach: queries/*.sql
    sql: ${item}
    db: out/t.db
    outs: [out/q/${stem}.csv]
"#,
        )
        .file("queries/all.sql", "-- every row\nselect x, y from t order by x;\n")
        .file("queries/count.sql", "select count(*) as n, 0.5 as half from t;\n");
    assert_eq!(ws.build(&["q"]), counts(3, 0, 0, 0));
    assert_eq!(ws.read("out/q/all.csv"), "x,y\n1,a\n2,\"b,c\"\n");
    assert_eq!(ws.read("out/q/count.csv"), "n,half\n2,0.5\n");
    // Editing one query reruns only its stage.
    ws.write("queries/count.sql", "select count(*) as n from t;\n");
    let (_, names) = ws.build_ran(&[]);
    assert_eq!(names, ["q@count"]);
}

/// An SQL error names the .sql file and carries SQLite's message.
#[test]
fn sql_error_names_file() {
    let ws = Workspace::new()
        .pipeline(
            r#"
stages:
  db:
    cmd: "python3 -c \"import sqlite3; sqlite3.connect('out/t.db').execute('create table t(x)')\""
    outs: [out/t.db]
  q:
    sql: bad.sql
    db: out/t.db
    outs: [out/q.csv]
"#,
        )
        .file("bad.sql", "select nope from t;\n");
    let out = ws.tnsflow(["build"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("stage `q` failed: SQL in `bad.sql` failed: no such column: nope"),
        "{stderr}"
    );
}

/// A syntax error in a user's detection names the file, the line and the
/// column, and shows the line with a caret; the old message repeated the
/// whole query and gave a byte offset ("... at offset 77").
#[test]
fn sql_syntax_error_names_line_and_column() {
    let ws = Workspace::new()
        .pipeline(
            r#"
stages:
  db:
    cmd: "python3 -c \"import sqlite3; sqlite3.connect('out/t.db').execute('create table t(x)')\""
    outs: [out/t.db]
  detect:
    foreach: detections/*.sql
    sql: ${item}
    db: out/t.db
    outs: [out/detections/${stem}.csv]
"#,
        )
        .file(
            "detections/foo.sql",
            "-- a user's detection\nSELECT x,\n  'foo' AS detection\nFROM t\nWHERE x = = 1;\n",
        );
    let out = ws.tnsflow(["build"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(
            "stage `detect@foo` failed: SQL in `detections/foo.sql` failed: \
             near \"=\": syntax error at line 5, column 11:\n  WHERE x = = 1;\n            ^"
        ),
        "{stderr}"
    );
    assert!(!stderr.contains("offset"), "{stderr}");
}

/// A folder dep counts by content: adding a file under it reruns its reader.
#[test]
fn folder_deps_count_by_content() {
    let ws = Workspace::new()
        .pipeline(
            r#"
stages:
  list:
    cmd: "cat data/* > out/all.txt"
    deps: [data]
    outs: [out/all.txt]
"#,
        )
        .file("data/a.txt", "a\n");
    ws.build(&[]);
    ws.write("data/b.txt", "b\n");
    assert_eq!(ws.build(&[]), counts(1, 0, 0, 0));
    assert_eq!(ws.read("out/all.txt"), "a\nb\n");
}

/// A second build while one is running is refused with a message naming the holder.
#[test]
fn concurrent_build_is_refused() {
    let ws = Workspace::new().pipeline(
        r#"
stages:
  slow:
    cmd: "sleep 3 && echo done > out/slow.txt"
    outs: [out/slow.txt]
"#,
    );
    let first = ws.spawn(&["build"]);
    wait_for("the first build to take the lock", || {
        ws.join(".tnsflow/lock").exists()
            && std::fs::read_to_string(ws.join(".tnsflow/lock")).is_ok_and(|s| s.contains("pid"))
    });
    let second = ws.tnsflow(["build"]).output().unwrap();
    assert_eq!(second.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(
        stderr.contains("another tnsflow command is running in this workspace (pid "),
        "{stderr}"
    );
    let mut first = first;
    assert!(first.wait().unwrap().success());
    assert_eq!(ws.build(&[]), counts(0, 1, 0, 0));
}

/// A build killed with SIGKILL in the middle of a stage is followed by a build
/// that ends correct: the interrupted stage reruns, finished ones are kept.
#[test]
fn killed_build_recovers() {
    let ws = Workspace::new().pipeline(
        r#"
stages:
  fast:
    cmd: "echo fast > out/fast.txt"
    outs: [out/fast.txt]
  slow:
    cmd: "echo partial > out/slow.txt && sleep 5 && echo complete > out/slow.txt"
    deps: [out/fast.txt]
    outs: [out/slow.txt]
"#,
    );
    let mut child = ws.spawn(&["build", "-j", "1"]);
    // The file exists once the shell's `>` made it; kill after `echo` wrote.
    wait_for("the slow stage's first write", || {
        std::fs::read_to_string(ws.join("out/slow.txt")).is_ok_and(|s| s == "partial\n")
    });
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(ws.read("out/slow.txt"), "partial\n");
    let (line, names) = ws.build_ran(&[]);
    assert_eq!(names, ["slow"], "{line}");
    assert_eq!(ws.read("out/slow.txt"), "complete\n");
    assert_eq!(ws.build(&[]), counts(0, 2, 0, 0));
}

/// The no-op fast path (one stat per file, no planning) never hides a change:
/// an edited file, a file added to a folder dep, a new foreach match, another
/// param value.
#[test]
fn noop_snapshot_never_hides_changes() {
    let ws = Workspace::new()
        .pipeline(
            r#"
params:
  n: 1
stages:
  all:
    cmd: "cat data/* > out/all.txt"
    deps: [data]
    outs: [out/all.txt]
  each:
    foreach: parts/*.txt
    cmd: "head -n ${n} ${item} > out/each/${stem}.txt"
    deps: [${item}]
    params: [n]
    outs: [out/each/${stem}.txt]
"#,
        )
        .file("data/a.txt", "a\n")
        .file("parts/p.txt", "p1\np2\n");
    let settle = || std::thread::sleep(Duration::from_millis(2100));
    ws.build(&[]);
    settle();
    assert_eq!(ws.build(&[]), counts(0, 2, 0, 0));
    assert!(
        ws.exists(".tnsflow/v2/state.db"),
        "a successful build records a snapshot"
    );
    assert_eq!(ws.build(&[]), counts(0, 2, 0, 0));

    ws.write("data/a.txt", "b\n");
    assert_eq!(ws.build(&[]), counts(1, 1, 0, 0));
    settle();
    ws.build(&[]);
    ws.write("data/new.txt", "new\n");
    assert_eq!(ws.build(&[]), counts(1, 1, 0, 0));
    assert_eq!(ws.read("out/all.txt"), "b\nnew\n");

    settle();
    ws.build(&[]);
    ws.write("parts/q.txt", "q1\n");
    assert_eq!(ws.build(&[]), counts(1, 2, 0, 0));
    assert_eq!(ws.build(&["--set", "n=2"]), counts(2, 1, 0, 0));
    assert_eq!(ws.read("out/each/p.txt"), "p1\np2\n");
}

/// A foreach item whose file goes away leaves no out behind for the stages
/// reading its folder: `status` calls them stale and says why, the build
/// removes the dead out and reruns them, as a clean build would have it.
/// A dead out the user changed is theirs and stays. The old code kept
/// `out/parts/b.txt`, called `all` fresh and left `B` in `out/all.txt`.
#[test]
fn outs_of_stages_no_longer_declared_are_not_read() {
    let ws = Workspace::new()
        .pipeline(
            r#"
stages:
  part:
    foreach: src/*.txt
    cmd: "mkdir -p out/parts && tr a-z A-Z < ${item} > out/parts/${stem}.txt"
    deps: ["${item}"]
    outs: [out/parts/${stem}.txt]
  all:
    cmd: "cat out/parts/* > out/all.txt"
    deps: [out/parts]
    outs: [out/all.txt]
"#,
        )
        .file("src/a.txt", "a\n")
        .file("src/b.txt", "b\n")
        .file("src/c.txt", "c\n");
    assert_eq!(ws.build(&["-q"]), counts(4, 0, 0, 0));
    std::fs::remove_file(ws.join("src/b.txt")).unwrap();
    std::fs::remove_file(ws.join("src/c.txt")).unwrap();
    ws.write("out/parts/c.txt", "mine\n");

    let status = ws.tnsflow(["status"]).output().unwrap();
    let status = String::from_utf8_lossy(&status.stdout).into_owned();
    assert!(
        status.contains("stale  all")
            && status.contains("reads `out/parts/b.txt`, left by stage `part@b`"),
        "{status}"
    );
    let (summary, ran) = ws.build_ran(&[]);
    assert_eq!(summary, counts(1, 1, 0, 0));
    assert_eq!(ran, ["all"]);
    assert!(!ws.exists("out/parts/b.txt"));
    assert_eq!(ws.read("out/parts/c.txt"), "mine\n");
    assert_eq!(ws.read("out/all.txt"), "A\nmine\n");
    assert_eq!(ws.build(&[]), counts(0, 2, 0, 0));
}

/// An out whose stage is gone but which a stage names as a dep is a source
/// file now, and stays: data generated once and kept, with the generating
/// stage taken out of the pipeline, is not removed (nor its consumer rerun).
#[test]
fn an_out_read_by_name_outlives_its_stage() {
    let ws = Workspace::new().pipeline(
        "stages:\n  gen:\n    cmd: \"echo data > data.csv\"\n    outs: [data.csv]\n  use:\n    cmd: \"wc -l < data.csv > n.txt\"\n    deps: [data.csv]\n    outs: [n.txt]\n",
    );
    assert_eq!(ws.build(&[]), counts(2, 0, 0, 0));
    ws.write(
        "pipeline.yaml",
        "stages:\n  use:\n    cmd: \"wc -l < data.csv > n.txt\"\n    deps: [data.csv]\n    outs: [n.txt]\n",
    );
    assert_eq!(ws.build(&[]), counts(0, 1, 0, 0));
    assert_eq!(ws.read("data.csv"), "data\n");
}
