//! Integration tests: the data foundation (generate, load, monitoring,
//! detections) built by the repository's own pipeline.yaml.

use crate::common::*;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::OnceLock;

/// One default-size build of the repository pipeline, shared by the read-only tests.
pub fn built() -> &'static Workspace {
    static BUILT: OnceLock<Workspace> = OnceLock::new();
    BUILT.get_or_init(|| {
        let ws = Workspace::from_repo();
        ws.build(&["-j", "2"]);
        ws
    })
}

type Rows = Vec<HashMap<String, String>>;

pub fn read_csv(ws: &Workspace, path: &str) -> Rows {
    let mut reader = csv::Reader::from_path(ws.join(path)).unwrap();
    let header: Vec<String> = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_string)
        .collect();
    reader
        .records()
        .map(|r| {
            header
                .iter()
                .cloned()
                .zip(r.unwrap().iter().map(str::to_string))
                .collect()
        })
        .collect()
}

fn header(ws: &Workspace, path: &str) -> String {
    ws.read(path).lines().next().unwrap_or_default().to_string()
}

/// The exports have exactly the SPEC's columns.
#[test]
fn export_columns() {
    let ws = built();
    assert_eq!(
        header(ws, "out/raw_events.csv"),
        "event_id,ts,user_id,ip,device_id,payment_id,surface,product,event_type,prompt,tokens_in,tokens_out,latency_ms,blocked,warned,is_abuse_gt"
    );
    assert_eq!(
        header(ws, "out/users.csv"),
        "user_id,created_ts,country,account_status,is_abuse_gt"
    );
    assert_eq!(
        header(ws, "out/reports.csv"),
        "report_id,ts,reporter_user_id,reported_user_id,event_id,reason"
    );
    assert_eq!(
        header(ws, "out/enforcements.csv"),
        "enforcement_id,ts,user_id,action,reason"
    );
    assert_eq!(
        header(ws, "out/alerts.csv"),
        "day,alert_type,severity,details"
    );
    assert!(
        header(ws, "out/monitoring_metrics.csv").ends_with("latency_ms_avg,block_rate,warn_rate")
    );
    for name in [
        "shared_device",
        "shared_infrastructure",
        "ban_evasion",
        "velocity_spike",
        "coordinated_activity",
        "suspicious_prompting",
    ] {
        assert_eq!(
            header(ws, &format!("out/detections/{name}.csv")),
            "user_id,detection,severity,evidence,first_ts,last_ts,related"
        );
    }
}

/// Generator facts at the default size: abusers, their infrastructure, event
/// mixes, token and latency distributions, sorted unique ids.
#[test]
fn generator_facts() {
    let ws = built();
    let users = read_csv(ws, "out/users.csv");
    assert_eq!(users.len(), 1500);
    let abusers: BTreeSet<String> = users
        .iter()
        .filter(|u| u["is_abuse_gt"] == "1")
        .map(|u| u["user_id"].clone())
        .collect();
    assert_eq!(abusers.len(), 60);

    let events = read_csv(ws, "out/raw_events.csv");
    assert_eq!(events.len(), 50_000);
    assert!(
        events.windows(2).all(|w| w[0]["ts"] <= w[1]["ts"]),
        "sorted by time"
    );
    assert_eq!(events[0]["event_id"], "e_000000000");
    assert!(events
        .iter()
        .all(|e| e["ts"].len() == 20 && e["ts"].ends_with('Z')));

    let types = [
        "signup",
        "login",
        "chat",
        "upload",
        "billing",
        "policy_block",
        "warning",
    ];
    let expected: [(bool, [f64; 7]); 2] = [
        (true, [0.01, 0.07, 0.72, 0.08, 0.03, 0.06, 0.03]),
        (false, [0.01, 0.12, 0.63, 0.10, 0.06, 0.04, 0.04]),
    ];
    for (abusive, probs) in expected {
        let group: Vec<&HashMap<String, String>> = events
            .iter()
            .filter(|e| (e["is_abuse_gt"] == "1") == abusive)
            .collect();
        let n = group.len() as f64;
        for (t, p) in types.iter().zip(probs) {
            let share = group.iter().filter(|e| e["event_type"] == *t).count() as f64 / n;
            let sd = (p * (1.0 - p) / n).sqrt();
            assert!(
                (share - p).abs() < 4.0 * sd + 1e-9,
                "{t} for abusers={abusive}: {share} vs {p}"
            );
        }
        assert_eq!(group.iter().all(|e| e["is_abuse_gt"] == "1"), abusive);
    }
    for e in &events {
        if abusers.contains(&e["user_id"]) {
            assert!(e["ip"].starts_with("198.51.100."), "{e:?}");
            assert!(e["device_id"].starts_with("dev_shared_actor_"), "{e:?}");
        } else {
            assert!(e["ip"].starts_with("203.0.113."));
        }
        if e["event_type"] != "chat" {
            assert_eq!(e["prompt"], "");
        }
        let num = |k: &str| e[k].parse::<f64>().unwrap();
        assert!(num("tokens_in") >= 1.0 && num("tokens_out") >= 1.0 && num("latency_ms") >= 5.0);
    }
    let mean = |kind: bool, k: &str| {
        let v: Vec<f64> = events
            .iter()
            .filter(|e| (e["event_type"] == "chat") == kind)
            .map(|e| e[k].parse().unwrap())
            .collect();
        v.iter().sum::<f64>() / v.len() as f64
    };
    assert!((mean(true, "latency_ms") - 900.0).abs() < 15.0);
    assert!((mean(true, "tokens_in") - 220.0).abs() < 5.0);
    assert!((mean(true, "tokens_out") - 260.0).abs() < 6.0);
    // Floors raise the means of the small non-chat distributions.
    assert!(mean(false, "tokens_in") > 30.0 && mean(false, "latency_ms") > 180.0);
    let evasion = events
        .iter()
        .filter(|e| {
            e["prompt"].contains("bypass")
                || e["prompt"].contains("evade")
                || e["prompt"].contains("break the rules")
        })
        .count();
    assert!(evasion > 100);
}

/// Each detection finds its seeded scenario; precision against is_abuse_gt is reported.
#[test]
fn detections_find_seeded_scenarios() {
    let ws = built();
    let users = read_csv(ws, "out/users.csv");
    let truth: HashMap<String, bool> = users
        .iter()
        .map(|u| (u["user_id"].clone(), u["is_abuse_gt"] == "1"))
        .collect();
    let banned: BTreeSet<&str> = users
        .iter()
        .filter(|u| u["account_status"] == "banned")
        .map(|u| u["user_id"].as_str())
        .collect();
    let mut report = Vec::new();
    let mut hits: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for name in [
        "shared_device",
        "shared_infrastructure",
        "ban_evasion",
        "velocity_spike",
        "coordinated_activity",
        "suspicious_prompting",
    ] {
        let rows = read_csv(ws, &format!("out/detections/{name}.csv"));
        let found: BTreeSet<String> = rows.iter().map(|r| r["user_id"].clone()).collect();
        let tp = found.iter().filter(|u| truth[*u]).count();
        report.push(format!(
            "{name}: {} users, precision {:.2}",
            found.len(),
            tp as f64 / found.len().max(1) as f64
        ));
        assert!(tp > 0, "{name} finds seeded abusers");
        hits.insert(name, found);
    }
    eprintln!("{}", report.join("\n"));
    // Every banned account's newer partner on the same shared device is caught.
    let events = read_csv(ws, "out/raw_events.csv");
    let mut device_users: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for e in &events {
        device_users
            .entry(e["device_id"].clone())
            .or_default()
            .insert(e["user_id"].clone());
    }
    for group in device_users
        .values()
        .filter(|g| g.iter().any(|u| banned.contains(u.as_str())))
    {
        for u in group
            .iter()
            .filter(|u| !banned.contains(u.as_str()) && truth[*u])
        {
            assert!(hits["ban_evasion"].contains(u), "ban evasion misses {u}");
        }
    }
    // Every abuser is found by coordinated activity or suspicious prompting.
    for (u, _) in truth.iter().filter(|(_, a)| **a) {
        assert!(
            hits["coordinated_activity"].contains(u) || hits["suspicious_prompting"].contains(u),
            "{u}"
        );
    }
    assert_eq!(
        hits["velocity_spike"].iter().filter(|u| truth[*u]).count(),
        hits["velocity_spike"].len(),
        "velocity is precise"
    );
}

/// core_day_metrics and monitoring_metrics match a recomputation from raw_events.csv.
#[test]
fn core_tables_match_an_independent_computation() {
    let ws = built();
    let events = read_csv(ws, "out/raw_events.csv");
    #[derive(Default)]
    struct Day {
        events: i64,
        chats: i64,
        users: BTreeSet<String>,
        blocked: i64,
        warned: i64,
        latency: f64,
    }
    let mut days: BTreeMap<String, Day> = BTreeMap::new();
    for e in &events {
        let d = days.entry(e["ts"][..10].to_string()).or_default();
        d.events += 1;
        d.chats += (e["event_type"] == "chat") as i64;
        d.users.insert(e["user_id"].clone());
        d.blocked += e["blocked"].parse::<i64>().unwrap();
        d.warned += e["warned"].parse::<i64>().unwrap();
        d.latency += e["latency_ms"].parse::<f64>().unwrap();
    }
    let metrics = read_csv(ws, "out/monitoring_metrics.csv");
    assert_eq!(metrics.len(), days.len());
    for (m, (day, d)) in metrics.iter().zip(&days) {
        assert_eq!(&m["day"], day);
        assert_eq!(m["n_events"], d.events.to_string());
        assert_eq!(m["n_chat"], d.chats.to_string());
        assert_eq!(m["n_active_users"], d.users.len().to_string());
        assert_eq!(m["n_blocked"], d.blocked.to_string());
        let latency: f64 = m["latency_ms_avg"].parse().unwrap();
        assert!((latency - d.latency / d.events as f64).abs() < 1e-5);
        let block_rate: f64 = m["block_rate"].parse().unwrap();
        assert!((block_rate - d.blocked as f64 / d.chats as f64).abs() < 1e-6);
    }
    // core_user_day and core_users against the same events.
    let db = rusqlite::Connection::open(ws.join("out/sqlite.db")).unwrap();
    let (rows, total, chats): (i64, i64, i64) = db
        .query_row(
            "SELECT COUNT(*), SUM(n_events), SUM(n_chat) FROM core_user_day",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    let user_days: BTreeSet<(String, String)> = events
        .iter()
        .map(|e| (e["ts"][..10].to_string(), e["user_id"].clone()))
        .collect();
    assert_eq!(rows as usize, user_days.len());
    assert_eq!(total, 50_000);
    assert_eq!(chats, days.values().map(|d| d.chats).sum::<i64>());
    let mut payments: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for e in &events {
        payments
            .entry(e["user_id"].clone())
            .or_default()
            .insert(e["payment_id"].clone());
    }
    let mut stmt = db
        .prepare("SELECT user_id, n_payments FROM core_users ORDER BY user_id")
        .unwrap();
    let core: Vec<(String, i64)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(core.len(), payments.len());
    for (user, n) in core {
        assert_eq!(n as usize, payments[&user].len(), "{user}");
    }
}

/// Editing one detection's SQL reruns that detection and its consumers, nothing upstream.
#[test]
fn editing_a_detection_reruns_only_its_consumers() {
    let ws = Workspace::from_repo();
    ws.build(&["-j", "2"]);
    let sql = ws.read("sql/detections/velocity_spike.sql");
    ws.write(
        "sql/detections/velocity_spike.sql",
        &sql.replace(">= 10", ">= 11"),
    );
    let status = ws.states();
    let stale: Vec<&str> = status
        .iter()
        .filter(|s| s.1 == "stale")
        .map(|s| s.0.as_str())
        .collect();
    assert_eq!(stale, ["detect@velocity_spike", "cases", "report"]);
    let out = ws.tnsflow(["build"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let ran: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("ran "))
        .filter_map(|l| l.split_whitespace().nth(1))
        .collect();
    assert!(
        ran.iter()
            .all(|s| ["detect@velocity_spike", "cases", "report"].contains(s)),
        "{ran:?}"
    );
    assert!(ran.contains(&"detect@velocity_spike"));
}

/// A range open on one side reads `>= LO` (not f64::MAX in full), a value
/// that is no number is of the wrong type rather than out of range, and a
/// null value reads `null`, from `--set` or from the file.
#[test]
fn param_problems_say_what_was_given_and_expected() {
    let ws = Workspace::from_repo();
    for (set, expected) in [
        ("monitoring.chats_per_user=-3", "param `monitoring.chats_per_user` = -3 (from --set) is out of range for stage `monitoring`: expected a number >= 0\n"),
        ("users=null", "param `users` = null (from --set) has the wrong type: expected an integer\n"),
    ] {
        let out = ws.tnsflow(["status", "--set", set]).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{set}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(expected), "{set}: {stderr}");
    }
    let yaml = ws.read("pipeline.yaml");
    for (users, expected) in [
        ("\"abc\"", "param `users` = abc (from pipeline.yaml) has the wrong type for stage `generate`: expected an integer in [1, 99999999]\n"),
        ("null", "param `users` = null (from pipeline.yaml) has the wrong type for stage `generate`: expected an integer in [1, 99999999]\n"),
    ] {
        ws.write("pipeline.yaml", &yaml.replace("  users: 1500", &format!("  users: {users}")));
        let out = ws.tnsflow(["status"]).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{users}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(expected), "{users}: {stderr}");
    }
}

/// Bad generator params fail before anything is written, naming the param and range.
#[test]
fn bad_params_fail_before_writing() {
    let ws = Workspace::from_repo();
    for (set, expected) in [
        ("users=0", "param `users` = 0 (from --set) is out of range for stage `generate`: expected an integer in [1, 99999999]"),
        ("events=-1", "param `events` = -1 (from --set) is out of range for stage `generate`: expected an integer in [0, 2000000000]"),
        ("abuse_rate=1.5", "param `abuse_rate` = 1.5 (from --set) is out of range for stage `generate`: expected a number in [0, 1]"),
        ("days=0", "param `days` = 0 (from --set) is out of range for stage `generate`: expected an integer in [1, 3650]"),
        ("start=yesterday", "param `start` = yesterday (from --set) is out of range for stage `generate`: expected a UTC timestamp such as 2026-01-01T00:00:00Z"),
    ] {
        let out = ws.tnsflow(["build", "--set", set]).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{set}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(expected), "{set}: {stderr}");
        assert!(!ws.exists("out"));
    }
}

/// The repository's `load` stage alone (no `generate`), over the
/// hand-written CSVs `raw_events`, `users`, `reports`, `enforcements`.
pub fn load_only(raw_events: &str, users: &str, reports: &str, enforcements: &str) -> Workspace {
    let ws = Workspace::new().pipeline(
        "stages:\n  load:\n    builtin: load\n    deps: [out/raw_events.csv, out/users.csv, out/reports.csv, out/enforcements.csv, sql/schema.sql, sql/core]\n    outs: [out/sqlite.db]\n",
    );
    copy_dir(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("sql"),
        &ws.join("sql"),
    );
    for (name, text) in [
        ("raw_events", raw_events),
        ("users", users),
        ("reports", reports),
        ("enforcements", enforcements),
    ] {
        ws.write(&format!("out/{name}.csv"), text);
    }
    ws
}

/// `load` fails (exit 1) with `expected` in its message and leaves no database.
fn load_fails(ws: &Workspace, expected: &str) {
    let out = ws.tnsflow(["build"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(expected), "{expected}\n{stderr}");
    assert!(!ws.exists("out/sqlite.db"));
}

pub const RAW_EVENTS_HEADER: &str = "event_id,ts,user_id,ip,device_id,payment_id,surface,product,event_type,prompt,tokens_in,tokens_out,latency_ms,blocked,warned,is_abuse_gt\n";
pub const USERS_HEADER: &str = "user_id,created_ts,country,account_status,is_abuse_gt\n";
pub const REPORTS_HEADER: &str = "report_id,ts,reporter_user_id,reported_user_id,event_id,reason\n";
pub const ENFORCEMENTS_HEADER: &str = "enforcement_id,ts,user_id,action,reason\n";

/// An empty CSV, a CSV without a column its table needs, a duplicate user
/// and a row of 5 fields fail `load` naming the file and the column, or the
/// line and value;
/// the old messages named only `sqlite.db` ("syntax error in INSERT INTO
/// enforcements () VALUES ()", "NOT NULL constraint failed:
/// raw_events.latency_ms", "UNIQUE constraint failed: users.user_id",
/// "CSV: CSV error: record 2 ...").
#[test]
fn load_names_the_csv_at_fault() {
    let event = "e_1,2026-01-01T00:00:00Z,u_1,1.1.1.1,d_1,,web,chat,chat,hi,1,2,3,0,0,0\n";
    let users = format!("{USERS_HEADER}u_1,2025-01-01T00:00:00Z,DE,active,0\n");
    let raw = format!("{RAW_EVENTS_HEADER}{event}");
    let without_latency = raw.replace(",latency_ms", "").replace(",3,0,0,0", ",0,0,0");
    let short_row = format!("{raw}e_2,2026-01-01T00:00:01Z,u_1,1.1.1.1,d_1\n");
    let duplicate = format!(
        "{users}u_2,2025-01-01T00:00:00Z,DE,active,0\nu_1,2025-01-02T00:00:00Z,FR,active,0\n"
    );
    for (raw, users, enforcements, expected) in [
        (&raw, &users, "", "out/enforcements.csv` is empty: expected a header row naming the columns of table `enforcements` (enforcement_id,ts,user_id,action,reason)"),
        (&without_latency, &users, ENFORCEMENTS_HEADER, "out/raw_events.csv` has no column `latency_ms`, which table `raw_events` needs; expected the columns event_id,ts,"),
        (&raw, &duplicate, ENFORCEMENTS_HEADER, "out/users.csv` line 4: UNIQUE constraint failed: users.user_id (user_id `u_1`)"),
        (&short_row, &users, ENFORCEMENTS_HEADER, "out/raw_events.csv`: CSV error: record 2 (line: 3, byte: 208): found record with 5 fields, but the previous record has 16 fields"),
    ] {
        load_fails(&load_only(raw, users, REPORTS_HEADER, enforcements), expected);
    }
}

/// A field of an integer column that is not a whole number (`yes` in
/// `blocked`, an empty `tokens_in`) fails `load` naming the file, line,
/// column and value. The old code loaded them as text: sums counted them
/// as 0 and turned real, and `monitoring` failed with "Invalid column type
/// Real at index: 4, name: n_blocked" (for `tokens_in`, nothing failed).
#[test]
fn load_refuses_a_non_integer_in_an_integer_column() {
    let event = |blocked: &str, tokens: &str| {
        format!("e_1,2026-01-01T00:00:00Z,u_1,1.1.1.1,d_1,,web,chat,chat,hi,{tokens},2,3,{blocked},0,0\n")
    };
    let users = format!("{USERS_HEADER}u_1,2025-01-01T00:00:00Z,DE,active,0\n");
    for (row, expected) in [
        (
            event("yes", "1"),
            "out/raw_events.csv` line 3: column `blocked` is `yes`, expected an integer",
        ),
        (
            event("0", ""),
            "out/raw_events.csv` line 3: column `tokens_in` is ``, expected an integer",
        ),
    ] {
        let raw = format!("{RAW_EVENTS_HEADER}{}{row}", event("0", "1"));
        let ws = load_only(&raw, &users, REPORTS_HEADER, ENFORCEMENTS_HEADER);
        load_fails(&ws, expected);
    }
}

/// An event's `ts` must be a UTC time: every stage takes its day as the
/// first ten characters, so `01:00:00+02:00` (the previous UTC day) or a
/// `ts` with no date (`yesterday`, an epoch number) fails `load` naming the
/// file, line and value. The old code loaded them: the offset put the event
/// on the wrong day and `yesterday` became a day of its own in monitoring,
/// the queue, drift and the summary. UTC spelled other ways still loads.
#[test]
fn load_refuses_an_event_time_that_is_not_utc() {
    let event = |ts: &str| format!("e_1,{ts},u_1,1.1.1.1,d_1,,web,chat,chat,hi,1,2,3,0,0,0\n");
    let users = format!("{USERS_HEADER}u_1,2025-01-01T00:00:00Z,DE,active,0\n");
    for ts in ["2026-01-02T01:00:00+02:00", "yesterday", "1767225600"] {
        let raw = format!(
            "{RAW_EVENTS_HEADER}{}{}",
            event("2026-01-01T00:00:00Z"),
            event(ts)
        );
        let ws = load_only(&raw, &users, REPORTS_HEADER, ENFORCEMENTS_HEADER);
        let expected =
            format!("out/raw_events.csv` line 3: column `ts` is `{ts}`, expected a UTC time");
        load_fails(&ws, &expected);
    }
    let utc = [
        "2026-01-01T00:00:00Z",
        "2026-01-01 10:00:00",
        "2026-01-01T11:00:00.5+00:00",
        "2026-01-02",
    ];
    let raw = format!("{RAW_EVENTS_HEADER}{}", utc.map(event).concat());
    let ws = load_only(&raw, &users, REPORTS_HEADER, ENFORCEMENTS_HEADER);
    let out = ws.tnsflow(["build"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// SPEC section 3's example keeps only raw_events.csv and users.csv of
/// generate's files. A load that reads just those (no reports.csv, no
/// enforcements.csv) builds the database with those tables empty, and the
/// example's detections run on it. The old code failed load: "needs a dep
/// named `reports.csv`", which that generate does not write.
#[test]
fn load_needs_only_the_events() {
    let ws = Workspace::new().pipeline(
        "params:\n  seed: 42\n  users: 150\n  enforcement:\n    block_risk: 0.90\n\
         stages:\n  generate:\n    builtin: generate\n    params: [seed, users]\n    outs: [out/raw_events.csv, out/users.csv]\n\
         \x20 load:\n    builtin: load\n    deps: [out/raw_events.csv, out/users.csv, sql/schema.sql, sql/core]\n    outs: [out/sqlite.db]\n\
         \x20 detect:\n    foreach: sql/detections/*.sql\n    sql: ${item}\n    db: out/sqlite.db\n    outs: [out/detections/${stem}.csv]\n",
    );
    copy_dir(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("sql"),
        &ws.join("sql"),
    );
    let out = ws.tnsflow(["build"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(
        summary(&String::from_utf8_lossy(&out.stdout)),
        counts(8, 0, 0, 0)
    );
    assert!(!ws.exists("out/reports.csv"));
    let db = rusqlite::Connection::open(ws.join("out/sqlite.db")).unwrap();
    let count = |table: &str| -> i64 {
        db.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
            .unwrap()
    };
    assert_eq!((count("reports"), count("enforcements")), (0, 0));
    assert!(count("users") == 150 && count("raw_events") > 0);
    assert!(ws.exists("out/detections/shared_device.csv"));
}
