//! `dedup`: mark review-queue rows that repeat content already in the queue.
//!
//! dedup_key is the blake3 hex of the normalized recent_prompts (`text.rs`;
//! empty when the row has none); is_dup = 1 for every row after the first, in
//! queue order, with the same (day, dedup_key). As the SPEC words it, the
//! empty key is a key like any other: of a day's rows without prompts, only
//! the first is kept for clustering (they have no text to cluster anyway);
//! enforcement still sees every row.
//!
//! Rows keep their queue order. The queue is at most `queue.max_rows` rows,
//! so it is read whole.

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
        .map(|(day, key)| !seen.insert((day, key)))
        .collect()
}

impl Builtin for Dedup {
    fn name(&self) -> &'static str {
        "dedup"
    }

    fn version(&self) -> &'static str {
        "2"
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

    /// Later rows with the same (day, key) are duplicates, the empty key included; other days are not.
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
            [false, false, true, false, false, true]
        );
        assert_eq!(dedup_key("  "), "");
    }

    /// The stage on a hand-made queue: keys, duplicates and queue order kept.
    #[test]
    fn dedups_a_queue_file() {
        let dir = tempfile::tempdir().unwrap();
        let queue = dir.path().join("review_queue.csv");
        std::fs::write(
            &queue,
            "day,user_id,recent_prompts\n\
             d1,u_3,Buy followers | cheap\n\
             d1,u_1,buy  FOLLOWERS | cheap!\n\
             d1,u_2,buy followers | cheap\n\
             d2,u_1,buy followers | cheap\n\
             d2,u_4,\n\
             d2,u_5,\n",
        )
        .unwrap();
        let out = tempfile::tempdir().unwrap();
        let ctx = StageContext {
            stage: "dedup".into(),
            root: dir.path().to_path_buf(),
            params: StageParams::default(),
            deps: vec![queue],
            wanted: vec![],
            out_dir: out.path().to_path_buf(),
        };
        Dedup.run(&ctx).unwrap();
        let text = std::fs::read_to_string(out.path().join("review_queue_dedup.csv")).unwrap();
        let key = blake3::hash(b"buy followers cheap").to_hex().to_string();
        let key2 = blake3::hash(b"buy followers cheap!").to_hex().to_string();
        assert_eq!(
            text,
            format!(
                "day,user_id,recent_prompts,dedup_key,is_dup\n\
                 d1,u_3,Buy followers | cheap,{key},0\n\
                 d1,u_1,buy  FOLLOWERS | cheap!,{key2},0\n\
                 d1,u_2,buy followers | cheap,{key},1\n\
                 d2,u_1,buy followers | cheap,{key},0\n\
                 d2,u_4,,,0\n\
                 d2,u_5,,,1\n"
            )
        );
    }
}
