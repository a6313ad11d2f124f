//! The bulk insert: every row of a CSV into the table its header matches,
//! by SQL (`load_csv`) or, for raw_events on the shipped schema, as pages
//! (`pack_csv`).
//!
//! This is the one pass over raw_events that SQLite sees, so it must stay
//! lean: fields are bound borrowed from the reader's buffer and integers as
//! integers. It does not aggregate: `CoreTables` reads the same file on
//! another thread at the same time.

use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, ErrorCode};
use std::path::Path;

use super::btree_pages::{Field, Leaves, Record, RowPacker};
use super::event_time;

use crate::execute::StageError;
use crate::StageResult;

/// Inserts every row of a CSV whose header names the table's columns. An empty
/// field in a nullable column becomes NULL (a missing payment token). A
/// file without a header, a header without a column the table needs (NOT
/// NULL without a default, or a key), and a row the table refuses (a
/// duplicate key) are errors naming the file, and the line and value at
/// fault; SQLite alone would say "syntax error in INSERT INTO t () ..." or
/// "NOT NULL constraint failed", naming neither.
pub(super) fn load_csv(conn: &Connection, table: &str, csv_path: &Path) -> StageResult<()> {
    let mut reader = csv::ReaderBuilder::new()
        .buffer_capacity(1 << 20)
        .from_path(csv_path)
        .map_err(|e| StageError::Failed(format!("cannot read `{}`: {e}", csv_path.display())))?;
    let csv_err = |source| StageError::Csv {
        path: csv_path.to_path_buf(),
        source,
    };
    let header = reader.byte_headers().map_err(csv_err)?.clone();
    let columns: Vec<String> = header
        .iter()
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect();
    // (name, declared type, nullable, needed) per table column.
    let info: Vec<(String, String, bool, bool)> = conn
        .prepare(&format!("PRAGMA table_info({table})"))?
        .query_map([], |r| {
            let ty: String = r.get(2)?;
            let notnull = r.get::<_, i64>(3)? != 0;
            let has_default = r.get_ref(4)? != ValueRef::Null;
            let pk = r.get::<_, i64>(5)? > 0;
            let is_rowid = pk && ty.eq_ignore_ascii_case("INTEGER");
            let needed = (notnull && !has_default) || (pk && !is_rowid);
            Ok((r.get(1)?, ty, !notnull, needed))
        })?
        .collect::<Result<_, _>>()?;
    let expected = || {
        let names: Vec<&str> = info.iter().map(|(name, ..)| name.as_str()).collect();
        names.join(",")
    };
    if columns.is_empty() {
        return Err(StageError::Failed(format!(
            "`{}` is empty: expected a header row naming the columns of table `{table}` ({})",
            csv_path.display(),
            expected()
        )));
    }
    if let Some((name, ..)) = info
        .iter()
        .find(|(name, _, _, needed)| *needed && !columns.contains(name))
    {
        return Err(StageError::Failed(format!(
            "`{}` has no column `{name}`, which table `{table}` needs; expected the columns {}",
            csv_path.display(),
            expected()
        )));
    }
    // (nullable, integer) per CSV column, from the table's declaration.
    let kinds: Vec<(bool, bool)> = columns
        .iter()
        .map(|c| {
            info.iter()
                .find(|(name, ..)| name == c)
                .map(|(_, ty, nullable, _)| (*nullable, ty.eq_ignore_ascii_case("INTEGER")))
                .ok_or_else(|| {
                    StageError::Failed(format!(
                        "`{}` has column `{c}`, which table `{table}` lacks",
                        csv_path.display()
                    ))
                })
        })
        .collect::<StageResult<_>>()?;
    // Every stage takes an event's day from its `ts`.
    let event_time_column = (table == "raw_events")
        .then(|| columns.iter().position(|c| c == "ts"))
        .flatten();
    let placeholders = vec!["?"; columns.len()].join(", ");
    let mut insert = conn.prepare(&format!(
        "INSERT INTO {table} ({}) VALUES ({placeholders})",
        columns.join(", ")
    ))?;
    let mut record = csv::ByteRecord::new();
    // Fields are bound borrowed, straight from the reader's buffer: no
    // allocation per value. Integers are bound as integers: SQLite would
    // otherwise convert each text.
    while reader.read_byte_record(&mut record).map_err(csv_err)? {
        let line = || record.position().map_or(0, |p| p.line());
        if !is_utf8(&record) {
            let column = record
                .iter()
                .position(|f| std::str::from_utf8(f).is_err())
                .map_or("?", |i| &columns[i]);
            return Err(StageError::Failed(format!(
                "`{}` line {}: column `{column}` is not UTF-8 text",
                csv_path.display(),
                line()
            )));
        }
        for (i, (field, &(nullable, integer))) in record.iter().zip(&kinds).enumerate() {
            let value = if field.is_empty() && nullable {
                ValueRef::Null
            } else if let Some(n) = integer.then(|| parse_i64(field)).flatten() {
                ValueRef::Integer(n)
            } else if Some(i) == event_time_column && !event_time::is_utc_time(field) {
                return Err(StageError::BadField {
                    path: csv_path.to_path_buf(),
                    line: line(),
                    column: columns[i].clone(),
                    value: String::from_utf8_lossy(field).into_owned(),
                    expected: event_time::EXPECTED,
                });
            } else if integer && !is_integral(field) {
                // SQLite would keep it as text (or a real) and every sum
                // over the column would count it as 0 or turn real: the
                // stages reading the core tables then fail naming no row.
                return Err(StageError::BadField {
                    path: csv_path.to_path_buf(),
                    line: line(),
                    column: columns[i].clone(),
                    value: String::from_utf8_lossy(field).into_owned(),
                    expected: "an integer",
                });
            } else {
                ValueRef::Text(field)
            };
            insert.raw_bind_parameter(i + 1, ToSqlOutput::Borrowed(value))?;
        }
        if let Err(e) = insert.raw_execute() {
            if e.sqlite_error_code() != Some(ErrorCode::ConstraintViolation) {
                return Err(e.into());
            }
            // "UNIQUE constraint failed: users.user_id": the values of
            // the columns it names, as the row has them.
            let message = e.to_string();
            let values: Vec<String> = message
                .rsplit(": ")
                .next()
                .unwrap_or_default()
                .split(", ")
                .filter_map(|named| named.strip_prefix(table)?.strip_prefix('.'))
                .filter_map(|column| {
                    let i = columns.iter().position(|c| c == column)?;
                    let value = String::from_utf8_lossy(&record[i]);
                    Some(format!("{column} `{value}`"))
                })
                .collect();
            let values = match values.is_empty() {
                true => String::new(),
                false => format!(" ({})", values.join(", ")),
            };
            return Err(StageError::Failed(format!(
                "`{}` line {}: {message}{values}",
                csv_path.display(),
                line()
            )));
        }
    }
    Ok(())
}

/// A table's columns as `pack_csv` needs them, (name, integer, nullable)
/// in table order, when the SQL insert would store each row as read: a
/// rowid table with no key or index to keep, each column declared TEXT or
/// INTEGER.
pub(super) fn plain_columns(conn: &Connection, table: &str) -> StageResult<Option<Columns>> {
    let indexes: i64 =
        conn.query_row("SELECT count(*) FROM pragma_index_list(?1)", [table], |r| {
            r.get(0)
        })?;
    let columns: Option<Columns> = conn
        .prepare("SELECT name, type, \"notnull\", pk FROM pragma_table_info(?1)")?
        .query_map([table], |r| {
            let (name, ty, notnull, pk): (String, String, bool, i64) =
                (r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?);
            let plain = pk == 0 && (ty == "TEXT" || ty == "INTEGER");
            Ok(plain.then_some((name, ty == "INTEGER", !notnull)))
        })?
        .collect::<Result<_, _>>()?;
    Ok(columns.filter(|_| indexes == 0))
}

/// (name, integer, nullable) per column, in table order.
pub(super) type Columns = Vec<(String, bool, bool)>;

/// A CSV's rows as table leaf pages (`RowPacker`), when each is a row the
/// SQL insert would store as read: the CSV's columns are `columns`, in
/// order, and every integer field is a decimal integer. Anything else,
/// errors included, gives `None`: the SQL insert then runs, and reports
/// what it finds. The leaves, and the number of rows.
pub(super) fn pack_csv(
    columns: &Columns,
    csv_path: &Path,
    mut packer: RowPacker,
) -> Option<(Leaves, i64)> {
    let mut reader = csv::ReaderBuilder::new()
        .buffer_capacity(1 << 20)
        .from_path(csv_path)
        .ok()?;
    let header = reader.byte_headers().ok()?;
    let same_columns = header.len() == columns.len()
        && header.iter().zip(columns).all(|(h, c)| h == c.0.as_bytes());
    if !same_columns {
        return None;
    }
    let ts = columns.iter().position(|c| c.0 == "ts")?;
    let mut record = csv::ByteRecord::new();
    let mut integers = vec![None; columns.len()];
    let mut rowid = 0;
    while reader.read_byte_record(&mut record).ok()? {
        // The SQL insert names what is wrong.
        if !is_utf8(&record) || !event_time::is_utc_time(&record[ts]) {
            return None;
        }
        for ((field, &(_, integer, nullable)), parsed) in
            record.iter().zip(columns).zip(&mut integers)
        {
            // An empty field of a NOT NULL integer column is the SQL
            // insert's to refuse.
            *parsed = match integer && !(field.is_empty() && nullable) {
                true => Some(parse_i64(field)?),
                false => None,
            };
        }
        let fields = (0..columns.len()).map(|i| match integers[i] {
            Some(n) => Field::Integer(n),
            None if record[i].is_empty() && columns[i].2 => Field::Null,
            None => Field::Text(&record[i]),
        });
        rowid += 1;
        let row = Record::new(fields.clone());
        packer
            .push_with(rowid, row.len(), |out| row.write(fields, out))
            .ok()?;
    }
    Some((packer.finish().ok()?, rowid))
}

/// Whether every field is UTF-8, checked in one pass over the record's bytes
/// rather than one call per field: the bytes as a whole are UTF-8, and no
/// field starts inside a character (a field cut off mid-character would
/// otherwise pass, joined to the next one's continuation bytes).
fn is_utf8(record: &csv::ByteRecord) -> bool {
    std::str::from_utf8(record.as_slice()).is_ok()
        && record
            .iter()
            .all(|f| f.first().is_none_or(|&b| b & 0xC0 != 0x80))
}

/// Whether SQLite's INTEGER affinity stores `field` as an integer: a
/// number, spaces around it allowed, whose value is whole (`1e3`, ` 12`,
/// `1.0`); not empty text, a word, `12.5` or one beyond i64.
fn is_integral(field: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(field) else {
        return false;
    };
    let text = text.trim_matches([' ', '\t', '\n', '\r', '\x0c']);
    let is_numeral = text
        .bytes()
        .all(|b| b.is_ascii_digit() || b".+-eE".contains(&b));
    is_numeral
        && text.parse::<f64>().is_ok_and(|x| {
            x.fract() == 0.0 && (-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&x)
        })
}

/// A decimal integer, as SQLite would store it in an INTEGER column.
pub(super) fn parse_i64(field: &[u8]) -> Option<i64> {
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

    /// An empty file, a header without a column the table needs, and a row
    /// the table refuses are errors naming the file, the column or the line
    /// and value; a nullable or defaulted column may be left out. The old
    /// code said "syntax error in INSERT INTO t () VALUES ()", "NOT NULL
    /// constraint failed: t.a" and "UNIQUE constraint failed: t.k".
    #[test]
    fn names_the_file_line_and_value_at_fault() {
        let dir = tempfile::tempdir().unwrap();
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE t (k TEXT PRIMARY KEY, a TEXT NOT NULL, b INTEGER, c TEXT NOT NULL DEFAULT '')",
        )
        .unwrap();
        let csv_path = dir.path().join("t.csv");
        let error = |text: &str| {
            std::fs::write(&csv_path, text).unwrap();
            let err = load_csv(&conn, "t", &csv_path).unwrap_err().to_string();
            err.replace(&csv_path.display().to_string(), "t.csv")
        };
        assert_eq!(
            error(""),
            "`t.csv` is empty: expected a header row naming the columns of table `t` (k,a,b,c)"
        );
        assert_eq!(
            error("k,b\nx,1\n"),
            "`t.csv` has no column `a`, which table `t` needs; expected the columns k,a,b,c"
        );
        assert_eq!(
            error("a,b\nx,1\n"),
            "`t.csv` has no column `k`, which table `t` needs; expected the columns k,a,b,c"
        );
        assert_eq!(
            error("k,a\nx,1\n\"y\nz\",2\nx,3\n"),
            "`t.csv` line 5: UNIQUE constraint failed: t.k (k `x`)"
        );
        // A record of the wrong length: the file, not only the record.
        conn.execute_batch("DELETE FROM t").unwrap();
        assert_eq!(
            error("k,a\nx,1\ny\n"),
            "`t.csv`: CSV error: record 2 (line: 3, byte: 8): found record with 1 fields, \
             but the previous record has 2 fields"
        );
        conn.execute_batch("DELETE FROM t").unwrap();
        std::fs::write(&csv_path, "a,k\n1,x\n2,y\n").unwrap();
        load_csv(&conn, "t", &csv_path).unwrap();
    }

    /// A field of an INTEGER column that SQLite would not store as an
    /// integer (empty, a word, a fraction) is an error naming the line,
    /// column and value; whole numbers SQLite converts (`1e3`, ` 12`, `1.0`)
    /// load as integers. The old code stored `yes` as text, which sums
    /// counted as 0 and turned real, and `monitoring` then failed with
    /// "Invalid column type Real at index: 4, name: n_blocked".
    #[test]
    fn refuses_a_non_integer_in_an_integer_column() {
        let dir = tempfile::tempdir().unwrap();
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t (a TEXT NOT NULL, b INTEGER NOT NULL, c INTEGER)")
            .unwrap();
        let csv_path = dir.path().join("t.csv");
        std::fs::write(&csv_path, "a,b,c\nx,1e3,\ny, 12 ,1.0\nz,+7,-0\n").unwrap();
        load_csv(&conn, "t", &csv_path).unwrap();
        let rows: Vec<(String, i64, Option<i64>)> = conn
            .prepare("SELECT a, b, c FROM t WHERE typeof(b) = 'integer' ORDER BY a")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(
            rows,
            [
                ("x".to_string(), 1000, None),
                ("y".to_string(), 12, Some(1)),
                ("z".to_string(), 7, Some(0))
            ]
        );
        for (field, value) in [
            ("yes", "yes"),
            ("", ""),
            ("12.5", "12.5"),
            ("\"\"", ""),
            ("0x10", "0x10"),
            ("inf", "inf"),
            ("99999999999999999999", "99999999999999999999"),
        ] {
            std::fs::write(&csv_path, format!("a,b\nok,1\n\"two\nlines\",{field}\n")).unwrap();
            let err = load_csv(&conn, "t", &csv_path).unwrap_err().to_string();
            assert!(
                err.ends_with(&format!(
                    "` line 3: column `b` is `{value}`, expected an integer"
                )),
                "{field}: {err}"
            );
        }
    }

    /// Text must be UTF-8 field by field: a character split across two fields
    /// is refused though the record's bytes joined are valid, and the error
    /// names the line and column; whole characters load.
    #[test]
    fn refuses_a_field_that_is_not_utf8() {
        let dir = tempfile::tempdir().unwrap();
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t (a TEXT NOT NULL, b TEXT NOT NULL)")
            .unwrap();
        let csv_path = dir.path().join("t.csv");
        std::fs::write(&csv_path, "a,b\n\u{e9}t\u{e9},\u{1F600}\n").unwrap();
        load_csv(&conn, "t", &csv_path).unwrap();
        for (bytes, column) in [
            (&b"a,b\nok,x\n\xC3,\xA9\n"[..], "a"),
            (b"a,b\nok,\xFFx\n", "b"),
        ] {
            std::fs::write(&csv_path, bytes).unwrap();
            let err = load_csv(&conn, "t", &csv_path).unwrap_err().to_string();
            let line = if column == "a" { 3 } else { 2 };
            assert!(
                err.contains(&format!("line {line}: column `{column}` is not UTF-8")),
                "{err}"
            );
        }
    }
}
