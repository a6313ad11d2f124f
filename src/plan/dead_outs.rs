//! Outs of stages the pipeline no longer declares. A removed or renamed
//! stage (a foreach item whose file went away) leaves its last outs on
//! disk, and a stage reading their folder (`cases` reads `out/detections`)
//! would go on reading them: an incremental build would differ from a clean
//! one. Such an out, declared by no stage now and still holding the bytes
//! tnsflow recorded for it, is dead: `status` calls the stages that read it
//! stale, and a build removes it before any stage runs (its bytes stay in
//! the cache). One changed since is the user's, and stays; so is one a stage
//! names as a dep: with its stage gone it is a source file now (data
//! generated once and then kept, with `generate` taken out of the pipeline).

use std::collections::HashSet;
use std::path::Path;

use super::{InputKind, Plan, StatCache};
use crate::record::BuildState;

/// An out left by a stage the pipeline no longer declares.
#[derive(Debug, Clone, PartialEq)]
pub struct DeadOut {
    /// Workspace-relative, as stages' deps name it.
    pub path: String,
    pub stage: String,
}

/// The dead outs on disk. Called with a freshly made plan only: a kept
/// plan declares the stages of the last build, so none has gone.
pub fn dead_outs(plan: &Plan, state: &BuildState, stats: &StatCache, root: &Path) -> Vec<DeadOut> {
    let names: HashSet<&str> = plan.stages.iter().map(|s| s.name()).collect();
    let gone = state.dead(|name| names.contains(name));
    if gone.is_empty() {
        return Vec::new();
    }
    let declared: HashSet<&str> = plan
        .stages
        .iter()
        .flat_map(|s| s.decl.outs.iter().map(String::as_str))
        .collect();
    let sources: HashSet<&str> = plan
        .stages
        .iter()
        .flat_map(|s| s.inputs())
        .filter(|i| i.kind == InputKind::File)
        .map(|i| i.path)
        .collect();
    let mut dead = Vec::new();
    for record in gone {
        for (out, hash) in &record.outs {
            if !declared.contains(out.as_str())
                && !sources.contains(out.as_str())
                && stats.hash(&root.join(out)).ok().flatten().as_ref() == Some(hash)
            {
                dead.push(DeadOut {
                    path: out.clone(),
                    stage: record.stage.clone(),
                });
            }
        }
    }
    dead
}
