//! `Pipeline` + disk -> `Plan`: a petgraph DAG of stages, each with its
//! resolved inputs and params, and the staleness check that says, with
//! reasons, whether a stage must run.
//!
//! Edges come from files: stage B depends on stage A when one of B's inputs is
//! one of A's outs, or a folder or glob that takes in one of them.

mod assessment;
mod dead_outs;
mod dep_error;
mod graph;
mod input;
mod out_paths;
pub mod plan_cache;
mod reason;
mod stage_key;
mod staleness;
mod stat_cache;
mod touched;

pub use assessment::{assess, StageStatus};
pub use dead_outs::{dead_outs, DeadOut};
pub use dep_error::DepError;
pub use graph::{Plan, PlannedStage};
pub use input::{Input, InputKind, ResolvedInput};
pub use out_paths::check_out_paths;
pub use reason::Reason;
pub use stage_key::StageKey;
pub use staleness::{check, diff_reasons, Check};
pub use stat_cache::StatCache;
pub use touched::untouched;
