//! `untouched`: the stages an edit cannot have made stale, from the paths
//! the no-op snapshot found changed. A stage is touched when it reads or
//! writes a changed path (a file dep, a file under a folder dep, a glob's
//! folder or match, an out), and so is everything downstream of a touched
//! stage. The rest keep their last run without a single stat, so a build
//! after an edit costs what the edit reaches (Shake's and Bazel's dirty
//! propagation), not the size of the graph.

use std::collections::{HashMap, HashSet, VecDeque};
use std::path::{Path, PathBuf};

use petgraph::graph::NodeIndex;
use petgraph::Direction;

use super::{InputKind, Plan};

/// For each stage, whether no changed path can reach it.
pub fn untouched(plan: &Plan, changed: &[PathBuf]) -> Vec<bool> {
    let root = plan.pipeline.root.as_path();
    let changed_set: HashSet<&Path> = changed.iter().map(PathBuf::as_path).collect();
    // Files by path, so the common case is one lookup per changed path.
    let mut readers: HashMap<PathBuf, Vec<usize>> = HashMap::new();
    let mut wide = Vec::new();
    for (i, stage) in plan.stages.iter().enumerate() {
        for input in &stage.inputs {
            match input.kind {
                InputKind::File => readers.entry(input.absolute(root)).or_default().push(i),
                InputKind::Dir | InputKind::Glob => wide.push(i),
            }
        }
        for out in &stage.decl.outs {
            readers.entry(root.join(out)).or_default().push(i);
        }
    }
    let mut touched = vec![false; plan.stages.len()];
    let mut queue: VecDeque<usize> = VecDeque::new();
    for path in changed {
        for &i in readers.get(path).into_iter().flatten() {
            queue.push_back(i);
        }
    }
    for i in wide {
        let reaches = plan.stages[i].inputs.iter().any(|input| {
            let base = match input.kind {
                InputKind::File => return false,
                InputKind::Dir => input.absolute(root),
                // A glob's matches sit under its literal folder.
                InputKind::Glob => root.join(glob_folder(&input.path)),
            };
            changed_set.iter().any(|c| c.starts_with(&base))
        });
        if reaches {
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
