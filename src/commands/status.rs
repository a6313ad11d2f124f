//! `tnsflow status`: every stage as fresh or stale, and why.
//!
//! A stage downstream of a stale one is reported stale because of it, even
//! though early cutoff may spare it once the upstream stage has run: status
//! predicts without running anything.

use serde::Serialize;
use std::path::Path;

use super::{emit, load_plan};
use crate::cli::StatusArgs;
use crate::layout::Layout;
use crate::plan::{check, diff_reasons, Check, Plan, Reason, StatCache};
use crate::record::{BuildState, Store};
use crate::Error;

#[derive(Debug, Serialize)]
pub struct StageStatus {
    pub stage: String,
    pub state: &'static str,
    pub reasons: Vec<String>,
}

pub fn status(file: &Path, args: StatusArgs) -> Result<(), Error> {
    let (plan, layout) = load_plan(file, &args.set)?;
    let selected = if args.stages.is_empty() {
        (0..plan.stages.len()).collect()
    } else {
        plan.pipeline.select(&args.stages)?
    };
    let mask = plan.with_upstream(&selected);
    let stats = StatCache::load(&layout.stat_cache_file());
    let statuses = assess(&plan, &layout, &stats, &mask, &[])?;
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

/// Fresh or stale, with reasons, for every stage in `mask`, in topological order.
pub fn assess(
    plan: &Plan,
    layout: &Layout,
    stats: &StatCache,
    mask: &[bool],
    forced: &[usize],
) -> Result<Vec<StageStatus>, Error> {
    let root = layout.root();
    let state = BuildState::load(&layout.state_file());
    let store = Store::at(layout);
    let mut stale = vec![false; plan.stages.len()];
    let mut statuses = Vec::new();
    for &i in plan.order.iter().filter(|&&i| mask[i]) {
        let stage = &plan.stages[i];
        let last = state.get(stage.name());
        let upstream: Vec<usize> = plan.producers(i).filter(|&p| stale[p]).collect();
        let reasons: Vec<Reason> = if !upstream.is_empty() {
            let mut reasons: Vec<Reason> = upstream
                .iter()
                .map(|&p| Reason::UpstreamStale {
                    stage: plan.stages[p].name().to_string(),
                })
                .collect();
            reasons.extend(
                diff_reasons(last, &stage.declared())
                    .into_iter()
                    .filter(|r| {
                        !matches!(
                            r,
                            Reason::DepChanged { .. }
                                | Reason::DepAdded { .. }
                                | Reason::DepRemoved { .. }
                        )
                    }),
            );
            reasons
        } else if forced.contains(&i) {
            vec![Reason::Forced]
        } else {
            match stage.current(root, stats) {
                Err(problem) => vec![Reason::DepUnreadable { problem }],
                Ok(current) => match check(root, &current, last, &store, stats) {
                    Check::Fresh(_) => Vec::new(),
                    Check::Restore(_, reasons) | Check::Run(reasons) => reasons,
                },
            }
        };
        stale[i] = !reasons.is_empty();
        statuses.push(StageStatus {
            stage: stage.name().to_string(),
            state: if stale[i] { "stale" } else { "fresh" },
            reasons: reasons.iter().map(ToString::to_string).collect(),
        });
    }
    Ok(statuses)
}
