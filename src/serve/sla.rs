//! Review SLAs: how long a case of each priority may wait for a review.
//!
//! The clock starts when the workbench first showed the case (recorded in the
//! review store, so it survives restarts and rebuilds) and stops at the
//! case's first review.

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Hours to first review, by priority.
pub fn target_hours(priority: &str) -> i64 {
    match priority {
        "P1" => 4,
        "P2" => 24,
        "P3" => 72,
        _ => 168,
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SlaStatus {
    /// Reviewed in time.
    Met,
    /// Reviewed, but late.
    MetLate { hours_late: i64 },
    /// Waiting, with this many hours left.
    DueIn { hours: i64 },
    /// Waiting, past the deadline.
    Overdue { hours: i64 },
    /// The open time is unknown or unreadable.
    Unknown,
}

impl SlaStatus {
    pub fn label(&self) -> String {
        match self {
            SlaStatus::Met => "met".into(),
            SlaStatus::MetLate { hours_late } => format!("met late ({hours_late} h over)"),
            SlaStatus::DueIn { hours } => format!("due in {hours} h"),
            SlaStatus::Overdue { hours } => format!("overdue by {hours} h"),
            SlaStatus::Unknown => "unknown".into(),
        }
    }

    /// A CSS class for the label.
    pub fn class(&self) -> &'static str {
        match self {
            SlaStatus::Met => "ok",
            SlaStatus::DueIn { .. } => "pending",
            SlaStatus::MetLate { .. } | SlaStatus::Overdue { .. } => "late",
            SlaStatus::Unknown => "pending",
        }
    }

    pub fn is_overdue(&self) -> bool {
        matches!(self, SlaStatus::Overdue { .. })
    }
}

/// The SLA state of a case opened at `opened` and first reviewed at
/// `first_review` (if ever), as of `now`. Times are RFC 3339.
pub fn status(priority: &str, opened: &str, first_review: Option<&str>, now: &str) -> SlaStatus {
    let parse = |t: &str| OffsetDateTime::parse(t, &Rfc3339).ok();
    let (Some(opened), Some(now)) = (parse(opened), parse(now)) else {
        return SlaStatus::Unknown;
    };
    let deadline = opened + time::Duration::hours(target_hours(priority));
    let hours = |d: time::Duration| (d.whole_minutes() + 59).div_euclid(60);
    match first_review.map(parse) {
        Some(Some(reviewed)) if reviewed <= deadline => SlaStatus::Met,
        Some(Some(reviewed)) => SlaStatus::MetLate {
            hours_late: hours(reviewed - deadline),
        },
        Some(None) => SlaStatus::Unknown,
        None if now <= deadline => SlaStatus::DueIn {
            hours: hours(deadline - now),
        },
        None => SlaStatus::Overdue {
            hours: hours(now - deadline),
        },
    }
}

/// The wall clock as RFC 3339 UTC, to the second.
pub fn now_utc() -> String {
    let now = OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH);
    now.format(&Rfc3339).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPENED: &str = "2026-11-23T10:00:00Z";

    #[test]
    fn statuses() {
        assert_eq!(
            status("P1", OPENED, None, "2026-11-23T11:00:00Z"),
            SlaStatus::DueIn { hours: 3 }
        );
        assert_eq!(
            status("P1", OPENED, None, "2026-11-23T16:30:00Z"),
            SlaStatus::Overdue { hours: 3 }
        );
        assert_eq!(
            status(
                "P2",
                OPENED,
                Some("2026-11-24T09:00:00Z"),
                "2026-12-01T00:00:00Z"
            ),
            SlaStatus::Met
        );
        assert_eq!(
            status(
                "P1",
                OPENED,
                Some("2026-11-23T15:00:00Z"),
                "2026-12-01T00:00:00Z"
            ),
            SlaStatus::MetLate { hours_late: 1 }
        );
        assert_eq!(status("P4", "yesterday", None, OPENED), SlaStatus::Unknown);
        assert_eq!(target_hours("P3"), 72);
    }

    #[test]
    fn clock_format() {
        let now = now_utc();
        assert!(now.ends_with('Z') && now.len() == 20, "{now}");
    }
}
