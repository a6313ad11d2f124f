//! `drift`: the population stability index of every model feature, last days
//! against the days before.
//!
//! Reference = all days but the last `drift.current_days`; current = those
//! last days; only with at least 6 days (otherwise every PSI is 0). Bins: 10 at
//! the reference's quantiles (linear interpolation), duplicate edges dropped,
//! at least 3 edges or the PSI is 0; the outer bins are open, so no value
//! falls outside. Proportions are clipped at 1e-6 and
//! psi = sum((a - e) ln(a / e)). drift_flag = psi > `drift.psi_threshold`.
//! Sorted by psi descending, then feature.

use std::collections::BTreeSet;

use super::scoring::FEATURES;
use super::table::{write_csv, Table};
use crate::execute::{Builtin, ParamProblem, StageContext, StageParams};
use crate::stages::fmt_f64;
use crate::StageResult;

pub struct Drift;

/// The q-quantile of sorted values, interpolated linearly (numpy's default).
fn quantile(sorted: &[f64], q: f64) -> f64 {
    let pos = q * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

/// PSI of `current` against `reference`.
pub fn psi(reference: &[f64], current: &[f64]) -> f64 {
    if reference.is_empty() || current.is_empty() {
        return 0.0;
    }
    let mut sorted = reference.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mut edges: Vec<f64> = (0..=10)
        .map(|i| quantile(&sorted, i as f64 / 10.0))
        .collect();
    edges.dedup();
    if edges.len() < 3 {
        return 0.0;
    }
    // Inner edges only: the first and last bins are open.
    let inner = &edges[1..edges.len() - 1];
    let proportions = |values: &[f64]| -> Vec<f64> {
        let mut counts = vec![0.0; inner.len() + 1];
        for v in values {
            counts[inner.partition_point(|e| e <= v)] += 1.0;
        }
        counts
            .iter()
            .map(|c| (c / values.len() as f64).max(1e-6))
            .collect()
    };
    let (e, a) = (proportions(reference), proportions(current));
    e.iter().zip(&a).map(|(e, a)| (a - e) * (a / e).ln()).sum()
}

impl Builtin for Drift {
    fn name(&self) -> &'static str {
        "drift"
    }

    fn version(&self) -> &'static str {
        "1"
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
        let table = Table::read(&ctx.dep("user_day_scored.csv")?)?;
        let day = table.col("day")?;
        let days: BTreeSet<&str> = table.rows.iter().map(|r| r[day].as_str()).collect();
        let current: BTreeSet<&str> = days.iter().rev().take(current_days).copied().collect();
        let enough = days.len() >= 6;
        let mut rows = Vec::new();
        for feature in FEATURES {
            let values = table.floats(feature)?;
            let (mut reference, mut now) = (Vec::new(), Vec::new());
            for (r, v) in table.rows.iter().zip(values) {
                if current.contains(r[day].as_str()) {
                    now.push(v);
                } else {
                    reference.push(v);
                }
            }
            let value = if enough { psi(&reference, &now) } else { 0.0 };
            rows.push((feature, value));
        }
        rows.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(b.0)));
        write_csv(
            &ctx.out("drift_psi.csv"),
            &["feature", "psi", "drift_flag"],
            rows.iter().map(|(f, p)| {
                [
                    f.to_string(),
                    fmt_f64(*p),
                    ((*p > threshold) as u8).to_string(),
                ]
            }),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Identical distributions have PSI 0; a shifted one has a large PSI.
    #[test]
    fn psi_on_known_distributions() {
        let reference: Vec<f64> = (0..1000).map(|i| i as f64).collect();
        assert!(psi(&reference, &reference).abs() < 1e-12);
        let shifted: Vec<f64> = (0..1000).map(|i| i as f64 + 500.0).collect();
        assert!(psi(&reference, &shifted) > 1.0);
    }

    /// Half the current values in one decile bin: PSI by hand.
    #[test]
    fn psi_by_hand() {
        let reference: Vec<f64> = (0..100).map(|i| i as f64).collect();
        let current: Vec<f64> = (0..100)
            .map(|i| if i < 50 { 1.0 } else { i as f64 })
            .collect();
        // Expected 0.1 per bin; current: bin 0 gets 0.5 + 0.05 ... computed from bins.
        let value = psi(&reference, &current);
        let e: f64 = 0.1;
        let a0: f64 = 0.5;
        let by_hand = (a0 - e) * (a0 / e).ln() + 4.0 * (1e-6 - e) * (1e-6 / e).ln() + 5.0 * 0.0;
        assert!((value - by_hand).abs() < 1e-9, "{value} vs {by_hand}");
    }

    /// Constant features have fewer than 3 edges and PSI 0.
    #[test]
    fn constant_feature() {
        assert_eq!(psi(&[1.0; 50], &[2.0; 50]), 0.0);
    }
}
