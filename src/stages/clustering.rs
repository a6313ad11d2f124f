//! `clustering`: group the non-duplicate queue rows by what their prompts say.
//!
//! TF-IDF over recent_prompts, as scikit-learn's `TfidfVectorizer` defaults
//! do it: lowercase; tokens of two or more word characters (letters, digits,
//! `_`); unigrams and bigrams of those tokens; raw term counts; smooth idf =
//! ln((1 + n) / (1 + df)) + 1; rows L2-normalized. Vocabulary: terms in at
//! least 2 rows; when more than 5000 qualify, the 5000 with the highest
//! document frequency, ties by term (scikit-learn ranks by total count
//! instead; document frequency is what a term's reach means here).
//!
//! k-means with k = min(25, max(2, floor(sqrt(n)))): k-means++ seeding from
//! ChaCha8 seeded with the `seed` param, then Lloyd iterations until no row
//! changes cluster (at most 100). A row ties to the lowest-numbered center; a
//! cluster left empty keeps its center. Cluster ids are renumbered by first
//! appearance in queue order, so cluster 0 holds the top-priority row. Fewer
//! than 10 rows all go to cluster 0.
//!
//! Rows are sparse and centers dense, so an iteration costs O(k * nonzeros)
//! and never O(k * n * vocabulary). Everything runs on one thread in a fixed
//! order: the bytes are the same for any `-j`.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::HashMap;

use super::table::{write_csv, Table};
use crate::execute::{Builtin, ParamProblem, StageContext, StageParams};
use crate::StageResult;

pub struct Clustering;

const MAX_TERMS: usize = 5000;
const MIN_DF: usize = 2;
const MIN_ROWS: usize = 10;
const MAX_K: usize = 25;
const MAX_ITERATIONS: usize = 100;

/// A sparse row: (term index, weight), by term index.
pub type SparseRow = Vec<(usize, f64)>;

/// The unigrams and bigrams of one document, in order.
fn terms(text: &str) -> Vec<String> {
    let lower = text.to_lowercase();
    let words: Vec<&str> = lower
        .split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .filter(|w| w.chars().count() >= 2)
        .collect();
    let mut terms: Vec<String> = words.iter().map(|w| w.to_string()).collect();
    terms.extend(words.windows(2).map(|p| format!("{} {}", p[0], p[1])));
    terms
}

/// TF-IDF rows and the vocabulary (sorted terms) they index.
#[derive(Debug, Clone, PartialEq)]
pub struct Tfidf {
    pub vocabulary: Vec<String>,
    pub rows: Vec<SparseRow>,
}

impl Tfidf {
    pub fn new(docs: &[&str]) -> Tfidf {
        let doc_terms: Vec<Vec<String>> = docs.iter().map(|d| terms(d)).collect();
        let mut df: HashMap<&str, usize> = HashMap::new();
        for terms in &doc_terms {
            let mut unique: Vec<&str> = terms.iter().map(String::as_str).collect();
            unique.sort_unstable();
            unique.dedup();
            for t in unique {
                *df.entry(t).or_default() += 1;
            }
        }
        let mut kept: Vec<(&str, usize)> = df.into_iter().filter(|(_, d)| *d >= MIN_DF).collect();
        kept.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        kept.truncate(MAX_TERMS);
        kept.sort_unstable_by(|a, b| a.0.cmp(b.0));
        let index: HashMap<&str, usize> =
            kept.iter().enumerate().map(|(i, (t, _))| (*t, i)).collect();
        let n = docs.len() as f64;
        let idf: Vec<f64> = kept
            .iter()
            .map(|(_, d)| ((1.0 + n) / (1.0 + *d as f64)).ln() + 1.0)
            .collect();
        let rows = doc_terms
            .iter()
            .map(|terms| {
                let mut counts: Vec<usize> = terms
                    .iter()
                    .filter_map(|t| index.get(t.as_str()).copied())
                    .collect();
                counts.sort_unstable();
                let mut row: SparseRow = Vec::new();
                for i in counts {
                    match row.last_mut() {
                        Some((j, c)) if *j == i => *c += 1.0,
                        _ => row.push((i, 1.0)),
                    }
                }
                row.iter_mut().for_each(|(i, v)| *v *= idf[*i]);
                let norm = row.iter().map(|(_, v)| v * v).sum::<f64>().sqrt();
                if norm > 0.0 {
                    row.iter_mut().for_each(|(_, v)| *v /= norm);
                }
                row
            })
            .collect();
        Tfidf {
            vocabulary: kept.iter().map(|(t, _)| t.to_string()).collect(),
            rows,
        }
    }
}

fn squared_norm(row: &SparseRow) -> f64 {
    row.iter().map(|(_, v)| v * v).sum()
}

/// |x - c|^2 = |x|^2 + |c|^2 - 2 x.c, with the norms precomputed.
fn distance(row: &SparseRow, row_norm: f64, center: &[f64], center_norm: f64) -> f64 {
    let dot: f64 = row.iter().map(|(i, v)| v * center[*i]).sum();
    (row_norm + center_norm - 2.0 * dot).max(0.0)
}

fn dense(row: &SparseRow, width: usize) -> Vec<f64> {
    let mut out = vec![0.0; width];
    for (i, v) in row {
        out[*i] = *v;
    }
    out
}

/// k-means++: the first center uniformly, each next one with probability
/// proportional to its squared distance from the nearest center so far.
fn seed_centers(
    rows: &[SparseRow],
    norms: &[f64],
    width: usize,
    k: usize,
    rng: &mut ChaCha8Rng,
) -> Vec<Vec<f64>> {
    let n = rows.len();
    let mut centers = vec![dense(&rows[rng.random_range(0..n)], width)];
    let mut nearest = vec![f64::INFINITY; n];
    while centers.len() < k {
        let last = centers.last().expect("one center at least");
        let last_norm: f64 = last.iter().map(|v| v * v).sum();
        for (i, row) in rows.iter().enumerate() {
            nearest[i] = nearest[i].min(distance(row, norms[i], last, last_norm));
        }
        let total: f64 = nearest.iter().sum();
        let next = if total <= 0.0 {
            // Every row sits on a center: any row will do.
            rng.random_range(0..n)
        } else {
            let mut target = rng.random::<f64>() * total;
            nearest
                .iter()
                .position(|d| {
                    target -= d;
                    target < 0.0
                })
                .unwrap_or_else(|| nearest.iter().rposition(|d| *d > 0.0).unwrap_or(n - 1))
        };
        centers.push(dense(&rows[next], width));
    }
    centers
}

/// k-means++ then Lloyd; each row's cluster (before renumbering).
pub fn kmeans(rows: &[SparseRow], width: usize, k: usize, seed: u64) -> Vec<usize> {
    let n = rows.len();
    if n == 0 {
        return Vec::new();
    }
    let k = k.clamp(1, n);
    let norms: Vec<f64> = rows.iter().map(squared_norm).collect();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut centers = seed_centers(rows, &norms, width, k, &mut rng);
    let mut assign = vec![usize::MAX; n];
    for _ in 0..MAX_ITERATIONS {
        let center_norms: Vec<f64> = centers
            .iter()
            .map(|c| c.iter().map(|v| v * v).sum())
            .collect();
        let mut changed = false;
        for (i, row) in rows.iter().enumerate() {
            let mut best = (0, f64::INFINITY);
            for (c, center) in centers.iter().enumerate() {
                let d = distance(row, norms[i], center, center_norms[c]);
                if d < best.1 {
                    best = (c, d);
                }
            }
            if assign[i] != best.0 {
                assign[i] = best.0;
                changed = true;
            }
        }
        if !changed {
            break;
        }
        let mut sums = vec![vec![0.0; width]; k];
        let mut sizes = vec![0usize; k];
        for (row, &c) in rows.iter().zip(&assign) {
            sizes[c] += 1;
            for (i, v) in row {
                sums[c][*i] += v;
            }
        }
        for ((center, sum), size) in centers.iter_mut().zip(sums).zip(sizes) {
            if size > 0 {
                *center = sum.into_iter().map(|v| v / size as f64).collect();
            }
        }
    }
    assign
}

/// k for n rows: min(25, max(2, floor(sqrt(n)))).
pub fn cluster_count(n: usize) -> usize {
    MAX_K.min(2.max(n.isqrt()))
}

/// Cluster ids for documents: all 0 below 10 rows, else TF-IDF + k-means,
/// numbered by first appearance.
pub fn cluster(docs: &[&str], seed: u64) -> Vec<usize> {
    if docs.len() < MIN_ROWS {
        return vec![0; docs.len()];
    }
    let tfidf = Tfidf::new(docs);
    let assign = kmeans(
        &tfidf.rows,
        tfidf.vocabulary.len(),
        cluster_count(docs.len()),
        seed,
    );
    let mut renumber: HashMap<usize, usize> = HashMap::new();
    assign
        .iter()
        .map(|a| {
            let next = renumber.len();
            *renumber.entry(*a).or_insert(next)
        })
        .collect()
}

impl Builtin for Clustering {
    fn name(&self) -> &'static str {
        "clustering"
    }

    fn version(&self) -> &'static str {
        "3"
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
        // `cluster_id`, the notebook's name for the column.
        header.push("cluster_id");
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

    /// Unigrams and bigrams of tokens with two or more word characters.
    #[test]
    fn tokenizes_like_sklearn() {
        assert_eq!(
            terms("Buy a CHEAP_deal | now!"),
            [
                "buy",
                "cheap_deal",
                "now",
                "buy cheap_deal",
                "cheap_deal now"
            ]
        );
    }

    /// Terms in fewer than two rows are dropped; weights follow smooth idf and rows are unit length.
    #[test]
    fn tfidf_by_hand() {
        let t = Tfidf::new(&["alpha beta", "alpha gamma", "delta", "beta beta"]);
        assert_eq!(t.vocabulary, ["alpha", "beta"]);
        assert_eq!(t.rows[2], []);
        assert_eq!(t.rows[3], [(1, 1.0)]);
        // Row 0: alpha and beta both have df 2, so equal weights: 1/sqrt(2) each.
        let h = 0.5f64.sqrt();
        assert!(t.rows[0].iter().all(|(_, v)| (v - h).abs() < 1e-12));
        // Row with counts 2 and 1 of equal-idf terms: (2, 1) / sqrt(5).
        let t = Tfidf::new(&["x1 x1 y1", "x1 y1"]);
        let r: Vec<f64> = t.rows[0].iter().map(|(_, v)| *v).collect();
        // Terms: x1, y1, "x1 x1" (df 1, dropped), "x1 y1" (df 2).
        assert_eq!(t.vocabulary, ["x1", "x1 y1", "y1"]);
        let norm = (4.0f64 + 1.0 + 1.0).sqrt();
        assert!((r[0] - 2.0 / norm).abs() < 1e-12 && (r[1] - 1.0 / norm).abs() < 1e-12);
    }

    /// Smooth idf: a term in 2 of 4 rows weighs ln(5/3) + 1 against one in all 4 (weight 1).
    #[test]
    fn smooth_idf() {
        let t = Tfidf::new(&["aa bb", "aa bb", "aa", "aa"]);
        let row = &t.rows[0];
        let (aa, bb) = (1.0, (5.0f64 / 3.0).ln() + 1.0);
        let norm = (aa * aa + bb * bb + 0.0f64).sqrt();
        // "aa bb" is a bigram in 2 rows too, with bb's weight.
        let norm = (norm * norm + bb * bb).sqrt();
        assert_eq!(t.vocabulary, ["aa", "aa bb", "bb"]);
        assert!((row[0].1 - aa / norm).abs() < 1e-12);
        assert!((row[2].1 - bb / norm).abs() < 1e-12);
    }

    /// At most 5000 terms: the most widespread, ties by term.
    #[test]
    fn caps_the_vocabulary() {
        let docs: Vec<String> = (0..3)
            .map(|d| {
                let mut words: Vec<String> = (0..3000).map(|i| format!("w{i:04}")).collect();
                if d < 2 {
                    words.push("common".into());
                }
                words.join(" | . ")
            })
            .collect();
        let refs: Vec<&str> = docs.iter().map(String::as_str).collect();
        let t = Tfidf::new(&refs);
        // 3000 unigrams and 2999 bigrams in all 3 rows beat `common` (2 rows);
        // of those 5999, the first 5000 by term are kept.
        assert_eq!(t.vocabulary.len(), 5000);
        assert!(!t.vocabulary.iter().any(|w| w.contains("common")));
        assert_eq!(t.vocabulary[..3], ["w0000", "w0000 w0001", "w0001"]);
        assert_eq!(t.vocabulary[4999], "w2499 w2500");
    }

    /// k by the SPEC rule.
    #[test]
    fn cluster_counts() {
        assert_eq!(cluster_count(10), 3);
        assert_eq!(cluster_count(3), 2);
        assert_eq!(cluster_count(99), 9);
        assert_eq!(cluster_count(2000), 25);
    }

    /// Three obviously different topics land in three clusters, the same way every time.
    #[test]
    fn separates_topics() {
        let topics = [
            "buy cheap followers now | buy cheap followers",
            "write a poem about autumn leaves | poem about leaves",
            "how to bypass the filter | bypass the filter please",
        ];
        let docs: Vec<&str> = (0..15).map(|i| topics[i % 3]).collect();
        let c = cluster(&docs, 42);
        assert_eq!(&c[..3], [0, 1, 2], "numbered by first appearance");
        for (i, x) in c.iter().enumerate() {
            assert_eq!(*x, c[i % 3]);
        }
        assert_eq!(c, cluster(&docs, 42));
        assert_eq!(
            c,
            cluster(&docs, 7),
            "a clear structure does not depend on the seed"
        );
        assert_eq!(cluster(&docs[..9], 42), [0; 9]);
    }

    /// k-means on sparse rows: two tight groups, the empty row with the nearer one.
    #[test]
    fn kmeans_two_groups() {
        let rows: Vec<SparseRow> = vec![
            vec![(0, 1.0)],
            vec![(0, 0.9), (1, 0.1)],
            vec![(2, 1.0)],
            vec![(1, 0.1), (2, 0.9)],
        ];
        let a = kmeans(&rows, 3, 2, 1);
        assert_eq!(a[0], a[1]);
        assert_eq!(a[2], a[3]);
        assert_ne!(a[0], a[2]);
    }
}
