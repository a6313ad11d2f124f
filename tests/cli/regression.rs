//! Regression tests, named after the issue that found them.

use crate::common::*;

/// `outs: [out/${stem}.csv]`, as SPEC section 3 writes it, is not plain YAML
/// (`{` is reserved in flow lists); tnsflow must accept it anyway.
/// See: issue 3 (the pipeline.yaml contract).
#[test]
fn issue_3_placeholder_in_flow_list() {
    let ws = Workspace::new()
        .pipeline(
            r#"
params:
  n: 2
stages:
  copy:
    foreach: in/*.txt
    cmd: "head -n ${n} ${item} > out/${stem}.txt"
    deps: [${item}]
    params: [n]
    outs: [out/${stem}.txt]
"#,
        )
        .file("in/a.txt", "1\n2\n3\n")
        .file("in/b.txt", "x\n");
    assert_eq!(ws.build(&[]), counts(2, 0, 0, 0));
    assert_eq!(ws.read("out/a.txt"), "1\n2\n");
    assert_eq!(ws.read("out/b.txt"), "x\n");
}

/// Errors inside a declaration that uses `${...}` still point at the right column.
/// See: issue 3.
#[test]
fn issue_3_spans_survive_placeholders() {
    let ws = Workspace::new()
        .pipeline("stages:\n  copy:\n    foreach: in/*.txt\n    cmd: \"cat ${item} > out/${stem}.txt\"\n    deps: [${item}, nope.txt]\n    outs: [out/${stem}.txt]\n")
        .file("in/a.txt", "1\n");
    let out = ws.tnsflow(["build"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("stage `copy@a` reads `nope.txt`"),
        "{stderr}"
    );
    assert!(stderr.contains("[pipeline.yaml:5:21]"), "{stderr}");
}
