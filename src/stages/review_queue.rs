//! `review_queue`: the user-days an analyst should look at, in priority order,
//! and an audit-log template for their decisions.
//!
//! heuristic_score = (0.35 clip(n_chat/50, 0, 3) + 0.35 clip(block_rate/0.10, 0, 3) +
//! 0.15 clip(n_ips/3, 0, 3) + 0.15 clip(n_warned/5, 0, 3)) / 3, its maximum.
//! Flags: flag_ml = risk >= the model's threshold; flag_heur = heuristic >=
//! 0.75; flag_uncertain = uncertainty >= 0.75 and risk >= 0.35; needs_review
//! = any flag. priority = 0.65 risk + 0.20 uncertainty + 0.15 clip(n_chat/50, 0, 1).
//! The queue is the rows needing review by priority then risk, descending
//! (ties by day and user), at most `queue.max_rows`. recent_prompts are the
//! last three non-empty normalized chat prompts of the user-day, in time
//! order, joined by " | ".

use super::table::{write_csv, Table};
use super::text::normalize;
use crate::execute::{open_read_only, Builtin, ParamProblem, StageContext, StageParams};
use crate::stages::fmt_f64;
use crate::StageResult;

pub struct ReviewQueue;

fn clip(x: f64, lo: f64, hi: f64) -> f64 {
    x.clamp(lo, hi)
}

pub fn heuristic_score(n_chat: f64, block_rate: f64, n_ips: f64, n_warned: f64) -> f64 {
    (0.35 * clip(n_chat / 50.0, 0.0, 3.0)
        + 0.35 * clip(block_rate / 0.10, 0.0, 3.0)
        + 0.15 * clip(n_ips / 3.0, 0.0, 3.0)
        + 0.15 * clip(n_warned / 5.0, 0.0, 3.0))
        / 3.0
}

pub fn priority(risk: f64, uncertainty: f64, n_chat: f64) -> f64 {
    0.65 * risk + 0.20 * uncertainty + 0.15 * clip(n_chat / 50.0, 0.0, 1.0)
}

/// The flags of one row: (ml, heuristic, uncertain).
pub fn flags(risk: f64, uncertainty: f64, heuristic: f64, threshold: f64) -> (bool, bool, bool) {
    (
        risk >= threshold,
        heuristic >= 0.75,
        uncertainty >= 0.75 && risk >= 0.35,
    )
}

impl Builtin for ReviewQueue {
    fn name(&self) -> &'static str {
        "review_queue"
    }

    fn version(&self) -> &'static str {
        "1"
    }

    fn outs(&self) -> &'static [&'static str] {
        &["review_queue.csv", "audit_log_template.csv"]
    }

    fn validate(&self, params: &StageParams) -> Result<(), ParamProblem> {
        params.int("queue.max_rows", 2000, 0..=i64::MAX).map(|_| ())
    }

    fn run(&self, ctx: &StageContext) -> StageResult<()> {
        let max_rows = ctx.params.int("queue.max_rows", 2000, 0..=i64::MAX)? as usize;
        let scored = Table::read(&ctx.dep("user_day_scored.csv")?)?;
        let eval = Table::read(&ctx.dep("model_eval.csv")?)?;
        let threshold = eval.floats("threshold")?.first().copied().unwrap_or(0.5);
        let (day, user) = (scored.col("day")?, scored.col("user_id")?);
        let risk = scored.floats("risk_score")?;
        let uncertainty = scored.floats("uncertainty")?;
        let n_chat = scored.floats("n_chat")?;
        let block_rate = scored.floats("block_rate")?;
        let n_ips = scored.floats("n_ips")?;
        let n_warned = scored.floats("n_warned")?;

        struct Row {
            index: usize,
            heuristic: f64,
            flags: (bool, bool, bool),
            priority: f64,
        }
        let mut queue: Vec<Row> = (0..scored.rows.len())
            .filter_map(|i| {
                let heuristic = heuristic_score(n_chat[i], block_rate[i], n_ips[i], n_warned[i]);
                let flags = flags(risk[i], uncertainty[i], heuristic, threshold);
                (flags.0 || flags.1 || flags.2).then(|| Row {
                    index: i,
                    heuristic,
                    flags,
                    priority: priority(risk[i], uncertainty[i], n_chat[i]),
                })
            })
            .collect();
        queue.sort_by(|a, b| {
            b.priority
                .total_cmp(&a.priority)
                .then(risk[b.index].total_cmp(&risk[a.index]))
                .then_with(|| scored.rows[a.index][day].cmp(&scored.rows[b.index][day]))
                .then_with(|| scored.rows[a.index][user].cmp(&scored.rows[b.index][user]))
        });
        queue.truncate(max_rows);

        // A few thousand indexed lookups beat sorting every chat of the window.
        let conn = open_read_only(&ctx.dep("sqlite.db")?)?;
        let mut stmt = conn.prepare(
            "SELECT prompt FROM raw_events
             WHERE user_id = ?1 AND ts >= ?2 AND ts < ?2 || 'T99' AND event_type = 'chat' AND prompt <> ''
             ORDER BY ts, event_id",
        )?;
        let mut prompts: Vec<Vec<String>> = Vec::with_capacity(queue.len());
        for r in &queue {
            let row = &scored.rows[r.index];
            let texts: Vec<String> = stmt
                .query_map([&row[user], &row[day]], |r| r.get::<_, String>(0))?
                .collect::<Result<Vec<_>, _>>()?
                .iter()
                .map(|p| normalize(p))
                .filter(|p| !p.is_empty())
                .collect();
            prompts.push(texts);
        }
        let recent: Vec<String> = prompts
            .iter()
            .map(|p| p[p.len().saturating_sub(3)..].join(" | "))
            .collect();

        let mut header: Vec<&str> = scored.header.iter().map(String::as_str).collect();
        header.extend([
            "heuristic_score",
            "flag_ml",
            "flag_heur",
            "flag_uncertain",
            "needs_review",
            "recent_prompts",
            "priority",
        ]);
        write_csv(
            &ctx.out("review_queue.csv"),
            &header,
            queue.iter().zip(&recent).map(|(r, prompts)| {
                let mut out = scored.rows[r.index].clone();
                let (ml, heur, unc) = r.flags;
                out.extend([
                    fmt_f64(r.heuristic),
                    (ml as u8).to_string(),
                    (heur as u8).to_string(),
                    (unc as u8).to_string(),
                    "1".to_string(),
                    prompts.clone(),
                    fmt_f64(r.priority),
                ]);
                out
            }),
        )?;
        write_csv(
            &ctx.out("audit_log_template.csv"),
            &[
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
            ],
            queue
                .iter()
                .zip(&recent)
                .enumerate()
                .map(|(k, (r, prompts))| {
                    let row = &scored.rows[r.index];
                    vec![
                        row[day].clone(),
                        row[user].clone(),
                        fmt_f64(risk[r.index]),
                        fmt_f64(uncertainty[r.index]),
                        prompts.clone(),
                        format!("rev_{k:06}"),
                        String::new(),
                        String::new(),
                        String::new(),
                        String::new(),
                        String::new(),
                    ]
                }),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The heuristic is normalized by its maximum and clipped per term.
    #[test]
    fn heuristic_by_hand() {
        assert_eq!(heuristic_score(0.0, 0.0, 0.0, 0.0), 0.0);
        assert!((heuristic_score(1000.0, 1.0, 100.0, 100.0) - 1.0).abs() < 1e-12);
        // 0.35 * 1 + 0.35 * 1 + 0.15 * (1/3) + 0.15 * 0.2 = 0.78, over 3.
        assert!((heuristic_score(50.0, 0.1, 1.0, 1.0) - 0.78 / 3.0).abs() < 1e-12);
    }

    /// Each flag at its boundary; priority by its formula.
    #[test]
    fn flags_and_priority() {
        assert_eq!(flags(0.5, 0.1, 0.1, 0.5), (true, false, false));
        assert_eq!(flags(0.49, 0.1, 0.75, 0.5), (false, true, false));
        assert_eq!(flags(0.35, 0.75, 0.0, 0.9), (false, false, true));
        assert_eq!(flags(0.34, 0.9, 0.0, 0.9), (false, false, false));
        assert!((priority(1.0, 0.0, 100.0) - 0.8).abs() < 1e-12);
    }
}
