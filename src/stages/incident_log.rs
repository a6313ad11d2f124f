//! `incident_log`: one open incident when monitoring raised a high-severity
//! alert, else a header-only file.
//!
//! Reruns must give the same bytes, so nothing comes from the clock: the id is
//! `inc_` and the first 12 hex digits of the blake3 of the high alerts, and
//! created_ts is the end of the last day with a high alert (the moment the
//! data says the incident was known). retrospective_stub is a JSON object with
//! what_happened, impact, root_cause_hypothesis, mitigations_applied,
//! followups, owner and due_date (a week after created_ts).

use time::macros::format_description;
use time::{Date, Duration};

use super::table::{write_csv, Table};
use crate::execute::{Builtin, ParamProblem, StageContext, StageError, StageParams};
use crate::StageResult;

pub struct IncidentLog;

const HEADER: [&str; 6] = [
    "incident_id",
    "created_ts",
    "severity",
    "summary",
    "status",
    "retrospective_stub",
];

/// The incident row for these high alerts (day, alert_type, details), if any.
pub fn incident(high: &[(String, String, String)]) -> Result<Option<[String; 6]>, String> {
    let Some(last_day) = high.iter().map(|a| a.0.as_str()).max() else {
        return Ok(None);
    };
    let date = Date::parse(last_day, format_description!("[year]-[month]-[day]"))
        .map_err(|e| format!("alert day `{last_day}`: {e}"))?;
    let created = date + Duration::days(1);
    let content: String = high
        .iter()
        .map(|(d, t, x)| format!("{d}\t{t}\t{x}\n"))
        .collect();
    let id = format!("inc_{}", &blake3::hash(content.as_bytes()).to_hex()[..12]);
    // The day, the metric and its value: what on-call reads first.
    let kinds: Vec<String> = high
        .iter()
        .map(|(d, t, x)| format!("{t} on {d} ({x})"))
        .collect();
    let summary = format!(
        "{} high-severity alert(s): {}",
        high.len(),
        kinds.join(", ")
    );
    let stub = serde_json::json!({
        "what_happened": summary,
        "impact": "Elevated policy blocks on chat traffic; review queue and enforcement volumes may rise.",
        "root_cause_hypothesis": "Either a coordinated abuse or evasion wave (blocks concentrated on flagged accounts) or a moderation filter regression (blocks spread over benign accounts); compare the day's blocked chats with the detections and cases of the affected days.",
        "mitigations_applied": [],
        "followups": [
            "Review the P1 cases of the affected days",
            "Check detection precision against reviewer decisions",
            "Tune monitoring thresholds if the spike was benign"
        ],
        "owner": "trust-safety-oncall",
        "due_date": (created + Duration::days(7)).to_string(),
    });
    Ok(Some([
        id,
        format!("{created}T00:00:00Z"),
        "high".into(),
        summary,
        "open".into(),
        stub.to_string(),
    ]))
}

impl Builtin for IncidentLog {
    fn name(&self) -> &'static str {
        "incident_log"
    }

    fn version(&self) -> &'static str {
        "2"
    }

    fn outs(&self) -> &'static [&'static str] {
        &["incident_log.csv"]
    }

    fn validate(&self, _: &StageParams) -> Result<(), ParamProblem> {
        Ok(())
    }

    fn run(&self, ctx: &StageContext) -> StageResult<()> {
        let alerts = Table::read(&ctx.dep("alerts.csv")?)?;
        let (day, kind, severity, details) = (
            alerts.col("day")?,
            alerts.col("alert_type")?,
            alerts.col("severity")?,
            alerts.col("details")?,
        );
        let high: Vec<(String, String, String)> = alerts
            .rows
            .iter()
            .filter(|r| r[severity] == "high")
            .map(|r| (r[day].clone(), r[kind].clone(), r[details].clone()))
            .collect();
        let row = incident(&high).map_err(StageError::Failed)?;
        write_csv(&ctx.out("incident_log.csv"), &HEADER, row)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// No high alert, no incident; the same alerts give the same incident.
    #[test]
    fn content_derived_incident() {
        assert_eq!(incident(&[]).unwrap(), None);
        let alerts = vec![(
            "2026-01-03".to_string(),
            "spike_block_rate".to_string(),
            "x".to_string(),
        )];
        let row = incident(&alerts).unwrap().unwrap();
        assert_eq!(row[1], "2026-01-04T00:00:00Z");
        assert_eq!(
            row[3],
            "1 high-severity alert(s): spike_block_rate on 2026-01-03 (x)"
        );
        assert!(row[0].starts_with("inc_") && row[0].len() == 16);
        assert_eq!(Some(row.clone()), incident(&alerts).unwrap());
        let stub: serde_json::Value = serde_json::from_str(&row[5]).unwrap();
        assert_eq!(stub["due_date"], "2026-01-11");
        assert_eq!(stub["owner"], "trust-safety-oncall");
    }
}
