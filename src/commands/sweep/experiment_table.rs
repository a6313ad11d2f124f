//! `ExperimentTable`: a sweep as experiments to compare, the view of
//! `tnsflow sweep show` (DVC's `exp show`): one row per point, only the params
//! that vary across the grid, the chosen metrics, rows sorted by the params.

use std::cmp::Ordering;

use super::summary::SweepSummary;
use crate::Error;

#[derive(Debug, Clone, PartialEq)]
pub struct ExperimentTable {
    /// The params whose value differs between points.
    pub params: Vec<String>,
    pub metrics: Vec<String>,
    pub rows: Vec<ExperimentRow>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ExperimentRow {
    pub point: String,
    pub params: Vec<String>,
    pub status: String,
    pub metrics: Vec<String>,
}

impl ExperimentTable {
    /// The table of `summary` (read from `source`, named in errors). Each
    /// `--metric` picks the column of that name, or every column under it
    /// (`evaluation` picks `evaluation.*`); none picks every metric.
    pub fn new(
        summary: &SweepSummary,
        chosen: &[String],
        source: &str,
    ) -> Result<ExperimentTable, Error> {
        let mut metric_at: Vec<usize> = Vec::new();
        for want in chosen {
            let prefix = format!("{want}.");
            let found: Vec<usize> = (0..summary.metrics.len())
                .filter(|&i| summary.metrics[i] == *want || summary.metrics[i].starts_with(&prefix))
                .collect();
            if found.is_empty() {
                return Err(Error::Usage(format!(
                    "--metric {want}: {source} has no such column; expected one of: {}",
                    summary.metrics.join(", ")
                )));
            }
            for i in found {
                if !metric_at.contains(&i) {
                    metric_at.push(i);
                }
            }
        }
        if chosen.is_empty() {
            metric_at = (0..summary.metrics.len()).collect();
        }
        let param_at: Vec<usize> = (0..summary.params.len())
            .filter(|&i| {
                summary
                    .rows
                    .iter()
                    .any(|r| r.params[i] != summary.rows[0].params[i])
            })
            .collect();
        let mut rows: Vec<ExperimentRow> = summary
            .rows
            .iter()
            .map(|r| ExperimentRow {
                point: r.point.clone(),
                params: param_at.iter().map(|&i| r.params[i].clone()).collect(),
                status: r.status.clone(),
                metrics: metric_at.iter().map(|&i| r.metrics[i].clone()).collect(),
            })
            .collect();
        rows.sort_by(|a, b| {
            a.params
                .iter()
                .zip(&b.params)
                .map(|(x, y)| compare_values(x, y))
                .find(|o| o.is_ne())
                .unwrap_or(Ordering::Equal)
                .then_with(|| a.point.cmp(&b.point))
        });
        Ok(ExperimentTable {
            params: param_at
                .iter()
                .map(|&i| summary.params[i].clone())
                .collect(),
            metrics: metric_at
                .iter()
                .map(|&i| summary.metrics[i].clone())
                .collect(),
            rows,
        })
    }

    /// Aligned columns: `point`, the varying params, `status`, the metrics.
    pub fn render(&self) -> String {
        let mut grid: Vec<Vec<&str>> = Vec::with_capacity(self.rows.len() + 1);
        let mut header = vec!["point"];
        header.extend(self.params.iter().map(String::as_str));
        header.push("status");
        header.extend(self.metrics.iter().map(String::as_str));
        grid.push(header);
        for row in &self.rows {
            let mut cells = vec![row.point.as_str()];
            cells.extend(row.params.iter().map(String::as_str));
            cells.push(&row.status);
            cells.extend(row.metrics.iter().map(String::as_str));
            grid.push(cells);
        }
        let widths: Vec<usize> = (0..grid[0].len())
            .map(|c| grid.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
            .collect();
        let mut out = String::new();
        for cells in &grid {
            let line: Vec<String> = cells
                .iter()
                .zip(&widths)
                .map(|(cell, w)| format!("{cell:<w$}"))
                .collect();
            out.push_str(line.join("  ").trim_end());
            out.push('\n');
        }
        out
    }
}

/// Numbers by value (`2` before `10`), anything else as text.
pub fn compare_values(a: &str, b: &str) -> Ordering {
    match (a.parse::<f64>(), b.parse::<f64>()) {
        (Ok(x), Ok(y)) => x.partial_cmp(&y).unwrap_or(Ordering::Equal),
        _ => a.cmp(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::sweep::summary::SummaryRow;

    fn summary() -> SweepSummary {
        let row = |point: &str, seed: &str, f1: &str| SummaryRow {
            point: point.into(),
            params: vec![seed.into(), "1".into()],
            status: "ok".into(),
            metrics: vec![f1.into(), "7".into()],
        };
        SweepSummary {
            params: vec!["seed".into(), "size".into()],
            metrics: vec!["model.test_f1".into(), "queue.rows".into()],
            rows: vec![row("point-000", "10", "0.5"), row("point-001", "2", "0.6")],
        }
    }

    /// A param every point shares is left out; rows sort numerically.
    #[test]
    fn shows_varying_params_sorted() {
        let table = ExperimentTable::new(&summary(), &["model".into()], "s.csv").unwrap();
        assert_eq!(
            table.render(),
            "point      seed  status  model.test_f1\n\
             point-001  2     ok      0.6\n\
             point-000  10    ok      0.5\n"
        );
        let err = ExperimentTable::new(&summary(), &["nope".into()], "s.csv").unwrap_err();
        assert_eq!(
            err.to_string(),
            "--metric nope: s.csv has no such column; expected one of: model.test_f1, queue.rows"
        );
    }
}
