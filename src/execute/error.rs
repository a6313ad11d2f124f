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

    #[error("param {0}")]
    Param(#[from] super::ParamProblem),

    #[error("{0}")]
    Failed(String),
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
