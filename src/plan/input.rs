//! `Input`: one path a stage reads, and the files it stands for right now.
//!
//! A file input is itself; a folder input is every file under it; a glob input
//! is every file it matches. Folders and globs count by content: the stage key
//! covers each file's path and hash, so adding, removing or editing any of them
//! makes the stage stale, and `status` can name the file.

use std::path::{Path, PathBuf};

use crate::layout::STATE_DIR;
use crate::parse::workspace_glob;
use crate::record::temp_file_owner;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum InputKind {
    File,
    Dir,
    Glob,
}

/// What planning found about one path a stage reads. The path itself stays
/// in the declaration, and `PlannedStage::inputs` pairs the two: a copy of
/// every dep was 1.7 MB of a 10,000-stage plan.
#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedInput {
    pub kind: InputKind,
    /// Stages whose outs this input reads.
    pub producers: Vec<usize>,
}

/// One path a stage reads, with what planning found about it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Input<'a> {
    /// Normalized, relative to the workspace (or absolute outside it).
    pub path: &'a str,
    pub kind: InputKind,
    /// Stages whose outs this input reads.
    pub producers: &'a [usize],
}

impl Input<'_> {
    pub fn absolute(&self, root: &Path) -> PathBuf {
        root.join(self.path)
    }

    /// The files this input reads, sorted: `(display path, absolute path)`.
    pub fn files(&self, root: &Path) -> Vec<(String, PathBuf)> {
        let display = |abs: &Path| match abs.strip_prefix(root) {
            Ok(rel) => rel.to_string_lossy().into_owned(),
            Err(_) => abs.to_string_lossy().into_owned(),
        };
        let mut files: Vec<(String, PathBuf)> = match self.kind {
            InputKind::File => vec![(self.path.to_string(), self.absolute(root))],
            InputKind::Dir => walkdir::WalkDir::new(self.absolute(root))
                .sort_by_file_name()
                .into_iter()
                .filter_entry(|e| e.file_name() != STATE_DIR)
                .filter_map(Result::ok)
                .filter(|e| e.file_type().is_file())
                // A temporary file of a killed tnsflow is never an input.
                .filter(|e| e.file_name().to_str().and_then(temp_file_owner).is_none())
                .map(|e| (display(e.path()), e.into_path()))
                .collect(),
            // Matched inside the workspace: its own path is never a pattern
            // (issue 10, item 1).
            InputKind::Glob => workspace_glob(root, self.path, literal_separator())
                .map(|paths| {
                    paths
                        .filter_map(Result::ok)
                        .filter(|p| p.is_file())
                        .map(|p| (display(&p), p))
                        .collect()
                })
                .unwrap_or_default(),
        };
        files.sort();
        files
    }
}

/// `*` does not cross `/`, as in a shell.
pub fn literal_separator() -> glob::MatchOptions {
    glob::MatchOptions {
        case_sensitive: true,
        require_literal_separator: true,
        require_literal_leading_dot: false,
    }
}

pub fn is_glob(path: &str) -> bool {
    path.contains(['*', '?', '['])
}
