//! `review_queue`: the user-days an analyst should look at, in priority order,
//! and an audit-log template for their decisions.
//!
//! For every scored user-day (the values as `user_day_scored.csv` wrote them):
//!
//! ```text
//! raw             = 0.35 clip(n_chat/50, 0, 3) + 0.35 clip(block_rate/0.10, 0, 3)
//!                 + 0.15 clip(n_ips/3, 0, 3) + 0.15 clip(n_warned/5, 0, 3)
//! heuristic_score = raw / (the largest raw over all scored user-days + 1e-9)
//! flag_ml        = risk_score >= the threshold in model_eval.csv
//! flag_heur      = heuristic_score >= 0.75
//! flag_uncertain = uncertainty >= 0.75 and risk_score >= 0.35
//! needs_review   = any flag
//! priority       = 0.65 risk_score + 0.20 uncertainty + 0.15 clip(n_chat/50, 0, 1)
//! ```
//!
//! Dividing by the largest observed value, as the notebook and SPEC section 6
//! do, makes the top user-day score 1.0; dividing by the theoretical maximum
//! 3 instead left `flag_heur` at zero on every realistic world.
//! The queue is the rows needing review by priority, then risk, descending,
//! ties by day and user_id so the order is total; at most `queue.max_rows`.
//! recent_prompts = the last three non-empty normalized (`text.rs`) chat
//! prompts of the user-day, in time order (ts, then event_id), joined by " | ".
//!
//! The scored export is streamed once (see `read_queue`); prompts are
//! looked up per queued row through the (user_id, ts) index, so the cost is
//! linear in the user-days plus `max_rows` index probes.

use std::cmp::Ordering;

use super::csv_stream::CsvStream;
use super::table::{write_csv, Table};
use super::text::normalize;
use crate::execute::{
    open_read_only, Builtin, ParamProblem, StageContext, StageError, StageParams,
};
use crate::stages::fmt_f64;
use crate::StageResult;

pub struct ReviewQueue;

const MAX_ROWS: i64 = 2000;
const RECENT_PROMPTS: usize = 3;

/// The columns the queue adds to the scored ones.
pub const QUEUE_COLUMNS: [&str; 7] = [
    "heuristic_score",
    "flag_ml",
    "flag_heur",
    "flag_uncertain",
    "needs_review",
    "recent_prompts",
    "priority",
];

pub const AUDIT_COLUMNS: [&str; 11] = [
    "day",
    "user_id",
    "risk_score",
    "uncertainty",
    "recent_prompts",
    "review_id",
    "reviewer",
    "decision",
    "reason_code",
    "notes",
    "decision_ts",
];

fn clip(x: f64, lo: f64, hi: f64) -> f64 {
    x.clamp(lo, hi)
}

/// The heuristic before normalization: a weighted sum of clipped ratios.
pub fn heuristic_raw(n_chat: f64, block_rate: f64, n_ips: f64, n_warned: f64) -> f64 {
    0.35 * clip(n_chat / 50.0, 0.0, 3.0)
        + 0.35 * clip(block_rate / 0.10, 0.0, 3.0)
        + 0.15 * clip(n_ips / 3.0, 0.0, 3.0)
        + 0.15 * clip(n_warned / 5.0, 0.0, 3.0)
}

/// heuristic_score: the raw value over the largest raw value observed (plus
/// 1e-9, so an all-zero world divides by something).
pub fn heuristic_score(raw: f64, largest_raw: f64) -> f64 {
    raw / (largest_raw + 1e-9)
}

pub fn priority(risk: f64, uncertainty: f64, n_chat: f64) -> f64 {
    0.65 * risk + 0.20 * uncertainty + 0.15 * clip(n_chat / 50.0, 0.0, 1.0)
}

/// The flags of one row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flags {
    pub ml: bool,
    pub heuristic: bool,
    pub uncertain: bool,
}

impl Flags {
    pub fn new(risk: f64, uncertainty: f64, heuristic: f64, threshold: f64) -> Flags {
        Flags {
            ml: risk >= threshold,
            heuristic: heuristic >= 0.75,
            uncertain: uncertainty >= 0.75 && risk >= 0.35,
        }
    }

    pub fn needs_review(&self) -> bool {
        self.ml || self.heuristic || self.uncertain
    }
}

/// One scored row that needs review.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub record: csv::ByteRecord,
    pub day: String,
    pub user_id: String,
    pub risk: f64,
    pub uncertainty: f64,
    pub heuristic: f64,
    pub flags: Flags,
    pub priority: f64,
}

/// Queue order: priority, then risk, descending; then day and user ascending.
pub fn queue_order(a: &Candidate, b: &Candidate) -> Ordering {
    b.priority
        .total_cmp(&a.priority)
        .then(b.risk.total_cmp(&a.risk))
        .then_with(|| a.day.cmp(&b.day))
        .then_with(|| a.user_id.cmp(&b.user_id))
}

/// The first `max_rows` candidates in queue order, selecting before sorting
/// so a large flagged set costs linear time.
pub fn top(mut candidates: Vec<Candidate>, max_rows: usize) -> Vec<Candidate> {
    if candidates.len() > max_rows && max_rows > 0 {
        candidates.select_nth_unstable_by(max_rows - 1, queue_order);
    }
    candidates.truncate(max_rows);
    candidates.sort_unstable_by(queue_order);
    candidates
}

/// The columns of the scored export that the queue reads.
struct ScoredColumns {
    day: usize,
    user: usize,
    risk: usize,
    uncertainty: usize,
    n_chat: usize,
    block_rate: usize,
    n_ips: usize,
    n_warned: usize,
}

impl ScoredColumns {
    fn of(s: &CsvStream) -> StageResult<ScoredColumns> {
        Ok(ScoredColumns {
            day: s.col("day")?,
            user: s.col("user_id")?,
            risk: s.col("risk_score")?,
            uncertainty: s.col("uncertainty")?,
            n_chat: s.col("n_chat")?,
            block_rate: s.col("block_rate")?,
            n_ips: s.col("n_ips")?,
            n_warned: s.col("n_warned")?,
        })
    }

    fn heuristic_raw(&self, s: &CsvStream) -> StageResult<f64> {
        Ok(heuristic_raw(
            s.number(self.n_chat)?,
            s.number(self.block_rate)?,
            s.number(self.n_ips)?,
            s.number(self.n_warned)?,
        ))
    }
}

/// How many scored user-days carry each flag. The queue keeps at most
/// `queue.max_rows` of them; these count them all, for the summary.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct FlagCounts {
    pub ml: usize,
    pub heuristic: usize,
    pub uncertain: usize,
    pub needs_review: usize,
}

/// Counts the flags of every row of the scored export, with the queue's rule.
/// One pass: each row's inputs are kept (24 bytes a user-day) until the
/// largest raw heuristic is known.
pub fn flag_counts(path: &std::path::Path, threshold: f64) -> StageResult<FlagCounts> {
    let mut s = CsvStream::open(path)?;
    let c = ScoredColumns::of(&s)?;
    let mut largest = 0.0f64;
    let mut rows = Vec::new();
    while s.advance()? {
        let raw = c.heuristic_raw(&s)?;
        largest = largest.max(raw);
        rows.push((raw, s.number(c.risk)?, s.number(c.uncertainty)?));
    }
    let mut n = FlagCounts::default();
    for (raw, risk, uncertainty) in rows {
        let f = Flags::new(risk, uncertainty, heuristic_score(raw, largest), threshold);
        n.ml += usize::from(f.ml);
        n.heuristic += usize::from(f.heuristic);
        n.uncertain += usize::from(f.uncertain);
        n.needs_review += usize::from(f.needs_review());
    }
    Ok(n)
}

/// Kept candidates are compacted (see `Kept::compact`) each time their number
/// doubles, from this many.
#[cfg(not(test))]
const RECHECK_FROM: usize = 1 << 16;
#[cfg(test)]
const RECHECK_FROM: usize = 8;

/// Streams the scored export once; returns its header and the queue: the
/// first `max_rows` rows needing review, in queue order.
///
/// heuristic_score divides by the largest raw value of the whole file, known
/// only at its end. A row's score against the largest seen so far is at least
/// its final score (the divisor only grows), so a row is kept if it needs
/// review against that, and the kept rows are settled against the final
/// largest at the end: the same rows as scoring every row against it. The
/// model and uncertainty flags never change, so once `max_rows` such rows are
/// kept, a row ranking after all of them cannot be queued and is not kept:
/// memory follows the queue, not the flagged user-days (about a million at 5 M
/// events, 0.5 GB as copies).
fn read_queue(
    path: &std::path::Path,
    threshold: f64,
    max_rows: usize,
) -> StageResult<(Vec<String>, Vec<Candidate>)> {
    let (header, kept) = read_kept(path, threshold, max_rows)?;
    Ok((header, kept.into_queue()))
}

fn read_kept(
    path: &std::path::Path,
    threshold: f64,
    max_rows: usize,
) -> StageResult<(Vec<String>, Kept)> {
    let mut s = CsvStream::open(path)?;
    let c = ScoredColumns::of(&s)?;
    let mut largest = 0.0f64;
    let mut kept = Kept::new(max_rows);
    let mut compact_at = RECHECK_FROM;
    while s.advance()? {
        let raw = c.heuristic_raw(&s)?;
        largest = largest.max(raw);
        let (r, u) = (s.number(c.risk)?, s.number(c.uncertainty)?);
        let heuristic = heuristic_score(raw, largest);
        let flags = Flags::new(r, u, heuristic, threshold);
        if !flags.needs_review() {
            continue;
        }
        let priority = priority(r, u, s.number(c.n_chat)?);
        if kept.outranked(priority, r) {
            continue;
        }
        kept.rows.push((
            raw,
            Candidate {
                record: s.record().clone(),
                day: s.text(c.day)?.to_string(),
                user_id: s.text(c.user)?.to_string(),
                risk: r,
                uncertainty: u,
                heuristic,
                flags,
                priority,
            },
        ));
        if kept.rows.len() >= compact_at {
            kept.compact(largest, threshold);
            compact_at = RECHECK_FROM.max(2 * kept.rows.len());
        }
    }
    kept.compact(largest, threshold);
    Ok((s.header().to_vec(), kept))
}

/// The rows that may still make the queue, each with its raw heuristic.
struct Kept {
    rows: Vec<(f64, Candidate)>,
    max_rows: usize,
    /// The `max_rows`-th best row flagged by the model or as uncertain, once
    /// there are that many: such a row stays flagged, so nothing ranking
    /// after it can be queued.
    cutoff: Option<Candidate>,
    /// The most rows held at once.
    most: usize,
}

impl Kept {
    fn new(max_rows: usize) -> Kept {
        Kept {
            rows: Vec::new(),
            max_rows,
            cutoff: None,
            most: 0,
        }
    }

    /// The queue: the best `max_rows` rows, in order. Call after the last `compact`.
    fn into_queue(self) -> Vec<Candidate> {
        let max_rows = self.max_rows;
        top(self.rows.into_iter().map(|(_, c)| c).collect(), max_rows)
    }

    /// Whether a row with this priority and risk ranks after the cutoff
    /// (a tie on both is kept: day and user_id decide it later).
    fn outranked(&self, priority: f64, risk: f64) -> bool {
        if self.max_rows == 0 {
            return true;
        }
        self.cutoff.as_ref().is_some_and(|cut| {
            priority
                .total_cmp(&cut.priority)
                .then(risk.total_cmp(&cut.risk))
                .is_lt()
        })
    }

    /// Settles every row against `largest`, drops those no longer flagged,
    /// keeps the best `max_rows` of the rows whose flags cannot change, and
    /// drops the rest that rank after them.
    fn compact(&mut self, largest: f64, threshold: f64) {
        self.most = self.most.max(self.rows.len());
        self.rows
            .retain_mut(|(raw, c)| c.settle(*raw, largest, threshold));
        let (mut fixed, open): (Vec<_>, Vec<_>) = self
            .rows
            .drain(..)
            .partition(|(_, c)| c.flags.ml || c.flags.uncertain);
        if fixed.len() >= self.max_rows && self.max_rows > 0 {
            fixed.select_nth_unstable_by(self.max_rows - 1, |a, b| queue_order(&a.1, &b.1));
            fixed.truncate(self.max_rows);
            self.cutoff = Some(fixed[self.max_rows - 1].1.clone());
        }
        let cutoff = self.cutoff.as_ref();
        self.rows = fixed;
        self.rows.extend(
            open.into_iter()
                .filter(|(_, c)| cutoff.is_none_or(|cut| queue_order(c, cut).is_lt())),
        );
    }
}

impl Candidate {
    /// Scores the heuristic against `largest`; whether the row still needs review.
    fn settle(&mut self, raw: f64, largest: f64, threshold: f64) -> bool {
        self.heuristic = heuristic_score(raw, largest);
        self.flags = Flags::new(self.risk, self.uncertainty, self.heuristic, threshold);
        self.flags.needs_review()
    }
}

/// The last three non-empty normalized prompts, in time order, joined by " | ".
pub fn recent_prompts<'a>(prompts: impl IntoIterator<Item = &'a str>) -> String {
    let normalized: Vec<String> = prompts
        .into_iter()
        .map(normalize)
        .filter(|p| !p.is_empty())
        .collect();
    normalized[normalized.len().saturating_sub(RECENT_PROMPTS)..].join(" | ")
}

/// recent_prompts for each queued row, one indexed range query each.
fn lookup_prompts(db: &std::path::Path, queue: &[Candidate]) -> StageResult<Vec<String>> {
    let conn = open_read_only(db)?;
    // A user-day holds the events whose ts starts with the day
    // (`substr(ts, 1, 10)`, as core_user_day groups them), so whatever
    // follows the date: `T`, a space (`2026-01-01 10:00:00`), nothing. Every
    // text starting with "2026-01-01" lies in ["2026-01-01", "2026-01-02"),
    // the day with its last character one up: a range scan of the
    // (user_id, ts) index, filtered by the prefix.
    let mut stmt = conn.prepare(
        "SELECT prompt FROM raw_events
         WHERE user_id = ?1 AND ts >= ?2 AND ts < ?3 AND substr(ts, 1, 10) = ?2
           AND event_type = 'chat' AND prompt <> ''
         ORDER BY ts, event_id",
    )?;
    // A day whose last character has no successor in one char (not one
    // for the ASCII dates of any timestamp): the prefix alone, after it.
    let mut open_ended = conn.prepare(
        "SELECT prompt FROM raw_events
         WHERE user_id = ?1 AND ts >= ?2 AND substr(ts, 1, 10) = ?2
           AND event_type = 'chat' AND prompt <> ''
         ORDER BY ts, event_id",
    )?;
    queue
        .iter()
        .map(|c| {
            let get = |r: &rusqlite::Row| r.get::<_, String>(0);
            let prompts = match day_successor(&c.day) {
                Some(to) => stmt.query_map([&c.user_id, &c.day, &to], get)?,
                None => open_ended.query_map([&c.user_id, &c.day], get)?,
            }
            .collect::<Result<Vec<_>, _>>()?;
            Ok(recent_prompts(prompts.iter().map(String::as_str)))
        })
        .collect()
}

/// The smallest text above every text that starts with `day`: `day` with
/// its last character one up, when that is an ASCII character.
fn day_successor(day: &str) -> Option<String> {
    let last = day.chars().last()?;
    let next = (last.is_ascii() && last != '\x7f').then(|| (last as u8 + 1) as char)?;
    Some(format!("{}{next}", &day[..day.len() - 1]))
}

pub fn read_threshold(path: &std::path::Path) -> StageResult<f64> {
    let eval = Table::read(path)?;
    let col = eval.col("threshold")?;
    let value = eval.rows.first().map(|r| r[col].as_str()).unwrap_or("");
    value.parse().map_err(|_| {
        StageError::Failed(format!(
            "`{}`: expected a threshold in its first row, found `{value}`",
            path.display()
        ))
    })
}

fn bit(b: bool) -> &'static str {
    if b {
        "1"
    } else {
        "0"
    }
}

impl Builtin for ReviewQueue {
    fn name(&self) -> &'static str {
        "review_queue"
    }

    fn version(&self) -> &'static str {
        // 4: recent_prompts of a day whose ts has no `T` after the date
        //    (`2026-01-01 10:00:00`); the same bytes for ISO-8601 data.
        "4"
    }

    fn outs(&self) -> &'static [&'static str] {
        &["review_queue.csv", "audit_log_template.csv"]
    }

    fn validate(&self, params: &StageParams) -> Result<(), ParamProblem> {
        params
            .int("queue.max_rows", MAX_ROWS, 0..=i64::MAX)
            .map(|_| ())
    }

    fn run(&self, ctx: &StageContext) -> StageResult<()> {
        let max_rows = ctx.params.int("queue.max_rows", MAX_ROWS, 0..=i64::MAX)?;
        let max_rows = usize::try_from(max_rows).unwrap_or(usize::MAX);
        let threshold = read_threshold(&ctx.dep("model_eval.csv")?)?;
        let (header, queue) = read_queue(&ctx.dep("user_day_scored.csv")?, threshold, max_rows)?;
        let prompts = lookup_prompts(&ctx.dep("sqlite.db")?, &queue)?;

        let mut columns: Vec<&str> = header.iter().map(String::as_str).collect();
        columns.extend(QUEUE_COLUMNS);
        write_csv(
            &ctx.out("review_queue.csv"),
            &columns,
            queue.iter().zip(&prompts).map(|(c, prompts)| {
                let mut out: Vec<Vec<u8>> = c.record.iter().map(<[u8]>::to_vec).collect();
                out.extend(
                    [
                        fmt_f64(c.heuristic),
                        bit(c.flags.ml).into(),
                        bit(c.flags.heuristic).into(),
                        bit(c.flags.uncertain).into(),
                        "1".into(),
                        prompts.clone(),
                        fmt_f64(c.priority),
                    ]
                    .map(String::into_bytes),
                );
                out
            }),
        )?;
        write_csv(
            &ctx.out("audit_log_template.csv"),
            &AUDIT_COLUMNS,
            queue
                .iter()
                .zip(&prompts)
                .enumerate()
                .map(|(k, (c, prompts))| {
                    let mut row = vec![
                        c.day.clone(),
                        c.user_id.clone(),
                        fmt_f64(c.risk),
                        fmt_f64(c.uncertainty),
                        prompts.clone(),
                        format!("rev_{k:06}"),
                    ];
                    // reviewer, decision, reason_code, notes, decision_ts: for the reviewer.
                    row.resize(AUDIT_COLUMNS.len(), String::new());
                    row
                }),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidate(day: &str, user: &str, risk: f64, priority: f64) -> Candidate {
        Candidate {
            record: csv::ByteRecord::from(vec![day, user]),
            day: day.into(),
            user_id: user.into(),
            risk,
            uncertainty: 0.0,
            heuristic: 0.0,
            flags: Flags::new(risk, 0.0, 0.0, 0.5),
            priority,
        }
    }

    /// The raw heuristic is clipped per term; the score divides it by the
    /// largest observed raw value plus 1e-9.
    #[test]
    fn heuristic_by_hand() {
        assert_eq!(heuristic_raw(0.0, 0.0, 0.0, 0.0), 0.0);
        assert!((heuristic_raw(1000.0, 1.0, 100.0, 100.0) - 3.0).abs() < 1e-12);
        // 0.35 * 1 + 0.35 * 1 + 0.15 * (1/3) + 0.15 * 0.2 = 0.78.
        assert!((heuristic_raw(50.0, 0.1, 1.0, 1.0) - 0.78).abs() < 1e-12);
        // 0.35 * 3 (clipped) + 0.35 * 2 + 0.15 * 1 + 0.15 * 3 (clipped) = 2.35.
        assert!((heuristic_raw(400.0, 0.2, 3.0, 40.0) - 2.35).abs() < 1e-12);
        assert!((heuristic_score(0.78, 0.78) - 1.0).abs() < 1e-8);
        assert!((heuristic_score(0.39, 0.78) - 0.5).abs() < 1e-8);
        assert_eq!(heuristic_score(0.0, 0.0), 0.0);
    }

    /// Each flag at its boundary; priority by its formula.
    #[test]
    fn flags_and_priority() {
        let f = |r, u, h, t| {
            let f = Flags::new(r, u, h, t);
            (f.ml, f.heuristic, f.uncertain)
        };
        assert_eq!(f(0.5, 0.1, 0.1, 0.5), (true, false, false));
        assert_eq!(f(0.49, 0.1, 0.75, 0.5), (false, true, false));
        assert_eq!(f(0.35, 0.75, 0.0, 0.9), (false, false, true));
        assert_eq!(f(0.34, 0.9, 0.0, 0.9), (false, false, false));
        assert_eq!(f(0.6, 0.74, 0.0, 0.9), (false, false, false));
        assert!(!Flags::new(0.1, 0.2, 0.74, 0.5).needs_review());
        // 0.65 + 0 + 0.15 (n_chat clipped at 1).
        assert!((priority(1.0, 0.0, 100.0) - 0.8).abs() < 1e-12);
        // 0.65 * 0.5 + 0.2 * 1 + 0.15 * 0.5 = 0.6.
        assert!((priority(0.5, 1.0, 25.0) - 0.6).abs() < 1e-12);
    }

    /// Priority, then risk, descending; ties by day and user; capped.
    #[test]
    fn queue_order_and_cap() {
        let rows = vec![
            candidate("d2", "u_b", 0.7, 0.5),
            candidate("d1", "u_a", 0.6, 0.9),
            candidate("d2", "u_a", 0.7, 0.5),
            candidate("d1", "u_c", 0.8, 0.5),
            candidate("d1", "u_z", 0.7, 0.5),
        ];
        let keys = |q: &[Candidate]| -> Vec<String> {
            q.iter()
                .map(|c| format!("{}/{}", c.day, c.user_id))
                .collect()
        };
        let all = top(rows.clone(), 10);
        assert_eq!(
            keys(&all),
            ["d1/u_a", "d1/u_c", "d1/u_z", "d2/u_a", "d2/u_b"]
        );
        assert_eq!(keys(&top(rows.clone(), 3)), ["d1/u_a", "d1/u_c", "d1/u_z"]);
        assert!(top(rows, 0).is_empty());
    }

    /// The last three non-empty normalized prompts, oldest first.
    #[test]
    fn recent_prompts_keep_the_last_three() {
        let prompts = ["First!", "  ", "Second  one", "$$$", "THIRD", "fourth?"];
        assert_eq!(recent_prompts(prompts), "second one | third | fourth?");
        assert_eq!(recent_prompts(["only"]), "only");
        assert_eq!(recent_prompts([]), "");
    }

    /// A world whose busiest user-day is far from the theoretical maximum 3
    /// still has heuristic flags: the top user-day scores 1 and one at 80% of
    /// it scores 0.8 (dividing by 3 gave 0.33 and 0.27, and no flag).
    #[test]
    fn heuristic_flag_fires_relative_to_the_largest_day() {
        let dir = tempfile::tempdir().unwrap();
        let path = |n: &str| dir.path().join(n);
        // Raw values: u_1 0.35*2 + 0.35*1 = 1.05 (the largest); u_2 0.84;
        // u_3 0.35*0.2 = 0.07.
        std::fs::write(
            path("user_day_scored.csv"),
            "day,user_id,n_chat,block_rate,n_ips,n_warned,risk_score,uncertainty\n\
             2026-01-01,u_1,100,0.1,0,0,0.1,0.2\n\
             2026-01-01,u_2,70,0.1,0,0,0.1,0.2\n\
             2026-01-01,u_3,10,0,0,0,0.1,0.2\n",
        )
        .unwrap();
        let threshold = 0.9;
        let (_, queue) = read_queue(&path("user_day_scored.csv"), threshold, usize::MAX).unwrap();
        let flagged: Vec<(&str, String, bool)> = queue
            .iter()
            .map(|c| (&*c.user_id, fmt_f64(c.heuristic), c.flags.heuristic))
            .collect();
        assert_eq!(
            flagged,
            [("u_1", "1".into(), true), ("u_2", "0.8".into(), true)]
        );
    }

    /// Rows whose heuristic rises through the file (the worst order for the
    /// one-pass read: every early row looks flagged against the largest value
    /// so far) give exactly the rows the rule gives against the final largest,
    /// and the counts agree.
    #[test]
    fn one_pass_keeps_exactly_the_flagged_rows() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("user_day_scored.csv");
        let mut csv =
            String::from("day,user_id,n_chat,block_rate,n_ips,n_warned,risk_score,uncertainty\n");
        // n_chat rises to 200 (raw 1.05 from 150 on), falls, rises again; a
        // few rows are flagged by the model or as uncertain instead.
        let chats = (0..200).chain((0..100).rev()).chain(0..160);
        let mut expected = Vec::new();
        for (i, n_chat) in chats.enumerate() {
            let risk = if i % 37 == 0 { 0.95 } else { 0.1 };
            let uncertainty = if i % 53 == 0 { 0.8 } else { 0.2 };
            let risk = if i % 53 == 0 { 0.4 } else { risk };
            csv += &format!("d,u_{i:04},{n_chat},0,0,0,{risk},{uncertainty}\n");
            let h = heuristic_score(heuristic_raw(n_chat as f64, 0.0, 0.0, 0.0), 1.05);
            if Flags::new(risk, uncertainty, h, 0.9).needs_review() {
                expected.push(format!("u_{i:04}"));
            }
        }
        std::fs::write(&path, csv).unwrap();
        let (_, kept) = read_queue(&path, 0.9, usize::MAX).unwrap();
        let mut users: Vec<&str> = kept.iter().map(|c| c.user_id.as_str()).collect();
        users.sort_unstable();
        assert_eq!(users, expected);
        assert!(expected.len() > 3 * RECHECK_FROM, "the re-check runs");
        let counts = flag_counts(&path, 0.9).unwrap();
        assert_eq!(counts.needs_review, expected.len());
        assert_eq!(
            counts.heuristic,
            kept.iter().filter(|c| c.flags.heuristic).count()
        );
    }

    /// A short queue from many flagged rows holds about the queue in memory,
    /// not every flagged row, and is the queue that ranking every row against
    /// the final largest heuristic gives, for every queue length.
    #[test]
    fn a_short_queue_keeps_few_rows_and_the_same_queue() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("user_day_scored.csv");
        let mut csv =
            String::from("day,user_id,n_chat,block_rate,n_ips,n_warned,risk_score,uncertainty\n");
        let mut rows = Vec::new();
        let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(7);
        let mut next = || rand::Rng::random::<f64>(&mut rng);
        for i in 0..3000 {
            // Heuristics rise through the file; ties in risk and priority
            // (rounded values) leave day and user_id to decide.
            let n_chat = (i / 20) as f64;
            let risk = (next() * 20.0).round() / 20.0;
            let uncertainty = (next() * 10.0).round() / 10.0;
            let day = format!("2026-01-{:02}", 1 + i % 7);
            csv += &format!("{day},u_{i:04},{n_chat},0,0,0,{risk},{uncertainty}\n");
            rows.push((day, format!("u_{i:04}"), n_chat, risk, uncertainty));
        }
        std::fs::write(&path, csv).unwrap();
        let threshold = 0.5;
        let raw = |n_chat: f64| heuristic_raw(n_chat, 0.0, 0.0, 0.0);
        let largest = rows.iter().map(|r| raw(r.2)).fold(0.0, f64::max);
        let flagged: Vec<Candidate> = rows
            .iter()
            .map(|(day, user, n_chat, risk, unc)| {
                let heuristic = heuristic_score(raw(*n_chat), largest);
                Candidate {
                    record: csv::ByteRecord::new(),
                    day: day.clone(),
                    user_id: user.clone(),
                    risk: *risk,
                    uncertainty: *unc,
                    heuristic,
                    flags: Flags::new(*risk, *unc, heuristic, threshold),
                    priority: priority(*risk, *unc, *n_chat),
                }
            })
            .filter(|c| c.flags.needs_review())
            .collect();
        assert!(flagged.len() > 1000, "{} flagged", flagged.len());
        let summary = |queue: &[Candidate]| -> Vec<String> {
            queue
                .iter()
                .map(|c| {
                    format!(
                        "{} {} {:?} {}",
                        c.user_id,
                        fmt_f64(c.heuristic),
                        c.flags,
                        fmt_f64(c.priority)
                    )
                })
                .collect()
        };
        for max_rows in [0, 1, 5, 37, 500, usize::MAX] {
            let (_, kept) = read_kept(&path, threshold, max_rows).unwrap();
            let most = kept.most;
            let queue = kept.into_queue();
            assert_eq!(
                summary(&queue),
                summary(&top(flagged.clone(), max_rows)),
                "max_rows {max_rows}"
            );
            if max_rows <= 37 {
                assert!(
                    most <= 4 * RECHECK_FROM + 2 * max_rows,
                    "max_rows {max_rows}: held {most} rows"
                );
            }
        }
    }

    /// A user-day's prompts are those of every event whose ts starts with
    /// the day, as core_user_day groups them, whatever follows the date (a
    /// space, an offset, nothing); the old lookup took only `dayT...` and
    /// queued such a day with none of its prompts.
    #[test]
    fn prompts_of_a_day_whatever_follows_the_date() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("sqlite.db");
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.execute_batch(
            "CREATE TABLE raw_events (event_id TEXT, ts TEXT, user_id TEXT, event_type TEXT, prompt TEXT);
             INSERT INTO raw_events VALUES
               ('e1', '2026-01-01 08:00:00', 'u_1', 'chat', 'first'),
               ('e2', '2026-01-01', 'u_1', 'chat', 'date only'),
               ('e3', '2026-01-01T09:00:00+02:00', 'u_1', 'chat', 'offset'),
               ('e4', '2026-01-01T10:00:00Z', 'u_1', 'chat', 'zulu'),
               ('e5', '2026-01-02 00:00:00', 'u_1', 'chat', 'next day'),
               ('e6', '2025-12-31 23:59:59', 'u_1', 'chat', 'day before'),
               ('e7', '2026-01-01 07:00:00', 'u_2', 'chat', 'other user'),
               ('e8', 'éééé-01-0éx', 'u_1', 'chat', 'odd day');",
        )
        .unwrap();
        drop(conn);
        let queue = [
            candidate("2026-01-01", "u_1", 0.9, 0.9),
            candidate("éééé-01-0é", "u_1", 0.9, 0.9),
        ];
        let prompts = lookup_prompts(&db, &queue).unwrap();
        assert_eq!(prompts, ["first | offset | zulu", "odd day"]);
        assert_eq!(day_successor("2026-01-01").as_deref(), Some("2026-01-02"));
        assert_eq!(day_successor("2026-01-0é"), None);
    }

    /// The stage end to end on a hand-made export and database: flags, order,
    /// prompts of the right user-day only, and the audit template.
    #[test]
    fn builds_a_queue() {
        let dir = tempfile::tempdir().unwrap();
        let path = |n: &str| dir.path().join(n);
        // Three user-days: u_1 flagged by the model, u_2 by the heuristic
        // (150 chats, block_rate 0.3, 9 ips, 15 warned => 1), u_3 by nothing.
        std::fs::write(
            path("user_day_scored.csv"),
            "day,user_id,n_chat,block_rate,n_ips,n_warned,risk_score,uncertainty\n\
             2026-01-01,u_1,10,0,1,0,0.9,0.2\n\
             2026-01-01,u_2,150,0.3,9,15,0.2,0.4\n\
             2026-01-01,u_3,1,0,1,0,0.1,0.2\n",
        )
        .unwrap();
        std::fs::write(path("model_eval.csv"), "threshold,f1\n0.8,0.5\n").unwrap();
        let conn = rusqlite::Connection::open(path("sqlite.db")).unwrap();
        conn.execute_batch(
            "CREATE TABLE raw_events (event_id TEXT, ts TEXT, user_id TEXT, event_type TEXT, prompt TEXT);
             INSERT INTO raw_events VALUES
               ('e3', '2026-01-01T10:00:00Z', 'u_1', 'chat', 'Third  prompt'),
               ('e1', '2026-01-01T08:00:00Z', 'u_1', 'chat', 'first'),
               ('e2', '2026-01-01T09:00:00Z', 'u_1', 'chat', 'Second'),
               ('e4', '2026-01-01T11:00:00Z', 'u_1', 'login', ''),
               ('e5', '2026-01-01T12:00:00Z', 'u_1', 'chat', 'FOURTH!'),
               ('e6', '2026-01-02T00:00:00Z', 'u_1', 'chat', 'next day'),
               ('e7', '2025-12-31T23:59:59Z', 'u_1', 'chat', 'day before');",
        )
        .unwrap();
        drop(conn);
        let out = tempfile::tempdir().unwrap();
        let ctx = StageContext {
            stage: "review_queue".into(),
            root: dir.path().to_path_buf(),
            params: StageParams::default(),
            deps: ["user_day_scored.csv", "model_eval.csv", "sqlite.db"]
                .map(path)
                .to_vec(),
            wanted: vec![],
            out_dir: out.path().to_path_buf(),
        };
        ReviewQueue.run(&ctx).unwrap();
        let queue = std::fs::read_to_string(out.path().join("review_queue.csv")).unwrap();
        assert_eq!(
            queue,
            "day,user_id,n_chat,block_rate,n_ips,n_warned,risk_score,uncertainty,\
             heuristic_score,flag_ml,flag_heur,flag_uncertain,needs_review,recent_prompts,priority\n\
             2026-01-01,u_1,10,0,1,0,0.9,0.2,0.04,1,0,0,1,second | third prompt | fourth!,0.655\n\
             2026-01-01,u_2,150,0.3,9,15,0.2,0.4,1,0,1,0,1,,0.36\n"
        );
        let audit = std::fs::read_to_string(out.path().join("audit_log_template.csv")).unwrap();
        assert_eq!(
            audit.lines().nth(1),
            Some("2026-01-01,u_1,0.9,0.2,second | third prompt | fourth!,rev_000000,,,,,")
        );
        assert_eq!(audit.lines().count(), 3);
    }
}
