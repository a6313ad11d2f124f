//! `TNSFLOW_TRACE=1`: each phase of a command and the time since the
//! command started, on stderr, for finding where a big graph's time goes.
//! Off by default; it never touches what a stage computes.

use std::sync::OnceLock;
use std::time::Instant;

static START: OnceLock<Option<Instant>> = OnceLock::new();

fn start() -> Option<Instant> {
    *START.get_or_init(|| std::env::var_os("TNSFLOW_TRACE").map(|_| Instant::now()))
}

/// Marks the end of a phase.
pub fn phase(name: &str) {
    if let Some(start) = start() {
        crate::commands::note(&format!(
            "trace: {:>9.3} ms  {name}",
            start.elapsed().as_secs_f64() * 1000.0
        ));
    }
}
