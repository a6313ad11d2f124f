//! What an event's `ts` must be: a UTC time whose first ten characters are
//! its date.
//!
//! Every stage takes an event's day as `substr(ts, 1, 10)` (the core tables,
//! the detections' SQL, the review queue), and SPEC section 6 says the day is
//! the UTC date. So a time with another offset (`01:00:00+02:00` is the
//! previous UTC day) or no date at all (`yesterday`, an epoch number) would
//! put events on a wrong or made-up day in every export; load refuses it
//! instead. Accepted: `2026-01-01T10:00:00Z`, fractions of a second, a space
//! or `t` for the `T`, no zone (taken as UTC), `+00:00`, and a date alone.

/// What load says a bad `ts` should have been.
pub const EXPECTED: &str =
    "a UTC time such as 2026-01-01T10:00:00Z (the day of an event is its UTC date)";

/// Whether `ts` is a UTC time (or a date) as the module comment describes.
pub fn is_utc_time(ts: &[u8]) -> bool {
    let Some((date, rest)) = ts.split_at_checked(10) else {
        return false;
    };
    if !is_date(date) {
        return false;
    }
    let Some((&separator, rest)) = rest.split_first() else {
        return true;
    };
    if !matches!(separator, b'T' | b't' | b' ') {
        return false;
    }
    let Some(rest) = time_of_day(rest) else {
        return false;
    };
    match rest {
        [] | [b'Z' | b'z'] => true,
        [b'+' | b'-', offset @ ..] => {
            matches!(offset, b"00" | b"0000" | b"00:00")
        }
        _ => false,
    }
}

/// `YYYY-MM-DD`, a day that exists.
fn is_date(date: &[u8]) -> bool {
    let [y0, y1, y2, y3, b'-', m0, m1, b'-', d0, d1] = *date else {
        return false;
    };
    let (Some(year), Some(month), Some(day)) = (
        number(&[y0, y1, y2, y3]),
        number(&[m0, m1]),
        number(&[d0, d1]),
    ) else {
        return false;
    };
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days_in_month = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days_in_month).contains(&day)
}

/// `HH:MM`, `HH:MM:SS` or `HH:MM:SS.fff...`; what follows it.
fn time_of_day(text: &[u8]) -> Option<&[u8]> {
    let [h0, h1, b':', m0, m1, rest @ ..] = text else {
        return None;
    };
    if number(&[*h0, *h1])? > 23 || number(&[*m0, *m1])? > 59 {
        return None;
    }
    let [b':', s0, s1, rest @ ..] = rest else {
        return Some(rest);
    };
    // 60: a leap second.
    if number(&[*s0, *s1])? > 60 {
        return None;
    }
    let Some((b'.', fraction)) = rest.split_first() else {
        return Some(rest);
    };
    let digits = fraction.iter().take_while(|b| b.is_ascii_digit()).count();
    (digits > 0).then(|| &fraction[digits..])
}

/// The decimal number the ASCII digits spell; None if one is not a digit.
fn number(digits: &[u8]) -> Option<u32> {
    digits.iter().try_fold(0, |n, &b| {
        b.is_ascii_digit().then(|| n * 10 + u32::from(b - b'0'))
    })
}

#[cfg(test)]
mod tests {
    use super::is_utc_time;

    #[test]
    fn utc_times_and_dates_pass() {
        for ts in [
            "2026-01-01T00:00:13Z",
            "2026-01-01T00:00:13.250Z",
            "2026-01-01 10:00:00",
            "2026-01-01t10:00",
            "2026-01-01T10:00:00+00:00",
            "2026-01-01T10:00:00-0000",
            "2026-01-01T23:59:60Z",
            "2026-01-01",
            "2024-02-29T00:00:00Z",
        ] {
            assert!(is_utc_time(ts.as_bytes()), "{ts}");
        }
    }

    #[test]
    fn other_offsets_and_no_dates_fail() {
        for ts in [
            "2026-01-02T01:00:00+02:00",
            "2026-01-01T22:00:00-05:00",
            "yesterday",
            "1767225600",
            "",
            "2026-1-1T00:00:00Z",
            "2026-13-01T00:00:00Z",
            "2026-02-29T00:00:00Z",
            "2026-04-31",
            "2026-01-01T24:00:00Z",
            "2026-01-01T10:00:00.Z",
            "2026-01-01T10:00:00 UTC",
            "2026-01-01X10:00:00Z",
            "2026-01-01T",
            "２026-01-01",
        ] {
            assert!(!is_utc_time(ts.as_bytes()), "{ts}");
        }
    }
}
