#!/usr/bin/env python3
"""Orchestrator benchmark: tnsflow against GNU make, ninja, DVC and Snakemake.

What it measures
----------------
Every tool builds the *same* generated DAGs of shell-command stages, with the
*same* command strings (each tool only wraps them in its own file format):

  14          a small pipeline: a source stage, a fan-out of 11, a fan-in, a report;
  1000        20 layers x 50 stages, each reading 1-3 outputs of the layer before
              (random.Random(7), so the graph is the same on every run);
  1000+1GB    the 1000-stage graph plus one extra 1 GiB dependency of stage s0_0;
  10k-wide    big graphs, for tnsflow, make and ninja only: every stage also reads
  100k-wide   its own source file src/NAME.txt; "wide" is 20 layers of 500 or
  10k-deep    5,000 stages, each reading 1-3 outputs of the layer before (the 1000
  100k-deep   graph scaled), "deep" is 10 independent chains of 1,000 or 10,000.
              Any N-wide, Nk-wide, N-deep or Nk-deep works (e.g. 2k-deep).

For each graph every tool gets a fresh workspace and does

  cold   one build from nothing (all stages run);
  no-op  a build with nothing to do, repeated; the median is reported.

No-op repetitions go round-robin over the tools (tool A, B, C, ... then again),
so load from other processes on the machine hits every tool alike and the
ratios stay meaningful on a noisy shared machine. Before timing, the script
waits until every output is more than 2 s old (tnsflow and git do not trust a
file stat within 2 s of its mtime, the "racy clean" rule) and does one untimed
warm-up no-op per tool. The script checks that every tool produced
byte-identical outputs and that no no-op build rewrote any output.

Big graphs (10,000 and 100,000 stages) measure what users feel after a change,
each case for every tool in turn, round-robin, one tool later each repetition:

  cold                 a build from nothing (wall, CPU, and peak RSS via
                       /usr/bin/time), then at once a no-op (no racy wait: the
                       path a user takes);
  settled no-op        2.2 s after the last build;
  one-leaf edit        rewrite the source file of a stage that has one dependent,
                       which has none (2 stages to rerun), then: rebuild; no-op at
                       once; edit again and `status` (tnsflow status, ninja -n,
                       make -n); rebuild (untimed); 2.2 s later a settled no-op;
  state                files and bytes under .tnsflow/ (ninja: .ninja_log and
                       .ninja_deps; make keeps none) after the first cold build.

The outputs a rebuild rewrote (by mtime) are checked to be the 2 expected ones
for every tool, and the tools' outputs byte-identical after the cold builds and
after the edits. Medians, ratios to ninja (paired: the median of the rounds'
ratios, each round running every tool back to back, so that a machine whose
speed drifts during the run does not skew them), and issue 13's targets marked
pass or fail: rebuild, status and the no-op right after a build within 1.5x of ninja;
settled no-ops within 1.2x; cold peak RSS within 2x; cold wall time within 1.2x;
at most 1.1 files under .tnsflow/ per stage. The default run has the 10k graphs
(26 minutes for the two, set-up and clean-up included, on the 2-core machine at a
load average of 9); the 100k ones take about half an hour each (every tool's
cold build is about 3 minutes, and removing the workspaces' 700,000 files took
17 minutes on that loaded disk), so they are opt-in, with fewer repetitions
(--huge-*).

`tnsflow (full check)` is tnsflow with its no-op snapshot deleted before each
timed run: the path a build takes when the snapshot cannot prove there is
nothing to do (it parses pipeline.yaml, plans the DAG and checks every stage's
key through the stat cache). The plain `tnsflow` row is the normal no-op.

Parallelism is 2 for every tool that has it (make -j2, ninja -j2, tnsflow -j2,
snakemake --cores 2); `dvc repro` runs stages one at a time. make runs with -r
(no built-in implicit rules), as a performance-minded Makefile would.

How to run
----------
    scripts/bench_orchestrator.sh                  # builds tnsflow (release), runs all
    scripts/bench_orchestrator.sh --skip-slow      # only tnsflow, make, ninja
    scripts/bench_orchestrator.sh --graphs 14,1000 # skip the 1 GiB graph
    scripts/bench_orchestrator.sh --skip-slow --graphs 10k-wide,10k-deep,100k-wide,100k-deep
                                                   # the big graphs only (or --graphs all)
    python3 scripts/bench_orchestrator.py --tnsflow PATH/TO/tnsflow [options]

Tools: make, ninja and time come from Debian (apt-get install make ninja-build time, done
here when missing; needs root). DVC and Snakemake are installed from PyPI into
a throwaway virtualenv (default /tmp/tnsflow-bench-venv, reused when present).
The whole run with every tool and graph takes about 10-20 minutes on 2 cores,
mostly DVC's and Snakemake's 1000-stage cold builds.

Python 3.11 standard library only.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SMALL_GRAPHS = ("14", "1000", "1000+1GB")
BIG_GRAPHS = ("10k-wide", "10k-deep", "100k-wide", "100k-deep")
GRAPHS = SMALL_GRAPHS + BIG_GRAPHS
DEFAULT_GRAPHS = SMALL_GRAPHS + ("10k-wide", "10k-deep")
BIG_TOOLS = ("tnsflow", "make", "ninja")  # DVC and Snakemake would take hours
LAYERS = 20  # wide big graphs: LAYERS layers (the 1000 graph has 20 of 50)
CHAINS = 10  # deep big graphs: CHAINS chains
HUGE = 50_000  # graphs from this many stages get the --huge-* repeat counts
STATE = {"tnsflow": [".tnsflow"], "make": [], "ninja": [".ninja_log", ".ninja_deps"]}
TOOLS = ("tnsflow", "make", "ninja", "dvc", "snakemake")
SLOW = ("dvc", "snakemake")
RACY_WAIT = 2.2  # seconds; tnsflow trusts no stat younger than 2 s
BIG_SIZE = 1 << 30


# --- the graphs ------------------------------------------------------------


def graph(kind: str) -> list[tuple[str, list[str], str]]:
    """The stages of a graph: (name, deps, command); stage NAME writes out/NAME.txt.

    Commands are plain POSIX sh without `$`, `{`, `}` or quotes, so every tool's
    file format can hold them verbatim, and without pipes that can fail under
    `set -o pipefail` (Snakemake runs shell commands in bash strict mode).
    """
    if big_spec(kind):
        return big_graph(*big_spec(kind))
    stages = []
    if kind == "14":
        stages.append(("source", ["input.txt"], "sort input.txt > out/source.txt"))
        for i in range(11):
            stages.append(
                (f"part{i}", ["out/source.txt"],
                 f"(echo part{i}; grep -c {i} out/source.txt || true) > out/part{i}.txt"))
        parts = [f"out/part{i}.txt" for i in range(11)]
        stages.append(("merge", parts, f"cat {' '.join(parts)} > out/merge.txt"))
        stages.append(("report", ["out/merge.txt"], "wc -l < out/merge.txt > out/report.txt"))
        return stages
    rng = random.Random(7)
    for layer in range(20):
        for w in range(50):
            name = f"s{layer}_{w}"
            if layer == 0:
                deps = ["input.txt"]
            else:
                picks = {rng.randrange(50) for _ in range(rng.randint(1, 3))}
                deps = [f"out/s{layer - 1}_{d}.txt" for d in sorted(picks)]
            cmd = f"(echo {name}; head -q -c 80 {' '.join(deps)}) > out/{name}.txt"
            if kind == "1000+1GB" and name == "s0_0":
                # The 1 GiB file is a declared dep, but the command does not read it:
                # the graph measures what the tool itself does with a big input.
                deps = deps + ["big.bin"]
            stages.append((name, deps, cmd))
    return stages


def outs(stages) -> list[str]:
    return [f"out/{name}.txt" for name, _, _ in stages]


# --- one file format per tool ------------------------------------------------


def q(s: str) -> str:
    """A YAML double-quoted string (JSON strings are valid YAML)."""
    return json.dumps(s)


def write_tnsflow(d, stages):
    lines = ["stages:"]
    for name, deps, cmd in stages:
        lines += [f"  {name}:", f"    cmd: {q(cmd)}",
                  f"    deps: [{', '.join(q(x) for x in deps)}]",
                  f"    outs: [{q(f'out/{name}.txt')}]"]
    write(d, "pipeline.yaml", lines)


def write_dvc(d, stages):
    lines = ["stages:"]
    for name, deps, cmd in stages:
        lines += [f"  {name}:", f"    cmd: {q(cmd)}",
                  f"    deps: [{', '.join(q(x) for x in deps)}]",
                  f"    outs: [{q(f'out/{name}.txt')}]"]
    write(d, "dvc.yaml", lines)


def write_make(d, stages):
    lines = [".PHONY: all", "all: " + " ".join(outs(stages))]
    for name, deps, cmd in stages:
        lines += [f"out/{name}.txt: {' '.join(deps)}", f"\t@{cmd}"]
    write(d, "Makefile", lines)


def write_ninja(d, stages):
    lines = ["rule run", "  command = $cmd"]
    for name, deps, cmd in stages:
        lines += [f"build out/{name}.txt: run {' '.join(deps)}", f"  cmd = {cmd}"]
    write(d, "build.ninja", lines)


def write_snakemake(d, stages):
    lines = ["rule all:", f"    input: {', '.join(q(o) for o in outs(stages))}", ""]
    for name, deps, cmd in stages:
        lines += [f"rule {name}:", f"    input: {', '.join(q(x) for x in deps)}",
                  f"    output: {q(f'out/{name}.txt')}", f"    shell: {q(cmd)}", ""]
    write(d, "Snakefile", lines)


def write(d, name, lines):
    with open(os.path.join(d, name), "w") as f:
        f.write("\n".join(lines) + "\n")


def snapshot_row(state_db: str, drop: bool = False) -> bool:
    """Whether tnsflow's no-op snapshot is recorded (its request row in
    state.db's meta table); `drop` deletes it, forcing the full check."""
    import sqlite3
    con = sqlite3.connect(state_db, timeout=60)
    try:
        if drop:
            con.execute("DELETE FROM meta WHERE name = 'snapshot.request'")
            con.commit()
            return False
        return con.execute("SELECT 1 FROM meta WHERE name = 'snapshot.request'").fetchone() is not None
    finally:
        con.close()


# --- tools -------------------------------------------------------------------


class Tool:
    def __init__(self, name, writer, command, init=None, status=None):
        self.name, self.writer, self.command, self.init = name, writer, command, init
        self.status = status  # what tells the user what is stale, without building


def make_tools(args, venv_bin) -> dict[str, Tool]:
    j = str(args.jobs)
    tools = {
        "tnsflow": Tool("tnsflow", write_tnsflow, [args.tnsflow, "build", "-q", "-j", j],
                        status=[args.tnsflow, "status", "-q"]),
        "make": Tool("make", write_make, ["make", "-r", "-s", "-j", j], status=["make", "-r", "-n"]),
        "ninja": Tool("ninja", write_ninja, ["ninja", "-j", j], status=["ninja", "-n", "-j", j]),
    }
    if venv_bin:
        tools["dvc"] = Tool("dvc", write_dvc, [os.path.join(venv_bin, "dvc"), "repro", "-q"],
                            init=[[os.path.join(venv_bin, "dvc"), "init", "--no-scm", "-q"],
                                  [os.path.join(venv_bin, "dvc"), "config", "core.analytics", "false"]])
        tools["snakemake"] = Tool("snakemake", write_snakemake,
                                  [os.path.join(venv_bin, "snakemake"), "--cores", j, "--quiet"])
    return {name: tools[name] for name in args.tools if name in tools}


def ensure_debian_tools():
    missing = [pkg for exe, pkg in (("make", "make"), ("ninja", "ninja-build"), ("/usr/bin/time", "time"))
               if not shutil.which(exe)]
    if not missing:
        return
    log(f"installing {' '.join(missing)} with apt-get")
    if subprocess.run(["apt-get", "install", "-y", "-qq", *missing]).returncode != 0:
        subprocess.run(["apt-get", "update", "-qq"], check=True)
        subprocess.run(["apt-get", "install", "-y", "-qq", *missing], check=True)


def ensure_venv(venv: str) -> str:
    bin_dir = os.path.join(venv, "bin")
    if not (os.path.exists(os.path.join(bin_dir, "dvc")) and os.path.exists(os.path.join(bin_dir, "snakemake"))):
        log(f"creating a throwaway virtualenv with dvc and snakemake in {venv}")
        subprocess.run([sys.executable, "-m", "venv", venv], check=True)
        subprocess.run([os.path.join(bin_dir, "pip"), "install", "-q", "dvc", "snakemake"], check=True)
    return bin_dir


def version(cmd) -> str:
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        return (p.stdout or p.stderr).strip().splitlines()[0]
    except Exception as e:  # a missing tool is reported, not fatal
        return f"unknown ({e})"


# --- running and checking ----------------------------------------------------


def timed(cmd, cwd, env, limit=None, peak=False) -> tuple[float, float, int | None] | None:
    """Runs cmd; returns (wall seconds, CPU seconds of it and its reaped children,
    with `peak` the peak RSS in KiB of the largest of them, else None).

    CPU time (user + system) barely moves when other processes compete for the
    cores, so it is the steadier number on a busy machine; wall time is what a
    user waits. With `limit` (seconds), a run that takes longer is stopped
    (its whole process group) and None is returned.
    """
    rss_file = None
    if peak:
        # Linux counts the memory a process had before exec (here: this Python)
        # in its ru_maxrss, so a small /usr/bin/time forks the tool and reports it.
        rss_file = tempfile.NamedTemporaryFile(delete=False)
        rss_file.close()
        cmd = ["/usr/bin/time", "-f", "%M", "-o", rss_file.name, *cmd]
    with tempfile.TemporaryFile() as output:
        t = time.perf_counter()
        p = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=output, stderr=output,
                             start_new_session=True)
        while True:
            pid, status, usage = os.wait4(p.pid, os.WNOHANG if limit else 0)
            if pid:
                break
            if time.perf_counter() - t > limit:
                os.killpg(p.pid, 9)
                os.wait4(p.pid, 0)
                p.returncode = -9
                return None
            time.sleep(0.005)
        elapsed = time.perf_counter() - t
        p.returncode = os.waitstatus_to_exitcode(status)
        if p.returncode != 0:
            output.seek(0)
            tail = output.read().decode(errors="replace")[-1500:]
            raise SystemExit(f"{' '.join(cmd)} failed (exit {p.returncode}) in {cwd}:\n{tail}")
    rss = None
    if rss_file:
        with open(rss_file.name) as f:
            rss = int(f.read().split()[-1])
        os.remove(rss_file.name)
    return elapsed, usage.ru_utime + usage.ru_stime, rss


def out_stats(d, stages):
    return {o: os.stat(os.path.join(d, o)).st_mtime_ns for o in outs(stages)}


def out_digest(d, stages) -> str:
    h = hashlib.sha256()
    for o in outs(stages):
        with open(os.path.join(d, o), "rb") as f:
            h.update(o.encode() + b"\0" + f.read() + b"\0")
    return h.hexdigest()


def make_input(d):
    with open(os.path.join(d, "input.txt"), "w") as f:
        f.write("".join(f"record {(i * 7919) % 1000} of the input\n" for i in range(1000)))
    old = time.time() - 3600  # inputs are old, as in a real checkout
    os.utime(os.path.join(d, "input.txt"), (old, old))


def big_file(path):
    """1 GiB of incompressible bytes, written once and reused (hard-linked into workspaces)."""
    if os.path.exists(path) and os.path.getsize(path) == BIG_SIZE:
        return
    log(f"writing the 1 GiB dependency {path}")
    with open(path + ".part", "wb") as f:
        for _ in range(BIG_SIZE >> 20):
            f.write(os.urandom(1 << 20))
    os.replace(path + ".part", path)
    old = time.time() - 3600
    os.utime(path, (old, old))


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def finish_stopped_build(name, d, stages, env, venv_bin, done_dir):
    """Completes a workspace whose cold build hit the time limit, so that its
    no-op can still be measured. Snakemake resumes where it stopped. DVC would
    go on at about one stage per second, so the outputs are copied from a tool
    that finished (the output check proves they are the same bytes) and
    `dvc commit` records them in dvc.lock, as if `dvc repro` had run them."""
    if name == "dvc":
        for f in os.listdir(os.path.join(d, ".dvc", "tmp")):
            if "lock" in f:
                os.remove(os.path.join(d, ".dvc", "tmp", f))
        for o in outs(stages):
            shutil.copy2(os.path.join(done_dir, o), os.path.join(d, o))
        subprocess.run([os.path.join(venv_bin, "dvc"), "commit", "-f", "-q"], cwd=d, env=env,
                       check=True, stdout=subprocess.DEVNULL)
    elif name == "snakemake":
        subprocess.run([os.path.join(venv_bin, "snakemake"), "--unlock", "--cores", "1"], cwd=d,
                       env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        subprocess.run([os.path.join(venv_bin, "snakemake"), "--cores", "2", "--quiet",
                        "--rerun-incomplete"], cwd=d, env=env, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    else:
        raise SystemExit(f"{name} hit the time limit")


def bench_graph(kind, tools, args, env, work, big, venv_bin, reuse=None) -> tuple[dict, dict]:
    """Times one graph for every tool. With `reuse` (the workspaces of the 1000
    graph), the 1 GiB graph is set up by adding the big dep to the built
    workspaces, and its first column is that update build instead of a cold one."""
    stages = graph(kind)
    dirs, results = {}, {}
    for name, tool in tools.items():
        if reuse:
            d = reuse[name]
        else:
            d = os.path.join(work, f"{kind}-{name}")
            shutil.rmtree(d, ignore_errors=True)
            os.makedirs(os.path.join(d, "out"))
            make_input(d)
        if kind == "1000+1GB":
            os.link(big, os.path.join(d, "big.bin"))
        tool.writer(d, stages)
        if not reuse:
            for cmd in tool.init or []:
                subprocess.run(cmd, cwd=d, env=env, check=True, stdout=subprocess.DEVNULL)
        dirs[name] = d

    # Cold (or update) builds, one tool after the other.
    digests = {}
    what = "update" if reuse else "cold"
    for name, tool in tools.items():
        limit = args.slow_cold_limit if name in SLOW and args.slow_cold_limit > 0 else None
        first = timed(tool.command, dirs[name], env, limit)
        note = None
        if first is None:
            done = len([o for o in outs(stages) if os.path.exists(os.path.join(dirs[name], o))])
            note = f"stopped after {limit:g} s with {done} of {len(stages)} outputs written"
            log(f"  {kind:9} {name:10} {what} {note}; completing the workspace for the no-op")
            finish_stopped_build(name, dirs[name], stages, env, venv_bin, dirs["tnsflow"])
        else:
            log(f"  {kind:9} {name:10} {what}  {first[0]:9.3f} s (cpu {first[1]:.3f} s)")
        digests[name] = out_digest(dirs[name], stages)
        results[name] = {"cold_s": first and first[0], "cold_cpu_s": first and first[1],
                         "cold_limit_s": limit if first is None else None, "cold_note": note,
                         "noop_s": [], "noop_cpu_s": []}
    if len(set(digests.values())) != 1:
        raise SystemExit(f"tools disagree on the outputs of graph {kind}: {digests}")

    # Let every output age past the racy window, then one untimed warm-up each.
    time.sleep(RACY_WAIT)
    for name, tool in tools.items():
        timed(tool.command, dirs[name], env)
    before = {name: out_stats(dirs[name], stages) for name in tools}

    # Timed no-ops, round-robin; slow tools take part in the first rounds only.
    variants = list(tools) + (["tnsflow (full check)"] if "tnsflow" in tools else [])
    if "tnsflow (full check)" in variants:
        results["tnsflow (full check)"] = {"cold_s": None, "cold_cpu_s": None, "noop_s": [], "noop_cpu_s": []}
    state_db = os.path.join(dirs.get("tnsflow", ""), ".tnsflow", "v2", "state.db")
    for r in range(args.repeat):
        for v in variants:
            name = "tnsflow" if v.startswith("tnsflow") else v
            if name in SLOW and r >= args.slow_repeat:
                continue
            if v == "tnsflow (full check)":
                snapshot_row(state_db, drop=True)
            wall, cpu, _ = timed(tools[name].command, dirs[name], env)
            results[v]["noop_s"].append(wall)
            results[v]["noop_cpu_s"].append(cpu)
        if "tnsflow" in tools and not snapshot_row(state_db):
            raise SystemExit("tnsflow did not write its no-op snapshot; the fast path was not measured")
    for name in tools:
        if out_stats(dirs[name], stages) != before[name]:
            raise SystemExit(f"{name} rewrote outputs during a no-op build of graph {kind}")
    for v in variants:
        t, c = results[v]["noop_s"], results[v]["noop_cpu_s"]
        log(f"  {kind:9} {v:21} no-op median {statistics.median(t) * 1000:9.1f} ms "
            f"(min {min(t) * 1000:.1f}, max {max(t) * 1000:.1f}, n={len(t)}; "
            f"cpu median {statistics.median(c) * 1000:.1f} ms)")
    return results, dirs


# --- big graphs: 10,000 and 100,000 stages -------------------------------------


def big_spec(kind: str) -> tuple[int, str] | None:
    """(stages, "wide" or "deep") for a big graph name such as 10k-wide, else None."""
    m = re.fullmatch(r"(\d+)(k?)-(wide|deep)", kind)
    if not m:
        return None
    return int(m[1]) * (1000 if m[2] else 1), m[3]


def big_graph(n: int, shape: str) -> list[tuple[str, list[str], str]]:
    """A big graph of n stages, every stage reading its own source file src/NAME.txt
    (as a compile step reads its .c file) besides its upstream outputs.

    wide: LAYERS layers of n / LAYERS stages, each reading 1-3 outputs of the layer
          before (the 1000 graph scaled: random.Random(7), the same on every run);
    deep: CHAINS independent chains of n / CHAINS stages, each reading the one before.
    """
    stages = []
    if shape == "wide":
        width, rng = n // LAYERS, random.Random(7)
        for layer in range(LAYERS):
            for w in range(width):
                name = f"s{layer}_{w}"
                deps = [f"src/{name}.txt"]
                if layer:
                    picks = {rng.randrange(width) for _ in range(rng.randint(1, 3))}
                    deps += [f"out/s{layer - 1}_{d}.txt" for d in sorted(picks)]
                stages.append((name, deps, f"(echo {name}; head -q -c 80 {' '.join(deps)}) > out/{name}.txt"))
    else:
        length = n // CHAINS
        for c in range(CHAINS):
            for k in range(length):
                name = f"c{c}_{k}"
                deps = [f"src/{name}.txt"] + ([f"out/c{c}_{k - 1}.txt"] if k else [])
                stages.append((name, deps, f"(echo {name}; head -q -c 80 {' '.join(deps)}) > out/{name}.txt"))
    return stages


def leaf_edit(stages) -> tuple[str, set[str]]:
    """The source file of a leaf-ish stage (one dependent, which has none) and the
    outputs a build must rewrite after it changes: the `one-leaf edit`."""
    dependents: dict[str, list[str]] = {}
    for name, deps, _ in stages:
        for d in deps:
            if d.startswith("out/"):
                dependents.setdefault(d[len("out/"):-len(".txt")], []).append(name)
    for name, _, _ in stages:
        after = dependents.get(name, [])
        if len(after) == 1 and not dependents.get(after[0]):
            return f"src/{name}.txt", {f"out/{name}.txt", f"out/{after[0]}.txt"}
    raise SystemExit("no stage with exactly one dependent in the graph")


def make_sources(d, stages):
    """Writes every stage's source file, an hour old (as in a real checkout)."""
    old = time.time() - 3600
    for name, _, _ in stages:
        path = os.path.join(d, "src", f"{name}.txt")
        with open(path, "w") as f:
            f.write(f"source of {name}\n")
        os.utime(path, (old, old))


def clean_build(d, name):
    """Removes a tool's outputs and its state, for the next cold build."""
    shutil.rmtree(os.path.join(d, "out"))
    os.makedirs(os.path.join(d, "out"))
    for s in STATE[name]:
        p = os.path.join(d, s)
        if os.path.isdir(p):
            shutil.rmtree(p)
        elif os.path.exists(p):
            os.remove(p)


def state_size(d, name) -> tuple[int, int, int]:
    """(files, bytes, bytes on disk) of a tool's own state in a workspace."""
    files = size = disk = 0
    for s in STATE[name]:
        p = os.path.join(d, s)
        walk = os.walk(p) if os.path.isdir(p) else [("", [], [p])] if os.path.exists(p) else []
        for root, _, names in walk:
            for f in names:
                st = os.lstat(os.path.join(root, f))
                files, size, disk = files + 1, size + st.st_size, disk + st.st_blocks * 512
    return files, size, disk


def changed(before: dict, after: dict) -> set[str]:
    return {o for o, t in after.items() if before.get(o) != t}


def bench_big_graph(kind, tools, args, env, work) -> tuple[dict, dict]:
    """Times a big graph for tnsflow, make and ninja: cold builds, the no-op right
    after a build, settled no-ops, and one-leaf-edit cycles (rebuild, status);
    every repetition goes round-robin over the tools, starting one tool later
    each time so that none is always first after a pause."""
    n, shape = big_spec(kind)
    huge = n >= HUGE
    cold_reps = args.huge_cold_repeat if huge else args.big_cold_repeat
    reps = args.huge_repeat if huge else args.big_repeat
    stages = graph(kind)
    edit_src, edit_outs = leaf_edit(stages)
    t0, load_start = time.time(), os.getloadavg()[0]
    log(f"{kind}: {len(stages)} stages, leaf edit {edit_src} ({len(edit_outs)} stages to rerun); "
        f"load average {os.getloadavg()[0]:.2f}")
    dirs, res = {}, {}
    for name, tool in tools.items():
        d = os.path.join(work, f"{kind}-{name}")
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(os.path.join(d, "out"))
        os.makedirs(os.path.join(d, "src"))
        make_sources(d, stages)
        tool.writer(d, stages)
        dirs[name] = d
        res[name] = {"edit_runs": []}
    log(f"  {kind:9} workspaces written in {time.time() - t0:.0f} s")

    def order(r):
        names = list(tools)
        return names[r % len(names):] + names[:r % len(names)]

    def run(name, case, cmd=None, peak=False):
        t = timed(cmd or tools[name].command, dirs[name], env, peak=peak)
        for field, x in zip(("_s", "_cpu_s", "_rss_kb"), t):
            if x is not None:
                res[name].setdefault(case + field, []).append(x)
        return t

    # Cold builds from nothing, each followed at once by a no-op (no racy wait:
    # a user's next build after a build).
    for r in range(cold_reps):
        for name in order(r):
            if r:
                clean_build(dirs[name], name)
            wall, cpu, rss = run(name, "cold", peak=True)
            log(f"  {kind:9} {name:8} cold {wall:8.2f} s (cpu {cpu:.2f} s, peak RSS {rss / 1024:.0f} MB)")
            wall, _, _ = run(name, "noop_after_cold")
            log(f"  {kind:9} {name:8} no-op right after it {wall * 1000:8.1f} ms")
            if r == 0:
                files, size, disk = state_size(dirs[name], name)
                res[name].update(state_files=files, state_bytes=size, state_disk_bytes=disk)
    digests = {name: out_digest(dirs[name], stages) for name in tools}
    if len(set(digests.values())) != 1:
        raise SystemExit(f"tools disagree on the outputs of graph {kind} after the cold build: {digests}")

    # Settled no-ops: every output older than the racy window.
    time.sleep(RACY_WAIT)
    before = {name: out_stats(dirs[name], stages) for name in tools}
    for r in range(reps):
        for name in order(r):
            run(name, "settled_noop")
    for name in tools:
        if out_stats(dirs[name], stages) != before[name]:
            raise SystemExit(f"{name} rewrote outputs during a no-op build of graph {kind}")

    # Edit cycles: edit the leaf source, rebuild, no-op at once; edit again,
    # status, rebuild (untimed); then, after the racy wait, a no-op.
    def edit(name, tag):
        with open(os.path.join(dirs[name], edit_src), "w") as f:
            f.write(f"source of {edit_src} edited {tag}\n")

    for r in range(reps):
        for name in order(r):
            edit(name, f"{r}a")
            before = out_stats(dirs[name], stages)
            run(name, "edit_rebuild")
            ran = changed(before, out_stats(dirs[name], stages))
            res[name]["edit_runs"].append(len(ran))
            if ran != edit_outs:
                log(f"  {kind:9} {name:8} WARNING: the edit rebuild rewrote {sorted(ran)[:5]}"
                    f"{' ...' if len(ran) > 5 else ''} ({len(ran)}), expected {sorted(edit_outs)}")
            run(name, "noop_after_edit")
            edit(name, f"{r}b")
            run(name, "status_after_edit", tools[name].status)
            before = out_stats(dirs[name], stages)
            timed(tools[name].command, dirs[name], env)
            ran = changed(before, out_stats(dirs[name], stages))
            res[name]["edit_runs"].append(len(ran))
            if ran != edit_outs:
                log(f"  {kind:9} {name:8} WARNING: the rebuild after status rewrote {len(ran)} outputs, "
                    f"expected {sorted(edit_outs)}")
        time.sleep(RACY_WAIT)
        for name in order(r):
            run(name, "settled_noop_after_edit")
        log(f"  {kind:9} edit cycle {r + 1}/{reps}: " + ", ".join(
            f"{name} rebuild {res[name]['edit_rebuild_s'][-1] * 1000:.0f} ms, "
            f"status {res[name]['status_after_edit_s'][-1] * 1000:.0f} ms" for name in tools))
    digests = {name: out_digest(dirs[name], stages) for name in tools}
    if len(set(digests.values())) != 1:
        raise SystemExit(f"tools disagree on the outputs of graph {kind} after the edits: {digests}")
    res["_meta"] = {"stages": len(stages), "edit": edit_src, "expected_runs": len(edit_outs),
                    "cold_repeat": cold_reps, "repeat": reps, "seconds": time.time() - t0,
                    "load_start": load_start, "load_end": os.getloadavg()[0]}
    log(f"  {kind:9} done in {time.time() - t0:.0f} s")
    return res, dirs


# The big-graph cases, the unit they are shown in, and the target as a
# ratio to ninja (None: shown, no target).
BIG_CASES = (
    ("cold", "_s", "cold build, wall", "s", 1.2),
    ("cold", "_cpu_s", "cold build, CPU", "s", None),
    ("cold", "_rss_kb", "cold build, peak RSS", "MB", 2.0),
    ("noop_after_cold", "_s", "no-op right after the cold build", "ms", 1.5),
    ("settled_noop", "_s", "settled no-op (2.2 s after the build)", "ms", 1.2),
    ("edit_rebuild", "_s", "one-leaf edit: rebuild", "ms", 1.5),
    ("edit_rebuild", "_cpu_s", "one-leaf edit: rebuild, CPU", "ms", None),
    ("noop_after_edit", "_s", "no-op right after the edit rebuild", "ms", 1.5),
    ("status_after_edit", "_s", "status after an edit", "ms", 1.5),
    ("status_after_edit", "_cpu_s", "status after an edit, CPU", "ms", None),
    ("settled_noop_after_edit", "_s", "settled no-op after an edit cycle", "ms", 1.2),
)
FILES_PER_STAGE_TARGET = 1.1


def big_value(r, case, field, unit):
    t = r.get(case + field)
    if not t:
        return None
    m = statistics.median(t)
    return m / 1024 if unit == "MB" else m * 1000 if unit == "ms" else m


def paired_ratio(a, b):
    """The median of the per-round ratios a[r] / b[r]: the two runs of a round
    are minutes apart at most, so a machine whose speed drifts over a long run
    (this 2-core VM's does, up to 2x) cancels out of each ratio, as it does not
    out of a ratio of medians taken over the whole run."""
    if not a or not b or len(a) != len(b) or not all(b):
        return None
    return statistics.median(x / y for x, y in zip(a, b))


def fmt_big(x, unit):
    if x is None:
        return "–"
    if unit == "s":
        return f"{x:.2f}"
    return f"{x:.0f}" if x >= 100 else f"{x:.1f}"


def report_big(results, kinds, tools) -> tuple[str, dict]:
    """One table per big graph (medians, ratios to ninja, targets) and a summary
    of the targets; also returns {graph: {target: (ratio, met)}} for the JSON."""
    out, verdicts = [], {}
    others = [t for t in tools if t != "ninja"]
    for k in kinds:
        res, meta = results[k], results[k]["_meta"]
        verdicts[k] = {}
        out += [f"{k}: {meta['stages']:,} stages; cold builds: median of {meta['cold_repeat']}, "
                f"the rest median of {meta['repeat']}; leaf edit `{meta['edit']}` "
                f"({meta['expected_runs']} stages to rerun); took {meta['seconds']:.0f} s; "
                f"load average {meta['load_start']:.2f} at the start, {meta['load_end']:.2f} at the end.", ""]
        head = ["case"] + list(tools) + [f"{t} / ninja" for t in others] + ["target", "tnsflow"]
        out += ["| " + " | ".join(head) + " |", "|---|" + "---:|" * (len(head) - 3) + "---|---|"]
        for case, field, label, unit, target in BIG_CASES:
            vals = {t: big_value(res[t], case, field, unit) for t in tools}
            row = [f"{label} ({unit})"] + [fmt_big(vals[t], unit) for t in tools]
            ratios = {t: paired_ratio(res[t].get(case + field), res["ninja"].get(case + field))
                      for t in others}
            row += [f"{ratios[t]:.2f}" if ratios[t] is not None else "–" for t in others]
            if target and ratios.get("tnsflow") is not None:
                met = ratios["tnsflow"] <= target
                verdicts[k][label] = (round(ratios["tnsflow"], 3), met)
                row += [f"≤ {target}x", "pass" if met else "**fail**"]
            else:
                row += ["", ""]
            out.append("| " + " | ".join(row) + " |")
        runs = [f"{t}: " + "/".join(str(x) for x in sorted(set(res[t]["edit_runs"]))) for t in tools]
        same = all(res[t]["edit_runs"] and set(res[t]["edit_runs"]) == {meta["expected_runs"]} for t in tools)
        out.append("| stages run by the edit rebuild | " + " | ".join(
            "/".join(str(x) for x in sorted(set(res[t]["edit_runs"]))) for t in tools) + " | "
            + " | ".join("" for _ in others) + f" | {meta['expected_runs']} each | "
            + ("pass" if same else "**fail** (" + "; ".join(runs) + ")") + " |")
        label = {"tnsflow": ".tnsflow/", "ninja": ".ninja_log, .ninja_deps", "make": "none"}
        out.append("| state files after the cold build | " + " | ".join(
            f"{res[t]['state_files']:,}" for t in tools) + " | "
            + " | ".join("" for _ in others) + " | | |")
        out.append("| state size after the cold build (MB) | " + " | ".join(
            f"{res[t]['state_bytes'] / 1e6:.1f}" for t in tools) + " | "
            + " | ".join(f"{res[t]['state_bytes'] / res['ninja']['state_bytes']:.1f}"
                         if res["ninja"]["state_bytes"] else "–" for t in others) + " | | |")
        per = res["tnsflow"]["state_files"] / meta["stages"]
        verdicts[k]["state files per stage"] = (round(per, 3), per <= FILES_PER_STAGE_TARGET)
        out.append("| state files per stage | " + " | ".join(
            f"{res[t]['state_files'] / meta['stages']:.2f}" for t in tools) + " | "
            + " | ".join("" for _ in others) + f" | ≤ {FILES_PER_STAGE_TARGET} | "
            + ("pass" if per <= FILES_PER_STAGE_TARGET else "**fail**") + " |")
        out += ["", "State: " + "; ".join(f"{t} {label.get(t, '?')}" for t in tools)
                + f". Bytes are file sizes; on disk (4 KiB blocks): "
                + ", ".join(f"{t} {res[t]['state_disk_bytes'] / 1e6:.1f} MB" for t in tools) + ".", ""]
    labels = [c[2] for c in BIG_CASES if c[4]] + ["state files per stage"]
    out += ["Targets (tnsflow / ninja, or files per stage), pass or fail:", "",
            "| target | " + " | ".join(kinds) + " |", "|---|" + "---:|" * len(kinds)]
    limits = {c[2]: f"≤ {c[4]}x" for c in BIG_CASES if c[4]} | {"state files per stage": f"≤ {FILES_PER_STAGE_TARGET}"}
    for label in labels:
        cells = []
        for k in kinds:
            v = verdicts[k].get(label)
            cells.append("–" if v is None else f"{v[0]:.2f} {'pass' if v[1] else '**fail**'}")
        out.append(f"| {label} ({limits[label]}) | " + " | ".join(cells) + " |")
    return "\n".join(out), verdicts


# --- report ------------------------------------------------------------------


def fmt_s(x):
    return "–" if x is None else f"{x:.2f}"


def fmt_ms(x):
    if x is None:
        return "–"
    return f"{x:.1f}" if x < 100 else f"{x:.0f}"


def report(results, kinds, variants, cold_kind) -> str:
    def median_ms(k, v, field):
        t = results[k].get(v, {}).get(field)
        return statistics.median(t) * 1000 if t else None

    def ratio_table(field, intro):
        head = ["tool"] + [f"{k}: / ninja" for k in kinds] + [f"{k}: / tnsflow" for k in kinds]
        rows = [intro, "", "| " + " | ".join(head) + " |", "|---|" + "---:|" * (len(head) - 1)]
        for v in variants:
            row = [v]
            for base in ("ninja", "tnsflow"):
                for k in kinds:
                    x, b = median_ms(k, v, field), median_ms(k, base, field)
                    row.append(f"{x / b:.2f}" if x and b else "–")
            rows.append("| " + " | ".join(row) + " |")
        return rows + [""]

    out = ["Wall time: cold build once, no-op median:", ""]
    head = ["tool"]
    for k in kinds:
        head += [f"{k} {cold_kind[k]} (s)", f"{k} no-op (ms)"]
    out.append("| " + " | ".join(head) + " |")
    out.append("|---|" + "---:|" * (len(head) - 1))
    for v in variants:
        row = [v]
        for k in kinds:
            r = results[k].get(v, {})
            first = f"> {r['cold_limit_s']:.0f} *" if r.get("cold_limit_s") else fmt_s(r.get("cold_s"))
            row += [first, fmt_ms(median_ms(k, v, "noop_s"))]
        out.append("| " + " | ".join(row) + " |")
    notes = [f"{v}, {k}: {results[k][v]['cold_note']}" for k in kinds for v in variants
             if results[k].get(v, {}).get("cold_note")]
    if notes:
        out.append("")
        out.append("\\* " + "; ".join(notes) + ". The workspace was then completed (see the "
                   "script) so that its no-op could be measured.")
    if "update" in cold_kind.values():
        out.append("")
        out.append("1000+1GB update: the built 1000-stage workspace after adding the 1 GiB file as "
                   "a dep of stage s0_0 (tools that hash contents read it here; make and ninja see an "
                   "older file and do nothing).")
    out.append("")
    out += ratio_table("noop_s", "No-op wall time divided by ninja's and by tnsflow's "
                       "(below 1 is faster than the reference):")
    out.append("No-op CPU time (user + system of the tool and its children), median ms, "
               "and divided by ninja's and tnsflow's:")
    out.append("")
    head = ["tool"] + [f"{k} (ms)" for k in kinds] + [f"{k}: / ninja" for k in kinds] + \
        [f"{k}: / tnsflow" for k in kinds]
    out.append("| " + " | ".join(head) + " |")
    out.append("|---|" + "---:|" * (len(head) - 1))
    for v in variants:
        row = [v] + [fmt_ms(median_ms(k, v, "noop_cpu_s")) for k in kinds]
        for base in ("ninja", "tnsflow"):
            for k in kinds:
                x, b = median_ms(k, v, "noop_cpu_s"), median_ms(k, base, "noop_cpu_s")
                row.append(f"{x / b:.2f}" if x and b else "–")
        out.append("| " + " | ".join(row) + " |")
    out.append("")
    out.append("No-op wall time spread, ms (min / median / max, number of runs):")
    out.append("")
    out.append("| tool | " + " | ".join(kinds) + " |")
    out.append("|---|" + "---:|" * len(kinds))
    for v in variants:
        row = [v]
        for k in kinds:
            t = results[k].get(v, {}).get("noop_s")
            row.append(f"{min(t) * 1000:.1f} / {statistics.median(t) * 1000:.1f} / "
                       f"{max(t) * 1000:.1f} ({len(t)})" if t else "–")
        out.append("| " + " | ".join(row) + " |")
    return "\n".join(out)


def default_tnsflow() -> str:
    if os.environ.get("TNSFLOW"):
        return os.environ["TNSFLOW"]
    target = os.environ.get("CARGO_TARGET_DIR") or os.path.join(ROOT, "target")
    return os.path.join(target, "release", "tnsflow")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tnsflow", default=default_tnsflow(),
                    help="the tnsflow binary (default: $TNSFLOW, else $CARGO_TARGET_DIR or "
                         "target/, then release/tnsflow)")
    ap.add_argument("--graphs", default=",".join(DEFAULT_GRAPHS),
                    help=f"comma list of {', '.join(GRAPHS)} (any N-wide, N-deep, Nk-wide or Nk-deep "
                         f"works), or `all` (default: {','.join(DEFAULT_GRAPHS)})")
    ap.add_argument("--tools", default=",".join(TOOLS), help=f"comma list of {', '.join(TOOLS)}")
    ap.add_argument("--skip-slow", action="store_true", help="leave out DVC and Snakemake")
    ap.add_argument("--repeat", type=int, default=21, help="timed no-op runs per fast tool (default 21)")
    ap.add_argument("--slow-repeat", type=int, default=5, help="timed no-op runs for DVC and Snakemake (default 5)")
    ap.add_argument("--slow-cold-limit", type=float, default=300,
                    help="stop DVC's and Snakemake's cold builds after this many seconds "
                         "(0: no limit; default 300)")
    ap.add_argument("--big-cold-repeat", type=int, default=3,
                    help="cold builds per tool of a big graph (default 3)")
    ap.add_argument("--big-repeat", type=int, default=7,
                    help="settled no-ops and edit cycles per tool of a big graph (default 7)")
    ap.add_argument("--huge-cold-repeat", type=int, default=1,
                    help=f"cold builds per tool from {HUGE:,} stages (default 1)")
    ap.add_argument("--huge-repeat", type=int, default=3,
                    help=f"settled no-ops and edit cycles per tool from {HUGE:,} stages (default 3)")
    ap.add_argument("--jobs", type=int, default=2, help="parallelism given to every tool (default 2)")
    ap.add_argument("--venv", default=os.path.join(tempfile.gettempdir(), "tnsflow-bench-venv"))
    ap.add_argument("--work", default=None, help="folder for the workspaces (default: a new temp folder)")
    ap.add_argument("--keep", action="store_true", help="keep the workspaces")
    ap.add_argument("--json", help="also write the raw timings to this file")
    ap.add_argument("--markdown", help="also write the tables to this file")
    args = ap.parse_args()
    args.graphs = list(GRAPHS) if args.graphs == "all" else [g for g in args.graphs.split(",") if g]
    args.tools = [t for t in args.tools.split(",") if t and not (args.skip_slow and t in SLOW)]
    for g in args.graphs:
        spec = big_spec(g)
        if g not in SMALL_GRAPHS and not spec:
            ap.error(f"unknown graph {g!r}: expected one of {', '.join(GRAPHS)} or N-wide, Nk-deep, ...")
        if spec and (spec[0] % (LAYERS if spec[1] == "wide" else CHAINS) or spec[0] < 4 * LAYERS):
            ap.error(f"graph {g!r}: a wide graph needs a multiple of {LAYERS} stages, a deep one "
                     f"a multiple of {CHAINS}, at least {4 * LAYERS}")
    for t in args.tools:
        if t not in TOOLS:
            ap.error(f"unknown tool {t!r}")
    if "ninja" not in args.tools or "tnsflow" not in args.tools:
        ap.error("the ratios need both tnsflow and ninja")
    args.tnsflow = os.path.abspath(args.tnsflow)
    if not os.access(args.tnsflow, os.X_OK):
        ap.error(f"no tnsflow binary at {args.tnsflow}; build it with `cargo build --release` "
                 "or use scripts/bench_orchestrator.sh")

    ensure_debian_tools()
    small = [g for g in args.graphs if g in SMALL_GRAPHS]
    big = [g for g in args.graphs if g not in SMALL_GRAPHS]
    venv_bin = ensure_venv(args.venv) if small and any(t in SLOW for t in args.tools) else None
    env = dict(os.environ, DVC_NO_ANALYTICS="1", NO_COLOR="1", LC_ALL="C")
    tools = make_tools(args, venv_bin)
    work = args.work or tempfile.mkdtemp(prefix="tnsflow-bench-")
    os.makedirs(work, exist_ok=True)
    big_bin = os.path.join(tempfile.gettempdir(), "tnsflow-bench-1GiB.bin")
    if "1000+1GB" in args.graphs:
        big_file(big_bin)
        linked = os.path.join(work, "big.bin")  # same filesystem as the workspaces
        if not os.path.exists(linked):
            os.link(big_bin, linked)
        big_bin = linked

    versions = {"tnsflow": version([args.tnsflow, "--version"]), "make": version(["make", "--version"]),
                "ninja": "ninja " + version(["ninja", "--version"])}
    if venv_bin:
        versions["dvc"] = "dvc " + version([os.path.join(venv_bin, "dvc"), "--version"])
        versions["snakemake"] = "snakemake " + version([os.path.join(venv_bin, "snakemake"), "--version"])
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    machine = f"{os.cpu_count()} cores ({cpu}), Linux {platform.release()}, Python {platform.python_version()}"
    log(f"machine: {machine}; load average {os.getloadavg()}")
    log("versions: " + "; ".join(versions.values()))

    started = time.time()
    load_before = os.getloadavg()
    results = {}
    dirs = {}
    for kind in small:
        reuse = dirs.get("1000") if kind == "1000+1GB" else None
        results[kind], dirs[kind] = bench_graph(kind, tools, args, env, work, big_bin, venv_bin, reuse)
        if not args.keep and kind != "1000":
            for d in dirs[kind].values():
                shutil.rmtree(d, ignore_errors=True)
    if not args.keep:
        for d in dirs.get("1000", {}).values():
            shutil.rmtree(d, ignore_errors=True)
    big_tools = {name: tool for name, tool in tools.items() if name in BIG_TOOLS}
    for kind in big:
        results[kind], big_dirs = bench_big_graph(kind, big_tools, args, env, work)
        # Logged before the clean-up, which takes minutes at 100k, and kept if a later graph fails.
        log(report_big(results, [kind], list(big_tools))[0])
        if not args.keep:
            log(f"  {kind:9} removing its workspaces")
            for d in big_dirs.values():
                shutil.rmtree(d, ignore_errors=True)
    tables = []
    if small:
        cold_kind = {k: "update" if k == "1000+1GB" and "1000" in args.graphs else "cold"
                     for k in small}
        variants = list(tools) + ["tnsflow (full check)"]
        tables.append(report(results, small, variants, cold_kind))
    verdicts = {}
    if big:
        text, verdicts = report_big(results, big, list(big_tools))
        tables.append(text)
    table = "\n\n".join(tables)
    footer = (f"\nMachine: {machine}. Load average before {load_before[0]:.2f}, "
              f"after {os.getloadavg()[0]:.2f}. Run took {time.time() - started:.0f} s.\n"
              f"Versions: {'; '.join(versions.values())}.\n-j {args.jobs} for every tool.")
    if small:
        footer += (f" No-op: median of {args.repeat} runs ({args.slow_repeat} for DVC and Snakemake), "
                   f"round-robin over the tools.")
    if big:
        footer += (f" Big graphs: round-robin over tnsflow, make and ninja (a tool later each "
                   f"repetition); medians of {args.big_cold_repeat} cold builds and {args.big_repeat} "
                   f"of the rest ({args.huge_cold_repeat} and {args.huge_repeat} from {HUGE:,} stages).")
    print(table + "\n" + footer)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(table + "\n" + footer + "\n")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": machine, "versions": versions, "results": results,
                       "targets": verdicts}, f, indent=1)
    if not args.work and not args.keep:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
