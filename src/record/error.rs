//! `RecordError`: `.tnsflow/` could not be read or written. Exit code 1.

use std::path::PathBuf;
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
