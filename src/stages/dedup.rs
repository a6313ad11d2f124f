//! `dedup`: mark review-queue rows that repeat content already in the queue.
//!
//! dedup_key is the blake3 hex of the normalized recent_prompts (empty when
//! the row has none); is_dup = 1 for every row after the first, in queue
//! order, with the same (day, dedup_key). Rows without prompts are never
//! duplicates of each other: having no text is not a shared text.

use std::collections::HashSet;

use super::table::{write_csv, Table};
use super::text::normalize;
use crate::execute::{Builtin, ParamProblem, StageContext, StageParams};
use crate::StageResult;

pub struct Dedup;

/// The dedup key of a recent_prompts value.
pub fn dedup_key(recent_prompts: &str) -> String {
    let normalized = normalize(recent_prompts);
    if normalized.is_empty() {
        String::new()
    } else {
        blake3::hash(normalized.as_bytes()).to_hex().to_string()
    }
}

/// is_dup for (day, key) pairs in queue order.
pub fn mark_duplicates<'a>(rows: impl IntoIterator<Item = (&'a str, &'a str)>) -> Vec<bool> {
    let mut seen = HashSet::new();
    rows.into_iter()
        .map(|(day, key)| !key.is_empty() && !seen.insert((day, key)))
        .collect()
}

impl Builtin for Dedup {
    fn name(&self) -> &'static str {
        "dedup"
    }

    fn version(&self) -> &'static str {
        "1"
    }

    fn outs(&self) -> &'static [&'static str] {
        &["review_queue_dedup.csv"]
    }

    fn validate(&self, _: &StageParams) -> Result<(), ParamProblem> {
        Ok(())
    }

    fn run(&self, ctx: &StageContext) -> StageResult<()> {
        let queue = Table::read(&ctx.dep("review_queue.csv")?)?;
        let (day, prompts) = (queue.col("day")?, queue.col("recent_prompts")?);
        let keys: Vec<String> = queue.rows.iter().map(|r| dedup_key(&r[prompts])).collect();
        let dups = mark_duplicates(
            queue
                .rows
                .iter()
                .zip(&keys)
                .map(|(r, k)| (r[day].as_str(), k.as_str())),
        );
        let mut header: Vec<&str> = queue.header.iter().map(String::as_str).collect();
        header.extend(["dedup_key", "is_dup"]);
        write_csv(
            &ctx.out("review_queue_dedup.csv"),
            &header,
            queue
                .rows
                .iter()
                .zip(keys)
                .zip(dups)
                .map(|((row, key), dup)| {
                    let mut out = row.clone();
                    out.push(key);
                    out.push((dup as u8).to_string());
                    out
                }),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Later rows with the same (day, key) are duplicates; other days and empty keys are not.
    #[test]
    fn marks_known_duplicates() {
        let a = dedup_key("Buy NOW | buy now");
        assert_eq!(a, dedup_key("  buy now | BUY now "));
        let rows = [
            ("d1", a.as_str()),
            ("d1", "k2"),
            ("d1", a.as_str()),
            ("d2", a.as_str()),
            ("d1", ""),
            ("d1", ""),
        ];
        assert_eq!(
            mark_duplicates(rows),
            [false, false, true, false, false, false]
        );
        assert_eq!(dedup_key("  "), "");
    }
}
