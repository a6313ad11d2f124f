//! `WorkspaceLock`: one build per workspace at a time.
//!
//! An advisory lock on `.tnsflow/lock`, held for the whole command. The kernel
//! drops it when the process dies, even by SIGKILL, so a killed build never
//! leaves the workspace locked. The holder writes its pid and command line
//! into the file so that the refused build can say who holds it.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("another tnsflow command is running in this workspace ({holder}); wait for it to finish, or stop it (lock: `{}`)", path.display())]
    Held { holder: String, path: PathBuf },
    #[error("cannot lock `{}`: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

#[derive(Debug)]
pub struct WorkspaceLock {
    _file: File,
}

impl WorkspaceLock {
    pub fn acquire(path: &Path, command: &str) -> Result<WorkspaceLock, LockError> {
        let io = |source| LockError::Io {
            path: path.to_path_buf(),
            source,
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = holder.trim();
                return Err(LockError::Held {
                    holder: if holder.is_empty() {
                        "holder unknown".into()
                    } else {
                        holder.to_string()
                    },
                    path: path.to_path_buf(),
                });
            }
            Err(TryLockError::Error(e)) => return Err(io(e)),
        }
        file.set_len(0).map_err(io)?;
        file.rewind().map_err(io)?;
        write!(file, "pid {}: {}", std::process::id(), command).map_err(io)?;
        Ok(WorkspaceLock { _file: file })
    }
}
