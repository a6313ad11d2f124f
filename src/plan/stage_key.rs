//! `StageKey`: the blake3 hash that decides whether a stage must run.
//!
//! A key covers, in this order:
//! 1. the declaration in canonical form (what runs, deps, outs, listed params),
//!    so editing the stage in pipeline.yaml reruns it, but renaming it does not;
//! 2. the builtin's version, so a changed implementation reruns its stages;
//! 3. the values of the params the stage lists, so `--set seed=17` reruns only
//!    the stages that read `seed`;
//! 4. the path and content hash of every file the stage reads (folders and
//!    globs expanded), so an edit reruns exactly its consumers, and a rebuilt
//!    dep with identical bytes changes nothing (early cutoff).
//!
//! It does not cover mtimes, the machine, the tool version or `-j`: the same
//! inputs give the same key everywhere, which is what lets caches be shared.

use serde_yaml::Value;
use std::collections::BTreeMap;

const DOMAIN: &str = "tnsflow stage key v1";

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StageKey(String);

impl StageKey {
    pub fn compute(
        decl: &str,
        builtin_version: Option<&str>,
        params: &BTreeMap<String, Value>,
        deps: &BTreeMap<String, String>,
    ) -> StageKey {
        let mut h = blake3::Hasher::new();
        h.update(DOMAIN.as_bytes());
        h.update(b"\ndecl\0");
        h.update(decl.as_bytes());
        h.update(b"\nbuiltin\0");
        h.update(builtin_version.unwrap_or("").as_bytes());
        h.update(b"\nparams\0");
        h.update(
            serde_json::to_string(params)
                .expect("params serialize")
                .as_bytes(),
        );
        h.update(b"\ndeps\0");
        for (path, hash) in deps {
            h.update(path.as_bytes());
            h.update(b"\0");
            h.update(hash.as_bytes());
            h.update(b"\n");
        }
        StageKey(h.finalize().to_hex().to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for StageKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(decl: &str, version: Option<&str>, seed: i64, dep_hash: &str) -> StageKey {
        let params = BTreeMap::from([("seed".to_string(), Value::from(seed))]);
        let deps = BTreeMap::from([("in.txt".to_string(), dep_hash.to_string())]);
        StageKey::compute(decl, version, &params, &deps)
    }

    /// Every part of a key changes it; equal parts give equal keys.
    #[test]
    fn every_part_counts() {
        let base = key("d", Some("1"), 42, "h");
        assert_eq!(base, key("d", Some("1"), 42, "h"));
        assert_ne!(base, key("d2", Some("1"), 42, "h"));
        assert_ne!(base, key("d", Some("2"), 42, "h"));
        assert_ne!(base, key("d", Some("1"), 17, "h"));
        assert_ne!(base, key("d", Some("1"), 42, "h2"));
    }
}
