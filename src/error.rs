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

    /// Bad command-line input that clap cannot see (e.g. a folder that is not a publication).
    #[error("{0}")]
    Usage(String),

    /// A published folder does not match its manifest (already reported file by file).
    #[error("{problems} problem(s) found")]
    VerifyFailed { problems: usize },

    #[error("{0}")]
    Publish(String),

    /// The workbench could not start or stopped on an error.
    #[error("{0}")]
    Serve(String),

    #[error("{0}")]
    Io(#[from] std::io::Error),
}

impl Error {
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Config(_) | Error::Usage(_) => 2,
            Error::Lock(_)
            | Error::Record(_)
            | Error::StagesFailed { .. }
            | Error::VerifyFailed { .. }
            | Error::Publish(_)
            | Error::Serve(_)
            | Error::Io(_) => 1,
        }
    }
}
