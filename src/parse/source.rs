//! The pipeline file's text, kept for error messages.

use miette::{NamedSource, SourceSpan};
use std::sync::Arc;

use super::span::SpanIndex;

/// The text of pipeline.yaml and, built only when an error needs it, its span index.
#[derive(Debug, Clone)]
pub struct Source {
    pub name: String,
    pub text: Arc<String>,
}

impl Source {
    pub fn new(name: String, text: String) -> Source {
        Source {
            name,
            text: Arc::new(text),
        }
    }

    pub fn named(&self) -> NamedSource<String> {
        NamedSource::new(self.name.clone(), self.text.as_ref().clone())
    }

    /// The span of the value at a key path such as `stages.detect.outs[0]`.
    ///
    /// Errors are rare, so the index is rebuilt on every call rather than kept.
    pub fn span(&self, path: &str) -> SourceSpan {
        SpanIndex::build(&self.text).value(path)
    }

    /// The span of the key at a key path (for unknown keys).
    pub fn key_span(&self, path: &str) -> SourceSpan {
        SpanIndex::build(&self.text).key(path)
    }
}
