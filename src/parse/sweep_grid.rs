//! `SweepGrid`: the points of `tnsflow sweep --set seed=1..8 --set users=1500,15000`.
//!
//! Each `--set KEY=VALUES` takes an inclusive integer range (`1..8`), a comma
//! list (`0.9,0.95`) or one value; the grid is their cartesian product, the
//! first key varying slowest, so point numbers are stable for the same flags.

use super::{ConfigError, Override};
use crate::ConfigResult;

#[derive(Debug, Clone, PartialEq)]
pub struct SweepGrid {
    /// The swept keys, in flag order.
    pub keys: Vec<String>,
    /// One override per key, for every point.
    pub points: Vec<Vec<Override>>,
}

impl SweepGrid {
    pub fn parse(args: &[String]) -> ConfigResult<SweepGrid> {
        let mut keys = Vec::new();
        let mut axes: Vec<Vec<String>> = Vec::new();
        for arg in args {
            let bad = || ConfigError::BadSweep { arg: arg.clone() };
            let (key, values) = arg.split_once('=').ok_or_else(bad)?;
            if let Some((lo, hi)) = range(values).filter(|(lo, hi)| lo > hi) {
                return Err(ConfigError::ReversedSweepRange {
                    arg: arg.clone(),
                    lo,
                    hi,
                });
            }
            let values = expand(values).ok_or_else(bad)?;
            keys.push(key.trim().to_string());
            axes.push(values);
        }
        let mut points: Vec<Vec<Override>> = vec![Vec::new()];
        for (key, values) in keys.iter().zip(&axes) {
            let mut next = Vec::with_capacity(points.len() * values.len());
            for point in &points {
                for value in values {
                    let mut p = point.clone();
                    p.push(Override::parse(&format!("{key}={value}"))?);
                    next.push(p);
                }
            }
            points = next;
        }
        Ok(SweepGrid { keys, points })
    }
}

/// `5..1` -> (5, 1): the bounds of a range, when both are integers.
fn range(values: &str) -> Option<(i64, i64)> {
    let (lo, hi) = values.split_once("..")?;
    Some((lo.trim().parse().ok()?, hi.trim().parse().ok()?))
}

/// `1..3` -> 1, 2, 3; `a,b` -> a, b; `x` -> x. None when malformed.
fn expand(values: &str) -> Option<Vec<String>> {
    if let Some((lo, hi)) = values.split_once("..") {
        let (lo, hi): (i64, i64) = (lo.trim().parse().ok()?, hi.trim().parse().ok()?);
        if lo > hi || hi - lo > 100_000 {
            return None;
        }
        return Some((lo..=hi).map(|v| v.to_string()).collect());
    }
    let values: Vec<String> = values.split(',').map(|v| v.trim().to_string()).collect();
    (!values.iter().any(String::is_empty)).then_some(values)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Ranges and lists expand into a cartesian product, first key slowest.
    #[test]
    fn expands_the_grid() {
        let grid = SweepGrid::parse(&["seed=1..3".into(), "users=10,20".into()]).unwrap();
        assert_eq!(grid.keys, ["seed", "users"]);
        assert_eq!(grid.points.len(), 6);
        let show = |p: &Vec<Override>| {
            p.iter()
                .map(|o| format!("{}={}", o.key, super::super::display_value(&o.value)))
                .collect::<Vec<_>>()
                .join(" ")
        };
        assert_eq!(show(&grid.points[0]), "seed=1 users=10");
        assert_eq!(show(&grid.points[1]), "seed=1 users=20");
        assert_eq!(show(&grid.points[5]), "seed=3 users=20");
        assert!(SweepGrid::parse(&["seed=3..1".into()]).is_err());
        assert!(SweepGrid::parse(&["seed".into()]).is_err());
        assert!(SweepGrid::parse(&["seed=1,,2".into()]).is_err());
    }
}
