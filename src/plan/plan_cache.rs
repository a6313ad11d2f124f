//! The parsed pipeline, kept in `state.db` between commands, so that a build
//! after an edit of some input does not parse 100,000 stages of YAML again
//! (parsing is most of a big graph's planning time).
//!
//! It is keyed by what parsing depends on: the tool version, the pipeline
//! file's path and bytes, and the `--set` overrides. The disk matters too,
//! through `foreach` globs, so a caller uses the kept pipeline only when the
//! no-op snapshot proves the `foreach` folders unchanged. The plan itself is
//! rebuilt from the pipeline (cheap, and it re-validates against the disk).

use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::parse::{Override, Params, Pipeline, Source, StageDecl, StageKind};
use crate::record::StateDb;

const KEY: &str = "plan.key";
const PIPELINE: &str = "plan.pipeline";

#[derive(Serialize, Deserialize)]
struct Kept {
    root: PathBuf,
    params: serde_yaml::Mapping,
    overridden: BTreeSet<String>,
    stages: Vec<KeptStage>,
    metrics: Option<Vec<String>>,
}

#[derive(Serialize, Deserialize)]
struct KeptStage {
    name: String,
    group: String,
    kind: StageKind,
    deps: Vec<String>,
    outs: Vec<String>,
    params: Vec<String>,
    foreach: Option<String>,
    yaml_path: String,
}

/// What a parse of `file` with `overrides` depends on, besides `foreach` folders.
pub fn plan_key(file: &Path, text: &[u8], overrides: &[Override]) -> String {
    let mut h = blake3::Hasher::new();
    h.update(env!("CARGO_PKG_VERSION").as_bytes());
    h.update(b"\0");
    h.update(
        std::path::absolute(file)
            .unwrap_or_default()
            .as_os_str()
            .as_encoded_bytes(),
    );
    h.update(b"\0");
    h.update(text);
    // Overrides in their parsed form: the key follows what the build means,
    // not how the value was typed (`--set seed=17` and `--set 'seed= 17'`).
    for o in overrides {
        h.update(b"\0");
        h.update(o.key.as_bytes());
        h.update(b"=");
        h.update(
            serde_json::to_string(&o.value)
                .unwrap_or_default()
                .as_bytes(),
        );
    }
    h.finalize().to_hex().to_string()
}

/// The kept pipeline for `key`, with `source` as its text (the same bytes).
pub fn load(db: &StateDb, key: &str, source: Source) -> Option<Pipeline> {
    if db.meta(KEY)?.as_slice() != key.as_bytes() {
        return None;
    }
    let kept: Kept = serde_json::from_slice(&db.meta(PIPELINE)?).ok()?;
    Some(Pipeline {
        root: kept.root,
        source,
        params: Params::new(kept.params),
        overridden: kept.overridden,
        stages: kept
            .stages
            .into_iter()
            .map(|s| StageDecl {
                name: s.name,
                group: s.group,
                kind: s.kind,
                deps: s.deps,
                outs: s.outs,
                params: s.params,
                foreach: s.foreach,
                yaml_path: s.yaml_path,
            })
            .collect(),
        metrics: kept.metrics,
    })
}

/// Keeps `pipeline` under `key`; nothing when its params do not survive the
/// round trip (YAML tags, non-string keys): those pipelines are parsed each time.
pub fn save(db: &StateDb, key: &str, pipeline: &Pipeline) {
    let params = match pipeline.params.to_value() {
        serde_yaml::Value::Mapping(m) => m,
        _ => return,
    };
    let survives = serde_json::to_vec(&params)
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_yaml::Mapping>(&b).ok())
        .is_some_and(|back| back == params);
    if !survives {
        return;
    }
    let kept = Kept {
        root: pipeline.root.clone(),
        params,
        overridden: pipeline.overridden.clone(),
        stages: pipeline
            .stages
            .iter()
            .map(|s| KeptStage {
                name: s.name.clone(),
                group: s.group.clone(),
                kind: s.kind.clone(),
                deps: s.deps.clone(),
                outs: s.outs.clone(),
                params: s.params.clone(),
                foreach: s.foreach.clone(),
                yaml_path: s.yaml_path.clone(),
            })
            .collect(),
        metrics: pipeline.metrics.clone(),
    };
    let Ok(bytes) = serde_json::to_vec(&kept) else {
        return;
    };
    let mut conn = db.conn();
    let _ = (|| {
        let tx = conn.transaction()?;
        crate::record::set_meta(&tx, KEY, key.as_bytes())?;
        crate::record::set_meta(&tx, PIPELINE, &bytes)?;
        tx.commit()
    })();
}

/// The folders whose listing decides a `foreach` expansion.
pub fn foreach_folders(pipeline: &Pipeline) -> BTreeSet<PathBuf> {
    pipeline
        .stages
        .iter()
        .filter_map(|s| s.foreach.as_deref())
        .map(|pattern| {
            pipeline
                .root
                .join(Path::new(pattern).parent().unwrap_or(Path::new("")))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A kept pipeline comes back equal, and only under its own key.
    #[test]
    fn round_trips_under_its_key() {
        let dir = tempfile::tempdir().unwrap();
        let db = StateDb::open(&dir.path().join("state.db")).unwrap();
        let text = "params:\n  seed: 7\n  m: {a: 0.5, b: [1, 2]}\nstages:\n  s:\n    cmd: echo ${seed} > out.txt\n    params: [seed]\n    outs: [out.txt]\n";
        let pipeline = Pipeline::parse("pipeline.yaml", dir.path(), text.to_string()).unwrap();
        save(&db, "k1", &pipeline);
        let source = pipeline.source.clone();
        let back = load(&db, "k1", source.clone()).unwrap();
        assert_eq!(back.stages, pipeline.stages);
        assert_eq!(back.params, pipeline.params);
        assert_eq!(back.root, pipeline.root);
        assert!(load(&db, "k2", source).is_none());
    }
}
