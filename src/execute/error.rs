//! `StageError`: why one stage failed. Exit code 1.

use std::path::PathBuf;
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

    #[error("{0}")]
    Failed(String),

    #[error("panicked (a bug in tnsflow, please report it): {0}")]
    Panicked(String),

    #[error("interrupted")]
    Interrupted,

    #[error(transparent)]
    Publish(#[from] super::PublishError),

    #[error("`{}` {problem}", path.display())]
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
}

impl From<rusqlite::Error> for StageError {
    fn from(e: rusqlite::Error) -> Self {
        StageError::Failed(format!("SQLite: {e}"))
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
