//! `enforcement`: a suggested action for every row of the deduplicated queue.
//!
//! Ordered rules, first match wins (thresholds are `enforcement.*` params):
//! 1. risk >= block_risk and uncertainty <= block_max_uncertainty -> block / high_confidence_abuse
//! 2. risk >= rate_limit_risk and (block_rate >= rate_limit_block_rate or the
//!    recent prompts mention "bypass" or "evade") -> rate_limit / policy_evasion_or_repeat
//! 3. risk >= escalate_risk and uncertainty >= escalate_uncertainty -> escalate / uncertain_high_risk
//! 4. risk >= warn_risk and n_chat >= warn_chats -> warn / suspicious_burst
//! 5. otherwise -> allow / below_threshold
//!
//! Every queue row gets a row, duplicates included (a duplicate is the same
//! content, not the same user-day). "Mention" is a case-insensitive substring
//! match on recent_prompts, so "Bypassing" and "EVADE" both count. Rows are
//! sorted by action name alphabetically (allow, block, escalate, rate_limit,
//! warn: a plain, documented order that never depends on the thresholds), then
//! risk descending, then day and user_id, so ties have a fixed order.

use super::table::{write_csv, Table};
use crate::execute::{Builtin, ParamProblem, StageContext, StageParams};
use crate::stages::fmt_f64;
use crate::StageResult;

pub struct Enforcement;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rules {
    pub block_risk: f64,
    pub block_max_uncertainty: f64,
    pub rate_limit_risk: f64,
    pub rate_limit_block_rate: f64,
    pub escalate_risk: f64,
    pub escalate_uncertainty: f64,
    pub warn_risk: f64,
    pub warn_chats: f64,
}

impl Rules {
    pub fn from_params(p: &StageParams) -> Result<Rules, ParamProblem> {
        let unit = 0.0..=1.0;
        Ok(Rules {
            block_risk: p.float("enforcement.block_risk", 0.90, unit.clone())?,
            block_max_uncertainty: p.float(
                "enforcement.block_max_uncertainty",
                0.35,
                unit.clone(),
            )?,
            rate_limit_risk: p.float("enforcement.rate_limit_risk", 0.75, unit.clone())?,
            rate_limit_block_rate: p.float(
                "enforcement.rate_limit_block_rate",
                0.10,
                unit.clone(),
            )?,
            escalate_risk: p.float("enforcement.escalate_risk", 0.55, unit.clone())?,
            escalate_uncertainty: p.float(
                "enforcement.escalate_uncertainty",
                0.75,
                unit.clone(),
            )?,
            warn_risk: p.float("enforcement.warn_risk", 0.50, unit)?,
            warn_chats: p.int("enforcement.warn_chats", 80, 0..=i64::MAX)? as f64,
        })
    }

    /// (suggested_action, reason_code) for one row.
    pub fn decide(
        &self,
        risk: f64,
        uncertainty: f64,
        block_rate: f64,
        n_chat: f64,
        recent_prompts: &str,
    ) -> (&'static str, &'static str) {
        let prompts = recent_prompts.to_lowercase();
        let evasive = prompts.contains("bypass") || prompts.contains("evade");
        if risk >= self.block_risk && uncertainty <= self.block_max_uncertainty {
            ("block", "high_confidence_abuse")
        } else if risk >= self.rate_limit_risk
            && (block_rate >= self.rate_limit_block_rate || evasive)
        {
            ("rate_limit", "policy_evasion_or_repeat")
        } else if risk >= self.escalate_risk && uncertainty >= self.escalate_uncertainty {
            ("escalate", "uncertain_high_risk")
        } else if risk >= self.warn_risk && n_chat >= self.warn_chats {
            ("warn", "suspicious_burst")
        } else {
            ("allow", "below_threshold")
        }
    }
}

/// (row, action, reason) sorted by action name, then risk descending, then
/// day and user; `key` gives a row's (risk, day, user).
fn sorted<'a, 'k>(
    mut rows: Vec<(usize, &'a str, &'a str)>,
    key: impl Fn(usize) -> (f64, &'k str, &'k str),
) -> Vec<(usize, &'a str, &'a str)> {
    rows.sort_by(|a, b| {
        let (ka, kb) = (key(a.0), key(b.0));
        a.1.cmp(b.1)
            .then(kb.0.total_cmp(&ka.0))
            .then(ka.1.cmp(kb.1))
            .then(ka.2.cmp(kb.2))
    });
    rows
}

impl Builtin for Enforcement {
    fn name(&self) -> &'static str {
        "enforcement"
    }

    fn version(&self) -> &'static str {
        "2"
    }

    fn outs(&self) -> &'static [&'static str] {
        &["enforcement_actions.csv"]
    }

    fn validate(&self, params: &StageParams) -> Result<(), ParamProblem> {
        Rules::from_params(params).map(|_| ())
    }

    fn run(&self, ctx: &StageContext) -> StageResult<()> {
        let rules = Rules::from_params(&ctx.params)?;
        let queue = Table::read(&ctx.dep("review_queue_dedup.csv")?)?;
        let (day, user, prompts) = (
            queue.col("day")?,
            queue.col("user_id")?,
            queue.col("recent_prompts")?,
        );
        let (risk, uncertainty) = (queue.floats("risk_score")?, queue.floats("uncertainty")?);
        let (block_rate, n_chat) = (queue.floats("block_rate")?, queue.floats("n_chat")?);
        let rows: Vec<(usize, &str, &str)> = (0..queue.rows.len())
            .map(|i| {
                let (action, reason) = rules.decide(
                    risk[i],
                    uncertainty[i],
                    block_rate[i],
                    n_chat[i],
                    &queue.rows[i][prompts],
                );
                (i, action, reason)
            })
            .collect();
        let rows = sorted(rows, |i| {
            (
                risk[i],
                queue.rows[i][day].as_str(),
                queue.rows[i][user].as_str(),
            )
        });
        write_csv(
            &ctx.out("enforcement_actions.csv"),
            &[
                "day",
                "user_id",
                "risk_score",
                "uncertainty",
                "suggested_action",
                "reason_code",
            ],
            rows.iter().map(|&(i, action, reason)| {
                [
                    queue.rows[i][day].clone(),
                    queue.rows[i][user].clone(),
                    fmt_f64(risk[i]),
                    fmt_f64(uncertainty[i]),
                    action.to_string(),
                    reason.to_string(),
                ]
            }),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> Rules {
        Rules::from_params(&StageParams::default()).unwrap()
    }

    /// Each rule at its boundary, in order.
    #[test]
    fn rule_boundaries() {
        let r = rules();
        assert_eq!(r.decide(0.90, 0.35, 0.0, 0.0, "").0, "block");
        // Too uncertain to block, and nothing else applies at uncertainty 0.36.
        assert_eq!(r.decide(0.90, 0.36, 0.0, 0.0, "").0, "allow");
        assert_eq!(r.decide(0.89, 0.2, 0.0, 0.0, "").0, "allow");
        assert_eq!(r.decide(0.75, 0.5, 0.10, 0.0, "").0, "rate_limit");
        assert_eq!(
            r.decide(0.75, 0.5, 0.09, 0.0, "how to BYPASS it").0,
            "rate_limit"
        );
        assert_eq!(r.decide(0.74, 0.5, 0.5, 0.0, "").0, "allow");
        assert_eq!(r.decide(0.55, 0.75, 0.0, 0.0, "").0, "escalate");
        assert_eq!(r.decide(0.55, 0.74, 0.0, 0.0, "").0, "allow");
        assert_eq!(r.decide(0.50, 0.5, 0.0, 80.0, "").0, "warn");
        assert_eq!(r.decide(0.50, 0.5, 0.0, 79.0, "").0, "allow");
        assert_eq!(
            r.decide(0.49, 0.5, 0.0, 500.0, ""),
            ("allow", "below_threshold")
        );
        // First match wins: a row meeting every rule is blocked.
        assert_eq!(
            r.decide(0.95, 0.1, 0.5, 500.0, "evade"),
            ("block", "high_confidence_abuse")
        );
        // Rate limit beats escalate; escalate beats warn.
        assert_eq!(r.decide(0.80, 0.8, 0.2, 0.0, "").0, "rate_limit");
        assert_eq!(r.decide(0.60, 0.8, 0.0, 100.0, "").0, "escalate");
        assert_eq!(
            r.decide(0.76, 0.2, 0.0, 0.0, "please EVADE filters").0,
            "rate_limit"
        );
        assert_eq!(r.decide(0.76, 0.2, 0.0, 0.0, "evasion").0, "allow");
    }

    /// Thresholds come from the `enforcement` params; out-of-range values are refused.
    #[test]
    fn thresholds_from_params() {
        let p = StageParams::new(
            serde_yaml::from_str("enforcement: {block_risk: 0.95, warn_chats: 10}").unwrap(),
        );
        let r = Rules::from_params(&p).unwrap();
        assert_eq!(r.decide(0.92, 0.1, 0.0, 0.0, "").0, "allow");
        assert_eq!(r.decide(0.95, 0.1, 0.0, 0.0, "").0, "block");
        assert_eq!(r.decide(0.5, 0.1, 0.0, 10.0, "").0, "warn");
        let bad = StageParams::new(serde_yaml::from_str("enforcement: {block_risk: 1.5}").unwrap());
        assert_eq!(
            Rules::from_params(&bad).unwrap_err().key,
            "enforcement.block_risk"
        );
    }

    /// Every queue row, duplicates included, sorted by action, risk desc, day, user.
    #[test]
    fn writes_every_row_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let queue = dir.path().join("review_queue_dedup.csv");
        // Column order differs from upstream's on purpose: columns are read by name.
        std::fs::write(
            &queue,
            "user_id,day,n_chat,block_rate,uncertainty,risk_score,recent_prompts,is_dup\n\
             u_3,2026-01-02,5,0,0.2,0.95,,0\n\
             u_1,2026-01-02,5,0,0.9,0.6,,0\n\
             u_2,2026-01-01,5,0,0.2,0.95,,0\n\
             u_1,2026-01-01,5,0.3,0.4,0.8,spam | spam,0\n\
             u_4,2026-01-01,5,0,0.4,0.1,spam | spam,1\n",
        )
        .unwrap();
        let out = dir.path().join("out");
        std::fs::create_dir(&out).unwrap();
        let ctx = StageContext {
            stage: "enforcement".into(),
            root: dir.path().to_path_buf(),
            params: StageParams::default(),
            deps: vec![queue],
            wanted: vec!["enforcement_actions.csv".into()],
            out_dir: out.clone(),
        };
        Enforcement.run(&ctx).unwrap();
        assert_eq!(
            std::fs::read_to_string(out.join("enforcement_actions.csv")).unwrap(),
            "day,user_id,risk_score,uncertainty,suggested_action,reason_code\n\
             2026-01-01,u_4,0.1,0.4,allow,below_threshold\n\
             2026-01-01,u_2,0.95,0.2,block,high_confidence_abuse\n\
             2026-01-02,u_3,0.95,0.2,block,high_confidence_abuse\n\
             2026-01-02,u_1,0.6,0.9,escalate,uncertain_high_risk\n\
             2026-01-01,u_1,0.8,0.4,rate_limit,policy_evasion_or_repeat\n"
        );
    }
}
