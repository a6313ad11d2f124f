//! `SweepGrid`: the points of `tnsflow sweep --set seed=1..8 --set users=1500,15000`.
//!
//! Each `--set KEY=VALUES` takes an inclusive integer range (`1..8`), a comma
//! list (`0.9,0.95`) or one value; the grid is their cartesian product, the
//! first key varying slowest, so point numbers are stable for the same flags.
//!
//! Every point is a distinct set of params: a key given twice (or a key and a
//! key under it, `th` and `th.k`) or a value given twice in one axis
//! (`seed=1,1`, `k=0.1,0.10`) is refused, since two points with the same
//! params would share one `point-NNN` folder and build it at the same time.

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
            let key = key.trim().to_string();
            if let Some(earlier) = keys.iter().find(|k: &&String| overlap(k, &key)) {
                return Err(ConfigError::RepeatedSweepKey {
                    key,
                    earlier: earlier.clone(),
                });
            }
            let mut seen: Vec<Override> = Vec::with_capacity(values.len());
            for value in &values {
                let parsed = Override::parse(&format!("{key}={value}"))?;
                if let Some(first) = seen.iter().find(|o| o.value == parsed.value) {
                    return Err(ConfigError::RepeatedSweepValue {
                        arg: arg.clone(),
                        value: super::readable_value(&first.value),
                    });
                }
                seen.push(parsed);
            }
            keys.push(key);
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

/// Whether two swept keys set the same param: equal, or one under the other
/// (`th` and `th.k`).
fn overlap(a: &str, b: &str) -> bool {
    let under = |inner: &str, outer: &str| {
        inner
            .strip_prefix(outer)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('.'))
    };
    under(a, b) || under(b, a)
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

    /// Two points with the same params are refused: a value twice in an axis
    /// (also when spelt differently), a key twice, a key and a key under it.
    #[test]
    fn refuses_points_that_repeat() {
        let parse = |args: &[&str]| {
            SweepGrid::parse(&args.iter().map(|a| a.to_string()).collect::<Vec<_>>())
        };
        for args in [
            &["seed=1,1"][..],
            &["seed=1,2,1"],
            &["k=0.1,0.10"],
            &["seed=1..3", "seed=4"],
            &["th=1", "th.k=2"],
            &["th.k=2", "th"],
        ] {
            assert!(parse(args).is_err(), "{args:?}");
        }
        assert!(parse(&["th.k=1", "th.kk=2", "t=3"]).is_ok());
        assert!(
            parse(&["seed=1,1.0"]).is_ok(),
            "an integer and a float differ"
        );
    }
}
