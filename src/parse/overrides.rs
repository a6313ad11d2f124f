//! `--set key=value`: one param override from the command line.
//!
//! The value is parsed as YAML (so `0.95` is a number and `abc` a string) and
//! must have the type of the default it replaces.

use serde_yaml::Value;

use super::{display_value, ConfigError, Params};
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

    /// Applies the override, checking that the key exists and the type matches its default.
    pub fn apply(&self, params: &mut Params, file: &str) -> ConfigResult<()> {
        let Some(default) = params.get(&self.key) else {
            let keys = params.keys();
            return Err(ConfigError::UnknownSetParam {
                key: self.key.clone(),
                file: file.to_string(),
                hint: super::did_you_mean(&self.key, keys.iter().map(String::as_str)),
            });
        };
        let value = coerce(default, &self.value).ok_or_else(|| ConfigError::ParamType {
            key: self.key.clone(),
            value: display_value(&self.value),
            origin: "from --set".into(),
            expected: type_name(default).into(),
        })?;
        params.set(&self.key, value);
        Ok(())
    }
}

/// `new` in the type of `default`, or None when they do not agree.
fn coerce(default: &Value, new: &Value) -> Option<Value> {
    match (default, new) {
        (Value::Null, v) => Some(v.clone()),
        (Value::Number(d), Value::Number(n)) => {
            if d.is_f64() || n.is_i64() || n.is_u64() {
                Some(new.clone())
            } else {
                None
            }
        }
        (Value::String(_), Value::String(_)) => Some(new.clone()),
        // `--set name=42` for a string param means the text "42".
        (Value::String(_), Value::Number(_) | Value::Bool(_)) => {
            Some(Value::String(display_value(new)))
        }
        (Value::Bool(_), Value::Bool(_)) => Some(new.clone()),
        (Value::Sequence(_), Value::Sequence(_)) => Some(new.clone()),
        (Value::Mapping(_), Value::Mapping(_)) => Some(new.clone()),
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
        let err = Override::parse("seed=1.5").unwrap().apply(&mut p, "p");
        assert!(matches!(err, Err(ConfigError::ParamType { .. })));
        let err = Override::parse("sede=1").unwrap().apply(&mut p, "p");
        assert!(matches!(
            err,
            Err(ConfigError::UnknownSetParam { hint: Some(_), .. })
        ));
        assert!(Override::parse("seed").is_err());
        assert!(Override::parse("=1").is_err());
    }
}
