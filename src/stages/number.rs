//! How every export writes a float.
//!
//! Six decimals, trailing zeros trimmed (`0.5`, `1`, `0.123457`): readable, and
//! it absorbs last-bit differences between platforms' `exp`/`ln`, so the same
//! run gives the same bytes on any machine.

/// Formats a float for a CSV export.
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

    /// Floats are rounded to six decimals with trailing zeros trimmed.
    #[test]
    fn formats_floats() {
        assert_eq!(fmt_f64(0.5), "0.5");
        assert_eq!(fmt_f64(1.0), "1");
        assert_eq!(fmt_f64(0.1234567), "0.123457");
        assert_eq!(fmt_f64(-0.0000001), "0");
        assert_eq!(fmt_f64(12.0), "12");
    }
}
