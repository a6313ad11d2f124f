//! The paths a build's no-op snapshot records: every file and folder the
//! selected stages read or wrote, sorted and listed once.
//!
//! Most are declared paths, borrowed from the plan and joined to the root
//! only when their row is made: an owned absolute copy of each, held all at
//! once, was a tenth of a 10,000-stage build's peak memory.

use std::cmp::Ordering;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::plan::{InputKind, Plan};

/// One path of the snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SnapshotPath<'a> {
    /// A declared path relative to the workspace root.
    Relative(&'a str),
    /// A path outside the workspace, a glob's match, a folder's entry.
    Absolute(PathBuf),
}

impl SnapshotPath<'_> {
    pub fn into_path(self, root: &Path) -> PathBuf {
        match self {
            SnapshotPath::Relative(path) => root.join(path),
            SnapshotPath::Absolute(path) => path,
        }
    }

    /// The order of the paths' bytes once joined to `root` (the order the
    /// state database keeps its rows in), without joining them.
    pub fn cmp_under(&self, other: &Self, root: &Path) -> Ordering {
        match (self, other) {
            // Both under `root` and its separator: their own bytes decide.
            (SnapshotPath::Relative(a), SnapshotPath::Relative(b)) => a.cmp(b),
            _ => self.bytes_under(root).cmp(other.bytes_under(root)),
        }
    }

    fn bytes_under<'s>(&'s self, root: &'s Path) -> impl Iterator<Item = u8> + 's {
        let (prefix, separator, tail): (&[u8], &[u8], &[u8]) = match self {
            SnapshotPath::Relative(path) => {
                let root = root.as_os_str().as_bytes();
                let separator: &[u8] = if root.ends_with(b"/") { b"" } else { b"/" };
                (root, separator, path.as_bytes())
            }
            SnapshotPath::Absolute(path) => (b"", b"", path.as_os_str().as_bytes()),
        };
        prefix.iter().chain(separator).chain(tail).copied()
    }
}

/// Every path the stages `mask` holds read or wrote, sorted by their bytes
/// under the plan's root and listed once; None when a glob has wildcards
/// above its last component (a new match could then appear without any
/// recorded folder changing).
pub fn snapshot_paths<'p>(plan: &'p Plan, mask: &[bool]) -> Option<Vec<SnapshotPath<'p>>> {
    let root = plan.pipeline.root.as_path();
    let declared = |path: &'p str| {
        if Path::new(path).is_absolute() {
            SnapshotPath::Absolute(PathBuf::from(path))
        } else {
            SnapshotPath::Relative(path)
        }
    };
    let glob_folder = |pattern: &str| -> Option<SnapshotPath<'p>> {
        let folder = Path::new(pattern).parent().unwrap_or(Path::new(""));
        if folder.to_string_lossy().contains(['*', '?', '[']) {
            return None;
        }
        Some(SnapshotPath::Absolute(root.join(folder)))
    };
    let mut paths = Vec::new();
    for stage in plan
        .stages
        .iter()
        .zip(mask)
        .filter_map(|(s, m)| m.then_some(s))
    {
        if let Some(pattern) = &stage.decl.foreach {
            paths.push(glob_folder(pattern)?);
        }
        for input in stage.inputs() {
            match input.kind {
                // An out of a stage in the mask comes in with that stage's
                // outs: listing it again per reader doubled the list (and
                // the build's peak memory at its end) in a big graph.
                InputKind::File if input.producers.iter().any(|&p| mask[p]) => {}
                InputKind::File => paths.push(declared(input.path)),
                InputKind::Glob => {
                    paths.push(glob_folder(input.path)?);
                    paths.extend(
                        input
                            .files(root)
                            .into_iter()
                            .map(|(_, abs)| SnapshotPath::Absolute(abs)),
                    );
                }
                InputKind::Dir => paths.extend(
                    walkdir::WalkDir::new(input.absolute(root))
                        .into_iter()
                        .filter_entry(|e| e.file_name() != crate::layout::STATE_DIR)
                        .filter_map(Result::ok)
                        .map(|e| SnapshotPath::Absolute(e.into_path())),
                ),
            }
        }
        paths.extend(stage.decl.outs.iter().map(|o| declared(o)));
    }
    paths.sort_unstable_by(|a, b| a.cmp_under(b, root));
    paths.dedup_by(|a, b| a.cmp_under(b, root) == Ordering::Equal);
    Some(paths)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::execute::Registry;
    use crate::parse::Pipeline;
    use std::os::unix::ffi::OsStringExt;

    fn joined(paths: Vec<SnapshotPath>, root: &Path) -> Vec<PathBuf> {
        paths.into_iter().map(|p| p.into_path(root)).collect()
    }

    /// Each path the snapshot checks is listed once: an out that another
    /// selected stage reads comes in with its producer's outs, not again per
    /// reader (which doubled the list in a big graph).
    #[test]
    fn snapshot_paths_lists_a_read_out_once() {
        let root = tempfile::tempdir().unwrap();
        std::fs::write(root.path().join("in.txt"), "x").unwrap();
        let yaml = "stages:\n  a:\n    cmd: cp in.txt out/a.txt\n    deps: [in.txt]\n    outs: [out/a.txt]\n  b:\n    cmd: cp out/a.txt out/b.txt\n    deps: [out/a.txt]\n    outs: [out/b.txt]\n  c:\n    cmd: cp out/a.txt out/c.txt\n    deps: [out/a.txt]\n    outs: [out/c.txt]\n";
        let pipeline = Pipeline::parse("pipeline.yaml", root.path(), yaml.to_string()).unwrap();
        let plan = Plan::build(pipeline, Registry::new(&[])).unwrap();
        let paths = joined(snapshot_paths(&plan, &[true; 3]).unwrap(), root.path());
        let names: Vec<_> = paths
            .iter()
            .map(|p| p.strip_prefix(root.path()).unwrap().to_str().unwrap())
            .collect();
        assert_eq!(names, ["in.txt", "out/a.txt", "out/b.txt", "out/c.txt"]);
        // Unselected, the producer's out is still a dep of its readers.
        let paths = joined(
            snapshot_paths(&plan, &[false, true, false]).unwrap(),
            root.path(),
        );
        assert!(paths.contains(&root.path().join("out/a.txt")));
    }

    /// Borrowed relative paths and owned absolute ones sort together exactly
    /// as their joined bytes do (the state database's row order), and a path
    /// listed both ways is listed once.
    #[test]
    fn paths_sort_and_dedup_as_their_joined_bytes() {
        let root = Path::new("/w/ws");
        let names = ["a", "a b", "a/b", "a-b", "a.txt", "b", "ws#%;'", "z"];
        let mut paths: Vec<SnapshotPath> =
            names.iter().map(|n| SnapshotPath::Relative(n)).collect();
        for abs in [
            "/w/ws",
            "/w/ws/",
            "/w/ws/a/b",
            "/w/ws-x",
            "/w/wr",
            "/w/ws/a0",
            "/x",
            "/",
        ] {
            paths.push(SnapshotPath::Absolute(PathBuf::from(abs)));
        }
        let mut expected: Vec<Vec<u8>> = paths
            .iter()
            .map(|p| p.clone().into_path(root).into_os_string().into_vec())
            .collect();
        expected.sort();
        expected.dedup();
        paths.sort_unstable_by(|a, b| a.cmp_under(b, root));
        paths.dedup_by(|a, b| a.cmp_under(b, root) == Ordering::Equal);
        let got: Vec<Vec<u8>> = joined(paths, root)
            .into_iter()
            .map(|p| p.into_os_string().into_vec())
            .collect();
        assert_eq!(got, expected);
        // The root itself may end in a separator (`/`).
        let mut paths = vec![
            SnapshotPath::Relative("b"),
            SnapshotPath::Absolute("/a".into()),
        ];
        paths.sort_unstable_by(|a, b| a.cmp_under(b, Path::new("/")));
        assert_eq!(
            joined(paths, Path::new("/")),
            [PathBuf::from("/a"), "/b".into()]
        );
    }
}
