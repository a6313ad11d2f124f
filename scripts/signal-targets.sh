#!/bin/sh
# Issue 11's targets at scale (the default `cargo test` checks them at the
# default size for seeds 42 and 1..8): detection precision and scenario
# recall, and the case targets, at 15,000 users / 500,000 events, and with
# --150k also at 150,000 users / 5,000,000 events (minutes, ~2 GB of disk).
# Prints the precision table on stderr.
set -eu
cd "$(dirname "$0")/.."
filter=detections_at_15k_users
[ "${1:-}" = "--150k" ] && filter=detections_at_1
exec cargo test --release --test cli "signal::$filter" -- --ignored --nocapture --test-threads 1
