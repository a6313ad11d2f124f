//! The 12 user-day signals the model scores and drift watches.
//!
//! One row per (day, user) of `core_user_day`: the nine counts and averages
//! as they are, plus three rates with 0 on a zero denominator:
//! block_rate = n_blocked / n_chat, warn_rate = n_warned / n_chat and
//! chat_fraction = n_chat / n_events. Rows are kept in (day, user_id) order,
//! which is the order of every export built from them.
//!
//! This module only reads and derives; it knows nothing of the model. Memory
//! is one fixed-size array per row, so 2 million user-days cost ~200 MB.

use rusqlite::Connection;

use crate::StageResult;

/// The feature columns, in export order.
pub const FEATURES: [&str; 12] = [
    "n_events",
    "n_chat",
    "tokens_in_sum",
    "tokens_out_sum",
    "latency_ms_avg",
    "n_blocked",
    "n_warned",
    "n_ips",
    "n_devices",
    "block_rate",
    "warn_rate",
    "chat_fraction",
];

/// How many features a row has.
pub const N_FEATURES: usize = FEATURES.len();

/// Whether a feature is a count, written as an integer (the others are floats).
pub fn is_count(feature: usize) -> bool {
    !matches!(feature, 4 | 9..=11)
}

/// `a / b`, or 0 when `b` is 0.
pub fn ratio(a: f64, b: f64) -> f64 {
    if b == 0.0 {
        0.0
    } else {
        a / b
    }
}

/// The 12 features from the nine `core_user_day` columns, in `FEATURES` order.
pub fn derive(base: [f64; 9]) -> [f64; N_FEATURES] {
    let mut f = [0.0; N_FEATURES];
    f[..9].copy_from_slice(&base);
    f[9] = ratio(base[5], base[1]);
    f[10] = ratio(base[6], base[1]);
    f[11] = ratio(base[1], base[0]);
    f
}

/// Every user-day of the database, in (day, user_id) order.
#[derive(Debug, Clone, Default)]
pub struct UserDays {
    pub days: Vec<String>,
    pub users: Vec<String>,
    pub features: Vec<[f64; N_FEATURES]>,
    pub labels: Vec<bool>,
}

impl UserDays {
    /// Reads `core_user_day` in (day, user_id) order. The shipped core SQL
    /// inserts its rows in that order, so they are read in rowid order and
    /// checked as they come: only a table out of order (edited SQL) pays for
    /// SQLite's sort of every row, which was a tenth of scoring's time.
    pub fn read(conn: &Connection) -> StageResult<UserDays> {
        if let Some(rows) = Self::read_rows(conn, false)? {
            return Ok(rows);
        }
        Ok(Self::read_rows(conn, true)?.expect("rows sorted by SQLite"))
    }

    /// The rows sorted by SQLite (`sort`), or in rowid order: then None as
    /// soon as two are not in strictly increasing (day, user_id) order.
    fn read_rows(conn: &Connection, sort: bool) -> StageResult<Option<UserDays>> {
        let order = if sort { "ORDER BY day, user_id" } else { "" };
        let n: i64 = conn.query_row("SELECT count(*) FROM core_user_day", [], |r| r.get(0))?;
        let n = usize::try_from(n).unwrap_or(0);
        let mut out = UserDays {
            days: Vec::with_capacity(n),
            users: Vec::with_capacity(n),
            features: Vec::with_capacity(n),
            labels: Vec::with_capacity(n),
        };
        let mut stmt = conn.prepare(&format!(
            "SELECT day, user_id, n_events, n_chat, tokens_in_sum, tokens_out_sum,
                    latency_ms_avg, n_blocked, n_warned, n_ips, n_devices, is_abuse_gt
             FROM core_user_day {order}"
        ))?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            let (day, user): (String, String) = (row.get(0)?, row.get(1)?);
            // Text compares byte by byte in Rust as in SQLite's BINARY collation.
            if !sort
                && out.days.last().is_some_and(|last_day| {
                    (last_day, out.users.last().expect("as many users as days")) >= (&day, &user)
                })
            {
                return Ok(None);
            }
            let mut base = [0.0; 9];
            for (k, slot) in base.iter_mut().enumerate() {
                // NULL only arises from SUM over no rows; it means 0.
                *slot = row.get::<_, Option<f64>>(k + 2)?.unwrap_or(0.0);
            }
            out.days.push(day);
            out.users.push(user);
            out.features.push(derive(base));
            out.labels
                .push(row.get::<_, Option<i64>>(11)?.unwrap_or(0) == 1);
        }
        Ok(Some(out))
    }

    /// How many user-days there are.
    pub fn count(&self) -> usize {
        self.labels.len()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A `core_user_day` table with the given rows (day, user, 9 values, label).
    pub(crate) fn user_day_db(rows: &[(&str, &str, [f64; 9], i64)]) -> Connection {
        let conn = Connection::open_in_memory().expect("in-memory db");
        conn.execute_batch(
            "CREATE TABLE core_user_day (day TEXT, user_id TEXT, n_events INTEGER,
               n_chat INTEGER, tokens_in_sum INTEGER, tokens_out_sum INTEGER,
               latency_ms_avg REAL, n_blocked INTEGER, n_warned INTEGER, n_ips INTEGER,
               n_devices INTEGER, is_abuse_gt INTEGER)",
        )
        .expect("create");
        let mut insert = conn
            .prepare("INSERT INTO core_user_day VALUES (?,?,?,?,?,?,?,?,?,?,?,?)")
            .expect("prepare");
        for (day, user, v, label) in rows {
            insert
                .execute(rusqlite::params![
                    day, user, v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], label
                ])
                .expect("insert");
        }
        drop(insert);
        conn
    }

    /// Rates divide by chats and events, with 0 on a zero denominator.
    #[test]
    fn derives_rates() {
        let f = derive([10.0, 4.0, 1.0, 2.0, 900.5, 1.0, 2.0, 1.0, 1.0]);
        assert_eq!(&f[9..], &[0.25, 0.5, 0.4]);
        let none = derive([3.0, 0.0, 1.0, 2.0, 100.0, 1.0, 0.0, 1.0, 1.0]);
        assert_eq!(&none[9..], &[0.0, 0.0, 0.0]);
        assert_eq!((0..12).filter(|f| !is_count(*f)).count(), 4);
    }

    /// Rows come back in (day, user_id) order with their labels.
    #[test]
    fn reads_in_key_order() {
        let v = [2.0, 1.0, 10.0, 20.0, 50.0, 1.0, 0.0, 1.0, 1.0];
        let conn = user_day_db(&[
            ("2026-01-02", "u_1", v, 0),
            ("2026-01-01", "u_2", v, 1),
            ("2026-01-01", "u_1", v, 0),
        ]);
        let rows = UserDays::read(&conn).unwrap();
        assert_eq!(rows.days, ["2026-01-01", "2026-01-01", "2026-01-02"]);
        assert_eq!(rows.users, ["u_1", "u_2", "u_1"]);
        assert_eq!(rows.labels, [false, true, false]);
        assert_eq!(rows.features[0][9], 1.0);
    }

    /// Rows already in byte order of (day, user_id) are read as they lie; a
    /// key out of order or twice sends the read through SQLite's sort.
    #[test]
    fn reads_rows_in_order_without_the_sort() {
        let v = [2.0, 1.0, 10.0, 20.0, 50.0, 1.0, 0.0, 1.0, 1.0];
        let in_order = user_day_db(&[
            ("2026-01-01", "u_10", v, 0),
            ("2026-01-01", "u_9", v, 1),
            ("2026-01-02", "u_1", v, 0),
        ]);
        let rows = UserDays::read_rows(&in_order, false).unwrap().unwrap();
        assert_eq!(rows.users, ["u_10", "u_9", "u_1"]);
        assert_eq!(
            UserDays::read(&in_order).unwrap().labels,
            [false, true, false]
        );
        let twice = user_day_db(&[("2026-01-01", "u_1", v, 0), ("2026-01-01", "u_1", v, 1)]);
        assert!(UserDays::read_rows(&twice, false).unwrap().is_none());
        assert_eq!(UserDays::read(&twice).unwrap().count(), 2);
    }
}
