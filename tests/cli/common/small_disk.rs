//! `SmallDisk`: a real disk that fills up, for the full-disk tests.

use super::skip;
use std::path::Path;
use std::process::{Command, Stdio};

/// A tmpfs of a given size, mounted on a temporary folder for one test and
/// unmounted when dropped: a real disk that fills up.
pub struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    /// `None` (having said so loudly) where this process may not mount.
    pub fn mount(bytes: u64) -> Option<SmallDisk> {
        let dir = tempfile::tempdir().unwrap();
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={bytes}"), "tmpfs"])
            .arg(dir.path())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success());
        if !mounted {
            skip(
                "cannot mount a tmpfs to fill up (needs root)",
                "run the tests as root, as .ci/run does",
            );
            return None;
        }
        Some(SmallDisk { dir })
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn free(&self) -> u64 {
        let stat = rustix::fs::statvfs(self.path()).unwrap();
        stat.f_bavail * stat.f_frsize
    }

    /// Fills the disk until `left` bytes are free.
    pub fn fill_to(&self, left: u64) {
        let filler = std::fs::File::create(self.path().join("filler")).unwrap();
        filler.set_len(0).unwrap();
        let size = self.free() - left;
        rustix::fs::fallocate(&filler, rustix::fs::FallocateFlags::empty(), 0, size).unwrap();
    }

    pub fn empty(&self) {
        std::fs::remove_file(self.path().join("filler")).unwrap();
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}
