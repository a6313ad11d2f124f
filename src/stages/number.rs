//! How every export writes a float.
//!
//! Six decimals, trailing zeros trimmed (`0.5`, `1`, `0.123457`): readable, and
//! it absorbs last-bit differences between platforms' `exp`/`ln`, so the same
//! run gives the same bytes on any machine.

/// Formats a float for a CSV export: `format!("{x:.6}")`, trimmed.
pub fn fmt_f64(x: f64) -> String {
    if !x.is_finite() {
        return if x.is_nan() {
            "nan".into()
        } else if x > 0.0 {
            "inf".into()
        } else {
            "-inf".into()
        };
    }
    match micros(x.abs()) {
        Some(m) => from_micros(x.is_sign_negative(), m),
        None => exact(x),
    }
}

/// `|x|` in millionths, rounded, when multiplying in floating point is sure
/// to round as the exact decimal expansion does (`{:.6}`, whose expansion
/// was a sixth of scoring's time at 5 M events): the product is off by at
/// most half an ulp, so only a fraction within that of one half could round
/// the other way.
fn micros(abs: f64) -> Option<u64> {
    let p = abs * 1e6;
    if p >= 1e15 {
        return None;
    }
    let whole = p.floor();
    let frac = p - whole; // exact: p and its floor share their high bits
    if (frac - 0.5).abs() <= p * f64::EPSILON {
        return None;
    }
    Some(whole as u64 + u64::from(frac > 0.5))
}

/// `[-]int[.frac]` from millionths, trailing zeros trimmed; never `-0`.
fn from_micros(negative: bool, m: u64) -> String {
    let mut out = String::with_capacity(24);
    if negative && m != 0 {
        out.push('-');
    }
    out.push_str(itoa::Buffer::new().format(m / 1_000_000));
    let frac = m % 1_000_000;
    if frac != 0 {
        let mut digits = [b'0'; 6];
        let mut rest = frac;
        for d in digits.iter_mut().rev() {
            *d = b'0' + (rest % 10) as u8;
            rest /= 10;
        }
        let end = digits.iter().rposition(|&d| d != b'0').map_or(0, |i| i + 1);
        out.push('.');
        out.push_str(std::str::from_utf8(&digits[..end]).expect("ASCII digits"));
    }
    out
}

/// The exact decimal expansion, for the rare value `micros` cannot place.
fn exact(x: f64) -> String {
    let s = format!("{x:.6}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    match s {
        "-0" | "" => "0".into(),
        s => s.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Floats are rounded to six decimals with trailing zeros trimmed.
    #[test]
    fn formats_floats() {
        assert_eq!(fmt_f64(0.5), "0.5");
        assert_eq!(fmt_f64(1.0), "1");
        assert_eq!(fmt_f64(0.1234567), "0.123457");
        assert_eq!(fmt_f64(-0.0000001), "0");
        assert_eq!(fmt_f64(12.0), "12");
        assert_eq!(fmt_f64(-2.000_05), "-2.00005");
        assert_eq!(fmt_f64(f64::NEG_INFINITY), "-inf");
    }

    /// Exact halves (1/128 is 7812.5 millionths) and values too large for
    /// the shortcut take the exact path, and give what it gives.
    #[test]
    fn ties_and_large_values_round_exactly() {
        for x in [
            0.0078125,
            -0.0078125,
            0.0234375,
            1.0 / 64.0,
            3e9 + 0.5e-6,
            1e300,
            -0.0,
        ] {
            assert_eq!(fmt_f64(x), exact(x), "{x:e}");
        }
        assert!(micros(0.0078125).is_none());
        assert!(micros(1e10).is_none());
    }

    proptest! {
        /// The shortcut agrees with the exact expansion everywhere: any bit
        /// pattern, values near a rounding boundary, and the magnitudes the
        /// exports hold (rates, scores, sums).
        #[test]
        fn agrees_with_the_exact_expansion(
            bits in any::<u64>(),
            micro in -5_000_000_000i64..5_000_000_000,
            nudge in -4i64..=4,
            scale in 0i32..12,
            unit in 0.0f64..1.0,
        ) {
            let near_half = (micro as f64 + 0.5) / 1e6;
            let x = f64::from_bits(near_half.to_bits().wrapping_add_signed(nudge));
            let y = unit * 10f64.powi(scale);
            let finite = [f64::from_bits(bits), near_half, x, y, -y].into_iter().filter(|v| v.is_finite());
            for v in finite {
                prop_assert_eq!(fmt_f64(v), exact(v), "{:e}", v);
            }
        }
    }
}
