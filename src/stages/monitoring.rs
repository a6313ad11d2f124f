//! `monitoring`: daily metrics and alerts from `core_day_metrics`.
//!
//! block_rate = n_blocked / n_chat and warn_rate = n_warned / n_chat (0 on a
//! day without chats). Alerts: `spike_block_rate` (high) when block_rate is
//! above `monitoring.spike_block_rate` on a day with more than
//! `monitoring.spike_min_chats` chats; `high_chat_per_user` (medium) when
//! chats per active user are above `monitoring.chats_per_user`.

use std::io::Write;

use crate::execute::{
    open_read_only, Builtin, ParamProblem, StageContext, StageError, StageParams,
};
use crate::stages::fmt_f64;
use crate::StageResult;

pub struct Monitoring;

#[derive(Debug, Clone, PartialEq)]
pub struct Thresholds {
    pub spike_block_rate: f64,
    pub spike_min_chats: i64,
    pub chats_per_user: f64,
}

impl Thresholds {
    fn from_params(p: &StageParams) -> Result<Thresholds, ParamProblem> {
        Ok(Thresholds {
            spike_block_rate: p.float("monitoring.spike_block_rate", 0.08, 0.0..=1.0)?,
            spike_min_chats: p.int("monitoring.spike_min_chats", 500, 0..=i64::MAX)?,
            chats_per_user: p.float("monitoring.chats_per_user", 80.0, 0.0..=f64::MAX)?,
        })
    }
}

/// One day of `core_day_metrics`.
#[derive(Debug, Clone, PartialEq)]
pub struct DayMetrics {
    pub day: String,
    pub n_events: i64,
    pub n_chat: i64,
    pub n_active_users: i64,
    pub n_blocked: i64,
    pub n_warned: i64,
    pub latency_ms_avg: f64,
}

fn ratio(a: i64, b: i64) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

/// The alerts of one day: (alert_type, severity, details).
pub fn alerts(day: &DayMetrics, t: &Thresholds) -> Vec<(&'static str, &'static str, String)> {
    let mut alerts = Vec::new();
    let block_rate = ratio(day.n_blocked, day.n_chat);
    if block_rate > t.spike_block_rate && day.n_chat > t.spike_min_chats {
        alerts.push((
            "spike_block_rate",
            "high",
            format!(
                "block_rate {} > {} with {} chats",
                fmt_f64(block_rate),
                fmt_f64(t.spike_block_rate),
                day.n_chat
            ),
        ));
    }
    let per_user = ratio(day.n_chat, day.n_active_users);
    if per_user > t.chats_per_user {
        alerts.push((
            "high_chat_per_user",
            "medium",
            format!(
                "{} chats per active user > {}",
                fmt_f64(per_user),
                fmt_f64(t.chats_per_user)
            ),
        ));
    }
    alerts
}

impl Builtin for Monitoring {
    fn name(&self) -> &'static str {
        "monitoring"
    }

    fn version(&self) -> &'static str {
        "1"
    }

    fn outs(&self) -> &'static [&'static str] {
        &["monitoring_metrics.csv", "alerts.csv"]
    }

    fn validate(&self, params: &StageParams) -> Result<(), ParamProblem> {
        Thresholds::from_params(params).map(|_| ())
    }

    fn run(&self, ctx: &StageContext) -> StageResult<()> {
        let thresholds = Thresholds::from_params(&ctx.params)?;
        let conn = open_read_only(&ctx.dep("sqlite.db")?)?;
        let mut stmt = conn.prepare(
            "SELECT day, n_events, n_chat, n_active_users, n_blocked, n_warned, latency_ms_avg
             FROM core_day_metrics ORDER BY day",
        )?;
        let days: Vec<DayMetrics> = stmt
            .query_map([], |r| {
                Ok(DayMetrics {
                    day: r.get(0)?,
                    n_events: r.get(1)?,
                    n_chat: r.get(2)?,
                    n_active_users: r.get(3)?,
                    n_blocked: r.get(4)?,
                    n_warned: r.get(5)?,
                    latency_ms_avg: r.get(6)?,
                })
            })?
            .collect::<Result<_, _>>()?;

        let mut metrics = Vec::new();
        writeln!(metrics, "day,n_events,n_chat,n_active_users,n_blocked,n_warned,latency_ms_avg,block_rate,warn_rate").map_err(StageError::failed)?;
        let mut alert_rows = Vec::new();
        writeln!(alert_rows, "day,alert_type,severity,details").map_err(StageError::failed)?;
        for d in &days {
            writeln!(
                metrics,
                "{},{},{},{},{},{},{},{},{}",
                d.day,
                d.n_events,
                d.n_chat,
                d.n_active_users,
                d.n_blocked,
                d.n_warned,
                fmt_f64(d.latency_ms_avg),
                fmt_f64(ratio(d.n_blocked, d.n_chat)),
                fmt_f64(ratio(d.n_warned, d.n_chat))
            )
            .map_err(StageError::failed)?;
            for (kind, severity, details) in alerts(d, &thresholds) {
                writeln!(alert_rows, "{},{kind},{severity},{details}", d.day)
                    .map_err(StageError::failed)?;
            }
        }
        for (name, bytes) in [
            ("monitoring_metrics.csv", metrics),
            ("alerts.csv", alert_rows),
        ] {
            let path = ctx.out(name);
            std::fs::write(&path, bytes).map_err(|source| StageError::Write { path, source })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(n_chat: i64, n_blocked: i64, n_active_users: i64) -> DayMetrics {
        DayMetrics {
            day: "2026-01-01".into(),
            n_events: n_chat,
            n_chat,
            n_active_users,
            n_blocked,
            n_warned: 0,
            latency_ms_avg: 0.0,
        }
    }

    /// Each alert fires strictly above its threshold.
    #[test]
    fn alert_boundaries() {
        let t = Thresholds {
            spike_block_rate: 0.08,
            spike_min_chats: 500,
            chats_per_user: 80.0,
        };
        assert!(alerts(&day(1000, 80, 100), &t).is_empty());
        assert_eq!(alerts(&day(1000, 81, 100), &t)[0].0, "spike_block_rate");
        assert!(
            alerts(&day(500, 100, 100), &t).is_empty(),
            "needs more than 500 chats"
        );
        assert!(
            alerts(&day(800, 0, 10), &t).is_empty(),
            "80 per user is not above 80"
        );
        assert_eq!(alerts(&day(801, 0, 10), &t)[0].0, "high_chat_per_user");
        assert!(
            alerts(&day(0, 0, 0), &t).is_empty(),
            "no chats, no division by zero"
        );
    }
}
