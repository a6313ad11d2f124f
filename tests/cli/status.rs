//! Integration tests: `tnsflow status` says what is stale and why; `dag` draws the graph.

use crate::common::*;

const PIPELINE: &str = r#"
params:
  seed: 42
stages:
  a:
    cmd: "cat in.txt > out/a.txt"
    deps: [in.txt]
    outs: [out/a.txt]
  b:
    cmd: "cat out/a.txt > out/b.txt && echo ${seed} >> out/b.txt"
    deps: [out/a.txt]
    params: [seed]
    outs: [out/b.txt]
  detect:
    foreach: q/*.txt
    cmd: "cat ${item} > out/d/${stem}.txt"
    deps: [${item}]
    outs: [out/d/${stem}.txt]
"#;

fn workspace() -> Workspace {
    Workspace::new()
        .pipeline(PIPELINE)
        .file("in.txt", "hello\n")
        .file("q/one.txt", "1\n")
        .file("q/two.txt", "2\n")
}

fn status_json(ws: &Workspace, args: &[&str]) -> serde_json::Value {
    let out = ws
        .tnsflow(
            std::iter::once("status")
                .chain(args.iter().copied())
                .chain(["--json"]),
        )
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn reasons_of(json: &serde_json::Value, stage: &str) -> Vec<String> {
    json.as_array()
        .unwrap()
        .iter()
        .find(|s| s["stage"] == stage)
        .unwrap_or_else(|| panic!("no stage {stage}"))["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap().to_string())
        .collect()
}

/// `status --json` is an array of {stage, state, reasons}, foreach stages named NAME@STEM.
#[test]
fn json_shape() {
    let ws = workspace();
    let json = status_json(&ws, &[]);
    let stages: Vec<&str> = json
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["stage"].as_str().unwrap())
        .collect();
    assert_eq!(stages, ["a", "b", "detect@one", "detect@two"]);
    assert!(json
        .as_array()
        .unwrap()
        .iter()
        .all(|s| s["state"] == "stale"));
    assert_eq!(reasons_of(&json, "a"), ["never built"]);
    assert_eq!(
        reasons_of(&json, "b"),
        ["upstream stage `a` is stale", "never built"]
    );
    ws.build(&[]);
    let json = status_json(&ws, &[]);
    assert!(json
        .as_array()
        .unwrap()
        .iter()
        .all(|s| s["state"] == "fresh" && s["reasons"].as_array().unwrap().is_empty()));
}

/// A changed param is reported from what to what; `--set` previews a build.
#[test]
fn param_change_reasons() {
    let ws = workspace();
    ws.build(&[]);
    let json = status_json(&ws, &["--set", "seed=17"]);
    assert_eq!(
        reasons_of(&json, "b"),
        ["param `seed` changed from 42 to 17"]
    );
    assert_eq!(reasons_of(&json, "a"), Vec::<String>::new());
    ws.build(&["--set", "seed=17"]);
    let json = status_json(&ws, &[]);
    assert_eq!(
        reasons_of(&json, "b"),
        [
            "param `seed` changed from 17 to 42",
            "outputs for these inputs are in the cache and will be restored"
        ]
    );
}

/// Dep changes, missing outs and modified outs are each named.
#[test]
fn file_reasons() {
    let ws = workspace();
    ws.build(&[]);
    ws.write("in.txt", "changed\n");
    std::fs::remove_file(ws.join("out/d/one.txt")).unwrap();
    std::fs::remove_file(ws.join("out/d/two.txt")).unwrap();
    ws.write("out/d/two.txt", "tampered\n");
    let json = status_json(&ws, &[]);
    assert_eq!(reasons_of(&json, "a"), ["dep `in.txt` changed"]);
    assert_eq!(reasons_of(&json, "b"), ["upstream stage `a` is stale"]);
    assert_eq!(
        reasons_of(&json, "detect@one"),
        [
            "out `out/d/one.txt` is missing",
            "outputs for these inputs are in the cache and will be restored"
        ]
    );
    assert_eq!(
        reasons_of(&json, "detect@two"),
        [
            "out `out/d/two.txt` was modified",
            "outputs for these inputs are in the cache and will be restored"
        ]
    );
}

/// The human form lists each stage with its state and reasons.
#[test]
fn human_form() {
    let ws = workspace();
    ws.build(&[]);
    ws.write("in.txt", "changed\n");
    let out = ws.tnsflow(["status"]).output().unwrap();
    insta::assert_snapshot!(String::from_utf8_lossy(&out.stdout), @r"
    stale  a           dep `in.txt` changed
    stale  b           upstream stage `a` is stale
    fresh  detect@one
    fresh  detect@two
    ");
}

/// A line without reasons ends at the stage name: names are padded only to
/// line up reasons, so a script matching `fresh  a` as a whole line finds it
/// (the old form padded every name to the longest, `fresh  a         `).
#[test]
fn human_form_lines_end_at_the_last_word() {
    let ws = workspace();
    ws.build(&[]);
    ws.write("q/one.txt", "changed\n");
    let out = ws.tnsflow(["status"]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        stdout,
        "fresh  a\nfresh  b\nstale  detect@one  dep `q/one.txt` changed\nfresh  detect@two\n"
    );
}

/// `status --json` is pinned whole: every stage with its state and reasons,
/// here a preview of `--set seed=17` after a dep changed.
#[test]
fn json_snapshot() {
    let ws = workspace();
    ws.build(&[]);
    ws.write("q/two.txt", "changed\n");
    let out = ws
        .tnsflow(["status", "--json", "--set", "seed=17"])
        .output()
        .unwrap();
    assert!(out.status.success());
    insta::assert_snapshot!("status_json", String::from_utf8_lossy(&out.stdout));
}

/// `dag` prints Mermaid and dot with one edge per producer -> consumer pair.
#[test]
fn dag_formats() {
    let ws = workspace();
    let mermaid = ws.tnsflow(["dag", "--format", "mermaid"]).output().unwrap();
    insta::assert_snapshot!("dag_mermaid", String::from_utf8_lossy(&mermaid.stdout));
    let dot = ws.tnsflow(["dag", "--format", "dot"]).output().unwrap();
    insta::assert_snapshot!("dag_dot", String::from_utf8_lossy(&dot.stdout));
}

/// `gc` drops cache entries of earlier param values and keeps the current ones.
#[test]
fn gc_drops_unreferenced_entries() {
    let ws = workspace();
    ws.build(&["--set", "seed=1"]);
    ws.build(&[]);
    let out = ws.tnsflow(["gc"]).output().unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "removed 1 run records and 1 blobs (0.0 MiB)\n"
    );
    // The seed=1 run is gone: going back recomputes instead of restoring.
    assert_eq!(ws.build(&["--set", "seed=1"]), counts(1, 3, 0, 0));
    // The current outputs are still restorable.
    std::fs::remove_file(ws.join("out/a.txt")).unwrap();
    assert_eq!(ws.build(&["--set", "seed=1"]), counts(0, 3, 1, 0));
}

/// A changed map param is reported by the leaf keys that differ, in text and
/// JSON, not as the whole map twice. See: issue 14.
#[test]
fn map_param_reasons_name_the_leaf_keys() {
    let ws = Workspace::new().pipeline(
        "params:\n  enforcement:\n    block_risk: 0.90\n    warn_chats: 80\nstages:\n  e:\n    cmd: \"echo ${enforcement} > out/e.txt\"\n    params: [enforcement]\n    outs: [out/e.txt]\n",
    );
    ws.build(&[]);
    let json = status_json(&ws, &["--set", "enforcement.block_risk=0.95"]);
    assert_eq!(
        reasons_of(&json, "e"),
        ["param `enforcement.block_risk` changed from 0.9 to 0.95"]
    );
    let out = ws
        .tnsflow(["status", "--set", "enforcement.block_risk=0.95"])
        .output()
        .unwrap();
    insta::assert_snapshot!(String::from_utf8_lossy(&out.stdout), @"stale  e  param `enforcement.block_risk` changed from 0.9 to 0.95");
}

/// A stage downstream of several stale stages names them in pipeline order
/// (the old order was the graph's, newest edge first: `b` before `a`).
#[test]
fn upstream_reasons_are_in_pipeline_order() {
    let ws = Workspace::new()
        .pipeline(
            "stages:\n  a:\n    cmd: \"cat in/a > out/a\"\n    deps: [in/a]\n    outs: [out/a]\n  b:\n    cmd: \"cat in/b > out/b\"\n    deps: [in/b]\n    outs: [out/b]\n  c:\n    cmd: \"cat out/a out/b > out/c\"\n    deps: [out/a, out/b]\n    outs: [out/c]\n",
        )
        .file("in/a", "1\n")
        .file("in/b", "2\n");
    ws.build(&[]);
    ws.write("in/a", "3\n");
    ws.write("in/b", "4\n");
    let json = status_json(&ws, &[]);
    assert_eq!(
        reasons_of(&json, "c"),
        ["upstream stage `a` is stale", "upstream stage `b` is stale"]
    );
}
