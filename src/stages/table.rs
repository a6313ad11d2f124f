//! `Table`: a CSV export read whole, with columns found by header name, and
//! the writer every stage uses for its CSV outs.
//!
//! Stages read each other's exports by column name, never by position, so a
//! column added upstream breaks nothing downstream.

use std::path::{Path, PathBuf};

use crate::execute::StageError;
use crate::StageResult;

#[derive(Debug, Clone, Default)]
pub struct Table {
    /// Where the table was read from, for errors that name the file.
    pub path: PathBuf,
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
    /// The file line each row starts on (a quoted field may span lines).
    lines: Vec<u64>,
}

impl Table {
    pub fn read(path: &Path) -> StageResult<Table> {
        let csv_err = |source| StageError::Csv {
            path: path.to_path_buf(),
            source,
        };
        let mut reader = csv::Reader::from_path(path).map_err(csv_err)?;
        let header = reader
            .headers()
            .map_err(csv_err)?
            .iter()
            .map(str::to_string)
            .collect();
        let (mut rows, mut lines) = (Vec::new(), Vec::new());
        for record in reader.records() {
            let record = record.map_err(csv_err)?;
            lines.push(record.position().map_or(0, |p| p.line()));
            rows.push(record.iter().map(str::to_string).collect());
        }
        Ok(Table {
            path: path.to_path_buf(),
            header,
            rows,
            lines,
        })
    }

    /// The index of a column, or an error naming the file and its columns.
    pub fn col(&self, name: &str) -> StageResult<usize> {
        self.header
            .iter()
            .position(|h| h == name)
            .ok_or_else(|| StageError::NoColumn {
                path: self.path.clone(),
                column: name.to_string(),
                columns: self.header.clone(),
            })
    }

    /// A column parsed as numbers. A field that is not a number is an error
    /// naming the file, line and column, as in `CsvStream`: a silent 0 would
    /// hide an upstream bug (issue 14: a `risk_score` of `abc` was allowed).
    pub fn floats(&self, name: &str) -> StageResult<Vec<f64>> {
        let c = self.col(name)?;
        self.rows
            .iter()
            .zip(&self.lines)
            .map(|(r, &line)| {
                r[c].parse().map_err(|_| StageError::BadField {
                    path: self.path.clone(),
                    line,
                    column: name.to_string(),
                    value: r[c].clone(),
                    expected: "a number",
                })
            })
            .collect()
    }
}

/// Writes a CSV out: a header, then rows.
pub fn write_csv<I, R>(path: &Path, header: &[&str], rows: I) -> StageResult<()>
where
    I: IntoIterator<Item = R>,
    R: IntoIterator,
    R::Item: AsRef<[u8]>,
{
    let file = std::fs::File::create(path).map_err(|source| StageError::Write {
        path: path.to_path_buf(),
        source,
    })?;
    let csv_err = |source| StageError::Csv {
        path: path.to_path_buf(),
        source,
    };
    let mut writer = csv::Writer::from_writer(std::io::BufWriter::new(file));
    writer.write_record(header).map_err(csv_err)?;
    for row in rows {
        writer.write_record(row).map_err(csv_err)?;
    }
    writer.flush().map_err(|source| StageError::Write {
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A field that is not a number names the file, its line and the column.
    #[test]
    fn unparsable_float_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("q.csv");
        std::fs::write(&path, "user_id,risk_score\nu1,0.5\nu2,abc\n").unwrap();
        let table = Table::read(&path).unwrap();
        let err = table.floats("risk_score").unwrap_err().to_string();
        assert!(
            err.ends_with("q.csv` line 3: column `risk_score` is `abc`, expected a number"),
            "{err}"
        );
        let missing = table.col("n_chat").unwrap_err().to_string();
        assert!(
            missing
                .ends_with("q.csv` has no column `n_chat`; its columns are: user_id, risk_score"),
            "{missing}"
        );
    }
}
