//! The one integration-test binary: every test drives the real `tnsflow`.

mod common;

mod analytics;
mod bad_input;
mod big_graphs;
mod build;
mod crash;
mod data;
mod errors;
mod parse_batches;
mod properties;
mod publish;
mod regression;
mod reliability;
mod serve;
mod signal;
mod slurm;
mod status;
mod sweep;
mod workbench_browser;
mod workbench_explain;
mod workbench_links;
mod workbench_live;
mod workbench_team;
mod workbench_timeline;
