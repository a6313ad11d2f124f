#!/usr/bin/env bash
# Workbench latency at scale: builds the pipeline at USERS users (release),
# starts `tnsflow serve`, optionally saves REVIEWS reviews, then measures
# p50/p99 and requests per second with oha (cargo install oha) or wrk for the
# dashboard, the queue (first page, a deep page, a filtered page) and a case
# page. Usage: scripts/bench_workbench.sh [USERS] [REVIEWS] [SECONDS]
set -euo pipefail
USERS=${1:-150000}
REVIEWS=${2:-2000}
SECONDS_EACH=${3:-10}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN="$ROOT/target/release/tnsflow"
command -v oha >/dev/null || command -v wrk >/dev/null || {
  echo "error: neither oha (cargo install oha) nor wrk (apt-get install wrk) is installed" >&2
  exit 2
}
cargo build --release --manifest-path "$ROOT/Cargo.toml" >&2
WS=$(mktemp -d)
trap 'kill "$SERVER" 2>/dev/null || true; rm -rf "$WS"' EXIT
cp "$ROOT/pipeline.yaml" "$WS/" && cp -r "$ROOT/sql" "$WS/"
cd "$WS"
# Events scale with users as in docs/performance.md (5M events at 150k users).
"$BIN" build -q --set "users=$USERS" --set "events=$((USERS * 100 / 3))" >&2
"$BIN" serve --port 0 >"$WS/serve.out" &
SERVER=$!
until [ -s "$WS/serve.out" ]; do sleep 0.1; done
URL=$(sed -n 's/^serving //p' "$WS/serve.out")
CASE=$(sed -n '2p' out/cases.csv | cut -d, -f1)
ORIGIN="Origin: $URL"
for i in $(seq 1 "$REVIEWS"); do
  C=$(sed -n "$((i % 1000 + 2))p" out/cases.csv | cut -d, -f1)
  curl -s -o /dev/null -H "$ORIGIN" -d "disposition=no_violation&reviewer=bench&notes=$i" "$URL/cases/$C/review"
done
PAGES=$(curl -s "$URL/queue" | sed -n 's/.* of \([0-9]*\) (.*/\1/p' | head -1)
echo "users=$USERS reviews=$REVIEWS cases=$(($(wc -l <out/cases.csv) - 1)) queue pages=$PAGES"
for path in "/" "/queue" "/queue?page=$((PAGES > 1 ? PAGES - 1 : 1))" "/queue?priority=P1&route=coordinated-abuse&sort=sla" "/cases/$CASE"; do
  echo "== $path"
  if command -v oha >/dev/null; then
    oha -z "${SECONDS_EACH}s" -c 4 --no-tui "$URL$path" | grep -E "Requests/sec|50.00%|99.00%"
  else
    wrk -t2 -c4 -d"${SECONDS_EACH}s" --latency "$URL$path" | grep -E "Requests/sec|50%|99%"
  fi
done
