//! `scoring`: user-day features, a logistic-regression risk model, and its evaluation.
//!
//! Features per (day, user), from `core_user_day`: the nine counts and
//! averages, plus block_rate = n_blocked / n_chat, warn_rate = n_warned /
//! n_chat and chat_fraction = n_chat / n_events (0 on zero denominators).
//! The model: features standardized on the training part, an L2 logistic
//! regression with C = 1 (`logistic.rs`), classes weighted inversely to their
//! frequency, trained on a stratified 75/25 split drawn with ChaCha from the
//! `seed` param. The threshold is the value in 0.10, 0.11, ..., 0.90 with the
//! best F1 on the training part (the first maximum wins); `model_eval.csv`
//! reports it with the test part's precision, recall, F1 and ROC AUC.

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::logistic;
use super::table::write_csv;
use crate::execute::{open_read_only, Builtin, ParamProblem, StageContext, StageParams};
use crate::stages::fmt_f64;
use crate::StageResult;

pub struct Scoring;

pub const FEATURES: [&str; 12] = [
    "n_events",
    "n_chat",
    "tokens_in_sum",
    "tokens_out_sum",
    "latency_ms_avg",
    "n_blocked",
    "n_warned",
    "n_ips",
    "n_devices",
    "block_rate",
    "warn_rate",
    "chat_fraction",
];

/// One user-day: its key, features and label.
#[derive(Debug, Clone)]
pub struct UserDay {
    pub day: String,
    pub user_id: String,
    pub features: [f64; 12],
    pub label: bool,
}

fn ratio(a: f64, b: f64) -> f64 {
    if b == 0.0 {
        0.0
    } else {
        a / b
    }
}

/// Precision, recall and F1 of `scores >= threshold` against `labels`.
pub fn prf(scores: &[f64], labels: &[bool], threshold: f64) -> (f64, f64, f64) {
    let (mut tp, mut fp, mut fn_) = (0.0, 0.0, 0.0);
    for (s, l) in scores.iter().zip(labels) {
        match (*s >= threshold, *l) {
            (true, true) => tp += 1.0,
            (true, false) => fp += 1.0,
            (false, true) => fn_ += 1.0,
            _ => {}
        }
    }
    let precision = ratio(tp, tp + fp);
    let recall = ratio(tp, tp + fn_);
    (
        precision,
        recall,
        ratio(2.0 * precision * recall, precision + recall),
    )
}

/// ROC AUC by ranks (ties get their average rank): the probability that a
/// random positive scores above a random negative.
pub fn roc_auc(scores: &[f64], labels: &[bool]) -> f64 {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    let mut ranks = vec![0.0; scores.len()];
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && scores[order[j + 1]] == scores[order[i]] {
            j += 1;
        }
        let rank = (i + j) as f64 / 2.0 + 1.0;
        for k in i..=j {
            ranks[order[k]] = rank;
        }
        i = j + 1;
    }
    let n_pos = labels.iter().filter(|l| **l).count() as f64;
    let n_neg = labels.len() as f64 - n_pos;
    if n_pos == 0.0 || n_neg == 0.0 {
        return 0.5;
    }
    let pos_ranks: f64 = ranks
        .iter()
        .zip(labels)
        .filter(|(_, l)| **l)
        .map(|(r, _)| r)
        .sum();
    (pos_ranks - n_pos * (n_pos + 1.0) / 2.0) / (n_pos * n_neg)
}

/// The first threshold in 0.10..=0.90 (step 0.01) with the best F1.
pub fn best_threshold(scores: &[f64], labels: &[bool]) -> f64 {
    let mut best = (0.10, -1.0);
    for cents in 10..=90 {
        let t = cents as f64 / 100.0;
        let f1 = prf(scores, labels, t).2;
        if f1 > best.1 {
            best = (t, f1);
        }
    }
    best.0
}

/// A stratified split: for each class, a shuffled 75% goes to training.
pub fn stratified_split(labels: &[bool], seed: u64) -> Vec<bool> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut train = vec![false; labels.len()];
    for class in [false, true] {
        let mut idx: Vec<usize> = (0..labels.len()).filter(|&i| labels[i] == class).collect();
        idx.shuffle(&mut rng);
        let n_train = (idx.len() as f64 * 0.75).round() as usize;
        for &i in &idx[..n_train] {
            train[i] = true;
        }
    }
    train
}

/// Fits on the training rows and scores every row.
pub fn score(rows: &[UserDay], seed: u64) -> (Vec<f64>, Vec<bool>) {
    let labels: Vec<bool> = rows.iter().map(|r| r.label).collect();
    let train = stratified_split(&labels, seed);
    let train_rows: Vec<&UserDay> = rows
        .iter()
        .zip(&train)
        .filter(|(_, t)| **t)
        .map(|(r, _)| r)
        .collect();
    let n = train_rows.len().max(1) as f64;
    let mut mean = [0.0; 12];
    let mut sd = [0.0; 12];
    for f in 0..12 {
        mean[f] = train_rows.iter().map(|r| r.features[f]).sum::<f64>() / n;
        let var = train_rows
            .iter()
            .map(|r| (r.features[f] - mean[f]).powi(2))
            .sum::<f64>()
            / n;
        sd[f] = if var > 0.0 { var.sqrt() } else { 1.0 };
    }
    let standardize =
        |r: &UserDay| -> Vec<f64> { (0..12).map(|f| (r.features[f] - mean[f]) / sd[f]).collect() };
    let x: Vec<Vec<f64>> = train_rows.iter().map(|r| standardize(r)).collect();
    let y: Vec<f64> = train_rows.iter().map(|r| r.label as u8 as f64).collect();
    let n_pos = y.iter().sum::<f64>();
    let n_neg = y.len() as f64 - n_pos;
    let weight = |label: f64| {
        let count = if label == 1.0 { n_pos } else { n_neg };
        if count == 0.0 {
            1.0
        } else {
            y.len() as f64 / (2.0 * count)
        }
    };
    let s: Vec<f64> = y.iter().map(|&l| weight(l)).collect();
    let model = logistic::fit(&x, &y, &s, 1.0);
    let scores = rows
        .iter()
        .map(|r| model.predict(&standardize(r)))
        .collect();
    (scores, train)
}

impl Builtin for Scoring {
    fn name(&self) -> &'static str {
        "scoring"
    }

    fn version(&self) -> &'static str {
        "1"
    }

    fn outs(&self) -> &'static [&'static str] {
        &["user_day_scored.csv", "model_eval.csv"]
    }

    fn validate(&self, params: &StageParams) -> Result<(), ParamProblem> {
        params.int("seed", 42, 0..=i64::MAX).map(|_| ())
    }

    fn run(&self, ctx: &StageContext) -> StageResult<()> {
        let seed = ctx.params.int("seed", 42, 0..=i64::MAX)? as u64;
        let conn = open_read_only(&ctx.dep("sqlite.db")?)?;
        let mut stmt = conn.prepare(
            "SELECT day, user_id, n_events, n_chat, tokens_in_sum, tokens_out_sum, latency_ms_avg,
                    n_blocked, n_warned, n_ips, n_devices, is_abuse_gt
             FROM core_user_day ORDER BY day, user_id",
        )?;
        let rows: Vec<UserDay> = stmt
            .query_map([], |r| {
                let mut f = [0.0; 12];
                for (k, slot) in f.iter_mut().take(9).enumerate() {
                    *slot = r.get::<_, f64>(k + 2)?;
                }
                f[9] = ratio(f[5], f[1]);
                f[10] = ratio(f[6], f[1]);
                f[11] = ratio(f[1], f[0]);
                Ok(UserDay {
                    day: r.get(0)?,
                    user_id: r.get(1)?,
                    features: f,
                    label: r.get::<_, i64>(11)? == 1,
                })
            })?
            .collect::<Result<_, _>>()?;

        let (scores, train) = score(&rows, seed);
        let labels: Vec<bool> = rows.iter().map(|r| r.label).collect();
        let pick = |part: bool| -> (Vec<f64>, Vec<bool>) {
            (0..rows.len())
                .filter(|&i| train[i] == part)
                .map(|i| (scores[i], labels[i]))
                .unzip()
        };
        let (train_scores, train_labels) = pick(true);
        let (test_scores, test_labels) = pick(false);
        let threshold = best_threshold(&train_scores, &train_labels);
        let (precision, recall, f1) = prf(&test_scores, &test_labels, threshold);
        let auc = roc_auc(&test_scores, &test_labels);

        let mut header: Vec<&str> = vec!["day", "user_id"];
        header.extend(FEATURES);
        header.extend(["is_abuse_gt", "risk_score", "uncertainty"]);
        write_csv(
            &ctx.out("user_day_scored.csv"),
            &header,
            rows.iter().zip(&scores).map(|(r, &risk)| {
                let mut out = vec![r.day.clone(), r.user_id.clone()];
                out.extend(r.features.iter().enumerate().map(|(k, v)| {
                    if (9..12).contains(&k) || k == 4 {
                        fmt_f64(*v)
                    } else {
                        format!("{}", *v as i64)
                    }
                }));
                out.push((r.label as u8).to_string());
                out.push(fmt_f64(risk));
                out.push(fmt_f64(1.0 - 2.0 * (risk - 0.5).abs()));
                out
            }),
        )?;
        write_csv(
            &ctx.out("model_eval.csv"),
            &[
                "threshold",
                "precision",
                "recall",
                "f1",
                "roc_auc",
                "n_train",
                "n_test",
            ],
            [[
                fmt_f64(threshold),
                fmt_f64(precision),
                fmt_f64(recall),
                fmt_f64(f1),
                fmt_f64(auc),
                train_scores.len().to_string(),
                test_scores.len().to_string(),
            ]],
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// AUC counts ties as half; perfect and inverted rankings give 1 and 0.
    #[test]
    fn roc_auc_by_ranks() {
        assert_eq!(
            roc_auc(&[0.1, 0.4, 0.35, 0.8], &[false, false, true, true]),
            0.75
        );
        assert_eq!(roc_auc(&[0.5, 0.5], &[false, true]), 0.5);
        assert_eq!(roc_auc(&[0.9, 0.1], &[false, true]), 0.0);
    }

    /// Precision, recall and F1 at a threshold; the first best threshold wins.
    #[test]
    fn thresholds() {
        let scores = [0.2, 0.6, 0.7, 0.3];
        let labels = [false, true, true, false];
        assert_eq!(prf(&scores, &labels, 0.5), (1.0, 1.0, 1.0));
        assert_eq!(best_threshold(&scores, &labels), 0.31);
    }

    /// The split keeps 75% of each class in training.
    #[test]
    fn split_is_stratified() {
        let labels: Vec<bool> = (0..100).map(|i| i < 20).collect();
        let train = stratified_split(&labels, 7);
        assert_eq!(train.iter().filter(|t| **t).count(), 75);
        assert_eq!((0..20).filter(|&i| train[i]).count(), 15);
        assert_eq!(train, stratified_split(&labels, 7));
    }
}
