//! `${name}` inside YAML flow sequences.
//!
//! pipeline.yaml writes `outs: [out/detections/${stem}.csv]`, but YAML forbids
//! `{` and `}` in a plain scalar inside `[...]`, so a strict parser rejects the
//! line. Before parsing, each `${name}` becomes `` $`name` `` (same length, so
//! every line, column and span stays put) and every parsed string is turned
//! back. `name` is a param key, `item` or `stem`: letters, digits, `_` and `.`.

use serde_yaml::Value;

const OPEN: &str = "$`";
const CLOSE: char = '`';

/// The text with every `${name}` written as `` $`name` ``.
pub fn escape(text: &str) -> String {
    convert(text, "${", '}', OPEN, CLOSE)
}

/// Undoes `escape` in every string of a parsed document.
pub fn restore(value: &mut Value) {
    match value {
        Value::String(s) if s.contains(OPEN) => *s = convert(s, OPEN, CLOSE, "${", '}'),
        Value::Sequence(items) => items.iter_mut().for_each(restore),
        Value::Mapping(map) => {
            let entries: Vec<(Value, Value)> = std::mem::take(map).into_iter().collect();
            for (mut k, mut v) in entries {
                restore(&mut k);
                restore(&mut v);
                map.insert(k, v);
            }
        }
        Value::Tagged(tagged) => restore(&mut tagged.value),
        _ => {}
    }
}

fn convert(text: &str, open: &str, close: char, new_open: &str, new_close: char) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(open) {
        out.push_str(&rest[..at]);
        let after = &rest[at + open.len()..];
        let name_len = after
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
            .unwrap_or(after.len());
        if name_len > 0 && after[name_len..].starts_with(close) {
            out.push_str(new_open);
            out.push_str(&after[..name_len]);
            out.push(new_close);
            rest = &after[name_len + close.len_utf8()..];
        } else {
            out.push_str(open);
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Placeholders survive a flow sequence and come back unchanged.
    #[test]
    fn round_trips_through_flow_sequences() {
        let text = "outs: [out/${stem}.csv, \"${item}\"]\ncmd: echo $${HOME} ${a.b} ${ not}\n";
        let escaped = escape(text);
        assert_eq!(escaped.len(), text.len());
        let mut value: Value = serde_yaml::from_str(&escaped).unwrap();
        restore(&mut value);
        assert_eq!(value["outs"][0], Value::from("out/${stem}.csv"));
        assert_eq!(value["outs"][1], Value::from("${item}"));
        assert_eq!(value["cmd"], Value::from("echo $${HOME} ${a.b} ${ not}"));
    }
}
