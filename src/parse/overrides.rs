//! `--set key=value`: one param override from the command line.
//!
//! The value is parsed as YAML (so `0.95` is a number and `abc` a string) and
//! must have the type of the default it replaces; an integer takes a float,
//! and a map is merged key by key.

use serde_yaml::Value;

use super::{display_value, readable_value, ConfigError, Params};
use crate::ConfigResult;

#[derive(Debug, Clone, PartialEq)]
pub struct Override {
    pub key: String,
    pub value: Value,
}

impl Override {
    pub fn parse(arg: &str) -> ConfigResult<Override> {
        let bad = || ConfigError::BadSet { arg: arg.into() };
        let (key, raw) = arg.split_once('=').ok_or_else(bad)?;
        let key = key.trim();
        if key.is_empty() || key.split('.').any(str::is_empty) {
            return Err(bad());
        }
        let value = if raw.trim().is_empty() {
            Value::String(String::new())
        } else {
            serde_yaml::from_str(raw).unwrap_or_else(|_| Value::String(raw.to_string()))
        };
        Ok(Override {
            key: key.to_string(),
            value,
        })
    }

    /// Applies the override, checking that the key exists and the value has
    /// its default's type. Returns the dotted keys it set.
    ///
    /// A map value is applied key by key, each checked as its own dotted
    /// `--set` would be: `--set 'enforcement={block_risk: 0.99}'` sets
    /// `enforcement.block_risk` and leaves the map's other keys as they were,
    /// and a misspelt key is refused rather than swapping in a map that
    /// silently lacks the real one (issue 10, item 12).
    pub fn apply(&self, params: &mut Params, file: &str) -> ConfigResult<Vec<String>> {
        let mut set = Vec::new();
        apply_value(params, &self.key, &self.value, file, &mut set)?;
        Ok(set)
    }
}

fn apply_value(
    params: &mut Params,
    key: &str,
    new: &Value,
    file: &str,
    set: &mut Vec<String>,
) -> ConfigResult<()> {
    let Some(default) = params.get(key) else {
        let keys = params.keys();
        return Err(ConfigError::UnknownSetParam {
            key: key.to_string(),
            file: file.to_string(),
            hint: super::did_you_mean(key, keys.iter().map(String::as_str)),
        });
    };
    if let (Value::Mapping(_), Value::Mapping(entries)) = (default, new) {
        for (sub, value) in entries {
            let sub_key = format!("{key}.{}", display_value(sub));
            apply_value(params, &sub_key, value, file, set)?;
        }
        return Ok(());
    }
    let value = coerce(default, new).ok_or_else(|| ConfigError::ParamType {
        key: key.to_string(),
        value: readable_value(new),
        origin: "from --set".into(),
        expected: type_name(default).into(),
    })?;
    params.set(key, value);
    set.push(key.to_string());
    Ok(())
}

/// `new` in the type of `default`, or None when they do not agree.
fn coerce(default: &Value, new: &Value) -> Option<Value> {
    match (default, new) {
        (Value::Null, v) => Some(v.clone()),
        // Numbers widen: an integer default takes `1.6` as a user expects
        // (issue 10, item 13). A builtin that needs an integer says so when
        // it validates its params.
        (Value::Number(_), Value::Number(_)) => Some(new.clone()),
        (Value::String(_), Value::String(_)) => Some(new.clone()),
        // `--set name=42` for a string param means the text "42".
        (Value::String(_), Value::Number(_) | Value::Bool(_)) => {
            Some(Value::String(display_value(new)))
        }
        (Value::Bool(_), Value::Bool(_)) => Some(new.clone()),
        (Value::Sequence(_), Value::Sequence(_)) => Some(new.clone()),
        _ => None,
    }
}

/// How a value's type reads in an error message.
pub fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean (true or false)",
        Value::Number(n) if n.is_f64() => "a number",
        Value::Number(_) => "an integer",
        Value::String(_) => "a string",
        Value::Sequence(_) => "a list",
        Value::Mapping(_) => "a map",
        Value::Tagged(_) => "a tagged value",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> Params {
        Params::new(
            serde_yaml::from_str(
                "seed: 42\nrate: 0.5\nstart: x\nenforcement:\n  block_risk: 0.9\n",
            )
            .unwrap(),
        )
    }

    /// Values parse as YAML and keep the default's type.
    #[test]
    fn applies_typed_values() {
        let mut p = params();
        Override::parse("enforcement.block_risk=0.95")
            .unwrap()
            .apply(&mut p, "pipeline.yaml")
            .unwrap();
        assert_eq!(p.get("enforcement.block_risk"), Some(&Value::from(0.95)));
        Override::parse("rate=1")
            .unwrap()
            .apply(&mut p, "p")
            .unwrap();
        Override::parse("start=2026")
            .unwrap()
            .apply(&mut p, "p")
            .unwrap();
        assert_eq!(p.get("start"), Some(&Value::from("2026")));
    }

    /// Wrong types, unknown keys and malformed args are errors.
    #[test]
    fn rejects_bad_overrides() {
        let mut p = params();
        let err = Override::parse("seed=abc").unwrap().apply(&mut p, "p");
        assert!(matches!(err, Err(ConfigError::ParamType { .. })));
        let err = Override::parse("seed=[1]").unwrap().apply(&mut p, "p");
        assert!(matches!(err, Err(ConfigError::ParamType { .. })));
        let err = Override::parse("enforcement=0.5")
            .unwrap()
            .apply(&mut p, "p");
        assert!(matches!(err, Err(ConfigError::ParamType { .. })));
        let err = Override::parse("sede=1").unwrap().apply(&mut p, "p");
        assert!(matches!(
            err,
            Err(ConfigError::UnknownSetParam { hint: Some(_), .. })
        ));
        assert!(Override::parse("seed").is_err());
        assert!(Override::parse("=1").is_err());
    }

    /// An integer param takes a float: numbers widen.
    #[test]
    fn numbers_widen() {
        let mut p = params();
        let set = Override::parse("seed=1.6")
            .unwrap()
            .apply(&mut p, "p")
            .unwrap();
        assert_eq!(set, ["seed"]);
        assert_eq!(p.get("seed"), Some(&Value::from(1.6)));
    }

    /// A map value merges key by key, and each key is checked.
    #[test]
    fn map_values_merge_and_are_checked() {
        let mut p = Params::new(
            serde_yaml::from_str("e:\n  a: 0.9\n  b: 0.5\n  inner:\n    c: x\n    d: y\n").unwrap(),
        );
        let set = Override::parse("e={a: 0.99, inner: {d: z}}")
            .unwrap()
            .apply(&mut p, "p")
            .unwrap();
        assert_eq!(set, ["e.a", "e.inner.d"]);
        assert_eq!(p.get("e.a"), Some(&Value::from(0.99)));
        assert_eq!(p.get("e.b"), Some(&Value::from(0.5)), "kept");
        assert_eq!(p.get("e.inner.c"), Some(&Value::from("x")), "kept");
        assert_eq!(p.get("e.inner.d"), Some(&Value::from("z")));
        let err = Override::parse("e={aa: 1}").unwrap().apply(&mut p, "p");
        assert!(
            matches!(&err, Err(ConfigError::UnknownSetParam { key, hint: Some(_), .. }) if key == "e.aa"),
            "{err:?}"
        );
        let err = Override::parse("e={b: [1]}").unwrap().apply(&mut p, "p");
        assert!(
            matches!(&err, Err(ConfigError::ParamType { key, .. }) if key == "e.b"),
            "{err:?}"
        );
    }
}
