#!/usr/bin/env bash
# Builds tnsflow in release mode and runs the orchestrator benchmark
# (tnsflow vs GNU make, ninja, DVC and Snakemake on the same generated graphs;
# see the header of bench_orchestrator.py). Arguments go to the Python script:
#   scripts/bench_orchestrator.sh [--skip-slow] [--repeat N] [--markdown FILE] [--json FILE]
#       [--graphs 14,1000,1000+1GB,10k-wide,10k-deep,100k-wide,100k-deep | all]
# Honours CARGO_TARGET_DIR. The default graphs (all but 100k) take about 35-45
# minutes with every tool; each 100k graph adds about half an hour.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
target=${CARGO_TARGET_DIR:-$repo/target}
cargo build --release --manifest-path "$repo/Cargo.toml" --target-dir "$target" >&2
exec python3 "$repo/scripts/bench_orchestrator.py" --tnsflow "$target/release/tnsflow" "$@"
