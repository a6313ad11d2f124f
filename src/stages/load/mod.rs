//! `load`: the CSVs of `generate` into `sqlite.db`, then the core tables.
//!
//! The schema and the core tables are plain SQL files (`sql/schema.sql`,
//! `sql/core/*.sql`, run in file-name order), so analysts can read and change
//! them and a change reruns this stage. The bulk load is one transaction of
//! prepared inserts with the journal off; indexes come after the insert,
//! in `sql/core/`. The database is built in the staging folder, so a failed
//! load never leaves a half-built `sqlite.db` behind.
//!
//! When those files are the shipped ones (`ShippedSql`), the four core tables
//! are not computed by their SQL but by `CoreTables`, their Rust twin, on a
//! second thread during the insert: the same rows, in the same order, without
//! four sorts of every event (issue 13). Edited files run as written.

mod core_tables;
mod csv_insert;
mod interner;
mod kbn_sum;
mod shipped_sql;
mod timestamps;

use rusqlite::Connection;
use std::path::{Path, PathBuf};

use crate::execute::{Builtin, ParamProblem, StageContext, StageError, StageParams};
use crate::StageResult;
use core_tables::CoreTables;
use csv_insert::load_csv;
use shipped_sql::ShippedSql;

pub struct Load;

/// Tables loaded from CSVs of the same name, in load order.
const TABLES: [&str; 4] = ["raw_events", "users", "reports", "enforcements"];

impl Builtin for Load {
    fn name(&self) -> &'static str {
        "load"
    }

    fn version(&self) -> &'static str {
        // 2: the core tables are inserted from Rust (issue 13); same rows, other bytes.
        // 3: 32 KiB pages (issue 13); same rows, other bytes.
        "3"
    }

    fn outs(&self) -> &'static [&'static str] {
        &["sqlite.db"]
    }

    fn validate(&self, _: &StageParams) -> Result<(), ParamProblem> {
        Ok(())
    }

    fn run(&self, ctx: &StageContext) -> StageResult<()> {
        let db = ctx.out("sqlite.db");
        let mut conn = Connection::open(&db)?;
        conn.execute_batch(PRAGMAS)?;
        let schema = ctx.dep("schema.sql")?;
        let core = sql_files(&ctx.dep("core")?)?;
        let is_shipped = ShippedSql::matches(&schema, &core)?;
        run_sql_file(&conn, &schema)?;
        let raw_events = ctx.dep("raw_events.csv")?;
        // The core tables aggregate on a second thread while SQLite inserts.
        let core_tables = std::thread::scope(|scope| {
            let aggregate = is_shipped.then(|| scope.spawn(|| CoreTables::aggregate(&raw_events)));
            let inserted = insert_csvs(&mut conn, ctx);
            let core_tables = aggregate
                .map(|a| a.join().expect("the aggregation does not panic"))
                .transpose();
            inserted.and(core_tables)
        })?
        .flatten();
        crate::trace::phase("load: raw tables inserted, core tables aggregated");
        // The four tables go in where the first file they replace would run;
        // their memory is freed before the indexes' sorts.
        let is_fast = core_tables.is_some();
        let mut core_tables = core_tables;
        for file in core {
            if !is_fast || !ShippedSql::is_replaced(&file) {
                run_sql_file(&conn, &file)?;
            } else if let Some(tables) = core_tables.take() {
                let tx = conn.transaction()?;
                tables.insert(&tx, &ShippedSql::core_table_ddl()?)?;
                tx.commit()?;
                crate::trace::phase("load: core tables inserted");
            }
        }
        crate::trace::phase("load: core tables and indexes");
        conn.execute_batch("ANALYZE;")?;
        crate::trace::phase("load: analyzed");
        Ok(())
    }
}

/// Build settings: the file is private to this stage until tnsflow publishes
/// it whole, so a crash needs no journal and no fsync.
// Sorts (every CREATE INDEX) spill to temp files: SQLite's file-backed sorter
// merges sorted runs, which worker threads build, and is 3x faster than its
// all-in-memory one here. The page cache also sizes those runs: 8 MB runs
// sort in the CPU's caches, and load is 1.35x faster at 5 M events than with
// 64 MB.
// 32 KiB pages (the default is 4 KiB): an eighth of the pages to write, read
// back and walk for each of the four scans of raw_events that CREATE INDEX
// makes, and for ANALYZE's. At 5 M events load takes about 15% less CPU
// than with 4 KiB (16 KiB: 10%; 64 KiB: no clear gain). It must come first:
// a page size holds only if set before the first table exists.
// Reads go through a memory map (up to SQLite's 2 GB ceiling): the index
// builds and ANALYZE scan the finished table from the kernel's page cache
// without copying each page into SQLite's (about 1 s less at 5 M events).
// No other process sees the file while it is mapped, so it cannot shrink
// under the map.
const PRAGMAS: &str = "PRAGMA page_size = 32768;
     PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF; PRAGMA temp_store = FILE;
     PRAGMA cache_size = -8192; PRAGMA locking_mode = EXCLUSIVE; PRAGMA threads = 2;
     PRAGMA mmap_size = 2147418112;";

/// The raw tables, in one transaction.
fn insert_csvs(conn: &mut Connection, ctx: &StageContext) -> StageResult<()> {
    let tx = conn.transaction()?;
    for table in TABLES {
        load_csv(&tx, table, &ctx.dep(&format!("{table}.csv"))?)?;
    }
    tx.commit()?;
    Ok(())
}

/// The `.sql` files of a folder, in file-name order.
fn sql_files(dir: &Path) -> StageResult<Vec<PathBuf>> {
    let read_err = |source| StageError::Read {
        path: dir.to_path_buf(),
        source,
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(read_err)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "sql"))
        .collect();
    files.sort();
    Ok(files)
}

fn run_sql_file(conn: &Connection, path: &Path) -> StageResult<()> {
    let sql = std::fs::read_to_string(path).map_err(|source| StageError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    conn.execute_batch(&sql).map_err(|e| StageError::Sql {
        file: display_name(path),
        message: e.to_string(),
    })
}

/// `sql/core/20_core_users.sql` rather than an absolute path.
fn display_name(path: &Path) -> String {
    let parts: Vec<_> = path.iter().rev().take(3).collect();
    parts
        .into_iter()
        .rev()
        .map(|p| p.to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The build settings give a database of 32 KiB pages (issue 13: fewer
    /// pages for CREATE INDEX and ANALYZE to scan), set before anything that
    /// would fix it at the 4 KiB default, and read it through a memory map.
    #[test]
    fn builds_with_32_kib_pages_read_through_a_map() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("sqlite.db");
        let conn = Connection::open(&db).unwrap();
        conn.execute_batch(PRAGMAS).unwrap();
        let mmap_size: i64 = conn
            .query_row("PRAGMA mmap_size", [], |r| r.get(0))
            .unwrap();
        assert!(mmap_size >= 1 << 30, "reads are memory-mapped: {mmap_size}");
        conn.execute_batch("CREATE TABLE t (a TEXT); INSERT INTO t VALUES ('x');")
            .unwrap();
        drop(conn);
        let page_size: i64 = Connection::open(&db)
            .unwrap()
            .query_row("PRAGMA page_size", [], |r| r.get(0))
            .unwrap();
        assert_eq!(page_size, 32768);
    }
}
