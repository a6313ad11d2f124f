//! Run one stage into a staging area.
//!
//! Knows nothing about the scheduler or the DAG: it is handed one stage's
//! resolved declaration and writes its outputs where it is told. Moving finished
//! outputs into place is `record`'s job.

pub mod children;
mod error;
pub mod interrupt;
mod publication;
mod registry;
mod shell;
mod sql;
mod stage;

pub use error::{panic_message, StageError};
pub use publication::{has_journal, recover, Publication, PublishError};
pub use registry::Registry;
pub use shell::run_cmd;
pub use sql::{open_read_only, query_to_csv, run_sql, sql_error_message};
pub use stage::{listed_value, Builtin, ParamProblem, StageContext, StageParams};
