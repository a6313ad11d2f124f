//! `DepError`: why a stage's deps cannot be hashed for its key right now.
//!
//! `status` shows it as the stage's reason (`Reason::DepUnreadable`); a build
//! fails the stage with it. Both name the dep as pipeline.yaml writes it.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum DepError {
    #[error("dep `{dep}` does not exist")]
    Missing { dep: String },

    #[error("cannot read dep `{dep}`: {source}")]
    Unreadable { dep: String, source: std::io::Error },
}
