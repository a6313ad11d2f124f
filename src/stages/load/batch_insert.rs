//! `BatchInsert`: rows into a table, many to an INSERT statement.
//!
//! Running a statement (bind, step, the VDBE's set-up and halt, reset)
//! costs more than inserting the small row it carries. Load inserts millions
//! of core-table rows and index entries, so it binds 128 rows to one
//! `INSERT ... VALUES (..), (..), ...`; rowids follow the rows' order as
//! they would one statement at a time.

use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, Statement};

/// Rows per statement: beyond about a hundred, a statement's own cost
/// no longer shows.
const ROWS_PER_INSERT: usize = 128;

pub struct BatchInsert<'c> {
    conn: &'c Connection,
    table: String,
    n_columns: usize,
    /// The statement for `ROWS_PER_INSERT` rows; a shorter last batch gets
    /// its own.
    full: Statement<'c>,
}

impl<'c> BatchInsert<'c> {
    pub fn new(conn: &'c Connection, table: &str, n_columns: usize) -> rusqlite::Result<Self> {
        let full = conn.prepare(&insert_sql(table, n_columns, ROWS_PER_INSERT))?;
        Ok(BatchInsert {
            conn,
            table: table.to_string(),
            n_columns,
            full,
        })
    }

    /// Inserts `rows` in order, each the table's `n_columns` values.
    pub fn insert<'v, R>(
        &mut self,
        mut rows: impl ExactSizeIterator<Item = R>,
    ) -> rusqlite::Result<()>
    where
        R: IntoIterator<Item = ValueRef<'v>>,
    {
        let mut left = rows.len();
        while left >= ROWS_PER_INSERT {
            bind(&mut self.full, rows.by_ref().take(ROWS_PER_INSERT))?;
            self.full.raw_execute()?;
            left -= ROWS_PER_INSERT;
        }
        if left > 0 {
            let mut last = self
                .conn
                .prepare(&insert_sql(&self.table, self.n_columns, left))?;
            bind(&mut last, rows)?;
            last.raw_execute()?;
        }
        Ok(())
    }
}

/// Binds the values of `rows`, row after row, to the statement's parameters.
fn bind<'v, R>(statement: &mut Statement<'_>, rows: impl Iterator<Item = R>) -> rusqlite::Result<()>
where
    R: IntoIterator<Item = ValueRef<'v>>,
{
    for (i, value) in rows.flatten().enumerate() {
        statement.raw_bind_parameter(i + 1, ToSqlOutput::Borrowed(value))?;
    }
    Ok(())
}

fn insert_sql(table: &str, n_columns: usize, n_rows: usize) -> String {
    let row = format!("({})", vec!["?"; n_columns].join(", "));
    format!(
        "INSERT INTO {table} VALUES {}",
        vec![row; n_rows].join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Any number of rows, full batches and a short last one, go in in
    /// order: rowid by rowid as one statement per row would put them.
    #[test]
    fn inserts_rows_in_order_across_batches() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t (a TEXT, b INTEGER)")
            .unwrap();
        let texts: Vec<String> = (0..300).map(|i| format!("row {i}")).collect();
        let mut insert = BatchInsert::new(&conn, "t", 2).unwrap();
        for range in [0..1, 1..129, 129..300] {
            insert
                .insert(range.map(|i| {
                    [
                        ValueRef::Text(texts[i].as_bytes()),
                        ValueRef::Integer(i as i64),
                    ]
                }))
                .unwrap();
        }
        let rows: Vec<(i64, String, i64)> = conn
            .prepare("SELECT rowid, a, b FROM t ORDER BY rowid")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(rows.len(), 300);
        for (i, (rowid, a, b)) in rows.into_iter().enumerate() {
            assert_eq!((rowid, a, b), (i as i64 + 1, texts[i].clone(), i as i64));
        }
    }
}
