//! The escalation queue: which cases a query keeps, in which order, the
//! counts per filter value, and the case "next" hands a reviewer.

use std::collections::{BTreeMap, HashMap};

use super::data::{Case, Workbench};
use super::pages::ReviewState;
use super::query::QueueQuery;
use super::review::Holding;
use super::sla;

/// Rows per queue page.
pub const PAGE_ROWS: usize = 200;

/// The facets counted per value: a value's count is how many cases it
/// would match with every other filter kept.
pub const FACETS: [&str; 6] = [
    "priority",
    "action",
    "detection",
    "route",
    "assignee",
    "status",
];

impl ReviewState<'_> {
    /// The case's routing label: a handoff's team, else the rule's.
    pub fn route(&self, case: &Case) -> &str {
        match self.holdings.get(&case.case_id) {
            Some(h) if !h.team.is_empty() => &h.team,
            _ => super::routing::label(&case.detections, &case.priority),
        }
    }

    /// Whether the case's latest review still stands: it was made against
    /// the row the current build has.
    pub fn reviewed(&self, case: &Case) -> bool {
        self.latest
            .get(&case.case_id)
            .is_some_and(|r| !r.evidence_changed(&case.row_hash))
    }

    /// Whether the case was reviewed against a row the current build has
    /// changed: it is open again.
    pub fn evidence_changed(&self, case: &Case) -> bool {
        self.latest
            .get(&case.case_id)
            .is_some_and(|r| r.evidence_changed(&case.row_hash))
    }

    /// Who holds the case now, if anyone.
    pub fn assignee(&self, case: &Case) -> Option<&Holding> {
        self.holdings
            .get(&case.case_id)
            .filter(|h| !h.assignee.is_empty())
    }
}

/// The values of one facet for a case (a case has several detections).
fn facet_values<'a>(facet: &str, case: &'a Case, state: &'a ReviewState) -> Vec<&'a str> {
    match facet {
        "priority" => vec![case.priority.as_str()],
        "action" => vec![case.recommended_action.as_str()],
        "detection" => case.detections.iter().map(String::as_str).collect(),
        "route" => vec![state.route(case)],
        "assignee" => state
            .assignee(case)
            .map(|h| vec![h.assignee.as_str()])
            .unwrap_or_default(),
        _ => {
            let mut statuses = vec![if state.reviewed(case) {
                "reviewed"
            } else {
                "open"
            }];
            if state.evidence_changed(case) {
                statuses.push("changed");
            }
            if state.sla(case).is_overdue() {
                statuses.push("overdue");
            }
            statuses.push(if state.assignee(case).is_some() {
                "claimed"
            } else {
                "unclaimed"
            });
            statuses
        }
    }
}

fn wanted<'q>(q: &'q QueueQuery, facet: &str) -> &'q str {
    match facet {
        "priority" => &q.priority,
        "action" => &q.action,
        "detection" => &q.detection,
        "route" => &q.route,
        "assignee" => &q.assignee,
        _ => &q.status,
    }
}

/// The queue of a query: its cases in order, and the counts per facet value.
pub struct Listing<'a> {
    pub rows: Vec<&'a Case>,
    pub counts: HashMap<&'static str, BTreeMap<String, usize>>,
}

/// Filters and sorts every case for `q`, counting facet values on the way.
pub fn list<'a>(wb: &'a Workbench, q: &QueueQuery, state: &ReviewState) -> Listing<'a> {
    let mut rows = Vec::new();
    let mut counts: HashMap<&'static str, BTreeMap<String, usize>> = HashMap::new();
    for case in &wb.cases {
        let values: Vec<Vec<&str>> = FACETS
            .iter()
            .map(|f| facet_values(f, case, state))
            .collect();
        let pass: Vec<bool> = FACETS
            .iter()
            .zip(&values)
            .map(|(f, v)| {
                let w = wanted(q, f);
                w.is_empty() || v.contains(&w)
            })
            .collect();
        let failing = pass.iter().filter(|p| !**p).count();
        if failing == 0 {
            rows.push(case);
        }
        for (i, facet) in FACETS.iter().enumerate() {
            // Counted when every other filter keeps the case.
            if failing == 0 || (failing == 1 && !pass[i]) {
                let slot = counts.entry(facet).or_default();
                for v in &values[i] {
                    *slot.entry(v.to_string()).or_default() += 1;
                }
            }
        }
    }
    sort(&mut rows, q, state);
    Listing { rows, counts }
}

/// The deadline of an unreviewed case, for `sort=sla`; reviewed and unknown
/// last.
fn due(case: &Case, state: &ReviewState) -> Option<time::OffsetDateTime> {
    if state.first_reviewed.contains_key(&case.case_id) {
        return None;
    }
    let opened = state.opened.get(&case.case_id)?;
    let opened =
        time::OffsetDateTime::parse(opened, &time::format_description::well_known::Rfc3339).ok()?;
    Some(opened + time::Duration::hours(sla::target_hours(&case.priority)))
}

fn sort(rows: &mut [&Case], q: &QueueQuery, state: &ReviewState) {
    let by_priority = |a: &Case, b: &Case| {
        a.priority
            .cmp(&b.priority)
            .then(b.case_score.total_cmp(&a.case_score))
    };
    match q.sort.as_str() {
        "score" => rows.sort_by(|a, b| {
            b.case_score
                .total_cmp(&a.case_score)
                .then(a.case_id.cmp(&b.case_id))
        }),
        // Oldest activity first: the case that has waited longest.
        "age" => rows.sort_by(|a, b| a.first_ts.cmp(&b.first_ts).then(a.case_id.cmp(&b.case_id))),
        "sla" => {
            let mut keyed: Vec<(Option<time::OffsetDateTime>, &Case)> =
                rows.iter().map(|c| (due(c, state), *c)).collect();
            keyed.sort_by(|(da, a), (db, b)| {
                match (da, db) {
                    (Some(x), Some(y)) => x.cmp(y),
                    (Some(_), None) => std::cmp::Ordering::Less,
                    (None, Some(_)) => std::cmp::Ordering::Greater,
                    (None, None) => std::cmp::Ordering::Equal,
                }
                .then(by_priority(a, b))
                .then(a.case_id.cmp(&b.case_id))
            });
            for (slot, (_, c)) in rows.iter_mut().zip(keyed) {
                *slot = c;
            }
        }
        _ => rows.sort_by(|a, b| by_priority(a, b).then(a.case_id.cmp(&b.case_id))),
    }
}

/// The case "next" gives `reviewer`: the first of the query's queue that
/// nobody has reviewed (against its current row: `reviewed` maps a case to
/// the row hash of its latest review) and nobody else holds (one `reviewer`
/// holds counts).
pub fn next_for(
    wb: &Workbench,
    q: &QueueQuery,
    state: &ReviewState,
    reviewed: &HashMap<String, String>,
    reviewer: &str,
) -> Option<String> {
    list(wb, q, state)
        .rows
        .into_iter()
        .find(|c| {
            reviewed
                .get(&c.case_id)
                .is_none_or(|hash| !hash.is_empty() && *hash != c.row_hash)
                && state.assignee(c).is_none_or(|h| h.assignee == reviewer)
        })
        .map(|c| c.case_id.clone())
}
