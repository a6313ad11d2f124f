//! pipeline.yaml's `stages:` body cut into batches of whole stage entries.
//!
//! serde_yaml 0.9 loads every event of a document (~160 B each) before it builds a
//! value: 32 MB for 10,000 stages, most of what parsing them peaked at (48 MB).
//! Parsing the stages a batch at a time keeps one batch's events alive instead.
//!
//! The cut is made only where the layout is plain: a block mapping at column 0
//! whose keys are plain words, one `stages:` line with nothing after it but a
//! comment, and a body whose entries start with `name:` at one indent. Anything
//! else (BOM, CR, tabs in indentation, anchors, aliases, tags, `?` keys, document
//! markers, flow style at the top) gives None and the whole document is parsed.
//!
//! Why a cut at an entry line is sound: a block or plain scalar inside an entry
//! ends before a line at the entries' indent, so such a line is either the next
//! entry or inside a multi-line quoted scalar or flow collection; then the batch
//! before it ends unterminated, an error. The caller parses the whole document
//! on any error, and checks that each batch holds exactly the keys cut here and
//! that the top level still reads `stages:` as its own key.

/// The document cut in pieces, each parsed on its own.
#[derive(Debug)]
pub struct Layout<'a> {
    /// The document with the `stages:` body left out (`stages:` itself kept).
    pub top: String,
    pub batches: Vec<Batch<'a>>,
}

/// A run of whole stage entries.
#[derive(Debug)]
pub struct Batch<'a> {
    /// The entries' lines as they are in the file.
    pub body: &'a str,
    /// Each entry's key, as written at the start of its line.
    pub keys: Vec<&'a str>,
}

impl Batch<'_> {
    /// The batch as a document of its own, in the same context as in the file.
    pub fn document(&self) -> String {
        let mut doc = String::with_capacity(STAGES.len() + 1 + self.body.len());
        doc.push_str(STAGES);
        doc.push('\n');
        doc.push_str(self.body);
        doc
    }
}

const STAGES: &str = "stages:";

/// Cuts `text` into a top-level document and batches of `per_batch` stage
/// entries; None when the layout is not plain or one batch would hold them all.
pub fn split(text: &str, per_batch: usize) -> Option<Layout<'_>> {
    let per_batch = per_batch.max(1);
    if text.contains('\r') || text.contains('\u{feff}') {
        return None;
    }
    // The top level: where the `stages:` body starts and stops.
    let mut body_start = None;
    let mut body_stop = text.len();
    let mut first_content = true;
    for line in lines(text, 0) {
        let (indent, content) = indentation(line.text)?;
        if content.is_empty() || content.starts_with('#') {
            continue;
        }
        if suspicious(content) {
            return None;
        }
        let top_level = indent == 0;
        if first_content && !top_level {
            return None;
        }
        first_content = false;
        if !top_level {
            continue;
        }
        let key = plain_key(content)?;
        match body_start {
            None if key == "stages" => {
                if !only_comment(&content[STAGES.len()..]) {
                    return None;
                }
                body_start = Some(line.end);
            }
            Some(_) if key == "stages" => return None,
            Some(_) if body_stop == text.len() => body_stop = line.start,
            _ => {}
        }
    }
    let body_start = body_start?;

    // The body: entries at one indent, deeper lines belong to them.
    let mut indent_of_entries = None;
    let mut entries: Vec<(usize, &str)> = Vec::new();
    for line in lines(&text[..body_stop], body_start) {
        let (indent, content) = indentation(line.text)?;
        if content.is_empty() || content.starts_with('#') {
            continue;
        }
        let entry_indent = *indent_of_entries.get_or_insert(indent);
        if indent < entry_indent {
            return None;
        }
        if indent == entry_indent {
            entries.push((line.start, plain_key(content)?));
        }
    }
    if entries.len() <= per_batch {
        return None;
    }

    let mut batches = Vec::with_capacity(entries.len().div_ceil(per_batch));
    for (n, chunk) in entries.chunks(per_batch).enumerate() {
        // The first batch also holds the comments before the first entry.
        let start = if n == 0 { body_start } else { chunk[0].0 };
        let stop = entries
            .get((n + 1) * per_batch)
            .map_or(body_stop, |(at, _)| *at);
        batches.push(Batch {
            body: &text[start..stop],
            keys: chunk.iter().map(|(_, key)| *key).collect(),
        });
    }
    let mut top = String::with_capacity(body_start + text.len() - body_stop);
    top.push_str(&text[..body_start]);
    top.push_str(&text[body_stop..]);
    Some(Layout { top, batches })
}

struct Line<'a> {
    /// The line without its `\n`.
    text: &'a str,
    start: usize,
    /// Just past its `\n`.
    end: usize,
}

/// The lines of `text` from byte `from` on, with their places in `text`.
fn lines(text: &str, from: usize) -> impl Iterator<Item = Line<'_>> {
    let mut start = from;
    text[from..].split_inclusive('\n').map(move |piece| {
        let line = Line {
            text: piece.strip_suffix('\n').unwrap_or(piece),
            start,
            end: start + piece.len(),
        };
        start = line.end;
        line
    })
}

/// The indent in spaces and the rest of the line; None when a tab indents it.
fn indentation(line: &str) -> Option<(usize, &str)> {
    let content = line.trim_start_matches(' ');
    if content.starts_with('\t') {
        return None;
    }
    Some((line.len() - content.len(), content))
}

/// `name` of a line that starts `name:` followed by a space or the line's end,
/// `name` made of the characters a stage name may use.
fn plain_key(content: &str) -> Option<&str> {
    let len = content
        .find(|c: char| !(c.is_ascii_alphanumeric() || "_-.".contains(c)))
        .unwrap_or(content.len());
    let rest = &content[len..];
    let after = rest.strip_prefix(':')?;
    (len > 0 && (after.is_empty() || after.starts_with(' '))).then(|| &content[..len])
}

/// Nothing but spaces and perhaps a comment.
fn only_comment(rest: &str) -> bool {
    let rest = rest.trim_start_matches(' ');
    rest.is_empty() || rest.starts_with('#')
}

/// Whether a line may hold an anchor, alias, tag, complex key or merge key, where
/// a node can start: the line's start, after `- `, `: `, `[`, `{` or `,`. Cautious:
/// the same characters inside a quoted string also count.
fn suspicious(content: &str) -> bool {
    let bytes = content.as_bytes();
    let starts_node = |at: usize| {
        let rest = content[at..].trim_start_matches(' ');
        rest.starts_with(['&', '*', '!', '?', '%']) || rest.starts_with("<<")
    };
    if starts_node(0) {
        return true;
    }
    for (i, b) in bytes.iter().enumerate() {
        let after = match b {
            b'[' | b'{' | b',' => i + 1,
            b':' | b'-' if bytes.get(i + 1) == Some(&b' ') => i + 2,
            _ => continue,
        };
        if starts_node(after) {
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(layout: &Layout) -> Vec<Vec<&'static str>> {
        layout
            .batches
            .iter()
            .map(|b| {
                b.keys
                    .iter()
                    .map(|k| &*Box::leak(k.to_string().into_boxed_str()))
                    .collect()
            })
            .collect()
    }

    /// Entries are cut at their own lines; comments and deeper lines stay with them.
    #[test]
    fn cuts_at_entries() {
        let text = "params:\n  n: 1\nstages:  # the graph\n# lead\n  a:\n    cmd: x\n# note\n  b:\n    cmd: |\n      b: not a key\n  c: {cmd: z}\nmetrics: [m]\n";
        let layout = split(text, 2).unwrap();
        assert_eq!(
            layout.top,
            "params:\n  n: 1\nstages:  # the graph\nmetrics: [m]\n"
        );
        assert_eq!(keys(&layout), [vec!["a", "b"], vec!["c"]]);
        assert_eq!(
            layout.batches[0].body,
            "# lead\n  a:\n    cmd: x\n# note\n  b:\n    cmd: |\n      b: not a key\n"
        );
        assert_eq!(layout.batches[1].document(), "stages:\n  c: {cmd: z}\n");
    }

    /// A big plain pipeline is cut into batches of the size asked.
    #[test]
    fn big_pipeline_is_batched() {
        let mut text = String::from("stages:\n");
        for i in 0..1000 {
            text.push_str(&format!(
                "  s{i}:\n    cmd: \"echo {i} > out/s{i}.txt\"\n    deps: [\"in.txt\"]\n    outs: [\"out/s{i}.txt\"]\n"
            ));
        }
        let layout = split(&text, 256).unwrap();
        let sizes: Vec<usize> = layout.batches.iter().map(|b| b.keys.len()).collect();
        assert_eq!(sizes, [256, 256, 256, 232]);
        assert_eq!(layout.top, "stages:\n");
        let joined: String = layout.batches.iter().map(|b| b.body).collect();
        assert_eq!(format!("stages:\n{joined}"), text);
        // One batch would hold them all: nothing to gain.
        assert!(split(&text, 1000).is_none());
    }

    /// Layouts that are not plain are left to the whole-document parse.
    #[test]
    fn leaves_unusual_layouts_whole() {
        let body = "  a:\n    cmd: x\n  b:\n    cmd: y\n";
        let plain = format!("stages:\n{body}");
        assert!(split(&plain, 1).is_some());
        for text in [
            format!("\u{feff}stages:\n{body}"),
            plain.replace('\n', "\r\n"),
            format!("---\nstages:\n{body}"),
            format!("stages:\n{body}...\n"),
            format!("stages: # c\n{body}stages:\n{body}"),
            format!("stages: &s\n{body}"),
            format!("stages: !!map\n{body}"),
            format!("\"stages\":\n{body}"),
            format!("{{stages:\n{body}}}"),
            format!("  params: {{}}\nstages:\n{body}"),
            format!("stages:\n{body}  \"c\":\n    cmd: z\n"),
            format!("stages:\n{body}  ? c\n  : {{cmd: z}}\n"),
            format!("stages:\n{body}  c: *x\n"),
            format!("stages:\n{body}  c:\n    outs: [a, *x]\n"),
            format!("stages:\n{body}  c:\n    <<: {{cmd: z}}\n"),
            format!("stages:\n{body}  c:\n\t cmd: z\n"),
            format!("stages:\n{body} c:\n    cmd: z\n"),
            format!("stages:\n{body}  - c\n"),
            format!("a b: 1\nstages:\n{body}"),
            "stages:\n".to_string(),
        ] {
            assert!(split(&text, 1).is_none(), "{text:?}");
        }
    }
}
