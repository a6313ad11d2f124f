//! The staleness check: given a stage's key, is there a run whose outputs are
//! on disk (fresh), one whose outputs are in the store (restore), or none (run)?
//!
//! This is the hot path of a no-op build: one lookup of the last run, one stat
//! per out. Run records in the store are read only when the key changed.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde_yaml::Value;

use super::{Reason, StatCache};
use crate::parse::display_value;
use crate::record::{RunRecord, Store};

#[derive(Debug)]
pub enum Check {
    /// Outputs on disk match a run with this key.
    Fresh(RunRecord),
    /// A run with this key exists and its outputs can be restored from the store.
    Restore(RunRecord, Vec<Reason>),
    /// The stage must run.
    Run(Vec<Reason>),
}

/// Checks a stage whose key inputs are gathered in `current` (outs empty).
pub fn check(
    root: &Path,
    current: &RunRecord,
    last: Option<&RunRecord>,
    store: &Store,
    stats: &StatCache,
) -> Check {
    let candidate = match last {
        Some(r) if r.key == current.key => Some(r.clone()),
        _ => store.load_run(&current.key),
    };
    let Some(run) = candidate else {
        return Check::Run(diff_reasons(last, current));
    };
    // Outs are reported only against the last run: after a change of key they
    // are expected to differ from the cached run's.
    let is_last = last.is_some_and(|r| r.key == current.key);
    let mut reasons: Vec<Reason> = if is_last {
        Vec::new()
    } else {
        diff_reasons(last, current)
    };
    let mut outs_ok = true;
    for (out, hash) in &run.outs {
        let reason = match stats.hash(&root.join(out)) {
            Ok(Some(h)) if &h == hash => continue,
            Ok(None) => Reason::OutMissing { path: out.clone() },
            _ => Reason::OutModified { path: out.clone() },
        };
        outs_ok = false;
        if is_last {
            reasons.push(reason);
        }
    }
    if outs_ok {
        return Check::Fresh(run);
    }
    // A blob is checked as a restore would check it, so that `status` never
    // promises a restore that the build then cannot do.
    if run.outs.values().all(|h| store.has_valid_blob(h)) {
        reasons.push(Reason::InCache);
        Check::Restore(run, reasons)
    } else {
        Check::Run(reasons)
    }
}

/// One `ParamChanged` per leaf key that differs: a map param such as
/// `enforcement` is compared key by key, so `--set enforcement.block_risk=0.95`
/// reads `param enforcement.block_risk changed from 0.9 to 0.95`, not the
/// whole map twice (issue 14). A key present on one side only is reported
/// whole, as is a map that became a scalar.
fn param_changes(key: &str, from: Option<&Value>, to: Option<&Value>, reasons: &mut Vec<Reason>) {
    if from == to {
        return;
    }
    if let (Some(Value::Mapping(from)), Some(Value::Mapping(to))) = (from, to) {
        let names: BTreeMap<String, &Value> = from
            .keys()
            .chain(to.keys())
            .map(|k| (display_value(k), k))
            .collect();
        for (name, k) in names {
            param_changes(&format!("{key}.{name}"), from.get(k), to.get(k), reasons);
        }
        return;
    }
    reasons.push(Reason::ParamChanged {
        key: key.to_string(),
        from: from.cloned(),
        to: to.cloned(),
    });
}

/// What differs between the last run and the current inputs.
pub fn diff_reasons(last: Option<&RunRecord>, current: &RunRecord) -> Vec<Reason> {
    let Some(last) = last else {
        return vec![Reason::NeverBuilt];
    };
    let mut reasons = Vec::new();
    if last.decl != current.decl {
        reasons.push(Reason::DeclarationChanged);
    }
    if last.builtin_version != current.builtin_version {
        reasons.push(Reason::BuiltinVersion {
            from: last.builtin_version.clone().unwrap_or_default(),
            to: current.builtin_version.clone().unwrap_or_default(),
        });
    }
    let keys: BTreeSet<&String> = last.params.keys().chain(current.params.keys()).collect();
    for key in keys {
        param_changes(
            key,
            last.params.get(key),
            current.params.get(key),
            &mut reasons,
        );
    }
    for (path, hash) in &current.deps {
        match last.deps.get(path) {
            None => reasons.push(Reason::DepAdded { path: path.clone() }),
            Some(h) if h != hash => reasons.push(Reason::DepChanged { path: path.clone() }),
            _ => {}
        }
    }
    for path in last.deps.keys() {
        if !current.deps.contains_key(path) {
            reasons.push(Reason::DepRemoved { path: path.clone() });
        }
    }
    reasons
}

#[cfg(test)]
mod tests {
    use super::*;

    fn changes(from: &str, to: &str) -> Vec<String> {
        let (from, to): (Value, Value) = (
            serde_yaml::from_str(from).unwrap(),
            serde_yaml::from_str(to).unwrap(),
        );
        let mut reasons = Vec::new();
        param_changes("enforcement", Some(&from), Some(&to), &mut reasons);
        reasons.iter().map(ToString::to_string).collect()
    }

    /// A map param's reasons name the leaf keys that differ, nested ones too.
    #[test]
    fn map_params_report_leaf_keys() {
        assert_eq!(
            changes(
                "{block_risk: 0.9, warn_chats: 80}",
                "{block_risk: 0.95, warn_chats: 80}"
            ),
            ["param `enforcement.block_risk` changed from 0.9 to 0.95"]
        );
        assert_eq!(
            changes("{a: {b: 1, c: 2}, d: 3}", "{a: {b: 1, c: 5}, e: 4}"),
            [
                "param `enforcement.a.c` changed from 2 to 5",
                "param `enforcement.d` changed from 3 to (unset)",
                "param `enforcement.e` changed from (unset) to 4",
            ]
        );
        assert_eq!(
            changes("{a: 1}", "7"),
            [r#"param `enforcement` changed from {"a":1} to 7"#]
        );
    }
}
