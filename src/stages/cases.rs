//! `cases`: one explainable case per flagged user, for the analyst workbench.
//!
//! A user is flagged by a detection hit, a row in the deduplicated review
//! queue, or a suggested enforcement other than `allow`. Its case combines,
//! with weights from the `cases.*` params:
//!
//! ```text
//! case_score = weight_detection     * distinct detections that hit the user
//!            + weight_high_severity * of those, the ones of high severity
//!            + weight_risk          * highest risk_score among its queue rows (0 if none)
//!            + weight_component     * min(1, log10(component size))   (0 when alone)
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
//! The recommended action follows the priority (P1 suspend_pending_review,
//! P2 manual_review, P3 monitor, P4 no_action), except that a high-severity
//! ban_evasion hit always recommends suspend_pending_review: a banned actor
//! back on a new account needs no further corroboration.
//!
//! case_id is `case_<user_id>`, stable for the same data. Rows are sorted by
//! case_score descending, then user_id. Everything is read in one pass per
//! input and kept per flagged user, so the stage is linear in its inputs.

use std::collections::{BTreeMap, HashMap};

use super::csv_stream::CsvStream;
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
        })
    }
}

/// One detection's hit on a user.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    pub severity: String,
    pub evidence: String,
}

/// Everything known about one flagged user.
#[derive(Debug, Clone, Default)]
pub struct Evidence {
    /// Detection name -> its hit (the most severe one if a file lists the user twice).
    pub hits: BTreeMap<String, Hit>,
    pub max_risk: Option<f64>,
    pub risk_day: String,
    /// The most severe suggested action other than allow.
    pub action: Option<String>,
    pub component_id: String,
    pub component_size: usize,
    pub n_reports: usize,
    pub n_prior_enforcements: usize,
}

impl Evidence {
    fn high_hits(&self) -> usize {
        self.hits.values().filter(|h| h.severity == "high").count()
    }

    fn is_ban_evasion_high(&self) -> bool {
        self.hits
            .get("ban_evasion")
            .is_some_and(|h| h.severity == "high")
    }

    fn is_enforced(&self) -> bool {
        matches!(self.action.as_deref(), Some("block" | "rate_limit"))
    }

    fn add_hit(&mut self, detection: &str, hit: Hit) {
        match self.hits.get(detection) {
            Some(old) if old.severity == "high" || hit.severity != "high" => {}
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

pub fn recommended_action(priority: &str, e: &Evidence) -> &'static str {
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
            "in a component of {} accounts linked by shared devices, payments or IPs",
            e.component_size
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
    let (auser, aaction) = (actions.col("user_id")?, actions.col("suggested_action")?);
    for r in actions.rows.iter().filter(|r| r[aaction] != "allow") {
        let e = users.entry(r[auser].clone()).or_default();
        if e.action
            .as_deref()
            .is_none_or(|a| action_rank(&r[aaction]) > action_rank(a))
        {
            e.action = Some(r[aaction].clone());
        }
    }

    // Components: one streamed pass for the sizes, one for the flagged users' ids.
    let path = ctx.dep("entity_resolution_components.csv")?;
    let mut sizes: HashMap<String, usize> = HashMap::new();
    let mut s = CsvStream::open(&path)?;
    let cid = s.col("component_id")?;
    while s.advance()? {
        *sizes.entry(s.text(cid)?.to_string()).or_default() += 1;
    }
    let mut s = CsvStream::open(&path)?;
    let (cuser, cid) = (s.col("user_id")?, s.col("component_id")?);
    while s.advance()? {
        if let Some(e) = users.get_mut(s.text(cuser)?) {
            e.component_id = s.text(cid)?.to_string();
            e.component_size = sizes.get(&e.component_id).copied().unwrap_or(1);
        }
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
        "2"
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
            .collect();
        cases.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(b.1)));
        let rows = cases.into_iter().map(|(score, user, e)| {
            let (first, last) = spans.get(user).cloned().unwrap_or_default();
            let p = priority(score, &weights);
            [
                format!("case_{user}"),
                user.clone(),
                fmt_f64(score),
                p.to_string(),
                recommended_action(p, e).to_string(),
                e.hits.keys().cloned().collect::<Vec<_>>().join(";"),
                tags(e).join(";"),
                findings(e),
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

    /// A high-severity ban-evasion hit recommends suspension at any priority;
    /// a later medium hit of the same detection does not downgrade it.
    #[test]
    fn ban_evasion_suspends() {
        let mut e = Evidence::default();
        e.add_hit("ban_evasion", hit("high"));
        e.add_hit("ban_evasion", hit("medium"));
        assert_eq!(recommended_action("P4", &e), "suspend_pending_review");
        assert_eq!(recommended_action("P3", &Evidence::default()), "monitor");
        assert_eq!(
            recommended_action("P2", &Evidence::default()),
            "manual_review"
        );
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
        write(
            d,
            "entity_resolution_components.csv",
            "user_id,component_id\nu_a,0\nu_b,1\nu_c,2\nu_x,1\nu_z,3\n",
        );
        let db = d.join("sqlite.db");
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.execute_batch(
            "CREATE TABLE reports (report_id, ts, reporter_user_id, reported_user_id, event_id, reason);
             INSERT INTO reports VALUES ('r1','t','u_c','u_a','e1','spam'), ('r2','t','u_c','u_a','e2','spam');
             CREATE TABLE enforcements (enforcement_id, ts, user_id, action, reason);
             INSERT INTO enforcements VALUES ('n1','t','u_x','ban','abuse');
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
            params: StageParams::default(),
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
                ["case_u_a", "53.5", "P3", "monitor", "1"],
                ["case_u_b", "53.01", "P3", "suspend_pending_review", "2"],
                ["case_u_x", "23.01", "P4", "no_action", "2"],
                ["case_u_c", "6", "P4", "no_action", "1"],
            ]
        );
        let u_a = &rows[0];
        assert_eq!(u_a[6], "high_model_risk;user_reported;suggested_block");
        assert_eq!(
            u_a[7],
            "highest model risk 0.95 on 2026-01-01; 2 user report(s); suggested enforcement: block"
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
    }
}
