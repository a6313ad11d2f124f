//! `Publication`: replaces a stage's outs all together or not at all.
//!
//! Before the first existing out is moved, the list of outs is written to a
//! journal in the stage's staging folder. Each existing out is then moved
//! aside into that folder (a rename: nothing is copied, nothing deleted), and
//! the new outs are moved in. A failure rolls every out back; a kill leaves the
//! journal, and the next build's `recover` rolls back from it. Removing the
//! journal is the commit point. When no out exists yet (a cold build) there
//! is nothing to put back, so no journal is written at all: a file created
//! costs about half a millisecond here, and a cold build makes one per stage. So a file at an out path, a user's or a
//! previous build's, is never lost: it is either still in place, or in the
//! staging folder with a journal entry that puts it back.
//!
//! ```text
//! staging/journal   JSON: the outs' absolute paths, in order
//! staging/prev/<i>  what was at out i before (only if something was)
//! ```

use serde::{Deserialize, Serialize};
use std::io;
use std::path::{Path, PathBuf};

use crate::disk::{kind_of, Disk};

const JOURNAL: &str = "journal";
const PREV: &str = "prev";

#[derive(Debug, Serialize, Deserialize)]
struct Journal {
    outs: Vec<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    Untouched,
    /// The old out is in `prev/<i>`; nothing is at the out path yet.
    MovedAside,
    /// The new out is in place; `had_prev` says whether `prev/<i>` holds the old one.
    Installed {
        had_prev: bool,
    },
    /// The stage wrote the out path itself (a command); `had_prev` as above.
    WrittenInPlace {
        had_prev: bool,
    },
}

/// Why an out could not be published, naming the path.
#[derive(Debug, thiserror::Error)]
#[error("cannot publish `{}`: {message}", path.display())]
pub struct PublishError {
    pub path: PathBuf,
    pub message: String,
}

pub struct Publication<'a> {
    disk: &'a dyn Disk,
    dir: PathBuf,
    outs: Vec<PathBuf>,
    slots: Vec<Slot>,
    /// Whether the journal exists (only once something was moved aside).
    journaled: bool,
}

impl<'a> Publication<'a> {
    /// Journals `outs` (absolute paths) in `staging`; changes nothing else yet.
    pub fn begin(
        disk: &'a dyn Disk,
        staging: &Path,
        outs: Vec<PathBuf>,
    ) -> Result<Publication<'a>, PublishError> {
        Ok(Publication {
            disk,
            dir: staging.to_path_buf(),
            slots: vec![Slot::Untouched; outs.len()],
            outs,
            journaled: false,
        })
    }

    /// Writes the journal (once), before the first out is moved aside. Written
    /// in place, not renamed: a torn journal can only mean nothing was moved.
    fn journal(&mut self) -> Result<(), PublishError> {
        if self.journaled {
            return Ok(());
        }
        let journal = self.dir.join(JOURNAL);
        let bytes = serde_json::to_vec(&Journal {
            outs: self.outs.clone(),
        })
        .expect("journal");
        let written = self
            .disk
            .create_dir_all(&self.dir.join(PREV))
            .and_then(|()| self.disk.create(&journal, &bytes));
        if let Err(e) = written {
            let _ = std::fs::remove_file(&journal);
            return Err(error(&journal, e));
        }
        self.journaled = true;
        Ok(())
    }

    fn prev(&self, i: usize) -> PathBuf {
        self.dir.join(PREV).join(i.to_string())
    }

    /// Moves every existing out aside and makes sure its folder exists.
    pub fn move_aside(&mut self) -> Result<(), PublishError> {
        for i in 0..self.outs.len() {
            let out = self.outs[i].clone();
            if let Some(dir) = out.parent() {
                ensure_folder(self.disk, dir)?;
            }
            match std::fs::symlink_metadata(&out) {
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(error(&out, e)),
                Ok(meta) if meta.is_dir() => {
                    return Err(PublishError {
                        path: out,
                        message: "it is a folder, expected a file (or nothing) there".into(),
                    })
                }
                Ok(_) => {}
            }
            self.journal()?;
            self.disk
                .rename(&out, &self.prev(i))
                .map_err(|e| error(&out, e))?;
            self.slots[i] = Slot::MovedAside;
        }
        Ok(())
    }

    /// Moves the new outs (`staged[i]` for out i) into place.
    pub fn install(&mut self, staged: &[PathBuf]) -> Result<(), PublishError> {
        for (i, from) in staged.iter().enumerate() {
            let had_prev = self.slots[i] == Slot::MovedAside;
            self.disk
                .rename(from, &self.outs[i])
                .map_err(|e| error(&self.outs[i], e))?;
            self.slots[i] = Slot::Installed { had_prev };
        }
        Ok(())
    }

    /// Marks the outs as written in place by the stage itself (a command ran).
    pub fn written_in_place(&mut self) {
        for slot in &mut self.slots {
            let had_prev = *slot == Slot::MovedAside;
            *slot = Slot::WrittenInPlace { had_prev };
        }
    }

    /// The new outs stay: drops the journal (the commit point) and the old
    /// outs. If the journal cannot be dropped, everything is rolled back: a
    /// failed stage never leaves new outs behind.
    pub fn commit(self) -> Result<(), PublishError> {
        if !self.journaled {
            return Ok(());
        }
        let journal = self.dir.join(JOURNAL);
        if let Err(e) = self.disk.remove_file(&journal) {
            self.roll_back();
            return Err(error(&journal, e));
        }
        let _ = std::fs::remove_dir_all(self.dir.join(PREV));
        Ok(())
    }

    /// Puts every out back as it was before `move_aside`. Best effort: what it
    /// cannot undo now, `recover` undoes from the journal on the next build.
    pub fn roll_back(self) {
        for i in 0..self.outs.len() {
            let out = &self.outs[i];
            let restored = match self.slots[i] {
                Slot::Untouched => true,
                Slot::MovedAside => self.disk.rename(&self.prev(i), out).is_ok(),
                Slot::Installed { had_prev } | Slot::WrittenInPlace { had_prev } => {
                    let removed = match self.disk.remove_file(out) {
                        Ok(()) => true,
                        Err(e) => e.kind() == io::ErrorKind::NotFound,
                    };
                    removed && (!had_prev || self.disk.rename(&self.prev(i), out).is_ok())
                }
            };
            if !restored {
                return; // keep the journal for the next build
            }
        }
        if self.journaled {
            let _ = self.disk.remove_file(&self.dir.join(JOURNAL));
        }
    }
}

/// Rolls back a publication whose process died before it committed: every
/// moved-aside out goes back to its path. Returns how many outs were put back.
pub fn recover(disk: &dyn Disk, staging: &Path) -> io::Result<usize> {
    let journal_path = staging.join(JOURNAL);
    let journal: Journal = match std::fs::read(&journal_path) {
        Ok(bytes) => match serde_json::from_slice(&bytes) {
            Ok(journal) => journal,
            // Torn while being written: nothing had been moved yet.
            Err(_) => {
                disk.remove_file(&journal_path)?;
                return Ok(0);
            }
        },
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    let mut restored = 0;
    for (i, out) in journal.outs.iter().enumerate() {
        let prev = staging.join(PREV).join(i.to_string());
        if std::fs::symlink_metadata(&prev).is_err() {
            // Nothing was there before: whatever the dead run left is not
            // recorded anywhere, so the stage simply runs again.
            continue;
        }
        if let Some(dir) = out.parent() {
            disk.create_dir_all(dir)?;
        }
        disk.rename(&prev, out)?;
        restored += 1;
    }
    disk.remove_file(&journal_path)?;
    Ok(restored)
}

/// Creates `dir`, naming the path component that is in the way when one is a file.
fn ensure_folder(disk: &dyn Disk, dir: &Path) -> Result<(), PublishError> {
    match disk.create_dir_all(dir) {
        Ok(()) => Ok(()),
        Err(e) => {
            for ancestor in dir.ancestors() {
                if let Ok(meta) = std::fs::metadata(ancestor) {
                    if !meta.is_dir() {
                        return Err(PublishError {
                            path: ancestor.to_path_buf(),
                            message: format!(
                                "it is {}, expected a folder to hold the outs",
                                kind_of(&meta)
                            ),
                        });
                    }
                    break;
                }
            }
            Err(error(dir, e))
        }
    }
}

fn error(path: &Path, e: io::Error) -> PublishError {
    PublishError {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

/// Whether a staging folder holds a publication that is not finished.
pub fn has_journal(staging: &Path) -> bool {
    staging.join(JOURNAL).exists()
}
