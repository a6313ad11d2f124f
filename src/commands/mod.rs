//! One file per subcommand; the only place where the layers meet.

pub(crate) mod build;
mod dag;
mod gc;
mod publish;
mod reviews;
mod serve;
mod status;
mod sweep;
mod verify;

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::cli::{Cli, Command};
use crate::layout::{Layout, DEFAULT_PIPELINE};
use crate::parse::{Override, Pipeline};
use crate::plan::Plan;
use crate::Error;

pub fn dispatch(cli: Cli) -> Result<(), Error> {
    let file = cli.file.unwrap_or_else(|| PathBuf::from(DEFAULT_PIPELINE));
    match cli.command {
        Command::Build(args) => build::build(&file, cli.quiet, args),
        Command::Status(args) => status::status(&file, args),
        Command::Dag(args) => dag::dag(&file, args),
        Command::Sweep(args) => sweep::sweep(&file, cli.quiet, args),
        Command::Publish(args) => publish::publish(&file, cli.quiet, args),
        Command::Verify(args) => verify::verify(args),
        Command::Gc => gc::gc(&file, cli.quiet),
        Command::Serve(args) => serve::serve(&file, args),
        Command::Reviews(command) => reviews::reviews(&file, command),
    }
}

/// The pipeline with `--set` applied, planned against the disk.
pub(crate) fn load_plan(file: &Path, overrides: &[Override]) -> Result<(Plan, Layout), Error> {
    let mut pipeline = Pipeline::load(file)?;
    pipeline.apply_overrides(overrides)?;
    let layout = Layout::new(&pipeline.root);
    Ok((Plan::build(pipeline, crate::stages::registry())?, layout))
}

/// Writes a line to stderr. An unwritable stderr (`2>/dev/full`, a closed
/// pipe) must not turn a clean exit code into a panic, as `eprintln!` would.
pub(crate) fn note(line: &str) {
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// Writes to stdout; a closed pipe (`tnsflow status | head`) ends quietly.
pub(crate) fn emit(text: &str) {
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
    }
}
