//! `scoring`: a logistic-regression risk score for every user-day, and how good it is.
//!
//! The 12 features of `features.rs` are standardized with the training
//! part's mean and (population) standard deviation, as scikit-learn's
//! `StandardScaler` does; a constant feature is left unscaled. The model is an
//! L2 logistic regression with C = 1 and balanced class weights
//! (`w_c = n / (2 n_c)` over the training part), solved exactly by
//! `logistic.rs`, and trained on a stratified 75/25 split: per class, the
//! rows are shuffled with ChaCha8 seeded by the `seed` param and the first
//! round(0.75 n_c) train. risk_score is the predicted probability for every
//! user-day, training and test alike; uncertainty = 1 - 2 |risk - 0.5|.
//! `model_eval.csv` is `ModelEval` (threshold chosen on the training part,
//! the rest measured on the test part).
//!
//! Linear in the user-days: one streamed read, Newton passes over a flat
//! matrix, one streamed write.

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::features::{is_count, UserDays, FEATURES, N_FEATURES};
use super::logistic::{self, Problem};
use super::model_eval::ModelEval;
use crate::execute::{
    open_read_only, Builtin, ParamProblem, StageContext, StageError, StageParams,
};
use crate::stages::fmt_f64;
use crate::StageResult;

pub struct Scoring;

/// C, scikit-learn's inverse regularization strength.
const C: f64 = 1.0;
const TRAIN_FRACTION: f64 = 0.75;

/// A stratified split: for each class (negatives first), a ChaCha8 shuffle of
/// its row indices, of which the first round(0.75 n_c) train. `true` = train.
pub fn stratified_split(labels: &[bool], seed: u64) -> Vec<bool> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut train = vec![false; labels.len()];
    for class in [false, true] {
        let mut idx: Vec<usize> = (0..labels.len()).filter(|&i| labels[i] == class).collect();
        idx.shuffle(&mut rng);
        let n_train = (idx.len() as f64 * TRAIN_FRACTION).round() as usize;
        for &i in &idx[..n_train] {
            train[i] = true;
        }
    }
    train
}

/// Mean and population standard deviation per feature, from the training rows.
#[derive(Debug, Clone, PartialEq)]
pub struct Standardizer {
    mean: [f64; N_FEATURES],
    scale: [f64; N_FEATURES],
}

impl Standardizer {
    pub fn fit<'a>(rows: impl Iterator<Item = &'a [f64; N_FEATURES]> + Clone) -> Standardizer {
        let n = rows.clone().count().max(1) as f64;
        let mut mean = [0.0; N_FEATURES];
        for r in rows.clone() {
            mean.iter_mut().zip(r).for_each(|(m, v)| *m += v);
        }
        mean.iter_mut().for_each(|m| *m /= n);
        let mut var = [0.0; N_FEATURES];
        for r in rows {
            for f in 0..N_FEATURES {
                var[f] += (r[f] - mean[f]).powi(2);
            }
        }
        // A constant feature keeps scale 1, as StandardScaler does.
        let scale = var.map(|v| if v > 0.0 { (v / n).sqrt() } else { 1.0 });
        Standardizer { mean, scale }
    }

    pub fn apply(&self, row: &[f64; N_FEATURES]) -> [f64; N_FEATURES] {
        std::array::from_fn(|f| (row[f] - self.mean[f]) / self.scale[f])
    }
}

/// The model's output for every user-day.
#[derive(Debug, Clone, PartialEq)]
pub struct Scored {
    pub risk: Vec<f64>,
    pub is_train: Vec<bool>,
    pub eval: ModelEval,
}

/// Splits, fits on the training part, scores every row and evaluates.
pub fn score(rows: &UserDays, seed: u64) -> Scored {
    let is_train = stratified_split(&rows.labels, seed);
    let train_rows = || {
        rows.features
            .iter()
            .zip(&is_train)
            .filter(|(_, t)| **t)
            .map(|(r, _)| r)
    };
    let scaler = Standardizer::fit(train_rows());
    let x: Vec<f64> = train_rows().flat_map(|r| scaler.apply(r)).collect();
    let y: Vec<f64> = (0..rows.count())
        .filter(|&i| is_train[i])
        .map(|i| f64::from(u8::from(rows.labels[i])))
        .collect();
    let n_pos = y.iter().filter(|v| **v == 1.0).count();
    let class_weight = |label: f64| {
        let n_c = if label == 1.0 { n_pos } else { y.len() - n_pos };
        // A missing class has no rows to weigh; 1 keeps the formula total.
        if n_c == 0 {
            1.0
        } else {
            y.len() as f64 / (2.0 * n_c as f64)
        }
    };
    let s: Vec<f64> = y.iter().map(|&v| class_weight(v)).collect();
    let model = logistic::fit(&Problem {
        x: &x,
        d: N_FEATURES,
        y: &y,
        s: &s,
        c: C,
    });
    let risk: Vec<f64> = rows
        .features
        .iter()
        .map(|r| model.predict(&scaler.apply(r)))
        .collect();
    let part = |train: bool| -> (Vec<f64>, Vec<bool>) {
        (0..rows.count())
            .filter(|&i| is_train[i] == train)
            .map(|i| (risk[i], rows.labels[i]))
            .unzip()
    };
    let (train_scores, train_labels) = part(true);
    let (test_scores, test_labels) = part(false);
    let eval = ModelEval::new((&train_scores, &train_labels), (&test_scores, &test_labels));
    Scored {
        risk,
        is_train,
        eval,
    }
}

/// 1 at risk 0.5, 0 at risk 0 or 1.
pub fn uncertainty(risk: f64) -> f64 {
    1.0 - 2.0 * (risk - 0.5).abs()
}

fn write_scored(path: &std::path::Path, rows: &UserDays, risk: &[f64]) -> StageResult<()> {
    let file = std::fs::File::create(path).map_err(|source| StageError::Write {
        path: path.to_path_buf(),
        source,
    })?;
    let mut out = csv::Writer::from_writer(std::io::BufWriter::with_capacity(1 << 20, file));
    let mut header = vec!["day", "user_id"];
    header.extend(FEATURES);
    header.extend(["is_abuse_gt", "risk_score", "uncertainty"]);
    out.write_record(&header)?;
    let keys = rows.days.iter().zip(&rows.users);
    let values = rows.features.iter().zip(&rows.labels).zip(risk);
    for ((day, user), ((features, label), risk)) in keys.zip(values) {
        out.write_field(day)?;
        out.write_field(user)?;
        for (f, v) in features.iter().enumerate() {
            if is_count(f) {
                out.write_field((*v as i64).to_string())?;
            } else {
                out.write_field(fmt_f64(*v))?;
            }
        }
        out.write_field(if *label { "1" } else { "0" })?;
        out.write_field(fmt_f64(*risk))?;
        out.write_field(fmt_f64(uncertainty(*risk)))?;
        out.write_record(None::<&[u8]>)?;
    }
    out.flush().map_err(|source| StageError::Write {
        path: path.to_path_buf(),
        source,
    })
}

impl Builtin for Scoring {
    fn name(&self) -> &'static str {
        "scoring"
    }

    fn version(&self) -> &'static str {
        "3"
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
        let rows = UserDays::read(&conn)?;
        drop(conn);
        let scored = score(&rows, seed);
        write_scored(&ctx.out("user_day_scored.csv"), &rows, &scored.risk)?;
        super::table::write_csv(
            &ctx.out("model_eval.csv"),
            &ModelEval::HEADER,
            [scored.eval.record()],
        )
    }
}

#[cfg(test)]
mod tests {
    use super::super::features::tests::user_day_db;
    use super::*;

    /// The split keeps round(75%) of each class in training, the same way for the same seed.
    #[test]
    fn split_is_stratified() {
        let labels: Vec<bool> = (0..100).map(|i| i < 20).collect();
        let train = stratified_split(&labels, 7);
        assert_eq!(train.iter().filter(|t| **t).count(), 75);
        assert_eq!((0..20).filter(|&i| train[i]).count(), 15);
        assert_eq!(train, stratified_split(&labels, 7));
        assert_ne!(train, stratified_split(&labels, 8));
    }

    /// Standardizing uses the population sd and leaves constant features unscaled.
    #[test]
    fn standardizes() {
        let mut a = [5.0; N_FEATURES];
        let mut b = [5.0; N_FEATURES];
        (a[0], b[0]) = (1.0, 3.0);
        let s = Standardizer::fit([a, b].iter());
        assert_eq!(s.apply(&a)[0], -1.0);
        assert_eq!(s.apply(&b)[0], 1.0);
        assert_eq!(s.apply(&a)[1], 0.0);
    }

    /// Uncertainty is 1 at risk 0.5 and 0 at the extremes.
    #[test]
    fn uncertainty_by_hand() {
        assert_eq!(uncertainty(0.5), 1.0);
        assert_eq!(uncertainty(1.0), 0.0);
        assert!((uncertainty(0.8) - 0.4).abs() < 1e-12);
    }

    /// A separable toy world: abusers chat and get blocked far more; the model
    /// ranks them perfectly and the scores are deterministic.
    #[test]
    fn scores_a_separable_world() {
        let rows: Vec<(String, String, [f64; 9], i64)> = (0..80)
            .map(|i| {
                let abuser = i % 8 == 0;
                let v = if abuser {
                    [60.0, 50.0, 9000.0, 12000.0, 900.0, 8.0, 4.0, 2.0, 1.0]
                } else {
                    [
                        6.0 + (i % 5) as f64,
                        3.0,
                        700.0,
                        800.0,
                        600.0,
                        0.0,
                        0.0,
                        1.0,
                        1.0,
                    ]
                };
                (
                    format!("2026-01-{:02}", 1 + i % 4),
                    format!("u_{i:03}"),
                    v,
                    i64::from(abuser),
                )
            })
            .collect();
        let borrowed: Vec<(&str, &str, [f64; 9], i64)> = rows
            .iter()
            .map(|(d, u, v, l)| (d.as_str(), u.as_str(), *v, *l))
            .collect();
        let user_days = UserDays::read(&user_day_db(&borrowed)).unwrap();
        let scored = score(&user_days, 42);
        assert_eq!(scored.eval.roc_auc, 1.0);
        // round(0.75 * 70) = 53 and round(0.75 * 10) = 8 train.
        assert_eq!((scored.eval.n_train, scored.eval.n_test), (61, 19));
        assert_eq!(scored.eval.f1, 1.0);
        for (risk, label) in scored.risk.iter().zip(&user_days.labels) {
            assert_eq!(*risk > 0.5, *label, "{risk}");
        }
        assert_eq!(scored, score(&user_days, 42));
    }
}
