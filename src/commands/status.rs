//! `tnsflow status`: every stage as fresh or stale, and why (the decision
//! itself is `plan::assess`, shared with `build --dry-run`).

use std::path::Path;

use super::{emit, load_plan};
use crate::cli::StatusArgs;
use crate::plan::{assess, StatCache};
use crate::Error;

pub fn status(file: &Path, args: StatusArgs) -> Result<(), Error> {
    let (plan, layout) = load_plan(file, &args.set)?;
    let selected = if args.stages.is_empty() {
        (0..plan.stages.len()).collect()
    } else {
        plan.pipeline.select(&args.stages)?
    };
    let mask = plan.with_upstream(&selected);
    let stats = StatCache::load(&layout.stat_cache_file());
    let statuses = assess(&plan, &layout, &stats, &mask, &[]);
    // Saving lets the next command skip the hashing this one did; a workspace
    // that was never built is left untouched.
    if layout.local_dir().is_dir() {
        let _ = stats.save(&layout.stat_cache_file());
    }
    if args.json {
        let json = serde_json::to_string_pretty(&statuses).expect("statuses serialize");
        emit(&format!("{json}\n"));
        return Ok(());
    }
    let width = statuses.iter().map(|s| s.stage.len()).max().unwrap_or(0);
    let mut text = String::new();
    for s in &statuses {
        text.push_str(&format!("{:<5}  {:<width$}", s.state, s.stage));
        if !s.reasons.is_empty() {
            text.push_str("  ");
            text.push_str(&s.reasons.join("; "));
        }
        text.push('\n');
    }
    emit(&text);
    Ok(())
}
