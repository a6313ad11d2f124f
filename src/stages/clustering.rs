//! `clustering`: group the non-duplicate queue rows by what their prompts say.
//!
//! TF-IDF over recent_prompts, as scikit-learn's `TfidfVectorizer` defaults
//! do it: tokens of two or more word characters, lowercased; unigrams and
//! bigrams; terms in at least 2 rows, at most 5000 of them (most frequent
//! first, ties by term); smooth idf = ln((1 + n) / (1 + df)) + 1; rows
//! L2-normalized. Then k-means with k = min(25, max(2, floor(sqrt(n)))),
//! k-means++ seeding from ChaCha with the `seed` param and Lloyd iterations to
//! convergence (at most 100). Fewer than 10 rows all go to cluster 0.
//! Everything is sequential and ordered, so the output is deterministic.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::{BTreeMap, HashMap};

use super::table::{write_csv, Table};
use crate::execute::{Builtin, ParamProblem, StageContext, StageParams};
use crate::StageResult;

pub struct Clustering;

const MAX_TERMS: usize = 5000;

fn tokens(text: &str) -> Vec<String> {
    let lower = text.to_lowercase();
    let words: Vec<&str> = lower
        .split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .filter(|w| w.chars().count() >= 2)
        .collect();
    let mut terms: Vec<String> = words.iter().map(|w| w.to_string()).collect();
    terms.extend(words.windows(2).map(|p| format!("{} {}", p[0], p[1])));
    terms
}

/// L2-normalized TF-IDF rows (dense; the vocabulary is capped).
pub fn tfidf(docs: &[&str]) -> Vec<Vec<f64>> {
    let docs_terms: Vec<Vec<String>> = docs.iter().map(|d| tokens(d)).collect();
    let mut df: HashMap<&str, usize> = HashMap::new();
    let mut tf_total: HashMap<&str, usize> = HashMap::new();
    for terms in &docs_terms {
        let mut unique: Vec<&str> = terms.iter().map(String::as_str).collect();
        for t in &unique {
            *tf_total.entry(t).or_default() += 1;
        }
        unique.sort_unstable();
        unique.dedup();
        for t in unique {
            *df.entry(t).or_default() += 1;
        }
    }
    let mut vocab: Vec<(&str, usize)> = df
        .iter()
        .filter(|(_, d)| **d >= 2)
        .map(|(t, _)| (*t, tf_total[t]))
        .collect();
    vocab.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    vocab.truncate(MAX_TERMS);
    vocab.sort_by(|a, b| a.0.cmp(b.0));
    let index: HashMap<&str, usize> = vocab
        .iter()
        .enumerate()
        .map(|(i, (t, _))| (*t, i))
        .collect();
    let n = docs.len() as f64;
    let idf: Vec<f64> = vocab
        .iter()
        .map(|(t, _)| ((1.0 + n) / (1.0 + df[t] as f64)).ln() + 1.0)
        .collect();
    docs_terms
        .iter()
        .map(|terms| {
            let mut row = vec![0.0; vocab.len()];
            for t in terms {
                if let Some(&i) = index.get(t.as_str()) {
                    row[i] += 1.0;
                }
            }
            for (v, w) in row.iter_mut().zip(&idf) {
                *v *= w;
            }
            let norm = row.iter().map(|v| v * v).sum::<f64>().sqrt();
            if norm > 0.0 {
                row.iter_mut().for_each(|v| *v /= norm);
            }
            row
        })
        .collect()
}

fn distance(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

/// k-means++ then Lloyd; returns each row's cluster.
pub fn kmeans(rows: &[Vec<f64>], k: usize, seed: u64) -> Vec<usize> {
    let n = rows.len();
    if n == 0 {
        return Vec::new();
    }
    let k = k.min(n);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut centers: Vec<Vec<f64>> = vec![rows[rng.random_range(0..n)].clone()];
    while centers.len() < k {
        let d2: Vec<f64> = rows
            .iter()
            .map(|r| {
                centers
                    .iter()
                    .map(|c| distance(r, c))
                    .fold(f64::MAX, f64::min)
            })
            .collect();
        let total: f64 = d2.iter().sum();
        let next = if total <= 0.0 {
            rng.random_range(0..n)
        } else {
            let mut target = rng.random::<f64>() * total;
            d2.iter()
                .position(|d| {
                    target -= d;
                    target <= 0.0
                })
                .unwrap_or(n - 1)
        };
        centers.push(rows[next].clone());
    }
    let mut assign = vec![usize::MAX; n];
    for _ in 0..100 {
        let mut changed = false;
        for (i, r) in rows.iter().enumerate() {
            let best = (0..centers.len())
                .min_by(|&a, &b| {
                    distance(r, &centers[a])
                        .total_cmp(&distance(r, &centers[b]))
                        .then(a.cmp(&b))
                })
                .expect("k >= 1");
            if assign[i] != best {
                assign[i] = best;
                changed = true;
            }
        }
        if !changed {
            break;
        }
        for (c, center) in centers.iter_mut().enumerate() {
            let members: Vec<&Vec<f64>> = rows
                .iter()
                .zip(&assign)
                .filter(|(_, a)| **a == c)
                .map(|(r, _)| r)
                .collect();
            if members.is_empty() {
                continue;
            }
            for (j, v) in center.iter_mut().enumerate() {
                *v = members.iter().map(|m| m[j]).sum::<f64>() / members.len() as f64;
            }
        }
    }
    assign
}

/// Cluster ids for documents: all 0 below 10 rows, else k-means.
pub fn cluster(docs: &[&str], seed: u64) -> Vec<usize> {
    if docs.len() < 10 {
        return vec![0; docs.len()];
    }
    let k = 25.min(2.max((docs.len() as f64).sqrt().floor() as usize));
    let assign = kmeans(&tfidf(docs), k, seed);
    // Number clusters by first appearance so ids do not depend on seeding order.
    let mut renumber: BTreeMap<usize, usize> = BTreeMap::new();
    let mut next = 0;
    assign
        .iter()
        .map(|a| {
            *renumber.entry(*a).or_insert_with(|| {
                next += 1;
                next - 1
            })
        })
        .collect()
}

impl Builtin for Clustering {
    fn name(&self) -> &'static str {
        "clustering"
    }

    fn version(&self) -> &'static str {
        "1"
    }

    fn outs(&self) -> &'static [&'static str] {
        &["clusters.csv"]
    }

    fn validate(&self, params: &StageParams) -> Result<(), ParamProblem> {
        params.int("seed", 42, 0..=i64::MAX).map(|_| ())
    }

    fn run(&self, ctx: &StageContext) -> StageResult<()> {
        let seed = ctx.params.int("seed", 42, 0..=i64::MAX)? as u64;
        let queue = Table::read(&ctx.dep("review_queue_dedup.csv")?)?;
        let (is_dup, prompts) = (queue.col("is_dup")?, queue.col("recent_prompts")?);
        let rows: Vec<&Vec<String>> = queue.rows.iter().filter(|r| r[is_dup] != "1").collect();
        let docs: Vec<&str> = rows.iter().map(|r| r[prompts].as_str()).collect();
        let clusters = cluster(&docs, seed);
        let mut header: Vec<&str> = queue.header.iter().map(String::as_str).collect();
        header.push("cluster");
        write_csv(
            &ctx.out("clusters.csv"),
            &header,
            rows.iter().zip(clusters).map(|(r, c)| {
                let mut out = (*r).clone();
                out.push(c.to_string());
                out
            }),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two obviously different topics land in two clusters, the same way every time.
    #[test]
    fn separates_topics() {
        let docs: Vec<&str> = (0..12)
            .map(|i| {
                if i % 2 == 0 {
                    "buy cheap followers now | buy cheap followers"
                } else {
                    "write a poem about autumn leaves | poem about leaves"
                }
            })
            .collect();
        let c = cluster(&docs, 42);
        assert!(c.iter().step_by(2).all(|x| *x == c[0]));
        assert!(c.iter().skip(1).step_by(2).all(|x| *x == c[1]));
        assert_ne!(c[0], c[1]);
        assert_eq!(c, cluster(&docs, 42));
        assert_eq!(cluster(&docs[..5], 42), [0; 5]);
    }

    /// Terms in fewer than two documents are dropped; rows are unit length.
    #[test]
    fn tfidf_rows() {
        let rows = tfidf(&["alpha beta", "alpha gamma", "delta"]);
        assert_eq!(rows[0].len(), 1, "only `alpha` is in two documents");
        assert!((rows[0][0] - 1.0).abs() < 1e-12);
        assert_eq!(rows[2], [0.0]);
    }
}
