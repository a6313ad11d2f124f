//! Nothing lost, nothing wrong: the holes an adversarial run found (issue 10),
//! each driven through the real binary with real signals and real files.
//! Every test here failed on the builder before `build/` (run the suite with
//! `TNSFLOW_TEST_BIN=<older tnsflow>` to see it).

use crate::common::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// `tnsflow ARGS` in `dir` (a workspace not made by `Workspace`).
fn run_in(dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new(bin())
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env_remove("TNSFLOW_CACHE_DIR")
        .output()
        .expect("run tnsflow")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn sqlite_db(path: &Path, value: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.execute_batch(&format!(
        "create table t(v); insert into t values ('{value}');"
    ))
    .unwrap();
}

/// Item 1: a `%` or `#` in the workspace path: SQL stages read their own
/// workspace's database (an unescaped URI made `ws%41` open `wsA`).
#[test]
fn sql_stages_read_their_own_database_whatever_the_folder_name() {
    let parent = tempfile::tempdir().unwrap();
    let pipeline = "stages:\n  q:\n    sql: q.sql\n    db: data/db.sqlite\n    outs: [out/q.csv]\n";
    let make = |name: &str, value: &str| -> PathBuf {
        let ws = parent.path().join(name);
        sqlite_db(&ws.join("data/db.sqlite"), value);
        std::fs::write(ws.join("pipeline.yaml"), pipeline).unwrap();
        std::fs::write(ws.join("q.sql"), "select v from t;\n").unwrap();
        ws
    };
    make("wsA", "from wsA");
    for (name, value) in [("ws%41", "own"), ("ws #1", "hash"), ("w;s 'q'", "quote")] {
        let ws = make(name, value);
        let out = run_in(&ws, &["build"]);
        assert!(out.status.success(), "{name}: {}", text(&out.stderr));
        let csv = std::fs::read_to_string(ws.join("out/q.csv")).unwrap();
        assert_eq!(csv, format!("v\n{value}\n"), "in folder {name:?}");
    }
}

/// Item 2: kill -9 of tnsflow during a command: the next build stops the
/// orphaned command before it runs the stage again, so the two never run side
/// by side and the out is the new run's alone.
#[test]
fn orphaned_command_of_a_killed_build_is_stopped() {
    let ws = Workspace::new().pipeline(
        r#"
stages:
  slow:
    cmd: "echo $$ >> started; sleep 2; echo $$ >> finished; echo done > out/slow.txt"
    outs: [out/slow.txt]
"#,
    );
    let mut first = ws.spawn(&["build"]);
    wait_for("the command to start", || ws.exists("started"));
    first.kill().unwrap();
    first.wait().unwrap();

    let second = ws.tnsflow(["build"]).output().unwrap();
    assert!(second.status.success(), "{}", text(&second.stderr));
    assert!(
        text(&second.stderr)
            .contains("recovered from 1 interrupted build(s): 2 orphaned process(es) stopped"),
        "{}",
        text(&second.stderr)
    );
    // Long enough for the orphan to have finished, had it survived.
    std::thread::sleep(Duration::from_millis(2500));
    let finished = ws.read("finished");
    assert_eq!(
        finished.lines().count(),
        1,
        "only the second run finished: {finished}"
    );
    assert_eq!(ws.read("out/slow.txt"), "done\n");
}

/// Item 3: a failing command never deletes a file the user had at its out path.
#[test]
fn failing_command_keeps_the_users_file() {
    let ws = Workspace::new()
        .pipeline("stages:\n  s:\n    cmd: \"exit 3\"\n    outs: [data/input.csv]\n")
        .file("data/input.csv", "mine\n");
    let out = ws.tnsflow(["build"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(ws.read("data/input.csv"), "mine\n");
}

/// Item 4: a command that exits 0 but misses an out publishes nothing: the
/// previous good outs stay exactly as they were.
#[test]
fn missing_out_keeps_every_previous_out() {
    let ws = Workspace::new()
        .pipeline(
            r#"
stages:
  s:
    cmd: "cp src.txt out/a.txt && if ! grep -q skip src.txt; then cp src.txt out/b.txt; fi"
    deps: [src.txt]
    outs: [out/a.txt, out/b.txt]
"#,
        )
        .file("src.txt", "v1\n");
    assert_eq!(ws.build(&[]), counts(1, 0, 0, 0));
    ws.write("src.txt", "v2 skip\n");
    let out = ws.tnsflow(["build"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("did not write its out `out/b.txt`"));
    assert_eq!(ws.read("out/a.txt"), "v1\n");
    assert_eq!(ws.read("out/b.txt"), "v1\n");
}

/// A dep that changes while its stage runs fails the stage: recorded, the
/// run's outs (made from the new bytes) would be restored later for the old
/// bytes. The old code recorded `v2` under `v1`'s key and restored it.
#[test]
fn dep_changed_during_the_run_is_not_recorded() {
    let ws = Workspace::new()
        .pipeline(
            r#"
stages:
  copy:
    cmd: "if [ -e race ]; then rm race; echo v2 > in.txt; fi; cat in.txt > out.txt"
    deps: [in.txt]
    outs: [out.txt]
"#,
        )
        .file("in.txt", "v1\n")
        .file("race", "");
    let out = ws.tnsflow(["build"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("`in.txt` changed while the stage ran"),
        "{}",
        text(&out.stderr)
    );
    assert!(
        !ws.exists("out.txt"),
        "a failed first run publishes nothing"
    );
    for version in ["v3\n", "v1\n"] {
        ws.write("in.txt", version);
        ws.build(&[]);
        assert_eq!(ws.read("out.txt"), version);
    }
}

/// Item 6: an out edited in place (same size, mtime put back) corrupts
/// neither the cache nor another workspace sharing it, and is noticed.
#[test]
fn in_place_edit_of_an_out_touches_nothing_else() {
    let cache = tempfile::tempdir().unwrap();
    let pipeline = "stages:\n  s:\n    cmd: \"echo original > out/x.txt\"\n    outs: [out/x.txt]\n";
    let one = Workspace::new().pipeline(pipeline);
    let two = Workspace::new().pipeline(pipeline);
    for ws in [&one, &two] {
        let out = ws
            .tnsflow(["build"])
            .env("TNSFLOW_CACHE_DIR", cache.path())
            .output()
            .unwrap();
        assert!(out.status.success());
    }
    // Edit one's out in place (same inode, same size) and put its mtime back.
    let path = one.join("out/x.txt");
    let mtime = std::fs::metadata(&path).unwrap().modified().unwrap();
    std::thread::sleep(Duration::from_millis(20));
    {
        use std::io::{Seek, Write};
        let mut file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        file.seek(std::io::SeekFrom::Start(0)).unwrap();
        file.write_all(b"EDITED!!").unwrap();
        file.set_modified(mtime).unwrap();
    }
    assert_eq!(
        two.read("out/x.txt"),
        "original\n",
        "the other workspace is untouched"
    );
    let rebuilt = one
        .tnsflow(["build"])
        .env("TNSFLOW_CACHE_DIR", cache.path())
        .output()
        .unwrap();
    assert_eq!(summary(&text(&rebuilt.stdout)), counts(0, 0, 1, 0));
    assert_eq!(one.read("out/x.txt"), "original\n");
}

/// Item 7: gc keeps what every workspace sharing the cache uses, and refuses
/// to run while any of them builds.
#[test]
fn gc_respects_every_workspace_sharing_the_cache() {
    let root = Workspace::new()
        .pipeline("params:\n  v: 1\nstages:\n  s:\n    cmd: \"echo ${v} > out/x.txt\"\n    params: [v]\n    outs: [out/x.txt]\n");
    assert_eq!(root.build(&[]), counts(1, 0, 0, 0));
    let cache = root.join(".tnsflow");
    let point = Workspace::new()
        .pipeline("stages:\n  p:\n    cmd: \"echo point > out/p.txt\"\n    outs: [out/p.txt]\n");
    let point_build = || {
        let mut cmd = Command::new(bin());
        cmd.arg("build")
            .current_dir(point.path())
            .env("TNSFLOW_CACHE_DIR", &cache);
        cmd
    };
    assert!(point_build().output().unwrap().status.success());

    let gc = root.tnsflow(["gc"]).output().unwrap();
    assert!(gc.status.success(), "{}", text(&gc.stderr));
    std::fs::remove_file(point.join("out/p.txt")).unwrap();
    let out = point_build().output().unwrap();
    assert_eq!(
        summary(&text(&out.stdout)),
        counts(0, 0, 1, 0),
        "the point's entry survived gc"
    );

    // While the point builds, gc refuses.
    point.write("pipeline.yaml", "stages:\n  p:\n    cmd: \"touch started && sleep 2 && echo again > out/p.txt\"\n    outs: [out/p.txt]\n");
    let mut building = point_build().stdout(Stdio::null()).spawn().unwrap();
    wait_for("the point's build to start", || point.exists("started"));
    let gc = root.tnsflow(["gc"]).output().unwrap();
    assert_eq!(gc.status.code(), Some(1));
    assert!(text(&gc.stderr).contains("a build in a workspace sharing this cache"));
    assert!(building.wait().unwrap().success());
}

/// Item 7: a build never removes temporary files of a live process, even one
/// sharing its tmp folder (a sweep point writing into the root's cache).
#[test]
fn build_leaves_live_temp_areas_alone() {
    let ws = Workspace::new()
        .pipeline("stages:\n  s:\n    cmd: \"echo x > out/x.txt\"\n    outs: [out/x.txt]\n");
    let tmp = ws.join(".tnsflow/v2/tmp");
    let live = tnsflow::record::TempArea::create(&tmp).unwrap();
    std::fs::write(live.dir().join("in-flight"), b"partial blob").unwrap();
    assert_eq!(ws.build(&[]), counts(1, 0, 0, 0));
    assert!(live.dir().join("in-flight").is_file());
}

/// Item 8: a temporary file a killed tnsflow left in an out folder is never a
/// dep (it would change keys and manifests) and is removed by the next build.
#[test]
fn dead_temp_file_is_not_a_dep_and_is_cleaned() {
    let ws = Workspace::new().pipeline(
        r#"
stages:
  a:
    cmd: "echo a > out/a.txt"
    outs: [out/a.txt]
  all:
    cmd: "ls out | sort > listing.txt"
    deps: [out]
    outs: [listing.txt]
"#,
    );
    assert_eq!(ws.build(&[]), counts(2, 0, 0, 0));
    let dead_pid = (400_000..4_000_000)
        .find(|pid| !Path::new(&format!("/proc/{pid}")).exists())
        .unwrap();
    let leftover = format!("out/.a.txt.{dead_pid}.7.tmp");
    ws.write(&leftover, "half");
    assert_eq!(ws.build(&[]), counts(0, 2, 0, 0));
    assert!(!ws.exists(&leftover));
}

/// Item 9: Ctrl-C says what was interrupted, stops the command, leaves no
/// staging behind and the lock file clean, and exits 130.
#[test]
fn ctrl_c_stops_cleanly() {
    let ws = Workspace::new()
        .pipeline("stages:\n  long:\n    cmd: \"echo $$ > pid; sleep 30; echo never > out/x.txt\"\n    outs: [out/x.txt]\n")
        .file("out/x.txt", "before\n");
    let child = Command::new(bin())
        .arg("build")
        .current_dir(ws.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for("the command to start", || {
        ws.exists("pid") && !ws.read("pid").is_empty()
    });
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130));
    assert!(
        text(&out.stderr).contains("interrupted while running long"),
        "{}",
        text(&out.stderr)
    );
    let pid = ws.read("pid").trim().to_string();
    wait_for("the command to die", || {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| s.contains(") Z "))
            .unwrap_or(true)
    });
    assert_eq!(ws.read("out/x.txt"), "before\n");
    let tmp = ws.join(".tnsflow/v2/tmp");
    let left: Vec<_> = std::fs::read_dir(&tmp)
        .map(|d| {
            d.flatten()
                .filter(|e| e.file_name() != ".create.lock")
                .collect()
        })
        .unwrap_or_default();
    assert!(left.is_empty(), "staging left behind: {left:?}");
    assert_eq!(ws.read(".tnsflow/lock"), "");
}

/// Item 10: an out or dep replaced by a FIFO never hangs a command.
#[test]
fn fifo_never_hangs_build_or_status() {
    let ws = Workspace::new()
        .pipeline(
            r#"
stages:
  a:
    cmd: "echo a > out/a.txt"
    outs: [out/a.txt]
  b:
    cmd: "cat in.txt > out/b.txt"
    deps: [in.txt]
    outs: [out/b.txt]
"#,
        )
        .file("in.txt", "in\n");
    assert_eq!(ws.build(&[]), counts(2, 0, 0, 0));
    std::fs::remove_file(ws.join("out/a.txt")).unwrap();
    nix::unistd::mkfifo(&ws.join("out/a.txt"), nix::sys::stat::Mode::S_IRWXU).unwrap();
    std::fs::remove_file(ws.join("in.txt")).unwrap();
    nix::unistd::mkfifo(&ws.join("in.txt"), nix::sys::stat::Mode::S_IRWXU).unwrap();

    let status = ws
        .tnsflow(["status"])
        .timeout(Duration::from_secs(20))
        .output()
        .unwrap();
    assert!(status.status.code().is_some(), "status hung");
    let build = ws
        .tnsflow(["build", "--keep-going"])
        .timeout(Duration::from_secs(20))
        .output()
        .unwrap();
    assert_eq!(build.status.code(), Some(1), "{}", text(&build.stderr));
    let stderr = text(&build.stderr);
    assert!(
        stderr.contains("in.txt") && stderr.contains("a FIFO, expected a regular file"),
        "{stderr}"
    );
    assert_eq!(
        ws.read("out/a.txt"),
        "a\n",
        "the FIFO out was replaced by the real one"
    );
}

/// Item 16: with stderr unwritable, errors still exit 2 or 1, not 101.
#[test]
fn unwritable_stderr_keeps_exit_codes() {
    let full = || {
        std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap()
    };
    let bad = Workspace::new().pipeline("stages:\n  s:\n    cmd: 3\n");
    let failing = Workspace::new().pipeline("stages:\n  s:\n    cmd: \"exit 1\"\n    outs: [x]\n");
    for (ws, code) in [(&bad, 2), (&failing, 1)] {
        let status = Command::new(bin())
            .arg("build")
            .current_dir(ws.path())
            .stdout(Stdio::null())
            .stderr(full())
            .status()
            .unwrap();
        assert_eq!(status.code(), Some(code));
    }
}

/// Item 17: an empty SQL file, an out folder replaced by a file, and an
/// unwritable state file each get an error naming the path.
#[test]
fn errors_name_the_file_at_fault() {
    let ws = Workspace::new()
        .pipeline(
            r#"
stages:
  q:
    sql: empty.sql
    db: data.db
    outs: [out/q.csv]
  s:
    cmd: "cp in.txt out/sub/x.txt"
    deps: [in.txt]
    outs: [out/sub/x.txt]
"#,
        )
        .file("empty.sql", "-- nothing here yet\n")
        .file("in.txt", "1\n");
    sqlite_db(&ws.join("data.db"), "v");
    let out = ws.tnsflow(["build", "--keep-going"]).output().unwrap();
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("SQL in `empty.sql` failed: it holds no statement"),
        "{stderr}"
    );

    std::fs::remove_dir_all(ws.join("out/sub")).unwrap();
    ws.write("out/sub", "a file where the out folder was");
    ws.write("in.txt", "2\n");
    let out = ws.tnsflow(["build", "s"]).output().unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr.contains("out/sub`: it is a regular file, expected a folder"),
        "{stderr}"
    );
    assert_eq!(ws.read("out/sub"), "a file where the out folder was");

    std::fs::remove_file(ws.join("out/sub")).unwrap();
    ws.write("in.txt", "3\n");
    // The state database cannot be opened: named, and nothing runs (a run
    // whose record could not be kept would only have to run again).
    let state = ws.join(".tnsflow/v2/state.db");
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", state.display()));
    }
    std::fs::create_dir_all(state.join("blocker")).unwrap();
    let out = ws.tnsflow(["build", "s"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("state.db"),
        "{}",
        text(&out.stderr)
    );
    assert!(!ws.exists("out/sub/x.txt"), "nothing ran");
}

/// Item 18: status and build agree on restore versus rerun, also when the
/// cached blob is corrupt.
#[test]
fn status_and_build_agree_on_restores() {
    let ws = Workspace::new()
        .pipeline("stages:\n  s:\n    cmd: \"echo content > out/x.txt\"\n    outs: [out/x.txt]\n");
    assert_eq!(ws.build(&[]), counts(1, 0, 0, 0));
    // Edited in place: status promises a restore, and build restores.
    ws.write("out/x.txt", "edited\n");
    let status = text(&ws.tnsflow(["status"]).output().unwrap().stdout);
    assert!(status.contains("will be restored"), "{status}");
    assert_eq!(ws.build(&[]), counts(0, 0, 1, 0));

    // A corrupt blob: status says it reruns, and build reruns.
    assert_eq!(ws.corrupt_every_blob(), 1);
    std::fs::remove_file(ws.join("out/x.txt")).unwrap();
    let status = text(&ws.tnsflow(["status"]).output().unwrap().stdout);
    assert!(!status.contains("restored"), "{status}");
    assert_eq!(ws.build(&[]), counts(1, 0, 0, 0));
}

/// A state database a kill left empty or damaged (killed while SQLite
/// created it, a stray write) is rebuilt, not an error (found by the crash
/// test: "no such table: meta").
#[test]
fn damaged_state_database_is_started_afresh() {
    let ws = Workspace::new()
        .pipeline("stages:\n  s:\n    cmd: \"cp in.txt out/x.txt\"\n    deps: [in.txt]\n    outs: [out/x.txt]\n")
        .file("in.txt", "1\n");
    assert_eq!(ws.build(&[]), counts(1, 0, 0, 0));
    let state = ws.join(".tnsflow/v2/state.db");
    for damage in [&b""[..], b"this is not a database, it is a stray write"] {
        for suffix in ["-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", state.display()));
        }
        std::fs::write(&state, damage).unwrap();
        // The run records are still in runs.db: nothing needs to run again.
        assert_eq!(ws.build(&[]), counts(0, 1, 0, 0));
        assert_eq!(ws.build(&[]), counts(0, 1, 0, 0));
    }
}

/// A build killed after recording its snapshot but before removing its temp
/// area: the next build must not take the no-op fast path past the dead
/// area (found by the crash test: the area stayed forever).
#[test]
fn dead_temp_area_is_recovered_even_when_nothing_changed() {
    let ws = Workspace::new()
        .pipeline("stages:\n  s:\n    cmd: \"echo x > out/x.txt\"\n    outs: [out/x.txt]\n");
    assert_eq!(ws.build(&[]), counts(1, 0, 0, 0));
    let dead_pid = (400_000..4_000_000)
        .find(|pid| !Path::new(&format!("/proc/{pid}")).exists())
        .unwrap();
    let area = ws.join(&format!(".tnsflow/v2/tmp/{dead_pid}-dead-0"));
    std::fs::create_dir_all(area.join("s-0")).unwrap();
    std::fs::write(area.join("owner"), "").unwrap();
    assert_eq!(ws.build(&[]), counts(0, 1, 0, 0));
    assert!(!area.exists(), "the dead build's area is removed");
}

/// A full disk, wherever load fills it (SQLite's own writes, raw_events'
/// rows written as pages, the index spool, the copy into the store), fails
/// the stage with an error that names `out/sqlite.db` (or the store) and
/// the full disk; the previous sqlite.db is untouched and sound, nothing
/// the failed run wrote keeps any space, and once there is room the same
/// build succeeds with the database a roomy folder builds. Before, the error named no file ("SQLite: database or
/// disk is full") or a temp area under `.tnsflow/`.
#[test]
fn full_disk_fails_load_cleanly_wherever_it_fills() {
    let Some(disk) = SmallDisk::mount(64 << 20) else {
        return;
    };
    let ws = Workspace::from_repo_in(disk.path());
    let small = ["--set", "events=20000", "--set", "users=600"];
    let large = ["--set", "events=40000", "--set", "users=600"];
    let build = |sets: &[&str], target: &str| {
        let args = [&["build", "-q"], sets, &[target]].concat();
        run_in(ws.path(), &args)
    };
    assert!(build(&small, "load").status.success());
    let db = ws.join("out/sqlite.db");
    let before = std::fs::read(&db).unwrap();
    // The next database is about twice this one; each size of free space
    // runs out at a different point of building it.
    let old_size = before.len() as u64;
    assert!(build(&large, "generate").status.success());
    for left in [
        256 << 10,
        old_size / 4,
        old_size / 2,
        old_size,
        old_size * 7 / 5,
        old_size * 9 / 5,
        // Room for the new database, not for its copy in the store.
        old_size * 5 / 2,
        old_size * 3,
    ] {
        disk.fill_to(left);
        let free = disk.free();
        let out = build(&large, "load");
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{left} bytes free: {stderr}");
        let named = format!("`{}`", db.display());
        let store = "cannot store its out `out/sqlite.db` in the cache";
        assert!(
            (stderr.contains(&named) || stderr.contains(store))
                && (stderr.contains("disk is full") || stderr.contains("No space left")),
            "{left} bytes free: the error should name {named} (or the store) and the full disk: {stderr}"
        );
        assert!(
            std::fs::read(&db).unwrap() == before,
            "{left} bytes free: sqlite.db changed"
        );
        assert_eq!(
            disk.free(),
            free,
            "{left} bytes free: the failed run left files behind"
        );
        disk.empty();
    }
    let conn = rusqlite::Connection::open(&db).unwrap();
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    drop(conn);
    // With room again: the database a folder with room builds.
    assert!(build(&large, "load").status.success());
    let roomy = Workspace::from_repo();
    roomy.build(&[&large[..], &["load"]].concat());
    assert!(std::fs::read(&db).unwrap() == std::fs::read(roomy.join("out/sqlite.db")).unwrap());
}

/// A full disk at any point of a whole build (each stage's writes, the
/// store's copies, the records) costs only a rebuild: every attempt exits
/// 0 or 1, a failure names the full disk and no panic, and once there is
/// room the build gives byte for byte the exports of a roomy folder, and
/// the build after it runs nothing.
#[test]
fn full_disk_at_any_point_of_a_build_costs_only_a_rebuild() {
    let Some(disk) = SmallDisk::mount(64 << 20) else {
        return;
    };
    let sets = ["--set", "events=20000", "--set", "users=600"];
    let roomy = Workspace::from_repo();
    roomy.build(&sets);
    // What a build takes: its outs and their copies in the store.
    let needed: u64 = walkdir::WalkDir::new(roomy.path())
        .into_iter()
        .filter_map(|e| e.ok()?.metadata().ok())
        .filter(|m| m.is_file())
        .map(|m| m.len())
        .sum();
    let ws = Workspace::from_repo_in(disk.path());
    let build = || run_in(ws.path(), &[&["build"], &sets[..]].concat());
    let mut failed = 0;
    for percent in [
        0, 1, 5, 10, 20, 30, 40, 50, 55, 60, 62, 64, 66, 68, 70, 80, 90,
    ] {
        disk.fill_to(needed * percent / 100);
        let out = build();
        let stderr = text(&out.stderr);
        assert!(!stderr.contains("panicked"), "{percent}%: {stderr}");
        match out.status.code() {
            Some(0) => {}
            Some(1) => {
                failed += 1;
                assert!(
                    stderr.contains("No space left") || stderr.contains("disk is full"),
                    "{percent}%: {stderr}"
                );
            }
            code => panic!("{percent}% of the room a build needs: exit {code:?}: {stderr}"),
        }
        disk.empty();
    }
    assert!(failed >= 5, "only {failed} attempts ran out of room");
    let out = build();
    assert!(out.status.success(), "{}", text(&out.stderr));
    for entry in walkdir::WalkDir::new(roomy.join("out")).sort_by_file_name() {
        let entry = entry.unwrap();
        if entry.file_type().is_file() {
            let rel = entry.path().strip_prefix(roomy.path()).unwrap();
            assert!(
                std::fs::read(entry.path()).unwrap() == std::fs::read(ws.path().join(rel)).unwrap(),
                "{} differs from a roomy build's",
                rel.display()
            );
        }
    }
    let again = text(&build().stdout);
    assert!(
        again.starts_with("0 ran, ") && again.contains(" 0 failed"),
        "{again}"
    );
}

/// A disk too full for tnsflow's own state says so: SQLite reports some
/// writes ENOSPC stopped only as a "disk I/O error", which the old code
/// printed as it was, naming no full disk. Every level from none left to a
/// few pages is tried; the workspace then builds once there is room.
#[test]
fn a_full_disk_under_the_state_database_is_named() {
    let Some(disk) = SmallDisk::mount(8 << 20) else {
        return;
    };
    let ws = Workspace::new_in(disk.path())
        .pipeline("stages:\n  a:\n    cmd: \"echo a > a.txt\"\n    outs: [a.txt]\n");
    let mut failed = 0;
    for left in [0, 4096, 16384, 65536] {
        disk.fill_to(left);
        let out = ws.tnsflow(["build"]).output().unwrap();
        let stderr = text(&out.stderr);
        assert!(!stderr.contains("panicked"), "{left} bytes left: {stderr}");
        if !out.status.success() {
            failed += 1;
            assert_eq!(out.status.code(), Some(1), "{left} bytes left: {stderr}");
            assert!(
                stderr.contains("No space left") || stderr.contains("full"),
                "{left} bytes left: {stderr}"
            );
        }
        disk.empty();
        std::fs::remove_dir_all(ws.join(".tnsflow")).unwrap();
    }
    assert!(failed >= 1, "no attempt ran out of room");
    assert_eq!(ws.build(&[]), counts(1, 0, 0, 0));
}
