//! The review store: analysts' dispositions, in their own SQLite database.
//!
//! It lives outside everything a build writes or `gc` removes, and is keyed by
//! the stable case ids of `cases.csv`, so rebuilds never touch it. Both tables
//! are append-only: the latest review of a case is its current state, every
//! earlier one stays as the audit trail, and a case's opening time (its SLA
//! start) is written once. The triggers that enforce this live in the database
//! itself, so they hold for a raw `sqlite3 reviews.db` session too.

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use std::collections::{HashMap, HashSet};
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
    reviewed_at TEXT NOT NULL,  -- ISO-8601 UTC, the wall clock when saved
    -- What was reviewed: the hash of the case's row and of the build's state
    -- file ('' in reviews saved before tnsflow recorded them).
    case_hash   TEXT NOT NULL DEFAULT '',
    build_hash  TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS reviews_case ON reviews (case_id, review_id);
-- When the workbench first showed a case: the start of its review SLA.
CREATE TABLE IF NOT EXISTS case_opened (
    case_id   TEXT PRIMARY KEY,
    opened_at TEXT NOT NULL
);
-- Claims, releases and handoffs: who holds a case. The latest row of a case
-- is its current state; every row stays, as the audit trail.
CREATE TABLE IF NOT EXISTS assignments (
    assignment_id INTEGER PRIMARY KEY AUTOINCREMENT,
    case_id  TEXT NOT NULL,
    action   TEXT NOT NULL,   -- claim, release or handoff
    actor    TEXT NOT NULL,   -- who did it
    assignee TEXT NOT NULL,   -- who holds the case afterwards ('' = nobody)
    team     TEXT NOT NULL,   -- the routing label it was handed to ('' = its own)
    note     TEXT NOT NULL,
    at       TEXT NOT NULL,   -- ISO-8601 UTC, the wall clock when saved
    -- The highest review_id when it was saved: its place among the
    -- decisions (the clock has seconds, a trail needs an order).
    reviews_before INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS assignments_case ON assignments (case_id, assignment_id);
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
/// (table, its key column, the condition that says NEW's key is taken).
const APPEND_ONLY_TABLES: [(&str, &str, &str); 3] = [
    ("reviews", "review_id", "review_id = NEW.review_id"),
    (
        "assignments",
        "assignment_id",
        "assignment_id = NEW.assignment_id",
    ),
    (
        "case_opened",
        "rowid",
        "case_id = NEW.case_id OR rowid = NEW.rowid",
    ),
];

/// The four triggers of each append-only table (created on every open, so
/// stores made by older versions get them too).
fn append_only_triggers() -> String {
    let mut sql = String::new();
    for (table, id, taken) in APPEND_ONLY_TABLES {
        let key = if id == "rowid" { "case_id" } else { id };
        sql.push_str(&format!(
            "CREATE TRIGGER IF NOT EXISTS {table}_no_update BEFORE UPDATE ON {table}
BEGIN SELECT RAISE(ABORT, '{table} {are} append-only'); END;
CREATE TRIGGER IF NOT EXISTS {table}_no_delete BEFORE DELETE ON {table}
BEGIN SELECT RAISE(ABORT, '{table} {are} append-only'); END;
CREATE TRIGGER IF NOT EXISTS {table}_no_replace BEFORE INSERT ON {table}
WHEN EXISTS (SELECT 1 FROM {table} WHERE {taken})
BEGIN SELECT RAISE(ABORT, '{table} {are} append-only: this {key} is taken'); END;
CREATE TRIGGER IF NOT EXISTS {table}_positive_{id} AFTER INSERT ON {table}
WHEN NEW.{id} < 1
BEGIN SELECT RAISE(ABORT, '{table} {are} append-only: {id} must be 1 or more'); END;
",
            are = if table.ends_with('s') { "are" } else { "is" },
        ));
    }
    sql
}

/// One saved review.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Review {
    pub review_id: i64,
    pub case_id: String,
    pub disposition: String,
    pub reviewer: String,
    pub notes: String,
    pub reviewed_at: String,
    /// The hash of the case row it was made against ('' if unknown).
    pub case_hash: String,
    /// The build it was made in (a hash of its state file; '' if unknown).
    pub build_hash: String,
}

impl Review {
    /// Whether the case's current row differs from the one reviewed. A
    /// review saved before rows were hashed is taken as current.
    pub fn evidence_changed(&self, row_hash: &str) -> bool {
        !self.case_hash.is_empty() && self.case_hash != row_hash
    }
}

/// What a review is made against: the case row and the build.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Evidence {
    pub case_hash: String,
    pub build_hash: String,
}

const REVIEW_COLUMNS: &str =
    "review_id, case_id, disposition, reviewer, notes, reviewed_at, case_hash, build_hash";

/// Adds the evidence columns to a store made before they existed, in one
/// immediate transaction (two workbenches opening it at once add them once).
fn add_evidence_columns(conn: &mut Connection) -> rusqlite::Result<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let columns: HashSet<String> = {
        let mut stmt = tx.prepare("SELECT name FROM pragma_table_info('reviews')")?;
        let rows = stmt.query_map([], |r| r.get(0))?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    for column in ["case_hash", "build_hash"] {
        if !columns.contains(column) {
            tx.execute_batch(&format!(
                "ALTER TABLE reviews ADD COLUMN {column} TEXT NOT NULL DEFAULT ''"
            ))?;
        }
    }
    tx.commit()
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
        problems.extend(name_problems("reviewer", &self.reviewer));
        problems.extend(notes_problems(&self.notes));
        problems
    }
}

/// The problems of a person's name given as `field` (a reviewer, a handoff's
/// recipient): required, one line of plain text, at most [`MAX_REVIEWER`].
pub fn name_problems(field: &str, name: &str) -> Vec<String> {
    let mut problems = Vec::new();
    let trimmed = name.trim();
    if trimmed.is_empty() {
        problems.push(format!("{field} is required"));
    } else if trimmed.chars().count() > MAX_REVIEWER {
        problems.push(format!("{field} is longer than {MAX_REVIEWER} characters"));
    }
    // A name is one line: no control character at all.
    if let Some(c) = name.chars().find(|c| c.is_control()) {
        problems.push(format!(
            "{field} contains a control character ({}); a {field} is one line of plain text",
            code_point(c)
        ));
    }
    problems
}

/// The problems of notes: at most [`MAX_NOTES`], no control character but
/// line breaks and tabs.
pub fn notes_problems(notes: &str) -> Vec<String> {
    let mut problems = Vec::new();
    if notes.chars().count() > MAX_NOTES {
        problems.push(format!("notes are longer than {MAX_NOTES} characters"));
    }
    // Line breaks (a textarea sends CRLF) and tabs are text; the rest
    // (escape sequences, NUL, bells) would reach terminals and exports.
    if let Some(c) = notes
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
        let mut conn = Connection::open(path)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.execute_batch("PRAGMA journal_mode = WAL;")?;
        conn.execute_batch(SCHEMA)?;
        add_evidence_columns(&mut conn)?;
        conn.execute_batch(&append_only_triggers())?;
        Ok(ReviewStore { conn })
    }

    /// The store's file.
    pub fn path(&self) -> &str {
        self.conn.path().unwrap_or("the review store")
    }

    /// Appends a validated review, made against `evidence`; returns its id.
    pub fn record(
        &self,
        case_id: &str,
        form: &ReviewForm,
        now: &str,
        evidence: &Evidence,
    ) -> rusqlite::Result<i64> {
        self.conn.execute(
            "INSERT INTO reviews
             (case_id, disposition, reviewer, notes, reviewed_at, case_hash, build_hash)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                case_id,
                form.disposition,
                form.reviewer.trim(),
                form.notes.trim(),
                now,
                evidence.case_hash,
                evidence.build_hash
            ],
        )?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Every review of a case, oldest first.
    pub fn history(&self, case_id: &str) -> rusqlite::Result<Vec<Review>> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {REVIEW_COLUMNS} FROM reviews WHERE case_id = ?1 ORDER BY review_id"
        ))?;
        let rows = stmt.query_map([case_id], review_from_row)?;
        rows.collect()
    }

    /// The latest review of every reviewed case.
    pub fn latest(&self) -> rusqlite::Result<HashMap<String, Review>> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {REVIEW_COLUMNS} FROM reviews
             WHERE review_id IN (SELECT MAX(review_id) FROM reviews GROUP BY case_id)"
        ))?;
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

/// Who holds a case now: the latest row of its assignments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holding {
    /// The reviewer holding it; empty when released or handed to a team.
    pub assignee: String,
    /// The routing label it was handed to; empty for the rule's own.
    pub team: String,
    /// When that row was saved (the claim time, for a claim).
    pub since: String,
}

/// One row of the assignments table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    pub assignment_id: i64,
    pub case_id: String,
    pub action: String,
    pub actor: String,
    pub assignee: String,
    pub team: String,
    pub note: String,
    pub at: String,
    pub reviews_before: i64,
}

/// Why a claim, release or handoff was not saved.
#[derive(Debug)]
pub enum Refused {
    /// Another reviewer holds the case.
    HeldBy(Holding),
    /// A release of a case nobody holds.
    NotHeld,
    Db(rusqlite::Error),
}

impl From<rusqlite::Error> for Refused {
    fn from(e: rusqlite::Error) -> Refused {
        Refused::Db(e)
    }
}

/// One entry of the audit trail: a decision (a review) or an assignment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditEntry {
    Decision(Review),
    Assignment(Assignment),
}

impl AuditEntry {
    pub fn at(&self) -> &str {
        match self {
            AuditEntry::Decision(r) => &r.reviewed_at,
            AuditEntry::Assignment(a) => &a.at,
        }
    }

    /// The entry's place in the trail: a decision by its id, an assignment
    /// after the decisions saved before it, then by its own id.
    fn order(&self) -> (i64, u8, i64) {
        match self {
            AuditEntry::Decision(r) => (r.review_id, 0, 0),
            AuditEntry::Assignment(a) => (a.reviews_before, 1, a.assignment_id),
        }
    }
}

/// Merges decisions and assignments in the order they were saved.
fn merge(reviews: Vec<Review>, assignments: Vec<Assignment>) -> Vec<AuditEntry> {
    let mut entries: Vec<AuditEntry> = assignments
        .into_iter()
        .map(AuditEntry::Assignment)
        .chain(reviews.into_iter().map(AuditEntry::Decision))
        .collect();
    entries.sort_by_key(AuditEntry::order);
    entries
}

const ASSIGNMENT_COLUMNS: &str =
    "assignment_id, case_id, action, actor, assignee, team, note, at, reviews_before";

fn assignment_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Assignment> {
    Ok(Assignment {
        assignment_id: r.get(0)?,
        case_id: r.get(1)?,
        action: r.get(2)?,
        actor: r.get(3)?,
        assignee: r.get(4)?,
        team: r.get(5)?,
        note: r.get(6)?,
        at: r.get(7)?,
        reviews_before: r.get(8)?,
    })
}

/// The current holding of every case with an assignment.
fn holdings_in(conn: &Connection) -> rusqlite::Result<HashMap<String, Holding>> {
    let mut stmt = conn.prepare_cached(
        "SELECT case_id, assignee, team, at FROM assignments
         WHERE assignment_id IN (SELECT MAX(assignment_id) FROM assignments GROUP BY case_id)",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            Holding {
                assignee: r.get(1)?,
                team: r.get(2)?,
                since: r.get(3)?,
            },
        ))
    })?;
    rows.collect()
}

fn holding_of(conn: &Connection, case_id: &str) -> rusqlite::Result<Option<Holding>> {
    conn.query_row(
        "SELECT assignee, team, at FROM assignments WHERE case_id = ?1
         ORDER BY assignment_id DESC LIMIT 1",
        [case_id],
        |r| {
            Ok(Holding {
                assignee: r.get(0)?,
                team: r.get(1)?,
                since: r.get(2)?,
            })
        },
    )
    .optional()
}

#[allow(clippy::too_many_arguments)]
fn insert_assignment(
    conn: &Connection,
    case_id: &str,
    action: &str,
    actor: &str,
    assignee: &str,
    team: &str,
    note: &str,
    now: &str,
) -> rusqlite::Result<i64> {
    conn.prepare_cached(
        "INSERT INTO assignments (case_id, action, actor, assignee, team, note, at, reviews_before)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, (SELECT COALESCE(MAX(review_id), 0) FROM reviews))",
    )?
    .execute(params![case_id, action, actor, assignee, team, note, now])?;
    Ok(conn.last_insert_rowid())
}

/// Whom a handoff goes to: a reviewer, or a team's queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recipient {
    Reviewer(String),
    Team(String),
}

impl ReviewStore {
    /// Every case's current holding.
    pub fn holdings(&self) -> rusqlite::Result<HashMap<String, Holding>> {
        holdings_in(&self.conn)
    }

    /// Who holds one case now, if anyone ever did.
    pub fn holding(&self, case_id: &str) -> rusqlite::Result<Option<Holding>> {
        holding_of(&self.conn, case_id)
    }

    /// Claims the first case `pick` chooses for `reviewer`, in one
    /// `BEGIN IMMEDIATE` transaction: the holdings and reviews `pick` sees
    /// cannot change before the claim is written, by this process or any
    /// other on the same file, so two reviewers never get the same case.
    /// A case `reviewer` already holds is returned without a new row.
    pub fn claim_next(
        &mut self,
        reviewer: &str,
        now: &str,
        pick: impl FnOnce(&HashMap<String, Holding>, &HashMap<String, String>) -> Option<String>,
    ) -> rusqlite::Result<Option<String>> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let holdings = holdings_in(&tx)?;
        // Each reviewed case and the row hash its latest review was made
        // against: `pick` reopens a case whose row has changed since.
        let reviewed: HashMap<String, String> = {
            let mut stmt = tx.prepare_cached(
                "SELECT case_id, case_hash FROM reviews
                 WHERE review_id IN (SELECT MAX(review_id) FROM reviews GROUP BY case_id)",
            )?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            rows.collect::<rusqlite::Result<_>>()?
        };
        let Some(case_id) = pick(&holdings, &reviewed) else {
            return Ok(None);
        };
        match holdings.get(&case_id) {
            Some(h) if h.assignee == reviewer => {}
            Some(h) if !h.assignee.is_empty() => {
                // `pick` must skip cases held by others; never steal one.
                return Ok(None);
            }
            held => {
                let team = held.map(|h| h.team.as_str()).unwrap_or("");
                insert_assignment(&tx, &case_id, "claim", reviewer, reviewer, team, "", now)?;
            }
        }
        tx.commit()?;
        Ok(Some(case_id))
    }

    /// `reviewer` claims `case_id`, unless someone else holds it.
    pub fn claim(&mut self, case_id: &str, reviewer: &str, now: &str) -> Result<i64, Refused> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let held = holding_of(&tx, case_id)?;
        if let Some(h) = held
            .as_ref()
            .filter(|h| !h.assignee.is_empty() && h.assignee != reviewer)
        {
            return Err(Refused::HeldBy(h.clone()));
        }
        let team = held.as_ref().map(|h| h.team.as_str()).unwrap_or("");
        let id = insert_assignment(&tx, case_id, "claim", reviewer, reviewer, team, "", now)?;
        tx.commit()?;
        Ok(id)
    }

    /// The holder gives `case_id` back to its queue.
    pub fn release(
        &mut self,
        case_id: &str,
        reviewer: &str,
        note: &str,
        now: &str,
    ) -> Result<i64, Refused> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let held = holding_of(&tx, case_id)?;
        let team = match &held {
            Some(h) if h.assignee == reviewer => h.team.clone(),
            Some(h) if !h.assignee.is_empty() => return Err(Refused::HeldBy(h.clone())),
            _ => return Err(Refused::NotHeld),
        };
        let id = insert_assignment(&tx, case_id, "release", reviewer, "", &team, note, now)?;
        tx.commit()?;
        Ok(id)
    }

    /// `reviewer` hands `case_id` to another reviewer or a team's queue, with
    /// a note; refused when someone else holds it.
    pub fn handoff(
        &mut self,
        case_id: &str,
        reviewer: &str,
        to: &Recipient,
        note: &str,
        now: &str,
    ) -> Result<i64, Refused> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let held = holding_of(&tx, case_id)?;
        if let Some(h) = held
            .as_ref()
            .filter(|h| !h.assignee.is_empty() && h.assignee != reviewer)
        {
            return Err(Refused::HeldBy(h.clone()));
        }
        let kept_team = held.map(|h| h.team).unwrap_or_default();
        let (assignee, team) = match to {
            Recipient::Reviewer(name) => (name.as_str(), kept_team.as_str()),
            Recipient::Team(team) => ("", team.as_str()),
        };
        let id = insert_assignment(&tx, case_id, "handoff", reviewer, assignee, team, note, now)?;
        tx.commit()?;
        Ok(id)
    }

    /// Appends decisions on many cases in one transaction, one row each,
    /// each made against its own evidence.
    pub fn record_all(
        &mut self,
        cases: &[(String, Evidence)],
        form: &ReviewForm,
        now: &str,
    ) -> rusqlite::Result<usize> {
        let tx = self.conn.transaction()?;
        {
            let mut insert = tx.prepare_cached(
                "INSERT INTO reviews
                 (case_id, disposition, reviewer, notes, reviewed_at, case_hash, build_hash)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?;
            for (case_id, evidence) in cases {
                insert.execute(params![
                    case_id,
                    form.disposition,
                    form.reviewer.trim(),
                    form.notes.trim(),
                    now,
                    evidence.case_hash,
                    evidence.build_hash
                ])?;
            }
        }
        tx.commit()?;
        Ok(cases.len())
    }

    /// A case's audit trail: its decisions and assignments, oldest first.
    pub fn trail(&self, case_id: &str) -> rusqlite::Result<Vec<AuditEntry>> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {ASSIGNMENT_COLUMNS} FROM assignments WHERE case_id = ?1 ORDER BY assignment_id"
        ))?;
        let assignments = stmt
            .query_map([case_id], assignment_from_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(merge(self.history(case_id)?, assignments))
    }

    /// Every audit entry of every case, oldest first, handed to `each` one
    /// at a time (the export streams them: no cap, no whole copy in memory).
    /// Both tables are read in one snapshot.
    pub fn each_entry(
        &mut self,
        mut each: impl FnMut(&AuditEntry) -> std::io::Result<()>,
    ) -> rusqlite::Result<std::io::Result<()>> {
        let tx = self.conn.transaction()?;
        let mut reviews = tx.prepare(&format!(
            "SELECT {REVIEW_COLUMNS} FROM reviews ORDER BY review_id"
        ))?;
        let mut assignments = tx.prepare(&format!(
            "SELECT {ASSIGNMENT_COLUMNS} FROM assignments ORDER BY reviews_before, assignment_id"
        ))?;
        let mut r = reviews.query_map([], review_from_row)?.peekable();
        let mut a = assignments.query_map([], assignment_from_row)?.peekable();
        loop {
            // The same order as `merge`.
            let take_review = match (r.peek(), a.peek()) {
                (None, None) => break,
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (Some(Ok(rv)), Some(Ok(asg))) => rv.review_id <= asg.reviews_before,
                (Some(Err(_)), _) => true,
                (_, Some(Err(_))) => false,
            };
            let entry = if take_review {
                AuditEntry::Decision(r.next().expect("peeked")?)
            } else {
                AuditEntry::Assignment(a.next().expect("peeked")?)
            };
            if let Err(e) = each(&entry) {
                return Ok(Err(e));
            }
        }
        Ok(Ok(()))
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
        case_hash: r.get(6)?,
        build_hash: r.get(7)?,
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
            .record(
                "case_u_1",
                &f1,
                "2026-11-23T10:00:00Z",
                &Evidence::default(),
            )
            .unwrap();
        store
            .record(
                "case_u_1",
                &f2,
                "2026-11-23T11:00:00Z",
                &Evidence::default(),
            )
            .unwrap();
        store
            .record(
                "case_u_2",
                &f1,
                "2026-11-23T12:00:00Z",
                &Evidence::default(),
            )
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
            .record("case_u_1", &f, "2026-11-23T10:00:00Z", &Evidence::default())
            .unwrap();
        store
            .record("case_u_1", &f, "2026-11-23T11:00:00Z", &Evidence::default())
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
                &Evidence::default(),
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
                &Evidence::default(),
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

    /// A store made before reviews recorded their evidence gets the columns
    /// on open; its old reviews count as current (nothing to compare), new
    /// ones keep what they were made against, and reopening adds nothing.
    #[test]
    fn reviews_keep_the_evidence_they_were_made_against() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.db");
        Connection::open(&path)
            .unwrap()
            .execute_batch(
                "CREATE TABLE reviews (
                    review_id INTEGER PRIMARY KEY AUTOINCREMENT, case_id TEXT NOT NULL,
                    disposition TEXT NOT NULL, reviewer TEXT NOT NULL, notes TEXT NOT NULL,
                    reviewed_at TEXT NOT NULL);
                 INSERT INTO reviews (case_id, disposition, reviewer, notes, reviewed_at)
                 VALUES ('c1', 'escalated', 'ana', '', '2026-01-01T00:00:00Z');",
            )
            .unwrap();
        let store = ReviewStore::open(&path).unwrap();
        let old = &store.history("c1").unwrap()[0];
        assert_eq!((old.case_hash.as_str(), old.build_hash.as_str()), ("", ""));
        assert!(!old.evidence_changed("anything"));
        let evidence = Evidence {
            case_hash: "row1".into(),
            build_hash: "build1".into(),
        };
        store
            .record("c2", &form("no_violation", "bo", ""), "t", &evidence)
            .unwrap();
        drop(store);
        let store = ReviewStore::open(&path).unwrap();
        let latest = store.latest().unwrap();
        assert_eq!(latest["c2"].case_hash, "row1");
        assert_eq!(latest["c2"].build_hash, "build1");
        assert!(!latest["c2"].evidence_changed("row1"));
        assert!(latest["c2"].evidence_changed("row2"));
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

    /// Ten reviewers on ten connections to one file (as two servers on one
    /// store would be) claim five cases each at once, deciding each before
    /// the next: no case is claimed twice. Without `BEGIN IMMEDIATE` two
    /// connections read the same holdings and claim the same case (or fail
    /// to upgrade their read to a write).
    #[test]
    fn claim_next_never_hands_a_case_twice_across_connections() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.db");
        drop(ReviewStore::open(&path).unwrap());
        let cases: Vec<String> = (0..200).map(|i| format!("case_{i:03}")).collect();
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(10));
        let handed: Vec<(String, String)> = (0..10)
            .map(|t| {
                let (path, cases, barrier) = (path.clone(), cases.clone(), barrier.clone());
                std::thread::spawn(move || {
                    let mut store = ReviewStore::open(&path).unwrap();
                    let me = format!("r{t}");
                    barrier.wait();
                    let mut got = Vec::new();
                    for _ in 0..5 {
                        let case = store
                            .claim_next(&me, "2026-11-23T10:00:00Z", |holdings, reviewed| {
                                cases
                                    .iter()
                                    .find(|c| {
                                        !reviewed.contains_key(*c)
                                            && holdings.get(*c).is_none_or(|h| h.assignee == me)
                                    })
                                    .cloned()
                            })
                            .unwrap()
                            .expect("a case is left");
                        store
                            .record(
                                &case,
                                &form("no_violation", &me, ""),
                                "2026-11-23T10:00:00Z",
                                &Evidence::default(),
                            )
                            .unwrap();
                        got.push((case, me.clone()));
                    }
                    got
                })
            })
            .collect::<Vec<_>>()
            .into_iter()
            .flat_map(|t| t.join().unwrap())
            .collect();
        let distinct: HashSet<&String> = handed.iter().map(|(c, _)| c).collect();
        assert_eq!(distinct.len(), 50, "{handed:?}");
        let store = ReviewStore::open(&path).unwrap();
        let claims: i64 = store
            .conn
            .query_row(
                "SELECT COUNT(*) FROM assignments WHERE action = 'claim'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(claims, 50);
    }

    /// Claim, handoff, release: the holder changes, others are refused, and
    /// the trail interleaves assignments and decisions in the order saved,
    /// whatever their (equal) timestamps.
    #[test]
    fn claims_handoffs_and_the_trail() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = ReviewStore::open(&dir.path().join("r.db")).unwrap();
        let t = "2026-11-23T10:00:00Z";
        store.claim("c1", "ana", t).unwrap();
        assert!(
            matches!(store.claim("c1", "bo", t), Err(Refused::HeldBy(h)) if h.assignee == "ana")
        );
        assert!(matches!(
            store.release("c1", "bo", "", t),
            Err(Refused::HeldBy(_))
        ));
        store
            .record(
                "c1",
                &form("needs_more_info", "ana", ""),
                t,
                &Evidence::default(),
            )
            .unwrap();
        store
            .handoff("c1", "ana", &Recipient::Reviewer("bo".into()), "yours", t)
            .unwrap();
        assert_eq!(store.holding("c1").unwrap().unwrap().assignee, "bo");
        store
            .handoff("c1", "bo", &Recipient::Team("ban-evasion".into()), "", t)
            .unwrap();
        let h = store.holding("c1").unwrap().unwrap();
        assert_eq!((h.assignee.as_str(), h.team.as_str()), ("", "ban-evasion"));
        assert!(matches!(
            store.release("c1", "bo", "", t),
            Err(Refused::NotHeld)
        ));
        store.claim("c1", "cy", t).unwrap();
        // A claim keeps the team the case was handed to.
        assert_eq!(store.holding("c1").unwrap().unwrap().team, "ban-evasion");
        store
            .record(
                "c1",
                &form("confirmed_abuse", "cy", ""),
                t,
                &Evidence::default(),
            )
            .unwrap();
        store.release("c1", "cy", "done", t).unwrap();
        let kinds: Vec<String> = store
            .trail("c1")
            .unwrap()
            .iter()
            .map(|e| match e {
                AuditEntry::Decision(r) => r.disposition.clone(),
                AuditEntry::Assignment(a) => a.action.clone(),
            })
            .collect();
        assert_eq!(
            kinds,
            [
                "claim",
                "needs_more_info",
                "handoff",
                "handoff",
                "claim",
                "confirmed_abuse",
                "release"
            ]
        );
        let mut exported = Vec::new();
        store
            .each_entry(|e| {
                exported.push(e.clone());
                Ok(())
            })
            .unwrap()
            .unwrap();
        assert_eq!(exported, store.trail("c1").unwrap());
        for sql in [
            "UPDATE assignments SET assignee = 'mallory'",
            "DELETE FROM assignments",
            "INSERT OR REPLACE INTO assignments (assignment_id, case_id, action, actor, assignee, team, note, at, reviews_before)
             VALUES (1, 'c1', 'claim', 'm', 'm', '', '', '2020-01-01T00:00:00Z', 0)",
        ] {
            let err = store.conn.execute(sql, []).expect_err(sql).to_string();
            assert!(err.contains("append-only"), "{sql}: {err}");
        }
        assert_eq!(store.trail("c1").unwrap().len(), 7);
    }
}
