//! The one integration-test binary: every test drives the real `tnsflow`.

mod common;

mod build;
mod data;
mod analytics;
mod errors;
mod properties;
mod regression;
mod status;
