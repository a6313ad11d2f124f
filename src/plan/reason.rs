//! `Reason`: why a stage is stale, created where the planner decides it (as
//! ninja's explanations are) and printed by `status` and `build --dry-run`.

use serde_yaml::Value;

use crate::parse::display_value;

#[derive(Debug, Clone, PartialEq)]
pub enum Reason {
    NeverBuilt,
    Forced,
    DeclarationChanged,
    BuiltinVersion {
        from: String,
        to: String,
    },
    ParamChanged {
        key: String,
        from: Option<Value>,
        to: Option<Value>,
    },
    DepChanged {
        path: String,
    },
    DepAdded {
        path: String,
    },
    DepRemoved {
        path: String,
    },
    OutMissing {
        path: String,
    },
    OutModified {
        path: String,
    },
    UpstreamStale {
        stage: String,
    },
    /// A dep is an out of a stage no longer declared, which the build removes.
    DeadOut {
        path: String,
        stage: String,
    },
    /// A dep cannot be hashed (missing or unreadable); the message says which.
    DepUnreadable {
        problem: String,
    },
    /// Not a cause but a consequence: the run can be restored, not recomputed.
    InCache,
}

fn show(value: &Option<Value>) -> String {
    match value {
        None => "(unset)".into(),
        Some(v) => display_value(v),
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reason::NeverBuilt => write!(f, "never built"),
            Reason::Forced => write!(f, "forced with --force"),
            Reason::DeclarationChanged => write!(f, "its declaration in the pipeline file changed"),
            Reason::BuiltinVersion { from, to } => {
                write!(f, "its builtin changed version from {from} to {to}")
            }
            Reason::ParamChanged { key, from, to } => write!(
                f,
                "param `{key}` changed from {} to {}",
                show(from),
                show(to)
            ),
            Reason::DepChanged { path } => write!(f, "dep `{path}` changed"),
            Reason::DepAdded { path } => write!(f, "dep `{path}` is new"),
            Reason::DepRemoved { path } => write!(f, "dep `{path}` is gone"),
            Reason::OutMissing { path } => write!(f, "out `{path}` is missing"),
            Reason::OutModified { path } => write!(f, "out `{path}` was modified"),
            Reason::UpstreamStale { stage } => write!(f, "upstream stage `{stage}` is stale"),
            Reason::DeadOut { path, stage } => write!(
                f,
                "reads `{path}`, left by stage `{stage}`, which the pipeline no longer declares (a build removes it)"
            ),
            Reason::DepUnreadable { problem } => f.write_str(problem),
            Reason::InCache => write!(
                f,
                "outputs for these inputs are in the cache and will be restored"
            ),
        }
    }
}
