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
    /// Begins a copy of `from` at `to` (a new file) that `fill` finishes:
    /// shares the extents where the filesystem can (true: the copy is
    /// whole), else creates `to` with `from`'s length reserved (false), so
    /// that a full disk shows now rather than during `fill`.
    fn reserve_copy(&self, from: &Path, to: &Path) -> io::Result<bool>;
    /// Writes `from`'s bytes into `to`, made by `reserve_copy`, without
    /// keeping big ones in the page cache (a blob, written once and read
    /// back only by a restore); returns the hash of the bytes written.
    fn fill(&self, from: &Path, to: &Path) -> io::Result<String>;
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

    fn reserve_copy(&self, from: &Path, to: &Path) -> io::Result<bool> {
        reserve_copy(from, to)
    }

    fn fill(&self, from: &Path, to: &Path) -> io::Result<String> {
        fill(from, to)
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

/// Below this size a copy through the page cache is cheap, and a write that
/// waits for the device would cost more than it saves.
const UNCACHED_MIN: u64 = 8 << 20;

/// `O_DIRECT` wants its buffer, offsets and lengths in whole logical blocks;
/// 4 KiB is a multiple of every block size Linux disks use.
const BLOCK: usize = 4096;

fn create_new(path: &Path, flags: i32) -> io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .custom_flags(flags)
        .open(path)
}

/// Writes all of `src` to `dst` from its start, a chunk at a time, showing
/// each chunk to `each`; `direct`: `dst` was opened with `O_DIRECT`, which
/// wants whole blocks. `dst` ends at the last byte written.
fn write_chunks(
    src: &mut std::fs::File,
    mut dst: std::fs::File,
    direct: bool,
    mut each: impl FnMut(&[u8]),
) -> io::Result<()> {
    use std::io::{Read, Write};
    const CHUNK: usize = 4 << 20;
    let mut storage = vec![0u8; CHUNK + BLOCK];
    let start = storage.as_ptr().align_offset(BLOCK);
    let buf = &mut storage[start..start + CHUNK];
    let mut len = 0u64;
    loop {
        let mut n = 0;
        while n < CHUNK {
            match src.read(&mut buf[n..]) {
                Ok(0) => break,
                Ok(k) => n += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        if n == 0 {
            break;
        }
        each(&buf[..n]);
        // With O_DIRECT the last chunk goes out padded to a whole block and
        // is cut back below.
        let written = if direct { n.next_multiple_of(BLOCK) } else { n };
        buf[n..written].fill(0);
        dst.write_all(&buf[..written])?;
        len += n as u64;
        if n < CHUNK {
            break;
        }
    }
    dst.set_len(len)
}

/// See `Disk::reserve_copy`: FICLONE shares extents on btrfs and xfs. A
/// filesystem that cannot reserve space (`EOPNOTSUPP`) gets an empty file,
/// and a full disk shows in `fill`.
fn reserve_copy(from: &Path, to: &Path) -> io::Result<bool> {
    let src = std::fs::File::open(from)?;
    let len = src.metadata()?.len();
    let dst = create_new(to, 0)?;
    if rustix::fs::ioctl_ficlone(&dst, &src).is_ok() {
        return Ok(true);
    }
    if len == 0 {
        // Nothing to reserve (fallocate refuses a length of 0).
        return Ok(false);
    }
    match rustix::fs::fallocate(&dst, rustix::fs::FallocateFlags::empty(), 0, len) {
        Ok(()) => Ok(false),
        Err(e) if e == rustix::io::Errno::OPNOTSUPP => Ok(false),
        Err(e) => {
            let _ = std::fs::remove_file(to);
            Err(e.into())
        }
    }
}

/// See `Disk::fill`. From `UNCACHED_MIN` bytes it writes with `O_DIRECT`
/// where the filesystem has it: the kernel's buffered copy of a 1.5 GB
/// sqlite.db allocates, zeroes and dirties 1.5 GB of page cache, 2.7 s of
/// system time on ext4 here against 0.4 s (1.2 s wall) written directly,
/// and the cache it would have taken keeps the pages the next stages read.
fn fill(from: &Path, to: &Path) -> io::Result<String> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut src = std::fs::File::open(from)?;
    let open = |flags| {
        std::fs::OpenOptions::new()
            .write(true)
            .custom_flags(flags)
            .open(to)
    };
    let (dst, direct) = if src.metadata()?.len() < UNCACHED_MIN {
        (open(0)?, false)
    } else {
        match open(nix::libc::O_DIRECT) {
            Ok(dst) => (dst, true),
            Err(e) if e.raw_os_error() == Some(nix::libc::EINVAL) => (open(0)?, false),
            Err(e) => return Err(e),
        }
    };
    let mut hasher = blake3::Hasher::new();
    write_chunks(&mut src, dst, direct, |chunk| {
        hasher.update(chunk);
    })?;
    Ok(hasher.finalize().to_hex().to_string())
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

/// Whether a SQLite error on the database at `path` is its disk being full.
/// SQLite reports some writes that ENOSPC stopped only as a "disk I/O
/// error", so the filesystem is asked; under a mebibyte left counts as full
/// (the write that failed may have wanted more than what is left).
pub fn sqlite_disk_full(path: &Path, error: &rusqlite::Error) -> bool {
    use rusqlite::ErrorCode::{DiskFull, SystemIoFailure};
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    matches!(error.sqlite_error_code(), Some(DiskFull | SystemIoFailure))
        && rustix::fs::statvfs(dir).is_ok_and(|s| s.f_bavail.saturating_mul(s.f_frsize) < 1 << 20)
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
        fn reserve_copy(&self, from: &Path, to: &Path) -> io::Result<bool> {
            self.step()?;
            RealDisk.reserve_copy(from, to)
        }
        fn fill(&self, from: &Path, to: &Path) -> io::Result<String> {
            self.step()?;
            RealDisk.fill(from, to)
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A reserved copy, filled, holds the source's bytes at every size and
    /// returns their hash: under the threshold, a whole number of blocks, a
    /// short last block, several chunks; in a folder whose filesystem may
    /// lack `O_DIRECT` too (tmpfs).
    #[test]
    fn a_filled_copy_keeps_every_byte() {
        let mut dirs = vec![tempfile::tempdir().unwrap()];
        if Path::new("/dev/shm").is_dir() {
            dirs.push(tempfile::tempdir_in("/dev/shm").unwrap());
        }
        let min = UNCACHED_MIN as usize;
        for dir in &dirs {
            for len in [0, 5000, min, min + 1, min + BLOCK, (3 * min / 2) + 12_345] {
                let bytes: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
                let from = dir.path().join(format!("from {len}"));
                let to = dir.path().join(format!("to {len}"));
                std::fs::write(&from, &bytes).unwrap();
                if !RealDisk.reserve_copy(&from, &to).unwrap() {
                    let hash = RealDisk.fill(&from, &to).unwrap();
                    assert_eq!(hash, crate::content_hash::of_bytes(&bytes), "{len} bytes");
                }
                assert!(std::fs::read(&to).unwrap() == bytes, "{len} bytes");
            }
        }
    }

    /// Like every copy the store makes, it creates the file: an existing one
    /// is an error, and stays as it was.
    #[test]
    fn a_reserved_copy_never_overwrites() {
        let dir = tempfile::tempdir().unwrap();
        let from = dir.path().join("from");
        let to = dir.path().join("to");
        std::fs::write(&to, b"kept").unwrap();
        for len in [10, UNCACHED_MIN as usize + 1] {
            std::fs::write(&from, vec![7u8; len]).unwrap();
            let err = RealDisk.reserve_copy(&from, &to).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::AlreadyExists, "{len} bytes");
            assert_eq!(std::fs::read(&to).unwrap(), b"kept");
        }
    }
}
