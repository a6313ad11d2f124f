-- The raw tables, loaded from the generate stage's CSVs.
-- Timestamps are ISO-8601 UTC text ("2026-01-01T00:03:12Z"): text order is time order,
-- and the UTC day of an event is substr(ts, 1, 10).

CREATE TABLE raw_events (
    event_id    TEXT NOT NULL,
    ts          TEXT NOT NULL,
    user_id     TEXT NOT NULL,
    ip          TEXT NOT NULL,
    device_id   TEXT NOT NULL,
    payment_id  TEXT,              -- NULL when the user has no payment token
    surface     TEXT NOT NULL,
    product     TEXT NOT NULL,
    event_type  TEXT NOT NULL,     -- signup, login, chat, upload, billing, policy_block, warning
    prompt      TEXT NOT NULL,     -- empty for non-chat events
    tokens_in   INTEGER NOT NULL,
    tokens_out  INTEGER NOT NULL,
    latency_ms  INTEGER NOT NULL,
    blocked     INTEGER NOT NULL,
    warned      INTEGER NOT NULL,
    is_abuse_gt INTEGER NOT NULL
);

CREATE TABLE users (
    user_id        TEXT PRIMARY KEY,
    created_ts     TEXT NOT NULL,
    country        TEXT NOT NULL,
    account_status TEXT NOT NULL,  -- active, suspended, banned
    is_abuse_gt    INTEGER NOT NULL
);

CREATE TABLE reports (
    report_id        TEXT PRIMARY KEY,
    ts               TEXT NOT NULL,
    reporter_user_id TEXT NOT NULL,
    reported_user_id TEXT NOT NULL,
    event_id         TEXT NOT NULL,
    reason           TEXT NOT NULL
);

CREATE TABLE enforcements (
    enforcement_id TEXT PRIMARY KEY,
    ts             TEXT NOT NULL,
    user_id        TEXT NOT NULL,
    action         TEXT NOT NULL,  -- warn, suspend, ban
    reason         TEXT NOT NULL
);
