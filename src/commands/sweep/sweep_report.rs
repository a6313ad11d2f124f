//! `report.html` of a sweep: for each chosen metric, its mean and spread over
//! the seeds of every configuration of the other params, as a chart and a
//! table, and the experiment table itself.
//!
//! Self-contained like the report stage's page: maud escapes every piece of
//! data text, the charts are inline SVG from plotters (which escapes the text
//! it draws), and nothing is loaded from elsewhere, so it opens offline.
//! Without a varying `seed` param each point is its own configuration.

use maud::{html, PreEscaped, DOCTYPE};
use plotters::prelude::*;

use super::experiment_table::ExperimentTable;
use super::spread::{fmt_figure, Spread};
use crate::Error;

/// The param whose values are repetitions, not configurations.
const SEED: &str = "seed";
const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1500px;color:#222}\
table{border-collapse:collapse;margin-bottom:1.5em}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}\
th{background:#f3f3f3}figure{margin:0 0 1em;border:1px solid #e5e5e5;display:inline-block}\
figcaption{font-size:12px;color:#555;padding:2px 6px}";

/// One metric over the configurations: (configuration, spread over seeds).
struct MetricSpreads {
    metric: String,
    groups: Vec<(String, Spread)>,
}

/// The page for `table`, titled with the sweep's folder.
pub fn render(table: &ExperimentTable, title: &str) -> Result<String, Error> {
    let seed_at = table.params.iter().position(|p| p == SEED);
    let configurations = configurations(table, seed_at);
    let mut metrics = Vec::new();
    for (m, metric) in table.metrics.iter().enumerate() {
        let groups: Vec<(String, Spread)> = configurations
            .iter()
            .filter_map(|(label, rows)| {
                let values: Vec<f64> = rows
                    .iter()
                    .filter_map(|&r| table.rows[r].metrics[m].parse::<f64>().ok())
                    .filter(|v| v.is_finite())
                    .collect();
                Spread::of(&values).map(|s| (label.clone(), s))
            })
            .collect();
        metrics.push(MetricSpreads {
            metric: metric.clone(),
            groups,
        });
    }
    let mut charts = Vec::new();
    for m in &metrics {
        charts.push(chart(m)?);
    }
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                title { "tnsflow sweep " (title) }
                style { (PreEscaped(STYLE)) }
            }
            body {
                h1 { "Sweep " (title) }
                p {
                    (table.rows.len()) " point(s). "
                    @if seed_at.is_some() {
                        "Each chart shows a metric's mean over the seeds of every configuration (dot), one standard deviation either side (thick bar) and the range (thin line)."
                    } @else {
                        "No `seed` varies: each point is its own configuration."
                    }
                }
                @for (m, svg) in metrics.iter().zip(&charts) {
                    h2 { (m.metric) }
                    @if let Some(svg) = svg {
                        figure { (PreEscaped(svg.trim_end())) figcaption { (m.metric) " by configuration" } }
                    }
                    @if m.groups.is_empty() {
                        p { "No numeric value at any point." }
                    } @else {
                        table {
                            tr { th { "configuration" } th { "seeds" } th { "mean" } th { "sd" } th { "min" } th { "max" } }
                            @for (label, s) in &m.groups {
                                tr {
                                    td { (label) } td { (s.n) } td { (fmt_figure(s.mean)) }
                                    td { (fmt_figure(s.sd)) } td { (fmt_figure(s.min)) } td { (fmt_figure(s.max)) }
                                }
                            }
                        }
                    }
                }
                h2 { "Points" }
                table {
                    tr {
                        th { "point" }
                        @for p in &table.params { th { (p) } }
                        th { "status" }
                        @for m in &table.metrics { th { (m) } }
                    }
                    @for row in &table.rows {
                        tr {
                            td { (row.point) }
                            @for v in &row.params { td { (v) } }
                            td { (row.status) }
                            @for v in &row.metrics { td { (v) } }
                        }
                    }
                }
            }
        }
    };
    Ok(page.into_string())
}

/// Rows grouped by every varying param but the seed, in table order:
/// (`size=1 rate=0.5`, row indices). `all` when only the seed varies.
fn configurations(table: &ExperimentTable, seed_at: Option<usize>) -> Vec<(String, Vec<usize>)> {
    let mut groups: Vec<(String, Vec<usize>)> = Vec::new();
    for (r, row) in table.rows.iter().enumerate() {
        let label = if seed_at.is_none() {
            row.point.clone()
        } else {
            let parts: Vec<String> = table
                .params
                .iter()
                .zip(&row.params)
                .enumerate()
                .filter(|(i, _)| Some(*i) != seed_at)
                .map(|(_, (k, v))| format!("{k}={v}"))
                .collect();
            if parts.is_empty() {
                "all".to_string()
            } else {
                parts.join(" ")
            }
        };
        match groups.iter_mut().find(|(l, _)| *l == label) {
            Some((_, rows)) => rows.push(r),
            None => groups.push((label, vec![r])),
        }
    }
    groups
}

/// Mean, ±1 sd and range per configuration, as SVG; None with no values.
fn chart(m: &MetricSpreads) -> Result<Option<String>, Error> {
    if m.groups.is_empty() {
        return Ok(None);
    }
    let failed = |e: &dyn std::fmt::Display| {
        Error::Io(std::io::Error::other(format!(
            "drawing the sweep chart of {}: {e}",
            m.metric
        )))
    };
    let lo = m
        .groups
        .iter()
        .map(|(_, s)| s.min.min(s.mean - s.sd))
        .fold(f64::INFINITY, f64::min);
    let hi = m
        .groups
        .iter()
        .map(|(_, s)| s.max.max(s.mean + s.sd))
        .fold(f64::NEG_INFINITY, f64::max);
    let pad = if hi > lo {
        (hi - lo) * 0.08
    } else {
        lo.abs().max(1.0) * 0.1
    };
    let labels: Vec<&str> = m.groups.iter().map(|(l, _)| l.as_str()).collect();
    let blue = RGBColor(59, 110, 168);
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (720, 320)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| failed(&e))?;
        let mut chart = ChartBuilder::on(&root)
            .caption(&m.metric, ("sans-serif", 16))
            .margin(10)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(-0.5f64..(labels.len() as f64 - 0.5), (lo - pad)..(hi + pad))
            .map_err(|e| failed(&e))?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(labels.len())
            .x_label_formatter(&|x| {
                let i = x.round();
                if (x - i).abs() < 1e-6 && i >= 0.0 {
                    labels
                        .get(i as usize)
                        .map_or(String::new(), |l| l.to_string())
                } else {
                    String::new()
                }
            })
            .y_label_formatter(&|y| fmt_figure(*y))
            .draw()
            .map_err(|e| failed(&e))?;
        for (i, (_, s)) in m.groups.iter().enumerate() {
            let x = i as f64;
            chart
                .draw_series([
                    PathElement::new(vec![(x, s.min), (x, s.max)], blue.stroke_width(1)),
                    PathElement::new(
                        vec![(x, s.mean - s.sd), (x, s.mean + s.sd)],
                        blue.stroke_width(5),
                    ),
                ])
                .map_err(|e| failed(&e))?;
            chart
                .draw_series([Circle::new((x, s.mean), 5, blue.filled())])
                .map_err(|e| failed(&e))?;
        }
        root.present().map_err(|e| failed(&e))?;
    }
    Ok(Some(out))
}
