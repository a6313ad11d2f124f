//! `tnsflow sweep show [NAME] [--metric M ...]`: a finished sweep's
//! experiment table, printed from its `summary.csv`, and its `report.html`
//! for the chosen metrics. Nothing is built.

use std::path::{Path, PathBuf};

use super::experiment_table::ExperimentTable;
use super::summary::{SweepSummary, SUMMARY_FILE};
use crate::cli::SweepShowArgs;
use crate::commands::emit;
use crate::layout::workspace_root;
use crate::record::{write_atomic, RecordError};
use crate::Error;

pub fn show(file: &Path, quiet: bool, args: &SweepShowArgs) -> Result<(), Error> {
    let root = workspace_root(file)?;
    let dir = super::sweep_dir(&root, args.name.as_deref())?;
    let path = dir.join(SUMMARY_FILE);
    if !path.is_file() {
        let name = args
            .name
            .as_ref()
            .map(|n| format!("--name {n} "))
            .unwrap_or_default();
        return Err(Error::Usage(format!(
            "no sweep to show: {} does not exist; run `tnsflow sweep {name}--set KEY=VALUES` first",
            path.display()
        )));
    }
    let summary = SweepSummary::load(&path)?;
    let table = ExperimentTable::new(&summary, &args.metrics, &path.display().to_string())?;
    emit(&table.render());
    let report = write_report(&dir, &table, args.name.as_deref())?;
    if !quiet {
        crate::commands::note(&format!("wrote {}", report.display()));
    }
    Ok(())
}

/// The sweep's `report.html` beside its summary.
pub fn write_report(
    dir: &Path,
    table: &ExperimentTable,
    name: Option<&str>,
) -> Result<PathBuf, Error> {
    let path = dir.join(REPORT_FILE);
    let html = super::sweep_report::render(table, name.unwrap_or("(default)"))?;
    write_atomic(&path, html.as_bytes()).map_err(RecordError::writing(&path))?;
    Ok(path)
}

pub const REPORT_FILE: &str = "report.html";
