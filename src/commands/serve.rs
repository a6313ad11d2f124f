//! `tnsflow serve`: the analyst workbench over the last build.
//!
//! The files it reads are found by name among the outs the last build
//! recorded (see `serve::sources`). Reviews go to their own database, outside
//! every out, so no rebuild touches them.

use std::net::SocketAddr;
use std::path::Path;

use super::load_plan;
use crate::cli::ServeArgs;
use crate::serve::sources::Sources;
use crate::serve::{self, ServeConfig};
use crate::Error;

/// The review database, relative to the workspace root, unless `--review-db`.
pub const DEFAULT_REVIEW_DB: &str = "review/reviews.db";

pub fn serve(file: &Path, args: ServeArgs) -> Result<(), Error> {
    let (_, layout) = load_plan(file, &[])?;
    let root = layout.root();
    let state_file = layout.state_file();
    let sources = Sources::discover(root, &state_file).map_err(Error::Usage)?;
    let review_db = args
        .review_db
        .unwrap_or_else(|| root.join(DEFAULT_REVIEW_DB));
    let config = ServeConfig {
        sources,
        review_db,
        root: root.to_path_buf(),
        state_file,
        addr: SocketAddr::new(args.bind, args.port),
    };
    Ok(serve::run(config)?)
}
