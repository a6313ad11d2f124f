//! `tnsflow publish DIR`: build, then copy every out and a manifest.json.
//!
//! Files are copied (not linked): a publication leaves the workspace and must
//! not share bytes with the cache. Each copy is hashed and checked against the
//! run record, and the manifest is written last, so a folder with a manifest
//! is complete.

use std::collections::BTreeMap;
use std::path::Path;

use super::{build::build, emit, load_plan};
use crate::cli::{BuildArgs, PublishArgs};
use crate::record::{write_atomic, BuildState, Manifest, ManifestFile, MANIFEST_FILE};
use crate::{content_hash, Error};

pub fn publish(file: &Path, quiet: bool, args: PublishArgs) -> Result<(), Error> {
    let dir = &args.dir;
    if dir.is_dir()
        && !dir.join(MANIFEST_FILE).is_file()
        && std::fs::read_dir(dir)?.next().is_some()
    {
        return Err(Error::Usage(format!(
            "`{}` is not empty and holds no {MANIFEST_FILE}; publish into a new or earlier-published folder",
            dir.display()
        )));
    }
    build(
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
                std::fs::create_dir_all(parent)?;
            }
            std::fs::copy(layout.root().join(out), &dest)?;
            let copied = content_hash::of_file(&dest)?;
            if &copied != hash {
                return Err(Error::PublishChanged { out: out.clone() });
            }
            let size = std::fs::metadata(&dest)?.len();
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
    write_atomic(&dir.join(MANIFEST_FILE), manifest.to_json().as_bytes())?;
    if !quiet {
        emit(&format!(
            "published {} files to {}\n",
            manifest.files.len(),
            dir.display()
        ));
    }
    Ok(())
}
