//! Integration tests: every configuration error names the file, line and
//! column at fault, says what was expected, and exits with code 2.

use crate::common::*;
use insta::assert_snapshot;

/// Runs `tnsflow ARGS`, asserts exit code 2 and returns stderr.
fn config_error(ws: &Workspace, args: &[&str]) -> String {
    let out = ws.tnsflow(args).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "stderr:\n{stderr}");
    assert!(out.stdout.is_empty(), "nothing on stdout");
    assert!(!ws.exists("out"), "nothing was written");
    stderr
}

fn pipeline(yaml: &str) -> Workspace {
    Workspace::new().pipeline(yaml).file("in.txt", "x\n")
}

/// A misspelt stage key is named, with the keys allowed and a suggestion.
#[test]
fn unknown_key() {
    let ws = pipeline(
        "stages:\n  a:\n    cmd: \"cat in.txt > out/a\"\n    dpes: [in.txt]\n    outs: [out/a]\n",
    );
    assert_snapshot!("unknown_key", config_error(&ws, &["build"]));
}

/// A misspelt top-level key.
#[test]
fn unknown_top_level_key() {
    let ws = pipeline("parms:\n  seed: 1\nstages: {}\n");
    assert_snapshot!("unknown_top_level_key", config_error(&ws, &["status"]));
}

/// An unknown stage on the command line gets a suggestion.
#[test]
fn unknown_stage() {
    let ws = pipeline("stages:\n  generate:\n    cmd: \"echo > out/a\"\n    outs: [out/a]\n");
    assert_snapshot!("unknown_stage", config_error(&ws, &["build", "genrate"]));
}

/// A cycle is reported with its members in data-flow order.
#[test]
fn cycle() {
    let ws = pipeline(
        "stages:\n  a:\n    cmd: \"cat out/c > out/a\"\n    deps: [out/c]\n    outs: [out/a]\n  b:\n    cmd: \"cat out/a > out/b\"\n    deps: [out/a]\n    outs: [out/b]\n  c:\n    cmd: \"cat out/b > out/c\"\n    deps: [out/b]\n    outs: [out/c]\n",
    );
    assert_snapshot!("cycle", config_error(&ws, &["build"]));
}

/// A stage reading its own out is a cycle of one.
#[test]
fn self_cycle() {
    let ws = pipeline(
        "stages:\n  a:\n    cmd: \"cat out/a > out/a\"\n    deps: [out/a]\n    outs: [out/a]\n",
    );
    let stderr = config_error(&ws, &["build"]);
    assert!(stderr.contains("dependency cycle: a -> a"), "{stderr}");
}

/// Two stages writing one out are both named and both pointed at.
#[test]
fn duplicate_out() {
    let ws = pipeline("stages:\n  a:\n    cmd: \"echo a > out/x\"\n    outs: [out/x]\n  b:\n    cmd: \"echo b > out/x\"\n    outs: [out/x]\n");
    assert_snapshot!("duplicate_out", config_error(&ws, &["build"]));
}

/// A dep that no stage writes and no file provides, with a suggestion.
#[test]
fn missing_dep() {
    let ws = pipeline(
        "stages:\n  load:\n    cmd: \"echo > out/sqlite.db\"\n    outs: [out/sqlite.db]\n  features:\n    cmd: \"cat out/sqlite.db > out/f\"\n    deps: [out/sqlite.dbx]\n    outs: [out/f]\n",
    );
    assert_snapshot!("missing_dep", config_error(&ws, &["build"]));
}

/// Outs must stay inside the workspace.
#[test]
fn out_outside_workspace() {
    let ws = pipeline("stages:\n  a:\n    cmd: \"echo > ../escape\"\n    outs: [../escape]\n");
    assert_snapshot!("out_outside_workspace", config_error(&ws, &["build"]));
    let ws = pipeline("stages:\n  a:\n    cmd: \"echo > /tmp/x\"\n    outs: [/tmp/x]\n");
    let stderr = config_error(&ws, &["build"]);
    assert!(
        stderr.contains("writes `/tmp/x`, which is outside the workspace"),
        "{stderr}"
    );
}

/// A cmd may use only the params its stage lists.
#[test]
fn unlisted_param() {
    let ws = pipeline("params:\n  seed: 42\nstages:\n  a:\n    cmd: \"echo ${seed} > out/a\"\n    outs: [out/a]\n");
    assert_snapshot!("unlisted_param", config_error(&ws, &["build"]));
}

/// A stage listing a param the params block lacks gets a suggestion.
#[test]
fn unknown_param() {
    let ws = pipeline("params:\n  seed: 42\nstages:\n  a:\n    cmd: \"echo ${sede} > out/a\"\n    params: [sede]\n    outs: [out/a]\n");
    assert_snapshot!("unknown_param", config_error(&ws, &["build"]));
}

/// A dotted key in the params block is refused where it is declared, with
/// how to nest it: `a.b` always means `b` inside `a`.
#[test]
fn dotted_param_key() {
    let ws = pipeline("params:\n  seed: 1\n  a.b: 1\nstages:\n  a:\n    cmd: \"echo ${a.b} > out/a\"\n    params: [a.b]\n    outs: [out/a]\n");
    assert_snapshot!("dotted_param_key", config_error(&ws, &["build"]));
    let ws = pipeline(
        "params:\n  e:\n    x.y: 1\nstages:\n  a:\n    cmd: \"echo > out/a\"\n    outs: [out/a]\n",
    );
    let stderr = config_error(&ws, &["build"]);
    assert!(
        stderr.contains("param key `x.y` holds a `.`") && stderr.contains("[pipeline.yaml:3:5]"),
        "{stderr}"
    );
}

/// `--set` must keep the param's type and name an existing param.
#[test]
fn set_errors() {
    let ws = pipeline("params:\n  seed: 42\n  enforcement:\n    block_risk: 0.9\nstages:\n  a:\n    cmd: \"echo ${seed} > out/a\"\n    params: [seed]\n    outs: [out/a]\n");
    assert_snapshot!(
        "set_wrong_type",
        config_error(&ws, &["build", "--set", "seed=abc"])
    );
    assert_snapshot!(
        "set_unknown_param",
        config_error(&ws, &["build", "--set", "enforcement.block_rsk=0.95"])
    );
    assert_snapshot!(
        "set_malformed",
        config_error(&ws, &["build", "--set", "seed"])
    );
}

/// A builtin param out of range or of the wrong type in the file points at
/// its value; from `--set`, the message names `--set` instead.
#[test]
fn param_range_and_type() {
    let yaml = "params:\n  users: -1\nstages:\n  gen:\n    builtin: generate\n    params: [users]\n    outs: [out/users.csv]\n";
    let ws = pipeline(yaml);
    assert_snapshot!("param_range", config_error(&ws, &["build"]));
    let stderr = config_error(&ws, &["build", "--set", "users=0"]);
    assert!(
        stderr.contains("param `users` = 0 (from --set) is out of range for stage `gen`")
            && !stderr.contains("pipeline.yaml:"),
        "{stderr}"
    );
    let ws = pipeline(&yaml.replace("-1", "abc"));
    assert_snapshot!("stage_param_type", config_error(&ws, &["build"]));
}

/// Malformed YAML points at the line and column.
#[test]
fn malformed_yaml() {
    let ws = pipeline("stages:\n  a:\n    cmd: \"echo\n    outs: [out/a\n");
    let stderr = config_error(&ws, &["build"]);
    assert!(
        stderr.contains("pipeline.yaml is not valid YAML"),
        "{stderr}"
    );
    assert!(stderr.contains("[pipeline.yaml:"), "{stderr}");
}

/// A field of the wrong type says what was expected.
#[test]
fn wrong_type() {
    let ws = pipeline("stages:\n  a:\n    cmd: \"echo > out/a\"\n    outs: out/a\n");
    assert_snapshot!("wrong_type", config_error(&ws, &["build"]));
}

/// A stage must run exactly one of builtin, sql or cmd.
#[test]
fn runners() {
    let ws = pipeline("stages:\n  a:\n    outs: [out/a]\n");
    assert_snapshot!("no_runner", config_error(&ws, &["build"]));
    let ws = pipeline(
        "stages:\n  a:\n    cmd: \"echo\"\n    sql: q.sql\n    db: x.db\n    outs: [out/a]\n",
    );
    assert_snapshot!("two_runners", config_error(&ws, &["build"]));
}

/// A foreach pattern that matches nothing is an error, not an empty pipeline.
#[test]
fn foreach_without_matches() {
    let ws = pipeline("stages:\n  detect:\n    foreach: sql/none/*.sql\n    sql: ${item}\n    db: in.txt\n    outs: [out/${stem}.csv]\n");
    assert_snapshot!("foreach_no_match", config_error(&ws, &["build"]));
}

/// An unknown builtin is named, with the builtins there are.
#[test]
fn unknown_builtin() {
    let ws = pipeline("stages:\n  a:\n    builtin: nonexistent_builtin\n    outs: [out/a]\n");
    let stderr = config_error(&ws, &["build"]);
    assert!(
        stderr.contains("stage `a` runs unknown builtin `nonexistent_builtin`; builtins are:"),
        "{stderr}"
    );
    assert!(stderr.contains("[pipeline.yaml:3:14]"), "{stderr}");
}

/// No pipeline file: the message says where it looked and what to do.
#[test]
fn missing_pipeline_file() {
    let ws = Workspace::new();
    assert_snapshot!("missing_pipeline", config_error(&ws, &["build"]));
    let out = ws.tnsflow(["-f", "nope.yaml", "status"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

/// Bad flags are usage errors: exit code 2.
#[test]
fn bad_flags() {
    let ws = pipeline("stages: {}\n");
    let out = ws.tnsflow(["build", "-j", "0"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = ws.tnsflow(["dag", "--format", "png"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

/// On a terminal errors are coloured unless NO_COLOR is set to a non-empty
/// value (no-color.org; clap's own messages do the same): `NO_COLOR=` alone
/// left colours on in clap's help but turned them off in tnsflow's errors.
#[test]
fn no_color_on_a_terminal() {
    // `script` (util-linux) gives the command a terminal.
    let Some(script) = on_path("script") else {
        skip("no `script` on PATH", "apt-get install bsdutils");
        return;
    };
    let ws = pipeline("stages:\n  a:\n    cmd: \"cat in.txt > out/a\"\n    outz: [out/a]\n");
    let on_a_terminal = |no_color: &str| {
        let out = std::process::Command::new(&script)
            .args(["-qec", &format!("{} build", bin().display()), "/dev/null"])
            .current_dir(ws.path())
            .env("NO_COLOR", no_color)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2));
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(text.contains("unknown key `outz`"), "{text}");
        text
    };
    assert!(
        on_a_terminal("").contains("\x1b["),
        "an empty NO_COLOR keeps colours"
    );
    assert!(
        !on_a_terminal("1").contains("\x1b["),
        "NO_COLOR=1 drops them"
    );
}
