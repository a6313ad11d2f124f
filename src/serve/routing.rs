//! Routing labels: which team's queue a case belongs to.
//!
//! The rule reads only the case's detections and priority (columns of
//! today's `cases.csv`), first match wins, so a case has exactly one label:
//!
//! 1. `ban-evasion`: a `ban_evasion` hit (an enforced account came back);
//! 2. `coordinated-abuse`: a `coordinated_activity` hit, or a P1/P2 case
//!    with a `shared_device` or `shared_infrastructure` hit (a ring, not one
//!    account);
//! 3. `prompt-abuse`: a `suspicious_prompting` hit;
//! 4. `general`: everything else.
//!
//! A handoff to a team overrides the label (recorded in the review store).

/// Every label, in the order of the rule.
pub const LABELS: [&str; 4] = [
    "ban-evasion",
    "coordinated-abuse",
    "prompt-abuse",
    "general",
];

/// The label the rule gives a case with these detections and priority.
pub fn label(detections: &[String], priority: &str) -> &'static str {
    let has = |name: &str| detections.iter().any(|d| d == name);
    if has("ban_evasion") {
        "ban-evasion"
    } else if has("coordinated_activity")
        || (matches!(priority, "P1" | "P2")
            && (has("shared_device") || has("shared_infrastructure")))
    {
        "coordinated-abuse"
    } else if has("suspicious_prompting") {
        "prompt-abuse"
    } else {
        "general"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(detections: &[&str], priority: &str) -> &'static str {
        let d: Vec<String> = detections.iter().map(|s| s.to_string()).collect();
        label(&d, priority)
    }

    #[test]
    fn first_matching_rule_wins() {
        assert_eq!(
            of(&["coordinated_activity", "ban_evasion"], "P3"),
            "ban-evasion"
        );
        assert_eq!(
            of(&["coordinated_activity", "suspicious_prompting"], "P4"),
            "coordinated-abuse"
        );
        assert_eq!(of(&["shared_device"], "P2"), "coordinated-abuse");
        assert_eq!(of(&["shared_device"], "P3"), "general");
        assert_eq!(
            of(&["shared_infrastructure", "suspicious_prompting"], "P3"),
            "prompt-abuse"
        );
        assert_eq!(of(&["velocity_spike"], "P1"), "general");
        assert_eq!(of(&[], "P4"), "general");
        for l in LABELS {
            assert!(l.chars().all(|c| c.is_ascii_lowercase() || c == '-'));
        }
    }
}
