//! Integration tests: the analytics half, and the whole pipeline's promises.

use crate::common::*;
use crate::data::{built, read_csv};
use std::collections::BTreeSet;

// ---------------------------------------------------------------------------
// Model, review queue, dedup, clustering and drift (scoring.rs, review_queue.rs,
// dedup.rs, clustering.rs, drift.rs). These run on a small hand-built
// database, so they stand without the data stages; the checks on the
// repository pipeline's exports come after.
// ---------------------------------------------------------------------------
mod model_and_queue {
    use crate::common::*;
    use crate::data::{built, read_csv};
    use std::collections::{BTreeMap, BTreeSet};

    /// Only the model-to-drift stages, reading a database the test writes itself.
    const PIPELINE: &str = "
params:
  seed: 42
  queue:
    max_rows: 2000
  drift:
    current_days: 3
    psi_threshold: 0.2

stages:
  scoring:
    builtin: scoring
    deps: [data/sqlite.db]
    params: [seed]
    outs: [out/user_day_scored.csv, out/model_eval.csv]
  review_queue:
    builtin: review_queue
    deps: [out/user_day_scored.csv, out/model_eval.csv, data/sqlite.db]
    params: [queue]
    outs: [out/review_queue.csv, out/audit_log_template.csv]
  dedup:
    builtin: dedup
    deps: [out/review_queue.csv]
    outs: [out/review_queue_dedup.csv]
  clustering:
    builtin: clustering
    deps: [out/review_queue_dedup.csv]
    params: [seed]
    outs: [out/clusters.csv]
  drift:
    builtin: drift
    deps: [out/user_day_scored.csv]
    params: [drift]
    outs: [out/drift_psi.csv]
";

    const SPAM: [&str; 2] = ["Buy cheap followers NOW!!", "buy cheap followers now"];
    const BENIGN: [&str; 3] = [
        "Summarize this article about gardening",
        "write a haiku about autumn",
        "Explain recursion with an example",
    ];

    /// 40 users over 8 days; every 5th user is an abuser who chats a lot, gets
    /// blocked and sends spam. A small LCG makes the data varied but fixed.
    fn world() -> Workspace {
        let ws = Workspace::new().pipeline(PIPELINE);
        std::fs::create_dir_all(ws.join("data")).unwrap();
        let conn = rusqlite::Connection::open(ws.join("data/sqlite.db")).unwrap();
        conn.execute_batch(
            "CREATE TABLE raw_events (event_id TEXT, ts TEXT, user_id TEXT, ip TEXT,
               event_type TEXT, prompt TEXT, tokens_in INTEGER, tokens_out INTEGER,
               latency_ms INTEGER, blocked INTEGER, warned INTEGER, is_abuse_gt INTEGER);
             BEGIN;",
        )
        .unwrap();
        let mut state = 7u64;
        let mut next = |m: u64| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 33) % m
        };
        let mut insert = conn
            .prepare("INSERT INTO raw_events VALUES (?,?,?,?,?,?,?,?,?,?,?,?)")
            .unwrap();
        let mut id = 0;
        for day in 1..=8 {
            for u in 0..40 {
                let abuser = u % 5 == 0;
                let events = if abuser { 30 + next(20) } else { 2 + next(6) };
                for _ in 0..events {
                    let ts = format!(
                        "2026-01-{day:02}T{:02}:{:02}:{:02}Z",
                        next(24),
                        next(60),
                        next(60)
                    );
                    let chat = next(10) < if abuser { 8 } else { 6 };
                    let prompt = match (chat, abuser) {
                        (false, _) => "",
                        (true, true) => SPAM[next(2) as usize],
                        (true, false) => BENIGN[next(3) as usize],
                    };
                    let blocked = u8::from(abuser && chat && next(4) == 0);
                    insert
                        .execute(rusqlite::params![
                            format!("e_{id:09}"),
                            ts,
                            format!("u_{u:03}"),
                            format!("10.0.0.{}", next(if abuser { 4 } else { 1 })),
                            if chat { "chat" } else { "login" },
                            prompt,
                            100 + next(200),
                            100 + next(300),
                            200 + next(900),
                            blocked,
                            u8::from(abuser && next(10) == 0),
                            u8::from(abuser),
                        ])
                        .unwrap();
                    id += 1;
                }
            }
        }
        drop(insert);
        conn.execute_batch(
            "COMMIT;
             CREATE TABLE core_user_day AS
             SELECT substr(ts, 1, 10) AS day, user_id, COUNT(*) AS n_events,
               SUM(event_type = 'chat') AS n_chat, SUM(tokens_in) AS tokens_in_sum,
               SUM(tokens_out) AS tokens_out_sum, AVG(latency_ms) AS latency_ms_avg,
               SUM(blocked) AS n_blocked, SUM(warned) AS n_warned,
               COUNT(DISTINCT ip) AS n_ips, 1 AS n_devices, MAX(is_abuse_gt) AS is_abuse_gt
             FROM raw_events GROUP BY day, user_id;
             CREATE INDEX raw_events_user ON raw_events (user_id, ts);",
        )
        .unwrap();
        ws
    }

    fn floats(rows: &[std::collections::HashMap<String, String>], col: &str) -> Vec<f64> {
        rows.iter().map(|r| r[col].parse().unwrap()).collect()
    }

    /// The model separates the toy world's abusers, and every export keeps its contract:
    /// columns, queue order, duplicates, clusters of the non-duplicates, sorted PSI.
    #[test]
    fn model_to_drift_on_a_toy_world() {
        let ws = world();
        assert_eq!(ws.build(&["-j", "2"]), counts(5, 0, 0, 0));

        let eval = &read_csv(&ws, "out/model_eval.csv")[0];
        assert_eq!(eval["test_auc"], "1", "{eval:?}");
        assert_eq!(
            (eval["n_train"].as_str(), eval["n_test"].as_str()),
            ("240", "80")
        );
        let scored = read_csv(&ws, "out/user_day_scored.csv");
        assert_eq!(scored.len(), 320);
        let keys: Vec<(String, String)> = scored
            .iter()
            .map(|r| (r["day"].clone(), r["user_id"].clone()))
            .collect();
        assert!(keys.windows(2).all(|w| w[0] < w[1]), "(day, user_id) order");
        for r in &scored {
            let risk: f64 = r["risk_score"].parse().unwrap();
            let unc: f64 = r["uncertainty"].parse().unwrap();
            assert!((unc - (1.0 - 2.0 * (risk - 0.5).abs())).abs() < 2e-6);
        }

        let queue = read_csv(&ws, "out/review_queue.csv");
        let flagged = queue.iter().filter(|r| r["flag_ml"] == "1").count();
        assert!(
            flagged >= 64,
            "the 8 x 8 abuser-days are flagged: {flagged}"
        );
        let priority = floats(&queue, "priority");
        assert!(priority.windows(2).all(|w| w[0] >= w[1]));
        for r in queue.iter().filter(|r| r["is_abuse_gt"] == "1") {
            let prompts = &r["recent_prompts"];
            assert_eq!(prompts.split(" | ").count(), 3, "{prompts}");
            assert!(prompts
                .split(" | ")
                .all(|p| p == "buy cheap followers now!!" || p == "buy cheap followers now"));
        }
        let audit = read_csv(&ws, "out/audit_log_template.csv");
        assert_eq!(audit.len(), queue.len());
        assert_eq!(audit[0]["review_id"], "rev_000000");
        assert_eq!(audit[0]["decision"], "");

        // is_dup, recomputed from the keys in queue order.
        let dedup = read_csv(&ws, "out/review_queue_dedup.csv");
        assert_eq!(dedup.len(), queue.len());
        let mut seen = BTreeSet::new();
        for r in &dedup {
            let first = seen.insert((r["day"].clone(), r["dedup_key"].clone()));
            assert_eq!(r["is_dup"], if first { "0" } else { "1" });
            assert_eq!(r["dedup_key"].is_empty(), r["recent_prompts"].is_empty());
        }
        assert!(
            dedup.iter().any(|r| r["is_dup"] == "1"),
            "spam repeats within a day"
        );

        let clusters = read_csv(&ws, "out/clusters.csv");
        let kept: Vec<&String> = dedup
            .iter()
            .filter(|r| r["is_dup"] == "0")
            .map(|r| &r["user_id"])
            .collect();
        assert_eq!(
            clusters.iter().map(|r| &r["user_id"]).collect::<Vec<_>>(),
            kept
        );
        let k = (clusters.len() as f64).sqrt().floor().clamp(2.0, 25.0) as usize;
        let ids: BTreeSet<usize> = clusters
            .iter()
            .map(|r| r["cluster_id"].parse().unwrap())
            .collect();
        assert!(ids.len() <= k && ids.contains(&0), "{ids:?} for k = {k}");
        // Rows with the same text share a cluster.
        let mut by_text: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        for r in &clusters {
            by_text
                .entry(&r["recent_prompts"])
                .or_default()
                .insert(&r["cluster_id"]);
        }
        assert!(by_text.values().all(|c| c.len() == 1), "{by_text:?}");

        let drift = read_csv(&ws, "out/drift_psi.csv");
        assert_eq!(drift.len(), 12);
        let psi = floats(&drift, "psi");
        assert!(psi.windows(2).all(|w| w[0] >= w[1]));
        for r in &drift {
            let flagged = r["psi"].parse::<f64>().unwrap() > 0.2;
            assert_eq!(r["drift_flag"], if flagged { "1" } else { "0" });
        }
    }

    /// Same bytes at -j 1 and -j 2; a queue param reruns only the queue and what reads it.
    #[test]
    fn deterministic_and_minimal() {
        let (a, b) = (world(), world());
        a.build(&["-j", "2"]);
        b.build(&["-j", "1"]);
        for out in [
            "user_day_scored.csv",
            "model_eval.csv",
            "review_queue.csv",
            "audit_log_template.csv",
            "review_queue_dedup.csv",
            "clusters.csv",
            "drift_psi.csv",
        ] {
            let path = format!("out/{out}");
            assert!(a.read(&path) == b.read(&path), "{out} differs");
        }
        assert_eq!(
            a.build(&["--set", "queue.max_rows=5"]),
            counts(3, 2, 0, 0),
            "review_queue, dedup and clustering rerun; scoring and drift do not"
        );
        assert_eq!(read_csv(&a, "out/review_queue.csv").len(), 5);
        // Back at the file's max_rows, the queue stages come from the cache.
        assert_eq!(
            a.build(&["--set", "drift.psi_threshold=0.0"]),
            counts(1, 1, 3, 0)
        );
    }

    /// On the repository pipeline: a real model, a full capped queue, and
    /// the duplicate and cluster exports consistent with it.
    #[test]
    fn repository_exports_agree() {
        let ws = built();
        let eval = &read_csv(ws, "out/model_eval.csv")[0];
        let threshold: f64 = eval["threshold"].parse().unwrap();
        assert!((0.10..=0.90).contains(&threshold));
        let queue = read_csv(ws, "out/review_queue.csv");
        assert_eq!(queue.len(), 2000);
        for r in &queue {
            let risk: f64 = r["risk_score"].parse().unwrap();
            assert_eq!(r["flag_ml"] == "1", risk >= threshold);
            assert_eq!(r["needs_review"], "1");
        }
        let dedup = read_csv(ws, "out/review_queue_dedup.csv");
        let clusters = read_csv(ws, "out/clusters.csv");
        let n_kept = dedup.iter().filter(|r| r["is_dup"] == "0").count();
        assert_eq!(clusters.len(), n_kept);
        let ids: BTreeSet<&str> = clusters.iter().map(|r| r["cluster_id"].as_str()).collect();
        assert_eq!(ids.len(), (n_kept as f64).sqrt().floor().min(25.0) as usize);
        assert_eq!(read_csv(ws, "out/drift_psi.csv").len(), 12);
    }
}

// ---------------------------------------------------------------------------
// The whole pipeline's promises.
// ---------------------------------------------------------------------------

const EXPORTS: [&str; 21] = [
    "raw_events.csv",
    "sqlite.db",
    "monitoring_metrics.csv",
    "alerts.csv",
    "user_day_scored.csv",
    "model_eval.csv",
    "review_queue.csv",
    "audit_log_template.csv",
    "review_queue_dedup.csv",
    "clusters.csv",
    "entity_resolution_edges.csv",
    "entity_resolution_components.csv",
    "drift_psi.csv",
    "cases.csv",
    "enforcement_actions.csv",
    "incident_log.csv",
    "executive_summary.csv",
    "users.csv",
    "reports.csv",
    "enforcements.csv",
    "report.html",
];

fn header(ws: &Workspace, path: &str) -> String {
    ws.read(path).lines().next().unwrap_or_default().to_string()
}

/// Every documented export exists with the SPEC's columns.
#[test]
fn every_export_with_its_columns() {
    let ws = built();
    for export in EXPORTS {
        assert!(ws.exists(&format!("out/{export}")), "{export}");
    }
    let features = "n_events,n_chat,tokens_in_sum,tokens_out_sum,latency_ms_avg,n_blocked,n_warned,n_ips,n_devices,block_rate,warn_rate,chat_fraction";
    let scored = format!("day,user_id,{features},is_abuse_gt,risk_score,uncertainty");
    assert_eq!(header(ws, "out/user_day_scored.csv"), scored);
    let queue = format!("{scored},heuristic_score,flag_ml,flag_heur,flag_uncertain,needs_review,recent_prompts,priority");
    assert_eq!(header(ws, "out/review_queue.csv"), queue);
    assert_eq!(
        header(ws, "out/review_queue_dedup.csv"),
        format!("{queue},dedup_key,is_dup")
    );
    assert_eq!(
        header(ws, "out/clusters.csv"),
        format!("{queue},dedup_key,is_dup,cluster_id")
    );
    assert_eq!(
        header(ws, "out/audit_log_template.csv"),
        "day,user_id,risk_score,uncertainty,recent_prompts,review_id,reviewer,decision,reason_code,notes,decision_ts"
    );
    assert_eq!(
        header(ws, "out/entity_resolution_edges.csv"),
        "user_a,user_b,edge_type,edge_key"
    );
    assert_eq!(
        header(ws, "out/entity_resolution_components.csv"),
        "user_id,component_id"
    );
    assert_eq!(header(ws, "out/drift_psi.csv"), "feature,psi,drift_flag");
    assert_eq!(
        header(ws, "out/cases.csv"),
        "case_id,user_id,case_score,priority,recommended_action,detections,evidence_tags,findings,max_risk,component_id,component_size,n_reports,first_ts,last_ts"
    );
    assert_eq!(
        header(ws, "out/enforcement_actions.csv"),
        "day,user_id,risk_score,uncertainty,suggested_action,reason_code"
    );
    assert_eq!(
        header(ws, "out/incident_log.csv"),
        "incident_id,created_ts,severity,summary,status,retrospective_stub"
    );
    assert_eq!(
        header(ws, "out/executive_summary.csv"),
        "section,metric,value"
    );
    assert!(header(ws, "out/model_eval.csv")
        .starts_with("threshold,test_precision,test_recall,test_f1,test_auc"));
}

/// The model is reported, the queue is non-empty and bounded, and every seeded
/// abuser has a case.
#[test]
fn model_queue_and_cases() {
    let ws = built();
    let eval = &read_csv(ws, "out/model_eval.csv")[0];
    let auc: f64 = eval["test_auc"].parse().unwrap();
    let f1: f64 = eval["test_f1"].parse().unwrap();
    eprintln!(
        "model: threshold {} ROC AUC {auc} F1 {f1}",
        eval["threshold"]
    );
    assert!(auc > 0.6, "the model beats chance: {auc}");
    let queue = read_csv(ws, "out/review_queue.csv");
    assert!(!queue.is_empty() && queue.len() <= 2000);
    let priorities: Vec<f64> = queue
        .iter()
        .map(|r| r["priority"].parse().unwrap())
        .collect();
    assert!(
        priorities.windows(2).all(|w| w[0] >= w[1]),
        "queue is in priority order"
    );
    let cases: BTreeSet<String> = read_csv(ws, "out/cases.csv")
        .iter()
        .map(|c| c["user_id"].clone())
        .collect();
    for user in read_csv(ws, "out/users.csv")
        .iter()
        .filter(|u| u["is_abuse_gt"] == "1")
    {
        assert!(
            cases.contains(&user["user_id"]),
            "no case for abuser {}",
            user["user_id"]
        );
    }
    let case_ids: Vec<String> = read_csv(ws, "out/cases.csv")
        .iter()
        .map(|c| c["case_id"].clone())
        .collect();
    assert!(case_ids.iter().all(|c| c.starts_with("case_u_")));
    let html = ws.read("out/report.html");
    assert!(
        html.contains("<svg") && !html.contains("http://")
            || html.contains("xmlns=\"http://www.w3.org/2000/svg\"")
    );
    assert!(!html.contains("<script src"), "self-contained");
}

/// Two clean builds in different folders, at -j 1 and -j 2, give byte-identical exports.
#[test]
fn exports_are_deterministic() {
    let first = built();
    let second = Workspace::from_repo();
    second.build(&["-j", "1"]);
    for export in EXPORTS.iter().filter(|e| **e != "sqlite.db") {
        let path = format!("out/{export}");
        assert!(
            std::fs::read(first.join(&path)).unwrap() == std::fs::read(second.join(&path)).unwrap(),
            "{export} differs"
        );
    }
    for entry in std::fs::read_dir(first.join("out/detections")).unwrap() {
        let name = entry.unwrap().file_name();
        let path = std::path::Path::new("out/detections").join(&name);
        assert_eq!(
            std::fs::read(first.path().join(&path)).unwrap(),
            std::fs::read(second.path().join(&path)).unwrap()
        );
    }
}

/// Changing an enforcement threshold reruns only enforcement and what reads it.
#[test]
fn enforcement_threshold_reruns_only_its_consumers() {
    let ws = Workspace::from_repo();
    ws.build(&["-j", "2"]);
    let out = ws
        .tnsflow(["status", "--json", "--set", "enforcement.block_risk=0.95"])
        .output()
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let stale: Vec<&str> = json
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["state"] == "stale")
        .map(|s| s["stage"].as_str().unwrap())
        .collect();
    assert_eq!(stale, ["enforcement", "cases", "report"]);
    let line = ws.build(&["--set", "enforcement.block_risk=0.95"]);
    let ran: usize = line.split(' ').next().unwrap().parse().unwrap();
    assert!((1..=3).contains(&ran), "{line}");
    assert!(line.ends_with("0 restored from cache, 0 failed"), "{line}");
}

// ---------------------------------------------------------------------------
// Entity resolution, enforcement, cases, incident log and report
// (entity_resolution.rs, enforcement.rs, cases.rs, incident_log.rs, report/).
// These run on hand-made inputs under data/, so they stand without the rest of
// the pipeline.
// ---------------------------------------------------------------------------
mod cases_and_report {
    use crate::common::*;
    use crate::data::read_csv;

    const PIPELINE: &str = "
params:
  entity:
    max_group: 1000
    ip_min_users: 2
    ip_max_users: 30
  enforcement:
    block_risk: 0.90
    block_max_uncertainty: 0.35
    rate_limit_risk: 0.75
    rate_limit_block_rate: 0.10
    escalate_risk: 0.55
    escalate_uncertainty: 0.75
    warn_risk: 0.50
    warn_chats: 80
  cases:
    weight_detection: 20
    weight_high_severity: 10
    weight_risk: 30
    weight_component: 10
    weight_report: 5
    weight_enforcement: 15
    p1_score: 90
    p2_score: 60
    p3_score: 35
    min_score: 0

stages:
  entity_resolution:
    builtin: entity_resolution
    deps: [data/sqlite.db]
    params: [entity]
    outs: [out/entity_resolution_edges.csv, out/entity_resolution_components.csv]
  enforcement:
    builtin: enforcement
    deps: [data/review_queue_dedup.csv]
    params: [enforcement]
    outs: [out/enforcement_actions.csv]
  cases:
    builtin: cases
    deps: [data/detections, data/review_queue_dedup.csv, out/enforcement_actions.csv, out/entity_resolution_components.csv, data/sqlite.db]
    params: [cases]
    outs: [out/cases.csv]
  incident_log:
    builtin: incident_log
    deps: [data/alerts.csv, data/monitoring_metrics.csv]
    outs: [out/incident_log.csv]
  report:
    builtin: report
    deps:
      - data/sqlite.db
      - data/monitoring_metrics.csv
      - data/alerts.csv
      - data/detections
      - data/user_day_scored.csv
      - data/model_eval.csv
      - data/review_queue_dedup.csv
      - data/clusters.csv
      - out/entity_resolution_components.csv
      - data/drift_psi.csv
      - out/enforcement_actions.csv
      - out/cases.csv
      - out/incident_log.csv
    outs: [out/executive_summary.csv, out/report.html]
";

    const FEATURES: &str = "n_events,n_chat,tokens_in_sum,tokens_out_sum,latency_ms_avg,n_blocked,n_warned,n_ips,n_devices,block_rate,warn_rate,chat_fraction";

    /// One queue row with the full upstream header: (day, user, n_chat,
    /// block_rate, risk, uncertainty, recent_prompts, is_dup).
    fn queue_row(r: (&str, &str, u32, f64, f64, f64, &str, u8)) -> String {
        let (day, user, n_chat, block_rate, risk, unc, prompts, dup) = r;
        format!(
            "{day},{user},{n},{n_chat},100,100,500,0,0,1,1,{block_rate},0,1,0,{risk},{unc},0.5,1,0,0,1,\"{prompts}\",0.7,k_{user},{dup}",
            n = n_chat + 1
        )
    }

    /// Eight users: {u_01, u_02, u_03} linked by a device and a payment,
    /// {u_04, u_05} by an IP, u_06 alone, and u_07 on the device and IP of
    /// the banned u_08 (the one strong link). Five queue rows cover every
    /// enforcement rule.
    fn world() -> Workspace {
        let ws = Workspace::new().pipeline(PIPELINE);
        std::fs::create_dir_all(ws.join("data")).unwrap();
        let conn = rusqlite::Connection::open(ws.join("data/sqlite.db")).unwrap();
        conn.execute_batch(
            "CREATE TABLE users (user_id TEXT, created_ts TEXT, country TEXT, account_status TEXT, is_abuse_gt INTEGER);
             INSERT INTO users VALUES
               ('u_01','2025-12-01T00:00:00Z','US','active',1), ('u_02','2025-12-01T00:00:00Z','US','active',0),
               ('u_03','2025-12-01T00:00:00Z','DE','active',0), ('u_04','2025-12-01T00:00:00Z','FR','active',1),
               ('u_05','2025-12-01T00:00:00Z','FR','active',0), ('u_06','2025-12-01T00:00:00Z','US','active',0),
               ('u_07','2025-12-20T00:00:00Z','US','active',1), ('u_08','2025-11-01T00:00:00Z','US','banned',1);
             CREATE TABLE reports (report_id TEXT, ts TEXT, reporter_user_id TEXT, reported_user_id TEXT, event_id TEXT, reason TEXT);
             INSERT INTO reports VALUES ('r1','2026-01-01T05:00:00Z','u_02','u_01','e1','spam'),
                                        ('r2','2026-01-02T05:00:00Z','u_03','u_01','e2','spam');
             CREATE TABLE enforcements (enforcement_id TEXT, ts TEXT, user_id TEXT, action TEXT, reason TEXT);
             INSERT INTO enforcements VALUES ('n1','2025-12-15T00:00:00Z','u_08','ban','spam');
             CREATE TABLE core_users (user_id TEXT, first_seen_ts TEXT, last_seen_ts TEXT);
             INSERT INTO core_users VALUES
               ('u_01','2026-01-01T01:00:00Z','2026-01-02T22:00:00Z'), ('u_02','2026-01-01T02:00:00Z','2026-01-02T21:00:00Z'),
               ('u_03','2026-01-01T03:00:00Z','2026-01-02T20:00:00Z'), ('u_04','2026-01-01T04:00:00Z','2026-01-02T19:00:00Z'),
               ('u_05','2026-01-01T05:00:00Z','2026-01-02T18:00:00Z'), ('u_06','2026-01-01T06:00:00Z','2026-01-02T17:00:00Z'),
               ('u_07','2026-01-01T07:00:00Z','2026-01-02T16:00:00Z');
             CREATE TABLE core_user_identifiers (user_id TEXT, kind TEXT, value TEXT, first_ts TEXT, last_ts TEXT);
             INSERT INTO core_user_identifiers (user_id, kind, value) VALUES
               ('u_01','device','dv1'), ('u_02','device','dv1'), ('u_02','payment','p1'), ('u_03','payment','p1'),
               ('u_04','ip','i1'), ('u_05','ip','i1'), ('u_06','payment',NULL), ('u_03','payment',NULL),
               ('u_07','device','dv2'), ('u_08','device','dv2'), ('u_07','ip','i9'), ('u_08','ip','i9');
             CREATE TABLE core_day_metrics (day TEXT, n_events INTEGER);
             INSERT INTO core_day_metrics VALUES ('2026-01-01', 6), ('2026-01-02', 4);
             CREATE TABLE raw_events (event_type TEXT);
             INSERT INTO raw_events VALUES ('chat'),('chat'),('chat'),('chat'),('chat'),('chat'),
                                           ('login'),('login'),('upload'),('signup');",
        )
        .unwrap();
        drop(conn);
        let detection = "user_id,detection,severity,evidence,first_ts,last_ts,related";
        ws.write(
            "data/detections/ban_evasion.csv",
            &format!("{detection}\nu_07,ban_evasion,high,shares device dv2 with 1 older enforced account(s),2026-01-01T07:00:00Z,2026-01-02T16:00:00Z,u_08\n"),
        );
        ws.write(
            "data/detections/shared_device.csv",
            &format!(
                "{detection}\n\
                 u_01,shared_device,medium,device dv1 used by 2 accounts,2026-01-01T01:00:00Z,2026-01-02T22:00:00Z,u_02\n\
                 u_02,shared_device,medium,device dv1 used by 2 accounts,2026-01-01T02:00:00Z,2026-01-02T21:00:00Z,u_01\n\
                 u_07,shared_device,medium,device dv2 used by 2 accounts,2026-01-01T07:00:00Z,2026-01-02T16:00:00Z,u_08\n\
                 u_08,shared_device,medium,device dv2 used by 2 accounts,2026-01-01T07:00:00Z,2026-01-02T16:00:00Z,u_07\n"
            ),
        );
        ws.write(
            "data/detections/velocity_spike.csv",
            &format!("{detection}\n"),
        );
        let header = format!(
            "day,user_id,{FEATURES},is_abuse_gt,risk_score,uncertainty,heuristic_score,flag_ml,flag_heur,flag_uncertain,needs_review,recent_prompts,priority,dedup_key,is_dup"
        );
        let rows = [
            (
                "2026-01-02",
                "u_01",
                40,
                0.2,
                0.92,
                0.16,
                "buy now | buy now",
                0,
            ),
            (
                "2026-01-01",
                "u_04",
                12,
                0.0,
                0.80,
                0.40,
                "how to BYPASS the filter",
                0,
            ),
            ("2026-01-01", "u_05", 5, 0.0, 0.60, 0.80, "hello", 0),
            ("2026-01-02", "u_06", 90, 0.0, 0.52, 0.96, "", 0),
            (
                "2026-01-02",
                "u_03",
                3,
                0.0,
                0.10,
                0.20,
                "buy now | buy now",
                1,
            ),
        ];
        let queue: Vec<String> = rows.into_iter().map(queue_row).collect();
        ws.write(
            "data/review_queue_dedup.csv",
            &format!("{header}\n{}\n", queue.join("\n")),
        );
        ws.write(
            "data/user_day_scored.csv",
            "day,user_id,n_chat,block_rate,n_ips,n_warned,is_abuse_gt,risk_score,uncertainty\n\
             2026-01-01,u_01,40,0.2,1,0,1,0.9,0.2\n2026-01-01,u_02,3,0,1,0,0,0.3,0.6\n\
             2026-01-01,u_04,12,0,1,0,1,0.8,0.4\n2026-01-02,u_05,5,0,1,0,0,0.6,0.8\n\
             2026-01-02,u_06,90,0,1,0,0,0.1,0.2\n",
        );
        ws.write(
            "data/model_eval.csv",
            "threshold,test_precision,test_recall,test_f1,test_auc\n0.5,0.666667,1,0.8,0.833333\n",
        );
        ws.write(
            "data/clusters.csv",
            "day,user_id,cluster_id\n2026-01-02,u_01,0\n2026-01-01,u_04,1\n2026-01-01,u_05,1\n",
        );
        ws.write(
            "data/drift_psi.csv",
            "feature,psi,drift_flag\nn_chat,0.31,1\nblock_rate,0.05,0\n",
        );
        ws.write(
            "data/monitoring_metrics.csv",
            "day,n_events,n_chat,n_active_users,n_blocked,n_warned,latency_ms_avg,block_rate,warn_rate\n\
             2026-01-01,6,4,5,0,0,500,0,0\n2026-01-02,4,2,4,1,0,400,0.5,0\n",
        );
        ws.write(
            "data/alerts.csv",
            "day,alert_type,severity,details\n\
             2026-01-02,spike_block_rate,high,block_rate 0.5 on 2 chats\n\
             2026-01-01,high_chat_per_user,medium,<b>81</b> chats per active user\n",
        );
        ws
    }

    fn column(ws: &Workspace, path: &str, name: &str) -> Vec<String> {
        read_csv(ws, path).iter().map(|r| r[name].clone()).collect()
    }

    /// Every stage's answer on the hand-made world, worked out by hand.
    #[test]
    fn hand_made_world() {
        let ws = world();
        assert_eq!(ws.build(&["-j", "2"]), counts(5, 0, 0, 0));

        assert_eq!(
            ws.read("out/entity_resolution_edges.csv"),
            "user_a,user_b,edge_type,edge_key\n\
             u_01,u_02,shared_device,dv1\n\
             u_02,u_03,shared_payment,p1\n\
             u_04,u_05,shared_ip,i1\n\
             u_07,u_08,shared_device,dv2\n\
             u_07,u_08,shared_ip,i9\n"
        );
        assert_eq!(
            column(&ws, "out/entity_resolution_components.csv", "component_id"),
            ["0", "0", "0", "1", "1", "2", "3", "3"]
        );

        assert_eq!(
            ws.read("out/enforcement_actions.csv"),
            "day,user_id,risk_score,uncertainty,suggested_action,reason_code\n\
             2026-01-02,u_03,0.1,0.2,allow,below_threshold\n\
             2026-01-02,u_01,0.92,0.16,block,high_confidence_abuse\n\
             2026-01-01,u_05,0.6,0.8,escalate,uncertain_high_risk\n\
             2026-01-01,u_04,0.8,0.4,rate_limit,policy_evasion_or_repeat\n\
             2026-01-02,u_06,0.52,0.96,warn,suspicious_burst\n"
        );

        // Components count strong links only (a device plus an IP or payment):
        // u_07 and u_08 (dv2 from i9) are the one strong pair.
        // u_01: 20 (shared_device) + 30*0.92 + 5*2 reports + 15 (block) = 72.6,
        //   P2, raised to suspend_pending_review by the suggested block.
        // u_07: 20*2 + 10 (high ban_evasion) + 10*log10(2) = 53.01, suspended for ban evasion.
        // u_04: 30*0.8 + 15 (rate_limit) = 39, P3, raised to manual_review.
        // u_05 (escalate) and u_06 (warn) are raised too; min_score 0 keeps all.
        let cases = read_csv(&ws, "out/cases.csv");
        let brief: Vec<String> = cases
            .iter()
            .map(|c| {
                format!(
                    "{} {} {} {} {}",
                    c["case_id"],
                    c["case_score"],
                    c["priority"],
                    c["recommended_action"],
                    c["component_size"]
                )
            })
            .collect();
        assert_eq!(
            brief,
            [
                "case_u_01 72.6 P2 suspend_pending_review 1",
                "case_u_07 53.01 P3 suspend_pending_review 2",
                "case_u_04 39 P3 manual_review 1",
                "case_u_08 23.01 P4 no_action 2",
                "case_u_02 20 P4 no_action 1",
                "case_u_05 18 P4 manual_review 1",
                "case_u_06 15.6 P4 monitor 1",
                "case_u_03 3 P4 no_action 1",
            ]
        );
        let u_01 = &cases[0];
        assert_eq!(
            u_01["evidence_tags"],
            "shared_device;high_model_risk;user_reported;suggested_block"
        );
        assert_eq!(u_01["n_reports"], "2");
        assert_eq!(u_01["first_ts"], "2026-01-01T01:00:00Z");
        assert!(u_01["findings"].starts_with("shared_device (medium): device dv1 used by 2 accounts; highest model risk 0.92 on 2026-01-02"));
        assert!(u_01["findings"].ends_with(
            "suspend_pending_review follows the suggested block (enforcement rule high_confidence_abuse)"
        ));
        assert!(cases[1]["evidence_tags"].contains("linked_accounts"));
        assert_eq!(cases[3]["last_ts"], "", "u_08 has no events");

        let incidents = read_csv(&ws, "out/incident_log.csv");
        assert_eq!(incidents.len(), 1);
        let incident = &incidents[0];
        assert!(incident["incident_id"].starts_with("inc_"));
        assert_eq!(incident["created_ts"], "2026-01-03T00:00:00Z");
        assert_eq!(
            (&*incident["severity"], &*incident["status"]),
            ("high", "open")
        );
        let stub: serde_json::Value =
            serde_json::from_str(&incident["retrospective_stub"]).unwrap();
        for key in [
            "what_happened",
            "impact",
            "root_cause_hypothesis",
            "mitigations_applied",
            "followups",
            "owner",
            "due_date",
        ] {
            assert!(stub.get(key).is_some(), "stub lacks {key}");
        }

        let summary = ws.read("out/executive_summary.csv");
        for line in [
            "data,events,10",
            "data,users,8",
            "monitoring,alerts_high,1",
            "detections,ban_evasion_hits,1",
            "detections,shared_device_hits,4",
            "detections,velocity_spike_hits,0",
            "model,test_auc,0.833333",
            // Raw heuristics 1.03 (u_01, the largest), 0.68, 0.134, 0.085,
            // 0.071: only u_01 reaches 0.75 of the largest.
            "flags,heuristic,1",
            "flags,ml,3",
            "flags,uncertain,1",
            "flags,needs_review,3",
            "queue,rows,5",
            "queue,duplicate_fraction,0.2",
            "clustering,clusters,2",
            "entity_resolution,components,4",
            "entity_resolution,largest_component,3",
            "enforcement,block,1",
            "enforcement,warn,1",
            "cases,cases,8",
            "cases,P1,0",
            "drift,features_drifting,1",
            "incidents,open_incidents,1",
        ] {
            assert!(
                summary.lines().any(|l| l == line),
                "no `{line}` in\n{summary}"
            );
        }

        let html = ws.read("out/report.html");
        assert_eq!(html.matches("<svg").count(), 10);
        assert!(
            html.contains("&lt;b&gt;81&lt;/b&gt; chats"),
            "alert text is escaped"
        );
        assert!(!html.contains("<b>81</b>"));
        assert!(!html.contains("<script") && !html.contains("https://"));
        assert!(html.contains("case_u_01"));
    }

    /// Two clean builds give byte-identical outputs, report included.
    #[test]
    fn deterministic() {
        let (a, b) = (world(), world());
        a.build(&["-j", "1"]);
        b.build(&["-j", "4"]);
        for out in [
            "entity_resolution_edges.csv",
            "entity_resolution_components.csv",
            "enforcement_actions.csv",
            "cases.csv",
            "incident_log.csv",
            "executive_summary.csv",
            "report.html",
        ] {
            let path = format!("out/{out}");
            assert!(a.read(&path) == b.read(&path), "{out} differs");
        }
    }

    /// `--set enforcement.block_risk=0.95` reruns enforcement, cases and report
    /// only; going back restores the first outputs from the cache.
    #[test]
    fn block_risk_reruns_enforcement_and_its_consumers() {
        let ws = world();
        ws.build(&[]);
        let stale: Vec<String> = ws
            .tnsflow(["status", "--json", "--set", "enforcement.block_risk=0.95"])
            .output()
            .map(|o| serde_json::from_slice::<serde_json::Value>(&o.stdout).unwrap())
            .unwrap()
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["state"] == "stale")
            .map(|s| s["stage"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(stale, ["enforcement", "cases", "report"]);
        let before = ws.read("out/cases.csv");

        let line = ws.build(&["--set", "enforcement.block_risk=0.95"]);
        assert_eq!(line, counts(3, 2, 0, 0));
        // u_01 (risk 0.92, block rate 0.2) drops from block to rate_limit.
        let actions = read_csv(&ws, "out/enforcement_actions.csv");
        let u_01 = actions.iter().find(|r| r["user_id"] == "u_01").unwrap();
        assert_eq!(u_01["suggested_action"], "rate_limit");
        assert!(ws.read("out/cases.csv").contains("suggested_rate_limit"));
        assert!(ws
            .read("out/executive_summary.csv")
            .contains("enforcement,block,0\n"));

        assert_eq!(
            ws.build(&["--set", "enforcement.block_risk=0.95"]),
            counts(0, 5, 0, 0)
        );
        let back = ws.build(&[]);
        assert!(
            back.starts_with("0 ran, 2 up to date, 3 restored"),
            "{back}"
        );
        assert_eq!(ws.read("out/cases.csv"), before);
    }

    /// Without a high alert the incident log is its header alone.
    #[test]
    fn no_high_alert_no_incident() {
        let ws = world();
        ws.write(
            "data/alerts.csv",
            "day,alert_type,severity,details\n2026-01-01,high_chat_per_user,medium,81 chats per active user\n",
        );
        ws.build(&[]);
        assert_eq!(
            ws.read("out/incident_log.csv"),
            "incident_id,created_ts,severity,summary,status,retrospective_stub\n"
        );
        assert!(ws
            .read("out/executive_summary.csv")
            .contains("incidents,open_incidents,0\n"));
    }
}
