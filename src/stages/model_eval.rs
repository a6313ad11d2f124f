//! `ModelEval`: how good the risk model is, as `model_eval.csv` reports it.
//!
//! The threshold is chosen on the training part (the first of 0.10, 0.11,
//! ..., 0.90 with the best F1), and precision, recall, F1 and ROC AUC are
//! measured on the test part, which the model never saw.

use crate::stages::fmt_f64;

/// The one row of `model_eval.csv`.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelEval {
    pub threshold: f64,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    pub roc_auc: f64,
    pub n_train: usize,
    pub n_test: usize,
}

impl ModelEval {
    pub const HEADER: [&'static str; 7] = [
        // The notebook's names: its readers compare the two files.
        "threshold",
        "test_precision",
        "test_recall",
        "test_f1",
        "test_auc",
        "n_train",
        "n_test",
    ];

    /// Picks the threshold on the training scores and measures the test scores.
    pub fn new(train: (&[f64], &[bool]), test: (&[f64], &[bool])) -> ModelEval {
        let threshold = best_threshold(train.0, train.1);
        let (precision, recall, f1) = prf(test.0, test.1, threshold);
        ModelEval {
            threshold,
            precision,
            recall,
            f1,
            roc_auc: roc_auc(test.0, test.1),
            n_train: train.0.len(),
            n_test: test.0.len(),
        }
    }

    pub fn record(&self) -> [String; 7] {
        [
            fmt_f64(self.threshold),
            fmt_f64(self.precision),
            fmt_f64(self.recall),
            fmt_f64(self.f1),
            fmt_f64(self.roc_auc),
            self.n_train.to_string(),
            self.n_test.to_string(),
        ]
    }
}

fn ratio(a: f64, b: f64) -> f64 {
    if b == 0.0 {
        0.0
    } else {
        a / b
    }
}

/// Precision, recall and F1 of `scores >= threshold` against `labels`
/// (0 where a denominator is 0).
pub fn prf(scores: &[f64], labels: &[bool], threshold: f64) -> (f64, f64, f64) {
    let (mut tp, mut fp, mut fn_) = (0u64, 0u64, 0u64);
    for (s, l) in scores.iter().zip(labels) {
        match (*s >= threshold, *l) {
            (true, true) => tp += 1,
            (true, false) => fp += 1,
            (false, true) => fn_ += 1,
            (false, false) => {}
        }
    }
    let precision = ratio(tp as f64, (tp + fp) as f64);
    let recall = ratio(tp as f64, (tp + fn_) as f64);
    (
        precision,
        recall,
        ratio(2.0 * precision * recall, precision + recall),
    )
}

/// The first threshold in 0.10, 0.11, ..., 0.90 with the best F1.
pub fn best_threshold(scores: &[f64], labels: &[bool]) -> f64 {
    let mut best = (0.10, f64::NEG_INFINITY);
    for cents in 10..=90 {
        // cents / 100 rather than repeated addition, so 0.29 is the float 0.29.
        let t = f64::from(cents) / 100.0;
        let f1 = prf(scores, labels, t).2;
        if f1 > best.1 {
            best = (t, f1);
        }
    }
    best.0
}

/// ROC AUC by ranks (ties share their average rank): the probability that a
/// random positive scores above a random negative, ties counting one half.
/// 0.5 when a class is missing.
pub fn roc_auc(scores: &[f64], labels: &[bool]) -> f64 {
    let n_pos = labels.iter().filter(|l| **l).count() as f64;
    let n_neg = labels.len() as f64 - n_pos;
    if n_pos == 0.0 || n_neg == 0.0 {
        return 0.5;
    }
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_unstable_by(|&a, &b| scores[a].total_cmp(&scores[b]).then(a.cmp(&b)));
    let mut pos_ranks = 0.0;
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && scores[order[j + 1]] == scores[order[i]] {
            j += 1;
        }
        // Ranks are 1-based: the tie group i..=j shares the mean of i+1..=j+1.
        let rank = (i + j) as f64 / 2.0 + 1.0;
        let positives = order[i..=j].iter().filter(|&&k| labels[k]).count();
        pos_ranks += rank * positives as f64;
        i = j + 1;
    }
    (pos_ranks - n_pos * (n_pos + 1.0) / 2.0) / (n_pos * n_neg)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// AUC counts ties as half; perfect and inverted rankings give 1 and 0.
    #[test]
    fn roc_auc_by_ranks() {
        // Pairs (pos, neg): (0.35 > 0.1), (0.35 < 0.4), (0.8 > both): 3 of 4.
        assert_eq!(
            roc_auc(&[0.1, 0.4, 0.35, 0.8], &[false, false, true, true]),
            0.75
        );
        assert_eq!(roc_auc(&[0.5, 0.5], &[false, true]), 0.5);
        assert_eq!(roc_auc(&[0.9, 0.1], &[false, true]), 0.0);
        assert_eq!(roc_auc(&[0.9, 0.1], &[true, true]), 0.5);
    }

    /// Precision, recall and F1 at a threshold, with 0 on empty denominators.
    #[test]
    fn precision_recall_f1() {
        let scores = [0.2, 0.6, 0.7, 0.3];
        let labels = [false, true, true, false];
        assert_eq!(prf(&scores, &labels, 0.5), (1.0, 1.0, 1.0));
        // At 0.25: three flagged, two right: p = 2/3, r = 1, f1 = 0.8.
        let (p, r, f1) = prf(&scores, &labels, 0.25);
        assert_eq!((p, r), (2.0 / 3.0, 1.0));
        assert!((f1 - 0.8).abs() < 1e-12);
        assert_eq!(prf(&scores, &labels, 0.95), (0.0, 0.0, 0.0));
    }

    /// The first threshold reaching the best F1 wins.
    #[test]
    fn first_best_threshold() {
        // F1 is 1 from 0.31 to 0.60; the first of them is chosen.
        let scores = [0.2, 0.6, 0.7, 0.3];
        let labels = [false, true, true, false];
        assert_eq!(best_threshold(&scores, &labels), 0.31);
        // Nothing positive: F1 is 0 everywhere, so 0.10.
        assert_eq!(best_threshold(&scores, &[false; 4]), 0.10);
    }
}
