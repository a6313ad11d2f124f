//! `Spread`: one metric's figures over the seeds of one configuration
//! (mean, sample standard deviation, range), what the sweep report draws.

#[derive(Debug, Clone, PartialEq)]
pub struct Spread {
    pub n: usize,
    pub mean: f64,
    /// Sample standard deviation (n - 1); 0 for a single seed.
    pub sd: f64,
    pub min: f64,
    pub max: f64,
}

impl Spread {
    /// None when there is no value: a failed point has no figures.
    pub fn of(values: &[f64]) -> Option<Spread> {
        if values.is_empty() {
            return None;
        }
        let n = values.len();
        let mean = values.iter().sum::<f64>() / n as f64;
        let sd = if n > 1 {
            (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt()
        } else {
            0.0
        };
        Some(Spread {
            n,
            mean,
            sd,
            min: values.iter().copied().fold(f64::INFINITY, f64::min),
            max: values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        })
    }
}

/// `15`, `7.0711`: at most four decimals, no trailing zeros.
pub fn fmt_figure(v: f64) -> String {
    let text = format!("{v:.4}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    if text == "-0" {
        "0".into()
    } else {
        text.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Mean, sample sd and range; one value has no spread; none gives None.
    #[test]
    fn spreads() {
        let s = Spread::of(&[10.0, 20.0]).unwrap();
        assert_eq!((s.n, s.mean, s.min, s.max), (2, 15.0, 10.0, 20.0));
        assert_eq!(fmt_figure(s.sd), "7.0711");
        assert_eq!(Spread::of(&[3.0]).unwrap().sd, 0.0);
        assert!(Spread::of(&[]).is_none());
        assert_eq!(fmt_figure(15.0), "15");
    }
}
