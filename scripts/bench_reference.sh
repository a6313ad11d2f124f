#!/usr/bin/env bash
# tnsflow's derivation versus the pandas/scikit-learn reference
# (scripts/reference_stack.py) on the same raw_events.csv.
#
# Makes a venv (python3 -m venv; pip install pandas scikit-learn numpy),
# builds tnsflow in release, generates the raw CSVs once (the `generate`
# stage at EVENTS events and USERS users), then REPEATS interleaved rounds.
# Each round, in fresh folders holding only those CSVs:
#   tnsflow    `tnsflow build load monitoring detect scoring review_queue`
#              (the stages the reference reproduces; generate is removed from
#              the pipeline so the CSVs are plain input files), one command;
#   reference  `python reference_stack.py derive` (interpreter start-up and
#              imports included, as tnsflow's process start is);
#   breakdown  the same tnsflow stages one `tnsflow build STAGE` at a time
#              (each detection on its own), each under GNU time (so a row includes process start and the
#              no-op check of its upstream stages).
# Prints medians (wall and CPU = user + system), the ratio, the per-stage
# breakdown, and the reference's agreement with tnsflow's exports (round 1).
#
#   scripts/bench_reference.sh                      # 500k events, 15k users, 5 rounds
#   EVENTS=50000 USERS=1500 REPEATS=3 scripts/bench_reference.sh
#
# Honours CARGO_TARGET_DIR; the venv is made under it (VENV to override).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
target=${CARGO_TARGET_DIR:-$repo/target}
events=${EVENTS:-500000}
users=${USERS:-15000}
repeats=${REPEATS:-5}
venv=${VENV:-$target/reference-venv}
stages=(load monitoring detect scoring review_queue)

command -v /usr/bin/time >/dev/null || { echo "error: GNU time (/usr/bin/time) is needed: apt-get install time" >&2; exit 2; }
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q pandas scikit-learn numpy >&2
fi
py="$venv/bin/python"
cargo build --release --manifest-path "$repo/Cargo.toml" --target-dir "$target" >&2
bin="$target/release/tnsflow"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# The raw CSVs, once.
mkdir "$work/gen"
cp -r "$repo/pipeline.yaml" "$repo/sql" "$work/gen/"
(cd "$work/gen" && "$bin" build -q --set "events=$events" --set "users=$users" generate >/dev/null)
# The pipeline without generate: its outs become plain input files.
awk '/^  generate:/ {skip=1; next} skip && /^  [a-z_]+:/ {skip=0} !skip' "$repo/pipeline.yaml" >"$work/pipeline.yaml"

# A fresh workspace holding only the raw CSVs (copied before any timing).
fresh() {
  rm -rf "$1" && mkdir -p "$1/out"
  cp "$work/pipeline.yaml" "$1/" && cp -r "$repo/sql" "$1/"
  cp "$work/gen/out/"*.csv "$1/out/"
}
# Appends "label wall cpu maxrss_kb" to $work/times after running the command.
timed() {
  local label=$1; shift
  /usr/bin/time -f "%e %U %S %M" -o "$work/t" "$@"
  read -r wall user sys kb <"$work/t"
  echo "$label $wall $(awk "BEGIN {print $user + $sys}") $kb" >>"$work/times"
}
sets=(--set "events=$events" --set "users=$users")
# The breakdown names each detection (detect@NAME) so a slow one shows.
fresh "$work/stages"
read -r -a breakdown <<<"$(cd "$work/stages" && "$bin" status --json "${sets[@]}" | python3 -c '
import json, sys
wanted = sys.argv[1:]
print(" ".join(s["stage"] for s in json.load(sys.stdin) if s["stage"].split("@")[0] in wanted))
' "${stages[@]}")"
: >"$work/times"
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
for round in $(seq 1 "$repeats"); do
  echo "round $round of $repeats" >&2
  fresh "$work/tns"
  (cd "$work/tns" && timed tnsflow "$bin" build -q "${sets[@]}" "${stages[@]}" >/dev/null)
  fresh "$work/ref"
  timed reference "$py" "$repo/scripts/reference_stack.py" derive "$work/ref/out" "$work/ref/derived" 2>"$work/steps.$round"
  if [ "$round" = 1 ]; then
    echo "agreement, at $events events and $users users (reference vs tnsflow):" >"$work/agreement"
    "$py" "$repo/scripts/reference_stack.py" compare "$work/ref/derived" "$work/tns/out" >>"$work/agreement" || true
  fi
  fresh "$work/stages"
  for stage in "${breakdown[@]}"; do
    (cd "$work/stages" && timed "stage:$stage" "$bin" build -q "${sets[@]}" "$stage" >/dev/null)
  done
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

echo "machine: $(nproc) cores; load average before $load_before, after $load_after"
echo
cat "$work/agreement"
echo
echo "reference steps, round 1 (wall, inside the script):"
cat "$work/steps.1"
echo
python3 - "$work/times" "$events" "$users" "$repeats" <<'EOF'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
events, users, repeats = sys.argv[2:5]
by = {}
for label, wall, cpu, kb in rows:
    by.setdefault(label, []).append((float(wall), float(cpu), int(kb)))
med = lambda label, i: statistics.median(r[i] for r in by[label])
spread = lambda label: " / ".join(f"{r[0]:.2f}" for r in by[label])
print(f"### {events} events, {users} users: median of {repeats} interleaved rounds")
print()
print("| | wall (s) | CPU (s) | peak RSS (MiB) | wall of each round (s) |")
print("|---|---:|---:|---:|---|")
for label in ("tnsflow", "reference"):
    print(f"| {label} | {med(label, 0):.2f} | {med(label, 1):.2f} | {med(label, 2) / 1024:.0f} | {spread(label)} |")
print(f"| **reference / tnsflow** | **{med('reference', 0) / med('tnsflow', 0):.2f}x** | **{med('reference', 1) / med('tnsflow', 1):.2f}x** | | |")
print()
print("tnsflow, one stage per command (medians):")
print()
print("| stage | wall (s) | CPU (s) | share of the stages' CPU |")
print("|---|---:|---:|---:|")
stage_labels = [l for l in by if l.startswith("stage:")]
total_cpu = sum(med(l, 1) for l in stage_labels)
for l in stage_labels:
    print(f"| {l[6:]} | {med(l, 0):.2f} | {med(l, 1):.2f} | {100 * med(l, 1) / total_cpu:.0f}% |")
print(f"| sum | {sum(med(l, 0) for l in stage_labels):.2f} | {total_cpu:.2f} | |")
EOF
