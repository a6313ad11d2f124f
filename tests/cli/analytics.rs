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
        assert_eq!(eval["roc_auc"], "1", "{eval:?}");
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
            .map(|r| r["cluster"].parse().unwrap())
            .collect();
        assert!(ids.len() <= k && ids.contains(&0), "{ids:?} for k = {k}");
        // Rows with the same text share a cluster.
        let mut by_text: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        for r in &clusters {
            by_text
                .entry(&r["recent_prompts"])
                .or_default()
                .insert(&r["cluster"]);
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
        let ids: BTreeSet<&str> = clusters.iter().map(|r| r["cluster"].as_str()).collect();
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
        format!("{queue},dedup_key,is_dup,cluster")
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
    assert!(header(ws, "out/model_eval.csv").starts_with("threshold,precision,recall,f1,roc_auc"));
}

/// The model is reported, the queue is non-empty and bounded, and every seeded
/// abuser has a case.
#[test]
fn model_queue_and_cases() {
    let ws = built();
    let eval = &read_csv(ws, "out/model_eval.csv")[0];
    let auc: f64 = eval["roc_auc"].parse().unwrap();
    let f1: f64 = eval["f1"].parse().unwrap();
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
