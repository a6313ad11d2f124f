//! `assess`: every selected stage as fresh or stale, with its reasons, as the
//! disk is now. `status` prints it and `build --dry-run` lists its stale
//! stages, so the two never disagree; a build takes the same `check` per stage.
//!
//! A stage downstream of a stale one is reported stale because of it, even
//! though early cutoff may spare it once the upstream stage has run: this
//! predicts without running anything.

use serde::Serialize;

use super::{check, diff_reasons, Check, DeadOut, Plan, Reason, StatCache};
use crate::layout::Layout;
use crate::record::{BuildState, Store};

#[derive(Debug, Serialize)]
pub struct StageStatus {
    pub stage: String,
    pub state: &'static str,
    pub reasons: Vec<String>,
}

/// Fresh or stale, with reasons, for every stage in `mask`, in topological order.
/// `settled` stages (no change since the last build reaches them) are fresh
/// without a check; a stage reading one of the `dead` outs is stale.
#[allow(clippy::too_many_arguments)]
pub fn assess(
    plan: &Plan,
    layout: &Layout,
    stats: &StatCache,
    state: &BuildState,
    mask: &[bool],
    forced: &[usize],
    settled: &[bool],
    dead: &[DeadOut],
) -> Vec<StageStatus> {
    let root = layout.root();
    let store = Store::at(layout);
    let mut stale = vec![false; plan.stages.len()];
    let mut statuses = Vec::new();
    for &i in plan.order.iter().filter(|&&i| mask[i]) {
        let stage = &plan.stages[i];
        if settled[i] && !forced.contains(&i) {
            statuses.push(StageStatus {
                stage: stage.name().to_string(),
                state: "fresh",
                reasons: Vec::new(),
            });
            continue;
        }
        let last = state.get(stage.name());
        let last = last.as_ref();
        // In pipeline order (the graph lists a stage's producers newest edge first).
        let mut upstream: Vec<usize> = plan.producers(i).filter(|&p| stale[p]).collect();
        upstream.sort_unstable();
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
                Err(problem) => vec![Reason::DepUnreadable {
                    problem: problem.to_string(),
                }],
                Ok(current) => {
                    let mut reasons = match check(root, &current, last, &store, stats) {
                        Check::Fresh(_) => Vec::new(),
                        Check::Restore(_, reasons) | Check::Run(reasons) => reasons,
                    };
                    reasons.extend(
                        dead.iter()
                            .filter(|d| current.deps.contains_key(&d.path))
                            .map(|d| Reason::DeadOut {
                                path: d.path.clone(),
                                stage: d.stage.clone(),
                            }),
                    );
                    reasons
                }
            }
        };
        stale[i] = !reasons.is_empty();
        statuses.push(StageStatus {
            stage: stage.name().to_string(),
            state: if stale[i] { "stale" } else { "fresh" },
            reasons: reasons.iter().map(ToString::to_string).collect(),
        });
    }
    statuses
}
