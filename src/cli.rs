//! The command line, as clap definitions only.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

use crate::parse::Override;

#[derive(Debug, Parser)]
#[command(
    name = "tnsflow",
    version,
    about = "A declarative, content-hashed build-graph orchestrator for Trust & Safety pipelines",
    propagate_version = true
)]
pub struct Cli {
    /// The pipeline file; its folder is the workspace [default: ./pipeline.yaml]
    #[arg(short = 'f', long = "file", global = true, value_name = "FILE")]
    pub file: Option<PathBuf>,

    /// Print nothing but results and errors
    #[arg(short, long, global = true)]
    pub quiet: bool,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Bring stages up to date: run what is stale, restore what is cached
    Build(BuildArgs),
    /// Show every stage as fresh or stale, and why
    Status(StatusArgs),
    /// Print the stage graph
    Dag(DagArgs),
    /// Build the pipeline at every point of a param grid, sharing one cache
    #[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
    Sweep(SweepArgs),
    /// Build, then copy every export and a reproducible manifest.json into DIR
    Publish(PublishArgs),
    /// Check a published folder against its manifest.json
    Verify(VerifyArgs),
    /// Drop cache entries that no stage's last run uses
    Gc,
    /// Open the analyst workbench over the last build, on 127.0.0.1
    Serve(ServeArgs),
    /// Work with the workbench's review database
    #[command(subcommand)]
    Reviews(ReviewsCommand),
}

#[derive(Debug, Subcommand)]
pub enum ReviewsCommand {
    /// Write every audit entry (claims, releases, handoffs, decisions) as CSV, oldest first
    Export(ReviewsExportArgs),
}

#[derive(Debug, Args)]
pub struct ReviewsExportArgs {
    /// The analysts' review database [default: WORKSPACE/review/reviews.db]
    #[arg(long = "review-db", value_name = "FILE")]
    pub review_db: Option<PathBuf>,

    /// Write the CSV to FILE instead of stdout
    #[arg(long, short = 'o', value_name = "FILE")]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The port to listen on (0 picks a free one; the address is printed)
    #[arg(long, default_value_t = 8080)]
    pub port: u16,

    /// The address to listen on; anything but loopback exposes the cases to the network
    #[arg(long, default_value = "127.0.0.1")]
    pub bind: std::net::IpAddr,

    /// The analysts' review database [default: WORKSPACE/review/reviews.db]
    #[arg(long = "review-db", value_name = "FILE")]
    pub review_db: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct SweepArgs {
    #[command(subcommand)]
    pub command: Option<SweepCommand>,

    /// One grid axis: KEY=LO..HI (integers), KEY=A,B,C or KEY=VALUE (repeatable)
    #[arg(long = "set", value_name = "KEY=VALUES", required = true)]
    pub set: Vec<String>,

    /// How many points build at once [default: number of cores; with --slurm, no limit]
    // `-j`/`--jobs` meant this before the flag had its own name; kept as aliases.
    #[arg(
        short = 'j',
        long = "parallel-points",
        alias = "jobs",
        value_name = "N",
        value_parser = clap::value_parser!(u32).range(1..)
    )]
    pub parallel_points: Option<u32>,

    /// Run the points as a Slurm array job, one task per point (workspace and cache on a shared filesystem)
    #[arg(long)]
    pub slurm: bool,

    /// An extra sbatch option for the array job, e.g. --sbatch-arg=--partition=batch (repeatable)
    #[arg(
        long = "sbatch-arg",
        value_name = "ARG",
        allow_hyphen_values = true,
        requires = "slurm"
    )]
    pub sbatch_args: Vec<String>,

    /// Keep this sweep in sweeps/NAME/, beside other named sweeps [default: sweeps/]
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,

    /// A CSV export whose figures become summary columns (repeatable)
    /// [default: the pipeline's model_eval.csv and executive_summary.csv]
    #[arg(long = "metrics", value_name = "FILE")]
    pub metrics: Vec<String>,
}

#[derive(Debug, Subcommand)]
pub enum SweepCommand {
    /// Print a finished sweep as an experiment table: the params that vary and the chosen metrics
    Show(SweepShowArgs),
}

#[derive(Debug, Args)]
pub struct SweepShowArgs {
    /// The sweep's name (`sweep --name NAME`) [default: the sweep in sweeps/]
    pub name: Option<String>,

    /// A summary column to show, or every column under a prefix (`evaluation`) (repeatable)
    /// [default: every metric]
    #[arg(long = "metric", value_name = "M")]
    pub metrics: Vec<String>,
}

#[derive(Debug, Args)]
pub struct PublishArgs {
    /// The folder to publish into (created if missing)
    pub dir: PathBuf,

    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// A folder written by `tnsflow publish`
    pub dir: PathBuf,
}

#[derive(Debug, Args)]
pub struct BuildArgs {
    /// Stages to build, with everything they need [default: all]; NAME means every NAME@*
    #[arg(value_name = "STAGE")]
    pub stages: Vec<String>,

    #[command(flatten)]
    pub run: RunArgs,

    /// Print the stages that would run, one per line, and run none
    #[arg(long)]
    pub dry_run: bool,

    /// After a failure, keep running stages that do not depend on it
    #[arg(short = 'k', long)]
    pub keep_going: bool,

    /// Run this stage even if it is fresh (repeatable)
    #[arg(long = "force", value_name = "STAGE")]
    pub force: Vec<String>,
}

/// The flags of every command that runs stages (`build`, `publish`), declared
/// once and flattened in, as uv groups its shared flags.
#[derive(Debug, Clone, Default, Args)]
pub struct RunArgs {
    /// How many stages run at once [default: number of cores]
    #[arg(short = 'j', long = "jobs", value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub jobs: Option<u32>,

    /// Override a param for this run, e.g. --set enforcement.block_risk=0.95 (VALUE is YAML)
    #[arg(long = "set", value_name = "KEY=VALUE", value_parser = Override::parse)]
    pub set: Vec<Override>,
}

impl RunArgs {
    /// How many stages run at once: `-j`, or one per core.
    pub fn jobs(&self) -> usize {
        self.jobs.map_or_else(cores, |j| j as usize)
    }
}

/// The machine's cores, the default for every kind of parallelism.
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Stages to show, with everything they need [default: all]
    #[arg(value_name = "STAGE")]
    pub stages: Vec<String>,

    /// Show what a build with these params would rerun
    #[arg(long = "set", value_name = "KEY=VALUE", value_parser = Override::parse)]
    pub set: Vec<Override>,

    /// Print a JSON array of {"stage", "state", "reasons"}
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct DagArgs {
    #[arg(long, value_enum, default_value_t = DagFormat::Mermaid)]
    pub format: DagFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DagFormat {
    Mermaid,
    Dot,
}
