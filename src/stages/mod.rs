//! The built-in Trust & Safety stages, registered in one place.
//!
//! Each stage lives in its own file and depends only on `execute`'s contract
//! (`Builtin`, `StageContext`, `StageParams`). To add one, write the file and
//! list it in `REGISTRY`.

mod generate;
mod load;
mod monitoring;
mod number;

pub use number::fmt_f64;

use crate::execute::Builtin;

/// Every builtin, by name.
static REGISTRY: &[&dyn Builtin] = &[&generate::Generate, &load::Load, &monitoring::Monitoring];

pub fn find(name: &str) -> Option<&'static dyn Builtin> {
    REGISTRY.iter().copied().find(|b| b.name() == name)
}

pub fn names() -> Vec<&'static str> {
    REGISTRY.iter().map(|b| b.name()).collect()
}
