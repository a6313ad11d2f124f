//! `Workspace`: a temporary folder with a pipeline, and the real binary to drive.
//!
//! In the spirit of just's `Test` and ripgrep's `Dir`: each test writes the
//! files it needs, runs `tnsflow`, and checks stdout, stderr and the exit code.

#![allow(dead_code)]

use assert_cmd::Command;
use std::path::{Path, PathBuf};

mod skip;
mod small_disk;
pub use skip::{find_program, on_path, skip, skip_line};
pub use small_disk::SmallDisk;

pub struct Workspace {
    dir: tempfile::TempDir,
}

impl Default for Workspace {
    fn default() -> Self {
        Workspace::new()
    }
}

impl Workspace {
    pub fn new() -> Workspace {
        Workspace::new_in(&std::env::temp_dir())
    }

    /// An empty workspace in a new folder under `parent` (a `SmallDisk`, say).
    pub fn new_in(parent: &Path) -> Workspace {
        Workspace {
            dir: tempfile::tempdir_in(parent).expect("temp dir"),
        }
    }

    /// A workspace holding a copy of the repository's pipeline.yaml and sql/.
    pub fn from_repo() -> Workspace {
        Workspace::from_repo_in(&std::env::temp_dir())
    }

    /// `from_repo`, in a new folder under `parent` (a `SmallDisk`, say).
    pub fn from_repo_in(parent: &Path) -> Workspace {
        let ws = Workspace::new_in(parent);
        let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
        std::fs::copy(repo.join("pipeline.yaml"), ws.path().join("pipeline.yaml"))
            .expect("copy pipeline.yaml");
        copy_dir(&repo.join("sql"), &ws.path().join("sql"));
        ws
    }

    pub fn pipeline(self, yaml: &str) -> Workspace {
        self.write("pipeline.yaml", yaml);
        self
    }

    pub fn file(self, path: &str, contents: &str) -> Workspace {
        self.write(path, contents);
        self
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn join(&self, path: &str) -> PathBuf {
        self.dir.path().join(path)
    }

    pub fn write(&self, path: &str, contents: &str) {
        let full = self.join(path);
        std::fs::create_dir_all(full.parent().expect("has a parent")).expect("mkdir");
        std::fs::write(full, contents).expect("write");
    }

    pub fn read(&self, path: &str) -> String {
        std::fs::read_to_string(self.join(path)).unwrap_or_else(|e| panic!("read {path}: {e}"))
    }

    pub fn exists(&self, path: &str) -> bool {
        self.join(path).exists()
    }

    /// `tnsflow ARGS` in the workspace, with colour off and no shared cache.
    pub fn tnsflow<I, S>(&self, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        // TNSFLOW_TEST_BIN runs the suite against another build of tnsflow
        // (e.g. the previous commit's, to see a regression test fail there).
        let mut cmd = Command::new(bin());
        cmd.current_dir(self.path())
            .env("NO_COLOR", "1")
            .env_remove("TNSFLOW_CACHE_DIR")
            .args(args);
        cmd
    }

    /// Starts `tnsflow ARGS` in the workspace without waiting for it, its
    /// output discarded: a build to kill or to race.
    pub fn spawn<S: AsRef<std::ffi::OsStr>>(&self, args: &[S]) -> std::process::Child {
        self.spawn_with_stderr(args, std::process::Stdio::null())
    }

    /// `spawn`, its stderr sent to `stderr` (a file, to read what it said).
    pub fn spawn_with_stderr<S: AsRef<std::ffi::OsStr>>(
        &self,
        args: &[S],
        stderr: std::process::Stdio,
    ) -> std::process::Child {
        std::process::Command::new(bin())
            .args(args)
            .current_dir(self.path())
            .env_remove("TNSFLOW_CACHE_DIR")
            .stdout(std::process::Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("start tnsflow")
    }

    /// Runs a successful `tnsflow build ARGS` and returns its summary line.
    pub fn build(&self, args: &[&str]) -> String {
        self.build_ran(args).0
    }

    /// Runs a successful `tnsflow build ARGS`: its summary line and the names
    /// of the stages it ran, sorted (from its plain progress lines on stderr).
    pub fn build_ran(&self, args: &[&str]) -> (String, Vec<String>) {
        let output = self
            .tnsflow(std::iter::once("build").chain(args.iter().copied()))
            .output()
            .expect("run");
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(
            output.status.success(),
            "build {args:?} failed\nstdout:\n{stdout}\nstderr:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        (summary(&stdout), ran(&output.stderr))
    }

    /// `status --json` as (stage, state) pairs.
    pub fn states(&self) -> Vec<(String, String)> {
        let output = self.tnsflow(["status", "--json"]).output().expect("run");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let json: serde_json::Value =
            serde_json::from_slice(&output.stdout).expect("status --json is JSON");
        json.as_array()
            .expect("an array")
            .iter()
            .map(|s| {
                (
                    s["stage"].as_str().unwrap().to_string(),
                    s["state"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    }

    /// Overwrites every cached output with other bytes: the blob files, and
    /// the small outputs kept in runs.db. Returns how many it damaged.
    pub fn corrupt_every_blob(&self) -> usize {
        let mut damaged = 0;
        for blob in walkdir::WalkDir::new(self.join(".tnsflow/v2/blobs"))
            .into_iter()
            .flatten()
            .filter(|e| e.file_type().is_file())
        {
            std::fs::write(blob.path(), b"corrupt").unwrap();
            damaged += 1;
        }
        let runs = rusqlite::Connection::open(self.join(".tnsflow/v2/runs.db")).unwrap();
        damaged += runs
            .execute("UPDATE blobs SET bytes = CAST('corrupt' AS BLOB)", [])
            .unwrap();
        damaged
    }
}

/// Polls `ready` every 20 ms until it holds; fails after 60 s.
pub fn wait_for(what: &str, mut ready: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !ready() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// The tnsflow binary under test: this build's, or `TNSFLOW_TEST_BIN` (another
/// build, e.g. the previous commit's, to see a regression test fail there).
pub fn bin() -> PathBuf {
    std::env::var_os("TNSFLOW_TEST_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| assert_cmd::cargo::cargo_bin("tnsflow"))
}

/// Names of the stages a build ran, sorted, from its plain progress lines on stderr.
pub fn ran(stderr: &[u8]) -> Vec<String> {
    let mut names: Vec<String> = String::from_utf8_lossy(stderr)
        .lines()
        .filter(|l| l.starts_with("ran "))
        .filter_map(|l| l.split_whitespace().nth(1).map(str::to_string))
        .collect();
    names.sort();
    names
}

/// The last line of a build's stdout: `N ran, M up to date, K restored from cache, F failed`.
pub fn summary(stdout: &str) -> String {
    stdout.lines().last().unwrap_or_default().to_string()
}

/// `"N ran, M up to date, K restored from cache, F failed"`.
pub fn counts(ran: usize, up_to_date: usize, restored: usize, failed: usize) -> String {
    format!("{ran} ran, {up_to_date} up to date, {restored} restored from cache, {failed} failed")
}

/// How many lines a workspace file has.
pub fn lines(ws: &Workspace, path: &str) -> usize {
    ws.read(path).lines().count()
}

/// A TCP port nobody listens on right now, for a server a test starts.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

pub fn copy_dir(from: &Path, to: &Path) {
    for entry in walkdir::WalkDir::new(from).sort_by_file_name() {
        let entry = entry.expect("walk");
        let rel = entry.path().strip_prefix(from).expect("under from");
        let dest = to.join(rel);
        if entry.file_type().is_dir() {
            std::fs::create_dir_all(&dest).expect("mkdir");
        } else {
            std::fs::copy(entry.path(), &dest).expect("copy");
        }
    }
}
