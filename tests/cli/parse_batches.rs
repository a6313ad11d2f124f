//! Issue 13: a big pipeline.yaml is parsed a batch of stages at a time (serde_yaml
//! holds every event of what it parses: 32 MB for 10,000 stages at once). What
//! the user sees is the whole-document parse's: the same graph, and for every
//! error the same message, line and column. A line `...` (end of document) at
//! the end of the file asks for the whole-document parse without moving a line.

use crate::common::Workspace;

/// `n` stages written as the benchmark graph writes them.
fn big(n: usize) -> String {
    let mut yaml = String::from("params:\n  seed: 7\nstages:\n");
    for i in 0..n {
        let dep = if i == 0 {
            "input.txt".to_string()
        } else {
            format!("out/s{}.txt", i / 2)
        };
        yaml.push_str(&format!(
            "  s{i}:\n    cmd: \"(echo s{i} ${{seed}}; head -c 80 {dep}) > out/s{i}.txt\"\n    params: [seed]\n    deps: [\"{dep}\"]\n    outs: [\"out/s{i}.txt\"]\n"
        ));
    }
    yaml
}

/// (exit code, stdout, stderr) of `tnsflow ARGS` on `yaml`, traced.
fn run(yaml: &str, args: &[&str]) -> (Option<i32>, String, String) {
    let ws = Workspace::new().pipeline(yaml).file("input.txt", "in\n");
    let out = ws.tnsflow(args).env("TNSFLOW_TRACE", "1").output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Without the trace lines, whose times differ from run to run.
fn untraced(stderr: &str) -> String {
    stderr
        .lines()
        .filter(|l| !l.starts_with("trace:"))
        .map(|l| format!("{l}\n"))
        .collect()
}

/// A 1,000-stage pipeline is parsed in batches, and `dag` prints the graph the
/// whole-document parse gives. Fails before batching (no batches traced).
#[test]
fn big_pipeline_is_parsed_in_batches() {
    let yaml = big(1000);
    let (code, stdout, stderr) = run(&yaml, &["dag"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stderr.contains("stages parsed in 16 batches"),
        "batched: {stderr}"
    );
    let (whole_code, whole_stdout, whole_stderr) = run(&format!("{yaml}...\n"), &["dag"]);
    assert_eq!(whole_code, Some(0));
    assert!(!whole_stderr.contains("batches"), "{whole_stderr}");
    assert_eq!(stdout, whole_stdout);
    assert!(stdout.contains("s999"), "{stdout}");
}

/// Errors in a late batch, or between batches, read exactly as the
/// whole-document parse reports them: message, line and column.
#[test]
fn errors_in_late_batches_read_as_before() {
    let yaml = big(1000);
    let cases = [
        // a syntax error in the fourth batch
        yaml.replace("  s900:\n    cmd: \"", "  s900:\n    cmd: \"\\q"),
        // an unknown key, a wrong type
        yaml.replace("  s700:\n    cmd:", "  s700:\n    cdm:"),
        yaml.replace("  s650:\n", "  s650: 5\n  s650b:\n"),
        // the same stage in two batches
        yaml.replace("  s800:\n", "  s3:\n"),
        // a param no one defines, far down
        yaml.replace(
            "${seed}; head -c 80 out/s470.txt",
            "${sed}; head -c 80 out/s470.txt",
        ),
    ];
    for (i, yaml) in cases.iter().enumerate() {
        assert_ne!(*yaml, big(1000), "case {i} changed nothing");
        let (code, stdout, stderr) = run(yaml, &["dag"]);
        let (whole_code, whole_stdout, whole_stderr) = run(&format!("{yaml}...\n"), &["dag"]);
        assert_eq!(code, Some(2), "case {i}: {stderr}");
        assert_eq!(
            (code, stdout, untraced(&stderr)),
            (whole_code, whole_stdout, untraced(&whole_stderr)),
            "case {i}"
        );
        assert!(stderr.contains("pipeline.yaml:"), "case {i}: {stderr}");
    }
}

/// A multi-line quoted cmd whose second line looks like the next stage: the
/// cut there leaves a batch with an open quote, and the whole document is read.
#[test]
fn a_cut_inside_a_quoted_scalar_reads_the_whole_document() {
    let yaml = big(1000).replace(
        "  s600:\n    cmd: \"(echo s600",
        "  s600:\n    cmd: \"(echo\n  s600b: x",
    );
    let (code, stdout, stderr) = run(&yaml, &["dag", "--format", "dot"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(!stderr.contains("batches"), "{stderr}");
    assert!(!stdout.contains("s600b"), "no stage s600b: {stdout}");
    let (_, whole_stdout, _) = run(&format!("{yaml}...\n"), &["dag", "--format", "dot"]);
    assert_eq!(stdout, whole_stdout);
}

/// An alias to an anchor declared in an earlier batch: the whole-document
/// parse reads it, as before.
#[test]
fn aliases_across_batches_still_work() {
    let yaml = big(600)
        .replace("  s10:\n    cmd:", "  s10:\n    cmd: &shared")
        .replace(
            "  s550:\n    cmd: \"(echo s550 ${seed}; head -c 80 out/s275.txt) > out/s550.txt\"",
            "  s550:\n    cmd: *shared",
        );
    let (code, stdout, stderr) = run(&yaml, &["dag", "--format", "mermaid"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(!stderr.contains("batches"), "{stderr}");
    assert!(stdout.contains("s550"), "{stdout}");
}
