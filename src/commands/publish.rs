//! `tnsflow publish DIR`: build, then copy every out and a manifest.json.
//!
//! Files are copied (not linked): a publication leaves the workspace and must
//! not share bytes with the cache. Each copy is hashed and checked against the
//! run record, and the manifest is written last, so a folder with a manifest
//! is complete. While the copies are made the folder holds `PUBLISHING_FILE`
//! (a copy of the earlier publication's manifest) and no manifest, so a
//! publication a full disk or a kill cut short is never taken for a complete
//! one, and publishing again into the same folder finishes it; the earlier
//! publication's files that this one does not have are removed at the end.
//! Two publishes into one folder take turns (`lock_folder`): copies of two
//! builds interleaved would leave a manifest that matches neither.

use std::collections::BTreeMap;
use std::fs::{File, TryLockError};
use std::path::Path;

use super::{build::build_holding_lock, emit, load_plan, note};
use crate::cli::{BuildArgs, PublishArgs};
use crate::record::{
    write_atomic, BuildState, Manifest, ManifestFile, RecordError, MANIFEST_FILE, PUBLISHING_FILE,
};
use crate::{content_hash, Error};

pub fn publish(file: &Path, quiet: bool, args: PublishArgs) -> Result<(), Error> {
    let dir = &args.dir;
    let (manifest_file, publishing) = (dir.join(MANIFEST_FILE), dir.join(PUBLISHING_FILE));
    if dir.is_dir()
        && !manifest_file.is_file()
        && !publishing.is_file()
        && std::fs::read_dir(dir)?.next().is_some()
    {
        return Err(Error::Usage(format!(
            "`{}` is not empty and holds no {MANIFEST_FILE}; publish into a new or earlier-published folder",
            dir.display()
        )));
    }
    // Held until the manifest is written: no other build in this workspace
    // changes an out between the build and its copy.
    let _workspace = build_holding_lock(
        file,
        quiet,
        BuildArgs {
            stages: Vec::new(),
            run: args.run.clone(),
            dry_run: false,
            keep_going: false,
            force: Vec::new(),
        },
    )?;

    let (plan, layout) = load_plan(file, &args.run.set)?;
    let state = BuildState::open(&layout.state_file());
    let written = RecordError::writing;
    // From here until the manifest is written the folder says it is
    // incomplete. The marker holds the earlier publication's manifest, so
    // that a publication finishing one cut short still knows which files
    // were the earlier one's; it is written in place (a kill leaves no temp
    // file beside it), and the earlier manifest goes only once it is whole.
    std::fs::create_dir_all(dir).map_err(written(dir))?;
    let _turn = lock_folder(dir, quiet)?;
    crate::record::remove_dead_temp_files(dir);
    let parse = |bytes: &[u8]| serde_json::from_slice::<Manifest>(bytes).ok();
    let (earlier, earlier_bytes) = [&publishing, &manifest_file]
        .into_iter()
        .filter_map(|file| std::fs::read(file).ok())
        .find_map(|bytes| Some((parse(&bytes)?, bytes)))
        .map_or((None, Vec::new()), |(manifest, bytes)| {
            (Some(manifest), bytes)
        });
    std::fs::write(&publishing, &earlier_bytes).map_err(written(&publishing))?;
    match std::fs::remove_file(&manifest_file) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(written(&manifest_file)(e).into());
        }
        _ => {}
    }
    let mut stages = BTreeMap::new();
    let mut files = BTreeMap::new();
    for stage in &plan.stages {
        let record = state
            .get(stage.name())
            .ok_or_else(|| Error::PublishUnrecorded {
                stage: stage.name().to_string(),
            })?;
        stages.insert(stage.name().to_string(), record.key.clone());
        let record = &record;
        for (out, hash) in &record.outs {
            let dest = dir.join(out);
            if let Some(parent) = dest.parent() {
                std::fs::create_dir_all(parent).map_err(written(parent))?;
            }
            std::fs::copy(layout.root().join(out), &dest).map_err(written(&dest))?;
            let copied = content_hash::of_file(&dest).map_err(written(&dest))?;
            if &copied != hash {
                return Err(Error::PublishChanged { out: out.clone() });
            }
            let size = std::fs::metadata(&dest).map_err(written(&dest))?.len();
            files.insert(
                out.clone(),
                ManifestFile {
                    size,
                    blake3: copied,
                },
            );
        }
    }
    let manifest = Manifest {
        tool: "tnsflow".into(),
        tool_version: env!("CARGO_PKG_VERSION").into(),
        pipeline_hash: content_hash::of_bytes(plan.pipeline.source.text.as_bytes()),
        params: plan.pipeline.params.to_value(),
        stages,
        files,
    };
    // The earlier publication's files that this one does not have.
    for stale in earlier.iter().flat_map(|m| m.files.keys()) {
        if !manifest.files.contains_key(stale) {
            let _ = std::fs::remove_file(dir.join(stale));
        }
    }
    write_atomic(&manifest_file, manifest.to_json().as_bytes()).map_err(written(&manifest_file))?;
    std::fs::remove_file(&publishing).map_err(written(&publishing))?;
    if !quiet {
        emit(&format!(
            "published {} files to {}\n",
            manifest.files.len(),
            dir.display()
        ));
    }
    Ok(())
}

/// One publish at a time into `dir`: an advisory lock on the folder itself,
/// which the kernel drops when the process ends, even by SIGKILL. Another
/// publish into it waits its turn, then publishes over the finished one.
fn lock_folder(dir: &Path, quiet: bool) -> Result<File, Error> {
    let folder = File::open(dir).map_err(RecordError::writing(dir))?;
    let locked = RecordError::writing(dir);
    match folder.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            if !quiet {
                note(&format!(
                    "another publish is writing into `{}`; waiting for it to finish",
                    dir.display()
                ));
            }
            folder.lock().map_err(locked)?;
        }
        Err(TryLockError::Error(e)) => return Err(locked(e).into()),
    }
    Ok(folder)
}
