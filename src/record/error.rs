//! `RecordError`: `.tnsflow/` could not be read or written. Exit code 1.

use std::path::{Path, PathBuf};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum RecordError {
    #[error("cannot write `{}`: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },

    #[error("cannot read `{}`: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },

    #[error("cannot use the database `{}`: {message}", path.display())]
    Database { path: PathBuf, message: String },
}

impl RecordError {
    /// SQLite failed on the database at `path`; says so when its disk is
    /// full (SQLite may call that a "disk I/O error").
    pub fn database(path: &Path, source: &rusqlite::Error) -> RecordError {
        RecordError::Database {
            path: path.to_path_buf(),
            message: database_message(path, source),
        }
    }

    /// `map_err(RecordError::writing(path))`: an I/O error while writing
    /// `path`, named.
    pub fn writing(path: &Path) -> impl FnOnce(std::io::Error) -> RecordError {
        let path = path.to_path_buf();
        move |source| RecordError::Write { path, source }
    }
}

/// SQLite's message, and the full disk under `path` when that is the cause.
pub fn database_message(path: &Path, source: &rusqlite::Error) -> String {
    match crate::disk::sqlite_disk_full(path, source) {
        true => format!("{source}; the disk holding it is full: free some space and run it again"),
        false => source.to_string(),
    }
}
