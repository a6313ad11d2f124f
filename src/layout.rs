//! Every on-disk name tnsflow uses, in one place.
//!
//! The store version is part of the path (`.tnsflow/v2/...`), as uv versions its
//! cache buckets: a tnsflow that changes the format bumps the version and simply
//! starts over, because losing state only ever means more rebuilding.

use std::path::{Path, PathBuf};

/// The pipeline file looked up in the current directory.
pub const DEFAULT_PIPELINE: &str = "pipeline.yaml";
/// The state folder at the workspace root.
pub const STATE_DIR: &str = ".tnsflow";
/// The version of everything under the state folder.
pub const STORE_VERSION: &str = "v2";
/// Points the content-addressed store and run records somewhere shared (sweeps, CI caches).
pub const CACHE_DIR_ENV: &str = "TNSFLOW_CACHE_DIR";

/// The workspace of a pipeline file: the folder that holds it, absolute.
pub fn workspace_root(pipeline_file: &Path) -> std::io::Result<PathBuf> {
    let absolute = std::path::absolute(pipeline_file)?;
    Ok(absolute
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("/")))
}

/// Paths of one workspace's state.
#[derive(Debug, Clone)]
pub struct Layout {
    root: PathBuf,
    cache: PathBuf,
}

impl Layout {
    pub fn new(root: &Path) -> Layout {
        let state = root.join(STATE_DIR);
        let cache = match std::env::var_os(CACHE_DIR_ENV) {
            Some(dir) if !dir.is_empty() => PathBuf::from(dir).join(STORE_VERSION),
            _ => state.join(STORE_VERSION),
        };
        Layout {
            root: root.to_path_buf(),
            cache,
        }
    }

    /// The workspace root: the folder holding pipeline.yaml.
    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn state_dir(&self) -> PathBuf {
        self.root.join(STATE_DIR)
    }

    /// Versioned, workspace-private state (records of the last build, stat cache).
    pub fn local_dir(&self) -> PathBuf {
        self.state_dir().join(STORE_VERSION)
    }

    pub fn lock_file(&self) -> PathBuf {
        self.state_dir().join("lock")
    }

    /// Last runs, stat cache and no-op snapshot (SQLite).
    pub fn state_file(&self) -> PathBuf {
        self.local_dir().join("state.db")
    }

    /// The last plan, kept for the next command (`plan::plan_cache`).
    pub fn plan_file(&self) -> PathBuf {
        self.local_dir().join("plan.bin")
    }

    pub fn logs_dir(&self) -> PathBuf {
        self.local_dir().join("logs")
    }

    /// Staging folders of running stages; anything here at the start of a build is garbage.
    pub fn tmp_dir(&self) -> PathBuf {
        self.local_dir().join("tmp")
    }

    /// Content-addressed blobs, shareable between workspaces.
    pub fn blobs_dir(&self) -> PathBuf {
        self.cache.join("blobs")
    }

    /// Run records by stage key (SQLite), shareable between workspaces.
    pub fn runs_db_file(&self) -> PathBuf {
        self.cache.join("runs.db")
    }

    /// Per-key locks, so that concurrent builds sharing the cache compute a key once.
    pub fn key_lock_file(&self) -> PathBuf {
        self.cache.join("keys.lock")
    }

    /// The folder `TNSFLOW_CACHE_DIR` must name to share this workspace's cache.
    pub fn cache_root(&self) -> PathBuf {
        self.cache
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| self.cache.clone())
    }

    /// One file per workspace that uses this store, naming its root, so that
    /// `gc` in any of them keeps what every one of them still uses.
    pub fn roots_dir(&self) -> PathBuf {
        self.cache.join("roots")
    }

    /// Builds hold a shared lock on it, `gc` an exclusive one.
    pub fn gc_lock_file(&self) -> PathBuf {
        self.cache.join("gc.lock")
    }

    /// Temporary files of the shared cache (same filesystem, so renames are atomic).
    pub fn cache_tmp_dir(&self) -> PathBuf {
        self.cache.join("tmp")
    }
}
