//! The contract between the engine and built-in stages.
//!
//! A builtin reads its deps by file name (`ctx.dep("raw_events.csv")`), its
//! params through `StageParams` (typed, with defaults and ranges), and writes
//! each out by file name into a staging folder (`ctx.out("alerts.csv")`). It
//! must be deterministic: no wall clock, no unseeded randomness, and the same
//! bytes for any `-j`.

use serde_yaml::Value;
use std::collections::BTreeMap;
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};

use super::StageError;
use crate::parse::readable_value;
use crate::StageResult;

/// A stage implemented in Rust, listed in a `Registry` (`stages::registry()`).
pub trait Builtin: Sync + Send {
    /// The name used in pipeline.yaml (`builtin: generate`).
    fn name(&self) -> &'static str;
    /// Part of every stage key: bump it whenever the output for the same inputs changes.
    fn version(&self) -> &'static str;
    /// File names the builtin writes; a stage's outs are chosen among them by file name.
    fn outs(&self) -> &'static [&'static str];
    /// Checks params before anything runs, so that bad values fail the build with
    /// exit code 2 before any stage has written a byte.
    fn validate(&self, params: &StageParams) -> Result<(), ParamProblem>;
    fn run(&self, ctx: &StageContext) -> StageResult<()>;
}

/// A param value the builtin cannot accept.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("`{key}` = {value}: expected {expected}")]
pub struct ParamProblem {
    pub key: String,
    /// The value as given, readable (`parse::readable_value`): `-3`, `abc`, `null`.
    pub value: String,
    pub expected: String,
    /// Not of the kind expected at all (`"abc"` for an integer), rather
    /// than a value of that kind outside the range.
    pub is_wrong_type: bool,
}

/// The params one stage lists, by dotted key. A param the stage does not list
/// takes the builtin's default, so it never changes between builds.
#[derive(Debug, Clone, Default)]
pub struct StageParams {
    values: BTreeMap<String, Value>,
    /// Every key a builtin asked for (listed or not), so that planning can
    /// tell the user about a value in the params block the stage ignores.
    asked: std::sync::Arc<std::sync::Mutex<std::collections::BTreeSet<String>>>,
}

impl StageParams {
    pub fn new(values: BTreeMap<String, Value>) -> StageParams {
        StageParams {
            values,
            ..StageParams::default()
        }
    }

    /// The keys asked for so far, listed or not.
    pub fn asked(&self) -> Vec<String> {
        let asked = self.asked.lock().unwrap_or_else(|e| e.into_inner());
        asked.iter().cloned().collect()
    }

    /// The value at a dotted key, noting that it was asked for.
    fn lookup(&self, key: &str) -> Option<&Value> {
        let mut asked = self.asked.lock().unwrap_or_else(|e| e.into_inner());
        if !asked.contains(key) {
            asked.insert(key.to_string());
        }
        drop(asked);
        self.get(key)
    }

    /// The value at a dotted key: listed directly, or inside a listed parent map.
    pub fn get(&self, key: &str) -> Option<&Value> {
        listed_value(&self.values, key)
    }

    fn problem(key: &str, value: &Value, expected: String, is_wrong_type: bool) -> ParamProblem {
        ParamProblem {
            key: key.into(),
            value: readable_value(value),
            expected,
            is_wrong_type,
        }
    }

    pub fn int(
        &self,
        key: &str,
        default: i64,
        range: RangeInclusive<i64>,
    ) -> Result<i64, ParamProblem> {
        let Some(value) = self.lookup(key) else {
            return Ok(default);
        };
        let expected = || match (*range.start(), *range.end()) {
            (i64::MIN, i64::MAX) => "an integer".to_string(),
            (lo, i64::MAX) => format!("an integer >= {lo}"),
            (i64::MIN, hi) => format!("an integer <= {hi}"),
            (lo, hi) => format!("an integer in [{lo}, {hi}]"),
        };
        match value.as_i64() {
            Some(n) if range.contains(&n) => Ok(n),
            // A number that is not an integer (`1.5`) is out of range, as
            // before; only a value that is no number is of the wrong type.
            _ => Err(Self::problem(key, value, expected(), !value.is_number())),
        }
    }

    pub fn float(
        &self,
        key: &str,
        default: f64,
        range: RangeInclusive<f64>,
    ) -> Result<f64, ParamProblem> {
        let Some(value) = self.lookup(key) else {
            return Ok(default);
        };
        // An unbounded side reads as `>=` or `<=`, not as f64::MAX in full.
        let is_unbounded = |x: f64| x.is_infinite() || x == f64::MAX || x == f64::MIN;
        let expected = match (*range.start(), *range.end()) {
            (lo, hi) if is_unbounded(lo) && is_unbounded(hi) => "a number".to_string(),
            (lo, hi) if is_unbounded(hi) => format!("a number >= {lo}"),
            (lo, hi) if is_unbounded(lo) => format!("a number <= {hi}"),
            (lo, hi) => format!("a number in [{lo}, {hi}]"),
        };
        match value.as_f64() {
            Some(x) if range.contains(&x) => Ok(x),
            Some(_) => Err(Self::problem(key, value, expected, false)),
            None => Err(Self::problem(key, value, expected, true)),
        }
    }

    pub fn string(&self, key: &str, default: &str) -> Result<String, ParamProblem> {
        match self.lookup(key) {
            None => Ok(default.to_string()),
            Some(Value::String(s)) => Ok(s.clone()),
            Some(other) => Err(Self::problem(key, other, "a string".into(), true)),
        }
    }
}

/// The value at a dotted key among a stage's listed params (`key` -> value):
/// listed directly, or inside a listed parent map (`enforcement` covers
/// `enforcement.block_risk`). A `cmd`'s `${...}` is looked up the same way.
pub fn listed_value<'a>(values: &'a BTreeMap<String, Value>, key: &str) -> Option<&'a Value> {
    if let Some(v) = values.get(key) {
        return Some(v);
    }
    values.iter().find_map(|(listed, v)| {
        let rest = key.strip_prefix(listed.as_str())?.strip_prefix('.')?;
        rest.split('.')
            .try_fold(v, |v, part| v.as_mapping()?.get(part))
    })
}

/// What a builtin sees of the world while it runs.
#[derive(Debug)]
pub struct StageContext {
    pub stage: String,
    pub root: PathBuf,
    pub params: StageParams,
    /// Absolute paths of the declared deps.
    pub deps: Vec<PathBuf>,
    /// Declared outs' file names: the builtin may skip the others.
    pub wanted: Vec<String>,
    /// Where the builtin writes its outs, by file name.
    pub out_dir: PathBuf,
}

impl StageContext {
    /// The dep with this file name (a file or a folder).
    pub fn dep(&self, file_name: &str) -> StageResult<PathBuf> {
        self.deps
            .iter()
            .find(|d| d.file_name().is_some_and(|n| n == file_name))
            .cloned()
            .ok_or_else(|| StageError::MissingDep {
                name: file_name.into(),
            })
    }

    /// The dep with this file name, if declared.
    pub fn optional_dep(&self, file_name: &str) -> Option<PathBuf> {
        self.dep(file_name).ok()
    }

    /// Where to write the out with this file name.
    pub fn out(&self, file_name: &str) -> PathBuf {
        self.out_dir.join(file_name)
    }

    /// Whether the stage declared this out (a builtin may skip the others).
    pub fn wants(&self, file_name: &str) -> bool {
        self.wanted.iter().any(|w| w == file_name)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(yaml: &str) -> StageParams {
        StageParams::new(serde_yaml::from_str(yaml).unwrap())
    }

    /// Typed getters apply defaults and ranges and read inside listed maps.
    #[test]
    fn typed_getters() {
        let p = params("users: 0\nenforcement: {block_risk: 0.9}\n");
        assert_eq!(p.int("events", 5, 0..=i64::MAX), Ok(5));
        let err = p.int("users", 1500, 1..=i64::MAX).unwrap_err();
        assert_eq!(err.to_string(), "`users` = 0: expected an integer >= 1");
        assert_eq!(p.float("enforcement.block_risk", 0.0, 0.0..=1.0), Ok(0.9));
    }

    /// An unbounded side of a range reads as `>=` or `<=`, never as
    /// f64::MAX in full; a value that is no number is of the wrong type and
    /// shown as given.
    #[test]
    fn problems_read_well() {
        let p = params(
            "a: -3
b: abc
c: null
d: \"42\"\ne: 1.5\n",
        );
        let err = p.float("a", 0.0, 0.0..=f64::MAX).unwrap_err();
        assert_eq!(err.to_string(), "`a` = -3: expected a number >= 0");
        assert!(!err.is_wrong_type);
        let err = p.float("a", 0.0, f64::MIN..=-5.0).unwrap_err();
        assert_eq!(err.to_string(), "`a` = -3: expected a number <= -5");
        let err = p.int("a", 0, i64::MIN..=-5).unwrap_err();
        assert_eq!(err.to_string(), "`a` = -3: expected an integer <= -5");
        let err = p.int("b", 1, 1..=i64::MAX).unwrap_err();
        assert_eq!(err.to_string(), "`b` = abc: expected an integer >= 1");
        assert!(err.is_wrong_type);
        let err = p.int("c", 1, 1..=10).unwrap_err();
        assert_eq!(
            err.to_string(),
            "`c` = null: expected an integer in [1, 10]"
        );
        assert!(err.is_wrong_type);
        let err = p.float("d", 1.0, 0.0..=1.0).unwrap_err();
        assert_eq!(err.to_string(), "`d` = \"42\": expected a number in [0, 1]");
        assert!(err.is_wrong_type);
        let err = p.int("e", 1, 1..=10).unwrap_err();
        assert!(
            !err.is_wrong_type,
            "a number that is not an integer is out of range"
        );
        assert!(p.string("a", "x").unwrap_err().is_wrong_type);
    }
}
