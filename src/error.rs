//! `Error`: every way a command can fail, and its exit code.
//!
//! - 0: success;
//! - 1: a stage failed, or the build could not run or finish (lock held, disk);
//! - 2: a usage or configuration error (bad flags, bad YAML, failed validation).

use thiserror::Error;

use crate::parse::ConfigError;
use crate::record::RecordError;
use crate::schedule::LockError;

#[derive(Debug, Error)]
pub enum Error {
    #[error(transparent)]
    Config(#[from] ConfigError),

    #[error(transparent)]
    Lock(#[from] LockError),

    #[error(transparent)]
    Record(#[from] RecordError),

    #[error("{failed} stage(s) failed")]
    StagesFailed { failed: usize },

    #[error("{0}")]
    Io(#[from] std::io::Error),
}

impl Error {
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Config(_) => 2,
            Error::Lock(_) | Error::Record(_) | Error::StagesFailed { .. } | Error::Io(_) => 1,
        }
    }
}
