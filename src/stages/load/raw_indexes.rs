//! `RawIndexes`: raw_events' indexes written in key order from the keys the
//! aggregation already holds, instead of by CREATE INDEX.
//!
//! CREATE INDEX reads every row back, extracts its key and sorts millions
//! of records by text comparisons: the four raw_events indexes were half of
//! load at 500 k events, most of it SQLite's sorter (issue 13). `CoreTables`
//! has read each row and interned its ts, user_id, ip and device_id, and
//! text order is the order of those ids' ranks, so each index's row order is
//! a few counting sorts of small integers, done on the other core while
//! SQLite inserts the core tables.
//!
//! An index is an index b-tree of (key columns, rowid) records, which is
//! also exactly how SQLite stores a WITHOUT ROWID table whose primary key is
//! all its columns. So each index is created as such a table, empty, whose
//! schema row then becomes the index's (`PRAGMA writable_schema`), with the
//! CREATE INDEX text SQLite itself would have stored. Once SQLite has
//! closed the file, the entries are written into that b-tree bottom-up,
//! page by page (`btree_pages`): the same schema, the same entries (the
//! tests compare them with CREATE INDEX's and run `PRAGMA
//! integrity_check`), without the sort or SQLite's insert. On the shipped
//! SQL only, and only for indexes whose every column the keys cover; the
//! others, and all of them when the rows went back in time, run as SQL.

use rusqlite::{Connection, OptionalExtension};
use std::borrow::Cow;
use std::fs::File;
use std::io;
use std::thread::ScopedJoinHandle;

use super::btree_pages::{self, Field, LeafPacker, Leaves, PageFile, PageFormat, Record, TooLarge};
use super::interner::Interner;
use super::timestamps::Timestamps;
use crate::execute::StageError;
use crate::StageResult;

/// Per raw_events row (rowid - 1), the ids of its indexed values.
#[derive(Default)]
pub struct RowKeys {
    ts: Vec<u32>,
    user: Vec<u32>,
    ip: Vec<u32>,
    device: Vec<u32>,
}

impl RowKeys {
    pub fn push(&mut self, ts: u32, user: u32, ip: u32, device: u32) {
        self.ts.push(ts);
        self.user.push(user);
        self.ip.push(ip);
        self.device.push(device);
    }

    fn len(&self) -> usize {
        self.ts.len()
    }
}

/// A raw_events column the keys cover.
#[derive(Clone, Copy)]
enum Column {
    Ts,
    User,
    Ip,
    Device,
}

impl Column {
    fn named(name: &str) -> Option<Column> {
        match name {
            "ts" => Some(Column::Ts),
            "user_id" => Some(Column::User),
            "ip" => Some(Column::Ip),
            "device_id" => Some(Column::Device),
            _ => None,
        }
    }
}

/// The rows' keys with the text and byte-order rank of each id.
pub struct KeySource<'a> {
    pub rows: &'a RowKeys,
    /// Ids in text order: the rows never went back in time.
    pub times: &'a Timestamps,
    pub users: &'a Interner,
    pub user_rank: &'a [u32],
    /// IPs and devices (and payment tokens) share one interner.
    pub values: &'a Interner,
    pub value_rank: &'a [u32],
}

impl KeySource<'_> {
    /// The number of rows the keys describe.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    fn id(&self, column: Column, row: usize) -> u32 {
        let ids = match column {
            Column::Ts => &self.rows.ts,
            Column::User => &self.rows.user,
            Column::Ip => &self.rows.ip,
            Column::Device => &self.rows.device,
        };
        ids[row]
    }

    fn text(&self, column: Column, id: u32) -> &[u8] {
        match column {
            Column::Ts => self.times.get(id),
            Column::User => self.users.get(id),
            Column::Ip | Column::Device => self.values.get(id),
        }
    }

    /// Each row's rank in `column`'s text order, and the number of ranks.
    fn ranks(&self, column: Column) -> (Cow<'_, [u32]>, usize) {
        let n = self.rows.len();
        match column {
            // Timestamp ids are their own ranks: the rows never went back in time.
            Column::Ts => (Cow::Borrowed(&self.rows.ts), self.times.len()),
            Column::User => (
                (0..n)
                    .map(|r| self.user_rank[self.id(column, r) as usize])
                    .collect(),
                self.user_rank.len(),
            ),
            Column::Ip | Column::Device => (
                (0..n)
                    .map(|r| self.value_rank[self.id(column, r) as usize])
                    .collect(),
                self.value_rank.len(),
            ),
        }
    }

    /// Rows (0-based) in an index's order (by each column's text in turn,
    /// then by rowid), and each column's ids in that order. One stable
    /// counting sort per column, last column first; the last pass also
    /// gathers the ids, reading the rows in the order the pass before left
    /// them (time order, as the CSV comes), rather than one random read per
    /// entry and column afterwards.
    fn sorted(&self, columns: &[Column]) -> (Vec<u32>, Vec<Vec<u32>>) {
        let n = self.rows.len();
        let mut rows: Vec<u32> = (0..n as u32).collect();
        let mut ids = vec![vec![0u32; n]; columns.len()];
        for (pass, &column) in columns.iter().enumerate().rev() {
            let (rank, n_ranks) = self.ranks(column);
            let mut starts = vec![0u32; n_ranks + 1];
            for &r in rank.iter() {
                starts[r as usize + 1] += 1;
            }
            for i in 1..starts.len() {
                starts[i] += starts[i - 1];
            }
            let mut sorted = vec![0u32; rows.len()];
            for &row in &rows {
                let slot = &mut starts[rank[row as usize] as usize];
                sorted[*slot as usize] = row;
                if pass == 0 {
                    for (c, &column) in columns.iter().enumerate() {
                        ids[c][*slot as usize] = self.id(column, row as usize);
                    }
                }
                *slot += 1;
            }
            rows = sorted;
        }
        (rows, ids)
    }

    /// Packs the entries of an index on `columns` into leaf pages; the
    /// index's figures for `sqlite_stat1`, counted on the way.
    fn pack(
        &self,
        columns: &[Column],
        packer: &mut LeafPacker,
    ) -> Result<IndexStat, btree_pages::Error> {
        let (rows, ids) = self.sorted(columns);
        let mut stat = IndexStat::new(rows.len(), columns.len());
        for (i, &row) in rows.iter().enumerate() {
            // Ids are interned, so equal ids are equal text.
            if i > 0 {
                if let Some(first) = ids.iter().position(|ids| ids[i] != ids[i - 1]) {
                    stat.distinct[first..].iter_mut().for_each(|d| *d += 1);
                }
            }
            let fields = columns
                .iter()
                .zip(&ids)
                .map(|(&column, ids)| Field::Text(self.text(column, ids[i])))
                .chain([Field::Integer(i64::from(row) + 1)]);
            let record = Record::new(fields.clone());
            packer.push_with(record.len(), |out| record.write(fields, out))?;
        }
        Ok(stat)
    }
}

/// An index's figures for `sqlite_stat1`, as ANALYZE would find them: its
/// entries and, for each leading run of its key columns, how many distinct
/// values the run takes. ANALYZE reads every entry of every index back to
/// count them (a fifth of load at 500 k events); the packing has them in
/// order anyway.
#[derive(Debug, Clone, PartialEq)]
pub struct IndexStat {
    entries: u64,
    distinct: Vec<u64>,
}

impl IndexStat {
    fn new(entries: usize, columns: usize) -> IndexStat {
        IndexStat {
            entries: entries as u64,
            distinct: vec![u64::from(entries > 0); columns],
        }
    }

    /// The `stat` text ANALYZE writes (SQLite's analyze.c, `statGet`): the
    /// entries, then per run of columns the entries per distinct value,
    /// rounded up, except that just over 1 (up to 1.1) counts as 1. None for
    /// an empty index, which ANALYZE leaves out.
    pub fn stat1(&self) -> Option<String> {
        if self.entries == 0 {
            return None;
        }
        let mut stat = self.entries.to_string();
        for &distinct in &self.distinct {
            let mut per_value = self.entries.div_ceil(distinct);
            if per_value == 2 && self.entries * 10 <= distinct * 11 {
                per_value = 1;
            }
            stat.push_str(&format!(" {per_value}"));
        }
        Some(stat)
    }
}

/// The shipped index file, as steps: raw_events' indexes the keys cover are
/// written from them, every other statement runs as SQL.
pub struct RawIndexes<'a> {
    steps: Vec<Step<'a>>,
}

enum Step<'a> {
    Sql(&'a str),
    Keyed(KeyedIndex),
}

struct KeyedIndex {
    name: String,
    /// The CREATE INDEX text as SQLite stores it in sqlite_master.
    sql: String,
    columns: Vec<Column>,
}

/// The WITHOUT ROWID table an index's entries are written into.
const STAND_IN: &str = "tnsflow_index_entries";

impl<'a> RawIndexes<'a> {
    /// Which of `statements` are raw_events indexes the keys cover: each is
    /// run on an empty copy of the table in memory, which tells its name,
    /// columns, order and collation, and the text SQLite stores for it.
    pub fn plan(conn: &Connection, statements: &[&'a str]) -> StageResult<RawIndexes<'a>> {
        let table: String = conn.query_row(
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'raw_events'",
            [],
            |r| r.get(0),
        )?;
        let probe = Connection::open_in_memory()?;
        probe.execute_batch(&table)?;
        // Text columns that are never NULL: their keys are the CSV's fields as they are.
        let text_columns: Vec<String> = probe
            .prepare("SELECT name FROM pragma_table_info('raw_events') WHERE type = 'TEXT' AND \"notnull\"")?
            .query_map([], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        let mut steps = Vec::new();
        for &statement in statements {
            let keyed = match probe.execute_batch(statement) {
                Ok(()) => KeyedIndex::described(&probe, &text_columns)?,
                Err(_) => None,
            };
            steps.push(keyed.map_or(Step::Sql(statement), Step::Keyed));
        }
        Ok(RawIndexes { steps })
    }

    /// Sorts every keyed index's rows and packs its entries into leaf
    /// pages in `spool`, on `scope`'s thread, while SQLite inserts the core
    /// tables. For each keyed index in order: its leaves, or `TooLarge`.
    pub fn pack<'s>(
        &'s self,
        scope: &'s std::thread::Scope<'s, '_>,
        keys: &'s KeySource<'s>,
        spool: &'s File,
        format: PageFormat,
    ) -> io::Result<ScopedJoinHandle<'s, io::Result<Vec<Packed>>>> {
        let thread = std::thread::Builder::new().name("load: index leaves".into());
        thread.spawn_scoped(scope, move || {
            let mut packed = Vec::new();
            let mut slot = 0;
            for step in &self.steps {
                let Step::Keyed(index) = step else { continue };
                let mut packer = LeafPacker::new(spool, format, slot);
                packed.push(match keys.pack(&index.columns, &mut packer) {
                    Ok(stat) => {
                        let leaves = packer.finish()?;
                        slot = leaves.end();
                        Ok((leaves, stat))
                    }
                    // Its pages are overwritten by the next index's.
                    Err(btree_pages::Error::TooLarge(too_large)) => Err(too_large),
                    Err(btree_pages::Error::Io(e)) => return Err(e),
                });
            }
            crate::trace::phase("load: raw_events index leaves packed");
            Ok(packed)
        })
    }

    /// Runs the steps in order. With `keyed` (the keys describe every row
    /// of raw_events) the indexes they cover are created empty, for `fill`
    /// to write once SQLite has closed the file; without, every statement
    /// runs as SQL.
    pub fn build(&self, conn: &Connection, keyed: bool) -> StageResult<Vec<EmptyIndex>> {
        let mut empty = Vec::new();
        for step in &self.steps {
            match step {
                Step::Keyed(index) if keyed => empty.push(index.create_empty(conn)?),
                Step::Keyed(index) => conn.execute_batch(&index.sql)?,
                Step::Sql(statement) => conn.execute_batch(statement)?,
            }
        }
        Ok(empty)
    }

    /// Writes the `packed` indexes into their `empty` b-trees.
    pub fn fill(
        pages: &mut PageFile,
        empty: Vec<EmptyIndex>,
        packed: Vec<Packed>,
        spool: &File,
    ) -> io::Result<Filled> {
        let mut filled = Filled::default();
        for (index, packed) in empty.into_iter().zip(packed) {
            match packed {
                Ok((leaves, stat)) => {
                    pages.write_tree(index.root, leaves, Some(spool))?;
                    filled.stats.push((index.name, stat));
                    crate::trace::phase("load: a raw_events index written in key order");
                }
                Err(TooLarge) => filled.left_to_sqlite.push(index.name),
            }
        }
        Ok(filled)
    }
}

/// One keyed index's leaf pages and figures, or why it has none.
pub type Packed = Result<(Leaves, IndexStat), TooLarge>;

/// What `fill` did with each keyed index.
#[derive(Default)]
pub struct Filled {
    /// The indexes written, by name, with their figures for `sqlite_stat1`.
    pub stats: Vec<(String, IndexStat)>,
    /// The indexes whose entries did not fit a page, left empty for SQLite
    /// to fill (REINDEX).
    pub left_to_sqlite: Vec<String>,
}

/// A keyed index created empty: the name and root page of its b-tree.
pub struct EmptyIndex {
    name: String,
    root: u32,
}

impl KeyedIndex {
    /// The index `probe` has just made, when the keys cover all its columns,
    /// ascending and in byte order (BINARY), followed by the rowid.
    fn described(
        probe: &Connection,
        text_columns: &[String],
    ) -> rusqlite::Result<Option<KeyedIndex>> {
        let made = probe
            .query_row(
                "SELECT name, sql FROM sqlite_master WHERE type = 'index' ORDER BY rowid DESC LIMIT 1",
                [],
                |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)),
            )
            .optional()?;
        // Not an index after all (a view, say): it runs as written.
        let Some((name, sql)) = made else {
            return Ok(None);
        };
        // (column, descending, collation, is key); the rowid comes last, not a key.
        let info: Vec<(Option<String>, bool, String, bool)> = probe
            .prepare("SELECT name, desc, coll, key FROM pragma_index_xinfo(?1) ORDER BY seqno")?
            .query_map([&name], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })?
            .collect::<Result<_, _>>()?;
        // A UNIQUE index checks its keys and a partial one skips rows: SQL's job.
        let (unique, partial): (bool, bool) = probe.query_row(
            "SELECT \"unique\", partial FROM pragma_index_list('raw_events') WHERE name = ?1",
            [&name],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        probe.execute_batch(&format!("DROP INDEX \"{name}\""))?;
        let Some(((rowid, ..), keys)) = info.split_last().filter(|_| !unique && !partial) else {
            return Ok(None);
        };
        let columns = keys
            .iter()
            .map(|(column, desc, coll, key)| {
                let column = column.as_deref()?;
                let covered =
                    *key && !desc && coll == "BINARY" && text_columns.iter().any(|c| c == column);
                covered.then(|| Column::named(column)).flatten()
            })
            .collect::<Option<Vec<Column>>>();
        Ok(columns
            .filter(|_| rowid.is_none())
            .map(|columns| KeyedIndex { name, sql, columns }))
    }

    /// Creates the index with no entries: a WITHOUT ROWID table (the same
    /// b-tree) that then becomes the index. Its root page.
    fn create_empty(&self, conn: &Connection) -> StageResult<EmptyIndex> {
        let n = self.columns.len();
        let names: Vec<String> = (0..n).map(|i| format!("c{i}")).collect();
        let tx = conn.unchecked_transaction()?;
        tx.execute_batch(&format!(
            "CREATE TABLE {STAND_IN} ({}, id INTEGER, PRIMARY KEY ({}, id)) WITHOUT ROWID",
            names
                .iter()
                .map(|c| format!("{c} TEXT"))
                .collect::<Vec<_>>()
                .join(", "),
            names.join(", ")
        ))?;
        // The table's schema row becomes the index's; RESET re-reads the schema.
        tx.execute_batch("PRAGMA writable_schema = ON")?;
        let renamed = tx.execute(
            &format!("UPDATE sqlite_master SET type = 'index', name = ?1, tbl_name = 'raw_events', sql = ?2 WHERE name = '{STAND_IN}'"),
            [&self.name, &self.sql],
        );
        tx.execute_batch("PRAGMA writable_schema = RESET")?;
        if renamed? != 1 {
            return Err(StageError::Failed(format!(
                "index {} was not created",
                self.name
            )));
        }
        let root = tx.query_row(
            "SELECT rootpage FROM sqlite_master WHERE type = 'index' AND name = ?1",
            [&self.name],
            |r| r.get(0),
        )?;
        tx.commit()?;
        Ok(EmptyIndex {
            name: self.name.clone(),
            root,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::shipped_sql::ShippedSql;
    use super::*;

    /// The four shipped raw_events indexes are written from the keys, with
    /// the text SQLite stores for them; the core tables' indexes run as SQL.
    #[test]
    fn plans_the_shipped_raw_events_indexes_from_keys() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(include_str!("../../../sql/schema.sql"))
            .unwrap();
        let statements = ShippedSql::index_statements();
        let plan = RawIndexes::plan(&conn, &statements).unwrap();
        let keyed: Vec<(&str, &str, usize)> = plan
            .steps
            .iter()
            .filter_map(|s| match s {
                Step::Keyed(i) => Some((i.name.as_str(), i.sql.as_str(), i.columns.len())),
                Step::Sql(_) => None,
            })
            .collect();
        assert_eq!(
            keyed,
            [
                (
                    "raw_events_ts",
                    "CREATE INDEX raw_events_ts ON raw_events (ts)",
                    1
                ),
                (
                    "raw_events_user",
                    "CREATE INDEX raw_events_user ON raw_events (user_id, ts)",
                    2
                ),
                (
                    "raw_events_ip",
                    "CREATE INDEX raw_events_ip ON raw_events (ip)",
                    1
                ),
                (
                    "raw_events_device",
                    "CREATE INDEX raw_events_device ON raw_events (device_id)",
                    1
                ),
            ]
        );
        assert_eq!(plan.steps.len(), statements.len());
    }

    /// The figures give the text SQLite's ANALYZE writes, its rounding
    /// (just over one entry per value counts as one) and its silence on an
    /// empty index included.
    #[test]
    fn stat1_is_what_analyze_writes() {
        for (entries, a_values, b_values) in [
            (0, 1, 1),
            (1, 1, 1),
            (11, 10, 11),
            (12, 10, 12),
            (21, 10, 20),
            (100, 3, 91),
            (110, 100, 100),
            (111, 100, 100),
        ] {
            let conn = Connection::open_in_memory().unwrap();
            conn.execute_batch("CREATE TABLE t (a TEXT, b TEXT); CREATE INDEX t_ab ON t (a, b);")
                .unwrap();
            let rows: Vec<(String, String)> = (0..entries)
                .map(|i| (format!("a{}", i % a_values), format!("b{}", i % b_values)))
                .collect();
            for (a, b) in &rows {
                conn.execute("INSERT INTO t VALUES (?1, ?2)", [a, b])
                    .unwrap();
            }
            conn.execute_batch("ANALYZE").unwrap();
            let analyzed: Option<String> = conn
                .query_row(
                    "SELECT stat FROM sqlite_stat1 WHERE idx = 't_ab'",
                    [],
                    |r| r.get(0),
                )
                .optional()
                .unwrap();
            let distinct = |n: usize| {
                let prefixes: std::collections::HashSet<_> = rows
                    .iter()
                    .map(|(a, b)| (a, (n == 2).then_some(b)))
                    .collect();
                prefixes.len() as u64
            };
            let stat = IndexStat {
                entries: entries as u64,
                distinct: vec![distinct(1), distinct(2)],
            };
            assert_eq!(stat.stat1(), analyzed, "{entries} entries");
        }
    }

    /// A descending column, another collation or a column the keys do not
    /// cover leaves the index to SQL.
    #[test]
    fn other_indexes_on_raw_events_run_as_sql() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(include_str!("../../../sql/schema.sql"))
            .unwrap();
        let statements = [
            "CREATE INDEX a ON raw_events (ts DESC)",
            "CREATE INDEX b ON raw_events (user_id COLLATE NOCASE)",
            "CREATE INDEX c ON raw_events (payment_id)",
            "CREATE INDEX d ON raw_events (user_id, surface)",
            "CREATE INDEX e ON raw_events (ip) WHERE blocked",
            "CREATE UNIQUE INDEX f ON raw_events (ts)",
            "CREATE INDEX g ON raw_events (lower(ip))",
            "CREATE VIEW v AS SELECT ts FROM raw_events",
            "CREATE INDEX h ON core_users (user_id)",
        ];
        let plan = RawIndexes::plan(&conn, &statements).unwrap();
        assert!(plan.steps.iter().all(|s| matches!(s, Step::Sql(_))));
    }
}
