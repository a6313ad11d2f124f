//! Integration tests: bad or hostile input never runs the wrong thing
//! (issue 10, items 1 (globs), 11, 12, 13, 14, 15 and 19).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Output;

use crate::common::*;
use insta::assert_snapshot;

/// Runs `tnsflow ARGS`, asserts exit code 2 and nothing on stdout, and returns stderr.
fn config_error(ws: &Workspace, args: &[&str]) -> String {
    let out = ws.tnsflow(args).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "stderr:\n{stderr}");
    assert!(out.stdout.is_empty(), "nothing on stdout");
    stderr
}

/// `tnsflow ARGS` with `dir` as the working directory.
fn run_in(ws: &Workspace, dir: &Path, args: &[&str]) -> Output {
    ws.tnsflow(args).current_dir(dir).output().unwrap()
}

fn assert_ok(out: &Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "exit {:?}\nstdout:\n{stdout}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

fn read(path: PathBuf) -> String {
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// The stage names `status --json` lists, in order.
fn stage_names(ws: &Workspace, dir: &Path) -> Vec<String> {
    let out = run_in(ws, dir, &["status", "--json"]);
    let json: serde_json::Value = serde_json::from_str(&assert_ok(&out)).expect("JSON");
    json.as_array()
        .expect("an array")
        .iter()
        .map(|s| s["stage"].as_str().expect("a name").to_string())
        .collect()
}

/// A foreach over `data/*.txt` and a stage with a glob dep on the same files.
const GLOBS: &str = r#"
stages:
  copy:
    foreach: data/*.txt
    cmd: "cp ${item} out/each/${stem}.txt"
    deps: [${item}]
    outs: [out/each/${stem}.txt]
  all:
    cmd: "cat data/*.txt > out/all.txt"
    deps: ["data/*.txt"]
    outs: [out/all.txt]
"#;

/// A workspace whose own path holds `?`, `[1]`, `*` (or a space, `%`, `#`,
/// `;`, `'`) expands `foreach` and glob deps from its own files only: the
/// path is never read as a pattern, so a sibling folder the unescaped path
/// would match (`wsX1`) is not expanded, and the workspace's files are.
#[test]
fn issue_10_globs_match_inside_a_workspace_with_glob_characters_in_its_path() {
    for name in ["ws?[1]*", "ws %41#;'x"] {
        let outer = Workspace::new();
        let decoy = outer.join("wsX1");
        std::fs::create_dir_all(decoy.join("data")).unwrap();
        std::fs::write(decoy.join("data/decoy.txt"), "decoy\n").unwrap();
        std::fs::write(decoy.join("pipeline.yaml"), GLOBS).unwrap();
        let dir = outer.join(name);
        std::fs::create_dir_all(dir.join("data")).unwrap();
        std::fs::write(dir.join("pipeline.yaml"), GLOBS).unwrap();
        std::fs::write(dir.join("data/a.txt"), "a\n").unwrap();
        std::fs::write(dir.join("data/b.txt"), "b\n").unwrap();

        assert_ok(&run_in(&outer, &dir, &["build"]));
        assert_eq!(
            stage_names(&outer, &dir),
            ["copy@a", "copy@b", "all"],
            "in `{name}`"
        );
        assert_eq!(read(dir.join("out/each/a.txt")), "a\n");
        assert_eq!(read(dir.join("out/each/b.txt")), "b\n");
        assert_eq!(read(dir.join("out/all.txt")), "a\nb\n");
        assert!(!decoy.join("out").exists(), "the sibling was not touched");

        // The glob dep counts by content: a new match reruns `all`.
        std::fs::write(dir.join("data/c.txt"), "c\n").unwrap();
        let stdout = assert_ok(&run_in(&outer, &dir, &["build"]));
        assert_eq!(summary(&stdout), counts(2, 2, 0, 0), "in `{name}`");
        assert_eq!(read(dir.join("out/all.txt")), "a\nb\nc\n");
    }
}

/// A foreach-matched file named `${seed}.txt` is used as named: `${item}` and
/// `${stem}` are replaced in one pass, and what a file name puts in is text,
/// never read again as a placeholder (in paths or in `cmd`).
#[test]
fn placeholders_in_a_matched_file_name_are_text() {
    let ws = Workspace::new()
        .pipeline(
            r#"
params:
  seed: 42
stages:
  copy:
    foreach: data/*.txt
    cmd: "cp ${item} out/each/${stem}.txt && echo ${seed} >> out/each/${stem}.txt"
    deps: [${item}]
    params: [seed]
    outs: [out/each/${stem}.txt]
"#,
        )
        .file("data/${seed}.txt", "dollar\n")
        .file("data/a.txt", "a\n");
    assert_eq!(ws.build(&[]), counts(2, 0, 0, 0));
    assert_eq!(ws.read("out/each/${seed}.txt"), "dollar\n42\n");
    assert_eq!(ws.read("out/each/a.txt"), "a\n42\n");
    assert_eq!(stage_names(&ws, ws.path()), ["copy@${seed}", "copy@a"]);
}

/// A foreach-matched file named `back\slash.txt` is used as named: on Unix a
/// backslash is part of the name, not a folder separator to rewrite.
#[test]
fn a_backslash_in_a_matched_file_name_is_kept() {
    let ws = Workspace::new()
        .pipeline(
            r#"
stages:
  copy:
    foreach: data/*.txt
    cmd: "cp ${item} out/each/${stem}.txt"
    deps: [${item}]
    outs: [out/each/${stem}.txt]
"#,
        )
        .file("data/back\\slash.txt", "b\n");
    assert_eq!(ws.build(&[]), counts(1, 0, 0, 0));
    assert_eq!(ws.read("out/each/back\\slash.txt"), "b\n");
    assert_eq!(stage_names(&ws, ws.path()), ["copy@back\\slash"]);
    assert_eq!(ws.build(&[]), counts(0, 1, 0, 0));
}

/// A foreach-matched file whose stem holds a newline or another control
/// character is refused, naming the file: the stage named after it would
/// break the one-stage-per-line output of `build --dry-run`.
#[test]
fn a_control_character_in_a_matched_stem_is_refused() {
    let ws = Workspace::new()
        .pipeline(
            r#"
stages:
  copy:
    foreach: data/*.txt
    cmd: "cp ${item} out/${stem}.txt"
    outs: [out/${stem}.txt]
"#,
        )
        .file("data/a.txt", "a\n")
        .file("data/new\nline.txt", "n\n");
    assert_snapshot!(
        "foreach_control_character",
        config_error(&ws, &["build", "--dry-run"])
    );
    std::fs::remove_file(ws.join("data/new\nline.txt")).unwrap();
    ws.write("data/tab\there.txt", "t\n");
    let stderr = config_error(&ws, &["status"]);
    assert!(
        stderr.contains("foreach matches `data/tab\\there.txt`"),
        "{stderr}"
    );
}

/// Stage names from foreach stems holding `"` or `\` are escaped in
/// `dag --format dot` and `--format mermaid`, so both stay well formed.
#[test]
fn dag_escapes_quotes_and_backslashes_in_stage_names() {
    let ws = Workspace::new()
        .pipeline(
            r#"
stages:
  copy:
    foreach: data/*.txt
    cmd: "cp ${item} out/${stem}.txt"
    outs: [out/${stem}.txt]
"#,
        )
        .file("data/say \"hi\".txt", "a\n")
        .file("data/back\\slash.txt", "b\n");
    let dot = assert_ok(&ws.tnsflow(["dag", "--format", "dot"]).output().unwrap());
    assert_eq!(
        dot,
        "digraph tnsflow {\n  rankdir=LR;\n  node [shape=box];\n  \"copy@back\\\\slash\";\n  \"copy@say \\\"hi\\\"\";\n}\n"
    );
    let mermaid = assert_ok(&ws.tnsflow(["dag", "--format", "mermaid"]).output().unwrap());
    assert_eq!(
        mermaid,
        "flowchart LR\n  s0[\"copy@back\\slash\"]\n  s1[\"copy@say #quot;hi#quot;\"]\n"
    );
}

/// `${item}`, `${stem}` and string params reach `sh -c` quoted: a file named
/// `x;touch INJECTED;.txt` runs no `touch`, names with a space or `'` work,
/// and a param's `;` and `'` are text.
#[test]
fn issue_10_substituted_values_are_quoted_for_the_shell() {
    let ws = Workspace::new()
        .pipeline(
            r#"
params:
  label: "it's; touch PWNED #"
  n: 2
stages:
  copy:
    foreach: data/*.txt
    cmd: "head -n ${n} ${item} > out/each/${stem}.txt && echo ${stem} >> out/each/${stem}.txt"
    deps: [${item}]
    params: [n]
    outs: [out/each/${stem}.txt]
  label:
    cmd: "printf '%s|' ${label} ${n} > out/label.txt"
    params: [label, n]
    outs: [out/label.txt]
"#,
        )
        .file("data/x;touch INJECTED;.txt", "x1\nx2\nx3\n")
        .file("data/a b.txt", "ab\n")
        .file("data/it's.txt", "it\n");
    ws.build(&[]);
    assert!(!ws.exists("INJECTED"), "a file name ran as a command");
    assert!(!ws.exists("PWNED"), "a param ran as a command");
    assert_eq!(
        ws.read("out/each/x;touch INJECTED;.txt"),
        "x1\nx2\nx;touch INJECTED;\n"
    );
    assert_eq!(ws.read("out/each/a b.txt"), "ab\na b\n");
    assert_eq!(ws.read("out/each/it's.txt"), "it\nit's\n");
    assert_eq!(ws.read("out/label.txt"), "it's; touch PWNED #|2|");
}

/// A stand-in for `sbatch --parsable --wait --array=0-N --output=PATTERN
/// SCRIPT`: prints a job id, then runs each array task one after the other
/// as Slurm would, expanding the `%` fields of `--output` as Slurm does. A
/// task whose log folder does not exist does not run (Slurm cannot open it).
const FAKE_SBATCH: &str = r#"#!/usr/bin/env python3
import os, subprocess, sys
args = sys.argv[1:]
script, last, output = args[-1], 0, None
for a in args[:-1]:
    if a.startswith("--array="):
        last = int(a[len("--array="):].split("%")[0].split("-")[1])
    elif a.startswith("--output="):
        output = a[len("--output="):]
print("4242", flush=True)

def expand(pattern, task):
    out, i = "", 0
    while i < len(pattern):
        if pattern[i] != "%":
            out, i = out + pattern[i], i + 1
            continue
        j = i + 1
        while j < len(pattern) and pattern[j].isdigit():
            j += 1
        width, kind = int(pattern[i + 1:j] or 0), pattern[j:j + 1]
        if kind == "%":
            out += "%"
        elif kind == "a":
            out += str(task).zfill(width)
        elif kind in ("A", "j"):
            out += "4242".zfill(width)
        else:
            out += pattern[i:j + 1]
        i = j + 1
    return out

for task in range(last + 1):
    log = expand(output, task)
    if not os.path.isdir(os.path.dirname(log)):
        continue
    with open(log, "w") as f:
        env = dict(os.environ, SLURM_ARRAY_TASK_ID=str(task))
        subprocess.run(["sh", script], stdout=f, stderr=subprocess.STDOUT, env=env)
"#;

/// `sweep --slurm` from a workspace whose path holds `%a`, a space, `'`, `;`
/// and `#`, sweeping a string param that looks like shell: every task finds
/// its point, writes its log where the sweep reads it, and the value reaches
/// the command as text.
#[test]
fn issue_10_a_slurm_sweep_runs_in_a_workspace_with_shell_and_slurm_characters() {
    let outer = Workspace::new();
    let bin = outer.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::write(bin.join("sbatch"), FAKE_SBATCH).unwrap();
    std::fs::set_permissions(bin.join("sbatch"), std::fs::Permissions::from_mode(0o755)).unwrap();
    let dir = outer.join("sweep %a 'x'; #1");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("pipeline.yaml"),
        "params:\n  label: a\nstages:\n  a:\n    cmd: \"printf '%s|' ${label} > out/label.txt\"\n    params: [label]\n    outs: [out/label.txt]\n",
    )
    .unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = outer
        .tnsflow([
            "sweep",
            "--slurm",
            "--set",
            "label=it's; touch INJECTED,$(touch INJECTED)",
        ])
        .current_dir(&dir)
        .env("PATH", path)
        .output()
        .unwrap();
    let stdout = assert_ok(&out);
    assert_eq!(
        stdout,
        "point,label,status\npoint-000,it's; touch INJECTED,ok\npoint-001,$(touch INJECTED),ok\n"
    );
    assert_eq!(
        read(dir.join("sweeps/point-000/out/label.txt")),
        "it's; touch INJECTED|"
    );
    assert_eq!(
        read(dir.join("sweeps/point-001/out/label.txt")),
        "$(touch INJECTED)|"
    );
    assert!(dir.join("sweeps/point-001.log").is_file());
    for at in [
        &dir,
        &dir.join("sweeps/point-000"),
        &dir.join("sweeps/point-001"),
    ] {
        assert!(!at.join("INJECTED").exists(), "in {}", at.display());
    }
}

const ENFORCEMENT: &str = r#"
params:
  enforcement:
    block_risk: 0.9
    review_risk: 0.5
stages:
  e:
    cmd: "echo ${enforcement.block_risk} ${enforcement.review_risk} > out/e.txt"
    params: [enforcement.block_risk, enforcement.review_risk]
    outs: [out/e.txt]
"#;

/// A map-valued `--set` is merged key by key into the params (the keys it
/// does not name keep the file's values), and each of its keys is checked
/// like a dotted `--set`: an unknown one is refused with a suggestion.
#[test]
fn issue_10_a_map_valued_set_is_validated_and_merged() {
    let ws = Workspace::new().pipeline(ENFORCEMENT);
    ws.build(&["--set", "enforcement={block_risk: 0.99}"]);
    assert_eq!(ws.read("out/e.txt"), "0.99 0.5\n");

    assert_snapshot!(
        "map_set_unknown_key",
        config_error(&ws, &["build", "--set", "enforcement={block_rsk: 0.99}"])
    );
    assert_snapshot!(
        "map_set_wrong_type",
        config_error(&ws, &["build", "--set", "enforcement={review_risk: high}"])
    );
    assert_eq!(ws.read("out/e.txt"), "0.99 0.5\n", "nothing ran");
}

/// An int param takes a float from `--set` (numbers widen), and a builtin
/// that reads a float accepts it; a builtin that needs an integer still
/// refuses one, and a real type change is still an error.
#[test]
fn issue_10_an_int_param_widens_to_a_float() {
    let ws = Workspace::new().pipeline(
        "params:\n  n: 80\nstages:\n  a:\n    cmd: \"echo ${n} > out/a.txt\"\n    params: [n]\n    outs: [out/a.txt]\n",
    );
    ws.build(&["--set", "n=1.6"]);
    assert_eq!(ws.read("out/a.txt"), "1.6\n");
    let stderr = config_error(&ws, &["build", "--set", "n=many"]);
    assert!(
        stderr.contains("param `n` = many (from --set) has the wrong type: expected an integer"),
        "{stderr}"
    );

    let repo = Workspace::from_repo();
    let out = repo
        .tnsflow(["status", "--set", "monitoring.chats_per_user=1.6"])
        .output()
        .unwrap();
    assert_ok(&out);
    let stderr = config_error(&repo, &["status", "--set", "users=1.5"]);
    assert!(
        stderr.contains("param `users` = 1.5 (from --set) is out of range for stage `generate`"),
        "{stderr}"
    );
}

/// A pipeline file that declares no stages (empty, only comments, only
/// params, or an empty `stages:` map) is an error naming the file.
#[test]
fn issue_10_a_pipeline_without_stages_is_an_error() {
    let ws = Workspace::new().pipeline("");
    assert_snapshot!("no_stages_empty", config_error(&ws, &["build"]));
    let ws = Workspace::new().pipeline("# nothing here yet\n\n# still nothing\n");
    assert_snapshot!("no_stages_comments", config_error(&ws, &["build"]));
    let ws = Workspace::new().pipeline("params:\n  seed: 1\nstages: {}\n");
    assert_snapshot!("no_stages_empty_map", config_error(&ws, &["status"]));
    let ws = Workspace::new().pipeline("params:\n  seed: 1\n");
    let stderr = config_error(&ws, &["dag"]);
    assert!(
        stderr.contains("pipeline.yaml declares no stages"),
        "{stderr}"
    );
}

/// An out may not be the pipeline file, however it is spelt, nor anything
/// in tnsflow's state folder; the pipeline file is left as it was.
#[test]
fn issue_10_outs_may_not_be_the_pipeline_file_or_the_state_folder() {
    let stage = |out: &str| {
        format!("stages:\n  a:\n    cmd: \"echo oops > {out}\"\n    outs: [\"{out}\"]\n")
    };
    let ws = Workspace::new().pipeline(&stage("pipeline.yaml"));
    assert_snapshot!("out_is_the_pipeline", config_error(&ws, &["build"]));
    for out in [
        "./pipeline.yaml",
        "out/../pipeline.yaml",
        "sub//..//pipeline.yaml",
    ] {
        let ws = Workspace::new().pipeline(&stage(out));
        let stderr = config_error(&ws, &["build"]);
        assert!(
            stderr.contains(&format!(
                "stage `a` writes `{out}`, which is the pipeline file"
            )),
            "{stderr}"
        );
        assert_eq!(ws.read("pipeline.yaml"), stage(out), "left as it was");
    }
    let ws = Workspace::new();
    let absolute = ws.join("pipeline.yaml");
    let absolute = absolute.to_str().unwrap();
    ws.write("pipeline.yaml", &stage(absolute));
    let stderr = config_error(&ws, &["build"]);
    assert!(stderr.contains("which is the pipeline file"), "{stderr}");
    assert_eq!(ws.read("pipeline.yaml"), stage(absolute));

    // With -f, the pipeline file is that file.
    let ws = Workspace::new().file("other.yaml", &stage("other.yaml"));
    let stderr = config_error(&ws, &["-f", "other.yaml", "build"]);
    assert!(
        stderr.contains("stage `a` writes `other.yaml`, which is the pipeline file"),
        "{stderr}"
    );

    let ws = Workspace::new().pipeline(&stage(".tnsflow/v2/state.json"));
    assert_snapshot!("out_in_the_state_folder", config_error(&ws, &["build"]));
    for out in [".tnsflow", "out/../.tnsflow/lock"] {
        let ws = Workspace::new().pipeline(&stage(out));
        let stderr = config_error(&ws, &["build"]);
        assert!(
            stderr.contains(&format!(
                "stage `a` writes `{out}`, which is in tnsflow's state folder"
            )),
            "{stderr}"
        );
    }
    // A name that only starts like the state folder is an ordinary out.
    let ws = Workspace::new().pipeline(&stage(".tnsflowrc"));
    ws.build(&[]);
    assert_eq!(ws.read(".tnsflowrc"), "oops\n");
}

/// The permission bits of a file, in octal as `chmod` takes them.
fn mode(path: PathBuf) -> String {
    let mode = std::fs::metadata(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode();
    format!("{:o}", mode & 0o777)
}

/// `publish`'s manifest.json, `sweeps/summary.csv` and a sweep point's
/// pipeline.yaml are created as the umask says, like every other file
/// tnsflow writes (they were 0600).
#[test]
fn issue_10_published_and_swept_files_follow_the_umask() {
    const PIPELINE: &str = "params:\n  seed: 1\nstages:\n  a:\n    cmd: \"echo ${seed} > out/a.txt\"\n    params: [seed]\n    outs: [out/a.txt]\n";
    let ws = Workspace::new().pipeline(PIPELINE);
    let bin = assert_cmd::cargo::cargo_bin("tnsflow");
    // umask is per process: set it in a shell that execs tnsflow, not in
    // this (multi-threaded) test process.
    let with_umask = |args: &[&str]| {
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg("umask 027 && exec \"$0\" \"$@\"")
            .arg(&bin)
            .args(args)
            .current_dir(ws.path())
            .env("NO_COLOR", "1")
            .env_remove("TNSFLOW_CACHE_DIR")
            .output()
            .unwrap();
        assert_ok(&out);
    };
    with_umask(&["publish", "pub"]);
    with_umask(&["sweep", "--set", "seed=1,2"]);
    // What an ordinary file gets under umask 027.
    let expected = "640";
    assert_eq!(mode(ws.join("out/a.txt")), expected, "an ordinary out");
    assert_eq!(mode(ws.join("pub/manifest.json")), expected);
    assert_eq!(mode(ws.join("sweeps/summary.csv")), expected);
    assert_eq!(mode(ws.join("sweeps/point-001/pipeline.yaml")), expected);
}

/// A symbolic link on an out's path cannot carry tnsflow's writes out of
/// the workspace or onto its own state: the build refuses before it runs
/// anything (exit 2), naming where the link leads. The old code published
/// `r.csv` into the other folder and overwrote `.tnsflow/v2/state.db`.
#[test]
fn links_cannot_carry_outs_outside_the_workspace() {
    let elsewhere = tempfile::tempdir().unwrap();
    let ws = Workspace::new()
        .pipeline("stages:\n  s:\n    cmd: \"echo hi > out/r.csv\"\n    outs: [out/r.csv]\n");
    std::os::unix::fs::symlink(elsewhere.path(), ws.join("out")).unwrap();
    let stderr = config_error(&ws, &["build"]);
    assert!(stderr.contains("outside the workspace"), "{stderr}");
    assert!(!elsewhere.path().join("r.csv").exists());

    let ws = Workspace::new()
        .pipeline("stages:\n  a:\n    cmd: \"echo a > a.txt\"\n    outs: [a.txt]\n");
    ws.build(&[]);
    let state = std::fs::read(ws.join(".tnsflow/v2/state.db")).unwrap();
    std::os::unix::fs::symlink(".", ws.join("self")).unwrap();
    ws.write(
        "pipeline.yaml",
        "stages:\n  a:\n    cmd: \"echo a > a.txt\"\n    outs: [a.txt]\n  b:\n    cmd: \"echo x > self/.tnsflow/v2/state.db\"\n    outs: [self/.tnsflow/v2/state.db]\n",
    );
    let stderr = config_error(&ws, &["build"]);
    assert!(stderr.contains("`.tnsflow/`"), "{stderr}");
    assert_eq!(
        std::fs::read(ws.join(".tnsflow/v2/state.db")).unwrap(),
        state
    );
}

/// An out inside another stage's out (`out` and `out/x`) is a
/// configuration error naming both, before anything runs; the old code ran
/// one stage and failed the other at run time, a different one each build.
#[test]
fn an_out_inside_another_out_is_refused() {
    let ws = Workspace::new().pipeline(
        "stages:\n  a:\n    cmd: \"echo a > out\"\n    outs: [out]\n  b:\n    cmd: \"mkdir -p out && echo b > out/x\"\n    outs: [out/x]\n  c:\n    cmd: \"echo c > out-c\"\n    outs: [out-c]\n",
    );
    let stderr = config_error(&ws, &["build"]);
    assert!(
        stderr.contains("stage `b` writes `out/x`, inside `out`, which stage `a` writes as a file"),
        "{stderr}"
    );
    assert!(!ws.exists("out") && !ws.exists("out-c"), "nothing ran");
}

/// A value in the params block that a builtin reads but its stage does not
/// list is ignored (the builtin's default counts, as the key says): the user
/// is told, once per plan, on stderr. The shipped pipeline lists all it
/// reads, so it gets no warning. The old code said nothing.
#[test]
fn a_param_set_but_not_listed_is_warned_about() {
    let ws = Workspace::new().pipeline(
        "params:\n  seed: 1\n  users: 200\nstages:\n  generate:\n    builtin: generate\n    params: [seed]\n    outs: [out/raw_events.csv, out/users.csv, out/reports.csv, out/enforcements.csv]\n",
    );
    let out = ws.tnsflow(["build", "--dry-run"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("warning: stage `generate` does not list param `users`, which pipeline.yaml sets to 200"),
        "{stderr}"
    );
    let shipped = Workspace::from_repo();
    let out = shipped.tnsflow(["status"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("warning"), "{stderr}");
}

/// A foreach `cmd` that reads its matched file (`${item}`) without listing it
/// in its deps is warned about, once per foreach: the file's content is in no
/// stage key, so editing it reruns nothing (`build` says `0 ran`, silently
/// stale). Listing the file, its folder or a glob matching it says nothing.
/// The old code said nothing.
#[test]
fn a_foreach_cmd_that_does_not_list_its_file_is_warned_about() {
    let foreach = |deps: &str| {
        Workspace::new()
            .pipeline(&format!(
                "stages:\n  upper:\n    foreach: src/*.txt\n    cmd: \"tr a-z A-Z < ${{item}} > out/${{stem}}.txt\"\n{deps}    outs: [out/${{stem}}.txt]\n"
            ))
            .file("src/a.txt", "a\n")
            .file("src/b.txt", "b\n")
    };
    let ws = foreach("");
    let out = ws.tnsflow(["build"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let warning = "warning: stage `upper@a` reads `src/a.txt` (its `${item}`) but does not list it in its deps: editing it will not rerun the stage; add `${item}` to the deps of `upper`";
    assert!(stderr.contains(warning), "{stderr}");
    assert_eq!(stderr.matches("warning").count(), 1, "{stderr}");
    for deps in [
        "    deps: [${item}]\n",
        "    deps: [src]\n",
        "    deps: [\"src/*.txt\"]\n",
    ] {
        let out = foreach(deps).tnsflow(["build"]).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{stderr}");
        assert!(!stderr.contains("warning"), "{deps}: {stderr}");
    }
}

/// An absolute path inside the workspace is the relative path it spells:
/// an out `/ws/out/b.txt` is `out/b.txt` (it is inside, not "outside the
/// workspace"; `/ws/pipeline.yaml` is the pipeline file, see above), and a dep `/ws/out/a.txt` is stage `a`'s out, so building
/// `b` builds `a` first. The old code refused the out as outside the
/// workspace; with only the dep absolute, `b` had no edge to `a`.
#[test]
fn an_absolute_path_inside_the_workspace_is_its_relative_path() {
    let ws = Workspace::new();
    let root = ws.path().display().to_string();
    let ws = ws.pipeline(&format!(
        "stages:\n  a:\n    cmd: \"echo a > out/a.txt\"\n    outs: [out/a.txt]\n  b:\n    cmd: \"cat out/a.txt > out/b.txt\"\n    deps: [{root}/out/a.txt]\n    outs: [{root}/./out/b.txt]\n"
    ));
    let out = ws.tnsflow(["build", "b"]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(summary(&stdout), counts(2, 0, 0, 0));
    assert_eq!(ws.read("out/b.txt"), "a\n");
}
