//! Key paths -> byte spans in pipeline.yaml, for error labels.
//!
//! serde_yaml gives positions only for syntax errors, so semantic errors find
//! their place with a second, event-level parse by yaml-rust2. A key path looks
//! like `stages.detect.outs[0]`. This runs only when an error is reported, so it
//! does not have to be fast.

use miette::SourceSpan;
use std::collections::HashMap;
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

#[derive(Debug, Default)]
pub struct SpanIndex {
    values: HashMap<String, SourceSpan>,
    keys: HashMap<String, SourceSpan>,
}

enum Frame {
    Map { path: String, key: Option<String> },
    Seq { path: String, index: usize },
}

struct Collector<'a> {
    text: &'a str,
    char_to_byte: Vec<usize>,
    stack: Vec<Frame>,
    index: SpanIndex,
}

impl Collector<'_> {
    fn byte(&self, mark: &Marker) -> usize {
        self.char_to_byte
            .get(mark.index())
            .copied()
            .unwrap_or(self.text.len())
    }

    /// The path of the node that starts now, or None when the node is a map key.
    fn next_path(&mut self) -> Option<String> {
        match self.stack.last_mut() {
            None => Some(String::new()),
            Some(Frame::Map { key: None, .. }) => None,
            Some(Frame::Map { path, key }) => {
                let key = key.take().expect("checked above");
                Some(join(path, &key))
            }
            Some(Frame::Seq { path, index }) => {
                let p = format!("{path}[{index}]");
                *index += 1;
                Some(p)
            }
        }
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

impl MarkedEventReceiver for Collector<'_> {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        let start = self.byte(&mark);
        match ev {
            Event::Scalar(value, style, ..) => {
                let quoted = !matches!(style, TScalarStyle::Plain);
                let len = value.len() + if quoted { 2 } else { 0 };
                let span = SourceSpan::from((start, len.max(1)));
                match self.next_path() {
                    Some(path) => {
                        self.index.values.insert(path, span);
                    }
                    None => {
                        if let Some(Frame::Map { path, key }) = self.stack.last_mut() {
                            self.index.keys.insert(join(path, &value), span);
                            *key = Some(value);
                        }
                    }
                }
            }
            Event::MappingStart(..) | Event::SequenceStart(..) => {
                let path = self.next_path().unwrap_or_default();
                self.index
                    .values
                    .insert(path.clone(), SourceSpan::from((start, 1)));
                self.stack.push(if matches!(ev, Event::MappingStart(..)) {
                    Frame::Map { path, key: None }
                } else {
                    Frame::Seq { path, index: 0 }
                });
            }
            Event::MappingEnd | Event::SequenceEnd => {
                self.stack.pop();
            }
            Event::Alias(_) => {
                self.next_path();
            }
            _ => {}
        }
    }
}

impl SpanIndex {
    pub fn build(text: &str) -> SpanIndex {
        let mut char_to_byte: Vec<usize> = text.char_indices().map(|(b, _)| b).collect();
        char_to_byte.push(text.len());
        let mut collector = Collector {
            text,
            char_to_byte,
            stack: Vec::new(),
            index: SpanIndex::default(),
        };
        // A syntax error was already reported by serde_yaml; keep what was indexed.
        let escaped = super::placeholder::escape(text);
        let _ = Parser::new_from_str(&escaped).load(&mut collector, false);
        collector.index
    }

    /// The value at `path`, else the nearest enclosing node, else the file start.
    pub fn value(&self, path: &str) -> SourceSpan {
        let mut p = path.to_string();
        loop {
            if let Some(span) = self.values.get(&p) {
                return *span;
            }
            if let Some(span) = self.keys.get(&p) {
                return *span;
            }
            match p.rfind(['.', '[']) {
                Some(cut) => p.truncate(cut),
                None => return SourceSpan::from((0, 0)),
            }
        }
    }

    /// The key at `path` (falls back like `value`).
    pub fn key(&self, path: &str) -> SourceSpan {
        self.keys
            .get(path)
            .copied()
            .unwrap_or_else(|| self.value(path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const YAML: &str = "params:\n  seed: 42\nstages:\n  a:\n    cmd: \"echo hi\"\n    outs: [out/a.txt, out/b.txt]\n    deps:\n      - in.txt\n";

    fn text_at(span: SourceSpan) -> &'static str {
        &YAML[span.offset()..span.offset() + span.len()]
    }

    /// Values, list items and keys map to their exact text.
    #[test]
    fn finds_values_items_and_keys() {
        let index = SpanIndex::build(YAML);
        assert_eq!(text_at(index.value("params.seed")), "42");
        assert_eq!(text_at(index.value("stages.a.cmd")), "\"echo hi\"");
        assert_eq!(text_at(index.value("stages.a.outs[1]")), "out/b.txt");
        assert_eq!(text_at(index.value("stages.a.deps[0]")), "in.txt");
        assert_eq!(text_at(index.key("stages.a.outs")), "outs");
    }

    /// An unknown path falls back to its nearest known parent.
    #[test]
    fn falls_back_to_parent() {
        let index = SpanIndex::build(YAML);
        assert_eq!(
            index.value("stages.a.outs[7]"),
            index.value("stages.a.outs")
        );
    }
}
