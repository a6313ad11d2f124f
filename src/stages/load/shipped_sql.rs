//! `ShippedSql`: whether `sql/schema.sql` and `sql/core/` are exactly the
//! files tnsflow ships, so `CoreTables` may stand in for the core SQL.
//!
//! Analysts may edit those files, and an edit must take effect: any
//! difference (an added, removed or changed file; line endings aside) means
//! the SQL runs as written. The comparison is a few kilobytes of text, once
//! per load.

use std::path::{Path, PathBuf};

use crate::execute::StageError;
use crate::StageResult;

const SCHEMA: &str = include_str!("../../../sql/schema.sql");

/// The core files and, for those `CoreTables` replaces, the table each makes.
const CORE: [(&str, &str, Option<&str>); 6] = [
    (
        "10_core_user_day.sql",
        include_str!("../../../sql/core/10_core_user_day.sql"),
        Some("core_user_day"),
    ),
    (
        "20_core_day_metrics.sql",
        include_str!("../../../sql/core/20_core_day_metrics.sql"),
        Some("core_day_metrics"),
    ),
    (
        "30_core_user_identifiers.sql",
        include_str!("../../../sql/core/30_core_user_identifiers.sql"),
        Some("core_user_identifiers"),
    ),
    (
        "40_core_users.sql",
        include_str!("../../../sql/core/40_core_users.sql"),
        Some("core_users"),
    ),
    (
        "50_views.sql",
        include_str!("../../../sql/core/50_views.sql"),
        None,
    ),
    (
        "90_indexes.sql",
        include_str!("../../../sql/core/90_indexes.sql"),
        None,
    ),
];

pub struct ShippedSql;

impl ShippedSql {
    /// True when `schema` and the `core` files (in file-name order) are the shipped ones.
    pub fn matches(schema: &Path, core: &[PathBuf]) -> StageResult<bool> {
        if core.len() != CORE.len() || !same_text(&read(schema)?, SCHEMA) {
            return Ok(false);
        }
        for (path, (name, text, _)) in core.iter().zip(CORE) {
            if path.file_name().is_none_or(|n| n != name) || !same_text(&read(path)?, text) {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Whether `file` is one of the shipped core files `CoreTables` replaces.
    pub fn is_replaced(file: &Path) -> bool {
        CORE.iter()
            .any(|(name, _, table)| table.is_some() && file.file_name().is_some_and(|n| n == *name))
    }

    /// Whether `file` is the shipped index file, whose raw_events indexes
    /// load fills from the aggregation's keys (`RawIndexes`).
    pub fn is_index_file(file: &Path) -> bool {
        file.file_name().is_some_and(|n| n == INDEX_FILE)
    }

    /// The statements of the shipped index file, in file order, comments
    /// dropped. The file is ours and holds no `;` but those ending statements.
    pub fn index_statements() -> Vec<&'static str> {
        let (_, text, _) = CORE
            .iter()
            .find(|(name, _, _)| *name == INDEX_FILE)
            .expect("the index file is shipped");
        text.split(';')
            .filter_map(|chunk| Some(chunk[chunk.find("CREATE")?..].trim()))
            .collect()
    }

    /// The four core tables' CREATE statements, as the shipped SQL declares
    /// them: it runs on empty raw tables in memory (a millisecond), so column
    /// names and declared types come from SQLite itself, not a copy here.
    pub fn core_table_ddl() -> rusqlite::Result<Vec<(String, String)>> {
        let conn = rusqlite::Connection::open_in_memory()?;
        conn.execute_batch(SCHEMA)?;
        let tables: Vec<&str> = CORE.iter().filter_map(|(_, _, t)| *t).collect();
        for (_, text, table) in CORE {
            if table.is_some() {
                conn.execute_batch(text)?;
            }
        }
        tables
            .into_iter()
            .map(|t| {
                conn.query_row(
                    "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?1",
                    [t],
                    |r| Ok((t.to_string(), r.get::<_, String>(0)?)),
                )
            })
            .collect()
    }
}

const INDEX_FILE: &str = "90_indexes.sql";

fn read(path: &Path) -> StageResult<String> {
    std::fs::read_to_string(path).map_err(|source| StageError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// Equal up to CRLF line endings (a Windows checkout of the same files).
fn same_text(a: &str, b: &str) -> bool {
    a.replace("\r\n", "\n") == b.replace("\r\n", "\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The index file's nine statements, comments left out, run as the file.
    #[test]
    fn index_file_splits_into_statements() {
        let statements = ShippedSql::index_statements();
        assert_eq!(statements.len(), 9, "{statements:?}");
        assert!(statements
            .iter()
            .all(|s| s.starts_with("CREATE") && !s.contains(';') && !s.contains("--")));
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        conn.execute_batch(SCHEMA).unwrap();
        for (_, text, table) in CORE {
            if table.is_some() {
                conn.execute_batch(text).unwrap();
            }
        }
        for s in &statements {
            conn.execute_batch(s).unwrap();
        }
        let n: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(n, 9);
    }
}
