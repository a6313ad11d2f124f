//! `Table`: a CSV export read whole, with columns found by header name, and
//! the writer every stage uses for its CSV outs.
//!
//! Stages read each other's exports by column name, never by position, so a
//! column added upstream breaks nothing downstream.

use std::path::Path;

use crate::execute::StageError;
use crate::StageResult;

#[derive(Debug, Clone, Default)]
pub struct Table {
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

impl Table {
    pub fn read(path: &Path) -> StageResult<Table> {
        let mut reader = csv::Reader::from_path(path)
            .map_err(|e| StageError::Failed(format!("cannot read `{}`: {e}", path.display())))?;
        let header = reader.headers()?.iter().map(str::to_string).collect();
        let rows = reader
            .records()
            .map(|r| r.map(|r| r.iter().map(str::to_string).collect()))
            .collect::<Result<_, _>>()?;
        Ok(Table { header, rows })
    }

    /// The index of a column, or an error naming the file's columns.
    pub fn col(&self, name: &str) -> StageResult<usize> {
        self.header.iter().position(|h| h == name).ok_or_else(|| {
            StageError::Failed(format!(
                "expected a column `{name}`; the columns are: {}",
                self.header.join(", ")
            ))
        })
    }

    /// A column parsed as numbers (empty or unparsable fields are 0).
    pub fn floats(&self, name: &str) -> StageResult<Vec<f64>> {
        let c = self.col(name)?;
        Ok(self
            .rows
            .iter()
            .map(|r| r[c].parse().unwrap_or(0.0))
            .collect())
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
    let mut writer = csv::Writer::from_writer(std::io::BufWriter::new(file));
    writer.write_record(header)?;
    for row in rows {
        writer.write_record(row)?;
    }
    writer.flush().map_err(|source| StageError::Write {
        path: path.to_path_buf(),
        source,
    })
}
