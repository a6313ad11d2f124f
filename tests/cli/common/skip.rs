//! Tests that need a system program (chromium, Slurm, strace, sqlite3): found
//! on PATH, and where it is missing the test skips loudly locally and fails
//! under CI.
//!
//! "Loudly" means a line in the plain `cargo test` output: libtest captures
//! `println!`/`eprintln!` of a passing test, but not a direct write to the
//! process's stderr, so the skip line is written that way.

use std::io::Write;
use std::path::PathBuf;

/// The program named by the environment variable `env` if it is set, else the
/// first of `names` found in a folder of PATH.
pub fn find_program(env: &str, names: &[&str]) -> Option<PathBuf> {
    if let Some(path) = std::env::var_os(env) {
        return Some(PathBuf::from(path));
    }
    names.iter().find_map(|name| on_path(name))
}

/// `name` in the first folder of PATH that has it, as the shell's `command -v`.
pub fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// The line a skipping test writes: which test, what it lacks, how to install it.
pub fn skip_line(test: &str, missing: &str, install: &str) -> String {
    format!("SKIPPED {test}: {missing} (install: {install}; under CI=true this fails instead)")
}

/// Says that the running test skips (part of) itself because `missing`: on the
/// process's stderr, past libtest's capture. Under CI (the `CI` variable set)
/// it panics instead, so that CI never passes without running the test.
pub fn skip(missing: &str, install: &str) {
    // libtest runs each test on a thread named after it.
    let thread = std::thread::current();
    let test = thread.name().unwrap_or("a test");
    assert!(
        std::env::var_os("CI").is_none(),
        "{test}: {missing}, and CI is set, so the test fails rather than skips \
         (install: {install})"
    );
    let line = skip_line(test, missing, install);
    // Ignored on failure: a test must not fail because its stderr is closed.
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}
