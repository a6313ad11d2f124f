//! `CoreTables`: core_user_day, core_day_metrics, core_user_identifiers and
//! core_users aggregated in Rust from raw_events.csv, on its own thread while
//! the bulk insert runs.
//!
//! These are the Rust twins of `sql/core/10..40_*.sql`: same rows, same
//! values (integer sums as integers, averages as SQLite computes them), same
//! types and the same row order (so rowids, and ANALYZE's samples, match too).
//! The SQL files stay the definition: `ShippedSql` takes this path only when
//! they are exactly the shipped ones, and `tests::matches_the_sql` checks the
//! twins against the SQL. Done in SQL, these four GROUP BYs were 45% of load
//! at 5 M events (issue 13): each is a sort of every event, where one pass of
//! hash maps over the CSV, overlapped with the insert, costs a second or two.
//!
//! Data the twins cannot reproduce exactly (an integer column holding text,
//! an overflowing sum, a missing column) gives `None`: the caller then runs the
//! SQL, which is what it would have done anyway.

use rusqlite::types::ValueRef;
use rusqlite::Connection;
use std::collections::HashMap;
use std::path::Path;

use super::batch_insert::BatchInsert;
use super::csv_insert::parse_i64;
use super::interner::{FxBuild, Interner, Short};
use super::kbn_sum::KbnSum;
use super::raw_indexes::{KeySource, RowKeys};
use super::timestamps::Timestamps;
use crate::execute::StageError;
use crate::StageResult;

/// The four tables, rows in the order the SQL writes them.
///
/// Memory matters here (issue 13: peak RSS): the groups live in two flat
/// arenas (`groups`, `spans`) and the output orders are index vectors, so
/// the aggregation makes a few large allocations, which go back to the
/// system when it is dropped, rather than millions of small ones.
pub struct CoreTables {
    users: Interner,
    days: Interner,
    values: Interner,
    times: Timestamps,
    /// (day, user) groups; `user_day` lists them in (day, user_id) order.
    groups: Vec<UserDay>,
    user_day: Vec<u32>,
    day_metrics: Vec<DayMetricsRow>,
    /// (user, kind, value) spans; `identifiers` lists them in table order.
    spans: Vec<Span>,
    identifiers: Vec<u32>,
    user_rows: Vec<UserRow>,
    /// Each raw_events row's indexed values, and the ids' text order.
    row_keys: RowKeys,
    user_rank: Vec<u32>,
    value_rank: Vec<u32>,
}

/// Identifier kinds, in the order core_user_identifiers' UNION ALL lists them.
const KINDS: [&str; 3] = ["device", "ip", "payment"];
/// A missing payment token (NULL), a value of its own; also "none yet".
const NULL: u32 = u32::MAX;

/// One (day, user) group of core_user_day.
struct UserDay {
    user: u32,
    day: u32,
    n_events: i64,
    n_chat: i64,
    tokens_in: i64,
    tokens_out: i64,
    latency: i64,
    n_blocked: i64,
    n_warned: i64,
    is_abuse_gt: i64,
    ips: Distinct,
    devices: Distinct,
}

/// The distinct values of one column in a group: nearly always one, so
/// that one is inline and only the rare others take an allocation.
struct Distinct {
    first: u32,
    others: Vec<u32>,
}

impl Distinct {
    fn new(first: u32) -> Distinct {
        Distinct {
            first,
            others: Vec::new(),
        }
    }

    fn insert(&mut self, value: u32) {
        if value != self.first && !self.others.contains(&value) {
            self.others.push(value);
        }
    }

    fn len(&self) -> i64 {
        1 + self.others.len() as i64
    }
}

/// One (user, kind, value) of core_user_identifiers, with its first and
/// last timestamp (ids into `times`).
struct Span {
    user: u32,
    kind: u8,
    value: u32,
    first: u32,
    last: u32,
}

/// Per user, what its last event touched: events of one user mostly repeat
/// its day and identifiers, so these spare most hash lookups. The values'
/// bytes are kept here too when short, to compare without reading the
/// interner's arena (a cache miss per event and kind).
#[derive(Clone, Copy)]
struct Recent {
    group: u32,
    values: [u32; 3],
    value_bytes: [Option<Short>; 3],
    spans: [u32; 3],
}

const NOTHING_RECENT: Recent = Recent {
    group: NULL,
    values: [NULL; 3],
    value_bytes: [None; 3],
    spans: [NULL; 3],
};

struct DayMetricsRow {
    day: u32,
    n_events: i64,
    n_chat: i64,
    n_active_users: i64,
    n_blocked: i64,
    n_warned: i64,
    latency_ms_avg: f64,
}

struct UserRow {
    user: u32,
    first: u32,
    last: u32,
    n_events: i64,
    n_chat: i64,
    n_blocked: i64,
    n_warned: i64,
    n_ids: [i64; 3],
}

/// The raw_events columns the core tables read, by position in the CSV.
struct Columns {
    ts: usize,
    user_id: usize,
    ip: usize,
    device_id: usize,
    payment_id: usize,
    event_type: usize,
    tokens_in: usize,
    tokens_out: usize,
    latency_ms: usize,
    blocked: usize,
    warned: usize,
    is_abuse_gt: usize,
}

impl CoreTables {
    /// One pass over raw_events.csv; `None` when the data needs the SQL.
    pub fn aggregate(csv_path: &Path) -> StageResult<Option<CoreTables>> {
        let csv_err = |source| StageError::Csv {
            path: csv_path.to_path_buf(),
            source,
        };
        let mut reader = csv::ReaderBuilder::new()
            .buffer_capacity(1 << 20)
            .from_path(csv_path)
            .map_err(csv_err)?;
        let header = reader.byte_headers().map_err(csv_err)?.clone();
        let col = |name: &str| header.iter().position(|h| h == name.as_bytes());
        let Some(c) = (|| {
            Some(Columns {
                ts: col("ts")?,
                user_id: col("user_id")?,
                ip: col("ip")?,
                device_id: col("device_id")?,
                payment_id: col("payment_id")?,
                event_type: col("event_type")?,
                tokens_in: col("tokens_in")?,
                tokens_out: col("tokens_out")?,
                latency_ms: col("latency_ms")?,
                blocked: col("blocked")?,
                warned: col("warned")?,
                is_abuse_gt: col("is_abuse_gt")?,
            })
        })() else {
            return Ok(None);
        };

        let mut users = Interner::default();
        let mut days = Interner::default();
        let mut values = Interner::default();
        let mut times = Timestamps::default();
        let mut groups: Vec<UserDay> = Vec::new();
        let mut spans: Vec<Span> = Vec::new();
        let mut recent: Vec<Recent> = Vec::new();
        let mut row_keys = RowKeys::default();
        // While the input is in time order, a user's new day is a new group;
        // after it goes back in time, groups are found through this map.
        let mut group_index: Option<HashMap<(u32, u32), u32, FxBuild>> = None;
        let mut span_index: HashMap<(u32, u8, u32), u32, FxBuild> = HashMap::default();
        let (mut last_day, mut day_id) = (Vec::new(), 0);
        let mut record = csv::ByteRecord::new();
        while reader.read_byte_record(&mut record).map_err(csv_err)? {
            let field = |i: usize| record.get(i).unwrap_or_default();
            let int = |i: usize| parse_i64(field(i));
            let (
                Some(tokens_in),
                Some(tokens_out),
                Some(latency),
                Some(blocked),
                Some(warned),
                Some(is_abuse_gt),
            ) = (
                int(c.tokens_in),
                int(c.tokens_out),
                int(c.latency_ms),
                int(c.blocked),
                int(c.warned),
                int(c.is_abuse_gt),
            )
            else {
                return Ok(None);
            };
            let ts = field(c.ts);
            let ts_id = times.id(ts);
            let day = day_prefix(ts);
            if day != last_day.as_slice() {
                day_id = days.intern(day);
                last_day.clear();
                last_day.extend_from_slice(day);
            }
            let user = users.intern(field(c.user_id));
            if user as usize == recent.len() {
                recent.push(NOTHING_RECENT);
            }
            let r = &mut recent[user as usize];
            let mut value_of = |kind: usize, bytes: &[u8]| {
                let last = r.values[kind];
                let is_last = || match &r.value_bytes[kind] {
                    Some(short) => short.as_slice() == bytes,
                    None => values.get(last) == bytes,
                };
                if kind == 2 && bytes.is_empty() {
                    NULL
                } else if last != NULL && is_last() {
                    last
                } else {
                    let id = values.intern(bytes);
                    r.values[kind] = id;
                    r.value_bytes[kind] = Short::new(bytes);
                    id
                }
            };
            let device = value_of(0, field(c.device_id));
            let ip = value_of(1, field(c.ip));
            let payment = value_of(2, field(c.payment_id));
            row_keys.push(ts_id, user, ip, device);

            if group_index.is_none() && times.went_back() {
                group_index = Some(
                    (0..groups.len() as u32)
                        .map(|g| ((groups[g as usize].user, groups[g as usize].day), g))
                        .collect(),
                );
            }
            let found = if r.group != NULL && groups[r.group as usize].day == day_id {
                Some(r.group)
            } else {
                group_index
                    .as_ref()
                    .and_then(|index| index.get(&(user, day_id)).copied())
            };
            let g = match found {
                Some(g) => {
                    let d = &mut groups[g as usize];
                    d.ips.insert(ip);
                    d.devices.insert(device);
                    d.is_abuse_gt = d.is_abuse_gt.max(is_abuse_gt);
                    g
                }
                None => {
                    let g = groups.len() as u32;
                    groups.push(UserDay {
                        user,
                        day: day_id,
                        n_events: 0,
                        n_chat: 0,
                        tokens_in: 0,
                        tokens_out: 0,
                        latency: 0,
                        n_blocked: 0,
                        n_warned: 0,
                        is_abuse_gt,
                        ips: Distinct::new(ip),
                        devices: Distinct::new(device),
                    });
                    if let Some(index) = &mut group_index {
                        index.insert((user, day_id), g);
                    }
                    g
                }
            };
            r.group = g;
            let d = &mut groups[g as usize];
            d.n_events += 1;
            d.n_chat += i64::from(field(c.event_type) == b"chat");
            let sums = [
                (&mut d.tokens_in, tokens_in),
                (&mut d.tokens_out, tokens_out),
                (&mut d.latency, latency),
                (&mut d.n_blocked, blocked),
                (&mut d.n_warned, warned),
            ];
            for (sum, x) in sums {
                let Some(s) = sum.checked_add(x) else {
                    return Ok(None);
                };
                *sum = s;
            }

            for (kind, value) in [device, ip, payment].into_iter().enumerate() {
                let last = r.spans[kind];
                let at = if last != NULL && spans[last as usize].value == value {
                    last
                } else {
                    let next = spans.len() as u32;
                    let at = *span_index.entry((user, kind as u8, value)).or_insert(next);
                    if at == next {
                        spans.push(Span {
                            user,
                            kind: kind as u8,
                            value,
                            first: ts_id,
                            last: ts_id,
                        });
                    }
                    r.spans[kind] = at;
                    at
                };
                let s = &mut spans[at as usize];
                if times.cmp(ts_id, s.first).is_lt() {
                    s.first = ts_id;
                }
                if times.cmp(ts_id, s.last).is_gt() {
                    s.last = ts_id;
                }
            }
        }
        drop(span_index);
        drop(group_index);
        Ok(CoreTables::finish(
            [users, days, values],
            times,
            groups,
            spans,
            row_keys,
        ))
    }

    /// Orders the groups as the SQL's ORDER BYs do and derives the two
    /// tables the SQL builds from the other two.
    fn finish(
        [users, days, values]: [Interner; 3],
        times: Timestamps,
        groups: Vec<UserDay>,
        spans: Vec<Span>,
        row_keys: RowKeys,
    ) -> Option<CoreTables> {
        let user_rank = users.ranks();
        let day_rank = days.ranks();
        let value_rank = values.ranks();
        let rank_of = |id: u32| (id != NULL).then(|| value_rank[id as usize]);

        let mut user_day: Vec<u32> = (0..groups.len() as u32).collect();
        user_day.sort_unstable_by_key(|&g| {
            let g = &groups[g as usize];
            (day_rank[g.day as usize], user_rank[g.user as usize])
        });

        // SUM(latency_ms_avg * n_events) adds in core_user_day order: SQLite's
        // sorter keeps equal GROUP BY keys in scan order.
        let mut day_metrics: Vec<DayMetricsRow> = Vec::new();
        let mut latency = KbnSum::default();
        for &g in &user_day {
            let a = &groups[g as usize];
            if day_metrics.last().is_none_or(|m| m.day != a.day) {
                if let Some(m) = day_metrics.last_mut() {
                    m.latency_ms_avg = latency.value() / m.n_events as f64;
                }
                latency = KbnSum::default();
                day_metrics.push(DayMetricsRow {
                    day: a.day,
                    n_events: 0,
                    n_chat: 0,
                    n_active_users: 0,
                    n_blocked: 0,
                    n_warned: 0,
                    latency_ms_avg: 0.0,
                });
            }
            let m = day_metrics.last_mut().expect("pushed above");
            m.n_events = m.n_events.checked_add(a.n_events)?;
            m.n_chat = m.n_chat.checked_add(a.n_chat)?;
            m.n_active_users += 1;
            m.n_blocked = m.n_blocked.checked_add(a.n_blocked)?;
            m.n_warned = m.n_warned.checked_add(a.n_warned)?;
            latency.add(avg(a) * a.n_events as f64);
        }
        if let Some(m) = day_metrics.last_mut() {
            m.latency_ms_avg = latency.value() / m.n_events as f64;
        }

        let mut identifiers: Vec<u32> = (0..spans.len() as u32).collect();
        identifiers.sort_unstable_by_key(|&s| {
            let s = &spans[s as usize];
            (s.kind, user_rank[s.user as usize], rank_of(s.value))
        });

        // core_users: identifiers give the time span and distinct counts,
        // core_user_day the activity; every user is in both.
        let mut user_rows: Vec<UserRow> = (0..user_rank.len() as u32)
            .map(|user| UserRow {
                user,
                first: NULL,
                last: NULL,
                n_events: 0,
                n_chat: 0,
                n_blocked: 0,
                n_warned: 0,
                n_ids: [0; 3],
            })
            .collect();
        for s in &spans {
            let u = &mut user_rows[s.user as usize];
            if u.first == NULL || times.cmp(s.first, u.first).is_lt() {
                u.first = s.first;
            }
            if u.last == NULL || times.cmp(s.last, u.last).is_gt() {
                u.last = s.last;
            }
            u.n_ids[s.kind as usize] += 1;
        }
        for g in &groups {
            let u = &mut user_rows[g.user as usize];
            u.n_events = u.n_events.checked_add(g.n_events)?;
            u.n_chat = u.n_chat.checked_add(g.n_chat)?;
            u.n_blocked = u.n_blocked.checked_add(g.n_blocked)?;
            u.n_warned = u.n_warned.checked_add(g.n_warned)?;
        }
        user_rows.sort_unstable_by_key(|u| user_rank[u.user as usize]);

        Some(CoreTables {
            users,
            days,
            values,
            times,
            groups,
            user_day,
            day_metrics,
            spans,
            identifiers,
            user_rows,
            row_keys,
            user_rank,
            value_rank,
        })
    }

    /// raw_events' indexed values, row by row, for `RawIndexes`; `None`
    /// when the rows went back in time (timestamp ids are then not in text
    /// order).
    pub fn key_source(&self) -> Option<KeySource<'_>> {
        (!self.times.went_back()).then_some(KeySource {
            rows: &self.row_keys,
            times: &self.times,
            users: &self.users,
            user_rank: &self.user_rank,
            values: &self.values,
            value_rank: &self.value_rank,
        })
    }

    /// Creates and fills the four tables. `ddl` gives each table's CREATE
    /// statement as the SQL would have declared it (see `ShippedSql`).
    ///
    /// Values are bound borrowed and by position, 128 rows to a statement
    /// (`BatchInsert`): at 5 M events these are 2.5 million rows, and
    /// rusqlite's `params!` (a trait object and a checked bind per value)
    /// and a statement per row were most of their time.
    pub fn insert(&self, conn: &Connection, ddl: &[(String, String)]) -> rusqlite::Result<()> {
        use ValueRef::{Integer, Real, Text};
        let table = |name: &str, n_columns| {
            let sql = ddl
                .iter()
                .find(|(t, _)| t == name)
                .map(|(_, sql)| sql.as_str());
            conn.execute_batch(sql.unwrap_or_default())?;
            BatchInsert::new(conn, name, n_columns)
        };
        // The bulk insert has checked that raw_events is UTF-8 before this
        // runs, and every string here is a field of it.
        let user = |id| Text(self.users.get(id));
        let day = |id| Text(self.days.get(id));
        let t = |id| Text(self.times.get(id));

        table("core_user_day", 12)?.insert(self.user_day.iter().map(|&g| {
            let a = &self.groups[g as usize];
            [
                day(a.day),
                user(a.user),
                Integer(a.n_events),
                Integer(a.n_chat),
                Integer(a.tokens_in),
                Integer(a.tokens_out),
                Real(avg(a)),
                Integer(a.n_blocked),
                Integer(a.n_warned),
                Integer(a.ips.len()),
                Integer(a.devices.len()),
                Integer(a.is_abuse_gt),
            ]
        }))?;

        table("core_day_metrics", 7)?.insert(self.day_metrics.iter().map(|m| {
            [
                day(m.day),
                Integer(m.n_events),
                Integer(m.n_chat),
                Integer(m.n_active_users),
                Integer(m.n_blocked),
                Integer(m.n_warned),
                Real(m.latency_ms_avg),
            ]
        }))?;

        table("core_user_identifiers", 5)?.insert(self.identifiers.iter().map(|&s| {
            let r = &self.spans[s as usize];
            let value = match r.value {
                NULL => ValueRef::Null,
                v => Text(self.values.get(v)),
            };
            [
                user(r.user),
                Text(KINDS[r.kind as usize].as_bytes()),
                value,
                t(r.first),
                t(r.last),
            ]
        }))?;

        table("core_users", 10)?.insert(self.user_rows.iter().map(|u| {
            [
                user(u.user),
                t(u.first),
                t(u.last),
                Integer(u.n_events),
                Integer(u.n_chat),
                Integer(u.n_blocked),
                Integer(u.n_warned),
                Integer(u.n_ids[1]),
                Integer(u.n_ids[0]),
                Integer(u.n_ids[2]),
            ]
        }))
    }
}

/// AVG(latency_ms) as SQLite computes it from an integer sum.
fn avg(d: &UserDay) -> f64 {
    d.latency as f64 / d.n_events as f64
}

/// `substr(ts, 1, 10)`: the first ten characters (not bytes) of the text.
fn day_prefix(ts: &[u8]) -> &[u8] {
    let mut chars = 0;
    for (i, &b) in ts.iter().enumerate() {
        if b & 0xC0 != 0x80 {
            if chars == 10 {
                return &ts[..i];
            }
            chars += 1;
        }
    }
    ts
}

#[cfg(test)]
mod tests {
    use super::super::csv_insert::load_csv;
    use super::super::shipped_sql::ShippedSql;
    use super::*;
    use rusqlite::types::Value;

    /// Every row of a table, typed, in rowid order.
    fn rows(conn: &Connection, table: &str) -> Vec<Vec<Value>> {
        super::super::tests::query(
            conn,
            &format!("SELECT rowid, * FROM {table} ORDER BY rowid"),
        )
    }

    /// The Rust twins give the shipped SQL's rows, values, types and order,
    /// also for rows out of time order, several IPs and devices in a day,
    /// missing payments and latency sums that naive addition would round.
    #[test]
    fn matches_the_sql() {
        let dir = tempfile::tempdir().unwrap();
        let csv_path = dir.path().join("raw_events.csv");
        let mut csv = String::from(
            "event_id,ts,user_id,ip,device_id,payment_id,surface,product,event_type,prompt,\
             tokens_in,tokens_out,latency_ms,blocked,warned,is_abuse_gt\n",
        );
        let users = ["u_00002", "u_00010", "u_00001", "u_00003"];
        for i in 0..400u32 {
            // Mostly in time order, with a stretch that goes back a day.
            let day = if (300..320).contains(&i) {
                1
            } else {
                1 + i / 60
            };
            let ts = format!("2026-01-{day:02}T{:02}:{:02}:00Z", (i / 7) % 24, i % 60);
            let user = users[(i * 7 % 11) as usize % users.len()];
            let ip = format!("203.0.113.{}", 1 + i % 3 * (i % 2));
            let device = format!("dev_{:06}", i % 5 / 4);
            let payment = if i % 3 == 0 {
                String::new()
            } else {
                format!("pay_{}", i % 2)
            };
            let kind = ["chat", "login", "chat", "policy_block"][(i % 4) as usize];
            let latency = 5 + (i * 7919) % 1733;
            csv.push_str(&format!(
                "e_{i:09},{ts},{user},{ip},{device},{payment},web,chat,{kind},hi,{},{},{latency},{},{},{}\n",
                i % 300,
                i * 3 % 500,
                i32::from(i % 4 == 3),
                i32::from(i % 5 == 0),
                i32::from(user == "u_00010"),
            ));
        }
        std::fs::write(&csv_path, csv).unwrap();
        let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("sql");
        let db = |fast: bool| {
            let conn = Connection::open_in_memory().unwrap();
            conn.execute_batch(&std::fs::read_to_string(repo.join("schema.sql")).unwrap())
                .unwrap();
            load_csv(&conn, "raw_events", &csv_path).unwrap();
            if fast {
                let tables = CoreTables::aggregate(&csv_path).unwrap().unwrap();
                tables
                    .insert(&conn, &ShippedSql::core_table_ddl().unwrap())
                    .unwrap();
            } else {
                for file in [
                    "10_core_user_day",
                    "20_core_day_metrics",
                    "30_core_user_identifiers",
                    "40_core_users",
                ] {
                    let sql =
                        std::fs::read_to_string(repo.join(format!("core/{file}.sql"))).unwrap();
                    conn.execute_batch(&sql).unwrap();
                }
            }
            conn
        };
        let (sql, rust) = (db(false), db(true));
        for table in [
            "core_user_day",
            "core_day_metrics",
            "core_user_identifiers",
            "core_users",
        ] {
            let schema = |c: &Connection| -> String {
                c.query_row(
                    "SELECT sql FROM sqlite_master WHERE name = ?1",
                    [table],
                    |r| r.get(0),
                )
                .unwrap()
            };
            assert_eq!(schema(&rust), schema(&sql), "{table}");
            let (want, got) = (rows(&sql, table), rows(&rust, table));
            assert!(want.len() > 3, "{table} has rows");
            assert_eq!(got, want, "{table}");
        }
    }

    /// Text in an integer column is left to the SQL, which knows what to do with it.
    #[test]
    fn odd_data_falls_back_to_the_sql() {
        let dir = tempfile::tempdir().unwrap();
        let csv_path = dir.path().join("raw_events.csv");
        std::fs::write(
            &csv_path,
            "event_id,ts,user_id,ip,device_id,payment_id,surface,product,event_type,prompt,\
             tokens_in,tokens_out,latency_ms,blocked,warned,is_abuse_gt\n\
             e_1,2026-01-01T00:00:00Z,u_1,1.1.1.1,d,,web,chat,chat,hi,ten,1,1,0,0,0\n",
        )
        .unwrap();
        assert!(CoreTables::aggregate(&csv_path).unwrap().is_none());
    }

    /// `substr(ts, 1, 10)` counts characters.
    #[test]
    fn day_is_ten_characters() {
        assert_eq!(day_prefix(b"2026-01-01T00:03:12Z"), b"2026-01-01");
        assert_eq!(
            day_prefix("é026-01-01T".as_bytes()),
            "é026-01-01".as_bytes()
        );
        assert_eq!(day_prefix(b"2026"), b"2026");
    }
}
