//! `load`: the CSVs of `generate` into `sqlite.db`, then the core tables.
//!
//! The schema and the core tables are plain SQL files (`sql/schema.sql`,
//! `sql/core/*.sql`, run in file-name order), so analysts can read and change
//! them and a change reruns this stage. The bulk load is one transaction of
//! prepared inserts with the journal off; indexes come after the insert,
//! in `sql/core/`. The database is built in the staging folder, so a failed
//! load never leaves a half-built `sqlite.db` behind.

use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::Connection;
use std::path::{Path, PathBuf};

use crate::execute::{Builtin, ParamProblem, StageContext, StageError, StageParams};
use crate::StageResult;

pub struct Load;

/// Tables loaded from CSVs of the same name, in load order.
const TABLES: [&str; 4] = ["raw_events", "users", "reports", "enforcements"];

impl Builtin for Load {
    fn name(&self) -> &'static str {
        "load"
    }

    fn version(&self) -> &'static str {
        "1"
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
        // Sorts (the core tables' GROUP BYs, every CREATE INDEX) spill to temp
        // files: SQLite's file-backed sorter merges sorted runs, which worker
        // threads build, and is 3x faster than its all-in-memory one here.
        // The page cache also sizes those runs: 8 MB runs sort in the CPU's
        // caches, and load is 1.35x faster at 5 M events than with 64 MB.
        conn.execute_batch(
            "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF; PRAGMA temp_store = FILE;
             PRAGMA cache_size = -8192; PRAGMA locking_mode = EXCLUSIVE; PRAGMA threads = 2;",
        )?;
        run_sql_file(&conn, &ctx.dep("schema.sql")?)?;
        let tx = conn.transaction()?;
        for table in TABLES {
            load_csv(&tx, table, &ctx.dep(&format!("{table}.csv"))?)?;
        }
        tx.commit()?;
        for file in sql_files(&ctx.dep("core")?)? {
            run_sql_file(&conn, &file)?;
        }
        conn.execute_batch("ANALYZE;")?;
        Ok(())
    }
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

/// Inserts every row of a CSV whose header names the table's columns. An empty
/// field in a nullable column becomes NULL (a missing payment token).
fn load_csv(conn: &Connection, table: &str, csv_path: &Path) -> StageResult<()> {
    let mut reader = csv::ReaderBuilder::new()
        .buffer_capacity(1 << 20)
        .from_path(csv_path)
        .map_err(|e| StageError::Failed(format!("cannot read `{}`: {e}", csv_path.display())))?;
    let header = reader.byte_headers()?.clone();
    let columns: Vec<String> = header
        .iter()
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect();
    // (nullable, integer) per CSV column, from the table's declaration.
    let kinds: Vec<(bool, bool)> = {
        let mut stmt = conn.prepare(&format!("PRAGMA table_info({table})"))?;
        let info: Vec<(String, String, bool)> = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, i64>(3)? == 0,
                ))
            })?
            .collect::<Result<_, _>>()?;
        columns
            .iter()
            .map(|c| {
                info.iter()
                    .find(|(name, _, _)| name == c)
                    .map(|(_, ty, nullable)| (*nullable, ty.eq_ignore_ascii_case("INTEGER")))
                    .ok_or_else(|| {
                        StageError::Failed(format!(
                            "`{}` has column `{c}`, which table `{table}` lacks",
                            csv_path.display()
                        ))
                    })
            })
            .collect::<StageResult<_>>()?
    };
    let placeholders = vec!["?"; columns.len()].join(", ");
    let mut insert = conn.prepare(&format!(
        "INSERT INTO {table} ({}) VALUES ({placeholders})",
        columns.join(", ")
    ))?;
    let mut record = csv::ByteRecord::new();
    // Fields are bound borrowed, straight from the reader's buffer: no
    // allocation per value. Integers are bound as integers: SQLite would
    // otherwise convert each text.
    while reader.read_byte_record(&mut record)? {
        for (i, (field, &(nullable, integer))) in record.iter().zip(&kinds).enumerate() {
            let value = if field.is_empty() && nullable {
                ValueRef::Null
            } else if let Some(n) = integer.then(|| parse_i64(field)).flatten() {
                ValueRef::Integer(n)
            } else {
                std::str::from_utf8(field).map_err(|_| {
                    let line = record.position().map_or(0, |p| p.line());
                    StageError::Failed(format!(
                        "`{}` line {line}: column `{}` is not UTF-8 text",
                        csv_path.display(),
                        columns[i]
                    ))
                })?;
                ValueRef::Text(field)
            };
            insert.raw_bind_parameter(i + 1, ToSqlOutput::Borrowed(value))?;
        }
        insert.raw_execute()?;
    }
    Ok(())
}

/// A decimal integer, as SQLite would store it in an INTEGER column.
fn parse_i64(field: &[u8]) -> Option<i64> {
    std::str::from_utf8(field).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// CSV columns load by name; empty nullable fields become NULL.
    #[test]
    fn loads_csv_by_header() {
        let dir = tempfile::tempdir().unwrap();
        let csv_path = dir.path().join("t.csv");
        std::fs::write(&csv_path, "b,a\n2,x\n,y\n").unwrap();
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t (a TEXT NOT NULL, b INTEGER)")
            .unwrap();
        load_csv(&conn, "t", &csv_path).unwrap();
        let rows: Vec<(String, Option<i64>)> = conn
            .prepare("SELECT a, b FROM t ORDER BY a")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(rows, [("x".to_string(), Some(2)), ("y".to_string(), None)]);
    }
}
