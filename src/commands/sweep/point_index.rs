//! `PointIndex`: which `point-NNN` folder holds which grid point, kept in
//! `points.csv` beside the points.
//!
//! Numbers are given once and never move, so a grown grid (`seed=1..4`, then
//! `seed=1..6`, or a value added to an inner axis) finds its old points in
//! their folders, where a rebuild is a no-op, and builds only the new ones.
//! Without the index a point's number would be its place in the cartesian
//! product, and adding a value to any axis but the first would shift every
//! later point into a folder built for other params. A first sweep numbers
//! its points in grid order, as before the index existed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::parse::{display_value, Override};
use crate::record::write_atomic;
use crate::Error;

pub const INDEX_FILE: &str = "points.csv";

pub struct PointIndex {
    path: PathBuf,
    /// `key=value ...` with keys sorted -> point number.
    numbers: BTreeMap<String, usize>,
}

impl PointIndex {
    /// The index in `dir`, empty when the sweep is new.
    pub fn load(dir: &Path) -> Result<PointIndex, Error> {
        let path = dir.join(INDEX_FILE);
        let mut numbers = BTreeMap::new();
        if path.is_file() {
            let bad = |what: String| {
                Error::Usage(format!(
                    "{}: {what}; expected `point,params` rows written by `tnsflow sweep` (delete the file to renumber the points)",
                    path.display()
                ))
            };
            let mut reader = csv::Reader::from_path(&path).map_err(|e| bad(e.to_string()))?;
            for (row, record) in reader.records().enumerate() {
                let record = record.map_err(|e| bad(e.to_string()))?;
                let number = record
                    .get(0)
                    .and_then(|p| p.strip_prefix("point-"))
                    .and_then(|n| n.parse::<usize>().ok())
                    .ok_or_else(|| bad(format!("row {} has no `point-NNN`", row + 2)))?;
                numbers.insert(record.get(1).unwrap_or_default().to_string(), number);
            }
        }
        Ok(PointIndex { path, numbers })
    }

    /// The number of every point, in grid order: its old one, or the next free one.
    pub fn assign(&mut self, points: &[Vec<Override>]) -> Vec<usize> {
        points
            .iter()
            .map(|point| {
                let identity = identity(point);
                let next = self.numbers.values().max().map_or(0, |n| n + 1);
                *self.numbers.entry(identity).or_insert(next)
            })
            .collect()
    }

    pub fn save(&self) -> Result<(), Error> {
        let mut rows: Vec<(&usize, &String)> = self.numbers.iter().map(|(k, n)| (n, k)).collect();
        rows.sort();
        let mut writer = csv::Writer::from_writer(Vec::new());
        writer
            .write_record(["point", "params"])
            .map_err(std::io::Error::from)?;
        for (n, params) in rows {
            writer
                .write_record([point_name(*n).as_str(), params])
                .map_err(std::io::Error::from)?;
        }
        let bytes = writer
            .into_inner()
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        write_atomic(&self.path, &bytes)?;
        Ok(())
    }
}

/// `point-004`.
pub fn point_name(n: usize) -> String {
    format!("point-{n:03}")
}

/// The point's params as `key=value ...`, keys sorted so flag order does not matter.
fn identity(point: &[Override]) -> String {
    let mut pairs: Vec<String> = point
        .iter()
        .map(|o| format!("{}={}", o.key, display_value(&o.value)))
        .collect();
    pairs.sort();
    pairs.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::SweepGrid;

    fn grid(args: &[&str]) -> Vec<Vec<Override>> {
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        SweepGrid::parse(&args).unwrap().points
    }

    /// A value added to an inner axis keeps every old point's number.
    #[test]
    fn a_grown_grid_keeps_old_numbers_and_appends_new_ones() {
        let tmp = tempfile::tempdir().unwrap();
        let mut index = PointIndex::load(tmp.path()).unwrap();
        assert_eq!(
            index.assign(&grid(&["seed=1..2", "size=1,2"])),
            [0, 1, 2, 3]
        );
        index.save().unwrap();
        let mut index = PointIndex::load(tmp.path()).unwrap();
        assert_eq!(
            index.assign(&grid(&["size=1,2,3", "seed=1..2"])),
            [0, 2, 1, 3, 4, 5],
            "keys in another order are the same points"
        );
    }
}
