//! The precision-recall curve of the risk score against the ground truth, and
//! the risk-score histogram, over every scored user-day.
//!
//! The curve has one point per distinct score (a threshold at that score):
//! scores are sorted once, descending, and the counts of true and false
//! positives accumulate as the threshold falls, so it is O(n log n) in
//! user-days rather than one pass per threshold. For the chart the points are
//! thinned to at most `MAX_POINTS`, evenly by index, keeping the last one.

pub const MAX_POINTS: usize = 400;

/// (recall, precision) at every distinct threshold, highest threshold first,
/// and the average precision (the step-wise area under the curve).
pub fn curve(scored: &[(f64, bool)]) -> (Vec<(f64, f64)>, f64) {
    let positives = scored.iter().filter(|s| s.1).count();
    if positives == 0 {
        return (Vec::new(), 0.0);
    }
    let mut sorted = scored.to_vec();
    sorted.sort_by(|a, b| b.0.total_cmp(&a.0));
    let (mut tp, mut fp) = (0usize, 0usize);
    let mut points = Vec::new();
    let mut average_precision = 0.0;
    let mut last_recall = 0.0;
    for (i, (score, label)) in sorted.iter().enumerate() {
        if *label {
            tp += 1;
        } else {
            fp += 1;
        }
        // A threshold sits between distinct scores: ties move together.
        if sorted.get(i + 1).is_some_and(|next| next.0 == *score) {
            continue;
        }
        let recall = tp as f64 / positives as f64;
        let precision = tp as f64 / (tp + fp) as f64;
        average_precision += (recall - last_recall) * precision;
        last_recall = recall;
        points.push((recall, precision));
    }
    (points, average_precision)
}

/// At most `max` points, evenly spaced by index, always keeping the last.
pub fn thin(points: &[(f64, f64)], max: usize) -> Vec<(f64, f64)> {
    if points.len() <= max || max < 2 {
        return points.to_vec();
    }
    let step = (points.len() - 1) as f64 / (max - 1) as f64;
    (0..max)
        .map(|k| points[((k as f64 * step).round() as usize).min(points.len() - 1)])
        .collect()
}

/// Counts of scores in `bins` equal-width bins over [0, 1]; 1.0 falls in the last.
pub fn histogram(scores: impl Iterator<Item = f64>, bins: usize) -> Vec<f64> {
    let mut counts = vec![0.0; bins];
    for s in scores {
        let bin = ((s.clamp(0.0, 1.0) * bins as f64) as usize).min(bins - 1);
        counts[bin] += 1.0;
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A known ranking: precision and recall at each distinct threshold, ties together.
    #[test]
    fn curve_by_hand() {
        let scored = [
            (0.9, true),
            (0.8, false),
            (0.8, true),
            (0.3, true),
            (0.1, false),
        ];
        let (points, ap) = curve(&scored);
        let third = 1.0 / 3.0;
        assert_eq!(
            points,
            [
                (third, 1.0),
                (2.0 * third, 2.0 / 3.0),
                (1.0, 0.75),
                (1.0, 0.6)
            ]
        );
        assert!((ap - (third + third * 2.0 / 3.0 + third * 0.75)).abs() < 1e-12);
        assert_eq!(curve(&[(0.5, false)]), (vec![], 0.0));
    }

    /// Thinning keeps the ends and the count; histograms put 1.0 in the last bin.
    #[test]
    fn thin_and_histogram() {
        let points: Vec<(f64, f64)> = (0..1000).map(|i| (i as f64, 0.0)).collect();
        let thinned = thin(&points, 400);
        assert_eq!(thinned.len(), 400);
        assert_eq!((thinned[0].0, thinned[399].0), (0.0, 999.0));
        assert_eq!(
            histogram([0.0, 0.05, 0.5, 1.0].into_iter(), 20),
            [1., 1., 0., 0., 0., 0., 0., 0., 0., 0., 1., 0., 0., 0., 0., 0., 0., 0., 0., 1.]
        );
    }
}
