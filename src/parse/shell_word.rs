//! Values substituted into a `cmd` become exactly one `sh` word.
//!
//! `${item}`, `${stem}` and `${param}` are data: a file named
//! `x;touch INJECTED;.txt`, `a b.txt` or `it's.txt`, or a param holding `;`,
//! must reach the command as that text and never as shell syntax (issue 10,
//! item 11). Plain words (`data/a.txt`, `0.95`) stay bare, so the common
//! commands read as before.

/// `text` quoted for `sh`; None when it holds a NUL, which no shell word can.
pub fn shell_word(text: &str) -> Option<String> {
    shlex::try_quote(text).ok().map(|q| q.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    /// Every quoted value comes back from `sh` as the same single argument.
    #[test]
    fn quoted_values_are_one_word_for_sh() {
        assert_eq!(shell_word("data/a.txt").as_deref(), Some("data/a.txt"));
        assert_eq!(shell_word("0.95").as_deref(), Some("0.95"));
        assert_eq!(shell_word("\0"), None);
        let values = [
            "x;touch INJECTED;",
            "a b",
            "it's",
            "$HOME `id` \"q\" \\ * ? [1] # ~ %",
            "",
            "line\nbreak",
        ];
        for value in values {
            let word = shell_word(value).unwrap();
            let out = Command::new("sh")
                .arg("-c")
                .arg(format!("printf '%s|' {word}"))
                .output()
                .unwrap();
            assert_eq!(String::from_utf8_lossy(&out.stdout), format!("{value}|"));
        }
    }
}
