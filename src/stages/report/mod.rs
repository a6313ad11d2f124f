//! `report`: the one-page executive summary and a self-contained HTML report.
//!
//! `executive_summary.csv` (section, metric, value) gathers the run's key
//! figures: data volume, monitoring rates and alerts, detector hits, model
//! quality, queue size and duplicate fraction, clusters, components,
//! suggested actions, cases, incidents and drift. `report.html` shows them
//! with inline SVG charts and needs no network to view.

mod svg;

use std::collections::BTreeMap;

use super::table::{write_csv, Table};
use crate::execute::{
    open_read_only, Builtin, ParamProblem, StageContext, StageError, StageParams,
};
use crate::stages::fmt_f64;
use crate::StageResult;
use svg::{bar_chart, curve, escape, line_chart};

pub struct Report;

fn count_by(values: impl IntoIterator<Item = String>) -> BTreeMap<String, f64> {
    let mut counts = BTreeMap::new();
    for v in values {
        *counts.entry(v).or_insert(0.0) += 1.0;
    }
    counts
}

fn column(t: &Table, name: &str) -> StageResult<Vec<String>> {
    let c = t.col(name)?;
    Ok(t.rows.iter().map(|r| r[c].clone()).collect())
}

fn mean(values: &[f64]) -> f64 {
    if values.is_empty() {
        0.0
    } else {
        values.iter().sum::<f64>() / values.len() as f64
    }
}

impl Builtin for Report {
    fn name(&self) -> &'static str {
        "report"
    }

    fn version(&self) -> &'static str {
        "1"
    }

    fn outs(&self) -> &'static [&'static str] {
        &["executive_summary.csv", "report.html"]
    }

    fn validate(&self, _: &StageParams) -> Result<(), ParamProblem> {
        Ok(())
    }

    fn run(&self, ctx: &StageContext) -> StageResult<()> {
        let read = |name: &str| -> StageResult<Table> { Table::read(&ctx.dep(name)?) };
        let metrics = read("monitoring_metrics.csv")?;
        let alerts = read("alerts.csv")?;
        let scored = read("user_day_scored.csv")?;
        let eval = read("model_eval.csv")?;
        let queue = read("review_queue_dedup.csv")?;
        let clusters = read("clusters.csv")?;
        let components = read("entity_resolution_components.csv")?;
        let drift = read("drift_psi.csv")?;
        let actions = read("enforcement_actions.csv")?;
        let cases = read("cases.csv")?;
        let incidents = read("incident_log.csv")?;

        let conn = open_read_only(&ctx.dep("sqlite.db")?)?;
        let scalar = |sql: &str| -> StageResult<i64> { Ok(conn.query_row(sql, [], |r| r.get(0))?) };
        let n_events = scalar("SELECT COALESCE(SUM(n_events), 0) FROM core_day_metrics")?;
        let n_users = scalar("SELECT COUNT(*) FROM users")?;
        let n_abusers = scalar("SELECT COUNT(*) FROM users WHERE is_abuse_gt = 1")?;
        let n_reports = scalar("SELECT COUNT(*) FROM reports")?;
        let by_type: Vec<(String, f64)> = conn
            .prepare("SELECT event_type, COUNT(*) FROM raw_events GROUP BY event_type ORDER BY event_type")?
            .query_map([], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as f64)))?
            .collect::<Result<_, _>>()?;

        let dir = ctx.dep("detections")?;
        let mut detection_files: Vec<_> = std::fs::read_dir(&dir)
            .map_err(|source| StageError::Read {
                path: dir.clone(),
                source,
            })?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "csv"))
            .collect();
        detection_files.sort();
        let mut detections = Vec::new();
        for file in detection_files {
            let name = file
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            detections.push((name, Table::read(&file)?.rows.len()));
        }

        let days = column(&metrics, "day")?;
        let block_rates = metrics.floats("block_rate")?;
        let warn_rates = metrics.floats("warn_rate")?;
        let severities = count_by(column(&alerts, "severity")?);
        let is_dup = queue.floats("is_dup")?;
        let cluster_sizes = count_by(column(&clusters, "cluster")?);
        let component_sizes = count_by(column(&components, "component_id")?);
        let linked: Vec<f64> = component_sizes
            .values()
            .copied()
            .filter(|s| *s >= 2.0)
            .collect();
        let action_counts = count_by(column(&actions, "suggested_action")?);
        let priorities = count_by(column(&cases, "priority")?);
        let drift_flags = drift.floats("drift_flag")?;
        let eval_value = |name: &str| -> StageResult<String> {
            Ok(column(&eval, name)?.first().cloned().unwrap_or_default())
        };

        let mut summary: Vec<[String; 3]> = Vec::new();
        let mut add = |section: &str, metric: &str, value: String| {
            summary.push([section.into(), metric.into(), value])
        };
        add("data", "events", n_events.to_string());
        add("data", "users", n_users.to_string());
        add("data", "abusive_users_gt", n_abusers.to_string());
        add("data", "days", days.len().to_string());
        add("data", "user_reports", n_reports.to_string());
        add("monitoring", "mean_block_rate", fmt_f64(mean(&block_rates)));
        add("monitoring", "mean_warn_rate", fmt_f64(mean(&warn_rates)));
        add(
            "monitoring",
            "alerts_high",
            severities.get("high").copied().unwrap_or(0.0).to_string(),
        );
        add(
            "monitoring",
            "alerts_medium",
            severities.get("medium").copied().unwrap_or(0.0).to_string(),
        );
        for (name, hits) in &detections {
            add("detections", &format!("{name}_hits"), hits.to_string());
        }
        for metric in ["threshold", "precision", "recall", "f1", "roc_auc"] {
            add("model", metric, eval_value(metric)?);
        }
        add("queue", "rows", queue.rows.len().to_string());
        add("queue", "duplicate_fraction", fmt_f64(mean(&is_dup)));
        add("clustering", "clusters", cluster_sizes.len().to_string());
        add(
            "entity_resolution",
            "components",
            component_sizes.len().to_string(),
        );
        add(
            "entity_resolution",
            "linked_components",
            linked.len().to_string(),
        );
        add(
            "entity_resolution",
            "largest_component",
            linked.iter().copied().fold(1.0, f64::max).to_string(),
        );
        for (action, n) in &action_counts {
            add("enforcement", action, n.to_string());
        }
        add("cases", "cases", cases.rows.len().to_string());
        for p in ["P1", "P2", "P3", "P4"] {
            add(
                "cases",
                p,
                priorities.get(p).copied().unwrap_or(0.0).to_string(),
            );
        }
        add(
            "incidents",
            "open_incidents",
            incidents.rows.len().to_string(),
        );
        add(
            "drift",
            "features_drifting",
            drift_flags.iter().sum::<f64>().to_string(),
        );
        write_csv(
            &ctx.out("executive_summary.csv"),
            &["section", "metric", "value"],
            &summary,
        )?;

        // Charts.
        let risk = scored.floats("risk_score")?;
        let labels: Vec<bool> = scored
            .floats("is_abuse_gt")?
            .iter()
            .map(|v| *v == 1.0)
            .collect();
        let mut histogram = vec![0.0; 20];
        for r in &risk {
            histogram[((r * 20.0) as usize).min(19)] += 1.0;
        }
        let pr: Vec<(f64, f64)> = (0..=100)
            .filter_map(|t| {
                let t = t as f64 / 100.0;
                let (p, r, _) = super::scoring::prf(&risk, &labels, t);
                (p > 0.0).then_some((r, p))
            })
            .collect();
        let mut top_clusters: Vec<(&String, &f64)> = cluster_sizes.iter().collect();
        top_clusters.sort_by(|a, b| b.1.total_cmp(a.1).then(a.0.cmp(b.0)));
        top_clusters.truncate(15);
        let mut top_components: Vec<f64> = linked.clone();
        top_components.sort_by(|a, b| b.total_cmp(a));
        top_components.truncate(20);
        let psi_features = column(&drift, "feature")?;
        let psi = drift.floats("psi")?;
        let strings = |v: &[&String]| v.iter().map(|s| (*s).clone()).collect::<Vec<_>>();
        let charts = [
            bar_chart("Events per day", &days, &metrics.floats("n_events")?),
            bar_chart(
                "Events by type",
                &by_type.iter().map(|t| t.0.clone()).collect::<Vec<_>>(),
                &by_type.iter().map(|t| t.1).collect::<Vec<_>>(),
            ),
            line_chart(
                "Chats and active users per day",
                &days,
                &[
                    ("chats", metrics.floats("n_chat")?),
                    ("active users", metrics.floats("n_active_users")?),
                ],
            ),
            line_chart(
                "Block and warn rates per day",
                &days,
                &[
                    ("block rate", block_rates.clone()),
                    ("warn rate", warn_rates.clone()),
                ],
            ),
            bar_chart(
                "Risk score histogram (user-days)",
                &(0..20)
                    .map(|i| format!("{:.2}", i as f64 / 20.0))
                    .collect::<Vec<_>>(),
                &histogram,
            ),
            curve("Precision-recall curve (all user-days)", &pr, "recall"),
            bar_chart(
                "Top cluster sizes",
                &strings(&top_clusters.iter().map(|c| c.0).collect::<Vec<_>>()),
                &top_clusters.iter().map(|c| *c.1).collect::<Vec<_>>(),
            ),
            bar_chart(
                "Linked component sizes (largest 20)",
                &(1..=top_components.len())
                    .map(|i| format!("#{i}"))
                    .collect::<Vec<_>>(),
                &top_components,
            ),
            bar_chart("PSI by feature", &psi_features, &psi),
            bar_chart(
                "Suggested actions",
                &action_counts.keys().cloned().collect::<Vec<_>>(),
                &action_counts.values().copied().collect::<Vec<_>>(),
            ),
        ];

        let mut html = String::from(
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>tnsflow report</title>\
             <style>body{font-family:system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse}\
             td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}.charts{display:flex;flex-wrap:wrap;gap:16px}\
             svg{border:1px solid #eee;background:#fff}</style></head><body>\n<h1>Trust &amp; Safety pipeline report</h1>\n",
        );
        html.push_str("<h2>Executive summary</h2>\n<table><tr><th>section</th><th>metric</th><th>value</th></tr>\n");
        for [section, metric, value] in &summary {
            html.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>\n",
                escape(section),
                escape(metric),
                escape(value)
            ));
        }
        html.push_str("</table>\n<h2>Charts</h2>\n<div class=\"charts\">\n");
        for chart in &charts {
            html.push_str(chart);
            html.push('\n');
        }
        html.push_str("</div>\n</body></html>\n");
        let path = ctx.out("report.html");
        std::fs::write(&path, html).map_err(|source| StageError::Write { path, source })
    }
}
