//! L2-regularized logistic regression, solved exactly by Newton's method.
//!
//! Minimizes, as scikit-learn's `LogisticRegression(C=c)` does,
//!
//! ```text
//! 0.5 * |w|^2 + c * sum_i s_i * (ln(1 + e^z_i) - y_i z_i),   z_i = w.x_i + b
//! ```
//!
//! with the intercept `b` unpenalized and per-row weights `s_i` (class
//! weights). The objective is strictly convex in `w` and, with both classes
//! present, in `b`, so Newton with a backtracking line search reaches the
//! unique optimum in a handful of steps: the answer is the optimum itself,
//! not an approximation that depends on a learning rate or a tolerance.
//!
//! The design matrix is flat (row-major, `d` columns), so 1.5 million rows of
//! 12 features cost one allocation. Sums run over fixed-size chunks in
//! parallel and are added in chunk order, so the result is bit-identical for
//! any thread count.

use rayon::prelude::*;

/// Rows per parallel chunk: fixed, so the order of float additions is too.
const CHUNK: usize = 8192;
/// Newton converges in 5-10 steps on our data; this only guards degenerate input.
const MAX_STEPS: usize = 100;

/// A fitted model: one weight per feature, and the intercept.
#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    pub weights: Vec<f64>,
    pub intercept: f64,
}

impl Model {
    /// The predicted probability of class 1.
    pub fn predict(&self, x: &[f64]) -> f64 {
        sigmoid(dot(&self.weights, x) + self.intercept)
    }
}

/// Training data: `x` holds `y.len()` rows of `d` features, row-major.
#[derive(Debug, Clone, Copy)]
pub struct Problem<'a> {
    pub x: &'a [f64],
    pub d: usize,
    /// Labels, 0 or 1.
    pub y: &'a [f64],
    /// Row weights.
    pub s: &'a [f64],
    /// Inverse regularization strength.
    pub c: f64,
}

pub fn sigmoid(z: f64) -> f64 {
    if z >= 0.0 {
        1.0 / (1.0 + (-z).exp())
    } else {
        let e = z.exp();
        e / (1.0 + e)
    }
}

/// ln(1 + e^z) without overflow.
fn softplus(z: f64) -> f64 {
    if z > 0.0 {
        z + (-z).exp().ln_1p()
    } else {
        z.exp().ln_1p()
    }
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// The objective, its gradient and its Hessian (packed lower triangle) at one point.
struct Evaluation {
    objective: f64,
    gradient: Vec<f64>,
    hessian: Vec<f64>,
}

/// Index of (a, b), b <= a, in a packed lower triangle.
fn packed(a: usize, b: usize) -> usize {
    a * (a + 1) / 2 + b
}

impl Problem<'_> {
    fn rows(&self) -> usize {
        self.y.len()
    }

    fn row(&self, i: usize) -> &[f64] {
        &self.x[i * self.d..(i + 1) * self.d]
    }

    fn z(&self, theta: &[f64], i: usize) -> f64 {
        dot(&theta[..self.d], self.row(i)) + theta[self.d]
    }

    fn penalty(&self, theta: &[f64]) -> f64 {
        0.5 * dot(&theta[..self.d], &theta[..self.d])
    }

    /// The objective alone: what the line search needs.
    pub fn objective(&self, theta: &[f64]) -> f64 {
        let loss: f64 = chunked(self.rows(), |range| {
            range
                .map(|i| {
                    let z = self.z(theta, i);
                    self.s[i] * (softplus(z) - self.y[i] * z)
                })
                .sum::<f64>()
        })
        .into_iter()
        .sum();
        self.penalty(theta) + self.c * loss
    }

    /// The gradient of the objective (weights, then intercept).
    #[cfg(test)]
    pub fn gradient(&self, theta: &[f64]) -> Vec<f64> {
        self.evaluate(theta).gradient
    }

    fn evaluate(&self, theta: &[f64]) -> Evaluation {
        let d = self.d;
        let n_packed = packed(d, d) + 1;
        let parts = chunked(self.rows(), |range| {
            let mut loss = 0.0;
            let mut g = vec![0.0; d + 1];
            let mut h = vec![0.0; n_packed];
            // The row with the intercept's constant 1 appended.
            let mut xe = vec![1.0; d + 1];
            for i in range {
                xe[..d].copy_from_slice(self.row(i));
                let z = self.z(theta, i);
                let p = sigmoid(z);
                loss += self.s[i] * (softplus(z) - self.y[i] * z);
                let r = self.s[i] * (p - self.y[i]);
                let w = self.s[i] * p * (1.0 - p);
                for (a, (&va, ga)) in xe.iter().zip(g.iter_mut()).enumerate() {
                    *ga += r * va;
                    let wa = w * va;
                    let base = packed(a, 0);
                    for (hab, &vb) in h[base..=base + a].iter_mut().zip(&xe[..=a]) {
                        *hab += wa * vb;
                    }
                }
            }
            (loss, g, h)
        });
        let mut eval = Evaluation {
            objective: self.penalty(theta),
            gradient: theta[..d].iter().copied().chain([0.0]).collect(),
            hessian: vec![0.0; n_packed],
        };
        for a in 0..d {
            eval.hessian[packed(a, a)] = 1.0;
        }
        for (loss, g, h) in parts {
            eval.objective += self.c * loss;
            eval.gradient
                .iter_mut()
                .zip(&g)
                .for_each(|(t, v)| *t += self.c * v);
            eval.hessian
                .iter_mut()
                .zip(&h)
                .for_each(|(t, v)| *t += self.c * v);
        }
        eval
    }
}

/// Fits the model: Newton steps with backtracking until the step vanishes.
pub fn fit(problem: &Problem) -> Model {
    let d = problem.d;
    let mut theta = vec![0.0; d + 1];
    for _ in 0..MAX_STEPS {
        let eval = problem.evaluate(&theta);
        let step = solve_packed(&eval.hessian, &eval.gradient);
        // The Newton decrement: twice the decrease a full step predicts.
        let decrement = dot(&eval.gradient, &step);
        let size = step.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        let magnitude = theta.iter().fold(1.0f64, |m, v| m.max(v.abs()));
        // Steps shrink quadratically near the optimum; stop once one is at
        // rounding level (or the model is as good as the data can tell).
        if decrement.is_nan() || decrement <= 0.0 || size <= 1e-12 * magnitude {
            break;
        }
        let mut t = 1.0;
        // Close to the optimum the objective cannot resolve the decrease any
        // more; there a full step is safe (the quadratic convergence region).
        if decrement > 1e-9 * (1.0 + eval.objective.abs()) {
            while t > 1e-12 {
                let candidate: Vec<f64> = theta.iter().zip(&step).map(|(a, b)| a - t * b).collect();
                if problem.objective(&candidate) <= eval.objective - 1e-4 * t * decrement {
                    break;
                }
                t *= 0.5;
            }
        }
        theta.iter_mut().zip(&step).for_each(|(a, b)| *a -= t * b);
    }
    Model {
        weights: theta[..d].to_vec(),
        intercept: theta[d],
    }
}

/// Runs `f` over fixed chunks of `0..n` in parallel; results in chunk order.
fn chunked<T: Send>(n: usize, f: impl Fn(std::ops::Range<usize>) -> T + Sync) -> Vec<T> {
    (0..n.div_ceil(CHUNK))
        .into_par_iter()
        .map(|k| f(k * CHUNK..((k + 1) * CHUNK).min(n)))
        .collect()
}

/// Solves `H x = g` for a symmetric positive definite `H` given as a packed
/// lower triangle, by Cholesky. A pivot that is not positive (only possible
/// when one class is missing and the intercept runs off) is floored, which
/// keeps the step finite.
fn solve_packed(h: &[f64], g: &[f64]) -> Vec<f64> {
    let n = g.len();
    let mut l = vec![0.0; h.len()];
    for a in 0..n {
        for b in 0..=a {
            let mut v = h[packed(a, b)];
            for k in 0..b {
                v -= l[packed(a, k)] * l[packed(b, k)];
            }
            l[packed(a, b)] = if a == b {
                v.max(1e-12).sqrt()
            } else {
                v / l[packed(b, b)]
            };
        }
    }
    // L y = g, then L^T x = y.
    let mut y = vec![0.0; n];
    for a in 0..n {
        let rest: f64 = (0..a).map(|k| l[packed(a, k)] * y[k]).sum();
        y[a] = (g[a] - rest) / l[packed(a, a)];
    }
    let mut x = vec![0.0; n];
    for a in (0..n).rev() {
        let rest: f64 = (a + 1..n).map(|k| l[packed(k, a)] * x[k]).sum();
        x[a] = (y[a] - rest) / l[packed(a, a)];
    }
    x
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fit_rows(x: &[Vec<f64>], y: &[f64], s: &[f64]) -> Model {
        let d = x.first().map_or(0, Vec::len);
        let flat: Vec<f64> = x.concat();
        fit(&Problem {
            x: &flat,
            d,
            y,
            s,
            c: 1.0,
        })
    }

    /// With no features the optimum is the weighted log-odds of the labels.
    #[test]
    fn intercept_only_matches_closed_form() {
        let x = vec![vec![]; 4];
        let y = [1.0, 0.0, 0.0, 0.0];
        let s = [3.0, 1.0, 1.0, 2.0];
        let model = fit_rows(&x, &y, &s);
        // sum s*y / sum s = 3/7, so b = ln(3/4).
        assert!(
            (model.intercept - (3.0f64 / 4.0).ln()).abs() < 1e-12,
            "{}",
            model.intercept
        );
    }

    /// One feature: the optimum matches one found independently, by bisection
    /// on the weight with the intercept profiled out.
    #[test]
    fn one_feature_matches_bisection() {
        let x: Vec<Vec<f64>> = [-2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 1.5, 2.0]
            .iter()
            .map(|v| vec![*v])
            .collect();
        let y = [0.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 1.0];
        let s = [1.0, 1.0, 2.0, 1.0, 2.0, 1.0, 2.0, 2.0];
        let model = fit_rows(&x, &y, &s);
        let bisect = |f: &dyn Fn(f64) -> f64| {
            let (mut lo, mut hi) = (-50.0, 50.0);
            for _ in 0..200 {
                let mid: f64 = (lo + hi) / 2.0;
                if f(mid) > 0.0 {
                    hi = mid
                } else {
                    lo = mid
                }
            }
            (lo + hi) / 2.0
        };
        // For a fixed w the best b solves sum s (p - y) = 0 (increasing in b);
        // then w solves w + sum s (p - y) x = 0 (increasing in w).
        let best_b = |w: f64| {
            bisect(&|b| {
                (0..8)
                    .map(|i| s[i] * (sigmoid(w * x[i][0] + b) - y[i]))
                    .sum()
            })
        };
        let w = bisect(&|w| {
            let b = best_b(w);
            w + (0..8)
                .map(|i| s[i] * (sigmoid(w * x[i][0] + b) - y[i]) * x[i][0])
                .sum::<f64>()
        });
        assert!(
            (model.weights[0] - w).abs() < 1e-9,
            "{} vs {w}",
            model.weights[0]
        );
        assert!((model.intercept - best_b(w)).abs() < 1e-9);
    }

    /// A worked optimum: for x = (-1, 1), y = (0, 1), unit weights, symmetry
    /// gives b = 0 and w solving w = 2 (1 - sigmoid(w)), about 0.68.
    #[test]
    fn symmetric_pair() {
        let model = fit_rows(&[vec![-1.0], vec![1.0]], &[0.0, 1.0], &[1.0, 1.0]);
        let w = model.weights[0];
        assert!(model.intercept.abs() < 1e-12);
        assert!((w - 2.0 * (1.0 - sigmoid(w))).abs() < 1e-12, "{w}");
        assert!((w - 0.68).abs() < 0.01, "{w}");
    }

    /// On larger random data the gradient vanishes at the solution, and the
    /// fit is the same bits however many threads rayon has.
    #[test]
    fn gradient_vanishes_at_the_optimum() {
        let mut state = 12345u64;
        let mut next = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        let x: Vec<f64> = (0..20_000 * 5).map(|_| next() * 4.0 - 2.0).collect();
        let y: Vec<f64> = x
            .chunks(5)
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
        let problem = Problem {
            x: &x,
            d: 5,
            y: &y,
            s: &s,
            c: 1.0,
        };
        let model = fit(&problem);
        let mut theta = model.weights.clone();
        theta.push(model.intercept);
        let grad = problem.gradient(&theta);
        assert!(grad.iter().all(|g| g.abs() < 1e-8), "{grad:?}");
        let one_thread = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap()
            .install(|| fit(&problem));
        assert_eq!(one_thread, model);
    }

    /// Cholesky solves a small symmetric system exactly.
    #[test]
    fn solves_packed_systems() {
        // [[4, 2], [2, 3]] x = [2, 1] -> x = [0.5, 0].
        let x = solve_packed(&[4.0, 2.0, 3.0], &[2.0, 1.0]);
        assert!((x[0] - 0.5).abs() < 1e-15 && x[1].abs() < 1e-15, "{x:?}");
    }
}
