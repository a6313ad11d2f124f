#!/usr/bin/env python3
"""The reference stack: tnsflow's derivation written with pandas and scikit-learn.

What a data scientist would write from the data sheet and SPEC section 6,
without tnsflow: read the generate stage's CSVs, build the core tables in
memory, then monitoring, the six detections, the 12 user-day features, the
logistic-regression risk model and the review queue. It is the yardstick of
`scripts/bench_reference.sh` (docs/performance.md, "The derivation versus
pandas and scikit-learn"), so it must do the same work as tnsflow's `load`
through `review_queue` stages, written the way pandas is meant to be used
(vectorised group-bys, merges and numpy, no Python loop over rows), neither
padded nor cut short.

    reference_stack.py derive RAW_DIR OUT_DIR [--seed 42] [--max-rows 2000]
        reads RAW_DIR/{raw_events,users,reports,enforcements}.csv and writes
        the exports under OUT_DIR with tnsflow's file names and columns
        (monitoring_metrics.csv, alerts.csv, detections/<name>.csv,
        user_day_scored.csv, model_eval.csv, review_queue.csv,
        audit_log_template.csv), printing the time of each step to stderr.

    reference_stack.py compare REF_OUT TNSFLOW_OUT
        prints how the two agree (same flagged users per detection, same
        features, risk scores within what a different split explains, the
        same top of the queue) and exits 1 when a check that must hold fails.

Where it differs from tnsflow by construction: the stratified 75/25 split
is scikit-learn's `train_test_split(stratify=y, random_state=seed)`, not
tnsflow's ChaCha8 shuffle, and the solver is scikit-learn's lbfgs rather
than exact Newton, so risk scores are close rather than equal, and the
queue (ranked by them) agrees at the top rather than row for row.
"""

import argparse
import os
import sys
import time

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score, precision_score, recall_score, roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

FEATURES = [
    "n_events", "n_chat", "tokens_in_sum", "tokens_out_sum", "latency_ms_avg",
    "n_blocked", "n_warned", "n_ips", "n_devices", "block_rate", "warn_rate",
    "chat_fraction",
]
DETECTIONS = [
    "ban_evasion", "coordinated_activity", "shared_device",
    "shared_infrastructure", "suspicious_prompting", "velocity_spike",
]
DETECTION_COLUMNS = ["user_id", "detection", "severity", "evidence", "first_ts", "last_ts", "related"]
# pipeline.yaml's monitoring params.
SPIKE_BLOCK_RATE, SPIKE_MIN_CHATS, CHATS_PER_USER = 0.10, 500, 80


class Timer:
    """Prints each step's wall time to stderr, so a slow step is visible."""

    def __init__(self):
        self.start = self.last = time.perf_counter()

    def step(self, name):
        now = time.perf_counter()
        print(f"  {name:<24} {now - self.last:7.3f} s", file=sys.stderr)
        self.last = now

    def total(self):
        print(f"  {'total':<24} {time.perf_counter() - self.start:7.3f} s", file=sys.stderr)


def ratio(a, b):
    """a / b, 0 where b is 0 (SPEC: 0 on zero denominators)."""
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    return np.divide(a, b, out=np.zeros_like(a), where=b != 0)


def joined(values):
    """group_concat of sorted distinct values, with `;` as tnsflow's `related` has it."""
    return ";".join(sorted(set(values)))


# ---------------------------------------------------------------- load
def load(raw):
    """The raw tables and the core tables of SPEC section 6, in memory."""
    events = pd.read_csv(
        os.path.join(raw, "raw_events.csv"),
        # Empty prompts stay empty strings; only a missing payment is NULL.
        keep_default_na=False,
        na_values={"payment_id": [""]},
        dtype={"event_id": str, "ts": str, "user_id": str, "ip": str, "device_id": str,
               "payment_id": str, "surface": str, "product": str, "event_type": str,
               "prompt": str, "tokens_in": np.int64, "tokens_out": np.int64,
               "latency_ms": np.int64, "blocked": np.int64, "warned": np.int64,
               "is_abuse_gt": np.int64},
    )
    users = pd.read_csv(os.path.join(raw, "users.csv"), keep_default_na=False)
    # Read as load reads them, though the derivation below does not use them.
    pd.read_csv(os.path.join(raw, "reports.csv"), keep_default_na=False)
    pd.read_csv(os.path.join(raw, "enforcements.csv"), keep_default_na=False)
    events["day"] = events["ts"].str.slice(0, 10)
    events["is_chat"] = (events["event_type"] == "chat").astype(np.int64)
    return events, users


def core_user_day(events):
    g = events.groupby(["day", "user_id"], sort=True)
    cud = g.agg(
        n_events=("event_id", "size"),
        n_chat=("is_chat", "sum"),
        tokens_in_sum=("tokens_in", "sum"),
        tokens_out_sum=("tokens_out", "sum"),
        latency_ms_avg=("latency_ms", "mean"),
        n_blocked=("blocked", "sum"),
        n_warned=("warned", "sum"),
        n_ips=("ip", "nunique"),
        n_devices=("device_id", "nunique"),
        is_abuse_gt=("is_abuse_gt", "max"),
    )
    return cud.reset_index()


def core_day_metrics(cud):
    cud = cud.assign(latency_total=cud["latency_ms_avg"] * cud["n_events"])
    m = cud.groupby("day", sort=True).agg(
        n_events=("n_events", "sum"),
        n_chat=("n_chat", "sum"),
        n_active_users=("user_id", "size"),
        n_blocked=("n_blocked", "sum"),
        n_warned=("n_warned", "sum"),
        latency_total=("latency_total", "sum"),
    )
    m["latency_ms_avg"] = m.pop("latency_total") / m["n_events"]
    return m.reset_index()


def core_user_identifiers(events):
    """(user_id, kind, value, first_ts, last_ts); a NULL payment is a value of its own."""
    combos = (
        events.groupby(["user_id", "device_id", "ip", "payment_id"], dropna=False, sort=False)["ts"]
        .agg(["min", "max"])
        .reset_index()
    )
    parts = []
    for kind, col in (("device", "device_id"), ("ip", "ip"), ("payment", "payment_id")):
        p = combos.groupby(["user_id", col], dropna=False, sort=False).agg(
            first_ts=("min", "min"), last_ts=("max", "max")
        ).reset_index().rename(columns={col: "value"})
        p["kind"] = kind
        parts.append(p)
    return pd.concat(parts, ignore_index=True)[["user_id", "kind", "value", "first_ts", "last_ts"]]


def core_users(cud, ids):
    act = cud.groupby("user_id").agg(
        n_events=("n_events", "sum"), n_chat=("n_chat", "sum"),
        n_blocked=("n_blocked", "sum"), n_warned=("n_warned", "sum"),
    )
    counts = ids.groupby(["user_id", "kind"]).size().unstack(fill_value=0)
    span = ids.groupby("user_id").agg(first_seen_ts=("first_ts", "min"), last_seen_ts=("last_ts", "max"))
    out = act.join(span).join(counts.rename(columns={"ip": "n_ips", "device": "n_devices", "payment": "n_payments"}))
    return out.reset_index().sort_values("user_id", ignore_index=True)


# ---------------------------------------------------------------- monitoring
def monitoring(metrics):
    m = metrics.copy()
    m["block_rate"] = ratio(m["n_blocked"], m["n_chat"])
    m["warn_rate"] = ratio(m["n_warned"], m["n_chat"])
    alerts = []
    for r in m.itertuples():  # one row per day: a handful
        if r.block_rate > SPIKE_BLOCK_RATE and r.n_chat > SPIKE_MIN_CHATS:
            alerts.append((r.day, "spike_block_rate", "high",
                           f"block_rate {r.block_rate:.6g} > {SPIKE_BLOCK_RATE} with {r.n_chat} chats"))
        per_user = r.n_chat / r.n_active_users if r.n_active_users else 0.0
        if per_user > CHATS_PER_USER:
            alerts.append((r.day, "high_chat_per_user", "medium",
                           f"{per_user:.6g} chats per active user > {CHATS_PER_USER}"))
    return m, pd.DataFrame(alerts, columns=["day", "alert_type", "severity", "details"])


# ---------------------------------------------------------------- detections
def result(df, detection):
    df = df.assign(detection=detection)
    for col in DETECTION_COLUMNS:
        if col not in df:
            df[col] = ""
    return df[DETECTION_COLUMNS].sort_values("user_id", ignore_index=True)


def shared_device(ids):
    """A (device, IP) setup used by 2-50 accounts links them; 3+ is high."""
    dev = ids[ids.kind == "device"][["user_id", "value", "first_ts", "last_ts"]].rename(columns={"value": "device_id"})
    ip = ids[ids.kind == "ip"][["user_id", "value"]].rename(columns={"value": "ip"})
    setup = dev.merge(ip, on="user_id")
    n = setup.groupby(["device_id", "ip"]).size().rename("n_users").reset_index()
    shared = n[(n.n_users >= 2) & (n.n_users <= 50)]
    a = setup.merge(shared, on=["device_id", "ip"])
    linked = a.merge(setup[["device_id", "ip", "user_id"]].rename(columns={"user_id": "other"}),
                     on=["device_id", "ip"])
    linked = linked[linked.user_id != linked.other]
    linked["setup"] = linked.device_id + " from IP " + linked.ip
    per = linked.groupby("user_id").agg(
        n_users=("n_users", "max"), setup=("setup", "min"), first_ts=("first_ts", "min"),
        last_ts=("last_ts", "max"), related=("other", joined),
    ).reset_index()
    per["severity"] = np.where(per.n_users >= 3, "high", "medium")
    per["evidence"] = "device " + per.setup + " used by " + per.n_users.astype(str) + " accounts"
    return result(per, "shared_device")


def shared_infrastructure(ids, cu):
    """The same payment token on the same device as another account."""
    pay = ids[(ids.kind == "payment") & ids.value.notna()][["user_id", "value"]].rename(columns={"value": "payment_id"})
    dev = ids[ids.kind == "device"][["user_id", "value"]].rename(columns={"value": "device_id"})
    pairs = pay.merge(pay.rename(columns={"user_id": "other"}), on="payment_id")
    pairs = pairs[pairs.user_id != pairs.other]
    pairs = pairs.merge(dev, on="user_id")
    pairs = pairs.merge(dev.rename(columns={"user_id": "other"}), on=["other", "device_id"]).drop_duplicates()
    per = pairs.groupby("user_id").agg(
        n_linked=("other", "nunique"), payment_id=("payment_id", "min"),
        device_id=("device_id", "min"), related=("other", joined),
    ).reset_index()
    per = per.merge(cu[["user_id", "first_seen_ts", "last_seen_ts"]], on="user_id").rename(
        columns={"first_seen_ts": "first_ts", "last_seen_ts": "last_ts"})
    per["severity"] = "high"
    per["evidence"] = ("shares payment " + per.payment_id + " and device " + per.device_id
                       + " with " + per.n_linked.astype(str) + " account(s)")
    return result(per, "shared_infrastructure")


def ban_evasion(ids, users, cu):
    """An active, newer account on an enforced account's device plus its IP or payment."""
    known = ids[ids.value.notna()][["user_id", "kind", "value"]]
    enforced = users[users.account_status.isin(["banned", "suspended"])][["user_id", "account_status", "created_ts"]]
    d = enforced.merge(known, on="user_id").rename(columns={"user_id": "enforced_user", "created_ts": "e_created"})
    shared = d.merge(known, on=["kind", "value"])
    shared = shared[shared.user_id != shared.enforced_user]
    nu = users[["user_id", "account_status", "created_ts"]].rename(columns={"account_status": "n_status"})
    shared = shared.merge(nu, on="user_id")
    shared = shared[(shared.n_status == "active") & (shared.created_ts > shared.e_created)]
    shared = shared.sort_values(["user_id", "enforced_user", "kind", "value"])
    shared["what"] = shared.kind + " " + shared.value
    links = shared.groupby(["user_id", "enforced_user", "account_status"], sort=True).agg(
        what=("what", " and ".join), has_device=("kind", lambda k: (k == "device").any()),
        n_kinds=("kind", "nunique"),
    ).reset_index()
    links = links[links.has_device & (links.n_kinds >= 2)]
    per = links.groupby("user_id").agg(
        any_ban=("account_status", lambda s: (s == "banned").any()),
        n_enforced=("enforced_user", "size"), first_link=("what", "min"),
        related=("enforced_user", joined),
    ).reset_index()
    per = per.merge(cu[["user_id", "first_seen_ts", "last_seen_ts"]], on="user_id").rename(
        columns={"first_seen_ts": "first_ts", "last_seen_ts": "last_ts"})
    per["severity"] = np.where(per.any_ban, "high", "medium")
    per["evidence"] = ("shares " + per.first_link + " with " + per.n_enforced.astype(str)
                       + " older enforced account(s)")
    return result(per, "ban_evasion")


def velocity_spike(events, users, cu):
    """10+ events within two hours (sliding, from each event) within 7 days of signup."""
    u = users[["user_id", "created_ts"]].merge(cu[["user_id", "first_seen_ts"]], on="user_id")
    created = pd.to_datetime(u.created_ts)
    young = u[(pd.to_datetime(u.first_seen_ts) - created).dt.total_seconds() / 86400 <= 7]
    ev = events[["user_id", "ts"]].merge(young[["user_id", "created_ts"]], on="user_id")
    t = pd.to_datetime(ev.ts)
    age = (t - pd.to_datetime(ev.created_ts)).dt.total_seconds() / 86400
    # Whole seconds since the epoch, whatever resolution pandas parsed to.
    seconds = (t - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(seconds=1)
    ev = ev.assign(t=seconds.astype(np.int64), age_days=age)
    ev = ev[(ev.age_days >= 0) & (ev.age_days <= 7)]
    ev = ev.sort_values(["user_id", "t"], ignore_index=True)
    # One sorted key over all users: user code in the high part, seconds in the
    # low part, so each event's window [t, t + 7199] is one searchsorted.
    code = pd.factorize(ev.user_id, sort=True)[0].astype(np.int64)
    key = code * (1 << 40) + ev.t.to_numpy()
    start = np.searchsorted(key, key, side="left")
    end = np.searchsorted(key, key + 7199, side="right")
    ev["n_events"] = end - start
    ev["last_ts"] = ev.ts.to_numpy()[end - 1]
    b = ev[ev.n_events >= 10]
    per = b.groupby("user_id").agg(
        n=("n_events", "max"), age=("age_days", "min"), first_ts=("ts", "min"), last_ts=("last_ts", "max"),
    ).reset_index()
    per["severity"] = np.where(per.n >= 20, "high", "medium")
    per["evidence"] = ("peak of " + per.n.astype(str) + " events within two hours, "
                       + per.age.map("{:.1f}".format) + " days after signup")
    return result(per, "velocity_spike")


def coordinated_activity(events, metrics):
    """The same content from 5+ accounts on one day, under 5% of that day's active users."""
    chats = events[(events.event_type == "chat") & (events.prompt != "")][["user_id", "ts", "day", "prompt"]]
    chats = chats.assign(content=chats.prompt.str.strip(" ").str.lower())
    daily = chats.groupby(["day", "content"]).user_id.nunique().rename("n_accounts").reset_index()
    daily = daily.merge(metrics[["day", "n_active_users"]], on="day")
    campaigns = daily[(daily.n_accounts >= 5) & (daily.n_accounts < 0.05 * daily.n_active_users)]
    hits = chats.merge(campaigns[["day", "content", "n_accounts"]], on=["day", "content"])
    per = hits.groupby("user_id").agg(
        n=("n_accounts", "max"), days=("day", "nunique"), content=("content", "min"),
        first_ts=("ts", "min"), last_ts=("ts", "max"),
    ).reset_index()
    per["severity"] = np.where(per.n >= 10, "high", "medium")
    per["evidence"] = ("posted content shared by up to " + per.n.astype(str) + " accounts a day, on "
                       + per.days.astype(str) + ' day(s): "' + per.content.str.slice(0, 60) + '"')
    return result(per, "coordinated_activity")


def suspicious_prompting(events):
    """2+ evasion-style prompts, or blocked chats on 2+ days; 3+ is high."""
    chats = events[events.event_type == "chat"][["user_id", "ts", "day", "blocked", "prompt"]]
    evasive = chats.prompt.str.contains("bypass|evade|break the rules", case=False, regex=True)
    chats = chats.assign(
        evasive=evasive.astype(np.int64),
        block_day=chats.day.where(chats.blocked == 1),
        hit_ts=chats.ts.where(evasive | (chats.blocked == 1)),
    )
    per = chats.groupby("user_id").agg(
        n_evasive=("evasive", "sum"), n_blocked=("blocked", "sum"),
        n_block_days=("block_day", "nunique"), first_ts=("hit_ts", "min"), last_ts=("hit_ts", "max"),
    ).reset_index()
    per = per[(per.n_evasive >= 2) | (per.n_block_days >= 2)].copy()
    per["severity"] = np.where((per.n_evasive >= 3) | (per.n_block_days >= 3), "high", "medium")
    per["evidence"] = (per.n_evasive.astype(str) + " evasion-style prompts, " + per.n_blocked.astype(str)
                       + " blocked chats on " + per.n_block_days.astype(str) + " day(s)")
    return result(per, "suspicious_prompting")


# ---------------------------------------------------------------- model
def features(cud):
    f = cud.copy()
    f["block_rate"] = ratio(f.n_blocked, f.n_chat)
    f["warn_rate"] = ratio(f.n_warned, f.n_chat)
    f["chat_fraction"] = ratio(f.n_chat, f.n_events)
    return f


def score(f, seed):
    """Standardize, L2 logistic regression (C=1, balanced), stratified 75/25, best-F1 threshold."""
    x = f[FEATURES].to_numpy(dtype=float)
    y = f.is_abuse_gt.to_numpy()
    idx_train, idx_test = train_test_split(
        np.arange(len(f)), test_size=0.25, stratify=y, random_state=seed)
    scaler = StandardScaler().fit(x[idx_train])
    model = LogisticRegression(C=1.0, class_weight="balanced", max_iter=1000)
    model.fit(scaler.transform(x[idx_train]), y[idx_train])
    risk = model.predict_proba(scaler.transform(x))[:, 1]
    train_risk, train_y = risk[idx_train], y[idx_train]
    best_t, best_f1 = 0.10, -1.0
    for cents in range(10, 91):
        t = cents / 100
        f1 = f1_score(train_y, train_risk >= t, zero_division=0)
        if f1 > best_f1:
            best_t, best_f1 = t, f1
    test_risk, test_y = risk[idx_test], y[idx_test]
    pred = test_risk >= best_t
    evaluation = pd.DataFrame([{
        "threshold": best_t,
        "test_precision": precision_score(test_y, pred, zero_division=0),
        "test_recall": recall_score(test_y, pred, zero_division=0),
        "test_f1": f1_score(test_y, pred, zero_division=0),
        "test_auc": roc_auc_score(test_y, test_risk),
        "n_train": len(idx_train),
        "n_test": len(idx_test),
    }])
    scored = f[["day", "user_id"] + FEATURES + ["is_abuse_gt"]].copy()
    scored["risk_score"] = risk
    scored["uncertainty"] = 1 - 2 * np.abs(risk - 0.5)
    return scored, evaluation


# ---------------------------------------------------------------- review queue
def normalize(s):
    """Lowercase, keep letters, digits, _, whitespace and . , ! ? - : / @, collapse spaces."""
    s = s.str.lower().str.replace(r"[^\w\s.,!?\-:/@]", "", regex=True)
    return s.str.split().str.join(" ")


def review_queue(scored, evaluation, events, max_rows):
    q = scored.copy()
    raw = (0.35 * np.clip(q.n_chat / 50, 0, 3) + 0.35 * np.clip(q.block_rate / 0.10, 0, 3)
           + 0.15 * np.clip(q.n_ips / 3, 0, 3) + 0.15 * np.clip(q.n_warned / 5, 0, 3))
    q["heuristic_score"] = raw / (raw.max() + 1e-9)
    threshold = evaluation.threshold.iloc[0]
    q["flag_ml"] = (q.risk_score >= threshold).astype(int)
    q["flag_heur"] = (q.heuristic_score >= 0.75).astype(int)
    q["flag_uncertain"] = ((q.uncertainty >= 0.75) & (q.risk_score >= 0.35)).astype(int)
    q["needs_review"] = (q.flag_ml | q.flag_heur | q.flag_uncertain).astype(int)
    q["priority"] = 0.65 * q.risk_score + 0.20 * q.uncertainty + 0.15 * np.clip(q.n_chat / 50, 0, 1)
    q = q[q.needs_review == 1].sort_values(
        ["priority", "risk_score", "day", "user_id"], ascending=[False, False, True, True]
    ).head(max_rows)
    # recent_prompts: the last three non-empty normalized chat prompts of the user-day.
    chats = events[(events.event_type == "chat") & (events.prompt != "")][["day", "user_id", "ts", "event_id", "prompt"]]
    chats = chats.merge(q[["day", "user_id"]], on=["day", "user_id"])
    chats = chats.assign(prompt=normalize(chats.prompt))
    chats = chats[chats.prompt != ""].sort_values(["day", "user_id", "ts", "event_id"])
    recent = chats.groupby(["day", "user_id"]).prompt.agg(lambda p: " | ".join(p.iloc[-3:])).rename("recent_prompts")
    q = q.merge(recent, on=["day", "user_id"], how="left").fillna({"recent_prompts": ""})
    queue_cols = list(scored.columns) + ["heuristic_score", "flag_ml", "flag_heur", "flag_uncertain",
                                         "needs_review", "recent_prompts", "priority"]
    audit = q[["day", "user_id", "risk_score", "uncertainty", "recent_prompts"]].copy()
    audit["review_id"] = [f"rev_{k:06d}" for k in range(len(audit))]
    for col in ["reviewer", "decision", "reason_code", "notes", "decision_ts"]:
        audit[col] = ""
    return q[queue_cols], audit


# ---------------------------------------------------------------- main
def derive(args):
    clock = Timer()
    out = args.out_dir
    os.makedirs(os.path.join(out, "detections"), exist_ok=True)
    write = lambda df, name: df.to_csv(os.path.join(out, name), index=False, float_format="%.6f")
    events, users = load(args.raw_dir)
    clock.step("read csv")
    cud = core_user_day(events)
    metrics = core_day_metrics(cud)
    ids = core_user_identifiers(events)
    cu = core_users(cud, ids)
    clock.step("core tables")
    m, alerts = monitoring(metrics)
    write(m, "monitoring_metrics.csv")
    write(alerts, "alerts.csv")
    clock.step("monitoring")
    for name, run in (
        ("ban_evasion", lambda: ban_evasion(ids, users, cu)),
        ("coordinated_activity", lambda: coordinated_activity(events, metrics)),
        ("shared_device", lambda: shared_device(ids)),
        ("shared_infrastructure", lambda: shared_infrastructure(ids, cu)),
        ("suspicious_prompting", lambda: suspicious_prompting(events)),
        ("velocity_spike", lambda: velocity_spike(events, users, cu)),
    ):
        write(run(), f"detections/{name}.csv")
        clock.step(f"detect {name}")
    scored, evaluation = score(features(cud), args.seed)
    write(scored, "user_day_scored.csv")
    write(evaluation, "model_eval.csv")
    clock.step("features + scoring")
    queue, audit = review_queue(scored, evaluation, events, args.max_rows)
    write(queue, "review_queue.csv")
    write(audit, "audit_log_template.csv")
    clock.step("review queue")
    clock.total()


def compare(args):
    """Prints the agreement of the reference with tnsflow; exit 1 if a must-hold check fails."""
    ref, tns = args.ref_out, args.tnsflow_out
    read = lambda d, n: pd.read_csv(os.path.join(d, n), keep_default_na=False, dtype={"related": str})
    failures = []

    def check(ok, line):
        print(f"  {'ok  ' if ok else 'FAIL'} {line}")
        if not ok:
            failures.append(line)

    a, b = read(ref, "monitoring_metrics.csv"), read(tns, "monitoring_metrics.csv")
    diff = np.abs(a.drop(columns="day").to_numpy(float) - b.drop(columns="day").to_numpy(float)).max()
    check((a.day == b.day).all() and diff < 1e-5, f"monitoring_metrics: {len(a)} days, largest difference {diff:.2g}")
    a, b = read(ref, "alerts.csv"), read(tns, "alerts.csv")
    check(list(zip(a.day, a.alert_type)) == list(zip(b.day, b.alert_type)), f"alerts: {len(a)} vs {len(b)}, same days and types")
    for name in DETECTIONS:
        a, b = read(ref, f"detections/{name}.csv"), read(tns, f"detections/{name}.csv")
        same_users = list(a.user_id) == list(b.user_id)
        rows_equal = same_users and (a.fillna("") == b.fillna("")).all(axis=None)
        sev = same_users and (a.severity == b.severity).all()
        check(same_users and sev, f"{name}: {len(a)} vs {len(b)} flagged users, same users and severities"
              f"{', every column equal' if rows_equal else ''}")
    a, b = read(ref, "user_day_scored.csv"), read(tns, "user_day_scored.csv")
    keys = (a.day == b.day).all() and (a.user_id == b.user_id).all() if len(a) == len(b) else False
    fdiff = np.abs(a[FEATURES].to_numpy(float) - b[FEATURES].to_numpy(float)).max() if keys else np.inf
    check(keys and fdiff < 1e-5, f"user_day_scored: {len(a)} vs {len(b)} user-days, same keys, features differ by at most {fdiff:.2g}")
    if keys:
        d = np.abs(a.risk_score - b.risk_score)
        corr = np.corrcoef(a.risk_score, b.risk_score)[0, 1]
        # The splits differ (see the module header), so the two models were
        # fitted on different 75% samples: close, not equal (at 50k events
        # the samples are small: correlation 0.994, mean |diff| 0.017).
        check(corr > 0.99 and d.mean() < 0.03,
              f"risk_score: mean |diff| {d.mean():.4f}, 99th pct {d.quantile(0.99):.4f}, max {d.max():.4f}, correlation {corr:.6f}")
        auc_a, auc_b = roc_auc_score(a.is_abuse_gt, a.risk_score), roc_auc_score(b.is_abuse_gt, b.risk_score)
        check(abs(auc_a - auc_b) < 0.01, f"ROC AUC over every user-day: {auc_a:.4f} vs {auc_b:.4f}")
    a, b = read(ref, "model_eval.csv"), read(tns, "model_eval.csv")
    print("  model_eval (reference / tnsflow):")
    for col in a.columns:
        print(f"       {col:<15} {a[col].iloc[0]:>10.6g} {b[col].iloc[0]:>10.6g}")
    print("       (test figures are on different 25% samples: the splits differ)")
    a, b = read(ref, "review_queue.csv"), read(tns, "review_queue.csv")
    ka, kb = list(zip(a.day, a.user_id)), list(zip(b.day, b.user_id))
    for n in (10, 100, len(kb)):
        overlap = len(set(ka[:n]) & set(kb[:n]))
        print(f"       queue top {n}: {overlap} of {min(n, len(kb))} user-days in both")
    top = min(10, len(kb))
    check(set(ka[:top]) == set(kb[:top]), f"review_queue: {len(a)} vs {len(b)} rows, the same top {top} user-days")
    both = a.merge(b, on=["day", "user_id"], suffixes=("_ref", "_tns"))
    hdiff = np.abs(both.heuristic_score_ref - both.heuristic_score_tns).max() if len(both) else 0.0
    check(hdiff < 1e-5, f"heuristic_score: differs by at most {hdiff:.2g} on the shared queue rows")
    same_prompts = (both.recent_prompts_ref == both.recent_prompts_tns).mean() if len(both) else 1.0
    check(same_prompts == 1.0, f"recent_prompts: equal on {same_prompts:.1%} of the {len(both)} shared queue rows")
    if failures:
        print(f"{len(failures)} check(s) failed")
        sys.exit(1)
    print("all checks agree")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    d = sub.add_parser("derive")
    d.add_argument("raw_dir")
    d.add_argument("out_dir")
    d.add_argument("--seed", type=int, default=42)
    d.add_argument("--max-rows", type=int, default=2000)
    c = sub.add_parser("compare")
    c.add_argument("ref_out")
    c.add_argument("tnsflow_out")
    args = p.parse_args()
    (derive if args.command == "derive" else compare)(args)


if __name__ == "__main__":
    main()
