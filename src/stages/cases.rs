//! `cases`: one explainable case per flagged user, for the analyst workbench.
//!
//! A user is flagged by a detection hit, a row in the review queue, or a
//! suggested enforcement other than allow. Its case combines, with weights
//! from the `cases.*` params:
//!
//! ```text
//! case_score = weight_detection     * distinct detections that hit the user
//!            + weight_high_severity * high-severity hits
//!            + weight_risk          * highest risk score in the queue
//!            + weight_component     * min(1, log10(component size))   (linked accounts)
//!            + weight_report        * min(user reports, 4)
//!            + weight_enforcement   * (suggested block or rate_limit ? 1 : 0)
//! ```
//!
//! rounded to two decimals; priority P1 / P2 / P3 at `p1_score`, `p2_score`,
//! `p3_score` and above, else P4. The recommended action follows the priority
//! (suspend_pending_review, manual_review, monitor, no_action), except that a
//! high-severity ban-evasion hit always recommends `suspend_pending_review`.
//! case_id is `case_<user_id>`, stable for the same data. Sorted by
//! case_score descending, then user.

use std::collections::{BTreeMap, BTreeSet};

use super::table::{write_csv, Table};
use crate::execute::{
    open_read_only, Builtin, ParamProblem, StageContext, StageError, StageParams,
};
use crate::stages::fmt_f64;
use crate::StageResult;

pub struct Cases;

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
}

impl Weights {
    pub fn from_params(p: &StageParams) -> Result<Weights, ParamProblem> {
        let w = |key: &str, default: f64| p.float(&format!("cases.{key}"), default, 0.0..=f64::MAX);
        Ok(Weights {
            detection: w("weight_detection", 20.0)?,
            high_severity: w("weight_high_severity", 10.0)?,
            risk: w("weight_risk", 30.0)?,
            component: w("weight_component", 10.0)?,
            report: w("weight_report", 5.0)?,
            enforcement: w("weight_enforcement", 15.0)?,
            p1: w("p1_score", 70.0)?,
            p2: w("p2_score", 45.0)?,
            p3: w("p3_score", 25.0)?,
        })
    }
}

/// Everything known about one flagged user.
#[derive(Debug, Clone, Default)]
pub struct Evidence {
    pub detections: BTreeSet<String>,
    pub high_hits: usize,
    pub ban_evasion_high: bool,
    pub max_risk: Option<f64>,
    pub risk_day: String,
    pub action: Option<String>,
    pub component_id: String,
    pub component_size: usize,
    pub n_reports: usize,
}

/// The most severe suggested action wins.
fn severity(action: &str) -> u8 {
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
    let enforced = e
        .action
        .as_deref()
        .is_some_and(|a| a == "block" || a == "rate_limit");
    let score = w.detection * e.detections.len() as f64
        + w.high_severity * e.high_hits as f64
        + w.risk * e.max_risk.unwrap_or(0.0)
        + w.component * component
        + w.report * e.n_reports.min(4) as f64
        + w.enforcement * enforced as u8 as f64;
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

pub fn recommended_action(priority: &str, e: &Evidence) -> &'static str {
    if e.ban_evasion_high {
        return "suspend_pending_review";
    }
    match priority {
        "P1" => "suspend_pending_review",
        "P2" => "manual_review",
        "P3" => "monitor",
        _ => "no_action",
    }
}

fn tags(e: &Evidence) -> Vec<String> {
    let mut tags: Vec<String> = e.detections.iter().cloned().collect();
    if e.max_risk.is_some_and(|r| r >= 0.9) {
        tags.push("high_model_risk".into());
    }
    if e.component_size >= 2 {
        tags.push("linked_accounts".into());
    }
    if e.n_reports > 0 {
        tags.push("user_reported".into());
    }
    if let Some(a) = e.action.as_deref().filter(|a| *a != "allow") {
        tags.push(format!("suggested_{a}"));
    }
    tags
}

fn findings(e: &Evidence) -> String {
    let mut parts = Vec::new();
    if !e.detections.is_empty() {
        let names: Vec<&str> = e.detections.iter().map(String::as_str).collect();
        parts.push(format!(
            "{} detection(s): {} ({} high severity)",
            names.len(),
            names.join(", "),
            e.high_hits
        ));
    }
    if let Some(r) = e.max_risk {
        parts.push(format!(
            "highest model risk {} on {}",
            fmt_f64(r),
            e.risk_day
        ));
    }
    if e.component_size >= 2 {
        parts.push(format!(
            "linked to {} other account(s) through shared infrastructure",
            e.component_size - 1
        ));
    }
    if e.n_reports > 0 {
        parts.push(format!("{} user report(s)", e.n_reports));
    }
    if let Some(a) = e.action.as_deref().filter(|a| *a != "allow") {
        parts.push(format!("suggested enforcement: {a}"));
    }
    parts.join("; ")
}

impl Builtin for Cases {
    fn name(&self) -> &'static str {
        "cases"
    }

    fn version(&self) -> &'static str {
        "1"
    }

    fn outs(&self) -> &'static [&'static str] {
        &["cases.csv"]
    }

    fn validate(&self, params: &StageParams) -> Result<(), ParamProblem> {
        Weights::from_params(params).map(|_| ())
    }

    fn run(&self, ctx: &StageContext) -> StageResult<()> {
        let weights = Weights::from_params(&ctx.params)?;
        let mut users: BTreeMap<String, Evidence> = BTreeMap::new();

        let dir = ctx.dep("detections")?;
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .map_err(|source| StageError::Read {
                path: dir.clone(),
                source,
            })?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "csv"))
            .collect();
        files.sort();
        for file in files {
            let t = Table::read(&file)?;
            let (user, detection, severity) =
                (t.col("user_id")?, t.col("detection")?, t.col("severity")?);
            for r in &t.rows {
                let e = users.entry(r[user].clone()).or_default();
                e.detections.insert(r[detection].clone());
                if r[severity] == "high" {
                    e.high_hits += 1;
                    e.ban_evasion_high |= r[detection] == "ban_evasion";
                }
            }
        }

        let queue = Table::read(&ctx.dep("review_queue_dedup.csv")?)?;
        let (qday, quser) = (queue.col("day")?, queue.col("user_id")?);
        for (r, risk) in queue.rows.iter().zip(queue.floats("risk_score")?) {
            let e = users.entry(r[quser].clone()).or_default();
            if e.max_risk.is_none_or(|m| risk > m) {
                e.max_risk = Some(risk);
                e.risk_day = r[qday].clone();
            }
        }

        let actions = Table::read(&ctx.dep("enforcement_actions.csv")?)?;
        let (auser, aaction) = (actions.col("user_id")?, actions.col("suggested_action")?);
        for r in &actions.rows {
            if r[aaction] == "allow" {
                continue;
            }
            let e = users.entry(r[auser].clone()).or_default();
            if e.action
                .as_deref()
                .is_none_or(|a| severity(&r[aaction]) > severity(a))
            {
                e.action = Some(r[aaction].clone());
            }
        }

        let components = Table::read(&ctx.dep("entity_resolution_components.csv")?)?;
        let (cuser, cid) = (components.col("user_id")?, components.col("component_id")?);
        let mut sizes: BTreeMap<&str, usize> = BTreeMap::new();
        for r in &components.rows {
            *sizes.entry(r[cid].as_str()).or_default() += 1;
        }
        for r in &components.rows {
            if let Some(e) = users.get_mut(&r[cuser]) {
                e.component_id = r[cid].clone();
                e.component_size = sizes[r[cid].as_str()];
            }
        }

        let conn = open_read_only(&ctx.dep("sqlite.db")?)?;
        let mut stmt = conn
            .prepare("SELECT reported_user_id, COUNT(*) FROM reports GROUP BY reported_user_id")?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            if let Some(e) = users.get_mut(&r.get::<_, String>(0)?) {
                e.n_reports = r.get::<_, i64>(1)? as usize;
            }
        }
        let mut spans: std::collections::HashMap<String, (String, String)> =
            std::collections::HashMap::new();
        let mut stmt =
            conn.prepare("SELECT user_id, first_seen_ts, last_seen_ts FROM core_users")?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            let user: String = r.get(0)?;
            if users.contains_key(&user) {
                spans.insert(user, (r.get(1)?, r.get(2)?));
            }
        }

        let mut cases: Vec<(f64, &String, &Evidence)> = users
            .iter()
            .map(|(u, e)| (case_score(e, &weights), u, e))
            .collect();
        cases.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(b.1)));
        let mut out = Vec::with_capacity(cases.len());
        for (score, user, e) in cases {
            let (first, last) = spans.get(user).cloned().unwrap_or_default();
            let p = priority(score, &weights);
            out.push(vec![
                format!("case_{user}"),
                user.clone(),
                fmt_f64(score),
                p.to_string(),
                recommended_action(p, e).to_string(),
                e.detections.iter().cloned().collect::<Vec<_>>().join(";"),
                tags(e).join(";"),
                findings(e),
                e.max_risk.map(fmt_f64).unwrap_or_default(),
                e.component_id.clone(),
                e.component_size.max(1).to_string(),
                e.n_reports.to_string(),
                first,
                last,
            ]);
        }
        write_csv(
            &ctx.out("cases.csv"),
            &[
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
            ],
            out,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn weights() -> Weights {
        Weights::from_params(&StageParams::default()).unwrap()
    }

    /// The score adds each documented term; priorities cut at the params.
    #[test]
    fn score_by_hand() {
        let mut e = Evidence::default();
        e.detections.insert("ban_evasion".into());
        e.detections.insert("shared_device".into());
        e.high_hits = 1;
        e.max_risk = Some(0.5);
        e.component_size = 10;
        e.n_reports = 9;
        e.action = Some("block".into());
        // 20*2 + 10*1 + 30*0.5 + 10*1 + 5*4 + 15 = 110
        assert_eq!(case_score(&e, &weights()), 110.0);
        assert_eq!(priority(110.0, &weights()), "P1");
        assert_eq!(priority(45.0, &weights()), "P2");
        assert_eq!(priority(24.99, &weights()), "P4");
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

    /// A high-severity ban-evasion hit recommends suspension at any priority.
    #[test]
    fn ban_evasion_suspends() {
        let e = Evidence {
            ban_evasion_high: true,
            ..Evidence::default()
        };
        assert_eq!(recommended_action("P4", &e), "suspend_pending_review");
        assert_eq!(recommended_action("P3", &Evidence::default()), "monitor");
    }
}
