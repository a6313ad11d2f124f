//! `tnsflow serve`: the analyst workbench, a local web app over a build.
//!
//! `data` reads the build's exports (read-only), `review` keeps the analysts'
//! dispositions in a database of their own, `sla` and `graph` are pure
//! helpers for the pages, `pages` renders HTML and `routes` wires them to
//! HTTP. Nothing here writes into the workspace's outs.

pub mod allowed_hosts;
pub mod data;
pub mod explain;
pub mod export;
pub mod graph;
pub mod live;
pub mod pages;
pub mod query;
pub mod queue;
pub mod review;
pub mod routes;
pub mod routing;
pub mod sla;
pub mod sources;
pub mod timeline;

use std::collections::HashMap;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use data::{Sources, Workbench};
use live::{Live, Loaded};
use review::ReviewStore;

/// What `serve` needs to start.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub sources: Sources,
    pub review_db: PathBuf,
    /// The workspace root and its build state file: a new build is noticed
    /// by the file's change, and its outs are found under the root.
    pub root: PathBuf,
    pub state_file: PathBuf,
    pub addr: SocketAddr,
}

/// Why the workbench could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Data(#[from] data::DataError),
    #[error("cannot open the review database `{path}`: {source}{full}")]
    ReviewDb {
        path: PathBuf,
        source: rusqlite::Error,
        /// Said when the disk holding it has no room left.
        full: &'static str,
    },
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot export the decisions: {0}")]
    Export(#[from] export::ExportError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// What the server keeps between requests.
pub struct AppState {
    /// The build being served, replaced when a new one lands.
    pub live: Live,
    pub reviews: Mutex<ReviewStore>,
    /// The review store's file, for readers of their own (the export).
    pub review_db: PathBuf,
}

/// Everything a request handler reads: one build, start to end.
pub struct View<'a> {
    pub workbench: &'a Workbench,
    /// When the workbench first showed each case (its SLA start).
    pub opened: &'a HashMap<String, String>,
    pub reviews: &'a Mutex<ReviewStore>,
}

impl ServeError {
    /// The review store at `path` could not be opened; when the disk holding
    /// it has no room left, says so: opening a store no server holds creates
    /// its shared-memory file, and SQLite reports that only as a "disk I/O
    /// error".
    pub fn review_db(path: &Path, source: rusqlite::Error) -> ServeError {
        let full = crate::disk::sqlite_disk_full(path, &source);
        ServeError::ReviewDb {
            path: path.to_path_buf(),
            source,
            full: match full {
                true => "; the disk holding it is full: free some space and run it again",
                false => "",
            },
        }
    }
}

/// Loads the build, opens the review store and serves until Ctrl-C.
pub fn run(config: ServeConfig) -> Result<(), ServeError> {
    let review_err = |source| ServeError::review_db(&config.review_db, source);
    if let Some(parent) = config.review_db.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let reviews = Mutex::new(ReviewStore::open(&config.review_db).map_err(review_err)?);
    // A first build that cannot be read stops `serve`; a later one is
    // reported and the previous one kept (see `live`).
    let workbench = Workbench::load(&config.sources)?;
    let opened = reviews
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .open_cases(
            workbench.cases.iter().map(|c| c.case_id.as_str()),
            &sla::now_utc(),
        )
        .map_err(review_err)?;
    let live = Live::new(
        Loaded { workbench, opened },
        &config.sources,
        Some((config.root.clone(), config.state_file.clone())),
    );
    let state = AppState {
        live,
        reviews,
        review_db: config.review_db.clone(),
    };

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(config.addr)
            .await
            .map_err(|source| ServeError::Bind {
                addr: config.addr,
                source,
            })?;
        let local = listener.local_addr()?;
        if let Some(warning) = exposure_warning(local) {
            // Before the serving line, so whoever reads that has seen it.
            // A closed stderr must not stop the workbench.
            let _ = writeln!(std::io::stderr().lock(), "{warning}");
        }
        // The one line scripts and tests wait for: the address, with the real port.
        let mut out = std::io::stdout().lock();
        writeln!(out, "serving http://{local}")?;
        out.flush()?;
        drop(out);
        let hosts = allowed_hosts::AllowedHosts::for_listener(local);
        axum::serve(listener, routes::router(state, hosts))
            .with_graceful_shutdown(async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await?;
        Ok(())
    })
}

/// The warning for a listener others can reach: anything but loopback puts
/// every case on the network, with no login (issue 10, item 21).
fn exposure_warning(local: SocketAddr) -> Option<String> {
    if local.ip().to_canonical().is_loopback() {
        return None;
    }
    let port = local.port();
    Some(format!(
        "warning: {local} is not a loopback address: every case, review and note of this \
         workspace can be read, and reviews filed, with no login, by anyone who can reach \
         this machine on port {port}. Leave out --bind to serve on 127.0.0.1 only."
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Only a loopback listener is quiet.
    #[test]
    fn non_loopback_listeners_are_warned_about() {
        for quiet in [
            "127.0.0.1:8080",
            "127.0.0.2:8080",
            "[::1]:8080",
            "[::ffff:127.0.0.1]:8080",
        ] {
            assert_eq!(exposure_warning(quiet.parse().unwrap()), None, "{quiet}");
        }
        for loud in ["0.0.0.0:8080", "[::]:8080", "192.168.1.5:8080"] {
            let warning = exposure_warning(loud.parse().unwrap()).expect(loud);
            assert!(
                warning.starts_with(&format!("warning: {loud} is not a loopback")),
                "{warning}"
            );
            assert!(warning.contains("on port 8080"), "{warning}");
        }
    }
}
