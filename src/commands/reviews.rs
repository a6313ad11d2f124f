//! `tnsflow reviews export`: the workbench's audit trail as CSV, the same
//! rows as its `/export/decisions.csv`, without a running server.

use std::io::Write;
use std::path::Path;

use super::load_plan;
use super::serve::DEFAULT_REVIEW_DB;
use crate::cli::ReviewsCommand;
use crate::serve::export;
use crate::serve::review::ReviewStore;
use crate::serve::ServeError;
use crate::Error;

pub fn reviews(file: &Path, command: ReviewsCommand) -> Result<(), Error> {
    let ReviewsCommand::Export(args) = command;
    let db = match args.review_db {
        Some(path) => path,
        None => {
            let (_, layout) = load_plan(file, &[])?;
            layout.root().join(DEFAULT_REVIEW_DB)
        }
    };
    // Never create an empty store by exporting a mistyped path.
    if !db.is_file() {
        return Err(Error::Usage(format!(
            "no review database at `{}`; `tnsflow serve` creates it (or pass --review-db FILE)",
            db.display()
        )));
    }
    let mut store = ReviewStore::open(&db).map_err(|source| {
        Error::Serve(ServeError::ReviewDb {
            path: db.clone(),
            source,
        })
    })?;
    let result = match &args.out {
        Some(path) => {
            let file = std::fs::File::create(path)
                .map_err(|e| Error::Usage(format!("cannot write `{}`: {e}", path.display())))?;
            export::write_csv(&mut store, std::io::BufWriter::new(file))
        }
        None => export::write_csv(&mut store, std::io::stdout().lock()),
    };
    match result {
        Ok(_) => Ok(()),
        // `tnsflow reviews export | head` ends quietly.
        Err(export::ExportError::Write(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => {
            let _ = std::io::stdout().flush();
            Err(Error::Serve(ServeError::Export(e)))
        }
    }
}
