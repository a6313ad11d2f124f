//! The executive summary: (section, metric, value) rows in a fixed order.
//!
//! Every row is present on every run, zeros included (all five actions, all
//! four priorities, high and medium alerts), so two runs' summaries can be
//! compared line by line. Floats go through `fmt_f64`.

use super::figures::Figures;
use super::precision_recall;
use crate::stages::fmt_f64;

pub type Row = [String; 3];

fn mean(values: &[f64]) -> f64 {
    if values.is_empty() {
        0.0
    } else {
        values.iter().sum::<f64>() / values.len() as f64
    }
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

pub fn rows(f: &Figures) -> Vec<Row> {
    let mut out: Vec<Row> = Vec::new();
    let mut add = |section: &str, metric: &str, value: String| {
        out.push([section.into(), metric.into(), value]);
    };

    add("data", "events", f.n_events.to_string());
    add("data", "users", f.n_users.to_string());
    add("data", "abusive_users_gt", f.n_abusers.to_string());
    add("data", "days", f.days.len().to_string());
    add(
        "data",
        "first_day",
        f.days.first().cloned().unwrap_or_default(),
    );
    add(
        "data",
        "last_day",
        f.days.last().cloned().unwrap_or_default(),
    );
    add("data", "user_reports", f.n_reports.to_string());
    add(
        "data",
        "prior_enforcements",
        f.n_prior_enforcements.to_string(),
    );

    add(
        "monitoring",
        "mean_block_rate",
        fmt_f64(mean(&f.block_rate)),
    );
    add("monitoring", "mean_warn_rate", fmt_f64(mean(&f.warn_rate)));
    add(
        "monitoring",
        "max_block_rate",
        fmt_f64(f.block_rate.iter().copied().fold(0.0, f64::max)),
    );
    let alerts = |severity: &str| f.alerts.iter().filter(|a| a[2] == severity).count();
    add("monitoring", "alerts", f.alerts.len().to_string());
    add("monitoring", "alerts_high", alerts("high").to_string());
    add("monitoring", "alerts_medium", alerts("medium").to_string());

    for (name, hits) in &f.detections {
        add("detections", &format!("{name}_hits"), hits.to_string());
    }
    add(
        "detections",
        "total_hits",
        f.detections.iter().map(|d| d.1).sum::<usize>().to_string(),
    );

    for (metric, value) in &f.model {
        add("model", metric, value.clone());
    }
    add("model", "user_days_scored", f.scored.len().to_string());
    let (_, average_precision) = precision_recall::curve(&f.scored);
    add("model", "average_precision", fmt_f64(average_precision));

    // Flagged user-days over everything scored; the queue holds the top ones.
    add("flags", "ml", f.flags.ml.to_string());
    add("flags", "heuristic", f.flags.heuristic.to_string());
    add("flags", "uncertain", f.flags.uncertain.to_string());
    add("flags", "needs_review", f.flags.needs_review.to_string());

    add("queue", "rows", f.queue_rows.to_string());
    add("queue", "duplicates", f.queue_dups.to_string());
    add(
        "queue",
        "duplicate_fraction",
        fmt_f64(ratio(f.queue_dups, f.queue_rows)),
    );

    add("clustering", "clusters", f.cluster_sizes.len().to_string());
    add(
        "clustering",
        "clustered_rows",
        f.cluster_sizes
            .iter()
            .map(|c| c.1)
            .sum::<usize>()
            .to_string(),
    );
    add(
        "clustering",
        "largest_cluster",
        f.cluster_sizes.first().map_or(0, |c| c.1).to_string(),
    );

    let linked: Vec<usize> = f
        .component_sizes
        .iter()
        .copied()
        .filter(|s| *s >= 2)
        .collect();
    add(
        "entity_resolution",
        "components",
        f.component_sizes.len().to_string(),
    );
    add(
        "entity_resolution",
        "linked_components",
        linked.len().to_string(),
    );
    add(
        "entity_resolution",
        "linked_users",
        linked.iter().sum::<usize>().to_string(),
    );
    add(
        "entity_resolution",
        "largest_component",
        f.component_sizes.first().copied().unwrap_or(0).to_string(),
    );

    for (action, n) in f.action_counts() {
        add("enforcement", &action, n.to_string());
    }

    add("cases", "cases", f.n_cases.to_string());
    for p in ["P1", "P2", "P3", "P4"] {
        add(
            "cases",
            p,
            f.priorities.get(p).copied().unwrap_or(0).to_string(),
        );
    }

    add("drift", "features", f.psi.len().to_string());
    add(
        "drift",
        "features_drifting",
        f.psi.iter().filter(|p| p.2).count().to_string(),
    );
    add(
        "drift",
        "max_psi",
        fmt_f64(f.psi.iter().map(|p| p.1).fold(0.0, f64::max)),
    );

    add("incidents", "high_alerts", alerts("high").to_string());
    add("incidents", "open_incidents", f.incidents.len().to_string());

    // Against the synthetic ground truth (users flagged / abusers): what a
    // sweep over seeds compares. Recall is over every abuser of the world.
    let abusers = usize::try_from(f.n_abusers).unwrap_or(0);
    let mut evaluate = |name: &str, (flagged, true_hits): (usize, usize)| {
        add(
            "evaluation",
            &format!("{name}_precision"),
            fmt_f64(ratio(true_hits, flagged)),
        );
        add(
            "evaluation",
            &format!("{name}_recall"),
            fmt_f64(ratio(true_hits, abusers)),
        );
    };
    for (name, users, true_hits) in &f.detection_users {
        evaluate(name, (*users, *true_hits));
    }
    evaluate("cases", f.case_users);
    evaluate("cases_p1", f.p1_users);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Zeros are written, not skipped, and rates are fractions of the queue.
    #[test]
    fn fixed_rows_with_zeros() {
        let f = Figures {
            queue_rows: 4,
            queue_dups: 1,
            component_sizes: vec![3, 2, 1, 1],
            alerts: vec![["2026-01-02", "spike_block_rate", "high", "x"].map(String::from)],
            ..Figures::default()
        };
        let rows = rows(&f);
        let get = |s: &str, m: &str| {
            rows.iter()
                .find(|r| r[0] == s && r[1] == m)
                .map(|r| r[2].clone())
                .unwrap_or_else(|| panic!("no {s}/{m}"))
        };
        assert_eq!(get("queue", "duplicate_fraction"), "0.25");
        assert_eq!(get("entity_resolution", "linked_components"), "2");
        assert_eq!(get("entity_resolution", "linked_users"), "5");
        assert_eq!(get("enforcement", "block"), "0");
        assert_eq!(get("cases", "P4"), "0");
        assert_eq!(get("monitoring", "alerts_high"), "1");
        assert_eq!(get("incidents", "open_incidents"), "0");
    }

    /// Precision and recall per detection and for cases, against the abusers.
    #[test]
    fn evaluation_rows() {
        let f = Figures {
            n_abusers: 4,
            detection_users: vec![("shared_device".into(), 5, 4)],
            case_users: (8, 4),
            p1_users: (0, 0),
            ..Figures::default()
        };
        let rows = rows(&f);
        let get = |m: &str| {
            rows.iter()
                .find(|r| r[0] == "evaluation" && r[1] == m)
                .map(|r| r[2].clone())
                .unwrap_or_else(|| panic!("no evaluation/{m}"))
        };
        assert_eq!(get("shared_device_precision"), "0.8");
        assert_eq!(get("shared_device_recall"), "1");
        assert_eq!(get("cases_precision"), "0.5");
        assert_eq!(get("cases_recall"), "1");
        assert_eq!(get("cases_p1_precision"), "0");
    }
}
