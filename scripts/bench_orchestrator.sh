#!/usr/bin/env bash
# Builds tnsflow in release mode and runs the orchestrator benchmark
# (tnsflow vs GNU make, ninja, DVC and Snakemake on the same generated graphs;
# see the header of bench_orchestrator.py). Arguments go to the Python script:
#   scripts/bench_orchestrator.sh [--skip-slow] [--graphs 14,1000,1000+1GB]
#                                 [--repeat N] [--markdown FILE] [--json FILE]
# Honours CARGO_TARGET_DIR. Takes about 10-20 minutes with every tool and graph.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
target=${CARGO_TARGET_DIR:-$repo/target}
cargo build --release --manifest-path "$repo/Cargo.toml" --target-dir "$target" >&2
exec python3 "$repo/scripts/bench_orchestrator.py" --tnsflow "$target/release/tnsflow" "$@"
