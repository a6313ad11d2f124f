//! Integration tests: `tnsflow publish` and `tnsflow verify`.

use crate::common::*;

const PIPELINE: &str = r#"
params:
  seed: 42
stages:
  a:
    cmd: "cat in.txt > out/a.txt && echo ${seed} >> out/a.txt"
    deps: [in.txt]
    params: [seed]
    outs: [out/a.txt]
  b:
    cmd: "wc -l < out/a.txt > out/sub/b.txt"
    deps: [out/a.txt]
    outs: [out/sub/b.txt]
"#;

fn workspace() -> Workspace {
    Workspace::new()
        .pipeline(PIPELINE)
        .file("in.txt", "hello\n")
}

/// Two clean workspaces publish identical manifests and files; verify passes.
#[test]
fn publish_is_reproducible_and_verifies() {
    let (one, two) = (workspace(), workspace());
    for ws in [&one, &two] {
        let out = ws.tnsflow(["publish", "pub", "-j", "2"]).output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let manifest = one.read("pub/manifest.json");
    assert_eq!(manifest, two.read("pub/manifest.json"));
    let json: serde_json::Value = serde_json::from_str(&manifest).unwrap();
    assert_eq!(json["params"]["seed"], 42);
    assert_eq!(json["files"]["out/sub/b.txt"]["size"], 2);
    assert!(json["stages"]["a"].as_str().unwrap().len() == 64);
    assert_eq!(one.read("pub/out/a.txt"), "hello\n42\n");

    let out = one.tnsflow(["verify", "pub"]).output().unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!(
            "verified 2 files against {}\n",
            std::path::Path::new("pub").join("manifest.json").display()
        )
    );
}

/// verify names every file that differs, is missing or is not listed, and exits 1.
#[test]
fn verify_reports_problems() {
    let ws = workspace();
    assert!(ws
        .tnsflow(["publish", "pub"])
        .output()
        .unwrap()
        .status
        .success());
    ws.write("pub/out/a.txt", "tampered\n");
    std::fs::remove_file(ws.join("pub/out/sub/b.txt")).unwrap();
    ws.write("pub/extra.txt", "x");
    let out = ws.tnsflow(["verify", "pub"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("content differs: out/a.txt"), "{stderr}");
    assert!(stderr.contains("missing: out/sub/b.txt"), "{stderr}");
    assert!(
        stderr.contains("not in the manifest: extra.txt"),
        "{stderr}"
    );
}

/// Publishing with other params records them; a folder that is not a publication is refused.
#[test]
fn publish_params_and_bad_folders() {
    let ws = workspace();
    assert!(ws
        .tnsflow(["publish", "p17", "--set", "seed=17"])
        .output()
        .unwrap()
        .status
        .success());
    assert!(ws.read("p17/manifest.json").contains("\"seed\": 17"));
    ws.write("occupied/file.txt", "mine");
    let out = ws.tnsflow(["publish", "occupied"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(ws.read("occupied/file.txt"), "mine");
    let out = ws.tnsflow(["verify", "nowhere"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("is `nowhere` a folder written by `tnsflow publish`?"));
}

/// One out of `size` bytes; `STAGE_B` adds a second out.
const SIZED: &str = r#"
params:
  size: 1000
stages:
  a:
    cmd: "yes abcdefgh | head -c ${size} > out/a.txt"
    params: [size]
    outs: [out/a.txt]
"#;
const STAGE_B: &str = "  b:\n    cmd: \"echo b > out/b.txt\"\n    outs: [out/b.txt]\n";

/// A publication a full disk cuts short is never taken for a complete one:
/// publish exits 1 naming the file it could not write, the folder holds no
/// manifest (the earlier publication's went first) and `verify` says it is
/// unfinished; with room again, publishing into the same folder finishes
/// it, leaves none of the earlier publication's files and verifies. The
/// same for a first publication cut short. Before, the earlier manifest
/// stayed beside half-copied files, and a first publication cut short left
/// a folder publish then refused ("not empty and holds no manifest.json").
#[test]
fn full_disk_leaves_an_unfinished_publication_that_says_so() {
    let Some(disk) = SmallDisk::mount(16 << 20) else {
        return;
    };
    let ws = Workspace::new_in(disk.path()).pipeline(&format!("{SIZED}{STAGE_B}"));
    let run = |args: &[&str]| ws.tnsflow(args).output().unwrap();
    assert!(run(&["publish", "pub"]).status.success());
    // The next publications have no stage b.
    ws.write("pipeline.yaml", SIZED);
    let large = ["--set", "size=3000000"];
    assert!(run(&[&["build"], &large[..]].concat()).status.success());

    for folder in ["pub", "first"] {
        disk.fill_to(1 << 20);
        let out = run(&[&["publish", folder], &large[..]].concat());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{folder}: {stderr}");
        assert!(
            stderr.contains(&format!("{folder}/out/a.txt`")) && stderr.contains("No space left"),
            "{folder}: the error should name the file and the full disk: {stderr}"
        );
        assert!(!ws.exists(&format!("{folder}/manifest.json")), "{folder}");
        let out = run(&["verify", folder]);
        assert_eq!(out.status.code(), Some(1), "{folder}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("an unfinished publication"));

        disk.empty();
        let out = run(&[&["publish", folder], &large[..]].concat());
        assert!(
            out.status.success(),
            "{folder}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let out = run(&["verify", folder]);
        assert!(
            out.status.success(),
            "{folder}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(ws
            .read(&format!("{folder}/manifest.json"))
            .contains("\"size\": 3000000"));
        assert!(
            !ws.exists(&format!("{folder}/out/b-1000000.txt")),
            "{folder}"
        );
    }
}

/// kill -9 at every rename, unlink, write and copy of a republication
/// (strace's fault injection): each time the folder is either a complete
/// publication that verifies or says it is unfinished, and publishing again
/// gives the new publication, verified, with no stray file.
#[test]
fn kill_9_at_every_write_of_a_publication_leaves_it_complete_or_unfinished() {
    if on_path("strace").is_none() {
        skip("strace is not on PATH", "apt-get install strace");
        return;
    }
    let ws = Workspace::new().pipeline(&format!("{SIZED}{STAGE_B}"));
    let run = |args: &[&str]| ws.tnsflow(args).output().unwrap();
    assert!(run(&["publish", "earlier"]).status.success());
    let new = ["--set", "size=2000"];
    assert!(run(&[&["build"], &new[..]].concat()).status.success());
    let publish_new = |inject: Option<String>| {
        let mut cmd = std::process::Command::new("strace");
        cmd.args(["-f", "-qq", "-o", "/dev/null"]);
        if let Some(inject) = inject {
            cmd.args(["-e", &format!("inject={inject}")]);
        }
        cmd.arg(bin())
            .args(["publish", "-q", "pub"])
            .args(new)
            .current_dir(ws.path())
            .env("NO_COLOR", "1")
            .output()
            .unwrap()
    };
    let mut trials = 0;
    for syscall in ["rename", "unlink", "write", "copy_file_range"] {
        for n in 1.. {
            let _ = std::fs::remove_dir_all(ws.join("pub"));
            copy_dir(&ws.join("earlier"), &ws.join("pub"));
            let out = publish_new(Some(format!("{syscall}:signal=SIGKILL:when={n}")));
            if out.status.success() {
                break; // fewer than n such calls
            }
            trials += 1;
            let verify = run(&["verify", "pub"]);
            let said = String::from_utf8_lossy(&verify.stderr);
            if ws.exists("pub/manifest.json") && !ws.exists("pub/.tnsflow-publishing") {
                assert!(verify.status.success(), "killed at {syscall} #{n}: {said}");
            } else {
                assert_eq!(verify.status.code(), Some(1), "killed at {syscall} #{n}");
                assert!(
                    said.contains("an unfinished publication"),
                    "{syscall} #{n}: {said}"
                );
            }
            let again = publish_new(None);
            assert!(
                again.status.success(),
                "{syscall} #{n}: {}",
                String::from_utf8_lossy(&again.stderr)
            );
            let verify = run(&["verify", "pub"]);
            assert!(
                verify.status.success(),
                "after a kill at {syscall} #{n} and a publish: {}",
                String::from_utf8_lossy(&verify.stderr)
            );
            assert!(ws.read("pub/manifest.json").contains("\"size\": 2000"));
        }
    }
    assert!(trials >= 10, "only {trials} kills");
}

/// A publish into a folder another publish holds waits its turn, says so,
/// and writes nothing meanwhile; then it publishes whole. Before, it copied
/// its files in at once, between the other one's. Meanwhile it holds the
/// workspace: a build there is refused (before, it ran between publish's
/// build and its copies).
#[test]
fn a_publish_waits_for_the_one_writing_into_its_folder() {
    let ws = workspace();
    ws.build(&[]);
    std::fs::create_dir(ws.join("pub")).unwrap();
    let held = std::fs::File::open(ws.join("pub")).unwrap();
    held.lock().unwrap();
    let stderr = ws.join("publish.err");
    let mut child = ws.spawn_with_stderr(
        &["publish", "pub"],
        std::fs::File::create(&stderr).unwrap().into(),
    );
    let said = || std::fs::read_to_string(&stderr).unwrap_or_default();
    wait_for("publish to wait for the folder, or to end", || {
        said().contains("waiting for it to finish") || child.try_wait().unwrap().is_some()
    });
    assert!(
        child.try_wait().unwrap().is_none(),
        "publish went ahead while another held the folder: {}",
        said()
    );
    assert!(said().contains("another publish is writing into `pub`"));
    assert_eq!(std::fs::read_dir(ws.join("pub")).unwrap().count(), 0);
    // Between its build and its copies, no other build may change the
    // outs: publish keeps the workspace lock its build took.
    ws.write("in.txt", "changed\n");
    let other = ws.tnsflow(["build"]).output().unwrap();
    let refused = String::from_utf8_lossy(&other.stderr);
    assert!(
        !other.status.success() && refused.contains("another tnsflow command is running"),
        "a build ran while publish was copying: {refused}"
    );
    assert!(refused.contains("publish"), "{refused}");
    ws.write("in.txt", "hello\n");
    drop(held);
    assert!(child.wait().unwrap().success(), "{}", said());
    assert!(ws
        .tnsflow(["verify", "pub"])
        .output()
        .unwrap()
        .status
        .success());
}

/// Two workspaces publishing different builds into one folder at once,
/// round after round: each time the folder is one of the two publications,
/// whole, and verifies. Before, their copies interleaved and the last
/// manifest described files the other publish had overwritten.
#[test]
fn publishes_racing_into_one_folder_leave_one_whole_publication() {
    let shared = tempfile::tempdir().unwrap();
    // An odd folder name: the lock is on the folder, whatever its name.
    let dest = shared.path().join("pub lish #%;'q\"");
    let (one, two) = (
        Workspace::new().pipeline(SIZED),
        Workspace::new().pipeline(SIZED),
    );
    let sizes = ["size=30000000", "size=20000000"];
    for (ws, size) in [&one, &two].into_iter().zip(sizes) {
        ws.build(&["--set", size]);
    }
    for round in 0..3 {
        let children: Vec<_> = [&one, &two]
            .into_iter()
            .zip(sizes)
            .map(|(ws, size)| {
                ws.spawn(&[
                    "publish".as_ref(),
                    dest.as_os_str(),
                    "--set".as_ref(),
                    size.as_ref(),
                ])
            })
            .collect();
        for mut child in children {
            assert!(child.wait().unwrap().success(), "round {round}");
        }
        let out = one
            .tnsflow(["verify".as_ref(), dest.as_os_str()])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "round {round}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
