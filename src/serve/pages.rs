//! The workbench's pages, rendered on the server with maud, which escapes
//! every value it interpolates. Filters are GET forms and every change a
//! POST form; the one script (`workbench.js`, from 'self') only adds
//! single-key shortcuts, so the pages work under a strict CSP and without it.

use maud::{html, Markup, DOCTYPE};
use std::collections::{BTreeMap, HashMap};

use super::data::Use;
use super::data::{Account, Case, Hit, Moment, Workbench};
use super::explain;
use super::graph::{entity_href, linked_accounts};
use super::query::{QueryError, QueueQuery, PRIORITIES, SORTS, STATUSES};
use super::queue::{self, PAGE_ROWS};
use super::review::{AuditEntry, Holding, Review, ReviewForm, DISPOSITIONS, MAX_NOTES};
use super::routing::{self, LABELS};
use super::sla::{self, SlaStatus};
use super::timeline::{self, TimelineQuery};

/// Review state the pages need, per case: the latest review, when the case
/// was first reviewed, and when the workbench first showed it.
pub struct ReviewState<'a> {
    pub latest: &'a HashMap<String, Review>,
    pub first_reviewed: &'a HashMap<String, String>,
    pub opened: &'a HashMap<String, String>,
    pub holdings: &'a HashMap<String, Holding>,
    pub now: &'a str,
}

impl ReviewState<'_> {
    pub fn sla(&self, case: &Case) -> SlaStatus {
        match self.opened.get(&case.case_id) {
            Some(opened) => sla::status(
                &case.priority,
                opened,
                self.first_reviewed.get(&case.case_id).map(String::as_str),
                self.now,
            ),
            None => SlaStatus::Unknown,
        }
    }
}

fn layout(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · tnsflow workbench" }
                link rel="stylesheet" href="/static/workbench.css";
                script src="/static/workbench.js" defer {}
            }
            body {
                header {
                    nav {
                        a.brand href="/" { "tnsflow workbench" }
                        a href="/" { "Dashboard" }
                        a href="/queue" { "Escalation queue" }
                    }
                }
                main { (body) }
            }
        }
    }
}

pub fn not_found(what: &str) -> Markup {
    layout(
        "Not found",
        html! {
            h1 { "Not found" }
            p { (what) }
            p { a href="/queue" { "Back to the queue" } }
        },
    )
}

pub fn dashboard(wb: &Workbench, state: &ReviewState) -> Markup {
    let total = wb.cases.len();
    let reviewed = wb.cases.iter().filter(|c| state.reviewed(c)).count();
    let overdue = wb
        .cases
        .iter()
        .filter(|c| state.sla(c).is_overdue())
        .count();
    let mut by_priority: BTreeMap<&str, usize> = PRIORITIES.iter().map(|p| (*p, 0)).collect();
    let mut by_action: BTreeMap<&str, usize> = BTreeMap::new();
    let mut by_detection: BTreeMap<&str, usize> = BTreeMap::new();
    for c in &wb.cases {
        *by_priority.entry(c.priority.as_str()).or_default() += 1;
        *by_action.entry(c.recommended_action.as_str()).or_default() += 1;
        for d in &c.detections {
            *by_detection.entry(d.as_str()).or_default() += 1;
        }
    }
    let mut dispositions: BTreeMap<&str, usize> = BTreeMap::new();
    for r in state.latest.values() {
        *dispositions.entry(r.disposition.as_str()).or_default() += 1;
    }
    let widest = by_priority.values().copied().max().unwrap_or(0).max(1);
    let body = html! {
        h1 { "Dashboard" }
        section.cards {
            div.card { span.figure id="case-count" { (total) } span { "cases" } }
            div.card { span.figure id="reviewed-count" { (reviewed) } span { "reviewed" } }
            div.card { span.figure id="open-count" { (total - reviewed) } span { "awaiting review" } }
            div.card { span.figure.late id="overdue-count" { (overdue) } span { "past their SLA" } }
            div.card { span.figure id="alert-count" { (wb.alerts.len()) } span { "monitoring alerts" } }
        }
        p.muted { "Build " code id="build-id" { (wb.build) } " (a hash of its state file; a new build is picked up within a second)." }
        section.columns {
            div {
                h2 { "Priority mix" }
                svg.bars xmlns="http://www.w3.org/2000/svg" viewBox="0 0 420 140" role="img" aria-label="Cases by priority" {
                    @for (i, (priority, n)) in by_priority.iter().enumerate() {
                        @let y = 10 + i * 32;
                        text x="0" y=(y + 16) { (priority) }
                        a href={"/queue?priority=" (priority)} {
                            rect x="40" y=(y) height="22" width=(4 + 300 * n / widest) class={"bar " (priority)} {}
                        }
                        text x=(50 + 300 * n / widest) y=(y + 16) { (n) }
                    }
                }
                table id="priority-mix" {
                    tr { th { "priority" } th { "cases" } th { "first-review SLA" } }
                    @for (priority, n) in &by_priority {
                        tr {
                            td { a href={"/queue?priority=" (priority)} { (priority) } }
                            td.num { (n) }
                            td { (sla::target_hours(priority)) " h" }
                        }
                    }
                }
            }
            div {
                h2 { "Recommended actions" }
                table id="actions" {
                    @for (action, n) in &by_action {
                        tr { td { a href={"/queue?action=" (action)} { (action) } } td.num { (n) } }
                    }
                }
                h2 { "Detections" }
                table id="detections" {
                    @for (detection, n) in &by_detection {
                        tr { td { a href={"/queue?detection=" (detection)} { (detection) } } td.num { (n) } }
                    }
                }
                @if !dispositions.is_empty() {
                    h2 { "Dispositions" }
                    table id="dispositions" {
                        @for (d, n) in &dispositions { tr { td { (d) } td.num { (n) } } }
                    }
                }
            }
        }
        h2 { "Monitoring alerts" }
        @if wb.alerts.is_empty() {
            p.muted id="alerts" { "No alerts in this build." }
        } @else {
            table id="alerts" {
                tr { th { "day" } th { "alert" } th { "severity" } th { "details" } }
                @for a in &wb.alerts {
                    tr {
                        td { (a.day) } td { (a.alert_type) }
                        td { span class={"sev " (a.severity)} { (a.severity) } }
                        td { (a.details) }
                    }
                }
            }
        }
    };
    layout("Dashboard", body)
}

/// A select of `options` (with their counts when known) named `name`.
fn select(
    name: &str,
    label: &str,
    current: &str,
    options: &[String],
    counts: Option<&BTreeMap<String, usize>>,
) -> Markup {
    html! {
        label {
            (label) " "
            select name=(name) id={"filter-" (name)} {
                option value="" selected[current.is_empty()] { "any" }
                @for o in options {
                    option value=(o) selected[current == o] {
                        (o)
                        @if let Some(counts) = counts { " (" (counts.get(o).copied().unwrap_or(0)) ")" }
                    }
                }
            }
        }
    }
}

/// Hidden inputs carrying a queue query through a POST form.
fn carried(q: &QueueQuery) -> Markup {
    html! {
        @for (name, value) in q.filter_pairs() {
            input type="hidden" name=(name) value=(value);
        }
    }
}

/// The "next case" form: claims the first open, unclaimed case of `q`.
fn next_form(q: &QueueQuery, me: &str) -> Markup {
    html! {
        form.next method="post" action="/next" id="next-form" {
            (carried(q))
            label { "Reviewer " input type="text" name="reviewer" id="next-reviewer" required maxlength="80" value=(me); }
            button type="submit" id="next-case" { "Claim next case" }
        }
    }
}

pub fn queue(wb: &Workbench, q: &QueueQuery, state: &ReviewState, me: &str) -> Markup {
    let listing = queue::list(wb, q, state);
    let matched = listing.rows.len();
    let pages = matched.div_ceil(PAGE_ROWS).max(1);
    let page = q.page.max(1);
    let shown: &[&Case] = listing
        .rows
        .get((page - 1) * PAGE_ROWS..)
        .map(|rest| &rest[..rest.len().min(PAGE_ROWS)])
        .unwrap_or(&[]);
    let owned = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let actions = wb.choices(|c| vec![c.recommended_action.as_str()]);
    let detections = wb.choices(|c| c.detections.iter().map(String::as_str).collect());
    let assignees: Vec<String> = listing
        .counts
        .get("assignee")
        .map(|c| c.keys().cloned().collect())
        .unwrap_or_default();
    let count = |facet: &str| listing.counts.get(facet);
    let body = html! {
        h1 { "Escalation queue" }
        form.filters method="get" action="/queue" {
            (select("priority", "Priority", &q.priority, &owned(&PRIORITIES), count("priority")))
            (select("route", "Routing", &q.route, &owned(&LABELS), count("route")))
            (select("action", "Recommended action", &q.action, &actions, count("action")))
            (select("detection", "Detection", &q.detection, &detections, count("detection")))
            (select("status", "Review", &q.status, &owned(&STATUSES), count("status")))
            (select("assignee", "Assignee", &q.assignee, &assignees, count("assignee")))
            label { "Sort "
                select name="sort" id="filter-sort" {
                    @for s in SORTS { option value=(s) selected[q.sort == s || (q.sort.is_empty() && s == "priority")] { (s) } }
                }
            }
            button type="submit" id="apply-filters" { "Filter" }
            a href="/queue" { "clear" }
        }
        (next_form(q, me))
        p id="queue-count" {
            (matched) " case(s) match"
            @if matched > 0 {
                "; page " span id="queue-page" { (page) } " of " (pages)
                " (" ((page - 1) * PAGE_ROWS + usize::from(!shown.is_empty())) "–" ((page - 1) * PAGE_ROWS + shown.len()) ")"
            }
            "."
        }
        nav.pager {
            @if page > 1 { a id="prev-page" href={"/queue" (q.link(page - 1))} { "← previous" } " " }
            @if page < pages { a id="next-page" href={"/queue" (q.link(page + 1))} { "next →" } }
        }
        form.bulk method="post" action="/bulk" id="bulk-form" {
            (carried(q))
            table.queue id="queue" {
                tr {
                    th { "select" } th { "case" } th { "priority" } th { "score" } th { "routing" }
                    th { "recommended action" } th { "detections" } th { "max risk" } th { "reports" }
                    th { "assignee" } th { "review" } th { "SLA" }
                }
                @for c in shown {
                    @let sla = state.sla(c);
                    tr.case-row data-priority=(c.priority) data-case=(c.case_id) {
                        td { input type="checkbox" name="case" value=(c.case_id) aria-label={"select " (c.case_id)}; }
                        td { a href={"/cases/" (c.case_id) (q.link(0))} { (c.case_id) } }
                        td { span class={"prio " (c.priority)} { (c.priority) } }
                        td.num { (format!("{:.2}", c.case_score)) }
                        td { (state.route(c)) }
                        td { (c.recommended_action) }
                        td { (c.detections.join(", ")) }
                        td.num { (c.max_risk) }
                        td.num { (c.n_reports) }
                        td.assignee { @match state.assignee(c) {
                            Some(h) => { (h.assignee) " since " (h.since) },
                            None => { span.muted { "—" } },
                        } }
                        td { @match state.latest.get(&c.case_id) {
                            Some(r) if r.evidence_changed(&c.row_hash) => {
                                span.changed title="the case's evidence changed since this review" {
                                    "reopened (was " (r.disposition) ")"
                                }
                            },
                            Some(r) => { (r.disposition) },
                            None => { span.muted { "open" } },
                        } }
                        td { span class={"sla " (sla.class())} { (sla.label()) } }
                    }
                }
            }
            fieldset {
                legend { "Bulk disposition of the selected rows" }
                label { "Disposition "
                    select name="disposition" id="bulk-disposition" {
                        option value="" { "choose…" }
                        @for d in DISPOSITIONS { option value=(d) { (d) } }
                    }
                }
                label { "Reviewer " input type="text" name="reviewer" id="bulk-reviewer" maxlength="80" value=(me); }
                label.wide { "Notes " input type="text" name="notes" id="bulk-notes" maxlength=(MAX_NOTES); }
                button type="submit" id="bulk-apply" { "Apply to selected…" }
            }
        }
    };
    layout("Escalation queue", body)
}

/// A query the workbench refuses: 400, the parameter and what it accepts.
pub fn bad_query(err: &QueryError) -> Markup {
    layout(
        "Bad query",
        html! {
            h1 { "This query cannot be shown" }
            p id="query-error" data-param=(err.param) { (err.message) }
            p { a href="/queue" { "Back to the whole queue" } }
        },
    )
}

/// A POST that was refused (422/409): what was wrong, and where to go back.
pub fn refused(title: &str, problems: &[String], back: &str) -> Markup {
    problem_page(title, problems, html! {}, back)
}

/// A page of `problems`, then `body`, then a link `back`.
fn problem_page(title: &str, problems: &[String], body: Markup, back: &str) -> Markup {
    layout(
        title,
        html! {
            h1 { (title) }
            ul.problems id="problems" role="alert" { @for p in problems { li { (p) } } }
            (body)
            p { a href=(back) id="back" { "Back" } }
        },
    )
}

/// A claim, release or handoff the store could not save (a full disk):
/// the problems, and the request as sent in a form that sends it again,
/// its note editable, so that what the analyst typed is not lost.
pub fn resend(
    title: &str,
    problems: &[String],
    action: &str,
    fields: &[(String, String)],
    back: &str,
) -> Markup {
    let form = html! {
        form method="post" action=(action) id="resend-form" {
            @for (name, value) in fields {
                @if name == "note" {
                    label.wide { "Note " input type="text" name="note" id="resend-note" maxlength=(MAX_NOTES) value=(value); }
                } @else {
                    input type="hidden" name=(name) value=(value);
                }
            }
            button type="submit" id="resend" { "Send again" }
        }
    };
    problem_page(title, problems, form, back)
}

/// "Next" found nothing: every case of the query is reviewed or held.
pub fn nothing_next(q: &QueueQuery) -> Markup {
    layout(
        "Queue done",
        html! {
            h1 { "Nothing left to claim" }
            p id="nothing-next" { "Every case of this queue is reviewed or held by another reviewer." }
            p { a href={"/queue" (q.link(0))} { "Back to the queue" } }
        },
    )
}

/// The bulk confirmation: how many cases the disposition will touch, and
/// why it was not saved when it came back (`problems`).
pub fn confirm_bulk(
    q: &QueueQuery,
    cases: &[String],
    form: &ReviewForm,
    problems: &[String],
) -> Markup {
    html! {
        (layout("Confirm bulk disposition", html! {
            h1 { "Confirm bulk disposition" }
            @if !problems.is_empty() {
                ul.problems id="problems" role="alert" { @for p in problems { li { (p) } } }
            }
            p id="bulk-summary" {
                "Record " strong { (form.disposition) } " by " (form.reviewer.trim()) " on "
                strong id="bulk-count" { (cases.len()) } " case(s), one audit entry each:"
            }
            ul id="bulk-cases" { @for c in cases { li { (c) } } }
            form method="post" action="/bulk" id="bulk-confirm-form" {
                (carried(q))
                @for c in cases { input type="hidden" name="case" value=(c); }
                input type="hidden" name="disposition" value=(form.disposition);
                input type="hidden" name="reviewer" value=(form.reviewer);
                input type="hidden" name="notes" value=(form.notes);
                input type="hidden" name="confirm" value="yes";
                button type="submit" id="bulk-confirm" { "Record " (cases.len()) " decision(s)" }
                " " a href={"/queue" (q.link(0))} { "cancel" }
            }
        }))
    }
}

/// Everything the case page shows.
pub struct CaseView<'a> {
    pub case: &'a Case,
    pub account: Option<Account>,
    /// Every moment of the case, in time order (the page shows `tl`'s).
    pub timeline: Vec<Moment>,
    pub tl: TimelineQuery,
    pub hits: &'a [Hit],
    pub history: Vec<Review>,
    /// Decisions and assignments, oldest first.
    pub trail: Vec<AuditEntry>,
    pub holding: Option<Holding>,
    pub opened_at: Option<String>,
    /// The queue this case was opened from, for "next".
    pub query: QueueQuery,
    /// The reviewer this browser last worked as.
    pub me: String,
    /// A rejected submission, shown again with its problems.
    pub rejected: Option<(ReviewForm, Vec<String>)>,
}

/// The claim panel: who holds the case since when, claim, release, handoff.
fn claim_panel(view: &CaseView, route: &str) -> Markup {
    let case_id = &view.case.case_id;
    let held = view.holding.as_ref().filter(|h| !h.assignee.is_empty());
    html! {
        section.claim id="claim" {
            h2 { "Assignment" }
            p id="case-assignee" {
                @match held {
                    Some(h) => { "Claimed by " strong { (h.assignee) } " at " time id="claimed-at" { (h.since) } },
                    None => { "Unclaimed" },
                }
                ", routed to " strong id="case-route" { (route) } "."
            }
            form.inline method="post" action={"/cases/" (case_id) "/claim"} id="claim-form" {
                (carried(&view.query))
                input type="text" name="reviewer" id="claim-reviewer" required maxlength="80" value=(view.me) aria-label="reviewer";
                button type="submit" id="claim" { "Claim" }
                " "
                button type="submit" formaction={"/cases/" (case_id) "/release"} id="release" { "Release" }
            }
            form.handoff method="post" action={"/cases/" (case_id) "/handoff"} id="handoff-form" {
                (carried(&view.query))
                label { "As " input type="text" name="reviewer" id="handoff-reviewer" required maxlength="80" value=(view.me); }
                label { " hand off to reviewer " input type="text" name="to" id="handoff-to" maxlength="80"; }
                label { " or team "
                    select name="team" id="handoff-team" {
                        option value="" { "—" }
                        @for l in LABELS { option value=(l) { (l) } }
                    }
                }
                label.wide { "Note " input type="text" name="note" id="handoff-note" maxlength=(MAX_NOTES); }
                button type="submit" id="handoff" { "Hand off" }
            }
        }
    }
}

pub fn case_page(wb: &Workbench, view: &CaseView, now: &str) -> Markup {
    let case = view.case;
    let first_review = view.history.first().map(|r| r.reviewed_at.as_str());
    let sla = match &view.opened_at {
        Some(opened) => sla::status(&case.priority, opened, first_review, now),
        None => SlaStatus::Unknown,
    };
    let current = view.history.last();
    let empty = ReviewForm {
        reviewer: view.me.clone(),
        ..ReviewForm::default()
    };
    let (form, problems) = match &view.rejected {
        Some((form, problems)) => (form, problems.as_slice()),
        None => (&empty, &[][..]),
    };
    let route = match view.holding.as_ref().filter(|h| !h.team.is_empty()) {
        Some(h) => h.team.clone(),
        None => routing::label(&case.detections, &case.priority).to_string(),
    };
    let links = wb.links(&case.user_id);
    let body = html! {
        p { a href={"/queue" (view.query.link(0))} { "← queue" } }
        h1 { "Case " span id="case-id" { (case.case_id) } }
        section.summary id="summary" {
            dl {
                dt { "user" } dd id="case-user" { (case.user_id) }
                dt { "priority" } dd { span class={"prio " (case.priority)} id="case-priority" { (case.priority) } }
                dt { "case score" } dd { (format!("{:.2}", case.case_score)) }
                dt { "recommended action" } dd id="case-action" { (case.recommended_action) }
                dt { "highest model risk" } dd { (case.max_risk) }
                dt { "activity" } dd { (case.first_ts) " – " (case.last_ts) }
                dt { "linked component" } dd { "#" (case.component_id) " (" (case.component_size) " accounts)" }
                dt { "user reports" } dd { (case.n_reports) }
                @if let Some(a) = &view.account {
                    dt { "account" } dd { (a.account_status) ", created " (a.created_ts) ", " (a.country) }
                }
                dt { "review" } dd id="case-status" {
                    @match current {
                        Some(r) => { (r.disposition) " by " (r.reviewer) " at " (r.reviewed_at) },
                        None => { "open" },
                    }
                }
                @if let Some(r) = current.filter(|r| r.evidence_changed(&case.row_hash)) {
                    dt { "evidence" } dd.changed id="evidence-changed" role="alert" {
                        "Evidence changed since review: the current build's case row differs from the one "
                        (r.reviewer) " reviewed at " (r.reviewed_at)
                        @if !r.build_hash.is_empty() { " (build " (r.build_hash) ")" }
                        "; the case is open again."
                    }
                }
                dt { "SLA" } dd { span class={"sla " (sla.class())} id="case-sla" { (sla.label()) }
                    " (first review within " (sla::target_hours(&case.priority)) " h"
                    @if let Some(opened) = &view.opened_at { ", from " (opened) }
                    ")" }
            }
            p.findings id="findings" { (case.findings) }
            ul.tags id="evidence-tags" {
                @for tag in &case.evidence_tags { li.tag { (tag) } }
            }
        }
        (claim_panel(view, &route))
        section.keys id="keys" {
            (next_form(&view.query, &view.me))
            p.muted id="shortcuts" {
                "Keys: " kbd { "1" } " confirmed_abuse, " kbd { "2" } " no_violation, "
                kbd { "3" } " needs_more_info, " kbd { "4" } " escalated, "
                kbd { "s" } " save and next, " kbd { "n" } " next case, " kbd { "c" } " claim."
            }
        }
        h2 { "Detection hits" }
        @if view.hits.is_empty() {
            p.muted { "No detection hits." }
        } @else {
            table id="hits" {
                tr { th { "detection" } th { "severity" } th { "why it fired" } th { "first" } th { "last" } th { "related" } }
                @for h in view.hits {
                    tr.hit data-detection=(h.detection) {
                        td { (h.detection) } td { span class={"sev " (h.severity)} { (h.severity) } }
                        td.explained {
                            strong.values { (h.evidence) }
                            @if let Some((fires, high)) = explain::rule(&h.detection) {
                                br;
                                span.muted.rule { "Fires when " (fires) "; high when " (high) "." }
                            }
                        }
                        td { (h.first_ts) } td { (h.last_ts) } td { (h.related) }
                    }
                }
            }
        }
        @let terms = explain::score_terms(case, view.hits);
        h2 id="score" { "Case score " (format!("{:.2}", case.case_score)) }
        table id="score-terms" {
            tr { th { "term" } th.num { "weight" } th.num { "value" } th.num { "points" } th { "from" } }
            @for t in &terms {
                tr.term {
                    td { (t.name) } td.num { (t.weight) } td.num { (format!("{:.2}", t.value)) }
                    td.num { (format!("{:.2}", t.points())) } td { (t.from) }
                }
            }
        }
        @if !explain::adds_up(&terms, case.case_score) {
            p.changed id="score-mismatch" {
                "These terms use the cases stage's default weights and add up to "
                (format!("{:.2}", terms.iter().map(explain::Term::points).sum::<f64>()))
                ", not the row's " (format!("{:.2}", case.case_score))
                ": this pipeline sets other cases.* weights."
            }
        }
        section.columns {
            div {
                h2 id="timeline-title" { "Timeline" }
                (timeline_section(view))
            }
            div {
                h2 { "Linked accounts and shared infrastructure" }
                p.muted { (links.len()) " link(s) from entity resolution." }
                @let keys = identifiers(links);
                ul.identifiers id="identifiers" {
                    @for (edge_type, key) in &keys {
                        li { a href=(entity_href(edge_type, key)) { (edge_type.trim_start_matches("shared_")) " " (key) } }
                    }
                }
                div id="graph" {
                    (linked_accounts(&case.user_id, links, |u| wb.case_of_user(u).map(|c| c.case_id.clone()), |u| wb.is_strong(&case.user_id, u)))
                    p.muted.legend { "Solid, thick lines: strong links (a shared device plus a shared IP or payment token, one setup used by both). Dashed: weak links (one identifier alone, which strangers share by chance)." }
                }
            }
        }
        h2 id="review" { "Review" }
        @if !problems.is_empty() {
            ul.problems id="review-problems" role="alert" {
                @for p in problems { li { (p) } }
            }
        }
        form.review method="post" action={"/cases/" (case.case_id) "/review"} id="review-form" {
            (carried(&view.query))
            label { "Disposition "
                select name="disposition" id="disposition" required {
                    option value="" { "choose…" }
                    @for d in DISPOSITIONS { option value=(d) selected[form.disposition == d] { (d) } }
                }
            }
            label { "Reviewer " input type="text" name="reviewer" id="reviewer" required maxlength="80" value=(form.reviewer); }
            label.wide { "Notes " textarea name="notes" id="notes" rows="4" maxlength=(MAX_NOTES) { (form.notes) } }
            button type="submit" id="save-review" { "Save review" }
            " "
            button type="submit" name="then" value="next" id="save-next" { "Save and next" }
        }
        (audit_trail(&view.trail))
    };
    layout(&case.case_id, body)
}

/// The timeline: type filters (a GET form keeping the queue's query), the
/// counts, one page of moments and the links to the others.
fn timeline_section(view: &CaseView) -> Markup {
    let mut kept = Vec::new();
    let p = timeline::page(&view.timeline, &view.tl, &mut kept);
    let base = format!("/cases/{}{}", view.case.case_id, view.query.link(0));
    let href = |page: usize| {
        let tail = view.tl.link(page);
        match base.contains('?') {
            true => format!("{base}{tail}#timeline-title"),
            false => format!("{base}?{}#timeline-title", &tail[1..]),
        }
    };
    html! {
        form.timeline-filter method="get" action={"/cases/" (view.case.case_id)} id="timeline-filter" {
            (carried(&view.query))
            @for (kind, n) in &p.counts {
                label { input type="checkbox" name="tl" value=(kind) checked[view.tl.kinds.iter().any(|k| k == kind)];
                    " " (kind) " (" (n) ")" }
                " "
            }
            button type="submit" { "Filter" }
        }
        p.muted id="timeline-count" {
            (p.matching) " moment(s)"
            @if p.pages > 1 { ", page " (view.tl.page) " of " (p.pages) }
            ": account creation, logins, content, reports, linkage, enforcements and reviews, in time order."
        }
        ol.timeline id="timeline" {
            @for m in p.moments {
                li class={(m.kind) @if m.flagged { " flagged" }} data-moment=(m.kind) {
                    time { (m.ts) } " "
                    span.kind { (m.kind) } " "
                    strong { (m.what) } " "
                    span { (m.detail) }
                }
            }
        }
        @if p.pages > 1 {
            nav.pager id="timeline-pages" {
                @if view.tl.page > 1 { a rel="prev" href=(href(view.tl.page - 1)) { "← earlier" } " " }
                @if view.tl.page < p.pages { a rel="next" href=(href(view.tl.page + 1)) { "later →" } }
            }
        }
    }
}

/// The audit trail: decisions and assignments, newest first.
fn audit_trail(trail: &[AuditEntry]) -> Markup {
    html! {
        h2 { "Audit trail" }
        @if trail.is_empty() {
            p.muted id="audit" { "No reviews yet." }
        } @else {
            table id="audit" {
                tr { th { "#" } th { "at" } th { "who" } th { "entry" } th { "notes" } }
                @for e in trail.iter().rev() {
                    @match e {
                        AuditEntry::Decision(r) => {
                            tr.audit-row data-kind="decision" {
                                td.num { (r.review_id) } td { (r.reviewed_at) } td { (r.reviewer) }
                                td { (r.disposition) } td.notes { (r.notes) }
                            }
                        },
                        AuditEntry::Assignment(a) => {
                            tr.audit-row data-kind=(a.action) {
                                td.num { "a" (a.assignment_id) } td { (a.at) } td { (a.actor) }
                                td { (assignment_label(a)) } td.notes { (a.note) }
                            }
                        },
                    }
                }
            }
        }
    }
}

/// A case the current build no longer has: its history stays, and says so.
pub fn missing_case(case_id: &str, build: &str, trail: &[AuditEntry]) -> Markup {
    let body = html! {
        p { a href="/queue" { "← queue" } }
        h1 { "Case " span id="case-id" { (case_id) } }
        p.changed id="case-missing" role="alert" {
            "This case is not in the current build (build " (build) "): the build no longer "
            "flags this account. Its history is kept below; no new review can be filed."
        }
        (audit_trail(trail))
    };
    layout(case_id, body)
}

/// "claimed", "released", "handed to bo", "handed to team ban-evasion".
fn assignment_label(a: &super::review::Assignment) -> String {
    match a.action.as_str() {
        "claim" => "claimed".to_string(),
        "release" => "released".to_string(),
        _ if !a.assignee.is_empty() => format!("handed to {}", a.assignee),
        _ => format!("handed to team {}", a.team),
    }
}

/// An identifier's page: every account that used it, with its case.
pub fn entity_page(
    wb: &Workbench,
    kind: &str,
    id: &str,
    uses: &[Use],
    state: &ReviewState,
) -> Markup {
    let events: i64 = uses.iter().map(|u| u.events).sum();
    let body = html! {
        h1 { (kind) " " span id="entity-id" { (id) } }
        p id="entity-summary" {
            span id="entity-accounts" { (uses.len()) } " account(s), " (events) " event(s)"
            @if let (Some(first), Some(last)) = (uses.iter().map(|u| &u.first_ts).min(), uses.iter().map(|u| &u.last_ts).max()) {
                ", first used " (first) ", last " (last)
            }
            "."
        }
        p.muted { "A strong link: the account shares this setup with another account listed here (a device plus an IP or payment token); weak: this identifier alone." }
        table id="entity-uses" {
            tr { th { "account" } th { "link" } th { "events" } th { "first use" } th { "last use" } th { "case" } th { "priority" } th { "review" } th { "assignee" } }
            @for u in uses {
                @let case = wb.case_of_user(&u.user_id);
                // Strong: one setup shared with another account of this list.
                @let strong: Vec<&str> = uses.iter().filter(|o| o.user_id != u.user_id && wb.is_strong(&u.user_id, &o.user_id)).map(|o| o.user_id.as_str()).collect();
                tr.use-row data-strength=(if strong.is_empty() { "weak" } else { "strong" }) {
                    td { (u.user_id) }
                    td {
                        @if strong.is_empty() { span.weak { "weak" } }
                        @else { strong.strong title={"one setup with " (strong.join(", "))} { "strong" } " (" (strong.len()) ")" }
                    }
                    td.num { (u.events) } td { (u.first_ts) } td { (u.last_ts) }
                    @match case {
                        Some(c) => {
                            td { a href={"/cases/" (c.case_id)} { (c.case_id) } }
                            td { span class={"prio " (c.priority)} { (c.priority) } }
                            td { @match state.latest.get(&c.case_id) {
                                Some(r) => { (r.disposition) },
                                None => { span.muted { "open" } },
                            } }
                            td { @match state.assignee(c) { Some(h) => { (h.assignee) }, None => { "—" } } }
                        },
                        None => { td.muted { "no case" } td {} td {} td {} },
                    }
                }
            }
        }
    };
    layout(&format!("{kind} {id}"), body)
}

/// The distinct (edge type, identifier) pairs of a user's links, sorted.
fn identifiers(links: &[super::data::Link]) -> Vec<(&str, &str)> {
    let mut keys: Vec<(&str, &str)> = links
        .iter()
        .map(|l| (l.edge_type.as_str(), l.edge_key.as_str()))
        .collect();
    keys.sort_unstable();
    keys.dedup();
    keys
}
