//! `Staging`: a private folder a stage writes into before its outs are published.
//!
//! It lives under `.tnsflow/v1/tmp/`, on the workspace's filesystem, so that
//! publishing is a rename. It is removed on drop; a killed build leaves it
//! behind and the next build clears the whole tmp folder under the lock.

use std::path::{Path, PathBuf};

#[derive(Debug)]
pub struct Staging {
    dir: PathBuf,
}

impl Staging {
    pub fn create(tmp_root: &Path, stage: &str) -> std::io::Result<Staging> {
        let safe: String = stage
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        std::fs::create_dir_all(tmp_root)?;
        let dir = tempfile::Builder::new()
            .prefix(&format!("{safe}-"))
            .tempdir_in(tmp_root)?
            .keep();
        Ok(Staging { dir })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
