//! `StageDecl`: one stage as pipeline.yaml declares it, after `foreach` expansion.

use serde::{Deserialize, Serialize};

/// What a stage runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StageKind {
    /// Rust code registered in `stages::registry`.
    Builtin { builtin: String },
    /// A query against a SQLite dep, written as CSV.
    Sql { sql: String, db: String },
    /// `sh -c` in the workspace root, `${param}` substituted.
    Cmd { cmd: String },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StageDecl {
    /// `detect@velocity_spike` for a foreach stage, else the YAML key. Its
    /// group and YAML path are derived from it (see `group`): a 100,000-stage
    /// plan held both as strings, 9 MB.
    #[serde(skip)]
    pub name: String,
    #[serde(flatten)]
    pub kind: StageKind,
    /// Normalized workspace-relative paths (or absolute, outside the workspace).
    pub deps: Vec<String>,
    /// Normalized workspace-relative paths.
    pub outs: Vec<String>,
    /// Dotted param keys, sorted and unique.
    pub params: Vec<String>,
    /// The `foreach` pattern this stage was expanded from, if any.
    #[serde(skip)]
    pub foreach: Option<String>,
}

impl StageDecl {
    /// The YAML key (`detect`), shared by every stage of one foreach: the
    /// name up to its `@` (a stage name itself never holds one).
    pub fn group(&self) -> &str {
        self.name
            .split_once('@')
            .map_or(&self.name, |(group, _)| group)
    }

    /// Where the declaration sits in the file, for error labels (`stages.detect`).
    pub fn yaml_path(&self) -> String {
        format!("stages.{}", self.group())
    }

    /// Every path the stage reads: its deps, plus the `.sql` file and `db` of
    /// an SQL stage.
    pub fn input_paths(&self) -> impl Iterator<Item = &str> {
        let sql = match &self.kind {
            StageKind::Sql { sql, db } => [Some(sql.as_str()), Some(db.as_str())],
            _ => [None, None],
        };
        self.deps
            .iter()
            .map(String::as_str)
            .chain(sql.into_iter().flatten())
    }

    /// `input_paths`, each with the key path it was declared at.
    pub fn inputs(&self) -> Vec<(&str, String)> {
        let yaml_path = self.yaml_path();
        let mut inputs: Vec<(&str, String)> = self
            .deps
            .iter()
            .enumerate()
            .map(|(i, d)| (d.as_str(), format!("{yaml_path}.deps[{i}]")))
            .collect();
        if let StageKind::Sql { sql, db } = &self.kind {
            inputs.push((sql, format!("{yaml_path}.sql")));
            inputs.push((db, format!("{yaml_path}.db")));
        }
        inputs
    }

    /// The declaration in canonical form: part of the stage key. The name is left
    /// out, so renaming a stage does not rerun it.
    pub fn canonical(&self) -> String {
        serde_json::to_string(self).expect("a declaration is plain strings")
    }

    pub fn builtin(&self) -> Option<&str> {
        match &self.kind {
            StageKind::Builtin { builtin } => Some(builtin),
            _ => None,
        }
    }
}

/// Lexically normalizes a path: `./a//b/../c/` -> `a/c`. Returns None when it
/// climbs above its start (`../x`).
pub fn normalize(path: &str) -> Option<String> {
    let absolute = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            p => parts.push(p),
        }
    }
    let joined = parts.join("/");
    Some(if absolute {
        format!("/{joined}")
    } else {
        joined
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Normalization removes `.`, `..` and repeated slashes, and refuses to escape.
    #[test]
    fn normalizes_paths() {
        assert_eq!(normalize("./a//b/../c/").as_deref(), Some("a/c"));
        assert_eq!(normalize("/data/x.csv").as_deref(), Some("/data/x.csv"));
        assert_eq!(normalize("../x"), None);
        assert_eq!(normalize("a/../../x"), None);
    }
}
