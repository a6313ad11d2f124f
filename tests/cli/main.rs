//! The one integration-test binary: every test drives the real `tnsflow`.

mod common;

mod analytics;
mod build;
mod data;
mod errors;
mod properties;
mod publish;
mod regression;
mod serve;
mod signal;
mod slurm;
mod status;
mod sweep;
