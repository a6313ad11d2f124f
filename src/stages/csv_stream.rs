//! `CsvStream`: a large CSV export read one record at a time, columns by name.
//!
//! `Table` holds a whole file as strings, which is fine for a queue of 2000
//! rows and wasteful for two million user-days (tens of millions of small
//! allocations). A stage that only needs a few columns of a big export streams
//! it with one reused `ByteRecord` and parses just those fields. A field that
//! does not parse is an error naming the file, line and column: a silent 0
//! would hide an upstream bug.

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use crate::execute::StageError;
use crate::StageResult;

pub struct CsvStream {
    path: PathBuf,
    reader: csv::Reader<BufReader<File>>,
    header: Vec<String>,
    record: csv::ByteRecord,
}

impl CsvStream {
    pub fn open(path: &Path) -> StageResult<CsvStream> {
        let file = File::open(path).map_err(|source| StageError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let mut reader = csv::Reader::from_reader(BufReader::with_capacity(1 << 20, file));
        let header = reader
            .headers()
            .map_err(|source| StageError::Csv {
                path: path.to_path_buf(),
                source,
            })?
            .iter()
            .map(str::to_string)
            .collect();
        Ok(CsvStream {
            path: path.to_path_buf(),
            reader,
            header,
            record: csv::ByteRecord::new(),
        })
    }

    pub fn header(&self) -> &[String] {
        &self.header
    }

    /// The index of a column, or an error naming the file's columns.
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

    /// Moves to the next record; false at the end of the file.
    pub fn advance(&mut self) -> StageResult<bool> {
        self.reader
            .read_byte_record(&mut self.record)
            .map_err(|source| StageError::Csv {
                path: self.path.clone(),
                source,
            })
    }

    /// The current record, for copying whole.
    pub fn record(&self) -> &csv::ByteRecord {
        &self.record
    }

    /// A field of the current record as text.
    pub fn text(&self, col: usize) -> StageResult<&str> {
        let bytes = self.record.get(col).unwrap_or_default();
        std::str::from_utf8(bytes).map_err(|_| self.bad_field(col, "UTF-8 text"))
    }

    /// A field of the current record as a number.
    pub fn number(&self, col: usize) -> StageResult<f64> {
        self.text(col)?
            .parse()
            .map_err(|_| self.bad_field(col, "a number"))
    }

    fn bad_field(&self, col: usize, expected: &'static str) -> StageError {
        let line = self.record.position().map_or(0, |p| p.line());
        let value = String::from_utf8_lossy(self.record.get(col).unwrap_or_default());
        StageError::BadField {
            path: self.path.clone(),
            line,
            column: self.header.get(col).map_or("?", String::as_str).to_string(),
            value: value.into_owned(),
            expected,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fields are found by column name; a bad number names its line and column.
    #[test]
    fn streams_columns() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.csv");
        std::fs::write(&path, "a,b\n1,x\n2.5,y\nz,w\n").unwrap();
        let mut s = CsvStream::open(&path).unwrap();
        let (a, b) = (s.col("a").unwrap(), s.col("b").unwrap());
        assert!(s
            .col("c")
            .unwrap_err()
            .to_string()
            .contains("columns are: a, b"));
        let mut seen = Vec::new();
        while s.advance().unwrap() {
            match s.number(a) {
                Ok(v) => seen.push((v, s.text(b).unwrap().to_string())),
                Err(e) => {
                    assert!(e
                        .to_string()
                        .ends_with("line 4: column `a` is `z`, expected a number"));
                }
            }
        }
        assert_eq!(seen, [(1.0, "x".into()), (2.5, "y".into())]);
    }
}
