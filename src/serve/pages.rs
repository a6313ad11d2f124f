//! The workbench's pages, rendered on the server with maud, which escapes
//! every value it interpolates. No scripts: filters are GET forms and the
//! review is a POST form, so the pages work under a strict CSP.

use maud::{html, Markup, DOCTYPE};
use std::collections::{BTreeMap, HashMap};

use super::data::{Account, Case, Hit, Moment, Workbench, TIMELINE_EVENTS};
use super::graph::linked_accounts;
use super::review::{Review, ReviewForm, DISPOSITIONS, MAX_NOTES};
use super::sla::{self, SlaStatus};

const PRIORITIES: [&str; 4] = ["P1", "P2", "P3", "P4"];

/// Review state the pages need, per case: the latest review, when the case
/// was first reviewed, and when the workbench first showed it.
pub struct ReviewState<'a> {
    pub latest: &'a HashMap<String, Review>,
    pub first_reviewed: &'a HashMap<String, String>,
    pub opened: &'a HashMap<String, String>,
    pub now: &'a str,
}

impl ReviewState<'_> {
    fn sla(&self, case: &Case) -> SlaStatus {
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
    let reviewed = wb
        .cases
        .iter()
        .filter(|c| state.latest.contains_key(&c.case_id))
        .count();
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

/// The queue's filters, from the query string.
#[derive(Debug, Default, serde::Deserialize)]
pub struct QueueFilter {
    #[serde(default)]
    pub priority: String,
    #[serde(default)]
    pub action: String,
    #[serde(default)]
    pub detection: String,
    /// `open`, `reviewed`, `overdue` or empty.
    #[serde(default)]
    pub status: String,
}

impl QueueFilter {
    fn keeps(&self, case: &Case, state: &ReviewState) -> bool {
        let reviewed = state.latest.contains_key(&case.case_id);
        (self.priority.is_empty() || case.priority == self.priority)
            && (self.action.is_empty() || case.recommended_action == self.action)
            && (self.detection.is_empty() || case.detections.contains(&self.detection))
            && match self.status.as_str() {
                "open" => !reviewed,
                "reviewed" => reviewed,
                "overdue" => state.sla(case).is_overdue(),
                _ => true,
            }
    }
}

/// Rows shown at once; the count says how many matched.
const QUEUE_ROWS: usize = 500;

pub fn queue(wb: &Workbench, filter: &QueueFilter, state: &ReviewState) -> Markup {
    let mut rows: Vec<&Case> = wb.cases.iter().filter(|c| filter.keeps(c, state)).collect();
    // Priority first, then the case score: the order an analyst works in.
    rows.sort_by(|a, b| {
        a.priority
            .cmp(&b.priority)
            .then(b.case_score.total_cmp(&a.case_score))
            .then(a.case_id.cmp(&b.case_id))
    });
    let matched = rows.len();
    rows.truncate(QUEUE_ROWS);
    let actions = wb.choices(|c| vec![c.recommended_action.as_str()]);
    let detections = wb.choices(|c| c.detections.iter().map(String::as_str).collect());
    let select = |name: &str, label: &str, current: &str, options: &[String]| {
        html! {
            label {
                (label) " "
                select name=(name) id={"filter-" (name)} {
                    option value="" selected[current.is_empty()] { "any" }
                    @for o in options { option value=(o) selected[current == o] { (o) } }
                }
            }
        }
    };
    let priorities: Vec<String> = PRIORITIES.iter().map(|p| p.to_string()).collect();
    let statuses: Vec<String> = ["open", "reviewed", "overdue"].map(String::from).to_vec();
    let body = html! {
        h1 { "Escalation queue" }
        form.filters method="get" action="/queue" {
            (select("priority", "Priority", &filter.priority, &priorities))
            (select("action", "Recommended action", &filter.action, &actions))
            (select("detection", "Detection", &filter.detection, &detections))
            (select("status", "Review", &filter.status, &statuses))
            button type="submit" id="apply-filters" { "Filter" }
            a href="/queue" { "clear" }
        }
        p id="queue-count" {
            (matched) " case(s) match"
            @if matched > rows.len() { "; the first " (rows.len()) " are shown" }
            "."
        }
        table.queue id="queue" {
            tr {
                th { "case" } th { "priority" } th { "score" } th { "recommended action" }
                th { "detections" } th { "max risk" } th { "reports" } th { "review" } th { "SLA" }
            }
            @for c in &rows {
                @let sla = state.sla(c);
                tr.case-row data-priority=(c.priority) {
                    td { a href={"/cases/" (c.case_id)} { (c.case_id) } }
                    td { span class={"prio " (c.priority)} { (c.priority) } }
                    td.num { (format!("{:.2}", c.case_score)) }
                    td { (c.recommended_action) }
                    td { (c.detections.join(", ")) }
                    td.num { (c.max_risk) }
                    td.num { (c.n_reports) }
                    td { @match state.latest.get(&c.case_id) {
                        Some(r) => { (r.disposition) },
                        None => { span.muted { "open" } },
                    } }
                    td { span class={"sla " (sla.class())} { (sla.label()) } }
                }
            }
        }
    };
    layout("Escalation queue", body)
}

/// Everything the case page shows.
pub struct CaseView<'a> {
    pub case: &'a Case,
    pub account: Option<Account>,
    pub timeline: Vec<Moment>,
    pub total_events: i64,
    pub hits: &'a [Hit],
    pub history: Vec<Review>,
    pub opened_at: Option<String>,
    /// A rejected submission, shown again with its problems.
    pub rejected: Option<(ReviewForm, Vec<String>)>,
}

pub fn case_page(wb: &Workbench, view: &CaseView, now: &str) -> Markup {
    let case = view.case;
    let first_review = view.history.first().map(|r| r.reviewed_at.as_str());
    let sla = match &view.opened_at {
        Some(opened) => sla::status(&case.priority, opened, first_review, now),
        None => SlaStatus::Unknown,
    };
    let current = view.history.last();
    let empty = ReviewForm::default();
    let (form, problems) = match &view.rejected {
        Some((form, problems)) => (form, problems.as_slice()),
        None => (&empty, &[][..]),
    };
    let links = wb.links(&case.user_id);
    let body = html! {
        p { a href="/queue" { "← queue" } }
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
                dt { "SLA" } dd { span class={"sla " (sla.class())} id="case-sla" { (sla.label()) }
                    " (first review within " (sla::target_hours(&case.priority)) " h)" }
            }
            p.findings id="findings" { (case.findings) }
            ul.tags id="evidence-tags" {
                @for tag in &case.evidence_tags { li.tag { (tag) } }
            }
        }
        h2 { "Detection hits" }
        @if view.hits.is_empty() {
            p.muted { "No detection hits." }
        } @else {
            table id="hits" {
                tr { th { "detection" } th { "severity" } th { "evidence" } th { "first" } th { "last" } th { "related" } }
                @for h in view.hits {
                    tr {
                        td { (h.detection) } td { span class={"sev " (h.severity)} { (h.severity) } }
                        td { (h.evidence) } td { (h.first_ts) } td { (h.last_ts) } td { (h.related) }
                    }
                }
            }
        }
        section.columns {
            div {
                h2 { "Timeline" }
                p.muted {
                    (view.total_events) " event(s)"
                    @if view.total_events > TIMELINE_EVENTS as i64 { ", the first " (TIMELINE_EVENTS) " shown" }
                    ", with the reports about this user and their enforcements, in time order."
                }
                ol.timeline id="timeline" {
                    @for m in &view.timeline {
                        li class={(m.kind) @if m.flagged { " flagged" }} {
                            time { (m.ts) } " "
                            span.kind { (m.kind) } " "
                            strong { (m.what) } " "
                            span { (m.detail) }
                        }
                    }
                }
            }
            div {
                h2 { "Linked accounts and shared infrastructure" }
                p.muted { (links.len()) " link(s) from entity resolution." }
                div id="graph" {
                    (linked_accounts(&case.user_id, links, |u| wb.case_of_user(u).map(|c| c.case_id.clone())))
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
            label { "Disposition "
                select name="disposition" id="disposition" required {
                    option value="" { "choose…" }
                    @for d in DISPOSITIONS { option value=(d) selected[form.disposition == d] { (d) } }
                }
            }
            label { "Reviewer " input type="text" name="reviewer" id="reviewer" required maxlength="80" value=(form.reviewer); }
            label.wide { "Notes " textarea name="notes" id="notes" rows="4" maxlength=(MAX_NOTES) { (form.notes) } }
            button type="submit" id="save-review" { "Save review" }
        }
        h2 { "Audit trail" }
        @if view.history.is_empty() {
            p.muted id="audit" { "No reviews yet." }
        } @else {
            table id="audit" {
                tr { th { "#" } th { "reviewed at" } th { "reviewer" } th { "disposition" } th { "notes" } }
                @for r in view.history.iter().rev() {
                    tr.audit-row {
                        td.num { (r.review_id) } td { (r.reviewed_at) } td { (r.reviewer) }
                        td { (r.disposition) } td.notes { (r.notes) }
                    }
                }
            }
        }
    };
    layout(&case.case_id, body)
}
