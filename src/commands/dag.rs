//! `tnsflow dag`: the stage graph as Mermaid or Graphviz dot.

use petgraph::visit::EdgeRef;
use std::path::Path;

use super::{emit, load_plan};
use crate::cli::{DagArgs, DagFormat};
use crate::Error;

pub fn dag(file: &Path, args: DagArgs) -> Result<(), Error> {
    let (plan, _) = load_plan(file, &[])?;
    let names: Vec<&str> = plan.stages.iter().map(|s| s.name()).collect();
    let mut edges: Vec<(usize, usize)> = plan
        .graph
        .edge_references()
        .map(|e| (e.source().index(), e.target().index()))
        .collect();
    edges.sort_unstable();
    let mut text = String::new();
    match args.format {
        DagFormat::Mermaid => {
            text.push_str("flowchart LR\n");
            for (i, name) in names.iter().enumerate() {
                text.push_str(&format!("  s{i}[\"{name}\"]\n"));
            }
            for (a, b) in edges {
                text.push_str(&format!("  s{a} --> s{b}\n"));
            }
        }
        DagFormat::Dot => {
            text.push_str("digraph tnsflow {\n  rankdir=LR;\n  node [shape=box];\n");
            for name in &names {
                text.push_str(&format!("  \"{name}\";\n"));
            }
            for (a, b) in edges {
                text.push_str(&format!("  \"{}\" -> \"{}\";\n", names[a], names[b]));
            }
            text.push_str("}\n");
        }
    }
    emit(&text);
    Ok(())
}
