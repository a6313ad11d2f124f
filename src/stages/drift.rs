//! `drift`: the population stability index of every model feature, the last
//! days against the days before.
//!
//! Reference = all days but the last `drift.current_days` (3); current = those
//! last days; computed only with at least 6 days (otherwise every PSI is 0).
//! Per feature: 11 edges at the reference's deciles (linear interpolation,
//! numpy's default), duplicate edges dropped; fewer than 3 unique edges (a
//! near-constant feature) gives PSI 0. The outer bins are open, so every value
//! falls in a bin; a value equal to an inner edge goes to the bin above it,
//! as numpy.histogram does. Proportions are clipped at 1e-6, and
//! psi = sum((a - e) ln(a / e)) over bins, e the reference's proportion and
//! a the current's. drift_flag = psi > `drift.psi_threshold` (0.2). Rows are
//! sorted by psi descending, then feature name.
//!
//! Worked example: reference 0..=99 has edges 0, 9.9, 19.8, ..., 99 and 10%
//! in each bin; a current half of which is 1.0 (bin 0) and half 50..=99 (bins
//! 5-9, 10% each) has psi = (0.5 - 0.1) ln 5 + 4 (1e-6 - 0.1) ln(1e-5), about 5.25.
//!
//! Linear in the user-days: one streamed pass over the scored export, and
//! deciles by selection rather than sorting.

use std::collections::BTreeMap;

use super::csv_stream::CsvStream;
use super::features::{FEATURES, N_FEATURES};
use super::table::write_csv;
use crate::execute::{Builtin, ParamProblem, StageContext, StageParams};
use crate::stages::fmt_f64;
use crate::StageResult;

pub struct Drift;

const BINS: usize = 10;
const MIN_DAYS: usize = 6;
const MIN_EDGES: usize = 3;
const FLOOR: f64 = 1e-6;

/// The values at sorted positions `positions` (ascending) of `values`, by
/// repeated selection: O(n) per position on a shrinking slice.
fn order_statistics(values: &mut [f64], positions: &[usize]) -> Vec<f64> {
    let mut out = Vec::with_capacity(positions.len());
    let mut rest: &mut [f64] = values;
    let mut offset = 0;
    let mut last: Option<(usize, f64)> = None;
    for &p in positions {
        if let Some((q, v)) = last {
            if q == p {
                out.push(v);
                continue;
            }
        }
        let (_, nth, right) = rest.select_nth_unstable_by(p - offset, f64::total_cmp);
        let v = *nth;
        out.push(v);
        last = Some((p, v));
        offset = p + 1;
        rest = right;
    }
    out
}

/// The 11 decile edges of `values`, interpolated linearly as numpy.quantile does.
fn decile_edges(values: &mut [f64]) -> Vec<f64> {
    let top = (values.len() - 1) as f64;
    let at: Vec<(usize, usize, f64)> = (0..=BINS)
        .map(|i| {
            let pos = top * i as f64 / BINS as f64;
            (pos.floor() as usize, pos.ceil() as usize, pos - pos.floor())
        })
        .collect();
    let mut positions: Vec<usize> = at.iter().flat_map(|&(lo, hi, _)| [lo, hi]).collect();
    positions.sort_unstable();
    positions.dedup();
    let stats = order_statistics(values, &positions);
    let value = |p: usize| stats[positions.binary_search(&p).expect("a requested position")];
    at.iter()
        .map(|&(lo, hi, frac)| value(lo) + (value(hi) - value(lo)) * frac)
        .collect()
}

/// PSI of `current` against `reference` (the reference is reordered in place).
pub fn psi(reference: &mut [f64], current: &[f64]) -> f64 {
    if reference.is_empty() || current.is_empty() {
        return 0.0;
    }
    let mut edges = decile_edges(reference);
    edges.dedup();
    if edges.len() < MIN_EDGES {
        return 0.0;
    }
    // Inner edges only: the first and last bins are open.
    let inner = &edges[1..edges.len() - 1];
    let proportions = |values: &[f64]| -> Vec<f64> {
        let mut counts = vec![0u64; inner.len() + 1];
        for v in values {
            counts[inner.partition_point(|e| e <= v)] += 1;
        }
        counts
            .iter()
            .map(|&c| (c as f64 / values.len() as f64).max(FLOOR))
            .collect()
    };
    let (e, a) = (proportions(reference), proportions(current));
    e.iter().zip(&a).map(|(e, a)| (a - e) * (a / e).ln()).sum()
}

/// Each feature's values, split into the reference and current days.
#[derive(Debug, Default)]
pub struct Split {
    pub reference: Vec<Vec<f64>>,
    pub current: Vec<Vec<f64>>,
    pub n_days: usize,
}

/// Reads the day and feature columns of the scored export in one pass.
fn read_split(path: &std::path::Path, current_days: usize) -> StageResult<Split> {
    let mut stream = CsvStream::open(path)?;
    let day_col = stream.col("day")?;
    let cols: Vec<usize> = FEATURES
        .iter()
        .map(|f| stream.col(f))
        .collect::<StageResult<_>>()?;
    // Days get ids in first-seen order; which are "current" is decided once all are known.
    let mut day_ids: BTreeMap<String, u32> = BTreeMap::new();
    let mut row_day: Vec<u32> = Vec::new();
    let mut values: Vec<Vec<f64>> = vec![Vec::new(); N_FEATURES];
    while stream.advance()? {
        let day = stream.text(day_col)?;
        let next_id = day_ids.len() as u32;
        let id = match day_ids.get(day) {
            Some(id) => *id,
            None => *day_ids.entry(day.to_string()).or_insert(next_id),
        };
        row_day.push(id);
        for (f, &c) in cols.iter().enumerate() {
            values[f].push(stream.number(c)?);
        }
    }
    let mut is_current = vec![false; day_ids.len()];
    for id in day_ids.values().rev().take(current_days) {
        is_current[*id as usize] = true;
    }
    let mut split = Split {
        n_days: day_ids.len(),
        ..Split::default()
    };
    for column in values {
        let (mut reference, mut current) = (Vec::new(), Vec::new());
        for (v, d) in column.into_iter().zip(&row_day) {
            if is_current[*d as usize] {
                current.push(v);
            } else {
                reference.push(v);
            }
        }
        split.reference.push(reference);
        split.current.push(current);
    }
    Ok(split)
}

/// (feature, psi) sorted by psi descending, then feature.
pub fn psi_table(split: &mut Split) -> Vec<(&'static str, f64)> {
    let enough = split.n_days >= MIN_DAYS;
    let mut rows: Vec<(&'static str, f64)> = FEATURES
        .iter()
        .enumerate()
        .map(|(f, name)| {
            let value = if enough {
                psi(&mut split.reference[f], &split.current[f])
            } else {
                0.0
            };
            (*name, value)
        })
        .collect();
    rows.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(b.0)));
    rows
}

impl Builtin for Drift {
    fn name(&self) -> &'static str {
        "drift"
    }

    fn version(&self) -> &'static str {
        "2"
    }

    fn outs(&self) -> &'static [&'static str] {
        &["drift_psi.csv"]
    }

    fn validate(&self, params: &StageParams) -> Result<(), ParamProblem> {
        params.int("drift.current_days", 3, 1..=i64::MAX)?;
        params
            .float("drift.psi_threshold", 0.2, 0.0..=f64::MAX)
            .map(|_| ())
    }

    fn run(&self, ctx: &StageContext) -> StageResult<()> {
        let current_days = ctx.params.int("drift.current_days", 3, 1..=i64::MAX)? as usize;
        let threshold = ctx
            .params
            .float("drift.psi_threshold", 0.2, 0.0..=f64::MAX)?;
        let mut split = read_split(&ctx.dep("user_day_scored.csv")?, current_days)?;
        let rows = psi_table(&mut split);
        write_csv(
            &ctx.out("drift_psi.csv"),
            &["feature", "psi", "drift_flag"],
            rows.iter().map(|(f, p)| {
                [
                    f.to_string(),
                    fmt_f64(*p),
                    u8::from(*p > threshold).to_string(),
                ]
            }),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deciles interpolate linearly between order statistics, like numpy.quantile.
    #[test]
    fn deciles_like_numpy() {
        let mut v: Vec<f64> = (0..100).rev().map(f64::from).collect();
        let edges = decile_edges(&mut v);
        let expected: Vec<f64> = (0..=10).map(|i| 9.9 * f64::from(i)).collect();
        for (a, b) in edges.iter().zip(&expected) {
            assert!((a - b).abs() < 1e-9, "{edges:?}");
        }
        // np.quantile([1, 2, 3, 10], 0.5) = 2.5
        let mut four = vec![10.0, 1.0, 3.0, 2.0];
        assert_eq!(decile_edges(&mut four)[5], 2.5);
    }

    /// Identical distributions have PSI 0; a shifted one has a large PSI.
    #[test]
    fn psi_on_known_distributions() {
        let reference: Vec<f64> = (0..1000).map(f64::from).collect();
        assert!(psi(&mut reference.clone(), &reference).abs() < 1e-12);
        let shifted: Vec<f64> = (0..1000).map(|i| f64::from(i) + 500.0).collect();
        // Edges 0, 99.9, ..., 999: bins 0-4 get none of the current, bins 5-8
        // 10% each (500..=899) and the open top bin 60%.
        let by_hand = 5.0 * (1e-6 - 0.1) * (1e-5f64).ln() + 0.5 * 6f64.ln();
        let value = psi(&mut reference.clone(), &shifted);
        assert!((value - by_hand).abs() < 1e-9, "{value} vs {by_hand}");
    }

    /// The module doc's worked example, by hand.
    #[test]
    fn psi_by_hand() {
        let mut reference: Vec<f64> = (0..100).map(f64::from).collect();
        let current: Vec<f64> = (0..100)
            .map(|i| if i < 50 { 1.0 } else { f64::from(i) })
            .collect();
        let by_hand = (0.5 - 0.1) * 5f64.ln() + 4.0 * (1e-6 - 0.1) * (1e-5f64).ln();
        let value = psi(&mut reference, &current);
        assert!((value - by_hand).abs() < 1e-9, "{value} vs {by_hand}");
        assert!((value - 5.25).abs() < 0.01);
    }

    /// A feature with fewer than 3 unique decile edges has PSI 0; equal values go up a bin.
    #[test]
    fn few_edges_and_ties() {
        assert_eq!(psi(&mut [1.0; 50], &[2.0; 50]), 0.0);
        // Five 0s and five 1s: the median interpolates to 0.5, so edges {0, 0.5, 1}.
        let mut two: Vec<f64> = (0..10).map(|i| f64::from(i % 2)).collect();
        assert!(psi(&mut two, &[1.0; 10]) > 0.0);
        // 95% zeros: edges 0, ..., 0, 1 dedup to {0, 1}: PSI 0.
        let mut mostly: Vec<f64> = (0..100).map(|i| f64::from(u8::from(i >= 95))).collect();
        assert_eq!(psi(&mut mostly, &[1.0; 10]), 0.0);
    }

    /// The table needs 6 days, puts the last `current_days` in current, and sorts by psi.
    #[test]
    fn splits_days_from_the_export() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("user_day_scored.csv");
        let mut text = format!("day,user_id,{}\n", FEATURES.join(","));
        for day in 1..=7 {
            for u in 0..20 {
                // n_chat jumps on the last 3 days; everything else is the same.
                let chat = if day > 4 { 100 + u } else { u };
                let mut values = vec![u.to_string(); N_FEATURES];
                values[1] = chat.to_string();
                text += &format!("2026-01-0{day},u_{u},{}\n", values.join(","));
            }
        }
        std::fs::write(&path, text).unwrap();
        let mut split = read_split(&path, 3).unwrap();
        assert_eq!((split.reference[0].len(), split.current[0].len()), (80, 60));
        let table = psi_table(&mut split);
        assert_eq!(table[0].0, "n_chat");
        assert!(table[0].1 > 10.0);
        assert!(table[1..].iter().all(|(_, p)| p.abs() < 1e-12));
        assert_eq!(table[1].0, "block_rate", "ties sort by feature name");
        let mut short = read_split(&path, 2).unwrap();
        short.n_days = 5;
        assert!(psi_table(&mut short).iter().all(|(_, p)| *p == 0.0));
    }
}
