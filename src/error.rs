//! `Error`: every way a command can fail, and its exit code.
//!
//! - 0: success;
//! - 1: a stage failed, or the build could not run or finish (lock held, disk);
//! - 2: a usage or configuration error (bad flags, bad YAML, failed validation).

use thiserror::Error;

use crate::parse::ConfigError;
use crate::record::RecordError;
use crate::schedule::LockError;
use crate::serve::ServeError;

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

    /// `publish` found a stage without a run record right after its build.
    #[error("stage `{stage}` has no recorded run after the build")]
    PublishUnrecorded { stage: String },

    /// An out changed between its build and its copy into the publication.
    #[error("`{out}` changed while it was being published; build again")]
    PublishChanged { out: String },

    /// The workbench could not start or stopped on an error.
    #[error(transparent)]
    Serve(#[from] ServeError),

    #[error("{0}")]
    Io(#[from] std::io::Error),
}

impl Error {
    pub fn exit_code(&self) -> i32 {
        match self {
            // A port in use or an address not ours is a usage error, like a bad flag.
            Error::Config(_) | Error::Usage(_) | Error::Serve(ServeError::Bind { .. }) => 2,
            Error::Lock(_)
            | Error::Record(_)
            | Error::StagesFailed { .. }
            | Error::VerifyFailed { .. }
            | Error::PublishUnrecorded { .. }
            | Error::PublishChanged { .. }
            | Error::Serve(_)
            | Error::Io(_) => 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A workbench that cannot bind is a usage error (2); one that fails
    /// later is a run failure (1). Both keep the typed cause's message.
    #[test]
    fn serve_errors_keep_their_type_and_exit_code() {
        let bind = Error::from(ServeError::Bind {
            addr: "127.0.0.1:8080".parse().unwrap(),
            source: std::io::Error::from(std::io::ErrorKind::AddrInUse),
        });
        assert_eq!(bind.exit_code(), 2);
        assert!(bind
            .to_string()
            .starts_with("cannot listen on 127.0.0.1:8080: "));
        let io = Error::from(ServeError::Io(std::io::Error::other("disk gone")));
        assert_eq!(io.exit_code(), 1);
        assert_eq!(io.to_string(), "disk gone");
    }
}
