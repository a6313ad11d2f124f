//! Why a case is a case, in words: each detection's rule beside the values
//! its hit recorded, and the case score as its terms.
//!
//! The rules are the ones the detection SQL (`sql/detections/*.sql`)
//! documents; the values are the hit's `evidence` and `severity` columns.
//! The score terms are recomputed from the columns of `cases.csv` and the
//! hits, with the default weights of the cases stage
//! (`src/stages/cases.rs`): when their sum is not the row's `case_score`
//! (a pipeline with other `cases.*` weights), the page says so rather than
//! show terms that do not add up.

use super::data::{Case, Hit};
use crate::stages::is_high_severity;

/// When a detection fires, and when its hit is high severity.
pub fn rule(detection: &str) -> Option<(&'static str, &'static str)> {
    Some(match detection {
        "ban_evasion" => (
            "an active account has a strong link (same device, and with it the same IP or \
             payment token) to an older banned or suspended account",
            "the linked account was banned (suspended: medium)",
        ),
        "coordinated_activity" => (
            "the same prompt is posted by 5 or more accounts on one UTC day, by fewer than 5% \
             of that day's active users",
            "10 or more accounts posted it on one day",
        ),
        "shared_device" => (
            "the account shares a device with another account that reaches it from the same IP",
            "3 or more accounts on one device and IP",
        ),
        "shared_infrastructure" => (
            "the account shares a payment token with another account and uses the same device",
            "always high",
        ),
        "suspicious_prompting" => (
            "2 or more evasion-style prompts (bypass, evade, break the rules), or blocked chats \
             on 2 or more distinct days",
            "3 or more evasion-style prompts, or blocks on 3 or more days",
        ),
        "velocity_spike" => (
            "10 or more events within two hours, within 7 days of the account's creation",
            "20 or more events in the burst",
        ),
        _ => return None,
    })
}

/// One term of the case score: its weight times its value.
#[derive(Debug, Clone, PartialEq)]
pub struct Term {
    pub name: &'static str,
    pub weight: f64,
    pub value: f64,
    /// Where the value comes from.
    pub from: String,
}

impl Term {
    pub fn points(&self) -> f64 {
        self.weight * self.value
    }
}

/// Reports count up to this many (the cases stage's cap).
const MAX_REPORTS: f64 = 4.0;

/// The score's terms for `case`, whose detection hits are `hits`.
pub fn score_terms(case: &Case, hits: &[Hit]) -> Vec<Term> {
    let high = case
        .detections
        .iter()
        .filter(|d| {
            hits.iter()
                .any(|h| &h.detection == *d && is_high_severity(&h.severity))
        })
        .count();
    let risk: f64 = case.max_risk.parse().unwrap_or(0.0);
    let size: f64 = case.component_size.parse().unwrap_or(0.0);
    let component = if size >= 2.0 {
        size.log10().min(1.0)
    } else {
        0.0
    };
    let reports: f64 = case.n_reports.parse().unwrap_or(0.0);
    let enforced = case
        .evidence_tags
        .iter()
        .any(|t| t == "suggested_block" || t == "suggested_rate_limit");
    vec![
        Term {
            name: "detections",
            weight: 20.0,
            value: case.detections.len() as f64,
            from: format!("{} distinct detection(s)", case.detections.len()),
        },
        Term {
            name: "high severity",
            weight: 10.0,
            value: high as f64,
            from: format!("{high} of them high severity"),
        },
        Term {
            name: "model risk",
            weight: 30.0,
            value: risk,
            from: format!(
                "highest risk score {}",
                if case.max_risk.is_empty() {
                    "none (0)"
                } else {
                    &case.max_risk
                }
            ),
        },
        Term {
            name: "linked component",
            weight: 10.0,
            value: component,
            from: format!("min(1, log10({size})) for a strong component of {size} account(s)"),
        },
        Term {
            name: "user reports",
            weight: 5.0,
            value: reports.min(MAX_REPORTS),
            from: format!("min({reports}, {MAX_REPORTS}) reports"),
        },
        Term {
            name: "enforcement",
            weight: 15.0,
            value: f64::from(u8::from(enforced)),
            from: if enforced {
                "suggested block or rate_limit".to_string()
            } else {
                "no block or rate_limit suggested".to_string()
            },
        },
    ]
}

/// Whether the terms add up to the row's score (the cases stage rounds to
/// hundredths).
pub fn adds_up(terms: &[Term], score: f64) -> bool {
    let sum: f64 = terms.iter().map(Term::points).sum();
    ((sum * 100.0).round() / 100.0 - score).abs() < 0.006
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case(detections: &[&str], tags: &[&str], risk: &str, size: &str, reports: &str) -> Case {
        Case {
            case_id: "case_u_1".into(),
            user_id: "u_1".into(),
            case_score: 0.0,
            priority: "P1".into(),
            recommended_action: "monitor".into(),
            detections: detections.iter().map(|s| s.to_string()).collect(),
            evidence_tags: tags.iter().map(|s| s.to_string()).collect(),
            findings: String::new(),
            max_risk: risk.into(),
            component_id: "c".into(),
            component_size: size.into(),
            n_reports: reports.into(),
            first_ts: String::new(),
            last_ts: String::new(),
            row_hash: String::new(),
        }
    }

    fn hit(detection: &str, severity: &str) -> Hit {
        Hit {
            user_id: "u_1".into(),
            detection: detection.into(),
            severity: severity.into(),
            evidence: String::new(),
            first_ts: String::new(),
            last_ts: String::new(),
            related: String::new(),
        }
    }

    /// The terms of the cases stage's formula: 2 detections (one high),
    /// risk 0.95, a component of 10, 6 reports (capped at 4) and a
    /// suggested block: 40 + 10 + 28.5 + 10 + 20 + 15.
    #[test]
    fn the_terms_add_up_to_the_score() {
        let c = case(
            &["shared_device", "velocity_spike"],
            &["suggested_block"],
            "0.95",
            "10",
            "6",
        );
        let hits = [
            hit("shared_device", "high"),
            hit("velocity_spike", "medium"),
        ];
        let terms = score_terms(&c, &hits);
        let points: Vec<f64> = terms.iter().map(Term::points).collect();
        assert_eq!(points, [40.0, 10.0, 28.5, 10.0, 20.0, 15.0]);
        assert!(adds_up(&terms, 123.5));
        assert!(!adds_up(&terms, 120.0));
        // Alone, no risk, no reports: only the detection counts.
        let c = case(&["velocity_spike"], &[], "", "1", "0");
        let terms = score_terms(&c, &[hit("velocity_spike", "medium")]);
        assert!(adds_up(&terms, 20.0));
    }

    #[test]
    fn every_detection_has_its_rule() {
        for d in [
            "ban_evasion",
            "coordinated_activity",
            "shared_device",
            "shared_infrastructure",
            "suspicious_prompting",
            "velocity_spike",
        ] {
            assert!(rule(d).is_some(), "{d}");
        }
        assert_eq!(rule("nope"), None);
    }
}
