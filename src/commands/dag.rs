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
                text.push_str(&format!("  s{i}[\"{}\"]\n", mermaid_label(name)));
            }
            for (a, b) in edges {
                text.push_str(&format!("  s{a} --> s{b}\n"));
            }
        }
        DagFormat::Dot => {
            text.push_str("digraph tnsflow {\n  rankdir=LR;\n  node [shape=box];\n");
            let ids: Vec<String> = names.iter().map(|n| dot_id(n)).collect();
            for id in &ids {
                text.push_str(&format!("  {id};\n"));
            }
            for (a, b) in edges {
                text.push_str(&format!("  {} -> {};\n", ids[a], ids[b]));
            }
            text.push_str("}\n");
        }
    }
    emit(&text);
    Ok(())
}

/// A stage name as a quoted dot ID. Inside quotes dot reads only `\"` as an
/// escape, and the default label then reads `\\` as one backslash, so a
/// foreach stem such as `say "hi"` or `back\slash` shows as written.
fn dot_id(name: &str) -> String {
    format!("\"{}\"", name.replace('\\', "\\\\").replace('"', "\\\""))
}

/// A stage name as the text of a Mermaid `["..."]` node: characters that
/// would end the label or be read as markup become Mermaid's `#code;`
/// entities (`"` is `#quot;`).
fn mermaid_label(name: &str) -> String {
    let mut label = String::with_capacity(name.len());
    for c in name.chars() {
        match c {
            '"' => label.push_str("#quot;"),
            '#' | '&' | '<' | '>' => label.push_str(&format!("#{};", c as u32)),
            c => label.push(c),
        }
    }
    label
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Quotes and backslashes in names are escaped for dot and Mermaid.
    #[test]
    fn names_are_escaped() {
        assert_eq!(dot_id("detect@a"), "\"detect@a\"");
        assert_eq!(dot_id(r#"d@say "hi"\"#), r#""d@say \"hi\"\\""#);
        assert_eq!(
            mermaid_label(r##"d@"x"#1&<y>"##),
            "d@#quot;x#quot;#35;1#38;#60;y#62;"
        );
    }
}
