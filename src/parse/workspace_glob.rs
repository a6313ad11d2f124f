//! Globs matched inside the workspace, whatever its own path holds.
//!
//! `glob::glob` takes one pattern, so joining the workspace path and a
//! relative pattern would read the workspace path as a pattern too: in a
//! folder named `ws?[1]*`, `data/*.txt` would match nothing there (`[1]` is
//! a class) and would match `wsX1/data/*.txt` beside it (issue 10, item 1).
//! The workspace part is escaped, so only the pattern the user wrote is one.

use std::path::{Path, PathBuf};

/// Why a workspace glob could not be matched; each names what is at fault.
#[derive(Debug, thiserror::Error)]
pub enum WorkspaceGlobError {
    #[error("the workspace path {} is not UTF-8", root.display())]
    NotUtf8 { root: PathBuf },

    #[error(transparent)]
    Pattern(#[from] glob::PatternError),

    /// A folder on the way could not be read (glob names the path).
    #[error(transparent)]
    Walk(#[from] glob::GlobError),
}

/// The paths matching `pattern` under `root`, in glob's order (an error
/// for an invalid pattern). A pattern that is absolute is used as written
/// (a dep outside the workspace).
pub fn workspace_glob(
    root: &Path,
    pattern: &str,
    options: glob::MatchOptions,
) -> Result<glob::Paths, WorkspaceGlobError> {
    let full = if pattern.starts_with('/') {
        pattern.to_string()
    } else {
        let root = root.to_str().ok_or_else(|| WorkspaceGlobError::NotUtf8 {
            root: root.to_path_buf(),
        })?;
        format!(
            "{}/{pattern}",
            glob::Pattern::escape(root.trim_end_matches('/'))
        )
    };
    Ok(glob::glob_with(&full, options)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    /// A workspace named like a pattern matches its own files, not a
    /// sibling's that the unescaped name would match.
    #[test]
    fn the_workspace_path_is_not_a_pattern() {
        let tmp = tempfile::tempdir().unwrap();
        for dir in ["ws?[1]*/data", "wsX1/data"] {
            std::fs::create_dir_all(tmp.path().join(dir)).unwrap();
        }
        std::fs::write(tmp.path().join("ws?[1]*/data/a.txt"), "").unwrap();
        std::fs::write(tmp.path().join("wsX1/data/decoy.txt"), "").unwrap();
        let root = tmp.path().join("ws?[1]*");
        let found: Vec<PathBuf> = workspace_glob(&root, "data/*.txt", glob::MatchOptions::new())
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(found, [root.join("data/a.txt")]);
    }
}
