//! The builder against a disk that fails, or dies, at every step of a build,
//! as ninja's `build_test.cc` drives its builder with a `FakeCommandRunner`
//! and a virtual disk. In-process and fast: each case is a few file
//! operations in a temp folder.
//!
//! The promise checked at every step: a stage's outs are either all the
//! previous good ones or all the new ones, never a mix; a failed stage leaves
//! the previous ones exactly; nothing else appears in the workspace; and the
//! next build (after recovery, for a kill) ends with the right outs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::{Areas, Builder, RunContext, StageRunner};
use crate::disk::faulty::FaultyDisk;
use crate::disk::{Disk, RealDisk};
use crate::execute::recover;
use crate::layout::Layout;
use crate::parse::{Override, Pipeline};
use crate::plan::{Plan, PlannedStage, StatCache};
use crate::record::{BuildState, StateDb, Store, DEFERRED_MIN};
use crate::schedule::{self, Options, Outcome};
use crate::StageResult;

const PIPELINE: &str = "
params:
  v: 1
stages:
  s:
    cmd: unused
    params: [v]
    outs: [out/a.txt, out/sub/b.txt]
  t:
    cmd: unused
    deps: [out/a.txt]
    params: [v]
    outs: [out/c.txt]
";

/// Writes each out as `<file name> v=<v>`, in place or staged as asked.
struct FakeRunner {
    in_place: bool,
}

impl StageRunner for FakeRunner {
    fn in_place(&self, _: &PlannedStage) -> bool {
        self.in_place
    }

    fn run(&self, stage: &PlannedStage, ctx: &RunContext) -> StageResult<()> {
        let v = stage.params.get("v").map(crate::parse::display_value);
        for out in &stage.decl.outs {
            let name = super::file_name(out);
            let path = if self.in_place {
                ctx.root.join(out)
            } else {
                ctx.out_dir.join(name)
            };
            let text = content(name, &v.clone().unwrap_or_default());
            std::fs::write(&path, text).expect("fake runner writes");
        }
        Ok(())
    }
}

fn plan(root: &Path, v: u32) -> Plan {
    let mut pipeline = Pipeline::parse("pipeline.yaml", root, PIPELINE.to_string()).unwrap();
    pipeline
        .apply_overrides(&[Override::parse(&format!("v={v}")).unwrap()])
        .unwrap();
    Plan::build(pipeline, crate::stages::registry()).unwrap()
}

/// One build of every stage, as `commands::build` wires it, on `disk`.
/// Returns the outcomes, and the areas when the build "died" (left for the
/// caller to recover, as the next process would).
fn build(root: &Path, v: u32, disk: &dyn Disk, runner: &FakeRunner) -> Vec<Option<Outcome>> {
    build_on(root, v, disk, runner, false)
}

/// `build`, where `dies` says the disk died mid-build (a kill): only then may
/// a publication be left unfinished for recovery.
fn build_on(
    root: &Path,
    v: u32,
    disk: &dyn Disk,
    runner: &FakeRunner,
    dies: bool,
) -> Vec<Option<Outcome>> {
    build_with(root, v, disk, runner, dies, 1).0
}

/// `build_on` with `jobs` workers and any runner; also returns the warnings.
fn build_with(
    root: &Path,
    v: u32,
    disk: &dyn Disk,
    runner: &dyn StageRunner,
    dies: bool,
    jobs: usize,
) -> (Vec<Option<Outcome>>, Vec<String>) {
    let plan = plan(root, v);
    let layout = Layout::new(root);
    let store = Store::open(&layout).unwrap();
    let db = std::sync::Arc::new(StateDb::open(&layout.state_file()).unwrap());
    let stats = StatCache::load(Some(&db));
    let mut state = BuildState::load(Some(db.clone()));
    let areas = Areas::create(&layout).unwrap();
    let forced = [];
    let settled = [false, false];
    let builder = Builder::new(
        &plan, &layout, &store, &stats, &state, &forced, &settled, disk, runner, &areas,
    );
    let outcomes = schedule::run(
        &plan.graph,
        &[true, true],
        Options {
            jobs,
            keep_going: false,
        },
        &builder,
        |_| {},
    );
    let report = builder.into_report();
    for record in report.records.into_values() {
        state.insert(record);
    }
    state.save().unwrap();
    stats.save(&db).unwrap();
    let stagings: Vec<PathBuf> = std::fs::read_dir(areas.local.dir())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    if !dies {
        // A failure the builder saw was rolled back by the builder itself.
        assert!(stagings.is_empty(), "staging left: {stagings:?}");
    }
    // What the next build's recovery does for a dead one: roll back every
    // publication left with a journal.
    for staging in &stagings {
        recover(&RealDisk, staging).unwrap();
    }
    areas.close();
    (outcomes, report.warnings)
}

/// Every file under `root` outside `.tnsflow/`, with its contents.
fn workspace(root: &Path) -> BTreeMap<PathBuf, String> {
    walkdir::WalkDir::new(root)
        .into_iter()
        .filter_entry(|e| e.file_name() != ".tnsflow")
        .flatten()
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            let rel = e.path().strip_prefix(root).unwrap().to_path_buf();
            (rel, std::fs::read_to_string(e.path()).unwrap())
        })
        .collect()
}

/// What the fake runner writes: `<file name> v=<v>`, after a long first
/// line in `a.txt`, which makes it an out the store copies after its
/// consumers have started (`DEFERRED_MIN`); the others are rows of runs.db.
fn content(name: &str, v: &str) -> String {
    let padding = match name {
        "a.txt" => ".".repeat(DEFERRED_MIN as usize) + "\n",
        _ => String::new(),
    };
    format!("{padding}{name} v={v}\n")
}

fn expected(v: u32) -> BTreeMap<PathBuf, String> {
    [
        ("out/a.txt", "a.txt"),
        ("out/sub/b.txt", "b.txt"),
        ("out/c.txt", "c.txt"),
    ]
    .into_iter()
    .map(|(path, name)| (PathBuf::from(path), content(name, &v.to_string())))
    .collect()
}

/// Files left in the temp folders once no build runs.
fn temp_leftovers(root: &Path) -> Vec<PathBuf> {
    walkdir::WalkDir::new(root.join(".tnsflow/v2/tmp"))
        .min_depth(1)
        .into_iter()
        .flatten()
        .filter(|e| e.file_name() != ".create.lock")
        .map(|e| e.into_path())
        .collect()
}

/// How many disk operations the second build (v=1 -> v=2) makes.
fn operations(in_place: bool) -> usize {
    let dir = tempfile::tempdir().unwrap();
    let runner = FakeRunner { in_place };
    build(dir.path(), 1, &RealDisk, &runner);
    let counting = FaultyDisk::new(usize::MAX, false);
    build(dir.path(), 2, &counting, &runner);
    counting.operations()
}

/// Fails (or kills) the second build at operation `n` and checks the promise.
fn fault_at(n: usize, dies: bool, in_place: bool) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let runner = FakeRunner { in_place };
    build(root, 1, &RealDisk, &runner);
    assert_eq!(workspace(root), expected(1));

    let faulty = FaultyDisk::new(n, dies);
    let outcomes = build_on(root, 2, &faulty, &runner, dies);
    let files = workspace(root);
    let case = format!("fault at operation {n} (dies: {dies}, in place: {in_place})");
    // Stage by stage: all old or all new, never a mix, nothing else.
    assert_eq!(
        files.keys().collect::<Vec<_>>(),
        expected(1).keys().collect::<Vec<_>>(),
        "{case}: {files:?}"
    );
    let s_outs = [
        &files[Path::new("out/a.txt")],
        &files[Path::new("out/sub/b.txt")],
    ];
    let s_new = s_outs[0].ends_with("v=2\n");
    assert!(
        s_outs
            .iter()
            .all(|t| t.ends_with(if s_new { "v=2\n" } else { "v=1\n" })),
        "{case}: a mix of old and new outs: {s_outs:?}"
    );
    if outcomes[0] == Some(Outcome::Failed) {
        assert_eq!(
            files,
            expected(1),
            "{case}: a failed stage changed its outs"
        );
    }
    if outcomes[1] == Some(Outcome::Failed) {
        assert_eq!(
            files[Path::new("out/c.txt")],
            "c.txt v=1\n",
            "{case}: a failed stage changed its out"
        );
    }
    assert!(
        temp_leftovers(root).is_empty(),
        "{case}: {:?}",
        temp_leftovers(root)
    );

    // The next build on a sound disk ends right.
    build(root, 2, &RealDisk, &runner);
    assert_eq!(workspace(root), expected(2), "{case}: after the next build");
    assert!(temp_leftovers(root).is_empty(), "{case}");
}

#[test]
fn a_failure_at_any_step_keeps_the_previous_outs() {
    for in_place in [false, true] {
        let total = operations(in_place);
        assert!(total > 10, "the build makes {total} disk operations");
        for n in 0..total {
            fault_at(n, false, in_place);
        }
    }
}

#[test]
fn a_kill_at_any_step_is_recovered() {
    for in_place in [false, true] {
        for n in 0..operations(in_place) {
            fault_at(n, true, in_place);
        }
    }
}

/// A restore from the cache is one publication too: failing any of its steps
/// leaves the outs as they were.
#[test]
fn a_failed_restore_keeps_the_outs() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let runner = FakeRunner { in_place: false };
    build(root, 1, &RealDisk, &runner);
    build(root, 2, &RealDisk, &runner);
    let counting = FaultyDisk::new(usize::MAX, false);
    build(root, 1, &counting, &runner); // restores v=1 from the cache
    assert_eq!(workspace(root), expected(1));
    for n in 0..counting.operations() {
        build(root, 2, &RealDisk, &runner);
        let outcomes = build(root, 1, &FaultyDisk::new(n, false), &runner);
        let files = workspace(root);
        if outcomes[0] == Some(Outcome::Failed) {
            assert_eq!(files, expected(2), "restore failing at {n}");
        }
        assert!(temp_leftovers(root).is_empty());
    }
}

/// Logs each stage's start; otherwise the fake runner.
struct LoggingRunner<'a> {
    inner: FakeRunner,
    log: &'a Log,
}

impl StageRunner for LoggingRunner<'_> {
    fn in_place(&self, stage: &PlannedStage) -> bool {
        self.inner.in_place(stage)
    }

    fn run(&self, stage: &PlannedStage, ctx: &RunContext) -> StageResult<()> {
        self.log.push(format!("run {}", stage.name()));
        self.inner.run(stage, ctx)
    }
}

/// What happened, in order, across threads.
#[derive(Default)]
struct Log {
    lines: std::sync::Mutex<Vec<String>>,
    changed: std::sync::Condvar,
}

impl Log {
    fn push(&self, line: String) {
        self.lines.lock().unwrap().push(line);
        self.changed.notify_all();
    }

    /// Waits (at most 10 s) until `line` is logged.
    fn wait_for(&self, line: &str) {
        let lines = self.lines.lock().unwrap();
        let _ = self
            .changed
            .wait_timeout_while(lines, std::time::Duration::from_secs(10), |l| {
                !l.iter().any(|x| x == line)
            })
            .unwrap();
    }
}

/// The real disk, logging the store's copies; a `fill` waits for stage `t`
/// to start, as a long copy would still be going when it does.
struct WatchedDisk<'a> {
    log: &'a Log,
    fail_fill: bool,
}

impl Disk for WatchedDisk<'_> {
    fn rename(&self, from: &Path, to: &Path) -> std::io::Result<()> {
        RealDisk.rename(from, to)
    }
    fn copy(&self, from: &Path, to: &Path) -> std::io::Result<()> {
        RealDisk.copy(from, to)
    }
    fn reserve_copy(&self, from: &Path, to: &Path) -> std::io::Result<bool> {
        RealDisk.reserve_copy(from, to)
    }
    fn fill(&self, from: &Path, to: &Path) -> std::io::Result<String> {
        self.log.wait_for("run t");
        self.log.push(format!("copy {}", from.display()));
        if self.fail_fill {
            return Err(std::io::Error::new(
                std::io::ErrorKind::StorageFull,
                "No space left on device",
            ));
        }
        RealDisk.fill(from, to)
    }
    fn remove_file(&self, path: &Path) -> std::io::Result<()> {
        RealDisk.remove_file(path)
    }
    fn create_dir_all(&self, path: &Path) -> std::io::Result<()> {
        RealDisk.create_dir_all(path)
    }
    fn write(&self, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
        RealDisk.write(path, bytes)
    }
    fn create(&self, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
        RealDisk.create(path, bytes)
    }
}

/// A build of v=1 with one worker on a `WatchedDisk`: its outcomes,
/// warnings and log.
fn watched_build(
    root: &Path,
    in_place: bool,
    fail_fill: bool,
) -> (Vec<Option<Outcome>>, Vec<String>, Vec<String>) {
    let log = Log::default();
    let runner = LoggingRunner {
        inner: FakeRunner { in_place },
        log: &log,
    };
    let disk = WatchedDisk {
        log: &log,
        fail_fill,
    };
    // One worker: the copy must not hold it either.
    let (outcomes, warnings) = build_with(root, 1, &disk, &runner, false, 1);
    let lines = log.lines.into_inner().unwrap();
    (outcomes, warnings, lines)
}

/// A big out's consumer starts before the out's copy into the store is
/// made, even with one worker (at 5 M events, the database's copy took
/// 1.2-1.6 s that every stage after load waited for); the copy is still
/// made, and the run recorded once it is: the out comes back from the cache.
#[test]
fn a_big_outs_consumer_starts_before_its_copy_into_the_store() {
    for in_place in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let (outcomes, warnings, log) = watched_build(root, in_place, false);
        assert_eq!(outcomes, [Some(Outcome::Ran), Some(Outcome::Ran)]);
        assert!(warnings.is_empty(), "{warnings:?}");
        let copied = log
            .iter()
            .position(|l| l.starts_with("copy ") && l.ends_with("a.txt"));
        let t_ran = log.iter().position(|l| l == "run t");
        assert!(
            copied.is_some() && t_ran < copied,
            "in place: {in_place}: {log:?}"
        );
        assert!(temp_leftovers(root).is_empty());

        std::fs::remove_file(root.join("out/a.txt")).unwrap();
        let outcomes = build(root, 1, &RealDisk, &FakeRunner { in_place });
        assert_eq!(outcomes[0], Some(Outcome::Restored), "in place: {in_place}");
        assert_eq!(workspace(root), expected(1));
    }
}

/// A copy the store cannot finish (a full disk) fails no stage: the outs
/// are good. The build warns, gives the room back and records no run, so
/// a build that needs the out back runs its stage again.
#[test]
fn a_copy_the_store_cannot_finish_costs_only_the_cache_entry() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let (outcomes, warnings, _) = watched_build(root, false, true);
    assert_eq!(outcomes, [Some(Outcome::Ran), Some(Outcome::Ran)]);
    assert_eq!(workspace(root), expected(1));
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains("out/a.txt")
            && warnings[0].contains("No space left")
            && warnings[0].contains("will run `s` again"),
        "{warnings:?}"
    );
    assert!(temp_leftovers(root).is_empty());

    let outcomes = build(root, 1, &RealDisk, &FakeRunner { in_place: false });
    assert_eq!(outcomes, [Some(Outcome::UpToDate), Some(Outcome::UpToDate)]);
    std::fs::remove_file(root.join("out/a.txt")).unwrap();
    let outcomes = build(root, 1, &RealDisk, &FakeRunner { in_place: false });
    assert_eq!(outcomes[0], Some(Outcome::Ran));
    assert_eq!(workspace(root), expected(1));
}
