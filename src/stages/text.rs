//! Text normalization shared by the review queue, dedup and enforcement.
//!
//! Lowercase, trim, collapse runs of whitespace, and drop every character
//! other than letters, digits, `_`, whitespace and `. , ! ? - : / @`.

pub fn normalize(text: &str) -> String {
    let kept: String = text
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || c.is_whitespace() || "_.,!?-:/@".contains(*c))
        .collect();
    kept.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Case, spacing and punctuation outside the allowed set are normalized away.
    #[test]
    fn normalizes() {
        assert_eq!(
            normalize("  Earn $5000 a WEEK!!  (DM me)\tnow "),
            "earn 5000 a week!! dm me now"
        );
        assert_eq!(normalize("a:b/c@d.e,f?g-h_i"), "a:b/c@d.e,f?g-h_i");
        assert_eq!(normalize(""), "");
    }
}
