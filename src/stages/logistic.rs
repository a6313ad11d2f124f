//! L2-regularized logistic regression, solved exactly by Newton's method.
//!
//! Minimizes, as scikit-learn's `LogisticRegression(C=1)` does,
//! `0.5 * |w|^2 + C * sum_i s_i * logloss(y_i, sigmoid(w.x_i + b))`
//! with the intercept `b` unpenalized and per-row weights `s_i` (class
//! weights). The objective is strictly convex, so Newton with a backtracking
//! line search reaches the unique optimum in a handful of steps. Sums run over
//! fixed-size chunks added in order, so the result is the same for any
//! thread count.

use rayon::prelude::*;

const CHUNK: usize = 8192;

/// A fitted model: weights for the features, then the intercept.
#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    pub weights: Vec<f64>,
    pub intercept: f64,
}

impl Model {
    pub fn predict(&self, x: &[f64]) -> f64 {
        sigmoid(dot(&self.weights, x) + self.intercept)
    }
}

pub fn sigmoid(z: f64) -> f64 {
    if z >= 0.0 {
        1.0 / (1.0 + (-z).exp())
    } else {
        let e = z.exp();
        e / (1.0 + e)
    }
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// `x` rows of `d` features, labels 0/1, row weights, inverse regularization `c`.
pub fn fit(x: &[Vec<f64>], y: &[f64], s: &[f64], c: f64) -> Model {
    let d = x.first().map_or(0, Vec::len);
    let mut theta = vec![0.0; d + 1];
    let objective = |theta: &[f64]| -> f64 {
        let loss: f64 = chunked(x.len(), |range| {
            range
                .map(|i| {
                    let z = dot(&theta[..d], &x[i]) + theta[d];
                    // log(1 + e^z) - y z, computed stably.
                    let softplus = if z > 0.0 {
                        z + (-z).exp().ln_1p()
                    } else {
                        z.exp().ln_1p()
                    };
                    s[i] * (softplus - y[i] * z)
                })
                .sum::<f64>()
        })
        .into_iter()
        .sum();
        0.5 * dot(&theta[..d], &theta[..d]) + c * loss
    };
    for _ in 0..100 {
        let (grad, hess) = gradient_hessian(x, y, s, c, &theta);
        let norm = grad.iter().map(|g| g * g).sum::<f64>().sqrt();
        if norm < 1e-10 {
            break;
        }
        let step = solve(hess, &grad);
        let decrement = dot(&grad, &step);
        if decrement < 1e-9 {
            // Close enough that the objective cannot resolve the change: take
            // the full Newton step, which converges quadratically from here.
            theta.iter_mut().zip(&step).for_each(|(a, b)| *a -= b);
            continue;
        }
        let current = objective(&theta);
        let mut t = 1.0;
        loop {
            let candidate: Vec<f64> = theta.iter().zip(&step).map(|(a, b)| a - t * b).collect();
            if objective(&candidate) <= current - 1e-4 * t * dot(&grad, &step) || t < 1e-10 {
                theta = candidate;
                break;
            }
            t *= 0.5;
        }
    }
    Model {
        weights: theta[..d].to_vec(),
        intercept: theta[d],
    }
}

/// The gradient and Hessian of the objective at `theta`.
#[allow(clippy::needless_range_loop)] // symmetric-matrix code reads best with indices
pub fn gradient_hessian(
    x: &[Vec<f64>],
    y: &[f64],
    s: &[f64],
    c: f64,
    theta: &[f64],
) -> (Vec<f64>, Vec<Vec<f64>>) {
    let d = theta.len() - 1;
    let parts = chunked(x.len(), |range| {
        let mut g = vec![0.0; d + 1];
        let mut h = vec![vec![0.0; d + 1]; d + 1];
        let mut row = vec![1.0; d + 1];
        for i in range {
            row[..d].copy_from_slice(&x[i]);
            let p = sigmoid(dot(&theta[..d], &x[i]) + theta[d]);
            let r = s[i] * (p - y[i]);
            let w = s[i] * p * (1.0 - p);
            for a in 0..=d {
                g[a] += r * row[a];
                for b in 0..=a {
                    h[a][b] += w * row[a] * row[b];
                }
            }
        }
        (g, h)
    });
    let mut grad = vec![0.0; d + 1];
    let mut hess = vec![vec![0.0; d + 1]; d + 1];
    for (g, h) in parts {
        for a in 0..=d {
            grad[a] += c * g[a];
            for b in 0..=a {
                hess[a][b] += c * h[a][b];
            }
        }
    }
    for a in 0..=d {
        for b in 0..a {
            hess[b][a] = hess[a][b];
        }
        if a < d {
            grad[a] += theta[a];
            hess[a][a] += 1.0;
        }
    }
    (grad, hess)
}

/// Runs `f` over fixed chunks of `0..n` in parallel; results in chunk order.
fn chunked<T: Send>(n: usize, f: impl Fn(std::ops::Range<usize>) -> T + Sync) -> Vec<T> {
    (0..n.div_ceil(CHUNK))
        .into_par_iter()
        .map(|k| f(k * CHUNK..((k + 1) * CHUNK).min(n)))
        .collect()
}

/// Solves `a x = b` by Gaussian elimination with partial pivoting.
#[allow(clippy::needless_range_loop)] // elimination reads best with indices
fn solve(mut a: Vec<Vec<f64>>, b: &[f64]) -> Vec<f64> {
    let n = b.len();
    let mut b = b.to_vec();
    for col in 0..n {
        let pivot = (col..n)
            .max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))
            .expect("non-empty range");
        a.swap(col, pivot);
        b.swap(col, pivot);
        let diag = if a[col][col].abs() < 1e-300 {
            1e-300
        } else {
            a[col][col]
        };
        for row in col + 1..n {
            let f = a[row][col] / diag;
            for k in col..n {
                a[row][k] -= f * a[col][k];
            }
            b[row] -= f * b[col];
        }
    }
    let mut x = vec![0.0; n];
    for row in (0..n).rev() {
        let rest: f64 = (row + 1..n).map(|k| a[row][k] * x[k]).sum();
        let diag = if a[row][row].abs() < 1e-300 {
            1e-300
        } else {
            a[row][row]
        };
        x[row] = (b[row] - rest) / diag;
    }
    x
}

#[cfg(test)]
mod tests {
    use super::*;

    /// With no features the optimum is the weighted log-odds of the labels.
    #[test]
    fn intercept_only_matches_closed_form() {
        let x = vec![vec![]; 4];
        let y = [1.0, 0.0, 0.0, 0.0];
        let s = [3.0, 1.0, 1.0, 2.0];
        let model = fit(&x, &y, &s, 1.0);
        // sum s*y / sum s = 3/7, so b = ln(3/4).
        assert!(
            (model.intercept - (3.0f64 / 4.0).ln()).abs() < 1e-9,
            "{}",
            model.intercept
        );
    }

    /// One feature: the optimum satisfies the first-order conditions, found
    /// independently by bisection on the weight with the intercept profiled out.
    #[test]
    fn one_feature_matches_bisection() {
        let x: Vec<Vec<f64>> = [-2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 1.5, 2.0]
            .iter()
            .map(|v| vec![*v])
            .collect();
        let y = [0.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 1.0];
        let s = [1.0; 8];
        let model = fit(&x, &y, &s, 1.0);
        // For a fixed w, the best b solves sum(p - y) = 0; then w solves w + sum((p - y) x) = 0.
        let best_b = |w: f64| {
            let (mut lo, mut hi) = (-50.0, 50.0);
            for _ in 0..200 {
                let mid = (lo + hi) / 2.0;
                let g: f64 = x
                    .iter()
                    .zip(&y)
                    .map(|(xi, yi)| sigmoid(w * xi[0] + mid) - yi)
                    .sum();
                if g > 0.0 {
                    hi = mid
                } else {
                    lo = mid
                }
            }
            (lo + hi) / 2.0
        };
        let dw = |w: f64| {
            let b = best_b(w);
            w + x
                .iter()
                .zip(&y)
                .map(|(xi, yi)| (sigmoid(w * xi[0] + b) - yi) * xi[0])
                .sum::<f64>()
        };
        let (mut lo, mut hi) = (-50.0, 50.0);
        for _ in 0..200 {
            let mid = (lo + hi) / 2.0;
            if dw(mid) > 0.0 {
                hi = mid
            } else {
                lo = mid
            }
        }
        let w = (lo + hi) / 2.0;
        assert!(
            (model.weights[0] - w).abs() < 1e-7,
            "{} vs {w}",
            model.weights[0]
        );
        assert!((model.intercept - best_b(w)).abs() < 1e-7);
    }

    /// On larger random data the gradient vanishes at the solution.
    #[test]
    fn gradient_vanishes_at_the_optimum() {
        let mut state = 12345u64;
        let mut next = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        let x: Vec<Vec<f64>> = (0..20_000)
            .map(|_| (0..5).map(|_| next() * 4.0 - 2.0).collect())
            .collect();
        let y: Vec<f64> = x
            .iter()
            .map(|r| {
                if r[0] + 0.5 * r[1] + next() - 0.5 > 0.3 {
                    1.0
                } else {
                    0.0
                }
            })
            .collect();
        let s: Vec<f64> = y
            .iter()
            .map(|v| if *v == 1.0 { 2.0 } else { 0.7 })
            .collect();
        let model = fit(&x, &y, &s, 1.0);
        let mut theta = model.weights.clone();
        theta.push(model.intercept);
        let (grad, _) = gradient_hessian(&x, &y, &s, 1.0, &theta);
        assert!(grad.iter().all(|g| g.abs() < 1e-6), "{grad:?}");
    }
}
