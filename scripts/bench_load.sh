#!/usr/bin/env bash
# Load benchmark (issue 13): two tnsflow binaries side by side in one run.
#
#   scripts/bench_load.sh OLD_BIN NEW_BIN
#   REPEATS=5 LOAD_SIZES="500000:15000" E2E_SIZES="" scripts/bench_load.sh old new
#   OLD_REPO=/path/to/old/checkout scripts/bench_load.sh old new
#
# Each binary runs with the pipeline.yaml and sql/ of its own checkout:
# OLD_REPO's for the old one (default: this one), this repository's for the
# new one; the load stage takes its fast path only on the SQL it ships.
#
# 1. The load stage alone, at 500 thousand and 5 million events: generate once,
#    then `tnsflow build --force load load` with each binary in turn
#    (interleaved, REPEATS times), under GNU time for wall and peak RSS.
# 2. The whole default pipeline, cold (a fresh folder per run), at 50 thousand,
#    500 thousand and 5 million events, interleaved the same way.
# Before each timed run the disk is settled (`sync`, untimed; SETTLE=0 turns
# it off), so no run waits on the writeback of the one before: a 5 M build
# writes about 4.5 GB. Each row also gives the median CPU time the
# hypervisor stole from this VM during the runs (/proc/stat): a "quiet
# machine" is one where that is near zero.
# 3. Checks: sqlite.db row-identical between the binaries (every table and
#    view, rowid by rowid, with sqlite_master's entries), every other export
#    byte-identical, and each binary's sqlite.db byte-identical across its
#    runs in different folders.
#
# Prints medians (min-max) and new/old ratios as markdown.
set -euo pipefail
old=$(realpath "${1:?usage: bench_load.sh OLD_BIN NEW_BIN}")
new=$(realpath "${2:?usage: bench_load.sh OLD_BIN NEW_BIN}")
repo=$(cd "$(dirname "$0")/.." && pwd)
old_repo=$(realpath "${OLD_REPO:-$repo}")
# use_sql WS BIN: puts the pipeline.yaml and sql/ that go with BIN into WS
use_sql() {
  local from=$repo; [ "$2" = "$old" ] && from=$old_repo
  rm -rf "$1/sql" && cp -r "$from/pipeline.yaml" "$from/sql" "$1/"
}
repeats=${REPEATS:-3}
load_sizes=${LOAD_SIZES-"500000:15000 5000000:150000"}
e2e_sizes=${E2E_SIZES-"50000:1500 500000:15000 5000000:150000"}
command -v /usr/bin/time >/dev/null || { apt-get update -qq && apt-get install -y -qq time; }
work=$(mktemp -d "${TMPDIR:-/tmp}/bench_load.XXXXXX")
trap 'rm -rf "$work"' EXIT

# A text summary of a database: its quick_check, sqlite_master without root
# pages, then per table and view its row count and a hash of its typed rows
# in rowid order.
dbsum() {
  python3 - "$1" <<'PY'
import hashlib, sqlite3, sys
db = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True)
print("quick_check", " ".join(r[0] for r in db.execute("PRAGMA quick_check")))
objects = db.execute("SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name").fetchall()
for o in objects:
    print("schema", o)
for kind, name, _, _ in objects:
    if kind not in ("table", "view"):
        continue
    q = f'SELECT rowid, * FROM "{name}" ORDER BY rowid' if kind == "table" else f'SELECT * FROM "{name}"'
    # Statistics by what they describe; since load's version 8 it writes
    # raw_events' sqlite_stat1 rows itself and no sqlite_stat4 samples for them.
    if name == "sqlite_stat1":
        q = "SELECT * FROM sqlite_stat1 ORDER BY tbl, idx"
    elif name == "sqlite_stat4":
        q = "SELECT * FROM sqlite_stat4 WHERE tbl <> 'raw_events' ORDER BY tbl, idx, rowid"
    h, n = hashlib.blake2b(), 0
    for row in db.execute(q):
        h.update(repr(tuple((type(v).__name__, v) for v in row)).encode())
        n += 1
    print(kind, name, n, h.hexdigest()[:32])
PY
}

# median and range of the numbers on stdin
stats() { sort -g | awk '{v[NR]=$1} END {m = NR % 2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2; printf "%s %s %s\n", m, v[1], v[NR]}'; }

settle=${SETTLE:-1}
# The machine's stolen CPU time so far, in clock ticks.
steal_ticks() { awk '/^cpu / {print $9}' /proc/stat; }

# time_run FILE CMD...: appends "wall_s peak_kb steal_s" to FILE
time_run() {
  local out=$1; shift
  [ "$settle" = 1 ] && sync
  local before; before=$(steal_ticks)
  /usr/bin/time -f "%e %M" -o "$work/t" "$@" >/dev/null
  echo "$(cat "$work/t") $(echo "($(steal_ticks) - $before) / $(getconf CLK_TCK)" | bc -l)" >> "$out"
}

row() { # row LABEL OLDFILE NEWFILE
  read -r om omin omax < <(cut -d' ' -f1 "$2" | stats)
  read -r nm nmin nmax < <(cut -d' ' -f1 "$3" | stats)
  read -r ok _ _ < <(cut -d' ' -f2 "$2" | stats)
  read -r nk _ _ < <(cut -d' ' -f2 "$3" | stats)
  read -r steal _ _ < <(cut -d' ' -f3 "$2" "$3" | stats)
  printf "| %s | %s (%s-%s) | %s (%s-%s) | **%.2fx** | %d | %d | %.2f |\n" "$1" "$om" "$omin" "$omax" "$nm" "$nmin" "$nmax" \
    "$(echo "$om / $nm" | bc -l)" $((ok / 1024)) $((nk / 1024)) "$steal"
}

echo "Machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "Start: $(date -u +%FT%TZ), load average $(cut -d' ' -f1-3 /proc/loadavg); $repeats runs each, interleaved"
echo
echo "| case | old wall s, median (range) | new wall s, median (range) | speed-up | old peak MiB | new peak MiB | stolen CPU s per run, median |"
echo "|---|---:|---:|---:|---:|---:|---:|"
checks=()

for size in $load_sizes; do
  events=${size%%:*}; users=${size##*:}
  sets=(--set "events=$events" --set "users=$users")
  ws="$work/load-$events"; mkdir -p "$ws"; cp -r "$repo/pipeline.yaml" "$repo/sql" "$ws/"
  (cd "$ws" && "$new" build -q "${sets[@]}" generate >/dev/null)
  : > "$work/lo"; : > "$work/ln"
  for _ in $(seq "$repeats"); do
    use_sql "$ws" "$old"; (cd "$ws" && time_run "$work/lo" "$old" build -q "${sets[@]}" --force load load)
    use_sql "$ws" "$new"; (cd "$ws" && time_run "$work/ln" "$new" build -q "${sets[@]}" --force load load)
  done
  row "load alone, $events events" "$work/lo" "$work/ln"
  # Row identity: one more build with each binary, then the two summaries.
  use_sql "$ws" "$old"; (cd "$ws" && "$old" build -q "${sets[@]}" --force load load >/dev/null && dbsum out/sqlite.db > "$work/old.sum")
  use_sql "$ws" "$new"; (cd "$ws" && "$new" build -q "${sets[@]}" --force load load >/dev/null && dbsum out/sqlite.db > "$work/new.sum")
  if cmp -s "$work/old.sum" "$work/new.sum"; then
    checks+=("sqlite.db at $events events: row-identical ($(grep -cE '^(table|view) ' "$work/new.sum") tables and views, $(grep -c '^schema' "$work/new.sum") schema entries)")
  else
    checks+=("sqlite.db at $events events: ROWS DIFFER: $(diff "$work/old.sum" "$work/new.sum" | grep '^[<>]' | cut -c1-160 | head -8 | tr '\n' ' ')")
  fi
  # Row hashes read what SQLite reaches; quick_check also finds pages two
  # trees share (as on the lock-byte page past 1 GiB).
  for which in old new; do
    if grep -qx "quick_check ok" "$work/$which.sum"; then checks+=("$which sqlite.db at $events events: PRAGMA quick_check ok")
    else checks+=("$which sqlite.db at $events events: CORRUPT: $(grep '^quick_check' "$work/$which.sum" | cut -c1-200)"); fi
  done
  rm -rf "$ws"
done

for size in $e2e_sizes; do
  events=${size%%:*}; users=${size##*:}
  sets=(--set "events=$events" --set "users=$users")
  : > "$work/eo"; : > "$work/en"; : > "$work/dbo"; : > "$work/dbn"
  for i in $(seq "$repeats"); do
    for which in old new; do
      bin=$old; [ "$which" = new ] && bin=$new
      ws="$work/e2e-$which-$i"; mkdir -p "$ws"; use_sql "$ws" "$bin"
      (cd "$ws" && time_run "$work/e${which:0:1}" "$bin" build -q "${sets[@]}")
      sha256sum < "$ws/out/sqlite.db" >> "$work/db${which:0:1}"
      # keep the first run's out/ of each binary for the export comparison
      if [ "$i" = 1 ]; then mv "$ws/out" "$work/out-$which"; fi
      rm -rf "$ws"
    done
  done
  row "end to end cold, $events events" "$work/eo" "$work/en"
  differing=$(cd "$work/out-old" && find . -type f ! -name sqlite.db | sort | while read -r f; do cmp -s "$f" "$work/out-new/$f" || echo "$f"; done)
  n=$(cd "$work/out-old" && find . -type f ! -name sqlite.db | wc -l)
  if [ -z "$differing" ]; then checks+=("exports at $events events: all $n besides sqlite.db byte-identical")
  else checks+=("exports at $events events: DIFFER: $differing"); fi
  for which in old new; do
    if [ "$(sort -u "$work/db${which:0:1}" | wc -l)" = 1 ]; then checks+=("$which sqlite.db at $events events: byte-identical across its $repeats folders")
    else checks+=("$which sqlite.db at $events events: NOT byte-identical across folders"); fi
  done
  rm -rf "$work/out-old" "$work/out-new"
done

echo
echo "End: $(date -u +%FT%TZ), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo
for c in "${checks[@]}"; do echo "- $c"; done
