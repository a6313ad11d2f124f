//! `tnsflow status`: every stage as fresh or stale, and why (the decision
//! itself is `plan::assess`, shared with `build --dry-run`).

use std::path::Path;

use super::build::request_key;
use super::{emit, plan_for, snapshot_verdict};
use crate::cli::StatusArgs;
use crate::layout::{workspace_root, Layout};
use crate::plan::{assess, plan_cache, untouched};
use crate::record::{BuildState, StateDb, Verdict};
use crate::Error;

pub fn status(file: &Path, args: StatusArgs) -> Result<(), Error> {
    // The snapshot of the same request as `build` tells which stages an
    // edit since the last build can have reached; only those are checked.
    crate::trace::phase("started");
    let request = request_key(file, &args.set, &args.stages);
    let db = StateDb::open_existing(&Layout::new(&workspace_root(file)?).state_file())
        .map(std::sync::Arc::new);
    let (verdict, stats) = snapshot_verdict(db.as_deref(), request.as_deref());
    crate::trace::phase("snapshot checked");
    let planned = plan_for(file, &args.set, &verdict, &stats)?;
    for warning in &planned.plan.warnings {
        super::note(&format!("warning: {warning}"));
    }
    let (plan, layout) = (&planned.plan, &planned.layout);
    let selected = if args.stages.is_empty() {
        (0..plan.stages.len()).collect()
    } else {
        plan.select(&args.stages)?
    };
    let mask = plan.with_upstream(&selected);
    let settled = match &verdict {
        Verdict::UpToDate(_) => vec![true; plan.stages.len()],
        Verdict::Changed(paths) if planned.from_cache => untouched(plan, paths),
        _ => vec![false; plan.stages.len()],
    };
    super::build::trace_settled(&settled);
    let state = BuildState::load(db.clone());
    let dead = planned.dead_outs(&state, &stats);
    let statuses = assess(plan, layout, &stats, &state, &mask, &[], &settled, &dead);
    crate::trace::phase("assessed");
    // Saving lets the next command skip the hashing this one did; a workspace
    // that was never built is left untouched.
    // So does keeping a plan it had to make.
    if let Some(db) = &db {
        let _ = stats.save(db);
        if !planned.from_cache {
            plan_cache::save(&layout.plan_file(), &planned.key, plan);
        }
    }
    if args.json {
        let json = serde_json::to_string_pretty(&statuses).expect("statuses serialize");
        emit(&format!("{json}\n"));
        return Ok(());
    }
    let width = statuses.iter().map(|s| s.stage.len()).max().unwrap_or(0);
    let mut text = String::new();
    for s in &statuses {
        // Names are padded only to line up the reasons: a line without
        // reasons ends at its name (`fresh  a`, not `fresh  a   `).
        if s.reasons.is_empty() {
            text.push_str(&format!("{:<5}  {}\n", s.state, s.stage));
        } else {
            text.push_str(&format!(
                "{:<5}  {:<width$}  {}\n",
                s.state,
                s.stage,
                s.reasons.join("; ")
            ));
        }
    }
    emit(&text);
    Ok(())
}
