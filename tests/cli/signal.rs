//! Issue 11, "Signal an analyst can trust": the heuristic flag, the seeded
//! incident, detection precision, strong links and cases, each checked
//! against the exports of a real build and recomputed here independently.

use crate::common::*;
use crate::data::{built, read_csv};

/// The value of one executive-summary row.
fn summary(ws: &Workspace, section: &str, metric: &str) -> String {
    read_csv(ws, "out/executive_summary.csv")
        .into_iter()
        .find(|r| r["section"] == section && r["metric"] == metric)
        .map(|r| r["value"].clone())
        .unwrap_or_else(|| panic!("executive_summary.csv has no {section},{metric} row"))
}

/// The heuristic flag of SPEC section 6, recomputed from user_day_scored.csv:
/// the weighted clipped sum over its largest observed value (plus 1e-9). The
/// summary's flag counts match it; the heuristic fires at defaults.
#[test]
fn heuristic_flag_count_matches_a_recomputation() {
    let ws = built();
    let scored = read_csv(ws, "out/user_day_scored.csv");
    let threshold: f64 = read_csv(ws, "out/model_eval.csv")[0]["threshold"]
        .parse()
        .unwrap();
    let num =
        |r: &std::collections::HashMap<String, String>, c: &str| -> f64 { r[c].parse().unwrap() };
    let raw: Vec<f64> = scored
        .iter()
        .map(|r| {
            0.35 * (num(r, "n_chat") / 50.0).clamp(0.0, 3.0)
                + 0.35 * (num(r, "block_rate") / 0.10).clamp(0.0, 3.0)
                + 0.15 * (num(r, "n_ips") / 3.0).clamp(0.0, 3.0)
                + 0.15 * (num(r, "n_warned") / 5.0).clamp(0.0, 3.0)
        })
        .collect();
    let largest = raw.iter().copied().fold(0.0, f64::max);
    let heuristic = raw.iter().filter(|x| *x / (largest + 1e-9) >= 0.75).count();
    let ml = scored
        .iter()
        .filter(|r| num(r, "risk_score") >= threshold)
        .count();
    let uncertain = scored
        .iter()
        .filter(|r| num(r, "uncertainty") >= 0.75 && num(r, "risk_score") >= 0.35)
        .count();
    assert!(heuristic > 0, "the heuristic never fires");
    assert_eq!(summary(ws, "flags", "heuristic"), heuristic.to_string());
    assert_eq!(summary(ws, "flags", "ml"), ml.to_string());
    assert_eq!(summary(ws, "flags", "uncertain"), uncertain.to_string());
    // The queue holds flagged rows only, each heuristic flag among them.
    let queue = read_csv(ws, "out/review_queue.csv");
    let queued_heur = queue.iter().filter(|r| r["flag_heur"] == "1").count();
    assert!(queued_heur > 0 && queued_heur <= heuristic);
    let report = ws.read("out/report.html");
    assert!(
        report.contains("<td>flags</td><td>heuristic</td>"),
        "the report shows the flag counts"
    );
}
