-- ban_evasion: active accounts that come back on the setup of an older banned
-- or suspended account.
--
-- A single shared identifier is not enough: device ids and payment tokens
-- collide between strangers in this telemetry, and a banned account's card
-- shows up on unrelated accounts by chance. An evader reuses the setup, so
-- the active account must have a strong link to the enforced one (the rule
-- of docs/stages-cases.md): the same device and, with it, the same IP or
-- the same payment token. The enforced account must also be the older one: a new
-- account on an enforced account's setup is the evasion pattern. A link to
-- a ban is high severity, to a suspension medium.
WITH enforced AS MATERIALIZED (
    SELECT user_id, account_status, created_ts FROM users
    WHERE account_status IN ('banned', 'suspended')
),
-- Every identifier an active, newer account shares with an enforced one.
-- CROSS JOIN fixes SQLite's join order: from the few enforced accounts to
-- their identifiers to the accounts sharing them. Left to itself the planner
-- started from every identifier and paired all holders of each value, which
-- grows with the square of a shared IP's users (18 s at 5 M events, then 2 s;
-- the same rows). Both steps are lookups in core_user_identifiers' own
-- indexes, (user_id, kind) and (kind, value, user_id). A copy of the table
-- has neither: SQLite built a temporary index of its 450,000 rows for the
-- second step on every run (the stage took 2.28 s at 5 M that way, 1.44 s
-- this way).
shared AS MATERIALIZED (
    SELECT n.user_id, e.user_id AS enforced_user, e.account_status, n.kind, n.value
    FROM enforced e
    CROSS JOIN core_user_identifiers d ON d.user_id = e.user_id
    CROSS JOIN core_user_identifiers n ON n.kind = d.kind AND n.value = d.value AND n.user_id <> e.user_id
    JOIN users nu ON nu.user_id = n.user_id
    WHERE d.kind IN ('device', 'payment', 'ip') AND d.value IS NOT NULL
      AND nu.account_status = 'active'
      AND nu.created_ts > e.created_ts
),
-- Pairs that share a device and an IP or payment: the setup, not a coincidence.
links AS MATERIALIZED (
    SELECT user_id, enforced_user, account_status,
           group_concat(kind || ' ' || value, ' and ') AS what
    FROM (SELECT * FROM shared ORDER BY user_id, enforced_user, kind, value)
    GROUP BY user_id, enforced_user
    HAVING MAX(kind = 'device') AND COUNT(DISTINCT kind) >= 2
),
per_user AS (
    SELECT user_id,
           MAX(account_status = 'banned') AS any_ban,
           COUNT(*) AS n_enforced,
           MIN(what) AS first_link,
           group_concat(enforced_user) AS others
    FROM (SELECT * FROM links ORDER BY user_id, enforced_user)
    GROUP BY user_id
),
span AS (
    SELECT user_id, first_seen_ts AS first_ts, last_seen_ts AS last_ts
    FROM core_users
    WHERE user_id IN (SELECT user_id FROM per_user)
)
SELECT
    p.user_id,
    'ban_evasion' AS detection,
    CASE WHEN p.any_ban THEN 'high' ELSE 'medium' END AS severity,
    'shares ' || p.first_link || ' with ' || p.n_enforced || ' older enforced account(s)' AS evidence,
    s.first_ts,
    s.last_ts,
    replace(p.others, ',', ';') AS related
FROM per_user p
JOIN span s ON s.user_id = p.user_id
ORDER BY p.user_id;
