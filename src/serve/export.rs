//! The decisions export: every audit entry (claims, releases, handoffs,
//! decisions) as CSV rows, one row per entry, oldest first, no cap.
//!
//! Shared by `/export/decisions.csv` and `tnsflow reviews export`; rows are
//! written as the store yields them, so the export never holds the whole
//! trail in memory.

use std::io::Write;

use super::review::{AuditEntry, ReviewStore};

/// The export's columns.
pub const HEADER: [&str; 9] = [
    "entry_id",
    "at",
    "case_id",
    "entry",
    "actor",
    "disposition",
    "assignee",
    "team",
    "notes",
];

/// Why the export stopped.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("cannot read the review database: {0}")]
    Db(#[from] rusqlite::Error),
    #[error("cannot write the export: {0}")]
    Write(#[from] std::io::Error),
}

/// Writes the header and every audit entry of `store` to `out` as CSV;
/// returns the number of rows.
pub fn write_csv(store: &mut ReviewStore, out: impl Write) -> Result<u64, ExportError> {
    let mut csv = csv::Writer::from_writer(out);
    let io = |e: csv::Error| std::io::Error::other(e.to_string());
    csv.write_record(HEADER).map_err(io)?;
    let mut rows = 0u64;
    store.each_entry(|entry| {
        rows += 1;
        let id = match entry {
            AuditEntry::Decision(r) => format!("d{}", r.review_id),
            AuditEntry::Assignment(a) => format!("a{}", a.assignment_id),
        };
        let record: [&str; 9] = match entry {
            AuditEntry::Decision(r) => [
                &id,
                &r.reviewed_at,
                &r.case_id,
                "decision",
                &r.reviewer,
                &r.disposition,
                "",
                "",
                &r.notes,
            ],
            AuditEntry::Assignment(a) => [
                &id,
                &a.at,
                &a.case_id,
                &a.action,
                &a.actor,
                "",
                &a.assignee,
                &a.team,
                &a.note,
            ],
        };
        csv.write_record(record).map_err(io)
    })??;
    csv.flush()?;
    Ok(rows)
}
