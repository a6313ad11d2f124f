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

/// The seeds the targets are checked on, besides the default 42.
pub const SEEDS: [u64; 8] = [1, 2, 3, 4, 5, 6, 7, 8];

/// A default-size build of the repository pipeline at `seed`, shared by the
/// read-only tests of this file (42 is the one `data.rs` builds).
pub fn seeded(seed: u64) -> &'static Workspace {
    use std::sync::OnceLock;
    static BUILDS: [OnceLock<Workspace>; 8] = [const { OnceLock::new() }; 8];
    if seed == 42 {
        return built();
    }
    let slot = SEEDS
        .iter()
        .position(|s| *s == seed)
        .unwrap_or_else(|| panic!("seed {seed} is not one of {SEEDS:?}"));
    BUILDS[slot].get_or_init(|| {
        let ws = Workspace::from_repo();
        ws.build(&["-j", "2", "--set", &format!("seed={seed}")]);
        ws
    })
}

/// Every seed the targets hold for: the default, then 1..8.
pub fn all_seeds() -> impl Iterator<Item = (u64, &'static Workspace)> {
    std::iter::once(42)
        .chain(SEEDS)
        .map(|seed| (seed, seeded(seed)))
}

/// The seeded incident (a moderation filter regression on day 10 of the
/// window, `scenarios.incident_day`): at defaults and for seeds 1..8 exactly
/// that day raises a high spike_block_rate alert, and incident_log.csv holds
/// one incident whose summary names the day, the metric and its value.
#[test]
fn incident_day_raises_one_alert_and_one_incident() {
    for (seed, ws) in all_seeds() {
        let alerts = read_csv(ws, "out/alerts.csv");
        let high: Vec<_> = alerts.iter().filter(|a| a["severity"] == "high").collect();
        assert_eq!(high.len(), 1, "seed {seed}: {alerts:?}");
        assert_eq!(
            (&*high[0]["day"], &*high[0]["alert_type"]),
            ("2026-01-10", "spike_block_rate"),
            "seed {seed}"
        );
        let metrics = read_csv(ws, "out/monitoring_metrics.csv");
        let rate = &metrics
            .iter()
            .find(|m| m["day"] == "2026-01-10")
            .expect("day 10 in the metrics")["block_rate"];
        let incidents = read_csv(ws, "out/incident_log.csv");
        assert_eq!(incidents.len(), 1, "seed {seed}");
        let summary = &incidents[0]["summary"];
        for part in [
            "2026-01-10",
            "spike_block_rate",
            &format!("block_rate {rate}"),
        ] {
            assert!(
                summary.contains(part),
                "seed {seed}: `{part}` not in `{summary}`"
            );
        }
    }
}

/// With the scenario off (`scenarios.incident_day=0`) the same seeds raise no
/// high alert and log no incident: the spike is the scenario, not noise.
#[test]
fn no_incident_with_the_scenario_off() {
    for seed in std::iter::once(42).chain(SEEDS) {
        let ws = Workspace::from_repo();
        ws.build(&[
            "incident_log",
            "--set",
            &format!("seed={seed}"),
            "--set",
            "scenarios.incident_day=0",
        ]);
        let alerts = read_csv(&ws, "out/alerts.csv");
        assert!(
            alerts.iter().all(|a| a["severity"] != "high"),
            "seed {seed}: {alerts:?}"
        );
        assert_eq!(
            lines(&ws, "out/incident_log.csv"),
            1,
            "seed {seed}: header only"
        );
    }
}
