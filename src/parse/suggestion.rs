//! "Did you mean" for misspelt names, as just's `suggestion.rs` does.

/// The candidate closest to `name`, when it is close enough to be a likely typo.
pub fn suggest<'a, I>(name: &str, candidates: I) -> Option<String>
where
    I: IntoIterator<Item = &'a str>,
{
    candidates
        .into_iter()
        .map(|c| (strsim::damerau_levenshtein(name, c), c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 3) && *d < c.len().max(name.len()))
        .min_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(b.1)))
        .map(|(_, c)| c.to_string())
}

/// `Some("did you mean `x`?")` when a suggestion exists.
pub fn did_you_mean<'a, I>(name: &str, candidates: I) -> Option<String>
where
    I: IntoIterator<Item = &'a str>,
{
    suggest(name, candidates).map(|s| format!("did you mean `{s}`?"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A one-letter typo finds its key; an unrelated word finds nothing.
    #[test]
    fn suggests_close_names_only() {
        let keys = ["deps", "outs", "params", "cmd"];
        assert_eq!(suggest("dpes", keys), Some("deps".into()));
        assert_eq!(suggest("zzzzzzz", keys), None);
    }
}
