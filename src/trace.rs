//! `TNSFLOW_TRACE=1`: each phase of a command and the time since the
//! command started, on stderr, for finding where a big graph's time goes.
//! Off by default; it never touches what a stage computes.

use std::sync::OnceLock;
use std::time::Instant;

static START: OnceLock<Option<Instant>> = OnceLock::new();

fn start() -> Option<Instant> {
    *START.get_or_init(|| std::env::var_os("TNSFLOW_TRACE").map(|_| Instant::now()))
}

/// Marks the end of a phase, with the peak and current memory so far.
pub fn phase(name: &str) {
    if let Some(start) = start() {
        crate::commands::note(&format!(
            "trace: {:>9.3} ms  {:>13}  {name}",
            start.elapsed().as_secs_f64() * 1000.0,
            memory()
        ));
    }
}

/// `peak/now MB` from /proc (Linux); empty elsewhere.
fn memory() -> String {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |key: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(key))
            .and_then(|rest| {
                rest.trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse::<u64>()
                    .ok()
            })
            .map(|kb| kb / 1024)
    };
    match (field("VmHWM:"), field("VmRSS:")) {
        (Some(peak), Some(now)) => format!("{peak}/{now} MB"),
        _ => String::new(),
    }
}
