//! `RunRecord`: one successful run of a stage, stored by its key.
//!
//! It holds what went into the key in readable form (declaration, params, dep
//! hashes), so that `status` can say which of them changed, and the hash of
//! every out, so that a later build can check or restore them.

use serde::{Deserialize, Serialize};
use serde_yaml::Value;
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    pub stage: String,
    /// The stage key, hex.
    pub key: String,
    /// The declaration in canonical form.
    pub decl: String,
    /// The builtin's version, for builtin stages.
    pub builtin_version: Option<String>,
    /// Values of the params the stage lists, by dotted key.
    pub params: BTreeMap<String, Value>,
    /// Content hash of every file the stage read (folders and globs expanded).
    pub deps: BTreeMap<String, String>,
    /// Content hash of every out.
    pub outs: BTreeMap<String, String>,
    /// How long the run took, in milliseconds (informational; not part of any export).
    #[serde(default)]
    pub millis: u64,
}
