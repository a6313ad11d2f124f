//! The built-in Trust & Safety stages, registered in one place.
//!
//! Each stage lives in its own file and depends only on `execute`'s contract
//! (`Builtin`, `StageContext`, `StageParams`). To add one, write the file and
//! list it in `REGISTRY`.

mod cases;
mod clustering;
mod csv_stream;
mod dedup;
mod drift;
mod enforcement;
mod entity_resolution;
mod features;
mod generate;
mod incident_log;
mod load;
mod logistic;
mod model_eval;
mod monitoring;
mod number;
mod report;
mod review_queue;
mod scoring;
mod strong_links;
mod table;
mod text;

pub use cases::is_high_severity;
pub use number::fmt_f64;

use crate::execute::{Builtin, Registry};

/// Every builtin, by name.
static REGISTRY: &[&dyn Builtin] = &[
    &generate::Generate,
    &load::Load,
    &monitoring::Monitoring,
    &scoring::Scoring,
    &review_queue::ReviewQueue,
    &dedup::Dedup,
    &clustering::Clustering,
    &entity_resolution::EntityResolution,
    &drift::Drift,
    &enforcement::Enforcement,
    &cases::Cases,
    &incident_log::IncidentLog,
    &report::Report,
];

/// The catalogue the commands hand to the planner.
pub fn registry() -> Registry {
    Registry::new(REGISTRY)
}
