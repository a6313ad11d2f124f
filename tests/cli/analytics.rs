//! Integration tests: the analytics half, and the whole pipeline's promises.

use crate::common::*;
use crate::data::{built, read_csv};
use std::collections::BTreeSet;

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
