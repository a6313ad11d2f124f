//! The review store: analysts' dispositions, in their own SQLite database.
//!
//! It lives outside everything a build writes or `gc` removes, and is keyed by
//! the stable case ids of `cases.csv`, so rebuilds never touch it. Both tables
//! are append-only: the latest review of a case is its current state, every
//! earlier one stays as the audit trail, and a case's opening time (its SLA
//! start) is written once. The triggers that enforce this live in the database
//! itself, so they hold for a raw `sqlite3 reviews.db` session too.

use rusqlite::{params, Connection, OptionalExtension};
use std::collections::HashMap;
use std::path::Path;

/// What an analyst can conclude about a case.
pub const DISPOSITIONS: [&str; 4] = [
    "confirmed_abuse",
    "no_violation",
    "needs_more_info",
    "escalated",
];

/// Longest notes accepted, in characters.
pub const MAX_NOTES: usize = 4000;
/// Longest reviewer name accepted, in characters.
pub const MAX_REVIEWER: usize = 80;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS reviews (
    review_id   INTEGER PRIMARY KEY AUTOINCREMENT,
    case_id     TEXT NOT NULL,
    disposition TEXT NOT NULL,
    reviewer    TEXT NOT NULL,
    notes       TEXT NOT NULL,
    reviewed_at TEXT NOT NULL   -- ISO-8601 UTC, the wall clock when saved
);
CREATE INDEX IF NOT EXISTS reviews_case ON reviews (case_id, review_id);
-- When the workbench first showed a case: the start of its review SLA.
CREATE TABLE IF NOT EXISTS case_opened (
    case_id   TEXT PRIMARY KEY,
    opened_at TEXT NOT NULL
);
";

/// The triggers that make every row permanent, created on every open (`IF NOT
/// EXISTS`), so a store made by an older tnsflow gets them too.
///
/// UPDATE and DELETE triggers are not enough: `INSERT OR REPLACE`, `REPLACE
/// INTO` and `UPDATE OR REPLACE` delete the row in the way without firing any
/// DELETE trigger (unless `recursive_triggers` is on, which a raw `sqlite3`
/// session never sets). So a BEFORE INSERT trigger refuses any insert whose
/// key, or rowid, is already taken, before the conflict is resolved; an
/// upsert (`ON CONFLICT DO UPDATE`) is refused by the same trigger. Because
/// it aborts, `INSERT OR IGNORE` of a taken key fails too: `open_cases`
/// inserts only the keys that are absent. See issue 10, item 5.
///
/// In a BEFORE INSERT trigger SQLite shows an id it has yet to pick as -1, so
/// a stored row with id -1 would block every later save: AFTER INSERT
/// triggers refuse ids below 1 (never picked by SQLite itself).
const APPEND_ONLY: &str = "
CREATE TRIGGER IF NOT EXISTS reviews_no_update BEFORE UPDATE ON reviews
BEGIN SELECT RAISE(ABORT, 'reviews are append-only'); END;
CREATE TRIGGER IF NOT EXISTS reviews_no_delete BEFORE DELETE ON reviews
BEGIN SELECT RAISE(ABORT, 'reviews are append-only'); END;
CREATE TRIGGER IF NOT EXISTS reviews_no_replace BEFORE INSERT ON reviews
WHEN EXISTS (SELECT 1 FROM reviews WHERE review_id = NEW.review_id)
BEGIN SELECT RAISE(ABORT, 'reviews are append-only: this review_id is taken'); END;
CREATE TRIGGER IF NOT EXISTS reviews_positive_id AFTER INSERT ON reviews
WHEN NEW.review_id < 1
BEGIN SELECT RAISE(ABORT, 'reviews are append-only: review_id must be 1 or more'); END;
CREATE TRIGGER IF NOT EXISTS case_opened_no_update BEFORE UPDATE ON case_opened
BEGIN SELECT RAISE(ABORT, 'case_opened is append-only'); END;
CREATE TRIGGER IF NOT EXISTS case_opened_no_delete BEFORE DELETE ON case_opened
BEGIN SELECT RAISE(ABORT, 'case_opened is append-only'); END;
CREATE TRIGGER IF NOT EXISTS case_opened_no_replace BEFORE INSERT ON case_opened
WHEN EXISTS (SELECT 1 FROM case_opened WHERE case_id = NEW.case_id OR rowid = NEW.rowid)
BEGIN SELECT RAISE(ABORT, 'case_opened is append-only: this case_id is taken'); END;
CREATE TRIGGER IF NOT EXISTS case_opened_positive_rowid AFTER INSERT ON case_opened
WHEN NEW.rowid < 1
BEGIN SELECT RAISE(ABORT, 'case_opened is append-only: rowid must be 1 or more'); END;
";

/// One saved review.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Review {
    pub review_id: i64,
    pub case_id: String,
    pub disposition: String,
    pub reviewer: String,
    pub notes: String,
    pub reviewed_at: String,
}

/// A review as submitted, before validation.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct ReviewForm {
    #[serde(default)]
    pub disposition: String,
    #[serde(default)]
    pub reviewer: String,
    #[serde(default)]
    pub notes: String,
}

impl ReviewForm {
    /// Every problem with the form, worded for the analyst.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if !DISPOSITIONS.contains(&self.disposition.as_str()) {
            problems.push(format!(
                "disposition must be one of {}",
                DISPOSITIONS.join(", ")
            ));
        }
        let reviewer = self.reviewer.trim();
        if reviewer.is_empty() {
            problems.push("reviewer is required".to_string());
        } else if reviewer.chars().count() > MAX_REVIEWER {
            problems.push(format!("reviewer is longer than {MAX_REVIEWER} characters"));
        }
        // A name is one line: no control character at all.
        if let Some(c) = self.reviewer.chars().find(|c| c.is_control()) {
            problems.push(format!(
                "reviewer contains a control character ({}); a reviewer is one line of plain text",
                code_point(c)
            ));
        }
        if self.notes.chars().count() > MAX_NOTES {
            problems.push(format!("notes are longer than {MAX_NOTES} characters"));
        }
        // Line breaks (a textarea sends CRLF) and tabs are text; the rest
        // (escape sequences, NUL, bells) would reach terminals and exports.
        if let Some(c) = self
            .notes
            .chars()
            .find(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
        {
            problems.push(format!(
                "notes contain a control character ({}); only line breaks and tabs are allowed",
                code_point(c)
            ));
        }
        problems
    }
}

/// `U+001B`: how a problem names an invisible character.
fn code_point(c: char) -> String {
    format!("U+{:04X}", u32::from(c))
}

pub struct ReviewStore {
    conn: Connection,
}

impl ReviewStore {
    /// Opens (creating if needed) the store at `path`.
    pub fn open(path: &Path) -> rusqlite::Result<ReviewStore> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.execute_batch("PRAGMA journal_mode = WAL;")?;
        conn.execute_batch(SCHEMA)?;
        conn.execute_batch(APPEND_ONLY)?;
        Ok(ReviewStore { conn })
    }

    /// Appends a validated review; returns its id.
    pub fn record(&self, case_id: &str, form: &ReviewForm, now: &str) -> rusqlite::Result<i64> {
        self.conn.execute(
            "INSERT INTO reviews (case_id, disposition, reviewer, notes, reviewed_at)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                case_id,
                form.disposition,
                form.reviewer.trim(),
                form.notes.trim(),
                now
            ],
        )?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Every review of a case, oldest first.
    pub fn history(&self, case_id: &str) -> rusqlite::Result<Vec<Review>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT review_id, case_id, disposition, reviewer, notes, reviewed_at
             FROM reviews WHERE case_id = ?1 ORDER BY review_id",
        )?;
        let rows = stmt.query_map([case_id], review_from_row)?;
        rows.collect()
    }

    /// The latest review of every reviewed case.
    pub fn latest(&self) -> rusqlite::Result<HashMap<String, Review>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT review_id, case_id, disposition, reviewer, notes, reviewed_at
             FROM reviews
             WHERE review_id IN (SELECT MAX(review_id) FROM reviews GROUP BY case_id)",
        )?;
        let rows = stmt.query_map([], review_from_row)?;
        rows.map(|r| r.map(|r| (r.case_id.clone(), r))).collect()
    }

    /// When each reviewed case was first reviewed: its SLA clock stops there.
    pub fn first_reviewed(&self) -> rusqlite::Result<HashMap<String, String>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT case_id, reviewed_at FROM reviews
             WHERE review_id IN (SELECT MIN(review_id) FROM reviews GROUP BY case_id)",
        )?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        rows.collect()
    }

    /// Marks every case not seen before as opened `now`; returns when each
    /// case was opened.
    pub fn open_cases<'a>(
        &mut self,
        case_ids: impl IntoIterator<Item = &'a str>,
        now: &str,
    ) -> rusqlite::Result<HashMap<String, String>> {
        let tx = self.conn.transaction()?;
        {
            // Only when absent: the append-only trigger refuses a taken key
            // even under `OR IGNORE`.
            let mut insert = tx.prepare_cached(
                "INSERT INTO case_opened (case_id, opened_at) SELECT ?1, ?2
                 WHERE NOT EXISTS (SELECT 1 FROM case_opened WHERE case_id = ?1)",
            )?;
            for id in case_ids {
                insert.execute(params![id, now])?;
            }
        }
        tx.commit()?;
        let mut stmt = self
            .conn
            .prepare_cached("SELECT case_id, opened_at FROM case_opened")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        rows.collect()
    }

    /// When a case was first shown, if ever.
    pub fn opened_at(&self, case_id: &str) -> rusqlite::Result<Option<String>> {
        self.conn
            .query_row(
                "SELECT opened_at FROM case_opened WHERE case_id = ?1",
                [case_id],
                |r| r.get(0),
            )
            .optional()
    }
}

fn review_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Review> {
    Ok(Review {
        review_id: r.get(0)?,
        case_id: r.get(1)?,
        disposition: r.get(2)?,
        reviewer: r.get(3)?,
        notes: r.get(4)?,
        reviewed_at: r.get(5)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(disposition: &str, reviewer: &str, notes: &str) -> ReviewForm {
        ReviewForm {
            disposition: disposition.into(),
            reviewer: reviewer.into(),
            notes: notes.into(),
        }
    }

    /// Later reviews win; earlier ones stay; nothing can be rewritten.
    #[test]
    fn append_only_audit_trail() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("review.db");
        let store = ReviewStore::open(&path).unwrap();
        let f1 = form("needs_more_info", "ana", "first look");
        let f2 = form("confirmed_abuse", "bo", "spam ring");
        store
            .record("case_u_1", &f1, "2026-11-23T10:00:00Z")
            .unwrap();
        store
            .record("case_u_1", &f2, "2026-11-23T11:00:00Z")
            .unwrap();
        store
            .record("case_u_2", &f1, "2026-11-23T12:00:00Z")
            .unwrap();
        let history = store.history("case_u_1").unwrap();
        assert_eq!(history.len(), 2);
        assert_eq!(history[0].disposition, "needs_more_info");
        let latest = store.latest().unwrap();
        assert_eq!(latest["case_u_1"].reviewer, "bo");
        assert_eq!(
            store.first_reviewed().unwrap()["case_u_1"],
            "2026-11-23T10:00:00Z"
        );
        assert_eq!(latest["case_u_2"].disposition, "needs_more_info");
        for sql in ["UPDATE reviews SET notes = 'x'", "DELETE FROM reviews"] {
            let err = store.conn.execute(sql, []).unwrap_err().to_string();
            assert!(err.contains("append-only"), "{err}");
        }
        // Reopening keeps everything.
        drop(store);
        let store = ReviewStore::open(&path).unwrap();
        assert_eq!(store.history("case_u_1").unwrap().len(), 2);
    }

    /// A case keeps the time it was first opened.
    #[test]
    fn cases_open_once() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = ReviewStore::open(&dir.path().join("r.db")).unwrap();
        store
            .open_cases(["a", "b"], "2026-11-23T10:00:00Z")
            .unwrap();
        let opened = store
            .open_cases(["b", "c"], "2026-11-24T10:00:00Z")
            .unwrap();
        assert_eq!(opened["b"], "2026-11-23T10:00:00Z");
        assert_eq!(opened["c"], "2026-11-24T10:00:00Z");
        assert_eq!(
            store.opened_at("a").unwrap().as_deref(),
            Some("2026-11-23T10:00:00Z")
        );
    }

    /// Every row of both tables, every column quoted exactly (`quote()` keeps
    /// types and bytes), in rowid order.
    fn dump(conn: &Connection) -> Vec<String> {
        let mut rows = Vec::new();
        for sql in [
            "SELECT quote(rowid), quote(review_id), quote(case_id), quote(disposition),
                    quote(reviewer), quote(notes), quote(reviewed_at) FROM reviews ORDER BY rowid",
            "SELECT quote(rowid), quote(case_id), quote(opened_at) FROM case_opened ORDER BY rowid",
        ] {
            let mut stmt = conn.prepare(sql).unwrap();
            let n = stmt.column_count();
            let found = stmt
                .query_map([], |r| {
                    (0..n)
                        .map(|i| r.get::<_, String>(i))
                        .collect::<rusqlite::Result<Vec<_>>>()
                        .map(|cols| cols.join("|"))
                })
                .unwrap();
            rows.extend(found.map(Result::unwrap));
        }
        rows
    }

    /// Raw SQL that would change an existing row of either table, by any
    /// path (issue 10, item 5): REPLACE deletes the old row without firing a
    /// DELETE trigger, so each of these needs its own refusal.
    const REWRITES: [&str; 15] = [
        "INSERT OR REPLACE INTO reviews (review_id, case_id, disposition, reviewer, notes, reviewed_at)
         VALUES (1, 'case_u_1', 'no_violation', 'mallory', 'rewritten', '2020-01-01T00:00:00Z')",
        "REPLACE INTO reviews (review_id, case_id, disposition, reviewer, notes, reviewed_at)
         VALUES (1, 'case_u_1', 'no_violation', 'mallory', 'rewritten', '2020-01-01T00:00:00Z')",
        "INSERT OR REPLACE INTO reviews (rowid, case_id, disposition, reviewer, notes, reviewed_at)
         VALUES (2, 'case_u_1', 'no_violation', 'mallory', 'rewritten', '2020-01-01T00:00:00Z')",
        "INSERT INTO reviews (review_id, case_id, disposition, reviewer, notes, reviewed_at)
         VALUES (1, 'case_u_1', 'no_violation', 'mallory', 'rewritten', '2020-01-01T00:00:00Z')
         ON CONFLICT (review_id) DO UPDATE SET notes = excluded.notes",
        "UPDATE reviews SET notes = 'rewritten'",
        "UPDATE OR REPLACE reviews SET review_id = 1 WHERE review_id = 2",
        "DELETE FROM reviews WHERE review_id = 1",
        "INSERT OR REPLACE INTO case_opened (case_id, opened_at) VALUES ('a', '2099-01-01T00:00:00Z')",
        "REPLACE INTO case_opened (case_id, opened_at) VALUES ('a', '2099-01-01T00:00:00Z')",
        "INSERT OR REPLACE INTO case_opened (rowid, case_id, opened_at) VALUES (1, 'zz', '2099-01-01T00:00:00Z')",
        "INSERT INTO case_opened (case_id, opened_at) VALUES ('a', '2099-01-01T00:00:00Z')
         ON CONFLICT (case_id) DO UPDATE SET opened_at = excluded.opened_at",
        "UPDATE case_opened SET opened_at = '2099-01-01T00:00:00Z'",
        "UPDATE OR REPLACE case_opened SET case_id = 'a' WHERE case_id = 'b'",
        "DELETE FROM case_opened",
        "DELETE FROM case_opened WHERE case_id = 'a'",
    ];

    /// A store with two reviews and two opened cases.
    fn filled(path: &Path) -> ReviewStore {
        let mut store = ReviewStore::open(path).unwrap();
        store
            .open_cases(["a", "b"], "2026-11-23T10:00:00Z")
            .unwrap();
        let f = form("needs_more_info", "ana", "first look");
        store
            .record("case_u_1", &f, "2026-11-23T10:00:00Z")
            .unwrap();
        store
            .record("case_u_1", &f, "2026-11-23T11:00:00Z")
            .unwrap();
        store
    }

    /// No raw SQL statement can change, replace or remove an existing row of
    /// either table: each is refused and every row stays byte-identical.
    #[test]
    fn no_sql_path_rewrites_an_existing_row() {
        let dir = tempfile::tempdir().unwrap();
        let store = filled(&dir.path().join("r.db"));
        let before = dump(&store.conn);
        assert_eq!(before.len(), 4, "{before:?}");
        for sql in REWRITES {
            let err = store.conn.execute(sql, []).expect_err(sql).to_string();
            assert!(err.contains("append-only"), "{sql}: {err}");
            assert_eq!(dump(&store.conn), before, "{sql}");
        }
        // An ignored insert keeps the first value (refused or skipped).
        let _ = store.conn.execute(
            "INSERT OR IGNORE INTO case_opened (case_id, opened_at) VALUES ('a', '2099-01-01T00:00:00Z')",
            [],
        );
        assert_eq!(dump(&store.conn), before);
        // Appending still works, from the store and from raw SQL alike.
        store
            .record(
                "case_u_2",
                &form("escalated", "bo", ""),
                "2026-11-23T12:00:00Z",
            )
            .unwrap();
        store
            .conn
            .execute(
                "INSERT INTO case_opened (case_id, opened_at) VALUES ('c', '2026-11-24T10:00:00Z')",
                [],
            )
            .unwrap();
        assert_eq!(dump(&store.conn).len(), 6);
    }

    /// A row with a non-positive id would collide with the -1 that SQLite
    /// shows a BEFORE INSERT trigger for an id it has yet to pick, and so
    /// block every later save: none can be inserted.
    #[test]
    fn ids_below_one_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = filled(&dir.path().join("r.db"));
        let before = dump(&store.conn);
        for sql in [
            "INSERT INTO reviews (review_id, case_id, disposition, reviewer, notes, reviewed_at)
             VALUES (-1, 'x', 'escalated', 'm', '', '2026-11-23T10:00:00Z')",
            "INSERT INTO case_opened (rowid, case_id, opened_at) VALUES (-1, 'x', '2026')",
            "INSERT INTO case_opened (rowid, case_id, opened_at) VALUES (0, 'y', '2026')",
        ] {
            let err = store.conn.execute(sql, []).expect_err(sql).to_string();
            assert!(err.contains("append-only"), "{sql}: {err}");
        }
        assert_eq!(dump(&store.conn), before);
        store
            .record(
                "case_u_2",
                &form("escalated", "bo", ""),
                "2026-11-23T12:00:00Z",
            )
            .unwrap();
    }

    /// A reviews.db made before the store refused replacements gets the
    /// refusals the first time it is opened, and keeps its rows.
    #[test]
    fn an_old_store_is_protected_once_opened() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.db");
        let old = Connection::open(&path).unwrap();
        old.execute_batch(
            "CREATE TABLE reviews (
                review_id INTEGER PRIMARY KEY AUTOINCREMENT, case_id TEXT NOT NULL,
                disposition TEXT NOT NULL, reviewer TEXT NOT NULL, notes TEXT NOT NULL,
                reviewed_at TEXT NOT NULL);
             CREATE INDEX reviews_case ON reviews (case_id, review_id);
             CREATE TRIGGER reviews_no_update BEFORE UPDATE ON reviews
             BEGIN SELECT RAISE(ABORT, 'reviews are append-only'); END;
             CREATE TRIGGER reviews_no_delete BEFORE DELETE ON reviews
             BEGIN SELECT RAISE(ABORT, 'reviews are append-only'); END;
             CREATE TABLE case_opened (case_id TEXT PRIMARY KEY, opened_at TEXT NOT NULL);
             INSERT INTO reviews (case_id, disposition, reviewer, notes, reviewed_at)
             VALUES ('case_u_1', 'escalated', 'ana', 'old', '2026-01-01T00:00:00Z'),
                    ('case_u_1', 'escalated', 'ana', 'old', '2026-01-02T00:00:00Z');
             INSERT INTO case_opened VALUES ('a', '2026-01-01T00:00:00Z'),
                                            ('b', '2026-01-01T00:00:00Z');",
        )
        .unwrap();
        drop(old);
        let mut store = ReviewStore::open(&path).unwrap();
        let opened = store
            .open_cases(["a", "c"], "2026-11-23T10:00:00Z")
            .unwrap();
        assert_eq!(opened["a"], "2026-01-01T00:00:00Z");
        let before = dump(&store.conn);
        for sql in REWRITES {
            let err = store.conn.execute(sql, []).expect_err(sql).to_string();
            assert!(err.contains("append-only"), "{sql}: {err}");
            assert_eq!(dump(&store.conn), before, "{sql}");
        }
    }

    #[test]
    fn validates_forms() {
        assert!(form("confirmed_abuse", "ana", "").problems().is_empty());
        let problems = form("lol", " ", &"x".repeat(MAX_NOTES + 1)).problems();
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(problems[0].starts_with("disposition must be one of"));
    }

    /// Control characters are refused with the field and the character
    /// named, except line breaks and tabs in the notes. Issue 10, item 22.
    #[test]
    fn control_characters_are_refused() {
        let kept = form("escalated", "ana", "one\r\ntwo\n\tthree");
        assert!(kept.problems().is_empty(), "{:?}", kept.problems());
        for (reviewer, notes, problem) in [
            (
                "ana",
                "\u{1b}[2J",
                "notes contain a control character (U+001B)",
            ),
            ("ana", "a\0b", "notes contain a control character (U+0000)"),
            (
                "ana",
                "a\u{85}b",
                "notes contain a control character (U+0085)",
            ),
            (
                "an\u{7}a",
                "",
                "reviewer contains a control character (U+0007)",
            ),
            (
                "ana\r\nbo",
                "",
                "reviewer contains a control character (U+000D)",
            ),
            (
                "ana\tbo",
                "",
                "reviewer contains a control character (U+0009)",
            ),
        ] {
            let problems = form("escalated", reviewer, notes).problems();
            assert_eq!(problems.len(), 1, "{problems:?}");
            assert!(problems[0].starts_with(problem), "{problems:?}");
        }
    }
}
