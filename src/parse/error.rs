//! `ConfigError`: everything wrong with pipeline.yaml or the command line.
//!
//! Each variant that comes from the file carries its source and a labelled span,
//! so miette renders `pipeline.yaml:LINE:COL` with a caret under the culprit.
//! All of them exit with code 2.

use miette::{Diagnostic, NamedSource, SourceSpan};
use std::path::PathBuf;
use thiserror::Error;

#[derive(Debug, Error, Diagnostic)]
pub enum ConfigError {
    #[error("cannot read pipeline file `{path}`")]
    #[diagnostic(
        code(tnsflow::no_pipeline),
        help("run tnsflow in a folder with a pipeline.yaml, or pass one with -f FILE")
    )]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },

    #[error("{file} is not valid YAML: {message}")]
    #[diagnostic(code(tnsflow::yaml_syntax))]
    Syntax {
        file: String,
        message: String,
        #[source_code]
        src: NamedSource<String>,
        #[label("here")]
        span: SourceSpan,
    },

    #[error("unknown key `{key}` in {context}; expected one of: {expected}")]
    #[diagnostic(code(tnsflow::unknown_key))]
    UnknownKey {
        key: String,
        context: String,
        expected: String,
        #[source_code]
        src: NamedSource<String>,
        #[label("unknown key")]
        span: SourceSpan,
        #[help]
        hint: Option<String>,
    },

    #[error("param key `{key}` holds a `.`: dotted keys address nested params, so a key in the params block cannot hold one")]
    #[diagnostic(code(tnsflow::dotted_param_key))]
    DottedParamKey {
        key: String,
        #[source_code]
        src: NamedSource<String>,
        #[label("dotted key")]
        span: SourceSpan,
        #[help]
        hint: String,
    },

    #[error("{what} has the wrong type: expected {expected}")]
    #[diagnostic(code(tnsflow::wrong_type))]
    WrongType {
        what: String,
        expected: String,
        #[source_code]
        src: NamedSource<String>,
        #[label("{found}")]
        span: SourceSpan,
        found: String,
    },

    #[error("stage `{stage}` must say what it runs: one of `builtin`, `sql` or `cmd`")]
    #[diagnostic(code(tnsflow::no_runner))]
    NoRunner {
        stage: String,
        #[source_code]
        src: NamedSource<String>,
        #[label("this stage")]
        span: SourceSpan,
    },

    #[error("stage `{stage}` has both `{first}` and `{second}`; a stage runs exactly one of `builtin`, `sql` or `cmd`")]
    #[diagnostic(code(tnsflow::two_runners))]
    TwoRunners {
        stage: String,
        first: &'static str,
        second: &'static str,
        #[source_code]
        src: NamedSource<String>,
        #[label("second runner")]
        span: SourceSpan,
    },

    #[error("stage `{stage}`: {message}")]
    #[diagnostic(code(tnsflow::bad_stage))]
    BadStage {
        stage: String,
        message: String,
        #[source_code]
        src: NamedSource<String>,
        #[label("here")]
        span: SourceSpan,
        #[help]
        hint: Option<String>,
    },

    #[error("stage name `{name}` is not valid: expected letters, digits, `_`, `-` or `.`")]
    #[diagnostic(code(tnsflow::bad_stage_name))]
    BadStageName {
        name: String,
        #[source_code]
        src: NamedSource<String>,
        #[label("stage name")]
        span: SourceSpan,
    },

    #[error("stage `{stage}` runs unknown builtin `{builtin}`; builtins are: {known}")]
    #[diagnostic(code(tnsflow::unknown_builtin))]
    UnknownBuiltin {
        stage: String,
        builtin: String,
        known: String,
        #[source_code]
        src: NamedSource<String>,
        #[label("unknown builtin")]
        span: SourceSpan,
        #[help]
        hint: Option<String>,
    },

    #[error("stage `{stage}` writes `{out}`, but builtin `{builtin}` writes only: {allowed}")]
    #[diagnostic(code(tnsflow::builtin_out))]
    BuiltinOut {
        stage: String,
        out: String,
        builtin: String,
        allowed: String,
        #[source_code]
        src: NamedSource<String>,
        #[label("not written by `{builtin}`")]
        span: SourceSpan,
    },

    #[error("stage `{stage}` reads param `{param}`, which the params block does not define")]
    #[diagnostic(code(tnsflow::unknown_param))]
    UnknownParam {
        stage: String,
        param: String,
        #[source_code]
        src: NamedSource<String>,
        #[label("unknown param")]
        span: SourceSpan,
        #[help]
        hint: Option<String>,
    },

    #[error(
        "stage `{stage}` uses `${{{param}}}` in its cmd but does not list `{param}` in its params"
    )]
    #[diagnostic(
        code(tnsflow::unlisted_param),
        help("add `{param}` to the stage's `params:` so that changing it reruns the stage")
    )]
    UnlistedParam {
        stage: String,
        param: String,
        #[source_code]
        src: NamedSource<String>,
        #[label("uses `{param}`")]
        span: SourceSpan,
    },

    #[error("stage `{stage}` writes `{out}`, which is outside the workspace")]
    #[diagnostic(
        code(tnsflow::out_outside_workspace),
        help("outs are paths relative to the folder holding the pipeline file, without `..`")
    )]
    OutsideWorkspace {
        stage: String,
        out: String,
        #[source_code]
        src: NamedSource<String>,
        #[label("outside the workspace")]
        span: SourceSpan,
    },

    #[error("stage `{stage}` writes `{out}`, which is {what}")]
    #[diagnostic(code(tnsflow::reserved_out))]
    ReservedOut {
        stage: String,
        out: String,
        what: &'static str,
        #[source_code]
        src: NamedSource<String>,
        #[label("not an out")]
        span: SourceSpan,
        #[help]
        hint: String,
    },

    #[error("stage `{stage}` writes `{out}`, which a symbolic link on its path puts at `{}`, {what}", resolved.display())]
    #[diagnostic(
        code(tnsflow::out_through_link),
        help("outs must land inside the workspace, outside `.tnsflow/` and not on the pipeline file; replace the link with a folder, or write elsewhere")
    )]
    OutThroughLink {
        stage: String,
        out: String,
        resolved: std::path::PathBuf,
        what: &'static str,
        #[source_code]
        src: NamedSource<String>,
        #[label("goes through a link")]
        span: SourceSpan,
    },

    #[error("{file} declares no stages")]
    #[diagnostic(
        code(tnsflow::no_stages),
        help("declare at least one under `stages:`, such as\n  stages:\n    hello:\n      cmd: \"echo hello > out/hello.txt\"\n      outs: [out/hello.txt]")
    )]
    NoStages {
        file: String,
        #[source_code]
        src: NamedSource<String>,
        /// The empty `stages:` map, when there is one.
        #[label("no stages in here")]
        span: Option<SourceSpan>,
    },

    #[error("stage `{stage}`: foreach pattern `{pattern}` matches no files")]
    #[diagnostic(code(tnsflow::foreach_no_match))]
    ForeachNoMatch {
        stage: String,
        pattern: String,
        #[source_code]
        src: NamedSource<String>,
        #[label("matches nothing")]
        span: SourceSpan,
    },

    #[error("stage `{inner_stage}` writes `{inner}`, inside `{outer}`, which stage `{outer_stage}` writes as a file")]
    #[diagnostic(
        code(tnsflow::out_inside_out),
        help("an out is a file, so no other out can be inside it; rename one of them")
    )]
    OutInsideOut {
        outer: String,
        outer_stage: String,
        inner: String,
        inner_stage: String,
        #[source_code]
        src: NamedSource<String>,
        #[label("a file")]
        outer_span: SourceSpan,
        #[label("written inside it")]
        inner_span: SourceSpan,
    },

    #[error("stage `{stage}`: foreach matches `{file}`, whose stem holds a control character; the stage named after it would not fit on one line")]
    #[diagnostic(
        code(tnsflow::foreach_control_character),
        help("rename the file, or narrow the pattern so that it does not match")
    )]
    ForeachControlCharacter {
        stage: String,
        /// The matched path, with its control characters escaped (`a\nb.txt`).
        file: String,
        #[source_code]
        src: NamedSource<String>,
        #[label("matches it")]
        span: SourceSpan,
    },

    #[error("stages `{first}` and `{second}` both write `{out}`")]
    #[diagnostic(
        code(tnsflow::duplicate_out),
        help("every out has exactly one producer; rename one of them")
    )]
    DuplicateOut {
        out: String,
        first: String,
        second: String,
        #[source_code]
        src: NamedSource<String>,
        #[label("first written here")]
        first_span: SourceSpan,
        #[label("and again here")]
        second_span: SourceSpan,
    },

    #[error("stage `{stage}` reads `{dep}`, which no stage writes and no file provides")]
    #[diagnostic(code(tnsflow::missing_dep))]
    MissingDep {
        stage: String,
        dep: String,
        #[source_code]
        src: NamedSource<String>,
        #[label("read here")]
        span: SourceSpan,
        #[help]
        hint: Option<String>,
    },

    #[error("dependency cycle: {cycle}")]
    #[diagnostic(
        code(tnsflow::cycle),
        help("a stage cannot read, directly or through other stages, what it writes")
    )]
    Cycle {
        cycle: String,
        #[source_code]
        src: NamedSource<String>,
        #[label("`{first}` starts the cycle")]
        span: SourceSpan,
        first: String,
    },

    #[error("unknown stage `{name}`")]
    #[diagnostic(code(tnsflow::unknown_stage))]
    UnknownStage {
        name: String,
        #[help]
        hint: Option<String>,
    },

    #[error("`--set {arg}` is not valid: expected KEY=VALUE, such as `--set seed=17`")]
    #[diagnostic(code(tnsflow::bad_set))]
    BadSet { arg: String },

    #[error("`--set {arg}` is not a valid sweep axis: expected KEY=LO..HI (integers), KEY=A,B,C or KEY=VALUE")]
    #[diagnostic(code(tnsflow::bad_sweep))]
    BadSweep { arg: String },

    #[error("`metrics` lists `{metric}`, which no stage writes: expected an out of a stage, such as out/model_eval.csv")]
    #[diagnostic(code(tnsflow::unknown_metric))]
    UnknownMetric {
        metric: String,
        #[source_code]
        src: NamedSource<String>,
        #[label("listed here")]
        span: SourceSpan,
        #[help]
        hint: Option<String>,
    },

    #[error("`--set {arg}` is not a valid sweep axis: LO ({lo}) must not exceed HI ({hi}) in KEY=LO..HI")]
    #[diagnostic(code(tnsflow::reversed_sweep_range))]
    ReversedSweepRange { arg: String, lo: i64, hi: i64 },

    #[error("`--set {arg}` is not a valid sweep axis: it gives {value} twice, and two points with the same params would build in one folder")]
    #[diagnostic(code(tnsflow::repeated_sweep_value), help("give each value once"))]
    RepeatedSweepValue { arg: String, value: String },

    #[error("`--set {key}=...` is swept twice (also as `--set {earlier}=...`): each param is one axis of the grid")]
    #[diagnostic(
        code(tnsflow::repeated_sweep_key),
        help("list every value of a param in one --set, such as --set seed=1,2,5")
    )]
    RepeatedSweepKey { key: String, earlier: String },

    #[error("`--set {key}=...` names a param that the params block of {file} does not define")]
    #[diagnostic(code(tnsflow::unknown_set))]
    UnknownSetParam {
        key: String,
        file: String,
        #[help]
        hint: Option<String>,
    },

    #[error("param `{key}` = {value} ({origin}) has the wrong type: expected {expected}")]
    #[diagnostic(code(tnsflow::param_type))]
    ParamType {
        key: String,
        value: String,
        origin: String,
        expected: String,
    },

    /// `src` and `span` point at the value in the pipeline file; None when
    /// it came from `--set` (the message names that).
    #[error("param `{key}` = {value} ({origin}) has the wrong type for stage `{stage}`: expected {expected}")]
    #[diagnostic(code(tnsflow::stage_param_type))]
    StageParamType {
        key: String,
        value: String,
        origin: String,
        stage: String,
        expected: String,
        #[source_code]
        src: Option<NamedSource<String>>,
        #[label("wrong type")]
        span: Option<SourceSpan>,
    },

    /// `src` and `span` point at the value in the pipeline file; None when
    /// it came from `--set` (the message names that).
    #[error("param `{key}` = {value} ({origin}) is out of range for stage `{stage}`: expected {expected}")]
    #[diagnostic(code(tnsflow::param_range))]
    ParamRange {
        key: String,
        value: String,
        origin: String,
        stage: String,
        expected: String,
        /// As in `StageParamType`: the value in the file, or None for `--set`.
        #[source_code]
        src: Option<NamedSource<String>>,
        #[label("out of range")]
        span: Option<SourceSpan>,
    },
}
