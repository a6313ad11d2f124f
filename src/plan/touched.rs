//! `untouched`: the stages an edit cannot have made stale, from the paths
//! the no-op snapshot found changed. A stage is touched when it reads or
//! writes a changed path (a file dep, a file under a folder dep, a glob's
//! folder or match, an out), and so is everything downstream of a touched
//! stage. The rest keep their last run without a single stat, so a build
//! after an edit costs what the edit reaches (Shake's and Bazel's dirty
//! propagation), not the size of the graph.

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};

use petgraph::graph::NodeIndex;
use petgraph::Direction;

use super::{InputKind, Plan};

/// Changed paths as the plan spells them (relative inside the workspace), each
/// with its absolute path, so that checking a stage allocates nothing: one
/// lookup per input.
pub(super) fn spelled<'p>(root: &Path, changed: &'p [PathBuf]) -> HashMap<String, &'p Path> {
    changed
        .iter()
        .map(|p| {
            let rel = p.strip_prefix(root).unwrap_or(p);
            (rel.to_string_lossy().into_owned(), p.as_path())
        })
        .collect()
}

/// For each stage, whether no changed path can reach it.
pub fn untouched(plan: &Plan, changed: &[PathBuf]) -> Vec<bool> {
    let root = plan.pipeline.root.as_path();
    let spelled = spelled(root, changed);
    let mut touched = vec![false; plan.stages.len()];
    let mut queue: VecDeque<usize> = VecDeque::new();
    for (i, stage) in plan.stages.iter().enumerate() {
        let reads = stage.inputs().any(|input| match input.kind {
            InputKind::File => spelled.contains_key(input.path),
            // Anything under a folder dep, or a glob's literal folder.
            InputKind::Dir | InputKind::Glob => {
                let base = match input.kind {
                    InputKind::Dir => root.join(input.path),
                    _ => root.join(glob_folder(input.path)),
                };
                changed.iter().any(|c| c.starts_with(&base))
            }
        });
        let writes = || {
            stage
                .decl
                .outs
                .iter()
                .any(|o| spelled.contains_key(o.as_str()))
        };
        if reads || writes() {
            queue.push_back(i);
        }
    }
    while let Some(i) = queue.pop_front() {
        if touched[i] {
            continue;
        }
        touched[i] = true;
        queue.extend(
            plan.graph
                .neighbors_directed(NodeIndex::new(i), Direction::Outgoing)
                .map(|n| n.index()),
        );
    }
    touched.iter().map(|t| !t).collect()
}

/// The part of a glob before its first wildcard component.
fn glob_folder(pattern: &str) -> PathBuf {
    Path::new(pattern)
        .components()
        .take_while(|c| !c.as_os_str().to_string_lossy().contains(['*', '?', '[']))
        .collect()
}
