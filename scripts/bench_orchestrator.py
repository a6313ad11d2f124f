#!/usr/bin/env python3
"""Orchestrator benchmark: tnsflow against GNU make, ninja, DVC and Snakemake.

Every tool builds the same generated DAGs of `cmd` stages:
  - small:  14 stages (source, fan-out, fan-in, report);
  - large:  1000 stages, 20 layers of 50, each reading 1-3 outputs of the layer
            before (fixed seed);
  - large+1GB: the large graph with one extra 1 GiB input read by one stage.
For each graph and tool: one cold build in a fresh folder, then the median of
several no-op builds. All tools run side by side in one run, so the ratios
hold even on a noisy shared machine. Commands are identical across tools.

    scripts/bench_orchestrator.py [--quick] [--skip-python-tools] [--repeat N]

Needs: a release build of tnsflow (scripts/bench_orchestrator.sh does it),
make, ninja (Debian's ninja-build, installed when missing), and a throwaway
virtualenv with dvc and snakemake from PyPI (created under /tmp).
"""
import argparse, os, random, shutil, statistics, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TNSFLOW = os.path.join(ROOT, "target", "release", "tnsflow")


def graph(kind):
    """[(name, deps, cmd)] with outputs out/<name>.txt."""
    stages = []
    if kind == "small":
        stages.append(("src", ["input.txt"], "cat input.txt > out/src.txt"))
        for i in range(11):
            stages.append((f"part{i}", ["out/src.txt"], f"grep -c . out/src.txt > out/part{i}.txt; echo {i} >> out/part{i}.txt"))
        stages.append(("merge", [f"out/part{i}.txt" for i in range(11)], "cat " + " ".join(f"out/part{i}.txt" for i in range(11)) + " > out/merge.txt"))
        stages.append(("report", ["out/merge.txt"], "wc -l < out/merge.txt > out/report.txt"))
        return stages
    rng = random.Random(7)
    for layer in range(20):
        for w in range(50):
            name = f"s{layer}_{w}"
            if layer == 0:
                deps = ["input.txt"]
                if kind == "large+1GB" and w == 0:
                    deps.append("big.bin")
            else:
                deps = [f"out/s{layer-1}_{d}.txt" for d in sorted({rng.randrange(50) for _ in range(rng.randint(1, 3))})]
            readable = [d for d in deps if d != "big.bin"]
            stages.append((name, deps, f"cat {' '.join(readable)} | head -c 200 > out/{name}.txt"))
    return stages


def write_tnsflow(d, stages):
    with open(os.path.join(d, "pipeline.yaml"), "w") as f:
        f.write("stages:\n")
        for name, deps, cmd in stages:
            f.write(f"  {name}:\n    cmd: \"{cmd}\"\n    deps: [{', '.join(deps)}]\n    outs: [out/{name}.txt]\n")


def write_make(d, stages):
    with open(os.path.join(d, "Makefile"), "w") as f:
        f.write(".PHONY: all\nall: " + " ".join(f"out/{n}.txt" for n, _, _ in stages) + "\n")
        for name, deps, cmd in stages:
            f.write(f"out/{name}.txt: {' '.join(deps)}\n\t@mkdir -p out && {cmd}\n")


def write_ninja(d, stages):
    with open(os.path.join(d, "build.ninja"), "w") as f:
        f.write("rule run\n  command = mkdir -p out && $cmd\n")
        for name, deps, cmd in stages:
            f.write(f"build out/{name}.txt: run {' '.join(deps)}\n  cmd = {cmd.replace('$', '$$')}\n")


def write_dvc(d, stages):
    with open(os.path.join(d, "dvc.yaml"), "w") as f:
        f.write("stages:\n")
        for name, deps, cmd in stages:
            f.write(f"  {name}:\n    cmd: mkdir -p out && {cmd}\n    deps: [{', '.join(deps)}]\n    outs: [out/{name}.txt]\n")


def write_snakemake(d, stages):
    with open(os.path.join(d, "Snakefile"), "w") as f:
        f.write("rule all:\n    input: " + ", ".join(f"'out/{n}.txt'" for n, _, _ in stages) + "\n\n")
        for name, deps, cmd in stages:
            shell = cmd.replace("{", "{{").replace("}", "}}")
            f.write(f"rule {name}:\n    input: {', '.join(repr(x) for x in deps)}\n    output: 'out/{name}.txt'\n    shell: \"{shell}\"\n\n")


def run(cmd, cwd, env=None):
    t = time.perf_counter()
    p = subprocess.run(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    if p.returncode != 0:
        raise RuntimeError(f"{cmd} failed in {cwd}: {p.stderr.decode()[-500:]}")
    return time.perf_counter() - t


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="skip the 1 GiB graph")
    ap.add_argument("--skip-python-tools", action="store_true", help="skip DVC and Snakemake")
    ap.add_argument("--repeat", type=int, default=15)
    args = ap.parse_args()
    if not shutil.which("ninja"):
        subprocess.run(["apt-get", "install", "-y", "-qq", "ninja-build"], check=True)
    tools = {
        "tnsflow": (write_tnsflow, lambda: [TNSFLOW, "build", "-q", "-j", "2"]),
        "make": (write_make, lambda: ["make", "-s", "-j", "2"]),
        "ninja": (write_ninja, lambda: ["ninja", "-j", "2"]),
    }
    env = dict(os.environ)
    if not args.skip_python_tools:
        venv = os.path.join(tempfile.gettempdir(), "tnsflow-bench-venv")
        if not os.path.exists(os.path.join(venv, "bin", "snakemake")):
            subprocess.run([sys.executable, "-m", "venv", venv], check=True)
            subprocess.run([os.path.join(venv, "bin", "pip"), "install", "-q", "dvc", "snakemake"], check=True)
        tools["dvc"] = (write_dvc, lambda: [os.path.join(venv, "bin", "dvc"), "repro", "-q"])
        tools["snakemake"] = (write_snakemake, lambda: [os.path.join(venv, "bin", "snakemake"), "-c", "2", "-q"])
        env["PATH"] = os.path.join(venv, "bin") + os.pathsep + env["PATH"]
    kinds = ["small", "large"] + ([] if args.quick else ["large+1GB"])
    big = None
    if "large+1GB" in kinds:
        big = os.path.join(tempfile.gettempdir(), "tnsflow-bench-1g.bin")
        if not os.path.exists(big) or os.path.getsize(big) != 1 << 30:
            with open(big, "wb") as f:
                chunk = os.urandom(1 << 20)
                for _ in range(1024):
                    f.write(chunk)
    results = {}
    for kind in kinds:
        stages = graph(kind)
        for tool, (write, cmd) in tools.items():
            d = tempfile.mkdtemp(prefix=f"bench-{tool}-")
            os.makedirs(os.path.join(d, "out"))
            with open(os.path.join(d, "input.txt"), "w") as f:
                f.write("".join(f"line {i}\n" for i in range(100)))
            if kind == "large+1GB":
                os.link(big, os.path.join(d, "big.bin"))
            write(d, stages)
            if tool == "dvc":
                subprocess.run(["dvc", "init", "--no-scm", "-q"], cwd=d, check=True, env=env)
            cold = run(cmd(), d, env)
            time.sleep(2.2)  # let every tool see settled mtimes (tnsflow's racy-clean window)
            run(cmd(), d, env)
            noops = [run(cmd(), d, env) for _ in range(args.repeat if tool not in ("dvc", "snakemake") else max(3, args.repeat // 5))]
            results[(kind, tool)] = (cold, statistics.median(noops))
            print(f"{kind:10} {tool:10} cold {cold:8.3f}s  no-op {statistics.median(noops) * 1000:9.1f} ms", flush=True)
            shutil.rmtree(d, ignore_errors=True)
    print()
    print("| graph | tool | cold build (s) | no-op (ms) | no-op vs ninja | no-op vs tnsflow |")
    print("|---|---|---:|---:|---:|---:|")
    for kind in kinds:
        ninja = results[(kind, "ninja")][1]
        ours = results[(kind, "tnsflow")][1]
        for tool in tools:
            cold, noop = results[(kind, tool)]
            print(f"| {kind} | {tool} | {cold:.2f} | {noop * 1000:.1f} | {noop / ninja:.2f}x | {noop / ours:.1f}x |")


if __name__ == "__main__":
    main()
