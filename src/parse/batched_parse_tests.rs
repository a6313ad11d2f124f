//! The batched parse against the whole-document parse: same `Pipeline`, or the
//! same error, for every document; and the batched path is taken where it should.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::path::PathBuf;

use super::batches;
use super::pipeline::{parse_batched, parse_whole};
use super::{Pipeline, Source};
use crate::ConfigResult;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Everything a `Pipeline` holds, comparable.
fn summary(p: &Pipeline) -> String {
    format!(
        "{:?}\n{}\n{:?}\n{:?}\n{:?}\n{:?}\n{:?}",
        p.root, p.source.text, p.params, p.overridden, p.stages, p.metrics, p.source.name
    )
}

fn outcome(result: &ConfigResult<Pipeline>) -> String {
    match result {
        Ok(p) => summary(p),
        Err(e) => format!("error: {e}\n{e:?}"),
    }
}

/// Parses `text` both ways with `per_batch` stages a batch; panics where they
/// differ. True when the batched path gave the pipeline.
fn both_ways(text: &str, per_batch: usize) -> bool {
    let root = root();
    let whole = parse_whole(
        Source::new("pipeline.yaml".into(), text.into()),
        &root,
        "pipeline.yaml",
    );
    // The public entry point (its own batch size, whole parse on any doubt).
    let public = Pipeline::parse("pipeline.yaml", &root, text.into());
    assert_eq!(
        outcome(&public),
        outcome(&whole),
        "Pipeline::parse of\n{text}"
    );

    let Some(layout) = batches::split(text, per_batch) else {
        return false;
    };
    // The text is cut, not changed: the pieces give it back.
    let mut joined = layout.top.clone();
    let at = joined.find("stages:").unwrap() + "stages:".len();
    let at = at + joined[at..].find('\n').map_or(joined.len() - at, |n| n + 1);
    let body: String = layout.batches.iter().map(|b| b.body).collect();
    joined.insert_str(at, &body);
    assert_eq!(joined, text, "pieces of\n{text}");

    let source = Source::new("pipeline.yaml".into(), text.into());
    let Some(batched) = parse_batched(&source, &root, "pipeline.yaml", &layout) else {
        return false;
    };
    assert_eq!(
        summary(&batched),
        outcome(&whole),
        "batched ({per_batch} a batch) against whole, for\n{text}"
    );
    true
}

/// Both ways for batches of 1, 2 and 3 stages; true when batches of 1 and 2
/// were taken (3 stages are one batch of 3: no cut).
fn every_size(text: &str) -> bool {
    let taken = both_ways(text, 1) & both_ways(text, 2);
    both_ways(text, 3);
    taken
}

/// A stage as the benchmark graph writes it (scratch/gen.py).
fn plain_stage(name: &str, dep: &str) -> String {
    format!(
        "  {name}:\n    cmd: \"(echo {name}; head -q -c 80 {dep}) > out/{name}.txt\"\n    deps: [\"{dep}\"]\n    outs: [\"out/{name}.txt\"]\n"
    )
}

fn big(n: usize) -> String {
    let mut text = String::from("stages:\n");
    for i in 0..n {
        let dep = if i == 0 {
            "input.txt".to_string()
        } else {
            format!("out/s{}.txt", i - 1)
        };
        text.push_str(&plain_stage(&format!("s{i}"), &dep));
    }
    text
}

/// Stage entries that parse, each written in a way a cut must not disturb.
/// `{n}` is the stage name.
const GOOD: &[&str] = &[
    "  {n}:\n    cmd: echo {n} > out/{n}.txt\n    outs: [out/{n}.txt]\n",
    // block scalars whose lines look like keys, at several indents
    "  {n}:\n    cmd: |\n      stages:\n      {n}: x\n        params: y\n      echo > out/{n}.txt\n    outs: [out/{n}.txt]\n",
    "  {n}:\n    outs: [out/{n}.txt]\n    cmd: >\n      echo\n\n      metrics: a\n      > out/{n}.txt\n",
    "  {n}:\n    outs: [out/{n}.txt]\n    cmd: |+\n      echo keep > out/{n}.txt\n\n\n",
    "  {n}:\n    outs: [out/{n}.txt]\n    cmd: |-\n      echo strip > out/{n}.txt\n\n",
    "  {n}:\n    outs: [out/{n}.txt]\n    cmd: |2\n        echo indicator > out/{n}.txt\n",
    // a block scalar that is the last thing of the last entry
    "  {n}:\n    outs: [out/{n}.txt]\n    cmd: |\n      echo last > out/{n}.txt\n      \n",
    // multi-line plain and quoted scalars
    "  {n}:\n    cmd: echo a\n      b c:d\n      > out/{n}.txt\n    outs: [out/{n}.txt]\n",
    "  {n}:\n    cmd: \"echo a\n      b: c \\\n      > out/{n}.txt\"\n    outs: [out/{n}.txt]\n",
    "  {n}:\n    cmd: 'echo ''a''\n\n      b > out/{n}.txt'\n    outs: [out/{n}.txt]\n",
    // comments at column 0 and elsewhere, blank lines, trailing spaces
    "# a comment at column 0\n  {n}:   \n# another: one\n    cmd: echo > out/{n}.txt  # trailing\n\n    outs: [out/{n}.txt]   \n   # deeper\n",
    // flow style inside an entry
    "  {n}: {cmd: \"echo > out/{n}.txt\", outs: [out/{n}.txt]}\n",
    "  {n}:\n    cmd: echo > out/{n}.txt\n    outs: [\n      out/{n}.txt,\n    ]\n    deps: []\n",
    // unicode and placeholders
    "  {n}:\n    cmd: \"echo h\u{e9}llo \u{2713} ${seed} > out/{n}.txt\"\n    params: [seed]\n    outs: [\"out/{n}.txt\"]\n    deps: [\"in/\u{fc}ber.txt\"]\n",
    "  {n}:\n    cmd: echo $${HOME} > out/{n}.txt\n    outs: [out/{n}.txt]\n",
    // sql stages, deps lists as blocks
    "  {n}:\n    sql: q/{n}.sql\n    db: out/x.db\n    deps:\n      - out/x.db\n      - q/{n}.sql\n    outs:\n    - out/{n}.csv\n",
    "  {n}:\n    foreach: sql/detections/*.sql\n    sql: ${item}\n    db: out/x.db\n    deps: [${item}, out/x.db]\n    outs: [out/{n}/${stem}.csv]\n",
    "  {n}:\n    builtin: load\n    outs: [out/{n}.db]\n    params: [seed, nested.k]\n",
];

/// Entries that are wrong, or written so that a cut lands where it must not.
const BAD: &[&str] = &[
    "  {n}: 5\n",
    "  {n}:\n    cdm: echo\n    outs: [out/{n}.txt]\n",
    "  {n}:\n   cmd: echo\n    outs: [out/{n}.txt]\n",
    "  {n}:\n    cmd: \"unterminated\n    outs: [out/{n}.txt]\n",
    "  {n}:\n    cmd: \"a quote whose lines\n  look: like an entry\"\n    outs: [out/{n}.txt]\n",
    "  {n}:\n    cmd: 'single\nmetrics: at column 0'\n    outs: [out/{n}.txt]\n",
    "  {n}: {cmd: \"echo > out/{n}.txt\",\n  outs: [out/{n}.txt]}\n",
    "  {n}: {cmd: \"echo > out/{n}.txt\",\nouts: [out/{n}.txt]}\n",
    "  {n}:\n    cmd: echo ${nope} > out/{n}.txt\n    outs: [out/{n}.txt]\n",
    "  {n}:\n    cmd: echo ${seed} > out/{n}.txt\n    outs: [out/{n}.txt]\n",
    "  {n}:\n    cmd: echo\n    outs: [out/${stem}.txt]\n",
    "  {n}:\n    cmd: echo\n    outs: [out/{n}.txt]\n    cmd: again\n",
    "  {n}:\n    cmd: echo\n    outs: [out/shared.txt]\n",
    "  {n}:\n    cmd: echo\n    outs: [../outside.txt]\n",
    "  {n}:\n    cmd: echo\n    outs: [pipeline.yaml]\n",
    "  1:\n    cmd: echo\n    outs: [out/one.txt]\n",
    "  true:\n    cmd: echo\n    outs: [out/true.txt]\n",
    "  null:\n    cmd: echo\n    outs: [out/null.txt]\n",
    "  bad name:\n    cmd: echo\n    outs: [out/bad.txt]\n",
    "  {n}: &anchor\n    cmd: echo\n    outs: [out/{n}.txt]\n",
    "  {n}: *anchor\n",
    "  {n}:\n    cmd: !tagged echo\n    outs: [out/{n}.txt]\n",
    "  {n}:\n    <<: {cmd: echo}\n    outs: [out/{n}.txt]\n",
    "  {n}:\n\t cmd: echo\n",
    " {n}:\n    cmd: echo\n    outs: [out/{n}.txt]\n",
    "  - {n}\n",
    "  {n}:\n    cmd: echo\n    outs: [out/{n}.txt]\n  {n}:\n    cmd: echo\n    outs: [out/{n}.txt]\n",
];

/// `metrics:` naming an out of `GOOD[k]`'s second stage, when it writes a .txt.
fn metrics(k: usize) -> String {
    if GOOD[k].contains("out/{n}.txt") {
        format!("metrics: [out/g{k}_1.txt]\n")
    } else {
        String::new()
    }
}

const PARAMS: &str = "params:\n  seed: 42\n  nested:\n    k: v\n";

/// The curated documents: each cut at every batch size is the whole parse.
#[test]
fn tricky_documents_parse_the_same_batched() {
    // Valid entries, two of each kind so that every cut falls between kinds.
    for (k, good) in GOOD.iter().enumerate() {
        let entries: String = (0..3)
            .map(|i| good.replace("{n}", &format!("g{k}_{i}")))
            .collect();
        for text in [
            format!("{PARAMS}stages:\n{entries}"),
            format!("stages:  # the graph\n{entries}{PARAMS}{}", metrics(k)),
            format!("# head\n\n{PARAMS}\nstages:\n\n{entries}\n# tail\n"),
            format!("{PARAMS}stages:\n{}", entries.trim_end_matches('\n')),
        ] {
            assert!(every_size(&text), "not batched:\n{text}");
        }
    }
    // A stage named like a top-level key, unicode names rejected the same way.
    every_size(&format!(
        "{PARAMS}stages:\n{}{}{}",
        GOOD[0].replace("{n}", "params"),
        GOOD[0].replace("{n}", "stages"),
        GOOD[0].replace("{n}", "metrics")
    ));
    every_size(&format!(
        "stages:\n{}{}",
        GOOD[0].replace("{n}", "a"),
        GOOD[0].replace("{n}", "\u{e9}t\u{e9}")
    ));
    // Each bad entry after and before good ones, in different batches.
    for (k, bad) in BAD.iter().enumerate() {
        let good = |i: usize| GOOD[i % GOOD.len()].replace("{n}", &format!("g{i}"));
        let bad = bad.replace("{n}", &format!("b{k}"));
        for text in [
            format!("{PARAMS}stages:\n{}{}{bad}{}", good(0), good(1), good(2)),
            format!("{PARAMS}stages:\n{bad}{}{}", good(3), good(4)),
            format!("stages:\n{}{}{}{bad}{PARAMS}", good(5), good(6), good(7)),
        ] {
            every_size(&text);
        }
    }
}

/// Errors and surprises between batches give the whole parse's answer.
#[test]
fn cross_batch_cases_fall_back() {
    let a = GOOD[0].replace("{n}", "a");
    let b = GOOD[0].replace("{n}", "b");
    // The same stage in two batches: the whole parse reports the repeated key.
    let text = format!("stages:\n{a}{b}{a}");
    assert!(!both_ways(&text, 1));
    // An alias to an anchor in another batch.
    let text = "stages:\n  a: &s\n    cmd: echo > out/a.txt\n    outs: [out/a.txt]\n  b: *s\n";
    assert!(!every_size(text));
    // Params after the stages, read from the document without the stages body.
    let text = format!("stages:\n{}{a}{b}{PARAMS}", GOOD[13].replace("{n}", "u"));
    assert!(every_size(&text));
    // Empty stages, stages of null.
    for text in [
        "stages:\n",
        "stages:\n# none\n",
        "stages: {}\n",
        "params: {}\n",
    ] {
        assert!(!every_size(text));
    }
    // Windows line endings and a BOM: the whole parse.
    let crlf = format!("stages:\n{a}{b}").replace('\n', "\r\n");
    assert!(!every_size(&crlf));
    assert!(!every_size(&format!("\u{feff}stages:\n{a}{b}")));
    // A `stages:` line swallowed by a multi-line quoted param.
    let text = format!("params:\n  x: \"abc\nstages:\n{a}{b}metrics: \"\n");
    assert!(!every_size(&text));
    let text = format!("params: {{x: 1,\nstages:\n{a}{b}}}\n");
    assert!(!every_size(&text));
}

/// Big pipelines as the benchmark writes them, with and without an error in a
/// late batch.
#[test]
fn big_pipelines_parse_the_same_batched() {
    let text = big(2000);
    for per_batch in [7, 256] {
        assert!(both_ways(&text, per_batch));
    }
    let wrong = text.replace("  s1700:\n    cmd:", "  s1700:\n    cdm:");
    assert!(!both_ways(&wrong, 256));
    let repeated = text.replace("  s1900:\n", "  s3:\n");
    assert!(!both_ways(&repeated, 256));
    let syntax = text.replace("  s1500:\n    cmd: \"", "  s1500:\n    cmd: \"\\q");
    assert!(!both_ways(&syntax, 256));
}

/// Random documents from the pieces above: params before or after, comments,
/// blank lines, metrics right or wrong, good and bad entries.
#[test]
fn random_documents_parse_the_same_batched() {
    let mut rng = ChaCha8Rng::seed_from_u64(13);
    let mut batched = 0;
    for _ in 0..400 {
        let mut stages = String::new();
        let n = rng.random_range(0..10);
        for i in 0..n {
            let piece = if rng.random_bool(0.9) {
                GOOD[rng.random_range(0..GOOD.len())]
            } else {
                BAD[rng.random_range(0..BAD.len())]
            };
            let name = if rng.random_bool(0.02) && i > 0 {
                format!("r{}", rng.random_range(0..i))
            } else {
                format!("r{i}")
            };
            stages.push_str(&piece.replace("{n}", &name));
            if rng.random_bool(0.1) {
                stages
                    .push_str(["\n", "# note\n", "    # deep\n", "   \n"][rng.random_range(0..4)]);
            }
        }
        let metrics = match rng.random_range(0..6) {
            0 => "metrics: [out/r0.txt]\n",
            1 => "metrics: [out/none.txt]\n",
            _ => "",
        };
        let text = match rng.random_range(0..3) {
            0 => format!("{PARAMS}stages:\n{stages}{metrics}"),
            1 => format!("stages:\n{stages}{PARAMS}{metrics}"),
            _ => format!("{metrics}stages: # s\n{stages}"),
        };
        let text = if rng.random_bool(0.1) {
            text.replace('\n', "  \n")
        } else {
            text
        };
        if both_ways(&text, rng.random_range(1..4)) {
            batched += 1;
        }
    }
    // Most random documents have a good layout and are batched.
    assert!(batched > 80, "{batched} of 400 batched");
}

/// The project's pipeline and every pipeline the CLI tests write.
#[test]
fn project_pipelines_parse_the_same_batched() {
    let text = std::fs::read_to_string(root().join("pipeline.yaml")).unwrap();
    assert!(every_size(&text), "the shipped pipeline is batched");
    let mut found = 0;
    for entry in std::fs::read_dir(root().join("tests/cli")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "rs") {
            for text in string_literals(&std::fs::read_to_string(&path).unwrap()) {
                if text.contains("stages:") {
                    found += 1;
                    for n in [1, 2] {
                        both_ways(&text, n);
                    }
                }
            }
        }
    }
    assert!(found > 50, "{found} pipelines in tests/cli");
}

/// Rust string literals (plain and raw), with the common escapes undone.
fn string_literals(code: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find(['"', '\'']) {
        if rest[at..].starts_with('\'') {
            // A char literal such as '"' or a lifetime: step over it.
            rest = &rest[at + 1..];
            if let Some(close) = rest.get(..3).and_then(|s| s.find('\'')) {
                rest = &rest[close + 1..];
            }
            continue;
        }
        let hashes = rest[..at].chars().rev().take_while(|c| *c == '#').count();
        let raw = rest[..at - hashes].ends_with('r');
        let body = &rest[at + 1..];
        if raw {
            let close = format!("\"{}", "#".repeat(hashes));
            let Some(end) = body.find(&close) else { break };
            found.push(body[..end].to_string());
            rest = &body[end + close.len()..];
            continue;
        }
        let mut text = String::new();
        let mut chars = body.char_indices();
        let mut end = body.len();
        while let Some((i, c)) = chars.next() {
            match c {
                '"' => {
                    end = i + 1;
                    break;
                }
                '\\' => match chars.next() {
                    Some((_, 'n')) => text.push('\n'),
                    Some((_, 't')) => text.push('\t'),
                    Some((_, 'r')) => text.push('\r'),
                    Some((_, '\n')) => {
                        let skip = body[i + 2..].len() - body[i + 2..].trim_start().len();
                        for _ in 0..skip {
                            chars.next();
                        }
                    }
                    Some((_, other)) => text.push(other),
                    None => {}
                },
                c => text.push(c),
            }
        }
        found.push(text);
        rest = &body[end.min(body.len())..];
    }
    found
}

#[test]
fn string_literals_are_found() {
    let code = "let a = \"x:\\n  y\"; let b = r#\"q \"z\"\"#; let c = '\"'; f(\"a\\\n    b\");";
    assert_eq!(string_literals(code), ["x:\n  y", "q \"z\"", "ab"]);
}
