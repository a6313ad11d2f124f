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

/// Every table, view, index and row of `sqlite.db`, as text: sqlite_master
/// (without root pages) and, per table and view, its row count and a blake3
/// of its typed rows in rowid order.
fn db_fingerprint(ws: &Workspace) -> String {
    use rusqlite::types::ValueRef;
    let db = rusqlite::Connection::open(ws.join("out/sqlite.db")).unwrap();
    let objects: Vec<(String, String, String)> = db
        .prepare("SELECT type, name, COALESCE(sql, '') FROM sqlite_master ORDER BY type, name")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let mut out = String::new();
    for (kind, name, sql) in &objects {
        // Statistics in the order of what they describe, not of the ANALYZE
        // steps; load writes no sqlite_stat4 samples for raw_events' indexes
        // (it counts their sqlite_stat1 figures itself).
        let rows = match (kind.as_str(), name.as_str()) {
            (_, "sqlite_stat1") => "SELECT * FROM sqlite_stat1 ORDER BY tbl, idx".to_string(),
            (_, "sqlite_stat4") => {
                "SELECT * FROM sqlite_stat4 WHERE tbl <> 'raw_events' ORDER BY tbl, idx, rowid"
                    .to_string()
            }
            ("table", _) => format!("SELECT rowid, * FROM \"{name}\" ORDER BY rowid"),
            ("view", _) => format!("SELECT * FROM \"{name}\""),
            _ => {
                out.push_str(&format!("{kind} {name}: {sql}\n"));
                continue;
            }
        };
        let mut stmt = db.prepare(&rows).unwrap();
        let n = stmt.column_count();
        let (mut count, mut hash) = (0, blake3::Hasher::new());
        let mut q = stmt.query([]).unwrap();
        while let Some(row) = q.next().unwrap() {
            count += 1;
            for i in 0..n {
                let cell = match row.get_ref(i).unwrap() {
                    ValueRef::Null => "N".to_string(),
                    ValueRef::Integer(v) => format!("I{v}"),
                    ValueRef::Real(v) => format!("R{:x}", v.to_bits()),
                    ValueRef::Text(t) => format!("T{}", String::from_utf8_lossy(t)),
                    ValueRef::Blob(b) => format!("B{b:?}"),
                };
                hash.update(cell.as_bytes());
                hash.update(b"\x1f");
            }
        }
        let hex = hash.finalize().to_hex();
        out.push_str(&format!("{kind} {name}: {count} rows {}\n", &hex[..16]));
        if kind == "view" || !name.starts_with("sqlite_") {
            out.push_str(&format!("  {}\n", sql.replace('\n', "\n  ")));
        }
    }
    out
}

/// `load` builds every table, view and index of SPEC section 6 with the
/// same rows as the SQL in `sql/` gives: the snapshot pins the schema and a
/// checksum of every table's rows, and an edited core file (which makes load
/// run the SQL instead of its Rust twin) gives the same database.
/// See: issue 13 (a faster load).
#[test]
fn issue_13_load_keeps_every_table_index_and_row() {
    let sets = ["--set", "users=400", "--set", "events=20000"];
    let fast = Workspace::from_repo();
    fast.build(&[&sets[..], &["load"]].concat());
    let fingerprint = db_fingerprint(&fast);
    insta::assert_snapshot!("issue_13_sqlite_db", fingerprint);

    let sql = Workspace::from_repo();
    let day = sql.read("sql/core/10_core_user_day.sql");
    sql.write(
        "sql/core/10_core_user_day.sql",
        &format!("-- edited\n{day}"),
    );
    sql.build(&[&sets[..], &["load"]].concat());
    assert_eq!(db_fingerprint(&sql), fingerprint);
}
