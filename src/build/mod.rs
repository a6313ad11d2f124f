//! The engine: a build of a plan, stage by stage, with nothing lost.
//!
//! `commands::build` wires the layers together; this module holds what a
//! build does to the disk: `Builder` (check, run, store, publish, roll back)
//! driven by the scheduler, `StageRunner` (what running a stage means, faked in
//! tests) and `recovery` (what a killed build left, put right).

mod builder;
#[cfg(test)]
mod builder_test;
mod recovery;
mod runner;

pub use builder::{Areas, BuildReport, Builder};
pub use recovery::{recover_dead_builds, Recovered};
pub use runner::{file_name, RealRunner, RunContext, StageRunner};
