//! `cmd:` stages: `sh -c` in the workspace root, in a process group of its own
//! that dies with the stage (see `children`).

use std::io::{Read, Seek};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};

use super::children::{ChildGroup, RUN_ENV};
use super::StageError;
use crate::StageResult;

/// How many lines of a failed command's output the error shows.
const TAIL_LINES: usize = 12;

/// Runs `cmd` with its stdout and stderr going to `log` when it prints
/// anything; on failure the error carries the exit status and the output's
/// last lines. The output goes first to an unnamed file (`capture_file`):
/// most commands print nothing, and a named file per stage cost two
/// file-system operations each at 100,000 stages. `run_id`
/// marks the command's processes so that a later build can find them if
/// this one dies.
pub fn run_cmd(
    root: &Path,
    stage: &str,
    cmd: &str,
    log: &Path,
    scratch: &Path,
    run_id: &str,
) -> StageResult<()> {
    let write_err = |source| StageError::Write {
        path: log.to_path_buf(),
        source,
    };
    let mut out = capture_file(scratch).map_err(|source| StageError::Write {
        path: scratch.to_path_buf(),
        source,
    })?;
    let err = out.try_clone().map_err(write_err)?;
    let stdout = out.try_clone().map_err(write_err)?;
    // /bin/sh as make and ninja run it: a bare `sh` is looked up along PATH,
    // one failed exec per entry before it, for every stage.
    let mut child = Command::new("/bin/sh")
        .arg("-c")
        .arg(cmd)
        .current_dir(root)
        .env("TNSFLOW_STAGE", stage)
        .env(RUN_ENV, run_id)
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(err)
        .spawn()
        .map_err(|e| StageError::Failed(format!("cannot start `sh -c {cmd}`: {e}")))?;
    let group = ChildGroup::register(child.id());
    let status = child.wait().map_err(|source| StageError::Read {
        path: log.to_path_buf(),
        source,
    })?;
    drop(group);
    if super::interrupt::requested() {
        return Err(StageError::Interrupted);
    }
    let mut output = Vec::new();
    out.rewind()
        .and_then(|()| out.read_to_end(&mut output))
        .map_err(write_err)?;
    if !output.is_empty() {
        if let Some(dir) = log.parent() {
            std::fs::create_dir_all(dir).map_err(write_err)?;
        }
        std::fs::write(log, &output).map_err(write_err)?;
    }
    if status.success() {
        return Ok(());
    }
    let text = String::from_utf8_lossy(&output);
    let lines: Vec<&str> = text.lines().collect();
    let tail = lines[lines.len().saturating_sub(TAIL_LINES)..].join("\n");
    Err(StageError::Command {
        cmd: cmd.to_string(),
        status: describe(status),
        tail,
    })
}

/// A file for a command's output while it runs: in memory (memfd), else
/// unnamed in `scratch` (the build's temp area). Creating and deleting an
/// inode per stage on the workspace's disk was a third of the kernel time of
/// a cold 1,000-stage build on ext4 (its allocator scans past recently
/// deleted inodes). The output is read whole afterwards either way.
fn capture_file(scratch: &Path) -> std::io::Result<std::fs::File> {
    #[cfg(target_os = "linux")]
    {
        use nix::sys::memfd::{memfd_create, MFdFlags};
        if let Ok(fd) = memfd_create(c"tnsflow-stage-output", MFdFlags::MFD_CLOEXEC) {
            return Ok(std::fs::File::from(fd));
        }
    }
    tempfile::tempfile_in(scratch)
}

fn describe(status: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit code {code}"),
        (None, Some(signal)) => format!("signal {signal}"),
        _ => "an unknown status".into(),
    }
}
