//! The plan, kept in `.tnsflow/v2/plan.bin` between commands, so that a
//! build after an edit of some input neither parses nor plans 100,000 stages
//! again (the two were a third of a 10,000-stage edit rebuild). A file of its
//! own, not a row of `state.db`: it is written whole when the pipeline
//! changes and read whole by every command after an edit, and SQLite would
//! copy it through its WAL and read it back page by page.
//!
//! It is keyed by what parsing depends on: the tool version, the pipeline
//! file's path and bytes, and the `--set` overrides. Planning reads the disk
//! too: `foreach` folders, and whether a dep no stage writes exists and is a
//! folder. So a caller takes the kept plan only with the no-op snapshot's
//! list of changed paths, and `holds_after` checks those paths again.

use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::graph::stage_params;
use super::{InputKind, Plan, PlannedStage, ResolvedInput};
use crate::execute::Registry;
use crate::parse::{Override, Params, Pipeline, Source, StageDecl, StageKind};

/// The plan as stored (postcard), under its key. Params go as JSON, the one
/// form their YAML values are checked to survive; builtins go by name. Saving
/// borrows from the plan and streams the stages (`Stages`): a copy of every
/// stage's strings was 15 MB at 10,000 stages. Loading owns what it reads.
#[derive(Serialize, Deserialize)]
struct Kept<'a, S> {
    /// `FORMAT` (postcard is not self-describing: a file of another layout
    /// must not be read as this one).
    format: u32,
    key: Cow<'a, str>,
    root: Cow<'a, Path>,
    params: String,
    overridden: Cow<'a, BTreeSet<String>>,
    metrics: Cow<'a, Option<Vec<String>>>,
    stages: S,
    order: Cow<'a, [usize]>,
}

/// The layout of `Kept`; 2 since stages no longer carry their group, YAML
/// path (derived from the name) and input paths (the declaration's).
const FORMAT: u32 = 2;

/// The plan's stages, serialized one by one as borrowed `KeptStage`s.
struct Stages<'a>(&'a [PlannedStage]);

impl Serialize for Stages<'_> {
    fn serialize<Ser: serde::Serializer>(&self, serializer: Ser) -> Result<Ser::Ok, Ser::Error> {
        serializer.collect_seq(self.0.iter().map(kept_stage))
    }
}

#[derive(Serialize, Deserialize)]
struct KeptStage<'a> {
    name: Cow<'a, str>,
    kind: Cow<'a, StageKind>,
    deps: Cow<'a, [String]>,
    outs: Cow<'a, [String]>,
    params: Cow<'a, [String]>,
    foreach: Option<Cow<'a, str>>,
    inputs: Vec<KeptInput<'a>>,
    cmd: Option<Cow<'a, str>>,
}

#[derive(Serialize, Deserialize)]
struct KeptInput<'a> {
    kind: InputKind,
    producers: Cow<'a, [usize]>,
}

/// What a parse of `file` with `overrides` depends on, besides `foreach` folders.
pub fn plan_key(file: &Path, text: &[u8], overrides: &[Override]) -> String {
    let mut h = blake3::Hasher::new();
    h.update(env!("CARGO_PKG_VERSION").as_bytes());
    h.update(b"\0");
    h.update(
        std::path::absolute(file)
            .unwrap_or_default()
            .as_os_str()
            .as_encoded_bytes(),
    );
    h.update(b"\0");
    h.update(text);
    // Overrides in their parsed form: the key follows what the build means,
    // not how the value was typed (`--set seed=17` and `--set 'seed= 17'`).
    for o in overrides {
        h.update(b"\0");
        h.update(o.key.as_bytes());
        h.update(b"=");
        h.update(
            serde_json::to_string(&o.value)
                .unwrap_or_default()
                .as_bytes(),
        );
    }
    h.finalize().to_hex().to_string()
}

/// The plan kept in `file` for `key`, with `source` as its pipeline's text
/// (the same bytes). None when there is none, or it is another key's or
/// damaged: the caller then plans afresh.
pub fn load(file: &Path, key: &str, source: Source, registry: Registry) -> Option<Plan> {
    let bytes = std::fs::read(file).ok()?;
    let kept: Kept<Vec<KeptStage>> = postcard::from_bytes(&bytes).ok()?;
    drop(bytes);
    if kept.format != FORMAT || kept.key != key {
        return None;
    }
    let pipeline = Pipeline {
        root: kept.root.into_owned(),
        source,
        params: Params::new(serde_json::from_str(&kept.params).ok()?),
        overridden: kept.overridden.into_owned(),
        stages: Vec::new(),
        metrics: kept.metrics.into_owned(),
        warnings: Vec::new(),
    };
    let mut stages = Vec::with_capacity(kept.stages.len());
    for s in kept.stages {
        let decl = StageDecl {
            name: s.name.into_owned(),
            kind: s.kind.into_owned(),
            deps: s.deps.into_owned(),
            outs: s.outs.into_owned(),
            params: s.params.into_owned(),
            foreach: s.foreach.map(Cow::into_owned),
        };
        let builtin = match decl.builtin() {
            Some(name) => Some(registry.find(name)?),
            None => None,
        };
        let resolved: Vec<ResolvedInput> = s
            .inputs
            .into_iter()
            .map(|i| ResolvedInput {
                kind: i.kind,
                producers: i.producers.into_owned(),
            })
            .collect();
        // One per declared input, or the file is not this layout's.
        if resolved.len() != decl.input_paths().count() {
            return None;
        }
        stages.push(PlannedStage {
            params: stage_params(&pipeline, &decl),
            decl,
            resolved,
            builtin,
            substituted_cmd: s.cmd.map(Cow::into_owned),
        });
    }
    Some(Plan::assemble(pipeline, stages, kept.order.into_owned()))
}

/// Keeps `plan` under `key` in `file`; nothing when its params do not survive
/// the round trip (YAML tags, non-string keys): those pipelines are planned
/// each time. Failing to keep it only costs the next command a parse.
pub fn save(file: &Path, key: &str, plan: &Plan) {
    let params = plan.pipeline.params.to_value();
    let Ok(json) = serde_json::to_string(&params) else {
        return;
    };
    if serde_json::from_str::<serde_yaml::Value>(&json)
        .ok()
        .as_ref()
        != Some(&params)
    {
        return;
    }
    let kept = Kept {
        format: FORMAT,
        key: Cow::Borrowed(key),
        root: Cow::Borrowed(&plan.pipeline.root),
        params: json,
        overridden: Cow::Borrowed(&plan.pipeline.overridden),
        metrics: Cow::Borrowed(&plan.pipeline.metrics),
        stages: Stages(&plan.stages),
        order: Cow::Borrowed(&plan.order),
    };
    if let Some(folder) = file.parent() {
        crate::record::remove_dead_temp_files(folder);
    }
    let _ = crate::record::write_atomic_with(file, |out| {
        postcard::to_io(&kept, out)
            .map(drop)
            .map_err(std::io::Error::other)
    });
}

fn kept_stage(s: &PlannedStage) -> KeptStage<'_> {
    let d = &s.decl;
    KeptStage {
        name: Cow::Borrowed(&d.name),
        kind: Cow::Borrowed(&d.kind),
        deps: Cow::Borrowed(&d.deps),
        outs: Cow::Borrowed(&d.outs),
        params: Cow::Borrowed(&d.params),
        foreach: d.foreach.as_deref().map(Cow::Borrowed),
        inputs: s
            .resolved
            .iter()
            .map(|i| KeptInput {
                kind: i.kind,
                producers: Cow::Borrowed(&i.producers),
            })
            .collect(),
        cmd: s.substituted_cmd.as_deref().map(Cow::Borrowed),
    }
}

/// Whether a plan made before `changed` paths changed still holds: none of
/// them is in a `foreach` folder, and each dep no stage writes among them is
/// still there, as a file or a folder as before (what planning checked).
pub fn holds_after(plan: &Plan, changed: &[PathBuf]) -> bool {
    let root = plan.pipeline.root.as_path();
    let folders = foreach_folders(plan);
    if changed
        .iter()
        .any(|p| folders.iter().any(|f| p.starts_with(f)))
    {
        return false;
    }
    let spelled = super::touched::spelled(root, changed);
    let sourced = plan
        .stages
        .iter()
        .flat_map(|s| s.inputs())
        .filter(|i| i.producers.is_empty());
    for input in sourced {
        let holds = match input.kind {
            InputKind::File => spelled
                .get(input.path)
                .is_none_or(|p| p.metadata().is_ok_and(|m| !m.is_dir())),
            InputKind::Dir => spelled.get(input.path).is_none_or(|p| p.is_dir()),
            // A glob must still match a file: re-plan if one it matched is gone.
            InputKind::Glob => glob::Pattern::new(input.path).is_ok_and(|pattern| {
                !spelled.iter().any(|(rel, abs)| {
                    pattern.matches_with(rel, super::input::literal_separator()) && !abs.exists()
                })
            }),
        };
        if !holds {
            return false;
        }
    }
    true
}

/// The folders whose listing decides a `foreach` expansion.
pub fn foreach_folders(plan: &Plan) -> BTreeSet<PathBuf> {
    plan.stages
        .iter()
        .filter_map(|s| s.decl.foreach.as_deref())
        .map(|pattern| {
            plan.pipeline
                .root
                .join(Path::new(pattern).parent().unwrap_or(Path::new("")))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Plan;

    fn planned(dir: &Path, text: &str) -> Plan {
        let pipeline = Pipeline::parse("pipeline.yaml", dir, text.to_string()).unwrap();
        Plan::build(pipeline, crate::stages::registry()).unwrap()
    }

    const TEXT: &str = "params:\n  seed: 7\n  m: {a: 0.5, b: [1, 2]}\nstages:\n  gen:\n    builtin: generate\n    params: [seed]\n    outs: [data/raw_events.csv]\n  s:\n    cmd: echo ${seed} > out.txt; cat data/raw_events.csv src/*.txt in >> out.txt\n    deps: [data/raw_events.csv, \"src/*.txt\", in]\n    params: [seed, m.a]\n    outs: [out.txt]\n";

    /// `TEXT` planned in a workspace holding what its deps name.
    fn planned_workspace() -> (tempfile::TempDir, Plan) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("src")).unwrap();
        std::fs::write(dir.path().join("src/a.txt"), "a").unwrap();
        std::fs::create_dir_all(dir.path().join("in")).unwrap();
        let plan = planned(dir.path(), TEXT);
        (dir, plan)
    }

    /// A kept plan comes back as planned, and only under its own key.
    #[test]
    fn round_trips_under_its_key() {
        let (dir, plan) = planned_workspace();
        let file = dir.path().join("plan.bin");
        save(&file, "k1", &plan);
        let source = plan.pipeline.source.clone();
        let registry = crate::stages::registry();
        let back = load(&file, "k1", source.clone(), registry).unwrap();
        assert_eq!(back.pipeline.params, plan.pipeline.params);
        assert_eq!(back.pipeline.root, plan.pipeline.root);
        assert_eq!(back.order, plan.order);
        for (b, p) in back.stages.iter().zip(&plan.stages) {
            assert_eq!(b.decl, p.decl);
            assert!(b.inputs().eq(p.inputs()));
            assert_eq!(b.params, p.params);
            assert_eq!(b.cmd(), p.cmd());
            assert_eq!(b.decl.canonical(), p.decl.canonical());
            assert_eq!(b.builtin.map(|b| b.name()), p.builtin.map(|b| b.name()));
        }
        let edges = |plan: &Plan| -> Vec<(usize, usize)> {
            (0..plan.stages.len())
                .flat_map(|i| plan.producers(i).map(move |p| (p, i)))
                .collect()
        };
        assert_eq!(edges(&back), edges(&plan));
        assert_eq!(edges(&back), [(0, 1)]);
        assert!(load(&file, "k2", source.clone(), registry).is_none());
        // A damaged file is no plan, not an error.
        let bytes = std::fs::read(&file).unwrap();
        std::fs::write(&file, &bytes[..bytes.len() / 2]).unwrap();
        assert!(load(&file, "k1", source, registry).is_none());
    }

    /// A file of another layout is no plan, even under the right key; so is
    /// one whose stage has more or fewer resolved inputs than declared paths.
    #[test]
    fn another_layout_is_planned_again() {
        let (dir, mut plan) = planned_workspace();
        let file = dir.path().join("plan.bin");
        let (source, registry) = (plan.pipeline.source.clone(), crate::stages::registry());
        save(&file, "k1", &plan);
        let mut bytes = std::fs::read(&file).unwrap();
        assert_eq!(bytes[0], FORMAT as u8, "the format leads the file");
        bytes[0] = 1;
        std::fs::write(&file, &bytes).unwrap();
        assert!(load(&file, "k1", source.clone(), registry).is_none());
        plan.stages[1].resolved.pop();
        save(&file, "k1", &plan);
        assert!(load(&file, "k1", source, registry).is_none());
    }

    /// The kept plan holds after a content edit, not after a dep no stage
    /// writes is deleted or turns from a file into a folder, nor after a
    /// change in a `foreach` folder.
    #[test]
    fn holds_only_while_planning_would_see_the_same_disk() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("src")).unwrap();
        std::fs::write(root.join("src/a.txt"), "a").unwrap();
        std::fs::write(root.join("in"), "file").unwrap();
        let plan = planned(root, TEXT);
        std::fs::write(root.join("src/a.txt"), "edited").unwrap();
        assert!(holds_after(
            &plan,
            &[root.join("src/a.txt"), root.join("out.txt")]
        ));
        std::fs::write(root.join("in"), "edited").unwrap();
        assert!(holds_after(&plan, &[root.join("in")]));
        std::fs::remove_file(root.join("in")).unwrap();
        assert!(!holds_after(&plan, &[root.join("in")]), "deleted");
        std::fs::create_dir(root.join("in")).unwrap();
        assert!(!holds_after(&plan, &[root.join("in")]), "now a folder");
        std::fs::remove_file(root.join("src/a.txt")).unwrap();
        assert!(
            !holds_after(&plan, &[root.join("src/a.txt")]),
            "the glob's match is gone"
        );

        std::fs::create_dir_all(root.join("rules")).unwrap();
        std::fs::write(root.join("rules/x.sql"), "SELECT 1").unwrap();
        let foreach = "stages:\n  detect:\n    foreach: rules/*.sql\n    cmd: cat ${item} > out/${stem}.txt\n    deps: [\"${item}\"]\n    outs: [\"out/${stem}.txt\"]\n";
        let plan = planned(root, foreach);
        assert!(!holds_after(&plan, &[root.join("rules/y.sql")]));
        assert!(holds_after(&plan, &[root.join("out/x.txt")]));
    }
}
