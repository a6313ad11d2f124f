#!/usr/bin/env bash
# Pipeline benchmark: the repository's pipeline at 50 thousand, 500 thousand and
# 5 million events (users 1500 / 15000 / 150000), in release mode.
#
# For each size, a fresh workspace builds the stages one at a time in
# topological order (`tnsflow build STAGE`), each under GNU time, so every
# stage gets its own wall time and peak memory; then, from scratch, the data
# foundation (generate, load, monitoring, detections) in one command, and the
# whole pipeline in one command, for the end-to-end figures.
#
#   scripts/bench_pipeline.sh            # all three sizes
#   SIZES="50000:1500" scripts/bench_pipeline.sh
#
# Prints a markdown table per size (paste it into docs/performance-pipeline.md).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
command -v /usr/bin/time >/dev/null || { apt-get update -qq && apt-get install -y -qq time; }
cargo build --release --manifest-path "$repo/Cargo.toml" >&2
bin="${CARGO_TARGET_DIR:-$repo/target}/release/tnsflow"
sizes=${SIZES:-"50000:1500 500000:15000 5000000:150000"}

for size in $sizes; do
  events=${size%%:*}; users=${size##*:}
  work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
  cp -r "$repo/pipeline.yaml" "$repo/sql" "$work/"
  cd "$work"
  sets=(--set "events=$events" --set "users=$users")
  stages=$("$bin" status --json "${sets[@]}" | python3 -c 'import json,sys; print(" ".join(s["stage"] for s in json.load(sys.stdin)))')
  echo "### $events events, $users users"
  echo
  echo "| stage | wall (s) | peak memory (MiB) |"
  echo "|---|---:|---:|"
  for stage in $stages; do
    /usr/bin/time -f "%e %M" -o time.txt "$bin" build -q "${sets[@]}" "$stage" >/dev/null
    read -r wall kb < time.txt
    printf "| %s | %s | %d |\n" "$stage" "$wall" $((kb / 1024))
  done
  # The data foundation alone (the issue's first-half target), then everything.
  rm -rf out .tnsflow
  /usr/bin/time -f "%e %M" -o time.txt "$bin" build -q "${sets[@]}" generate load monitoring detect >/dev/null
  read -r wall kb < time.txt
  printf "| **generate + load + monitoring + detections (cold, -j default)** | **%s** | **%d** |\n" "$wall" $((kb / 1024))
  rm -rf out .tnsflow
  /usr/bin/time -f "%e %M" -o time.txt "$bin" build -q "${sets[@]}" >/dev/null
  read -r wall kb < time.txt
  printf "| **end to end (cold, -j default)** | **%s** | **%d** |\n\n" "$wall" $((kb / 1024))
  cd "$repo"; rm -rf "$work"; trap - EXIT
done
