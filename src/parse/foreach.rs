//! `foreach: GLOB`: one stage per matching file, named `NAME@STEM`.
//!
//! `${item}` (the matched path) and `${stem}` (its file stem) are replaced in
//! every string of the declaration. Matches are sorted, so the expansion is the
//! same on every machine.

use std::path::Path;

/// One match of a foreach pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub path: String,
    pub stem: String,
}

/// Files matching `pattern` under `root`, sorted by path. Folders are skipped.
pub fn expand(root: &Path, pattern: &str) -> Result<Vec<Item>, String> {
    let full = root.join(pattern);
    let full = full.to_str().ok_or("the pattern is not UTF-8")?;
    let mut items = Vec::new();
    for entry in glob::glob(full).map_err(|e| e.to_string())? {
        let path = entry.map_err(|e| e.to_string())?;
        if !path.is_file() {
            continue;
        }
        let rel = path.strip_prefix(root).unwrap_or(&path);
        let stem = rel
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default()
            .to_string();
        items.push(Item {
            path: rel.to_string_lossy().replace('\\', "/"),
            stem,
        });
    }
    items.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(items)
}

/// Replaces `${item}` and `${stem}` in `text`.
pub fn substitute(text: &str, item: &Item) -> String {
    text.replace("${item}", &item.path)
        .replace("${stem}", &item.stem)
}
