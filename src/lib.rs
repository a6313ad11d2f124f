//! tnsflow: a declarative, content-hashed build-graph orchestrator.
//!
//! A build flows through the layers in the order of the module list:
//! `parse` (pipeline.yaml -> `Pipeline`), `plan` (`Pipeline` + disk -> a DAG of
//! keyed stages and the reasons each is stale), `schedule` (run stages as their
//! deps finish, bounded by `-j`), `execute` (run one stage into a staging area)
//! and `record` (`.tnsflow/`: run records, the content-addressed store, the stat
//! cache). `stages` holds the built-in Trust & Safety stages, `serve` the
//! analyst workbench over a build; `commands` is the only place where the
//! layers meet.

pub mod build;
pub mod cli;
pub mod commands;
pub mod content_hash;
pub mod disk;
pub mod error;
pub mod execute;
pub mod file_stat;
pub mod layout;
pub mod parse;
pub mod plan;
pub mod record;
pub mod schedule;
pub mod serve;
pub mod stages;
pub mod trace;

pub use error::Error;

/// Result of parsing and validating pipeline.yaml and the command line.
pub type ConfigResult<T> = Result<T, parse::ConfigError>;
/// Result of running one stage.
pub type StageResult<T> = Result<T, execute::StageError>;
/// Result of reading or writing `.tnsflow/`.
pub type RecordResult<T> = Result<T, record::RecordError>;
