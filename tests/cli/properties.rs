//! Property tests over random DAGs and random edits, driving the real binary.
//!
//! A model predicts every build: a stage's key is its param value plus the
//! contents of its inputs; a new key runs the stage, a key seen before is
//! restored from the cache (or is up to date when the outputs on disk already
//! match), an unchanged key is up to date. Checked:
//! - minimality: exactly the stages whose key is new ran;
//! - correctness: every out equals the model's, and an incremental build's
//!   outs equal a clean build's, byte for byte, at `-j 1` and `-j 4`.

use crate::common::*;
use proptest::prelude::*;
use std::collections::{BTreeSet, HashSet};

const SOURCES: [&str; 4] = ["a\n", "b\n", "a\nb\n", "c\nd\n"];

#[derive(Debug, Clone)]
struct StageSpec {
    /// Earlier stages whose out this stage reads.
    deps: Vec<usize>,
    /// Reads its own source file `src/<i>.txt`.
    source: bool,
    /// Writes the line count of its inputs (so many edits are cut off early)
    /// instead of their concatenation.
    count: bool,
}

#[derive(Debug, Clone)]
enum Edit {
    Param(usize, u8),
    Source(usize, usize),
}

struct Model {
    stages: Vec<StageSpec>,
    params: Vec<u8>,
    sources: Vec<usize>,
    last_key: Vec<Option<String>>,
    seen: Vec<HashSet<String>>,
    on_disk: Vec<Option<String>>,
}

impl Model {
    fn inputs(&self, i: usize, contents: &[String]) -> Vec<String> {
        let spec = &self.stages[i];
        let mut inputs: Vec<String> = spec.deps.iter().map(|&d| contents[d].clone()).collect();
        if spec.source {
            inputs.push(SOURCES[self.sources[i]].to_string());
        }
        inputs
    }

    fn content(&self, i: usize, inputs: &[String]) -> String {
        let joined = inputs.concat();
        let body = if self.stages[i].count {
            format!("{}\n", joined.matches('\n').count())
        } else {
            joined
        };
        format!("{body}p={}\n", self.params[i])
    }

    /// Predicts a build: (ran, up to date, restored), updating the model.
    fn build(&mut self) -> (BTreeSet<String>, usize, usize) {
        let mut contents: Vec<String> = Vec::new();
        let (mut ran, mut fresh, mut restored) = (BTreeSet::new(), 0, 0);
        for i in 0..self.stages.len() {
            let inputs = self.inputs(i, &contents);
            let key = format!("{}|{}", self.params[i], inputs.join("\u{1}"));
            let content = self.content(i, &inputs);
            let unchanged = self.last_key[i].as_deref() == Some(key.as_str());
            let cached = self.seen[i].contains(&key);
            if unchanged || (cached && self.on_disk[i].as_deref() == Some(content.as_str())) {
                fresh += 1;
            } else if cached {
                restored += 1;
            } else {
                ran.insert(format!("s{i}"));
            }
            self.seen[i].insert(key.clone());
            self.last_key[i] = Some(key);
            self.on_disk[i] = Some(content.clone());
            contents.push(content);
        }
        (ran, fresh, restored)
    }

    fn pipeline(&self) -> String {
        let mut yaml = String::from("params:\n");
        for (i, p) in self.params.iter().enumerate() {
            yaml.push_str(&format!("  p{i}: {p}\n"));
        }
        yaml.push_str("stages:\n");
        for (i, spec) in self.stages.iter().enumerate() {
            let mut files: Vec<String> =
                spec.deps.iter().map(|d| format!("out/s{d}.txt")).collect();
            if spec.source {
                files.push(format!("src/{i}.txt"));
            }
            let body = match (files.is_empty(), spec.count) {
                (true, true) => "echo 0".to_string(),
                (true, false) => ":".to_string(),
                (false, true) => format!("cat {} | wc -l | tr -d ' '", files.join(" ")),
                (false, false) => format!("cat {}", files.join(" ")),
            };
            yaml.push_str(&format!(
                "  s{i}:\n    cmd: \"{{ {body}; echo p=${{p{i}}}; }} > out/s{i}.txt\"\n    deps: [{}]\n    params: [p{i}]\n    outs: [out/s{i}.txt]\n",
                files.join(", ")
            ));
        }
        yaml
    }

    fn write(&self, ws: &Workspace) {
        ws.write("pipeline.yaml", &self.pipeline());
        for (i, spec) in self.stages.iter().enumerate() {
            let path = format!("src/{i}.txt");
            let wanted = SOURCES[self.sources[i]];
            if spec.source
                && std::fs::read_to_string(ws.join(&path)).ok().as_deref() != Some(wanted)
            {
                ws.write(&path, wanted);
            }
        }
    }
}

fn dag() -> impl Strategy<Value = Vec<StageSpec>> {
    (2usize..=7).prop_flat_map(|n| {
        (0..n)
            .map(|i| {
                (
                    proptest::collection::vec(any::<bool>(), i),
                    any::<bool>(),
                    any::<bool>(),
                )
                    .prop_map(|(mask, source, count)| StageSpec {
                        deps: mask
                            .iter()
                            .enumerate()
                            .filter(|(_, m)| **m)
                            .map(|(d, _)| d)
                            .collect(),
                        source,
                        count,
                    })
            })
            .collect::<Vec<_>>()
    })
}

fn edits() -> impl Strategy<Value = Vec<Edit>> {
    proptest::collection::vec(
        prop_oneof![
            (0usize..7, 0u8..3).prop_map(|(i, v)| Edit::Param(i, v)),
            (0usize..7, 0usize..SOURCES.len()).prop_map(|(i, v)| Edit::Source(i, v)),
        ],
        1..5,
    )
}

fn outs(ws: &Workspace, n: usize) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| std::fs::read(ws.join(&format!("out/s{i}.txt"))).unwrap())
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, failure_persistence: None, .. ProptestConfig::default() })]

    /// Incremental builds run exactly the stages whose key is new and end with
    /// the same outs as a clean build.
    #[test]
    fn incremental_builds_are_minimal_and_correct(stages in dag(), edits in edits(), jobs in prop_oneof![Just(1usize), Just(4usize)]) {
        let n = stages.len();
        let mut model = Model {
            stages,
            params: vec![0; n],
            sources: vec![0; n],
            last_key: vec![None; n],
            seen: vec![HashSet::new(); n],
            on_disk: vec![None; n],
        };
        let ws = Workspace::new();
        for edit in std::iter::once(None).chain(edits.into_iter().map(Some)) {
            match edit {
                Some(Edit::Param(i, v)) => model.params[i % n] = v,
                Some(Edit::Source(i, v)) => model.sources[i % n] = v,
                None => {}
            }
            model.write(&ws);
            let (expected_ran, fresh, restored) = model.build();
            let (line, ran) = ws.build_ran(&["-j", &jobs.to_string()]);
            let ran: BTreeSet<String> = ran.into_iter().collect();
            prop_assert_eq!(&ran, &expected_ran, "summary: {}", line);
            prop_assert_eq!(line, counts(expected_ran.len(), fresh, restored, 0));
            for (i, bytes) in outs(&ws, n).into_iter().enumerate() {
                prop_assert_eq!(String::from_utf8(bytes).unwrap(), model.on_disk[i].clone().unwrap());
            }
        }
        let clean = Workspace::new();
        model.write(&clean);
        clean.build(&["-j", &jobs.to_string()]);
        prop_assert_eq!(outs(&ws, n), outs(&clean, n));
    }
}
