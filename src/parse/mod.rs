//! pipeline.yaml -> `Pipeline`: typed, validated, with `foreach` expanded.
//!
//! Parsing keeps the source text so that every error can point at the line and
//! column at fault. It reads the disk only to expand `foreach` globs; everything
//! that depends on other stages (edges, cycles, missing deps) is `plan`'s job.

#[cfg(test)]
mod batched_parse_tests;
mod batches;
mod error;
mod foreach;
mod overrides;
mod params;
mod pipeline;
mod placeholder;
mod shell_word;
mod source;
mod span;
mod stage_decl;
mod suggestion;
mod sweep_grid;
mod workspace_glob;

pub use error::ConfigError;
pub use overrides::Override;
pub use params::{display_value, readable_value, Params};
pub use pipeline::{substitute_params, Pipeline};
pub use shell_word::shell_word;
pub use source::Source;
pub use stage_decl::{StageDecl, StageKind};
pub use suggestion::{did_you_mean, suggest};
pub use sweep_grid::SweepGrid;
pub use workspace_glob::workspace_glob;
