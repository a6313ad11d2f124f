#!/usr/bin/env bash
# Builds tnsflow in release mode and runs the orchestrator benchmark
# (tnsflow vs make, ninja, DVC and Snakemake). Arguments go to the script:
#   scripts/bench_orchestrator.sh [--quick] [--skip-python-tools] [--repeat N]
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cargo build --release --manifest-path "$repo/Cargo.toml" >&2
exec python3 "$repo/scripts/bench_orchestrator.py" "$@"
