//! Benchmark: `generate` at scale, written to CSV, outside the engine (no
//! hashing, no publishing). Prints events per second per core.
//!
//!     cargo bench --bench generate            # 5 million events
//!     EVENTS=500000 cargo bench --bench generate
//!     RAYON_NUM_THREADS=1 cargo bench --bench generate   # one core

use std::time::Instant;
use tnsflow::execute::{StageContext, StageParams};

fn main() {
    let events: i64 = std::env::var("EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5_000_000);
    let users = (events / 33).max(1);
    let dir = tempfile::tempdir().expect("temp dir");
    let params =
        serde_yaml::from_str(&format!("events: {events}\nusers: {users}\n")).expect("yaml");
    let ctx = StageContext {
        stage: "generate".into(),
        root: dir.path().to_path_buf(),
        params: StageParams::new(params),
        deps: Vec::new(),
        wanted: vec!["raw_events.csv".into()],
        out_dir: dir.path().to_path_buf(),
    };
    let generate = tnsflow::stages::registry()
        .find("generate")
        .expect("generate is registered");
    // The threads generate actually uses: RAYON_NUM_THREADS=1 measures one core.
    let cores = rayon::current_num_threads();
    let started = Instant::now();
    generate.run(&ctx).expect("generate runs");
    let secs = started.elapsed().as_secs_f64();
    let bytes = std::fs::metadata(dir.path().join("raw_events.csv"))
        .map(|m| m.len())
        .unwrap_or(0);
    println!(
        "generate: {events} events ({users} users) in {secs:.2} s = {:.2} M events/s on {cores} cores = {:.2} M events/s/core; raw_events.csv {:.0} MB",
        events as f64 / secs / 1e6,
        events as f64 / secs / 1e6 / cores as f64,
        bytes as f64 / 1e6
    );
}
