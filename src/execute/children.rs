//! The processes `cmd` stages start, and making sure none outlives its stage.
//!
//! Each command runs in its own process group, marked with the environment
//! variable `TNSFLOW_RUN=<temp area id>`. When the command's shell exits, the
//! whole group is killed, so a background job cannot write an out after the
//! stage was hashed. Ctrl-C kills every running group. And when tnsflow itself
//! was killed (SIGKILL cannot be caught), the next build finds the dead
//! build's temp area and kills every process still carrying its mark before it
//! touches any out: an orphan never runs beside a new build.

use nix::sys::signal::{kill, killpg, Signal};
use nix::unistd::Pid;
use std::collections::BTreeSet;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The variable that marks every process a build starts.
pub const RUN_ENV: &str = "TNSFLOW_RUN";

static GROUPS: Mutex<BTreeSet<i32>> = Mutex::new(BTreeSet::new());

/// A running command's process group; killed (group and all) when dropped.
#[derive(Debug)]
pub struct ChildGroup {
    pgid: i32,
}

impl ChildGroup {
    /// Registers the group of a just-spawned child (its pid, as it leads its group).
    pub fn register(pid: u32) -> ChildGroup {
        let pgid = pid as i32;
        GROUPS.lock().expect("child groups").insert(pgid);
        // Ctrl-C may have come between the spawn and this registration.
        if super::interrupt::requested() {
            let _ = killpg(Pid::from_raw(pgid), Signal::SIGKILL);
        }
        ChildGroup { pgid }
    }
}

impl Drop for ChildGroup {
    fn drop(&mut self) {
        // The shell has exited: whatever it left running in its group goes too.
        let _ = killpg(Pid::from_raw(self.pgid), Signal::SIGKILL);
        GROUPS.lock().expect("child groups").remove(&self.pgid);
    }
}

/// Kills every running command's group (Ctrl-C).
pub fn kill_all() {
    for &pgid in GROUPS.lock().expect("child groups").iter() {
        let _ = killpg(Pid::from_raw(pgid), Signal::SIGKILL);
    }
}

/// Kills every process marked with `run_id` (the commands of a dead build)
/// and waits, up to a few seconds, until they are gone. Returns how many.
pub fn kill_orphans(run_id: &str) -> usize {
    let marked = || marked_processes(run_id);
    let victims = marked();
    for &pid in &victims {
        let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while !marked().is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    victims.len()
}

/// Pids whose environment carries `TNSFLOW_RUN=<run_id>` (Linux /proc).
fn marked_processes(run_id: &str) -> Vec<i32> {
    let needle = format!("{RUN_ENV}={run_id}");
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/environ"))
                .is_ok_and(|env| env.split(|b| *b == 0).any(|var| var == needle.as_bytes()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::CommandExt;

    /// A process marked with a dead run's id is found and killed.
    #[test]
    fn orphans_are_killed() {
        let id = format!("test-{}", std::process::id());
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .env(RUN_ENV, &id)
            .process_group(0)
            .spawn()
            .unwrap();
        // /proc shows the new environment once exec has happened.
        let deadline = Instant::now() + Duration::from_secs(5);
        while marked_processes(&id).is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(kill_orphans(&id), 1);
        assert!(!child.wait().unwrap().success());
        assert!(marked_processes(&id).is_empty());
    }
}
