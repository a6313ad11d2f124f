//! `cmd:` stages: `sh -c` in the workspace root, in a process group of its own
//! that dies with the stage (see `children`).

use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};

use super::children::{ChildGroup, RUN_ENV};
use super::StageError;
use crate::StageResult;

/// How many lines of a failed command's output the error shows.
const TAIL_LINES: usize = 12;

/// Runs `cmd` with its stdout and stderr going to `log`; on failure the error
/// carries the exit status and the log's last lines. `run_id` marks the
/// command's processes so that a later build can find them if this one dies.
pub fn run_cmd(root: &Path, stage: &str, cmd: &str, log: &Path, run_id: &str) -> StageResult<()> {
    let write_err = |source| StageError::Write {
        path: log.to_path_buf(),
        source,
    };
    if let Some(dir) = log.parent() {
        std::fs::create_dir_all(dir).map_err(write_err)?;
    }
    let out = File::create(log).map_err(write_err)?;
    let err = out.try_clone().map_err(write_err)?;
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .current_dir(root)
        .env("TNSFLOW_STAGE", stage)
        .env(RUN_ENV, run_id)
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(out)
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
    if status.success() {
        return Ok(());
    }
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let tail = lines[lines.len().saturating_sub(TAIL_LINES)..].join("\n");
    Err(StageError::Command {
        cmd: cmd.to_string(),
        status: describe(status),
        tail,
    })
}

fn describe(status: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit code {code}"),
        (None, Some(signal)) => format!("signal {signal}"),
        _ => "an unknown status".into(),
    }
}
