//! `cases`: one explainable case per flagged user, for the analyst workbench.
//!
//! A user is flagged by a detection hit, a row in the deduplicated review
//! queue, or a suggested enforcement other than `allow`. A flagged user
//! becomes a case only when its case score reaches `cases.min_score`: the
//! cases are an inbox, not a census (every signal stays in its own export).
//! The score combines, with weights from the `cases.*` params:
//!
//! ```text
//! case_score = weight_detection     * distinct detections that hit the user
//!            + weight_high_severity * of those, the ones of high severity
//!            + weight_risk          * highest risk_score among its queue rows (0 if none)
//!            + weight_component     * min(1, log10(strong component size)) (0 when alone)
//!            + weight_report        * min(reports against the user, 4)
//!            + weight_enforcement   * (most severe suggested action is block or rate_limit)
//! ```
//!
//! rounded to two decimals. Every term is a count or a number already in
//! another export, so a reviewer can recompute a score by hand: no ML beyond
//! the model's risk score. Priority: P1 at `p1_score` and above, P2 at
//! `p2_score`, P3 at `p3_score`, else P4. The default cut-offs ask for
//! corroboration: one detection plus a high risk and a suggested block
//! reaches P2, and P1 needs a second detection or user reports on top.
//!
//! The component is the user's **strong** component (`strong_links.rs`: a
//! shared device plus a shared IP or payment token), not the notebook's
//! entity-resolution component, which joins nearly every account through
//! coincidental device and payment collisions; `component_id` and
//! `component_size` are the strong component's, and so is the
//! `linked_accounts` tag.
//!
//! The recommended action follows the priority (P1 suspend_pending_review,
//! P2 manual_review, P3 monitor, P4 no_action), except that a high-severity
//! ban_evasion hit always recommends suspend_pending_review (a banned actor
//! back on a new account needs no further corroboration), and that it is
//! never weaker than the enforcement suggestion: block asks for
//! suspend_pending_review, rate_limit and escalate for manual_review, warn
//! for monitor. Where the suggestion raised the action, the findings say so,
//! with the enforcement rule's reason code.
//!
//! case_id is `case_<user_id>`, stable for the same data. Rows are sorted by
//! case_score descending, then user_id. Everything is read in one pass per
//! input and kept per flagged user, so the stage is linear in its inputs.

use std::collections::{BTreeMap, HashMap};

use super::csv_stream::CsvStream;
use super::strong_links::StrongLinks;
use super::table::{write_csv, Table};
use crate::execute::{
    open_read_only, Builtin, ParamProblem, StageContext, StageError, StageParams,
};
use crate::stages::fmt_f64;
use crate::StageResult;

pub struct Cases;

const HEADER: [&str; 14] = [
    "case_id",
    "user_id",
    "case_score",
    "priority",
    "recommended_action",
    "detections",
    "evidence_tags",
    "findings",
    "max_risk",
    "component_id",
    "component_size",
    "n_reports",
    "first_ts",
    "last_ts",
];

/// Reports beyond this many add nothing: a pile-on is not more evidence.
const MAX_REPORTS: usize = 4;
/// A risk at or above this earns the `high_model_risk` tag.
const HIGH_RISK: f64 = 0.9;
/// The default `cases.min_score`.
const MIN_SCORE: f64 = 50.0;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Weights {
    pub detection: f64,
    pub high_severity: f64,
    pub risk: f64,
    pub component: f64,
    pub report: f64,
    pub enforcement: f64,
    pub p1: f64,
    pub p2: f64,
    pub p3: f64,
    pub min_score: f64,
}

impl Weights {
    pub fn from_params(p: &StageParams) -> Result<Weights, ParamProblem> {
        let w = |key: &str, default: f64| p.float(&format!("cases.{key}"), default, 0.0..=1e6);
        Ok(Weights {
            detection: w("weight_detection", 20.0)?,
            high_severity: w("weight_high_severity", 10.0)?,
            risk: w("weight_risk", 30.0)?,
            component: w("weight_component", 10.0)?,
            report: w("weight_report", 5.0)?,
            enforcement: w("weight_enforcement", 15.0)?,
            p1: w("p1_score", 90.0)?,
            p2: w("p2_score", 60.0)?,
            p3: w("p3_score", 35.0)?,
            min_score: w("min_score", MIN_SCORE)?,
        })
        .and_then(Weights::ordered)
    }

    /// P1 needs the highest score: cut-offs out of order would skip a priority.
    fn ordered(self) -> Result<Weights, ParamProblem> {
        for (key, value, below, floor) in [
            ("p1_score", self.p1, "p2_score", self.p2),
            ("p2_score", self.p2, "p3_score", self.p3),
        ] {
            if value < floor {
                return Err(ParamProblem {
                    key: format!("cases.{key}"),
                    value: crate::stages::fmt_f64(value),
                    expected: format!(
                        "a number >= cases.{below}, which is {}",
                        crate::stages::fmt_f64(floor)
                    ),
                    is_wrong_type: false,
                });
            }
        }
        Ok(self)
    }
}

/// One detection's hit on a user.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    pub severity: String,
    pub evidence: String,
}

impl Hit {
    fn is_high(&self) -> bool {
        is_high_severity(&self.severity)
    }
}

/// Whether a detection's severity is high. The shipped SQL writes `high`;
/// a detection a team adds may write `HIGH`, `High` or `critical`, which
/// must not score as a lesser hit.
pub fn is_high_severity(severity: &str) -> bool {
    let severity = severity.trim();
    severity.eq_ignore_ascii_case("high") || severity.eq_ignore_ascii_case("critical")
}

/// Everything known about one flagged user.
#[derive(Debug, Clone, Default)]
pub struct Evidence {
    /// Detection name -> its hit (the most severe one if a file lists the user twice).
    pub hits: BTreeMap<String, Hit>,
    pub max_risk: Option<f64>,
    pub risk_day: String,
    /// The most severe suggested action other than allow, and its reason code.
    pub action: Option<String>,
    pub action_reason: String,
    /// The strong component (`strong_links.rs`).
    pub component_id: String,
    pub component_size: usize,
    pub n_reports: usize,
    pub n_prior_enforcements: usize,
}

impl Evidence {
    fn high_hits(&self) -> usize {
        self.hits.values().filter(|h| h.is_high()).count()
    }

    fn is_ban_evasion_high(&self) -> bool {
        self.hits.get("ban_evasion").is_some_and(Hit::is_high)
    }

    fn is_enforced(&self) -> bool {
        matches!(self.action.as_deref(), Some("block" | "rate_limit"))
    }

    fn add_hit(&mut self, detection: &str, hit: Hit) {
        match self.hits.get(detection) {
            Some(old) if old.is_high() || !hit.is_high() => {}
            _ => {
                self.hits.insert(detection.to_string(), hit);
            }
        }
    }
}

/// How severe a suggested action is; the most severe one a user got wins.
fn action_rank(action: &str) -> u8 {
    match action {
        "block" => 4,
        "rate_limit" => 3,
        "escalate" => 2,
        "warn" => 1,
        _ => 0,
    }
}

pub fn case_score(e: &Evidence, w: &Weights) -> f64 {
    let component = if e.component_size >= 2 {
        (e.component_size as f64).log10().min(1.0)
    } else {
        0.0
    };
    let score = w.detection * e.hits.len() as f64
        + w.high_severity * e.high_hits() as f64
        + w.risk * e.max_risk.unwrap_or(0.0)
        + w.component * component
        + w.report * e.n_reports.min(MAX_REPORTS) as f64
        + w.enforcement * f64::from(u8::from(e.is_enforced()));
    (score * 100.0).round() / 100.0
}

pub fn priority(score: f64, w: &Weights) -> &'static str {
    if score >= w.p1 {
        "P1"
    } else if score >= w.p2 {
        "P2"
    } else if score >= w.p3 {
        "P3"
    } else {
        "P4"
    }
}

/// The case actions, weakest first.
const CASE_ACTIONS: [&str; 4] = [
    "no_action",
    "monitor",
    "manual_review",
    "suspend_pending_review",
];

/// The case action an enforcement suggestion asks for at least.
fn case_action_for(suggestion: &str) -> &'static str {
    match suggestion {
        "block" => "suspend_pending_review",
        "rate_limit" | "escalate" => "manual_review",
        "warn" => "monitor",
        _ => "no_action",
    }
}

fn case_rank(action: &str) -> usize {
    CASE_ACTIONS.iter().position(|a| *a == action).unwrap_or(0)
}

/// The action the priority and the evidence ask for, before the suggestion.
fn evidence_action(priority: &str, e: &Evidence) -> &'static str {
    if e.is_ban_evasion_high() {
        return "suspend_pending_review";
    }
    match priority {
        "P1" => "suspend_pending_review",
        "P2" => "manual_review",
        "P3" => "monitor",
        _ => "no_action",
    }
}

/// The recommended action, and whether the enforcement suggestion raised it.
pub fn recommended_action(priority: &str, e: &Evidence) -> (&'static str, bool) {
    let own = evidence_action(priority, e);
    let suggested = e.action.as_deref().map_or("no_action", case_action_for);
    if case_rank(suggested) > case_rank(own) {
        (suggested, true)
    } else {
        (own, false)
    }
}

/// Short machine-friendly tags: the detections, then the other signals.
pub fn tags(e: &Evidence) -> Vec<String> {
    let mut tags: Vec<String> = e.hits.keys().cloned().collect();
    if e.max_risk.is_some_and(|r| r >= HIGH_RISK) {
        tags.push("high_model_risk".into());
    }
    if e.component_size >= 2 {
        tags.push("linked_accounts".into());
    }
    if e.n_reports > 0 {
        tags.push("user_reported".into());
    }
    if e.n_prior_enforcements > 0 {
        tags.push("prior_enforcement".into());
    }
    if let Some(a) = &e.action {
        tags.push(format!("suggested_{a}"));
    }
    tags
}

/// One readable sentence per signal, with the detections' own evidence.
pub fn findings(e: &Evidence) -> String {
    let mut parts: Vec<String> = e
        .hits
        .iter()
        .map(|(name, h)| format!("{name} ({}): {}", h.severity, h.evidence))
        .collect();
    if let Some(r) = e.max_risk {
        parts.push(format!(
            "highest model risk {} on {}",
            fmt_f64(r),
            e.risk_day
        ));
    }
    if e.component_size >= 2 {
        parts.push(format!(
            "strongly linked to {} other account(s) (a shared device plus a shared IP or payment)",
            e.component_size - 1
        ));
    }
    if e.n_reports > 0 {
        parts.push(format!("{} user report(s)", e.n_reports));
    }
    if e.n_prior_enforcements > 0 {
        parts.push(format!("{} prior enforcement(s)", e.n_prior_enforcements));
    }
    if let Some(a) = &e.action {
        parts.push(format!("suggested enforcement: {a}"));
    }
    parts.join("; ")
}

/// The findings, plus why the action is what it is when the suggestion set it.
fn findings_with_action(e: &Evidence, action: &str, raised: bool) -> String {
    let mut text = findings(e);
    if raised {
        let suggestion = e.action.as_deref().unwrap_or_default();
        text.push_str(&format!(
            "; {action} follows the suggested {suggestion} (enforcement rule {})",
            e.action_reason
        ));
    }
    text
}

/// Every detection file's hits, files in name order.
fn read_detections(
    dir: &std::path::Path,
    users: &mut BTreeMap<String, Evidence>,
) -> StageResult<()> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map_err(|source| StageError::Read {
            path: dir.to_path_buf(),
            source,
        })?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "csv"))
        .collect();
    files.sort();
    for file in files {
        let mut s = CsvStream::open(&file)?;
        let (user, detection, severity, evidence) = (
            s.col("user_id")?,
            s.col("detection")?,
            s.col("severity")?,
            s.col("evidence")?,
        );
        while s.advance()? {
            let hit = Hit {
                severity: s.text(severity)?.to_string(),
                evidence: s.text(evidence)?.to_string(),
            };
            users
                .entry(s.text(user)?.to_string())
                .or_default()
                .add_hit(s.text(detection)?, hit);
        }
    }
    Ok(())
}

/// Everything flagged, gathered from the deps.
fn gather(ctx: &StageContext) -> StageResult<BTreeMap<String, Evidence>> {
    let mut users: BTreeMap<String, Evidence> = BTreeMap::new();
    read_detections(&ctx.dep("detections")?, &mut users)?;

    let queue = Table::read(&ctx.dep("review_queue_dedup.csv")?)?;
    let (qday, quser) = (queue.col("day")?, queue.col("user_id")?);
    for (r, risk) in queue.rows.iter().zip(queue.floats("risk_score")?) {
        let e = users.entry(r[quser].clone()).or_default();
        // Ties keep the earliest day, so the findings name a fixed day.
        let is_higher = e
            .max_risk
            .is_none_or(|m| risk > m || (risk == m && r[qday] < e.risk_day));
        if is_higher {
            e.max_risk = Some(risk);
            e.risk_day = r[qday].clone();
        }
    }

    let actions = Table::read(&ctx.dep("enforcement_actions.csv")?)?;
    let (auser, aaction, areason) = (
        actions.col("user_id")?,
        actions.col("suggested_action")?,
        actions.col("reason_code")?,
    );
    for r in actions.rows.iter().filter(|r| r[aaction] != "allow") {
        let e = users.entry(r[auser].clone()).or_default();
        if e.action
            .as_deref()
            .is_none_or(|a| action_rank(&r[aaction]) > action_rank(a))
        {
            e.action = Some(r[aaction].clone());
            e.action_reason = r[areason].clone();
        }
    }

    // Strong components, not the notebook's all-links ones (see the top).
    let strong = StrongLinks::read(&ctx.dep("sqlite.db")?)?;
    for (user, e) in users.iter_mut() {
        let (id, size) = strong.component(user).unwrap_or((usize::MAX, 1));
        e.component_id = if id == usize::MAX {
            String::new()
        } else {
            id.to_string()
        };
        e.component_size = size;
    }
    Ok(users)
}

/// (first_ts, last_ts) per flagged user, and reports and prior enforcements.
fn read_database(
    db: &std::path::Path,
    users: &mut BTreeMap<String, Evidence>,
) -> StageResult<HashMap<String, (String, String)>> {
    let conn = open_read_only(db)?;
    let counts = |sql: &str| -> StageResult<Vec<(String, usize)>> {
        let mut stmt = conn.prepare(sql)?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as usize)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    };
    for (user, n) in counts(
        "SELECT reported_user_id, COUNT(*) FROM reports
         WHERE reported_user_id IS NOT NULL GROUP BY reported_user_id",
    )? {
        if let Some(e) = users.get_mut(&user) {
            e.n_reports = n;
        }
    }
    for (user, n) in counts(
        "SELECT user_id, COUNT(*) FROM enforcements WHERE user_id IS NOT NULL GROUP BY user_id",
    )? {
        if let Some(e) = users.get_mut(&user) {
            e.n_prior_enforcements = n;
        }
    }
    let mut spans = HashMap::new();
    let mut stmt = conn.prepare("SELECT user_id, first_seen_ts, last_seen_ts FROM core_users")?;
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        let user: String = r.get(0)?;
        if users.contains_key(&user) {
            let span = (
                r.get::<_, Option<String>>(1)?.unwrap_or_default(),
                r.get::<_, Option<String>>(2)?.unwrap_or_default(),
            );
            spans.insert(user, span);
        }
    }
    Ok(spans)
}

impl Builtin for Cases {
    fn name(&self) -> &'static str {
        "cases"
    }

    fn version(&self) -> &'static str {
        // 4: `HIGH` and `critical` severities count as high.
        "4"
    }

    fn outs(&self) -> &'static [&'static str] {
        &["cases.csv"]
    }

    fn validate(&self, params: &StageParams) -> Result<(), ParamProblem> {
        Weights::from_params(params).map(|_| ())
    }

    fn run(&self, ctx: &StageContext) -> StageResult<()> {
        let weights = Weights::from_params(&ctx.params)?;
        let mut users = gather(ctx)?;
        let spans = read_database(&ctx.dep("sqlite.db")?, &mut users)?;

        let mut cases: Vec<(f64, &String, &Evidence)> = users
            .iter()
            .map(|(u, e)| (case_score(e, &weights), u, e))
            .filter(|(score, _, _)| *score >= weights.min_score)
            .collect();
        cases.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(b.1)));
        let rows = cases.into_iter().map(|(score, user, e)| {
            let (first, last) = spans.get(user).cloned().unwrap_or_default();
            let p = priority(score, &weights);
            let (action, raised) = recommended_action(p, e);
            [
                format!("case_{user}"),
                user.clone(),
                fmt_f64(score),
                p.to_string(),
                action.to_string(),
                e.hits.keys().cloned().collect::<Vec<_>>().join(";"),
                tags(e).join(";"),
                findings_with_action(e, action, raised),
                e.max_risk.map(fmt_f64).unwrap_or_default(),
                e.component_id.clone(),
                e.component_size.max(1).to_string(),
                e.n_reports.to_string(),
                first,
                last,
            ]
        });
        write_csv(&ctx.out("cases.csv"), &HEADER, rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::execute::StageContext;
    use std::path::Path;

    fn weights() -> Weights {
        Weights::from_params(&StageParams::default()).unwrap()
    }

    /// Priority cut-offs out of order are refused, naming the one below.
    #[test]
    fn priority_cut_offs_must_be_in_order() {
        let weights = |yaml: &str| {
            Weights::from_params(&StageParams::new(serde_yaml::from_str(yaml).unwrap()))
        };
        let problem = weights("cases: {p1_score: 50}").unwrap_err();
        assert_eq!(problem.key, "cases.p1_score");
        assert!(
            problem.expected.contains("cases.p2_score, which is 60"),
            "{}",
            problem.expected
        );
        let problem = weights("cases: {p3_score: 70}").unwrap_err();
        assert_eq!(problem.key, "cases.p2_score");
        assert!(weights("cases: {p1_score: 60, p2_score: 60, p3_score: 60}").is_ok());
    }

    fn hit(severity: &str) -> Hit {
        Hit {
            severity: severity.into(),
            evidence: "seen".into(),
        }
    }

    /// The score adds each documented term; priorities cut at the params.
    #[test]
    fn score_by_hand() {
        let mut e = Evidence::default();
        e.add_hit("ban_evasion", hit("high"));
        e.add_hit("shared_device", hit("medium"));
        e.max_risk = Some(0.5);
        e.component_size = 10;
        e.n_reports = 9;
        e.action = Some("block".into());
        // 20*2 + 10*1 + 30*0.5 + 10*log10(10) + 5*min(9, 4) + 15*1 = 110
        assert_eq!(case_score(&e, &weights()), 110.0);
        // A component of 2 scores log10(2); alone, nothing.
        let pair = Evidence {
            component_size: 2,
            ..Evidence::default()
        };
        assert_eq!(case_score(&pair, &weights()), 3.01);
        assert_eq!(case_score(&Evidence::default(), &weights()), 0.0);
        let w = weights();
        assert_eq!(priority(90.0, &w), "P1");
        assert_eq!(priority(89.99, &w), "P2");
        assert_eq!(priority(60.0, &w), "P2");
        assert_eq!(priority(35.0, &w), "P3");
        assert_eq!(priority(34.99, &w), "P4");
        assert_eq!(
            tags(&e),
            [
                "ban_evasion",
                "shared_device",
                "linked_accounts",
                "user_reported",
                "suggested_block"
            ]
        );
    }

    /// A detection a team adds may spell its top severity `HIGH`, ` High `
    /// or `critical`: each is a high hit, and outranks a medium one. The old
    /// code counted only `high`, so such hits scored as medium.
    #[test]
    fn high_severity_however_it_is_spelt() {
        for severity in ["high", "HIGH", " High ", "critical", "Critical"] {
            let mut e = Evidence::default();
            e.add_hit("ban_evasion", hit("medium"));
            e.add_hit("ban_evasion", hit(severity));
            e.add_hit("custom", hit(severity));
            assert_eq!(e.high_hits(), 2, "{severity}");
            assert!(e.is_ban_evasion_high(), "{severity}");
        }
        let mut e = Evidence::default();
        e.add_hit("custom", hit("medium"));
        e.add_hit("other", hit("highish"));
        assert_eq!(e.high_hits(), 0);
    }

    /// A high-severity ban-evasion hit recommends suspension at any priority;
    /// a later medium hit of the same detection does not downgrade it.
    #[test]
    fn ban_evasion_suspends() {
        let mut e = Evidence::default();
        e.add_hit("ban_evasion", hit("high"));
        e.add_hit("ban_evasion", hit("medium"));
        assert_eq!(
            recommended_action("P4", &e),
            ("suspend_pending_review", false)
        );
        assert_eq!(
            recommended_action("P3", &Evidence::default()),
            ("monitor", false)
        );
        assert_eq!(
            recommended_action("P2", &Evidence::default()),
            ("manual_review", false)
        );
    }

    /// The action is never weaker than the enforcement suggestion: a P4 with
    /// a suggested escalate asks for manual review, a P3 with a suggested
    /// block for suspension, and the findings name the rule that raised it.
    #[test]
    fn action_follows_a_stronger_suggestion() {
        let suggested = |a: &str, reason: &str| Evidence {
            action: Some(a.into()),
            action_reason: reason.into(),
            ..Evidence::default()
        };
        let e = suggested("escalate", "uncertain_high_risk");
        assert_eq!(recommended_action("P4", &e), ("manual_review", true));
        assert!(findings_with_action(&e, "manual_review", true).ends_with(
            "manual_review follows the suggested escalate (enforcement rule uncertain_high_risk)"
        ));
        let e = suggested("block", "high_confidence_abuse");
        assert_eq!(
            recommended_action("P3", &e),
            ("suspend_pending_review", true)
        );
        // A weaker suggestion leaves the priority's action alone.
        let e = suggested("warn", "suspicious_burst");
        assert_eq!(recommended_action("P2", &e), ("manual_review", false));
    }

    fn write(dir: &Path, name: &str, text: &str) {
        std::fs::create_dir_all(dir.join(name).parent().unwrap()).unwrap();
        std::fs::write(dir.join(name), text).unwrap();
    }

    /// A hand-made world: who gets a case, with which score, in which order.
    #[test]
    fn cases_from_hand_made_inputs() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        write(
            d,
            "detections/ban_evasion.csv",
            "user_id,detection,severity,evidence,first_ts,last_ts,related\n\
             u_b,ban_evasion,high,shares device dev_1 with banned u_x,t1,t2,u_x\n",
        );
        write(
            d,
            "detections/shared_device.csv",
            "detection,user_id,severity,evidence,first_ts,last_ts,related\n\
             shared_device,u_b,medium,device dev_1 used by 2 accounts,t1,t2,u_x\n\
             shared_device,u_x,medium,device dev_1 used by 2 accounts,t1,t2,u_b\n",
        );
        // Columns in another order than upstream writes them: read by name.
        write(
            d,
            "review_queue_dedup.csv",
            "user_id,day,risk_score,is_dup\n\
             u_a,2026-01-02,0.95,0\nu_a,2026-01-01,0.95,1\nu_c,2026-01-01,0.2,0\n",
        );
        write(
            d,
            "enforcement_actions.csv",
            "day,user_id,risk_score,uncertainty,suggested_action,reason_code\n\
             2026-01-01,u_a,0.95,0.1,block,high_confidence_abuse\n\
             2026-01-02,u_a,0.95,0.1,warn,suspicious_burst\n\
             2026-01-01,u_c,0.2,0.4,allow,below_threshold\n",
        );
        // u_b and u_x share a device and an IP: a strong link. u_a and u_c
        // share only an IP: weak, so each is alone.
        write(
            d,
            "entity_resolution_components.csv",
            "user_id,component_id\nu_a,0\nu_b,1\nu_c,0\nu_x,1\nu_z,3\n",
        );
        let db = d.join("sqlite.db");
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.execute_batch(
            "CREATE TABLE reports (report_id, ts, reporter_user_id, reported_user_id, event_id, reason);
             INSERT INTO reports VALUES ('r1','t','u_c','u_a','e1','spam'), ('r2','t','u_c','u_a','e2','spam');
             CREATE TABLE enforcements (enforcement_id, ts, user_id, action, reason);
             INSERT INTO enforcements VALUES ('n1','t','u_x','ban','abuse');
             CREATE TABLE users (user_id);
             INSERT INTO users VALUES ('u_a'), ('u_b'), ('u_c'), ('u_x'), ('u_z');
             CREATE TABLE core_user_identifiers (user_id, kind, value);
             INSERT INTO core_user_identifiers VALUES
               ('u_b','device','dev_1'), ('u_x','device','dev_1'), ('u_b','ip','ip_1'),
               ('u_x','ip','ip_1'), ('u_a','device','dev_2'), ('u_c','device','dev_3'),
               ('u_a','ip','ip_2'), ('u_c','ip','ip_2');
             CREATE TABLE core_users (user_id, first_seen_ts, last_seen_ts);
             INSERT INTO core_users VALUES ('u_a','2026-01-01T00:00:00Z','2026-01-02T10:00:00Z');",
        )
        .unwrap();
        drop(conn);
        let out = d.join("out");
        std::fs::create_dir(&out).unwrap();
        let ctx = StageContext {
            stage: "cases".into(),
            root: d.to_path_buf(),
            // Every flagged user, to see each score; the default cut is below.
            params: StageParams::new(serde_yaml::from_str("cases: {min_score: 0}").unwrap()),
            deps: [
                "detections",
                "review_queue_dedup.csv",
                "enforcement_actions.csv",
                "entity_resolution_components.csv",
                "sqlite.db",
            ]
            .iter()
            .map(|n| d.join(n))
            .collect(),
            wanted: vec!["cases.csv".into()],
            out_dir: out.clone(),
        };
        Cases.run(&ctx).unwrap();
        let text = std::fs::read_to_string(out.join("cases.csv")).unwrap();
        let rows: Vec<Vec<String>> = csv::Reader::from_reader(text.as_bytes())
            .records()
            .map(|r| r.unwrap().iter().map(str::to_string).collect())
            .collect();
        let brief: Vec<[&str; 5]> = rows
            .iter()
            .map(|r| [&*r[0], &*r[2], &*r[3], &*r[4], &*r[10]])
            .collect();
        // u_b: 20*2 + 10 + 10*log10(2) = 53.01; u_a: 30*0.95 + 5*2 + 15 = 53.5;
        // u_x: 20 + 3.01 = 23.01; u_c: 30*0.2 = 6. u_z is not flagged.
        assert_eq!(
            brief,
            [
                ["case_u_a", "53.5", "P3", "suspend_pending_review", "1"],
                ["case_u_b", "53.01", "P3", "suspend_pending_review", "2"],
                ["case_u_x", "23.01", "P4", "no_action", "2"],
                ["case_u_c", "6", "P4", "no_action", "1"],
            ]
        );
        let u_a = &rows[0];
        assert_eq!(u_a[6], "high_model_risk;user_reported;suggested_block");
        assert_eq!(
            u_a[7],
            "highest model risk 0.95 on 2026-01-01; 2 user report(s); suggested enforcement: block; \
             suspend_pending_review follows the suggested block (enforcement rule high_confidence_abuse)"
        );
        assert_eq!(
            (&*u_a[12], &*u_a[13]),
            ("2026-01-01T00:00:00Z", "2026-01-02T10:00:00Z")
        );
        assert_eq!(rows[1][5], "ban_evasion;shared_device");
        assert!(rows[1][7].starts_with("ban_evasion (high): shares device dev_1 with banned u_x; "));
        assert!(rows[2][6].ends_with("prior_enforcement"));
        // The same inputs give the same bytes.
        Cases.run(&ctx).unwrap();
        assert_eq!(
            std::fs::read_to_string(out.join("cases.csv")).unwrap(),
            text
        );
        // At the default cut (50) only the two scores above it are cases.
        let ctx = StageContext {
            params: StageParams::default(),
            ..ctx
        };
        Cases.run(&ctx).unwrap();
        let text = std::fs::read_to_string(out.join("cases.csv")).unwrap();
        let ids: Vec<&str> = text.lines().skip(1).map(|l| &l[..8]).collect();
        assert_eq!(ids, ["case_u_a", "case_u_b"]);
    }
}
