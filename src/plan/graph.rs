//! `Plan`: the pipeline's stages as a petgraph DAG, validated against each
//! other and the disk.
//!
//! Node `i` is stage `i` of the pipeline, in file order; an edge A -> B means B
//! reads something A writes. Building the plan reports, as `ConfigError`s, two
//! stages writing one out, deps nobody provides, unknown builtins, builtin
//! params out of range, and cycles.

use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::Direction;
use serde_yaml::Value;
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

use std::path::Path;

use super::input::{is_glob, literal_separator, Input, InputKind, ResolvedInput};
use super::{DepError, StageKey, StatCache};
use crate::execute::{listed_value, Builtin, Registry, StageParams};
use crate::parse::{
    did_you_mean, display_value, shell_word, substitute_params, ConfigError, Pipeline, StageDecl,
    StageKind,
};
use crate::record::RunRecord;
use crate::ConfigResult;

pub struct PlannedStage {
    pub decl: StageDecl,
    /// What planning found about each of `decl.input_paths()`, in order
    /// (see `inputs`).
    pub resolved: Vec<ResolvedInput>,
    pub builtin: Option<&'static dyn Builtin>,
    /// Values of the params the stage lists.
    pub params: BTreeMap<String, Value>,
    /// The shell command with params substituted, when that differs from
    /// the declaration's (most commands name no param: a copy of each was a
    /// tenth of a big plan); see `cmd`.
    pub substituted_cmd: Option<String>,
}

impl PlannedStage {
    pub fn name(&self) -> &str {
        &self.decl.name
    }

    /// What the stage reads: each declared input with what planning found.
    pub fn inputs(&self) -> impl Iterator<Item = Input<'_>> {
        self.decl
            .input_paths()
            .zip(&self.resolved)
            .map(|(path, resolved)| Input {
                path,
                kind: resolved.kind,
                producers: &resolved.producers,
            })
    }

    /// The shell command to run, params substituted (cmd stages).
    pub fn cmd(&self) -> Option<&str> {
        match &self.decl.kind {
            StageKind::Cmd { cmd } => Some(self.substituted_cmd.as_deref().unwrap_or(cmd)),
            _ => None,
        }
    }

    /// What goes into the stage's key, as the disk is now: a run record
    /// without outs. Hashes come from the stat cache, so unchanged files are
    /// not read.
    pub fn current(&self, root: &Path, stats: &StatCache) -> Result<RunRecord, DepError> {
        let mut deps = BTreeMap::new();
        for input in self.inputs() {
            for (display, abs) in input.files(root) {
                match stats.hash(&abs) {
                    Ok(Some(hash)) => {
                        deps.insert(display, hash);
                    }
                    Ok(None) => return Err(DepError::Missing { dep: display }),
                    Err(source) => {
                        return Err(DepError::Unreadable {
                            dep: display,
                            source,
                        })
                    }
                }
            }
        }
        let mut record = self.declared();
        record.key = StageKey::compute(
            &record.decl,
            record.builtin_version.as_deref(),
            &self.params,
            &deps,
        )
        .to_string();
        record.deps = deps;
        Ok(record)
    }

    /// The first dep that is no longer as `current` hashed it: changed,
    /// gone, or new in a folder or glob. A run that read it may have read
    /// either version, so its outs do not belong to `current`'s key.
    pub fn changed_dep(
        &self,
        root: &Path,
        stats: &StatCache,
        current: &RunRecord,
    ) -> Option<String> {
        let mut seen = HashSet::new();
        for input in self.inputs() {
            for (display, abs) in input.files(root) {
                if !current.deps.contains_key(&display) || !stats.unchanged(&abs) {
                    return Some(display);
                }
                seen.insert(display);
            }
        }
        current
            .deps
            .keys()
            .find(|dep| !seen.contains(*dep))
            .cloned()
    }

    /// What the declaration alone puts into the key (no deps, no key yet): enough
    /// to explain a stage whose deps are not built. The declaration's
    /// canonical form is made here each time rather than kept per stage
    /// (17 MB at 100,000 stages): a stage needs it once per command.
    pub fn declared(&self) -> RunRecord {
        RunRecord {
            stage: self.decl.name.clone(),
            key: String::new(),
            decl: self.decl.canonical(),
            builtin_version: self.builtin.map(|b| b.version().to_string()),
            params: self.params.clone(),
            deps: BTreeMap::new(),
            outs: BTreeMap::new(),
            millis: 0,
        }
    }
}

pub struct Plan {
    /// The pipeline's root, source, params and metrics. Its `stages` are
    /// empty: each declaration moved into its `PlannedStage`.
    pub pipeline: Pipeline,
    pub stages: Vec<PlannedStage>,
    pub graph: DiGraph<usize, ()>,
    /// Stage indices in a topological order (file order among independent stages).
    pub order: Vec<usize>,
    /// What planning noticed that is allowed but likely not meant (a value
    /// in the params block a builtin ignores). Made afresh only: a plan
    /// kept in `plan.bin` has none.
    pub warnings: Vec<String>,
}

impl Plan {
    /// Plans `pipeline`, resolving `builtin:` names through `registry`.
    pub fn build(pipeline: Pipeline, registry: Registry) -> ConfigResult<Plan> {
        Plan::build_knowing(pipeline, registry, &|_| None)
    }

    /// `build`, told by `known` which paths are known to exist unchanged
    /// (`Some(is_folder)`, from the no-op snapshot) so that they are not
    /// stat'ed again: two stats per source file were a third of planning
    /// 10,000 stages after an edit.
    pub fn build_knowing(
        mut pipeline: Pipeline,
        registry: Registry,
        known: &dyn Fn(&Path) -> Option<bool>,
    ) -> ConfigResult<Plan> {
        // What reading the file noticed comes first, in file order.
        let reading_warnings = std::mem::take(&mut pipeline.warnings);
        let src = &pipeline.source;

        // Every out has one producer.
        let mut producer: BTreeMap<&str, (usize, String)> = BTreeMap::new();
        for (i, stage) in pipeline.stages.iter().enumerate() {
            for (j, out) in stage.outs.iter().enumerate() {
                let at = format!("{}.outs[{j}]", stage.yaml_path());
                if let Some((first, first_at)) = producer.get(out.as_str()) {
                    let first_stage = &pipeline.stages[*first];
                    return Err(ConfigError::DuplicateOut {
                        out: out.clone(),
                        first: first_stage.name.clone(),
                        second: stage.name.clone(),
                        src: src.named(),
                        first_span: src.span(first_at),
                        second_span: src.span(&at),
                    });
                }
                producer.insert(out, (i, at));
            }
        }

        // No out inside another: an out is a file (`out` and `out/x` cannot
        // both be). Sorted, the outs inside `o` come at or after `o/`.
        let mut folder = String::new();
        for (outer, (i, outer_at)) in &producer {
            folder.clear();
            folder.push_str(outer);
            folder.push('/');
            if let Some((inner, (j, inner_at))) = producer.range(folder.as_str()..).next() {
                if inner.starts_with(folder.as_str()) {
                    return Err(ConfigError::OutInsideOut {
                        outer: outer.to_string(),
                        outer_stage: pipeline.stages[*i].name.clone(),
                        inner: inner.to_string(),
                        inner_stage: pipeline.stages[*j].name.clone(),
                        src: src.named(),
                        outer_span: src.span(outer_at),
                        inner_span: src.span(inner_at),
                    });
                }
            }
        }

        let mut resolved = Vec::with_capacity(pipeline.stages.len());
        let mut warnings = reading_warnings;
        for decl in &pipeline.stages {
            let builtin = resolve_builtin(&pipeline, registry, decl)?;
            let params = stage_params(&pipeline, decl);
            if let Some(b) = builtin {
                let listed = StageParams::new(params.clone());
                let validated = b.validate(&listed);
                warnings.extend(unlisted_params(&pipeline, decl, &listed));
                validated.map_err(|p| {
                    let origin = pipeline.origin(&p.key);
                    let (src, span) = pipeline.param_span(&p.key);
                    let stage = decl.name.clone();
                    if p.is_wrong_type {
                        ConfigError::StageParamType {
                            origin,
                            key: p.key,
                            value: p.value,
                            stage,
                            expected: p.expected,
                            src,
                            span,
                        }
                    } else {
                        ConfigError::ParamRange {
                            origin,
                            key: p.key,
                            value: p.value,
                            stage,
                            expected: p.expected,
                            src,
                            span,
                        }
                    }
                })?;
            }
            let cmd = match &decl.kind {
                StageKind::Cmd { cmd } => {
                    Some(cmd_with_params(&pipeline, decl, cmd, &params)?).filter(|c| c != cmd)
                }
                _ => None,
            };
            let declared = decl.inputs();
            let mut inputs = Vec::with_capacity(declared.len());
            for (path, yaml_path) in declared {
                inputs.push(resolve_input(
                    &pipeline, &producer, decl, path, yaml_path, known,
                )?);
            }
            resolved.push((inputs, builtin, params, cmd));
        }
        drop(producer);
        // The declarations move into the plan: one copy of each (see `Plan::pipeline`).
        let stages: Vec<PlannedStage> = std::mem::take(&mut pipeline.stages)
            .into_iter()
            .zip(resolved)
            .map(|(decl, (resolved, builtin, params, cmd))| PlannedStage {
                decl,
                resolved,
                builtin,
                params,
                substituted_cmd: cmd,
            })
            .collect();

        let graph = dependency_graph(&stages);
        let order = topological_order(&graph).map_err(|cycle| {
            let first = stages[cycle[0]].decl.name.clone();
            ConfigError::Cycle {
                cycle: cycle
                    .iter()
                    .chain(std::iter::once(&cycle[0]))
                    .map(|&i| stages[i].decl.name.as_str())
                    .collect::<Vec<_>>()
                    .join(" -> "),
                src: src.named(),
                span: src.key_span(&stages[cycle[0]].decl.yaml_path()),
                first,
            }
        })?;
        Ok(Plan {
            pipeline,
            stages,
            graph,
            order,
            warnings,
        })
    }

    /// A plan from parts planned before (the kept plan of `plan_cache`):
    /// only the graph is rebuilt, from each input's producers.
    pub(crate) fn assemble(
        pipeline: Pipeline,
        stages: Vec<PlannedStage>,
        order: Vec<usize>,
    ) -> Plan {
        let graph = dependency_graph(&stages);
        Plan {
            pipeline,
            stages,
            graph,
            order,
            warnings: Vec::new(),
        }
    }

    /// Stage indices for names given on the command line; `NAME` means every `NAME@*`.
    pub fn select(&self, names: &[String]) -> ConfigResult<Vec<usize>> {
        let decls = || self.stages.iter().map(|s| &s.decl);
        let mut selected = Vec::new();
        for name in names {
            let matches: Vec<usize> = decls()
                .enumerate()
                .filter(|(_, d)| d.name == *name || d.group() == *name && d.name.contains('@'))
                .map(|(i, _)| i)
                .collect();
            if matches.is_empty() {
                let mut candidates: Vec<&str> = decls().map(|d| d.name.as_str()).collect();
                candidates.extend(decls().map(|d| d.group()));
                return Err(ConfigError::UnknownStage {
                    name: name.clone(),
                    hint: did_you_mean(name, candidates),
                });
            }
            selected.extend(matches);
        }
        selected.sort_unstable();
        selected.dedup();
        Ok(selected)
    }

    /// Stages whose outs stage `i` reads.
    pub fn producers(&self, i: usize) -> impl Iterator<Item = usize> + '_ {
        self.graph
            .neighbors_directed(NodeIndex::new(i), Direction::Incoming)
            .map(|n| n.index())
    }

    /// The selected stages and everything upstream of them, as a mask.
    pub fn with_upstream(&self, selected: &[usize]) -> Vec<bool> {
        let mut mask = vec![false; self.stages.len()];
        let mut queue: VecDeque<usize> = selected.iter().copied().collect();
        while let Some(i) = queue.pop_front() {
            if !mask[i] {
                mask[i] = true;
                queue.extend(self.producers(i));
            }
        }
        mask
    }
}

/// The values of the params a stage lists (null for one the file lacks).
pub(crate) fn stage_params(pipeline: &Pipeline, decl: &StageDecl) -> BTreeMap<String, Value> {
    decl.params
        .iter()
        .map(|k| {
            (
                k.clone(),
                pipeline.params.get(k).cloned().unwrap_or(Value::Null),
            )
        })
        .collect()
}

/// An edge from each stage to every stage that reads one of its outs.
fn dependency_graph(stages: &[PlannedStage]) -> DiGraph<usize, ()> {
    let mut graph = DiGraph::with_capacity(stages.len(), stages.len());
    for i in 0..stages.len() {
        graph.add_node(i);
    }
    for (i, stage) in stages.iter().enumerate() {
        let producers: HashSet<usize> = stage
            .resolved
            .iter()
            .flat_map(|input| input.producers.iter().copied())
            .collect();
        let mut producers: Vec<usize> = producers.into_iter().collect();
        producers.sort_unstable();
        for p in producers {
            graph.add_edge(NodeIndex::new(p), NodeIndex::new(i), ());
        }
    }
    graph
}

/// The cmd with each `${param}` replaced by its value as one shell word
/// (`${e.x}` read inside a listed `e`):
/// a param is data, so `label: "it's; rm x"` reaches the command as that
/// text (issue 10, item 11). Numbers and plain words stay bare.
fn cmd_with_params(
    pipeline: &Pipeline,
    decl: &StageDecl,
    cmd: &str,
    params: &BTreeMap<String, Value>,
) -> ConfigResult<String> {
    let mut holds_nul = None;
    let text = substitute_params(cmd, |k| {
        let value = listed_value(params, k)
            .map(display_value)
            .unwrap_or_default();
        shell_word(&value).unwrap_or_else(|| {
            holds_nul.get_or_insert_with(|| k.to_string());
            String::new()
        })
    });
    match holds_nul {
        None => Ok(text),
        Some(key) => Err(ConfigError::BadStage {
            stage: decl.name.clone(),
            message: format!(
                "param `{key}` ({}) holds a NUL character, which a shell command cannot carry",
                pipeline.origin(&key)
            ),
            src: pipeline.source.named(),
            span: pipeline.source.span(&format!("{}.cmd", decl.yaml_path())),
            hint: None,
        }),
    }
}

/// The params a builtin asked `listed` for that the stage does not list but
/// the params block sets: the builtin uses its own default, which is
/// rarely what a user who wrote the value meant.
fn unlisted_params(pipeline: &Pipeline, decl: &StageDecl, listed: &StageParams) -> Vec<String> {
    listed
        .asked()
        .into_iter()
        .filter(|key| listed.get(key).is_none())
        .filter_map(|key| {
            let value = pipeline.params.get(&key)?;
            Some(format!(
                "stage `{}` does not list param `{key}`, which {} sets to {}: it uses its built-in default; add `{key}` to its params to use the value",
                decl.name,
                pipeline.source.name,
                display_value(value)
            ))
        })
        .collect()
}

fn resolve_builtin(
    pipeline: &Pipeline,
    registry: Registry,
    decl: &StageDecl,
) -> ConfigResult<Option<&'static dyn Builtin>> {
    let Some(name) = decl.builtin() else {
        return Ok(None);
    };
    let src = &pipeline.source;
    let builtin = registry
        .find(name)
        .ok_or_else(|| ConfigError::UnknownBuiltin {
            stage: decl.name.clone(),
            builtin: name.into(),
            known: registry.names().join(", "),
            src: src.named(),
            span: src.span(&format!("{}.builtin", decl.yaml_path())),
            hint: did_you_mean(name, registry.names()),
        })?;
    for (j, out) in decl.outs.iter().enumerate() {
        let file = out.rsplit('/').next().unwrap_or(out);
        if !builtin.outs().contains(&file) {
            return Err(ConfigError::BuiltinOut {
                stage: decl.name.clone(),
                out: out.clone(),
                builtin: name.into(),
                allowed: builtin.outs().join(", "),
                src: src.named(),
                span: src.span(&format!("{}.outs[{j}]", decl.yaml_path())),
            });
        }
    }
    Ok(Some(builtin))
}

fn resolve_input(
    pipeline: &Pipeline,
    producer: &BTreeMap<&str, (usize, String)>,
    decl: &StageDecl,
    path: &str,
    yaml_path: String,
    known: &dyn Fn(&Path) -> Option<bool>,
) -> ConfigResult<ResolvedInput> {
    let on_disk = pipeline.root.join(path);
    let (kind, producers): (InputKind, Vec<usize>) = if is_glob(path) {
        let pattern = glob::Pattern::new(path).map_err(|e| ConfigError::BadStage {
            stage: decl.name.clone(),
            message: format!("bad glob `{path}`: {e}"),
            src: pipeline.source.named(),
            span: pipeline.source.span(&yaml_path),
            hint: None,
        })?;
        let producers = producer
            .iter()
            .filter(|(out, _)| pattern.matches_with(out, literal_separator()))
            .map(|(_, (i, _))| *i)
            .collect();
        (InputKind::Glob, producers)
    } else if let Some((i, _)) = producer.get(path) {
        (InputKind::File, vec![*i])
    } else {
        let prefix = if path.is_empty() || path == "." {
            String::new()
        } else {
            format!("{path}/")
        };
        let under: Vec<usize> = producer
            .range(prefix.as_str()..)
            .take_while(|(out, _)| out.starts_with(&prefix))
            .map(|(_, (i, _))| *i)
            .collect();
        if !under.is_empty() || known(&on_disk).unwrap_or_else(|| on_disk.is_dir()) {
            (InputKind::Dir, under)
        } else {
            (InputKind::File, Vec::new())
        }
    };
    let mut producers = producers;
    producers.sort_unstable();
    producers.dedup();
    let input = Input {
        path,
        kind,
        producers: &producers,
    };
    let provided = !producers.is_empty()
        || match kind {
            InputKind::File => known(&on_disk).is_some() || on_disk.exists(),
            InputKind::Dir => true,
            InputKind::Glob => !input.files(&pipeline.root).is_empty(),
        };
    if !provided {
        return Err(ConfigError::MissingDep {
            stage: decl.name.clone(),
            dep: path.into(),
            src: pipeline.source.named(),
            span: pipeline.source.span(&yaml_path),
            hint: did_you_mean(path, producer.keys().copied()),
        });
    }
    Ok(ResolvedInput { kind, producers })
}

/// A topological order preferring file order, or the stages of one cycle in
/// data-flow order, starting from its first stage in the file.
///
/// For example, with `a` reading `c`'s out, `b` reading `a`'s and `c` reading
/// `b`'s, every stage is in the cycle and the error reads `a -> b -> c -> a`:
/// each stage writes what the next one reads.
fn topological_order(graph: &DiGraph<usize, ()>) -> Result<Vec<usize>, Vec<usize>> {
    let n = graph.node_count();
    let mut indegree: Vec<usize> = (0..n)
        .map(|i| {
            graph
                .neighbors_directed(NodeIndex::new(i), Direction::Incoming)
                .count()
        })
        .collect();
    let mut ready: std::collections::BTreeSet<usize> =
        (0..n).filter(|&i| indegree[i] == 0).collect();
    let mut order = Vec::with_capacity(n);
    while let Some(i) = ready.pop_first() {
        order.push(i);
        for next in graph.neighbors_directed(NodeIndex::new(i), Direction::Outgoing) {
            let j = next.index();
            indegree[j] -= 1;
            if indegree[j] == 0 {
                ready.insert(j);
            }
        }
    }
    if order.len() == n {
        return Ok(order);
    }
    Err(find_cycle(graph, &indegree))
}

/// One cycle among the stages left with unmet deps, found by breadth-first
/// search from the first of them back to itself (so the cycle is a shortest one).
fn find_cycle(graph: &DiGraph<usize, ()>, indegree: &[usize]) -> Vec<usize> {
    let sccs = petgraph::algo::tarjan_scc(graph);
    let cyclic = sccs
        .into_iter()
        .filter(|c| c.len() > 1 || graph.contains_edge(c[0], c[0]))
        .min_by_key(|c| c.iter().map(|n| n.index()).min())
        .expect("a graph without a topological order has a cycle");
    let members: HashSet<usize> = cyclic.iter().map(|n| n.index()).collect();
    let start = *members.iter().min().expect("a cycle has members");
    debug_assert!(indegree[start] > 0);
    let mut parent: HashMap<usize, usize> = HashMap::new();
    let mut queue = VecDeque::from([start]);
    while let Some(i) = queue.pop_front() {
        let mut nexts: Vec<usize> = graph
            .neighbors_directed(NodeIndex::new(i), Direction::Outgoing)
            .map(|n| n.index())
            .filter(|j| members.contains(j))
            .collect();
        nexts.sort_unstable();
        for j in nexts {
            if j == start {
                let mut cycle = vec![i];
                while let Some(&p) = parent.get(cycle.last().expect("non-empty")) {
                    cycle.push(p);
                }
                cycle.reverse();
                return cycle;
            }
            if let std::collections::hash_map::Entry::Vacant(e) = parent.entry(j) {
                if j != start {
                    e.insert(i);
                    queue.push_back(j);
                }
            }
        }
    }
    vec![start]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph(n: usize, edges: &[(usize, usize)]) -> DiGraph<usize, ()> {
        let mut g = DiGraph::new();
        for i in 0..n {
            g.add_node(i);
        }
        for &(a, b) in edges {
            g.add_edge(NodeIndex::new(a), NodeIndex::new(b), ());
        }
        g
    }

    /// A stage's group and YAML path come from its name (a foreach stage's
    /// up to its `@`); a command is held twice only when params change it;
    /// an input's path is borrowed from the declaration.
    #[test]
    fn stages_hold_what_their_name_and_declaration_do_not() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("in")).unwrap();
        std::fs::write(root.path().join("in/x.txt"), "x").unwrap();
        let yaml = "params:\n  n: 3\nstages:\n  plain:\n    cmd: echo hi > a.txt\n    outs: [a.txt]\n  \
                    counted:\n    cmd: echo ${n} > b.txt\n    params: [n]\n    outs: [b.txt]\n  \
                    each:\n    foreach: in/*.txt\n    cmd: cp ${item} out/${stem}\n    deps: [${item}]\n    outs: [out/${stem}]\n";
        let pipeline = Pipeline::parse("pipeline.yaml", root.path(), yaml.to_string()).unwrap();
        let plan = Plan::build(pipeline, Registry::new(&[])).unwrap();
        let [plain, counted, each] = &plan.stages[..] else {
            panic!("three stages expected, got {}", plan.stages.len());
        };
        assert_eq!(
            (plain.decl.group(), plain.decl.yaml_path()),
            ("plain", "stages.plain".into())
        );
        assert_eq!((each.name(), each.decl.group()), ("each@x", "each"));
        assert_eq!(each.decl.yaml_path(), "stages.each");
        assert_eq!(plan.select(&["each".into()]).unwrap(), [2]);
        assert_eq!(
            (plain.cmd(), plain.substituted_cmd.as_deref()),
            (Some("echo hi > a.txt"), None)
        );
        assert_eq!(counted.cmd(), Some("echo 3 > b.txt"));
        assert_eq!(counted.substituted_cmd.as_deref(), Some("echo 3 > b.txt"));
        assert_eq!(each.cmd(), Some("cp in/x.txt out/x"));
        assert_eq!(each.substituted_cmd, None);
        // An input's path is the declaration's own string, not a copy.
        let input = each.inputs().next().unwrap();
        assert_eq!((input.path, input.kind), ("in/x.txt", InputKind::File));
        assert!(std::ptr::eq(input.path, each.decl.deps[0].as_str()));
    }

    /// Independent stages keep file order; deps come first.
    #[test]
    fn orders_topologically_in_file_order() {
        assert_eq!(
            topological_order(&graph(4, &[(3, 0), (1, 2)])),
            Ok(vec![1, 2, 3, 0])
        );
    }

    /// A cycle is reported in data-flow order from its first stage.
    #[test]
    fn reports_cycles_in_order() {
        assert_eq!(
            topological_order(&graph(4, &[(0, 1), (1, 2), (2, 0), (3, 0)])),
            Err(vec![0, 1, 2])
        );
        assert_eq!(topological_order(&graph(2, &[(1, 1)])), Err(vec![1]));
    }

    mod with_a_fake_registry {
        use super::super::Plan;
        use crate::execute::{Builtin, ParamProblem, Registry, StageContext, StageParams};
        use crate::parse::{ConfigError, Pipeline};
        use crate::StageResult;

        /// A builtin that only exists in these tests: one out, a param `n` <= 10.
        struct Fake;

        impl Builtin for Fake {
            fn name(&self) -> &'static str {
                "fake"
            }
            fn version(&self) -> &'static str {
                "7"
            }
            fn outs(&self) -> &'static [&'static str] {
                &["fake.csv"]
            }
            fn validate(&self, params: &StageParams) -> Result<(), ParamProblem> {
                params.int("n", 1, 0..=10).map(|_| ())
            }
            fn run(&self, _: &StageContext) -> StageResult<()> {
                unreachable!("the planner never runs a stage")
            }
        }

        static FAKES: Registry = Registry::new(&[&Fake]);

        fn plan(yaml: &str) -> Result<Plan, ConfigError> {
            let root = tempfile::tempdir().unwrap();
            let pipeline = Pipeline::parse("pipeline.yaml", root.path(), yaml.to_string())?;
            Plan::build(pipeline, FAKES)
        }

        /// A builtin is found in the registry it is given, and its outs feed the graph.
        #[test]
        fn resolves_builtins_through_the_registry() {
            let plan = plan(
                "params:\n  n: 3\nstages:\n  make:\n    builtin: fake\n    params: [n]\n    outs: [out/fake.csv]\n  use:\n    cmd: \"cat out/fake.csv > out/b.txt\"\n    deps: [out/fake.csv]\n    outs: [out/b.txt]\n",
            )
            .unwrap();
            assert_eq!(plan.stages[0].builtin.map(|b| b.name()), Some("fake"));
            assert_eq!(
                plan.stages[0].declared().builtin_version.as_deref(),
                Some("7")
            );
            assert!(plan.stages[1].builtin.is_none());
            assert_eq!(plan.producers(1).collect::<Vec<_>>(), [0]);
            assert_eq!(plan.order, [0, 1]);
        }

        /// A name the registry lacks is an error listing the registry's names,
        /// with a suggestion; the real catalogue is not consulted.
        #[test]
        fn unknown_builtin_names_the_registry() {
            let err = plan("stages:\n  a:\n    builtin: fak\n    outs: [out/fake.csv]\n");
            match err {
                Err(ConfigError::UnknownBuiltin { known, hint, .. }) => {
                    assert_eq!(known, "fake");
                    assert!(hint.is_some_and(|h| h.contains("fake")));
                }
                other => panic!("expected UnknownBuiltin, got {:?}", other.err()),
            }
            // `generate` is a real builtin, but not in this registry.
            assert!(matches!(
                plan("stages:\n  a:\n    builtin: generate\n    outs: [out/users.csv]\n"),
                Err(ConfigError::UnknownBuiltin { .. })
            ));
        }

        /// The registry's builtin decides which outs and param values are allowed.
        #[test]
        fn checks_outs_and_params_against_the_builtin() {
            assert!(matches!(
                plan("stages:\n  a:\n    builtin: fake\n    outs: [out/other.csv]\n"),
                Err(ConfigError::BuiltinOut { allowed, .. }) if allowed == "fake.csv"
            ));
            assert!(matches!(
                plan("params:\n  n: 11\nstages:\n  a:\n    builtin: fake\n    params: [n]\n    outs: [out/fake.csv]\n"),
                Err(ConfigError::ParamRange { key, .. }) if key == "n"
            ));
        }
    }
}
