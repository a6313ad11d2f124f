//! Where the disk puts each out: parsing checks an out's spelling (inside
//! the workspace, not in `.tnsflow/`, not the pipeline file), but a
//! symbolic link on its path (`out -> /elsewhere`, `self -> .`) would carry
//! tnsflow's writes past those checks, onto another folder or onto its own
//! state. Each out's folder is resolved as the disk has it before a build
//! writes anything; an out's own name may be a link, since publishing
//! replaces the link rather than writing through it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::Plan;
use crate::layout::STATE_DIR;
use crate::parse::ConfigError;
use crate::ConfigResult;

/// Fails on the first out whose folder resolves outside the workspace, into
/// `.tnsflow/`, or whose path resolves to `pipeline_file`. One resolution
/// per distinct folder: 100,000 outs in `out/` resolve it once.
pub fn check_out_paths(plan: &Plan, pipeline_file: &Path) -> ConfigResult<()> {
    let Ok(root) = plan.pipeline.root.canonicalize() else {
        return Ok(());
    };
    let state = root.join(STATE_DIR);
    let pipeline_file = pipeline_file.canonicalize().ok();
    let mut folders: HashMap<&str, PathBuf> = HashMap::new();
    for stage in &plan.stages {
        for (j, out) in stage.decl.outs.iter().enumerate() {
            let (folder, name) = out.rsplit_once('/').unwrap_or(("", out));
            let resolved = folders
                .entry(folder)
                .or_insert_with(|| resolve(&root, folder))
                .join(name);
            let what = if !resolved.starts_with(&root) {
                "outside the workspace"
            } else if resolved.starts_with(&state) {
                "in tnsflow's state folder `.tnsflow/`"
            } else if Some(&resolved) == pipeline_file.as_ref() {
                "the pipeline file"
            } else {
                continue;
            };
            let src = &plan.pipeline.source;
            return Err(ConfigError::OutThroughLink {
                stage: stage.decl.name.clone(),
                out: out.clone(),
                resolved,
                what,
                src: src.named(),
                span: src.span(&format!("{}.outs[{j}]", stage.decl.yaml_path())),
            });
        }
    }
    Ok(())
}

/// `folder` (relative to `root`) as the disk resolves it: its deepest
/// existing ancestor with every link followed, then the part still to be
/// created.
fn resolve(root: &Path, folder: &str) -> PathBuf {
    let mut existing = root.join(folder);
    let mut rest = Vec::new();
    loop {
        if let Ok(real) = existing.canonicalize() {
            return rest.iter().rev().fold(real, |path, part| path.join(part));
        }
        match (existing.parent(), existing.file_name()) {
            (Some(parent), Some(part)) => {
                rest.push(part.to_owned());
                existing = parent.to_path_buf();
            }
            _ => return root.join(folder),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::Pipeline;
    use std::os::unix::fs::symlink;

    fn plan(root: &Path, outs: &str) -> Plan {
        let yaml = format!("stages:\n  s:\n    cmd: \"true\"\n    outs: [{outs}]\n");
        let pipeline = Pipeline::parse("pipeline.yaml", root, yaml).unwrap();
        Plan::build(pipeline, crate::stages::registry()).unwrap()
    }

    fn problem(root: &Path, outs: &str) -> Option<String> {
        let pipeline_file = root.join("pipeline.yaml");
        std::fs::write(&pipeline_file, "").unwrap();
        check_out_paths(&plan(root, outs), &pipeline_file)
            .err()
            .map(|e| e.to_string())
    }

    /// Links that carry an out outside the workspace, into `.tnsflow/` or
    /// onto the pipeline file are refused, naming where they lead; plain
    /// folders, folders still to be made, links inside the workspace and a
    /// link as the out's own name are fine.
    #[test]
    fn links_on_an_out_path_must_stay_inside() {
        let outside = tempfile::tempdir().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("real/sub")).unwrap();
        symlink(outside.path(), root.join("away")).unwrap();
        symlink(".", root.join("self")).unwrap();
        symlink("real", root.join("inside")).unwrap();
        symlink(outside.path(), root.join("file_link")).unwrap();

        let away = problem(root, "away/r.csv").unwrap();
        assert!(away.contains("outside the workspace"), "{away}");
        assert!(
            away.contains(&outside.path().canonicalize().unwrap().display().to_string()),
            "{away}"
        );
        let away_deeper = problem(root, "away/new/deeper/r.csv").unwrap();
        assert!(
            away_deeper.contains("outside the workspace"),
            "{away_deeper}"
        );
        let state = problem(root, "self/.tnsflow/v2/state.db").unwrap();
        assert!(state.contains("`.tnsflow/`"), "{state}");
        let pipeline = problem(root, "self/pipeline.yaml").unwrap();
        assert!(pipeline.contains("the pipeline file"), "{pipeline}");

        for fine in [
            "out/a.csv",
            "real/sub/a.csv",
            "inside/sub/new/a.csv",
            "file_link",
            "self/out/a.csv",
        ] {
            assert_eq!(problem(root, fine), None, "{fine}");
        }
    }
}
