//! `Manifest`: what `tnsflow publish` proves about a published folder.
//!
//! Byte-for-byte reproducible: it holds nothing that depends on the machine,
//! the clock or `-j` — only the tool version, the pipeline file's hash, the
//! effective params, each stage's key and each file's size and blake3 hash,
//! all in sorted order. Two clean builds of the same pipeline and params give
//! identical manifests.

use serde::{Deserialize, Serialize};
use serde_yaml::Value;
use std::collections::BTreeMap;

pub const MANIFEST_FILE: &str = "manifest.json";

/// Present in a published folder while `publish` writes it (holding the
/// earlier publication's manifest, if any): a folder with this file is
/// incomplete, whatever else it holds.
pub const PUBLISHING_FILE: &str = ".tnsflow-publishing";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub tool: String,
    pub tool_version: String,
    /// blake3 of the pipeline file's bytes.
    pub pipeline_hash: String,
    /// The params after `--set`, as a nested map.
    pub params: Value,
    /// Stage name -> stage key.
    pub stages: BTreeMap<String, String>,
    /// Path relative to the published folder -> file facts.
    pub files: BTreeMap<String, ManifestFile>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestFile {
    pub size: u64,
    pub blake3: String,
}

impl Manifest {
    pub fn to_json(&self) -> String {
        let mut json = serde_json::to_string_pretty(self).expect("manifests serialize");
        json.push('\n');
        json
    }
}
