//! `tnsflow verify DIR`: check a published folder against its manifest.json.
//!
//! Every listed file must exist with its size and blake3 hash; a file the
//! manifest does not list is reported too. Exit code 1 when anything differs.

use std::collections::BTreeSet;

use super::emit;
use crate::cli::VerifyArgs;
use crate::record::{Manifest, MANIFEST_FILE, PUBLISHING_FILE};
use crate::{content_hash, Error};

pub fn verify(args: VerifyArgs) -> Result<(), Error> {
    let dir = &args.dir;
    let path = dir.join(MANIFEST_FILE);
    if dir.join(PUBLISHING_FILE).is_file() {
        crate::commands::note(&format!(
            "`{}` is an unfinished publication (it holds {PUBLISHING_FILE}: `tnsflow publish` was cut short or is running); publish into it again",
            dir.display()
        ));
        return Err(Error::VerifyFailed { problems: 1 });
    }
    let bytes = std::fs::read(&path).map_err(|e| {
        Error::Usage(format!(
            "cannot read `{}`: {e}; is `{}` a folder written by `tnsflow publish`?",
            path.display(),
            dir.display()
        ))
    })?;
    let manifest: Manifest = serde_json::from_slice(&bytes).map_err(|e| {
        Error::Usage(format!(
            "`{}` is not a tnsflow manifest: {e}",
            path.display()
        ))
    })?;

    let mut problems = Vec::new();
    for (name, expected) in &manifest.files {
        let file = dir.join(name);
        match std::fs::metadata(&file) {
            Err(_) => problems.push(format!("missing: {name}")),
            Ok(meta) if meta.len() != expected.size => problems.push(format!(
                "size differs: {name} ({} bytes, expected {})",
                meta.len(),
                expected.size
            )),
            Ok(_) => match content_hash::of_file(&file) {
                Ok(hash) if hash == expected.blake3 => {}
                Ok(_) => problems.push(format!("content differs: {name}")),
                Err(e) => problems.push(format!("unreadable: {name}: {e}")),
            },
        }
    }
    let listed: BTreeSet<&str> = manifest.files.keys().map(String::as_str).collect();
    for entry in walkdir::WalkDir::new(dir)
        .sort_by_file_name()
        .into_iter()
        .filter_map(Result::ok)
    {
        if !entry.file_type().is_file() {
            continue;
        }
        let rel = entry
            .path()
            .strip_prefix(dir)
            .unwrap_or(entry.path())
            .to_string_lossy()
            .into_owned();
        if rel != MANIFEST_FILE && !listed.contains(rel.as_str()) {
            problems.push(format!("not in the manifest: {rel}"));
        }
    }
    if problems.is_empty() {
        emit(&format!(
            "verified {} files against {}\n",
            manifest.files.len(),
            path.display()
        ));
        return Ok(());
    }
    for problem in &problems {
        crate::commands::note(&problem.to_string());
    }
    Err(Error::VerifyFailed {
        problems: problems.len(),
    })
}
