//! `Pipeline`: what pipeline.yaml says, typed and validated.

use miette::{NamedSource, SourceSpan};
use serde_yaml::{Mapping, Value};
use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};

use super::batches::{self, Layout};
use super::foreach::{self, Item};
use super::placeholder;
use super::stage_decl::normalize;
use super::suggestion::did_you_mean;
use super::{ConfigError, Override, Params, Source, StageDecl, StageKind};
use crate::ConfigResult;

const TOP_KEYS: &[&str] = &["params", "stages", "metrics"];
const STAGE_KEYS: &[&str] = &[
    "builtin", "sql", "db", "cmd", "foreach", "deps", "outs", "params",
];

#[derive(Debug, Clone)]
pub struct Pipeline {
    /// The folder holding the pipeline file; every relative path is relative to it.
    pub root: PathBuf,
    pub source: Source,
    pub params: Params,
    /// Params given with `--set` (for error messages that say where a value came from).
    pub overridden: BTreeSet<String>,
    pub stages: Vec<StageDecl>,
    /// The exports whose figures a sweep summarizes (top-level `metrics:`),
    /// each an out of some stage; None when the file does not say.
    pub metrics: Option<Vec<String>>,
    /// What reading the file noticed that is allowed but likely not meant
    /// (a foreach `cmd` that does not list its matched file as a dep).
    /// Planning passes them on as the plan's warnings.
    pub warnings: Vec<String>,
}

impl Pipeline {
    /// Reads and validates a pipeline file.
    pub fn load(file: &Path) -> ConfigResult<Pipeline> {
        let text = std::fs::read_to_string(file).map_err(|source| ConfigError::Read {
            path: file.to_path_buf(),
            source,
        })?;
        let root = crate::layout::workspace_root(file).map_err(|source| ConfigError::Read {
            path: file.to_path_buf(),
            source,
        })?;
        Pipeline::parse(&file.display().to_string(), &root, text)
    }

    /// Parses pipeline text named `name` for a workspace at `root`.
    pub fn parse(name: &str, root: &Path, text: String) -> ConfigResult<Pipeline> {
        let source = Source::new(name.to_string(), text);
        // The pipeline file as an out path: the workspace is the folder holding it.
        let file_name = Path::new(name)
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_else(|| name.to_string());
        // Batches only save memory: on any doubt or error the whole document is
        // parsed, so that what it gives and every message stay as they were.
        if let Some(layout) = batches::split(&source.text, STAGES_PER_BATCH) {
            if let Some(pipeline) = parse_batched(&source, root, &file_name, &layout) {
                crate::trace::phase(&format!(
                    "stages parsed in {} batches",
                    layout.batches.len()
                ));
                return Ok(pipeline);
            }
        }
        parse_whole(source, root, &file_name)
    }

    /// Applies `--set` overrides in order.
    pub fn apply_overrides(&mut self, overrides: &[Override]) -> ConfigResult<()> {
        for o in overrides {
            let set = o.apply(&mut self.params, &self.source.name)?;
            self.overridden.extend(set);
        }
        Ok(())
    }

    /// Where a param's value came from, for messages.
    pub fn origin(&self, key: &str) -> String {
        if self.is_overridden(key) {
            "from --set".into()
        } else {
            format!("from {}", self.source.name)
        }
    }

    /// Whether a param's value came from `--set` rather than the file.
    pub fn is_overridden(&self, key: &str) -> bool {
        self.overridden
            .iter()
            .any(|k| key == k || key.starts_with(&format!("{k}.")))
    }

    /// The source and span of a param's value in the pipeline file, for an
    /// error's label; None when `--set` gave it (the message says so).
    pub fn param_span(&self, key: &str) -> (Option<NamedSource<String>>, Option<SourceSpan>) {
        if self.is_overridden(key) {
            (None, None)
        } else {
            (
                Some(self.source.named()),
                Some(self.source.span(&format!("params.{key}"))),
            )
        }
    }
}

/// Stage entries parsed by one serde_yaml call: few enough that their events
/// weigh little (parsing 10,000 stages peaks at 16 MB RSS, 19 MB with 128 a
/// batch, 48 MB whole), many enough that the calls cost nothing.
const STAGES_PER_BATCH: usize = 64;

/// The whole document in one serde_yaml call.
pub(super) fn parse_whole(source: Source, root: &Path, file_name: &str) -> ConfigResult<Pipeline> {
    let escaped = placeholder::escape(&source.text);
    let mut doc: Value = serde_yaml::from_str(&escaped).map_err(|e| syntax(&source, &e))?;
    drop(escaped);
    placeholder::restore(&mut doc);
    let empty = Mapping::new();
    let top = match &doc {
        Value::Mapping(m) => m,
        Value::Null => &empty,
        other => {
            return Err(wrong_type(
                &source,
                "the pipeline file",
                "a map with `params` and `stages`",
                "",
                other,
            ))
        }
    };
    let params = read_top(&source, top)?;

    let mut stages = Vec::new();
    let mut warnings = Vec::new();
    match top.get("stages") {
        None | Some(Value::Null) => {}
        Some(Value::Mapping(m)) => read_stages(
            &source,
            root,
            file_name,
            &params,
            m,
            &mut stages,
            &mut warnings,
        )?,
        Some(other) => {
            return Err(wrong_type(
                &source,
                "`stages`",
                "a map of stage names to declarations",
                "stages",
                other,
            ))
        }
    }
    finish(source, root, top, params, stages, warnings)
}

/// The document as `batches::split` cut it: the top level with the stages body
/// left out, then each batch of stages, its values dropped once read. None on
/// any error or surprise: the caller then parses the whole document.
pub(super) fn parse_batched(
    source: &Source,
    root: &Path,
    file_name: &str,
    layout: &Layout,
) -> Option<Pipeline> {
    // `${name}` never spans lines: escaping each piece is escaping the whole.
    let mut doc: Value = serde_yaml::from_str(&placeholder::escape(&layout.top)).ok()?;
    placeholder::restore(&mut doc);
    let Value::Mapping(top) = &doc else {
        return None;
    };
    // `stages:` was kept with an empty body: it must be the key read here.
    if top.get("stages") != Some(&Value::Null) {
        return None;
    }
    let params = read_top(source, top).ok()?;

    let mut stages = Vec::new();
    let mut warnings = Vec::new();
    let mut names = HashSet::new();
    for batch in &layout.batches {
        let mut doc: Value = serde_yaml::from_str(&placeholder::escape(&batch.document())).ok()?;
        placeholder::restore(&mut doc);
        let Value::Mapping(doc) = doc else {
            return None;
        };
        let Some(Value::Mapping(entries)) = doc.get("stages").filter(|_| doc.len() == 1) else {
            return None;
        };
        // Exactly the entries cut, none repeated (the whole document would
        // report a repeated key).
        if entries.len() != batch.keys.len()
            || !entries
                .keys()
                .zip(&batch.keys)
                .all(|(key, cut)| key.as_str() == Some(*cut) && names.insert(*cut))
        {
            return None;
        }
        read_stages(
            source,
            root,
            file_name,
            &params,
            entries,
            &mut stages,
            &mut warnings,
        )
        .ok()?;
    }
    finish(source.clone(), root, top, params, stages, warnings).ok()
}

/// The top-level keys and `params`.
fn read_top(source: &Source, top: &Mapping) -> ConfigResult<Params> {
    check_keys(source, top, "", TOP_KEYS, "the pipeline file")?;
    match top.get("params") {
        None | Some(Value::Null) => Ok(Params::default()),
        Some(Value::Mapping(m)) => {
            check_param_keys(source, m, "params")?;
            Ok(Params::new(m.clone()))
        }
        Some(other) => Err(wrong_type(
            source,
            "`params`",
            "a map of param names to values",
            "params",
            other,
        )),
    }
}

/// No key of the params block, at any depth, holds a `.`: `a.b` always
/// means `b` inside `a`, so a key `a.b: 1` could never be listed or set.
fn check_param_keys(source: &Source, map: &Mapping, path: &str) -> ConfigResult<()> {
    for (key, value) in map {
        let Some(key) = key.as_str() else { continue };
        let key_path = format!("{path}.{key}");
        if key.contains('.') {
            let parts: Vec<&str> = key.split('.').collect();
            let nested: String = parts
                .iter()
                .enumerate()
                .map(|(depth, part)| format!("\n  {}{part}:", "  ".repeat(depth)))
                .collect();
            return Err(ConfigError::DottedParamKey {
                key: key.into(),
                src: source.named(),
                span: source.key_span(&key_path),
                hint: format!(
                    "nest it instead, one key per level:{nested} ...\nand list or set it as `{key}`"
                ),
            });
        }
        if let Value::Mapping(inner) = value {
            check_param_keys(source, inner, &key_path)?;
        }
    }
    Ok(())
}

/// Reads the entries of a `stages` map, in order.
fn read_stages(
    source: &Source,
    root: &Path,
    file_name: &str,
    params: &Params,
    entries: &Mapping,
    into: &mut Vec<StageDecl>,
    warnings: &mut Vec<String>,
) -> ConfigResult<()> {
    for (name, decl) in entries {
        let name = match name.as_str() {
            Some(n) => n.to_string(),
            None => {
                return Err(wrong_type(
                    source,
                    "a stage name",
                    "a string",
                    "stages",
                    name,
                ))
            }
        };
        into.extend(parse_stage(
            source, root, file_name, params, &name, decl, warnings,
        )?);
    }
    Ok(())
}

/// The checks on the whole pipeline once its stages are read.
fn finish(
    source: Source,
    root: &Path,
    top: &Mapping,
    params: Params,
    stages: Vec<StageDecl>,
    warnings: Vec<String>,
) -> ConfigResult<Pipeline> {
    // An empty or comment-only file would otherwise build nothing and exit 0.
    if stages.is_empty() {
        return Err(ConfigError::NoStages {
            file: source.name.clone(),
            src: source.named(),
            span: top.contains_key("stages").then(|| source.span("stages")),
        });
    }

    let mut seen = HashSet::new();
    for stage in &stages {
        if !seen.insert(stage.name.as_str()) {
            return Err(ConfigError::BadStage {
                stage: stage.name.clone(),
                message: "two stages have this name (foreach gives one per file stem)".into(),
                src: source.named(),
                span: source.span(&stage.yaml_path()),
                hint: None,
            });
        }
    }

    let metrics = parse_metrics(&source, top, &stages)?;
    Ok(Pipeline {
        root: root.to_path_buf(),
        source,
        params,
        overridden: BTreeSet::new(),
        stages,
        metrics,
        warnings,
    })
}

/// Whether `file` is among `deps`: listed itself, under a listed folder, or
/// matched by a listed glob.
fn lists_file(deps: &[String], file: &str) -> bool {
    let options = glob::MatchOptions {
        require_literal_separator: true,
        ..glob::MatchOptions::new()
    };
    deps.iter().any(|dep| {
        dep == file
            || file
                .strip_prefix(dep.as_str())
                .is_some_and(|rest| rest.starts_with('/'))
            || glob::Pattern::new(dep).is_ok_and(|p| p.matches_with(file, options))
    })
}

fn syntax(source: &Source, e: &serde_yaml::Error) -> ConfigError {
    let offset = e.location().map(|l| l.index()).unwrap_or(0);
    let mut message = e.to_string();
    // serde_yaml appends " at line L column C"; the label shows that already.
    if let Some(cut) = message.find(" at line ") {
        message.truncate(cut);
    }
    ConfigError::Syntax {
        file: source.name.clone(),
        message,
        src: source.named(),
        span: (offset.min(source.text.len()), 1).into(),
    }
}

fn wrong_type(
    source: &Source,
    what: &str,
    expected: &str,
    path: &str,
    found: &Value,
) -> ConfigError {
    ConfigError::WrongType {
        what: what.into(),
        expected: expected.into(),
        src: source.named(),
        span: source.span(path),
        found: format!("found {}", super::overrides::type_name(found)),
    }
}

/// `metrics: [out/a.csv, ...]`: a list of outs, each written by some stage.
fn parse_metrics(
    source: &Source,
    top: &Mapping,
    stages: &[StageDecl],
) -> ConfigResult<Option<Vec<String>>> {
    let items = match top.get("metrics") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Sequence(items)) => items,
        Some(other) => {
            return Err(wrong_type(
                source,
                "`metrics`",
                "a list of exports such as [out/model_eval.csv]",
                "metrics",
                other,
            ))
        }
    };
    let outs: Vec<&str> = stages
        .iter()
        .flat_map(|s| s.outs.iter().map(String::as_str))
        .collect();
    let mut metrics = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let path = format!("metrics[{i}]");
        let Value::String(metric) = item else {
            return Err(wrong_type(
                source,
                &format!("item {i} of `metrics`"),
                "a string",
                &path,
                item,
            ));
        };
        let metric = metric.trim_start_matches("./");
        if !outs.contains(&metric) {
            return Err(ConfigError::UnknownMetric {
                metric: metric.to_string(),
                src: source.named(),
                span: source.span(&path),
                hint: did_you_mean(metric, outs.iter().copied()),
            });
        }
        metrics.push(metric.to_string());
    }
    Ok(Some(metrics))
}

fn check_keys(
    source: &Source,
    map: &Mapping,
    path: &str,
    allowed: &[&str],
    context: &str,
) -> ConfigResult<()> {
    for key in map.keys() {
        let key = key.as_str().unwrap_or("?");
        if !allowed.contains(&key) {
            let key_path = if path.is_empty() {
                key.to_string()
            } else {
                format!("{path}.{key}")
            };
            return Err(ConfigError::UnknownKey {
                key: key.into(),
                context: context.into(),
                expected: allowed.join(", "),
                src: source.named(),
                span: source.key_span(&key_path),
                hint: did_you_mean(key, allowed.iter().copied()),
            });
        }
    }
    Ok(())
}

/// Reads one stage declaration; a foreach gives one `StageDecl` per match.
fn parse_stage(
    source: &Source,
    root: &Path,
    pipeline_file: &str,
    params: &Params,
    name: &str,
    decl: &Value,
    warnings: &mut Vec<String>,
) -> ConfigResult<Vec<StageDecl>> {
    let path = format!("stages.{name}");
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c))
    {
        return Err(ConfigError::BadStageName {
            name: name.into(),
            src: source.named(),
            span: source.key_span(&path),
        });
    }
    let map = decl.as_mapping().ok_or_else(|| {
        wrong_type(
            source,
            &format!("stage `{name}`"),
            "a map with `cmd`, `sql` or `builtin`, `deps`, `outs`, `params`",
            &path,
            decl,
        )
    })?;
    check_keys(source, map, &path, STAGE_KEYS, &format!("stage `{name}`"))?;

    let root_dir = normalize(&root.to_string_lossy()).unwrap_or_default();
    let field = Fields {
        source,
        map,
        path: &path,
        stage: name,
        pipeline_file,
        root: &root_dir,
    };
    let builtin = field.string("builtin")?;
    let sql = field.string("sql")?;
    let db = field.string("db")?;
    let cmd = field.string("cmd")?;
    let foreach = field.string("foreach")?;
    let deps = field.list("deps")?;
    let outs = field.list("outs")?;
    let mut stage_params = field.list("params")?;

    let runners = [
        ("builtin", builtin.is_some()),
        ("sql", sql.is_some()),
        ("cmd", cmd.is_some()),
    ];
    let present: Vec<&'static str> = runners.iter().filter(|r| r.1).map(|r| r.0).collect();
    match present.as_slice() {
        [] => {
            return Err(ConfigError::NoRunner {
                stage: name.into(),
                src: source.named(),
                span: source.key_span(&path),
            })
        }
        [_] => {}
        [first, second, ..] => {
            return Err(ConfigError::TwoRunners {
                stage: name.into(),
                first,
                second,
                src: source.named(),
                span: source.key_span(&format!("{path}.{second}")),
            })
        }
    }
    if sql.is_some() != db.is_some() {
        let (key, message) = if sql.is_some() {
            (
                "sql",
                "an `sql` stage needs `db`: the SQLite database the query runs against",
            )
        } else {
            ("db", "`db` is only meaningful with `sql`")
        };
        return Err(field.bad(key, message, None));
    }
    if outs.is_empty() {
        return Err(field.bad(
            "outs",
            "a stage must declare at least one out in `outs`",
            None,
        ));
    }
    if sql.is_some() && outs.len() != 1 {
        return Err(field.bad(
            "outs",
            "an `sql` stage writes exactly one out: its result set as CSV",
            None,
        ));
    }
    for (i, param) in stage_params.iter().enumerate() {
        if params.get(param).is_none() {
            let keys = params.keys();
            return Err(ConfigError::UnknownParam {
                stage: name.into(),
                param: param.clone(),
                src: source.named(),
                span: source.span(&format!("{path}.params[{i}]")),
                hint: did_you_mean(param, keys.iter().map(String::as_str)),
            });
        }
    }
    stage_params.sort();
    stage_params.dedup();

    let items: Vec<Option<Item>> = match &foreach {
        None => vec![None],
        Some(pattern) => {
            let items = foreach::expand(root, pattern)
                .map_err(|e| field.bad("foreach", &format!("bad glob `{pattern}`: {e}"), None))?;
            if items.is_empty() {
                return Err(ConfigError::ForeachNoMatch {
                    stage: name.into(),
                    pattern: pattern.clone(),
                    src: source.named(),
                    span: source.span(&format!("{path}.foreach")),
                });
            }
            // A stem names a stage (`NAME@STEM`), and stage names are one
            // line each in `build --dry-run`, `status` and `dag`.
            if let Some(item) = items
                .iter()
                .find(|item| item.stem.chars().any(char::is_control))
            {
                return Err(ConfigError::ForeachControlCharacter {
                    stage: name.into(),
                    file: item.path.escape_debug().to_string(),
                    src: source.named(),
                    span: source.span(&format!("{path}.foreach")),
                });
            }
            items.into_iter().map(Some).collect()
        }
    };

    let mut stages = Vec::new();
    let mut unlisted_item = false;
    for item in items {
        let kind = if let Some(b) = &builtin {
            StageKind::Builtin { builtin: b.clone() }
        } else if let Some(s) = &sql {
            let sql = field.path(s, item.as_ref(), "sql", false)?;
            let db = field.path(
                db.as_deref().unwrap_or_default(),
                item.as_ref(),
                "db",
                false,
            )?;
            StageKind::Sql { sql, db }
        } else {
            let cmd = cmd.as_deref().unwrap_or_default();
            let cmd = match &item {
                Some(item) => foreach::substitute_in_cmd(cmd, item),
                None => cmd.to_string(),
            };
            check_cmd_refs(&field, params, &stage_params, &cmd)?;
            StageKind::Cmd { cmd }
        };
        let deps = deps
            .iter()
            .enumerate()
            .map(|(i, d)| field.path(d, item.as_ref(), &format!("deps[{i}]"), false))
            .collect::<ConfigResult<Vec<_>>>()?;
        let outs = outs
            .iter()
            .enumerate()
            .map(|(i, o)| field.path(o, item.as_ref(), &format!("outs[{i}]"), true))
            .collect::<ConfigResult<Vec<_>>>()?;
        let stage_name = match &item {
            Some(item) => format!("{name}@{}", item.stem),
            None => name.to_string(),
        };
        // A cmd that reads its matched file without listing it: the file's
        // content is in no key, so editing it would rerun nothing. Said once
        // per foreach, naming the first such file.
        let reads_item = cmd
            .as_deref()
            .is_some_and(|c| c.replace("$${", "").contains("${item}"));
        if let Some(item) = item.as_ref().filter(|_| reads_item && !unlisted_item) {
            if matches!(kind, StageKind::Cmd { .. }) && !lists_file(&deps, &item.path) {
                unlisted_item = true;
                warnings.push(format!(
                    "stage `{stage_name}` reads `{}` (its `${{item}}`) but does not list it in its deps: editing it will not rerun the stage; add `${{item}}` to the deps of `{name}`",
                    item.path
                ));
            }
        }
        stages.push(StageDecl {
            name: stage_name,
            kind,
            deps,
            outs,
            params: stage_params.clone(),
            foreach: foreach.clone(),
        });
    }
    Ok(stages)
}

/// Typed access to one stage's fields, with errors that point at them.
struct Fields<'a> {
    source: &'a Source,
    map: &'a Mapping,
    path: &'a str,
    stage: &'a str,
    /// The pipeline file, relative to the workspace: never an out.
    pipeline_file: &'a str,
    /// The workspace folder, normalized: an absolute path under it is
    /// taken as the relative path it spells.
    root: &'a str,
}

impl Fields<'_> {
    fn bad(&self, key: &str, message: &str, hint: Option<String>) -> ConfigError {
        ConfigError::BadStage {
            stage: self.stage.into(),
            message: message.into(),
            src: self.source.named(),
            span: self.source.span(&format!("{}.{key}", self.path)),
            hint,
        }
    }

    fn string(&self, key: &str) -> ConfigResult<Option<String>> {
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            Some(other) => Err(wrong_type(
                self.source,
                &format!("`{key}` of stage `{}`", self.stage),
                "a string",
                &format!("{}.{key}", self.path),
                other,
            )),
        }
    }

    fn list(&self, key: &str) -> ConfigResult<Vec<String>> {
        let what = || format!("`{key}` of stage `{}`", self.stage);
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Sequence(items)) => items
                .iter()
                .enumerate()
                .map(|(i, v)| match v {
                    Value::String(s) => Ok(s.clone()),
                    other => Err(wrong_type(
                        self.source,
                        &format!("item {i} of {}", what()),
                        "a string",
                        &format!("{}.{key}[{i}]", self.path),
                        other,
                    )),
                })
                .collect(),
            Some(other) => Err(wrong_type(
                self.source,
                &what(),
                "a list such as [a, b]",
                &format!("{}.{key}", self.path),
                other,
            )),
        }
    }

    /// The path `template` declares, with a foreach's `${item}` and `${stem}`
    /// replaced, normalized; outs must stay inside the workspace.
    ///
    /// Placeholders are looked for in the template only: a matched file's
    /// name is text, so `in/${seed}.txt` is a path, not a param reference.
    fn path(
        &self,
        template: &str,
        item: Option<&Item>,
        key: &str,
        is_out: bool,
    ) -> ConfigResult<String> {
        if let Some(name) = foreign_placeholder(template, item.is_some()) {
            return Err(self.bad(key, &format!("`${{{name}}}` in a path: only `${{item}}` and `${{stem}}` of a foreach can be used here"), None));
        }
        let substituted;
        let raw = match item {
            Some(item) => {
                substituted = foreach::substitute(template, item);
                substituted.as_str()
            }
            None => template,
        };
        let outside = || ConfigError::OutsideWorkspace {
            stage: self.stage.into(),
            out: raw.into(),
            src: self.source.named(),
            span: self.source.span(&format!("{}.{key}", self.path)),
        };
        // A stage must not overwrite what declares it or tnsflow's own state
        // (issue 10, item 15); spellings such as `out/../pipeline.yaml` are
        // normalized first.
        let reserved = |what, hint: String| ConfigError::ReservedOut {
            stage: self.stage.into(),
            out: raw.into(),
            what,
            src: self.source.named(),
            span: self.source.span(&format!("{}.{key}", self.path)),
            hint,
        };
        let state_dir = crate::layout::STATE_DIR;
        // `/ws/out/a.csv` is `out/a.csv`: the same file, so the same edges.
        let under_root = |p: String| match p.strip_prefix(self.root) {
            Some(rest) if self.root.starts_with('/') && rest.starts_with('/') => {
                rest[1..].to_string()
            }
            _ => p,
        };
        match normalize(raw).map(under_root) {
            Some(p) if p.is_empty() => Err(self.bad(key, "empty path", None)),
            Some(p) if is_out && p.starts_with('/') => Err(outside()),
            Some(p) if is_out && p == self.pipeline_file => Err(reserved(
                "the pipeline file",
                format!("a stage cannot overwrite the pipeline that declares it; write to another path, such as `out/{p}`"),
            )),
            Some(p)
                if is_out
                    && (p == state_dir
                        || p.strip_prefix(state_dir).is_some_and(|r| r.starts_with('/'))) =>
            {
                Err(reserved(
                    "in tnsflow's state folder `.tnsflow/`",
                    "`.tnsflow/` holds tnsflow's run records and cache; write to another path, such as `out/...`".into(),
                ))
            }
            Some(p) => Ok(p),
            None if is_out => Err(outside()),
            None => Ok(raw.to_string()),
        }
    }
}

/// The name in the first `${name}` of a path template that is not a
/// foreach's `${item}` or `${stem}` (any, when the stage has no foreach).
fn foreign_placeholder(template: &str, has_foreach: bool) -> Option<String> {
    let mut rest = template;
    while let Some(at) = rest.find("${") {
        let after = &rest[at + 2..];
        let name: String = after.chars().take_while(|c| *c != '}').collect();
        let is_foreach_name =
            (name == "item" || name == "stem") && after[name.len()..].starts_with('}');
        if !(has_foreach && is_foreach_name) {
            return Some(name);
        }
        rest = &after[name.len() + 1..];
    }
    None
}

/// Every `${name}` in a cmd must be a param the stage lists, or lie inside
/// one: a listed parent key means the whole sub-map, so `params: [e]` covers
/// `${e.x}`. `$${` is a literal `${`.
fn check_cmd_refs(
    field: &Fields,
    params: &Params,
    listed: &[String],
    cmd: &str,
) -> ConfigResult<()> {
    for name in cmd_refs(cmd) {
        let is_covered = listed.iter().any(|p| {
            name == p
                || name
                    .strip_prefix(p.as_str())
                    .is_some_and(|rest| rest.starts_with('.'))
        });
        if is_covered && params.get(name).is_some() {
            continue;
        }
        let span = field.source.span(&format!("{}.cmd", field.path));
        if params.get(name).is_some() {
            return Err(ConfigError::UnlistedParam {
                stage: field.stage.into(),
                param: name.into(),
                src: field.source.named(),
                span,
            });
        }
        let keys = params.keys();
        return Err(ConfigError::UnknownParam {
            stage: field.stage.into(),
            param: name.into(),
            src: field.source.named(),
            span,
            hint: did_you_mean(name, keys.iter().map(String::as_str)),
        });
    }
    Ok(())
}

/// The names inside `${...}` in a cmd, skipping `$${` escapes.
pub(crate) fn cmd_refs(cmd: &str) -> Vec<&str> {
    let mut refs = Vec::new();
    let mut rest = cmd;
    while let Some(at) = rest.find("${") {
        let escaped = at > 0 && rest.as_bytes()[at - 1] == b'$';
        let after = &rest[at + 2..];
        let Some(end) = after.find('}') else { break };
        if !escaped {
            refs.push(&after[..end]);
        }
        rest = &after[end + 1..];
    }
    refs
}

/// Replaces `${param}` with values and `$${` with `${`.
pub fn substitute_params(cmd: &str, mut value_of: impl FnMut(&str) -> String) -> String {
    let mut out = String::with_capacity(cmd.len());
    let mut rest = cmd;
    while let Some(at) = rest.find("${") {
        let after = &rest[at + 2..];
        let Some(end) = after.find('}') else { break };
        if at > 0 && rest.as_bytes()[at - 1] == b'$' {
            out.push_str(&rest[..at - 1]);
            out.push_str("${");
            rest = after;
            continue;
        }
        out.push_str(&rest[..at]);
        out.push_str(&value_of(&after[..end]));
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `${name}` references are found and substituted; `$${` is an escape.
    #[test]
    fn cmd_references() {
        assert_eq!(cmd_refs("echo ${a} $${HOME} ${b.c}"), ["a", "b.c"]);
        let out = substitute_params("echo ${a} $${HOME}", |k| format!("<{k}>"));
        assert_eq!(out, "echo <a> ${HOME}");
    }

    /// A minimal pipeline parses into typed stages with normalized paths.
    #[test]
    fn parses_stages() {
        let text = "params:\n  seed: 1\nstages:\n  a:\n    cmd: echo ${seed} > out/a\n    params: [seed]\n    deps: [./in.txt]\n    outs: [out//a]\n";
        let p = Pipeline::parse("pipeline.yaml", Path::new("/nonexistent"), text.into()).unwrap();
        assert_eq!(p.stages.len(), 1);
        assert_eq!(p.stages[0].deps, ["in.txt"]);
        assert_eq!(p.stages[0].outs, ["out/a"]);
    }

    /// A path template may hold a foreach's `${item}` and `${stem}` and no
    /// other placeholder.
    #[test]
    fn path_placeholders() {
        assert_eq!(
            foreign_placeholder("out/${stem}.csv <- ${item}", true),
            None
        );
        assert_eq!(
            foreign_placeholder("out/${stem}.csv", false).as_deref(),
            Some("stem")
        );
        assert_eq!(
            foreign_placeholder("${stem}/${seed}", true).as_deref(),
            Some("seed")
        );
        assert_eq!(
            foreign_placeholder("${items}", true).as_deref(),
            Some("items")
        );
        assert_eq!(foreign_placeholder("${item", true).as_deref(), Some("item"));
    }

    /// A listed parent key covers `${parent.child}` in the cmd; a child the
    /// params block lacks is still an unknown param.
    #[test]
    fn listed_parent_covers_its_children() {
        let parse = |cmd: &str| {
            let text = format!(
                "params:\n  e:\n    x: 1\n  ex: 2\nstages:\n  a:\n    cmd: \"{cmd}\"\n    params: [e]\n    outs: [a]\n"
            );
            Pipeline::parse("pipeline.yaml", Path::new("/nonexistent"), text)
        };
        assert!(parse("echo ${e.x} > a").is_ok());
        assert!(matches!(
            parse("echo ${e.y} > a"),
            Err(ConfigError::UnknownParam { param, .. }) if param == "e.y"
        ));
        assert!(matches!(
            parse("echo ${ex} > a"),
            Err(ConfigError::UnlistedParam { param, .. }) if param == "ex"
        ));
    }
}
