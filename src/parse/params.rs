//! `Params`: the nested params block, addressed by dotted keys (`enforcement.block_risk`).

use serde_yaml::{Mapping, Value};

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Params {
    root: Mapping,
}

impl Params {
    pub fn new(root: Mapping) -> Params {
        Params { root }
    }

    /// The whole params block as a nested map.
    pub fn to_value(&self) -> Value {
        Value::Mapping(self.root.clone())
    }

    /// The value at a dotted key; a parent key gives the whole sub-map.
    pub fn get(&self, dotted: &str) -> Option<&Value> {
        let mut parts = dotted.split('.');
        let mut value = self.root.get(parts.next()?)?;
        for part in parts {
            value = value.as_mapping()?.get(part)?;
        }
        Some(value)
    }

    /// Replaces the value at an existing dotted key.
    pub fn set(&mut self, dotted: &str, new: Value) -> bool {
        let mut parts = dotted.split('.').peekable();
        let mut map = &mut self.root;
        while let Some(part) = parts.next() {
            let Some(slot) = map.get_mut(part) else {
                return false;
            };
            if parts.peek().is_none() {
                *slot = new;
                return true;
            }
            match slot.as_mapping_mut() {
                Some(inner) => map = inner,
                None => return false,
            }
        }
        false
    }

    /// Every key, parents included, in file order (for suggestions).
    pub fn keys(&self) -> Vec<String> {
        fn walk(prefix: &str, map: &Mapping, into: &mut Vec<String>) {
            for (k, v) in map {
                let Some(k) = k.as_str() else { continue };
                let key = if prefix.is_empty() {
                    k.to_string()
                } else {
                    format!("{prefix}.{k}")
                };
                into.push(key.clone());
                if let Some(inner) = v.as_mapping() {
                    walk(&key, inner, into);
                }
            }
        }
        let mut keys = Vec::new();
        walk("", &self.root, &mut keys);
        keys
    }
}

/// A param value as text: scalars bare (`0.95`, `abc`), collections as JSON.
pub fn display_value(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        other => serde_json::to_string(other).unwrap_or_default(),
    }
}

/// A param value as an error message shows it: like `display_value`, but
/// never blank or ambiguous. Null reads `null`; a string that is empty, has
/// edge spaces or would read as another type (`"42"`, `"true"`) is quoted.
pub fn readable_value(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::String(s) if needs_quotes(s) => {
            serde_json::to_string(s).unwrap_or_else(|_| s.clone())
        }
        other => display_value(other),
    }
}

fn needs_quotes(s: &str) -> bool {
    s.is_empty()
        || s.trim() != s
        || !matches!(serde_yaml::from_str::<Value>(s), Ok(Value::String(_)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> Params {
        Params::new(serde_yaml::from_str("seed: 42\nenforcement:\n  block_risk: 0.9\n").unwrap())
    }

    /// Dotted keys reach nested values; parents give sub-maps.
    #[test]
    fn gets_dotted_keys() {
        let p = params();
        assert_eq!(p.get("seed"), Some(&Value::from(42)));
        assert_eq!(p.get("enforcement.block_risk"), Some(&Value::from(0.9)));
        assert!(p.get("enforcement").unwrap().is_mapping());
        assert_eq!(p.get("enforcement.nope"), None);
        assert_eq!(p.keys(), ["seed", "enforcement", "enforcement.block_risk"]);
    }

    /// Values in messages are never blank, and strings that look like
    /// another type are quoted.
    #[test]
    fn readable_values() {
        assert_eq!(readable_value(&Value::Null), "null");
        assert_eq!(readable_value(&Value::from("")), "\"\"");
        assert_eq!(readable_value(&Value::from("abc")), "abc");
        assert_eq!(readable_value(&Value::from("42")), "\"42\"");
        assert_eq!(readable_value(&Value::from("null")), "\"null\"");
        assert_eq!(readable_value(&Value::from(-3)), "-3");
    }

    /// `set` replaces existing keys only.
    #[test]
    fn sets_existing_keys_only() {
        let mut p = params();
        assert!(p.set("enforcement.block_risk", Value::from(0.95)));
        assert_eq!(p.get("enforcement.block_risk"), Some(&Value::from(0.95)));
        assert!(!p.set("enforcement.other", Value::from(1)));
    }
}
