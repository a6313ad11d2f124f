//! `tnsflow serve`: the analyst workbench over the last build.
//!
//! The files it reads are found by name among the outs the last build
//! recorded (`cases.csv`, `sqlite.db`, `alerts.csv`,
//! `entity_resolution_edges.csv`, `detections/*.csv`), so a pipeline that
//! renames folders still works. Reviews go to their own database, outside
//! every out, so no rebuild touches them.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use super::load_plan;
use crate::cli::ServeArgs;
use crate::record::BuildState;
use crate::serve::data::Sources;
use crate::serve::{self, ServeConfig};
use crate::Error;

/// The review database, relative to the workspace root, unless `--review-db`.
pub const DEFAULT_REVIEW_DB: &str = "review/reviews.db";

pub fn serve(file: &Path, args: ServeArgs) -> Result<(), Error> {
    let (_, layout) = load_plan(file, &[])?;
    let root = layout.root();
    let state = BuildState::load(&layout.state_file());
    let outs: Vec<PathBuf> = state
        .records()
        .flat_map(|r| r.outs.keys())
        .map(|out| root.join(out))
        .filter(|path| path.is_file())
        .collect();
    let named = |name: &str| {
        outs.iter()
            .find(|p| p.file_name() == Some(name.as_ref()))
            .cloned()
    };
    let required = |name: &str| {
        named(name).ok_or_else(|| {
            Error::Usage(format!(
                "no `{name}` among the outs of the last build in `{}`; run `tnsflow build` first",
                root.display()
            ))
        })
    };
    let mut detections: Vec<PathBuf> = outs
        .iter()
        .filter(|p| {
            p.extension().is_some_and(|e| e == "csv")
                && p.parent()
                    .and_then(Path::file_name)
                    .is_some_and(|d| d == "detections")
        })
        .cloned()
        .collect();
    detections.sort();
    let sources = Sources {
        cases: required("cases.csv")?,
        db: required("sqlite.db")?,
        alerts: named("alerts.csv"),
        edges: named("entity_resolution_edges.csv"),
        detections,
    };
    let review_db = args
        .review_db
        .unwrap_or_else(|| root.join(DEFAULT_REVIEW_DB));
    let config = ServeConfig {
        sources,
        review_db,
        addr: SocketAddr::new(args.bind, args.port),
    };
    Ok(serve::run(config)?)
}
