//! The crash test, reduced so that it runs in `cargo test`.
//!
//! `scripts/crash_test.py` on the small pipeline: three kill -9s of a cold
//! build at random moments and one at every rename of a build (strace fault
//! injection), each followed by a build that must give a clean build's exports
//! byte for byte and leave no stray file in the workspace. The full run (the
//! default pipeline, every write too) and what it covers: docs/reliability.md,
//! "The crash test". Without strace the rename kills are skipped locally,
//! loudly, and the test fails under CI.

use std::path::Path;
use std::process::Command;

fn has_strace() -> bool {
    Command::new("strace")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// kill -9 at random moments and at every rename: the next build matches a clean one.
#[test]
fn kill_9_at_random_moments_and_at_every_rename_then_the_next_build_matches_a_clean_one() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut cmd = Command::new("python3");
    cmd.arg(repo.join("scripts/crash_test.py"))
        .args(["--binary", env!("CARGO_BIN_EXE_tnsflow")])
        .args(["--small", "--seed", "10", "--random", "3", "--jobs", "2"]);
    if has_strace() {
        cmd.args(["--syscalls", "rename"]);
    } else {
        crate::common::skip(
            "strace is not on PATH, so the kills at every rename are skipped \
             (the random kills still run)",
            "apt-get install strace",
        );
    }
    let out = cmd
        .output()
        .expect("python3 runs scripts/crash_test.py (CI installs python3)");
    let stderr = String::from_utf8_lossy(&out.stderr);
    // The progress lines are on stderr; keep the end, where errors are.
    let stderr_tail: Vec<&str> = stderr.lines().rev().take(15).collect();
    assert!(
        out.status.success(),
        "the crash test failed (exit {:?}):\n{}\n...\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        stderr_tail.into_iter().rev().collect::<Vec<_>>().join("\n")
    );
}
