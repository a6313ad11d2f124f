//! `tnsflow reviews export`: the workbench's audit trail as CSV, the same
//! rows as its `/export/decisions.csv`, without a running server.

use std::io::Write;
use std::path::Path;

use super::load_plan;
use super::serve::DEFAULT_REVIEW_DB;
use crate::cli::ReviewsCommand;
use crate::record::{write_atomic_with, RecordError};
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
    let mut store = ReviewStore::open(&db)
        .map_err(|source| Error::Serve(ServeError::review_db(&db, source)))?;
    let result = match &args.out {
        // Written beside and renamed into place: a full disk or a kill
        // mid-export leaves the previous export whole, never a cut one.
        Some(path) => {
            let mut rows = Ok(0);
            let written = write_atomic_with(path, |file| {
                rows = export::write_csv(&mut store, file);
                match &rows {
                    Ok(_) => Ok(()),
                    Err(export::ExportError::Write(e)) => {
                        Err(std::io::Error::new(e.kind(), e.to_string()))
                    }
                    Err(export::ExportError::Db(_)) => Err(std::io::ErrorKind::Other.into()),
                }
            });
            if !matches!(rows, Err(export::ExportError::Db(_))) {
                written.map_err(RecordError::writing(path))?;
            }
            rows
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
