//! `sql:` stages: one query against a SQLite dep, written as CSV with a header.
//!
//! The database is opened read-only and `immutable`, so SQLite never writes a
//! journal next to it: it may be a hard link into the content-addressed store.

use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};
use std::io::Write;
use std::path::Path;

use super::StageError;
use crate::StageResult;

/// Opens a built database for reading only.
pub fn open_read_only(db: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(
        file_uri(db),
        OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_URI
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.pragma_update(None, "cache_size", -READ_CACHE_KIB)?;
    Ok(conn)
}

/// The page cache of a reading connection. SQLite's default (2 MiB) holds 64
/// of load's 32 KiB pages: a join that fetches rows by rowid read the same
/// pages again and again, 32 KiB through `pread` each time (cases' strong
/// links query at 5 M events: 2.4 s of system time; 3.4 s -> 1.3 s with
/// this, shared_device 2.1 s -> 1.3 s). Filled only as pages are touched;
/// a quarter of this helped less, four times it no more.
const READ_CACHE_KIB: i64 = 64 * 1024;

/// `file:` URI of a path with `?immutable=1`. Every byte that means something
/// in a URI is percent-encoded: in a folder named `ws%41` an unescaped URI
/// opens `wsA/...`, and a `#` or `?` would cut the path short.
fn file_uri(db: &Path) -> String {
    use percent_encoding::{percent_encode, AsciiSet, NON_ALPHANUMERIC};
    use std::os::unix::ffi::OsStrExt;
    const KEEP: &AsciiSet = &NON_ALPHANUMERIC
        .remove(b'/')
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~');
    let path = percent_encode(db.as_os_str().as_bytes(), KEEP);
    format!("file:{path}?immutable=1")
}

/// Runs the query in `sql_file` against `db` and writes the result to `out`.
pub fn run_sql(sql_file: &Path, sql_name: &str, db: &Path, out: &Path) -> StageResult<()> {
    let sql = std::fs::read_to_string(sql_file).map_err(|source| StageError::Read {
        path: sql_file.to_path_buf(),
        source,
    })?;
    if !db.is_file() {
        return Err(StageError::Read {
            path: db.to_path_buf(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such database"),
        });
    }
    if strip_sql_comments(&sql).trim().is_empty() {
        return Err(StageError::Sql {
            file: sql_name.to_string(),
            message: "it holds no statement (expected one SELECT query)".into(),
        });
    }
    let sql_err = |e: rusqlite::Error| StageError::Sql {
        file: sql_name.to_string(),
        message: sql_error_message(&e, &sql),
    };
    let conn = open_read_only(db).map_err(sql_err)?;
    let file = std::fs::File::create(out).map_err(|source| StageError::Write {
        path: out.to_path_buf(),
        source,
    })?;
    query_to_csv(&conn, &sql, std::io::BufWriter::new(file)).map_err(|e| match e {
        QueryError::Sql(e) => sql_err(e),
        QueryError::Io(source) => StageError::Write {
            path: out.to_path_buf(),
            source,
        },
    })
}

/// The text without `--` line comments and `/* */` block comments (enough to
/// tell an empty file from a query; quotes holding `--` do not matter here,
/// as a query with a string literal is not empty anyway).
fn strip_sql_comments(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut rest = sql;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix("--") {
            rest = after.find('\n').map_or("", |i| &after[i..]);
        } else if let Some(after) = rest.strip_prefix("/*") {
            rest = after.find("*/").map_or("", |i| &after[i + 2..]);
        } else {
            let c = rest.chars().next().expect("not empty");
            out.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    out
}

/// SQLite's message for an error in the SQL text `sql` (a whole file),
/// with where it is: rusqlite says "... in <the whole text> at offset N",
/// which names no line. The statement SQLite was preparing is a tail of
/// `sql` (`execute_batch` prepares one statement after another), so the
/// offset is found in the file, and its line and column are shown, with
/// the line and a caret under the token. Other errors are as SQLite says.
pub fn sql_error_message(e: &rusqlite::Error, sql: &str) -> String {
    let rusqlite::Error::SqlInputError {
        msg,
        sql: tail,
        offset,
        ..
    } = e
    else {
        return e.to_string();
    };
    let at = usize::try_from(*offset).ok().and_then(|offset| {
        let start = sql.len().checked_sub(tail.len())?;
        let at = start + offset;
        (sql.ends_with(tail.as_str()) && sql.is_char_boundary(at)).then_some(at)
    });
    let Some(at) = at else {
        return msg.clone();
    };
    let line_start = sql[..at].rfind('\n').map_or(0, |i| i + 1);
    let line_end = sql[at..].find('\n').map_or(sql.len(), |i| at + i);
    let line = sql[..at].matches('\n').count() + 1;
    let text = sql[line_start..line_end].trim_end_matches('\r');
    let column = sql[line_start..at].chars().count() + 1;
    let caret = " ".repeat(column - 1);
    format!("{msg} at line {line}, column {column}:\n  {text}\n  {caret}^")
}

/// Why writing a query's result failed.
#[derive(Debug)]
pub enum QueryError {
    Sql(rusqlite::Error),
    Io(std::io::Error),
}

impl From<rusqlite::Error> for QueryError {
    fn from(e: rusqlite::Error) -> Self {
        QueryError::Sql(e)
    }
}

impl From<std::io::Error> for QueryError {
    fn from(e: std::io::Error) -> Self {
        QueryError::Io(e)
    }
}

impl From<csv::Error> for QueryError {
    fn from(e: csv::Error) -> Self {
        QueryError::Io(e.into())
    }
}

/// Writes the result set of one query as CSV: a header, then one line per row.
/// Reals use Rust's shortest round-trip form, so the bytes are the same everywhere.
pub fn query_to_csv<W: Write>(conn: &Connection, sql: &str, out: W) -> Result<(), QueryError> {
    let mut stmt = conn.prepare(sql)?;
    let columns: Vec<String> = stmt.column_names().iter().map(|c| c.to_string()).collect();
    let mut writer = csv::Writer::from_writer(out);
    writer.write_record(&columns)?;
    let mut rows = stmt.query([])?;
    let mut record: Vec<String> = Vec::with_capacity(columns.len());
    while let Some(row) = rows.next()? {
        record.clear();
        for i in 0..columns.len() {
            record.push(match row.get_ref(i)? {
                ValueRef::Null => String::new(),
                ValueRef::Integer(n) => n.to_string(),
                ValueRef::Real(x) => x.to_string(),
                ValueRef::Text(t) => String::from_utf8_lossy(t).into_owned(),
                ValueRef::Blob(b) => b.iter().map(|x| format!("{x:02x}")).collect(),
            });
        }
        writer.write_record(&record)?;
    }
    writer.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reading connection gets the larger page cache, and still cannot write.
    #[test]
    fn reads_through_a_sized_cache() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("a #%; db");
        Connection::open(&db)
            .unwrap()
            .execute_batch("CREATE TABLE t (x); INSERT INTO t VALUES (1)")
            .unwrap();
        let conn = open_read_only(&db).unwrap();
        let cache: i64 = conn
            .pragma_query_value(None, "cache_size", |r| r.get(0))
            .unwrap();
        assert_eq!(cache, -READ_CACHE_KIB);
        assert!(conn.execute("INSERT INTO t VALUES (2)", []).is_err());
    }

    /// Every SQLite type becomes a stable CSV field.
    #[test]
    fn writes_result_sets() {
        let conn = Connection::open_in_memory().unwrap();
        let mut buf = Vec::new();
        query_to_csv(
            &conn,
            "select 1 as a, 0.5 as b, 'x,y' as c, null as d",
            &mut buf,
        )
        .unwrap();
        assert_eq!(String::from_utf8(buf).unwrap(), "a,b,c,d\n1,0.5,\"x,y\",\n");
    }

    /// A syntax error names the line and column of the file where it is, in
    /// the first statement or a later one, with the line and a caret; not
    /// the whole text and a byte offset (as rusqlite words it).
    #[test]
    fn sql_errors_name_line_and_column() {
        let conn = Connection::open_in_memory().unwrap();
        let sql = "-- broken\nSELECT 1,\n  'é' AS x\nWHERE 1 = = 2;\n";
        let e = conn.prepare(sql).unwrap_err();
        assert_eq!(
            sql_error_message(&e, sql),
            "near \"=\": syntax error at line 4, column 11:\n  WHERE 1 = = 2;\n            ^"
        );
        let sql = "CREATE TABLE t (a);\r\nSELECT nope\r\n  FROM t;";
        let e = conn.execute_batch(sql).unwrap_err();
        assert_eq!(
            sql_error_message(&e, sql),
            "no such column: nope at line 2, column 8:\n  SELECT nope\n         ^"
        );
        // No position from SQLite: its message, without the text again.
        let e = conn.prepare("SELECT * FROM missing").unwrap_err();
        assert_eq!(
            sql_error_message(&e, "SELECT * FROM missing"),
            "no such table: missing"
        );
    }

    /// URI metacharacters in a path are escaped, so the path opened is the path given.
    #[test]
    fn uri_escapes_the_path() {
        assert_eq!(
            file_uri(Path::new("/w/ws%41 #1?x/out/sqlite.db")),
            "file:/w/ws%2541%20%231%3Fx/out/sqlite.db?immutable=1"
        );
        assert!(strip_sql_comments("-- only a comment\n/* and\n this */\n")
            .trim()
            .is_empty());
        assert_eq!(strip_sql_comments("select 1 -- one").trim(), "select 1");
    }
}
