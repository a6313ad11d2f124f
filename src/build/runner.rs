//! `StageRunner`: what running one stage means, apart from publishing it.
//!
//! The builder asks a runner to produce a stage's outs and does everything
//! else itself (keys, locks, the store, publishing, rollback). Tests give the
//! builder a fake runner, as ninja's build tests give its builder a
//! `FakeCommandRunner`.

use std::path::Path;

use crate::execute::{panic_message, run_cmd, run_sql, StageContext, StageError, StageParams};
use crate::parse::StageKind;
use crate::plan::PlannedStage;
use crate::StageResult;

/// Where a run writes.
pub struct RunContext<'a> {
    pub root: &'a Path,
    /// Staged outs go here by file name (stages that do not write in place).
    pub out_dir: &'a Path,
    /// A command's stdout and stderr, written only when it printed anything.
    pub log: &'a Path,
    /// The build's temp area, for unnamed scratch files.
    pub scratch: &'a Path,
    /// Marks the processes the run starts (see `execute::children`).
    pub run_id: &'a str,
}

pub trait StageRunner: Sync {
    /// Whether the stage writes its outs at their paths itself (a shell
    /// command does) instead of by file name into `out_dir`.
    fn in_place(&self, stage: &PlannedStage) -> bool;
    fn run(&self, stage: &PlannedStage, ctx: &RunContext) -> StageResult<()>;
}

/// Builtins in-process, SQL against SQLite, commands through `sh -c`.
pub struct RealRunner;

impl StageRunner for RealRunner {
    fn in_place(&self, stage: &PlannedStage) -> bool {
        matches!(stage.decl.kind, StageKind::Cmd { .. })
    }

    fn run(&self, stage: &PlannedStage, ctx: &RunContext) -> StageResult<()> {
        let decl = &stage.decl;
        let root = ctx.root;
        // Errors name the outs as declared, not the temp area they are
        // staged in.
        let declared = |name: &str| {
            decl.outs
                .iter()
                .find(|out| file_name(out) == name)
                .map_or_else(|| ctx.out_dir.join(name), |out| root.join(out))
        };
        let ran = match &decl.kind {
            StageKind::Builtin { .. } => {
                let builtin = stage.builtin.expect("planning resolved every builtin");
                let stage_ctx = StageContext {
                    stage: decl.name.clone(),
                    root: root.to_path_buf(),
                    params: StageParams::new(stage.params.clone()),
                    deps: decl.deps.iter().map(|d| root.join(d)).collect(),
                    wanted: decl.outs.iter().map(|o| file_name(o).to_string()).collect(),
                    out_dir: ctx.out_dir.to_path_buf(),
                };
                // A panic is a bug in tnsflow, but still only this stage's failure.
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| builtin.run(&stage_ctx)))
                    .map_err(|payload| StageError::Panicked(panic_message(payload.as_ref())))?
            }
            StageKind::Sql { sql, db } => {
                let out = ctx.out_dir.join(file_name(&decl.outs[0]));
                run_sql(&root.join(sql), sql, &root.join(db), &out)
            }
            StageKind::Cmd { .. } => {
                let cmd = stage.cmd().expect("cmd stages have a command");
                run_cmd(root, &decl.name, cmd, ctx.log, ctx.scratch, ctx.run_id)
            }
        };
        ran.map_err(|e| e.at_declared_outs(ctx.out_dir, declared))
    }
}

pub fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}
