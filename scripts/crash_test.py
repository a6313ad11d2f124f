#!/usr/bin/env python3
"""The crash test: kill -9 a cold build, then check that the next build heals.

Each trial copies the repository's pipeline.yaml and sql/ into a fresh
workspace (its path holds a space: odd names are part of the threat model),
starts a cold `tnsflow build` and kills it with SIGKILL, process group and
all, at a chosen moment:

  --random N      at N random moments in [0, T] (T: a clean build's time);
  --syscalls ...  on entering the n-th rename or write syscall, by strace's
                  fault injection, for every n of one build (or every K-th).

Then `tnsflow build` runs to completion and the workspace must be exactly what
a clean build leaves (the reference, built first at the same path):

  - every export under out/ byte-identical, the same set of files;
  - pipeline.yaml and sql/ untouched;
  - no stray path anywhere: the set of files and folders equals the
    reference's, so a leftover temp file (out/.NAME.PID.N.tmp, a `.tmpXXXXXX`
    beside a record, a staging folder under .tnsflow/v2/tmp/) or an extra
    cache entry (a blob, run record or key lock the clean build does not
    have, i.e. a stage that ran with other inputs) fails the trial;
  - every blob byte-identical to the reference's blob of that name;
    every run record (runs.db) and last run (state.db's `runs` table) equal
    to the reference's but for `millis` (the run time); other state (lock,
    the stat cache's rows, key locks) need only exist where the reference
    has it;
  - one more `tnsflow build` does nothing (the reference's no-op summary).

strace counts injections per syscall and per thread ("per tracee"). Kills
therefore target (syscall, n) pairs, on a build at -j 1 (one worker thread
makes nearly every call), twice: following every thread (-f: the kill lands
on the first thread to make its n-th such call) and following the main thread
only (its calls at the end of a build: state.db, stdout).
Each trial's strace log names the call that was killed; the report counts the
distinct calls of the counting build that were hit and lists those no trial
can reach.

Python 3.11 standard library only. See docs/reliability.md, "The crash test".
Exit status: 0 when every trial survived, 1 when any failed, 2 on bad usage or
when the harness itself cannot run (no strace, reference build failed).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
FAMILIES = {
    "rename": ["rename", "renameat", "renameat2"],
    "write": ["write", "pwrite64", "writev", "pwritev", "pwritev2"],
}
SMALL = ["--set", "users=100", "--set", "events=2000"]
# Problems listed per failing trial before "... and N more".
MAX_PROBLEMS = 25
# Failed workspaces --keep keeps (each holds a whole build and its cache).
MAX_KEPT = 10


class HarnessError(Exception):
    """The harness cannot run (as opposed to a trial that failed)."""


# --- the workspace and what a clean build leaves in it ----------------------


def fresh_workspace(ws: Path) -> None:
    if ws.exists():
        shutil.rmtree(ws)
    ws.mkdir(parents=True)
    shutil.copy2(REPO / "pipeline.yaml", ws / "pipeline.yaml")
    shutil.copytree(REPO / "sql", ws / "sql")


def content_rule(rel: str) -> str:
    """How a path's content is compared with the reference's.

    `bytes`: identical bytes (user files, exports, content-addressed blobs);
    `runs.db`/`state.db`: equal run records once `millis` is dropped;
    `presence`: only that it exists (the lock's holder, key locks)."""
    parts = rel.split("/")
    if rel == "pipeline.yaml" or parts[0] in ("sql", "out"):
        return "bytes"
    if parts[0] == ".tnsflow" and len(parts) >= 3:
        if parts[2] == "blobs":
            return "bytes"
        if parts[2:] == ["runs.db"]:
            return "runs.db"
        if parts[2:] == ["state.db"]:
            return "state.db"
    return "presence"


def sqlite_companion(rel: str) -> bool:
    """A database's own recovery files (`-wal`, `-shm`, `-journal`): SQLite
    keeps them after a kill and replays them on the next open; whether one is
    present says nothing about the data, which `db_rows` compares."""
    return rel.startswith(".tnsflow/") and rel.endswith((".db-wal", ".db-shm", ".db-journal"))


def db_rows(path: Path, rule: str):
    """The run records a database holds, `millis` dropped: runs.db by key,
    state.db's last runs by stage. Read from a copy, so that opening it
    cannot add a -wal or -shm file to the workspace being compared."""
    import sqlite3
    with tempfile.TemporaryDirectory() as tmp:
        for suffix in ("", "-wal"):
            if Path(str(path) + suffix).exists():
                shutil.copy2(str(path) + suffix, Path(tmp) / ("db" + suffix))
        try:
            con = sqlite3.connect(Path(tmp) / "db")
            table = "SELECT key, record FROM runs" if rule == "runs.db" else "SELECT stage, record FROM runs"
            rows = {k: without_millis(json.loads(v)) for k, v in con.execute(table)}
            con.close()
            return rows
        except (sqlite3.Error, ValueError) as e:
            return f"<not readable: {e}>"


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def without_millis(value):
    if isinstance(value, dict):
        return {k: without_millis(v) for k, v in value.items() if k != "millis"}
    return value


@dataclass
class Entry:
    kind: str  # file, dir, symlink, other
    size: int = 0
    content: object = None  # sha256 or normalized JSON, per content_rule


def scan(ws: Path) -> dict[str, Entry]:
    """Every path under the workspace, relative, with what the rule compares."""
    entries: dict[str, Entry] = {}

    def walk(folder: Path, prefix: str) -> None:
        with os.scandir(folder) as it:
            for item in sorted(it, key=lambda e: e.name):
                rel = prefix + item.name
                if sqlite_companion(rel):
                    continue
                # The store's registration of this workspace is named by the
                # hash of its path, which differs between trial workspaces.
                if prefix == ".tnsflow/v2/roots/" and not item.name.startswith("."):
                    rel = prefix + "<this workspace>"
                st = item.stat(follow_symlinks=False)
                if stat.S_ISDIR(st.st_mode):
                    entries[rel] = Entry("dir")
                    walk(Path(item.path), rel + "/")
                elif stat.S_ISREG(st.st_mode):
                    rule = content_rule(rel)
                    if rule == "bytes":
                        content = sha256(Path(item.path))
                    elif rule in ("runs.db", "state.db"):
                        content = db_rows(Path(item.path), rule)
                    else:
                        content = None
                    entries[rel] = Entry("file", st.st_size, content)
                elif stat.S_ISLNK(st.st_mode):
                    entries[rel] = Entry("symlink", 0, os.readlink(item.path))
                else:
                    entries[rel] = Entry("other", 0, stat.filemode(st.st_mode))

    walk(ws, "")
    return entries


def compare(reference: dict[str, Entry], actual: dict[str, Entry]) -> list[str]:
    problems = []
    differing = sorted(r for r in set(reference) | set(actual) if reference.get(r) != actual.get(r))
    for rel in sorted(set(reference) | set(actual)):
        # A folder that is stray or missing only because of what it holds: the
        # line about its content says it.
        if rel in differing and any(d.startswith(rel + "/") for d in differing):
            continue
        ref, got = reference.get(rel), actual.get(rel)
        if ref is None:
            problems.append(f"stray {got.kind}: {rel}{stray_hint(rel)}")
        elif got is None:
            what = "export" if rel.startswith("out/") else ref.kind
            problems.append(f"missing {what}: {rel}")
        elif ref.kind != got.kind:
            problems.append(f"is a {got.kind}, expected a {ref.kind}: {rel}")
        elif ref.content != got.content:
            rule = content_rule(rel)
            if rule == "bytes":
                problems.append(
                    f"bytes differ: {rel} ({got.size} bytes, sha256 {got.content[:12]}; "
                    f"expected {ref.size} bytes, sha256 {ref.content[:12]})"
                )
            elif isinstance(got.content, str):
                problems.append(f"{rel}: {got.content}")
            else:
                problems.append(f"differs from a clean build's (millis aside): {rel}{json_diff(ref.content, got.content)}")
    return problems


def json_diff(ref, got) -> str:
    """The first few keys whose values differ, to point at what went wrong."""
    diffs = []

    def walk(a, b, path):
        if len(diffs) >= 3:
            return
        if isinstance(a, dict) and isinstance(b, dict):
            for k in sorted(set(a) | set(b)):
                walk(a.get(k, "<absent>"), b.get(k, "<absent>"), f"{path}.{k}" if path else k)
        elif a != b:
            diffs.append(f"{path}: {short(b)} (expected {short(a)})")

    walk(ref, got, "")
    return " [" + "; ".join(diffs) + "]" if diffs else ""


def short(value) -> str:
    text = json.dumps(value) if not isinstance(value, str) else value
    return text if len(text) <= 60 else text[:57] + "..."


TEMP_NAME = re.compile(r"(^\..+\.\d+\.\d+\.tmp$)|(^\.tmp\w{6}$)")


def stray_hint(rel: str) -> str:
    name = rel.rsplit("/", 1)[-1]
    if TEMP_NAME.search(name):
        return " (a temp file of a killed process)"
    if "/tmp/" in rel:
        return " (staging left in the tmp folder)"
    if rel.startswith(".tnsflow/") and re.search(r"/(blobs|runs|locks)/", rel):
        return " (a cache entry a clean build does not make)"
    return ""


def signature(problem: str) -> str:
    """A problem with pids, counters, hashes and random names blanked, so
    that the same hole found by many trials is listed once."""
    s = re.sub(r"\(\d+ bytes, sha256 \w+; expected \d+ bytes, sha256 \w+\)", "", problem)
    s = re.sub(r"\[.*\]$", "", s)
    s = re.sub(r"[0-9a-f]{16,}", "<hash>", s)
    s = re.sub(r"/(blobs|runs)/[0-9a-f]{2}(/| |$)", r"/\1/<xx>\2", s)
    s = re.sub(r"\.tmp\w{6}( |$)", r".tmpXXXXXX\1", s)
    s = re.sub(r"-\w{6}(/| |$)", r"-XXXXXX\1", s)
    s = re.sub(r"/\.[^/ ]+\.\d+\.\d+\.tmp", "/.<name>.<pid>.<n>.tmp", s)
    return s.strip()


# --- running tnsflow ----------------------------------------------------------


def clean_env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("TNSFLOW_CACHE_DIR", None)
    return env


def kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def run(cmd: list[str], ws: Path, timeout: float) -> subprocess.CompletedProcess:
    """Runs to completion in its own process group (killed whole on timeout)."""
    proc = subprocess.Popen(
        cmd, cwd=ws, env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        start_new_session=True, text=True,
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_group(proc.pid)
        out, err = proc.communicate()
        return subprocess.CompletedProcess(cmd, None, out, err)
    finally:
        kill_group(proc.pid)
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


def summary_line(stdout: str) -> str:
    lines = [l for l in stdout.splitlines() if l.strip()]
    return lines[-1] if lines else ""


@dataclass
class Reference:
    seconds: float
    tree: dict[str, Entry]
    noop_summary: str


@dataclass
class Trial:
    spec: str  # reproducible with --trial SPEC
    label: str
    killed: bool = True
    note: str = ""
    hit: tuple | None = None  # (thread, syscall, n) of the killed call
    problems: list[str] = field(default_factory=list)


class Harness:
    def __init__(self, args: argparse.Namespace):
        self.binary = str(Path(args.binary).resolve())
        self.sets = SMALL if args.small else []
        self.keep = args.keep
        self.jobs = args.jobs
        self.base = Path(tempfile.mkdtemp(prefix="tnsflow crash-"))
        self.kept: list[Path] = []
        self.reference: Reference | None = None
        # One workspace per concurrent trial. Stage keys do not depend on the
        # workspace's path, so all are compared with the one reference.
        self.free_slots = list(range(self.jobs, 0, -1))
        self.slots_lock = threading.Lock()

    def ws(self, slot: int) -> Path:
        return self.base / f"work space {slot}"

    def in_slot(self, trial_fn, *args) -> Trial:
        with self.slots_lock:
            slot = self.free_slots.pop()
        try:
            return trial_fn(slot, *args)
        finally:
            with self.slots_lock:
                self.free_slots.append(slot)

    def run_all(self, plan: list[tuple]) -> list[Trial]:
        """Trials in plan order, `jobs` at a time, with a progress line each."""
        done = [0]

        def one(item):
            trial = self.in_slot(*item)
            with self.slots_lock:
                done[0] += 1
                progress(done[0], len(plan), trial)
            return trial

        with ThreadPoolExecutor(max_workers=self.jobs) as pool:
            return list(pool.map(one, plan))

    def build_cmd(self, extra: list[str] = ()) -> list[str]:
        return [self.binary, "build", "-q", *extra, *self.sets]

    def make_reference(self) -> Reference:
        ws = self.ws(1)
        fresh_workspace(ws)
        started = time.monotonic()
        first = run(self.build_cmd(), ws, timeout=3600)
        seconds = time.monotonic() - started
        if first.returncode != 0:
            raise HarnessError(f"the clean reference build failed (exit {first.returncode}):\n{first.stderr}")
        tree = scan(ws)
        second = run([self.binary, "build", *self.sets], ws, timeout=3600)
        if second.returncode != 0:
            raise HarnessError(f"the no-op build after the reference failed:\n{second.stderr}")
        self.reference = Reference(seconds, tree, summary_line(second.stdout))
        return self.reference

    @property
    def timeout(self) -> float:
        return 60 + 20 * self.reference.seconds

    def recover_and_check(self, ws: Path, trial: Trial) -> None:
        """The build after the kill, then every check against the reference."""
        recovery = run([self.binary, "build", "-q", *self.sets], ws, self.timeout)
        if recovery.returncode is None:
            trial.problems.append(f"the recovering build hung (killed after {self.timeout:.0f} s)")
            return
        if recovery.returncode != 0:
            tail = " | ".join(recovery.stderr.strip().splitlines()[-5:])
            trial.problems.append(f"the recovering build exited {recovery.returncode}: {tail}")
        trial.problems.extend(compare(self.reference.tree, scan(ws)))
        noop = run([self.binary, "build", *self.sets], ws, self.timeout)
        if noop.returncode != 0 or summary_line(noop.stdout) != self.reference.noop_summary:
            trial.problems.append(
                f"the build after recovery is not a no-op: exit {noop.returncode}, "
                f"'{summary_line(noop.stdout)}' (expected '{self.reference.noop_summary}')"
            )

    def finish(self, ws: Path, trial: Trial) -> Trial:
        if trial.problems and self.keep:
            with self.slots_lock:
                if len(self.kept) >= MAX_KEPT:
                    return trial
                kept = self.base / f"failed {len(self.kept) + 1:03} {re.sub(r'[^A-Za-z0-9_.-]+', '_', trial.spec)}"
                self.kept.append(kept)
            shutil.move(ws, kept)
        return trial

    # --- random kills

    def random_trial(self, slot: int, delay: float) -> Trial:
        trial = Trial(spec=f"random:{delay:.4f}", label=f"kill after {delay:.4f} s")
        ws = self.ws(slot)
        fresh_workspace(ws)
        proc = subprocess.Popen(
            self.build_cmd(), cwd=ws, env=clean_env(), stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, start_new_session=True,
        )
        try:
            proc.wait(timeout=delay)
            trial.killed = False
            trial.note = f"the build had finished (exit {proc.returncode}) before the kill"
        except subprocess.TimeoutExpired:
            pass
        kill_group(proc.pid)
        proc.wait()
        self.recover_and_check(ws, trial)
        return self.finish(ws, trial)

    # --- strace kills

    def strace_cmd(self, log: Path, scope: str, syscalls: list[str], inject: str | None) -> list[str]:
        cmd = ["strace", "-qq", "-o", str(log), "-e", f"trace=execve,{','.join(syscalls)}"]
        if scope == "threads":
            cmd.insert(1, "-f")
        if inject:
            cmd += ["-e", f"inject={inject}"]
        # -j 1: one worker thread makes nearly every call (see the module doc).
        return cmd + self.build_cmd(["-j", "1"])

    def count_calls(self, family: str) -> dict[tuple, str]:
        """Every call of the family in one build: (thread, syscall, n) -> call."""
        ws = self.ws(1)
        fresh_workspace(ws)
        log = self.base / "count.strace"
        # `?`: a syscall this architecture lacks (rename on arm64) is no error.
        syscalls = ["?" + s for s in FAMILIES[family]]
        done = run(self.strace_cmd(log, "threads", syscalls, None), ws, self.timeout)
        if done.returncode != 0:
            raise HarnessError(
                f"the counting build under strace failed (exit {done.returncode}); "
                f"can strace trace here (ptrace allowed)?\n{done.stderr}"
            )
        calls = parse_strace(log.read_text(errors="replace"), str(ws))
        return {c.point: c.text for c in calls}

    def strace_trial(self, slot: int, scope: str, syscall: str, n: int) -> Trial:
        spec = f"strace:{scope}:{syscall}:{n}"
        who = "any thread's" if scope == "threads" else "the main thread's"
        trial = Trial(spec=spec, label=f"kill at {who} {syscall} #{n}")
        ws = self.ws(slot)
        fresh_workspace(ws)
        log = self.base / f"trial {slot}.strace"
        inject = f"{syscall}:signal=SIGKILL:when={n}"
        # Tracing the whole family, as the counting build does, numbers the
        # threads alike in both logs.
        family = next((f for f in FAMILIES.values() if syscall in f), [syscall])
        traced = ["?" + s for s in family if s != syscall] + [syscall]
        done = run(self.strace_cmd(log, scope, traced, inject), ws, self.timeout)
        calls = parse_strace(log.read_text(errors="replace"), str(ws)) if log.exists() else []
        killed = [c for c in calls if c.killed and c.point[1] == syscall and c.point[2] == n]
        if killed:
            trial.hit = killed[0].point
            trial.note = killed[0].text
        else:
            trial.killed = False
            trial.note = f"no {syscall} #{n} in this run (exit {done.returncode})"
        self.recover_and_check(ws, trial)
        return self.finish(ws, trial)


@dataclass
class Call:
    point: tuple  # (thread, syscall, n): thread is "main" or "thread k"
    text: str
    killed: bool


STRACE_LINE = re.compile(r"^(?:(\d+)\s+)?(?:(<\.\.\. (\w+) resumed>)|(\w+)\()(.*)$")


def parse_strace(log: str, ws: str) -> list[Call]:
    """Calls in an `strace -o` log, numbered per thread and syscall as strace's
    `when=` counts them. Threads other than the main one are numbered in the
    order of their first traced call."""
    calls: list[Call] = []
    counts: dict[tuple, int] = {}
    pending: dict[str, int] = {}  # tid -> index in calls of its unfinished call
    main = None
    ranks: dict[str, str] = {}
    for line in log.splitlines():
        m = STRACE_LINE.match(line)
        if not m:
            continue
        tid = m.group(1) or "main"
        if m.group(2):  # "<... rename resumed>) = 0"
            index = pending.pop(tid, None)
            if index is not None and m.group(5).rstrip().endswith("= ?"):
                calls[index].killed = True
            continue
        name, rest = m.group(4), m.group(5)
        if name == "execve":
            if main is None and rest.rstrip().endswith("= 0"):
                main = tid
            continue
        if tid == main or tid == "main":
            thread = "main"
        else:
            thread = ranks.setdefault(tid, f"thread {len(ranks) + 1}")
        key = (tid, name)
        counts[key] = counts.get(key, 0) + 1
        text = f"{name}({rest}".replace(ws, "$WS")
        text = re.sub(r"\s*<unfinished \.\.\.>$", "", text)
        call = Call((thread, name, counts[key]), text[:160], rest.rstrip().endswith("= ?"))
        calls.append(call)
        if rest.rstrip().endswith("<unfinished ...>"):
            pending[tid] = len(calls) - 1
    return calls


# --- the runs -------------------------------------------------------------------


def strided(count: int, stride: int) -> list[int]:
    ns = list(range(1, count + 1, stride))
    if count and ns[-1] != count:
        ns.append(count)
    return ns


def report(title: str, trials: list[Trial], extra: str = "") -> int:
    tried = [t for t in trials if t.killed]
    survived = [t for t in tried if not t.problems]
    print(f"\n{title}: tried {len(tried)}, survived {len(survived)}{extra}")
    failed = [t for t in trials if t.problems]
    for t in failed:
        print(f"  FAILED {t.label}  (--trial {t.spec})")
        if t.note:
            print(f"    killed call: {t.note}" if t.hit else f"    note: {t.note}")
        for p in t.problems[:MAX_PROBLEMS]:
            print(f"    {p}")
        if len(t.problems) > MAX_PROBLEMS:
            print(f"    ... and {len(t.problems) - MAX_PROBLEMS} more")
    return len(failed)


def progress(i: int, total: int, trial: Trial) -> None:
    verdict = "FAILED" if trial.problems else ("ok" if trial.killed else "ok (no kill)")
    print(f"  [{i}/{total}] {trial.label}: {verdict}", file=sys.stderr, flush=True)


def run_random(h: Harness, count: int, rng: random.Random) -> list[Trial]:
    delays = [rng.uniform(0, h.reference.seconds) for _ in range(count)]
    trials = h.run_all([(h.random_trial, d) for d in delays])
    finished = sum(1 for t in trials if not t.killed)
    report(f"random kills (T = {h.reference.seconds:.3f} s)", trials,
           f"; {finished} more builds had finished before their kill (checked too)" if finished else "")
    return trials


def run_syscalls(h: Harness, family: str, stride: int) -> list[Trial]:
    points = h.count_calls(family)
    per_syscall: dict[str, int] = {}
    main_counts: dict[str, int] = {}
    for thread, syscall, n in points:
        per_syscall[syscall] = max(per_syscall.get(syscall, 0), n)
        if thread == "main":
            main_counts[syscall] = max(main_counts.get(syscall, 0), n)
    counted = ", ".join(f"{s} {sum(1 for p in points if p[1] == s)}" for s in sorted(per_syscall))
    print(f"\nstrace {family}: one build at -j 1 makes {len(points)} calls ({counted})", flush=True)

    plan = [("threads", s, n) for s in sorted(per_syscall) for n in strided(per_syscall[s], stride)]
    trials = h.run_all([(h.strace_trial, *p) for p in plan])
    hit = {t.hit for t in trials if t.hit}
    # The main thread's calls that -f did not reach (they lost to a worker's).
    plan = [("main", s, n) for s in sorted(main_counts) for n in strided(main_counts[s], stride)
            if ("main", s, n) not in hit]
    trials += h.run_all([(h.strace_trial, *p) for p in plan])
    hit = {t.hit for t in trials if t.hit}
    unreached = sorted(set(points) - hit, key=lambda p: (p[1], p[0], p[2]))
    not_killed = sum(1 for t in trials if not t.killed)
    extra = f"; killed {len(hit & set(points))} distinct calls of the {len(points)} counted"
    if stride > 1:
        extra += f" (stride {stride})"
    if not_killed:
        extra += f"; {not_killed} runs made no such call (checked too)"
    report(f"strace {family}", trials, extra)
    if unreached and stride == 1:
        print(f"  not reached ({len(unreached)}: another thread makes its n-th call first):")
        for p in unreached[:40]:
            print(f"    {p[0]} {p[1]} #{p[2]}: {points[p]}")
        if len(unreached) > 40:
            print(f"    ... and {len(unreached) - 40} more")
    return trials


TRIAL_SPEC = re.compile(r"^(random:\d+(\.\d*)?|strace:(threads|main):\w+:[1-9]\d*)$")


def run_specs(h: Harness, specs: list[str]) -> list[Trial]:
    plan = []
    for spec in specs:
        parts = spec.split(":")
        if parts[0] == "random":
            plan.append((h.random_trial, float(parts[1])))
        else:
            plan.append((h.strace_trial, parts[1], parts[2], int(parts[3])))
    trials = h.run_all(plan)
    report("chosen trials", trials)
    return trials


def failure_kinds(trials: list[Trial]) -> None:
    kinds: dict[str, list[Trial]] = {}
    for t in trials:
        for sig in dict.fromkeys(signature(p) for p in t.problems):
            kinds.setdefault(sig, []).append(t)
    if not kinds:
        return
    print("\nfailure kinds (pids, counters, hashes and random names blanked):")
    for sig, ts in sorted(kinds.items(), key=lambda kv: -len(kv[1])):
        print(f"  {len(ts):4} trials: {sig}   e.g. --trial {ts[0].spec}")


def main() -> int:
    parser = argparse.ArgumentParser(
        description="kill -9 tnsflow builds and check that the next build heals (docs/reliability.md)")
    parser.add_argument("--random", type=int, default=0, metavar="N", help="N kills at random moments")
    parser.add_argument("--syscalls", choices=["rename", "write", "all"],
                        help="a kill at every call of these syscalls in one build (strace)")
    parser.add_argument("--stride", type=int, default=1, metavar="K",
                        help="with --syscalls, only every K-th call (and the last)")
    parser.add_argument("--small", action="store_true", help=f"the pipeline at {' '.join(SMALL)}")
    parser.add_argument("--seed", type=int, help="seed of the random kill times (printed when not given)")
    parser.add_argument("--binary", default=str(default_binary()), help="the tnsflow to test")
    parser.add_argument("--keep", action="store_true", help=f"keep the workspaces of the first {MAX_KEPT} failed trials")
    parser.add_argument("--jobs", type=int, default=1, metavar="J",
                        help="trials at a time, each in its own workspace (random kill times get noisier)")
    parser.add_argument("--trial", action="append", default=[], metavar="SPEC",
                        help="run only this trial, as printed by a failure (repeatable)")
    args = parser.parse_args()
    if not (args.random or args.syscalls or args.trial):
        parser.error("choose at least one of --random N, --syscalls KIND, --trial SPEC")
    if args.stride < 1 or args.jobs < 1:
        parser.error("--stride and --jobs must be 1 or more")
    if not Path(args.binary).is_file():
        parser.error(f"no tnsflow at `{args.binary}`: run `cargo build --release` or pass --binary")
    for spec in args.trial:
        if not TRIAL_SPEC.match(spec):
            parser.error(f"--trial `{spec}`: expected random:SECONDS or strace:threads|main:SYSCALL:N")
    wants_strace = args.syscalls or any(s.startswith("strace:") for s in args.trial)
    if wants_strace and shutil.which("strace") is None:
        print("crash_test: strace is not installed: the syscall kills need it (apt-get install strace)",
              file=sys.stderr)
        return 2
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1 << 32)

    h = Harness(args)
    print(f"tnsflow crash test: {h.binary}{' (small: ' + ' '.join(SMALL) + ')' if args.small else ''}")
    print(f"seed {seed}, workspaces `{h.ws(1)}`" + (f" to {h.jobs}" if h.jobs > 1 else ""))
    try:
        ref = h.make_reference()
        exports = sum(1 for rel, e in ref.tree.items() if rel.startswith("out/") and e.kind == "file")
        print(f"reference: a clean build in {ref.seconds:.3f} s, {exports} exports, "
              f"{len(ref.tree)} paths in the workspace; no-op: '{ref.noop_summary}'", flush=True)
        trials: list[Trial] = []
        if args.trial:
            trials += run_specs(h, args.trial)
        if args.random:
            trials += run_random(h, args.random, random.Random(seed))
        if args.syscalls:
            for family in (["rename", "write"] if args.syscalls == "all" else [args.syscalls]):
                trials += run_syscalls(h, family, args.stride)
    except HarnessError as e:
        print(f"crash_test: {e}", file=sys.stderr)
        return 2
    finally:
        for slot in range(1, h.jobs + 1):
            shutil.rmtree(h.ws(slot), ignore_errors=True)
        if not h.kept:
            shutil.rmtree(h.base, ignore_errors=True)

    failed = [t for t in trials if t.problems]
    failure_kinds(trials)
    tried = sum(1 for t in trials if t.killed)
    print(f"\nin all: tried {tried}, survived {tried - sum(1 for t in failed if t.killed)}; "
          f"{len(failed)} trials failed")
    if failed:
        flags = f"--binary '{h.binary}'" + (" --small" if args.small else "")
        print(f"reproduce one: python3 scripts/crash_test.py {flags} --keep --trial SPEC")
    for kept in h.kept:
        print(f"kept: {kept}")
    return 1 if failed else 0


def default_binary() -> Path:
    target = os.environ.get("CARGO_TARGET_DIR") or str(REPO / "target")
    return Path(target) / "release" / "tnsflow"


if __name__ == "__main__":
    sys.exit(main())
