//! `Disk`: the filesystem operations that publishing outputs is made of.
//!
//! As ninja's `DiskInterface`, it exists so that the builder can be tested
//! against a disk that fails (or "dies") at any chosen step: every write path
//! of a build goes through these few calls, and the tests in
//! `execute/builder.rs` fail each of them in turn.

use std::io;
use std::path::Path;

pub trait Disk: Send + Sync {
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Copies `from` into a new file `to` (reflinked where the filesystem can).
    fn copy(&self, from: &Path, to: &Path) -> io::Result<()>;
    fn remove_file(&self, path: &Path) -> io::Result<()>;
    fn create_dir_all(&self, path: &Path) -> io::Result<()>;
    /// Writes a small file atomically (a run record).
    fn write(&self, path: &Path, bytes: &[u8]) -> io::Result<()>;
    /// Creates and writes a new small file in place (a journal: its readers
    /// cope with a torn one).
    fn create(&self, path: &Path, bytes: &[u8]) -> io::Result<()>;
}

/// The real filesystem.
#[derive(Debug, Default, Clone, Copy)]
pub struct RealDisk;

impl Disk for RealDisk {
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        std::fs::rename(from, to)
    }

    fn copy(&self, from: &Path, to: &Path) -> io::Result<()> {
        // std::fs::copy uses copy_file_range, which clones extents on
        // filesystems that can (btrfs, xfs) and copies elsewhere.
        std::fs::copy(from, to).map(|_| ())
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        std::fs::remove_file(path)
    }

    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        std::fs::create_dir_all(path)
    }

    fn write(&self, path: &Path, bytes: &[u8]) -> io::Result<()> {
        crate::record::write_atomic(path, bytes)
    }

    fn create(&self, path: &Path, bytes: &[u8]) -> io::Result<()> {
        use std::io::Write;
        std::fs::File::create_new(path)?.write_all(bytes)
    }
}

/// A regular file at `path`, or a clear error: a FIFO, socket or device would
/// block or lie when read, and a folder is not a file.
pub fn regular_file(path: &Path) -> io::Result<std::fs::Metadata> {
    let meta = std::fs::metadata(path)?;
    if meta.is_file() {
        return Ok(meta);
    }
    Err(io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("it is {}, expected a regular file", kind_of(&meta)),
    ))
}

/// "a folder", "a FIFO", ...: what a path is, for error messages.
pub fn kind_of(meta: &std::fs::Metadata) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    let t = meta.file_type();
    if t.is_dir() {
        "a folder"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_block_device() || t.is_char_device() {
        "a device"
    } else if t.is_symlink() {
        "a symbolic link"
    } else {
        "a regular file"
    }
}

#[cfg(test)]
pub mod faulty {
    //! A disk that fails one chosen operation, or dies there (every operation
    //! from then on fails, as if the process had been killed).

    use super::{Disk, RealDisk};
    use std::io;
    use std::path::Path;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[derive(Debug)]
    pub struct FaultyDisk {
        /// The operation (counted from 0) that fails.
        pub fail_at: usize,
        /// Whether every later operation fails too (a kill) or only that one (ENOSPC).
        pub dies: bool,
        count: AtomicUsize,
    }

    impl FaultyDisk {
        pub fn new(fail_at: usize, dies: bool) -> FaultyDisk {
            FaultyDisk {
                fail_at,
                dies,
                count: AtomicUsize::new(0),
            }
        }

        /// How many operations were attempted.
        pub fn operations(&self) -> usize {
            self.count.load(Ordering::SeqCst)
        }

        fn step(&self) -> io::Result<()> {
            let n = self.count.fetch_add(1, Ordering::SeqCst);
            if n == self.fail_at || (self.dies && n > self.fail_at) {
                return Err(io::Error::new(
                    io::ErrorKind::StorageFull,
                    format!("injected fault at operation {n}"),
                ));
            }
            Ok(())
        }
    }

    impl Disk for FaultyDisk {
        fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
            self.step()?;
            RealDisk.rename(from, to)
        }
        fn copy(&self, from: &Path, to: &Path) -> io::Result<()> {
            self.step()?;
            RealDisk.copy(from, to)
        }
        fn remove_file(&self, path: &Path) -> io::Result<()> {
            self.step()?;
            RealDisk.remove_file(path)
        }
        fn create_dir_all(&self, path: &Path) -> io::Result<()> {
            self.step()?;
            RealDisk.create_dir_all(path)
        }
        fn write(&self, path: &Path, bytes: &[u8]) -> io::Result<()> {
            self.step()?;
            RealDisk.write(path, bytes)
        }
        fn create(&self, path: &Path, bytes: &[u8]) -> io::Result<()> {
            self.step()?;
            RealDisk.create(path, bytes)
        }
    }
}
