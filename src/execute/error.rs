//! `StageError`: why one stage failed. Exit code 1.

use std::path::{Path, PathBuf};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum StageError {
    #[error("`{cmd}` exited with {status}{}", tail_block(tail))]
    Command {
        cmd: String,
        status: String,
        tail: String,
    },

    #[error("SQL in `{file}` failed: {message}")]
    Sql { file: String, message: String },

    #[error("did not write its out `{out}`")]
    MissingOut { out: String },

    #[error("cannot read `{}`: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },

    #[error("cannot write `{}`: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },

    #[error("cannot store its out `{out}` in the cache `{}`: {source}", store.display())]
    Store {
        out: String,
        store: PathBuf,
        source: std::io::Error,
    },

    #[error("`{dep}` changed while the stage ran, so its outs may mix the old and the new `{dep}`: they are not kept; build again")]
    DepChanged { dep: String },

    #[error("needs a dep named `{name}`; declare it in the stage's deps")]
    MissingDep { name: String },

    /// A CSV file that could not be read or written as CSV (csv names the record and line).
    #[error("`{}`: {source}", path.display())]
    Csv { path: PathBuf, source: csv::Error },

    /// A CSV field that does not hold what its column promises.
    #[error("`{}` line {line}: column `{column}` is `{value}`, expected {expected}", path.display())]
    BadField {
        path: PathBuf,
        line: u64,
        column: String,
        value: String,
        expected: &'static str,
    },

    /// A CSV export without a column a stage reads (columns are found by name).
    #[error("`{}` has no column `{column}`; its columns are: {}", path.display(), columns.join(", "))]
    NoColumn {
        path: PathBuf,
        column: String,
        columns: Vec<String>,
    },

    #[error(transparent)]
    Dep(#[from] crate::plan::DepError),

    #[error(transparent)]
    Record(#[from] crate::record::RecordError),

    #[error("cannot lock its cache entry {key}: {source}")]
    LockKey { key: String, source: std::io::Error },

    #[error("param {0}")]
    Param(#[from] super::ParamProblem),

    /// SQLite failed; `db` is the database being built, where known.
    #[error("{}SQLite: {source}", db.as_ref().map(|db| format!("`{}`: ", db.display())).unwrap_or_default())]
    Sqlite {
        db: Option<PathBuf>,
        source: rusqlite::Error,
    },

    #[error("{0}")]
    Failed(String),

    #[error("panicked (a bug in tnsflow, please report it): {0}")]
    Panicked(String),

    #[error("interrupted")]
    Interrupted,

    #[error(transparent)]
    Publish(#[from] super::PublishError),

    #[error("`{}`: {problem}", path.display())]
    NotAFile { path: PathBuf, problem: String },
}

/// The message of a panic payload (`panic!` gives a `&str` or a `String`).
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        text.to_string()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "no message".to_string()
    }
}

fn tail_block(tail: &str) -> String {
    if tail.trim().is_empty() {
        String::new()
    } else {
        format!("; last lines of its output:\n{}", tail.trim_end())
    }
}

impl StageError {
    /// Wraps any displayable error from a builtin's data processing.
    pub fn failed(e: impl std::fmt::Display) -> StageError {
        StageError::Failed(e.to_string())
    }

    /// Names `db` in a SQLite error that names no database yet: the
    /// database a builtin was building when SQLite failed (a full disk
    /// says "database or disk is full", not which).
    pub fn in_database(self, db: &Path) -> StageError {
        match self {
            StageError::Sqlite { db: None, source } => StageError::Sqlite {
                db: Some(db.to_path_buf()),
                source,
            },
            other => other,
        }
    }

    /// The error with each path inside `out_dir` (the temporary folder a
    /// builtin writes into) replaced by `declared(file name)`, the out the
    /// user knows, so a message names `out/sqlite.db`, not a temp area.
    pub fn at_declared_outs(
        self,
        out_dir: &Path,
        declared: impl Fn(&str) -> PathBuf,
    ) -> StageError {
        let map = |path: PathBuf| match path.strip_prefix(out_dir) {
            Ok(rest) => declared(&rest.to_string_lossy()),
            Err(_) => path,
        };
        match self {
            StageError::Read { path, source } => StageError::Read {
                path: map(path),
                source,
            },
            StageError::Write { path, source } => StageError::Write {
                path: map(path),
                source,
            },
            StageError::Csv { path, source } => StageError::Csv {
                path: map(path),
                source,
            },
            StageError::NotAFile { path, problem } => StageError::NotAFile {
                path: map(path),
                problem,
            },
            StageError::Sqlite {
                db: Some(db),
                source,
            } => StageError::Sqlite {
                db: Some(map(db)),
                source,
            },
            other => other,
        }
    }
}

impl From<rusqlite::Error> for StageError {
    fn from(source: rusqlite::Error) -> Self {
        StageError::Sqlite { db: None, source }
    }
}

impl From<csv::Error> for StageError {
    fn from(e: csv::Error) -> Self {
        StageError::Failed(format!("CSV: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panic_messages() {
        let text = std::panic::catch_unwind(|| panic!("bad row {}", 7)).unwrap_err();
        assert_eq!(panic_message(text.as_ref()), "bad row 7");
        let fixed = std::panic::catch_unwind(|| panic!("fixed")).unwrap_err();
        assert_eq!(panic_message(fixed.as_ref()), "fixed");
        let other = std::panic::catch_unwind(|| std::panic::panic_any(3)).unwrap_err();
        assert_eq!(panic_message(other.as_ref()), "no message");
    }
}
