//! `foreach: GLOB`: one stage per matching file, named `NAME@STEM`.
//!
//! `${item}` (the matched path) and `${stem}` (its file stem) are replaced in
//! every string of the declaration; in `cmd` each is quoted as one shell word.
//! Matches are sorted, so the expansion is the same on every machine.

use std::path::Path;

use super::shell_word::shell_word;
use super::workspace_glob::{workspace_glob, WorkspaceGlobError};

/// One match of a foreach pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub path: String,
    pub stem: String,
}

impl Item {
    fn value(&self, name: &str) -> &str {
        match name {
            "item" => &self.path,
            _ => &self.stem,
        }
    }
}

/// Files matching `pattern` under `root`, sorted by path. Folders are skipped.
pub fn expand(root: &Path, pattern: &str) -> Result<Vec<Item>, WorkspaceGlobError> {
    let mut items = Vec::new();
    for entry in workspace_glob(root, pattern, glob::MatchOptions::new())? {
        let path = entry?;
        if !path.is_file() {
            continue;
        }
        let rel = path.strip_prefix(root).unwrap_or(&path);
        let stem = rel
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default()
            .to_string();
        // The file as named: on Unix `\` is a character of a file name, not
        // a separator to rewrite.
        items.push(Item {
            path: rel.to_string_lossy().into_owned(),
            stem,
        });
    }
    items.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(items)
}

/// Replaces `${item}` and `${stem}` in a path (`sql`, `db`, `deps`, `outs`).
pub fn substitute(text: &str, item: &Item) -> String {
    replace(text, false, |name| item.value(name).to_string())
}

/// Replaces `${item}` and `${stem}` in a `cmd`, each as one quoted shell word.
///
/// A `${` inside the value is written `$${`, so that the later `${param}`
/// pass gives it back as text instead of reading a param name in a file name;
/// `$${item}` is the user's escape and stays as written.
pub fn substitute_in_cmd(cmd: &str, item: &Item) -> String {
    replace(cmd, true, |name| {
        shell_word(item.value(name))
            .expect("a file path holds no NUL")
            .replace("${", "$${")
    })
}

/// One pass over `text`: a value put in is never searched again.
fn replace(text: &str, honour_escape: bool, value_of: impl Fn(&str) -> String) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("${") {
        let after = &rest[at + 2..];
        let escaped = honour_escape && at > 0 && rest.as_bytes()[at - 1] == b'$';
        let name = ["item", "stem"]
            .into_iter()
            .find(|n| after.starts_with(n) && after[n.len()..].starts_with('}'));
        out.push_str(&rest[..at]);
        match name {
            Some(name) if !escaped => {
                out.push_str(&value_of(name));
                rest = &after[name.len() + 1..];
            }
            _ => {
                out.push_str("${");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(path: &str, stem: &str) -> Item {
        Item {
            path: path.into(),
            stem: stem.into(),
        }
    }

    /// Paths get the values as they are; a value is never substituted again.
    #[test]
    fn substitutes_paths_as_text() {
        let it = item("data/${stem}.txt", "${stem}");
        assert_eq!(
            substitute("out/${stem}.csv <- ${item}", &it),
            "out/${stem}.csv <- data/${stem}.txt"
        );
        assert_eq!(substitute("${items} ${x}", &it), "${items} ${x}");
    }

    /// A cmd gets one shell word per value, with `${` kept as text for the
    /// param pass, and `$${item}` left to the user.
    #[test]
    fn substitutes_cmds_as_shell_words() {
        let it = item("data/x;touch INJECTED;.txt", "x;touch INJECTED;");
        assert_eq!(
            substitute_in_cmd("cat ${item} > out/${stem}.txt", &it),
            "cat 'data/x;touch INJECTED;.txt' > out/'x;touch INJECTED;'.txt"
        );
        assert_eq!(
            substitute_in_cmd("cat ${item} $${item}", &item("a/b.txt", "b")),
            "cat a/b.txt $${item}"
        );
        assert_eq!(
            substitute_in_cmd("cat ${item}", &item("a/${seed}.txt", "${seed}")),
            "cat 'a/$${seed}.txt'"
        );
        let cmd = substitute_in_cmd("cat ${item}", &item("a/${seed}.txt", "${seed}"));
        assert_eq!(super::super::pipeline::cmd_refs(&cmd), Vec::<&str>::new());
    }
}
