//! `report`: the one-page executive summary and a self-contained HTML report.
//!
//! `executive_summary.csv` (section, metric, value) gathers the run's key
//! figures in a fixed order: data volume, monitoring rates and alerts,
//! detector hits, model quality, flagged user-days (ml, heuristic, uncertain,
//! by the review queue's own rule), queue size and duplicate fraction, clusters,
//! components, suggested actions, cases, drift and incidents, then the
//! evaluation against the synthetic ground truth (each detection's and the
//! cases' precision and recall over the is_abuse_gt users), which `tnsflow
//! sweep` turns into columns so a sweep over seeds shows their spread.
//! `report.html` shows the same summary, the open incidents, the top cases and
//! ten charts drawn with plotters as inline SVG; it needs no network to view.
//!
//! The report only reads the other stages' exports and the database: it
//! recomputes nothing they decide (no scoring, no thresholds), so it can never
//! disagree with them. The precision-recall curve is the one derived figure,
//! computed from user_day_scored.csv's risk_score against is_abuse_gt.

mod charts;
mod figures;
mod page;
mod precision_recall;
mod summary;

use super::table::write_csv;
use crate::execute::{Builtin, ParamProblem, StageContext, StageError, StageParams};
use crate::stages::fmt_f64;
use crate::StageResult;
use charts::{bar_chart, curve, line_chart, Bars, Curve, Lines};
use figures::Figures;

pub struct Report;

/// Bars shown for the largest clusters and components.
const TOP: usize = 20;
const RISK_BINS: usize = 20;

/// (caption, svg) for every chart, in page order.
fn draw_charts(f: &Figures) -> StageResult<Vec<(String, String)>> {
    let bars = |title: &str, labels: &[String], values: &[f64], y_desc: &str, horizontal| {
        let svg = bar_chart(&Bars {
            title,
            labels,
            values,
            y_desc,
            horizontal,
        })?;
        StageResult::Ok((title.to_string(), svg))
    };
    let lines = |title: &str, series: &[(&str, Vec<f64>)], y_desc: &str| {
        let svg = line_chart(&Lines {
            title,
            labels: &f.days,
            series,
            y_desc,
        })?;
        StageResult::Ok((title.to_string(), svg))
    };
    let mut charts = Vec::new();

    // Volume and monitoring.
    charts.push(bars(
        "Events per day",
        &f.days,
        &f.events_per_day,
        "events",
        false,
    )?);
    let (type_labels, type_counts): (Vec<String>, Vec<f64>) =
        f.events_by_type.iter().cloned().unzip();
    charts.push(bars(
        "Events by type",
        &type_labels,
        &type_counts,
        "events",
        false,
    )?);
    charts.push(lines(
        "Chats and active users per day",
        &[
            ("chats", f.chats_per_day.clone()),
            ("active users", f.active_users_per_day.clone()),
        ],
        "count",
    )?);
    charts.push(lines(
        "Block and warn rates per day (per chat)",
        &[
            ("block rate", f.block_rate.clone()),
            ("warn rate", f.warn_rate.clone()),
        ],
        "rate",
    )?);

    // The model.
    let risk_labels: Vec<String> = (0..RISK_BINS)
        .map(|i| format!("{:.2}", i as f64 / RISK_BINS as f64))
        .collect();
    let histogram = precision_recall::histogram(f.scored.iter().map(|s| s.0), RISK_BINS);
    charts.push(bars(
        "Risk score histogram (user-days, by bin start)",
        &risk_labels,
        &histogram,
        "user-days",
        false,
    )?);
    let (points, average_precision) = precision_recall::curve(&f.scored);
    let title = format!(
        "Precision-recall, all scored user-days (AP {})",
        fmt_f64(average_precision)
    );
    let svg = curve(&Curve {
        title: &title,
        points: &precision_recall::thin(&points, precision_recall::MAX_POINTS),
        x_desc: "recall",
        y_desc: "precision",
    })?;
    charts.push((title, svg));

    // Groups: clusters of queue rows and components of linked accounts.
    let (cluster_labels, cluster_sizes): (Vec<String>, Vec<f64>) = f
        .cluster_sizes
        .iter()
        .take(TOP)
        .map(|(c, n)| (format!("c{c}"), *n as f64))
        .unzip();
    charts.push(bars(
        "Top cluster sizes (queue rows)",
        &cluster_labels,
        &cluster_sizes,
        "rows",
        false,
    )?);
    let linked: Vec<f64> = f
        .component_sizes
        .iter()
        .filter(|s| **s >= 2)
        .take(TOP)
        .map(|s| *s as f64)
        .collect();
    let ranks: Vec<String> = (1..=linked.len()).map(|i| format!("#{i}")).collect();
    charts.push(bars(
        "Largest linked components (accounts)",
        &ranks,
        &linked,
        "accounts",
        false,
    )?);

    // Drift and actions.
    let (features, psi): (Vec<String>, Vec<f64>) = f.psi.iter().map(|p| (p.0.clone(), p.1)).unzip();
    charts.push(bars("PSI by feature", &features, &psi, "PSI", true)?);
    let (actions, counts): (Vec<String>, Vec<f64>) = f
        .action_counts()
        .into_iter()
        .map(|(a, n)| (a, n as f64))
        .unzip();
    charts.push(bars(
        "Suggested actions",
        &actions,
        &counts,
        "queue rows",
        false,
    )?);
    Ok(charts)
}

impl Builtin for Report {
    fn name(&self) -> &'static str {
        "report"
    }

    fn version(&self) -> &'static str {
        "5"
    }

    fn outs(&self) -> &'static [&'static str] {
        &["executive_summary.csv", "report.html"]
    }

    fn validate(&self, _: &StageParams) -> Result<(), ParamProblem> {
        Ok(())
    }

    fn run(&self, ctx: &StageContext) -> StageResult<()> {
        let figures = Figures::read(ctx)?;
        let summary = summary::rows(&figures);
        write_csv(
            &ctx.out("executive_summary.csv"),
            &["section", "metric", "value"],
            &summary,
        )?;
        let html = page::render(&summary, &figures, &draw_charts(&figures)?);
        let path = ctx.out("report.html");
        std::fs::write(&path, html).map_err(|source| StageError::Write { path, source })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Ten charts in page order, each an SVG with its caption.
    #[test]
    fn ten_charts_in_order() {
        let f = Figures {
            days: vec!["2026-01-01".into(), "2026-01-02".into()],
            events_per_day: vec![10.0, 12.0],
            chats_per_day: vec![7.0, 8.0],
            active_users_per_day: vec![3.0, 4.0],
            block_rate: vec![0.1, 0.0],
            warn_rate: vec![0.0, 0.05],
            scored: vec![(0.9, true), (0.2, false)],
            psi: vec![("n_chat".into(), 0.3, true)],
            ..Figures::default()
        };
        let charts = draw_charts(&f).unwrap();
        let captions: Vec<&str> = charts.iter().map(|c| c.0.as_str()).collect();
        assert_eq!(captions.len(), 10);
        assert_eq!(captions[0], "Events per day");
        assert_eq!(captions[2], "Chats and active users per day");
        assert!(captions[5].starts_with("Precision-recall") && captions[5].ends_with("(AP 1)"));
        assert_eq!(captions[9], "Suggested actions");
        assert!(charts.iter().all(|c| c.1.starts_with("<svg")));
    }
}
