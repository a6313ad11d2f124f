//! `SweepSummary`: a sweep's `summary.csv`, one row per point: its params,
//! its status and the figures of the metrics exports.
//!
//! Written by `tnsflow sweep`, read back by `tnsflow sweep show`. The header
//! is `point, <swept keys>, status, <metric columns>`, so a reader tells the
//! params from the metrics by where `status` stands.

use std::collections::BTreeMap;
use std::path::Path;

use crate::Error;

pub const SUMMARY_FILE: &str = "summary.csv";

#[derive(Debug, Clone, PartialEq)]
pub struct SweepSummary {
    pub params: Vec<String>,
    pub metrics: Vec<String>,
    pub rows: Vec<SummaryRow>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SummaryRow {
    pub point: String,
    /// One value per `SweepSummary::params`.
    pub params: Vec<String>,
    pub status: String,
    /// One value per `SweepSummary::metrics`, empty when the point has none.
    pub metrics: Vec<String>,
}

/// One point as the sweep saw it: the figures read from its metrics exports.
pub struct PointFigures {
    pub point: String,
    pub params: Vec<String>,
    pub status: String,
    pub figures: Vec<(String, String)>,
}

impl SweepSummary {
    /// The table of `points`, its metric columns in the order first seen.
    /// A column that repeats an earlier one (same figure name after the
    /// export's prefix, same value at every point) is left out: the
    /// executive summary's `model.test_f1` is model_eval.csv's `test_f1`,
    /// and one column per figure is what a reader compares.
    pub fn new(params: Vec<String>, points: Vec<PointFigures>) -> SweepSummary {
        let mut columns: Vec<String> = Vec::new();
        let maps: Vec<BTreeMap<String, String>> = points
            .iter()
            .map(|p| {
                for (column, _) in &p.figures {
                    if !columns.contains(column) {
                        columns.push(column.clone());
                    }
                }
                p.figures.iter().cloned().collect()
            })
            .collect();
        let values = |c: &str| -> Vec<Option<&String>> { maps.iter().map(|m| m.get(c)).collect() };
        let mut metrics: Vec<String> = Vec::new();
        for column in &columns {
            let is_repeat = metrics.iter().any(|kept| {
                figure_name(kept) == figure_name(column) && values(kept) == values(column)
            });
            if !is_repeat {
                metrics.push(column.clone());
            }
        }
        let rows = points
            .into_iter()
            .zip(&maps)
            .map(|(p, map)| SummaryRow {
                point: p.point,
                params: p.params,
                status: p.status,
                metrics: metrics
                    .iter()
                    .map(|m| map.get(m).cloned().unwrap_or_default())
                    .collect(),
            })
            .collect();
        SweepSummary {
            params,
            metrics,
            rows,
        }
    }

    pub fn to_csv(&self) -> Result<Vec<u8>, Error> {
        let mut writer = csv::Writer::from_writer(Vec::new());
        let mut header = vec!["point"];
        header.extend(self.params.iter().map(String::as_str));
        header.push("status");
        header.extend(self.metrics.iter().map(String::as_str));
        writer.write_record(&header).map_err(std::io::Error::from)?;
        for row in &self.rows {
            let mut record = vec![row.point.as_str()];
            record.extend(row.params.iter().map(String::as_str));
            record.push(&row.status);
            record.extend(row.metrics.iter().map(String::as_str));
            writer.write_record(&record).map_err(std::io::Error::from)?;
        }
        Ok(writer
            .into_inner()
            .map_err(|e| std::io::Error::other(e.to_string()))?)
    }

    /// Reads a `summary.csv`; the error names the file and what is wrong.
    pub fn load(path: &Path) -> Result<SweepSummary, Error> {
        let bad = |what: String| {
            Error::Usage(format!(
                "{}: {what}; expected a sweep summary (`point, <params>, status, <metrics>`) written by `tnsflow sweep`",
                path.display()
            ))
        };
        let mut reader = csv::Reader::from_path(path).map_err(|e| bad(e.to_string()))?;
        let header: Vec<String> = reader
            .headers()
            .map_err(|e| bad(e.to_string()))?
            .iter()
            .map(str::to_string)
            .collect();
        let status = header
            .iter()
            .position(|h| h == "status")
            .filter(|_| header.first().map(String::as_str) == Some("point"))
            .ok_or_else(|| bad("the header has no `point` first and `status` after it".into()))?;
        let mut rows = Vec::new();
        for (n, record) in reader.records().enumerate() {
            let record = record.map_err(|e| bad(format!("row {}: {e}", n + 2)))?;
            let cells: Vec<String> = record.iter().map(str::to_string).collect();
            rows.push(SummaryRow {
                point: cells[0].clone(),
                params: cells[1..status].to_vec(),
                status: cells[status].clone(),
                metrics: cells[status + 1..].to_vec(),
            });
        }
        Ok(SweepSummary {
            params: header[1..status].to_vec(),
            metrics: header[status + 1..].to_vec(),
            rows,
        })
    }
}

/// `test_f1` for `model.test_f1`.
fn figure_name(column: &str) -> &str {
    column.split_once('.').map_or(column, |(_, name)| name)
}

/// Summary columns from one metrics export: `section.metric` for a
/// (section, metric, value) table, else `stem.column` from its first row.
pub fn read_metrics(path: &Path) -> Vec<(String, String)> {
    let Ok(mut reader) = csv::Reader::from_path(path) else {
        return Vec::new();
    };
    let Ok(header) = reader.headers().cloned() else {
        return Vec::new();
    };
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let records: Vec<csv::StringRecord> = reader.records().filter_map(Result::ok).collect();
    if header.iter().collect::<Vec<_>>() == ["section", "metric", "value"] {
        return records
            .iter()
            .map(|r| (format!("{}.{}", &r[0], &r[1]), r[2].to_string()))
            .collect();
    }
    match records.first() {
        Some(first) => header
            .iter()
            .zip(first.iter())
            .map(|(h, v)| (format!("{stem}.{h}"), v.to_string()))
            .collect(),
        None => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(n: usize, figures: &[(&str, &str)]) -> PointFigures {
        PointFigures {
            point: format!("point-{n:03}"),
            params: vec![n.to_string()],
            status: "ok".into(),
            figures: figures
                .iter()
                .map(|(c, v)| (c.to_string(), v.to_string()))
                .collect(),
        }
    }

    /// `model.test_f1` and `model_eval.test_f1` are one column; a same-named
    /// figure with other values stays, and the table reads back as written.
    #[test]
    fn repeated_figures_are_one_column() {
        let summary = SweepSummary::new(
            vec!["seed".into()],
            vec![
                point(
                    0,
                    &[
                        ("model.test_f1", "0.5"),
                        ("model_eval.test_f1", "0.5"),
                        ("a.n", "1"),
                    ],
                ),
                point(
                    1,
                    &[
                        ("model.test_f1", "0.6"),
                        ("model_eval.test_f1", "0.6"),
                        ("b.n", "2"),
                    ],
                ),
            ],
        );
        assert_eq!(summary.metrics, ["model.test_f1", "a.n", "b.n"]);
        let csv = String::from_utf8(summary.to_csv().unwrap()).unwrap();
        assert_eq!(
            csv,
            "point,seed,status,model.test_f1,a.n,b.n\npoint-000,0,ok,0.5,1,\npoint-001,1,ok,0.6,,2\n"
        );
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join(SUMMARY_FILE);
        std::fs::write(&path, summary.to_csv().unwrap()).unwrap();
        assert_eq!(SweepSummary::load(&path).unwrap(), summary);
    }
}
